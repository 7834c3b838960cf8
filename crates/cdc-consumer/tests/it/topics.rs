//! The change topics Connect creates for the connector carry the retention and compression the
//! stack configures (`debezium/postgres-connector.json`'s `topic.creation.default.*`, read from
//! `CDC_TOPIC_*`), so Kafka's disk use is bounded in time and size.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::{TestPipeline, eventually, insert_tickers, required_env};

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
    insert_tickers(&postgres, "LINKUSDT", "2025-11-11", 1, 3).await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create a Kafka admin client");
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
    let value = |name: &str| {
        config
            .iter()
            .find(|(entry, _)| entry == name)
            .and_then(|(_, value)| value.clone())
    };
    for (property, variable) in [
        ("retention.ms", "CDC_TOPIC_RETENTION_MS"),
        ("retention.bytes", "CDC_TOPIC_RETENTION_BYTES"),
        ("compression.type", "CDC_TOPIC_COMPRESSION"),
    ] {
        assert_eq!(
            value(property),
            Some(required_env(variable)),
            "{topic}: {property}"
        );
    }
    assert_eq!(value("cleanup.policy").as_deref(), Some("delete"));
}
