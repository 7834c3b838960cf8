//! The one integration-test binary of `market-sim`: the HTTP API as a Binance client sees it,
//! against a simulator started in-process on 127.0.0.1:0 with a frozen clock.

mod api;

use clap::Parser;
use market_sim::{RunningSim, SimConfig};

/// 2024-03-01T12:00:00.250Z.
pub const START: i64 = 1_709_294_400_250;

/// A simulator with a frozen clock at [`START`], 30 symbols, and `extra` flags.
pub async fn sim(extra: &[&str]) -> RunningSim {
    let start = START.to_string();
    let mut args = vec![
        "market-sim",
        "--listen",
        "127.0.0.1:0",
        "--symbols",
        "30",
        "--speed",
        "0",
        "--start-time",
        &start,
    ];
    args.extend_from_slice(extra);
    RunningSim::start(SimConfig::parse_from(args))
        .await
        .unwrap()
}

/// GET `path_and_query` and return (status, headers, body).
pub async fn get(
    sim: &RunningSim,
    path_and_query: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = reqwest::get(format!("{}{path_and_query}", sim.base_url()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body}"))
}
