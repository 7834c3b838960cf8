//! The kline loop: every period, a pass over every (symbol, interval) series that brings it up
//! to date, backfilling whatever is missing, through a PostgreSQL connection of its own. It runs
//! beside the ticker loop, never in front of it, and its requests go as
//! `Priority::Background`, leaving the weight reserved for tickers.
//!
//! Writes are bounded: one page of one series (at most 1000 candles) per statement, and so per
//! transaction, the series' cursor advancing only once PostgreSQL has acknowledged it. A
//! timeout or a lost connection ends the pass and forgets the cursors: the write may have
//! committed, so the next pass reads them again from PostgreSQL rather than fetching and
//! writing that page again (were it written again, its unchanged candles would produce no
//! change event anyway).
//!
//! One series failing (Binance refusing it, a body that does not parse, a row PostgreSQL
//! rejects) is logged in the series' span, counted, and reported on `/healthz` once it has
//! failed several passes in a row; the pass goes on with the next series, and the failing one
//! is tried again at the next pass, one period later, never in a loop of its own.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::request::Endpoint;
use binance::{Interval, Priority};
use tracing::Instrument;

use crate::ingest::{Shared, health_problem};
use crate::klines::{Cursors, KlineBatch, PAGE_LIMIT, SeriesFailures, has_next_page};
use crate::metrics::binance_error_kind;
use crate::partitions::Partitions;
use crate::store::{self, Store, StoreError};

const KLINES: Endpoint = Endpoint::Klines;
/// The loop's component on `/healthz`.
const COMPONENT: &str = "klines";

/// Why one series could not be brought up to date in this pass.
#[derive(Debug, thiserror::Error)]
enum SeriesError {
    #[error(transparent)]
    Binance(#[from] binance::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("shutting down")]
    Shutdown,
}

impl SeriesError {
    /// The errors-metric label of a failure that is the series' own, not the whole pass's.
    fn kind(&self) -> &'static str {
        match self {
            SeriesError::Binance(error) => binance_error_kind(error),
            SeriesError::Store(error) => error.kind(),
            SeriesError::Shutdown => "shutdown",
        }
    }
}

pub struct KlineSync {
    shared: Shared,
    store: Store,
    partitions: Partitions,
    intervals: Vec<Interval>,
    history: Duration,
    /// Exchange time minus local time at start-up, to place a new series' history on the
    /// exchange's clock (which, for the simulator, may be anywhere).
    clock_offset_ms: i64,
    /// What PostgreSQL holds, as far as this loop knows; `None` when it must be read again.
    cursors: Option<Cursors>,
    failures: SeriesFailures,
}

impl KlineSync {
    pub fn new(
        shared: Shared,
        store: Store,
        partitions: Partitions,
        intervals: &[Interval],
        history: Duration,
        clock_offset_ms: i64,
    ) -> Self {
        KlineSync {
            shared,
            store,
            partitions,
            intervals: intervals.to_vec(),
            history,
            clock_offset_ms,
            cursors: None,
            failures: SeriesFailures::default(),
        }
    }

    /// Passes every `period` until shutdown. A pass longer than the period (a backfill) is
    /// followed by the next at once, and that one is short: only the latest candles are new.
    pub async fn run(mut self, period: Duration) {
        let mut ticks = self.shared.ticks(period);
        while ticks.tick().await {
            self.pass().await;
        }
    }

    /// Brings every series up to date, one page at a time. True when every series was
    /// fetched and stored.
    pub async fn pass(&mut self) -> bool {
        let started = Instant::now();
        let span = tracing::info_span!(
            "poll",
            endpoint = KLINES.path(),
            series = self.shared.symbols.len() * self.intervals.len()
        );
        let ok = self.sync_all().instrument(span).await;
        self.shared
            .metrics
            .poll(KLINES.path(), ok, started.elapsed().as_secs_f64());
        self.report_health();
        ok
    }

    async fn sync_all(&mut self) -> bool {
        // Without PostgreSQL nothing fetched could be stored: save the weight, the next pass
        // reads the cursors and backfills.
        let mut cursors = match self.load_cursors().await {
            Ok(cursors) => cursors,
            Err(error) => {
                self.store_failed(&error);
                return false;
            }
        };
        let mut all_stored = true;
        let mut rows = 0;
        let mut symbols_stored = HashSet::new();
        let (symbols, intervals) = (Arc::clone(&self.shared.symbols), self.intervals.clone());
        for symbol in symbols.iter() {
            for &interval in &intervals {
                let series = (symbol.clone(), interval);
                let span = tracing::info_span!("series", %symbol, %interval);
                let synced = self
                    .sync_series(&mut cursors, symbol, interval)
                    .instrument(span.clone())
                    .await;
                match synced {
                    Ok(written) => {
                        rows += written;
                        symbols_stored.insert(symbol);
                        let failed_before = self.failures.succeeded(&series);
                        if failed_before > 0 {
                            let _entered = span.enter();
                            tracing::info!("stored again after {failed_before} failed polls");
                        }
                    }
                    Err(SeriesError::Shutdown) => return false,
                    Err(SeriesError::Store(error)) if error.is_transient() => {
                        // Every other series would fail the same way. The write may have
                        // committed: the cursors are read again before the next fetch.
                        self.store_failed(&error);
                        return false;
                    }
                    Err(error) => {
                        all_stored = false;
                        let reason = error.kind();
                        let failures = self.failures.failed(&series, reason);
                        let _entered = span.enter();
                        tracing::error!(reason, failures, "series skipped for this poll: {error}");
                        self.shared.metrics.error(reason);
                        self.shared.metrics.series_failed(reason);
                    }
                }
                self.report_health();
            }
        }
        self.cursors = Some(cursors);
        tracing::info!(rows, "Stored klines for {} symbols", symbols_stored.len());
        all_stored
    }

    /// The cursors as this loop knows them, or as PostgreSQL holds them when they were
    /// forgotten (at start-up, after a timeout or a lost connection). Taken out for the pass
    /// and put back only when it ends without such a failure.
    async fn load_cursors(&mut self) -> Result<Cursors, StoreError> {
        if let Some(cursors) = self.cursors.take() {
            return Ok(cursors);
        }
        let client = self.store.client().await?;
        let stored = store::last_open_times(client, &self.shared.symbols, &self.intervals).await?;
        tracing::info!(series = stored.len(), "resuming klines from PostgreSQL");
        Ok(Cursors::from_stored(stored))
    }

    /// Fetches and writes one series page after page from its cursor until a short page says
    /// it is up to date; returns the rows written.
    async fn sync_series(
        &mut self,
        cursors: &mut Cursors,
        symbol: &str,
        interval: Interval,
    ) -> Result<u64, SeriesError> {
        let mut written = 0;
        loop {
            let start = cursors.start_of(symbol, interval, self.exchange_now_ms(), self.history);
            let fetch = self.shared.binance.klines_as(
                Priority::Background,
                symbol,
                interval,
                Some(start),
                None,
                PAGE_LIMIT,
            );
            let page = tokio::select! {
                biased;
                _ = self.shared.shutdown.cancelled() => return Err(SeriesError::Shutdown),
                page = fetch => page?,
            };
            let more = has_next_page(&page, start);
            let mut batch = KlineBatch::default();
            batch.extend(symbol, interval, page);
            written += self.write(&batch).await?;
            cursors.advance(&batch);
            if !more {
                return Ok(written);
            }
        }
    }

    /// Upserts one page in one statement; returns the rows inserted or changed.
    async fn write(&mut self, batch: &KlineBatch) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let client = self.store.client().await?;
        let rows = self.partitions.upsert_klines(client, batch).await?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::debug!(candles = batch.len(), rows, seconds, "page written");
        self.shared.metrics.write_duration("klines", seconds);
        self.shared.metrics.rows_written("klines", rows);
        Ok(rows)
    }

    fn store_failed(&mut self, error: &StoreError) {
        self.shared.metrics.error(error.kind());
        self.cursors = None;
        self.store.failed(error);
    }

    pub fn report_health(&self) {
        self.shared.report_weight();
        self.shared.metrics.failing_series(self.failures.len());
        self.shared.health.report(
            COMPONENT,
            kline_problem(
                self.store.is_connected(),
                &self.failures,
                self.shared.unhealthy_after,
            ),
        );
    }

    fn exchange_now_ms(&self) -> i64 {
        service::unix_time_ms().saturating_add(self.clock_offset_ms)
    }
}

/// Why `/healthz` should fail for klines, if it should: PostgreSQL unreachable, or series
/// failing `threshold` consecutive polls. Pure.
fn kline_problem(
    postgres_connected: bool,
    failures: &SeriesFailures,
    threshold: u32,
) -> Option<String> {
    health_problem(postgres_connected, failures.problem(threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_while_postgres_is_down_or_a_series_keeps_failing() {
        let mut failures = SeriesFailures::default();
        assert_eq!(kline_problem(true, &failures, 2), None);
        failures.failed(&("AUSDT".to_owned(), Interval::Minute1), "binance_5xx");
        assert_eq!(kline_problem(true, &failures, 2), None);
        assert_eq!(
            kline_problem(false, &failures, 2).as_deref(),
            Some("PostgreSQL is unreachable")
        );
        failures.failed(&("AUSDT".to_owned(), Interval::Minute1), "binance_5xx");
        assert_eq!(
            kline_problem(false, &failures, 2).as_deref(),
            Some(
                "PostgreSQL is unreachable; 1 kline series failed 2 or more polls in a row: \
                 AUSDT 1m (binance_5xx)"
            )
        );
    }
}
