//! Configuration of the native stack: ports, directories, passwords and pinned versions.
//!
//! Every setting is a flag with an environment variable, so CI, tests and a developer's shell
//! can move a port or a directory without editing anything. The defaults are the ports the
//! compose file publishes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cassandra_schema::access::{ADMIN_ROLE, CONSUMER_ROLE, GRAFANA_ROLE, Login};
use clap::Args;

use crate::versions::Versions;

#[derive(Args, Debug, Clone)]
pub struct StackConfig {
    /// Where service data, logs and pid files live (default: `.stack/` in the workspace).
    #[arg(long, global = true, env = "CDC_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Where downloaded JVM services are cached across runs (default: `~/.cache/crypto-cdc-pipeline`).
    #[arg(long, global = true, env = "CDC_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// PostgreSQL port.
    #[arg(long, global = true, env = "CDC_PG_PORT", default_value_t = 5432)]
    pg_port: u16,
    /// Kafka broker (client) port.
    #[arg(long, global = true, env = "CDC_KAFKA_PORT", default_value_t = 9092)]
    kafka_port: u16,
    /// Kafka KRaft controller port.
    #[arg(
        long,
        global = true,
        env = "CDC_KAFKA_CONTROLLER_PORT",
        default_value_t = 9093
    )]
    kafka_controller_port: u16,
    /// Kafka Connect REST port.
    #[arg(long, global = true, env = "CDC_CONNECT_PORT", default_value_t = 8083)]
    connect_port: u16,
    /// Cassandra CQL (native transport) port.
    #[arg(
        long,
        global = true,
        env = "CDC_CASSANDRA_PORT",
        default_value_t = 9042
    )]
    cassandra_port: u16,
    /// Cassandra inter-node storage port.
    #[arg(
        long,
        global = true,
        env = "CDC_CASSANDRA_STORAGE_PORT",
        default_value_t = 7000
    )]
    cassandra_storage_port: u16,
    /// Password of the PostgreSQL superuser `postgres` (a development default exists; it applies
    /// when the cluster is initialised).
    #[arg(
        long,
        global = true,
        env = "CDC_PG_SUPERUSER_PASSWORD",
        default_value = "postgres",
        hide_default_value = true,
        hide_env_values = true
    )]
    pg_superuser_password: String,
    /// Password of the `ingester` role, which may only write the market-data tables (a
    /// development default exists).
    #[arg(
        long,
        global = true,
        env = "CDC_INGESTER_PASSWORD",
        default_value = "ingester",
        hide_default_value = true,
        hide_env_values = true
    )]
    ingester_password: String,
    /// Password of the `debezium` role, which may replicate and read the market-data tables (a
    /// development default exists).
    #[arg(
        long,
        global = true,
        env = "CDC_DEBEZIUM_PASSWORD",
        default_value = "debezium",
        hide_default_value = true,
        hide_env_values = true
    )]
    debezium_password: String,
    /// Password of PostgreSQL's `grafana` role, which may only read (a development default
    /// exists).
    #[arg(
        long,
        global = true,
        env = "CDC_GRAFANA_PASSWORD",
        default_value = "grafana",
        hide_default_value = true,
        hide_env_values = true
    )]
    grafana_password: String,
    /// Password of Cassandra's `cdc_admin` superuser, which sets up roles and schema (a
    /// development default exists; it applies when the role is created).
    #[arg(
        long,
        global = true,
        env = "CDC_CASSANDRA_ADMIN_PASSWORD",
        default_value = "cdc_admin",
        hide_default_value = true,
        hide_env_values = true
    )]
    cassandra_admin_password: String,
    /// Password of Cassandra's `cdc_consumer` role, which may only read and write the
    /// pipeline's keyspace (a development default exists).
    #[arg(
        long,
        global = true,
        env = "CDC_CASSANDRA_CONSUMER_PASSWORD",
        default_value = "cdc_consumer",
        hide_default_value = true,
        hide_env_values = true
    )]
    cassandra_consumer_password: String,
    /// Password of Cassandra's `grafana` role, which may only read the pipeline's keyspace (a
    /// development default exists).
    #[arg(
        long,
        global = true,
        env = "CDC_CASSANDRA_GRAFANA_PASSWORD",
        default_value = "grafana",
        hide_default_value = true,
        hide_env_values = true
    )]
    cassandra_grafana_password: String,
    /// How much WAL, in MiB, a replication slot may hold back while Debezium is behind or down
    /// (PostgreSQL's `max_slot_wal_keep_size`).
    #[arg(
        long,
        global = true,
        env = "CDC_PG_MAX_SLOT_WAL_KEEP_MB",
        default_value_t = 4096
    )]
    max_slot_wal_keep_mb: u64,
    /// How many hours the change topics that Connect creates keep messages (`retention.ms`).
    #[arg(
        long,
        global = true,
        env = "CDC_TOPIC_RETENTION_HOURS",
        default_value_t = 24
    )]
    topic_retention_hours: u64,
    /// How many MiB each partition of those topics keeps at most (`retention.bytes`).
    #[arg(
        long,
        global = true,
        env = "CDC_TOPIC_RETENTION_MIB",
        default_value_t = 2048
    )]
    topic_retention_mib: u64,
    /// Codec of what Connect produces (the topics keep the producer's). zstd by measurement:
    /// 50× smaller than uncompressed Debezium JSON for a few µs of consumer CPU per message
    /// (`cargo xtask bench disk`).
    #[arg(long, global = true, env = "CDC_TOPIC_COMPRESSION", default_value = "zstd",
          value_parser = ["zstd", "lz4", "snappy", "gzip", "none"])]
    topic_compression: String,
    /// The high-availability stack: three Cassandra nodes, three Kafka brokers and two Kafka
    /// Connect workers, on the loopback addresses 127.0.0.1–3 with the ports above, replicated
    /// to survive the loss of one node of each. Its state is in `.stack-ha/` (unless
    /// `--state-dir` says otherwise), apart from the plain stack's; the two cannot run at once.
    #[arg(long, global = true, env = "CDC_HA")]
    ha: bool,
    /// How long to wait for one service to become ready before giving up, in seconds.
    #[arg(
        long,
        global = true,
        env = "CDC_STARTUP_TIMEOUT_SECS",
        default_value_t = 240
    )]
    startup_timeout_secs: u64,
}

/// The configuration with every default filled in and the pinned versions read.
#[derive(Debug, Clone)]
pub struct Stack {
    pub workspace_root: PathBuf,
    pub state_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub versions: Versions,
    pub pg_port: u16,
    pub kafka_port: u16,
    pub kafka_controller_port: u16,
    pub connect_port: u16,
    pub cassandra_port: u16,
    pub cassandra_storage_port: u16,
    pub pg_superuser_password: String,
    pub ingester_password: String,
    pub debezium_password: String,
    pub grafana_password: String,
    pub cassandra_admin_password: String,
    pub cassandra_consumer_password: String,
    pub cassandra_grafana_password: String,
    pub startup_timeout: std::time::Duration,
    /// Retention and compression of the change topics Connect creates.
    pub topics: TopicSettings,
    /// PostgreSQL's `max_slot_wal_keep_size`, in MiB.
    pub max_slot_wal_keep_mb: u64,
    /// How many nodes of each service run.
    pub topology: Topology,
}

/// How many nodes of each service run, and the replication that follows from it. Node `n`
/// listens on the loopback address 127.0.0.`n`, with the service's usual ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    pub cassandra_nodes: u8,
    pub kafka_brokers: u8,
    pub connect_workers: u8,
}

impl Topology {
    /// One node of each: the development stack.
    pub const PLAIN: Topology = Topology {
        cassandra_nodes: 1,
        kafka_brokers: 1,
        connect_workers: 1,
    };
    /// Enough of each to lose one: Cassandra and Kafka keep a quorum of 2 out of 3 replicas,
    /// and Connect's other worker takes over the connector.
    pub const HA: Topology = Topology {
        cassandra_nodes: 3,
        kafka_brokers: 3,
        connect_workers: 2,
    };

    pub fn is_ha(self) -> bool {
        self != Topology::PLAIN
    }

    /// Replicas of every topic: one per broker, up to 3.
    pub fn kafka_replication_factor(self) -> u8 {
        self.kafka_brokers.min(3)
    }

    /// Replicas that must have a write before it is acknowledged (`min.insync.replicas`): a
    /// majority, so one broker may be lost without losing an acknowledged write.
    pub fn kafka_min_insync_replicas(self) -> u8 {
        self.kafka_replication_factor() / 2 + 1
    }

    /// The replication of the pipeline's keyspace (and Cassandra's `system_auth`): one replica
    /// per node, up to 3. The consumer and `verify` use quorum consistency (the driver's
    /// default, LOCAL_QUORUM), which one lost node of three does not break.
    pub fn cassandra_replication(self) -> String {
        format!(
            "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
            self.cassandra_nodes.min(3)
        )
    }
}

/// The loopback address node `node` (from 1) listens on.
pub fn node_address(node: u8) -> String {
    format!("127.0.0.{node}")
}

/// Retention and compression of the change topics Connect creates.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    pub retention_ms: u64,
    pub retention_bytes: u64,
    pub compression: String,
}

impl TopicSettings {
    /// The variables the connector configuration reads them from (`${env:…}`).
    pub fn environment(&self) -> [(&'static str, String); 3] {
        [
            ("CDC_TOPIC_RETENTION_MS", self.retention_ms.to_string()),
            (
                "CDC_TOPIC_RETENTION_BYTES",
                self.retention_bytes.to_string(),
            ),
            ("CDC_TOPIC_COMPRESSION", self.compression.clone()),
        ]
    }
}

/// The database the ingester writes and Debezium replicates.
pub const PG_DATABASE: &str = "crypto_db";

impl StackConfig {
    pub fn resolve(self) -> anyhow::Result<Stack> {
        let workspace_root = workspace_root();
        let versions = Versions::read(&workspace_root.join(".env"))?;
        let topology = if self.ha {
            Topology::HA
        } else {
            Topology::PLAIN
        };
        let default_state = if self.ha { ".stack-ha" } else { ".stack" };
        let state_dir = absolute(
            self.state_dir
                .unwrap_or_else(|| workspace_root.join(default_state)),
        )?;
        let cache_dir = match self.cache_dir {
            Some(dir) => absolute(dir)?,
            None => home_dir()?.join(".cache").join("crypto-cdc-pipeline"),
        };
        Ok(Stack {
            workspace_root,
            state_dir,
            cache_dir,
            versions,
            pg_port: self.pg_port,
            kafka_port: self.kafka_port,
            kafka_controller_port: self.kafka_controller_port,
            connect_port: self.connect_port,
            cassandra_port: self.cassandra_port,
            cassandra_storage_port: self.cassandra_storage_port,
            pg_superuser_password: self.pg_superuser_password,
            ingester_password: self.ingester_password,
            debezium_password: self.debezium_password,
            grafana_password: self.grafana_password,
            cassandra_admin_password: self.cassandra_admin_password,
            cassandra_consumer_password: self.cassandra_consumer_password,
            cassandra_grafana_password: self.cassandra_grafana_password,
            startup_timeout: std::time::Duration::from_secs(self.startup_timeout_secs),
            max_slot_wal_keep_mb: self.max_slot_wal_keep_mb,
            topology,
            topics: TopicSettings {
                retention_ms: self.topic_retention_hours.saturating_mul(3_600_000),
                retention_bytes: self.topic_retention_mib.saturating_mul(1 << 20),
                compression: self.topic_compression,
            },
        })
    }
}

impl Stack {
    /// Every broker, comma-separated, as clients' `bootstrap.servers`.
    pub fn kafka_bootstrap(&self) -> String {
        self.kafka_brokers().join(",")
    }

    pub fn kafka_brokers(&self) -> Vec<String> {
        (1..=self.topology.kafka_brokers)
            .map(|node| self.kafka_broker(node))
            .collect()
    }

    pub fn kafka_broker(&self, node: u8) -> String {
        format!("{}:{}", node_address(node), self.kafka_port)
    }

    /// The first Connect worker's REST API (any worker forwards to the group's leader).
    pub fn connect_url(&self) -> String {
        self.connect_worker_url(1)
    }

    pub fn connect_worker_url(&self, node: u8) -> String {
        format!("http://{}:{}", node_address(node), self.connect_port)
    }

    /// Every Cassandra node, comma-separated.
    pub fn cassandra_nodes(&self) -> String {
        (1..=self.topology.cassandra_nodes)
            .map(|node| self.cassandra_node(node))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn cassandra_node(&self, node: u8) -> String {
        format!("{}:{}", node_address(node), self.cassandra_port)
    }

    /// Cassandra's admin superuser, for setting up roles, schema and test keyspaces.
    pub fn cassandra_admin(&self) -> Login {
        Login::new(ADMIN_ROLE, &self.cassandra_admin_password)
    }

    /// The consumer's Cassandra role.
    pub fn cassandra_consumer(&self) -> Login {
        Login::new(CONSUMER_ROLE, &self.cassandra_consumer_password)
    }

    /// Grafana's read-only Cassandra role.
    pub fn cassandra_grafana(&self) -> Login {
        Login::new(GRAFANA_ROLE, &self.cassandra_grafana_password)
    }

    /// A libpq-style connection string for `role` on the pipeline's database.
    pub fn pg_url(&self, role: &str, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={role} password={password} dbname={PG_DATABASE}",
            self.pg_port
        )
    }

    /// The stack as the tests' fixtures see it, for removing what a killed test run left.
    pub fn fixture_environment(&self) -> stack_fixtures::StackEnvironment {
        stack_fixtures::StackEnvironment {
            pg_admin_url: self.pg_url("postgres", &self.pg_superuser_password),
            pg_url: self.pg_url("ingester", &self.ingester_password),
            pg_grafana_url: self.pg_url("grafana", &self.grafana_password),
            kafka_brokers: self.kafka_bootstrap(),
            kafka_connect_url: self.connect_url(),
            cassandra_nodes: self.cassandra_nodes(),
            cassandra_admin: self.cassandra_admin(),
            cassandra_consumer: self.cassandra_consumer(),
            cassandra_grafana: self.cassandra_grafana(),
            workspace_root: self.workspace_root.clone(),
            kafka_replication_factor: self.topology.kafka_replication_factor().into(),
            cassandra_replication: self.topology.cassandra_replication(),
        }
    }

    /// The environment under which tests and the pipeline's binaries find the stack.
    pub fn client_environment(&self) -> Vec<(String, String)> {
        let pairs = [
            ("KAFKA_BROKERS", self.kafka_bootstrap()),
            ("CASSANDRA_NODES", self.cassandra_nodes()),
            // The replication the pipeline's keyspace and topics have on this stack, for the
            // consumer's `schema` command and the tests' own keyspaces and topics.
            (
                "CASSANDRA_REPLICATION",
                self.topology.cassandra_replication(),
            ),
            (
                "CDC_KAFKA_REPLICATION_FACTOR",
                self.topology.kafka_replication_factor().to_string(),
            ),
            // The consumer's role, under the names the consumer reads.
            ("CASSANDRA_USERNAME", CONSUMER_ROLE.to_owned()),
            (
                "CASSANDRA_PASSWORD",
                self.cassandra_consumer_password.clone(),
            ),
            // For the fixtures, which create and drop the tests' keyspaces.
            ("CASSANDRA_ADMIN_USERNAME", ADMIN_ROLE.to_owned()),
            (
                "CASSANDRA_ADMIN_PASSWORD",
                self.cassandra_admin_password.clone(),
            ),
            // Grafana's read-only role, for the test that runs every dashboard query.
            ("CASSANDRA_GRAFANA_USERNAME", GRAFANA_ROLE.to_owned()),
            (
                "CASSANDRA_GRAFANA_PASSWORD",
                self.cassandra_grafana_password.clone(),
            ),
            ("KAFKA_CONNECT_URL", self.connect_url()),
            ("PG_URL", self.pg_url("ingester", &self.ingester_password)),
            (
                "PG_ADMIN_URL",
                self.pg_url("postgres", &self.pg_superuser_password),
            ),
            // Grafana's read-only role, for the test that runs every dashboard query.
            (
                "PG_GRAFANA_URL",
                self.pg_url("grafana", &self.grafana_password),
            ),
            // For tests that stop and start services with `cargo xtask stack`.
            ("CDC_STATE_DIR", self.state_dir.display().to_string()),
            ("CDC_HA", self.topology.is_ha().to_string()),
        ];
        pairs
            .into_iter()
            // What the change topics Connect creates must carry, for the test that checks it.
            .chain(self.topics.environment())
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

/// xtask is built from `crates/xtask`, so the workspace is two levels up from its manifest.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn absolute(path: PathBuf) -> anyhow::Result<PathBuf> {
    std::path::absolute(&path).with_context(|| format!("cannot resolve path {}", path.display()))
}

fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set; pass --cache-dir or set CDC_CACHE_DIR")
}
