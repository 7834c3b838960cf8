//! A Binance-compatible Spot REST simulator for tests, load runs and offline demos.
//!
//! It serves `/api/v3/ping`, `/time`, `/exchangeInfo`, `/ticker/24hr` and `/klines` with
//! Binance's response shapes, validation errors and request-weight accounting (429, then a 418
//! ban that every request sent during it restarts), over a deterministic market: every price is
//! a pure function of (seed, symbol, time), so thousands of symbols cost no memory beyond their
//! parameters and any window of history can be served. A controllable clock (`--speed`,
//! `POST /admin/advance?ms=N`, `GET /admin/now`) and seeded fault injection (latency, 5xx,
//! truncated bodies, malformed numbers) make client behaviour reproducible; `GET /admin/bans`
//! tells whether a client kept sending while banned; `POST /admin/storm` refuses every
//! market-data request with 429, 418 or a 5xx for a while.
//!
//! Modules, pure first: [`price`] (the market), [`universe`] (the symbols), [`params`]
//! (request validation), [`render`] (response bodies), [`limiter`] (weights), [`faults`], [`storm`],
//! [`clock`]; then [`api`], the HTTP edge, and [`serve`] to run it.

pub mod api;
pub mod clock;
pub mod config;
pub mod faults;
pub mod limiter;
pub mod params;
pub mod price;
pub mod render;
pub mod storm;
pub mod universe;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use config::SimConfig;

/// Serves the simulator on `listener` until `shutdown` is cancelled, then finishes in-flight
/// requests and returns. Tests bind `127.0.0.1:0` and run this in-process.
pub async fn serve(
    config: SimConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = Arc::new(api::AppState::new(&config));
    tracing::info!(
        address = %listener.local_addr()?,
        symbols = config.symbols,
        seed = config.seed,
        speed = config.speed,
        "market-sim serving"
    );
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// A simulator running in the background of the current Tokio runtime, as tests use it.
/// Dropping it shuts the server down.
#[derive(Debug)]
pub struct RunningSim {
    address: SocketAddr,
    shutdown: DropGuard,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSim {
    /// Binds `config.listen` (port 0 picks a free port) and serves in a spawned task.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(config, listener, shutdown.clone()));
        Ok(RunningSim {
            address,
            shutdown: shutdown.drop_guard(),
            task,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://<address>`, the base URL for a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Shuts down gracefully and waits for in-flight requests to finish.
    pub async fn stop(self) -> std::io::Result<()> {
        let RunningSim { shutdown, task, .. } = self;
        drop(shutdown);
        task.await.map_err(std::io::Error::other)?
    }
}
