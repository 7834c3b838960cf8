//! The Cassandra schema of the pipeline's read side, as the statements that create it.
//!
//! One source, `sql/cassandra/schema.cql`, serves `cdc-consumer schema`, `cargo xtask stack up`
//! and the tests' keyspaces. The file is plain CQL with the defaults (keyspace `crypto_data`,
//! SimpleStrategy with one replica, 30 and 400 days of retention) so `cqlsh -f` works on it
//! too, as compose's `cassandra-init` runs it; `statements` adapts it to the configured keyspace, replication
//! and retention. Pure: no IO.
//!
//! [`access`] holds the other half of what the setup applies: the roles and their grants.

pub mod access;

/// The schema file, with the default keyspace, replication and retention.
pub const SCHEMA_CQL: &str = include_str!("../../../sql/cassandra/schema.cql");

use std::collections::BTreeMap;

/// The keyspace name the schema file uses.
pub const DEFAULT_KEYSPACE: &str = "crypto_data";

/// What an operator may choose about the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaSettings {
    pub keyspace: String,
    /// A CQL replication map, e.g. `{'class': 'NetworkTopologyStrategy', 'dc1': 3}`.
    pub replication: String,
    /// How long ticker rows live (the table's `default_time_to_live`), in seconds.
    pub ticker_retention_secs: u32,
    /// How long kline rows live, in seconds.
    pub kline_retention_secs: u32,
}

impl Default for SchemaSettings {
    fn default() -> Self {
        Self {
            keyspace: DEFAULT_KEYSPACE.to_owned(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned(),
            ticker_retention_secs: 30 * 86_400,
            kline_retention_secs: 400 * 86_400,
        }
    }
}

/// The statements that create the schema where it is missing, with `settings`' keyspace,
/// replication and retention; each is idempotent. An existing keyspace or table is left as it
/// is (`CREATE … IF NOT EXISTS`): an operator's later changes stand. [`differences`] says how
/// it differs from `settings`, and [`alterations`] changes it, when asked to.
pub fn statements(settings: &SchemaSettings) -> Vec<String> {
    let keyspace = &settings.keyspace;
    split_statements(SCHEMA_CQL)
        .into_iter()
        .map(|statement| statement.replace(DEFAULT_KEYSPACE, keyspace))
        .map(|statement| {
            if statement.starts_with("CREATE KEYSPACE") {
                format!(
                    "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {}",
                    settings.replication
                )
            } else if let Some(ttl) = retention_of(&statement, settings) {
                with_default_ttl(&statement, ttl)
            } else {
                statement
            }
        })
        .collect()
}

/// The statements that give an existing keyspace and its tables `settings`' replication and
/// retention.
pub fn alterations(settings: &SchemaSettings) -> Vec<String> {
    let keyspace = &settings.keyspace;
    vec![
        format!(
            "ALTER KEYSPACE {keyspace} WITH replication = {}",
            settings.replication
        ),
        format!(
            "ALTER TABLE {keyspace}.ticker_24h WITH default_time_to_live = {}",
            settings.ticker_retention_secs
        ),
        format!(
            "ALTER TABLE {keyspace}.klines WITH default_time_to_live = {}",
            settings.kline_retention_secs
        ),
    ]
}

/// The retention a CREATE TABLE statement of the schema gets from `settings`, if it has one.
fn retention_of(statement: &str, settings: &SchemaSettings) -> Option<u32> {
    let table = statement
        .strip_prefix("CREATE TABLE IF NOT EXISTS ")?
        .split_whitespace()
        .next()?
        .rsplit('.')
        .next()?;
    match table {
        "ticker_24h" => Some(settings.ticker_retention_secs),
        "klines" => Some(settings.kline_retention_secs),
        _ => None,
    }
}

fn with_default_ttl(statement: &str, ttl: u32) -> String {
    const OPTION: &str = "default_time_to_live = ";
    match statement.split_once(OPTION) {
        Some((before, after)) => {
            let rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{before}{OPTION}{ttl}{rest}")
        }
        None => statement.to_owned(),
    }
}

/// A keyspace's settings as Cassandra reports them (`system_schema`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSettings {
    /// The replication map, e.g. `class` → `org.apache.cassandra.locator.SimpleStrategy`.
    pub replication: BTreeMap<String, String>,
    /// Each table's `default_time_to_live`, in seconds.
    pub table_ttls: BTreeMap<String, i32>,
}

/// How the live keyspace differs from `settings`, one sentence per setting; empty when it
/// matches. Replication classes compare by their short name (`SimpleStrategy`).
pub fn differences(
    settings: &SchemaSettings,
    live: &LiveSettings,
) -> Result<Vec<String>, SchemaError> {
    let keyspace = &settings.keyspace;
    let mut found = Vec::new();
    let wanted = normalized(parse_cql_map(&settings.replication)?);
    let actual = normalized(live.replication.clone());
    if wanted != actual {
        found.push(format!(
            "keyspace {keyspace} has replication {actual:?}, configured {wanted:?}"
        ));
    }
    for (table, wanted) in [
        ("ticker_24h", settings.ticker_retention_secs),
        ("klines", settings.kline_retention_secs),
    ] {
        let actual = live.table_ttls.get(table).copied();
        if actual.map(i64::from) != Some(i64::from(wanted)) {
            found.push(format!(
                "table {keyspace}.{table} has default_time_to_live {}, configured {wanted}",
                actual.map_or_else(|| "(none)".to_owned(), |ttl| ttl.to_string())
            ));
        }
    }
    Ok(found)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error(
        "the replication {0:?} is not a CQL map such as {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )]
    Replication(String),
}

/// The entries of a flat CQL map literal such as `{'class': 'SimpleStrategy', 'dc1': 3}`, with
/// quotes removed.
pub fn parse_cql_map(text: &str) -> Result<BTreeMap<String, String>, SchemaError> {
    let invalid = || SchemaError::Replication(text.to_owned());
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or_else(invalid)?;
    let unquote = |part: &str| part.trim().trim_matches('\'').to_owned();
    inner
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once(':').ok_or_else(invalid)?;
            Ok((unquote(key), unquote(value)))
        })
        .collect()
}

/// Replication class names as their short form, the way CQL accepts them.
fn normalized(mut map: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if let Some(class) = map.get_mut("class") {
        if let Some(short) = class.rsplit('.').next() {
            *class = short.to_owned();
        }
    }
    map
}

/// Splits a CQL script into statements: `--` comment lines are dropped and `;` ends a
/// statement. The schema keeps semicolons out of string literals so this stays this simple.
pub fn split_statements(script: &str) -> Vec<String> {
    let without_comments: String = script
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_drops_comment_lines() {
        let script = "-- a keyspace\nCREATE KEYSPACE k WITH x = 1;\n\n  -- a table\nCREATE TABLE t (a int PRIMARY KEY);\n";
        assert_eq!(
            split_statements(script),
            vec![
                "CREATE KEYSPACE k WITH x = 1",
                "CREATE TABLE t (a int PRIMARY KEY)"
            ]
        );
    }

    #[test]
    fn settings_rename_the_keyspace_and_set_replication_and_retention() {
        let settings = SchemaSettings {
            keyspace: "market".to_owned(),
            replication: "{'class': 'NetworkTopologyStrategy', 'dc1': 3}".to_owned(),
            ticker_retention_secs: 7 * 86_400,
            kline_retention_secs: 86_400,
        };
        let statements = statements(&settings);
        assert!(
            statements
                .iter()
                .all(|statement| !statement.contains(DEFAULT_KEYSPACE))
        );
        assert!(
            statements[0].starts_with("CREATE KEYSPACE IF NOT EXISTS market"),
            "{}",
            statements[0]
        );
        assert!(
            statements
                .iter()
                .any(|s| s.starts_with("CREATE TABLE IF NOT EXISTS market.ticker_24h"))
        );
        assert!(
            statements
                .iter()
                .any(|s| s.starts_with("CREATE TABLE IF NOT EXISTS market.klines"))
        );
        assert!(
            statements[0]
                .ends_with("WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}"),
            "{}",
            statements[0]
        );
        let ticker = statements
            .iter()
            .find(|s| s.starts_with("CREATE TABLE IF NOT EXISTS market.ticker_24h"))
            .unwrap();
        assert!(
            ticker.ends_with("default_time_to_live = 604800"),
            "{ticker}"
        );
        assert!(
            statements.iter().all(|s| !s.starts_with("ALTER")),
            "creating never alters what exists"
        );
    }

    #[test]
    fn differences_name_each_setting_an_operator_changed() {
        let settings = SchemaSettings::default();
        let mut live = LiveSettings {
            replication: [
                ("class", "org.apache.cassandra.locator.SimpleStrategy"),
                ("replication_factor", "1"),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
            table_ttls: [("ticker_24h", 2_592_000), ("klines", 34_560_000)]
                .into_iter()
                .map(|(table, ttl)| (table.to_owned(), ttl))
                .collect(),
        };
        assert_eq!(differences(&settings, &live), Ok(vec![]));
        live.replication
            .insert("replication_factor".to_owned(), "3".to_owned());
        live.table_ttls.insert("klines".to_owned(), 86_400);
        let found = differences(&settings, &live).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("replication"), "{found:?}");
        assert!(
            found[1]
                .contains("crypto_data.klines has default_time_to_live 86400, configured 34560000"),
            "{found:?}"
        );
        assert_eq!(
            differences(
                &SchemaSettings {
                    replication: "SimpleStrategy".to_owned(),
                    ..SchemaSettings::default()
                },
                &live
            ),
            Err(SchemaError::Replication("SimpleStrategy".to_owned()))
        );
    }
}
