//! Kline intervals and the calendar arithmetic that places candles in time.
//!
//! Every candle of an interval has an *index*: the number of whole candles between the Unix
//! epoch and it. Working with indices turns "the candle containing t", "the next candle" and
//! "the 500 most recent candles" into integer arithmetic, which matters because not every
//! interval has a fixed length:
//!
//! - `1s` … `3d` are fixed multiples of a second, aligned to the Unix epoch (UTC).
//! - `1w` candles open on Monday 00:00 UTC, as Binance's do; the epoch was a Thursday, so the
//!   week grid is shifted by four days.
//! - `1M` is a calendar month in UTC: it opens on the 1st at 00:00 and lasts 28–31 days. Its
//!   index is months since January 1970, and its length is computed from the civil calendar
//!   (proleptic Gregorian), never approximated as 30 days.

use std::fmt;
use std::str::FromStr;

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-05, the first Monday after the epoch: the origin of the weekly grid.
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;

/// A kline interval as Binance names it (`1s`, `1m`, …, `1M`; case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    Second1,
    Minute1,
    Minute3,
    Minute5,
    Minute15,
    Minute30,
    Hour1,
    Hour2,
    Hour4,
    Hour6,
    Hour8,
    Hour12,
    Day1,
    Day3,
    Week1,
    Month1,
}

/// The length of a candle: a fixed number of milliseconds, or the calendar month.
enum Grid {
    Fixed { length_ms: i64, origin_ms: i64 },
    CalendarMonth,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 16] = [
        Interval::Second1,
        Interval::Minute1,
        Interval::Minute3,
        Interval::Minute5,
        Interval::Minute15,
        Interval::Minute30,
        Interval::Hour1,
        Interval::Hour2,
        Interval::Hour4,
        Interval::Hour6,
        Interval::Hour8,
        Interval::Hour12,
        Interval::Day1,
        Interval::Day3,
        Interval::Week1,
        Interval::Month1,
    ];

    /// The value of the `interval` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Second1 => "1s",
            Interval::Minute1 => "1m",
            Interval::Minute3 => "3m",
            Interval::Minute5 => "5m",
            Interval::Minute15 => "15m",
            Interval::Minute30 => "30m",
            Interval::Hour1 => "1h",
            Interval::Hour2 => "2h",
            Interval::Hour4 => "4h",
            Interval::Hour6 => "6h",
            Interval::Hour8 => "8h",
            Interval::Hour12 => "12h",
            Interval::Day1 => "1d",
            Interval::Day3 => "3d",
            Interval::Week1 => "1w",
            Interval::Month1 => "1M",
        }
    }

    fn grid(self) -> Grid {
        let fixed = |length_ms| Grid::Fixed {
            length_ms,
            origin_ms: 0,
        };
        match self {
            Interval::Second1 => fixed(SECOND_MS),
            Interval::Minute1 => fixed(MINUTE_MS),
            Interval::Minute3 => fixed(3 * MINUTE_MS),
            Interval::Minute5 => fixed(5 * MINUTE_MS),
            Interval::Minute15 => fixed(15 * MINUTE_MS),
            Interval::Minute30 => fixed(30 * MINUTE_MS),
            Interval::Hour1 => fixed(HOUR_MS),
            Interval::Hour2 => fixed(2 * HOUR_MS),
            Interval::Hour4 => fixed(4 * HOUR_MS),
            Interval::Hour6 => fixed(6 * HOUR_MS),
            Interval::Hour8 => fixed(8 * HOUR_MS),
            Interval::Hour12 => fixed(12 * HOUR_MS),
            Interval::Day1 => fixed(DAY_MS),
            Interval::Day3 => fixed(3 * DAY_MS),
            Interval::Week1 => Grid::Fixed {
                length_ms: WEEK_MS,
                origin_ms: FIRST_MONDAY_MS,
            },
            Interval::Month1 => Grid::CalendarMonth,
        }
    }

    /// The index of the candle that contains the instant `time_ms` (Unix ms, UTC).
    pub fn candle_index(self, time_ms: i64) -> i64 {
        match self.grid() {
            Grid::Fixed {
                length_ms,
                origin_ms,
            } => (time_ms - origin_ms).div_euclid(length_ms),
            Grid::CalendarMonth => {
                let (year, month, _) = civil_from_days(time_ms.div_euclid(DAY_MS));
                (year - 1970) * 12 + (month - 1)
            }
        }
    }

    /// The open time (Unix ms) of the candle with this index.
    pub fn open_time(self, index: i64) -> i64 {
        match self.grid() {
            Grid::Fixed {
                length_ms,
                origin_ms,
            } => origin_ms + index * length_ms,
            Grid::CalendarMonth => {
                let year = 1970 + index.div_euclid(12);
                let month = index.rem_euclid(12) + 1;
                days_from_civil(year, month, 1) * DAY_MS
            }
        }
    }

    /// The close time Binance reports for the candle with this index: one millisecond before
    /// the next candle opens.
    pub fn close_time(self, index: i64) -> i64 {
        self.open_time(index + 1) - 1
    }

    /// The length in ms of the candle that opens at (or contains) `open_time_ms`. Fixed for
    /// every interval except `1M`, whose length is that of the calendar month.
    pub fn duration_ms(self, open_time_ms: i64) -> i64 {
        let index = self.candle_index(open_time_ms);
        self.open_time(index + 1) - self.open_time(index)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of Binance's interval names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a kline interval (expected one of 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M)"
)]
pub struct UnknownInterval(pub String);

impl FromStr for Interval {
    type Err = UnknownInterval;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Interval::ALL
            .into_iter()
            .find(|interval| interval.as_str() == text)
            .ok_or_else(|| UnknownInterval(text.to_owned()))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0, so the leap day ends the year
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29T12:34:56Z, inside a leap-year February.
    const LEAP_DAY_NOON: i64 = 1_709_210_096_000;

    #[test]
    fn names_round_trip() {
        for interval in Interval::ALL {
            assert_eq!(interval.as_str().parse::<Interval>(), Ok(interval));
        }
        assert!("1H".parse::<Interval>().is_err());
        assert_eq!("1M".parse::<Interval>(), Ok(Interval::Month1));
        assert_eq!("1m".parse::<Interval>(), Ok(Interval::Minute1));
    }

    #[test]
    fn fixed_intervals_align_to_the_epoch() {
        let index = Interval::Hour4.candle_index(LEAP_DAY_NOON);
        assert_eq!(Interval::Hour4.open_time(index), 1_709_208_000_000); // 12:00
        assert_eq!(Interval::Hour4.close_time(index), 1_709_222_399_999); // 15:59:59.999
        assert_eq!(Interval::Minute1.duration_ms(0), 60_000);
    }

    #[test]
    fn weeks_open_on_monday() {
        let index = Interval::Week1.candle_index(LEAP_DAY_NOON);
        // Thursday 29 Feb 2024 belongs to the week opening Monday 26 Feb 2024.
        assert_eq!(Interval::Week1.open_time(index), 1_708_905_600_000);
        // The example kline in Binance's documentation is a weekly candle.
        let doc_open = 1_499_040_000_000;
        let doc_index = Interval::Week1.candle_index(doc_open);
        assert_eq!(Interval::Week1.open_time(doc_index), doc_open);
        assert_eq!(Interval::Week1.close_time(doc_index), 1_499_644_799_999);
    }

    #[test]
    fn months_follow_the_calendar() {
        let february = Interval::Month1.candle_index(LEAP_DAY_NOON);
        assert_eq!(february, (2024 - 1970) * 12 + 1);
        assert_eq!(Interval::Month1.open_time(february), 1_706_745_600_000); // 2024-02-01
        assert_eq!(
            Interval::Month1.duration_ms(LEAP_DAY_NOON),
            29 * DAY_MS,
            "leap February"
        );
        assert_eq!(
            Interval::Month1.duration_ms(Interval::Month1.open_time(february - 1)),
            31 * DAY_MS
        );
        assert_eq!(Interval::Month1.open_time(-1), -31 * DAY_MS); // December 1969
    }

    #[test]
    fn civil_conversion_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
