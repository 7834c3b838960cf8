//! Commit in PostgreSQL → row in Cassandra, through the whole pipeline, stage by stage, at
//! steady rates (targets in BENCHMARKS.md: p99 ≤ 150 ms in every round at 1,000 changes/s and
//! ≤ 250 ms at 5,000), and what every service costs while no change flows.
//!
//! Inserts `ticker_24h` rows into PostgreSQL in transactions of 50 rows, at each rate of
//! `BENCH_RATES` (1000,5000 changes/s) for `BENCH_ROUNDS` rounds (3) of `BENCH_SECONDS` (30),
//! through Debezium on Kafka Connect and Kafka, into a release `cdc-consumer` of its own group.
//! Before each round it waits until every change so far has reached Cassandra, so a round never
//! measures what an earlier one left queued, and it records the machine's load. The latency of
//! a change and its stages are the consumer's own histograms (`cdc_consumer_end_to_end_seconds`
//! and `cdc_consumer_stage_seconds`), read before and after the round; quantiles are
//! interpolated within a bucket.
//!
//! A warm-up round of `BENCH_WARMUP_SECONDS` (20) at the first rate comes first: just after
//! `stack up` the JVMs (Connect above all) have not compiled the code this load runs, and the
//! warm-up's tail shows what that costs; it is reported and judged by no target.
//!
//! It runs on a pipeline of its own (`stack_fixtures::TestPipeline`: database, connector,
//! topics, keyspace), dropped at the end, so it leaves no backlog and no cleanup transaction
//! behind. `BENCH_POLL_INTERVAL_MS` overrides its connector's `poll.interval.ms`; several
//! values, comma-separated, are measured one after another and compared side by side.
//! With `BENCH_SERVICE_PIDS` (`name=pid,…`, which `cargo xtask bench latency` passes, having
//! stopped the stack's own connector) it measures each service's CPU over `BENCH_IDLE_SECONDS`
//! (30) while the pipeline is idle, after the warm-up, and each process's CPU in every round.

mod support;

use std::time::{Duration, Instant};

use tokio::time::sleep;

use stack_fixtures::TestPipeline;
use stack_fixtures::processes::machine_ticks;
use stack_fixtures::prometheus::{difference, histogram_buckets, quantile};
use support::{
    consumer_command, cpu_cells, cpu_over, events_replicated, free_port, service_pids, setting,
    stop,
};

const ROWS_PER_TRANSACTION: u32 = 50;
const SYMBOL: &str = "LATENCYBENCH";
const END_TO_END: &str = "cdc_consumer_end_to_end_seconds";
const STAGE: &str = "cdc_consumer_stage_seconds";
/// The consumer's stages in pipeline order, as its `stage` label names them, with a heading.
const STAGES: [(&str, &str); 5] = [
    ("commit_to_debezium", "commit → Debezium"),
    ("debezium_to_kafka", "Debezium → Kafka"),
    ("kafka_to_consumer", "Kafka → consumer"),
    ("queued", "lane wait"),
    ("cassandra", "Cassandra write"),
];
/// The p99 every round at a rate must stay within (BENCHMARKS.md), in seconds.
const P99_TARGETS: [(u32, f64); 2] = [(1000, 0.150), (5000, 0.250)];
/// How long every change may take to arrive after a round's load ends.
const DRAIN_BOUND: Duration = Duration::from_secs(180);

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or("—".to_owned(), |s| format!("{:.1}", s * 1000.0))
}

/// The one-minute load average and the share of the machine's CPU busy over `window`, just
/// before a round: what else the machine was doing.
async fn machine_load(window: Duration) -> (String, f64) {
    let before = machine_ticks();
    tokio::time::sleep(window).await;
    let busy = match (before, machine_ticks()) {
        (Some((busy_0, total_0)), Some((busy_1, total_1))) if total_1 > total_0 => {
            (busy_1 - busy_0) as f64 / (total_1 - total_0) as f64
        }
        _ => f64::NAN,
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "—".to_owned());
    (load, busy)
}

/// One measured round; `number` 0 is the warm-up.
struct Round {
    rate: u32,
    number: u32,
    load: String,
    busy_before: f64,
    achieved: f64,
    end_to_end: Vec<(f64, f64)>,
    stages: Vec<Vec<(f64, f64)>>,
    /// Each process's CPU from the round's start until its last change arrived, as a share
    /// of one core.
    cpu: Vec<(String, f64)>,
}

impl Round {
    fn p99(&self) -> Option<f64> {
        quantile(&self.end_to_end, 0.99)
    }

    fn row(&self) -> String {
        let measured = self.end_to_end.last().map_or(0.0, |(_, count)| *count);
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|buckets| {
                format!(
                    "{} / {}",
                    ms(quantile(buckets, 0.5)),
                    ms(quantile(buckets, 0.99))
                )
            })
            .collect();
        let number = if self.number == 0 {
            "warm-up".to_owned()
        } else {
            self.number.to_string()
        };
        format!(
            "| {} | {number} | {} | {:.0} % | {:.0} | {measured:.0} | **{} / {}** | {} |",
            self.rate,
            self.load,
            self.busy_before * 100.0,
            self.achieved,
            ms(quantile(&self.end_to_end, 0.5)),
            ms(self.p99()),
            stages.join(" | "),
        )
    }
}

/// What the benchmark runs, from its environment.
struct Plan {
    rates: Vec<u32>,
    rounds: u32,
    seconds: u32,
    warm_up_seconds: u32,
    idle_seconds: u32,
    services: Vec<(String, u32)>,
}

/// What one connector setting measured.
struct Measured {
    poll_interval: Option<String>,
    idle: Vec<(String, f64)>,
    rounds: Vec<Round>,
}

#[tokio::main]
async fn main() {
    let plan = Plan {
        rates: std::env::var("BENCH_RATES")
            .unwrap_or_else(|_| "1000,5000".to_owned())
            .split(',')
            .map(|rate| {
                rate.trim()
                    .parse()
                    .expect("BENCH_RATES: changes/s, comma-separated")
            })
            .collect(),
        rounds: setting("BENCH_ROUNDS", 3),
        seconds: setting("BENCH_SECONDS", 30),
        warm_up_seconds: setting("BENCH_WARMUP_SECONDS", 20),
        idle_seconds: setting("BENCH_IDLE_SECONDS", 30),
        services: service_pids(),
    };
    // One value, or several compared side by side (a sweep), each on a pipeline of its own.
    let poll_intervals: Vec<Option<String>> = match std::env::var("BENCH_POLL_INTERVAL_MS") {
        Ok(values) => values
            .split(',')
            .map(|value| Some(value.trim().to_owned()))
            .collect(),
        Err(_) => vec![None],
    };
    let mut results = vec![];
    for poll_interval in poll_intervals {
        results.push(measure(&plan, poll_interval).await);
    }
    for measured in &results {
        print_report(&plan, measured);
    }
    if results.len() > 1 {
        print_sweep(&plan, &results);
    }
}

/// A pipeline of its own with `poll_interval` and a release consumer: the warm-up, idle CPU,
/// then every round.
async fn measure(plan: &Plan, poll_interval: Option<String>) -> Measured {
    let mut connector_settings = vec![];
    if let Some(poll_interval) = &poll_interval {
        eprintln!("poll.interval.ms={poll_interval}");
        connector_settings.push(("poll.interval.ms", poll_interval.as_str()));
    }
    let pipeline =
        TestPipeline::start_with_connector_settings("bench_latency", &connector_settings).await;
    // Every change is on 1 January 2000, a millisecond apart: one partition holds them all.
    pipeline
        .database()
        .ensure_partitions("2000-01-01", "2000-01-01")
        .await;
    let postgres = pipeline.database().ingester().await;
    let address = format!("127.0.0.1:{}", free_port());
    let child = consumer_command(&address)
        .envs(pipeline.consumer_environment())
        .env("CONSUMER_GROUP_ID", pipeline.name())
        .spawn()
        .expect("starting cdc-consumer");
    let http = reqwest::Client::new();
    let insert = |rows: u32, first: u32| {
        let postgres = &postgres;
        let (first, last) = (first as i32, (first + rows) as i32 - 1);
        async move {
            postgres
                .execute(
                    "INSERT INTO ticker_24h (symbol, last_price, close_time)
                     SELECT $1, n * 0.01, TIMESTAMPTZ '2000-01-01 00:00:00+00' + n * INTERVAL '1 millisecond'
                     FROM generate_series($2::int, $3::int) AS n",
                    &[&SYMBOL, &first, &last],
                )
                .await
                .expect("inserting tickers")
        }
    };
    // Until the consumer has replicated `count` changes: every earlier change has arrived.
    let caught_up = |count: u64, bound: Duration, what: &'static str| {
        let (http, address) = (&http, &address);
        async move {
            let started = Instant::now();
            while events_replicated(http, address).await.unwrap_or(0) < count {
                assert!(started.elapsed() < bound, "{what} within {bound:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // One change end to end, so the group has joined and every connection is open.
    insert(1, 0).await;
    caught_up(
        1,
        Duration::from_secs(120),
        "the first change did not arrive",
    )
    .await;
    let mut written: u64 = 1;

    let mut processes = plan.services.clone();
    processes.push(("cdc-consumer".to_owned(), child.id()));

    // The warm-up round (number 0) at the first rate: the JVMs' code for this load is compiled
    // while it runs. It is measured and shown, and judged by no target.
    let warm_up = plan
        .rates
        .first()
        .map(|rate| (*rate, 0, plan.warm_up_seconds));
    let judged = plan
        .rates
        .iter()
        .flat_map(|rate| (1..=plan.rounds).map(move |number| (*rate, number, plan.seconds)));
    let mut rounds = vec![];
    let mut idle = vec![];
    let mut next_id = 1;
    for (rate, number, seconds) in warm_up.into_iter().filter(|w| w.2 > 0).chain(judged) {
        let transactions_per_second = (rate / ROWS_PER_TRANSACTION).max(1);
        caught_up(written, DRAIN_BOUND, "the previous round did not drain").await;
        let (machine, busy_before) = machine_load(Duration::from_secs(2)).await;
        let before = support::metrics_text(&http, &address)
            .await
            .unwrap_or_default();

        let transactions = seconds * transactions_per_second;
        let round_changes = u64::from(transactions) * u64::from(ROWS_PER_TRANSACTION);
        let first_id = next_id;
        next_id += transactions * ROWS_PER_TRANSACTION;
        written += round_changes;
        let load = async {
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / transactions_per_second);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let load_started = Instant::now();
            for transaction in 0..transactions {
                ticks.tick().await;
                insert(
                    ROWS_PER_TRANSACTION,
                    first_id + transaction * ROWS_PER_TRANSACTION,
                )
                .await;
            }
            let load_seconds = load_started.elapsed().as_secs_f64();
            caught_up(written, DRAIN_BOUND, "not every change arrived").await;
            load_seconds
        };
        let (load_seconds, cpu) = cpu_over(&processes, load).await;
        let after = support::metrics_text(&http, &address)
            .await
            .unwrap_or_default();
        let window = |name: &str, labels: &[(&str, &str)]| {
            difference(
                &histogram_buckets(&after, name, labels),
                &histogram_buckets(&before, name, labels),
            )
        };
        let round = Round {
            rate,
            number,
            load: machine,
            busy_before,
            achieved: round_changes as f64 / load_seconds,
            end_to_end: window(END_TO_END, &[]),
            stages: STAGES
                .iter()
                .map(|(stage, _)| window(STAGE, &[("stage", stage)]))
                .collect(),
            cpu,
        };
        eprintln!("{rate}/s round {number}: p99 {} ms", ms(round.p99()));
        rounds.push(round);
        // Idle is measured once the warm-up has drained: the JVMs compile and size their
        // heaps for a while after start-up, which a stack running for days no longer pays.
        if number == 0 && idle.is_empty() && !plan.services.is_empty() {
            sleep(Duration::from_secs(5)).await;
            eprintln!("measuring idle CPU for {} s", plan.idle_seconds);
            idle = cpu_over(
                &processes,
                sleep(Duration::from_secs(plan.idle_seconds.into())),
            )
            .await
            .1;
        }
    }
    stop(child);
    drop(pipeline);
    Measured {
        poll_interval,
        idle,
        rounds,
    }
}

/// The p99s of the judged rounds at `rate`, sorted.
fn p99s_at(rounds: &[Round], rate: u32) -> Vec<f64> {
    let mut p99s: Vec<f64> = rounds
        .iter()
        .filter(|round| round.rate == rate && round.number > 0)
        .filter_map(Round::p99)
        .collect();
    p99s.sort_by(f64::total_cmp);
    p99s
}

fn print_report(plan: &Plan, measured: &Measured) {
    let Measured {
        poll_interval,
        idle,
        rounds,
    } = measured;
    println!(
        "## Debezium's `poll.interval.ms`: {}",
        poll_interval
            .as_deref()
            .map_or("the connector file's".to_owned(), |value| format!(
                "{value} (BENCH_POLL_INTERVAL_MS)"
            ))
    );
    println!();
    if !idle.is_empty() {
        println!(
            "Idle: each service's CPU over {} s while no change flows, as a share of one core.",
            plan.idle_seconds
        );
        println!();
        println!("| service | idle CPU |");
        println!("|---|---|");
        for (name, share) in idle {
            println!("| {name} | {:.1} % |", share * 100.0);
        }
        let total: f64 = idle.iter().map(|(_, share)| share).sum();
        println!("| all | {:.1} % |", total * 100.0);
        println!();
    }
    println!(
        "Latency: a warm-up of {} s at the first rate, then {} rounds of {} s at each rate, in \
         transactions of {ROWS_PER_TRANSACTION} `ticker_24h` inserts, through one consumer. \
         Milliseconds, p50 / p99; load is the one-minute average and CPU the machine's busy \
         share in the 2 s before the round.",
        plan.warm_up_seconds, plan.rounds, plan.seconds
    );
    println!();
    let headings: Vec<&str> = STAGES.iter().map(|(_, heading)| *heading).collect();
    println!(
        "| changes/s | round | load | CPU before | achieved/s | latencies | end to end | {} |",
        headings.join(" | ")
    );
    println!(
        "|---|---|---|---|---|---|---|{}",
        "---|".repeat(STAGES.len())
    );
    for round in rounds {
        println!("{}", round.row());
    }
    println!();
    if let Some(first) = rounds.first() {
        println!(
            "CPU of each process from a round's start until its last change arrived, as a share \
             of one core (the machine has {}):",
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        println!();
        let names: Vec<&str> = first.cpu.iter().map(|(name, _)| name.as_str()).collect();
        println!("| changes/s | round | {} |", names.join(" | "));
        println!("|---|---|{}", "---|".repeat(names.len()));
        for round in rounds {
            println!(
                "| {} | {} | {} |",
                round.rate,
                if round.number == 0 {
                    "warm-up".to_owned()
                } else {
                    round.number.to_string()
                },
                cpu_cells(&round.cpu)
            );
        }
        println!();
    }
    for &rate in &plan.rates {
        let p99s = p99s_at(rounds, rate);
        let (Some(best), Some(worst)) = (p99s.first(), p99s.last()) else {
            continue;
        };
        let summary = format!(
            "p99 at {rate} changes/s over {} rounds: median {} ms, spread {}–{} ms",
            p99s.len(),
            ms(Some(p99s[p99s.len() / 2])),
            ms(Some(*best)),
            ms(Some(*worst)),
        );
        match P99_TARGETS
            .iter()
            .find(|(target_rate, _)| *target_rate == rate)
        {
            Some((_, target)) => {
                let met = p99s.len() == plan.rounds as usize && *worst <= *target;
                println!(
                    "- {summary}; every round ≤ {:.0} ms: {}",
                    target * 1000.0,
                    if met { "**met**" } else { "**not met**" }
                );
            }
            None => println!("- {summary} (no target at this rate)"),
        }
    }
    println!("- the blog reports ~500 ms from Binance to Cassandra");
    println!();
}

/// The settings side by side: Kafka Connect's idle CPU against each rate's median p99.
fn print_sweep(plan: &Plan, results: &[Measured]) {
    println!("## Side by side");
    println!();
    let rates: Vec<String> = plan
        .rates
        .iter()
        .map(|rate| format!("p99 at {rate}/s (median, spread)"))
        .collect();
    println!(
        "| poll.interval.ms | Connect idle CPU | all services idle | {} |",
        rates.join(" | ")
    );
    println!("|---|---|---|{}", "---|".repeat(rates.len()));
    for measured in results {
        let idle_of = |name: &str| {
            measured
                .idle
                .iter()
                .find(|(service, _)| service == name)
                .map_or("—".to_owned(), |(_, share)| {
                    format!("{:.1} %", share * 100.0)
                })
        };
        let total: f64 = measured.idle.iter().map(|(_, share)| share).sum();
        let p99s: Vec<String> = plan
            .rates
            .iter()
            .map(|rate| {
                let p99s = p99s_at(&measured.rounds, *rate);
                match (p99s.first(), p99s.last()) {
                    (Some(best), Some(worst)) => format!(
                        "{} ({}–{}) ms",
                        ms(Some(p99s[p99s.len() / 2])),
                        ms(Some(*best)),
                        ms(Some(*worst))
                    ),
                    _ => "—".to_owned(),
                }
            })
            .collect();
        println!(
            "| {} | {} | {:.1} % | {} |",
            measured.poll_interval.as_deref().unwrap_or("file's"),
            idle_of("connect"),
            total * 100.0,
            p99s.join(" | ")
        );
    }
    println!();
}
