//! The "Pipeline health" dashboard (`grafana/dashboards/pipeline.json`) against a real
//! Prometheus, Debian's `prometheus` package (`cargo xtask stack up` installs it), scraping the
//! real binaries during an end-to-end run: the ingester polling the Binance simulator into the
//! test pipeline's database, Debezium, and the consumer writing into Cassandra.
//!
//! Prometheus scrapes them with the scrape configuration compose gives it
//! (`docker/prometheus.yml`: the same job names and labels, only the targets and the scrape
//! interval changed), so a dashboard query that disagrees with the compose scrape config, names
//! a metric the binaries do not serve, or is not valid PromQL fails here. Every panel query is
//! filled in as Grafana fills it in and must return at least one series with a value to draw
//! over the run; a query Prometheus refuses fails the test at once, naming the panel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::{RunningConsumer, TestPipeline};

/// The scrape interval of the test's Prometheus: short, so that rates have points within
/// seconds of the run starting.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the run may take for every panel to have data: the consumer's lag comes from
/// librdkafka's statistics every 5 s, once it has committed offsets.
const DATA_BOUND: Duration = Duration::from_secs(180);

fn workspace_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("no free local port")
        .port();
    format!("127.0.0.1:{port}")
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// The time range and data-source settings Grafana fills a panel's query in with.
#[derive(Debug, Clone, Copy)]
struct Grafana {
    /// The Prometheus data source's "Scrape interval" (`jsonData.timeInterval`), set to the
    /// interval Prometheus really scrapes at, as Grafana's documentation asks.
    scrape_interval: Duration,
    /// The dashboard's time range: `to - from`.
    range: Duration,
    /// The panel's "Max data points", by default its width in pixels.
    max_data_points: u32,
}

impl Grafana {
    /// `$__interval`: Grafana divides the time range by the panel's max data points, rounds it
    /// to a "nice" interval, and never goes below the data source's scrape interval. Over a run
    /// of minutes on a panel hundreds of pixels wide the quotient is under a second, so it is
    /// the scrape interval; rounding up to whole seconds stands in for the "nice" rounding.
    fn interval(&self) -> Duration {
        let per_point = self.range.as_secs_f64() / f64::from(self.max_data_points.max(1));
        Duration::from_secs(per_point.ceil() as u64).max(self.scrape_interval)
    }

    /// `$__rate_interval`: `max($__interval + scrape interval, 4 × scrape interval)`, so that a
    /// rate window always holds at least four scrapes, whatever the zoom.
    fn rate_interval(&self) -> Duration {
        (self.interval() + self.scrape_interval).max(self.scrape_interval * 4)
    }

    /// `expr` with Grafana's global variables filled in. The dashboard has no template
    /// variables; one it gains fails here until this test learns how to fill it in.
    fn fill_in(&self, expr: &str) -> Result<String, String> {
        let seconds = |duration: Duration| duration.as_secs().max(1);
        let interval = seconds(self.interval());
        let range = seconds(self.range);
        // Longest names first: `$__interval` is a prefix of `$__interval_ms`.
        let variables = [
            (
                "__rate_interval_ms",
                (seconds(self.rate_interval()) * 1000).to_string(),
            ),
            (
                "__rate_interval",
                format!("{}s", seconds(self.rate_interval())),
            ),
            ("__interval_ms", (interval * 1000).to_string()),
            ("__interval", format!("{interval}s")),
            ("__range_ms", (range * 1000).to_string()),
            ("__range_s", range.to_string()),
            ("__range", format!("{range}s")),
        ];
        let mut filled = expr.to_owned();
        for (name, value) in &variables {
            filled = filled
                .replace(&format!("${{{name}}}"), value)
                .replace(&format!("${name}"), value);
        }
        if filled.contains('$') {
            return Err(format!(
                "a variable this test cannot fill in as Grafana would is left in: {filled}"
            ));
        }
        Ok(filled)
    }
}

/// One query of the dashboard, as Grafana would send it.
struct PanelQuery {
    panel: String,
    ref_id: String,
    expr: String,
    instant: bool,
}

/// Every Prometheus query of the dashboard's panels (rows' nested panels included), except the
/// ones hidden in the editor, which Grafana does not run.
fn panel_queries(dashboard: &Value) -> Vec<PanelQuery> {
    fn walk(panels: &Value, found: &mut Vec<PanelQuery>) {
        for panel in panels.as_array().into_iter().flatten() {
            walk(&panel["panels"], found);
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let datasource = target["datasource"]["type"]
                    .as_str()
                    .or_else(|| panel["datasource"]["type"].as_str())
                    .unwrap_or_default();
                assert_eq!(
                    datasource, "prometheus",
                    "panel {title:?}: pipeline.json should query only Prometheus"
                );
                if target["hide"] == true {
                    continue;
                }
                found.push(PanelQuery {
                    panel: title.clone(),
                    ref_id: target["refId"].as_str().unwrap_or_default().to_owned(),
                    expr: target["expr"]
                        .as_str()
                        .unwrap_or_else(|| panic!("panel {title:?}: a target without expr"))
                        .to_owned(),
                    instant: target["instant"] == true && target["range"] != true,
                });
            }
        }
    }
    let mut found = vec![];
    walk(&dashboard["panels"], &mut found);
    found
}

/// Compose's Prometheus configuration (`docker/prometheus.yml`) turned into the test's: every
/// scrape interval is `SCRAPE_INTERVAL`, and each target `service:port` on the compose network
/// becomes the address where the test runs `service`. Job names, labels and everything else
/// stay as compose has them. Returned as JSON, which is YAML too.
fn scrape_config(compose: &str, addresses: &HashMap<&str, String>) -> Value {
    let mut config: Value =
        serde_norway::from_str(compose).expect("docker/prometheus.yml is not YAML");
    let interval = format!("{}s", SCRAPE_INTERVAL.as_secs());
    config["global"]["scrape_interval"] = Value::from(interval.clone());
    let jobs = config["scrape_configs"]
        .as_array_mut()
        .expect("docker/prometheus.yml has no scrape_configs");
    for job in jobs {
        if job.get("scrape_interval").is_some() {
            job["scrape_interval"] = Value::from(interval.clone());
        }
        let name = job["job_name"].as_str().unwrap_or_default().to_owned();
        let static_configs = job["static_configs"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("job {name}: only static_configs are understood here"));
        for static_config in static_configs {
            for target in static_config["targets"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                let compose_target = target.as_str().unwrap_or_default();
                let service = compose_target.split(':').next().unwrap_or_default();
                let address = addresses.get(service).unwrap_or_else(|| {
                    panic!(
                        "job {name} scrapes {compose_target}, a service this test does not run \
                         (it runs {:?})",
                        addresses.keys()
                    )
                });
                *target = Value::from(address.clone());
            }
        }
    }
    config
}

/// The job names a Prometheus configuration scrapes.
fn job_names(config: &Value) -> Vec<String> {
    let mut names: Vec<String> = config["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|job| job["job_name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Debian's `/usr/bin/prometheus`, or the first `prometheus` on `PATH`.
fn prometheus_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("prometheus"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin/prometheus"))
        .chain(on_path)
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Prometheus is not installed (no /usr/bin/prometheus, none on PATH): \
                 `cargo xtask stack up` installs it (Debian's prometheus package)"
            )
        })
}

/// A process of the run, killed when dropped, so that a failed test leaves none behind.
struct Running {
    name: &'static str,
    child: Child,
}

impl Running {
    fn spawn(name: &'static str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Self { name, child }
    }

    /// Fails the test if the process has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited during the run: {status}", self.name);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prometheus of the test's own: its configuration, data and log in a directory removed on
/// drop, its HTTP API on a free local port.
struct Prometheus {
    process: Running,
    address: String,
    directory: PathBuf,
}

impl Prometheus {
    fn start(config: &Value) -> Self {
        let binary = prometheus_binary();
        let directory = std::env::temp_dir().join(format!(
            "pipeline-dashboard-prometheus-{}-{}",
            std::process::id(),
            unix_seconds(SystemTime::now()) as u64
        ));
        std::fs::create_dir_all(&directory).expect("cannot create Prometheus's directory");
        let config_file = directory.join("prometheus.yml");
        std::fs::write(
            &config_file,
            serde_json::to_string_pretty(config).expect("a config"),
        )
        .expect("cannot write prometheus.yml");
        let log = std::fs::File::create(directory.join("prometheus.log"))
            .expect("cannot create Prometheus's log");
        let address = free_address();
        let process = Running::spawn(
            "prometheus",
            Command::new(binary)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    directory.join("data").display()
                ))
                .arg(format!("--web.listen-address={address}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        );
        Self {
            process,
            address,
            directory,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("prometheus.log")).unwrap_or_default()
    }

    /// Fails the test, with Prometheus's log, if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.process.child.try_wait() {
            panic!("prometheus exited ({status}):\n{}", self.log());
        }
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", self.address))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|error| panic!("Prometheus does not answer {path}: {error}"));
        let status = response.status().as_u16();
        let body = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("Prometheus's {path} is not JSON: {error}"));
        (status, body)
    }

    async fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            self.assert_running();
            let ready = reqwest::get(format!("http://{}/-/ready", self.address))
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Prometheus not ready within 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Each active target's job and health (`up`, `down`, `unknown`).
    async fn targets(&self) -> Vec<(String, String)> {
        let (_, body) = self.get("/api/v1/targets", &[]).await;
        body["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|target| {
                (
                    target["labels"]["job"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    target["health"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The path of `binaries` of other packages of the workspace, built (a no-op when up to date)
/// into this test's target directory and profile: `CARGO_BIN_EXE_*` names only this package's.
fn built_binaries(binaries: &[&str]) -> Vec<PathBuf> {
    let profile_dir = std::env::current_exe()
        .expect("the test's own path")
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps")
        .to_path_buf();
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let mut build = stack_fixtures::cargo::cargo();
    // Without this package's variables, this build is the one `cargo xtask test` makes.
    build
        .args(["build", "--quiet", "--profile", &profile])
        .args(binaries.iter().flat_map(|name| ["--bin", name]))
        .current_dir(workspace_file(""));
    let status = build.status().expect("cannot run cargo build");
    assert!(status.success(), "building {binaries:?} failed");
    binaries.iter().map(|name| profile_dir.join(name)).collect()
}

/// Whether a Prometheus query result has a value Grafana can draw: a finite sample in some
/// series (a quantile of no observations is NaN, which Grafana draws as nothing).
fn has_data(result: &Value) -> bool {
    let finite = |sample: &Value| {
        sample[1]
            .as_str()
            .and_then(|value| value.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    };
    result.as_array().into_iter().flatten().any(|series| {
        series["values"]
            .as_array()
            .into_iter()
            .flatten()
            .any(finite)
            || (series.get("value").is_some() && finite(&series["value"]))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pipeline_health_panel_has_data_in_a_real_prometheus() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_file("grafana/dashboards/pipeline.json"))
            .expect("cannot read grafana/dashboards/pipeline.json"),
    )
    .expect("pipeline.json is not JSON");
    let queries = panel_queries(&dashboard);
    assert!(!queries.is_empty(), "pipeline.json has no Prometheus query");
    let compose_config = std::fs::read_to_string(workspace_file("docker/prometheus.yml"))
        .expect("cannot read docker/prometheus.yml");
    // Before anything starts: fail fast, with the installer's name, when Prometheus is missing.
    prometheus_binary();

    let pipeline = TestPipeline::start("pipeline_dashboard").await;
    let binaries = built_binaries(&["ingester", "market-sim"]);
    let (ingester_binary, simulator_binary) = (&binaries[0], &binaries[1]);

    // The simulator in real time, so the ingester keeps finding new tickers and candles.
    let simulator_address = free_address();
    let mut simulator = Running::spawn(
        "market-sim",
        Command::new(simulator_binary)
            .env("MARKET_SIM_LISTEN", &simulator_address)
            .env("MARKET_SIM_SYMBOLS", "20")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null()),
    );
    crate::eventually(Duration::from_secs(30), "the simulator answering", || {
        simulator.assert_running();
        let url = format!("http://{simulator_address}/api/v3/ping");
        async move { reqwest::get(url).await.ok().map(|_| ()) }
    })
    .await;

    let mut consumer = RunningConsumer::start(&pipeline);
    let ingester_address = free_address();
    let mut ingester = Running::spawn(
        "ingester",
        Command::new(ingester_binary)
            .env("PG_URL", pipeline.database().ingester_url())
            .env("BINANCE_BASE_URL", format!("http://{simulator_address}"))
            .env("INGESTER_SYMBOLS", "BTCUSDT,ETHUSDT")
            .env("INGESTER_TICKER_PERIOD_SECS", "1")
            .env("INGESTER_KLINE_PERIOD_SECS", "1")
            .env("INGESTER_KLINE_HISTORY_HOURS", "1")
            .env("INGESTER_METRICS_LISTEN", &ingester_address)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null()),
    );

    // Compose's targets are its service names; here each is the address the test runs it on.
    let addresses = HashMap::from([
        ("ingester", ingester_address.clone()),
        ("cdc-consumer", consumer.operations_address.clone()),
    ]);
    let config = scrape_config(&compose_config, &addresses);
    let jobs = job_names(&config);
    let mut prometheus = Prometheus::start(&config);
    prometheus.wait_ready().await;
    let run_started = SystemTime::now();

    let started = Instant::now();
    loop {
        prometheus.assert_running();
        ingester.assert_running();
        simulator.assert_running();
        assert!(consumer.is_running(), "cdc-consumer exited during the run");
        let targets = prometheus.targets().await;
        let mut up: Vec<String> = targets
            .iter()
            .filter(|(_, health)| health == "up")
            .map(|(job, _)| job.clone())
            .collect();
        up.sort();
        if up == jobs {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus does not scrape every job of docker/prometheus.yml ({jobs:?}): {targets:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The run goes on until every panel has something to draw over it, or the bound passes.
    let mut empty: Vec<String>;
    loop {
        prometheus.assert_running();
        ingester.assert_running();
        simulator.assert_running();
        assert!(consumer.is_running(), "cdc-consumer exited during the run");
        let now = SystemTime::now();
        let grafana = Grafana {
            scrape_interval: SCRAPE_INTERVAL,
            range: now.duration_since(run_started).unwrap_or_default(),
            max_data_points: 1000,
        };
        empty = vec![];
        for query in &queries {
            let place = format!("panel {:?} query {}", query.panel, query.ref_id);
            let expr = grafana
                .fill_in(&query.expr)
                .unwrap_or_else(|error| panic!("{place}: {error}"));
            let (status, body) = if query.instant {
                prometheus
                    .get(
                        "/api/v1/query",
                        &[
                            ("query", expr.clone()),
                            ("time", unix_seconds(now).to_string()),
                        ],
                    )
                    .await
            } else {
                // As a time-series panel asks: the dashboard's range, one step per $__interval.
                prometheus
                    .get(
                        "/api/v1/query_range",
                        &[
                            ("query", expr.clone()),
                            ("start", unix_seconds(run_started).to_string()),
                            ("end", unix_seconds(now).to_string()),
                            ("step", grafana.interval().as_secs().to_string()),
                        ],
                    )
                    .await
            };
            assert!(
                status == 200 && body["status"] == "success",
                "{place}: Prometheus refused the query (HTTP {status}: {} {})\n{expr}",
                body["errorType"],
                body["error"]
            );
            if !has_data(&body["data"]["result"]) {
                empty.push(format!("{place}: {expr}"));
            }
        }
        if empty.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < DATA_BOUND,
            "no data within {DATA_BOUND:?} of an end-to-end run for:\n  {}",
            empty.join("\n  ")
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[test]
fn grafana_variables_are_filled_in_as_grafana_computes_them() {
    let short_run = Grafana {
        scrape_interval: Duration::from_secs(1),
        range: Duration::from_secs(90),
        max_data_points: 1000,
    };
    assert_eq!(
        short_run.fill_in("rate(x[$__rate_interval]) / $__interval_ms + y[${__range}]"),
        Ok("rate(x[4s]) / 1000 + y[90s]".to_owned())
    );
    // A day on 1,000 points: 87 s per point, and a rate window of one interval and a scrape.
    let day = Grafana {
        scrape_interval: Duration::from_secs(15),
        range: Duration::from_secs(86_400),
        max_data_points: 1000,
    };
    assert_eq!(
        day.fill_in("rate(x[$__rate_interval]) $__interval $__range_s"),
        Ok("rate(x[102s]) 87s 86400".to_owned())
    );
    assert!(short_run.fill_in("up{job=\"$job\"}").is_err());
}
