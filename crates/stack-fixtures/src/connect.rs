//! Kafka Connect's REST API, as far as the stack needs it: register a connector idempotently and
//! wait until it runs, remove one, list them. xtask registers the pipeline's connector with it,
//! and the test slices their own.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// The connector definition shared by the native stack and docker compose.
pub const CONNECTOR_FILE: &str = "debezium/postgres-connector.json";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// The connector's name and config from [`CONNECTOR_FILE`] under `workspace_root`.
pub fn read_connector_file(workspace_root: &Path) -> anyhow::Result<(String, Value)> {
    let path = workspace_root.join(CONNECTOR_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut definition: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let name = definition["name"]
        .as_str()
        .with_context(|| format!("{} has no \"name\"", path.display()))?
        .to_owned();
    let config = definition
        .get_mut("config")
        .map(Value::take)
        .with_context(|| format!("{} has no \"config\"", path.display()))?;
    Ok((name, config))
}

/// Creates or updates a connector (PUT is idempotent) and resumes it, should something (an
/// interrupted benchmark) have left it stopped, then waits until the connector and its task
/// run, reporting Connect's own trace when one failed.
pub async fn register(
    connect_url: &str,
    name: &str,
    config: &Value,
    timeout: Duration,
) -> anyhow::Result<()> {
    let url = format!("{connect_url}/connectors/{name}");
    send_expecting_success(
        http().put(format!("{url}/config")).json(config),
        &format!("connector {name}"),
    )
    .await?;
    resume(connect_url, name).await?;
    wait_until_running(&url, timeout)
        .await
        .with_context(|| format!("connector {name}"))
}

/// Stops a connector's tasks (its config and offsets stay) until [`resume`]: Connect's
/// `PUT /connectors/{name}/stop`.
pub async fn stop(connect_url: &str, name: &str) -> anyhow::Result<()> {
    change_state(connect_url, name, "stop").await
}

/// Starts a stopped or paused connector again; a running one is left as it is.
pub async fn resume(connect_url: &str, name: &str) -> anyhow::Result<()> {
    change_state(connect_url, name, "resume").await
}

async fn change_state(connect_url: &str, name: &str, action: &str) -> anyhow::Result<()> {
    send_expecting_success(
        http().put(format!("{connect_url}/connectors/{name}/{action}")),
        &format!("to {action} {name}"),
    )
    .await
}

/// Sends `request`; when Connect does not answer with success, fails naming what it refused
/// (`refused`), its status and its explanation.
async fn send_expecting_success(
    request: reqwest::RequestBuilder,
    refused: &str,
) -> anyhow::Result<()> {
    let response = request.send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "Kafka Connect refused {refused}: {status} {}",
            response.text().await?
        );
    }
    Ok(())
}

/// Removes a connector; Connect stops its task before answering. A missing one is no error.
pub async fn delete(connect_url: &str, name: &str) -> anyhow::Result<()> {
    let response = http()
        .delete(format!("{connect_url}/connectors/{name}"))
        .send()
        .await?;
    if !response.status().is_success() && response.status() != reqwest::StatusCode::NOT_FOUND {
        bail!(
            "Kafka Connect refused to delete {name}: {}",
            response.status()
        );
    }
    Ok(())
}

/// The names of the registered connectors.
pub async fn list(connect_url: &str) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = http()
        .get(format!("{connect_url}/connectors"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(names)
}

/// Waits until connector `name` and its tasks run, failing with Connect's trace when one failed.
pub async fn await_running(connect_url: &str, name: &str, timeout: Duration) -> anyhow::Result<()> {
    wait_until_running(&format!("{connect_url}/connectors/{name}"), timeout)
        .await
        .with_context(|| format!("connector {name}"))
}

async fn wait_until_running(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let status: Value = http()
            .get(format!("{url}/status"))
            .send()
            .await?
            .json()
            .await?;
        let task_states: Vec<&Value> = status["tasks"]
            .as_array()
            .map(|tasks| tasks.iter().collect())
            .unwrap_or_default();
        if let Some(failed) = std::iter::once(&status["connector"])
            .chain(task_states.iter().copied())
            .find(|state| state["state"] == "FAILED")
        {
            bail!(
                "FAILED: {}",
                failed["trace"].as_str().unwrap_or("(no trace)")
            );
        }
        let tasks_running =
            !task_states.is_empty() && task_states.iter().all(|task| task["state"] == "RUNNING");
        if status["connector"]["state"] == "RUNNING" && tasks_running {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!("not running after {timeout:?}: {status}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
