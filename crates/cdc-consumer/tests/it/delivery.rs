//! Delivery guarantees on the real stack: poison messages go to the dead-letter topic without
//! stopping the stream, and a consumer killed with SIGKILL loses nothing once restarted.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use scylla::value::CqlDate;

use crate::{
    RunningConsumer, cassandra, eventually, insert_tickers, postgres, required_env, ticker_count,
    unique_suffix,
};

const TICKER_TOPIC: &str = "crypto.public.ticker_24h";
const BOUND: Duration = Duration::from_secs(120);
/// The day these tests' rows fall on, as text and as a CQL date (days from 2^31 before the epoch).
const DAY_TEXT: &str = "2025-11-05";
const DAY: CqlDate = CqlDate((1u32 << 31) + 20397);

/// The message keyed `key` on `topic`, read from the start; fails the test after `BOUND`.
async fn read_dead_letter(topic: &str, key: &str, suffix: &str) -> rdkafka::message::OwnedMessage {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .set("group.id", format!("it-dead-letter-reader-{suffix}"))
        .set("auto.offset.reset", "earliest")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("cannot create a consumer");
    reader
        .subscribe(&[topic])
        .expect("cannot subscribe to the dead-letter topic");
    tokio::time::timeout(BOUND, async {
        loop {
            if let Ok(message) = reader.recv().await {
                if message.key() == Some(key.as_bytes()) {
                    return message.detach();
                }
            }
        }
    })
    .await
    .expect("the message did not reach the dead-letter topic")
}

async fn cassandra_count(session: &Session, symbol: &str) -> i64 {
    ticker_count(session, symbol, DAY)
        .await
        .expect("Cassandra count failed")
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_stream_goes_on() {
    let suffix = unique_suffix();
    let dead_letter_topic = format!("it.dead-letter.{suffix}");
    let poison_key = format!("poison-{suffix}");
    let symbol = format!("DLQ{suffix}USDT");
    let consumer = RunningConsumer::start_at_end(
        &format!("it-poison-{suffix}"),
        &[("CONSUMER_DEAD_LETTER_TOPIC", &dead_letter_topic)],
    );

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create a producer");
    let poison = FutureRecord::to(TICKER_TOPIC)
        .key(&poison_key)
        .payload("{\"not\": \"a Debezium message\"");
    producer
        .send(poison, Duration::from_secs(10))
        .await
        .expect("cannot produce the poison message");
    // A real change after the poison, in the same partition.
    let postgres = postgres().await;
    insert_tickers(&postgres, &symbol, DAY_TEXT, 1, 1).await;
    let session = cassandra().await;
    eventually(BOUND, "the change after the poison message", || async {
        (cassandra_count(&session, &symbol).await == 1).then_some(())
    })
    .await;

    let dead_letter = read_dead_letter(&dead_letter_topic, &poison_key, &suffix).await;
    let headers = dead_letter
        .headers()
        .expect("the dead letter has no headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_else(|| panic!("no {name} header"))
    };
    assert!(
        header("dlq.error").contains("not valid JSON"),
        "{}",
        header("dlq.error")
    );
    assert_eq!(header("dlq.source.topic"), TICKER_TOPIC);
    assert_eq!(header("dlq.source.partition"), "0");
    assert!(header("dlq.source.offset").parse::<i64>().is_ok());
    assert_eq!(
        dead_letter.payload(),
        Some(&b"{\"not\": \"a Debezium message\""[..])
    );

    assert!(consumer.terminate().success());
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_loses_nothing() {
    let suffix = unique_suffix();
    let group = format!("it-sigkill-{suffix}");
    let symbol = format!("KILL{suffix}USDT");
    let postgres = postgres().await;
    let session = cassandra().await;

    let first = RunningConsumer::start_at_end(&group, &[]);
    for batch in 0..10 {
        insert_tickers(&postgres, &symbol, DAY_TEXT, batch * 20 + 1, 20).await;
    }
    eventually(BOUND, "the first rows", || async {
        (cassandra_count(&session, &symbol).await >= 60).then_some(())
    })
    .await;
    let killed = first.kill_hard();
    assert!(
        !killed.success(),
        "SIGKILL should end the consumer abnormally"
    );

    insert_tickers(&postgres, &symbol, DAY_TEXT, 201, 100).await;
    let second = RunningConsumer::start_in_group(&group, &[]);
    eventually(BOUND, "all 300 rows after the restart", || async {
        (cassandra_count(&session, &symbol).await == 300).then_some(())
    })
    .await;
    assert!(second.terminate().success());
    assert_eq!(
        cassandra_count(&session, &symbol).await,
        300,
        "no row lost or duplicated"
    );
}

/// Debezium creates a table's topic with the table's first change, often after the consumer has
/// started and while it is busy with another topic: the consumer must pick the new topic up
/// (a rebalance adds its partition) and lose nothing of the busy one.
#[tokio::test]
async fn a_topic_created_after_the_consumer_started_is_consumed() {
    let suffix = unique_suffix();
    let late_topic = format!("it.late.{suffix}");
    let dead_letter_topic = format!("it.late-dead-letter.{suffix}");
    let key = format!("late-{suffix}");
    let symbol = format!("LATE{suffix}USDT");
    let topics = format!("{TICKER_TOPIC},{late_topic}");
    let _consumer = RunningConsumer::start_at_end(
        &format!("it-late-{suffix}"),
        &[
            ("CONSUMER_TOPICS", &topics),
            ("CONSUMER_DEAD_LETTER_TOPIC", &dead_letter_topic),
        ],
    );
    // Let the consumer join its group while the topic does not exist yet.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let postgres = postgres().await;
    insert_tickers(&postgres, &symbol, DAY_TEXT, 1, 300).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create a producer");
    // Not a Debezium message: its arrival in the dead-letter topic shows it was consumed.
    producer
        .send(
            FutureRecord::to(&late_topic).key(&key).payload("not JSON"),
            Duration::from_secs(10),
        )
        .await
        .expect("cannot produce to the new topic");
    insert_tickers(&postgres, &symbol, DAY_TEXT, 301, 300).await;
    let dead_letter = read_dead_letter(&dead_letter_topic, &key, &suffix).await;
    assert_eq!(dead_letter.payload(), Some("not JSON".as_bytes()));
    let session = cassandra().await;
    eventually(BOUND, "all 600 tickers around the rebalance", || async {
        (cassandra_count(&session, &symbol).await == 600).then_some(())
    })
    .await;
}
