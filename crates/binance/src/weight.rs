//! Request-weight accounting: how long to wait before a request of a given weight may go.
//!
//! Binance limits request weight per IP in fixed windows aligned to the clock (6000 per minute by
//! default; the live value is in `exchangeInfo.rateLimits`). The budget spends only a share of
//! that limit, leaving headroom for other processes on the same IP and for the skew between our
//! clock and Binance's window boundaries. It counts weight locally as requests are sent (so
//! concurrent requests see each other before any response arrives) and takes the higher of that
//! count and the `X-MBX-USED-WEIGHT-1M` header of every response, which also includes weight
//! spent by others on the same IP.
//!
//! A 429 or 418 blocks every request until its `Retry-After` has passed: a 418 is a ban, and
//! sending anything during it only lengthens it.
//!
//! Some weight of every window can be kept in reserve for [`Priority::Normal`] requests: a
//! [`Priority::Background`] request (a long backfill) waits for the next window rather than
//! spend it, so the requests that must go on time (a ticker poll) always find room.
//!
//! Pure: the caller passes the current time (Unix ms) into every call, so tests drive the clock.

use std::time::Duration;

use crate::model::{RateLimit, RateLimitInterval, RateLimitKind};

/// Binance's documented default REQUEST_WEIGHT limit, per minute.
pub const DEFAULT_WEIGHT_LIMIT: u32 = 6000;
/// How long a 418 ban lasts when the response carries no `Retry-After`: Binance's shortest ban.
const DEFAULT_BAN: Duration = Duration::from_secs(120);

/// Why Binance refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// HTTP 429: the limit is used up; continuing to send leads to a ban.
    TooManyRequests,
    /// HTTP 418: the IP is banned.
    Banned,
}

/// Whether a request may spend the weight kept in reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// May spend the whole allowance, reserve included.
    #[default]
    Normal,
    /// Leaves the reserve to `Normal` requests.
    Background,
}

/// The request-weight budget of one IP.
#[derive(Debug, Clone)]
pub struct WeightBudget {
    limit: RateLimit,
    share: f64,
    /// Weight of every window that only `Priority::Normal` requests may spend.
    reserve: u32,
    /// Start of the window `used` belongs to.
    window_start_ms: i64,
    used: u32,
    blocked_until_ms: Option<i64>,
}

impl WeightBudget {
    /// A budget spending `share` (clamped to 0..=1) of Binance's default limit until
    /// [`WeightBudget::set_limit`] is told the live one.
    pub fn new(share: f64) -> Self {
        WeightBudget {
            limit: RateLimit {
                kind: RateLimitKind::RequestWeight,
                interval: RateLimitInterval::Minute,
                interval_num: 1,
                limit: DEFAULT_WEIGHT_LIMIT,
            },
            share: share.clamp(0.0, 1.0),
            reserve: 0,
            window_start_ms: i64::MIN,
            used: 0,
            blocked_until_ms: None,
        }
    }

    /// Adopts the REQUEST_WEIGHT limit from `exchangeInfo`, received at `now_ms`. Weight
    /// counted so far carries into the new window: it was spent moments ago.
    pub fn set_limit(&mut self, now_ms: i64, limit: RateLimit) {
        self.limit = limit;
        self.window_start_ms = self.window_start(now_ms);
    }

    /// The limit currently obeyed.
    pub fn limit(&self) -> &RateLimit {
        &self.limit
    }

    /// The weight this budget lets us spend per window: our share of the limit, at least 1.
    pub fn allowance(&self) -> u32 {
        // Truncation is intended: the allowance rounds down, never past the share.
        ((f64::from(self.limit.limit) * self.share) as u32).max(1)
    }

    /// Keeps `weight` of every window for `Priority::Normal` requests.
    pub fn set_reserve(&mut self, weight: u32) {
        self.reserve = weight;
    }

    /// The weight of every window kept for `Priority::Normal` requests.
    pub fn reserve(&self) -> u32 {
        self.reserve
    }

    /// Weight counted in the window containing `now_ms`.
    pub fn used(&self, now_ms: i64) -> u32 {
        if self.window_start(now_ms) == self.window_start_ms {
            self.used
        } else {
            0
        }
    }

    /// Until when (Unix ms) a 429 or 418 forbids all requests, if it still does at `now_ms`.
    pub fn blocked_until(&self, now_ms: i64) -> Option<i64> {
        self.blocked_until_ms.filter(|&until| until > now_ms)
    }

    /// Takes `weight` for a `Priority::Normal` request about to be sent at `now_ms`, or says
    /// how long to wait before trying again.
    pub fn try_acquire(&mut self, now_ms: i64, weight: u32) -> Result<(), Duration> {
        self.try_acquire_as(now_ms, weight, Priority::Normal)
    }

    /// Takes `weight` for a request of `priority` about to be sent at `now_ms`, or says how
    /// long to wait before trying again. A request heavier than what its priority may spend
    /// still goes, alone, at the start of a fresh window; otherwise it could never go at all
    /// (and a background request gets at least that much, however large the reserve).
    pub fn try_acquire_as(
        &mut self,
        now_ms: i64,
        weight: u32,
        priority: Priority,
    ) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until(now_ms) {
            return Err(millis(until - now_ms));
        }
        self.roll(now_ms);
        let ceiling = match priority {
            Priority::Normal => self.allowance(),
            Priority::Background => self.allowance().saturating_sub(self.reserve),
        };
        if self.used > 0 && self.used.saturating_add(weight) > ceiling {
            let window_end = self.window_start_ms + self.limit.window_ms();
            return Err(millis(window_end - now_ms));
        }
        self.used = self.used.saturating_add(weight);
        Ok(())
    }

    /// Takes in the used weight reported (`X-MBX-USED-WEIGHT-…`) at `now_ms` by the response
    /// to a request sent at `sent_at_ms`. A response that arrives in a later window than its
    /// request was sent in may report the earlier window's weight: taken as the new window's,
    /// it would hold every request back for a whole window, so it is left out (this budget's
    /// own count of the new window stands).
    pub fn record_used(&mut self, sent_at_ms: i64, now_ms: i64, reported_used: u32) {
        self.roll(now_ms);
        if self.window_start(sent_at_ms) == self.window_start_ms {
            self.used = self.used.max(reported_used);
        }
    }

    /// Takes in a 429 or 418 received at `now_ms`, with its `Retry-After` if it had one: no
    /// request goes until it has passed. Without one, a 429 waits for the window to roll over
    /// and a 418 for the shortest ban.
    pub fn record_throttle(
        &mut self,
        now_ms: i64,
        throttle: Throttle,
        retry_after: Option<Duration>,
    ) {
        self.roll(now_ms);
        let wait_ms = match (retry_after, throttle) {
            (Some(wait), _) => i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
            (None, Throttle::TooManyRequests) => {
                self.window_start_ms + self.limit.window_ms() - now_ms
            }
            (None, Throttle::Banned) => DEFAULT_BAN.as_millis() as i64,
        };
        let until = now_ms.saturating_add(wait_ms);
        self.blocked_until_ms = Some(self.blocked_until_ms.map_or(until, |old| old.max(until)));
    }

    fn window_start(&self, now_ms: i64) -> i64 {
        // `parse_exchange_info` refuses a zero window; a `RateLimit` built by hand may still
        // have one, and a budget must not divide by zero.
        let window = self.limit.window_ms().max(1);
        now_ms.div_euclid(window) * window
    }

    fn roll(&mut self, now_ms: i64) {
        let start = self.window_start(now_ms);
        if start != self.window_start_ms {
            self.window_start_ms = start;
            self.used = 0;
        }
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z, a minute boundary.
    const MINUTE: i64 = 1_704_067_200_000;

    fn budget_of(limit: u32, share: f64) -> WeightBudget {
        let mut budget = WeightBudget::new(share);
        budget.set_limit(
            MINUTE,
            RateLimit {
                kind: RateLimitKind::RequestWeight,
                interval: RateLimitInterval::Minute,
                interval_num: 1,
                limit,
            },
        );
        budget
    }

    #[test]
    fn spends_only_its_share_then_waits_for_the_next_window() {
        let mut budget = budget_of(100, 0.5);
        assert_eq!(budget.allowance(), 50);
        for _ in 0..25 {
            assert_eq!(budget.try_acquire(MINUTE + 10_000, 2), Ok(()));
        }
        assert_eq!(budget.used(MINUTE + 10_000), 50);
        assert_eq!(
            budget.try_acquire(MINUTE + 45_000, 2),
            Err(Duration::from_secs(15))
        );
        assert_eq!(budget.try_acquire(MINUTE + 60_000, 2), Ok(()));
        assert_eq!(budget.used(MINUTE + 60_000), 2);
    }

    #[test]
    fn the_default_is_half_of_six_thousand_per_minute() {
        let budget = WeightBudget::new(0.5);
        assert_eq!(budget.allowance(), 3000);
        assert_eq!(budget.limit().used_weight_header(), "x-mbx-used-weight-1m");
    }

    #[test]
    fn reported_weight_counts_when_higher_than_our_own() {
        let mut budget = budget_of(6000, 0.5);
        budget.try_acquire(MINUTE, 80).unwrap();
        budget.record_used(MINUTE, MINUTE + 100, 2990); // another process on our IP spent the rest
        assert_eq!(
            budget.try_acquire(MINUTE + 200, 20),
            Err(Duration::from_millis(59_800))
        );
        budget.record_used(MINUTE + 200, MINUTE + 300, 10); // a lower report does not undo our own count
        assert_eq!(budget.used(MINUTE + 300), 2990);
    }

    #[test]
    fn a_report_of_the_window_before_does_not_count_in_the_next() {
        let mut budget = budget_of(6000, 0.5);
        // Sent in the last millisecond of a window, answered in the next with its total.
        budget.try_acquire(MINUTE + 59_999, 2).unwrap();
        budget.record_used(MINUTE + 59_999, MINUTE + 60_010, 2_999);
        assert_eq!(budget.used(MINUTE + 60_010), 0);
        assert_eq!(budget.try_acquire(MINUTE + 60_020, 2), Ok(()));
        // Sent and answered in the same window, it counts.
        budget.record_used(MINUTE + 60_020, MINUTE + 60_030, 2_999);
        assert_eq!(budget.used(MINUTE + 60_030), 2_999);
    }

    #[test]
    fn a_request_heavier_than_the_allowance_goes_alone_in_a_fresh_window() {
        let mut budget = budget_of(100, 0.1);
        assert_eq!(budget.try_acquire(MINUTE, 80), Ok(()));
        assert!(budget.try_acquire(MINUTE + 1, 1).is_err());
    }

    #[test]
    fn background_requests_leave_the_reserve_to_normal_ones() {
        let mut budget = budget_of(100, 0.5);
        budget.set_reserve(20);
        for _ in 0..15 {
            assert_eq!(
                budget.try_acquire_as(MINUTE + 1_000, 2, Priority::Background),
                Ok(())
            );
        }
        assert_eq!(
            budget.try_acquire_as(MINUTE + 1_000, 2, Priority::Background),
            Err(Duration::from_secs(59)),
            "30 of 50 spent: the other 20 are the reserve"
        );
        for _ in 0..10 {
            assert_eq!(budget.try_acquire(MINUTE + 2_000, 2), Ok(()));
        }
        assert!(budget.try_acquire(MINUTE + 2_000, 2).is_err());
        assert_eq!(
            budget.try_acquire_as(MINUTE + 60_000, 2, Priority::Background),
            Ok(())
        );
    }

    #[test]
    fn a_reserve_as_large_as_the_allowance_still_lets_one_background_request_a_window() {
        let mut budget = budget_of(100, 0.5);
        budget.set_reserve(1_000);
        assert_eq!(
            budget.try_acquire_as(MINUTE, 2, Priority::Background),
            Ok(())
        );
        assert!(
            budget
                .try_acquire_as(MINUTE + 1, 2, Priority::Background)
                .is_err()
        );
        assert_eq!(budget.try_acquire(MINUTE + 1, 2), Ok(()));
    }

    #[test]
    fn a_429_blocks_until_retry_after() {
        let mut budget = budget_of(6000, 0.5);
        budget.record_throttle(
            MINUTE + 1_000,
            Throttle::TooManyRequests,
            Some(Duration::from_secs(7)),
        );
        assert_eq!(
            budget.try_acquire(MINUTE + 2_000, 1),
            Err(Duration::from_secs(6))
        );
        assert_eq!(budget.blocked_until(MINUTE + 2_000), Some(MINUTE + 8_000));
        // Retry-After is Binance's own word on when to resume, whatever our idea of its window.
        assert_eq!(budget.try_acquire(MINUTE + 8_000, 1), Ok(()));
    }

    #[test]
    fn a_429_without_retry_after_waits_for_the_window() {
        let mut budget = budget_of(6000, 0.5);
        budget.record_throttle(MINUTE + 15_000, Throttle::TooManyRequests, None);
        assert_eq!(budget.blocked_until(MINUTE + 15_000), Some(MINUTE + 60_000));
    }

    #[test]
    fn a_418_ban_blocks_across_windows() {
        let mut budget = budget_of(6000, 0.5);
        budget.record_throttle(MINUTE, Throttle::Banned, Some(Duration::from_secs(300)));
        assert_eq!(
            budget.try_acquire(MINUTE + 120_000, 1),
            Err(Duration::from_secs(180))
        );
        assert_eq!(budget.try_acquire(MINUTE + 300_000, 1), Ok(()));

        budget.record_throttle(MINUTE + 400_000, Throttle::Banned, None);
        assert_eq!(
            budget.blocked_until(MINUTE + 400_000),
            Some(MINUTE + 520_000)
        );
    }

    #[test]
    fn a_shorter_block_never_shortens_a_longer_one() {
        let mut budget = budget_of(6000, 0.5);
        budget.record_throttle(MINUTE, Throttle::Banned, Some(Duration::from_secs(600)));
        budget.record_throttle(
            MINUTE + 1,
            Throttle::TooManyRequests,
            Some(Duration::from_secs(1)),
        );
        assert_eq!(budget.blocked_until(MINUTE + 2), Some(MINUTE + 600_000));
    }

    #[test]
    fn a_zero_window_built_by_hand_does_not_divide_by_zero() {
        let mut budget = WeightBudget::new(1.0);
        budget.set_limit(
            MINUTE,
            RateLimit {
                kind: RateLimitKind::RequestWeight,
                interval: RateLimitInterval::Minute,
                interval_num: 0,
                limit: 0,
            },
        );
        assert_eq!(budget.allowance(), 1);
        assert_eq!(budget.try_acquire(MINUTE, 1), Ok(()));
    }

    #[test]
    fn adopts_a_per_second_limit_from_exchange_info() {
        let mut budget = WeightBudget::new(1.0);
        budget.try_acquire(MINUTE, 20).unwrap(); // the exchangeInfo request itself
        budget.set_limit(
            MINUTE,
            RateLimit {
                kind: RateLimitKind::RequestWeight,
                interval: RateLimitInterval::Second,
                interval_num: 10,
                limit: 40,
            },
        );
        assert_eq!(budget.limit().used_weight_header(), "x-mbx-used-weight-10s");
        assert_eq!(budget.used(MINUTE), 20, "weight already spent carries over");
        budget.try_acquire(MINUTE, 20).unwrap();
        assert_eq!(
            budget.try_acquire(MINUTE + 4_000, 1),
            Err(Duration::from_secs(6))
        );
    }
}
