//! The IO edge: start-up (exchangeInfo, symbol check, /metrics, the weight kept for tickers,
//! PostgreSQL's window of partitions), then the two loops, side by side until shutdown:
//! [`TickerLoop`] and [`KlineSync`], with the hourly partition maintenance beside them.
//!
//! Each loop writes through a PostgreSQL connection of its own, so a slow kline write never
//! delays a ticker poll, and they share the one Binance client, so one weight budget counts
//! both; the ticker loop's requests may spend the weight the budget keeps in reserve, the kline
//! loop's may not. Neither loop is interrupted inside a write: shutdown is checked between
//! writes and while waiting for Binance.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use binance::{BinanceClient, ClientConfig, plan_ticker_requests};
use service::Health;
use service::prometheus_client::registry::Registry;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::kline_sync::KlineSync;
use crate::klines::distinct_intervals;
use crate::metrics::Metrics;
use crate::partitions::{self, Partitions};
use crate::store::Store;
use crate::symbols::{UnknownSymbols, resolve_symbols};
use crate::tickers::TickerLoop;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("serving /metrics and /healthz on {listen}: {source}")]
    Operations {
        listen: SocketAddr,
        source: std::io::Error,
    },
    #[error("at start-up: {0}")]
    Binance(#[from] binance::Error),
    #[error(transparent)]
    UnknownSymbols(#[from] UnknownSymbols),
    #[error("no symbols to track: quote asset {0} has no TRADING pair")]
    NoSymbols(String),
    #[error("--once: the {0} poll was not stored")]
    OnceFailed(&'static str),
    #[error("the {0} loop panicked")]
    Panicked(&'static str),
}

/// What both loops share. Clones share the values: one client (one weight budget), one set of
/// metrics, one /healthz, one shutdown token.
#[derive(Clone)]
pub struct Shared {
    pub binance: Arc<BinanceClient>,
    pub symbols: Arc<Vec<String>>,
    pub metrics: Metrics,
    pub health: Health,
    pub shutdown: CancellationToken,
    /// Consecutive failed polls (of tickers, or of one kline series) after which /healthz
    /// reports them.
    pub unhealthy_after: u32,
}

impl Shared {
    pub fn report_weight(&self) {
        let budget = self.binance.budget();
        self.metrics
            .weight(budget.used(service::unix_time_ms()), budget.allowance());
    }

    /// A PostgreSQL connection for one loop, opened now so that /healthz tells about PostgreSQL
    /// before the first write; a failure is only counted and logged: the loop's writes retry.
    pub async fn connected_store(&self, url: &str) -> Store {
        let mut store = Store::new(url.to_owned());
        if let Err(error) = store.client().await {
            self.metrics.error(error.kind());
            store.failed(&error);
        }
        store
    }

    /// The pace of a loop that runs every `period` until shutdown.
    pub fn ticks(&self, period: Duration) -> Ticks {
        let mut interval = tokio::time::interval(period);
        // A step longer than the period (a backfill) is followed by the next at once, not by
        // a burst of the ticks it missed.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticks {
            interval,
            shutdown: self.shutdown.clone(),
        }
    }
}

/// A loop's ticks, from [`Shared::ticks`].
pub struct Ticks {
    interval: Interval,
    shutdown: CancellationToken,
}

impl Ticks {
    /// Waits for the next tick: true when it comes, false once shutting down, which wins when
    /// both are ready.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}

/// Why `/healthz` should fail for a loop, if it should: PostgreSQL unreachable, and the loop's
/// own `problem`, both named when both hold. Pure.
pub fn health_problem(postgres_connected: bool, problem: Option<String>) -> Option<String> {
    let problems: Vec<String> = [
        (!postgres_connected).then(|| "PostgreSQL is unreachable".to_owned()),
        problem,
    ]
    .into_iter()
    .flatten()
    .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Runs the ingester until `shutdown` is cancelled, or for one poll with `--once`.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), IngestError> {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let health = Health::starting();
    service::serve_operations(config.listen, registry, health.clone(), shutdown.clone())
        .await
        .map_err(|source| IngestError::Operations {
            listen: config.listen,
            source,
        })?;

    let binance = BinanceClient::new(ClientConfig {
        base_url: config.binance_base_url.clone(),
        weight_share: config.weight_share,
        ..ClientConfig::default()
    })?;
    // First, and before any other request: the budget adopts the live weight limit, and every
    // configured symbol is checked against the listing.
    let info = binance.exchange_info().await?;
    let symbols = resolve_symbols(&config.symbols, &config.quote_asset, &info)?;
    if symbols.is_empty() {
        return Err(IngestError::NoSymbols(config.quote_asset));
    }
    let intervals = distinct_intervals(&config.kline_intervals);
    let budget = binance.budget();
    let reserve = ticker_reserve(
        plan_ticker_requests(&symbols).total_weight,
        budget.limit().window_ms(),
        config.ticker_period().as_millis(),
    );
    binance.reserve_weight(reserve);
    if reserve > budget.allowance() {
        tracing::warn!(
            reserve,
            allowance = budget.allowance(),
            "ticker polls need more request weight than the budget allows: they will be late \
             (poll less often, or raise --weight-share)"
        );
    }
    tracing::info!(
        symbols = symbols.len(),
        intervals = ?intervals,
        reserve,
        allowance = budget.allowance(),
        "tracking {} symbols",
        symbols.len()
    );

    let clock_offset_ms = info.server_time - service::unix_time_ms();
    let partitions = Partitions::new(config.pg_retention_days, clock_offset_ms, metrics.clone());

    let shutdown = shutdown.child_token();
    let shared = Shared {
        binance: Arc::new(binance),
        symbols: Arc::new(symbols),
        metrics,
        health,
        shutdown: shutdown.clone(),
        unhealthy_after: config.unhealthy_after_failures.max(1),
    };
    let mut tickers = TickerLoop::new(
        shared.clone(),
        shared.connected_store(&config.pg_url).await,
        partitions.clone(),
        usize::try_from(config.buffer_polls).unwrap_or(usize::MAX),
    );
    let mut klines = KlineSync::new(
        shared.clone(),
        shared.connected_store(&config.pg_url).await,
        partitions.clone(),
        &intervals,
        config.kline_history(),
        clock_offset_ms,
    );
    shared.health.healthy();
    tickers.report_health();
    klines.report_health();
    // PostgreSQL's window: made ready before the first write, then moved every hour, on a
    // connection of its own.
    let maintained = partitions
        .clone()
        .maintain_on(&mut Store::new(config.pg_url.clone()))
        .await;
    if !config.once {
        partitions::spawn_maintenance(
            config.pg_url.clone(),
            partitions,
            maintained,
            shutdown.clone(),
        );
    }

    if config.once {
        let tickers = tickers.poll().await;
        let klines = klines.pass().await;
        return match (tickers, klines) {
            (true, true) => Ok(()),
            (false, _) => Err(IngestError::OnceFailed("ticker")),
            (true, false) => Err(IngestError::OnceFailed("kline")),
        };
    }
    // Should one loop panic, the other stops too: half an ingester would look alive.
    let stop_both = || shutdown.clone().drop_guard();
    let (ticker_guard, kline_guard) = (stop_both(), stop_both());
    let ticker_period = config.ticker_period();
    let kline_period = config.kline_period();
    let ticker_task = tokio::spawn(async move {
        let _stop_both = ticker_guard;
        tickers.run(ticker_period).await;
    });
    let kline_task = tokio::spawn(async move {
        let _stop_both = kline_guard;
        klines.run(kline_period).await;
    });
    let (ticker_ended, kline_ended) = tokio::join!(ticker_task, kline_task);
    ticker_ended.map_err(|_| IngestError::Panicked("ticker"))?;
    kline_ended.map_err(|_| IngestError::Panicked("kline"))?;
    Ok(())
}

/// The weight of one budget window to keep for ticker polls: a poll's weight times the polls
/// that can fall in one window. Windows are aligned to the clock and polls to the start-up, so
/// one more poll than the window holds on average may fall in it. Pure.
pub fn ticker_reserve(poll_weight: u32, window_ms: i64, period_ms: u128) -> u32 {
    let window_ms = u128::try_from(window_ms.max(1)).unwrap_or(1);
    let polls = window_ms.div_ceil(period_ms.max(1)) + 1;
    u32::try_from(polls)
        .unwrap_or(u32::MAX)
        .saturating_mul(poll_weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_covers_every_ticker_poll_a_window_can_hold() {
        // 391 symbols (one all-symbols request, 80) every 5 s in a minute's window.
        assert_eq!(ticker_reserve(80, 60_000, 5_000), 13 * 80);
        assert_eq!(ticker_reserve(80, 60_000, 7_000), 10 * 80);
        assert_eq!(ticker_reserve(2, 1_000, 5_000), 2 * 2);
        assert_eq!(ticker_reserve(80, 0, 0), 2 * 80);
    }
}
