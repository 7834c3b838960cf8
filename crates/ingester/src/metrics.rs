//! The ingester's Prometheus metrics, served on `/metrics` by `service::serve_operations`.

use binance::Error;
use binance::request::Endpoint;
use service::prometheus_client::metrics::counter::Counter;
use service::prometheus_client::metrics::family::Family;
use service::prometheus_client::metrics::gauge::Gauge;
use service::prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use service::prometheus_client::registry::Registry;

type Labels<const N: usize> = [(&'static str, &'static str); N];

/// The endpoints the ingester polls, the `endpoint` label of `ingester_polls_total`.
const POLLED: [Endpoint; 2] = [Endpoint::Ticker24h, Endpoint::Klines];
/// The `outcome` label of `ingester_polls_total`.
const OUTCOMES: [&str; 2] = ["ok", "error"];

/// The partitioned tables, the `table` label of `ingester_partitions_*`.
const PARTITIONED: [&str; 2] = ["ticker_24h", "klines"];

/// Handles to every metric; clones share the values.
#[derive(Clone)]
pub struct Metrics {
    polls: Family<Labels<2>, Counter>,
    rows: Family<Labels<1>, Counter>,
    errors: Family<Labels<1>, Counter>,
    poll_duration: Family<Labels<1>, Histogram, fn() -> Histogram>,
    weight_used: Gauge,
    weight_allowance: Gauge,
    buffered_polls: Gauge,
    dropped_polls: Counter,
    write_duration: Family<Labels<1>, Histogram, fn() -> Histogram>,
    series_failures: Family<Labels<1>, Counter>,
    failing_series: Gauge,
    partitions_created: Family<Labels<1>, Counter>,
    partitions_dropped: Family<Labels<1>, Counter>,
}

impl Metrics {
    /// Creates the metrics and registers them under `ingester_`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            polls: Family::default(),
            rows: Family::default(),
            errors: Family::default(),
            // 1 ms to ~65 s: a local poll takes milliseconds, a backfill behind the weight
            // budget can take a minute.
            poll_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 17))
            }),
            weight_used: Gauge::default(),
            weight_allowance: Gauge::default(),
            buffered_polls: Gauge::default(),
            dropped_polls: Counter::default(),
            // 1 ms to ~33 s, past the 15 s statement timeout: a write near it shows up long
            // before one reaches it.
            write_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            series_failures: Family::default(),
            failing_series: Gauge::default(),
            partitions_created: Family::default(),
            partitions_dropped: Family::default(),
        };
        // A labelled series exists only once its labels are first used: without this, a healthy
        // ingester would have no `outcome="error"` series, the dashboard's polls panel would
        // draw no error line instead of one at 0, and the first failed poll's series would start
        // at 1, which `rate()` does not count.
        for endpoint in POLLED {
            for outcome in OUTCOMES {
                let _ = metrics
                    .polls
                    .get_or_create(&[("endpoint", endpoint.path()), ("outcome", outcome)]);
            }
        }
        for table in PARTITIONED {
            let _ = metrics
                .partitions_created
                .get_or_create(&[("table", table)]);
            let _ = metrics
                .partitions_dropped
                .get_or_create(&[("table", table)]);
        }
        let registry = registry.sub_registry_with_prefix("ingester");
        registry.register(
            "polls",
            "Polls by endpoint and outcome (ok, error)",
            metrics.polls.clone(),
        );
        registry.register(
            "rows_written",
            "Rows inserted or changed, by table",
            metrics.rows.clone(),
        );
        registry.register("errors", "Errors by kind", metrics.errors.clone());
        registry.register(
            "poll_duration_seconds",
            "Duration of a poll, fetch and write, by endpoint",
            metrics.poll_duration.clone(),
        );
        registry.register(
            "binance_weight_used",
            "Request weight used in the current window, as counted and reported",
            metrics.weight_used.clone(),
        );
        registry.register(
            "binance_weight_allowance",
            "Request weight this ingester may use per window",
            metrics.weight_allowance.clone(),
        );
        registry.register(
            "buffered_polls",
            "Ticker polls waiting for PostgreSQL",
            metrics.buffered_polls.clone(),
        );
        registry.register(
            "dropped_polls",
            "Ticker polls dropped because the buffer was full",
            metrics.dropped_polls.clone(),
        );
        registry.register(
            "write_duration_seconds",
            "Duration of one write statement (a ticker poll, a page of one kline series), by table",
            metrics.write_duration.clone(),
        );
        // Labelled by reason (the errors metric's kinds, a dozen), not by series: a label per
        // symbol would make hundreds of series; the failing series are named in the log and
        // on /healthz instead.
        registry.register(
            "kline_series_failures",
            "Kline series whose fetch, parse or write failed in a poll, by reason",
            metrics.series_failures.clone(),
        );
        registry.register(
            "failing_kline_series",
            "Kline series whose latest attempt failed",
            metrics.failing_series.clone(),
        );
        registry.register(
            "partitions_created",
            "Daily PostgreSQL partitions created, by table",
            metrics.partitions_created.clone(),
        );
        registry.register(
            "partitions_dropped",
            "Daily PostgreSQL partitions dropped past the retention, by table",
            metrics.partitions_dropped.clone(),
        );
        metrics
    }

    pub fn poll(&self, endpoint: &'static str, ok: bool, seconds: f64) {
        let [succeeded, failed] = OUTCOMES;
        let outcome = if ok { succeeded } else { failed };
        self.polls
            .get_or_create(&[("endpoint", endpoint), ("outcome", outcome)])
            .inc();
        self.poll_duration
            .get_or_create(&[("endpoint", endpoint)])
            .observe(seconds);
    }

    pub fn rows_written(&self, table: &'static str, rows: u64) {
        self.rows.get_or_create(&[("table", table)]).inc_by(rows);
    }

    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&[("kind", kind)]).inc();
    }

    pub fn write_duration(&self, table: &'static str, seconds: f64) {
        self.write_duration
            .get_or_create(&[("table", table)])
            .observe(seconds);
    }

    pub fn series_failed(&self, reason: &'static str) {
        self.series_failures
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    pub fn failing_series(&self, count: usize) {
        self.failing_series
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn weight(&self, used: u32, allowance: u32) {
        self.weight_used.set(i64::from(used));
        self.weight_allowance.set(i64::from(allowance));
    }

    pub fn partitions_created(&self, table: &'static str, count: usize) {
        self.partitions_created
            .get_or_create(&[("table", table)])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    pub fn partitions_dropped(&self, table: &'static str, count: usize) {
        self.partitions_dropped
            .get_or_create(&[("table", table)])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    pub fn buffered(&self, polls: usize, dropped: bool) {
        self.buffered_polls
            .set(i64::try_from(polls).unwrap_or(i64::MAX));
        if dropped {
            self.dropped_polls.inc();
        }
    }
}

/// The errors-metric label of a Binance failure.
pub fn binance_error_kind(error: &Error) -> &'static str {
    match error {
        Error::Transport { .. } => "binance_transport",
        Error::Status { status: 429, .. } => "binance_429",
        Error::Status { status: 418, .. } => "binance_418",
        Error::Status { status, .. } if *status >= 500 => "binance_5xx",
        Error::Status { .. } => "binance_4xx",
        Error::Parse { .. } => "binance_malformed",
        Error::Blocked { .. } => "binance_blocked",
        Error::InvalidLimit(_) | Error::Config(_) => "binance_request",
    }
}
