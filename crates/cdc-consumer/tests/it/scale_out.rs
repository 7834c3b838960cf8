//! Two consumers in one group over a 3-partition topic share the partitions and, through the
//! rebalance when the second joins, deliver every change exactly once.
//!
//! The topic is the test's own, filled with copies of a real Debezium ticker event (captured
//! from the connector at the start of the test) that differ in id, symbol and close time.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scylla::value::CqlDate;
use serde_json::Value;

use crate::{
    RunningConsumer, cassandra, end_offset, eventually, insert_tickers, postgres, required_env,
    ticker_count, unique_suffix,
};

const TICKER_TOPIC: &str = "crypto.public.ticker_24h";
/// 2025-11-08: day 20400 since the epoch.
const DAY: CqlDate = CqlDate((1u32 << 31) + 20400);
const BOUND: Duration = Duration::from_secs(120);

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", required_env("KAFKA_BROKERS"));
    config
}

/// A real change event for a fresh row, as the connector published it.
async fn captured_ticker_event(suffix: &str) -> Value {
    let symbol = format!("TPL{suffix}USDT");
    let from = end_offset(TICKER_TOPIC);
    insert_tickers(&postgres().await, &symbol, "2025-11-08", 1, 1).await;
    let reader: StreamConsumer = client_config()
        .set("group.id", format!("it-template-{suffix}"))
        .create()
        .expect("cannot create a consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TICKER_TOPIC, 0, Offset::Offset(from))
        .expect("bad offset");
    reader
        .assign(&assignment)
        .expect("cannot assign the ticker partition");
    tokio::time::timeout(BOUND, async {
        loop {
            let message = reader.recv().await.expect("cannot read the ticker topic");
            let Some(payload) = message.payload() else {
                continue;
            };
            let event: Value = serde_json::from_slice(payload).expect("the connector wrote JSON");
            if event["payload"]["after"]["symbol"] == symbol.as_str() {
                return event;
            }
        }
    })
    .await
    .expect("the template row never reached the ticker topic")
}

/// The template with this row's id, symbol and close time.
fn event_for(template: &Value, symbol: &str, id: i64) -> Vec<u8> {
    let mut event = template.clone();
    let after = &mut event["payload"]["after"];
    after["id"] = id.into();
    after["symbol"] = symbol.into();
    after["close_time"] = format!("2025-11-08T00:{:02}:{:02}Z", id / 60, id % 60).into();
    serde_json::to_vec(&event).expect("JSON serializes")
}

async fn produce(
    producer: &FutureProducer,
    topic: &str,
    template: &Value,
    symbol: &str,
    ids: std::ops::RangeInclusive<i64>,
) {
    for id in ids {
        let key = format!("{{\"id\":{id}}}");
        let payload = event_for(template, symbol, id);
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("cannot produce");
    }
}

/// `cdc_consumer_events_total` for ticker creates, from a consumer's `/metrics`.
async fn created_events(consumer: &RunningConsumer) -> f64 {
    let metrics = reqwest::get(format!("http://{}/metrics", consumer.operations_address))
        .await
        .expect("cannot read /metrics")
        .text()
        .await
        .expect("cannot read /metrics");
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(r#"cdc_consumer_events_total{table="public.ticker_24h",op="c"} "#)
        })
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn two_consumers_share_three_partitions_and_deliver_everything() {
    let suffix = unique_suffix();
    let topic = format!("it.scale-out.{suffix}");
    let symbol = format!("SCALE{suffix}USDT");
    let template = captured_ticker_event(&suffix).await;

    let admin: AdminClient<DefaultClientContext> = client_config()
        .create()
        .expect("cannot create an admin client");
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("cannot create the topic");
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let group = format!("it-scale-out-{suffix}");
    let dead_letters = format!("it.dead-letter.{suffix}");
    let environment = [
        ("CONSUMER_TOPICS", topic.as_str()),
        ("CONSUMER_DEAD_LETTER_TOPIC", dead_letters.as_str()),
    ];
    let producer: FutureProducer = client_config().create().expect("cannot create a producer");
    let session = cassandra().await;
    let count = || async { ticker_count(&session, &symbol, DAY).await };

    let first = RunningConsumer::start_in_group(&group, &environment);
    produce(&producer, &topic, &template, &symbol, 1..=150).await;
    eventually(BOUND, "the first 150 rows", || async {
        (count().await == Some(150)).then_some(())
    })
    .await;

    // The second consumer joins: the group rebalances the three partitions between the two.
    let second = RunningConsumer::start_in_group(&group, &environment);
    tokio::time::sleep(Duration::from_secs(5)).await;
    produce(&producer, &topic, &template, &symbol, 151..=300).await;
    eventually(BOUND, "all 300 rows", || async {
        (count().await == Some(300)).then_some(())
    })
    .await;

    let (by_first, by_second) = (created_events(&first).await, created_events(&second).await);
    assert!(
        by_second > 0.0,
        "the second consumer got no partition: first {by_first}, second {by_second}"
    );
    assert!(by_first >= 150.0, "first {by_first}");
    assert!(first.terminate().success());
    assert!(second.terminate().success());
}
