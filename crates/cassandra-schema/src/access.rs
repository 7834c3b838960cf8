//! Who may do what in the pipeline's Cassandra: the roles, their grants and the login of a
//! client, as CQL statements and session settings. Pure: no IO.
//!
//! Cassandra runs with `PasswordAuthenticator` and `CassandraAuthorizer`. The setup (`cargo
//! xtask stack up`, compose's `cassandra-init`) logs in once as the default `cassandra`
//! superuser to create [`ADMIN_ROLE`], then as the admin: it disables `cassandra`, creates the
//! schema and the two login roles, and grants each only what it needs on the keyspace:
//! [`CONSUMER_ROLE`] reads and writes it, [`GRAFANA_ROLE`] only reads it.

use std::fmt;

use scylla::client::session_builder::SessionBuilder;

/// The superuser the setup creates and uses; nothing else logs in as it.
pub const ADMIN_ROLE: &str = "cdc_admin";
/// The consumer's role: SELECT and MODIFY on the pipeline's keyspace.
pub const CONSUMER_ROLE: &str = "cdc_consumer";
/// Grafana's role: SELECT on the pipeline's keyspace.
pub const GRAFANA_ROLE: &str = "grafana";
/// The superuser every new Cassandra node has, until the setup disables it.
pub const DEFAULT_SUPERUSER: &str = "cassandra";
/// Its well-known password.
pub const DEFAULT_SUPERUSER_PASSWORD: &str = "cassandra";

/// A role and its password. `Debug` leaves the password out, so a logged or panicking
/// configuration does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl Login {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A session builder for `nodes`, logging in as `login` when given.
pub fn session_builder<N: AsRef<str>>(
    nodes: impl IntoIterator<Item = N>,
    login: Option<&Login>,
) -> SessionBuilder {
    let builder = SessionBuilder::new().known_nodes(nodes);
    match login {
        Some(login) => builder.user(&login.username, &login.password),
        None => builder,
    }
}

/// A CQL string literal. Role statements take no bind markers, so passwords are quoted here.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Creates the admin superuser when it does not exist yet. Its password is set only then: the
/// setup logs in with it afterwards, so changing it is an operator's `ALTER ROLE`.
pub fn create_admin(password: &str) -> String {
    format!(
        "CREATE ROLE IF NOT EXISTS {ADMIN_ROLE} WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = {}",
        quote(password)
    )
}

/// Takes the default superuser's rights and login away (idempotent). Cassandra recreates it
/// only on a node that has no roles at all.
pub fn disable_default_superuser() -> String {
    format!("ALTER ROLE {DEFAULT_SUPERUSER} WITH SUPERUSER = false AND LOGIN = false")
}

/// Creates a login role that is no superuser, with `password`, when it does not exist yet.
pub fn create_login_role(role: &str, password: &str) -> String {
    format!(
        "CREATE ROLE IF NOT EXISTS {role} WITH LOGIN = true AND SUPERUSER = false AND PASSWORD = {}",
        quote(password)
    )
}

/// Gives an existing role a new password. Cassandra refuses a second change within a few
/// seconds, so the setup changes it only when the role cannot log in with `password`.
pub fn set_password(role: &str, password: &str) -> String {
    format!("ALTER ROLE {role} WITH PASSWORD = {}", quote(password))
}

/// What the consumer needs on its keyspace: writing rows (INSERT, DELETE and TRUNCATE are all
/// MODIFY) and reading them (`verify`). No CREATE, ALTER or DROP.
pub fn consumer_grants(keyspace: &str, role: &str) -> Vec<String> {
    vec![
        format!("GRANT SELECT ON KEYSPACE {keyspace} TO {role}"),
        format!("GRANT MODIFY ON KEYSPACE {keyspace} TO {role}"),
    ]
}

/// What Grafana needs on the keyspace: reading it.
pub fn reader_grants(keyspace: &str, role: &str) -> Vec<String> {
    vec![format!("GRANT SELECT ON KEYSPACE {keyspace} TO {role}")]
}

/// Everything the admin runs after the schema exists: the default superuser disabled, the
/// consumer's and Grafana's roles (with these passwords when they are new), and their grants
/// on `keyspace`.
pub fn setup_statements(
    keyspace: &str,
    consumer_password: &str,
    grafana_password: &str,
) -> Vec<String> {
    let mut statements = vec![
        disable_default_superuser(),
        create_login_role(CONSUMER_ROLE, consumer_password),
        create_login_role(GRAFANA_ROLE, grafana_password),
    ];
    statements.extend(consumer_grants(keyspace, CONSUMER_ROLE));
    statements.extend(reader_grants(keyspace, GRAFANA_ROLE));
    statements
}

/// Why Cassandra refused to let this client in, when it did: no credentials given where they
/// are required, or credentials it rejects. `None` for every other failure, including
/// Cassandra's "Unable to perform authentication" while its auth tables are not readable yet,
/// which passes once the node is up.
pub fn refused_login(error: &scylla::errors::NewSessionError) -> Option<String> {
    use scylla::errors::{
        ConnectionError, ConnectionPoolError, ConnectionSetupRequestErrorKind, DbError,
        MetadataError, NewSessionError,
    };
    let NewSessionError::MetadataError(MetadataError::ConnectionPoolError(
        ConnectionPoolError::Broken {
            last_connection_error: ConnectionError::ConnectionSetupRequestError(setup),
        },
    )) = error
    else {
        return None;
    };
    match setup.get_error() {
        ConnectionSetupRequestErrorKind::MissingAuthentication => {
            Some("Cassandra requires a login and none was given".to_owned())
        }
        ConnectionSetupRequestErrorKind::DbError(DbError::AuthenticationError, message)
            if !message.starts_with("Unable to perform authentication") =>
        {
            Some(message.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_quoted_as_cql_literals() {
        assert_eq!(quote("it's"), "'it''s'");
        assert!(create_admin("a'b").ends_with("PASSWORD = 'a''b'"));
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let shown = format!("{:?}", Login::new("cdc_consumer", "s3cret-marker"));
        assert!(shown.contains("cdc_consumer"));
        assert!(!shown.contains("s3cret-marker"), "{shown}");
    }

    #[test]
    fn the_consumer_may_read_and_write_and_grafana_only_read() {
        let statements = setup_statements("crypto_data", "c", "g");
        let grants: Vec<&str> = statements
            .iter()
            .map(String::as_str)
            .filter(|statement| statement.starts_with("GRANT"))
            .collect();
        assert_eq!(
            grants,
            [
                "GRANT SELECT ON KEYSPACE crypto_data TO cdc_consumer",
                "GRANT MODIFY ON KEYSPACE crypto_data TO cdc_consumer",
                "GRANT SELECT ON KEYSPACE crypto_data TO grafana",
            ]
        );
        assert_eq!(statements[0], disable_default_superuser());
        assert!(
            statements
                .iter()
                .filter(|statement| statement.contains("ROLE"))
                .all(|statement| !statement.contains("SUPERUSER = true")),
            "{statements:?}"
        );
    }
}
