//! Binance's per-IP request-weight limit as the simulator enforces it: weight counted in fixed
//! windows aligned to the (real) clock; a request that would exceed the limit gets 429 with
//! `Retry-After` until the window rolls over; repeating requests during that 429 period earns a
//! 418 ban with a longer `Retry-After`. As on Binance, a request sent during a ban gets 418 again
//! and lengthens the ban: it restarts. One budget for all callers: tests come from one IP.
//!
//! The limiter also keeps a record of its bans ([`BanRecord`]), so that a test can tell whether
//! a client kept sending while banned: such a client is still served once the ban ends, so only
//! the count shows it.
//!
//! Windows follow real time, not the market clock: the limit is about how fast a client calls,
//! however fast the simulated market runs. Pure: `now_ms` is passed in.

/// How the limiter is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    pub limit: u32,
    pub window_ms: i64,
    /// Requests made during a 429 period before the IP is banned.
    pub violations_before_ban: u32,
    pub ban_ms: i64,
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed {
        used: u32,
    },
    TooManyRequests {
        used: u32,
        retry_after_secs: u64,
    },
    Banned {
        used: u32,
        retry_after_secs: u64,
        until_ms: i64,
    },
}

/// The bans so far, as the admin API reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanRecord {
    /// Bans imposed (a ban lengthened by a request during it counts once).
    pub bans: u64,
    /// Requests that arrived during a ban, each answered 418 and each restarting it.
    pub requests_while_banned: u64,
    /// When the latest ban ends or ended, if there was one.
    pub banned_until_ms: Option<i64>,
}

#[derive(Debug)]
pub struct WeightLimiter {
    config: LimiterConfig,
    window_start_ms: i64,
    used: u32,
    /// End of the current 429 period, if one is running.
    throttled_until_ms: i64,
    violations: u32,
    banned_until_ms: i64,
    bans: u64,
    requests_while_banned: u64,
}

impl WeightLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        WeightLimiter {
            config,
            window_start_ms: i64::MIN,
            used: 0,
            throttled_until_ms: i64::MIN,
            violations: 0,
            banned_until_ms: i64::MIN,
            bans: 0,
            requests_while_banned: 0,
        }
    }

    pub fn config(&self) -> LimiterConfig {
        self.config
    }

    pub fn ban_record(&self) -> BanRecord {
        BanRecord {
            bans: self.bans,
            requests_while_banned: self.requests_while_banned,
            banned_until_ms: (self.bans > 0).then_some(self.banned_until_ms),
        }
    }

    /// Decides whether a request of `weight` arriving at `now_ms` may run, counting it if so.
    pub fn admit(&mut self, now_ms: i64, weight: u32) -> Admission {
        let window_start = now_ms.div_euclid(self.config.window_ms) * self.config.window_ms;
        if window_start != self.window_start_ms {
            self.window_start_ms = window_start;
            self.used = 0;
        }
        if now_ms < self.banned_until_ms {
            self.requests_while_banned += 1;
            self.banned_until_ms = now_ms + self.config.ban_ms;
            return self.banned(now_ms);
        }
        if now_ms < self.throttled_until_ms {
            self.violations += 1;
            if self.violations >= self.config.violations_before_ban {
                self.bans += 1;
                self.banned_until_ms = now_ms + self.config.ban_ms;
                self.throttled_until_ms = i64::MIN;
                self.violations = 0;
                return self.banned(now_ms);
            }
            return self.too_many(now_ms);
        }
        if self.used.saturating_add(weight) > self.config.limit {
            self.throttled_until_ms = window_start + self.config.window_ms;
            self.violations = 0;
            return self.too_many(now_ms);
        }
        self.used += weight;
        Admission::Allowed { used: self.used }
    }

    fn too_many(&self, now_ms: i64) -> Admission {
        Admission::TooManyRequests {
            used: self.used,
            retry_after_secs: seconds_until(now_ms, self.throttled_until_ms),
        }
    }

    fn banned(&self, now_ms: i64) -> Admission {
        Admission::Banned {
            used: self.used,
            retry_after_secs: seconds_until(now_ms, self.banned_until_ms),
            until_ms: self.banned_until_ms,
        }
    }
}

/// Whole seconds from `now_ms` to `until_ms`, rounded up: waiting that long is always enough.
fn seconds_until(now_ms: i64, until_ms: i64) -> u64 {
    u64::try_from((until_ms - now_ms).max(1))
        .unwrap_or(1)
        .div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 1_704_067_200_000;

    fn limiter() -> WeightLimiter {
        WeightLimiter::new(LimiterConfig {
            limit: 10,
            window_ms: 60_000,
            violations_before_ban: 3,
            ban_ms: 120_000,
        })
    }

    #[test]
    fn counts_weight_then_throttles_until_the_window_rolls() {
        let mut limiter = limiter();
        assert_eq!(limiter.admit(MINUTE, 4), Admission::Allowed { used: 4 });
        assert_eq!(
            limiter.admit(MINUTE + 1, 6),
            Admission::Allowed { used: 10 }
        );
        assert_eq!(
            limiter.admit(MINUTE + 30_500, 1),
            Admission::TooManyRequests {
                used: 10,
                retry_after_secs: 30
            }
        );
        assert_eq!(
            limiter.admit(MINUTE + 60_000, 1),
            Admission::Allowed { used: 1 }
        );
    }

    #[test]
    fn repeated_violations_during_a_429_period_earn_a_ban() {
        let mut limiter = limiter();
        limiter.admit(MINUTE, 10);
        assert!(matches!(
            limiter.admit(MINUTE + 1_000, 1),
            Admission::TooManyRequests { .. }
        ));
        assert!(matches!(
            limiter.admit(MINUTE + 2_000, 1),
            Admission::TooManyRequests { .. }
        ));
        assert!(matches!(
            limiter.admit(MINUTE + 3_000, 1),
            Admission::TooManyRequests { .. }
        ));
        assert_eq!(
            limiter.admit(MINUTE + 4_000, 1),
            Admission::Banned {
                used: 10,
                retry_after_secs: 120,
                until_ms: MINUTE + 124_000
            }
        );
        // Nothing was sent during the ban, so it ends when its Retry-After said.
        assert_ban_ends(&mut limiter, 0, MINUTE + 124_000);
    }

    /// One ban was recorded, with `requests_while_banned`, and it ends at `until_ms`: a request
    /// then is allowed again.
    fn assert_ban_ends(limiter: &mut WeightLimiter, requests_while_banned: u64, until_ms: i64) {
        assert_eq!(
            limiter.ban_record(),
            BanRecord {
                bans: 1,
                requests_while_banned,
                banned_until_ms: Some(until_ms)
            }
        );
        assert_eq!(limiter.admit(until_ms, 1), Admission::Allowed { used: 1 });
    }

    #[test]
    fn a_request_during_a_ban_restarts_it_and_is_counted() {
        let mut limiter = limiter();
        limiter.admit(MINUTE, 10);
        for second in 1..=4 {
            limiter.admit(MINUTE + second * 1_000, 1);
        }
        assert_eq!(
            limiter.admit(MINUTE + 90_000, 1),
            Admission::Banned {
                used: 0,
                retry_after_secs: 120,
                until_ms: MINUTE + 210_000
            }
        );
        assert!(matches!(
            limiter.admit(MINUTE + 124_000, 1),
            Admission::Banned {
                retry_after_secs: 120,
                ..
            }
        ));
        assert_ban_ends(&mut limiter, 2, MINUTE + 244_000);
    }

    #[test]
    fn no_ban_is_recorded_before_one_is_imposed() {
        assert_eq!(
            limiter().ban_record(),
            BanRecord {
                bans: 0,
                requests_while_banned: 0,
                banned_until_ms: None
            }
        );
    }
}
