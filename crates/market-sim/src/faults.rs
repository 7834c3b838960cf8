//! Seeded fault injection: added latency, server errors, bodies cut short and numbers made
//! malformed. Each request draws its faults from (seed, request number), so a test that sends
//! the same requests in the same order sees the same faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::price::hash3;

/// Fault rates, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRates {
    pub latency: Duration,
    pub server_error: f64,
    pub truncated_body: f64,
    pub malformed_number: f64,
}

/// What goes wrong with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    pub server_error: bool,
    pub truncated_body: bool,
    pub malformed_number: bool,
}

#[derive(Debug)]
pub struct FaultInjector {
    rates: FaultRates,
    seed: u64,
    requests: AtomicU64,
}

impl FaultInjector {
    pub fn new(rates: FaultRates, seed: u64) -> Self {
        FaultInjector {
            rates,
            seed,
            requests: AtomicU64::new(0),
        }
    }

    pub fn latency(&self) -> Duration {
        self.rates.latency
    }

    /// Draws the faults of the next request.
    pub fn next(&self) -> Faults {
        let request = self.requests.fetch_add(1, Ordering::Relaxed);
        let happens = |salt: u64, rate: f64| {
            let draw = (hash3(self.seed, request, salt) >> 11) as f64 / (1u64 << 53) as f64;
            draw < rate
        };
        Faults {
            server_error: happens(1, self.rates.server_error),
            truncated_body: happens(2, self.rates.truncated_body),
            malformed_number: happens(3, self.rates.malformed_number),
        }
    }
}

/// The first half of `body`: invalid JSON that still arrives with a correct Content-Length.
pub fn truncate(body: &str) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body[..cut].to_owned()
}

/// `body` with its first decimal string given a second point (`"4.00000200"` becomes
/// `"4.00000200.4"`), the kind of garbage a broken upstream might send; `None` when the body
/// has no decimal string.
pub fn malform_number(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let mut search_from = 0;
    while let Some(offset) = body[search_from..].find('"') {
        let start = search_from + offset + 1;
        let end = start + body[start..].find('"')?;
        let text = &bytes[start..end];
        let is_decimal = text.iter().filter(|&&b| b == b'.').count() == 1
            && text.iter().all(|&b| b.is_ascii_digit() || b == b'.');
        if is_decimal {
            return Some(format!("{}.4{}", &body[..end], &body[end..]));
        }
        search_from = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_follow_the_rates_and_the_seed() {
        let rates = FaultRates {
            server_error: 0.25,
            ..FaultRates::default()
        };
        let draw = |seed| {
            let injector = FaultInjector::new(rates, seed);
            (0..1000)
                .map(|_| injector.next().server_error)
                .collect::<Vec<_>>()
        };
        let errors = draw(7).iter().filter(|&&e| e).count();
        assert!((200..300).contains(&errors), "{errors}");
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert_eq!(
            FaultInjector::new(FaultRates::default(), 1).next(),
            Faults::default()
        );
    }

    #[test]
    fn malformed_number_breaks_the_first_decimal() {
        assert_eq!(
            malform_number(r#"{"symbol":"BTCUSDT","priceChange":"-1.5","lastPrice":"4.00000200"}"#)
                .as_deref(),
            Some(r#"{"symbol":"BTCUSDT","priceChange":"-1.5","lastPrice":"4.00000200.4"}"#)
        );
        assert_eq!(malform_number(r#"{"x":"abc"}"#), None);
        assert_eq!(truncate("[1,2,3,4]"), "[1,2");
    }
}
