//! The CDC consumer: Debezium change events from Kafka, decoded with the scale each message's
//! schema gives, mapped to Cassandra rows and written before their offsets are committed.
//!
//! - [`config`]: the binary's flags and environment variables.
//! - [`mapping`]: pure — which Cassandra table, key and values a PostgreSQL change becomes.
//! - [`sink`]: Cassandra IO — prepared statements, retries while Cassandra is away.
//! - [`consume`]: Kafka IO — the consume loop, at-least-once offsets, rebalances.
//! - [`group_watch`]: pure — whether the consumer group is stuck without a coordinator, and its
//!   Kafka client is to be replaced.
//! - [`ordering`]: pure — which writes may run concurrently, which offset is safe to store.
//! - [`lanes`]: the concurrent writers, in order per key, and the shared offset progress.
//! - [`dead_letter_topic`]: Kafka IO — the dead-letter topic's retention.
//! - [`replicate`]: one job — Cassandra writes or a dead letter — retried until acknowledged.
//! - [`metrics`]: what `/metrics` reports.
//! - [`decode_lines`]: the `decode` subcommand, for reading raw Kafka messages.
//! - [`verify`]: the `verify` subcommand, comparing PostgreSQL and Cassandra after an incident.

pub mod config;
pub mod consume;
pub mod dead_letter_topic;
pub mod decode_lines;
pub mod group_watch;
pub mod lanes;
pub mod mapping;
pub mod metrics;
pub mod ordering;
pub mod replicate;
pub mod sink;
pub mod verify;
