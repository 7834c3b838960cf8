//! The pinned service versions, read from the workspace's `.env`.
//!
//! `docker compose` reads the same file for variable substitution, so the native stack that the
//! tests exercise runs exactly the versions that compose users run.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub postgres: String,
    pub kafka: String,
    pub debezium: String,
    pub cassandra: String,
}

impl Versions {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read pinned versions from {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses the file as compose does (`dotenvy`: `KEY=value` lines, comments, quotes).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let values = dotenvy::from_read_iter(text.as_bytes())
            .collect::<Result<HashMap<String, String>, _>>()
            .context("not a .env file")?;
        let take = |key: &str| {
            values
                .get(key)
                .filter(|value| !value.is_empty())
                .cloned()
                .with_context(|| format!("{key} is missing"))
        };
        Ok(Self {
            postgres: take("POSTGRES_VERSION")?,
            kafka: take("KAFKA_VERSION")?,
            debezium: take("DEBEZIUM_VERSION")?,
            cassandra: take("CASSANDRA_VERSION")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pinned_versions_ignoring_comments() {
        let text = "# pins\nPOSTGRES_VERSION=15\nKAFKA_VERSION=4.3.1\n\nDEBEZIUM_VERSION=3.6.3.Final\nCASSANDRA_VERSION=\"5.0.7\"\n";
        let versions = Versions::parse(text).unwrap();
        assert_eq!(versions.kafka, "4.3.1");
        assert_eq!(versions.cassandra, "5.0.7");
    }

    #[test]
    fn names_the_missing_version() {
        let error = Versions::parse("POSTGRES_VERSION=15\nKAFKA_VERSION=4.3.1\n").unwrap_err();
        assert!(error.to_string().contains("DEBEZIUM_VERSION"), "{error}");
    }

    #[test]
    fn rejects_a_line_without_equals_sign() {
        let error = Versions::parse("KAFKA_VERSION 4.3.1\n").unwrap_err();
        assert!(
            format!("{error:#}").contains("KAFKA_VERSION 4.3.1"),
            "{error:#}"
        );
    }
}
