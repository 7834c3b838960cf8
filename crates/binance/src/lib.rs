//! A typed client for Binance Spot REST market data: 24-hour tickers, klines and exchange info.
//!
//! Layered so that everything but the last layer is pure and tested without a server:
//!
//! - [`model`] — the data, with prices and quantities as exact `Decimal`s, never floats;
//! - [`parse`] — response bodies to models; errors name the field, e.g.
//!   `klines[3][1] "abc" is not a decimal`;
//! - [`request`] — URLs, the compact `symbols=["A","B"]` parameter, request weights and the
//!   cheapest way to cover N symbols;
//! - [`weight`] — the IP's request-weight budget, `X-MBX-USED-WEIGHT-1M`, 429 and 418, and the
//!   weight kept in reserve for requests that must go on time;
//! - [`retry`] — which failures are retried, and the backoff between attempts;
//! - [`client`] — `BinanceClient`, the async IO that ties them together.
//!
//! The base URL is configurable so that `market-sim` can stand in for Binance.

pub mod client;
pub mod error;
pub mod interval;
pub mod model;
pub mod parse;
pub mod request;
pub mod retry;
pub mod weight;

pub use client::{BinanceClient, ClientConfig, DEFAULT_BASE_URL};
pub use error::Error;
pub use interval::Interval;
pub use model::{
    ApiError, ExchangeInfo, Kline, MiniTicker24h, RateLimit, RateLimitInterval, RateLimitKind,
    SymbolInfo, SymbolStatus, Ticker24h,
};
pub use parse::{
    ParseError, Problem, parse_api_error, parse_exchange_info, parse_klines, parse_mini_tickers,
    parse_tickers,
};
pub use request::{Endpoint, TickerPlan, TickerScope, plan_ticker_requests, ticker_list_weight};
pub use retry::{Disposition, RetryPolicy, classify};
pub use weight::{Priority, Throttle, WeightBudget};
