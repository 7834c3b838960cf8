//! The IO edge: `BinanceClient` sends the requests built in `request`, paces them with the
//! `WeightBudget`, retries as `retry::classify` decides and hands bodies to the pure parsers.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tracing::Instrument;

use crate::error::Error;
use crate::interval::Interval;
use crate::model::{ExchangeInfo, Kline, Ticker24h};
use crate::parse::{ParseError, parse_api_error, parse_exchange_info, parse_klines, parse_tickers};
use crate::request::{
    KlinesQuery, PreparedRequest, TickerScope, exchange_info_request, klines_request, ping_request,
    plan_ticker_requests, ticker_request,
};
use crate::retry::{Disposition, RetryPolicy, classify};
use crate::weight::{Priority, Throttle, WeightBudget};

/// Binance's public market-data host.
pub const DEFAULT_BASE_URL: &str = "https://data-api.binance.vision";

/// How the client connects and how patient it is.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme, host and port of the API; its path is replaced by each endpoint's.
    pub base_url: String,
    /// Limit on one attempt, connect to last body byte. Binance itself gives up after 10 s.
    pub request_timeout: Duration,
    /// Share of the IP's request-weight limit this client may spend (0..=1).
    pub weight_share: f64,
    pub retry: RetryPolicy,
    /// Longest wait for the weight budget before giving up with `Error::Blocked`. Waiting for
    /// the next window is normal; sitting out a multi-minute ban inside one call is not.
    pub max_budget_wait: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            request_timeout: Duration::from_secs(10),
            weight_share: 0.5,
            retry: RetryPolicy::default(),
            max_budget_wait: Duration::from_secs(60),
        }
    }
}

/// An async Binance Spot market-data client. Cheap to share behind an `Arc`; concurrent calls
/// share one weight budget.
#[derive(Debug)]
pub struct BinanceClient {
    http: reqwest::Client,
    base_url: Url,
    budget: Mutex<WeightBudget>,
    retry: RetryPolicy,
    max_budget_wait: Duration,
}

impl BinanceClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base_url = Url::parse(&config.base_url)
            .map_err(|error| Error::Config(format!("base URL {:?}: {error}", config.base_url)))?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| Error::Config(error.to_string()))?;
        Ok(BinanceClient {
            http,
            base_url,
            budget: Mutex::new(WeightBudget::new(config.weight_share)),
            retry: config.retry,
            max_budget_wait: config.max_budget_wait,
        })
    }

    /// Keeps `weight` of every window of the budget for `Priority::Normal` requests, which
    /// `Priority::Background` requests wait rather than spend.
    pub fn reserve_weight(&self, weight: u32) {
        self.lock_budget().set_reserve(weight);
    }

    /// A copy of the weight budget as it stands, for metrics and tests.
    pub fn budget(&self) -> WeightBudget {
        self.lock_budget().clone()
    }

    /// `GET /api/v3/ping`: succeeds when the API is reachable.
    pub async fn ping(&self) -> Result<(), Error> {
        self.fetch(ping_request(&self.base_url), "", Priority::Normal, |_| {
            Ok(())
        })
        .await
    }

    /// `GET /api/v3/exchangeInfo`. Also adopts the REQUEST_WEIGHT limit it lists, so calling
    /// this once at start-up makes the budget exact.
    pub async fn exchange_info(&self) -> Result<ExchangeInfo, Error> {
        let info = self
            .fetch(
                exchange_info_request(&self.base_url),
                "",
                Priority::Normal,
                parse_exchange_info,
            )
            .await?;
        if let Some(limit) = info.request_weight_limit() {
            tracing::debug!(
                limit = limit.limit,
                window_ms = limit.window_ms(),
                "adopting weight limit"
            );
            self.lock_budget().set_limit(now_ms(), limit);
        }
        Ok(info)
    }

    /// 24-hour tickers (FULL) for `symbols`, or for every symbol when `symbols` is empty. Uses
    /// whichever of `symbols=` lists or one all-symbols request costs less weight; the result
    /// holds only the symbols asked for, in the order Binance returned them.
    pub async fn ticker_24h(&self, symbols: &[String]) -> Result<Vec<Ticker24h>, Error> {
        let plan = plan_ticker_requests(symbols);
        let mut tickers = Vec::with_capacity(symbols.len());
        for scope in &plan.requests {
            let label = match scope {
                TickerScope::List(list) if list.len() == 1 => list[0].clone(),
                TickerScope::List(list) => format!("{} symbols", list.len()),
                TickerScope::All => "all".to_owned(),
            };
            let request = ticker_request(&self.base_url, scope);
            tickers.extend(
                self.fetch(request, &label, Priority::Normal, parse_tickers)
                    .await?,
            );
        }
        if plan.requests == [TickerScope::All] && !symbols.is_empty() {
            let wanted: HashSet<&str> = symbols.iter().map(String::as_str).collect();
            tickers.retain(|ticker| wanted.contains(ticker.symbol.as_str()));
        }
        Ok(tickers)
    }

    /// Klines of `symbol` whose open time lies in `[start_time, end_time]`, oldest first, at
    /// most `limit` (1..=1000). Without `start_time`, the most recent ones.
    pub async fn klines(
        &self,
        symbol: &str,
        interval: Interval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Kline>, Error> {
        self.klines_as(
            Priority::Normal,
            symbol,
            interval,
            start_time,
            end_time,
            limit,
        )
        .await
    }

    /// [`klines`](Self::klines) as a request of `priority`: a backfill's pages go as
    /// `Priority::Background`, leaving the reserved weight to requests that must go on time.
    pub async fn klines_as(
        &self,
        priority: Priority,
        symbol: &str,
        interval: Interval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Kline>, Error> {
        let query = KlinesQuery {
            symbol: symbol.to_owned(),
            interval,
            start_time,
            end_time,
            limit,
        };
        let request = klines_request(&self.base_url, &query)?;
        self.fetch(request, symbol, priority, parse_klines).await
    }

    /// Sends `request` and parses its body, retrying as `classify` allows.
    async fn fetch<T>(
        &self,
        request: PreparedRequest,
        symbol: &str,
        priority: Priority,
        parse: impl Fn(&[u8]) -> Result<T, ParseError>,
    ) -> Result<T, Error> {
        let span = tracing::info_span!(
            "binance_request",
            endpoint = request.endpoint.path(),
            symbol,
            weight = request.weight,
        );
        async {
            let mut failures = 0;
            loop {
                let error = match self.attempt(&request, priority).await {
                    Ok(body) => match parse(&body) {
                        Ok(value) => return Ok(value),
                        Err(source) => Error::Parse {
                            endpoint: request.endpoint,
                            source,
                        },
                    },
                    Err(error) => error,
                };
                failures += 1;
                if classify(&error) == Disposition::Fail || failures >= self.retry.max_attempts {
                    tracing::warn!(%error, failures, "request failed");
                    return Err(error);
                }
                let delay = self.retry.backoff(failures, rand::random::<f64>());
                tracing::info!(%error, failures, ?delay, "retrying");
                tokio::time::sleep(delay).await;
            }
        }
        .instrument(span)
        .await
    }

    /// One attempt: wait for the budget, send, account for the response, read the body.
    async fn attempt(
        &self,
        request: &PreparedRequest,
        priority: Priority,
    ) -> Result<Vec<u8>, Error> {
        self.wait_for_budget(request, priority).await?;
        let sent_at = now_ms();
        let transport = |source| Error::Transport {
            endpoint: request.endpoint,
            source,
        };
        let response = self
            .http
            .get(request.url.clone())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        self.account(sent_at, status, response.headers(), retry_after);
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(Error::Status {
            endpoint: request.endpoint,
            status: status.as_u16(),
            api: parse_api_error(&body).ok(),
            retry_after,
        })
    }

    async fn wait_for_budget(
        &self,
        request: &PreparedRequest,
        priority: Priority,
    ) -> Result<(), Error> {
        loop {
            let verdict = self
                .lock_budget()
                .try_acquire_as(now_ms(), request.weight, priority);
            match verdict {
                Ok(()) => return Ok(()),
                Err(wait) if wait > self.max_budget_wait => {
                    return Err(Error::Blocked {
                        endpoint: request.endpoint,
                        wait,
                    });
                }
                Err(wait) => {
                    tracing::debug!(?wait, "waiting for request weight");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Feeds the used-weight header of the response to a request sent at `sent_at`, and any
    /// 429/418, into the budget.
    fn account(
        &self,
        sent_at: i64,
        status: StatusCode,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
    ) {
        let now = now_ms();
        let mut budget = self.lock_budget();
        let header = budget.limit().used_weight_header();
        if let Some(used) = headers
            .get(header.as_str())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u32>().ok())
        {
            budget.record_used(sent_at, now, used);
        }
        let throttle = match status.as_u16() {
            429 => Some(Throttle::TooManyRequests),
            418 => Some(Throttle::Banned),
            _ => None,
        };
        if let Some(throttle) = throttle {
            tracing::warn!(
                status = status.as_u16(),
                ?retry_after,
                "throttled by Binance"
            );
            budget.record_throttle(now, throttle, retry_after);
        }
    }

    /// The budget stays usable even if a thread panicked while holding it: its state is a few
    /// counters that are consistent after every method.
    fn lock_budget(&self) -> MutexGuard<'_, WeightBudget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `Retry-After` in seconds, as Binance sends it.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
