//! Integration tests of the consumer against the real stack that `cargo xtask test` starts:
//! PostgreSQL → Debezium on Kafka Connect → Kafka → cdc-consumer → Cassandra.
//!
//! They need the stack and fail loudly without it; the connection settings come from the
//! environment `cargo xtask test` sets (`PG_URL`, `KAFKA_BROKERS`, `CASSANDRA_NODES`).

mod dashboards;
mod delivery;
mod end_to_end;
mod ordering;
mod scale_out;
mod schema;
#[path = "../support/mod.rs"]
mod support;
mod verify;

pub use support::*;
