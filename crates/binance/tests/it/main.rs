//! The one integration-test binary of the `binance` crate: parsers against the response
//! examples of Binance's documentation, and the client against an in-process `market-sim`.

mod client;
mod parse;
