//! Which symbols the ingester tracks: the configured list checked against exchangeInfo, or
//! `all`, every TRADING pair of one quote asset. Pure: exchangeInfo is passed in.

use std::collections::HashSet;

use binance::{ExchangeInfo, SymbolStatus};

/// The `--symbols` value that selects every trading pair of the quote asset.
pub const ALL: &str = "all";

/// Some configured symbols are not listed on the exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown symbol(s) not listed in exchangeInfo: {}", .0.join(", "))]
pub struct UnknownSymbols(pub Vec<String>);

/// The symbols to poll: for `all`, every TRADING pair quoted in `quote_asset` in listing order;
/// otherwise `requested` (upper-cased, duplicates dropped), each of which must be listed.
pub fn resolve_symbols(
    requested: &[String],
    quote_asset: &str,
    info: &ExchangeInfo,
) -> Result<Vec<String>, UnknownSymbols> {
    if let [only] = requested {
        if only.eq_ignore_ascii_case(ALL) {
            return Ok(info
                .symbols
                .iter()
                .filter(|symbol| {
                    symbol.status == SymbolStatus::Trading
                        && symbol.quote_asset.eq_ignore_ascii_case(quote_asset)
                })
                .map(|symbol| symbol.symbol.clone())
                .collect());
        }
    }
    let listed: HashSet<&str> = info.symbols.iter().map(|s| s.symbol.as_str()).collect();
    let mut seen = HashSet::new();
    let wanted: Vec<String> = requested
        .iter()
        .map(|symbol| symbol.trim().to_ascii_uppercase())
        .filter(|symbol| !symbol.is_empty() && seen.insert(symbol.clone()))
        .collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|symbol| !listed.contains(symbol.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(wanted)
    } else {
        Err(UnknownSymbols(unknown))
    }
}

#[cfg(test)]
mod tests {
    use binance::SymbolInfo;

    use super::*;

    fn info() -> ExchangeInfo {
        let symbol = |name: &str, quote: &str, status| SymbolInfo {
            symbol: name.to_owned(),
            status,
            base_asset: name.trim_end_matches(quote).to_owned(),
            quote_asset: quote.to_owned(),
        };
        ExchangeInfo {
            server_time: 0,
            rate_limits: Vec::new(),
            symbols: vec![
                symbol("BTCUSDT", "USDT", SymbolStatus::Trading),
                symbol("ETHBTC", "BTC", SymbolStatus::Trading),
                symbol("SYM0050USDT", "USDT", SymbolStatus::Break),
                symbol("ETHUSDT", "USDT", SymbolStatus::Trading),
            ],
        }
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn all_is_every_trading_pair_of_the_quote_asset() {
        assert_eq!(
            resolve_symbols(&strings(&["all"]), "USDT", &info()).unwrap(),
            ["BTCUSDT", "ETHUSDT"]
        );
        assert_eq!(
            resolve_symbols(&strings(&["ALL"]), "btc", &info()).unwrap(),
            ["ETHBTC"]
        );
    }

    #[test]
    fn listed_symbols_are_kept_in_order_without_duplicates() {
        assert_eq!(
            resolve_symbols(
                &strings(&["ethusdt", "BTCUSDT", "ETHUSDT"]),
                "USDT",
                &info()
            )
            .unwrap(),
            ["ETHUSDT", "BTCUSDT"]
        );
    }

    #[test]
    fn unknown_symbols_are_named() {
        let error = resolve_symbols(&strings(&["BTCUSDT", "NOPEUSDT", "FOO"]), "USDT", &info())
            .unwrap_err();
        assert_eq!(error, UnknownSymbols(strings(&["NOPEUSDT", "FOO"])));
        assert_eq!(
            error.to_string(),
            "unknown symbol(s) not listed in exchangeInfo: NOPEUSDT, FOO"
        );
    }
}
