//! Query-parameter parsing with Binance's validation rules and error codes. Pure: raw query in,
//! typed request or `BinanceError` out.

use binance::request::{KlinesQuery, MAX_KLINES_LIMIT};

/// An error as Binance reports it: an HTTP status and `{"code":…,"msg":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceError {
    pub status: u16,
    pub code: i64,
    pub msg: String,
}

impl BinanceError {
    fn bad_request(code: i64, msg: impl Into<String>) -> Self {
        BinanceError {
            status: 400,
            code,
            msg: msg.into(),
        }
    }

    /// -1100: a character outside the parameter's legal range (a space in `symbols`, say).
    pub fn illegal_characters(param: &str, legal: &str) -> Self {
        Self::bad_request(
            -1100,
            format!("Illegal characters found in parameter '{param}'; legal range is '{legal}'."),
        )
    }

    /// -1102: a mandatory parameter missing or empty.
    pub fn mandatory(param: &str) -> Self {
        Self::bad_request(
            -1102,
            format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
        )
    }

    pub fn invalid_interval() -> Self {
        Self::bad_request(-1120, "Invalid interval.")
    }

    pub fn invalid_symbol() -> Self {
        Self::bad_request(-1121, "Invalid symbol.")
    }

    /// -1128: parameters that may not be combined (`symbol` with `symbols`).
    pub fn invalid_combination() -> Self {
        Self::bad_request(-1128, "Combination of optional parameters invalid.")
    }

    /// -1130: a parameter with an invalid value (a limit outside 1..=1000, say).
    pub fn invalid_value(param: &str) -> Self {
        Self::bad_request(
            -1130,
            format!("Data sent for parameter '{param}' is not valid."),
        )
    }
}

const SYMBOL_RANGE: &str = "^[A-Z0-9-_.]{1,20}$";
const SYMBOLS_RANGE: &str = r#"^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$"#;
const NUMBER_RANGE: &str = "^-?[0-9]{1,20}$";

/// Decoded query parameters, in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw_query: Option<&str>) -> Self {
        Params(
            form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The value of `name`; an empty value counts as absent, as on Binance.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, BinanceError> {
        self.get(name)
            .map(|text| {
                text.parse()
                    .map_err(|_| BinanceError::illegal_characters(name, NUMBER_RANGE))
            })
            .transpose()
    }
}

fn valid_symbol_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// A syntactically valid symbol name from parameter `param`.
fn symbol_name(params: &Params, param: &str) -> Result<Option<String>, BinanceError> {
    match params.get(param) {
        Some(name) if valid_symbol_name(name) => Ok(Some(name.to_owned())),
        Some(_) => Err(BinanceError::illegal_characters(param, SYMBOL_RANGE)),
        None => Ok(None),
    }
}

/// `symbols` as Binance accepts it: compact JSON `["A","B"]`, nothing else (not even spaces).
fn symbol_list(text: &str) -> Result<Vec<String>, BinanceError> {
    let illegal = || BinanceError::illegal_characters("symbols", SYMBOLS_RANGE);
    let inner = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(illegal)?;
    if inner.is_empty() {
        return Err(BinanceError::mandatory("symbols"));
    }
    inner
        .split(',')
        .map(|quoted| {
            quoted
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
                .filter(|name| valid_symbol_name(name))
                .map(str::to_owned)
                .ok_or_else(illegal)
        })
        .collect()
}

/// Which symbols a ticker request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    One(String),
    Many(Vec<String>),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickerRequest {
    pub selection: Selection,
    pub mini: bool,
}

/// The Binance weight of a ticker request, from its parameters alone (so it is charged even
/// when the request then fails validation).
pub fn ticker_weight(params: &Params) -> u32 {
    match (params.get("symbol"), params.get("symbols")) {
        (Some(_), _) => binance::ticker_list_weight(1),
        (None, Some(list)) => binance::ticker_list_weight(list.matches(',').count() + 1),
        (None, None) => binance::TickerScope::All.weight(),
    }
}

pub fn ticker_request(params: &Params) -> Result<TickerRequest, BinanceError> {
    let selection = match (symbol_name(params, "symbol")?, params.get("symbols")) {
        (Some(_), Some(_)) => return Err(BinanceError::invalid_combination()),
        (Some(symbol), None) => Selection::One(symbol),
        (None, Some(list)) => Selection::Many(symbol_list(list)?),
        (None, None) => Selection::All,
    };
    let mini = match params.get("type") {
        None | Some("FULL") => false,
        Some("MINI") => true,
        Some(_) => return Err(BinanceError::invalid_value("type")),
    };
    Ok(TickerRequest { selection, mini })
}

/// Default number of klines when `limit` is not sent.
const DEFAULT_KLINES_LIMIT: u16 = 500;

/// `GET /api/v3/klines`'s parameters, read into the query the client sends (the same type, so
/// the two cannot drift apart).
pub fn klines_request(params: &Params) -> Result<KlinesQuery, BinanceError> {
    let symbol = symbol_name(params, "symbol")?.ok_or_else(|| BinanceError::mandatory("symbol"))?;
    let interval = params
        .get("interval")
        .ok_or_else(|| BinanceError::mandatory("interval"))?
        .parse()
        .map_err(|_| BinanceError::invalid_interval())?;
    let limit = match params.number::<i64>("limit")? {
        None => DEFAULT_KLINES_LIMIT,
        Some(limit) => u16::try_from(limit)
            .ok()
            .filter(|limit| (1..=MAX_KLINES_LIMIT).contains(limit))
            .ok_or_else(|| BinanceError::invalid_value("limit"))?,
    };
    Ok(KlinesQuery {
        symbol,
        interval,
        start_time: params.number("startTime")?,
        end_time: params.number("endTime")?,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use binance::Interval;

    fn params(query: &str) -> Params {
        Params::parse(Some(query))
    }

    #[test]
    fn symbols_must_be_compact_json() {
        let request = ticker_request(&params("symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D")).unwrap();
        assert_eq!(
            request.selection,
            Selection::Many(vec!["BTCUSDT".into(), "ETHUSDT".into()])
        );
        for bad in [
            r#"["BTCUSDT", "ETHUSDT"]"#,
            "BTCUSDT",
            r#"["btcusdt"]"#,
            r#"["A",]"#,
        ] {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("symbols", bad)
                .finish();
            assert_eq!(
                ticker_request(&params(&query)).unwrap_err().code,
                -1100,
                "{bad}"
            );
        }
        for (query, code) in [
            ("symbols=%5B%5D", -1102),
            ("symbol=A&symbols=%5B%22B%22%5D", -1128),
            ("type=MAXI", -1130),
        ] {
            assert_eq!(
                ticker_request(&params(query)).unwrap_err().code,
                code,
                "{query}"
            );
        }
        assert_eq!(
            ticker_request(&params("type=MINI")).unwrap(),
            TickerRequest {
                selection: Selection::All,
                mini: true
            }
        );
    }

    #[test]
    fn ticker_weight_counts_the_listed_symbols() {
        assert_eq!(ticker_weight(&params("symbol=BTCUSDT")), 2);
        let list: Vec<String> = (0..21).map(|i| format!("\"S{i}\"")).collect();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("symbols", &format!("[{}]", list.join(",")))
            .finish();
        assert_eq!(ticker_weight(&params(&query)), 40);
        assert_eq!(ticker_weight(&params("")), 80);
    }

    #[test]
    fn klines_parameters() {
        let request = klines_request(&params(
            "symbol=BTCUSDT&interval=1M&startTime=5&endTime=9&limit=1000",
        ))
        .unwrap();
        assert_eq!(
            (
                request.interval,
                request.start_time,
                request.end_time,
                request.limit
            ),
            (Interval::Month1, Some(5), Some(9), 1000)
        );
        assert_eq!(
            klines_request(&params("symbol=BTCUSDT&interval=1m"))
                .unwrap()
                .limit,
            500
        );
        for (query, code) in [
            ("interval=1m", -1102),
            ("symbol=BTCUSDT", -1102),
            ("symbol=BTCUSDT&interval=2m", -1120),
            ("symbol=BTCUSDT&interval=1m&limit=0", -1130),
            ("symbol=BTCUSDT&interval=1m&limit=1001", -1130),
            ("symbol=BTCUSDT&interval=1m&limit=-1", -1130),
            ("symbol=BTCUSDT&interval=1m&startTime=x", -1100),
            ("symbol=BTC%20USDT&interval=1m", -1100),
        ] {
            assert_eq!(
                klines_request(&params(query)).unwrap_err().code,
                code,
                "{query}"
            );
        }
    }
}
