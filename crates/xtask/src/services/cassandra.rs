//! Cassandra 5.0 run from Maven Central's `cassandra-all` jar: a single node on loopback, or a
//! ring of three on 127.0.0.1–3 for the high-availability stack, each with a small heap, the JVM options of Cassandra's own `jvm17-server.options`, password
//! authentication and role-based authorization. Once it answers, [`set_up`] creates the admin
//! role (the only use of the default `cassandra` superuser, which it then disables), the CQL
//! schema (`sql/cassandra/schema.cql`, through the `cassandra-schema` crate), and the
//! consumer's and Grafana's roles with their grants.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use cassandra_schema::access::{
    self, ADMIN_ROLE, DEFAULT_SUPERUSER, DEFAULT_SUPERUSER_PASSWORD, Login,
};

use crate::config::{Stack, node_address};
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

fn cassandra_yaml(stack: &Stack, node: u8, dir: &Path) -> String {
    let dir = dir.display();
    let address = node_address(node);
    let seed = node_address(1);
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
         \x20     - seeds: \"{seed}:{storage}\"\n\
         listen_address: {address}\n\
         rpc_address: {address}\n\
         storage_port: {storage}\n\
         native_transport_port: {native}\n\
         start_native_transport: true\n\
         endpoint_snitch: SimpleSnitch\n\
         disk_failure_policy: stop\n\
         commit_failure_policy: stop\n\
         authenticator: PasswordAuthenticator\n\
         authorizer: CassandraAuthorizer\n\
         role_manager: CassandraRoleManager\n",
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

pub fn start(stack: &Stack, process: &ManagedProcess, node: u8) -> anyhow::Result<()> {
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
    std::fs::write(&yaml, cassandra_yaml(stack, node, &process.dir))?;
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
        // A single node has no gossip to settle and no ring to wait for; in a ring of loopback
        // nodes gossip settles within a second, so a short ring delay is enough.
        .arg("-Dcassandra.skip_wait_for_gossip_to_settle=0")
        .arg(if stack.topology.cassandra_nodes == 1 {
            "-Dcassandra.ring_delay_ms=0"
        } else {
            "-Dcassandra.ring_delay_ms=5000"
        })
        // The default superuser exists from the start instead of 10 s later, so the setup can
        // log in and replace it at once.
        .arg("-Dcassandra.superuser_setup_delay_ms=0")
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

/// A session through the first node, which the setup runs on before the others join (the
/// driver finds the others from it); a node that is down would only add its refusal to the
/// error that says whether the login was refused.
async fn session(
    stack: &Stack,
    login: &Login,
) -> Result<scylla::client::session::Session, scylla::errors::NewSessionError> {
    access::session_builder([stack.cassandra_node(1)], Some(login))
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
}

/// A real CQL exchange with node `node`: the admin runs a query, or Cassandra refuses its login,
/// which means it serves CQL too (before [`set_up`] has created the admin, or with a wrong admin
/// password, which `set_up` then reports).
pub async fn probe(stack: &Stack, node: u8) -> anyhow::Result<()> {
    let node_only =
        access::session_builder([stack.cassandra_node(node)], Some(&stack.cassandra_admin()))
            .connection_timeout(Duration::from_secs(5))
            .build()
            .await;
    match node_only {
        Ok(session) => {
            session
                .query_unpaged("SELECT release_version FROM system.local", &[])
                .await?;
            Ok(())
        }
        Err(error) if access::refused_login(&error).is_some() => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// How long the setup waits for the default superuser to exist on a new node, when the admin
/// is refused too.
const DEFAULT_SUPERUSER_BOUND: Duration = Duration::from_secs(60);

/// A session as the admin role, creating the role first (as the default superuser) on a node
/// that does not have it yet.
async fn admin_session(stack: &Stack) -> anyhow::Result<scylla::client::session::Session> {
    let admin = stack.cassandra_admin();
    let default_superuser = Login::new(DEFAULT_SUPERUSER, DEFAULT_SUPERUSER_PASSWORD);
    let started = std::time::Instant::now();
    loop {
        let admin_refused = match session(stack, &admin).await {
            Ok(session) => return Ok(session),
            Err(error) => match access::refused_login(&error) {
                Some(reason) => reason,
                None => return Err(error).context("connecting to Cassandra as the admin"),
            },
        };
        match session(stack, &default_superuser).await {
            Ok(session) => {
                tracing::info!("creating Cassandra's {ADMIN_ROLE} role");
                session
                    .query_unpaged(access::create_admin(&admin.password), &[])
                    .await
                    .with_context(|| format!("creating the {ADMIN_ROLE} role"))?;
                replicate_system_keyspaces(stack, &session).await?;
            }
            // On a node that has just started, the default superuser may not exist yet.
            Err(error) if started.elapsed() < DEFAULT_SUPERUSER_BOUND => {
                tracing::debug!("the default superuser cannot log in yet: {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(_) => anyhow::bail!(
                "Cassandra refused the login of {ADMIN_ROLE} ({admin_refused}), and the default \
                 superuser is disabled: the admin's password is set when the role is created, \
                 so set CDC_CASSANDRA_ADMIN_PASSWORD to that password"
            ),
        }
    }
}

/// On a ring, gives the system keyspaces that hold roles and cluster state the pipeline's
/// replication: with the default single replica of `system_auth`, the node holding it would take
/// every login down with it. Runs in the default superuser's session, right after it created
/// the admin role: the roles written so far (the default superuser and the admin) have one
/// replica each, so each is read once at consistency ALL, whose blocking read repair writes it
/// to the new replicas. (Without it a quorum read could meet two replicas lacking the admin.)
async fn replicate_system_keyspaces(
    stack: &Stack,
    session: &scylla::client::session::Session,
) -> anyhow::Result<()> {
    if !stack.topology.is_ha() {
        return Ok(());
    }
    for keyspace in ["system_auth", "system_distributed", "system_traces"] {
        let statement = format!(
            "ALTER KEYSPACE {keyspace} WITH replication = {}",
            stack.topology.cassandra_replication()
        );
        session
            .query_unpaged(statement.as_str(), &[])
            .await
            .with_context(|| format!("running {statement}"))?;
    }
    let mut read = scylla::statement::unprepared::Statement::new(
        "SELECT role, is_superuser, can_login, salted_hash FROM system_auth.roles WHERE role = ?",
    );
    read.set_consistency(scylla::statement::Consistency::All);
    for role in [DEFAULT_SUPERUSER, ADMIN_ROLE] {
        session
            .query_unpaged(read.clone(), (role,))
            .await
            .with_context(|| format!("repairing role {role} onto every replica"))?;
    }
    Ok(())
}

/// Creates the admin role when missing and disables the default superuser, then applies the
/// schema with its default settings and the roles with their grants. Every step is idempotent;
/// the consumer's and Grafana's passwords are set to the configured ones when they differ.
pub async fn set_up(stack: &Stack) -> anyhow::Result<()> {
    let admin = admin_session(stack).await?;
    let schema = cassandra_schema::statements(&cassandra_schema::SchemaSettings {
        replication: stack.topology.cassandra_replication(),
        ..cassandra_schema::SchemaSettings::default()
    });
    for statement in &schema {
        admin
            .query_unpaged(statement.as_str(), &[])
            .await
            .with_context(|| format!("applying {statement}"))?;
    }
    let access = access::setup_statements(
        cassandra_schema::DEFAULT_KEYSPACE,
        &stack.cassandra_consumer_password,
        &stack.cassandra_grafana_password,
    );
    for statement in access {
        // A role's password comes last: the error shows the statement up to it.
        let shown = statement
            .split(" AND PASSWORD")
            .next()
            .unwrap_or_default()
            .to_owned();
        admin
            .query_unpaged(statement, &[])
            .await
            .with_context(|| format!("running `{shown}`"))?;
    }
    for login in [stack.cassandra_consumer(), stack.cassandra_grafana()] {
        let Err(error) = session(stack, &login).await else {
            continue;
        };
        if access::refused_login(&error).is_none() {
            return Err(error).with_context(|| format!("logging in as {}", login.username));
        }
        tracing::info!(
            "setting the password of Cassandra's {} role",
            login.username
        );
        admin
            .query_unpaged(access::set_password(&login.username, &login.password), &[])
            .await
            .with_context(|| format!("setting the password of {}", login.username))?;
    }
    Ok(())
}
