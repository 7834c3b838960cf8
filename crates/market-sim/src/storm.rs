//! A storm: for a while every market-data request is refused with one status, whatever the
//! client's own request weight, as when Binance throttles (429) or bans (418) an IP that other
//! clients share, or has an outage (5xx). Pure: the caller passes the time in.
//!
//! Started with `POST /admin/storm?status=429&seconds=20`; the chaos drill uses it to show the
//! ingester backs off, honours `Retry-After`, and resumes without losing a poll's data.

use crate::params::BinanceError;

/// The statuses a storm may answer with.
pub const STORM_STATUSES: [u16; 4] = [429, 418, 500, 503];

/// A storm in progress until `until_ms` (real Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storm {
    pub status: u16,
    pub until_ms: i64,
}

/// How a request is refused during a storm: the error body, and for 429/418 the `Retry-After`
/// seconds Binance sends with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: BinanceError,
    pub retry_after_secs: Option<u64>,
}

impl Storm {
    /// A storm of `status` lasting `seconds` from `now_ms`, or an error naming the parameter
    /// that is wrong.
    pub fn new(status: u16, seconds: u64, now_ms: i64) -> Result<Self, BinanceError> {
        if !STORM_STATUSES.contains(&status) {
            return Err(BinanceError::invalid_value("status"));
        }
        let duration_ms = i64::try_from(seconds.saturating_mul(1000))
            .map_err(|_| BinanceError::invalid_value("seconds"))?;
        Ok(Storm {
            status,
            until_ms: now_ms.saturating_add(duration_ms),
        })
    }

    /// The refusal of a request arriving at `now_ms`, or `None` once the storm is over.
    pub fn refusal(&self, now_ms: i64) -> Option<Refusal> {
        if now_ms >= self.until_ms {
            return None;
        }
        // Rounded up: a client that waits exactly Retry-After arrives after the storm.
        let remaining_secs = u64::try_from((self.until_ms - now_ms + 999) / 1000).unwrap_or(1);
        let (code, msg, retry_after_secs) = match self.status {
            429 => (
                -1003,
                "Too much request weight used; please use WebSocket Streams for live updates to avoid polling the API.",
                Some(remaining_secs),
            ),
            418 => (
                -1003,
                "Way too much request weight used; IP banned. Please use WebSocket Streams for live updates to avoid bans.",
                Some(remaining_secs),
            ),
            _ => (
                -1000,
                "An unknown error occurred while processing the request.",
                None,
            ),
        };
        Some(Refusal {
            error: BinanceError {
                status: self.status,
                code,
                msg: msg.to_owned(),
            },
            retry_after_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_refuses_until_it_ends_then_lets_requests_through() {
        let storm = Storm::new(429, 20, 1_000).unwrap();
        let refusal = storm.refusal(1_000).unwrap();
        assert_eq!(refusal.error.status, 429);
        assert_eq!(refusal.retry_after_secs, Some(20));
        assert_eq!(storm.refusal(20_500).unwrap().retry_after_secs, Some(1));
        assert_eq!(storm.refusal(21_000), None);
    }

    #[test]
    fn server_errors_carry_no_retry_after() {
        let storm = Storm::new(503, 5, 0).unwrap();
        let refusal = storm.refusal(10).unwrap();
        assert_eq!(
            (refusal.error.status, refusal.retry_after_secs),
            (503, None)
        );
    }

    #[test]
    fn a_status_that_is_no_storm_is_refused_by_name() {
        let error = Storm::new(404, 5, 0).unwrap_err();
        assert!(error.msg.contains("status"), "{}", error.msg);
    }
}
