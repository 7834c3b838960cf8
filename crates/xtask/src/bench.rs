//! `cargo xtask bench NAME`: one benchmark against the native stack, its figures written to
//! `bench/results/NAME.md` below a header that says what ran, on which commit, on what machine
//! and under what load. The header is written here, for every benchmark; the benchmark program
//! (a `harness = false` bench target) prints only its own Markdown on stdout, and its progress
//! on stderr.
//!
//! A figure must belong to a commit a reader can check out and rerun: a tree with uncommitted
//! changes is refused, unless `BENCH_ALLOW_DIRTY=1`, and then the header says so.

use std::process::Stdio;

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::config::Stack;
use crate::pipeline::cargo;
use crate::services;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Benchmark {
    /// Disk per change in PostgreSQL, Kafka (per codec) and Cassandra, the consumer's CPU per
    /// message, and the disk budget at the compose defaults.
    Disk,
}

impl Benchmark {
    fn name(self) -> &'static str {
        match self {
            Benchmark::Disk => "disk",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Benchmark::Disk => "Disk per change in every store, and the consumer's CPU per codec",
        }
    }

    /// The package and bench target that measure it.
    fn target(self) -> (&'static str, &'static str) {
        match self {
            Benchmark::Disk => ("cdc-consumer", "disk"),
        }
    }

    /// Environment variables that change what it measures, recorded in the header.
    fn knob_prefix(self) -> &'static str {
        match self {
            Benchmark::Disk => "DISK_BENCH_",
        }
    }
}

pub async fn run(stack: &Stack, benchmark: Benchmark) -> anyhow::Result<()> {
    let root = &stack.workspace_root;
    let tree = tree_state(stack)?;
    let header = Header {
        commit: git(stack, &["rev-parse", "HEAD"])?,
        tree,
        started: chrono_free_utc_now()?,
        load: std::fs::read_to_string("/proc/loadavg")
            .map(|load| {
                load.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|_| "unknown".to_owned()),
        knobs: std::env::vars()
            .filter(|(name, _)| name.starts_with(benchmark.knob_prefix()))
            .map(|(name, value)| format!("{name}={value}"))
            .collect(),
    };
    services::up(stack).await?;
    let (package, target) = benchmark.target();
    tracing::info!("running {package}'s bench {target}");
    let output = cargo()
        .args(["bench", "-p", package, "--bench", target])
        .envs(stack.client_environment())
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run cargo bench -p {package} --bench {target}"))?;
    if !output.status.success() {
        bail!(
            "the {} benchmark failed ({})",
            benchmark.name(),
            output.status
        );
    }
    let body = String::from_utf8(output.stdout).context("the benchmark's output is not UTF-8")?;
    let results = root
        .join("bench/results")
        .join(format!("{}.md", benchmark.name()));
    std::fs::create_dir_all(results.parent().context("results path")?)?;
    std::fs::write(&results, header.render(benchmark) + "\n" + &body)
        .with_context(|| format!("writing {}", results.display()))?;
    tracing::info!("wrote {}", results.display());
    Ok(())
}

struct Header {
    commit: String,
    tree: &'static str,
    started: String,
    load: String,
    knobs: Vec<String>,
}

impl Header {
    fn render(&self, benchmark: Benchmark) -> String {
        let knobs = if self.knobs.is_empty() {
            String::new()
        } else {
            format!("{} ", self.knobs.join(" "))
        };
        format!(
            "# {title}\n\n\
             - reproduce: `{knobs}cargo xtask bench {name}`\n\
             - commit: {commit} ({tree})\n\
             - started: {started}\n\
             - machine: {machine}\n\
             - load average before the run: {load}\n\
             - targets and their sources: BENCHMARKS.md\n",
            title = benchmark.title(),
            name = benchmark.name(),
            commit = self.commit,
            tree = self.tree,
            started = self.started,
            machine = machine(),
            load = self.load,
        )
    }
}

/// Refuses uncommitted changes (results files aside) unless `BENCH_ALLOW_DIRTY=1`.
fn tree_state(stack: &Stack) -> anyhow::Result<&'static str> {
    let changes = git(
        stack,
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!bench/results",
        ],
    )?;
    if changes.is_empty() {
        return Ok("clean tree");
    }
    if std::env::var("BENCH_ALLOW_DIRTY").as_deref() == Ok("1") {
        return Ok("UNCOMMITTED CHANGES: these figures belong to no commit");
    }
    bail!("the work tree has uncommitted changes; commit first (or BENCH_ALLOW_DIRTY=1)")
}

fn git(stack: &Stack, args: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(&stack.workspace_root)
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The current UTC time as ISO 8601, from `date` (xtask has no date library).
fn chrono_free_utc_now() -> anyhow::Result<String> {
    let output = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .context("cannot run date")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Kernel, cores and CPU model.
fn machine() -> String {
    let kernel = std::process::Command::new("uname")
        .arg("-srm")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{kernel}, {cores} cores, {model}")
}
