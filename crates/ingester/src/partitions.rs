//! PostgreSQL's bounded window: the daily partitions of `ticker_24h` and `klines`, managed
//! through the functions of `sql/postgres/04-partitions.sql` (the ingester's role may call them,
//! but may not create or drop a table itself).
//!
//! At start-up and every hour the ingester creates the partitions of the window and a few days
//! ahead of the exchange's clock, and drops the partitions older than `--pg-retention-days`
//! (counted back from each table's newest row). A write may still find its day missing — a
//! backfill of candles older than the window, a simulator whose clock runs ahead, a partition
//! created by hand and dropped — so every write that PostgreSQL refuses for want of a partition
//! ensures the days of its rows and is tried once more; if it still fails it stays a transient
//! failure (the ticker poll stays buffered, the kline cursors stay), never dropped.
//!
//! Which days to create is pure ([`window`], [`day_runs`]); the rest is the calls.

use std::collections::HashSet;
use std::time::Duration;

use binance::Ticker24h;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::klines::KlineBatch;
use crate::metrics::Metrics;
use crate::store::{self, Store, StoreError};

/// How often the window moves: a day's partitions are made [`DAYS_AHEAD`] days early, so an hour
/// late is never too late, and an expired day waits at most an hour.
pub const MAINTENANCE_PERIOD: Duration = Duration::from_secs(3600);
/// After a failed maintenance (PostgreSQL away, a lock not granted in time), the next try.
const RETRY_PERIOD: Duration = Duration::from_secs(60);
/// Days created ahead of the exchange's clock, so that no write waits for a partition at
/// midnight UTC even while PostgreSQL was unreachable at the hour.
pub const DAYS_AHEAD: i64 = 3;

/// A partitioned market-data table, named as the SQL functions know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Tickers,
    Klines,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Tickers, Table::Klines];

    pub fn name(self) -> &'static str {
        match self {
            Table::Tickers => "ticker_24h",
            Table::Klines => "klines",
        }
    }
}

/// Consecutive UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// The days that should have a partition at the exchange's `now`: the window's
/// (`retention_days` back) and [`DAYS_AHEAD`] more. Pure.
pub fn window(now: DateTime<Utc>, retention_days: u32) -> Days {
    Days {
        first: (now - TimeDelta::days(i64::from(retention_days))).date_naive(),
        last: (now + TimeDelta::days(DAYS_AHEAD)).date_naive(),
    }
}

/// The distinct UTC days of `times`, as runs of consecutive days, oldest first: a batch of
/// candles of a day and of a month ago needs two days, not the thirty between them. Pure.
pub fn day_runs(times: impl IntoIterator<Item = DateTime<Utc>>) -> Vec<Days> {
    let mut days: Vec<NaiveDate> = times.into_iter().map(|time| time.date_naive()).collect();
    days.sort_unstable();
    days.dedup();
    let mut runs: Vec<Days> = Vec::new();
    for day in days {
        match runs.last_mut() {
            Some(run) if run.last.succ_opt() == Some(day) => run.last = day,
            _ => runs.push(Days {
                first: day,
                last: day,
            }),
        }
    }
    runs
}

/// Creates the missing partitions of `days`; returns the names created.
pub async fn ensure(client: &Client, table: Table, days: Days) -> Result<Vec<String>, StoreError> {
    let rows = store::timed(client.query(
        "SELECT partitions.ensure($1, $2, $3)",
        &[&table.name(), &days.first, &days.last],
    ))
    .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Drops the partitions older than `retention_days` before the table's newest row (klines: and
/// holding no candle that can still change); returns the names dropped.
pub async fn drop_expired(
    client: &Client,
    table: Table,
    retention_days: u32,
) -> Result<Vec<String>, StoreError> {
    let days = i32::try_from(retention_days).unwrap_or(i32::MAX);
    let rows = store::timed(client.query(
        "SELECT partitions.drop_expired($1, make_interval(days => $2))",
        &[&table.name(), &days],
    ))
    .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The window's settings, and the writes that create their own partitions when missing.
#[derive(Clone)]
pub struct Partitions {
    retention_days: u32,
    /// Exchange time minus local time, so that the window follows the exchange's clock.
    clock_offset_ms: i64,
    metrics: Metrics,
    /// Days before the window known to have a klines partition: a long interval's open candle
    /// (a month's) is written at every poll, and would otherwise ensure its day at every poll.
    /// A day dropped since stays in it harmlessly: its write fails for want of the partition,
    /// which ensures it.
    old_days: HashSet<NaiveDate>,
}

impl Partitions {
    pub fn new(retention_days: u32, clock_offset_ms: i64, metrics: Metrics) -> Self {
        Partitions {
            retention_days,
            clock_offset_ms,
            metrics,
            old_days: HashSet::new(),
        }
    }

    fn exchange_now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.clock_offset_ms)
    }

    /// Creates the window's partitions and drops the expired ones, in both tables.
    pub async fn maintain(&mut self, client: &Client) -> Result<(), StoreError> {
        let days = window(self.exchange_now(), self.retention_days);
        for table in Table::ALL {
            self.ensure(client, table, days).await?;
        }
        for table in Table::ALL {
            let dropped = drop_expired(client, table, self.retention_days).await?;
            if !dropped.is_empty() {
                tracing::info!(
                    table = table.name(),
                    partitions = ?dropped,
                    "dropped {} partitions older than {} days (Cassandra keeps their rows)",
                    dropped.len(),
                    self.retention_days
                );
                self.metrics.partitions_dropped(table.name(), dropped.len());
            }
        }
        self.old_days.clear();
        Ok(())
    }

    /// [`Partitions::maintain`] on `store`'s connection. A failure is logged and counted, never
    /// fatal (writes ensure their own partitions); false when it failed.
    pub async fn maintain_on(&mut self, store: &mut Store) -> bool {
        let result = match store.client().await {
            Ok(client) => self.maintain(client).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => true,
            Err(error) => {
                self.metrics.error(error.kind());
                if error.is_transient() {
                    tracing::info_span!("partition_maintenance").in_scope(|| store.failed(&error));
                } else {
                    tracing::warn!("PostgreSQL partition maintenance failed: {error}");
                }
                false
            }
        }
    }

    async fn ensure(&self, client: &Client, table: Table, days: Days) -> Result<(), StoreError> {
        let created = ensure(client, table, days).await?;
        if !created.is_empty() {
            tracing::info!(
                table = table.name(),
                partitions = ?created,
                "created {} partitions",
                created.len()
            );
            self.metrics.partitions_created(table.name(), created.len());
        }
        Ok(())
    }

    /// Ensures `times`' days after a write refused for want of a partition. False when that
    /// failed too (logged): the caller keeps the write's own error, transient, so the rows are
    /// written later rather than dropped.
    async fn ensure_for(
        &self,
        client: &Client,
        table: Table,
        times: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> bool {
        for days in day_runs(times) {
            if let Err(error) = self.ensure(client, table, days).await {
                self.metrics.error(error.kind());
                tracing::warn!(
                    "cannot create the partitions of {} from {} to {}: {error}",
                    table.name(),
                    days.first,
                    days.last
                );
                return false;
            }
        }
        true
    }

    /// [`store::insert_tickers`], ensuring the tickers' days and trying once more when one had
    /// no partition (counted as a `postgres_no_partition` error: the window should have had it).
    pub async fn insert_tickers(
        &self,
        client: &Client,
        tickers: &[Ticker24h],
        fetched_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match store::insert_tickers(client, tickers, fetched_at).await {
            Err(error) if error.is_missing_partition() => {
                self.metrics.error(error.kind());
                let times = tickers
                    .iter()
                    .filter_map(|ticker| DateTime::from_timestamp_millis(ticker.close_time));
                if !self.ensure_for(client, Table::Tickers, times).await {
                    return Err(error);
                }
                store::insert_tickers(client, tickers, fetched_at).await
            }
            result => result,
        }
    }

    /// [`store::upsert_klines`], first ensuring the days before the window that the batch
    /// writes (a backfill, a long interval's open candle), and ensuring and trying once more
    /// when a candle still had no partition.
    pub async fn upsert_klines(
        &mut self,
        client: &Client,
        batch: &KlineBatch,
    ) -> Result<u64, StoreError> {
        let open_times = || {
            batch
                .rows
                .iter()
                .filter_map(|row| DateTime::from_timestamp_millis(row.kline.open_time))
        };
        let window_start = window(self.exchange_now(), self.retention_days).first;
        let old: Vec<DateTime<Utc>> = open_times()
            .filter(|time| time.date_naive() < window_start)
            .filter(|time| !self.old_days.contains(&time.date_naive()))
            .collect();
        // Failing here is not final: the write tells whether a partition is really missing.
        if !old.is_empty() && self.ensure_for(client, Table::Klines, old.clone()).await {
            self.old_days.extend(old.iter().map(DateTime::date_naive));
        }
        match store::upsert_klines(client, batch).await {
            Err(error) if error.is_missing_partition() => {
                self.metrics.error(error.kind());
                if !self.ensure_for(client, Table::Klines, open_times()).await {
                    return Err(error);
                }
                store::upsert_klines(client, batch).await
            }
            result => result,
        }
    }
}

/// Moves the window every [`MAINTENANCE_PERIOD`] (a minute after a failure, when
/// `last_succeeded` is false) until `shutdown`, on a connection of its own: a drop waiting for a
/// lock must not hold up the polls.
pub fn spawn_maintenance(
    pg_url: String,
    mut partitions: Partitions,
    mut last_succeeded: bool,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut store = Store::new(pg_url);
        loop {
            let wait = if last_succeeded {
                MAINTENANCE_PERIOD
            } else {
                RETRY_PERIOD
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            last_succeeded = partitions.maintain_on(&mut store).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_window_runs_from_the_retention_back_to_days_ahead_in_utc() {
        assert_eq!(
            window(at("2026-12-01T23:30:00+00:00"), 7),
            Days {
                first: day("2026-11-24"),
                last: day("2026-12-04")
            }
        );
        // 01:30 in UTC+02:00 is still the day before in UTC.
        assert_eq!(
            window(at("2026-12-02T01:30:00+02:00"), 1),
            Days {
                first: day("2026-11-30"),
                last: day("2026-12-04")
            }
        );
    }

    #[test]
    fn days_are_grouped_into_runs_without_the_gaps_between() {
        let runs = day_runs([
            at("2026-12-02T10:00:00Z"),
            at("2026-11-01T00:00:00Z"),
            at("2026-12-01T23:59:59.999Z"),
            at("2026-12-02T00:00:00Z"),
            at("2026-12-04T00:00:00Z"),
        ]);
        assert_eq!(
            runs,
            [
                Days {
                    first: day("2026-11-01"),
                    last: day("2026-11-01")
                },
                Days {
                    first: day("2026-12-01"),
                    last: day("2026-12-02")
                },
                Days {
                    first: day("2026-12-04"),
                    last: day("2026-12-04")
                },
            ]
        );
        assert_eq!(day_runs([]), []);
    }
}
