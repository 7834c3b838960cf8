//! The change topics Connect creates for the connector carry the retention the stack configures
//! (`debezium/postgres-connector.json`'s `topic.creation.default.*`, read from `CDC_TOPIC_*`),
//! and Connect's producer compresses with `CDC_TOPIC_COMPRESSION`, so Kafka's disk use is
//! bounded in time and size; and the consumer bounds its
//! dead-letter topic the same way (`CONSUMER_DEAD_LETTER_RETENTION_*`).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use rdkafka::Message;

use crate::{
    RunningConsumer, TestPipeline, eventually, insert_tickers, reader_from_beginning, required_env,
};

fn admin_client() -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create a Kafka admin client")
}

/// The value of `name` among `entries`, if set.
fn value_of(entries: &[(String, Option<String>)], name: &str) -> Option<String> {
    entries
        .iter()
        .find(|(entry, _)| entry == name)
        .and_then(|(_, value)| value.clone())
}

/// `topic`'s configuration entries, once the topic exists.
async fn topic_config(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Option<Vec<(String, Option<String>)>> {
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .ok()?;
    let resource = described.into_iter().next()?.ok()?;
    Some(
        resource
            .entries
            .into_iter()
            .map(|entry| (entry.name, entry.value))
            .collect(),
    )
}

#[tokio::test]
async fn the_change_topics_connect_creates_carry_the_configured_retention_and_compression() {
    let pipeline = TestPipeline::start_with_topics_from_connect("topic_settings").await;
    let postgres = pipeline.database().admin().await;
    const TICKERS: i32 = 50;
    insert_tickers(&postgres, "LINKUSDT", "2025-11-11", 1, TICKERS).await;
    let admin = admin_client();
    let topic = pipeline.ticker_topic();
    let config = eventually(
        Duration::from_secs(60),
        "Connect creating the change topic",
        || async {
            topic_config(&admin, &topic)
                .await
                .filter(|entries| !entries.is_empty())
        },
    )
    .await;
    let value = |name: &str| value_of(&config, name);
    for (property, variable) in [
        ("retention.ms", "CDC_TOPIC_RETENTION_MS"),
        ("retention.bytes", "CDC_TOPIC_RETENTION_BYTES"),
    ] {
        assert_eq!(
            value(property),
            Some(required_env(variable)),
            "{topic}: {property}"
        );
    }
    assert_eq!(value("cleanup.policy").as_deref(), Some("delete"));
    // The broker keeps the batches as Connect's producer compressed them.
    assert_eq!(value("compression.type").as_deref(), Some("producer"));

    // And the producer does compress: the segment on the broker's disk is much smaller than
    // the messages it holds.
    let reader = reader_from_beginning(&topic, 0);
    let mut message_bytes = 0;
    for _ in 0..TICKERS {
        let message = tokio::time::timeout(Duration::from_secs(60), reader.recv())
            .await
            .expect("the change topic holds fewer messages than tickers inserted")
            .expect("reading the change topic");
        message_bytes +=
            message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len);
    }
    drop(reader);
    let segment_bytes = pipeline.topic_bytes_on_disk(&topic);
    let codec = required_env("CDC_TOPIC_COMPRESSION");
    assert!(
        segment_bytes * 2 < message_bytes as u64,
        "{topic}: {segment_bytes} bytes on disk for {message_bytes} bytes of messages: the producer's {codec} compression is not applied"
    );
}

#[tokio::test]
async fn the_consumer_bounds_its_dead_letter_topic_and_keeps_other_settings() {
    let pipeline = TestPipeline::start("dead_letter_retention").await;
    let admin = admin_client();
    let topic = pipeline.dead_letter_topic();
    // The fixture made the topic with the broker's defaults, as auto-creation would; an
    // operator then set something else on it, which must survive.
    let compression =
        AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("compression.type", "gzip");
    let altered = admin
        .alter_configs([&compression], &AdminOptions::new())
        .await
        .expect("cannot alter the dead-letter topic");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");

    let _consumer = RunningConsumer::start_in_group(
        &pipeline,
        pipeline.name(),
        &[
            ("CONSUMER_DEAD_LETTER_RETENTION_HOURS", "2"),
            ("CONSUMER_DEAD_LETTER_RETENTION_MIB", "5"),
        ],
    );
    let config = eventually(
        Duration::from_secs(30),
        "the consumer setting the dead-letter topic's retention",
        || async {
            topic_config(&admin, &topic)
                .await
                .filter(|entries| value_of(entries, "retention.ms").as_deref() == Some("7200000"))
        },
    )
    .await;
    assert_eq!(
        value_of(&config, "retention.bytes").as_deref(),
        Some("5242880"),
        "{topic}: retention.bytes"
    );
    assert_eq!(
        value_of(&config, "compression.type").as_deref(),
        Some("gzip"),
        "{topic}: the operator's setting was lost"
    );
}
