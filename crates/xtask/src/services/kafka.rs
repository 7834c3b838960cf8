//! Kafka in KRaft mode (each node both broker and controller, no ZooKeeper), run from Maven
//! Central's jars: one node on the plain stack, three on the high-availability one, where the
//! three controllers form the metadata quorum and every topic has three replicas, two of which
//! must have a write before it is acknowledged. Kafka Connect runs from the same classpath.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::config::{Stack, node_address};
use crate::install::{Artifact, ensure_maven_classpath};
use crate::process::{ManagedProcess, run_to_completion};

/// The classpath shared by the broker and Kafka Connect: one pinned Kafka version for both.
pub fn classpath(stack: &Stack) -> anyhow::Result<String> {
    let version = stack.versions.kafka.as_str();
    let kafka = |artifact| Artifact {
        group: "org.apache.kafka",
        artifact,
        version,
    };
    let lib = ensure_maven_classpath(
        stack,
        &format!("kafka-{version}"),
        &[
            kafka("kafka_2.13"),
            kafka("connect-runtime"),
            kafka("connect-json"),
            kafka("connect-transforms"),
            // Kafka logs through SLF4J 1.x; this binds it to the log4j2 that Kafka ships with.
            Artifact {
                group: "org.apache.logging.log4j",
                artifact: "log4j-slf4j-impl",
                version: "2.25.4",
            },
        ],
    )?;
    Ok(format!("{}/*", lib.display()))
}

/// A log4j2 configuration that writes INFO and above to stdout, which goes to the service log.
pub fn write_log4j2_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("log4j2.properties");
    std::fs::write(
        &path,
        "appender.stdout.type = Console\n\
         appender.stdout.name = STDOUT\n\
         appender.stdout.layout.type = PatternLayout\n\
         appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n\
         rootLogger.level = INFO\n\
         rootLogger.appenderRef.stdout.ref = STDOUT\n\
         logger.kafka.name = org.apache.kafka\n\
         logger.kafka.level = WARN\n\
         logger.debezium.name = io.debezium\n\
         logger.debezium.level = INFO\n",
    )?;
    Ok(path)
}

fn server_properties(stack: &Stack, node: u8, data_dir: &Path) -> String {
    let topology = stack.topology;
    let address = node_address(node);
    let controller_port = stack.kafka_controller_port;
    // One node bootstraps its own quorum (`format --standalone`); several list the voters.
    let quorum = if topology.kafka_brokers == 1 {
        format!("controller.quorum.bootstrap.servers={address}:{controller_port}")
    } else {
        let voters: Vec<String> = (1..=topology.kafka_brokers)
            .map(|voter| format!("{voter}@{}:{controller_port}", node_address(voter)))
            .collect();
        format!("controller.quorum.voters={}", voters.join(","))
    };
    format!(
        "process.roles=broker,controller\n\
         node.id={node}\n\
         {quorum}\n\
         listeners=PLAINTEXT://{address}:{broker},CONTROLLER://{address}:{controller_port}\n\
         advertised.listeners=PLAINTEXT://{address}:{broker}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={data}\n\
         num.partitions=1\n\
         default.replication.factor={replicas}\n\
         min.insync.replicas={min_insync}\n\
         offsets.topic.replication.factor={replicas}\n\
         share.coordinator.state.topic.replication.factor={replicas}\n\
         transaction.state.log.replication.factor={replicas}\n\
         transaction.state.log.min.isr={min_insync}\n\
         group.initial.rebalance.delay.ms=0\n",
        broker = stack.kafka_port,
        data = data_dir.display(),
        replicas = topology.kafka_replication_factor(),
        min_insync = topology.kafka_min_insync_replicas(),
    )
}

/// The garbage collector settings Kafka's own launch script (`kafka-run-class.sh`) gives every
/// Kafka JVM, the broker and Connect alike, and so the compose images too: G1 aiming at 20 ms
/// pauses. Without the goal G1 aims at 200 ms and sizes its young generation to match; under
/// 5,000 changes/s Connect then paused 35–85 ms every two seconds, the largest share of the
/// pipeline's p99 (a flight recording during `cargo xtask bench latency`).
pub const JVM_PERFORMANCE_OPTIONS: [&str; 4] = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
];

pub fn start(stack: &Stack, process: &ManagedProcess, node: u8) -> anyhow::Result<()> {
    let classpath = classpath(stack)?;
    std::fs::create_dir_all(&process.dir)?;
    let data_dir = process.dir.join("data");
    let properties = process.dir.join("server.properties");
    std::fs::write(&properties, server_properties(stack, node, &data_dir))?;
    let log4j2 = write_log4j2_config(&process.dir)?;
    if !data_dir.join("meta.properties").exists() {
        let cluster_id = cluster_id(stack, &classpath)?;
        let standalone = stack.topology.kafka_brokers == 1;
        format_storage(&classpath, &properties, &cluster_id, standalone)
            .context("formatting KRaft storage")?;
    }
    let mut command = Command::new("java");
    command
        .args(["-Xms256m", "-Xmx512m"])
        .args(JVM_PERFORMANCE_OPTIONS)
        .arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
        .args(["-cp", &classpath, "kafka.Kafka"])
        .arg(&properties);
    process.spawn(command)?;
    Ok(())
}

/// The cluster id every node's storage is formatted with: made once, kept in the state
/// directory, so that the nodes of one stack form one cluster.
fn cluster_id(stack: &Stack, classpath: &str) -> anyhow::Result<String> {
    let path = stack.state_dir.join("kafka-cluster-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_owned());
    }
    let id = run_to_completion(Command::new("java").args([
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "random-uuid",
    ]))?;
    std::fs::write(&path, id.trim())?;
    Ok(id.trim().to_owned())
}

/// KRaft needs its storage formatted with the cluster id before the first start;
/// `--standalone` makes a single node its own voter, several nodes list theirs.
fn format_storage(
    classpath: &str,
    properties: &Path,
    cluster_id: &str,
    standalone: bool,
) -> anyhow::Result<()> {
    let mut command = Command::new("java");
    command.args(["-cp", classpath, "kafka.tools.StorageTool", "format"]);
    if standalone {
        command.arg("--standalone");
    }
    run_to_completion(command.args(["-t", cluster_id, "-c"]).arg(properties))?;
    Ok(())
}

/// A real metadata request to broker `node`.
pub async fn probe(stack: &Stack, node: u8) -> anyhow::Result<()> {
    let client = rskafka::client::ClientBuilder::new(vec![stack.kafka_broker(node)])
        .build()
        .await?;
    client.list_topics().await?;
    Ok(())
}
