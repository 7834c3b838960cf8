//! The HTTP layer: routes, the per-request pipeline (latency, weight, faults, body) and the
//! admin endpoints (the market clock, and the limiter's bans for tests that check a client
//! honours them). Market data and validation come from the pure modules.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header::{CONTENT_TYPE, HeaderName, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::clock::SimClock;
use crate::config::SimConfig;
use crate::faults::{self, FaultInjector};
use crate::limiter::{Admission, WeightLimiter};
use crate::params::{self, BinanceError, Params, Selection};
use crate::price::kline_indices;
use crate::render;
use crate::storm::Storm;
use crate::universe::{Symbol, Universe};

/// Binance weights of the fixed-weight endpoints.
const PING_WEIGHT: u32 = 1;
const TIME_WEIGHT: u32 = 1;
const EXCHANGE_INFO_WEIGHT: u32 = 20;
const KLINES_WEIGHT: u32 = 2;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    universe: Universe,
    clock: SimClock,
    limiter: Mutex<WeightLimiter>,
    faults: FaultInjector,
    broken_kline_symbols: HashSet<String>,
    used_weight_header: HeaderName,
    storm: Mutex<Option<Storm>>,
}

impl AppState {
    pub fn new(config: &SimConfig) -> Self {
        let limiter = config.limiter();
        let (_, _, suffix) = render::window_terms(limiter.window_ms);
        let used_weight_header = HeaderName::try_from(format!("x-mbx-used-weight-{suffix}"))
            .unwrap_or(HeaderName::from_static("x-mbx-used-weight-1m"));
        AppState {
            universe: Universe::new(config.symbols, config.seed),
            clock: SimClock::new(
                config.start_time.unwrap_or_else(service::unix_time_ms),
                config.speed,
            ),
            limiter: Mutex::new(WeightLimiter::new(limiter)),
            faults: FaultInjector::new(config.fault_rates(), config.seed),
            broken_kline_symbols: config.broken_kline_symbols.iter().cloned().collect(),
            used_weight_header,
            storm: Mutex::new(None),
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/ticker/24hr", get(ticker_24hr))
        .route("/api/v3/klines", get(klines))
        .route("/admin/now", get(admin_now))
        .route("/admin/advance", post(admin_advance))
        .route("/admin/bans", get(admin_bans))
        .route("/admin/storm", post(admin_storm))
        .with_state(state)
}

async fn ping(State(state): State<Arc<AppState>>) -> Response {
    market_data(state, PING_WEIGHT, |_| Ok("{}".to_owned())).await
}

async fn time(State(state): State<Arc<AppState>>) -> Response {
    market_data(state, TIME_WEIGHT, |state| {
        to_json(&serde_json::json!({ "serverTime": state.clock.now_ms() }))
    })
    .await
}

async fn exchange_info(State(state): State<Arc<AppState>>) -> Response {
    market_data(state, EXCHANGE_INFO_WEIGHT, |state| {
        let limiter = state
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .config();
        to_json(&render::exchange_info(
            state.universe.all(),
            limiter,
            state.clock.now_ms(),
        ))
    })
    .await
}

async fn ticker_24hr(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    market_data(state, params::ticker_weight(&params), move |state| {
        let request = params::ticker_request(&params)?;
        let now = state.clock.now_ms();
        let symbols: Vec<&Symbol> = match &request.selection {
            Selection::One(name) => vec![lookup(&state.universe, name)?],
            Selection::Many(names) => names
                .iter()
                .map(|name| lookup(&state.universe, name))
                .collect::<Result<_, _>>()?,
            Selection::All => state.universe.all().iter().collect(),
        };
        let stats = symbols
            .into_iter()
            .filter_map(|symbol| Some((symbol.name.as_str(), symbol.model.day_stats(now)?)));
        let single = matches!(request.selection, Selection::One(_));
        match (request.mini, single) {
            (false, false) => to_json(
                &stats
                    .map(|(name, s)| render::full_ticker(name, &s))
                    .collect::<Vec<_>>(),
            ),
            (true, false) => to_json(
                &stats
                    .map(|(name, s)| render::mini_ticker(name, &s))
                    .collect::<Vec<_>>(),
            ),
            (false, true) => to_json(&stats.map(|(name, s)| render::full_ticker(name, &s)).next()),
            (true, true) => to_json(&stats.map(|(name, s)| render::mini_ticker(name, &s)).next()),
        }
    })
    .await
}

async fn klines(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    market_data(state, KLINES_WEIGHT, move |state| {
        let request = params::klines_request(&params)?;
        let symbol = lookup(&state.universe, &request.symbol)?;
        if state.broken_kline_symbols.contains(&request.symbol) {
            return Err(internal_error(
                "injected fault: this symbol's klines are broken",
            ));
        }
        let now = state.clock.now_ms();
        let candles = kline_indices(
            request.interval,
            request.start_time,
            request.end_time,
            request.limit,
            now,
        )
        .map(|(first, last)| symbol.model.candles(request.interval, first, last, now))
        .unwrap_or_default();
        to_json(&candles.iter().map(render::kline).collect::<Vec<_>>())
    })
    .await
}

#[derive(Serialize)]
struct Now {
    now: i64,
}

async fn admin_now(State(state): State<Arc<AppState>>) -> Response {
    json_response(
        StatusCode::OK,
        to_json(&Now {
            now: state.clock.now_ms(),
        }),
    )
}

/// The limiter's [`BanRecord`](crate::limiter::BanRecord); times are real Unix ms, not market
/// time, as the limiter follows the real clock.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bans {
    bans: u64,
    requests_while_banned: u64,
    banned_until: Option<i64>,
    banned: bool,
}

/// `GET /admin/bans`: how many bans there were, how many requests arrived during one, and
/// whether one is running. Not weighed: asking must not disturb what is asked about.
async fn admin_bans(State(state): State<Arc<AppState>>) -> Response {
    let record = state
        .limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .ban_record();
    json_response(
        StatusCode::OK,
        to_json(&Bans {
            bans: record.bans,
            requests_while_banned: record.requests_while_banned,
            banned_until: record.banned_until_ms,
            banned: record
                .banned_until_ms
                .is_some_and(|until| service::unix_time_ms() < until),
        }),
    )
}

/// `POST /admin/advance?ms=N`: moves the market clock forward by N ms.
async fn admin_advance(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let body = match params.get("ms").map(str::parse::<u64>) {
        Some(Ok(ms)) => {
            let now = state.clock.advance(ms);
            tracing::info!(advanced_ms = ms, now, "market clock advanced");
            to_json(&Now { now })
        }
        Some(Err(_)) => Err(BinanceError::invalid_value("ms")),
        None => Err(BinanceError::mandatory("ms")),
    };
    json_response(StatusCode::OK, body)
}

/// `POST /admin/storm?status=429|418|500|503&seconds=N`: for N seconds every market-data request
/// is refused with that status (429 and 418 with `Retry-After`), whatever the client's weight.
async fn admin_storm(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let number = |name: &str| match params.get(name).map(str::parse::<u64>) {
        Some(Ok(value)) => Ok(value),
        Some(Err(_)) => Err(BinanceError::invalid_value(name)),
        None => Err(BinanceError::mandatory(name)),
    };
    let storm = number("status").and_then(|status| {
        let status = u16::try_from(status).map_err(|_| BinanceError::invalid_value("status"))?;
        Storm::new(status, number("seconds")?, service::unix_time_ms())
    });
    let body = storm.and_then(|storm| {
        tracing::warn!(
            status = storm.status,
            until_ms = storm.until_ms,
            "storm started"
        );
        *state.storm.lock().unwrap_or_else(PoisonError::into_inner) = Some(storm);
        to_json(&serde_json::json!({ "status": storm.status, "untilMs": storm.until_ms }))
    });
    json_response(StatusCode::OK, body)
}

fn lookup<'a>(universe: &'a Universe, name: &str) -> Result<&'a Symbol, BinanceError> {
    universe.get(name).ok_or_else(BinanceError::invalid_symbol)
}

fn to_json(value: &impl Serialize) -> Result<String, BinanceError> {
    serde_json::to_string(value).map_err(|error| internal_error(&error.to_string()))
}

fn internal_error(detail: &str) -> BinanceError {
    tracing::error!(detail, "internal error");
    BinanceError {
        status: 500,
        code: -1000,
        msg: "An unknown error occurred while processing the request.".to_owned(),
    }
}

/// The pipeline every market-data request goes through, in Binance's order: latency, a storm
/// started through `/admin/storm`, weight admission (429/418), injected server errors, the body itself (computed off the async
/// workers, as an all-symbols ticker is CPU work), then injected body damage.
async fn market_data(
    state: Arc<AppState>,
    weight: u32,
    produce: impl FnOnce(&AppState) -> Result<String, BinanceError> + Send + 'static,
) -> Response {
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let storm = *state.storm.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(refusal) = storm.and_then(|storm| storm.refusal(service::unix_time_ms())) {
        let response = json_response(StatusCode::OK, Err(refusal.error));
        return match refusal.retry_after_secs {
            Some(seconds) => with_retry_after(response, seconds),
            None => response,
        };
    }
    let admission = state
        .limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .admit(service::unix_time_ms(), weight);
    let used = match admission {
        Admission::Allowed { used } => used,
        Admission::TooManyRequests {
            used,
            retry_after_secs,
        } => {
            tracing::info!(used, retry_after_secs, "429: request weight exceeded");
            let limit = state
                .limiter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .config()
                .limit;
            let msg = format!(
                "Too much request weight used; current limit is {limit} request weight per window. Please use WebSocket Streams for live updates to avoid polling the API."
            );
            return throttled(&state, used, retry_after_secs, 429, msg);
        }
        Admission::Banned {
            used,
            retry_after_secs,
            until_ms,
        } => {
            tracing::warn!(used, retry_after_secs, "418: IP banned");
            let msg = format!(
                "Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."
            );
            return throttled(&state, used, retry_after_secs, 418, msg);
        }
    };
    let faults = state.faults.next();
    let body = if faults.server_error {
        Err(internal_error("injected server error"))
    } else {
        let worker_state = Arc::clone(&state);
        tokio::task::spawn_blocking(move || produce(&worker_state))
            .await
            .unwrap_or_else(|error| Err(internal_error(&error.to_string())))
    };
    let body = body.map(
        |body| match (faults.truncated_body, faults.malformed_number) {
            (true, _) => faults::truncate(&body),
            (false, true) => faults::malform_number(&body).unwrap_or(body),
            (false, false) => body,
        },
    );
    with_used_weight(&state, json_response(StatusCode::OK, body), used)
}

/// A 429 or 418 as Binance sends it: error code -1003 (too much weight), the weight used and
/// the seconds to wait in headers.
fn throttled(
    state: &AppState,
    used: u32,
    retry_after_secs: u64,
    status: u16,
    msg: String,
) -> Response {
    let error = BinanceError {
        status,
        code: -1003,
        msg,
    };
    let response = with_used_weight(state, json_response(StatusCode::OK, Err(error)), used);
    with_retry_after(response, retry_after_secs)
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn with_used_weight(state: &AppState, mut response: Response, used: u32) -> Response {
    response
        .headers_mut()
        .insert(state.used_weight_header.clone(), HeaderValue::from(used));
    response
}

/// A JSON response: `body` with `status`, or a Binance error body with the error's status.
fn json_response(status: StatusCode, body: Result<String, BinanceError>) -> Response {
    let (status, body) = match body {
        Ok(body) => (status, body),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            serde_json::json!({ "code": error.code, "msg": error.msg }).to_string(),
        ),
    };
    (
        status,
        [(CONTENT_TYPE, "application/json;charset=UTF-8")],
        body,
    )
        .into_response()
}
