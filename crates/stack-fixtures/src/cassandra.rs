//! Cassandra as one of the stack's roles, and the slices' keyspaces: created by the admin role
//! with the pipeline's schema, and granted to the consumer's and Grafana's roles as the stack
//! grants them the pipeline's keyspace.

use anyhow::Context;
use cassandra_schema::SchemaSettings;
use cassandra_schema::access::{self, CONSUMER_ROLE, GRAFANA_ROLE, Login};
use scylla::client::session::Session;

use crate::cleanup::block_on_cleanup;
use crate::environment::StackEnvironment;
use crate::naming::unique_name;

/// A session on the stack's Cassandra as `login`.
pub async fn session(stack: &StackEnvironment, login: &Login) -> anyhow::Result<Session> {
    access::session_builder(stack.cassandra_nodes.split(','), Some(login))
        .build()
        .await
        .with_context(|| {
            format!(
                "cannot connect to Cassandra at {} as {}",
                stack.cassandra_nodes, login.username
            )
        })
}

/// Creates `keyspace` with the pipeline's schema (its replication, default retention) and grants the consumer's
/// role what it has on the pipeline's keyspace (read and write), and Grafana's role reading.
pub(crate) async fn create_keyspace(
    stack: &StackEnvironment,
    keyspace: &str,
) -> anyhow::Result<()> {
    let admin = session(stack, &stack.cassandra_admin).await?;
    let settings = SchemaSettings {
        keyspace: keyspace.to_owned(),
        replication: stack.cassandra_replication.clone(),
        ..SchemaSettings::default()
    };
    let grants = access::consumer_grants(keyspace, CONSUMER_ROLE)
        .into_iter()
        .chain(access::reader_grants(keyspace, GRAFANA_ROLE));
    for statement in cassandra_schema::statements(&settings)
        .into_iter()
        .chain(grants)
    {
        admin
            .query_unpaged(statement.as_str(), ())
            .await
            .with_context(|| format!("running {statement}"))?;
    }
    Ok(())
}

/// A keyspace of a test's own, `it_<label>_<unique>`, with the pipeline's schema and the
/// grants the stack gives the pipeline's keyspace; dropped with the value.
pub struct TestKeyspace {
    name: String,
    stack: StackEnvironment,
}

impl TestKeyspace {
    pub async fn create(stack: &StackEnvironment, label: &str) -> Self {
        let name = unique_name(label);
        create_keyspace(stack, &name)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"));
        Self {
            name,
            stack: stack.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestKeyspace {
    fn drop(&mut self) {
        let (stack, name) = (self.stack.clone(), self.name.clone());
        block_on_cleanup(&format!("dropping keyspace {name}"), async move {
            session(&stack, &stack.cassandra_admin)
                .await?
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), ())
                .await?;
            Ok(())
        });
    }
}
