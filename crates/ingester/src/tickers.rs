//! The ticker loop: every period, one 24h-ticker poll of every tracked symbol, buffered and
//! written through a PostgreSQL connection of its own, so that nothing the kline loop does (a
//! long backfill, a slow write) delays it. Its requests spend the weight the budget keeps in
//! reserve for them.
//!
//! A poll is never interrupted by shutdown once fetched: the token is checked between polls
//! and while waiting for Binance, never during a write, and whatever is buffered is flushed
//! before the loop returns.

use std::time::{Duration, Instant};

use binance::request::Endpoint;
use chrono::Utc;
use tracing::Instrument;

use crate::buffer::{TickerBuffer, TickerPoll};
use crate::ingest::{Shared, health_problem};
use crate::metrics::binance_error_kind;
use crate::partitions::Partitions;
use crate::store::{Store, StoreError};

const TICKERS: Endpoint = Endpoint::Ticker24h;
/// The loop's component on `/healthz`.
const COMPONENT: &str = "tickers";

pub struct TickerLoop {
    shared: Shared,
    store: Store,
    partitions: Partitions,
    buffer: TickerBuffer,
    /// Polls in a row whose Binance request failed.
    binance_failures: u32,
}

impl TickerLoop {
    pub fn new(shared: Shared, store: Store, partitions: Partitions, buffer_polls: usize) -> Self {
        TickerLoop {
            shared,
            store,
            partitions,
            buffer: TickerBuffer::new(buffer_polls),
            binance_failures: 0,
        }
    }

    /// Polls every `period` until shutdown, then writes what is still buffered.
    pub async fn run(mut self, period: Duration) {
        let mut ticks = self.shared.ticks(period);
        while ticks.tick().await {
            self.poll().await;
        }
        if !self.buffer.is_empty() {
            self.flush().await;
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
    pub async fn poll(&mut self) -> bool {
        let started = Instant::now();
        let span = tracing::info_span!(
            "poll",
            endpoint = TICKERS.path(),
            symbols = self.shared.symbols.len()
        );
        async {
            let fetched = tokio::select! {
                biased;
                // Waiting for the weight budget may take up to a window: not worth a slow exit.
                _ = self.shared.shutdown.cancelled() => return false,
                fetched = self.shared.binance.ticker_24h(&self.shared.symbols) => fetched,
            };
            let fetched = match fetched {
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
                        self.shared.metrics.buffered(self.buffer.len(), true);
                    }
                    self.binance_failures = 0;
                    true
                }
                Err(error) => {
                    self.binance_failures = self.binance_failures.saturating_add(1);
                    self.shared.metrics.error(binance_error_kind(&error));
                    tracing::error!("skipped for this poll: {error}");
                    false
                }
            };
            let stored = self.flush().await;
            self.shared.metrics.poll(
                TICKERS.path(),
                fetched && stored,
                started.elapsed().as_secs_f64(),
            );
            self.report_health();
            fetched && stored
        }
        .instrument(span)
        .await
    }

    /// Writes buffered ticker polls, oldest first, until the buffer is empty or PostgreSQL
    /// fails. True when the buffer is empty.
    async fn flush(&mut self) -> bool {
        while let Some(poll) = self.buffer.front() {
            let started = Instant::now();
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
                    let metrics = &self.shared.metrics;
                    metrics.write_duration("ticker_24h", started.elapsed().as_secs_f64());
                    metrics.rows_written("ticker_24h", rows);
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
                    self.shared.metrics.error(error.kind());
                    self.buffer.pop_front();
                }
            }
        }
        self.shared.metrics.buffered(self.buffer.len(), false);
        self.buffer.is_empty()
    }

    fn store_failed(&mut self, error: &StoreError) {
        self.shared.metrics.error(error.kind());
        self.store.failed(error);
    }

    pub fn report_health(&self) {
        self.shared.report_weight();
        self.shared.health.report(
            COMPONENT,
            ticker_problem(
                self.store.is_connected(),
                self.binance_failures,
                self.shared.unhealthy_after,
            ),
        );
    }
}

/// Why `/healthz` should fail for tickers, if it should: PostgreSQL unreachable, or Binance
/// failing for `threshold` consecutive polls. Pure.
fn ticker_problem(
    postgres_connected: bool,
    binance_failures: u32,
    threshold: u32,
) -> Option<String> {
    let binance_failing = (binance_failures >= threshold)
        .then(|| format!("Binance failed {binance_failures} consecutive polls"));
    health_problem(postgres_connected, binance_failing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_while_postgres_is_down_or_binance_keeps_failing() {
        assert_eq!(ticker_problem(true, 2, 3), None);
        assert_eq!(
            ticker_problem(true, 3, 3).as_deref(),
            Some("Binance failed 3 consecutive polls")
        );
        assert_eq!(
            ticker_problem(false, 0, 3).as_deref(),
            Some("PostgreSQL is unreachable")
        );
        assert_eq!(
            ticker_problem(false, 4, 3).as_deref(),
            Some("PostgreSQL is unreachable; Binance failed 4 consecutive polls")
        );
    }
}
