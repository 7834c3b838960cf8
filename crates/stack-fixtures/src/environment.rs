//! Where the stack is: the client environment `cargo xtask test` sets for the tests.

use cassandra_schema::access::Login;

/// The stack's addresses, the PostgreSQL roles' connection strings (libpq key=value form, on the
/// pipeline's database) and the Cassandra roles' logins.
#[derive(Clone, Debug)]
pub struct StackEnvironment {
    /// The superuser, which creates and drops the slices' databases.
    pub pg_admin_url: String,
    /// The `ingester` role.
    pub pg_url: String,
    /// The read-only `grafana` role.
    pub pg_grafana_url: String,
    pub kafka_brokers: String,
    pub kafka_connect_url: String,
    pub cassandra_nodes: String,
    /// Cassandra's admin superuser, which creates and drops the slices' keyspaces.
    pub cassandra_admin: Login,
    /// The consumer's role, which may read and write the keyspaces granted to it.
    pub cassandra_consumer: Login,
    /// Grafana's role, which may only read.
    pub cassandra_grafana: Login,
    /// The workspace, whose `sql/postgres` and `debezium/` files the slices use.
    pub workspace_root: std::path::PathBuf,
    /// Replicas of the slices' topics: 1 on the plain stack, 3 on the high-availability one.
    pub kafka_replication_factor: i16,
    /// The CQL replication map of the slices' keyspaces, as the pipeline's keyspace has it.
    pub cassandra_replication: String,
}

impl StackEnvironment {
    /// Reads the environment `cargo xtask test` sets; panics naming the first variable missing,
    /// so a test run without the stack fails loudly instead of skipping.
    pub fn from_env() -> Self {
        Self {
            pg_admin_url: required_env("PG_ADMIN_URL"),
            pg_url: required_env("PG_URL"),
            pg_grafana_url: required_env("PG_GRAFANA_URL"),
            kafka_brokers: required_env("KAFKA_BROKERS"),
            kafka_connect_url: required_env("KAFKA_CONNECT_URL"),
            cassandra_nodes: required_env("CASSANDRA_NODES"),
            cassandra_admin: login_from_env("CASSANDRA_ADMIN"),
            cassandra_consumer: login_from_env("CASSANDRA"),
            cassandra_grafana: login_from_env("CASSANDRA_GRAFANA"),
            workspace_root: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
            kafka_replication_factor: required_env("CDC_KAFKA_REPLICATION_FACTOR")
                .parse()
                .unwrap_or_else(|error| panic!("CDC_KAFKA_REPLICATION_FACTOR: {error}")),
            cassandra_replication: required_env("CASSANDRA_REPLICATION"),
        }
    }
}

/// `<prefix>_USERNAME` and `<prefix>_PASSWORD`.
fn login_from_env(prefix: &str) -> Login {
    Login::new(
        required_env(&format!("{prefix}_USERNAME")),
        required_env(&format!("{prefix}_PASSWORD")),
    )
}

/// A setting from `cargo xtask test`'s environment; panics naming it when it is missing.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real stack; run them with `cargo xtask test`"
        )
    })
}

/// `url` (libpq key=value form) with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    url.split_whitespace()
        .filter(|pair| !pair.starts_with("dbname="))
        .chain([format!("dbname={database}").as_str()])
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database(
                "host=127.0.0.1 port=5432 user=x password=y dbname=crypto_db",
                "it_a"
            ),
            "host=127.0.0.1 port=5432 user=x password=y dbname=it_a"
        );
    }
}
