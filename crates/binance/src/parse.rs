//! Pure parsers from response bodies to the typed models. No IO: the client hands them bytes.
//!
//! A body is first read as a JSON tree, then walked field by field. Walking by hand (instead of
//! deriving `Deserialize`) is what lets every error name the exact place and the offending text,
//! e.g. `klines[3][1] "abc" is not a decimal` or `ticker/24hr[0].lastPrice should be a decimal
//! string, found number 4.0`, and lets decimals be refused when they arrive as JSON numbers,
//! which would already have been rounded through a float by whoever produced them.

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

/// Parses `GET /api/v3/exchangeInfo`, keeping the server time, the rate limits and each
/// symbol's status and assets; filters and order types are not needed for market data.
pub fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, ParseError> {
    let root = read_json("exchangeInfo", body)?;
    let root = Node::root(&root, "exchangeInfo");
    let rate_limits = root
        .field("rateLimits")?
        .elements()?
        .map(|limit| {
            Ok(RateLimit {
                kind: rate_limit_kind(&limit.field("rateLimitType")?.string()?),
                interval: rate_limit_interval(&limit.field("interval")?)?,
                interval_num: limit.field("intervalNum")?.small_count()?,
                limit: limit.field("limit")?.small_count()?,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    let symbols = root
        .field("symbols")?
        .elements()?
        .map(|symbol| {
            Ok(SymbolInfo {
                symbol: symbol.field("symbol")?.string()?,
                status: SymbolStatus::from_binance(&symbol.field("status")?.string()?),
                base_asset: symbol.field("baseAsset")?.string()?,
                quote_asset: symbol.field("quoteAsset")?.string()?,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    Ok(ExchangeInfo {
        server_time: root.field("serverTime")?.integer()?,
        rate_limits,
        symbols,
    })
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

    fn small_count(&self) -> Result<u32, ParseError> {
        let value = self.present()?;
        value
            .as_u64()
            .and_then(|number| u32::try_from(number).ok())
            .ok_or_else(|| self.wrong_type("a non-negative 32-bit integer", value))
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
