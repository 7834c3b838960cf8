//! The `cdc-consumer` binary's configuration: one clap struct, every flag with an environment
//! variable and a doc line, and the subcommands (`verify`, `schema`, `decode`).

use anyhow::Context;
use cassandra_schema::access::Login;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "cdc-consumer",
    about = "Replicates Debezium change events from Kafka into Cassandra"
)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Kafka bootstrap servers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Consumer group; a new group starts from the earliest offset.
    #[arg(long, env = "CONSUMER_GROUP_ID", default_value = "crypto-cdc-consumer")]
    pub group_id: String,
    /// Debezium topics to replicate, comma-separated.
    #[arg(
        long,
        env = "CONSUMER_TOPICS",
        value_delimiter = ',',
        default_value = "crypto.public.ticker_24h,crypto.public.klines"
    )]
    pub topics: Vec<String>,
    /// Where messages that cannot be decoded or mapped go, with the reason in headers.
    #[arg(
        long,
        env = "CONSUMER_DEAD_LETTER_TOPIC",
        default_value = "crypto.dead-letter"
    )]
    pub dead_letter_topic: String,
    /// Hours the dead-letter topic keeps a message (its `retention.ms`, set by the consumer at
    /// start-up, creating the topic if needed).
    #[arg(long, env = "CONSUMER_DEAD_LETTER_RETENTION_HOURS", default_value_t = 168,
          value_parser = clap::value_parser!(u64).range(1..=876_000))]
    pub dead_letter_retention_hours: u64,
    /// MiB the dead-letter topic keeps at most (its `retention.bytes`); the oldest dead letters
    /// go first beyond it.
    #[arg(long, env = "CONSUMER_DEAD_LETTER_RETENTION_MIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub dead_letter_retention_mib: u64,
    /// Also accept messages without a schema. Only for a connector whose decimals are strings
    /// or doubles (`decimal.handling.mode=string|double`); in the default precise mode a
    /// decimal's scale is only in the schema.
    #[arg(long, env = "CONSUMER_ACCEPT_SCHEMALESS")]
    pub accept_schemaless: bool,
    /// The most Cassandra writes in flight at once. Changes to one row are always written one
    /// after the other, in order; different rows concurrently, up to this bound.
    #[arg(long, env = "CONSUMER_MAX_IN_FLIGHT", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub max_in_flight: u16,
    /// How much fetched data librdkafka may hold ahead of the writes, in KiB as fetched
    /// (compressed); with the prefetch's bound of 2,048 messages and the lanes' queues this
    /// bounds the consumer's memory.
    #[arg(long, env = "CONSUMER_FETCH_QUEUE_KBYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=2_097_151))]
    pub fetch_queue_kbytes: u32,
    /// How often offsets of written changes are committed, in milliseconds. After a crash, up
    /// to this much is written again (harmlessly: writes are idempotent). Revocation and
    /// shutdown commit at once.
    #[arg(long, env = "CONSUMER_COMMIT_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=86_400_000))]
    pub commit_interval_ms: u32,
    /// The consumer group's poll deadline (`max.poll.interval.ms`), in milliseconds. While
    /// Cassandra is slow or down the consumer pauses its partitions and keeps polling, so it
    /// stays in the group however long the outage.
    #[arg(long, env = "CONSUMER_MAX_POLL_INTERVAL_MS", default_value_t = 300_000,
          value_parser = clap::value_parser!(u32).range(1..=86_400_000))]
    pub max_poll_interval_ms: u32,
    /// How long the consumer group may be without a coordinator before the consumer replaces
    /// its Kafka client, in seconds. librdkafka can stay without one after a broker restart,
    /// consuming nothing, even once Kafka is back; a new client in the same group recovers and
    /// reads on from the last commit. Past the group's session timeout (45 s), after which the
    /// group has moved this consumer's partitions to its other members anyway.
    #[arg(long, env = "CONSUMER_COORDINATOR_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub coordinator_timeout_secs: u64,
    /// How long the final commit and the Kafka client's close may take at shutdown, in
    /// seconds. Both wait for the group's coordinator; with Kafka unreachable the consumer exits
    /// after this long anyway, and the partitions are read again from the last commit. Below
    /// `docker stop`'s 10 s, so the consumer exits on its own rather than by SIGKILL.
    #[arg(long, env = "CONSUMER_CLOSE_TIMEOUT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub close_timeout_secs: u64,
    /// The async runtime's worker threads. One keeps up with some 15,000 changes/s (each costs
    /// the consumer about 30 µs of CPU) and holds less memory than two, which keep a heap each
    /// (`cargo xtask bench consumer` runs both). Raise it when the consumer's CPU nears one core.
    #[arg(long, env = "CONSUMER_WORKER_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub worker_threads: u16,
    /// Cassandra contact points (host:port), comma-separated.
    #[arg(
        long,
        env = "CASSANDRA_NODES",
        value_delimiter = ',',
        default_value = "127.0.0.1:9042"
    )]
    pub cassandra_nodes: Vec<String>,
    /// Cassandra role to log in as (the consumer's role); none for a Cassandra without
    /// authentication.
    #[arg(long, env = "CASSANDRA_USERNAME", requires = "cassandra_password")]
    pub cassandra_username: Option<String>,
    /// Password of the Cassandra role. Prefer the environment variable: a flag's value shows in
    /// the process list.
    #[arg(
        long,
        env = "CASSANDRA_PASSWORD",
        hide_env_values = true,
        requires = "cassandra_username"
    )]
    pub cassandra_password: Option<String>,
    /// Cassandra keyspace holding the replicated tables (`cdc-consumer schema` creates it).
    #[arg(long, env = "CASSANDRA_KEYSPACE", default_value = "crypto_data")]
    pub keyspace: String,
    /// Where to serve `/metrics` (Prometheus) and `/healthz`.
    #[arg(
        long,
        env = "CONSUMER_METRICS_LISTEN",
        default_value = "127.0.0.1:9102"
    )]
    pub metrics_listen: std::net::SocketAddr,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = service::LOG_FORMATS)]
    pub log_format: String,
}

impl Config {
    pub fn dead_letter_retention(&self) -> crate::dead_letter_topic::Retention {
        crate::dead_letter_topic::Retention {
            ms: self.dead_letter_retention_hours * 3_600_000,
            bytes: self.dead_letter_retention_mib * 1_048_576,
        }
    }

    pub fn cassandra_login(&self) -> Option<Login> {
        let username = self.cassandra_username.clone()?;
        Some(Login::new(
            username,
            self.cassandra_password.clone().unwrap_or_default(),
        ))
    }
}

/// What an operator may choose about the schema, for `cdc-consumer schema`.
#[derive(clap::Args, Debug)]
pub struct SchemaFlags {
    /// Cassandra replication of the keyspace, as a CQL map.
    #[arg(
        long,
        env = "CASSANDRA_REPLICATION",
        default_value = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )]
    pub cassandra_replication: String,
    /// How many days ticker rows live in Cassandra (the table's default TTL).
    #[arg(long, env = "CONSUMER_TICKER_RETENTION_DAYS", default_value_t = 30)]
    pub ticker_retention_days: u32,
    /// How many days kline rows live in Cassandra.
    #[arg(long, env = "CONSUMER_KLINE_RETENTION_DAYS", default_value_t = 400)]
    pub kline_retention_days: u32,
    /// Change an existing keyspace's replication and its tables' retention to the settings
    /// above. Without it they are left as they are (an operator may have changed them on
    /// purpose) and each difference is reported.
    #[arg(long, env = "CASSANDRA_APPLY_SCHEMA_SETTINGS")]
    pub apply_settings: bool,
}

impl SchemaFlags {
    pub fn settings(&self, keyspace: &str) -> anyhow::Result<cassandra_schema::SchemaSettings> {
        let seconds = |days: u32, flag: &str| {
            days.checked_mul(86_400)
                .filter(|seconds| *seconds <= 630_720_000)
                .with_context(|| {
                    format!("{flag} {days} is more than Cassandra's 20-year TTL limit")
                })
        };
        Ok(cassandra_schema::SchemaSettings {
            keyspace: keyspace.to_owned(),
            replication: self.cassandra_replication.clone(),
            ticker_retention_secs: seconds(self.ticker_retention_days, "--ticker-retention-days")?,
            kline_retention_secs: seconds(self.kline_retention_days, "--kline-retention-days")?,
        })
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Compare a table in PostgreSQL and Cassandra over a time window, values included; print
    /// each difference and `N rows compared, M differences`; exit non-zero when M > 0.
    Verify {
        /// The table: `ticker_24h` or `klines`.
        #[arg(long)]
        table: String,
        /// Start of the window (RFC 3339), on the table's time column; default: where the
        /// table's retention still keeps every row in Cassandra. Never before the oldest day
        /// PostgreSQL holds: days it dropped are left out.
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// End of the window, exclusive (RFC 3339); default: a day from now.
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// PostgreSQL connection string of a role that may read the table. Prefer the
        /// environment variable: a flag's value shows in the process list.
        #[arg(long, env = "PG_URL", hide_env_values = true)]
        pg_url: String,
    },
    /// Create the keyspace and tables when missing and apply the replication and retention
    /// settings, then exit. Needs a role that may create keyspaces and alter tables (the admin
    /// role the setup creates); the consumer's own role may not.
    Schema {
        #[command(flatten)]
        flags: SchemaFlags,
    },
    /// Decode raw Kafka message values (one JSON document per line) into readable JSON lines.
    Decode {
        /// The file to read; `-` or none reads standard input.
        file: Option<std::path::PathBuf>,
    },
}
