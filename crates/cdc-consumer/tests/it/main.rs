//! Integration tests of the consumer against the real stack that `cargo xtask test` starts:
//! PostgreSQL → Debezium on Kafka Connect → Kafka → cdc-consumer → Cassandra.
//!
//! They need the stack and fail loudly without it; the connection settings come from the
//! environment `cargo xtask test` sets (`PG_URL`, `KAFKA_BROKERS`, `CASSANDRA_NODES`, …).
//! Each test works on a pipeline of its own (`stack_fixtures::TestPipeline`: its database,
//! connector, topics, consumer group and keyspace), so tests run in parallel without one's
//! consumer serving another's check, and nothing reaches the pipeline's own topics or keyspace.

mod dashboards;
mod delivery;
mod end_to_end;
mod help;
mod ingester_writes;
mod login;
mod ordering;
mod partitions;
mod pipeline_dashboard;
mod replay;
mod schema;
mod stages;
#[path = "../support/mod.rs"]
mod support;
mod topics;
mod verify;

pub use support::*;
