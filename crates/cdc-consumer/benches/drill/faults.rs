//! The faults the drill injects, in order, each while the load goes on. On the high-availability
//! stack each takes one node of a service (the second Cassandra node and Kafka broker, the
//! Connect worker running the connector's task); on the plain stack a node fault is the whole
//! service's outage. Each fault ends restored (the node started again, the consumer restarted as
//! a supervisor would); the observer then tells when the pipeline is healthy again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::sleep;

use crate::consumers::Consumers;

/// How long a killed process stays dead before its supervisor starts it again.
const RESTART_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillConsumer,
    KillConnect,
    StopCassandra,
    StopKafka,
    RestartPostgres,
    BinanceStorm,
}

impl Fault {
    pub const SEQUENCE: [Fault; 6] = [
        Fault::KillConsumer,
        Fault::KillConnect,
        Fault::StopCassandra,
        Fault::StopKafka,
        Fault::RestartPostgres,
        Fault::BinanceStorm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::KillConsumer => "consumer killed",
            Fault::KillConnect => "Connect killed",
            Fault::StopCassandra => "Cassandra stopped",
            Fault::StopKafka => "Kafka stopped",
            Fault::RestartPostgres => "PostgreSQL restarted",
            Fault::BinanceStorm => "Binance storm",
        }
    }

    /// What is done, for the report.
    pub fn description(self, outage: Duration, ha: bool) -> String {
        let outage = outage.as_secs();
        let restart = RESTART_DELAY.as_secs();
        match (self, ha) {
            (Fault::KillConsumer, _) => format!(
                "SIGKILL one consumer of two; its supervisor starts it again after {restart} s"
            ),
            (Fault::KillConnect, false) => format!(
                "SIGKILL the Connect worker (the only one); started again after {restart} s"
            ),
            (Fault::KillConnect, true) => format!(
                "SIGKILL the Connect worker running the connector's task (of two); started again \
                 after {restart} s"
            ),
            (Fault::StopCassandra, false) => {
                format!("Cassandra (the only node) down for {outage} s")
            }
            (Fault::StopCassandra, true) => format!("Cassandra node 2 of 3 down for {outage} s"),
            (Fault::StopKafka, false) => format!("Kafka (the only broker) down for {outage} s"),
            (Fault::StopKafka, true) => format!("Kafka broker 2 of 3 down for {outage} s"),
            (Fault::RestartPostgres, _) => {
                "PostgreSQL stopped (fast shutdown) and started".to_owned()
            }
            (Fault::BinanceStorm, _) => format!(
                "the simulator answers every request with 429, then 418, then 503, {} s each",
                outage / 3
            ),
        }
    }

    /// Injects the fault and returns once it is undone (the service is back).
    pub async fn inject(self, target: &Target) {
        match self {
            Fault::KillConsumer => {
                target.consumers.lock().await.kill(1, &target.http).await;
                sleep(RESTART_DELAY).await;
                target.consumers.lock().await.restart(1);
            }
            Fault::KillConnect => {
                let worker = match target.ha {
                    true => task_worker(target).await,
                    false => 1,
                };
                xtask(vec![
                    "stack",
                    "kill",
                    "connect",
                    "--node",
                    node_name(worker),
                ])
                .await;
                sleep(RESTART_DELAY).await;
                xtask(vec!["stack", "up"]).await;
            }
            Fault::StopCassandra => outage(target, "cassandra").await,
            Fault::StopKafka => outage(target, "kafka").await,
            Fault::RestartPostgres => {
                xtask(vec!["stack", "down", "postgres"]).await;
                xtask(vec!["stack", "up"]).await;
            }
            Fault::BinanceStorm => {
                for status in [429, 418, 503] {
                    let seconds = (target.outage / 3).as_secs().max(1);
                    let started = target
                        .http
                        .post(format!(
                            "{}/admin/storm?status={status}&seconds={seconds}",
                            target.simulator_url
                        ))
                        .send()
                        .await
                        .is_ok_and(|response| response.status().is_success());
                    assert!(started, "the simulator refused a storm of {status}");
                    sleep(Duration::from_secs(seconds)).await;
                }
            }
        }
    }
}

/// What faults act on.
pub struct Target {
    pub consumers: Arc<Mutex<Consumers>>,
    pub http: reqwest::Client,
    pub simulator_url: String,
    pub outage: Duration,
    /// The high-availability stack, where a fault takes one node.
    pub ha: bool,
    pub connect_url: String,
    pub connector: String,
}

/// `service` down for the outage: its second node on the high-availability stack, the only one
/// on the plain stack.
async fn outage(target: &Target, service: &'static str) {
    let mut down = vec!["stack", "down", service];
    if target.ha {
        down.extend(["--node", "2"]);
    }
    xtask(down).await;
    sleep(target.outage).await;
    xtask(vec!["stack", "up"]).await;
}

/// The Connect worker (its node number) running the connector's task, from the REST API's
/// status (`worker_id` is the worker's `host:port`, host 127.0.0.`node`).
async fn task_worker(target: &Target) -> u8 {
    let status: serde_json::Value = target
        .http
        .get(format!(
            "{}/connectors/{}/status",
            target.connect_url, target.connector
        ))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("the connector's status")
        .json()
        .await
        .expect("the connector's status is JSON");
    let worker = status["tasks"][0]["worker_id"].as_str().unwrap_or_default();
    worker
        .split(':')
        .next()
        .and_then(|host| host.rsplit('.').next())
        .and_then(|node| node.parse().ok())
        .unwrap_or_else(|| panic!("no task worker in the connector's status: {status}"))
}

fn node_name(node: u8) -> &'static str {
    ["1", "2", "3"][usize::from(node.clamp(1, 3)) - 1]
}

/// `cargo xtask ARGS` in the workspace, with the state directory `cargo xtask drill` passed in
/// `CDC_STATE_DIR`; panics when it fails, as the drill cannot go on.
async fn xtask(args: Vec<&'static str>) {
    let shown = args.join(" ");
    let status = tokio::task::spawn_blocking(move || {
        stack_fixtures::cargo::cargo()
            .arg("xtask")
            .args(&args)
            .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .stdout(std::process::Stdio::null())
            .status()
    })
    .await
    .expect("the xtask thread")
    .expect("cannot run cargo xtask");
    assert!(status.success(), "cargo xtask {shown} failed");
}
