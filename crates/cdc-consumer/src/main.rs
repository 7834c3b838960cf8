//! `cdc-consumer`: replicates Debezium change events from Kafka into Cassandra.
//!
//! Configuration comes from flags or the environment variables named in `--help`. SIGTERM or
//! Ctrl-C stops polling, lets the message in hand finish, commits, and exits 0.

use anyhow::Context;
use cassandra_schema::access::Login;
use cdc_consumer::consume::{self, ConsumeSettings};
use cdc_consumer::metrics::ConsumerMetrics;
use cdc_consumer::replicate::Observability;
use cdc_consumer::sink::{self, CassandraSink};
use cdc_consumer::verify::{self, Window};
use clap::Parser;

// Every message allocates its decoded values and rows; mimalloc spends less CPU on that than
// the system allocator, CPU that Cassandra on the same host needs (bench/consumer.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "cdc-consumer",
    about = "Replicates Debezium change events from Kafka into Cassandra"
)]
struct Config {
    #[command(subcommand)]
    command: Option<Command>,
    /// Kafka bootstrap servers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
    /// Consumer group; a new group starts from the earliest offset.
    #[arg(long, env = "CONSUMER_GROUP_ID", default_value = "crypto-cdc-consumer")]
    group_id: String,
    /// Debezium topics to replicate, comma-separated.
    #[arg(
        long,
        env = "CONSUMER_TOPICS",
        value_delimiter = ',',
        default_value = "crypto.public.ticker_24h,crypto.public.klines"
    )]
    topics: Vec<String>,
    /// Where messages that cannot be decoded or mapped go, with the reason in headers.
    #[arg(
        long,
        env = "CONSUMER_DEAD_LETTER_TOPIC",
        default_value = "crypto.dead-letter"
    )]
    dead_letter_topic: String,
    /// Also accept messages without a schema. Only for a connector whose decimals are strings
    /// or doubles (`decimal.handling.mode=string|double`); in the default precise mode a
    /// decimal's scale is only in the schema.
    #[arg(long, env = "CONSUMER_ACCEPT_SCHEMALESS")]
    accept_schemaless: bool,
    /// The most Cassandra writes in flight at once. Changes to one row are always written one
    /// after the other, in order; different rows concurrently, up to this bound.
    #[arg(long, env = "CONSUMER_MAX_IN_FLIGHT", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    max_in_flight: u16,
    /// How much fetched data librdkafka may hold ahead of the writes, in KiB; with the lanes'
    /// queues this bounds the consumer's memory.
    #[arg(long, env = "CONSUMER_FETCH_QUEUE_KBYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=2_097_151))]
    fetch_queue_kbytes: u32,
    /// How often offsets of written changes are committed, in milliseconds. After a crash, up
    /// to this much is written again (harmlessly: writes are idempotent). Revocation and
    /// shutdown commit at once.
    #[arg(long, env = "CONSUMER_COMMIT_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=86_400_000))]
    commit_interval_ms: u32,
    /// The consumer group's poll deadline (`max.poll.interval.ms`), in milliseconds. While
    /// Cassandra is slow or down the consumer pauses its partitions and keeps polling, so it
    /// stays in the group however long the outage.
    #[arg(long, env = "CONSUMER_MAX_POLL_INTERVAL_MS", default_value_t = 300_000,
          value_parser = clap::value_parser!(u32).range(1..=86_400_000))]
    max_poll_interval_ms: u32,
    /// Cassandra contact points (host:port), comma-separated.
    #[arg(
        long,
        env = "CASSANDRA_NODES",
        value_delimiter = ',',
        default_value = "127.0.0.1:9042"
    )]
    cassandra_nodes: Vec<String>,
    /// Cassandra role to log in as (the consumer's role); none for a Cassandra without
    /// authentication.
    #[arg(long, env = "CASSANDRA_USERNAME", requires = "cassandra_password")]
    cassandra_username: Option<String>,
    /// Password of the Cassandra role. Prefer the environment variable: a flag's value shows in
    /// the process list.
    #[arg(
        long,
        env = "CASSANDRA_PASSWORD",
        hide_env_values = true,
        requires = "cassandra_username"
    )]
    cassandra_password: Option<String>,
    /// Cassandra keyspace holding the replicated tables (`cdc-consumer schema` creates it).
    #[arg(long, env = "CASSANDRA_KEYSPACE", default_value = "crypto_data")]
    keyspace: String,
    /// Where to serve `/metrics` (Prometheus) and `/healthz`.
    #[arg(
        long,
        env = "CONSUMER_METRICS_LISTEN",
        default_value = "127.0.0.1:9102"
    )]
    metrics_listen: std::net::SocketAddr,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = service::LOG_FORMATS)]
    log_format: String,
}

impl Config {
    fn cassandra_login(&self) -> Option<Login> {
        let username = self.cassandra_username.clone()?;
        Some(Login::new(
            username,
            self.cassandra_password.clone().unwrap_or_default(),
        ))
    }
}

/// What an operator may choose about the schema, for `cdc-consumer schema`.
#[derive(clap::Args, Debug)]
struct SchemaFlags {
    /// Cassandra replication of the keyspace, as a CQL map.
    #[arg(
        long,
        env = "CASSANDRA_REPLICATION",
        default_value = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )]
    cassandra_replication: String,
    /// How many days ticker rows live in Cassandra (the table's default TTL).
    #[arg(long, env = "CONSUMER_TICKER_RETENTION_DAYS", default_value_t = 30)]
    ticker_retention_days: u32,
    /// How many days kline rows live in Cassandra.
    #[arg(long, env = "CONSUMER_KLINE_RETENTION_DAYS", default_value_t = 400)]
    kline_retention_days: u32,
    /// Change an existing keyspace's replication and its tables' retention to the settings
    /// above. Without it they are left as they are (an operator may have changed them on
    /// purpose) and each difference is reported.
    #[arg(long, env = "CASSANDRA_APPLY_SCHEMA_SETTINGS")]
    apply_settings: bool,
}

impl SchemaFlags {
    fn settings(&self, keyspace: &str) -> anyhow::Result<cassandra_schema::SchemaSettings> {
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
enum Command {
    /// Compare a table in PostgreSQL and Cassandra over a time window, values included; print
    /// each difference and `N rows compared, M differences`; exit non-zero when M > 0.
    Verify {
        /// The table: `ticker_24h` or `klines`.
        #[arg(long)]
        table: String,
        /// Start of the window (RFC 3339), on the table's time column; default: the beginning.
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    match &config.command {
        Some(Command::Decode { file }) => return decode(file.as_deref(), config.accept_schemaless),
        Some(Command::Schema { flags }) => return schema(&config, flags).await,
        Some(Command::Verify {
            table,
            since,
            until,
            symbol,
            pg_url,
        }) => {
            let window = Window {
                // Resolved against the table's retention once Cassandra is reached.
                since: since.unwrap_or(chrono::DateTime::UNIX_EPOCH),
                until: until.unwrap_or_else(|| chrono::Utc::now() + chrono::TimeDelta::days(1)),
                symbol: symbol.clone(),
            };
            return verify(&config, table, window, since.is_none(), pg_url).await;
        }
        None => {}
    }
    service::init_logging(&config.log_format, "info,scylla=warn");
    let shutdown = service::shutdown_on_signals();

    let mut registry = prometheus_client::registry::Registry::default();
    let observability = Observability {
        metrics: std::sync::Arc::new(ConsumerMetrics::register(&mut registry)),
        health: service::Health::starting(),
    };
    service::serve_operations(
        config.metrics_listen,
        registry,
        observability.health.clone(),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot serve metrics on {}", config.metrics_listen))?;

    let sink = match CassandraSink::connect(
        &config.cassandra_nodes,
        config.cassandra_login().as_ref(),
        &config.keyspace,
        &shutdown,
    )
    .await
    {
        Ok(sink) => sink,
        Err(cdc_consumer::sink::SinkError::Cancelled) => return Ok(()),
        Err(error) => return Err(error).context("connecting to Cassandra"),
    };
    let kafka = ConsumeSettings {
        brokers: config.kafka_brokers,
        group_id: config.group_id,
        topics: config.topics,
        dead_letter_topic: config.dead_letter_topic,
        accept_schemaless: config.accept_schemaless,
        max_in_flight: usize::from(config.max_in_flight),
        fetch_queue_kbytes: config.fetch_queue_kbytes,
        commit_interval_ms: config.commit_interval_ms,
        max_poll_interval_ms: config.max_poll_interval_ms,
        // Long enough that a busy but healthy Cassandra never pauses the stream, well within
        // any poll deadline.
        pause_after: std::time::Duration::from_millis(500),
    };
    // On a worker thread rather than main's own: handing a message to a lane then stays on the
    // runtime's threads instead of waking one from the main thread for every message.
    let consuming = tokio::spawn(async move {
        consume::run(&kafka, std::sync::Arc::new(sink), observability, &shutdown).await
    });
    consuming
        .await
        .context("the consume loop panicked")?
        .context("consuming from Kafka")
}

/// Creates or updates the schema, once: an operator's command, not retried.
async fn schema(config: &Config, flags: &SchemaFlags) -> anyhow::Result<()> {
    service::init_logging(&config.log_format, "info,scylla=warn");
    let settings = flags.settings(&config.keyspace)?;
    let session =
        sink::open_session(&config.cassandra_nodes, config.cassandra_login().as_ref()).await?;
    let existing = if flags.apply_settings {
        sink::ExistingSettings::Apply
    } else {
        sink::ExistingSettings::Keep
    };
    let differences = sink::apply_schema(&session, &settings, existing).await?;
    for difference in &differences {
        match existing {
            sink::ExistingSettings::Apply => tracing::info!("changed: {difference}"),
            sink::ExistingSettings::Keep => tracing::warn!(
                "{difference}; left as it is (`cdc-consumer schema --apply-settings` changes it)"
            ),
        }
    }
    tracing::info!("the schema of keyspace {} is in place", config.keyspace);
    Ok(())
}

/// Exits non-zero when any line failed, after decoding all the others.
fn decode(file: Option<&std::path::Path>, accept_schemaless: bool) -> anyhow::Result<()> {
    let input: Box<dyn std::io::BufRead> = match file {
        None => Box::new(std::io::stdin().lock()),
        Some(path) if path.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
    };
    let failed = cdc_consumer::decode_lines::decode_lines(
        input,
        accept_schemaless,
        std::io::stdout().lock(),
        std::io::stderr().lock(),
    )?;
    if failed > 0 {
        anyhow::bail!("{failed} line(s) could not be decoded");
    }
    Ok(())
}

/// Exits non-zero when any difference was found.
/// Compares `table` in both stores over `window`. Without an explicit start the window starts
/// where the table's retention (its `default_time_to_live`) still keeps every row in Cassandra,
/// with an hour's margin, so rows that expired as intended are not reported missing.
async fn verify(
    config: &Config,
    table: &str,
    mut window: Window,
    from_retention: bool,
    pg_url: &str,
) -> anyhow::Result<()> {
    let qualified = if table.contains('.') {
        table.to_owned()
    } else {
        format!("public.{table}")
    };
    let mapping = cdc_consumer::mapping::mapping_for(&qualified)
        .with_context(|| format!("unknown table {table:?}: expected ticker_24h or klines"))?;
    let (postgres, connection) = tokio_postgres::connect(pg_url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL (PG_URL)")?;
    tokio::spawn(connection);
    let session = sink::open_session(&config.cassandra_nodes, config.cassandra_login().as_ref())
        .await
        .context("connecting to Cassandra")?;
    if from_retention {
        let ttl = verify::retention(&session, &config.keyspace, mapping).await?;
        if let Some(since) = verify::retained_since(chrono::Utc::now(), ttl) {
            eprintln!(
                "comparing from {since} (the table keeps rows {ttl} s in Cassandra; \
                 pass --since to compare older rows)"
            );
            window.since = since;
        }
    }
    let in_postgres = verify::read_postgres(&postgres, mapping, &window).await?;
    let in_cassandra =
        verify::read_cassandra(&session, &config.keyspace, mapping, &window, &in_postgres).await?;
    let differences = verify::compare(mapping, &in_postgres, &in_cassandra);
    for difference in &differences {
        println!("{difference}");
    }
    let compared = in_postgres
        .keys()
        .chain(in_cassandra.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    println!(
        "{compared} rows compared, {} differences",
        differences.len()
    );
    if !differences.is_empty() {
        anyhow::bail!(
            "{} differences between PostgreSQL and Cassandra in {qualified}",
            differences.len()
        );
    }
    Ok(())
}
