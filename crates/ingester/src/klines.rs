//! Gap-free kline planning, pure: where each (symbol, interval) series resumes, how pages
//! follow each other, the page of candles being written, and which series keep failing.
//!
//! Every kline poll is a backfill: a series is fetched from its last *stored* open time onwards,
//! page after page, until a short page says it is caught up. The cursor moves only after
//! PostgreSQL has acknowledged the write, so an outage of Binance or of PostgreSQL, or a restart,
//! leaves the cursor where the data stops and the next poll fills the gap. The last stored candle
//! is fetched again on purpose: it may have been the open one, still changing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use binance::{Interval, Kline};

/// The configured intervals, each once, in the order first given: `--kline-intervals 1m,1m`
/// would otherwise fetch every candle twice into one batch.
pub fn distinct_intervals(intervals: &[Interval]) -> Vec<Interval> {
    let mut seen = HashSet::new();
    intervals
        .iter()
        .copied()
        .filter(|interval| seen.insert(*interval))
        .collect()
}

/// Largest page Binance serves; a page this full may have more behind it.
pub const PAGE_LIMIT: u16 = 1000;

/// A series of candles: one symbol at one interval.
pub type SeriesKey = (String, Interval);

/// The open time of the last stored candle of every series known to be in PostgreSQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursors(HashMap<SeriesKey, i64>);

impl Cursors {
    pub fn from_stored(stored: impl IntoIterator<Item = (SeriesKey, i64)>) -> Self {
        Cursors(stored.into_iter().collect())
    }

    /// Where the next fetch of a series starts: its last stored candle, or — for a series with
    /// nothing stored — the candle containing `history` before the exchange's `now_ms`.
    pub fn start_of(
        &self,
        symbol: &str,
        interval: Interval,
        now_ms: i64,
        history: Duration,
    ) -> i64 {
        self.0
            .get(&(symbol.to_owned(), interval))
            .copied()
            .unwrap_or_else(|| {
                let history_ms = i64::try_from(history.as_millis()).unwrap_or(i64::MAX);
                interval.open_time(interval.candle_index(now_ms.saturating_sub(history_ms)))
            })
    }

    /// Takes in a batch PostgreSQL has acknowledged. Never moves a cursor backwards.
    pub fn advance(&mut self, written: &KlineBatch) {
        for row in &written.rows {
            let cursor = self
                .0
                .entry((row.symbol.clone(), row.interval))
                .or_insert(row.kline.open_time);
            *cursor = (*cursor).max(row.kline.open_time);
        }
    }
}

/// Whether a series may have candles after `page`, fetched from `start`: only a full page may,
/// and only if it got past `start` (a full page of one open time, however malformed, must not
/// have the series fetched from the same place for ever). The next page starts at the cursor,
/// the last candle written, so pages overlap by that one candle.
pub fn has_next_page(page: &[Kline], start: i64) -> bool {
    page.len() >= usize::from(PAGE_LIMIT)
        && page.last().is_some_and(|kline| kline.open_time > start)
}

/// How many failing series `/healthz` names; the rest are counted.
const NAMED_FAILING_SERIES: usize = 5;

/// The series whose latest attempt failed: how many polls in a row, and why the latest did.
/// A series leaves it at its first success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesFailures(BTreeMap<SeriesKey, (u32, &'static str)>);

impl SeriesFailures {
    /// Records a failed attempt; returns how many polls in a row the series has failed.
    pub fn failed(&mut self, series: &SeriesKey, reason: &'static str) -> u32 {
        let entry = self.0.entry(series.clone()).or_insert((0, reason));
        *entry = (entry.0.saturating_add(1), reason);
        entry.0
    }

    /// Records a success; returns how many polls in a row the series had failed before it.
    pub fn succeeded(&mut self, series: &SeriesKey) -> u32 {
        self.0.remove(series).map_or(0, |(failures, _)| failures)
    }

    /// How many series failed at their latest attempt.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `/healthz` problem: the series that failed `threshold` polls in a row or more,
    /// counted, the first few named with the latest reason.
    pub fn problem(&self, threshold: u32) -> Option<String> {
        let persistent: Vec<String> = self
            .0
            .iter()
            .filter(|(_, (failures, _))| *failures >= threshold)
            .map(|((symbol, interval), (_, reason))| format!("{symbol} {interval} ({reason})"))
            .collect();
        if persistent.is_empty() {
            return None;
        }
        let mut names = persistent[..persistent.len().min(NAMED_FAILING_SERIES)].join(", ");
        if persistent.len() > NAMED_FAILING_SERIES {
            names.push_str(&format!(
                " and {} more",
                persistent.len() - NAMED_FAILING_SERIES
            ));
        }
        Some(format!(
            "{} kline series failed {threshold} or more polls in a row: {names}",
            persistent.len()
        ))
    }
}

/// One candle with the series it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlineRow {
    pub symbol: String,
    pub interval: Interval,
    pub kline: Kline,
}

/// Candles fetched and not yet written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KlineBatch {
    pub rows: Vec<KlineRow>,
}

impl KlineBatch {
    pub fn extend(&mut self, symbol: &str, interval: Interval, klines: Vec<Kline>) {
        self.rows.extend(klines.into_iter().map(|kline| KlineRow {
            symbol: symbol.to_owned(),
            interval,
            kline,
        }));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rust_decimal::Decimal;

    use super::*;

    const MINUTE: i64 = 60_000;
    /// 2024-03-01T12:00:00Z.
    const NOON: i64 = 1_709_294_400_000;

    pub(crate) fn kline(open_time: i64, close: &str) -> Kline {
        let close: Decimal = close.parse().unwrap();
        Kline {
            open_time,
            open: close,
            high: close,
            low: close,
            close,
            volume: Decimal::ONE,
            close_time: open_time + MINUTE - 1,
            quote_volume: close,
            trades: 1,
            taker_buy_base_volume: Decimal::ZERO,
            taker_buy_quote_volume: Decimal::ZERO,
        }
    }

    #[test]
    fn a_new_series_starts_history_before_now_on_a_candle_boundary() {
        let cursors = Cursors::default();
        let start = cursors.start_of(
            "BTCUSDT",
            Interval::Minute1,
            NOON + 30_250,
            Duration::from_secs(3600),
        );
        assert_eq!(start, NOON - 60 * MINUTE);
        let hourly = cursors.start_of(
            "BTCUSDT",
            Interval::Hour1,
            NOON + 30 * MINUTE,
            Duration::ZERO,
        );
        assert_eq!(hourly, NOON);
    }

    #[test]
    fn a_stored_series_resumes_at_its_last_candle_and_only_moves_forward() {
        let mut cursors = Cursors::from_stored([(("BTCUSDT".to_owned(), Interval::Minute1), NOON)]);
        assert_eq!(
            cursors.start_of(
                "BTCUSDT",
                Interval::Minute1,
                NOON + 99 * MINUTE,
                Duration::ZERO
            ),
            NOON
        );
        let mut batch = KlineBatch::default();
        batch.extend(
            "BTCUSDT",
            Interval::Minute1,
            vec![kline(NOON, "1"), kline(NOON + MINUTE, "2")],
        );
        batch.extend(
            "ETHUSDT",
            Interval::Minute1,
            vec![kline(NOON - MINUTE, "3")],
        );
        cursors.advance(&batch);
        assert_eq!(
            cursors.start_of("BTCUSDT", Interval::Minute1, 0, Duration::ZERO),
            NOON + MINUTE
        );
        assert_eq!(
            cursors.start_of("ETHUSDT", Interval::Minute1, 0, Duration::ZERO),
            NOON - MINUTE
        );

        let mut stale = KlineBatch::default();
        stale.extend(
            "BTCUSDT",
            Interval::Minute1,
            vec![kline(NOON - 5 * MINUTE, "1")],
        );
        cursors.advance(&stale);
        assert_eq!(
            cursors.start_of("BTCUSDT", Interval::Minute1, 0, Duration::ZERO),
            NOON + MINUTE
        );
    }

    #[test]
    fn intervals_are_kept_once_in_the_order_given() {
        assert_eq!(
            distinct_intervals(&[
                Interval::Minute1,
                Interval::Hour1,
                Interval::Minute1,
                Interval::Month1,
                Interval::Hour1
            ]),
            [Interval::Minute1, Interval::Hour1, Interval::Month1]
        );
        assert_eq!(distinct_intervals(&[]), []);
    }

    #[test]
    fn a_series_is_reported_once_it_failed_enough_polls_in_a_row() {
        let series = |symbol: &str| (symbol.to_owned(), Interval::Minute1);
        let mut failures = SeriesFailures::default();
        assert_eq!(failures.failed(&series("AUSDT"), "binance_5xx"), 1);
        assert_eq!(failures.failed(&series("AUSDT"), "binance_5xx"), 2);
        assert_eq!(failures.problem(3), None);
        assert_eq!(failures.failed(&series("AUSDT"), "postgres_rejected"), 3);
        assert_eq!(failures.failed(&series("BUSDT"), "binance_4xx"), 1);
        assert_eq!(
            failures.problem(3).as_deref(),
            Some("1 kline series failed 3 or more polls in a row: AUSDT 1m (postgres_rejected)")
        );
        assert_eq!(failures.len(), 2);
        assert_eq!(failures.succeeded(&series("AUSDT")), 3);
        assert_eq!(failures.succeeded(&series("AUSDT")), 0);
        assert_eq!(
            failures
                .problem(1)
                .as_deref()
                .map(|p| p.starts_with("1 kline")),
            Some(true)
        );
        assert_eq!(failures.succeeded(&series("BUSDT")), 1);
        assert!(failures.is_empty());
    }

    #[test]
    fn only_the_first_few_failing_series_are_named() {
        let mut failures = SeriesFailures::default();
        for number in 1..=7 {
            failures.failed(&(format!("S{number}USDT"), Interval::Hour1), "binance_5xx");
        }
        assert_eq!(
            failures.problem(1).as_deref(),
            Some(
                "7 kline series failed 1 or more polls in a row: S1USDT 1h (binance_5xx), \
                 S2USDT 1h (binance_5xx), S3USDT 1h (binance_5xx), S4USDT 1h (binance_5xx), \
                 S5USDT 1h (binance_5xx) and 2 more"
            )
        );
    }

    #[test]
    fn only_a_full_page_that_moved_on_has_a_next_page() {
        let full: Vec<Kline> = (0..1000).map(|i| kline(NOON + i * MINUTE, "1")).collect();
        assert!(has_next_page(&full, NOON));
        assert!(!has_next_page(&full[..999], NOON));
        assert!(!has_next_page(&[], NOON));
        let stuck: Vec<Kline> = (0..1000).map(|_| kline(NOON, "1")).collect();
        assert!(!has_next_page(&stuck, NOON));
    }
}
