//! The dead-letter topic's bounds: created with the configured retention (time and size) when
//! it is missing, and brought to it when it exists with other values.
//!
//! Left to the broker's defaults the topic keeps everything for 7 days with no size bound, and a
//! flood of poison messages (a connector reconfigured to a format the consumer refuses, say:
//! every change at several KB) fills the disk within a day. The consumer owns this topic, so its
//! configuration is the source of truth; settings an operator added beside the retention (say,
//! `compression.type`) are kept.
//!
//! [`reconcile`] is pure; [`keep_bounded`] is the IO, retried with backoff in the background so a
//! Kafka that is down at start-up delays the bound, never the consumer.

use std::collections::BTreeMap;
use std::time::Duration;

use backoff::Backoff;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

const RETENTION_MS: &str = "retention.ms";
const RETENTION_BYTES: &str = "retention.bytes";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// How long and how much the dead-letter topic keeps (per partition, as Kafka counts bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub ms: u64,
    pub bytes: u64,
}

impl Retention {
    fn settings(&self) -> [(&'static str, String); 2] {
        [
            (RETENTION_MS, self.ms.to_string()),
            (RETENTION_BYTES, self.bytes.to_string()),
        ]
    }
}

/// What `keep_bounded` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// The topic existed with other values, named with their old values.
    Changed(Vec<String>),
    AlreadyBounded,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterTopicError {
    #[error("Kafka admin client: {0}")]
    Client(#[source] KafkaError),
    #[error("creating dead-letter topic {topic}: {source}")]
    Create {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("reading the configuration of dead-letter topic {topic}: {source}")]
    Describe {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("setting the retention of dead-letter topic {topic}: {source}")]
    Alter {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// The topic's configuration to write, given what is set on the topic itself (not inherited
/// from the broker), or `None` when the retention is already as wanted. Kafka's AlterConfigs
/// replaces every topic-level setting, so the result carries the others unchanged. Pure.
pub fn reconcile(
    set_on_topic: &BTreeMap<String, String>,
    wanted: Retention,
) -> Option<(BTreeMap<String, String>, Vec<String>)> {
    let mut config = set_on_topic.clone();
    let mut changed = Vec::new();
    for (name, value) in wanted.settings() {
        let old = config.insert(name.to_owned(), value.clone());
        if old.as_deref() != Some(value.as_str()) {
            changed.push(format!(
                "{name} {} → {value}",
                old.as_deref().unwrap_or("(broker default)")
            ));
        }
    }
    (!changed.is_empty()).then_some((config, changed))
}

/// Applies the retention, retrying with backoff until it is applied or `shutdown`; logs what it
/// did. Meant to run as a task of its own beside the consume loop.
pub async fn keep_bounded(
    brokers: String,
    topic: String,
    retention: Retention,
    shutdown: CancellationToken,
) {
    let mut failures = 0;
    loop {
        match apply(&brokers, &topic, retention).await {
            Ok(Outcome::Created) => {
                tracing::info!(%topic, ?retention, "created the dead-letter topic");
                return;
            }
            Ok(Outcome::Changed(changes)) => {
                tracing::info!(%topic, "dead-letter topic retention set: {}", changes.join(", "));
                return;
            }
            Ok(Outcome::AlreadyBounded) => return,
            Err(error) => {
                failures += 1;
                let pause = RETRY.jittered(failures);
                tracing::warn!(%topic, "{error}; trying again in {pause:?}");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// One attempt: create the topic with the retention, or bring an existing one to it.
pub async fn apply(
    brokers: &str,
    topic: &str,
    retention: Retention,
) -> Result<Outcome, DeadLetterTopicError> {
    let admin = AdminClient::<DefaultClientContext>::from_config(
        &crate::consume::kafka_client_config(brokers),
    )
    .map_err(DeadLetterTopicError::Client)?;
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let settings = retention.settings();
    // One partition: dead letters are rare and read by people, in order. The broker's default
    // replication factor (-1) so that an HA cluster replicates it like everything else.
    let new_topic = settings.iter().fold(
        NewTopic::new(topic, 1, TopicReplication::Fixed(-1)),
        |new_topic, (name, value)| new_topic.set(name, value),
    );
    let created = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|source| create_error(topic, source))?;
    match created.into_iter().next() {
        Some(Ok(_)) => return Ok(Outcome::Created),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {}
        Some(Err((_, code))) => return Err(create_error(topic, KafkaError::AdminOp(code))),
        None => {}
    }

    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(|source| describe_error(topic, source))?;
    let resource = described
        .into_iter()
        .next()
        .ok_or_else(|| describe_error(topic, KafkaError::AdminOpCreation("no result".into())))?
        .map_err(|code| describe_error(topic, KafkaError::AdminOp(code)))?;
    let set_on_topic: BTreeMap<String, String> = resource
        .entries
        .iter()
        .filter(|entry| matches!(entry.source, rdkafka::admin::ConfigSource::DynamicTopic))
        .filter_map(|entry| Some((entry.name.clone(), entry.value.clone()?)))
        .collect();
    let Some((config, changes)) = reconcile(&set_on_topic, retention) else {
        return Ok(Outcome::AlreadyBounded);
    };
    let alter = config.iter().fold(
        AlterConfig::new(ResourceSpecifier::Topic(topic)),
        |alter, (name, value)| alter.set(name, value),
    );
    let altered = admin
        .alter_configs([&alter], &options)
        .await
        .map_err(|source| alter_error(topic, source))?;
    if let Some(Err((_, code))) = altered.into_iter().next() {
        return Err(alter_error(topic, KafkaError::AdminOp(code)));
    }
    Ok(Outcome::Changed(changes))
}

fn create_error(topic: &str, source: KafkaError) -> DeadLetterTopicError {
    DeadLetterTopicError::Create {
        topic: topic.to_owned(),
        source,
    }
}

fn describe_error(topic: &str, source: KafkaError) -> DeadLetterTopicError {
    DeadLetterTopicError::Describe {
        topic: topic.to_owned(),
        source,
    }
}

fn alter_error(topic: &str, source: KafkaError) -> DeadLetterTopicError {
    DeadLetterTopicError::Alter {
        topic: topic.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK_1_GIB: Retention = Retention {
        ms: 604_800_000,
        bytes: 1_073_741_824,
    };

    fn config(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn broker_defaults_get_the_retention_and_other_settings_stay() {
        let (written, changes) = reconcile(&config(&[("compression.type", "lz4")]), WEEK_1_GIB)
            .expect("the broker's defaults are no bound");
        assert_eq!(
            written,
            config(&[
                ("compression.type", "lz4"),
                ("retention.bytes", "1073741824"),
                ("retention.ms", "604800000"),
            ])
        );
        assert_eq!(
            changes,
            [
                "retention.ms (broker default) → 604800000",
                "retention.bytes (broker default) → 1073741824"
            ]
        );
    }

    #[test]
    fn only_a_different_value_is_a_change() {
        let bounded = config(&[
            ("retention.ms", "604800000"),
            ("retention.bytes", "1073741824"),
        ]);
        assert_eq!(reconcile(&bounded, WEEK_1_GIB), None);
        let (_, changes) = reconcile(
            &bounded,
            Retention {
                bytes: 1,
                ..WEEK_1_GIB
            },
        )
        .expect("a smaller size bound is a change");
        assert_eq!(changes, ["retention.bytes 1073741824 → 1"]);
    }
}
