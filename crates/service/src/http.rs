//! The operations endpoints every binary serves: `/metrics` in the Prometheus text format and
//! `/healthz`, 200 while the binary reports itself healthy and 503 with the reason otherwise.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// What `/healthz` answers: `Ok`, or every problem the binary reports, by component (say,
/// `cassandra_write` and `kafka` at once), set by the binary as its connections come and go.
/// The component `unhealthy` reports under; shown without a name.
const WHOLE_BINARY: &str = "";

#[derive(Clone, Default)]
pub struct Health {
    problems: Arc<Mutex<BTreeMap<&'static str, String>>>,
}

impl Health {
    /// Starts unhealthy: nothing is connected yet.
    pub fn starting() -> Self {
        let health = Self::default();
        health.unhealthy("starting");
        health
    }

    /// Clears every problem.
    pub fn healthy(&self) {
        self.lock().clear();
    }

    /// Reports the binary as a whole unhealthy for `reason`, until `healthy`.
    pub fn unhealthy(&self, reason: impl Into<String>) {
        self.report(WHOLE_BINARY, Some(reason.into()));
    }

    /// Sets (`Some`) or clears (`None`) the problem of one `component`, leaving the others.
    pub fn report(&self, component: &'static str, problem: Option<String>) {
        let mut problems = self.lock();
        match problem {
            Some(problem) => problems.insert(component, problem),
            None => problems.remove(component),
        };
    }

    fn problem(&self) -> Option<String> {
        let problems = self.lock();
        (!problems.is_empty()).then(|| {
            problems
                .iter()
                .map(|(component, problem)| match *component {
                    WHOLE_BINARY => problem.clone(),
                    component => format!("{component}: {problem}"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, String>> {
        // Each update is a single map operation: a panic elsewhere cannot leave it inconsistent.
        self.problems.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct Endpoints {
    registry: Arc<Registry>,
    health: Health,
}

/// Serves `/metrics` and `/healthz` on `listen` until `shutdown`. Returns the bound address
/// (useful with port 0) once listening; the server runs in a background task.
pub async fn serve_operations(
    listen: SocketAddr,
    registry: Registry,
    health: Health,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let endpoints = Endpoints {
        registry: Arc::new(registry),
        health,
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(endpoints);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!("operations endpoint on {bound} failed: {error}");
        }
    });
    tracing::info!("serving /metrics and /healthz on http://{bound}");
    Ok(bound)
}

async fn metrics(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &endpoints.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot encode metrics: {error}"),
        ),
    }
}

async fn healthz(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    match endpoints.health.problem() {
        None => (StatusCode::OK, "ok\n".to_owned()),
        Some(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {problem}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[tokio::test]
    async fn serves_metrics_and_health() {
        let mut registry = Registry::default();
        let polls = Counter::<u64>::default();
        registry.register("polls", "Polls made", polls.clone());
        polls.inc_by(3);
        let health = Health::starting();
        let shutdown = CancellationToken::new();
        let address = serve_operations(
            "127.0.0.1:0".parse().unwrap(),
            registry,
            health.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let get = |path: &str| reqwest::get(format!("http://{address}{path}"));

        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(metrics.contains("polls_total 3"), "{metrics}");
        let response = get("/healthz").await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.text().await.unwrap(), "unhealthy: starting\n");
        health.healthy();
        assert_eq!(get("/healthz").await.unwrap().status(), 200);

        health.report("kafka", Some("all brokers are down".to_owned()));
        health.report("cassandra", Some("connection refused".to_owned()));
        health.report("kafka", None);
        let response = get("/healthz").await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.text().await.unwrap(),
            "unhealthy: cassandra: connection refused\n",
            "one component recovering leaves the other's problem"
        );
        health.report("cassandra", None);
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        shutdown.cancel();
    }
}
