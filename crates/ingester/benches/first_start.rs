//! The first start with every symbol, as a new user meets it with compose's defaults: the
//! release ingester, `INGESTER_SYMBOLS=all` against the simulator's 400 symbols in real time,
//! the default 1m kline history to backfill (6 h with `all`), on a pipeline of the bench's own (its
//! database and Debezium connector, removed at the end). For `FIRST_START_MINUTES` (10) it
//! records whether every ticker poll was stored on time while the backfill ran, whether any
//! statement hit the client timeout, when the backfill finished, and what it all wrote to
//! PostgreSQL (tables and WAL) and Kafka (the topics' segments on the broker's disk).
//!
//! Run by `cargo xtask bench disk`, which writes its Markdown into `bench/results/disk.md`.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use clap::Parser;
use market_sim::{RunningSim, SimConfig};
use stack_fixtures::TestPipeline;

const SYMBOLS: usize = 400;
const TICKER_PERIOD_SECS: f64 = 5.0;

#[derive(Parser, Debug)]
struct Settings {
    /// How long the ingester runs.
    #[arg(long, env = "FIRST_START_MINUTES", default_value_t = 10)]
    minutes: u64,
    /// cargo bench passes `--bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let settings = Settings::parse();
    let sim = RunningSim::start(SimConfig {
        symbols: SYMBOLS,
        ..SimConfig::in_process()
    })
    .await
    .expect("starting the simulator");
    let pipeline = TestPipeline::start_with_topics_from_connect("first_start").await;
    let admin = pipeline.database().admin().await;
    let wal_before = wal_position(&admin).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("no free port")
        .port();
    let started = Instant::now();
    let _ingester = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_ingester"))
            .env("PG_URL", pipeline.database().ingester_url())
            .env("BINANCE_BASE_URL", sim.base_url())
            .env("INGESTER_SYMBOLS", "all")
            .env("INGESTER_METRICS_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("cannot start the ingester"),
    );
    let run = Duration::from_secs(settings.minutes * 60);
    let mut backfilled_after = None;
    while started.elapsed() < run {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let tracked = tracked(&admin).await;
        if backfilled_after.is_none() && tracked > 0 && series_current(&admin).await == tracked {
            backfilled_after = Some(started.elapsed());
            eprintln!("every series is current after {:?}", started.elapsed());
        }
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scraping the ingester")
        .text()
        .await
        .expect("reading the ingester's metrics");
    drop(_ingester);
    let timeouts: f64 = metrics
        .lines()
        .filter(|line| line.contains("postgres_timeout") && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |total, count| total + count);
    let wal_bytes = wal_position(&admin).await - wal_before;
    let polls = ticker_polls(&admin).await;
    let table_bytes = table_bytes(&admin).await;
    let candles: i64 = admin
        .query_one("SELECT count(*) FROM klines", &[])
        .await
        .expect("counting klines")
        .get(0);
    let kafka_bytes = settled_topic_bytes(&pipeline).await;
    sim.stop().await.expect("stopping the simulator");

    let due = (run.as_secs_f64() / TICKER_PERIOD_SECS).floor() as usize;
    let late: Vec<f64> = polls
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .filter(|gap| *gap > 2.0 * TICKER_PERIOD_SECS)
        .collect();
    let worst_gap = polls
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .fold(0.0, f64::max);
    let gib = |bytes: f64| bytes / 1_073_741_824.0;
    println!("## The first start with every symbol\n");
    println!(
        "`INGESTER_SYMBOLS=all` ({SYMBOLS} simulator symbols, market in real time), ticker poll every 5 s, 1m klines with the default history (6 h with `all`), for {} minutes; the pipeline's connector streams it all into Kafka.\n",
        settings.minutes
    );
    println!("| what | measured |\n|---|---|");
    println!("| ticker polls stored / due | {} / {due} |", polls.len());
    println!(
        "| polls later than one period after the one before | {} (longest gap {worst_gap:.1} s) |",
        late.len()
    );
    println!("| statements past the 15 s client timeout | {timeouts} |");
    println!(
        "| backfill finished (every series current) after | {} |",
        backfilled_after.map_or("not within the run".to_owned(), |after| format!(
            "{:.0} s",
            after.as_secs_f64()
        ))
    );
    println!("| candles stored | {candles} |");
    println!(
        "| PostgreSQL tables / WAL written | {:.2} / {:.2} GiB |",
        gib(table_bytes as f64),
        gib(wal_bytes as f64)
    );
    println!(
        "| Kafka (both change topics, compressed) | {:.2} GiB |",
        gib(kafka_bytes as f64)
    );
}

async fn wal_position(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", &[])
        .await
        .expect("reading the WAL position")
        .get(0)
}

/// How many symbols have a 1m candle opened within the last three minutes.
async fn series_current(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(DISTINCT symbol) FROM klines
              WHERE interval = '1m' AND open_time >= now() - interval '3 minutes'",
            &[],
        )
        .await
        .expect("reading the klines' progress")
        .get(0)
}

/// How many symbols the ingester tracks: every poll stores a ticker of each (`all` is the
/// simulator's TRADING pairs quoted in USDT, fewer than its symbols).
async fn tracked(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(DISTINCT symbol) FROM ticker_24h", &[])
        .await
        .expect("counting the tracked symbols")
        .get(0)
}

/// Every stored ticker poll's time, in seconds, oldest first.
async fn ticker_polls(client: &tokio_postgres::Client) -> Vec<f64> {
    client
        .query(
            "SELECT DISTINCT extract(epoch FROM fetched_at)::float8 AS at
               FROM ticker_24h ORDER BY at",
            &[],
        )
        .await
        .expect("reading the ticker polls")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Both tables' bytes, with their partitions, indexes and TOAST.
async fn table_bytes(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT sum(pg_total_relation_size(tree.relid))::bigint
               FROM unnest(ARRAY['ticker_24h', 'klines']) AS t,
                    pg_partition_tree(t::regclass) AS tree",
            &[],
        )
        .await
        .expect("reading the tables' sizes")
        .get(0)
}

/// The change topics' segment bytes once Connect has stopped adding to them (unchanged for
/// 15 s).
async fn settled_topic_bytes(pipeline: &TestPipeline) -> u64 {
    let measure = || -> u64 {
        [pipeline.ticker_topic(), pipeline.klines_topic()]
            .iter()
            .map(|topic| pipeline.topic_bytes_on_disk(topic))
            .sum()
    };
    let mut last = measure();
    loop {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let now = measure();
        if now == last {
            return now;
        }
        last = now;
    }
}
