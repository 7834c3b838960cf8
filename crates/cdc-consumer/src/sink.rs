//! Cassandra IO: one session, logged in as the consumer's role, statements prepared once per
//! mapped table, and the write of a planned change. Whether an error is worth retrying is
//! decided here, in one place. Creating the schema is the setup's job (`cdc-consumer schema`
//! with the admin role): the consumer's role may only read and write the keyspace.
//!
//! Every write carries its change's write time (`USING TIMESTAMP`, see
//! [`crate::mapping::write_time`]), so Cassandra keeps the later version of a row whatever order
//! writes arrive in. A TRUNCATE cannot be one statement: Cassandra's TRUNCATE drops rows by when
//! they reached Cassandra, not by where they stand in PostgreSQL's commit order, so rows of other
//! Kafka partitions committed after the truncate but consumed before it would vanish, and those
//! committed before it but consumed later would come back. Instead the truncate's write time is
//! recorded in the keyspace's `truncations` table, every existing partition of the table gets a
//! tombstone at that write time (newer rows survive it), and writes older than the recorded
//! truncate are skipped (so no older row recreates a partition).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use scylla::client::session::Session;
use scylla::serialize::SerializationError;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;
use tokio::sync::Mutex;
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
    #[error("reading Cassandra table {table}: {source}")]
    Read {
        table: String,
        source: scylla::errors::ExecutionError,
    },
    #[error("reading Cassandra table {table}: {source}")]
    Pager {
        table: String,
        source: scylla::errors::PagerExecutionError,
    },
    #[error("reading Cassandra table {table}: {source}")]
    Page {
        table: String,
        source: scylla::errors::NextRowError,
    },
    #[error("reading Cassandra table {table}: {reason}")]
    Rows { table: String, reason: String },
    #[error("cannot apply the schema statement `{statement}`: {source}")]
    Schema {
        statement: String,
        source: scylla::errors::ExecutionError,
    },
    #[error("{0}")]
    Settings(String),
    #[error("no statements were prepared for table {0}")]
    Unprepared(&'static str),
    #[error("shut down while waiting for Cassandra")]
    Cancelled,
}

/// Whether a failure may go away by itself (Cassandra or the network being slow or away) or will
/// fail the same way every time (a request Cassandra rejects as such).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Transient,
    Permanent,
}

impl SinkError {
    /// Errors that retrying cannot fix: a login Cassandra refuses, a statement it rejects as
    /// such (say, a malformed replication map), a table that does not exist.
    fn is_fatal(&self) -> bool {
        match self {
            SinkError::Authentication { .. } | SinkError::MissingSchema { .. } => true,
            SinkError::Schema { source, .. } => rejected(source),
            _ => false,
        }
    }

    /// The one place that decides whether a failed write is worth retrying without limit.
    pub fn failure(&self) -> Failure {
        match self {
            SinkError::Write { source, .. } | SinkError::Read { source, .. }
                if rejected(source) =>
            {
                Failure::Permanent
            }
            SinkError::Unprepared(_) | SinkError::Rows { .. } => Failure::Permanent,
            _ => Failure::Transient,
        }
    }
}

/// A request Cassandra refused for what it is (syntax, an invalid value, a missing table or
/// permission) or that the driver could not even encode: sending it again cannot succeed.
fn rejected(error: &scylla::errors::ExecutionError) -> bool {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    match error {
        ExecutionError::BadQuery(_) => true,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db_error, _)) => matches!(
            db_error,
            DbError::SyntaxError
                | DbError::Invalid
                | DbError::ConfigError
                | DbError::Unauthorized
                | DbError::AlreadyExists { .. }
        ),
        ExecutionError::LastAttemptError(
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_),
        ) => true,
        _ => false,
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

/// Whether `apply_schema` changes an existing keyspace's settings to the configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingSettings {
    /// Report how they differ and leave them: an operator may have changed them on purpose.
    Keep,
    /// Alter them to the configured ones.
    Apply,
}

/// Creates the schema where it is missing, with `schema`'s settings, and returns how an existing
/// keyspace's replication and retention differ from them; with [`ExistingSettings::Apply`] it
/// then alters them. Needs a role that may create keyspaces and alter tables.
pub async fn apply_schema(
    session: &Session,
    schema: &SchemaSettings,
    existing: ExistingSettings,
) -> Result<Vec<String>, SinkError> {
    run_statements(session, cassandra_schema::statements(schema)).await?;
    let differences = cassandra_schema::differences(schema, &live_settings(session, schema).await?)
        .map_err(|error| SinkError::Settings(error.to_string()))?;
    if existing == ExistingSettings::Apply && !differences.is_empty() {
        run_statements(session, cassandra_schema::alterations(schema)).await?;
    }
    Ok(differences)
}

async fn run_statements(session: &Session, statements: Vec<String>) -> Result<(), SinkError> {
    for statement in statements {
        session
            .query_unpaged(statement.as_str(), ())
            .await
            .map_err(|source| SinkError::Schema { statement, source })?;
    }
    Ok(())
}

/// The keyspace's replication and its tables' default TTLs, from `system_schema`.
async fn live_settings(
    session: &Session,
    schema: &SchemaSettings,
) -> Result<cassandra_schema::LiveSettings, SinkError> {
    let read = |table: &'static str| {
        move |source| SinkError::Read {
            table: table.to_owned(),
            source,
        }
    };
    let rows_error = |error: &dyn std::fmt::Display| SinkError::Rows {
        table: "system_schema".to_owned(),
        reason: error.to_string(),
    };
    let (replication,) = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (&schema.keyspace,),
        )
        .await
        .map_err(read("system_schema.keyspaces"))?
        .into_rows_result()
        .map_err(|error| rows_error(&error))?
        .single_row::<(std::collections::BTreeMap<String, String>,)>()
        .map_err(|error| rows_error(&error))?;
    let tables = session
        .query_unpaged(
            "SELECT table_name, default_time_to_live FROM system_schema.tables \
             WHERE keyspace_name = ?",
            (&schema.keyspace,),
        )
        .await
        .map_err(read("system_schema.tables"))?
        .into_rows_result()
        .map_err(|error| rows_error(&error))?;
    let mut table_ttls = std::collections::BTreeMap::new();
    for row in tables
        .rows::<(String, i32)>()
        .map_err(|error| rows_error(&error))?
    {
        let (table, ttl) = row.map_err(|error| rows_error(&error))?;
        table_ttls.insert(table, ttl);
    }
    Ok(cassandra_schema::LiveSettings {
        replication,
        table_ttls,
    })
}

struct TableStatements {
    upsert: PreparedStatement,
    delete: PreparedStatement,
    /// Deletes one whole partition (a partition tombstone), for truncates.
    delete_partition: PreparedStatement,
}

/// The write time of each table's latest truncate, and when they were last read from Cassandra.
/// Read by every write, so the read path takes no exclusive lock and never waits for a re-read.
struct Truncations {
    write_times: RwLock<HashMap<String, i64>>,
    /// Held by the one write that re-reads them; the others go on with what is known.
    read_at: Mutex<Instant>,
}

impl Truncations {
    fn new(write_times: HashMap<String, i64>) -> Self {
        Self {
            write_times: RwLock::new(write_times),
            read_at: Mutex::new(Instant::now()),
        }
    }

    /// Keeps the later of what is known and `write_times`, table by table.
    fn merge(&self, write_times: impl IntoIterator<Item = (String, i64)>) {
        let mut known = self
            .write_times
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for (table, write_time) in write_times {
            let latest = known.entry(table).or_insert(write_time);
            *latest = (*latest).max(write_time);
        }
    }

    fn latest(&self, table: &str) -> i64 {
        self.write_times
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(table)
            .copied()
            .unwrap_or(0)
    }
}

/// How long another consumer's truncate may go unseen by this one (see [`CassandraSink`]).
const TRUNCATIONS_REFRESH: Duration = Duration::from_secs(10);

pub struct CassandraSink {
    session: Session,
    keyspace: String,
    statements: HashMap<&'static str, TableStatements>,
    record_truncation: PreparedStatement,
    truncations: Truncations,
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
        let backoff = backoff::Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut failures = 0;
        loop {
            let delay = match Self::try_connect(nodes, login, keyspace).await {
                Ok(sink) => return Ok(sink),
                Err(error) if error.is_fatal() => return Err(error),
                Err(error) => {
                    failures += 1;
                    let delay = backoff.jittered(failures);
                    tracing::warn!("Cassandra not ready, retrying in {delay:?}: {error}");
                    delay
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Err(SinkError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
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
                delete: prepare(&session, delete_cql(keyspace, table, table.key_len)).await?,
                delete_partition: prepare(
                    &session,
                    delete_cql(keyspace, table, table.partition_key_len),
                )
                .await?,
            };
            statements.insert(table.cql_table, prepared);
        }
        let record_truncation = prepare(
            &session,
            format!(
                "INSERT INTO {keyspace}.truncations (table_name, truncated_at) VALUES (?, ?) \
                 USING TIMESTAMP ?"
            ),
        )
        .await?;
        let write_times = read_truncations(&session, keyspace).await?;
        Ok(Self {
            session,
            keyspace: keyspace.to_owned(),
            statements,
            record_truncation,
            truncations: Truncations::new(write_times),
        })
    }

    /// Applies one write at `write_time`. A write older than its table's latest truncate is
    /// skipped: the truncate removed it already.
    pub async fn apply(&self, write: &CqlWrite, write_time: i64) -> Result<(), SinkError> {
        let table = write.table();
        let prepared = self
            .statements
            .get(table.cql_table)
            .ok_or(SinkError::Unprepared(table.cql_table))?;
        if let CqlWrite::Truncate { .. } = write {
            return self.truncate(table, prepared, write_time).await;
        }
        if write_time <= self.truncated_at(table.cql_table).await {
            tracing::debug!(
                table = table.cql_table,
                "skipped: older than the table's truncate"
            );
            return Ok(());
        }
        let result = match write {
            CqlWrite::Upsert { values, .. } => {
                let bound = BoundWrite::time_last(values, write_time);
                self.session.execute_unpaged(&prepared.upsert, bound).await
            }
            CqlWrite::Delete { key, .. } => {
                let bound = BoundWrite::time_first(key, write_time);
                self.session.execute_unpaged(&prepared.delete, bound).await
            }
            CqlWrite::Truncate { .. } => return Ok(()),
        };
        result.map(drop).map_err(|source| SinkError::Write {
            table: table.cql_table,
            source,
        })
    }

    /// Records the truncate, then deletes every partition of the table at its write time. Each
    /// step is idempotent, so a retry or a replay repeats it harmlessly.
    async fn truncate(
        &self,
        table: &'static TableMapping,
        prepared: &TableStatements,
        write_time: i64,
    ) -> Result<(), SinkError> {
        let write_error = |source| SinkError::Write {
            table: table.cql_table,
            source,
        };
        self.session
            .execute_unpaged(
                &self.record_truncation,
                (table.cql_table, write_time, write_time),
            )
            .await
            .map_err(write_error)?;
        self.truncations
            .merge([(table.cql_table.to_owned(), write_time)]);
        let partition_key: Vec<&str> = table.columns[..table.partition_key_len]
            .iter()
            .map(|column| column.name)
            .collect();
        let listing = format!(
            "SELECT DISTINCT {} FROM {}.{}",
            partition_key.join(", "),
            self.keyspace,
            table.cql_table
        );
        let mut partitions = self
            .session
            .query_iter(listing, ())
            .await
            .map_err(|source| SinkError::Pager {
                table: table.cql_table.to_owned(),
                source,
            })?
            .rows_stream::<scylla::value::Row>()
            .map_err(|error| SinkError::Rows {
                table: table.cql_table.to_owned(),
                reason: error.to_string(),
            })?;
        let mut deleted = 0_u64;
        while let Some(partition) = partitions.next().await {
            let partition = partition.map_err(|source| SinkError::Page {
                table: table.cql_table.to_owned(),
                source,
            })?;
            let bound = BoundWrite::time_first(&partition.columns, write_time);
            self.session
                .execute_unpaged(&prepared.delete_partition, bound)
                .await
                .map_err(write_error)?;
            deleted += 1;
        }
        tracing::info!(
            table = table.cql_table,
            partitions = deleted,
            "truncated: rows committed before the truncate are deleted, later ones kept"
        );
        Ok(())
    }

    /// The write time of `table`'s latest truncate (0 if none), re-read from Cassandra when the
    /// last reading is older than [`TRUNCATIONS_REFRESH`], so that a truncate another consumer
    /// applied is seen too. A failed re-read keeps what is known: the write that follows will
    /// meet the same outage and be retried.
    async fn truncated_at(&self, table: &str) -> i64 {
        if let Ok(mut read_at) = self.truncations.read_at.try_lock() {
            if read_at.elapsed() >= TRUNCATIONS_REFRESH {
                *read_at = Instant::now();
                match read_truncations(&self.session, &self.keyspace).await {
                    Ok(write_times) => self.truncations.merge(write_times),
                    Err(error) => tracing::debug!("cannot re-read the truncations: {error}"),
                }
            }
        }
        self.truncations.latest(table)
    }
}

async fn read_truncations(
    session: &Session,
    keyspace: &str,
) -> Result<HashMap<String, i64>, SinkError> {
    let table = format!("{keyspace}.truncations");
    let rows = session
        .query_unpaged(format!("SELECT table_name, truncated_at FROM {table}"), ())
        .await
        .map_err(|source| SinkError::Read {
            table: table.clone(),
            source,
        })?
        .into_rows_result()
        .map_err(|error| SinkError::Rows {
            table: table.clone(),
            reason: error.to_string(),
        })?;
    let rows_error = |reason: String| SinkError::Rows {
        table: table.clone(),
        reason,
    };
    let mut write_times = HashMap::new();
    for row in rows
        .rows::<(String, i64)>()
        .map_err(|error| rows_error(error.to_string()))?
    {
        let (name, truncated_at) = row.map_err(|error| rows_error(error.to_string()))?;
        write_times.insert(name, truncated_at);
    }
    Ok(write_times)
}

/// A write's values with its write time bound where the statement's `USING TIMESTAMP ?` is:
/// after the values of an INSERT, before the key of a DELETE. Serialised in place, so the row's
/// values are not copied for every write.
pub struct BoundWrite<'a> {
    values: &'a [Option<CqlValue>],
    write_time: i64,
    time_first: bool,
}

impl<'a> BoundWrite<'a> {
    pub fn time_last(values: &'a [Option<CqlValue>], write_time: i64) -> Self {
        Self {
            values,
            write_time,
            time_first: false,
        }
    }

    pub fn time_first(values: &'a [Option<CqlValue>], write_time: i64) -> Self {
        Self {
            values,
            write_time,
            time_first: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the statement takes {columns} values, the write has {values} and a write time")]
struct ColumnCountMismatch {
    columns: usize,
    values: usize,
}

impl SerializeRow for BoundWrite<'_> {
    fn serialize(
        &self,
        context: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        let columns = context.columns();
        if columns.len() != self.values.len() + 1 {
            return Err(SerializationError::new(ColumnCountMismatch {
                columns: columns.len(),
                values: self.values.len(),
            }));
        }
        let (time_column, value_columns) = if self.time_first {
            (&columns[0], &columns[1..])
        } else {
            (&columns[columns.len() - 1], &columns[..columns.len() - 1])
        };
        if self.time_first {
            self.write_time
                .serialize(time_column.typ(), writer.make_cell_writer())?;
        }
        for (column, value) in value_columns.iter().zip(self.values) {
            value.serialize(column.typ(), writer.make_cell_writer())?;
        }
        if !self.time_first {
            self.write_time
                .serialize(time_column.typ(), writer.make_cell_writer())?;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        false
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

/// The prepared INSERT (an upsert in Cassandra) of every mapped column of `table`, at the
/// change's write time (bound last).
pub fn upsert_cql(keyspace: &str, table: &TableMapping) -> String {
    let names: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let markers = vec!["?"; names.len()].join(", ");
    format!(
        "INSERT INTO {keyspace}.{} ({}) VALUES ({markers}) USING TIMESTAMP ?",
        table.cql_table,
        names.join(", ")
    )
}

/// The prepared DELETE of the row (or, with the partition key's length, the partition) whose
/// first `key_len` columns are bound, at the change's write time (bound first).
fn delete_cql(keyspace: &str, table: &TableMapping, key_len: usize) -> String {
    let conditions: Vec<String> = table.columns[..key_len]
        .iter()
        .map(|column| format!("{} = ?", column.name))
        .collect();
    format!(
        "DELETE FROM {keyspace}.{} USING TIMESTAMP ? WHERE {}",
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
            delete_cql("ks", klines, klines.key_len),
            "DELETE FROM ks.klines USING TIMESTAMP ? WHERE symbol = ? AND interval = ? AND month = ? AND open_time = ?"
        );
        assert_eq!(
            delete_cql("ks", klines, klines.partition_key_len),
            "DELETE FROM ks.klines USING TIMESTAMP ? WHERE symbol = ? AND interval = ? AND month = ?"
        );
        let upsert = upsert_cql("ks", klines);
        assert!(
            upsert.starts_with(
                "INSERT INTO ks.klines (symbol, interval, month, open_time, open_price"
            ),
            "{upsert}"
        );
        assert!(upsert.ends_with(") USING TIMESTAMP ?"), "{upsert}");
        assert_eq!(upsert.matches('?').count(), klines.columns.len() + 1);
    }
}
