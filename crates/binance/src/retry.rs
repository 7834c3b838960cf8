//! Which failures are retried, and how long to back off between attempts.
//!
//! Market-data requests are idempotent GETs, so anything that may be transient is retried: 5xx
//! (Binance says the outcome is unknown), connection errors and timeouts, 429/418 (the weight
//! budget has recorded the `Retry-After` and holds the next attempt until it has passed), and a
//! success status with a malformed body (most often a body cut off in transit). A 4xx such as
//! -1121 "Invalid symbol." will fail the same way every time and is returned at once.

use std::time::Duration;

use crate::error::Error;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Retry,
    Fail,
}

/// The one place that decides whether a failure is worth another attempt.
pub fn classify(error: &Error) -> Disposition {
    match error {
        Error::Transport { source, .. } if source.is_builder() => Disposition::Fail,
        Error::Transport { .. } | Error::Parse { .. } => Disposition::Retry,
        Error::Status { status, .. } if *status >= 500 || *status == 429 || *status == 418 => {
            Disposition::Retry
        }
        Error::Status { .. }
        | Error::Blocked { .. }
        | Error::InvalidLimit(_)
        | Error::Config(_) => Disposition::Fail,
    }
}

/// How many attempts, and the backoff between them (exponential with full jitter, capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The ceiling of the first backoff; it doubles with every further attempt.
    pub base_delay: Duration,
    /// No backoff is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `failures` (1 for the first failure), given a
    /// uniform random draw in [0, 1): the workspace's one backoff policy (full jitter, see the
    /// `backoff` crate).
    pub fn backoff(&self, failures: u32, random_unit: f64) -> Duration {
        backoff::Backoff::new(self.base_delay, self.max_delay).delay(failures, random_unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiError;
    use crate::parse::ParseError;
    use crate::request::{Endpoint, InvalidLimit};

    fn status(status: u16) -> Error {
        Error::Status {
            endpoint: Endpoint::Klines,
            status,
            api: None,
            retry_after: None,
        }
    }

    #[test]
    fn server_errors_and_throttles_are_retried_client_errors_are_not() {
        for code in [500, 502, 503, 504, 429, 418] {
            assert_eq!(classify(&status(code)), Disposition::Retry, "{code}");
        }
        for code in [400, 401, 403, 404, 409] {
            assert_eq!(classify(&status(code)), Disposition::Fail, "{code}");
        }
        let invalid_symbol = Error::Status {
            endpoint: Endpoint::Ticker24h,
            status: 400,
            api: Some(ApiError {
                code: -1121,
                msg: "Invalid symbol.".into(),
            }),
            retry_after: None,
        };
        assert_eq!(classify(&invalid_symbol), Disposition::Fail);
    }

    #[test]
    fn malformed_bodies_are_retried_local_mistakes_are_not() {
        let truncated = Error::Parse {
            endpoint: Endpoint::Klines,
            source: ParseError::InvalidJson {
                what: "klines",
                reason: "EOF".into(),
            },
        };
        assert_eq!(classify(&truncated), Disposition::Retry);
        assert_eq!(
            classify(&Error::InvalidLimit(InvalidLimit(0))),
            Disposition::Fail
        );
        let banned = Error::Blocked {
            endpoint: Endpoint::Klines,
            wait: Duration::from_secs(120),
        };
        assert_eq!(classify(&banned), Disposition::Fail);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let ceilings: Vec<_> = (1..=6)
            .map(|n| policy.backoff(n, 1.0).as_millis())
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(policy.backoff(u32::MAX, 1.0), Duration::from_secs(1));
    }
}
