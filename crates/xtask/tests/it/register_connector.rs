//! `docker/register-connector.sh`, compose's one-shot registration job: it must retry what Kafka
//! Connect answers during a worker rebalance (409) or while starting, and succeed only once the
//! connector runs. A small scripted HTTP server plays Connect for the answers a real one cannot be
//! made to give on demand; the stack's real Connect checks the script end to end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use crate::workspace;

const CONNECTOR: &str = "crypto-postgres-connector";

/// A request the scripted Connect received: method, path and body.
type Received = (String, String, String);

/// Serves `answer(method, path, number of earlier requests to that path)` → (status, body) on a
/// local port until the test ends; returns its URL and what it received.
fn scripted_connect(
    answer: impl Fn(&str, &str, usize) -> (u16, String) + Send + 'static,
) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request_line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
            );
            let earlier = {
                let mut log = log.lock().expect("the log");
                let earlier = log
                    .iter()
                    .filter(|(_, p, _): &&Received| *p == path)
                    .count();
                log.push((
                    method.clone(),
                    path.clone(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                earlier
            };
            let (status, text) = answer(&method, &path, earlier);
            let response = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = reader.get_mut().write_all(response.as_bytes());
        }
    });
    (url, received)
}

fn run_script(connect_url: &str, attempts: u32) -> Output {
    Command::new("sh")
        .arg(workspace().join("docker/register-connector.sh"))
        .env("CONNECT_URL", connect_url)
        .env(
            "CONNECTOR_FILE",
            workspace().join("debezium/postgres-connector.json"),
        )
        .env("REGISTER_ATTEMPTS", attempts.to_string())
        .env("REGISTER_PAUSE_SECS", "0")
        .output()
        .expect("cannot run sh")
}

fn status(state: &str) -> String {
    format!(
        r#"{{"name":"{CONNECTOR}","connector":{{"state":"{state}","worker_id":"w"}},"tasks":[{{"id":0,"state":"{state}","worker_id":"w"}}],"type":"source"}}"#
    )
}

/// The `config` object of the connector file, as a JSON value.
fn file_config() -> serde_json::Value {
    let text = std::fs::read_to_string(workspace().join("debezium/postgres-connector.json"))
        .expect("the connector file");
    let definition: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    definition["config"].clone()
}

#[test]
fn a_409_during_a_rebalance_is_retried_until_the_connector_runs() {
    let config_path = format!("/connectors/{CONNECTOR}/config");
    let rebalancing = || {
        (
            409,
            r#"{"error_code":409,"message":"Cannot complete request because of a conflicting operation (e.g. worker rebalance)"}"#.to_owned(),
        )
    };
    let (url, received) = scripted_connect(move |method, path, earlier| match (method, path) {
        // A create during the rebalance is refused the same way.
        ("POST", "/connectors") => rebalancing(),
        ("PUT", p) if p == config_path && earlier < 2 => rebalancing(),
        ("PUT", _) => (201, "{}".to_owned()),
        ("GET", _) if earlier == 0 => (200, status("UNASSIGNED")),
        ("GET", _) => (200, status("RUNNING")),
        _ => (404, "{}".to_owned()),
    });
    let output = run_script(&url, 10);
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let received = received.lock().expect("the log");
    let puts: Vec<&Received> = received
        .iter()
        .filter(|(method, _, _)| method == "PUT")
        .collect();
    assert_eq!(
        puts.len(),
        4,
        "two 409s retried, then a PUT per status check: {log}"
    );
    for (_, _, body) in puts {
        let sent: serde_json::Value = serde_json::from_str(body).expect("the script sends JSON");
        assert_eq!(
            sent,
            file_config(),
            "the script sends the file's config, exactly"
        );
    }
}

#[test]
fn a_connector_that_never_runs_fails_the_script() {
    let (url, _) = scripted_connect(|method, _, _| match method {
        "PUT" => (200, "{}".to_owned()),
        _ => (200, status("FAILED")),
    });
    let output = run_script(&url, 3);
    assert!(
        !output.status.success(),
        "a FAILED connector was taken as registered: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Against the stack's real Connect, twice in a row: idempotent, and the connector runs.
#[test]
fn against_the_real_connect_the_script_ends_with_the_connector_running_twice() {
    let connect_url = stack_fixtures::required_env("KAFKA_CONNECT_URL");
    for run in 1..=2 {
        let output = run_script(&connect_url, 40);
        assert!(
            output.status.success(),
            "run {run}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
