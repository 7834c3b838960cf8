//! One Kafka broker in KRaft mode (broker and controller in one process, no ZooKeeper), run from
//! Maven Central's jars. Kafka Connect runs from the same classpath.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::config::Stack;
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

fn server_properties(stack: &Stack, data_dir: &Path) -> String {
    format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
         listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{broker}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={data}\n\
         num.partitions=1\n\
         offsets.topic.replication.factor=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         transaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\n\
         group.initial.rebalance.delay.ms=0\n",
        controller = stack.kafka_controller_port,
        broker = stack.kafka_port,
        data = data_dir.display(),
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

pub fn start(stack: &Stack, process: &ManagedProcess) -> anyhow::Result<()> {
    let classpath = classpath(stack)?;
    std::fs::create_dir_all(&process.dir)?;
    let data_dir = process.dir.join("data");
    let properties = process.dir.join("server.properties");
    std::fs::write(&properties, server_properties(stack, &data_dir))?;
    let log4j2 = write_log4j2_config(&process.dir)?;
    if !data_dir.join("meta.properties").exists() {
        format_storage(&classpath, &properties).context("formatting KRaft storage")?;
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

/// KRaft needs its storage formatted with a cluster id before the first start; `--standalone`
/// makes this node the single voter.
fn format_storage(classpath: &str, properties: &Path) -> anyhow::Result<()> {
    let cluster_id = run_to_completion(Command::new("java").args([
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "random-uuid",
    ]))?;
    run_to_completion(
        Command::new("java")
            .args([
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
            ])
            .args(["-t", cluster_id.trim(), "-c"])
            .arg(properties),
    )?;
    Ok(())
}

/// A real metadata request to the broker.
pub async fn probe(stack: &Stack) -> anyhow::Result<()> {
    let client = rskafka::client::ClientBuilder::new(vec![stack.kafka_bootstrap()])
        .build()
        .await?;
    client.list_topics().await?;
    Ok(())
}
