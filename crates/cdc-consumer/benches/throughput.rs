//! cdc-consumer's throughput into Cassandra, side by side in one run with the ceiling of a raw
//! driver writer and with the blog's design, on the same Cassandra:
//!
//! - raw driver writer: the same rows, already decoded and mapped, written with one prepared
//!   statement and a bound on requests in flight (scylla's `parallel.rs` pattern); no Kafka.
//! - cdc-consumer: the release binary, a new group reading a topic filled beforehand with
//!   Debezium `ticker_24h` events (keys and values as the connector writes them, compressed
//!   and batched as its producer does); throughput from its `/metrics` between its first write
//!   and 90 % of the events (or 20 s), its peak RSS (VmHWM) after working through that backlog,
//!   and its CPU.
//! - the blog's design: `bench/blog_consumer.py` (`BLOG_PYTHON`), one sync insert per message.
//!
//! Both writers are timed over the same window: from their first acknowledged write to 90 % of
//! the rows (or 20 s), leaving out the ramp and the drain alike. After a warm-up, a sweep over
//! `--max-in-flight` and a run with a second worker thread, raw and consumer runs alternate,
//! `BENCH_RUNS` (3) times `ROUNDS` rounds, and each consumer run is compared with the mean of the
//! raw runs just before and after it: Cassandra's speed drifts during a run (JIT, flushes,
//! compaction), so only neighbours compare fairly. Results are medians with their
//! spread, each judged against its target in BENCHMARKS.md.
//!
//! Plain `main` (harness = false): each phase writes up to `BENCH_EVENTS` rows into the keyspace
//! `bench_throughput`, dropped at the end with the bench's topic. Needs the native stack; run it
//! with `cargo xtask bench consumer`.

// The decoder benchmark's generator, so both benchmarks use the very same events.
#[path = "../../debezium/benches/support/ticker_events.rs"]
#[allow(dead_code)] // its EVENT_COUNT is the decoder benchmark's
mod ticker_events;

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cassandra_schema::access::{CONSUMER_ROLE, consumer_grants};
use cdc_consumer::mapping::{CqlWrite, TABLES, plan_writes, write_time};
use cdc_consumer::sink::{self, BoundWrite, upsert_cql};
use debezium::{Change, Decoder};
use futures::StreamExt;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use scylla::value::CqlValue;
use stack_fixtures::processes::{cpu_ticks, machine_ticks, peak_rss_kib, ticks_per_second};
use support::{
    consumer_command, env, events_replicated, free_port, histogram_mean, login, metrics_text,
    setting, stop,
};

const KEYSPACE: &str = "bench_throughput";
/// `--max-in-flight` values the consumer is swept over; `BENCH_LANES` (comma-separated)
/// overrides.
const LANE_SWEEP: [u16; 3] = [1, 16, 64];
/// The consumer's default bound, compared with the raw writer round by round.
const DEFAULT_LANES: u16 = 256;
const ROUNDS: usize = 3;
const RAW_IN_FLIGHT: [usize; 2] = [64, 256];
/// The raw writer's bound in the side-by-side rounds: its best in the warm-up runs here.
const RAW_CEILING_IN_FLIGHT: usize = 256;
const PHASE_CAP: Duration = Duration::from_secs(20);

fn lane_sweep() -> Vec<u16> {
    std::env::var("BENCH_LANES").ok().map_or_else(
        || LANE_SWEEP.to_vec(),
        |list| {
            list.split(',')
                .filter(|lanes| !lanes.trim().is_empty())
                .map(|lanes| lanes.trim().parse().expect("BENCH_LANES: numbers"))
                .collect()
        },
    )
}

/// Debezium's key for a `ticker_24h` row: the primary key, with its schema.
fn key_for(id: usize) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"default":0,"field":"id"}}],"optional":false,"name":"crypto.public.ticker_24h.Key"}},"payload":{{"id":{}}}}}"#,
        id + 1
    )
}

async fn fill_topic(brokers: &str, topic: &str, values: &[Vec<u8>]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("Kafka admin client");
    // One partition, as Debezium creates its topics by default.
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("creating the topic");
    for result in created {
        result.unwrap_or_else(|(topic, error)| panic!("creating {topic}: {error}"));
    }
    // As the pipeline's connector produces (`producer.override.*` in
    // debezium/postgres-connector.json): zstd (`BENCH_COMPRESSION` compares another codec) in
    // batches of up to 256 KiB, so the consumer fetches and decompresses what it would in the
    // pipeline.
    let compression = std::env::var("BENCH_COMPRESSION").unwrap_or_else(|_| "zstd".to_owned());
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("compression.type", &compression)
        .set("batch.size", "262144")
        .set("linger.ms", "5")
        .create()
        .expect("Kafka producer");
    let started = Instant::now();
    for (chunk_index, chunk) in values.chunks(5_000).enumerate() {
        let sends = chunk.iter().enumerate().map(|(index, value)| {
            let key = key_for(chunk_index * 5_000 + index);
            let producer = &producer;
            async move {
                producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(value.as_slice()),
                        Duration::from_secs(30),
                    )
                    .await
                    .map_err(|(error, _)| error)
                    .expect("producing an event")
            }
        });
        futures::future::join_all(sends).await;
    }
    eprintln!(
        "filled {topic} with {} events in {:.1} s",
        values.len(),
        started.elapsed().as_secs_f64()
    );
}

async fn delete_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("Kafka admin client");
    if let Err(error) = admin.delete_topics(&[topic], &AdminOptions::new()).await {
        eprintln!("could not delete {topic}: {error}");
    }
}

/// A mapped row and its write time.
type MappedRow = (Vec<Option<CqlValue>>, i64);

/// Every event decoded and mapped: the rows the raw writer writes, at their write times.
fn mapped_rows(values: &[Vec<u8>]) -> Vec<MappedRow> {
    let mut decoder = Decoder::new();
    values
        .iter()
        .map(|value| {
            let Ok(Change::Event(event)) = decoder.decode(Some(value)) else {
                panic!("a generated event does not decode");
            };
            let write_time = write_time(&event).expect("a generated event has a WAL position");
            match plan_writes(&event).expect("a generated event maps").pop() {
                Some(CqlWrite::Upsert { values, .. }) => (values, write_time),
                other => panic!("expected one upsert, got {other:?}"),
            }
        })
        .collect()
}

/// Rows per second writing every row with at most `in_flight` requests at once, measured over
/// the same window as the consumer's (see [`Window`]): from its first acknowledged write to 90 %
/// of the rows, or `PHASE_CAP`; the ramp before and the drain after are left out for both.
async fn raw_writer(session: &Session, rows: &[MappedRow], in_flight: usize) -> f64 {
    let prepared = session
        .prepare(upsert_cql(KEYSPACE, &TABLES[0]))
        .await
        .expect("preparing the insert");
    let mut window = Window::new(rows.len());
    let mut written = 0u64;
    let mut writes = futures::stream::iter(rows)
        .map(|(row, write_time)| {
            session.execute_unpaged(&prepared, BoundWrite::time_last(row, *write_time))
        })
        .buffer_unordered(in_flight);
    while let Some(result) = writes.next().await {
        result.expect("raw write");
        written += 1;
        window.observe(Instant::now(), written);
    }
    window.per_second().unwrap_or(f64::NAN)
}

/// The measuring window both writers share: it opens at the first acknowledged write and closes
/// once 90 % of the rows are written or `PHASE_CAP` after it opened.
struct Window {
    target: u64,
    first: Option<(Instant, u64)>,
    last: Option<(Instant, u64)>,
}

impl Window {
    fn new(total: usize) -> Self {
        Self {
            target: (total as u64) * 9 / 10,
            first: None,
            last: None,
        }
    }

    /// Records that `count` rows were written by `now`; true once the window has closed.
    fn observe(&mut self, now: Instant, count: u64) -> bool {
        if self.last.is_some() {
            return true;
        }
        match self.first {
            None if count > 0 => self.first = Some((now, count)),
            Some((opened, _)) if count >= self.target || now - opened >= PHASE_CAP => {
                self.last = Some((now, count));
            }
            _ => {}
        }
        self.last.is_some()
    }

    /// Rows and seconds inside the window, once it has closed.
    fn span(&self) -> Option<(u64, f64)> {
        let ((opened, at_open), (closed, at_close)) = (self.first?, self.last?);
        Some((at_close - at_open, (closed - opened).as_secs_f64()))
    }

    fn per_second(&self) -> Option<f64> {
        self.span()
            .map(|(rows, seconds)| rows as f64 / seconds.max(f64::EPSILON))
    }
}

struct Measured {
    per_second: f64,
    events: u64,
    seconds: f64,
    peak_rss_kib: Option<u64>,
    /// The consumer's CPU over the window, in % of one core.
    consumer_cpu: Option<f64>,
    /// The whole machine's busy CPU over the window, in % of all cores.
    machine_cpu: Option<f64>,
    /// Mean Cassandra write latency as the consumer saw it, in ms.
    write_ms: Option<f64>,
}

/// Runs the consumer binary over the filled topic and measures its steady throughput; `workers`
/// overrides its `--worker-threads`.
async fn consumer(
    topic: &str,
    lanes: u16,
    workers: Option<u16>,
    run: &str,
    total: usize,
) -> Measured {
    let address = format!("127.0.0.1:{}", free_port());
    let mut command = consumer_command(&address);
    if let Some(workers) = workers {
        command.env("CONSUMER_WORKER_THREADS", workers.to_string());
    }
    let child = command
        .env("CONSUMER_GROUP_ID", format!("{topic}-{lanes}-{run}"))
        .env("CONSUMER_TOPICS", topic)
        .env("CONSUMER_DEAD_LETTER_TOPIC", format!("{topic}-dead-letter"))
        .env("CASSANDRA_KEYSPACE", KEYSPACE)
        .env("CONSUMER_TICKER_RETENTION_DAYS", "1")
        .env("CONSUMER_KLINE_RETENTION_DAYS", "1")
        .env("CONSUMER_MAX_IN_FLIGHT", lanes.to_string())
        .spawn()
        .expect("starting cdc-consumer");
    let http = reqwest::Client::new();
    let ticks = ticks_per_second();
    let mut window = Window::new(total);
    let mut cpu_at_first = None;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            Instant::now() < deadline,
            "cdc-consumer with {lanes} lanes made no progress in 180 s"
        );
        let Some(count) = events_replicated(&http, &address).await else {
            continue;
        };
        let opened = window.first.is_some();
        if window.observe(Instant::now(), count) {
            break;
        }
        if !opened && window.first.is_some() {
            cpu_at_first = cpu_ticks(child.id()).zip(machine_ticks());
        }
    }
    let peak_rss_kib = peak_rss_kib(child.id());
    let cpu_at_last = cpu_ticks(child.id()).zip(machine_ticks());
    let metrics_text = metrics_text(&http, &address).await.unwrap_or_default();
    let write_ms = histogram_mean(&metrics_text, "cdc_consumer_cassandra_write_seconds")
        .map(|seconds| seconds * 1000.0);
    // The group is abandoned afterwards.
    stop(child);
    let (events, seconds) = window.span().expect("the window closed");
    let (consumer_cpu, machine_cpu) = match (cpu_at_first, cpu_at_last) {
        (
            Some((process_then, (busy_then, total_then))),
            Some((process_now, (busy_now, total_now))),
        ) => (
            Some(100.0 * (process_now - process_then) as f64 / ticks / seconds.max(f64::EPSILON)),
            Some(100.0 * (busy_now - busy_then) as f64 / (total_now - total_then).max(1) as f64),
        ),
        _ => (None, None),
    };
    Measured {
        per_second: events as f64 / seconds.max(f64::EPSILON),
        events,
        seconds,
        peak_rss_kib,
        consumer_cpu,
        machine_cpu,
        write_ms,
    }
}

/// The blog's design, in Python; `None` when no interpreter was given.
fn blog_consumer(topic: &str) -> Option<Measured> {
    let python = std::env::var("BLOG_PYTHON").ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/blog_consumer.py");
    let output = Command::new(python)
        .arg(script)
        .args(["--topic", topic, "--group", &format!("{topic}-blog")])
        .args(["--brokers", &env("KAFKA_BROKERS")])
        .args(["--cassandra", &env("CASSANDRA_NODES")])
        .args(["--keyspace", KEYSPACE, "--seconds", "20"])
        .stderr(Stdio::inherit())
        .output()
        .expect("running bench/blog_consumer.py");
    assert!(output.status.success(), "bench/blog_consumer.py failed");
    let line = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value =
        serde_json::from_str(line.trim()).expect("blog_consumer.py prints one JSON line");
    let events = json["messages"].as_u64().expect("messages");
    let seconds = json["seconds"].as_f64().expect("seconds");
    Some(Measured {
        per_second: events as f64 / seconds,
        events,
        seconds,
        peak_rss_kib: None,
        consumer_cpu: None,
        machine_cpu: None,
        write_ms: None,
    })
}

/// A table row for a consumer run.
fn consumer_row(label: &str, measured: &Measured) -> String {
    let shown = |value: Option<f64>, unit: &str| {
        value.map_or("—".to_owned(), |value| format!("{value:.1}{unit}"))
    };
    format!(
        "| {label} | {:.0} | {} in {:.1} s | {} | {} | {} | {} |",
        measured.per_second,
        measured.events,
        measured.seconds,
        shown(measured.peak_rss_kib.map(|kib| kib as f64 / 1024.0), " MiB"),
        shown(measured.write_ms, " ms"),
        shown(measured.consumer_cpu, " %"),
        shown(measured.machine_cpu, " %"),
    )
}

fn raw_row(label: &str, per_second: f64, total: usize) -> String {
    format!("| {label} | {per_second:.0} | {total} rows | — | — | — | — |")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let brokers = env("KAFKA_BROKERS");
    let nodes = env("CASSANDRA_NODES");
    let total: usize = setting("BENCH_EVENTS", 100_000);
    let values = ticker_events::ticker_events(total);
    let bytes: usize = values.iter().map(Vec::len).sum();
    let topic = format!(
        "bench.throughput.{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    );

    // The schema, as `cdc-consumer schema` creates it with the admin role, granted to the
    // consumer's role as the stack grants it the pipeline's keyspace.
    let schema = cassandra_schema::SchemaSettings {
        keyspace: KEYSPACE.to_owned(),
        replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned(),
        ticker_retention_secs: 86_400,
        kline_retention_secs: 86_400,
    };
    let admin = sink::open_session(
        std::slice::from_ref(&nodes),
        Some(&login("CASSANDRA_ADMIN")),
    )
    .await
    .expect("connecting to Cassandra as the admin");
    sink::apply_schema(&admin, &schema, sink::ExistingSettings::Apply)
        .await
        .expect("creating the bench keyspace");
    for grant in consumer_grants(KEYSPACE, CONSUMER_ROLE) {
        admin
            .query_unpaged(grant, ())
            .await
            .expect("granting the bench keyspace");
    }
    fill_topic(&brokers, &topic, &values).await;
    let rows = Arc::new(mapped_rows(&values));
    let session = sink::open_session(std::slice::from_ref(&nodes), Some(&login("CASSANDRA")))
        .await
        .expect("connecting to Cassandra");
    let mut table = vec![];

    // Warm-up, and the raw writer's own best bound.
    for in_flight in RAW_IN_FLIGHT {
        let per_second = raw_writer(&session, &rows, in_flight).await;
        eprintln!("raw, {in_flight} in flight: {per_second:.0}/s");
        table.push(raw_row(
            &format!("raw driver writer, {in_flight} in flight (warm-up)"),
            per_second,
            total,
        ));
    }

    // How the consumer scales with its bound, and what a second worker thread changes.
    let sweep = lane_sweep();
    for lanes in &sweep {
        let measured = consumer(&topic, *lanes, None, "sweep", total).await;
        eprintln!("consumer, {lanes} lanes: {:.0}/s", measured.per_second);
        table.push(consumer_row(
            &format!("cdc-consumer, --max-in-flight {lanes}"),
            &measured,
        ));
    }
    if !sweep.is_empty() {
        let measured = consumer(&topic, DEFAULT_LANES, Some(2), "workers", total).await;
        eprintln!("consumer, 2 worker threads: {:.0}/s", measured.per_second);
        table.push(consumer_row(
            &format!("cdc-consumer, --max-in-flight {DEFAULT_LANES} --worker-threads 2"),
            &measured,
        ));
    }

    // Side by side, `BENCH_RUNS` times: raw, consumer, raw, consumer, …, raw; each consumer
    // run against the mean of the raw runs just before and after it, since Cassandra's speed
    // drifts during a run.
    // Each run starts from a fresh raw run: a figure users can rely on has to hold in every one.
    let runs: usize = setting("BENCH_RUNS", 3);
    let mut ratios = vec![];
    let mut ours = vec![];
    let mut peak_rss_kib = 0;
    for run in 1..=runs {
        let mut raw_before = raw_writer(&session, &rows, RAW_CEILING_IN_FLIGHT).await;
        table.push(raw_row(
            &format!("raw driver writer (run {run}, round 1)"),
            raw_before,
            total,
        ));
        for round in 1..=ROUNDS {
            let label = format!("run {run}, round {round}");
            let measured = consumer(
                &topic,
                DEFAULT_LANES,
                None,
                &format!("{run}-{round}"),
                total,
            )
            .await;
            table.push(consumer_row(
                &format!("cdc-consumer, --max-in-flight {DEFAULT_LANES} ({label})"),
                &measured,
            ));
            let raw_after = raw_writer(&session, &rows, RAW_CEILING_IN_FLIGHT).await;
            table.push(raw_row(
                &format!("raw driver writer (run {run}, round {})", round + 1),
                raw_after,
                total,
            ));
            let ratio = measured.per_second / ((raw_before + raw_after) / 2.0);
            eprintln!(
                "{label}: {:.0}/s, {:.0} % of raw",
                measured.per_second,
                100.0 * ratio
            );
            ratios.push((run, ratio));
            ours.push(measured.per_second);
            peak_rss_kib = peak_rss_kib.max(measured.peak_rss_kib.unwrap_or(0));
            raw_before = raw_after;
        }
    }

    let blog = blog_consumer(&topic);
    if let Some(blog) = &blog {
        table.push(format!(
            "| the blog's design (Python, one sync insert per message) | {:.0} | {} in {:.1} s | — | — | — | — |",
            blog.per_second, blog.events, blog.seconds
        ));
    }
    delete_topic(&brokers, &topic).await;
    admin
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {KEYSPACE}"), ())
        .await
        .expect("dropping the bench keyspace");

    println!(
        "{total} `ticker_24h` insert events, {} bytes each on average (schemas included), in one \
         partition, produced with {} in batches of up to 256 KiB.",
        bytes / total.max(1),
        std::env::var("BENCH_COMPRESSION").unwrap_or_else(|_| "zstd".to_owned())
    );
    println!();
    println!(
        "| writer | rows/s | measured over | peak RSS | mean write | consumer CPU (of 1 core) | machine CPU busy |"
    );
    println!("|---|---|---|---|---|---|---|");
    for line in &table {
        println!("{line}");
    }
    println!();
    let ours_median = median(&mut ours.clone());
    let percent = |ratio: f64| format!("{:.0} %", 100.0 * ratio);
    let cores = Cores::from_env();
    for run in 1..=runs {
        let of_run: Vec<f64> = ratios
            .iter()
            .filter(|(of, _)| *of == run)
            .map(|(_, ratio)| *ratio)
            .collect();
        let (low, high) = spread(&of_run);
        println!(
            "- run {run}: median {} of the raw writer over {ROUNDS} rounds, spread {}–{} ({})",
            percent(median(&mut of_run.clone())),
            percent(low),
            percent(high),
            of_run
                .iter()
                .map(|ratio| percent(*ratio))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let every: Vec<f64> = ratios.iter().map(|(_, ratio)| *ratio).collect();
    let (ratio_low, ratio_high) = spread(&every);
    println!(
        "- cdc-consumer (--max-in-flight {DEFAULT_LANES}) against the raw driver writer \
         ({RAW_CEILING_IN_FLIGHT} in flight) beside it, {}: median {} over {} rounds in {runs} \
         runs, spread {}–{} — target ≥ {} % in every round: {}",
        cores.describe(),
        percent(median(&mut every.clone())),
        every.len(),
        percent(ratio_low),
        percent(ratio_high),
        cores.target_percent(),
        met(100.0 * ratio_low >= cores.target_percent())
    );
    let peak_mib = peak_rss_kib as f64 / 1024.0;
    println!(
        "- cdc-consumer's peak RSS over those rounds: {peak_mib:.1} MiB — target ≤ 64 MiB: {}",
        met(peak_mib <= 64.0)
    );
    match &blog {
        Some(blog) => {
            let (low, high) = spread(&ours);
            println!(
                "- against the blog's design: the consumer's median {ours_median:.0} rows/s \
                 (rounds {low:.0}–{high:.0}) / the blog's {:.0} rows/s (one run) = {:.1}× \
                 — target ≥ 50×: {}",
                blog.per_second,
                ours_median / blog.per_second,
                met(ours_median / blog.per_second >= 50.0)
            )
        }
        None => println!("- against the blog's design: not run here (BLOG_PYTHON unset)"),
    }
}

/// How the run shares the machine's cores, which decides the throughput target (BENCHMARKS.md):
/// `BENCH_CORES=pinned` when Cassandra has a core of its own, else `shared`.
enum Cores {
    Shared,
    Pinned,
}

impl Cores {
    fn from_env() -> Self {
        match std::env::var("BENCH_CORES").as_deref() {
            Ok("pinned") => Cores::Pinned,
            _ => Cores::Shared,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Cores::Shared => "everything sharing both cores",
            Cores::Pinned => "Cassandra on a core of its own",
        }
    }

    fn target_percent(&self) -> f64 {
        match self {
            Cores::Shared => 70.0,
            Cores::Pinned => 80.0,
        }
    }
}

fn met(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

/// The lowest and highest of `values`.
fn spread(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
            (low.min(*value), high.max(*value))
        })
}
