//! Cassandra IO: one session, statements prepared once per mapped table, and the write of a
//! planned change. Whether an error is worth retrying is decided here, in one place.

use std::collections::HashMap;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;
use tokio_util::sync::CancellationToken;

use cassandra_schema::SchemaSettings;

use crate::mapping::{CqlWrite, TABLES, TableMapping};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot connect to Cassandra at {nodes}: {source}")]
    Connect {
        nodes: String,
        source: scylla::errors::NewSessionError,
    },
    #[error("cannot prepare `{statement}`: {source}")]
    Prepare {
        statement: String,
        source: scylla::errors::PrepareError,
    },
    #[error("writing to Cassandra table {table}: {source}")]
    Write {
        table: &'static str,
        source: scylla::errors::ExecutionError,
    },
    #[error("cannot apply the schema statement `{statement}`: {source}")]
    Schema {
        statement: String,
        source: scylla::errors::ExecutionError,
    },
    #[error("no statements were prepared for table {0}")]
    Unprepared(&'static str),
    #[error("shut down while waiting for Cassandra")]
    Cancelled,
}

impl SinkError {
    fn is_rejected_statement(&self) -> bool {
        use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
        let SinkError::Schema { source, .. } = self else {
            return false;
        };
        matches!(
            source,
            ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                DbError::SyntaxError | DbError::Invalid | DbError::ConfigError,
                _
            ))
        )
    }
}

struct TableStatements {
    upsert: PreparedStatement,
    delete: PreparedStatement,
    truncate: PreparedStatement,
}

pub struct CassandraSink {
    session: Session,
    statements: HashMap<&'static str, TableStatements>,
}

impl CassandraSink {
    /// Connects, creates the schema when missing (and applies its settings), and prepares every
    /// mapped table's statements, retrying with backoff while Cassandra is still starting or
    /// unreachable, until `shutdown`.
    pub async fn connect(
        nodes: &[String],
        schema: &SchemaSettings,
        shutdown: &CancellationToken,
    ) -> Result<Self, SinkError> {
        let mut delay = Duration::from_millis(200);
        loop {
            match Self::try_connect(nodes, schema).await {
                Ok(sink) => return Ok(sink),
                // A statement Cassandra rejects as such (say, a malformed replication map) is a
                // configuration error: retrying cannot fix it.
                Err(error) if error.is_rejected_statement() => return Err(error),
                Err(error) => tracing::warn!("Cassandra not ready, retrying in {delay:?}: {error}"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Err(SinkError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn try_connect(nodes: &[String], schema: &SchemaSettings) -> Result<Self, SinkError> {
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            .connection_timeout(Duration::from_secs(5))
            .build()
            .await
            .map_err(|source| SinkError::Connect {
                nodes: nodes.join(","),
                source,
            })?;
        for statement in cassandra_schema::statements(schema) {
            session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(|source| SinkError::Schema { statement, source })?;
        }
        let keyspace = &schema.keyspace;
        let mut statements = HashMap::new();
        for table in &TABLES {
            let prepared = TableStatements {
                upsert: prepare(&session, upsert_cql(keyspace, table)).await?,
                delete: prepare(&session, delete_cql(keyspace, table)).await?,
                truncate: prepare(&session, format!("TRUNCATE {keyspace}.{}", table.cql_table))
                    .await?,
            };
            statements.insert(table.cql_table, prepared);
        }
        Ok(Self {
            session,
            statements,
        })
    }

    /// Applies one write. A failed write is worth retrying: the statements were prepared
    /// against the live schema, so what remains is Cassandra being slow or away.
    pub async fn apply(&self, write: &CqlWrite) -> Result<(), SinkError> {
        let (table, values): (&TableMapping, &[_]) = match write {
            CqlWrite::Upsert { table, values } => (table, values),
            CqlWrite::Delete { table, key } => (table, key),
            CqlWrite::Truncate { table } => (table, &[]),
        };
        let prepared = self
            .statements
            .get(table.cql_table)
            .ok_or(SinkError::Unprepared(table.cql_table))?;
        let statement = match write {
            CqlWrite::Upsert { .. } => &prepared.upsert,
            CqlWrite::Delete { .. } => &prepared.delete,
            CqlWrite::Truncate { .. } => &prepared.truncate,
        };
        self.session
            .execute_unpaged(statement, values)
            .await
            .map(drop)
            .map_err(|source| SinkError::Write {
                table: table.cql_table,
                source,
            })
    }
}

async fn prepare(session: &Session, statement: String) -> Result<PreparedStatement, SinkError> {
    session
        .prepare(statement.as_str())
        .await
        .map_err(|source| SinkError::Prepare { statement, source })
}

/// The prepared INSERT (an upsert in Cassandra) of every mapped column of `table`.
pub fn upsert_cql(keyspace: &str, table: &TableMapping) -> String {
    let names: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let markers = vec!["?"; names.len()].join(", ");
    format!(
        "INSERT INTO {keyspace}.{} ({}) VALUES ({markers})",
        table.cql_table,
        names.join(", ")
    )
}

fn delete_cql(keyspace: &str, table: &TableMapping) -> String {
    let conditions: Vec<String> = table.columns[..table.key_len]
        .iter()
        .map(|column| format!("{} = ?", column.name))
        .collect();
    format!(
        "DELETE FROM {keyspace}.{} WHERE {}",
        table.cql_table,
        conditions.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_follow_the_mapping() {
        let klines = &TABLES[1];
        assert_eq!(
            delete_cql("ks", klines),
            "DELETE FROM ks.klines WHERE symbol = ? AND interval = ? AND month = ? AND open_time = ?"
        );
        let upsert = upsert_cql("ks", klines);
        assert!(
            upsert.starts_with(
                "INSERT INTO ks.klines (symbol, interval, month, open_time, open_price"
            ),
            "{upsert}"
        );
        assert_eq!(upsert.matches('?').count(), klines.columns.len());
    }
}
