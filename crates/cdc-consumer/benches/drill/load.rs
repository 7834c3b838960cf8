//! The drill's steady load: the Binance simulator polled by the real ingester, and direct
//! PostgreSQL writes at a set rate, both into the drill's own database. Every count here is of
//! changes PostgreSQL committed, so the report can say how many were written during a fault.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use market_sim::RunningSim;
use market_sim::config::SimConfig;
use stack_fixtures::TestPipeline;
use tokio::task::JoinHandle;

/// Changes a direct-write transaction commits.
const ROWS_PER_TRANSACTION: u64 = 50;
/// The direct writes spread over this many symbols, so that they hash to every partition and
/// both consumers have work.
const DIRECT_SYMBOLS: u64 = 16;
/// Symbols the simulator lists and the ingester tracks (`all` of them).
const SIMULATED_SYMBOLS: usize = 40;

/// The simulator, serving in this process on a free port.
pub async fn simulator() -> RunningSim {
    RunningSim::start(SimConfig {
        symbols: SIMULATED_SYMBOLS,
        ..SimConfig::in_process()
    })
    .await
    .expect("starting the simulator")
}

/// The release ingester (`DRILL_INGESTER`, built by `cargo xtask drill`), killed when dropped
/// so that a drill failing midway leaves none running.
pub struct Ingester(Child);

impl Ingester {
    /// Polls `simulator` into `pipeline`'s database, serving `/metrics` on `address`, logging
    /// to `log`.
    pub fn start(
        pipeline: &TestPipeline,
        simulator: &RunningSim,
        address: &str,
        log: std::fs::File,
    ) -> Self {
        Ingester(ingester_command(pipeline, simulator, address, log))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGTERM: the ingester writes what it holds and exits. False when it was still running
    /// after `bound` (it is killed when dropped).
    pub fn stop(mut self, bound: Duration) -> bool {
        stack_fixtures::processes::terminate_within(&mut self.0, bound).is_some()
    }
}

impl Drop for Ingester {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ingester_command(
    pipeline: &TestPipeline,
    simulator: &RunningSim,
    address: &str,
    log: std::fs::File,
) -> Child {
    Command::new(crate::support::env("DRILL_INGESTER"))
        .env("PG_URL", pipeline.database().ingester_url())
        .env("BINANCE_BASE_URL", simulator.base_url())
        .env("INGESTER_SYMBOLS", "all")
        .env("INGESTER_KLINE_HISTORY_HOURS", "1")
        .env("INGESTER_METRICS_LISTEN", address)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting the ingester")
}

/// Direct inserts into `ticker_24h` at a steady rate, in transactions of 50, retried after a
/// failure (PostgreSQL restarting) without bursting to catch up: the load stays what it says.
pub struct DirectWriter {
    rate: Arc<AtomicU32>,
    committed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl DirectWriter {
    /// Starts writing `rate` changes a second into the database at `url`, with close times
    /// counted in milliseconds from `first_close_ms`.
    pub fn start(url: String, rate: u32, first_close_ms: i64) -> Self {
        let rate = Arc::new(AtomicU32::new(rate));
        let committed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(write_steadily(
            url,
            Arc::clone(&rate),
            first_close_ms,
            Arc::clone(&committed),
            Arc::clone(&stop),
        ));
        DirectWriter {
            rate,
            committed,
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Writes `rate` changes a second from the next transaction on.
    pub fn set_rate(&self, rate: u32) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// Changes committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Stops after the transaction in progress; returns the changes committed.
    pub async fn stop(&self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.committed()
    }
}

async fn write_steadily(
    url: String,
    rate: Arc<AtomicU32>,
    first_close_ms: i64,
    committed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let ticking = |rate: u32| {
        let transactions_per_second = (rate / ROWS_PER_TRANSACTION as u32).max(1);
        let mut ticks = tokio::time::interval(Duration::from_secs(1) / transactions_per_second);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        ticks
    };
    let mut ticking_at = rate.load(Ordering::Relaxed);
    let mut ticks = ticking(ticking_at);
    let mut client: Option<tokio_postgres::Client> = None;
    let mut next_row: i64 = 0;
    let mut failures_reported = 0;
    while !stop.load(Ordering::Relaxed) {
        let wanted = rate.load(Ordering::Relaxed);
        if wanted != ticking_at {
            ticking_at = wanted;
            ticks = ticking(wanted);
        }
        ticks.tick().await;
        if client
            .as_ref()
            .is_none_or(tokio_postgres::Client::is_closed)
        {
            client = stack_fixtures::try_connect_postgres(&url).await.ok();
        }
        let Some(connected) = &client else { continue };
        let last_row = next_row + ROWS_PER_TRANSACTION as i64 - 1;
        // ON CONFLICT DO NOTHING: a batch whose commit was lost with the connection is sent
        // again, and the count stays the number of rows PostgreSQL holds.
        let inserted = connected
            .execute(
                "INSERT INTO ticker_24h (symbol, last_price, close_time)
                 SELECT 'DRILL' || lpad(((n / 50) % $4)::text, 2, '0'), n * 0.01,
                        to_timestamp(($1::bigint + n) / 1000.0)
                 FROM generate_series($2::bigint, $3::bigint) AS n
                 ON CONFLICT DO NOTHING",
                &[
                    &first_close_ms,
                    &next_row,
                    &last_row,
                    &(DIRECT_SYMBOLS as i64),
                ],
            )
            .await;
        match inserted {
            Ok(rows) => {
                committed.fetch_add(rows, Ordering::Relaxed);
                next_row = last_row + 1;
            }
            Err(error) => {
                if failures_reported < 3 {
                    eprintln!("direct writer: {error}; retrying");
                    failures_reported += 1;
                }
                client = None;
            }
        }
    }
}
