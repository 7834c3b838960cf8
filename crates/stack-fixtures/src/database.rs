//! A PostgreSQL database of a test's own, with the pipeline's schema, dropped with the test.

use std::path::PathBuf;

use anyhow::Context;

use crate::cleanup;
use crate::environment::{StackEnvironment, with_database};

/// A fresh database named `name` holding the pipeline's tables, roles' grants and publication,
/// exactly as `sql/postgres/*.sql` makes them for the pipeline's own database.
pub struct TestDatabase {
    name: String,
    stack: StackEnvironment,
}

/// The schema as the version before partitioning made it (plain tables), for upgrade tests.
const EARLIER_SCHEMA: &str = include_str!("earlier_schema.sql");

impl TestDatabase {
    /// Creates the database and applies the schema; panics with the reason when it cannot.
    pub async fn create(stack: &StackEnvironment, name: &str) -> Self {
        let database = Self::create_empty(stack, name).await;
        database.apply_schema().await;
        database
    }

    /// Creates the database with the schema an install made before partitioning has: plain
    /// `ticker_24h` and `klines`, published as they are. [`TestDatabase::apply_schema`] then
    /// upgrades it as `stack up` would.
    pub async fn create_earlier(stack: &StackEnvironment, name: &str) -> Self {
        let database = Self::create_empty(stack, name).await;
        database
            .run_as_admin(EARLIER_SCHEMA, "the earlier schema")
            .await;
        database
    }

    async fn create_empty(stack: &StackEnvironment, name: &str) -> Self {
        // Dropped (and so removed) even if applying a schema fails afterwards.
        let database = Self {
            name: name.to_owned(),
            stack: stack.clone(),
        };
        let admin = connect(&stack.pg_admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
        database
    }

    /// Runs `sql/postgres/*.sql` in name order as the superuser, as `cargo xtask stack up` does
    /// on every start; panics with the file and the reason when one fails.
    pub async fn apply_schema(&self) {
        let client = self.admin().await;
        for file in schema_files(&self.stack) {
            let sql = std::fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|error| panic!("{} in {}: {error:?}", file.display(), self.name));
        }
    }

    /// Creates the daily partitions of both market-data tables for the UTC days `first` to
    /// `last` (inclusive; YYYY-MM-DD, or PostgreSQL's `yesterday`, `today`, `tomorrow`), as the
    /// ingester does before it writes: a test writing rows of its own must first give them a
    /// partition.
    pub async fn ensure_partitions(&self, first: &str, last: &str) {
        let client = self.admin().await;
        client
            .batch_execute("SET TimeZone = 'UTC'")
            .await
            .expect("SET TimeZone");
        for table in ["ticker_24h", "klines"] {
            client
                .query(
                    "SELECT partitions.ensure($1, $2::text::date, $3::text::date)",
                    &[&table, &first, &last],
                )
                .await
                .unwrap_or_else(|error| {
                    panic!("partitions of {table} from {first} to {last}: {error:?}")
                });
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `ingester` role on this database.
    pub fn ingester_url(&self) -> String {
        with_database(&self.stack.pg_url, &self.name)
    }

    /// The superuser on this database.
    pub fn admin_url(&self) -> String {
        with_database(&self.stack.pg_admin_url, &self.name)
    }

    /// The read-only `grafana` role on this database.
    pub fn grafana_url(&self) -> String {
        with_database(&self.stack.pg_grafana_url, &self.name)
    }

    /// A connection as the `ingester` role.
    pub async fn ingester(&self) -> tokio_postgres::Client {
        connect(&self.ingester_url()).await
    }

    /// A connection as the superuser.
    pub async fn admin(&self) -> tokio_postgres::Client {
        connect(&self.admin_url()).await
    }

    /// Runs `sql` (statements separated by `;`) as the superuser; panics naming `what` and the
    /// database when it fails.
    pub async fn run_as_admin(&self, sql: &str, what: &str) {
        self.admin()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|error| panic!("{what} in {}: {error:?}", self.name));
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (stack, name) = (self.stack.clone(), self.name.clone());
        cleanup::block_on_cleanup(&format!("dropping database {name}"), async move {
            drop_database(&stack, &name).await
        });
    }
}

/// `sql/postgres/*.sql` in name order, as `cargo xtask stack up` applies them.
fn schema_files(stack: &StackEnvironment) -> Vec<PathBuf> {
    let directory = stack.workspace_root.join("sql/postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "sql"))
        .collect();
    files.sort();
    files
}

/// Connects with `url`, panicking with the reason when it cannot.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    try_connect(url)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

pub async fn try_connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let redacted: String = url
        .split_whitespace()
        .filter(|pair| !pair.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ");
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL ({redacted})"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Drops database `name`, closing its connections; its replication slots must be gone first.
pub async fn drop_database(stack: &StackEnvironment, name: &str) -> anyhow::Result<()> {
    try_connect(&stack.pg_admin_url)
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("DROP DATABASE {name}"))
}
