//! The workspace's one retry backoff: exponential, capped, with full jitter.
//!
//! Every retry loop of the pipeline (Binance requests, PostgreSQL writes, Cassandra writes and
//! connections, dead-letter publishing, the stack's readiness probes) waits by this policy. Full
//! jitter — a pause drawn anywhere between zero and the exponential ceiling — spreads out
//! clients that failed together, so hundreds of lanes do not retry in lockstep against a
//! Cassandra that is just coming back.

use std::time::Duration;

/// Exponential backoff with full jitter: the ceiling starts at `base` and doubles with every
/// failure, up to `max`; the pause is a uniform draw below the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling after the first failure.
    pub base: Duration,
    /// No ceiling is higher than this.
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The ceiling after failure number `failures` (1 for the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// The pause after failure number `failures`, given a uniform draw in [0, 1). Pure, for tests.
    pub fn delay(&self, failures: u32, random_unit: f64) -> Duration {
        self.ceiling(failures).mul_f64(random_unit.clamp(0.0, 1.0))
    }

    /// The pause after failure number `failures`, with a fresh random draw.
    pub fn jittered(&self, failures: u32) -> Duration {
        self.delay(failures, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_the_pause_stays_below_it() {
        let policy = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let ceilings: Vec<u128> = (1..=6).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(3, 0.0), Duration::ZERO);
        assert_eq!(policy.delay(3, 0.5), Duration::from_millis(200));
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(1));
        for failures in 1..20 {
            assert!(policy.jittered(failures) <= policy.ceiling(failures));
        }
    }

    #[test]
    fn clients_that_fail_together_spread_out() {
        let policy = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let pauses: std::collections::BTreeSet<Duration> =
            (0..64).map(|_| policy.jittered(4)).collect();
        assert!(
            pauses.len() > 32,
            "64 lanes after their 4th failure drew only {} distinct pauses",
            pauses.len()
        );
    }
}
