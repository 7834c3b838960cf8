//! Removing slices: one test's when it ends, and every leftover of a killed run.
//!
//! Everything a slice makes carries its name, so removal lists each kind of resource and
//! removes those whose owner matches, in dependency order: the connector (which holds the
//! slot), the slot (which holds the database), the database, the topics, the keyspace.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::connect;
use crate::database::{drop_database, try_connect};
use crate::environment::StackEnvironment;
use crate::naming::{is_leftover, topic_owner};

/// Removes everything test slices left behind: names starting with [`crate::FIXTURE_PREFIX`] whose
/// creating process no longer runs, so the slices of tests running beside it stay.
pub async fn remove_leftovers(stack: &StackEnvironment) -> anyhow::Result<()> {
    remove_matching(stack, is_leftover).await
}

/// Removes every resource whose owner `owned` accepts. Tries every kind even when one fails,
/// and reports the first failure.
pub(crate) async fn remove_matching(
    stack: &StackEnvironment,
    owned: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let results = [
        remove_connectors(stack, &owned).await,
        remove_slots_and_databases(stack, &owned).await,
        remove_topics(stack, &owned).await,
        remove_keyspaces(stack, &owned).await,
    ];
    results.into_iter().collect()
}

async fn remove_connectors(
    stack: &StackEnvironment,
    owned: &impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let url = &stack.kafka_connect_url;
    for name in connect::list(url).await.context("listing connectors")? {
        if owned(&name) {
            connect::delete(url, &name).await?;
        }
    }
    Ok(())
}

/// How long a deleted connector's task may keep its slot before its walsender is ended.
const SLOT_RELEASE_BOUND: Duration = Duration::from_secs(15);

async fn remove_slots_and_databases(
    stack: &StackEnvironment,
    owned: &impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let admin = try_connect(&stack.pg_admin_url).await?;
    let slots = admin
        .query("SELECT slot_name::text FROM pg_replication_slots", &[])
        .await?;
    for slot in slots.iter().map(|row| row.get::<_, String>(0)) {
        if owned(&slot) {
            drop_slot(&admin, &slot).await?;
        }
    }
    let databases = admin
        .query("SELECT datname::text FROM pg_database", &[])
        .await?;
    for database in databases.iter().map(|row| row.get::<_, String>(0)) {
        if owned(&database) {
            drop_database(stack, &database).await?;
        }
    }
    Ok(())
}

/// Drops a replication slot, waiting for its (deleted) connector to let go of it, and ending
/// the walsender that still holds it after [`SLOT_RELEASE_BOUND`].
async fn drop_slot(admin: &tokio_postgres::Client, slot: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let holder: Option<Option<i32>> = admin
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await?
            .map(|row| row.get(0));
        match holder {
            None => return Ok(()),
            Some(None) => {
                admin
                    .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                    .await
                    .with_context(|| format!("dropping replication slot {slot}"))?;
                return Ok(());
            }
            Some(Some(pid)) if started.elapsed() > SLOT_RELEASE_BOUND => {
                admin
                    .execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await?;
            }
            Some(Some(_)) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn kafka_client(brokers: &str) -> anyhow::Result<rskafka::client::Client> {
    rskafka::client::ClientBuilder::new(brokers.split(',').map(str::to_owned).collect())
        .build()
        .await
        .with_context(|| format!("cannot connect to Kafka at {brokers}"))
}

async fn remove_topics(
    stack: &StackEnvironment,
    owned: &impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let client = kafka_client(&stack.kafka_brokers).await?;
    let controller = client.controller_client()?;
    for topic in client.list_topics().await.context("listing topics")? {
        if owned(topic_owner(&topic.name)) {
            controller
                .delete_topic(&topic.name, 10_000)
                .await
                .with_context(|| format!("deleting topic {}", topic.name))?;
        }
    }
    Ok(())
}

async fn remove_keyspaces(
    stack: &StackEnvironment,
    owned: &impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let session = crate::cassandra::session(stack, &stack.cassandra_admin).await?;
    let keyspaces = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await?
        .into_rows_result()?;
    for row in keyspaces.rows::<(String,)>()? {
        let (keyspace,) = row?;
        if owned(&keyspace) {
            session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
                .await
                .with_context(|| format!("dropping keyspace {keyspace}"))?;
        }
    }
    Ok(())
}

/// Runs `cleanup` to its end from a `Drop`, on a thread and runtime of its own (a test's
/// runtime may be single-threaded, or shutting down). A failure is reported, not raised: a
/// panic in a drop would hide the test's own failure, and the leftover is removed at the end of
/// `cargo xtask test` anyway.
pub(crate) fn block_on_cleanup(
    what: &str,
    cleanup: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a runtime")?
            .block_on(cleanup)
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("warning: {what}: {error:#}"),
        Err(_) => eprintln!("warning: {what}: the clean-up panicked"),
    }
}
