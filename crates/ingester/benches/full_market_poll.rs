//! One full-market ticker poll: 2,000+ symbols from the simulator, parsed and written to a
//! PostgreSQL database of the benchmark's own, timed apart so the simulator's own cost does not
//! hide ours:
//!
//! - fetch: the all-symbols `GET /api/v3/ticker/24hr` over HTTP (mostly the simulator rendering);
//! - parse: the body to `Ticker24h`s, exact decimals;
//! - parse + write: the same, then the one-statement `UNNEST` insert.
//!
//! Plain `main` (harness = false) rather than criterion: every iteration adds 2,000 rows to the
//! table it writes, so a fixed, small number of polls keeps the cost measured the same from run
//! to run. The database (`stack_fixtures::TestDatabase`: the pipeline's schema, on the stack's
//! PostgreSQL) is created for the run and dropped after it, so nothing reaches the pipeline's own
//! database. Run it with `cargo xtask bench ingester`, which sets the stack's environment.

use std::time::{Duration, Instant};

use market_sim::{RunningSim, SimConfig};
use stack_fixtures::{StackEnvironment, TestDatabase, unique_name};

const SYMBOLS: usize = 2000;
const POLLS: u32 = 20;

/// Median, best and worst of `times`, in milliseconds.
/// The target for parse + write of one poll (BENCHMARKS.md), in milliseconds.
const WRITE_TARGET_MS: f64 = 200.0;

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.1} | {:.1} | {:.1}",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    )
}

#[tokio::main]
async fn main() {
    let sim = RunningSim::start(SimConfig {
        symbols: SYMBOLS,
        speed: 0.0,
        ..SimConfig::in_process()
    })
    .await
    .expect("starting the simulator");
    let database = TestDatabase::create(
        &StackEnvironment::from_env(),
        &unique_name("full_market_poll"),
    )
    .await;
    let postgres = database.ingester().await;
    let url = format!("{}/api/v3/ticker/24hr", sim.base_url());
    let http = reqwest::Client::new();

    let (mut fetch, mut parse, mut write) = (Vec::new(), Vec::new(), Vec::new());
    let mut body = Vec::new();
    for _ in 0..POLLS {
        let started = Instant::now();
        body = http
            .get(&url)
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .expect("fetching tickers")
            .bytes()
            .await
            .expect("reading tickers")
            .to_vec();
        fetch.push(started.elapsed());
    }
    // The days the polls' close times fall on get their partitions first, as the ingester
    // makes them before it writes.
    let close_times = binance::parse_tickers(&body)
        .expect("parsing tickers")
        .iter()
        .flat_map(|ticker| {
            [
                ticker.close_time,
                ticker.close_time + i64::from(POLLS) * 1000,
            ]
        })
        .filter_map(chrono::DateTime::from_timestamp_millis)
        .collect::<Vec<_>>();
    for days in ingester::partitions::day_runs(close_times) {
        ingester::partitions::ensure(&postgres, ingester::partitions::Table::Tickers, days)
            .await
            .expect("creating the polls' partitions");
    }
    let mut rows = 0;
    for poll in 0..POLLS {
        let started = Instant::now();
        let tickers = binance::parse_tickers(&body).expect("parsing tickers");
        parse.push(started.elapsed());
        rows = tickers.len();

        // One time per poll, as the ingester's polls have.
        let fetched_at = chrono::DateTime::from_timestamp(946_684_800 + i64::from(poll), 0)
            .expect("a valid time");
        let started = Instant::now();
        let mut tickers = binance::parse_tickers(&body).expect("parsing tickers");
        // A later close time at every poll, as a live market's polls have: the same tickers
        // again would be stored once (their natural key) and time nothing but the conflicts.
        for ticker in &mut tickers {
            ticker.close_time += i64::from(poll) * 1000;
        }
        ingester::store::insert_tickers(&postgres, &tickers, fetched_at)
            .await
            .expect("writing tickers");
        write.push(started.elapsed());
    }
    println!(
        "{rows} symbols, {} KiB body, {POLLS} polls each\n",
        body.len() / 1024
    );
    println!("| step | median ms | best ms | worst ms |");
    println!("|---|---|---|---|");
    println!(
        "| fetch (HTTP from the simulator) | {} |",
        summary(&mut fetch)
    );
    println!("| parse only | {} |", summary(&mut parse));
    println!("| parse + write to PostgreSQL | {} |", summary(&mut write));
    // `summary` sorted the times: the middle one is the median.
    let median_ms = write[write.len() / 2].as_secs_f64() * 1000.0;
    println!(
        "\n- parse + write of one full-market poll, median: {median_ms:.1} ms — target ≤ {WRITE_TARGET_MS} ms: {}",
        if median_ms <= WRITE_TARGET_MS {
            "**met**"
        } else {
            "**not met**"
        }
    );
    sim.stop().await.expect("stopping the simulator");
}
