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

/// The statements that create the schema if missing and then apply `settings` to it; each is
/// idempotent, so they can run at every start.
pub fn statements(settings: &SchemaSettings) -> Vec<String> {
    let keyspace = &settings.keyspace;
    let mut statements: Vec<String> = split_statements(SCHEMA_CQL)
        .into_iter()
        .map(|statement| statement.replace(DEFAULT_KEYSPACE, keyspace))
        .collect();
    // CREATE … IF NOT EXISTS leaves an existing keyspace or table as it is, so the settings are
    // applied with ALTERs, which also take effect when an operator changes them later.
    statements.push(format!(
        "ALTER KEYSPACE {keyspace} WITH replication = {}",
        settings.replication
    ));
    statements.push(format!(
        "ALTER TABLE {keyspace}.ticker_24h WITH default_time_to_live = {}",
        settings.ticker_retention_secs
    ));
    statements.push(format!(
        "ALTER TABLE {keyspace}.klines WITH default_time_to_live = {}",
        settings.kline_retention_secs
    ));
    statements
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
        let tail: Vec<&str> = statements
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "ALTER KEYSPACE market WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
                "ALTER TABLE market.ticker_24h WITH default_time_to_live = 604800",
                "ALTER TABLE market.klines WITH default_time_to_live = 86400",
            ]
        );
    }
}
