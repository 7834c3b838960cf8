//! Deterministic market data: prices, candles and 24-hour statistics as pure functions of
//! (seed, symbol, time). Nothing is stored, so memory stays flat with thousands of symbols and
//! any window of history can be generated on demand, identically on every call.
//!
//! **Prices.** The log-price at every minute boundary since [`GENESIS_MS`] is a Brownian path
//! built by midpoint displacement: the values at both ends of a 2^26-minute span are the
//! symbol's reference price, and each segment's midpoint is the mean of its ends plus seeded
//! Gaussian noise scaled by the segment length. Reading the value at minute m walks 26 levels
//! down; reading a range walks the tree once, costing about one hash per minute. Displacements
//! of segments longer than [`WANDER_CAP_MINUTES`] are scaled as if that long, which keeps prices
//! within a plausible band of their reference price over years.
//!
//! **One-minute candles.** Open is the price at the minute's start and close the price at its
//! end, so each candle opens where the previous one closed. Inside the minute the price follows
//! open → first extreme (at 20 s) → second extreme (at 40 s) → close, the extremes being a
//! seeded high and low around open and close. The open candle is this path cut at the current
//! time, so its high, low, volume and trade count only grow until it closes with exactly the
//! values the closed candle has.
//!
//! **Everything else** is derived: every interval from `1m` up aggregates one-minute candles;
//! `1s` candles are one-second cuts of the minute path; the 24-hour ticker aggregates the 1441
//! one-minute candles from the one containing now-24h to the open one.
//!
//! Amounts are integers in units of 10^-8 (Binance prints 8 decimals), prices are whole
//! multiples of the symbol's tick and volumes of its lot step; floats are used only to draw the
//! path, never for amounts.

use binance::Interval;

/// 2017-01-01T00:00:00Z: the first minute of simulated history.
pub const GENESIS_MS: i64 = 1_483_228_800_000;
const MINUTE_MS: i64 = 60_000;
/// 10^8: amounts are integers in units of 10^-8.
pub const UNITS_PER_WHOLE: i64 = 100_000_000;
/// The path spans 2^26 minutes (about 127 years) from genesis.
const PATH_LEVELS: u32 = 26;
const PATH_MINUTES: i64 = 1 << PATH_LEVELS;
const WANDER_CAP_MINUTES: i64 = 1 << 15;
/// Where the two extremes of a minute's path sit, in ms after its start.
const EXTREME_OFFSETS_MS: [i64; 2] = [20_000, 40_000];
/// Trade ids are `minute index * TRADE_ID_STRIDE + n`, so ids grow with time without a
/// running count (which would need all history); they have gaps between minutes.
const TRADE_ID_STRIDE: i64 = 100_000;
/// A 24-hour window in minutes.
const DAY_MINUTES: i64 = 1440;

/// Everything that determines one symbol's market.
#[derive(Debug, Clone)]
pub struct PriceModel {
    seed: u64,
    log_reference: f64,
    /// Standard deviation of the log-price over one minute.
    volatility: f64,
    pub tick_units: i64,
    pub step_units: i64,
    volume_steps_per_minute: f64,
    trades_per_minute: f64,
}

impl PriceModel {
    /// A market around `reference_price` (quote per base) trading about `daily_quote_volume`
    /// a day. Tick and lot step follow the price the way Binance's filters roughly do: about
    /// six significant digits of price, and coarser lots for cheaper coins.
    pub fn new(seed: u64, reference_price: f64, daily_quote_volume: f64, volatility: f64) -> Self {
        let magnitude = reference_price.log10().floor() as i32;
        let tick_units = 10_i64.pow((magnitude + 2).clamp(0, 6) as u32);
        let step_decimals = (magnitude + 1).clamp(0, 8) as u32;
        let step_units = 10_i64.pow(8 - step_decimals);
        let volume_per_minute = daily_quote_volume / DAY_MINUTES as f64 / reference_price;
        let steps_per_whole = (UNITS_PER_WHOLE / step_units) as f64;
        PriceModel {
            seed,
            log_reference: reference_price.ln(),
            volatility,
            tick_units,
            step_units,
            volume_steps_per_minute: volume_per_minute * steps_per_whole,
            trades_per_minute: (daily_quote_volume / DAY_MINUTES as f64 / 400.0)
                .clamp(1.0, 5_000.0),
        }
    }

    /// Visits the log-price at every minute boundary in `first..=last` (indices since genesis,
    /// within the path), in order.
    fn walk_boundaries(&self, first: i64, last: i64, visit: &mut impl FnMut(i64, f64)) {
        let (first, last) = (first.max(0), last.min(PATH_MINUTES));
        if first > last {
            return;
        }
        if first == 0 {
            visit(0, self.log_reference);
        }
        self.walk_segment(
            0,
            PATH_MINUTES,
            self.log_reference,
            self.log_reference,
            first,
            last,
            visit,
        );
    }

    /// Visits the boundaries in `(low, high]` that lie in `first..=last`.
    #[allow(clippy::too_many_arguments)] // a recursion's state; bundling it would only rename it
    fn walk_segment(
        &self,
        low: i64,
        high: i64,
        value_low: f64,
        value_high: f64,
        first: i64,
        last: i64,
        visit: &mut impl FnMut(i64, f64),
    ) {
        if high < first || low >= last {
            return;
        }
        if high - low == 1 {
            visit(high, value_high);
            return;
        }
        let middle = low + (high - low) / 2;
        let spread = self.volatility * ((high - low).min(WANDER_CAP_MINUTES) as f64).sqrt() / 2.0;
        let noise = gaussian(hash3(self.seed, low as u64, high as u64)) * spread;
        let value_middle = (value_low + value_high) / 2.0 + noise;
        self.walk_segment(low, middle, value_low, value_middle, first, last, visit);
        self.walk_segment(middle, high, value_middle, value_high, first, last, visit);
    }

    fn price_units(&self, log_price: f64) -> i64 {
        let ticks = (log_price.exp() * UNITS_PER_WHOLE as f64 / self.tick_units as f64).round();
        (ticks as i64).max(1) * self.tick_units
    }

    /// The full path of minute `minute` (index since genesis), given its open and close.
    fn minute_path(&self, minute: i64, open: i64, close: i64) -> MinutePath {
        let draws = hash3(self.seed ^ 0x6d69_6e75_7465, minute as u64, 0);
        let unit = |shift: u32| f64::from(((draws >> shift) & 0xffff) as u16) / 65_536.0;
        let excursion = |price: i64, draw: f64| {
            let ticks = (price as f64 * self.volatility * draw / self.tick_units as f64).round();
            ticks as i64 * self.tick_units
        };
        let high = open.max(close) + excursion(open.max(close), unit(0));
        let low = (open.min(close) - excursion(open.min(close), unit(16))).max(self.tick_units);
        let (first, second) = if draws >> 63 == 0 {
            (high, low)
        } else {
            (low, high)
        };
        let volume_factor = (0.6 * gaussian(hash3(self.seed, minute as u64, 1))).exp();
        let volume_steps = (self.volume_steps_per_minute * volume_factor).round() as i64;
        MinutePath {
            points: [
                (0, open),
                (EXTREME_OFFSETS_MS[0], first),
                (EXTREME_OFFSETS_MS[1], second),
                (MINUTE_MS, close),
            ],
            tick_units: self.tick_units,
            volume_steps: i128::from(volume_steps),
            step_units: i128::from(self.step_units),
            trades: (self.trades_per_minute * volume_factor).round() as i64,
            taker_share_permille: 300 + (draws >> 32 & 0xffff) as i64 % 400,
        }
    }

    /// Calls `visit` with the one-minute path of each minute in `first..=last` that has begun
    /// by `now_ms`, and how far into it `now_ms` is (`MINUTE_MS` for a closed minute).
    fn for_each_minute(
        &self,
        first: i64,
        last: i64,
        now_ms: i64,
        visit: &mut impl FnMut(i64, &MinutePath, i64),
    ) {
        let current = minute_index(now_ms);
        let last = last.min(current);
        let mut previous: Option<(i64, i64)> = None;
        self.walk_boundaries(first, last + 1, &mut |boundary, log_price| {
            let price = self.price_units(log_price);
            if let Some((minute, open)) = previous {
                let path = self.minute_path(minute, open, price);
                let elapsed = (now_ms - minute_start_ms(minute)).min(MINUTE_MS);
                visit(minute, &path, elapsed);
            }
            previous = Some((boundary, price));
        });
    }

    /// Candles of `interval` with indices `first..=last`, cut at `now_ms`; candles that have
    /// not begun, or lie wholly before genesis, are left out.
    pub fn candles(&self, interval: Interval, first: i64, last: i64, now_ms: i64) -> Vec<Candle> {
        let first_ms = interval.open_time(first).max(GENESIS_MS);
        let end_ms = interval.open_time(last + 1).min(now_ms + 1);
        if first_ms >= end_ms {
            return Vec::new();
        }
        let mut candles: Vec<Candle> = Vec::new();
        let mut push = |index: i64, piece: Candle| match candles.last_mut() {
            _ if !(first..=last).contains(&index) => {}
            Some(open) if open.index == index => open.absorb(&piece),
            _ => candles.push(Candle {
                index,
                open_time: interval.open_time(index),
                close_time: interval.close_time(index),
                ..piece
            }),
        };
        let first_minute = minute_index(first_ms);
        let last_minute = minute_index(end_ms - 1);
        self.for_each_minute(
            first_minute,
            last_minute,
            now_ms,
            &mut |minute, path, elapsed| {
                let start = minute_start_ms(minute);
                if interval == Interval::Second1 {
                    for second_start in (0..elapsed).step_by(1000) {
                        let piece =
                            path.cut(second_start, (second_start + 1000).min(elapsed), minute);
                        push(interval.candle_index(start + second_start), piece);
                    }
                } else {
                    push(interval.candle_index(start), path.cut(0, elapsed, minute));
                }
            },
        );
        candles
    }

    /// Rolling 24-hour statistics at `now_ms`: the one-minute candles from the one containing
    /// `now_ms - 24h` to the open one, aggregated exactly as klines are.
    pub fn day_stats(&self, now_ms: i64) -> Option<DayStats> {
        let current = Interval::Minute1.candle_index(now_ms);
        let first = current - DAY_MINUTES;
        // One more candle than the window, for the close before it.
        let candles = self.candles(Interval::Minute1, first - 1, current, now_ms);
        let (previous_close, window) = match candles.split_first() {
            Some((before, window)) if before.index < first => (Some(before.close), window),
            _ => (None, candles.as_slice()),
        };
        let (first_candle, rest) = window.split_first()?;
        let mut total = first_candle.clone();
        for candle in rest {
            total.absorb(candle);
        }
        let draws = hash3(
            self.seed ^ 0x7469_636b,
            current as u64,
            now_ms as u64 / 1000,
        );
        let lot = |shift: u32| {
            let steps = 1
                + (draws >> shift & 0xff) as i64
                    * (self.volume_steps_per_minute as i64 / 2000).max(1);
            i128::from(steps) * i128::from(self.step_units)
        };
        Some(DayStats {
            open_time: total.open_time,
            close_time: now_ms,
            bid: (total.close - self.tick_units).max(self.tick_units),
            ask: total.close + self.tick_units,
            last_qty: lot(0),
            bid_qty: lot(8),
            ask_qty: lot(16),
            previous_close: previous_close.unwrap_or(total.open),
            window: total,
        })
    }
}

/// Index (since genesis) of the minute containing `time_ms`, relative to genesis.
fn minute_index(time_ms: i64) -> i64 {
    (time_ms - GENESIS_MS).div_euclid(MINUTE_MS)
}

fn minute_start_ms(minute: i64) -> i64 {
    GENESIS_MS + minute * MINUTE_MS
}

/// The price path of one minute and what trades along it.
struct MinutePath {
    /// (ms into the minute, price units): open, the two extremes, close.
    points: [(i64, i64); 4],
    tick_units: i64,
    /// Volume in whole lot steps, so that every cut of it is a whole number of lots too.
    volume_steps: i128,
    step_units: i128,
    trades: i64,
    taker_share_permille: i64,
}

impl MinutePath {
    fn price_at(&self, at_ms: i64) -> i64 {
        for pair in self.points.windows(2) {
            let ((t0, p0), (t1, p1)) = (pair[0], pair[1]);
            if at_ms <= t1 {
                let exact = p0 + (p1 - p0) * (at_ms - t0) / (t1 - t0);
                let ticks = (exact + self.tick_units / 2) / self.tick_units;
                return ticks * self.tick_units;
            }
        }
        self.points[3].1
    }

    /// A share of the minute's total proportional to elapsed time; floored so that the shares
    /// of consecutive cuts add up to the whole.
    fn share(total: i128, until_ms: i64) -> i128 {
        total * i128::from(until_ms) / i128::from(MINUTE_MS)
    }

    /// The candle of the path between `from_ms` and `to_ms` into minute `minute`.
    fn cut(&self, from_ms: i64, to_ms: i64, minute: i64) -> Candle {
        let open = self.price_at(from_ms);
        let close = self.price_at(to_ms);
        let inside = self
            .points
            .iter()
            .filter(|(at, _)| *at > from_ms && *at < to_ms)
            .map(|(_, p)| *p);
        let high = inside.clone().chain([open, close]).max().unwrap_or(open);
        let low = inside.chain([open, close]).min().unwrap_or(open);
        let volume_steps =
            Self::share(self.volume_steps, to_ms) - Self::share(self.volume_steps, from_ms);
        let volume = volume_steps * self.step_units;
        let trades = Self::share(i128::from(self.trades), to_ms)
            - Self::share(i128::from(self.trades), from_ms);
        let taker = volume_steps * i128::from(self.taker_share_permille) / 1000 * self.step_units;
        let typical = i128::from(open + high + low + close);
        // quote = volume × typical price, both in 10^-8 units; /4 for the mean, /10^8 to rescale.
        let quote = |base: i128| base * typical / (4 * i128::from(UNITS_PER_WHOLE));
        let first_id =
            minute * TRADE_ID_STRIDE + Self::share(i128::from(self.trades), from_ms) as i64;
        Candle {
            index: 0,
            open_time: 0,
            close_time: 0,
            open,
            high,
            low,
            close,
            volume,
            quote_volume: quote(volume),
            trades: trades as u64,
            taker_base: taker,
            taker_quote: quote(taker),
            trade_ids: (trades > 0).then(|| (first_id, first_id + trades as i64 - 1)),
        }
    }
}

/// One candle of any interval; prices in 10^-8 units (i64), amounts in 10^-8 units (i128).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    pub index: i64,
    pub open_time: i64,
    pub close_time: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i128,
    pub quote_volume: i128,
    pub trades: u64,
    pub taker_base: i128,
    pub taker_quote: i128,
    /// First and last trade id, when there were trades.
    pub trade_ids: Option<(i64, i64)>,
}

impl Candle {
    /// Extends this candle by the next, later piece.
    fn absorb(&mut self, later: &Candle) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume += later.volume;
        self.quote_volume += later.quote_volume;
        self.trades += later.trades;
        self.taker_base += later.taker_base;
        self.taker_quote += later.taker_quote;
        self.trade_ids = match (self.trade_ids, later.trade_ids) {
            (Some((first, _)), Some((_, last))) => Some((first, last)),
            (ids, None) | (None, ids) => ids,
        };
    }
}

/// The 24-hour ticker of one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStats {
    pub open_time: i64,
    pub close_time: i64,
    /// Aggregate of the window's one-minute candles: open, high, low, last, volumes, trades.
    pub window: Candle,
    pub previous_close: i64,
    pub bid: i64,
    pub ask: i64,
    pub last_qty: i128,
    pub bid_qty: i128,
    pub ask_qty: i128,
}

/// Which candle indices a klines request returns: open times in `[start, end]`, not in the
/// future and not before genesis, oldest first, at most `limit`; without `start`, the most
/// recent `limit` up to `end` (or now).
pub fn kline_indices(
    interval: Interval,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    limit: u16,
    now_ms: i64,
) -> Option<(i64, i64)> {
    let newest = interval.candle_index(end_ms.map_or(now_ms, |end| end.min(now_ms)));
    let oldest = interval.candle_index(GENESIS_MS);
    let limit = i64::from(limit.max(1));
    let (first, last) = match start_ms {
        Some(start) => {
            let index = interval.candle_index(start);
            let first = if interval.open_time(index) < start {
                index + 1
            } else {
                index
            }
            .max(oldest);
            (first, newest.min(first + limit - 1))
        }
        None => ((newest - limit + 1).max(oldest), newest),
    };
    (first <= last).then_some((first, last))
}

/// SplitMix64's finalizer: a fast, well-mixed 64-bit hash.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

pub fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix(a ^ mix(b ^ mix(c)))
}

/// A standard normal draw from 64 random bits: the sum of four 16-bit uniforms, centred and
/// scaled (Irwin–Hall). Plain arithmetic, so identical on every platform.
fn gaussian(bits: u64) -> f64 {
    let sum: f64 = (0..4)
        .map(|i| f64::from((bits >> (16 * i)) as u16) / 65_536.0)
        .sum();
    (sum - 2.0) * 3.0_f64.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-01T00:00:00Z plus a bit, well past genesis.
    const NOW: i64 = 1_709_251_200_000 + 37_250;

    fn model() -> PriceModel {
        PriceModel::new(7, 60_000.0, 2.0e9, 0.001)
    }

    #[test]
    fn candles_are_well_formed_and_continuous() {
        let model = model();
        let last = Interval::Minute1.candle_index(NOW);
        let candles = model.candles(Interval::Minute1, last - 999, last, NOW);
        assert_eq!(candles.len(), 1000);
        for pair in candles.windows(2) {
            assert_eq!(
                pair[0].close, pair[1].open,
                "each candle opens at the previous close"
            );
            assert_eq!(pair[0].close_time + 1, pair[1].open_time);
        }
        for candle in &candles {
            assert!(
                candle.low <= candle.open.min(candle.close)
                    && candle.high >= candle.open.max(candle.close)
            );
            assert!(candle.low > 0);
            for price in [candle.open, candle.high, candle.low, candle.close] {
                assert_eq!(price % model.tick_units, 0, "prices are whole ticks");
            }
            assert!(
                candle.taker_base <= candle.volume
                    && candle.volume % i128::from(model.step_units) == 0
            );
        }
        let price = candles[0].open as f64 / UNITS_PER_WHOLE as f64;
        assert!((6_000.0..600_000.0).contains(&price), "{price}");
    }

    #[test]
    fn longer_intervals_aggregate_minutes() {
        let model = model();
        let hour = Interval::Hour1.candle_index(NOW) - 3;
        let hourly = model.candles(Interval::Hour1, hour, hour, NOW);
        let first_minute = Interval::Minute1.candle_index(Interval::Hour1.open_time(hour));
        let minutes = model.candles(Interval::Minute1, first_minute, first_minute + 59, NOW);
        let mut total = minutes[0].clone();
        minutes[1..].iter().for_each(|minute| total.absorb(minute));
        assert_eq!(
            hourly[0],
            Candle {
                index: hour,
                open_time: hourly[0].open_time,
                close_time: hourly[0].close_time,
                ..total
            }
        );
        assert_eq!(hourly[0].close_time - hourly[0].open_time + 1, 3_600_000);
    }

    #[test]
    fn seconds_add_up_to_their_minute() {
        let model = model();
        let minute = Interval::Minute1.candle_index(NOW) - 1;
        let whole = &model.candles(Interval::Minute1, minute, minute, NOW)[0];
        let first_second = Interval::Second1.candle_index(whole.open_time);
        let seconds = model.candles(Interval::Second1, first_second, first_second + 59, NOW);
        assert_eq!(seconds.len(), 60);
        assert_eq!(seconds[0].open, whole.open);
        assert_eq!(seconds[59].close, whole.close);
        assert_eq!(seconds.iter().map(|s| s.high).max(), Some(whole.high));
        assert_eq!(seconds.iter().map(|s| s.low).min(), Some(whole.low));
        assert_eq!(seconds.iter().map(|s| s.volume).sum::<i128>(), whole.volume);
        assert_eq!(seconds.iter().map(|s| s.trades).sum::<u64>(), whole.trades);
    }

    #[test]
    fn the_open_candle_grows_into_the_closed_one() {
        let model = model();
        let minute = Interval::Minute1.candle_index(NOW);
        let start = Interval::Minute1.open_time(minute);
        let closed = model.candles(Interval::Minute1, minute, minute, start + MINUTE_MS)[0].clone();
        let mut previous: Option<Candle> = None;
        for at in (0..MINUTE_MS).step_by(4_999) {
            let open = model.candles(Interval::Minute1, minute, minute, start + at)[0].clone();
            assert_eq!(open.close % model.tick_units, 0);
            assert_eq!(open.open, closed.open);
            assert!(
                open.high <= closed.high && open.low >= closed.low && open.volume <= closed.volume
            );
            if let Some(before) = previous {
                assert!(
                    open.high >= before.high
                        && open.low <= before.low
                        && open.volume >= before.volume
                );
            }
            previous = Some(open);
        }
        // No candle for a minute that has not begun.
        assert!(
            model
                .candles(Interval::Minute1, minute + 1, minute + 5, NOW)
                .is_empty()
        );
    }

    #[test]
    fn day_stats_aggregate_the_last_1441_minutes() {
        let model = model();
        let stats = model.day_stats(NOW).unwrap();
        let current = Interval::Minute1.candle_index(NOW);
        let minutes = model.candles(Interval::Minute1, current - 1440, current, NOW);
        assert_eq!(minutes.len(), 1441);
        assert_eq!(stats.open_time, minutes[0].open_time);
        assert_eq!(stats.close_time, NOW);
        assert_eq!(stats.window.open, minutes[0].open);
        assert_eq!(stats.window.close, minutes[1440].close);
        assert_eq!(
            stats.window.high,
            minutes.iter().map(|m| m.high).max().unwrap()
        );
        assert_eq!(
            stats.window.low,
            minutes.iter().map(|m| m.low).min().unwrap()
        );
        assert_eq!(
            stats.window.volume,
            minutes.iter().map(|m| m.volume).sum::<i128>()
        );
        assert_eq!(
            stats.previous_close, minutes[0].open,
            "the close before the window is its open"
        );
        assert!(stats.bid < stats.ask);
    }

    #[test]
    fn same_seed_same_market_other_seed_other_market() {
        let at = |seed| {
            PriceModel::new(seed, 1.0, 1.0e7, 0.001).candles(Interval::Hour1, 474_000, 474_010, NOW)
        };
        assert_eq!(at(1), at(1));
        assert_ne!(at(1), at(2));
    }

    #[test]
    fn kline_paging_follows_binance() {
        let minute = |index: i64| Interval::Minute1.open_time(index);
        let now_index = Interval::Minute1.candle_index(NOW);
        // Without startTime: the most recent `limit`, ending with the open candle.
        assert_eq!(
            kline_indices(Interval::Minute1, None, None, 500, NOW),
            Some((now_index - 499, now_index))
        );
        // startTime on a boundary is included; inside a candle, that candle is skipped.
        let start = minute(now_index - 100);
        assert_eq!(
            kline_indices(Interval::Minute1, Some(start), None, 10, NOW),
            Some((now_index - 100, now_index - 91))
        );
        assert_eq!(
            kline_indices(Interval::Minute1, Some(start + 1), None, 10, NOW),
            Some((now_index - 99, now_index - 90))
        );
        // endTime bounds the open time, inclusive.
        assert_eq!(
            kline_indices(
                Interval::Minute1,
                Some(start),
                Some(start + 120_000),
                10,
                NOW
            ),
            Some((now_index - 100, now_index - 98))
        );
        assert_eq!(
            kline_indices(Interval::Minute1, None, Some(start), 3, NOW),
            Some((now_index - 102, now_index - 100))
        );
        // Nothing in the future, nothing before genesis.
        assert_eq!(
            kline_indices(Interval::Minute1, Some(NOW + 60_000), None, 10, NOW),
            None
        );
        let genesis = Interval::Minute1.candle_index(GENESIS_MS);
        assert_eq!(
            kline_indices(Interval::Minute1, Some(0), None, 5, NOW),
            Some((genesis, genesis + 4))
        );
    }
}
