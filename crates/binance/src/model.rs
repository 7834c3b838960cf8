//! Typed market data as Binance reports it. Prices and quantities are `Decimal`s parsed from
//! the strings Binance sends, so they keep every digit; times are Unix milliseconds (UTC).

use rust_decimal::Decimal;

/// `GET /api/v3/ticker/24hr` with `type=FULL` (the default): rolling 24-hour statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticker24h {
    pub symbol: String,
    pub price_change: Decimal,
    pub price_change_percent: Decimal,
    pub weighted_avg_price: Decimal,
    pub prev_close_price: Decimal,
    pub last_price: Decimal,
    pub last_qty: Decimal,
    pub bid_price: Decimal,
    pub bid_qty: Decimal,
    pub ask_price: Decimal,
    pub ask_qty: Decimal,
    pub open_price: Decimal,
    pub high_price: Decimal,
    pub low_price: Decimal,
    /// Traded volume in the base asset.
    pub volume: Decimal,
    /// Traded volume in the quote asset.
    pub quote_volume: Decimal,
    pub open_time: i64,
    pub close_time: i64,
    /// First trade id in the window; Binance sends -1 when there were no trades.
    pub first_id: i64,
    pub last_id: i64,
    /// Number of trades in the window.
    pub count: u64,
}

/// `GET /api/v3/ticker/24hr` with `type=MINI`: the same window without change, bid/ask and
/// last-trade fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniTicker24h {
    pub symbol: String,
    pub open_price: Decimal,
    pub high_price: Decimal,
    pub low_price: Decimal,
    pub last_price: Decimal,
    pub volume: Decimal,
    pub quote_volume: Decimal,
    pub open_time: i64,
    pub close_time: i64,
    pub first_id: i64,
    pub last_id: i64,
    pub count: u64,
}

/// One candle of `GET /api/v3/klines`. Identified by (symbol, interval, `open_time`); the
/// newest candle is still open and changes until `close_time` passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    pub open_time: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub close_time: i64,
    pub quote_volume: Decimal,
    pub trades: u64,
    pub taker_buy_base_volume: Decimal,
    pub taker_buy_quote_volume: Decimal,
}

/// The parts of `GET /api/v3/exchangeInfo` a market-data client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeInfo {
    pub server_time: i64,
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<SymbolInfo>,
}

impl ExchangeInfo {
    /// The per-IP request-weight limit, the one every market-data request counts against.
    /// When several windows are listed the shortest one is returned, as it binds first.
    pub fn request_weight_limit(&self) -> Option<RateLimit> {
        self.rate_limits
            .iter()
            .filter(|limit| limit.kind == RateLimitKind::RequestWeight)
            .min_by_key(|limit| limit.window_ms())
            .cloned()
    }
}

/// One entry of `exchangeInfo.symbols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolInfo {
    pub symbol: String,
    pub status: SymbolStatus,
    pub base_asset: String,
    pub quote_asset: String,
}

/// A symbol's trading status. Unknown values are kept rather than rejected so that a new
/// status on Binance's side does not break parsing of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolStatus {
    Trading,
    Halt,
    Break,
    Other(String),
}

impl SymbolStatus {
    pub(crate) fn from_binance(text: &str) -> Self {
        match text {
            "TRADING" => SymbolStatus::Trading,
            "HALT" => SymbolStatus::Halt,
            "BREAK" => SymbolStatus::Break,
            other => SymbolStatus::Other(other.to_owned()),
        }
    }
}

/// One entry of `exchangeInfo.rateLimits`: at most `limit` units per `interval_num` intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub kind: RateLimitKind,
    pub interval: RateLimitInterval,
    pub interval_num: u32,
    pub limit: u32,
}

impl RateLimit {
    /// The length of the window the limit applies to.
    pub fn window_ms(&self) -> i64 {
        self.interval.unit_ms() * i64::from(self.interval_num)
    }

    /// The response header carrying the used weight of this window, e.g.
    /// `X-MBX-USED-WEIGHT-1M` (header names are case-insensitive; this is the lower-case form).
    pub fn used_weight_header(&self) -> String {
        format!(
            "x-mbx-used-weight-{}{}",
            self.interval_num,
            self.interval.letter()
        )
    }
}

/// What a rate limit counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitKind {
    RequestWeight,
    Orders,
    RawRequests,
    Other(String),
}

/// The unit of a rate-limit window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitInterval {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateLimitInterval {
    pub fn unit_ms(self) -> i64 {
        match self {
            RateLimitInterval::Second => 1_000,
            RateLimitInterval::Minute => 60_000,
            RateLimitInterval::Hour => 3_600_000,
            RateLimitInterval::Day => 86_400_000,
        }
    }

    /// The letter used in `X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter)`.
    pub fn letter(self) -> char {
        match self {
            RateLimitInterval::Second => 's',
            RateLimitInterval::Minute => 'm',
            RateLimitInterval::Hour => 'h',
            RateLimitInterval::Day => 'd',
        }
    }
}

/// Binance's error body, e.g. `{"code":-1121,"msg":"Invalid symbol."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Binance error {code}: {msg}")]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
}
