//! Kafka Connect in distributed mode with the Debezium PostgreSQL connector plugin (one worker,
//! or two in one group on the high-availability stack, where the survivor takes over the
//! connector's task when the other dies), and the
//! registration of the connector from `debezium/postgres-connector.json` — the very file the
//! compose file uses. Host, port and password reach the connector through Kafka's environment
//! config provider (`${env:…}`), so the JSON holds no secret and no address.

use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use serde_json::Value;
use stack_fixtures::connect;

use crate::config::{Stack, node_address};
use crate::install::ensure_debezium_plugin;
use crate::process::ManagedProcess;
use crate::services::kafka;

/// The worker's properties. `scheduled.rebalance.max.delay.ms` is Connect's wait for a worker that
/// left to come back before its connectors and tasks move to the others: 5 minutes by default,
/// which the chaos drill measured as 5 minutes without replication after a worker was killed
/// (its task waited for it although another worker was idle). 10 s still rides out a quick
/// restart without moving anything.
fn worker_properties(stack: &Stack, node: u8, plugin_path: &std::path::Path) -> String {
    format!(
        "bootstrap.servers={bootstrap}\n\
         group.id=crypto-connect\n\
         key.converter=org.apache.kafka.connect.json.JsonConverter\n\
         value.converter=org.apache.kafka.connect.json.JsonConverter\n\
         key.converter.schemas.enable=true\n\
         value.converter.schemas.enable=true\n\
         config.storage.topic=connect-configs\n\
         offset.storage.topic=connect-offsets\n\
         status.storage.topic=connect-status\n\
         config.storage.replication.factor={replicas}\n\
         offset.storage.replication.factor={replicas}\n\
         status.storage.replication.factor={replicas}\n\
         offset.flush.interval.ms=1000\n\
         scheduled.rebalance.max.delay.ms=10000\n\
         producer.acks=all\n\
         producer.enable.idempotence=true\n\
         listeners=http://{address}:{port}\n\
         rest.advertised.host.name={address}\n\
         rest.advertised.port={port}\n\
         plugin.path={plugins}\n\
         config.providers=env\n\
         config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider\n",
        bootstrap = stack.kafka_bootstrap(),
        replicas = stack.topology.kafka_replication_factor(),
        address = node_address(node),
        port = stack.connect_port,
        plugins = plugin_path.display(),
    )
}

pub fn start(stack: &Stack, process: &ManagedProcess, node: u8) -> anyhow::Result<()> {
    let classpath = kafka::classpath(stack)?;
    let plugins = ensure_debezium_plugin(stack)?;
    std::fs::create_dir_all(&process.dir)?;
    let properties = process.dir.join("connect-distributed.properties");
    std::fs::write(&properties, worker_properties(stack, node, &plugins))?;
    let log4j2 = kafka::write_log4j2_config(&process.dir)?;
    let mut command = Command::new("java");
    command
        .args(["-Xms256m", "-Xmx768m"])
        .args(kafka::JVM_PERFORMANCE_OPTIONS)
        .arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
        .args([
            "-cp",
            &classpath,
            "org.apache.kafka.connect.cli.ConnectDistributed",
        ])
        .arg(&properties)
        // Read by the connector config through `${env:…}`.
        .env("CDC_PG_HOST", "127.0.0.1")
        .env("CDC_PG_PORT", stack.pg_port.to_string())
        .env("CDC_DEBEZIUM_PASSWORD", &stack.debezium_password)
        .envs(stack.topics.environment());
    process.spawn(command)?;
    Ok(())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

pub async fn probe(stack: &Stack, node: u8) -> anyhow::Result<()> {
    http()
        .get(format!("{}/connectors", stack.connect_worker_url(node)))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Registers the pipeline's connector from `connect::CONNECTOR_FILE`.
pub async fn register_connector(stack: &Stack) -> anyhow::Result<()> {
    let (name, config) = read_connector_file(stack)?;
    connect::register(&stack.connect_url(), &name, &config, stack.startup_timeout).await?;
    tracing::info!("connector {name} is running");
    Ok(())
}

/// The connector's name and config from `connect::CONNECTOR_FILE`.
pub fn read_connector_file(stack: &Stack) -> anyhow::Result<(String, Value)> {
    connect::read_connector_file(&stack.workspace_root)
}

/// Creates a connector that starts from nothing: created stopped, its stored source offsets (left
/// by an earlier connector of the same name) deleted, then resumed. A scratch connector reusing
/// a name would otherwise resume from a WAL position whose slot is gone.
pub async fn register_fresh(stack: &Stack, name: &str, config: &Value) -> anyhow::Result<()> {
    delete(stack, name).await?;
    let base = format!("{}/connectors", stack.connect_url());
    let definition =
        serde_json::json!({"name": name, "config": config, "initial_state": "STOPPED"});
    let response = http().post(&base).json(&definition).send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "Kafka Connect refused connector {name}: {status} {}",
            response.text().await?
        );
    }
    let url = format!("{base}/{name}");
    let response = http().delete(format!("{url}/offsets")).send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "cannot reset the offsets of {name}: {status} {}",
            response.text().await?
        );
    }
    http()
        .put(format!("{url}/resume"))
        .send()
        .await?
        .error_for_status()?;
    connect::await_running(&stack.connect_url(), name, stack.startup_timeout).await
}

/// Removes a connector; Connect stops its task before answering.
pub async fn delete(stack: &Stack, name: &str) -> anyhow::Result<()> {
    connect::delete(&stack.connect_url(), name).await
}

/// Stops a connector's task, keeping its config and offsets, until [`resume`].
pub async fn stop(stack: &Stack, name: &str) -> anyhow::Result<()> {
    connect::stop(&stack.connect_url(), name).await
}

/// Starts a stopped connector again and waits until its task runs.
pub async fn resume(stack: &Stack, name: &str) -> anyhow::Result<()> {
    connect::resume(&stack.connect_url(), name).await?;
    connect::await_running(&stack.connect_url(), name, stack.startup_timeout).await
}
