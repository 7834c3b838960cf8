//! The pipeline's ceiling, run by `cargo xtask drill --profile ceiling`: no fault, the direct
//! writer's rate raised step by step (`DRILL_CEILING_RATES`), each step held for
//! `DRILL_STEP_SECONDS` (120). A step is sustained when PostgreSQL took the rate and the
//! group's lag stayed bounded over the step's second half; the ceiling is the highest sustained
//! step, and each process's CPU per step shows which component saturates first. The search stops
//! at the first step not sustained.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::observe::Sample;
use crate::support::{cpu_cells, cpu_over};
use stack_fixtures::processes::machine_ticks;

/// Share of the second half's seconds whose lag must be within the bound: a second of GC or a
/// commit landing late is no saturation, a lag that grows is.
const BOUNDED_SHARE: f64 = 0.9;
/// Share of the step's rate PostgreSQL must have committed: below it the writer, not the
/// pipeline, is what stopped.
const REACHED_SHARE: f64 = 0.95;

/// One step of the search, as measured.
pub struct Step {
    pub rate: u32,
    /// Changes a second PostgreSQL committed during the step (direct and the ingester's).
    pub achieved: f64,
    /// The lag bound of this rate: two seconds of its load, and a poll of every symbol on top.
    pub max_lag: i64,
    /// Share of the second half's seconds whose lag was within `max_lag`.
    pub bounded_share: f64,
    /// The largest lag, and the largest second's p99, over the second half.
    pub worst_lag: i64,
    pub worst_p99_ms: f64,
    /// Each process's CPU over the step, as a share of one core.
    pub cpu: Vec<(String, f64)>,
    /// The machine's busy share of all its cores over the step: near 1, the box is the limit.
    pub machine_busy: f64,
}

impl Step {
    pub fn sustained(&self) -> bool {
        self.shortfall().is_none()
    }

    /// Why the step was not sustained: the lag grew (the pipeline fell behind), or PostgreSQL
    /// did not take the rate (the writer's single connection, or PostgreSQL, is the limit).
    pub fn shortfall(&self) -> Option<&'static str> {
        if self.bounded_share < BOUNDED_SHARE {
            Some("lag")
        } else if self.achieved < f64::from(self.rate) * REACHED_SHARE {
            Some("writes")
        } else {
            None
        }
    }
}

/// The lag bound of `rate`: the drill's healthy bound, two seconds of load plus a poll of every
/// symbol.
pub fn max_lag(rate: u32) -> i64 {
    i64::from(rate) * 2 + 500
}

/// Judges one step from the samples taken during it (`from` and `to`, in the drill's seconds).
/// Pure.
pub fn judge(
    rate: u32,
    samples: &[Sample],
    (from, to): (f64, f64),
    cpu: Vec<(String, f64)>,
    machine_busy: f64,
) -> Step {
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.at >= from && sample.at <= to)
        .collect();
    let achieved = match (during.first(), during.last()) {
        (Some(first), Some(last)) if last.at > first.at => {
            (last.written - first.written) as f64 / (last.at - first.at)
        }
        _ => 0.0,
    };
    let half = from + (to - from) / 2.0;
    let second_half: Vec<&Sample> = during
        .iter()
        .copied()
        .filter(|sample| sample.at >= half)
        .collect();
    let bound = max_lag(rate);
    let lags: Vec<i64> = second_half
        .iter()
        .filter_map(|sample| sample.lag())
        .collect();
    // A second without a lag reading (Kafka slow to answer) counts as unbounded.
    let bounded_share = if second_half.is_empty() {
        0.0
    } else {
        lags.iter().filter(|lag| **lag <= bound).count() as f64 / second_half.len() as f64
    };
    Step {
        rate,
        achieved,
        max_lag: bound,
        bounded_share,
        worst_lag: lags.iter().copied().max().unwrap_or(0),
        worst_p99_ms: second_half
            .iter()
            .filter_map(|sample| sample.p99_ms)
            .fold(0.0, f64::max),
        cpu,
        machine_busy,
    }
}

/// Holds each rate of `rates` for `step`, measuring the CPU of every process of `processes`
/// (name, pid), until a step is not sustained.
pub async fn search(
    rates: &[u32],
    step: Duration,
    set_rate: impl Fn(u32),
    processes: &[(String, u32)],
    samples: &Arc<Mutex<Vec<Sample>>>,
    seconds: impl Fn() -> f64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for &rate in rates {
        set_rate(rate);
        let from = seconds();
        eprintln!("{from:>5.0} s: {rate} changes/s for {} s", step.as_secs());
        let machine_before = machine_ticks();
        let ((), cpu) = cpu_over(processes, tokio::time::sleep(step)).await;
        let machine_busy = match (machine_before, machine_ticks()) {
            (Some((busy_before, total_before)), Some((busy, total))) if total > total_before => {
                (busy - busy_before) as f64 / (total - total_before) as f64
            }
            _ => 0.0,
        };
        let measured = judge(
            rate,
            &samples.lock().await,
            (from, seconds()),
            cpu,
            machine_busy,
        );
        let sustained = measured.sustained();
        eprintln!(
            "{:>5.0} s: {rate}/s {} (PostgreSQL took {:.0}/s, lag within {} in {:.0} % of the \
             second half)",
            seconds(),
            if sustained {
                "sustained"
            } else {
                "not sustained"
            },
            measured.achieved,
            measured.max_lag,
            measured.bounded_share * 100.0
        );
        steps.push(measured);
        if !sustained {
            break;
        }
    }
    steps
}

/// The report's section: one row per step, each process's CPU, the ceiling and what used the
/// most CPU at the first step not sustained (or at the last step, when every step was).
pub fn report(steps: &[Step], step: Duration) -> String {
    let Some(first) = steps.first() else {
        return "No step ran.\n".to_owned();
    };
    let names: Vec<&str> = first.cpu.iter().map(|(name, _)| name.as_str()).collect();
    let mut text = format!(
        "## Steps\n\nEach rate held for {} s; sustained when PostgreSQL committed at least {:.0} % \
         of it and the group's lag stayed within two seconds of load + 500 in at least {:.0} % of \
         the second half's seconds; a step not sustained says which failed (the writes or \
         the lag). CPU is each process's over the step, as a share of one \
         core (a process's children count with it unless listed themselves); \
         \"machine\" is how busy both cores were: near 100 % the box, not one process, is the \
         limit.\n\n\
         | changes/s | PostgreSQL took/s | lag bound | within it | worst lag | worst p99 | {} | machine | sustained |\n\
         |---|---|---|---|---|---|{}---|---|\n",
        step.as_secs(),
        REACHED_SHARE * 100.0,
        BOUNDED_SHARE * 100.0,
        names.join(" | "),
        "---|".repeat(names.len()),
    );
    for measured in steps {
        text += &format!(
            "| {} | {:.0} | {} | {:.0} % | {} | {:.0} ms | {} | {:.0} % | {} |\n",
            measured.rate,
            measured.achieved,
            measured.max_lag,
            measured.bounded_share * 100.0,
            measured.worst_lag,
            measured.worst_p99_ms,
            cpu_cells(&measured.cpu),
            measured.machine_busy * 100.0,
            measured
                .shortfall()
                .map_or("yes".to_owned(), |shortfall| format!(
                    "**no** ({shortfall})"
                )),
        );
    }
    let ceiling = steps
        .iter()
        .filter(|measured| measured.sustained())
        .map(|measured| measured.rate)
        .max();
    let limiting = steps
        .iter()
        .find(|measured| !measured.sustained())
        .or(steps.last());
    let busiest = limiting.and_then(|measured| {
        measured
            .cpu
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, share)| {
                format!(
                    "{name} ({:.0} % of a core at {}/s)",
                    share * 100.0,
                    measured.rate
                )
            })
    });
    let machine = limiting.map_or(0.0, |measured| measured.machine_busy * 100.0);
    text += &format!(
        "\n- ceiling: **{}**\n- the busiest process {}: {}; both cores were {machine:.0} % busy\n",
        ceiling.map_or("below the first step".to_owned(), |rate| format!(
            "{rate} changes/s sustained"
        )),
        if steps.iter().all(Step::sustained) {
            "at the last step (every step was sustained: the ceiling is higher)"
        } else {
            "at the first step not sustained"
        },
        busiest.unwrap_or_else(|| "—".to_owned()),
    );
    text
}
