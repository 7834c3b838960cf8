//! What the consumer's benchmarks share: settings from the environment, the consumer binary as
//! a child process, its `/metrics`, and CPU and memory figures from /proc.
//!
//! Compiled into each benchmark; not every benchmark uses every helper.
#![allow(dead_code)]

use std::process::{Child, Command};

use stack_fixtures::processes;

/// A numeric knob from the environment (`BENCH_ROUNDS`, …), or `default` when unset.
pub fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A required setting, which `cargo xtask bench` exports.
pub fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run it through cargo xtask bench"))
}

/// `<prefix>_USERNAME` and `<prefix>_PASSWORD`: a Cassandra role, as `cargo xtask stack env`
/// exports them.
pub fn login(prefix: &str) -> cassandra_schema::access::Login {
    cassandra_schema::access::Login::new(
        env(&format!("{prefix}_USERNAME")),
        env(&format!("{prefix}_PASSWORD")),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The release `cdc-consumer` binary, set up for the stack in the environment, serving
/// `/metrics` on `address`; callers add group, topics and the rest.
pub fn consumer_command(address: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cdc-consumer"));
    command
        .env("KAFKA_BROKERS", env("KAFKA_BROKERS"))
        .env("CASSANDRA_NODES", env("CASSANDRA_NODES"))
        .env("CASSANDRA_USERNAME", env("CASSANDRA_USERNAME"))
        .env("CASSANDRA_PASSWORD", env("CASSANDRA_PASSWORD"))
        .env("CONSUMER_METRICS_LISTEN", address)
        .env("RUST_LOG", "warn");
    command
}

/// SIGTERM, then waits: the consumer commits and exits. One still running 30 s later fails the
/// benchmark (it bounds its own shutdown well within that).
pub fn stop(mut child: Child) {
    let bound = std::time::Duration::from_secs(30);
    if stack_fixtures::processes::terminate_within(&mut child, bound).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("cdc-consumer still running {bound:?} after SIGTERM");
    }
}

pub async fn metrics_text(http: &reqwest::Client, address: &str) -> Option<String> {
    http.get(format!("http://{address}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// Changes replicated so far: the sum of `cdc_consumer_events_total` over its labels.
pub async fn events_replicated(http: &reqwest::Client, address: &str) -> Option<u64> {
    let text = metrics_text(http, address).await?;
    Some(
        text.lines()
            .filter(|line| line.starts_with("cdc_consumer_events_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

/// Sum over count of a histogram in Prometheus text.
pub fn histogram_mean(text: &str, name: &str) -> Option<f64> {
    let value = |suffix: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("{name}_{suffix} ")))?
            .rsplit(' ')
            .next()?
            .parse::<f64>()
            .ok()
    };
    let count = value("count")?;
    (count > 0.0).then(|| value("sum").unwrap_or(0.0) / count)
}

/// A process's and its direct children's user + system CPU time so far, in ticks: a JVM is one
/// process, PostgreSQL a postmaster with a child per connection and background worker. Children
/// in `apart` are left out: they are measured on their own (the drill's consumers).
pub fn process_tree_ticks(pid: u32, apart: &[u32]) -> Option<u64> {
    let own = processes::cpu_ticks(pid)?;
    let children: u64 = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| !apart.contains(child))
        .filter(|child| processes::parent_pid(*child) == Some(pid))
        .filter_map(processes::cpu_ticks)
        .sum();
    Some(own + children)
}

/// `work`'s output, and each process's CPU while it ran, as a share of one core; a process's
/// children count with it unless they are listed themselves.
pub async fn cpu_over<T>(
    processes: &[(String, u32)],
    work: impl std::future::Future<Output = T>,
) -> (T, Vec<(String, f64)>) {
    let listed: Vec<u32> = processes.iter().map(|(_, pid)| *pid).collect();
    let ticks = |pid| process_tree_ticks(pid, &listed).unwrap_or(0);
    let before: Vec<u64> = processes.iter().map(|(_, pid)| ticks(*pid)).collect();
    let started = std::time::Instant::now();
    let output = work.await;
    let seconds = started.elapsed().as_secs_f64();
    let shares = processes
        .iter()
        .zip(before)
        .map(|((name, pid), before)| {
            let used = ticks(*pid).saturating_sub(before) as f64 / processes::ticks_per_second();
            (name.clone(), used / seconds)
        })
        .collect();
    (output, shares)
}

/// Markdown table cells of each process's CPU share, as whole percent of one core: `38 % | 5 %`.
pub fn cpu_cells(cpu: &[(String, f64)]) -> String {
    cpu.iter()
        .map(|(_, share)| format!("{:.0} %", share * 100.0))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `BENCH_SERVICE_PIDS`: `postgres=123,kafka=456,…`.
pub fn service_pids() -> Vec<(String, u32)> {
    std::env::var("BENCH_SERVICE_PIDS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (name, pid) = pair.split_once('=')?;
            Some((name.to_owned(), pid.parse().ok()?))
        })
        .collect()
}
