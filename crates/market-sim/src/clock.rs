//! The simulator's market clock: starts at a configurable instant, runs at a configurable
//! speed (0 freezes it, which makes tests deterministic) and can be pushed forward on demand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct SimClock {
    start_ms: i64,
    speed: f64,
    started: Instant,
    advanced_ms: AtomicI64,
}

impl SimClock {
    /// A clock reading `start_ms` (Unix ms) now, then moving `speed` market ms per real ms.
    pub fn new(start_ms: i64, speed: f64) -> Self {
        SimClock {
            start_ms,
            speed: speed.max(0.0),
            started: Instant::now(),
            advanced_ms: AtomicI64::new(0),
        }
    }

    /// Market time, Unix ms.
    pub fn now_ms(&self) -> i64 {
        let run_ms = self.started.elapsed().as_secs_f64() * 1000.0 * self.speed;
        self.start_ms + run_ms as i64 + self.advanced_ms.load(Ordering::Relaxed)
    }

    /// Moves market time forward by `ms` (never backward: candles already served stay true)
    /// and returns the new time.
    pub fn advance(&self, ms: u64) -> i64 {
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self.advanced_ms.fetch_add(ms, Ordering::Relaxed);
        self.now_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let clock = SimClock::new(1_700_000_000_000, 0.0);
        assert_eq!(clock.now_ms(), 1_700_000_000_000);
        assert_eq!(clock.advance(60_000), 1_700_000_060_000);
        assert_eq!(clock.now_ms(), 1_700_000_060_000);
    }

    #[test]
    fn a_fast_clock_runs_ahead_of_real_time() {
        let clock = SimClock::new(0, 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(clock.now_ms() >= 20_000);
    }
}
