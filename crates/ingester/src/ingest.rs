//! The IO edge: start-up (exchangeInfo, symbol check, /metrics), then the poll loop that fetches
//! tickers and klines from Binance and writes them through `store`, until shutdown.
//!
//! Polls run one at a time, so PostgreSQL sees one writer and a shutdown never interrupts a
//! write: the token is checked between polls and between kline series, never inside a write.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use binance::request::Endpoint;
use binance::{BinanceClient, ClientConfig, Interval, Kline};
use chrono::Utc;
use service::Health;
use service::prometheus_client::registry::Registry;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::buffer::{TickerBuffer, TickerPoll};
use crate::config::Config;
use crate::klines::{Cursors, KlineBatch, PAGE_LIMIT, distinct_intervals, next_page_start};
use crate::metrics::{Metrics, binance_error_kind};
use crate::partitions::{self, Partitions};
use crate::store::{self, Store, StoreError};
use crate::symbols::{UnknownSymbols, resolve_symbols};

/// Klines written per statement during a backfill: large enough that a round trip carries many
/// rows, small enough that memory stays a few megabytes.
const KLINE_BATCH_ROWS: usize = 5_000;
const TICKERS: Endpoint = Endpoint::Ticker24h;
const KLINES: Endpoint = Endpoint::Klines;

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
    let clock_offset_ms = info.server_time - now_ms();
    let partitions = Partitions::new(config.pg_retention_days, clock_offset_ms, metrics.clone());
    tracing::info!(
        symbols = symbols.len(),
        intervals = ?intervals,
        "tracking {} symbols",
        symbols.len()
    );

    let mut ingester = Ingester {
        binance,
        store: Store::new(config.pg_url.clone()),
        symbols: Arc::new(symbols),
        intervals: Arc::new(intervals),
        history: config.kline_history(),
        clock_offset_ms,
        cursors: None,
        buffer: TickerBuffer::new(usize::try_from(config.buffer_polls).unwrap_or(usize::MAX)),
        binance_failures: 0,
        unhealthy_after: config.unhealthy_after_failures.max(1),
        partitions: partitions.clone(),
        metrics,
        health,
        shutdown,
    };
    // Early, so that /healthz tells about PostgreSQL before the first write; a failure here is
    // only reported: the polls retry.
    if let Err(error) = ingester.store.client().await {
        ingester.store_failed(&error);
    }
    // PostgreSQL's window: made ready before the first write, then moved every hour.
    let maintained = ingester.partitions.maintain_on(&mut ingester.store).await;
    if !config.once {
        partitions::spawn_maintenance(
            config.pg_url.clone(),
            partitions,
            maintained,
            ingester.shutdown.clone(),
        );
    }
    if config.once {
        let tickers = ingester.poll_tickers().await;
        let klines = ingester.poll_klines().await;
        return match (tickers, klines) {
            (true, true) => Ok(()),
            (false, _) => Err(IngestError::OnceFailed("ticker")),
            (true, false) => Err(IngestError::OnceFailed("kline")),
        };
    }
    ingester
        .run(config.ticker_period(), config.kline_period())
        .await;
    Ok(())
}

struct Ingester {
    binance: BinanceClient,
    store: Store,
    symbols: Arc<Vec<String>>,
    intervals: Arc<Vec<Interval>>,
    history: Duration,
    /// Exchange time minus local time at start-up, to place a new series' history on the
    /// exchange's clock (which, for the simulator, may be anywhere).
    clock_offset_ms: i64,
    /// Loaded from PostgreSQL at the first kline poll that reaches it.
    cursors: Option<Cursors>,
    buffer: TickerBuffer,
    binance_failures: u32,
    unhealthy_after: u32,
    partitions: Partitions,
    metrics: Metrics,
    health: Health,
    shutdown: CancellationToken,
}

impl Ingester {
    async fn run(&mut self, ticker_period: Duration, kline_period: Duration) {
        let mut tickers = tokio::time::interval(ticker_period);
        tickers.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut klines = tokio::time::interval(kline_period);
        klines.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                _ = tickers.tick() => { self.poll_tickers().await; }
                _ = klines.tick() => { self.poll_klines().await; }
            }
        }
        if !self.buffer.is_empty() {
            self.flush_tickers().await;
            if !self.buffer.is_empty() {
                tracing::warn!(
                    "exiting with {} ticker polls not written: PostgreSQL is unreachable",
                    self.buffer.len()
                );
            }
        }
    }

    /// Fetches one ticker poll, buffers it, and writes every buffered poll PostgreSQL takes.
    /// True when this poll was fetched and stored.
    async fn poll_tickers(&mut self) -> bool {
        let started = Instant::now();
        let span = tracing::info_span!(
            "poll",
            endpoint = TICKERS.path(),
            symbols = self.symbols.len()
        );
        async {
            let fetched = match self.binance.ticker_24h(&self.symbols).await {
                Ok(tickers) => {
                    let poll = TickerPoll {
                        tickers,
                        fetched_at: Utc::now(),
                    };
                    if let Some(dropped) = self.buffer.push(poll) {
                        tracing::warn!(
                            buffered = self.buffer.len(),
                            "ticker buffer full: dropped the oldest poll, fetched at {}",
                            dropped.fetched_at
                        );
                        self.metrics.buffered(self.buffer.len(), true);
                    }
                    true
                }
                Err(error) => {
                    self.binance_failed(&error);
                    false
                }
            };
            let stored = self.flush_tickers().await;
            if fetched {
                self.binance_failures = 0;
            }
            self.metrics.poll(
                TICKERS.path(),
                fetched && stored,
                started.elapsed().as_secs_f64(),
            );
            self.update_health();
            fetched && stored
        }
        .instrument(span)
        .await
    }

    /// Writes buffered ticker polls, oldest first, until the buffer is empty or PostgreSQL
    /// fails. True when the buffer is empty.
    async fn flush_tickers(&mut self) -> bool {
        while let Some(poll) = self.buffer.front() {
            let written = match self.store.client().await {
                Ok(client) => {
                    self.partitions
                        .insert_tickers(client, &poll.tickers, poll.fetched_at)
                        .await
                }
                Err(error) => Err(error),
            };
            match written {
                Ok(rows) => {
                    tracing::info!("Stored {rows} ticker records");
                    self.metrics.rows_written("ticker_24h", rows);
                    self.buffer.pop_front();
                }
                Err(error) if error.is_transient() => {
                    self.store_failed(&error);
                    tracing::warn!(buffered = self.buffer.len(), "ticker poll buffered");
                    break;
                }
                Err(error) => {
                    // Retrying cannot help: this poll would block every later one.
                    tracing::error!("dropping a ticker poll PostgreSQL cannot store: {error}");
                    self.metrics.error(error.kind());
                    self.buffer.pop_front();
                }
            }
        }
        self.metrics.buffered(self.buffer.len(), false);
        self.buffer.is_empty()
    }

    /// Brings every series up to date: fetches from its cursor and upserts in batches. True
    /// when every series was fetched and stored.
    async fn poll_klines(&mut self) -> bool {
        let started = Instant::now();
        let span = tracing::info_span!(
            "poll",
            endpoint = KLINES.path(),
            symbols = self.symbols.len()
        );
        let ok = self.sync_klines().instrument(span).await;
        self.metrics
            .poll(KLINES.path(), ok, started.elapsed().as_secs_f64());
        self.update_health();
        ok
    }

    async fn sync_klines(&mut self) -> bool {
        // Without PostgreSQL nothing fetched could be stored: save the weight, the cursors
        // keep the place and the next poll backfills.
        let cursors = match self.load_cursors().await {
            Ok(cursors) => cursors,
            Err(error) => {
                self.store_failed(&error);
                return false;
            }
        };
        let mut batch = KlineBatch::default();
        let mut stored = StoredKlines::default();
        let mut fetched_all = true;
        let (symbols, intervals) = (Arc::clone(&self.symbols), Arc::clone(&self.intervals));
        'series: for symbol in symbols.iter() {
            for &interval in intervals.iter() {
                if self.shutdown.is_cancelled() {
                    fetched_all = false;
                    break 'series;
                }
                let start =
                    cursors.start_of(symbol, interval, self.exchange_now_ms(), self.history);
                let span = tracing::info_span!("series", %symbol, %interval);
                match self
                    .fetch_series(symbol, interval, start)
                    .instrument(span)
                    .await
                {
                    Ok(klines) => batch.extend(symbol, interval, klines),
                    Err(error) => {
                        fetched_all = false;
                        self.binance_failed(&error);
                    }
                }
                if batch.len() >= KLINE_BATCH_ROWS
                    && !self.write_klines(&mut batch, &mut stored).await
                {
                    return false;
                }
            }
        }
        if !self.write_klines(&mut batch, &mut stored).await {
            return false;
        }
        tracing::info!(
            rows = stored.rows,
            "Stored klines for {} symbols",
            stored.symbols.len()
        );
        if fetched_all {
            self.binance_failures = 0;
        }
        fetched_all
    }

    /// The cursors, loaded from PostgreSQL the first time. Copied out because a kline poll
    /// plans from the state at its start while `write_klines` advances the stored one.
    async fn load_cursors(&mut self) -> Result<Cursors, StoreError> {
        let client = self.store.client().await?;
        if let Some(cursors) = &self.cursors {
            return Ok(cursors.clone());
        }
        let stored = store::last_open_times(client, &self.symbols, &self.intervals).await?;
        tracing::info!(series = stored.len(), "resuming klines from PostgreSQL");
        let cursors = Cursors::from_stored(stored);
        self.cursors = Some(cursors.clone());
        Ok(cursors)
    }

    /// Every candle of a series from `start` on, page after page.
    async fn fetch_series(
        &self,
        symbol: &str,
        interval: Interval,
        mut start: i64,
    ) -> Result<Vec<Kline>, binance::Error> {
        let mut klines = Vec::new();
        loop {
            let page = self
                .binance
                .klines(symbol, interval, Some(start), None, PAGE_LIMIT)
                .await?;
            let next = next_page_start(&page);
            klines.extend(page);
            match next {
                Some(next) => start = next,
                None => return Ok(klines),
            }
        }
    }

    /// Upserts and empties `batch`, then advances the cursors. False when PostgreSQL failed.
    async fn write_klines(&mut self, batch: &mut KlineBatch, stored: &mut StoredKlines) -> bool {
        if batch.is_empty() {
            return true;
        }
        let written = match self.store.client().await {
            Ok(client) => self.partitions.upsert_klines(client, batch).await,
            Err(error) => Err(error),
        };
        match written {
            Ok(rows) => {
                self.metrics.rows_written("klines", rows);
                stored.rows += rows;
                stored
                    .symbols
                    .extend(batch.symbols().into_iter().map(str::to_owned));
                if let Some(cursors) = &mut self.cursors {
                    cursors.advance(batch);
                }
            }
            Err(error) if error.is_transient() => {
                self.store_failed(&error);
                return false;
            }
            Err(error) => {
                // The cursors stay: the next poll fetches these candles again and, if
                // PostgreSQL still rejects them, says so again.
                tracing::error!("PostgreSQL cannot store {} klines: {error}", batch.len());
                self.metrics.error(error.kind());
            }
        }
        *batch = KlineBatch::default();
        true
    }

    fn binance_failed(&mut self, error: &binance::Error) {
        self.binance_failures = self.binance_failures.saturating_add(1);
        self.metrics.error(binance_error_kind(error));
        tracing::error!("skipped for this poll: {error}");
    }

    fn store_failed(&mut self, error: &StoreError) {
        self.metrics.error(error.kind());
        match error {
            // Already reported when the connection failed; the backoff is still running.
            StoreError::Backoff(_) => tracing::debug!("{error}"),
            _ => {
                tracing::warn!("{error}");
                self.store.lost();
            }
        }
    }

    fn update_health(&self) {
        let budget = self.binance.budget();
        self.metrics
            .weight(budget.used(now_ms()), budget.allowance());
        match health_problem(
            self.store.is_connected(),
            self.binance_failures,
            self.unhealthy_after,
        ) {
            None => self.health.healthy(),
            Some(problem) => self.health.unhealthy(problem),
        }
    }

    fn exchange_now_ms(&self) -> i64 {
        now_ms().saturating_add(self.clock_offset_ms)
    }
}

/// What one kline poll stored, for its log line.
#[derive(Default)]
struct StoredKlines {
    rows: u64,
    symbols: HashSet<String>,
}

/// Why `/healthz` should fail, if it should: PostgreSQL unreachable, or Binance failing for
/// `threshold` consecutive polls. Pure.
fn health_problem(
    postgres_connected: bool,
    binance_failures: u32,
    threshold: u32,
) -> Option<String> {
    let problems: Vec<String> = [
        (!postgres_connected).then(|| "PostgreSQL is unreachable".to_owned()),
        (binance_failures >= threshold)
            .then(|| format!("Binance failed {binance_failures} consecutive polls")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_while_postgres_is_down_or_binance_keeps_failing() {
        assert_eq!(health_problem(true, 2, 3), None);
        assert_eq!(
            health_problem(true, 3, 3).as_deref(),
            Some("Binance failed 3 consecutive polls")
        );
        assert_eq!(
            health_problem(false, 0, 3).as_deref(),
            Some("PostgreSQL is unreachable")
        );
        assert_eq!(
            health_problem(false, 4, 3).as_deref(),
            Some("PostgreSQL is unreachable; Binance failed 4 consecutive polls")
        );
    }
}
