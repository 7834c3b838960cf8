//! From the observer's samples to the drill's figures: when the pipeline was healthy again after
//! each fault, and what the fault cost meanwhile. Pure.

use crate::faults::Fault;
use crate::observe::Sample;

/// The highest finite bucket of `cdc_consumer_end_to_end_seconds`, in milliseconds.
const HIGHEST_BOUND_MS: f64 = 29_999.0;

/// Consecutive healthy samples (seconds) that count as healthy again.
const HEALTHY_STREAK: usize = 3;
/// Seconds a partition with messages waiting may keep its committed offset (the consumer
/// commits every second).
const STALL_SECONDS: usize = 3;

/// What counts as healthy: every consumer and the ingester answer `/healthz` with 200, changes
/// arrive in Cassandra, no partition with messages waiting has kept its committed offset for
/// [`STALL_SECONDS`], the group's lag is at most `max_lag` messages and the second's p99 at
/// most `max_p99_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    pub max_lag: i64,
    pub max_p99_ms: f64,
}

impl Health {
    /// Whether `samples[index]` is healthy (the samples before it show stalled partitions).
    pub fn is_healthy(&self, samples: &[Sample], index: usize) -> bool {
        let sample = &samples[index];
        let stalled = index
            .checked_sub(STALL_SECONDS)
            .is_some_and(|earlier| sample.has_stalled_partition(&samples[earlier]));
        !stalled
            && sample.consumers_healthy == sample.consumers
            && sample.ingester_healthy
            && sample.replicated > 0
            && sample.lag().is_some_and(|lag| lag <= self.max_lag)
            && sample.p99_ms.is_some_and(|p99| p99 <= self.max_p99_ms)
    }

    /// The time of the first sample at or after `from` that starts a streak of healthy ones.
    pub fn healthy_from(&self, samples: &[Sample], from: f64) -> Option<f64> {
        let first = samples.iter().position(|sample| sample.at >= from)?;
        (first..samples.len().saturating_sub(HEALTHY_STREAK - 1))
            .find(|start| {
                (*start..start + HEALTHY_STREAK).all(|index| self.is_healthy(samples, index))
            })
            .map(|start| samples[start].at)
    }
}

/// One fault as it happened: when it began, when it was undone, when the pipeline was healthy
/// again, and when the next fault began (the end of its window for counting repeats).
#[derive(Debug, Clone)]
pub struct FaultRun {
    pub fault: Fault,
    pub description: String,
    pub started: f64,
    pub undone: f64,
    pub healthy: Option<f64>,
    pub window_end: f64,
}

/// What a fault cost, from the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultFigures {
    /// Changes PostgreSQL committed from the fault until healthy again.
    pub written: u64,
    pub largest_lag: Option<i64>,
    pub largest_p99_ms: Option<f64>,
    /// Messages Connect sent more than once in the fault's window (Kafka's growth beyond the
    /// changes PostgreSQL committed), and changes a consumer wrote again after reading them once
    /// (writes beyond the offsets committed). Each is exact over the whole drill; over one
    /// window it is off by the changes in flight at its ends, tens at most.
    pub resent_by_connect: i64,
    pub rewritten_by_consumers: i64,
    pub ingester_errors: u64,
    /// Seconds from the fault until healthy again in which the pipeline was not healthy: on
    /// the high-availability stack a lost node should cost none.
    pub unhealthy_seconds: usize,
}

pub fn figures(run: &FaultRun, samples: &[Sample], health: &Health) -> FaultFigures {
    let until = run.healthy.unwrap_or(run.window_end);
    let unhealthy_seconds = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.at >= run.started && s.at < until)
        .filter(|(index, _)| !health.is_healthy(samples, *index))
        .count();
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= run.started && s.at <= until)
        .collect();
    let first_at = |at: f64| samples.iter().find(|s| s.at >= at && s.lag().is_some());
    let window = (first_at(run.started), first_at(run.window_end));
    let (resent_by_connect, rewritten_by_consumers) = match window {
        (Some(start), Some(end)) => {
            let difference = |f: fn(&Sample) -> i64| f(end) - f(start);
            let written = difference(|s| s.written as i64);
            let ended = difference(|s| s.end().unwrap_or(0));
            let committed = difference(|s| s.committed().unwrap_or(0));
            let events = difference(|s| s.events_total as i64);
            (ended - written, events - committed)
        }
        _ => (0, 0),
    };
    let written_at = |at: f64| {
        samples
            .iter()
            .find(|s| s.at >= at)
            .or(samples.last())
            .map_or(0, |s| s.written)
    };
    FaultFigures {
        written: written_at(until).saturating_sub(written_at(run.started)),
        largest_lag: during.iter().filter_map(|s| s.lag()).max(),
        largest_p99_ms: during
            .iter()
            .filter_map(|s| s.p99_ms)
            .max_by(f64::total_cmp),
        resent_by_connect,
        rewritten_by_consumers,
        unhealthy_seconds,
        ingester_errors: match (during.first(), during.last()) {
            (Some(first), Some(last)) => last.ingester_errors.saturating_sub(first.ingester_errors),
            _ => 0,
        },
    }
}

/// The faults' table in Markdown.
pub fn fault_table(runs: &[FaultRun], samples: &[Sample], health: &Health) -> String {
    let mut table = String::from(
        "| fault | what was done | at | changes written meanwhile | healthy again after | \
         unhealthy meanwhile | \
         largest lag (messages) | largest p99 (1 s windows) | re-sent by Connect | \
         rewritten by a consumer | ingester errors |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in runs {
        let figures = figures(run, samples, health);
        let healthy = run.healthy.map_or("**never**".to_owned(), |at| {
            format!("{:.0} s", at - run.started)
        });
        let healthy = format!("{healthy} (undone after {:.0} s)", run.undone - run.started);
        table.push_str(&format!(
            "| {} | {} | {:.0} s | {} | {healthy} | {} s | {} | {} | {} | {} | {} |\n",
            run.fault.name(),
            run.description,
            run.started,
            figures.written,
            figures.unhealthy_seconds,
            figures
                .largest_lag
                .map_or("unknown".to_owned(), |lag| lag.to_string()),
            figures.largest_p99_ms.map_or("none".to_owned(), p99_text),
            figures.resent_by_connect,
            figures.rewritten_by_consumers,
            figures.ingester_errors,
        ));
    }
    table
}

/// A p99 in milliseconds; at the histogram's highest bound (30 s) it is only known to be that
/// or more.
fn p99_text(p99_ms: f64) -> String {
    if p99_ms >= HIGHEST_BOUND_MS {
        format!("≥ {:.0} s", HIGHEST_BOUND_MS / 1000.0)
    } else {
        format!("{p99_ms:.0} ms")
    }
}
