//! Pure parsers from response bodies to the typed models. No IO: the client hands them bytes.
//!
//! A body is first read as a JSON tree, then walked field by field. Walking by hand (instead of
//! deriving `Deserialize`) is what lets every error name the exact place and the offending text,
//! e.g. `klines[3][1] "abc" is not a decimal` or `ticker/24hr[0].lastPrice should be a decimal
//! string, found number 4.0`, and lets decimals be refused when they arrive as JSON numbers,
//! which would already have been rounded through a float by whoever produced them.

use std::collections::HashSet;
use std::fmt;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::model::{
    ApiError, ExchangeInfo, Kline, MiniTicker24h, RateLimit, RateLimitInterval, RateLimitKind,
    SymbolInfo, SymbolStatus, Ticker24h,
};

/// A response body that does not have the shape Binance documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{what}: the body is not valid JSON ({reason})")]
    InvalidJson { what: &'static str, reason: String },
    #[error("{place} {problem}")]
    InvalidValue { place: String, problem: Problem },
}

/// What is wrong with one value of an otherwise well-formed JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing,
    NotADecimal(String),
    WrongType {
        expected: &'static str,
        found: String,
    },
    WrongLength {
        expected: usize,
        found: usize,
    },
    /// Well typed, but a value the client cannot work with, e.g. a rate limit of 0.
    Unacceptable {
        found: String,
        expected: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("is missing"),
            Problem::NotADecimal(text) => write!(f, "{text:?} is not a decimal"),
            Problem::WrongType { expected, found } => {
                write!(f, "should be {expected}, found {found}")
            }
            Problem::WrongLength { expected, found } => {
                write!(f, "has {found} elements, expected {expected}")
            }
            Problem::Unacceptable { found, expected } => {
                write!(f, "is {found}, expected {expected}")
            }
        }
    }
}

/// Parses `GET /api/v3/ticker/24hr` (FULL). Accepts the array returned for `symbols=`/no
/// symbol and the single object returned for `symbol=`.
pub fn parse_tickers(body: &[u8]) -> Result<Vec<Ticker24h>, ParseError> {
    let root = read_json("ticker/24hr", body)?;
    one_or_many(&root, "ticker/24hr", |ticker| {
        Ok(Ticker24h {
            symbol: ticker.field("symbol")?.string()?,
            price_change: ticker.field("priceChange")?.decimal()?,
            price_change_percent: ticker.field("priceChangePercent")?.decimal()?,
            weighted_avg_price: ticker.field("weightedAvgPrice")?.decimal()?,
            prev_close_price: ticker.field("prevClosePrice")?.decimal()?,
            last_price: ticker.field("lastPrice")?.decimal()?,
            last_qty: ticker.field("lastQty")?.decimal()?,
            bid_price: ticker.field("bidPrice")?.decimal()?,
            bid_qty: ticker.field("bidQty")?.decimal()?,
            ask_price: ticker.field("askPrice")?.decimal()?,
            ask_qty: ticker.field("askQty")?.decimal()?,
            open_price: ticker.field("openPrice")?.decimal()?,
            high_price: ticker.field("highPrice")?.decimal()?,
            low_price: ticker.field("lowPrice")?.decimal()?,
            volume: ticker.field("volume")?.decimal()?,
            quote_volume: ticker.field("quoteVolume")?.decimal()?,
            open_time: ticker.field("openTime")?.integer()?,
            close_time: ticker.field("closeTime")?.integer()?,
            first_id: ticker.field("firstId")?.integer()?,
            last_id: ticker.field("lastId")?.integer()?,
            count: ticker.field("count")?.count()?,
        })
    })
}

/// Parses `GET /api/v3/ticker/24hr?type=MINI`, as an array or a single object.
pub fn parse_mini_tickers(body: &[u8]) -> Result<Vec<MiniTicker24h>, ParseError> {
    let root = read_json("ticker/24hr", body)?;
    one_or_many(&root, "ticker/24hr", |ticker| {
        Ok(MiniTicker24h {
            symbol: ticker.field("symbol")?.string()?,
            open_price: ticker.field("openPrice")?.decimal()?,
            high_price: ticker.field("highPrice")?.decimal()?,
            low_price: ticker.field("lowPrice")?.decimal()?,
            last_price: ticker.field("lastPrice")?.decimal()?,
            volume: ticker.field("volume")?.decimal()?,
            quote_volume: ticker.field("quoteVolume")?.decimal()?,
            open_time: ticker.field("openTime")?.integer()?,
            close_time: ticker.field("closeTime")?.integer()?,
            first_id: ticker.field("firstId")?.integer()?,
            last_id: ticker.field("lastId")?.integer()?,
            count: ticker.field("count")?.count()?,
        })
    })
}

/// The number of elements in a kline row.
const KLINE_ROW_LENGTH: usize = 12;

/// Parses `GET /api/v3/klines`: an array of 12-element arrays
/// `[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
///   takerBuyBase, takerBuyQuote, ignore]`.
pub fn parse_klines(body: &[u8]) -> Result<Vec<Kline>, ParseError> {
    let root = read_json("klines", body)?;
    let root = Node::root(&root, "klines");
    root.elements()?
        .map(|row| {
            let length = row.array()?.len();
            if length != KLINE_ROW_LENGTH {
                return Err(row.problem(Problem::WrongLength {
                    expected: KLINE_ROW_LENGTH,
                    found: length,
                }));
            }
            Ok(Kline {
                open_time: row.element(0).integer()?,
                open: row.element(1).decimal()?,
                high: row.element(2).decimal()?,
                low: row.element(3).decimal()?,
                close: row.element(4).decimal()?,
                volume: row.element(5).decimal()?,
                close_time: row.element(6).integer()?,
                quote_volume: row.element(7).decimal()?,
                trades: row.element(8).count()?,
                taker_buy_base_volume: row.element(9).decimal()?,
                taker_buy_quote_volume: row.element(10).decimal()?,
            })
        })
        .collect()
}

/// The longest rate-limit window accepted: Binance's longest is one day (`ORDERS` per `DAY`).
/// A longer one is not a limit a client could sensibly wait out.
pub const MAX_RATE_LIMIT_WINDOW_MS: i64 = 86_400_000;
/// The largest rate limit accepted. Binance's request-weight limit is 6000 per minute and its
/// largest published limit is a few hundred thousand; beyond a million the value is not one
/// Binance sends but a broken body, and obeying it would overspend the real limit.
pub const MAX_RATE_LIMIT: i64 = 1_000_000;
/// The latest `serverTime` accepted, 9999-12-31T23:59:59.999Z: every time up to it is a valid
/// timestamp, and clock arithmetic on it cannot overflow.
pub const MAX_SERVER_TIME_MS: i64 = 253_402_300_799_999;

/// Parses `GET /api/v3/exchangeInfo`, keeping the server time, the rate limits and each
/// symbol's status and assets; filters and order types are not needed for market data.
///
/// Every value kept is checked, not only typed, as each one steers the client: a rate limit
/// with a zero window or limit would divide by zero in the weight budget, a `serverTime` near
/// the ends of `i64` would overflow the ingester's clock offset, and a symbol listed twice, empty,
/// or with a character that cannot go into a `symbols=["…"]` parameter would break every poll
/// that includes it.
pub fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, ParseError> {
    let root = read_json("exchangeInfo", body)?;
    let root = Node::root(&root, "exchangeInfo");
    let rate_limits = root
        .field("rateLimits")?
        .elements()?
        .map(|limit| rate_limit(&limit))
        .collect::<Result<_, ParseError>>()?;
    let mut listed = HashSet::new();
    let symbols = root
        .field("symbols")?
        .elements()?
        .map(|symbol| {
            let name_node = symbol.field("symbol")?;
            let name = symbol_name(&name_node)?;
            if !listed.insert(name.clone()) {
                return Err(name_node.problem(Problem::Unacceptable {
                    found: format!("{name:?}"),
                    expected: "each symbol listed once".to_owned(),
                }));
            }
            Ok(SymbolInfo {
                symbol: name,
                status: SymbolStatus::from_binance(&symbol.field("status")?.string()?),
                base_asset: symbol_name(&symbol.field("baseAsset")?)?,
                quote_asset: symbol_name(&symbol.field("quoteAsset")?)?,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    Ok(ExchangeInfo {
        server_time: root.field("serverTime")?.bounded(
            0,
            MAX_SERVER_TIME_MS,
            "a Unix time in ms up to year 9999",
        )?,
        rate_limits,
        symbols,
    })
}

/// One entry of `rateLimits`: a window of 1 s to 1 day and a limit of 1 to [`MAX_RATE_LIMIT`].
fn rate_limit(limit: &Node<'_, '_>) -> Result<RateLimit, ParseError> {
    let interval = rate_limit_interval(&limit.field("interval")?)?;
    let max_intervals = MAX_RATE_LIMIT_WINDOW_MS / interval.unit_ms();
    let interval_num =
        limit
            .field("intervalNum")?
            .bounded(1, max_intervals, "a window of 1 s to 1 day")?;
    let count = limit
        .field("limit")?
        .bounded(1, MAX_RATE_LIMIT, "a limit of 1 to 1000000")?;
    Ok(RateLimit {
        kind: rate_limit_kind(&limit.field("rateLimitType")?.string()?),
        interval,
        // Both bounds are far inside u32, so the conversions cannot fail; saturating anyway
        // keeps a future change of bounds from becoming a panic.
        interval_num: u32::try_from(interval_num).unwrap_or(u32::MAX),
        limit: u32::try_from(count).unwrap_or(u32::MAX),
    })
}

/// A symbol or asset name: non-empty, at most 64 characters, and free of whitespace, control
/// characters, quotes and backslashes, so that it can be sent back in a `symbols=` list and
/// logged as it is. Not restricted to ASCII: Binance lists pairs with non-Latin names.
fn symbol_name(node: &Node<'_, '_>) -> Result<String, ParseError> {
    const MAX_CHARS: usize = 64;
    let name = node.string()?;
    let acceptable = !name.is_empty()
        && name.chars().count() <= MAX_CHARS
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\');
    if acceptable {
        Ok(name)
    } else {
        Err(node.problem(Problem::Unacceptable {
            found: format!("{name:?}"),
            expected:
                "1 to 64 characters without whitespace, control characters, quotes or backslashes"
                    .to_owned(),
        }))
    }
}

/// Parses Binance's error body `{"code":-1121,"msg":"Invalid symbol."}`.
pub fn parse_api_error(body: &[u8]) -> Result<ApiError, ParseError> {
    let root = read_json("error body", body)?;
    let root = Node::root(&root, "error body");
    Ok(ApiError {
        code: root.field("code")?.integer()?,
        msg: root.field("msg")?.string()?,
    })
}

fn read_json(what: &'static str, body: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(body).map_err(|error| ParseError::InvalidJson {
        what,
        reason: error.to_string(),
    })
}

/// Applies `parse_one` to a single object or to every element of an array.
fn one_or_many<T>(
    root: &Value,
    name: &'static str,
    parse_one: impl Fn(&Node<'_, '_>) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    let root = Node::root(root, name);
    if root.value.is_some_and(Value::is_object) {
        return Ok(vec![parse_one(&root)?]);
    }
    root.elements()?
        .map(|element| parse_one(&element))
        .collect()
}

fn rate_limit_kind(text: &str) -> RateLimitKind {
    match text {
        "REQUEST_WEIGHT" => RateLimitKind::RequestWeight,
        "ORDERS" => RateLimitKind::Orders,
        "RAW_REQUESTS" => RateLimitKind::RawRequests,
        other => RateLimitKind::Other(other.to_owned()),
    }
}

/// Unlike the limit kind, an unknown window unit is an error: a limit whose window cannot be
/// measured cannot be obeyed.
fn rate_limit_interval(node: &Node<'_, '_>) -> Result<RateLimitInterval, ParseError> {
    match node.string()?.as_str() {
        "SECOND" => Ok(RateLimitInterval::Second),
        "MINUTE" => Ok(RateLimitInterval::Minute),
        "HOUR" => Ok(RateLimitInterval::Hour),
        "DAY" => Ok(RateLimitInterval::Day),
        other => Err(node.problem(Problem::WrongType {
            expected: "one of SECOND, MINUTE, HOUR, DAY",
            found: format!("{other:?}"),
        })),
    }
}

/// Where a value sits in the body; rendered only when there is an error to report.
enum Step {
    Root(&'static str),
    Key(&'static str),
    Index(usize),
}

/// A value together with its place in the body.
struct Node<'v, 'p> {
    value: Option<&'v Value>,
    step: Step,
    parent: Option<&'p Node<'v, 'p>>,
}

impl<'v, 'p> Node<'v, 'p> {
    fn root(value: &'v Value, name: &'static str) -> Self {
        Node {
            value: Some(value),
            step: Step::Root(name),
            parent: None,
        }
    }

    fn place(&self) -> String {
        let mut steps = Vec::new();
        let mut node = Some(self);
        while let Some(current) = node {
            steps.push(&current.step);
            node = current.parent;
        }
        let mut place = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Root(name) => place.push_str(name),
                Step::Key(key) => {
                    place.push('.');
                    place.push_str(key);
                }
                Step::Index(index) => place.push_str(&format!("[{index}]")),
            }
        }
        place
    }

    fn problem(&self, problem: Problem) -> ParseError {
        ParseError::InvalidValue {
            place: self.place(),
            problem,
        }
    }

    fn present(&self) -> Result<&'v Value, ParseError> {
        self.value.ok_or_else(|| self.problem(Problem::Missing))
    }

    fn wrong_type(&self, expected: &'static str, found: &Value) -> ParseError {
        self.problem(Problem::WrongType {
            expected,
            found: describe(found),
        })
    }

    /// The member `key` of this object; a missing member is reported when it is read.
    fn field<'a>(&'a self, key: &'static str) -> Result<Node<'v, 'a>, ParseError> {
        let value = self.present()?;
        let object = value
            .as_object()
            .ok_or_else(|| self.wrong_type("an object", value))?;
        Ok(Node {
            value: object.get(key),
            step: Step::Key(key),
            parent: Some(self),
        })
    }

    fn array(&self) -> Result<&'v [Value], ParseError> {
        let value = self.present()?;
        value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.wrong_type("an array", value))
    }

    /// Element `index` of this array (the caller has checked the array's length).
    fn element<'a>(&'a self, index: usize) -> Node<'v, 'a> {
        Node {
            value: self.value.and_then(|value| value.get(index)),
            step: Step::Index(index),
            parent: Some(self),
        }
    }

    fn elements<'a>(
        &'a self,
    ) -> Result<impl Iterator<Item = Node<'v, 'a>> + use<'a, 'v, 'p>, ParseError> {
        let length = self.array()?.len();
        Ok((0..length).map(move |index| self.element(index)))
    }

    fn string(&self) -> Result<String, ParseError> {
        let value = self.present()?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.wrong_type("a string", value))
    }

    /// A decimal sent as a string, taken digit for digit.
    fn decimal(&self) -> Result<Decimal, ParseError> {
        let value = self.present()?;
        let text = value
            .as_str()
            .ok_or_else(|| self.wrong_type("a decimal string", value))?;
        parse_decimal(text).ok_or_else(|| self.problem(Problem::NotADecimal(text.to_owned())))
    }

    fn integer(&self) -> Result<i64, ParseError> {
        let value = self.present()?;
        value
            .as_i64()
            .ok_or_else(|| self.wrong_type("an integer", value))
    }

    fn count(&self) -> Result<u64, ParseError> {
        let value = self.present()?;
        value
            .as_u64()
            .ok_or_else(|| self.wrong_type("a non-negative integer", value))
    }

    /// An integer in `min..=max`; `expected` says what the range means, for the error.
    fn bounded(&self, min: i64, max: i64, expected: &str) -> Result<i64, ParseError> {
        let value = self.present()?;
        let out_of_range = || {
            self.problem(Problem::Unacceptable {
                found: value.to_string(),
                expected: expected.to_owned(),
            })
        };
        if value.is_u64() && value.as_i64().is_none() {
            return Err(out_of_range()); // beyond i64, so beyond any bound
        }
        let number = self.integer()?;
        if (min..=max).contains(&number) {
            Ok(number)
        } else {
            Err(out_of_range())
        }
    }
}

/// Binance's decimal grammar: an optional minus, digits, and optionally a point and digits.
/// Checked before `Decimal` parses the text because `Decimal`'s own parser is more lenient (it
/// accepts `_` separators, for one), and exactness is refused rather than rounded away.
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !fraction.is_none_or(all_digits) {
        return None;
    }
    Decimal::from_str_exact(text).ok()
}

/// A short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut text = value.to_string();
    if text.chars().count() > MAX_CHARS {
        text = text.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    format!("{kind} {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchangeInfo body with one rate limit and one symbol, from the given JSON fragments.
    fn exchange_info(server_time: &str, rate_limit: &str, symbols: &str) -> Vec<u8> {
        format!(
            r#"{{"serverTime":{server_time},"rateLimits":[{rate_limit}],"symbols":[{symbols}]}}"#
        )
        .into_bytes()
    }

    fn limit(interval: &str, interval_num: &str, limit: &str) -> String {
        format!(
            r#"{{"rateLimitType":"REQUEST_WEIGHT","interval":"{interval}","intervalNum":{interval_num},"limit":{limit}}}"#
        )
    }

    fn symbol(name: &str, base: &str, quote: &str) -> String {
        format!(
            r#"{{"symbol":"{name}","status":"TRADING","baseAsset":"{base}","quoteAsset":"{quote}"}}"#
        )
    }

    const SERVER_TIME: &str = "1709294400250";

    fn with_limit(interval: &str, interval_num: &str, count: &str) -> Result<ExchangeInfo, String> {
        parse_exchange_info(&exchange_info(
            SERVER_TIME,
            &limit(interval, interval_num, count),
            &symbol("BTCUSDT", "BTC", "USDT"),
        ))
        .map_err(|error| error.to_string())
    }

    fn with_symbols(symbols: &str) -> Result<ExchangeInfo, String> {
        parse_exchange_info(&exchange_info(
            SERVER_TIME,
            &limit("MINUTE", "1", "6000"),
            symbols,
        ))
        .map_err(|error| error.to_string())
    }

    fn with_server_time(server_time: &str) -> Result<ExchangeInfo, String> {
        parse_exchange_info(&exchange_info(
            server_time,
            &limit("MINUTE", "1", "6000"),
            &symbol("BTCUSDT", "BTC", "USDT"),
        ))
        .map_err(|error| error.to_string())
    }

    #[test]
    fn a_rate_limit_outside_its_bounds_is_refused() {
        for (interval, interval_num, count, expected) in [
            (
                "MINUTE",
                "0",
                "6000",
                "exchangeInfo.rateLimits[0].intervalNum is 0, expected a window of 1 s to 1 day",
            ),
            (
                "SECOND",
                "-10",
                "6000",
                "exchangeInfo.rateLimits[0].intervalNum is -10, expected a window of 1 s to 1 day",
            ),
            // Longer than a day.
            (
                "DAY",
                "2",
                "6000",
                "exchangeInfo.rateLimits[0].intervalNum is 2, expected a window of 1 s to 1 day",
            ),
            (
                "SECOND",
                "86401",
                "6000",
                "exchangeInfo.rateLimits[0].intervalNum is 86401, expected a window of 1 s to 1 day",
            ),
            (
                "MINUTE",
                "18446744073709551615",
                "6000",
                "exchangeInfo.rateLimits[0].intervalNum is 18446744073709551615, expected a window of 1 s to 1 day",
            ),
            (
                "MINUTE",
                "1.5",
                "6000",
                "exchangeInfo.rateLimits[0].intervalNum should be an integer, found number 1.5",
            ),
            (
                "WEEK",
                "1",
                "6000",
                r#"exchangeInfo.rateLimits[0].interval should be one of SECOND, MINUTE, HOUR, DAY, found "WEEK""#,
            ),
            (
                "MINUTE",
                "1",
                "0",
                "exchangeInfo.rateLimits[0].limit is 0, expected a limit of 1 to 1000000",
            ),
            (
                "MINUTE",
                "1",
                "-6000",
                "exchangeInfo.rateLimits[0].limit is -6000, expected a limit of 1 to 1000000",
            ),
            (
                "MINUTE",
                "1",
                "4294967295",
                "exchangeInfo.rateLimits[0].limit is 4294967295, expected a limit of 1 to 1000000",
            ),
            (
                "MINUTE",
                "1",
                "1e9",
                "exchangeInfo.rateLimits[0].limit should be an integer, found number 1000000000.0",
            ),
        ] {
            assert_eq!(
                with_limit(interval, interval_num, count).unwrap_err(),
                expected,
                "{interval} x {interval_num}, limit {count}"
            );
        }
    }

    #[test]
    fn a_rate_limit_at_its_bounds_is_accepted() {
        let longest = with_limit("SECOND", "86400", "6000").unwrap();
        assert_eq!(longest.rate_limits[0].window_ms(), MAX_RATE_LIMIT_WINDOW_MS);
        assert!(with_limit("DAY", "1", "6000").is_ok());
        assert_eq!(
            with_limit("MINUTE", "1", "1000000").unwrap().rate_limits[0].limit,
            1_000_000
        );
        assert_eq!(
            with_limit("MINUTE", "1", "1").unwrap().rate_limits[0].limit,
            1
        );
    }

    #[test]
    fn a_server_time_outside_0_to_year_9999_is_refused() {
        for bad in [
            "-1",
            "-9223372036854775808",
            "253402300800000",
            "9223372036854775807",
        ] {
            assert_eq!(
                with_server_time(bad).unwrap_err(),
                format!(
                    "exchangeInfo.serverTime is {bad}, expected a Unix time in ms up to year 9999"
                )
            );
        }
        assert_eq!(with_server_time("0").unwrap().server_time, 0);
        assert_eq!(
            with_server_time("253402300799999").unwrap().server_time,
            MAX_SERVER_TIME_MS
        );
    }

    #[test]
    fn an_empty_symbol_or_asset_is_refused() {
        assert_eq!(
            with_symbols(&symbol("", "BTC", "USDT")).unwrap_err(),
            r#"exchangeInfo.symbols[0].symbol is "", expected 1 to 64 characters without whitespace, control characters, quotes or backslashes"#
        );
        assert_eq!(
            with_symbols(&symbol("BTCUSDT", "BTC", "")).unwrap_err(),
            r#"exchangeInfo.symbols[0].quoteAsset is "", expected 1 to 64 characters without whitespace, control characters, quotes or backslashes"#
        );
        assert_eq!(
            with_symbols(&symbol("BTCUSDT", "", "USDT")).unwrap_err(),
            r#"exchangeInfo.symbols[0].baseAsset is "", expected 1 to 64 characters without whitespace, control characters, quotes or backslashes"#
        );
    }

    #[test]
    fn a_symbol_that_cannot_be_sent_back_is_refused() {
        for (json, shown) in [
            (r#"BTC\"USDT"#, r#""BTC\"USDT""#),
            (r#"BTC\\USDT"#, r#""BTC\\USDT""#),
            ("BTC USDT", r#""BTC USDT""#),
            (r#"BTC\nUSDT"#, r#""BTC\nUSDT""#),
        ] {
            assert_eq!(
                with_symbols(&symbol(json, "BTC", "USDT")).unwrap_err(),
                format!(
                    "exchangeInfo.symbols[0].symbol is {shown}, expected 1 to 64 characters without whitespace, control characters, quotes or backslashes"
                )
            );
        }
        let long = "A".repeat(65);
        assert!(with_symbols(&symbol(&long, "A", "USDT")).is_err());
        // Binance lists pairs with non-Latin names; they are sent back as they are.
        let info = with_symbols(&symbol("币安人生USDT", "币安人生", "USDT")).unwrap();
        assert_eq!(info.symbols[0].symbol, "币安人生USDT");
    }

    #[test]
    fn a_symbol_listed_twice_is_refused() {
        let twice = [
            symbol("BTCUSDT", "BTC", "USDT"),
            symbol("ETHUSDT", "ETH", "USDT"),
            symbol("BTCUSDT", "BTC", "USDT"),
        ]
        .join(",");
        assert_eq!(
            with_symbols(&twice).unwrap_err(),
            r#"exchangeInfo.symbols[2].symbol is "BTCUSDT", expected each symbol listed once"#
        );
    }

    #[test]
    fn decimal_grammar_is_strict() {
        for good in ["0", "4.00000200", "-94.99999800", "123456789012.12345678"] {
            assert_eq!(
                parse_decimal(good).map(|d| d.to_string()).as_deref(),
                Some(good)
            );
        }
        for bad in [
            "", "abc", "12.3.4", "1_000", "1e5", ".5", "5.", "+1", " 1", "-",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
