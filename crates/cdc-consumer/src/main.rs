//! `cdc-consumer`: replicates Debezium change events from Kafka into Cassandra.
//!
//! Configuration comes from flags or the environment variables named in `--help`. SIGTERM or
//! Ctrl-C stops polling, lets the message in hand finish, commits, and exits 0, within
//! `--close-timeout-secs` of the writes' end even when Kafka does not answer.

use anyhow::Context;
use cdc_consumer::config::{Command, Config, SchemaFlags};
use cdc_consumer::consume::{self, ConsumeSettings};
use cdc_consumer::dead_letter_topic;
use cdc_consumer::metrics::{ConsumerMetrics, Observability};
use cdc_consumer::sink::{self, CassandraSink};
use cdc_consumer::verify::{self, Window};
use clap::Parser;

// Every message allocates its decoded values and rows; mimalloc spends less CPU on that than
// the system allocator, CPU that Cassandra on the same host needs (`cargo xtask bench consumer`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Multi-threaded even with one worker: a revocation's callback blocks its thread
    // (`block_in_place`) while the lanes finish on another.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads.into())
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let outcome = runtime.block_on(run(config));
    // Dropping the runtime would wait for every blocking thread, among them a Kafka client
    // still closing after `close_timeout` (or a replaced one): those must not keep the process
    // alive.
    runtime.shutdown_background();
    outcome
}

async fn run(config: Config) -> anyhow::Result<()> {
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
                // Resolved against what both stores hold once they are reached.
                since: chrono::DateTime::UNIX_EPOCH,
                until: until.unwrap_or_else(|| chrono::Utc::now() + chrono::TimeDelta::days(1)),
                symbol: symbol.clone(),
            };
            return verify(&config, table, window, *since, pg_url).await;
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
    tokio::spawn(dead_letter_topic::keep_bounded(
        config.kafka_brokers.clone(),
        config.dead_letter_topic.clone(),
        config.dead_letter_retention(),
        shutdown.clone(),
    ));
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
        coordinator_timeout: std::time::Duration::from_secs(config.coordinator_timeout_secs),
        close_timeout: std::time::Duration::from_secs(config.close_timeout_secs),
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

/// Compares `table` in both stores over `window`, from `since` or, without it, from where the
/// table's retention (its `default_time_to_live`) still keeps every row in Cassandra, with an
/// hour's margin, so rows that expired as intended are not reported missing; and only where
/// PostgreSQL still holds the rows (its partitions), since it drops old days on purpose.
/// Exits non-zero when any difference was found.
async fn verify(
    config: &Config,
    table: &str,
    mut window: Window,
    since: Option<chrono::DateTime<chrono::Utc>>,
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
    let cassandra_since = match since {
        Some(_) => None,
        None => {
            let ttl = verify::retention(&session, &config.keyspace, mapping).await?;
            let retained = verify::retained_since(chrono::Utc::now(), ttl);
            if let Some(retained) = retained {
                eprintln!(
                    "Cassandra keeps rows {ttl} s: comparing from {retained} at the earliest \
                     (pass --since to compare older rows)"
                );
            }
            retained
        }
    };
    let held = verify::held(&postgres, mapping)
        .await
        .context("reading which days PostgreSQL holds (partitions.held)")?;
    if let Some((oldest, _)) = held.as_ref().and_then(|held| held.first()) {
        eprintln!(
            "PostgreSQL holds {qualified} from {oldest} on: rows of the days it dropped are in \
             Cassandra only and not compared"
        );
    }
    window.since = verify::compared_since(since, cassandra_since, held.as_ref());
    let in_postgres = verify::read_postgres(&postgres, mapping, &window).await?;
    let mut in_cassandra =
        verify::read_cassandra(&session, &config.keyspace, mapping, &window, &in_postgres).await?;
    if let Some(held) = &held {
        in_cassandra = verify::only_held(mapping, in_cassandra, held);
    }
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
