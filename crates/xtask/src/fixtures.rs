//! `cargo xtask capture-fixtures`: records what the real Debezium connector emits, so the
//! decoder's tests run on captured messages and not only on hand-written JSON.
//!
//! It creates a scratch table with one column of every PostgreSQL type the decoder handles,
//! points a second connector (the pipeline's own config, with its own topic prefix, slot and
//! publication) at it, performs a snapshot read, inserts, updates (one leaving a TOASTed column
//! unchanged), a delete and a truncate, and writes every message value on the topic, in order,
//! one per line, to `crates/debezium/tests/fixtures/captured_all_types.jsonl` (a tombstone as
//! `null`). Everything it created is removed afterwards.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rskafka::client::partition::UnknownTopicHandling;

use crate::config::{PG_DATABASE, Stack};
use crate::services::{connect, postgres};

const CONNECTOR: &str = "crypto-fixtures-connector";
const TOPIC_PREFIX: &str = "fixtures";
const TOPIC: &str = "fixtures.fixtures.all_types";
const SLOT: &str = "crypto_fixtures";
pub const OUTPUT: &str = "crates/debezium/tests/fixtures/captured_all_types.jsonl";

/// The scratch table and the row the initial snapshot reads.
const SETUP: &str = r#"
DROP SCHEMA IF EXISTS fixtures CASCADE;
DROP PUBLICATION IF EXISTS fixtures_publication;
CREATE SCHEMA fixtures;
CREATE TYPE fixtures.mood AS ENUM ('calm', 'volatile');
CREATE TABLE fixtures.all_types (
    id            integer PRIMARY KEY,
    price         numeric(38, 8),
    free_numeric  numeric,
    small         smallint,
    regular       integer,
    big           bigint,
    single_float  real,
    double_float  double precision,
    flag          boolean,
    label         text,
    raw           bytea,
    document      jsonb,
    identifier    uuid,
    mood          fixtures.mood,
    day           date,
    time_of_day   time,
    local_time    timestamp,
    instant       timestamptz,
    long_text     text
);
GRANT USAGE ON SCHEMA fixtures TO debezium;
GRANT SELECT ON fixtures.all_types TO debezium;
CREATE PUBLICATION fixtures_publication FOR TABLE fixtures.all_types;
INSERT INTO fixtures.all_types (id, price, free_numeric, label, instant)
VALUES (1, 103793.97, 1.5, 'read by the snapshot', '2025-11-04T14:19:37.123456Z');
"#;

/// The changes streamed after the snapshot; `captured.rs` in the decoder's tests checks them.
const CHANGES: &[&str] = &[
    // Every type, with decimals that go wrong in naive decoders.
    "INSERT INTO fixtures.all_types VALUES (2, -1234.56789012, -0.000000000001, -32768, 2147483647,
        -9223372036854775808, 1.5, -2.25, true, 'BTCUSDT', '\\x00ff10', '{\"a\": [1, 2]}',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'volatile', '2025-11-04', '14:19:37.123456',
        '2025-11-04 14:19:37.123456', '2025-11-04T14:19:37.123456Z', NULL)",
    "INSERT INTO fixtures.all_types (id, price, free_numeric) VALUES (3, 1234567890123.45678901, 123456789012345678901234567890.123456789)",
    "INSERT INTO fixtures.all_types (id, price, free_numeric) VALUES (4, 0, 0)",
    "INSERT INTO fixtures.all_types (id) VALUES (5)",
    // A long, incompressible value is stored out of line (TOAST); an update that does not touch
    // it sends Debezium's placeholder instead of the value.
    "INSERT INTO fixtures.all_types (id, long_text) SELECT 6, string_agg(md5(i::text), '') FROM generate_series(1, 400) AS i",
    "UPDATE fixtures.all_types SET price = 98765.4321 WHERE id = 6",
    "UPDATE fixtures.all_types SET price = 0.00000001, label = 'updated' WHERE id = 2",
    "DELETE FROM fixtures.all_types WHERE id = 4",
    "TRUNCATE fixtures.all_types",
];

/// Messages the topic must hold: one snapshot read, the five inserts, two updates, a delete and
/// its tombstone, and the truncate.
const EXPECTED_MESSAGES: usize = 11;

pub async fn capture(stack: &Stack) -> anyhow::Result<()> {
    let database = postgres::connect(stack, PG_DATABASE).await?;
    cleanup(stack, &database).await?;
    database
        .batch_execute(SETUP)
        .await
        .context("creating the fixture table")?;

    let (_, mut config) = connect::read_connector_file(stack)?;
    config["topic.prefix"] = TOPIC_PREFIX.into();
    config["slot.name"] = SLOT.into();
    config["publication.name"] = "fixtures_publication".into();
    config["table.include.list"] = "fixtures.all_types".into();
    connect::register_fresh(stack, CONNECTOR, &config).await?;

    for statement in CHANGES {
        database
            .batch_execute(statement)
            .await
            .with_context(|| statement.to_string())?;
    }
    let values = read_topic(stack, EXPECTED_MESSAGES).await;
    cleanup(stack, &database).await?;
    let values = values?;

    let lines: Vec<String> = values
        .into_iter()
        .map(|value| {
            value.map_or_else(
                || "null".to_owned(),
                |bytes| String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect();
    let path = stack.workspace_root.join(OUTPUT);
    std::fs::write(&path, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(
        "wrote {} captured messages to {}",
        lines.len(),
        path.display()
    );
    Ok(())
}

/// Reads the fixture topic from the start until `expected` messages arrived.
async fn read_topic(stack: &Stack, expected: usize) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    let client = rskafka::client::ClientBuilder::new(stack.kafka_brokers())
        .build()
        .await?;
    let partition = client
        .partition_client(TOPIC, 0, UnknownTopicHandling::Retry)
        .await?;
    let started = Instant::now();
    let mut values = Vec::new();
    while values.len() < expected {
        if started.elapsed() > Duration::from_secs(60) {
            let ops: Vec<String> = values
                .iter()
                .map(|value: &Option<Vec<u8>>| op_of(value.as_deref()))
                .collect();
            bail!(
                "only {} of {expected} messages arrived on {TOPIC} within 60 s; their ops: {}",
                values.len(),
                ops.join(" ")
            );
        }
        let offset = i64::try_from(values.len())?;
        let (records, _) = partition
            .fetch_records(offset, 1..10_000_000, 1_000)
            .await?;
        values.extend(records.into_iter().map(|record| record.record.value));
    }
    Ok(values)
}

/// The `op` of a captured message, for diagnostics: `tombstone` for a null value.
fn op_of(value: Option<&[u8]>) -> String {
    let Some(bytes) = value else {
        return "tombstone".to_owned();
    };
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|message| message["payload"]["op"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Removes the connector, its replication slot, the publication, the topic and the table.
async fn cleanup(stack: &Stack, database: &tokio_postgres::Client) -> anyhow::Result<()> {
    connect::delete(stack, CONNECTOR).await?;
    // The slot stays active for a moment after the connector's task stops.
    let started = Instant::now();
    loop {
        let dropped = database
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[&SLOT],
            )
            .await;
        match dropped {
            Ok(_) => break,
            Err(error) if started.elapsed() < Duration::from_secs(30) => {
                tracing::debug!("slot still in use: {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error).context("dropping the fixture replication slot"),
        }
    }
    database
        .batch_execute("DROP PUBLICATION IF EXISTS fixtures_publication; DROP SCHEMA IF EXISTS fixtures CASCADE;")
        .await?;
    let client = rskafka::client::ClientBuilder::new(stack.kafka_brokers())
        .build()
        .await?;
    let exists = client
        .list_topics()
        .await?
        .iter()
        .any(|topic| topic.name == TOPIC);
    if exists {
        client
            .controller_client()?
            .delete_topic(TOPIC, 10_000)
            .await?;
    }
    Ok(())
}
