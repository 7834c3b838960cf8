//! The one integration-test binary of the `binance` crate: parsers against the response
//! examples of Binance's documentation, no parser panicking on any JSON, and the client against
//! an in-process `market-sim`.

mod client;
mod no_panic;
mod parse;
