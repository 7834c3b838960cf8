//! The pipeline's own footprint in the stack: what its topics hold and how often its tables were
//! written, in PostgreSQL and in Cassandra. Taken before and after the test suite, it shows that
//! no test wrote into them.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::unprepared::Statement;

use crate::cleanup::kafka_client;
use crate::database::try_connect;
use crate::environment::StackEnvironment;

/// Each counter of the pipeline's own data, by name: the end offset of every partition of its
/// topics, the rows inserted, updated and deleted in each table of its database, and the writes
/// each Cassandra node applied to each table of its keyspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    counters: BTreeMap<String, i64>,
    /// Counters that start again from 0 when their service restarts (Cassandra's table metrics,
    /// which an outage test's restart resets): for them only a rise is a change.
    since_start: BTreeSet<String>,
}

impl Footprint {
    fn record(&mut self, name: String, value: i64) {
        self.counters.insert(name, value);
    }

    fn record_since_start(&mut self, name: String, value: i64) {
        self.since_start.insert(name.clone());
        self.counters.insert(name, value);
    }

    /// The counters that differ between `self` (before) and `after`, one line each. Pure.
    pub fn changes(&self, after: &Footprint) -> Vec<String> {
        let names: BTreeSet<&String> = self.counters.keys().chain(after.counters.keys()).collect();
        names
            .into_iter()
            .filter(|name| {
                let (before, after_value) = (self.counters.get(*name), after.counters.get(*name));
                if self.since_start.contains(*name) || after.since_start.contains(*name) {
                    // Fewer than before is a restart counting again from 0, not a write; writes
                    // after such a restart show only once they outnumber the count before it.
                    after_value.unwrap_or(&0) > before.unwrap_or(&0)
                } else {
                    before != after_value
                }
            })
            .map(|name| {
                let show = |value: Option<&i64>| value.map_or("absent".to_owned(), i64::to_string);
                format!(
                    "{name}: {} before, {} after",
                    show(self.counters.get(name)),
                    show(after.counters.get(name))
                )
            })
            .collect()
    }
}

/// Reads the footprint of the pipeline whose topics start with `topic_prefix` (the connector's
/// `topic.prefix`, which the dead-letter topic shares), whose tables are in `database` and whose
/// Cassandra tables are in `keyspace`.
pub async fn pipeline_footprint(
    stack: &StackEnvironment,
    topic_prefix: &str,
    database: &str,
    keyspace: &str,
) -> anyhow::Result<Footprint> {
    let mut footprint = Footprint::default();
    let client = kafka_client(&stack.kafka_brokers).await?;
    for topic in client.list_topics().await.context("listing topics")? {
        if !topic.name.starts_with(&format!("{topic_prefix}.")) {
            continue;
        }
        for partition in topic.partitions {
            let end = client
                .partition_client(&topic.name, partition, UnknownTopicHandling::Error)
                .await?
                .get_offset(OffsetAt::Latest)
                .await
                .with_context(|| format!("end offset of {}[{partition}]", topic.name))?;
            footprint.record(format!("topic {}[{partition}] end offset", topic.name), end);
        }
    }
    let url = crate::environment::with_database(&stack.pg_admin_url, database);
    let tables = try_connect(&url)
        .await?
        .query(
            "SELECT relname::text, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables",
            &[],
        )
        .await
        .context("reading pg_stat_user_tables")?;
    for table in tables {
        footprint.record(
            format!(
                "table {database}.{} rows written",
                table.get::<_, String>(0)
            ),
            table.get(1),
        );
    }
    for (node, table, writes) in cassandra_local_writes(stack, keyspace).await? {
        footprint.record_since_start(
            format!("Cassandra node {node}: table {keyspace}.{table} local writes"),
            writes,
        );
    }
    Ok(footprint)
}

/// The writes each Cassandra node applied to each table of `keyspace` since it started
/// (`system_views.local_write_latency`, a node-local virtual table: asked of every node in turn).
/// A row a test wrote into the keyspace counts here even where `verify` would not look at it.
async fn cassandra_local_writes(
    stack: &StackEnvironment,
    keyspace: &str,
) -> anyhow::Result<Vec<(String, String, i64)>> {
    let session = crate::cassandra::session(stack, &stack.cassandra_admin).await?;
    let mut writes = Vec::new();
    for node in session.get_cluster_state().get_nodes_info() {
        let mut statement = Statement::new(
            "SELECT table_name, count FROM system_views.local_write_latency \
             WHERE keyspace_name = ? ALLOW FILTERING",
        );
        statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
            NodeIdentifier::Node(node.clone()),
            None,
        )));
        let rows = session
            .query_unpaged(statement, (keyspace,))
            .await
            .with_context(|| format!("reading Cassandra node {}'s table metrics", node.address))?
            .into_rows_result()
            .context("reading Cassandra's table metrics")?;
        for row in rows.rows::<(String, i64)>()? {
            let (table, count) = row.context("reading Cassandra's table metrics")?;
            writes.push((node.address.ip().to_string(), table, count));
        }
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::Footprint;

    fn footprint(counters: &[(&str, i64)], since_start: &[(&str, i64)]) -> Footprint {
        let mut footprint = Footprint::default();
        for (name, value) in counters {
            footprint.record((*name).to_owned(), *value);
        }
        for (name, value) in since_start {
            footprint.record_since_start((*name).to_owned(), *value);
        }
        footprint
    }

    #[test]
    fn only_changed_counters_are_reported() {
        let before = footprint(&[("a", 1), ("b", 2)], &[]);
        let after = footprint(&[("a", 1), ("b", 3), ("c", 0)], &[]);
        assert_eq!(
            before.changes(&after),
            ["b: 2 before, 3 after", "c: absent before, 0 after"]
        );
        assert!(before.changes(&before).is_empty());
    }

    #[test]
    fn a_counter_since_start_changes_only_when_it_rises() {
        let before = footprint(&[], &[("risen", 5), ("restarted", 5), ("same", 5)]);
        let after = footprint(
            &[],
            &[("risen", 6), ("restarted", 2), ("same", 5), ("new", 1)],
        );
        assert_eq!(
            before.changes(&after),
            ["new: absent before, 1 after", "risen: 5 before, 6 after"]
        );
        // A table first written during the suite shows up with a count above 0 only.
        assert!(before.changes(&footprint(&[], &[("new", 0)])).is_empty());
    }
}
