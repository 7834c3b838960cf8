//! What every binary of the pipeline does the same way: logging set up from `RUST_LOG` and a
//! format flag, a shutdown token cancelled by SIGTERM (`docker stop`) or SIGINT (Ctrl-C), the
//! `/metrics` and `/healthz` endpoints, and the wall clock as Unix time.

mod http;

pub use http::{Health, serve_operations};
pub use prometheus_client;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

/// The values a binary's `--log-format` flag accepts.
pub const LOG_FORMATS: [&str; 2] = ["text", "json"];

/// Logs to stderr: human-readable `text`, or one JSON object per line for log pipelines.
/// `RUST_LOG` overrides `default_filter`.
pub fn init_logging(format: &str, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    // stderr, so that a command's own output on stdout (`cdc-consumer decode`, `verify`) stays
    // clean for pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A token cancelled on the first SIGTERM or SIGINT. Must be called inside a tokio runtime.
pub fn shutdown_on_signals() -> CancellationToken {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    shutdown
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!("cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// The wall clock in Unix milliseconds (0 before 1970).
pub fn unix_time_ms() -> i64 {
    since_unix_epoch(Duration::as_millis)
}

/// The wall clock in Unix microseconds (0 before 1970).
pub fn unix_time_us() -> i64 {
    since_unix_epoch(Duration::as_micros)
}

/// The time since 1970 counted in the unit of `count`, saturating rather than wrapping: a
/// clock set before 1970 reads 0.
fn since_unix_epoch(count: fn(&Duration) -> u128) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(count(&since)).unwrap_or(i64::MAX))
}
