//! Cassandra 5.0 run from Maven Central's `cassandra-all` jar: a single node on loopback with a
//! small heap, the JVM options of Cassandra's own `jvm17-server.options`, and the CQL schema
//! (`sql/cassandra/schema.cql`, through the `cassandra-schema` crate) applied once it answers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::config::Stack;
use crate::install::{Artifact, ensure_maven_classpath};
use crate::process::ManagedProcess;

/// `--add-exports`/`--add-opens` from Cassandra 5.0's `conf/jvm17-server.options`: Cassandra
/// reaches into JDK internals that Java 17 closes by default.
const JAVA17_MODULE_OPTIONS: &[&str] = &[
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
];

fn cassandra_yaml(stack: &Stack, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "cluster_name: crypto-cdc-pipeline\n\
         num_tokens: 16\n\
         allocate_tokens_for_local_replication_factor: 1\n\
         partitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\
         data_file_directories: [{dir}/data]\n\
         commitlog_directory: {dir}/commitlog\n\
         saved_caches_directory: {dir}/saved_caches\n\
         hints_directory: {dir}/hints\n\
         cdc_raw_directory: {dir}/cdc_raw\n\
         commitlog_sync: periodic\n\
         commitlog_sync_period: 10000ms\n\
         seed_provider:\n\
         \x20 - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n\
         \x20   parameters:\n\
         \x20     - seeds: \"127.0.0.1:{storage}\"\n\
         listen_address: 127.0.0.1\n\
         rpc_address: 127.0.0.1\n\
         storage_port: {storage}\n\
         native_transport_port: {native}\n\
         start_native_transport: true\n\
         endpoint_snitch: SimpleSnitch\n\
         disk_failure_policy: stop\n\
         commit_failure_policy: stop\n",
        storage = stack.cassandra_storage_port,
        native = stack.cassandra_port,
    )
}

const LOGBACK_XML: &str = r#"<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%date{ISO8601} %-5level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"#;

pub fn start(stack: &Stack, process: &ManagedProcess) -> anyhow::Result<()> {
    let version = stack.versions.cassandra.as_str();
    let lib = ensure_maven_classpath(
        stack,
        &format!("cassandra-{version}"),
        &[Artifact {
            group: "org.apache.cassandra",
            artifact: "cassandra-all",
            version,
        }],
    )?;
    let jamm = find_jar(&lib, "jamm-")?;
    std::fs::create_dir_all(&process.dir)?;
    let yaml = process.dir.join("cassandra.yaml");
    std::fs::write(&yaml, cassandra_yaml(stack, &process.dir))?;
    let logback = process.dir.join("logback.xml");
    std::fs::write(&logback, LOGBACK_XML)?;
    let mut command = Command::new("java");
    command
        .args([
            "-Xms1g",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-Xss512k",
            "-XX:+ExitOnOutOfMemoryError",
        ])
        .arg(format!("-javaagent:{}", jamm.display()))
        .args(JAVA17_MODULE_OPTIONS)
        .arg(format!("-Dcassandra.config=file://{}", yaml.display()))
        .arg(format!("-Dcassandra.storagedir={}", process.dir.display()))
        .arg(format!("-Dlogback.configurationFile={}", logback.display()))
        .arg("-Dcassandra-foreground=yes")
        // A single node has no gossip to settle and no ring to wait for.
        .arg("-Dcassandra.skip_wait_for_gossip_to_settle=0")
        .arg("-Dcassandra.ring_delay_ms=0")
        .args(["-cp", &format!("{}/*", lib.display())])
        .arg("org.apache.cassandra.service.CassandraDaemon");
    process.spawn(command)?;
    Ok(())
}

fn find_jar(lib: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(lib)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".jar"))
        })
        .with_context(|| format!("no {prefix}*.jar in {}", lib.display()))
}

async fn session(stack: &Stack) -> anyhow::Result<scylla::client::session::Session> {
    Ok(scylla::client::session_builder::SessionBuilder::new()
        .known_node(stack.cassandra_node())
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await?)
}

/// A real CQL query.
pub async fn probe(stack: &Stack) -> anyhow::Result<()> {
    session(stack)
        .await?
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await?;
    Ok(())
}

/// Creates the schema with its default settings (each statement is idempotent).
pub async fn apply_schema(stack: &Stack) -> anyhow::Result<()> {
    let session = session(stack).await?;
    for statement in cassandra_schema::statements(&cassandra_schema::SchemaSettings::default()) {
        session
            .query_unpaged(statement.as_str(), &[])
            .await
            .with_context(|| format!("applying {statement}"))?;
    }
    Ok(())
}
