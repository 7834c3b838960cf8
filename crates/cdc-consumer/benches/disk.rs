//! Disk per change in every store, and the consumer's CPU per message, for each Kafka codec:
//! the measurements behind README's disk budget. Run by `cargo xtask bench disk`, which starts
//! the stack, passes its environment, and writes this program's Markdown below the common
//! results header in `bench/results/disk.md`.
//!
//! The workload is the compose default: every symbol of the simulator (400), a ticker poll
//! every 5 s and a 1m kline poll every 30 s, written through the ingester's own write path
//! (`ingester::store`) into a pipeline of the bench's own (its database, connector, topics and
//! keyspace, removed at the end). The simulator's clock is frozen and moved by exactly one poll
//! period between polls, so every variant stores the same changes, and the bench runs much
//! faster than real time. For each variant of the connector's producer (codec, batch size),
//! Kafka's bytes are the topic's log segments on the broker's disk once Connect has produced
//! every change; the consumer's CPU is its user+system time from healthy to the last offset
//! committed, over `DISK_BENCH_ROUNDS` runs from the start of the topics in fresh groups.
//! PostgreSQL's and Cassandra's bytes do not depend on the codec and are measured once.
//!
//! Cassandra's bytes are its SSTables once the first round's rows are flushed: the bench sets
//! the tables' `memtable_flush_period_in_ms` (no JMX, so no `nodetool flush`) after that round.
//!
//! Environment (set by `cargo xtask bench disk`): the stack's client variables, plus
//! `CDC_STATE_DIR` (the broker's and Cassandra's data directories are under it). Knobs:
//! `DISK_BENCH_POLLS`
//! (ticker polls, default 30), `DISK_BENCH_ROUNDS` (consumer runs per variant, default 3),
//! `DISK_BENCH_VARIANTS` (comma-separated names, default all).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use binance::{BinanceClient, ClientConfig, Interval};
use clap::Parser;
use ingester::klines::{KlineBatch, PAGE_LIMIT};
use ingester::store;
use market_sim::{RunningSim, SimConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig as KafkaConfig, Offset, TopicPartitionList};
use stack_fixtures::TestPipeline;
use stack_fixtures::processes;

/// The compose defaults the budget is computed for.
const SYMBOLS: usize = 400;
const TICKER_PERIOD_MS: u64 = 5_000;
const KLINE_PERIOD_MS: u64 = 30_000;
const DAY_MS: u64 = 86_400_000;
/// Retention of each store at the defaults, in days.
const POSTGRES_DAYS: u64 = 7;
const KAFKA_DAYS: u64 = 1;
const KAFKA_PARTITION_BYTES: f64 = 2.0 * 1_073_741_824.0;
const CASSANDRA_TICKER_DAYS: u64 = 30;
const CASSANDRA_KLINE_DAYS: u64 = 400;
/// 2025-11-30T00:00:00Z: a fixed market time, so every variant stores the same changes.
const MARKET_START_MS: i64 = 1_764_460_800_000;
const MARKET_START_DAY: &str = "2025-11-30";
const MARKET_NEXT_DAY: &str = "2025-12-01";

/// Kafka's producer defaults, which Connect keeps unless a connector overrides them.
const CONNECT_DEFAULT_BATCHING: (u32, u32) = (16_384, 0);

/// One way to configure the connector's producer.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    codec: &'static str,
    /// `producer.override.batch.size` and `linger.ms`; `None` is the producer's defaults
    /// (16384 bytes, 0 ms).
    batching: Option<(u32, u32)>,
}

const VARIANTS: [Variant; 7] = [
    Variant {
        name: "none",
        codec: "none",
        batching: None,
    },
    Variant {
        name: "gzip",
        codec: "gzip",
        batching: None,
    },
    Variant {
        name: "snappy",
        codec: "snappy",
        batching: None,
    },
    Variant {
        name: "lz4",
        codec: "lz4",
        batching: None,
    },
    Variant {
        name: "zstd",
        codec: "zstd",
        batching: None,
    },
    Variant {
        name: "lz4-batched",
        codec: "lz4",
        batching: Some((262_144, 5)),
    },
    Variant {
        name: "zstd-batched",
        codec: "zstd",
        batching: Some((262_144, 5)),
    },
];

/// What the bench was asked to do; defaults are the documented run.
#[derive(Parser, Debug)]
struct Settings {
    #[arg(long, env = "DISK_BENCH_POLLS", default_value_t = 30)]
    polls: u64,
    #[arg(long, env = "DISK_BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
    #[arg(long, env = "DISK_BENCH_VARIANTS", value_delimiter = ',')]
    variants: Vec<String>,
    #[arg(long, env = "CDC_STATE_DIR")]
    state_dir: PathBuf,
    /// cargo bench passes `--bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Changes written by one workload, per table.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    ticker_rows: u64,
    kline_changes: u64,
    kline_rows: u64,
}

/// PostgreSQL's bytes for the workload: tables with indexes and TOAST, and WAL.
#[derive(Debug, Default, Clone, Copy)]
struct PostgresBytes {
    ticker_table: u64,
    ticker_wal: u64,
    kline_table: u64,
    kline_wal: u64,
}

/// One variant's result.
#[derive(Debug)]
struct VariantResult {
    variant: Variant,
    ticker_log_bytes: u64,
    kline_log_bytes: u64,
    /// Consumer CPU seconds per round.
    consumer_cpu: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let settings = Settings::parse();
    let variants: Vec<Variant> = VARIANTS
        .into_iter()
        .filter(|variant| {
            settings.variants.is_empty()
                || settings.variants.iter().any(|name| name == variant.name)
        })
        .collect();
    assert!(
        !variants.is_empty(),
        "DISK_BENCH_VARIANTS names no known variant"
    );
    let mut results = Vec::new();
    let mut stores = None;
    for variant in variants {
        eprintln!(
            "== {}: codec {}, batching {:?}",
            variant.name, variant.codec, variant.batching
        );
        let pipeline = start_pipeline(variant).await;
        let (written, postgres) = write_workload(&pipeline, settings.polls).await;
        let ticker_log_bytes =
            await_topic_bytes(&pipeline, &pipeline.ticker_topic(), written.ticker_rows).await;
        let kline_log_bytes =
            await_topic_bytes(&pipeline, &pipeline.klines_topic(), written.kline_changes).await;
        let messages = written.ticker_rows + written.kline_changes;
        let consumer_cpu: Vec<f64> = {
            let mut rounds = Vec::new();
            for round in 0..settings.rounds {
                rounds.push(consumer_cpu_seconds(&pipeline, round).await);
                eprintln!(
                    "   consumer round {round}: {:.3} s CPU for {messages} messages",
                    rounds[round]
                );
                if round == 0 && stores.is_none() {
                    let cassandra = cassandra_bytes(&settings, &pipeline).await;
                    stores = Some((written, postgres, cassandra));
                }
            }
            rounds
        };
        results.push(VariantResult {
            variant,
            ticker_log_bytes,
            kline_log_bytes,
            consumer_cpu,
        });
    }
    let (written, postgres, cassandra) = stores.expect("at least one variant ran");
    print!(
        "{}",
        report(&settings, written, postgres, cassandra, &results)
    );
}

async fn start_pipeline(variant: Variant) -> TestPipeline {
    // Set for every variant, since the connector file sets its own batching.
    let (batch_size, linger_ms) = variant.batching.unwrap_or(CONNECT_DEFAULT_BATCHING);
    let (batch, linger) = (batch_size.to_string(), linger_ms.to_string());
    let connector = [
        ("producer.override.compression.type", variant.codec),
        ("producer.override.batch.size", batch.as_str()),
        ("producer.override.linger.ms", linger.as_str()),
    ];
    TestPipeline::start_with_connector_settings(&format!("disk_{}", variant.name), &connector).await
}

/// The compose default's polls against a frozen simulator, moved one period between polls:
/// `polls` ticker polls of every symbol, and a 1m kline poll of every symbol every 30 s.
async fn write_workload(pipeline: &TestPipeline, polls: u64) -> (Written, PostgresBytes) {
    let sim = RunningSim::start(SimConfig {
        symbols: SYMBOLS,
        speed: 0.0,
        start_time: Some(MARKET_START_MS),
        weight_limit: 1_000_000,
        ..SimConfig::in_process()
    })
    .await
    .expect("cannot start the simulator");
    let binance = BinanceClient::new(ClientConfig {
        base_url: sim.base_url(),
        ..ClientConfig::default()
    })
    .expect("binance client");
    let symbols: Vec<String> = binance
        .exchange_info()
        .await
        .expect("exchangeInfo")
        .symbols
        .into_iter()
        .map(|symbol| symbol.symbol)
        .collect();
    let http = reqwest::Client::new();
    let advance = |ms: u64| {
        let request = http.post(format!("{}/admin/advance?ms={ms}", sim.base_url()));
        async move {
            request
                .send()
                .await
                .and_then(|response| response.error_for_status())
                .expect("advancing the simulator's clock");
        }
    };
    // The simulator's market days (the polls stay within a day of the start), as the
    // ingester creates them before it writes.
    pipeline
        .database()
        .ensure_partitions(MARKET_START_DAY, MARKET_NEXT_DAY)
        .await;
    let client = pipeline.database().admin().await;
    let mut written = Written::default();
    let mut bytes = PostgresBytes::default();

    // Tickers, then klines, so that each table's WAL is measured alone.
    let (size, wal) = postgres_position(&client, "ticker_24h").await;
    for _ in 0..polls {
        advance(TICKER_PERIOD_MS).await;
        let tickers = binance.ticker_24h(&symbols).await.expect("ticker poll");
        written.ticker_rows += store::insert_tickers(&client, &tickers, chrono::Utc::now())
            .await
            .expect("storing tickers");
    }
    let (size_after, wal_after) = postgres_position(&client, "ticker_24h").await;
    bytes.ticker_table = size_after - size;
    bytes.ticker_wal = wal_after - wal;

    let (size, wal) = postgres_position(&client, "klines").await;
    let kline_polls = (polls * TICKER_PERIOD_MS).div_ceil(KLINE_PERIOD_MS);
    let mut cursors: BTreeMap<&str, i64> = BTreeMap::new();
    for _ in 0..kline_polls {
        advance(KLINE_PERIOD_MS).await;
        let mut batch = KlineBatch::default();
        for symbol in &symbols {
            // The first poll starts one candle back, as a resumed series does.
            let start = *cursors.entry(symbol).or_insert(MARKET_START_MS);
            let klines = binance
                .klines(symbol, Interval::Minute1, Some(start), None, PAGE_LIMIT)
                .await
                .expect("kline poll");
            if let Some(last) = klines.last() {
                cursors.insert(symbol, last.open_time);
            }
            batch.extend(symbol, Interval::Minute1, klines);
        }
        written.kline_changes += store::upsert_klines(&client, &batch)
            .await
            .expect("storing klines");
    }
    let (size_after, wal_after) = postgres_position(&client, "klines").await;
    bytes.kline_table = size_after - size;
    bytes.kline_wal = wal_after - wal;
    written.kline_rows = client
        .query_one("SELECT count(*) FROM klines", &[])
        .await
        .map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        .expect("counting klines");
    sim.stop().await.expect("stopping the simulator");
    (written, bytes)
}

/// A table's bytes (with its partitions, indexes and TOAST) and the server's WAL position.
async fn postgres_position(client: &tokio_postgres::Client, table: &str) -> (u64, u64) {
    let row = client
        .query_one(
            "SELECT (SELECT sum(pg_total_relation_size(relid))::bigint
                       FROM pg_partition_tree($1::text::regclass)),
                    (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint",
            &[&table],
        )
        .await
        .expect("reading table size and WAL position");
    let number = |index: usize| u64::try_from(row.get::<_, i64>(index)).unwrap_or(0);
    (number(0), number(1))
}

/// The bytes of `topic`'s log segments on the broker's disk, once it holds `messages`.
async fn await_topic_bytes(pipeline: &TestPipeline, topic: &str, messages: u64) -> u64 {
    let reader: BaseConsumer = kafka_config(&format!("{topic}-watermarks"))
        .create()
        .expect("Kafka client");
    let started = Instant::now();
    loop {
        let end = reader
            .fetch_watermarks(topic, 0, Duration::from_secs(5))
            .map(|(_, high)| u64::try_from(high).unwrap_or(0))
            .unwrap_or(0);
        if end >= messages {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{topic} holds {end} of {messages} messages after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The broker appends a batch to its segment before acknowledging it, so the file sizes
    // are final once the offsets are there.
    pipeline.topic_bytes_on_disk(topic)
}

fn kafka_config(group: &str) -> KafkaConfig {
    let mut config = KafkaConfig::new();
    config
        .set(
            "bootstrap.servers",
            std::env::var("KAFKA_BROKERS").expect("KAFKA_BROKERS is not set"),
        )
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    config
}

/// Runs the consumer binary over both topics from the start, in a new group; its CPU seconds
/// from healthy to every offset committed.
async fn consumer_cpu_seconds(pipeline: &TestPipeline, round: usize) -> f64 {
    let group = format!("{}-round{round}", pipeline.name());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("no free port")
        .port();
    let mut consumer = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
            .envs(pipeline.consumer_environment())
            .env("CONSUMER_GROUP_ID", &group)
            .env("CONSUMER_METRICS_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("cannot start cdc-consumer"),
    );
    let health = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    while !reqwest::get(&health)
        .await
        .is_ok_and(|response| response.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the consumer is not healthy after a minute"
        );
        assert!(
            consumer.0.try_wait().expect("consumer status").is_none(),
            "the consumer exited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_at_start = cpu_seconds(consumer.0.id());
    let topics = [pipeline.ticker_topic(), pipeline.klines_topic()];
    let reader: BaseConsumer = kafka_config(&group).create().expect("Kafka client");
    let mut ends = TopicPartitionList::new();
    for topic in &topics {
        let (_, high) = reader
            .fetch_watermarks(topic, 0, Duration::from_secs(5))
            .expect("watermarks");
        ends.add_partition_offset(topic, 0, Offset::Offset(high))
            .expect("offset");
    }
    loop {
        let mut partitions = TopicPartitionList::new();
        for topic in &topics {
            partitions.add_partition(topic, 0);
        }
        let committed = reader
            .committed_offsets(partitions, Duration::from_secs(5))
            .expect("committed offsets");
        if committed
            .elements()
            .iter()
            .zip(ends.elements())
            .all(|(done, end)| done.offset() == end.offset())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the consumer has not caught up after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cpu_seconds(consumer.0.id()) - cpu_at_start
}

/// The process's user + system CPU seconds so far.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = processes::cpu_ticks(pid).expect("the consumer's CPU time in /proc");
    ticks as f64 / processes::ticks_per_second()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Cassandra's bytes per table of the pipeline's keyspace once its memtables are flushed: every
/// SSTable component on disk.
async fn cassandra_bytes(
    settings: &Settings,
    pipeline: &TestPipeline,
) -> BTreeMap<&'static str, u64> {
    let keyspace = pipeline.keyspace();
    let admin =
        stack_fixtures::cassandra::session(pipeline.stack(), &pipeline.stack().cassandra_admin)
            .await
            .expect("Cassandra admin session");
    for table in ["ticker_24h", "klines"] {
        admin
            .query_unpaged(
                format!(
                    "ALTER TABLE \"{keyspace}\".{table} WITH memtable_flush_period_in_ms = 1000"
                ),
                &[],
            )
            .await
            .expect("setting a flush period");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let directory = settings.state_dir.join("cassandra/data").join(keyspace);
    let mut bytes = BTreeMap::new();
    for table in ["ticker_24h", "klines"] {
        let table_directory = std::fs::read_dir(&directory)
            .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&format!("{table}-")))
            })
            .unwrap_or_else(|| panic!("no directory for {keyspace}.{table}"));
        bytes.insert(table, directory_bytes(&table_directory, |_| true));
    }
    bytes
}

/// The bytes of the files directly in `directory` whose names pass `keep`.
fn directory_bytes(directory: &Path, keep: impl Fn(&str) -> bool) -> u64 {
    std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(&keep))
        .filter_map(|entry| entry.metadata().ok())
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len())
        .sum()
}

/// Median and range of `values`.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len() % 2 == 0 {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    };
    (median, sorted[0], sorted[sorted.len() - 1])
}

fn gib(bytes: f64) -> String {
    format!("{:.2}", bytes / 1_073_741_824.0)
}

fn report(
    settings: &Settings,
    written: Written,
    postgres: PostgresBytes,
    cassandra: BTreeMap<&'static str, u64>,
    results: &[VariantResult],
) -> String {
    use std::fmt::Write;
    let per = |bytes: u64, count: u64| bytes as f64 / count.max(1) as f64;
    let kline_polls = (settings.polls * TICKER_PERIOD_MS).div_ceil(KLINE_PERIOD_MS);
    let tickers_per_day = SYMBOLS as f64 * (DAY_MS / TICKER_PERIOD_MS) as f64;
    let kline_changes_per_day =
        per(written.kline_changes, kline_polls) * (DAY_MS / KLINE_PERIOD_MS) as f64;
    let kline_rows_per_day = SYMBOLS as f64 * 1440.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "- workload: {SYMBOLS} symbols, {} ticker polls ({} rows) and {kline_polls} 1m kline polls ({} changes, {} candles), the compose defaults' periods (5 s, 30 s) on the simulator's clock",
        settings.polls, written.ticker_rows, written.kline_changes, written.kline_rows
    );
    let _ = writeln!(
        out,
        "- consumer CPU: user+system seconds of the release `cdc-consumer` from healthy to every offset committed, {} rounds per variant (median, min–max)\n",
        settings.rounds
    );
    let _ = writeln!(
        out,
        "## Kafka: bytes per change on the broker's disk, and the consumer's CPU\n"
    );
    let _ = writeln!(
        out,
        "| variant | codec | producer batch.size / linger.ms | ticker B/change | kline B/change | vs none | consumer µs/message (median, min–max) |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---|");
    let messages = (written.ticker_rows + written.kline_changes) as f64;
    let uncompressed = results
        .iter()
        .find(|result| result.variant.codec == "none")
        .map(|result| result.ticker_log_bytes + result.kline_log_bytes);
    for result in results {
        let (median, low, high) = spread(&result.consumer_cpu);
        let micros = |seconds: f64| seconds / messages * 1e6;
        let batching = result.variant.batching.map_or(
            "16384 / 0 (Connect's defaults)".to_owned(),
            |(batch, linger)| format!("{batch} / {linger}"),
        );
        let ratio = uncompressed.map_or("–".to_owned(), |none| {
            format!(
                "{:.1}×",
                none as f64 / (result.ticker_log_bytes + result.kline_log_bytes) as f64
            )
        });
        let _ = writeln!(
            out,
            "| {} | {} | {batching} | {:.0} | {:.0} | {ratio} | {:.0} ({:.0}–{:.0}) |",
            result.variant.name,
            result.variant.codec,
            per(result.ticker_log_bytes, written.ticker_rows),
            per(result.kline_log_bytes, written.kline_changes),
            micros(median),
            micros(low),
            micros(high)
        );
    }
    let _ = writeln!(
        out,
        "\n## PostgreSQL and Cassandra: bytes per change (codec-independent)\n"
    );
    let _ = writeln!(out, "| store | ticker_24h | klines |\n|---|---:|---:|");
    let _ = writeln!(
        out,
        "| PostgreSQL table + indexes, per row | {:.0} | {:.0} |",
        per(postgres.ticker_table, written.ticker_rows),
        per(postgres.kline_table, written.kline_rows)
    );
    let _ = writeln!(
        out,
        "| PostgreSQL WAL, per change | {:.0} | {:.0} |",
        per(postgres.ticker_wal, written.ticker_rows),
        per(postgres.kline_wal, written.kline_changes)
    );
    let _ = writeln!(
        out,
        "| Cassandra SSTables after flush, per row | {:.0} | {:.0} |",
        per(cassandra["ticker_24h"], written.ticker_rows),
        per(cassandra["klines"], written.kline_rows)
    );

    let _ = writeln!(out, "\n## Budget at the compose defaults\n");
    let _ = writeln!(
        out,
        "{SYMBOLS} symbols: {tickers_per_day:.0} ticker rows a day, {kline_changes_per_day:.0} kline changes a day ({kline_rows_per_day:.0} candles).\n"
    );
    let _ = writeln!(
        out,
        "| store | retention | GiB per day | steady state, GiB |\n|---|---|---:|---:|"
    );
    let postgres_day = tickers_per_day * per(postgres.ticker_table, written.ticker_rows)
        + kline_rows_per_day * per(postgres.kline_table, written.kline_rows);
    let wal_day = tickers_per_day * per(postgres.ticker_wal, written.ticker_rows)
        + kline_changes_per_day * per(postgres.kline_wal, written.kline_changes);
    let _ = writeln!(
        out,
        "| PostgreSQL tables | {POSTGRES_DAYS} days (partitions) | {} | {} |",
        gib(postgres_day),
        gib(postgres_day * POSTGRES_DAYS as f64)
    );
    let _ = writeln!(
        out,
        "| PostgreSQL WAL written | recycled after checkpoints; a stalled slot holds at most `max_slot_wal_keep_size` (4 GB) | {} | ≤ 4 + max_wal_size |",
        gib(wal_day)
    );
    // Each topic has one partition at the defaults, bounded by time and by 2 GiB.
    let bounded = |day: f64| (day * KAFKA_DAYS as f64).min(KAFKA_PARTITION_BYTES);
    for result in results {
        let tickers = tickers_per_day * per(result.ticker_log_bytes, written.ticker_rows);
        let klines = kline_changes_per_day * per(result.kline_log_bytes, written.kline_changes);
        let _ = writeln!(
            out,
            "| Kafka, {} | {KAFKA_DAYS} day, ≤ 2 GiB per partition | {} | {} |",
            result.variant.name,
            gib(tickers + klines),
            gib(bounded(tickers) + bounded(klines))
        );
    }
    let ticker_day = tickers_per_day * per(cassandra["ticker_24h"], written.ticker_rows);
    let kline_day = kline_rows_per_day * per(cassandra["klines"], written.kline_rows);
    let _ = writeln!(
        out,
        "| Cassandra ticker_24h | {CASSANDRA_TICKER_DAYS} days (TTL) | {} | {} |",
        gib(ticker_day),
        gib(ticker_day * CASSANDRA_TICKER_DAYS as f64)
    );
    let _ = writeln!(
        out,
        "| Cassandra klines | {CASSANDRA_KLINE_DAYS} days (TTL) | {} | {} |",
        gib(kline_day),
        gib(kline_day * CASSANDRA_KLINE_DAYS as f64)
    );
    out
}
