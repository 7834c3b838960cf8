//! A whole pipeline of a test's own: its database, a Debezium connector reading it, its topics and
//! its Cassandra keyspace, on the stack's servers. Only the servers are shared.

use std::time::Duration;

use serde_json::Value;

use crate::cassandra;
use crate::cleanup;
use crate::connect;
use crate::database::{TestDatabase, connect as connect_postgres};
use crate::environment::StackEnvironment;
use crate::naming::unique_name;

/// How long the slice's connector may take to start streaming.
const CONNECTOR_START_BOUND: Duration = Duration::from_secs(120);

/// PostgreSQL → Debezium → Kafka for one test, and the consumer settings that complete it into
/// Cassandra. Every resource is named [`TestPipeline::name`]; dropping the pipeline removes them.
pub struct TestPipeline {
    name: String,
    stack: StackEnvironment,
    database: TestDatabase,
}

impl TestPipeline {
    /// A pipeline whose change topics have one partition.
    pub async fn start(label: &str) -> Self {
        Self::start_with_partitions(label, 1).await
    }

    /// A pipeline whose change topics have `partitions` partitions (Debezium spreads rows over
    /// them by key).
    pub async fn start_with_partitions(label: &str, partitions: i32) -> Self {
        Self::start_with(label, Some(partitions), &[]).await
    }

    /// A pipeline whose change topics Connect creates itself at their first message, with the
    /// connector's topic settings (retention, compression), as in the pipeline proper.
    pub async fn start_with_topics_from_connect(label: &str) -> Self {
        Self::start_with(label, None, &[]).await
    }

    /// Like [`TestPipeline::start_with_topics_from_connect`], with some of the connector's
    /// settings replaced (say, `producer.override.compression.type`), to compare them.
    pub async fn start_with_connector_settings(label: &str, settings: &[(&str, &str)]) -> Self {
        Self::start_with(label, None, settings).await
    }

    /// A pipeline whose database has the schema an install made before partitioning has
    /// (plain tables, see [`TestDatabase::create_earlier`]), its connector already streaming:
    /// the state `stack up` upgrades in place.
    pub async fn start_on_earlier_schema(label: &str) -> Self {
        let stack = StackEnvironment::from_env();
        let name = unique_name(label);
        let database = TestDatabase::create_earlier(&stack, &name).await;
        Self::start_on(stack, name, database, Some(1), &[]).await
    }

    /// A pipeline whose database holds what `setup_sql` (run as the superuser) makes before the
    /// connector starts, so that the connector's initial snapshot reads it.
    pub async fn start_after(label: &str, setup_sql: &str) -> Self {
        let stack = StackEnvironment::from_env();
        let name = unique_name(label);
        let database = TestDatabase::create(&stack, &name).await;
        database
            .run_as_admin(setup_sql, "setting up before the connector")
            .await;
        Self::start_on(stack, name, database, Some(1), &[]).await
    }

    async fn start_with(
        label: &str,
        partitions: Option<i32>,
        connector_settings: &[(&str, &str)],
    ) -> Self {
        let stack = StackEnvironment::from_env();
        let name = unique_name(label);
        let database = TestDatabase::create(&stack, &name).await;
        Self::start_on(stack, name, database, partitions, connector_settings).await
    }

    async fn start_on(
        stack: StackEnvironment,
        name: String,
        database: TestDatabase,
        partitions: Option<i32>,
        connector_settings: &[(&str, &str)],
    ) -> Self {
        let pipeline = Self {
            name,
            stack,
            database,
        };
        pipeline.create_topics(partitions).await;
        cassandra::create_keyspace(&pipeline.stack, &pipeline.name)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"));
        pipeline.start_connector(connector_settings).await;
        pipeline
    }

    /// The name of every resource of this pipeline: database, slot, connector, topic prefix,
    /// keyspace.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pipeline's own database.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    pub fn stack(&self) -> &StackEnvironment {
        &self.stack
    }

    /// The topic Debezium writes `public.<table>`'s changes to.
    pub fn topic(&self, table: &str) -> String {
        format!("{}.public.{table}", self.name)
    }

    pub fn ticker_topic(&self) -> String {
        self.topic("ticker_24h")
    }

    pub fn klines_topic(&self) -> String {
        self.topic("klines")
    }

    /// The bytes of `topic`'s log segments (partition 0) on the native broker's disk, under
    /// `CDC_STATE_DIR`: what Kafka stores, after the producer's compression.
    pub fn topic_bytes_on_disk(&self, topic: &str) -> u64 {
        let directory = std::path::Path::new(&crate::required_env("CDC_STATE_DIR"))
            .join("kafka/data")
            .join(format!("{topic}-0"));
        std::fs::read_dir(&directory)
            .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
            .filter_map(|entry| entry.metadata().ok())
            .map(|metadata| metadata.len())
            .sum()
    }

    pub fn dead_letter_topic(&self) -> String {
        format!("{}.dead-letter", self.name)
    }

    /// The Cassandra keyspace the slice's consumers write, with the pipeline's schema; the
    /// consumer's role may read and write it, Grafana's read it.
    pub fn keyspace(&self) -> &str {
        &self.name
    }

    /// The environment under which `cdc-consumer` (and its `verify`) work on this slice: its
    /// topics, dead-letter topic, keyspace and database, on the stack's servers, as the
    /// consumer's Cassandra role. `verify` reads PostgreSQL as the read-only `grafana` role: the
    /// ingester's may not read tickers.
    pub fn consumer_environment(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "CONSUMER_TOPICS",
                format!("{},{}", self.ticker_topic(), self.klines_topic()),
            ),
            ("CONSUMER_DEAD_LETTER_TOPIC", self.dead_letter_topic()),
            ("CASSANDRA_KEYSPACE", self.name.clone()),
            ("KAFKA_BROKERS", self.stack.kafka_brokers.clone()),
            ("CASSANDRA_NODES", self.stack.cassandra_nodes.clone()),
            (
                "CASSANDRA_USERNAME",
                self.stack.cassandra_consumer.username.clone(),
            ),
            (
                "CASSANDRA_PASSWORD",
                self.stack.cassandra_consumer.password.clone(),
            ),
            ("PG_URL", self.database.grafana_url()),
        ]
    }

    /// A dead-letter topic and, with `partitions`, the change topics with that many partitions,
    /// made before the connector and the consumers start so that both find them at once.
    async fn create_topics(&self, partitions: Option<i32>) {
        let controller = cleanup::kafka_client(&self.stack.kafka_brokers)
            .await
            .and_then(|client| Ok(client.controller_client()?))
            .unwrap_or_else(|error| panic!("cannot reach Kafka: {error:#}"));
        let mut topics = vec![(self.dead_letter_topic(), 1)];
        if let Some(partitions) = partitions {
            topics.push((self.ticker_topic(), partitions));
            topics.push((self.klines_topic(), partitions));
        }
        for (topic, partitions) in topics {
            controller
                .create_topic(
                    &topic,
                    partitions,
                    self.stack.kafka_replication_factor,
                    10_000,
                )
                .await
                .unwrap_or_else(|error| panic!("cannot create topic {topic}: {error}"));
        }
    }

    /// The pipeline's own connector definition with this slice's database, slot and topic
    /// prefix; returns once its task streams from its replication slot.
    async fn start_connector(&self, settings: &[(&str, &str)]) {
        let (_, mut config) = connect::read_connector_file(&self.stack.workspace_root)
            .unwrap_or_else(|error| panic!("{error:#}"));
        for key in ["database.dbname", "topic.prefix", "slot.name"] {
            config[key] = Value::from(self.name.as_str());
        }
        for (key, value) in settings {
            config[*key] = Value::from(*value);
        }
        connect::register(
            &self.stack.kafka_connect_url,
            &self.name,
            &config,
            CONNECTOR_START_BOUND,
        )
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
        // RUNNING does not promise that the task streams yet, and a change committed before its
        // slot exists would never reach it: wait until the slot is in use.
        let admin = connect_postgres(&self.stack.pg_admin_url).await;
        let started = std::time::Instant::now();
        loop {
            let active: Option<bool> = admin
                .query_opt(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
                    &[&self.name],
                )
                .await
                .unwrap_or_else(|error| panic!("cannot read pg_replication_slots: {error}"))
                .map(|row| row.get(0));
            if active == Some(true) {
                return;
            }
            assert!(
                started.elapsed() < CONNECTOR_START_BOUND,
                "connector {} runs, but its replication slot is not streaming after {CONNECTOR_START_BOUND:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestPipeline {
    fn drop(&mut self) {
        let (stack, name) = (self.stack.clone(), self.name.clone());
        cleanup::block_on_cleanup(&format!("removing test pipeline {name}"), async move {
            cleanup::remove_matching(&stack, |owner| owner == name).await
        });
    }
}
