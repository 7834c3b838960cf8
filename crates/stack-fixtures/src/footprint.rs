//! The pipeline's own footprint in the stack: what its topics hold and how often its tables were
//! written. Taken before and after the test suite, it shows that no test wrote into them.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};

use crate::cleanup::kafka_client;
use crate::database::try_connect;
use crate::environment::StackEnvironment;

/// Each counter of the pipeline's own data, by name: the end offset of every partition of its
/// topics, and the rows inserted, updated and deleted in each table of its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint(BTreeMap<String, i64>);

impl Footprint {
    /// The counters that differ between `self` (before) and `after`, one line each.
    pub fn changes(&self, after: &Footprint) -> Vec<String> {
        let names: BTreeSet<&String> = self.0.keys().chain(after.0.keys()).collect();
        names
            .into_iter()
            .filter(|name| self.0.get(*name) != after.0.get(*name))
            .map(|name| {
                let show = |value: Option<&i64>| value.map_or("absent".to_owned(), i64::to_string);
                format!(
                    "{name}: {} before, {} after",
                    show(self.0.get(name)),
                    show(after.0.get(name))
                )
            })
            .collect()
    }
}

/// Reads the footprint of the pipeline whose topics start with `topic_prefix` (the connector's
/// `topic.prefix`, which the dead-letter topic shares) and whose tables are in `database`.
pub async fn pipeline_footprint(
    stack: &StackEnvironment,
    topic_prefix: &str,
    database: &str,
) -> anyhow::Result<Footprint> {
    let mut counters = BTreeMap::new();
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
            counters.insert(format!("topic {}[{partition}] end offset", topic.name), end);
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
        counters.insert(
            format!(
                "table {database}.{} rows written",
                table.get::<_, String>(0)
            ),
            table.get(1),
        );
    }
    Ok(Footprint(counters))
}

#[cfg(test)]
mod tests {
    use super::Footprint;

    #[test]
    fn only_changed_counters_are_reported() {
        let before = Footprint([("a".to_owned(), 1), ("b".to_owned(), 2)].into());
        let after = Footprint(
            [
                ("a".to_owned(), 1),
                ("b".to_owned(), 3),
                ("c".to_owned(), 0),
            ]
            .into(),
        );
        assert_eq!(
            before.changes(&after),
            ["b: 2 before, 3 after", "c: absent before, 0 after"]
        );
        assert!(before.changes(&before).is_empty());
    }
}
