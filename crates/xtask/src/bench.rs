//! `cargo xtask bench NAME`: one benchmark, its figures written to `bench/results/NAME.md` below
//! a header that says what ran (with the knobs that were set), on which commit, on what machine
//! and under what load. The header is written here, once for every benchmark; the measuring
//! programs (`harness = false` bench targets, criterion, the blog's Python baselines) print
//! their own figures, and this module adds what surrounds them.
//!
//! A figure must belong to a commit a reader can check out and rerun: a tree with uncommitted
//! changes is refused, unless `BENCH_ALLOW_DIRTY=1`, and then the header says so. The targets
//! each result is judged against, and where they come from, are in BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use clap::ValueEnum;
use stack_fixtures::cargo::{cargo, without_package_variables};

use crate::config::Stack;
use crate::install;
use crate::services::{self, Service, connect};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Benchmark {
    /// Decoding Debezium JSON: the Rust decoder against the blog's Python, on one core.
    Decode,
    /// One full-market ticker poll parsed and written to PostgreSQL.
    Ingester,
    /// Commit in PostgreSQL → row in Cassandra, per stage, at 1,000 and 5,000 changes/s, and
    /// each service's CPU while idle.
    Latency,
    /// cdc-consumer's throughput into Cassandra against a raw driver writer and the blog's
    /// design, with Cassandra on a core of its own and sharing both cores.
    Consumer,
    /// Disk per change in PostgreSQL, Kafka (per codec) and Cassandra, the consumer's CPU per
    /// message, the disk budget at the compose defaults, and the first start with every symbol.
    Disk,
}

impl Benchmark {
    fn name(self) -> &'static str {
        match self {
            Benchmark::Decode => "decode",
            Benchmark::Ingester => "ingester",
            Benchmark::Latency => "latency",
            Benchmark::Consumer => "consumer",
            Benchmark::Disk => "disk",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Benchmark::Decode => "Decoding Debezium JSON: Rust decoder vs the blog's Python",
            Benchmark::Ingester => "ingester: one full-market poll",
            Benchmark::Latency => "Pipeline latency: commit in PostgreSQL → row in Cassandra",
            Benchmark::Consumer => "cdc-consumer: throughput into Cassandra",
            Benchmark::Disk => "Disk per change in every store, and the consumer's CPU per codec",
        }
    }

    /// The results file's name: a sweep of Debezium's poll interval gets a file of its own, so
    /// that it does not replace the latency at the connector file's settings.
    fn results_name(self) -> &'static str {
        match self {
            Benchmark::Latency if std::env::var_os("BENCH_POLL_INTERVAL_MS").is_some() => {
                "latency-poll-interval"
            }
            _ => self.name(),
        }
    }

    /// The environment variables that change what it measures, recorded in the header.
    fn knobs(self) -> &'static [&'static str] {
        match self {
            Benchmark::Decode => &["DECODE_BENCH_RUST_SECONDS", "DECODE_BENCH_PYTHON_SECONDS"],
            Benchmark::Ingester => &[],
            Benchmark::Latency => &[
                "BENCH_RATES",
                "BENCH_ROUNDS",
                "BENCH_SECONDS",
                "BENCH_WARMUP_SECONDS",
                "BENCH_IDLE_SECONDS",
                "BENCH_POLL_INTERVAL_MS",
            ],
            Benchmark::Consumer => &[
                "BENCH_EVENTS",
                "BENCH_LANES",
                "BENCH_RUNS",
                "BENCH_COMPRESSION",
            ],
            Benchmark::Disk => &[
                "DISK_BENCH_POLLS",
                "DISK_BENCH_ROUNDS",
                "DISK_BENCH_VARIANTS",
            ],
        }
    }
}

pub async fn run(stack: &Stack, benchmark: Benchmark) -> anyhow::Result<()> {
    let results = Results::of(benchmark);
    let header = Header::begin(stack, results.knobs)?;
    // Decoding runs on generated events alone; every other benchmark needs the stack.
    if !matches!(benchmark, Benchmark::Decode) {
        services::up(stack).await?;
    }
    let body = match benchmark {
        Benchmark::Decode => decode(stack)?,
        Benchmark::Ingester => ingester(stack)?,
        Benchmark::Latency => latency(stack).await?,
        Benchmark::Consumer => consumer(stack)?,
        Benchmark::Disk => {
            let per_change = bench_program(stack, "cdc-consumer", "disk", &[])?;
            let first_start = bench_program(stack, "ingester", "first_start", &[])?;
            format!("{per_change}\n{first_start}")
        }
    };
    results.write(stack, &header, &body)
}

/// How long the drill's faults last, or the search for the pipeline's ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrillProfile {
    /// Every fault with outages of 15 s, at 300 changes/s: a few minutes, for CI.
    Short,
    /// Every fault with outages of 60 s, at 1,000 changes/s (400 on the high-availability
    /// stack, which writes everything three times).
    Full,
    /// No fault: the direct writes raised step by step (`DRILL_CEILING_RATES`, each held for
    /// `DRILL_STEP_SECONDS`, 120) until the pipeline no longer keeps up; each process's CPU per
    /// step shows what saturates first.
    Ceiling,
}

#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// How long the faults last and how much load runs meanwhile (`DRILL_RATE` and
    /// `DRILL_OUTAGE_SECONDS` override its figures), or the ceiling search.
    #[arg(long, env = "DRILL_PROFILE", value_enum, default_value_t = DrillProfile::Full)]
    profile: DrillProfile,
}

/// `cargo xtask drill`: the pipeline under steady load (the simulator, the ingester and direct
/// PostgreSQL writes) while faults are injected one at a time, then `verify` on both tables.
/// Writes `bench/results/drill.md` (`drill-short.md` for the short profile, `drill-ha…` on the
/// high-availability stack) and its plot.
pub async fn drill(stack: &Stack, args: &DrillArgs) -> anyhow::Result<()> {
    let results = Results::of_drill(args.profile, stack.topology.is_ha());
    let header = Header::begin(stack, results.knobs)?;
    // The plot's labels are set in DejaVu Sans.
    install::ensure_debian_packages(&["fonts-dejavu-core".to_owned()])?;
    services::up(stack).await?;
    // A drill killed midway leaves its pipeline behind, whose connector would still poll.
    stack_fixtures::remove_leftovers(&stack.fixture_environment())
        .await
        .context("removing what an earlier drill or test run left in the stack")?;
    let built = cargo()
        .args(["build", "--release", "--bin", "ingester"])
        .current_dir(&stack.workspace_root)
        .status()
        .context("cannot run cargo build")?;
    anyhow::ensure!(built.success(), "building the ingester failed");
    let ingester = stack.workspace_root.join("target/release/ingester");
    let plot = results.path(stack, "png");
    let profile = match args.profile {
        DrillProfile::Short => "short",
        DrillProfile::Full => "full",
        DrillProfile::Ceiling => "ceiling",
    };
    // For the ceiling's CPU per process.
    let pids = services::node_pids(stack);
    let figures = bench_program(
        stack,
        "cdc-consumer",
        "drill",
        &[
            ("DRILL_PROFILE", profile),
            ("DRILL_INGESTER", &ingester.to_string_lossy()),
            ("DRILL_PLOT", &plot.to_string_lossy()),
            ("BENCH_SERVICE_PIDS", &pids),
        ],
    );
    // A fault the drill could not undo (it failed midway) must not leave a service down.
    services::up(stack).await?;
    results.write(stack, &header, &figures?)
}

/// A results file: its title, the command that reproduces it, the knobs it records, its name.
struct Results {
    title: &'static str,
    command: String,
    knobs: &'static [&'static str],
    name: &'static str,
}

impl Results {
    fn of(benchmark: Benchmark) -> Self {
        Results {
            title: benchmark.title(),
            command: format!("cargo xtask bench {}", benchmark.name()),
            knobs: benchmark.knobs(),
            name: benchmark.results_name(),
        }
    }

    fn of_drill(profile: DrillProfile, ha: bool) -> Self {
        let (command, name) = match (profile, ha) {
            (DrillProfile::Short, false) => ("cargo xtask drill --profile short", "drill-short"),
            (DrillProfile::Full, false) => ("cargo xtask drill", "drill"),
            (DrillProfile::Short, true) => {
                ("cargo xtask drill --ha --profile short", "drill-ha-short")
            }
            (DrillProfile::Full, true) => ("cargo xtask drill --ha", "drill-ha"),
            (DrillProfile::Ceiling, false) => ("cargo xtask drill --profile ceiling", "ceiling"),
            (DrillProfile::Ceiling, true) => {
                ("cargo xtask drill --ha --profile ceiling", "ceiling-ha")
            }
        };
        let title = match profile {
            DrillProfile::Ceiling => {
                "The pipeline's ceiling: the highest steady rate it keeps up with"
            }
            _ => "Chaos drill: faults under load, then verify",
        };
        Results {
            title,
            command: command.to_owned(),
            knobs: &[
                "DRILL_RATE",
                "DRILL_OUTAGE_SECONDS",
                "DRILL_CEILING_RATES",
                "DRILL_STEP_SECONDS",
            ],
            name,
        }
    }

    fn path(&self, stack: &Stack, extension: &str) -> PathBuf {
        stack
            .workspace_root
            .join("bench/results")
            .join(format!("{}.{extension}", self.name))
    }

    fn write(&self, stack: &Stack, header: &Header, body: &str) -> anyhow::Result<()> {
        let path = self.path(stack, "md");
        std::fs::create_dir_all(path.parent().context("results path")?)?;
        std::fs::write(&path, header.render(self) + body)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", std::fs::read_to_string(&path)?);
        tracing::info!("wrote {}", path.display());
        Ok(())
    }
}

/// Runs a `harness = false` bench target with the stack's environment (and `environment`);
/// its stdout is the figures, its stderr the progress, shown as it comes.
fn bench_program(
    stack: &Stack,
    package: &str,
    target: &str,
    environment: &[(&str, &str)],
) -> anyhow::Result<String> {
    bench_command(stack, package, target, environment, None)
}

/// As [`bench_program`], optionally started pinned to CPUs through `taskset -c`.
fn bench_command(
    stack: &Stack,
    package: &str,
    target: &str,
    environment: &[(&str, &str)],
    pinned_to: Option<&str>,
) -> anyhow::Result<String> {
    // Built first, on every core; only the measurement runs pinned.
    let built = cargo()
        .args(["bench", "-p", package, "--bench", target, "--no-run"])
        .current_dir(&stack.workspace_root)
        .status()
        .context("cannot run cargo bench --no-run")?;
    if !built.success() {
        bail!("building {package}'s bench {target} failed");
    }
    let mut command = match pinned_to {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command
                .args(["-c", cpus])
                .arg(stack_fixtures::cargo::program());
            without_package_variables(&mut command);
            command
        }
        None => cargo(),
    };
    tracing::info!("running {package}'s bench {target}");
    command
        .args(["bench", "-p", package, "--bench", target])
        .envs(stack.client_environment())
        .envs(environment.iter().copied())
        .current_dir(&stack.workspace_root);
    captured_stdout(&mut command, &format!("{package}'s bench {target}"))
}

/// Runs `command`, showing its stderr; its stdout, or an error naming `what`.
fn captured_stdout(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!("{what} failed ({})", output.status);
    }
    String::from_utf8(output.stdout).with_context(|| format!("{what} printed no UTF-8"))
}

fn ingester(stack: &Stack) -> anyhow::Result<String> {
    let figures = bench_program(stack, "ingester", "full_market_poll", &[])?;
    Ok(format!(
        "- PostgreSQL: the native stack's, on the same machine; a database of the benchmark's own\n\n\
         {figures}\n\
         The fetch column is the simulator rendering 2,000 tickers plus HTTP on the same 2 cores;\n\
         it is shown for context and kept out of the ingester's own parse and write times.\n"
    ))
}

/// The latency benchmark on a pipeline of its own, with the stack's own connector stopped
/// meanwhile: its polling would otherwise count in Connect's idle CPU, and its changes (should
/// `cargo xtask run` be writing) in the machine's load.
async fn latency(stack: &Stack) -> anyhow::Result<String> {
    let pids = services::node_pids(stack);
    let (connector, _) = connect::read_connector_file(stack)?;
    connect::stop(stack, &connector).await?;
    let figures = bench_program(
        stack,
        "cdc-consumer",
        "latency",
        &[("BENCH_SERVICE_PIDS", pids.as_str())],
    );
    let resumed = connect::resume(stack, &connector).await;
    let figures = figures?;
    resumed?;
    Ok(format!(
        "- path: PostgreSQL (logical WAL) → Debezium on Kafka Connect → Kafka → cdc-consumer → \
         Cassandra, all on this machine; the stack's own connector ({connector}) stopped meanwhile\n\
         {figures}\n\
         Each latency is the consumer's at the acknowledged Cassandra write: now minus the commit\n\
         time Debezium reports (`source.ts_us`), from `cdc_consumer_end_to_end_seconds`. The stages\n\
         (`cdc_consumer_stage_seconds`) split it: commit → Debezium is the envelope's `ts_ms` minus\n\
         `source.ts_us`; Debezium → Kafka the record's timestamp minus `ts_ms`; Kafka → consumer the\n\
         receipt minus the record's timestamp; the lane wait until the change's first write starts;\n\
         the Cassandra write until acknowledged. Quantiles are interpolated within the histograms'\n\
         buckets, so stage quantiles need not add up to the total's. Idle CPU counts PostgreSQL's\n\
         postmaster with its children.\n"
    ))
}

/// The throughput benchmark twice: everything sharing both cores, then Cassandra on a core of
/// its own (as on its own host) and every other service and the writer on the other.
fn consumer(stack: &Stack) -> anyhow::Result<String> {
    let python = blog_python(stack)?;
    let python = python.to_string_lossy().into_owned();
    tracing::info!("the throughput benchmark, every service sharing both cores");
    let shared = bench_program(
        stack,
        "cdc-consumer",
        "throughput",
        &[("BLOG_PYTHON", python.as_str())],
    )?;
    let pinned = if has_taskset()
        && std::thread::available_parallelism().map_or(1, usize::from) >= 2
    {
        let pins = Pins::apply(stack)?;
        tracing::info!("the throughput benchmark, Cassandra on CPU 1 and everything else on CPU 0");
        let figures = bench_command(
            stack,
            "cdc-consumer",
            "throughput",
            &[("BENCH_LANES", ""), ("BENCH_CORES", "pinned")],
            Some("0"),
        );
        drop(pins);
        figures?
    } else {
        "(not run: needs taskset and at least 2 cores)\n".to_owned()
    };
    Ok(format!(
        "- services: the native stack's Kafka, Kafka Connect (idle, polling) and Cassandra (1 GB heap)\n\n\
         ## Cassandra on a core of its own (target ≥ 80 % of the raw writer in every round)\n\n\
         Cassandra pinned to CPU 1; the writer being measured, Kafka, Connect and PostgreSQL to CPU 0.\n\
         Both writers meet the same Cassandra capacity, as they would with Cassandra on its own host.\n\
         The sweep over `--max-in-flight` and the blog baseline are left to the shared run.\n\n\
         {pinned}\n\
         ## Everything sharing both cores (target ≥ 70 % of the raw writer in every round)\n\n\
         What a one-box install sees: the consumer's Kafka fetches and decoding (and the broker\n\
         serving them) take CPU that Cassandra would otherwise use, which the raw writer does not.\n\n\
         {shared}\n\
         ## How it is measured\n\n\
         Both writers are timed over the same window: from their first acknowledged write to 90 % of\n\
         the rows (at most 20 s), so start-up, ramp and drain are left out alike. cdc-consumer's count\n\
         is its `cdc_consumer_events_total`, sampled every 50 ms; the raw writer writes rows already\n\
         decoded and mapped in memory and counts its own acknowledgements. Raw and consumer\n\
         runs alternate, and each consumer run is compared with the mean of its neighbouring raw\n\
         runs. The blog's design is `bench/blog_consumer.py` (confluent-kafka, the blog's decode, a\n\
         prepared statement executed synchronously per message) over 20 s of the same topic. Peak RSS\n\
         is the consumer's VmHWM after it worked through a backlog of the whole topic.\n"
    ))
}

/// The stack's services pinned (Cassandra to CPU 1, the others to CPU 0) until dropped, which
/// gives every service both cores again.
struct Pins(Vec<u32>);

impl Pins {
    fn apply(stack: &Stack) -> anyhow::Result<Self> {
        let mut pins = Pins(Vec::new());
        for service in Service::ALL {
            let pid = service
                .pid(stack)
                .with_context(|| format!("{} is not running", service.name()))?;
            let cpu = if service == Service::Cassandra {
                "1"
            } else {
                "0"
            };
            pins.0.push(pid);
            set_affinity(pid, cpu)?;
        }
        Ok(pins)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let every_cpu = format!(
            "0-{}",
            std::thread::available_parallelism().map_or(1, usize::from) - 1
        );
        for pid in &self.0 {
            if let Err(error) = set_affinity(*pid, &every_cpu) {
                tracing::warn!("could not give process {pid} every CPU back: {error:#}");
            }
        }
    }
}

/// Every thread of `pid` onto `cpus` (a JVM's threads each have their own affinity).
fn set_affinity(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("cannot run taskset")?;
    if !status.success() {
        bail!("taskset -a -p -c {cpus} {pid} failed");
    }
    Ok(())
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A Python with the blog baseline's packages, in a virtual environment of the cache directory.
fn blog_python(stack: &Stack) -> anyhow::Result<PathBuf> {
    let venv = stack.cache_dir.join("bench-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import cassandra, confluent_kafka"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !ready {
        tracing::info!(
            "installing the blog baseline's Python packages into {}",
            venv.display()
        );
        run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run_checked(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "confluent-kafka==2.16.1",
            "cassandra-driver==3.30.1",
        ]))?;
    }
    Ok(python)
}

fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Criterion's median and mean for the Rust decoder and the blog's decode over the same
/// events, both pinned to one core.
fn decode(stack: &Stack) -> anyhow::Result<String> {
    let root = &stack.workspace_root;
    let rust_seconds = knob("DECODE_BENCH_RUST_SECONDS", 20)?;
    let python_seconds = knob("DECODE_BENCH_PYTHON_SECONDS", 10)?;
    let events = root.join("bench/ticker_events.jsonl");
    run_checked(
        cargo()
            .args(["run", "--release", "--quiet", "-p", "debezium"])
            .args(["--example", "write_bench_events", "--"])
            .arg(&events)
            .current_dir(root),
    )?;
    let (pin, pinning): (&[&str], &str) = if has_taskset() {
        (&["taskset", "-c", "0"], "pinned to CPU 0 with taskset")
    } else {
        (&[], "not pinned (no taskset)")
    };
    let pinned = |program: &str| {
        let mut command = Command::new(pin.first().copied().unwrap_or(program));
        if !pin.is_empty() {
            command.args(&pin[1..]).arg(program);
        }
        command.current_dir(root);
        without_package_variables(&mut command);
        command
    };
    // Built first, so that compiling stays out of the pinned, timed run.
    let decode_bench = [
        "bench",
        "--quiet",
        "-p",
        "debezium",
        "--bench",
        "decode_ticker",
    ];
    run_checked(cargo().args(decode_bench).arg("--no-run").current_dir(root))?;
    tracing::info!("Rust: criterion, {rust_seconds} s");
    run_checked(
        pinned(&stack_fixtures::cargo::program())
            .args(decode_bench)
            .arg("--")
            .args([
                "--warm-up-time",
                "3",
                "--measurement-time",
                &rust_seconds.to_string(),
            ])
            .args(["--sample-size", "50", "--noplot"]),
    )?;
    tracing::info!("Python: the blog's decode, {python_seconds} s");
    let python_output = captured_stdout(
        pinned("python3")
            .arg("bench/blog_decode.py")
            .arg(&events)
            .args(["--seconds", &python_seconds.to_string()]),
        "bench/blog_decode.py",
    )?;
    let python_rate = |label: &str| -> anyhow::Result<f64> {
        python_output
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .with_context(|| format!("bench/blog_decode.py printed no `{label}`"))?
            .trim()
            .parse()
            .with_context(|| format!("bench/blog_decode.py's {label}"))
    };
    let (python_median, python_mean) = (
        python_rate("median events/s:")?,
        python_rate("mean events/s:")?,
    );
    let rust =
        CriterionRates::read(&criterion_home(stack)?.join("decode_ticker/reused_decoder/new"))?;
    let ratio = rust.median / python_median;
    let text = std::fs::read_to_string(&events)?;
    let lines = text.lines().count().max(1);
    let bytes_each = (text.len() - lines) / lines;
    let versions = format!(
        "{}, {}",
        command_output("rustc", &["--version"]),
        command_output("python3", &["--version"])
    );
    Ok(format!(
        "- toolchains: {versions}\n\
         - input: `bench/ticker_events.jsonl`, {lines} distinct `ticker_24h` inserts, {bytes_each} bytes each on average, as Debezium 3.x's PostgreSQL connector writes them (JSON converter, schemas, precise decimals)\n\
         - both sides {pinning}; the Rust decoder is one `Decoder` reused for every message (schema cache warm, as in the consumer)\n\n\
         | decoder | events/s (median) | events/s (mean) |\n\
         |---|---:|---:|\n\
         | Rust `debezium::Decoder` (criterion, 50 samples; median's 95 % CI {low:.0}–{high:.0}) | {median:.0} | {mean:.0} |\n\
         | blog's Python (`bench/blog_decode.py`, passes over {python_seconds} s) | {python_median:.0} | {python_mean:.0} |\n\
         | **ratio** | **{ratio:.1}×** | {mean_ratio:.1}× |\n\n\
         {verdict}\n",
        low = rust.median_low,
        high = rust.median_high,
        median = rust.median,
        mean = rust.mean,
        mean_ratio = rust.mean / python_mean,
        verdict = verdict(
            "decoding, ours against the blog's (medians, one core)",
            &format!("{ratio:.1}×"),
            "≥ 20×",
            ratio >= 20.0
        ),
    ))
}

/// Events per second from criterion's estimates of one benchmark (criterion stores nanoseconds
/// per iteration; an iteration handles `Elements` events).
struct CriterionRates {
    median: f64,
    mean: f64,
    median_low: f64,
    median_high: f64,
}

impl CriterionRates {
    fn read(directory: &Path) -> anyhow::Result<Self> {
        let json = |file: &str| -> anyhow::Result<serde_json::Value> {
            let path = directory.join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading criterion's {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        let estimates = json("estimates.json")?;
        let events = json("benchmark.json")?["throughput"]["Elements"]
            .as_f64()
            .context("criterion's benchmark.json has no throughput in elements")?;
        let nanoseconds = |pointer: &str| {
            estimates
                .pointer(pointer)
                .and_then(serde_json::Value::as_f64)
                .with_context(|| format!("criterion's estimates.json has no {pointer}"))
        };
        let rate = |pointer: &str| nanoseconds(pointer).map(|ns| events / (ns * 1e-9));
        Ok(CriterionRates {
            median: rate("/median/point_estimate")?,
            mean: rate("/mean/point_estimate")?,
            // The slowest time is the lowest rate.
            median_low: rate("/median/confidence_interval/upper_bound")?,
            median_high: rate("/median/confidence_interval/lower_bound")?,
        })
    }
}

/// Where criterion writes: `CRITERION_HOME`, else `criterion/` in cargo's target directory.
fn criterion_home(stack: &Stack) -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Ok(PathBuf::from(home));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| stack.workspace_root.join("target"));
    Ok(target.join("criterion"))
}

fn knob(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name}={value} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// One line judging a figure against its target.
fn verdict(what: &str, measured: &str, target: &str, met: bool) -> String {
    let outcome = if met { "**met**" } else { "**not met**" };
    format!("- {what}: {measured} — target {target}: {outcome}")
}

struct Header {
    commit: String,
    tree: &'static str,
    started: String,
    load: String,
    knobs: Vec<String>,
}

impl Header {
    /// Records the state before the run; refuses uncommitted changes unless
    /// `BENCH_ALLOW_DIRTY=1`.
    fn begin(stack: &Stack, knobs: &[&str]) -> anyhow::Result<Self> {
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
        let tree = if changes.is_empty() {
            "clean tree"
        } else if std::env::var("BENCH_ALLOW_DIRTY").as_deref() == Ok("1") {
            "UNCOMMITTED CHANGES: these figures belong to no commit"
        } else {
            bail!("the work tree has uncommitted changes; commit first (or BENCH_ALLOW_DIRTY=1)")
        };
        Ok(Header {
            commit: git(stack, &["rev-parse", "HEAD"])?,
            tree,
            started: command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            load: std::fs::read_to_string("/proc/loadavg")
                .map(|load| {
                    load.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|_| "unknown".to_owned()),
            knobs: knobs
                .iter()
                .filter_map(|name| Some(format!("{name}={}", std::env::var(name).ok()?)))
                .collect(),
        })
    }

    fn render(&self, results: &Results) -> String {
        let knobs: String = self.knobs.iter().map(|knob| format!("{knob} ")).collect();
        format!(
            "# {title}\n\n\
             - reproduce: `{knobs}{command}`\n\
             - commit: {commit} ({tree})\n\
             - started: {started}\n\
             - machine: {machine}\n\
             - load average before the run: {load}\n\
             - targets and their sources: BENCHMARKS.md\n",
            title = results.title,
            command = results.command,
            commit = self.commit,
            tree = self.tree,
            started = self.started,
            machine = machine(),
            load = self.load,
        )
    }
}

fn git(stack: &Stack, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
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

/// A command's trimmed stdout, or "unknown" (only for the header's descriptions).
fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Kernel, cores and CPU model.
fn machine() -> String {
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
    format!(
        "{}, {cores} cores, {model}",
        command_output("uname", &["-srm"])
    )
}
