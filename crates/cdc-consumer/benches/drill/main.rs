//! The chaos drill, run by `cargo xtask drill`: the whole pipeline on a slice of the stack of
//! its own (database, connector, topics, keyspace) under steady load (the Binance simulator
//! polled by the real ingester, plus direct PostgreSQL writes at `DRILL_RATE`), while faults
//! are injected one at a time: a consumer and the Connect worker killed, Cassandra and Kafka
//! stopped, PostgreSQL restarted, a Binance storm. After each it waits until the pipeline is
//! healthy again; after the last, until every change has drained, and then `verify` must find
//! PostgreSQL and Cassandra identical on both tables.
//!
//! The ceiling profile injects no fault: it raises the direct writes step by step until the
//! pipeline no longer keeps up ([`ceiling`]), then drains and verifies as the drill does.
//!
//! Prints the report (Markdown) on stdout, draws the plot into `DRILL_PLOT`, and exits non-zero
//! when a fault left the pipeline unhealthy or `verify` found a difference.

#[path = "../support/mod.rs"]
mod support;

mod ceiling;
mod consumers;
mod faults;
mod load;
mod observe;
mod plot;
mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use stack_fixtures::TestPipeline;
use tokio::sync::Mutex;
use tokio::time::sleep;

use crate::consumers::Consumers;
use crate::faults::{Fault, Target};
use crate::load::DirectWriter;
use crate::observe::{Observed, Sample, observe};
use crate::report::{FaultRun, Health};

const PARTITIONS: i32 = 3;
const CONSUMERS: usize = 2;
/// The second's p99 above which the pipeline does not count as healthy.
const HEALTHY_P99_MS: f64 = 1_000.0;
/// How long the ingester and each consumer may take to exit after SIGTERM: both bound their
/// own shutdown well within it, so a process still running then is a bug the drill reports.
const STOP_BOUND: Duration = Duration::from_secs(30);

/// How hard and how long the drill pushes.
struct Plan {
    profile: String,
    /// The high-availability stack (`cargo xtask drill --ha`), where a fault takes one node.
    ha: bool,
    /// Direct PostgreSQL changes a second (the ingester's come on top).
    rate: u32,
    /// How long a stopped service stays down.
    outage: Duration,
    /// Quiet time before the first fault and after each recovery.
    settle: Duration,
    /// How long the pipeline may take to be healthy again before the drill gives up.
    recovery_bound: Duration,
    /// The ceiling profile's rates, one step each (empty for the fault drill).
    ceiling_rates: Vec<u32>,
    /// How long the ceiling profile holds each rate.
    ceiling_step: Duration,
}

impl Plan {
    fn from_env() -> Self {
        let profile = std::env::var("DRILL_PROFILE").unwrap_or_else(|_| "full".to_owned());
        let ha = std::env::var("CDC_HA").is_ok_and(|value| value == "true");
        // On 2 cores the HA stack writes every row three times in Cassandra and replicates every
        // message three times in Kafka: at 1,000 changes/s it fell behind without any fault
        // (load average 29, never healthy), so its full profile runs at 400.
        // The ceiling's steps, lowest first: the plain stack's latency benchmark kept up with
        // 5,000 changes/s through one consumer, the HA stack fell behind at 1,000.
        let ceiling_rates = match (profile.as_str(), ha) {
            ("ceiling", false) => "1000,2000,3000,4000,5000,6000,7000,8000,10000",
            ("ceiling", true) => "200,400,600,800,1000,1200",
            _ => "",
        };
        let ceiling_rates: Vec<u32> = std::env::var("DRILL_CEILING_RATES")
            .unwrap_or_else(|_| ceiling_rates.to_owned())
            .split(',')
            .filter(|rate| !rate.is_empty())
            .map(|rate| {
                rate.trim()
                    .parse()
                    .expect("DRILL_CEILING_RATES: rates a second, comma-separated")
            })
            .collect();
        let (rate, outage, settle) = match (profile.as_str(), ha) {
            ("short", _) => (300, 15, 10),
            ("full", false) => (1_000, 60, 30),
            ("full", true) => (400, 60, 30),
            ("ceiling", _) => (ceiling_rates.first().copied().unwrap_or(1_000), 0, 10),
            (other, _) => panic!("DRILL_PROFILE={other}: expected short, full or ceiling"),
        };
        Plan {
            ceiling_step: Duration::from_secs(support::setting("DRILL_STEP_SECONDS", 120)),
            ceiling_rates,
            rate: support::setting("DRILL_RATE", rate),
            outage: Duration::from_secs(support::setting("DRILL_OUTAGE_SECONDS", outage)),
            settle: Duration::from_secs(settle),
            recovery_bound: Duration::from_secs(300),
            ha,
            profile,
        }
    }

    fn health(&self) -> Health {
        Health {
            // Two seconds of load, and a poll of every symbol on top.
            max_lag: i64::from(self.rate) * 2 + 500,
            max_p99_ms: HEALTHY_P99_MS,
        }
    }
}

#[tokio::main]
async fn main() {
    let plan = Plan::from_env();
    let health = plan.health();
    let started = Instant::now();
    let seconds = || started.elapsed().as_secs_f64();
    let log_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("drill");
    std::fs::create_dir_all(&log_dir).expect("the drill's log directory");

    let pipeline = TestPipeline::start_with_partitions("drill", PARTITIONS).await;
    let today = chrono::Utc::now().date_naive();
    let last_day = today + chrono::Days::new(2);
    pipeline
        .database()
        .ensure_partitions(&today.to_string(), &last_day.to_string())
        .await;
    let simulator = load::simulator().await;
    let ingester_address = format!("127.0.0.1:{}", support::free_port());
    let ingester_log = std::fs::File::create(log_dir.join("ingester.log")).expect("a log file");
    let ingester = load::Ingester::start(&pipeline, &simulator, &ingester_address, ingester_log);
    let consumers = Arc::new(Mutex::new(Consumers::start(&pipeline, CONSUMERS, &log_dir)));
    let writer = Arc::new(DirectWriter::start(
        pipeline.database().ingester_url(),
        plan.rate,
        chrono::Utc::now().timestamp_millis(),
    ));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let observer = tokio::spawn(observe(
        Observed {
            consumers: Arc::clone(&consumers),
            writer: Arc::clone(&writer),
            ingester_address: ingester_address.clone(),
            topics: vec![pipeline.ticker_topic(), pipeline.klines_topic()],
            partitions: PARTITIONS,
            brokers: pipeline.stack().kafka_brokers.clone(),
        },
        started,
        Arc::clone(&samples),
    ));
    let healthy_after = |from: f64, bound: Duration| {
        let samples = Arc::clone(&samples);
        async move {
            let deadline = Instant::now() + bound;
            while Instant::now() < deadline {
                if let Some(at) = health.healthy_from(&samples.lock().await, from) {
                    return Some(at);
                }
                sleep(Duration::from_secs(1)).await;
            }
            None
        }
    };

    eprintln!(
        "drill ({} profile): {} changes/s, waiting for the pipeline to be healthy",
        plan.profile, plan.rate
    );
    let warm = healthy_after(0.0, plan.recovery_bound).await;
    assert!(
        warm.is_some(),
        "the pipeline never became healthy before the first fault; logs in {}",
        log_dir.display()
    );
    sleep(plan.settle).await;

    let target = Target {
        consumers: Arc::clone(&consumers),
        http: reqwest::Client::new(),
        simulator_url: simulator.base_url(),
        outage: plan.outage,
        ha: plan.ha,
        connect_url: pipeline.stack().kafka_connect_url.clone(),
        connector: pipeline.name().to_owned(),
    };
    let mut runs: Vec<FaultRun> = Vec::new();
    let mut steps = Vec::new();
    if !plan.ceiling_rates.is_empty() {
        let mut processes = support::service_pids();
        processes.extend(consumers.lock().await.pids());
        processes.push(("ingester".to_owned(), ingester.pid()));
        processes.push(("drill (load, observer)".to_owned(), std::process::id()));
        steps = ceiling::search(
            &plan.ceiling_rates,
            plan.ceiling_step,
            |rate| writer.set_rate(rate),
            &processes,
            &samples,
            seconds,
        )
        .await;
    }
    let faults: &[Fault] = if plan.ceiling_rates.is_empty() {
        &Fault::SEQUENCE
    } else {
        &[]
    };
    for &fault in faults {
        let fault_started = seconds();
        eprintln!("{:>5.0} s: {}", fault_started, fault.name());
        if let Some(previous) = runs.last_mut() {
            previous.window_end = fault_started;
        }
        fault.inject(&target).await;
        let undone = seconds();
        let healthy = healthy_after(undone, plan.recovery_bound).await;
        eprintln!(
            "{:>5.0} s: healthy again {}",
            seconds(),
            healthy.map_or("never".to_owned(), |at| format!(
                "{:.0} s after the fault",
                at - fault_started
            ))
        );
        runs.push(FaultRun {
            fault,
            description: fault.description(plan.outage, plan.ha),
            started: fault_started,
            undone,
            healthy,
            window_end: f64::INFINITY,
        });
        sleep(plan.settle).await;
    }

    drop(target);

    // The load stops; every change must reach Cassandra. Each step says so first: a drill that
    // hangs names the step.
    let load_stopped = seconds();
    eprintln!("{load_stopped:>5.0} s: stopping the load (ingester, direct writes, simulator)");
    let ingester_stopped = ingester.stop(STOP_BOUND);
    let direct = writer.stop().await;
    let _ = simulator.stop().await;
    eprintln!(
        "{:>5.0} s: waiting for every change to reach Cassandra",
        seconds()
    );
    let drained = drained(&samples, plan.recovery_bound).await;
    if let Some(last) = runs.last_mut() {
        last.window_end = seconds();
    }
    observer.abort();
    let _ = observer.await;
    let samples = samples.lock().await.clone();
    let last = samples.last().cloned().unwrap_or_default();
    eprintln!("{:>5.0} s: verify on both tables", seconds());
    let verified: Vec<(String, Verified)> = ["ticker_24h", "klines"]
        .into_iter()
        .map(|table| (table.to_owned(), verify(&pipeline, table)))
        .collect();
    let mut consumers = Arc::into_inner(consumers)
        .expect("the consumers are shared with the observer only")
        .into_inner();
    consumers.restart_exited();
    let unexpected_exits = consumers.unexpected_exits;
    eprintln!("{:>5.0} s: stopping the consumers", seconds());
    let consumers_not_stopped = consumers.stop(STOP_BOUND);
    let not_stopped = usize::from(!ingester_stopped) + consumers_not_stopped;

    let plot_path = std::path::PathBuf::from(support::env("DRILL_PLOT"));
    let plot_name = plot_path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    plot::draw(&plot_path, &samples, &runs).expect("drawing the drill's plot");

    let never_healthy: Vec<&str> = runs
        .iter()
        .filter(|run| run.healthy.is_none())
        .map(|run| run.fault.name())
        .collect();
    let differing: Vec<&str> = verified
        .iter()
        .filter(|(_, verified)| !verified.identical)
        .map(|(table, _)| table.as_str())
        .collect();
    let repeated = last.events_total as i64 - last.written as i64;
    // On the high-availability stack, losing one node of an engine must not show: the
    // ingester's writes do not fail and no consumer exits.
    let node_faults = [Fault::KillConnect, Fault::StopCassandra, Fault::StopKafka];
    let ingester_errors_in_node_faults: u64 = runs
        .iter()
        .filter(|run| node_faults.contains(&run.fault))
        .map(|run| report::figures(run, &samples, &health).ingester_errors)
        .sum();
    // The ceiling injects no fault: there is no node loss to judge.
    let availability = if plan.ha && plan.ceiling_rates.is_empty() {
        format!(
            "\n## One node lost of each engine\n\n{}\n{}\n",
            verdict(
                "ingester errors while a Connect worker, a Cassandra node or a Kafka broker was down",
                ingester_errors_in_node_faults,
            ),
            verdict(
                "consumers that exited on their own",
                u64::from(unexpected_exits)
            ),
        )
    } else {
        String::new()
    };
    let unavailable = plan.ha && (ingester_errors_in_node_faults > 0 || unexpected_exits > 0);
    let (load, what_ran) = if plan.ceiling_rates.is_empty() {
        (
            format!("{} direct inserts a second", plan.rate),
            format!(
                "## Faults\n\n{}\n\
                 Changes written meanwhile: committed by PostgreSQL from the fault until healthy \
                 again. Unhealthy meanwhile: the seconds of that span in which the pipeline was \
                 not healthy (the fault is undone only after the outage and the restart). \
                 Re-sent by Connect: Kafka's growth beyond the changes committed, from the fault \
                 until the next; rewritten by a consumer: changes written to Cassandra beyond the \
                 offsets committed. Per fault these are off by the changes in flight at the \
                 window's ends.\n",
                report::fault_table(&runs, &samples, &health)
            ),
        )
    } else {
        (
            "direct inserts at each step's rate".to_owned(),
            ceiling::report(&steps, plan.ceiling_step),
        )
    };
    let report = format!(
        "- profile: {profile}; {shape}\n\
         - stack: {stack}; a pipeline of the drill's own with {PARTITIONS} partitions per topic \
         and {CONSUMERS} consumers in one group\n\
         - load: {load} into `ticker_24h` (transactions of 50, 16 symbols) \
         and the ingester polling the Binance simulator's 40 symbols (tickers every 5 s, 1m \
         klines)\n\
         - healthy means: every consumer and the ingester answer `/healthz` with 200, changes \
         arrive, the group's lag is at most {max_lag} messages and the p99 of each second's \
         changes at most {HEALTHY_P99_MS:.0} ms, for 3 s in a row\n\n\
         {what_ran}\n\
         ## After the load\n\n\
         - load stopped at {load_stopped:.0} s; {drained}\n\
         - PostgreSQL committed {written} changes ({direct} direct, the rest by the ingester); \
         Kafka holds {end} messages; the consumers wrote {events} changes to Cassandra: \
         **{repeated} repeated writes** (at-least-once: replays are idempotent upserts)\n\
         - consumers that exited on their own: {unexpected_exits}\n\
         {stopping}\n\
         {verify_lines}{availability}\n\
         ![End-to-end p99 and lag over the drill, faults shaded]({plot_name})\n",
        profile = plan.profile,
        shape = if plan.ceiling_rates.is_empty() {
            "faults as listed below, each while the load goes on"
        } else {
            "no fault; the direct writes raised step by step until the pipeline no longer keeps up"
        },
        stack = if plan.ha {
            "high availability (3 Cassandra nodes with keyspace replication 3 and quorum \
             reads and writes, 3 Kafka brokers with topic replication 3 and min.insync.replicas \
             2, 2 Connect workers)"
        } else {
            "the plain one (one node of each service)"
        },
        max_lag = health.max_lag,
        drained = match drained {
            Some(at) => format!("every change was in Cassandra at {at:.0} s"),
            None => format!(
                "**changes were still arriving {} s later**",
                plan.recovery_bound.as_secs()
            ),
        },
        stopping = verdict(
            &format!(
                "processes still running {} s after SIGTERM (the ingester and the consumers)",
                STOP_BOUND.as_secs()
            ),
            not_stopped as u64
        ),
        written = last.written,
        end = last.end().unwrap_or(0),
        events = last.events_total,
        verify_lines = verified
            .iter()
            .map(|(table, verified)| format!("- `verify --table {table}`: {}\n", verified.summary))
            .collect::<String>(),
    );
    println!("{report}");
    // The ceiling's last step is meant to overwhelm the pipeline: its verdict is the drain and
    // `verify`, not health.
    if !never_healthy.is_empty()
        || !differing.is_empty()
        || drained.is_none()
        || unavailable
        || not_stopped > 0
    {
        eprintln!("{report}");
        panic!(
            "the drill failed: never healthy again after {never_healthy:?}; verify found \
             differences in {differing:?}; a lost node showed: {unavailable}; processes that \
             ignored SIGTERM: {not_stopped}; logs in {}",
            log_dir.display()
        );
    }
}

/// A count that must be 0, with its verdict.
fn verdict(what: &str, count: u64) -> String {
    let outcome = if count == 0 { "**met**" } else { "**not met**" };
    format!("- {what}: {count} (target 0): {outcome}")
}

/// Waits until Kafka holds every change PostgreSQL committed, the group has committed all of
/// them, and nothing new arrived for 5 s; the time it was so, or `None` after `bound`.
async fn drained(samples: &Mutex<Vec<Sample>>, bound: Duration) -> Option<f64> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        sleep(Duration::from_secs(1)).await;
        let samples = samples.lock().await;
        let Some(recent) = samples.get(samples.len().saturating_sub(5)..) else {
            continue;
        };
        let settled = recent.len() == 5
            && recent.iter().all(|sample| {
                sample.lag() == Some(0)
                    && sample.end() == recent[0].end()
                    && sample.end().unwrap_or(0) >= sample.written as i64
            });
        if settled {
            return Some(recent[0].at);
        }
    }
    None
}

/// What `cdc-consumer verify` said about one table.
struct Verified {
    identical: bool,
    summary: String,
}

/// `cdc-consumer verify --table TABLE` over everything the drill wrote (from two days ago).
fn verify(pipeline: &TestPipeline, table: &str) -> Verified {
    let since = (chrono::Utc::now() - chrono::Days::new(2)).to_rfc3339();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
        .args(["verify", "--table", table, "--since", &since])
        .envs(pipeline.consumer_environment())
        .env("RUST_LOG", "warn")
        .output()
        .expect("cannot run cdc-consumer verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|line| line.contains("rows compared"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "verify printed no summary ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
        });
    Verified {
        identical: output.status.success() && summary.ends_with(" 0 differences"),
        summary,
    }
}
