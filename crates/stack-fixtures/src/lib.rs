//! Isolated slices of the real native stack, for integration tests and benchmarks.
//!
//! `cargo xtask test` runs every test against one PostgreSQL, Kafka, Kafka Connect and
//! Cassandra, many tests at once. So that no test can pass on another's work, and none leaves
//! anything in the pipeline's own database, topics or keyspace, each test takes its own slice:
//!
//! - [`TestDatabase`]: a database of its own with the pipeline's schema (`sql/postgres/*.sql`),
//!   for tests that only need PostgreSQL (the ingester's);
//! - [`TestPipeline`]: that, plus a Debezium connector of its own on the stack's Connect worker
//!   (the pipeline's `debezium/postgres-connector.json`, renamed), its own topics and its own
//!   Cassandra keyspace (created by the admin role, granted to the consumer's and Grafana's
//!   roles as the pipeline's is): the whole pipeline, with nothing shared but the servers.
//!
//! Every resource of a slice carries one name, `it_<label>_<unique>` (the database, the
//! replication slot, the connector, the topic prefix, the keyspace), and dropping the slice
//! removes all of them. [`remove_leftovers`] removes what a killed test run left behind;
//! `cargo xtask test` calls it before and after the suite, and compares the pipeline's own
//! [`Footprint`] before and after, failing when a test wrote into its topics or tables.

pub mod cargo;
pub mod cassandra;
mod cleanup;
pub mod connect;
mod database;
mod environment;
mod footprint;
pub mod help;
mod naming;
mod pipeline;
pub mod processes;
pub mod prometheus;

pub use cleanup::remove_leftovers;
pub use database::{
    TestDatabase, connect as connect_postgres, try_connect as try_connect_postgres,
};
pub use environment::{StackEnvironment, required_env};
pub use footprint::{Footprint, pipeline_footprint};
pub use naming::{FIXTURE_PREFIX, unique_name};
pub use pipeline::TestPipeline;
