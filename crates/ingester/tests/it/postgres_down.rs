//! PostgreSQL going away, without disturbing the PostgreSQL other tests share: the ingester
//! connects through a TCP proxy this test runs, which drops every connection and refuses new
//! ones for a while. Ticker polls made meanwhile are buffered and written after recovery.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::{
    START, assert_continuous, clean, config, eventually, free_port, open_times, pg_url, sim_on,
    spawn, stop,
};

/// A TCP proxy to PostgreSQL that can be cut.
struct Proxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped to make every open connection drop.
    epoch: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (epoch, _) = watch::channel(0);
        let accepting = (Arc::clone(&up), epoch.clone());
        tokio::spawn(async move {
            let (up, epoch) = accepting;
            while let Ok((mut client, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped at once: the connection is refused
                }
                let mut cut = epoch.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { address, up, epoch }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.epoch.send_modify(|epoch| *epoch += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Where `PG_URL` (key=value form, as `cargo xtask test` sets it) points, and the same URL
/// with host and port replaced by `proxy`.
async fn redirect(url: &str, proxy: SocketAddr) -> (SocketAddr, String) {
    assert!(!url.contains("://"), "PG_URL must be in key=value form");
    let config: tokio_postgres::Config = url.parse().expect("PG_URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("PG_URL must name a TCP host, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap();
    let rewritten: Vec<String> = url
        .split_whitespace()
        .filter(|pair| !pair.starts_with("host=") && !pair.starts_with("port="))
        .map(str::to_owned)
        .chain([
            format!("host={}", proxy.ip()),
            format!("port={}", proxy.port()),
        ])
        .collect();
    (upstream, rewritten.join(" "))
}

async fn ticker_rows_between(
    admin: &tokio_postgres::Client,
    symbol: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM ticker_24h WHERE symbol = $1 AND fetched_at BETWEEN $2 AND $3",
            &[&symbol, &from, &to],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_buffered_while_postgres_is_away_are_written_after() {
    const SYMBOL: &str = "SYM0121USDT";
    let admin = clean(&[SYMBOL]).await;
    // A market minute per second, so that candles keep closing during the outage.
    let sim = sim_on("127.0.0.1:0", START, "60", &[]).await;
    let placeholder: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let (upstream, _) = redirect(&pg_url(), placeholder).await;
    let proxy = Proxy::start(upstream).await;
    let (_, url) = redirect(&pg_url(), proxy.address).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let health = format!("http://{listen}/healthz");
    let running = spawn(config(
        &sim.base_url(),
        &[SYMBOL],
        &["--pg-url", &url, "--listen", &listen],
    ));
    eventually("a first stored poll", Duration::from_secs(30), || async {
        (reqwest::get(&health).await.ok()?.status() == 200).then_some(())
    })
    .await;

    let down_at = chrono::Utc::now();
    proxy.cut();
    eventually(
        "/healthz to report PostgreSQL down",
        Duration::from_secs(30),
        || async {
            let response = reqwest::get(&health).await.ok()?;
            (response.status() == 503 && response.text().await.ok()?.contains("PostgreSQL"))
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let up_at = chrono::Utc::now();
    assert_eq!(
        ticker_rows_between(&admin, SYMBOL, down_at, up_at).await,
        0,
        "nothing gets through while the proxy is cut"
    );
    proxy.restore();

    let buffered = eventually("the buffered polls", Duration::from_secs(60), || async {
        let rows = ticker_rows_between(&admin, SYMBOL, down_at, up_at).await;
        (rows >= 3).then_some(rows)
    })
    .await;
    assert!(buffered >= 3, "{buffered}");
    eventually(
        "/healthz healthy again",
        Duration::from_secs(30),
        || async { (reqwest::get(&health).await.ok()?.status() == 200).then_some(()) },
    )
    .await;
    stop(running).await;
    assert_continuous(SYMBOL, &open_times(&admin, SYMBOL).await);
    sim.stop().await.unwrap();
}
