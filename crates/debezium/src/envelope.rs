//! The Debezium envelope: operation, source position and time, and the before/after rows, taken
//! from a decoded payload.

use crate::error::DecodeError;
use crate::value::{Row, Value};

/// What one Kafka message says.
// Returned by value once per message and consumed at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// The null-valued message that follows a delete so log compaction can drop the key.
    Tombstone,
    Event(ChangeEvent),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    pub op: Op,
    pub source: Source,
    /// The row before the change (updates and deletes; with `REPLICA IDENTITY DEFAULT` only its
    /// key columns are real).
    pub before: Option<Row>,
    /// The row after the change; for [`Op::Message`], the message itself: `prefix` and `content`.
    pub after: Option<Row>,
    /// When Debezium processed the change (not the commit time: see `Source::ts_ms`).
    pub ts_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
    /// A row read by the initial snapshot.
    Read,
    Truncate,
    /// A logical decoding message (`pg_logical_emit_message`).
    Message,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
            Op::Message => "m",
        }
    }

    fn parse(code: &str) -> Result<Self, DecodeError> {
        Ok(match code {
            "c" => Op::Create,
            "u" => Op::Update,
            "d" => Op::Delete,
            "r" => Op::Read,
            "t" => Op::Truncate,
            "m" => Op::Message,
            other => return Err(DecodeError::UnknownOp(other.to_owned())),
        })
    }
}

/// Where the change comes from, as Debezium's `source` block says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// `postgresql`.
    pub connector: String,
    pub db: String,
    pub schema: String,
    pub table: String,
    /// Position of the change in PostgreSQL's WAL.
    pub lsn: Option<i64>,
    /// Commit time in PostgreSQL, milliseconds since the epoch.
    pub ts_ms: i64,
    /// Commit time in microseconds, where the connector sends it.
    pub ts_us: Option<i64>,
    /// Commit time in nanoseconds, where the connector sends it.
    pub ts_ns: Option<i64>,
    pub tx_id: Option<i64>,
    /// `"true"`, `"false"`, `"first"`, `"last"`, `"incremental"`, … (a string in Debezium 2+).
    pub snapshot: Option<String>,
}

impl Source {
    /// `public.ticker_24h`.
    pub fn qualified_table(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    fn from_row(row: Row) -> Result<Self, DecodeError> {
        let mut fields = Fields {
            row,
            prefix: "source.",
        };
        Ok(Self {
            connector: fields.text("connector")?.unwrap_or_default(),
            db: fields.text("db")?.unwrap_or_default(),
            schema: fields.text("schema")?.unwrap_or_default(),
            table: fields.text("table")?.unwrap_or_default(),
            lsn: fields.int("lsn")?,
            ts_ms: fields.required("ts_ms", Fields::int)?,
            ts_us: fields.int("ts_us")?,
            ts_ns: fields.int("ts_ns")?,
            tx_id: fields.int("txId")?,
            snapshot: fields.snapshot_marker()?,
        })
    }
}

/// The change a decoded payload describes.
pub fn change_from_payload(payload: Value) -> Result<Change, DecodeError> {
    let Value::Row(row) = payload else {
        return Err(unexpected("payload".to_owned(), "struct", &payload));
    };
    let mut fields = Fields { row, prefix: "" };
    let op = Op::parse(&fields.required("op", Fields::text)?)?;
    let source = Source::from_row(fields.required("source", Fields::row)?)?;
    let after = match op {
        Op::Message => fields.row("message")?,
        _ => fields.row("after")?,
    };
    Ok(Change::Event(ChangeEvent {
        op,
        source,
        before: fields.row("before")?,
        after,
        ts_ms: fields.int("ts_ms")?,
    }))
}

/// Takes typed fields out of a decoded struct. Their types were checked against the message's
/// schema while decoding; this checks that the schema declared what an envelope needs.
struct Fields {
    row: Row,
    /// Prepended to field names in errors: `source.`.
    prefix: &'static str,
}

impl Fields {
    fn required<T>(
        &mut self,
        name: &str,
        take: fn(&mut Self, &str) -> Result<Option<T>, DecodeError>,
    ) -> Result<T, DecodeError> {
        take(self, name)?.ok_or_else(|| DecodeError::MissingField {
            path: self.path(name),
        })
    }

    fn text(&mut self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.row.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(unexpected(self.path(name), "string", &other)),
        }
    }

    fn int(&mut self, name: &str) -> Result<Option<i64>, DecodeError> {
        match self.row.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Int(number)) => Ok(Some(number)),
            Some(other) => Err(unexpected(self.path(name), "int64", &other)),
        }
    }

    fn row(&mut self, name: &str) -> Result<Option<Row>, DecodeError> {
        match self.row.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Row(row)) => Ok(Some(row)),
            Some(other) => Err(unexpected(self.path(name), "struct", &other)),
        }
    }

    /// Older Debezium versions sent `snapshot` as a boolean; keep it as text either way.
    fn snapshot_marker(&mut self) -> Result<Option<String>, DecodeError> {
        match self.row.take("snapshot") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(marker)) => Ok(Some(marker)),
            Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
            Some(other) => Err(unexpected(self.path("snapshot"), "string", &other)),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn unexpected(path: String, declared: &str, found: &Value) -> DecodeError {
    DecodeError::InvalidValue {
        path,
        declared: declared.to_owned(),
        reason: format!("an envelope needs a {declared} here, the schema gives {found:?}"),
    }
}
