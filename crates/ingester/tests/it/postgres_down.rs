//! PostgreSQL going away, without disturbing the PostgreSQL other tests share: the ingester
//! connects to the test's database through a TCP proxy this test runs, which drops every
//! connection and refuses new ones for a while. Ticker polls made meanwhile are buffered and
//! written after recovery, and the kline series resumes where it stopped, with no gap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use market_sim::SimConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::{
    MINUTE, config, continuous_span, database, eventually, free_port, frozen_market, market_now,
    metric, open_times, sim, spawn, stop,
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

/// The TCP address `url` (key=value form, as the fixtures make it) connects to.
async fn upstream(url: &str) -> SocketAddr {
    assert!(
        !url.contains("://"),
        "the database URL must be in key=value form"
    );
    let config: tokio_postgres::Config = url.parse().expect("a PostgreSQL connection string");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("the database must be on a TCP host, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| panic!("cannot resolve {host}:{port}"))
}

/// `url` with its host and port replaced by `proxy`'s.
fn through(url: &str, proxy: SocketAddr) -> String {
    url.split_whitespace()
        .filter(|pair| !pair.starts_with("host=") && !pair.starts_with("port="))
        .map(str::to_owned)
        .chain([
            format!("host={}", proxy.ip()),
            format!("port={}", proxy.port()),
        ])
        .collect::<Vec<_>>()
        .join(" ")
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
    /// Ticker polls the outage lasts for: about as many seconds, and market minutes.
    const BUFFERED_POLLS: i64 = 5;
    let database = database("postgres_down").await;
    let admin = database.admin().await;
    // A market minute per second, so that candles keep closing during the outage.
    let sim = sim(SimConfig {
        speed: 60.0,
        ..frozen_market()
    })
    .await;
    let proxy = Proxy::start(upstream(&database.ingester_url()).await).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let health = format!("http://{listen}/healthz");
    let running = spawn(config(
        &through(&database.ingester_url(), proxy.address),
        &sim.base_url(),
        &[SYMBOL],
        &["--listen", &listen],
    ));
    eventually(
        "a first stored ticker and kline poll",
        Duration::from_secs(30),
        || async {
            let healthy = reqwest::get(&health).await.ok()?.status() == 200;
            (healthy && !open_times(&admin, SYMBOL).await.is_empty()).then_some(())
        },
    )
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
    // Nothing can be written from here until the proxy is restored.
    let last_before_outage = *open_times(&admin, SYMBOL)
        .await
        .last()
        .expect("klines stored before the outage");
    eventually(
        "ticker polls buffered during the outage",
        Duration::from_secs(30),
        || async {
            let buffered = metric(&listen, "ingester_buffered_polls").await;
            (buffered >= BUFFERED_POLLS as f64).then_some(())
        },
    )
    .await;
    let up_at = chrono::Utc::now();
    assert_eq!(
        ticker_rows_between(&admin, SYMBOL, down_at, up_at).await,
        0,
        "nothing gets through while the proxy is cut"
    );
    let restored_market_time = market_now(&sim).await;
    proxy.restore();

    eventually("the buffered polls", Duration::from_secs(60), || async {
        let rows = ticker_rows_between(&admin, SYMBOL, down_at, up_at).await;
        (rows >= BUFFERED_POLLS).then_some(())
    })
    .await;
    eventually(
        "/healthz healthy again",
        Duration::from_secs(30),
        || async { (reqwest::get(&health).await.ok()?.status() == 200).then_some(()) },
    )
    .await;
    eventually(
        "a 1m candle opened after the outage",
        Duration::from_secs(60),
        || async {
            let last = open_times(&admin, SYMBOL).await.last().copied()?;
            (last >= restored_market_time).then_some(())
        },
    )
    .await;
    stop(running).await;

    // Candles that opened and closed while PostgreSQL was away are what the check is about.
    let outage_minutes = (restored_market_time - last_before_outage) / MINUTE;
    assert!(
        outage_minutes >= 3,
        "the outage spanned {outage_minutes} market minutes, too few to tell"
    );
    let span = continuous_span(SYMBOL, &open_times(&admin, SYMBOL).await);
    assert!(
        *span.start() <= last_before_outage && *span.end() >= restored_market_time,
        "{SYMBOL}: the series {span:?} runs from before the outage (last candle \
         {last_before_outage}) past its end (market time {restored_market_time})"
    );
    sim.stop().await.unwrap();
}
