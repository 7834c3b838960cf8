//! Pure request building: the endpoints, their query strings and their request weights, and the
//! choice of how to cover a set of symbols with the fewest weight units.

use std::fmt;

use reqwest::Url;

use crate::interval::Interval;

/// The market-data endpoints this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Ping,
    ExchangeInfo,
    Ticker24h,
    Klines,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Ping => "/api/v3/ping",
            Endpoint::ExchangeInfo => "/api/v3/exchangeInfo",
            Endpoint::Ticker24h => "/api/v3/ticker/24hr",
            Endpoint::Klines => "/api/v3/klines",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// Largest `limit` the klines endpoint accepts.
pub const MAX_KLINES_LIMIT: u16 = 1000;
/// Weights from Binance's Spot API documentation.
const PING_WEIGHT: u32 = 1;
const EXCHANGE_INFO_WEIGHT: u32 = 20;
const KLINES_WEIGHT: u32 = 2;
/// Ticker weight tiers: (most symbols in one `symbols=` list, weight of that request).
const TICKER_LIST_TIERS: [(usize, u32); 2] = [(20, 2), (100, 40)];
/// Weight of a ticker request for all symbols, or for a list longer than the last tier.
const TICKER_ALL_WEIGHT: u32 = 80;

/// Which symbols one ticker request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickerScope {
    /// `symbols=["A","B",…]`.
    List(Vec<String>),
    /// No symbol parameter: every symbol on the exchange.
    All,
}

impl TickerScope {
    /// The request weight Binance charges for this scope.
    pub fn weight(&self) -> u32 {
        match self {
            TickerScope::List(symbols) => ticker_list_weight(symbols.len()),
            TickerScope::All => TICKER_ALL_WEIGHT,
        }
    }
}

/// Weight of a `symbols=` request for `count` symbols: 2 for 1–20, 40 for 21–100, 80 above.
pub fn ticker_list_weight(count: usize) -> u32 {
    TICKER_LIST_TIERS
        .iter()
        .find(|(most, _)| count <= *most)
        .map_or(TICKER_ALL_WEIGHT, |(_, weight)| *weight)
}

/// The requests that fetch tickers for a set of symbols, and what they cost together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickerPlan {
    pub requests: Vec<TickerScope>,
    pub total_weight: u32,
}

/// Chooses the cheapest way to fetch tickers for `symbols`: lists of the size with the lowest
/// weight per symbol, or one all-symbols request. On a tie the single all-symbols request wins,
/// as fewer round trips are faster. An empty `symbols` means all symbols.
pub fn plan_ticker_requests(symbols: &[String]) -> TickerPlan {
    let all = TickerPlan {
        requests: vec![TickerScope::All],
        total_weight: TICKER_ALL_WEIGHT,
    };
    if symbols.is_empty() {
        return all;
    }
    let cheapest_lists = TICKER_LIST_TIERS
        .iter()
        .map(|&(chunk, weight)| {
            let requests = symbols.len().div_ceil(chunk);
            (chunk, weight.saturating_mul(saturating_u32(requests)))
        })
        .min_by_key(|&(_, total_weight)| total_weight);
    match cheapest_lists {
        Some((chunk, total_weight)) if total_weight < TICKER_ALL_WEIGHT => TickerPlan {
            requests: symbols
                .chunks(chunk)
                .map(|chunk| TickerScope::List(chunk.to_vec()))
                .collect(),
            total_weight,
        },
        _ => all,
    }
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The `symbols` parameter value: compact JSON, `["BTCUSDT","ETHUSDT"]`. Binance rejects a
/// space anywhere in it with error -1100, so no serializer's pretty-printing may be involved.
pub fn symbols_param(symbols: &[String]) -> String {
    let mut param = String::from("[");
    for (position, symbol) in symbols.iter().enumerate() {
        if position > 0 {
            param.push(',');
        }
        param.push('"');
        param.push_str(symbol);
        param.push('"');
    }
    param.push(']');
    param
}

/// A request ready to send: where to, and what it will cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    pub endpoint: Endpoint,
    pub url: Url,
    pub weight: u32,
}

/// The URL of `endpoint` on `base`, with `query` pairs URL-encoded.
fn endpoint_url(base: &Url, endpoint: Endpoint, query: &[(&str, String)]) -> Url {
    let mut url = base.clone();
    url.set_path(endpoint.path());
    url.set_query(None);
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(key, value)| (key, value)));
    }
    url
}

/// `GET /api/v3/ping`.
pub fn ping_request(base: &Url) -> PreparedRequest {
    PreparedRequest {
        endpoint: Endpoint::Ping,
        url: endpoint_url(base, Endpoint::Ping, &[]),
        weight: PING_WEIGHT,
    }
}

/// `GET /api/v3/exchangeInfo`.
pub fn exchange_info_request(base: &Url) -> PreparedRequest {
    PreparedRequest {
        endpoint: Endpoint::ExchangeInfo,
        url: endpoint_url(base, Endpoint::ExchangeInfo, &[]),
        weight: EXCHANGE_INFO_WEIGHT,
    }
}

/// `GET /api/v3/ticker/24hr` (FULL) for one scope.
pub fn ticker_request(base: &Url, scope: &TickerScope) -> PreparedRequest {
    let query = match scope {
        TickerScope::List(symbols) => vec![("symbols", symbols_param(symbols))],
        TickerScope::All => Vec::new(),
    };
    PreparedRequest {
        endpoint: Endpoint::Ticker24h,
        url: endpoint_url(base, Endpoint::Ticker24h, &query),
        weight: scope.weight(),
    }
}

/// The parameters of a klines request. Times are Unix ms; Binance returns the candles whose
/// open time lies in `[start_time, end_time]`, oldest first, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlinesQuery {
    pub symbol: String,
    pub interval: Interval,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub limit: u16,
}

/// The klines limit was outside what Binance accepts; caught before spending any weight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("klines limit {0} is outside 1..={MAX_KLINES_LIMIT}")]
pub struct InvalidLimit(pub u16);

/// `GET /api/v3/klines`.
pub fn klines_request(base: &Url, query: &KlinesQuery) -> Result<PreparedRequest, InvalidLimit> {
    if !(1..=MAX_KLINES_LIMIT).contains(&query.limit) {
        return Err(InvalidLimit(query.limit));
    }
    let mut pairs = vec![
        ("symbol", query.symbol.clone()),
        ("interval", query.interval.as_str().to_owned()),
    ];
    if let Some(start) = query.start_time {
        pairs.push(("startTime", start.to_string()));
    }
    if let Some(end) = query.end_time {
        pairs.push(("endTime", end.to_string()));
    }
    pairs.push(("limit", query.limit.to_string()));
    Ok(PreparedRequest {
        endpoint: Endpoint::Klines,
        url: endpoint_url(base, Endpoint::Klines, &pairs),
        weight: KLINES_WEIGHT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("SYM{i:04}USDT")).collect()
    }

    fn base() -> Url {
        Url::parse("https://data-api.binance.vision").unwrap()
    }

    #[test]
    fn symbols_param_is_compact_json_and_url_encoded() {
        let symbols = vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()];
        assert_eq!(symbols_param(&symbols), r#"["BTCUSDT","ETHUSDT"]"#);
        let request = ticker_request(&base(), &TickerScope::List(symbols));
        assert_eq!(
            request.url.as_str(),
            "https://data-api.binance.vision/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"
        );
        assert!(!request.url.as_str().contains(' ') && !request.url.as_str().contains('+'));
        assert_eq!(request.weight, 2);
    }

    #[test]
    fn ticker_weight_follows_the_documented_tiers() {
        for (count, weight) in [(1, 2), (20, 2), (21, 40), (100, 40), (101, 80), (3000, 80)] {
            assert_eq!(ticker_list_weight(count), weight, "{count} symbols");
        }
        assert_eq!(TickerScope::All.weight(), 80);
    }

    #[test]
    fn plan_prefers_lists_of_twenty_while_cheaper_than_all() {
        let plan = plan_ticker_requests(&names(5));
        assert_eq!((plan.requests.len(), plan.total_weight), (1, 2));

        let plan = plan_ticker_requests(&names(400));
        assert_eq!((plan.requests.len(), plan.total_weight), (20, 40));
        let covered: usize = plan
            .requests
            .iter()
            .map(|scope| match scope {
                TickerScope::List(symbols) => symbols.len(),
                TickerScope::All => 0,
            })
            .sum();
        assert_eq!(covered, 400);

        // 39 lists of 20 cost 78 < 80; 40 lists would cost 80, a tie that one request wins.
        assert_eq!(plan_ticker_requests(&names(780)).total_weight, 78);
        assert_eq!(
            plan_ticker_requests(&names(781)).requests,
            vec![TickerScope::All]
        );
        assert_eq!(plan_ticker_requests(&[]).requests, vec![TickerScope::All]);
    }

    #[test]
    fn klines_request_carries_every_parameter_and_checks_the_limit() {
        let mut query = KlinesQuery {
            symbol: "BTCUSDT".to_owned(),
            interval: Interval::Month1,
            start_time: Some(1_499_040_000_000),
            end_time: Some(1_499_644_799_999),
            limit: 1000,
        };
        let request = klines_request(&base(), &query).unwrap();
        assert_eq!(
            request.url.query(),
            Some(
                "symbol=BTCUSDT&interval=1M&startTime=1499040000000&endTime=1499644799999&limit=1000"
            )
        );
        assert_eq!(request.weight, 2);
        query.limit = 1001;
        assert_eq!(klines_request(&base(), &query), Err(InvalidLimit(1001)));
        query.limit = 0;
        assert_eq!(klines_request(&base(), &query), Err(InvalidLimit(0)));
    }

    #[test]
    fn base_url_path_and_query_are_replaced() {
        let base = Url::parse("http://127.0.0.1:8089/ignored?x=1").unwrap();
        assert_eq!(
            exchange_info_request(&base).url.as_str(),
            "http://127.0.0.1:8089/api/v3/exchangeInfo"
        );
        assert_eq!(ping_request(&base).weight, 1);
    }
}
