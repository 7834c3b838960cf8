//! The one integration-test binary of `market-sim`: the HTTP API as a Binance client sees it,
//! against a simulator started in-process on 127.0.0.1:0 with a frozen clock.

mod api;
mod help;

use market_sim::{RunningSim, SimConfig};

/// 2024-03-01T12:00:00.250Z.
pub const START: i64 = 1_709_294_400_250;

/// The settings of these tests' simulator: a frozen clock at [`START`] and 30 symbols. A test
/// changes what it needs with struct update syntax.
pub fn frozen_market() -> SimConfig {
    SimConfig {
        symbols: 30,
        speed: 0.0,
        start_time: Some(START),
        ..SimConfig::in_process()
    }
}

/// A simulator started in-process with `config`.
pub async fn sim(config: SimConfig) -> RunningSim {
    RunningSim::start(config).await.unwrap()
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

/// The binary logs in the format `LOG_FORMAT` names, like the pipeline's other binaries (compose
/// sets it for all of them).
#[test]
fn the_binary_logs_json_lines_when_log_format_says_so() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_market-sim"))
        .env("LOG_FORMAT", "json")
        .env("MARKET_SIM_LISTEN", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot start market-sim");
    let stderr = child.stderr.take().expect("piped stderr");
    let first_line = std::io::BufReader::new(stderr)
        .lines()
        .next()
        .expect("market-sim logged nothing")
        .expect("readable stderr");
    let _ = child.kill();
    let _ = child.wait();
    let line: serde_json::Value = serde_json::from_str(&first_line)
        .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {first_line}"));
    assert!(line["fields"]["message"].is_string(), "{line}");
}
