//! Cassandra IO: one session, logged in as the consumer's role, statements prepared once per
//! mapped table, and the write of a planned change. Whether an error is worth retrying is
//! decided here, in one place. Creating the schema is the setup's job (`cdc-consumer schema`
//! with the admin role): the consumer's role may only read and write the keyspace.

use std::collections::HashMap;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use tokio_util::sync::CancellationToken;

use cassandra_schema::SchemaSettings;
use cassandra_schema::access::{self, Login};

use crate::mapping::{CqlWrite, TABLES, TableMapping};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot connect to Cassandra at {nodes}: {source}")]
    Connect {
        nodes: String,
        source: scylla::errors::NewSessionError,
    },
    #[error(
        "Cassandra authentication failed at {nodes} as {role}: {reason}; set CASSANDRA_USERNAME \
         and CASSANDRA_PASSWORD to the consumer's role and its password"
    )]
    Authentication {
        nodes: String,
        role: String,
        reason: String,
    },
    #[error(
        "cannot prepare `{statement}`: {source}; is the schema there? `cargo xtask stack up`, \
         compose's cassandra-init or `cdc-consumer schema` (as an admin role) create it"
    )]
    MissingSchema {
        statement: String,
        source: scylla::errors::PrepareError,
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
    /// Errors that retrying cannot fix: a login Cassandra refuses, a statement it rejects as
    /// such (say, a malformed replication map), a table that does not exist.
    fn is_fatal(&self) -> bool {
        use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
        match self {
            SinkError::Authentication { .. } | SinkError::MissingSchema { .. } => true,
            SinkError::Schema { source, .. } => matches!(
                source,
                ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                    DbError::SyntaxError | DbError::Invalid | DbError::ConfigError,
                    _
                ))
            ),
            _ => false,
        }
    }
}

/// A session on `nodes`, logged in as `login` (none for a Cassandra without authentication).
pub async fn open_session(nodes: &[String], login: Option<&Login>) -> Result<Session, SinkError> {
    access::session_builder(nodes, login)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .map_err(|source| match access::refused_login(&source) {
            Some(reason) => SinkError::Authentication {
                nodes: nodes.join(","),
                role: login.map_or_else(
                    || "no role (no CASSANDRA_USERNAME given)".to_owned(),
                    |login| format!("role {}", login.username),
                ),
                reason,
            },
            None => SinkError::Connect {
                nodes: nodes.join(","),
                source,
            },
        })
}

/// Creates the schema when missing and applies `schema`'s settings to it. Needs a role that
/// may create keyspaces and alter tables.
pub async fn apply_schema(session: &Session, schema: &SchemaSettings) -> Result<(), SinkError> {
    for statement in cassandra_schema::statements(schema) {
        session
            .query_unpaged(statement.as_str(), ())
            .await
            .map_err(|source| SinkError::Schema { statement, source })?;
    }
    Ok(())
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
    /// Connects as `login` and prepares every mapped table's statements on `keyspace`,
    /// retrying with backoff while Cassandra is still starting or unreachable, until
    /// `shutdown`. A refused login or a missing table ends it at once.
    pub async fn connect(
        nodes: &[String],
        login: Option<&Login>,
        keyspace: &str,
        shutdown: &CancellationToken,
    ) -> Result<Self, SinkError> {
        let mut delay = Duration::from_millis(200);
        loop {
            match Self::try_connect(nodes, login, keyspace).await {
                Ok(sink) => return Ok(sink),
                Err(error) if error.is_fatal() => return Err(error),
                Err(error) => tracing::warn!("Cassandra not ready, retrying in {delay:?}: {error}"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Err(SinkError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn try_connect(
        nodes: &[String],
        login: Option<&Login>,
        keyspace: &str,
    ) -> Result<Self, SinkError> {
        let session = open_session(nodes, login).await?;
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
    use scylla::errors::{DbError, PrepareError, RequestAttemptError};
    session
        .prepare(statement.as_str())
        .await
        .map_err(|source| match &source {
            // Cassandra answers "unconfigured table" for a keyspace or table that is not there.
            PrepareError::AllAttemptsFailed {
                first_attempt: RequestAttemptError::DbError(DbError::Invalid, _),
            } => SinkError::MissingSchema { statement, source },
            _ => SinkError::Prepare { statement, source },
        })
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
