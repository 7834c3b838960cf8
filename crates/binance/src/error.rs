//! The error type of the IO client. Each variant names the endpoint, so a log line alone tells
//! which request failed; whether a failure is worth retrying is decided in `retry::classify`.

use std::time::Duration;

use crate::model::ApiError;
use crate::parse::ParseError;
use crate::request::{Endpoint, InvalidLimit};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not complete: connection refused or reset, timeout, body cut off.
    #[error("GET {endpoint}: {source}")]
    Transport {
        endpoint: Endpoint,
        #[source]
        source: reqwest::Error,
    },
    /// Binance answered with a non-success status, usually with an error body.
    #[error("GET {endpoint}: HTTP {status}{}", api_suffix(.api))]
    Status {
        endpoint: Endpoint,
        status: u16,
        api: Option<ApiError>,
        retry_after: Option<Duration>,
    },
    /// A success status whose body does not have the documented shape.
    #[error("GET {endpoint}: {source}")]
    Parse {
        endpoint: Endpoint,
        #[source]
        source: ParseError,
    },
    /// A 429/418 forbids requests for longer than the client is configured to wait.
    #[error("GET {endpoint}: Binance forbids requests for another {wait:?} (rate limit or ban)")]
    Blocked { endpoint: Endpoint, wait: Duration },
    #[error(transparent)]
    InvalidLimit(#[from] InvalidLimit),
    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn api_suffix(api: &Option<ApiError>) -> String {
    api.as_ref()
        .map(|api| format!(": {api}"))
        .unwrap_or_default()
}
