//! The ingester: polls Binance Spot 24-hour tickers and klines and writes them, exactly, into
//! PostgreSQL, from where Debezium streams every change.
//!
//! Pure planning first — [`symbols`] (which pairs), [`klines`] (where each series resumes,
//! paging, which series keep failing), [`buffer`] (ticker polls waiting for PostgreSQL) — then
//! the IO: [`store`] (PostgreSQL, batched `UNNEST` writes, reconnection), [`partitions`]
//! (PostgreSQL's bounded window of daily partitions), the two loops that run side by side,
//! [`tickers`] and [`kline_sync`], and [`ingest`], which starts them, with [`metrics`] for
//! `/metrics`. `main.rs` only parses [`Config`] and runs [`run`].

pub mod buffer;
pub mod config;
pub mod ingest;
pub mod kline_sync;
pub mod klines;
pub mod metrics;
pub mod partitions;
pub mod store;
pub mod symbols;
pub mod tickers;

pub use config::Config;
pub use ingest::{IngestError, run};
