//! What README promises of the Cassandra the stack sets up: a login is required, the default
//! `cassandra` superuser cannot log in, and each role may do only what it is granted. The
//! grants the stack gives `crypto_data` are read with `LIST PERMISSIONS` (nothing touches its
//! data); what they allow is tried on a keyspace of the test's own, granted the same way.

use std::collections::BTreeSet;

use cassandra_schema::access::{self, Login};
use scylla::client::session::Session;
use stack_fixtures::cassandra::{TestKeyspace, session};
use stack_fixtures::{StackEnvironment, unique_name};

/// Why Cassandra refused `login` (or no login), panicking when it let the client in.
async fn refusal(stack: &StackEnvironment, login: Option<&Login>) -> String {
    let error = access::session_builder(stack.cassandra_nodes.split(','), login)
        .build()
        .await
        .err()
        .unwrap_or_else(|| panic!("Cassandra let {login:?} in"));
    access::refused_login(&error)
        .unwrap_or_else(|| panic!("{login:?} failed for another reason than its login: {error}"))
}

#[tokio::test]
async fn a_login_is_required_and_the_default_superuser_has_none() {
    let stack = StackEnvironment::from_env();
    session(&stack, &stack.cassandra_consumer)
        .await
        .expect("the consumer's role logs in (the control case)");
    let no_login = refusal(&stack, None).await;
    assert!(no_login.contains("requires a login"), "{no_login}");
    let wrong = Login::new(&stack.cassandra_consumer.username, "not-the-password");
    let reason = refusal(&stack, Some(&wrong)).await;
    assert!(reason.contains("incorrect"), "{reason}");
    let default_superuser = Login::new(
        access::DEFAULT_SUPERUSER,
        access::DEFAULT_SUPERUSER_PASSWORD,
    );
    let reason = refusal(&stack, Some(&default_superuser)).await;
    assert!(reason.contains("not permitted to log in"), "{reason}");
}

/// `(resource, permission)` of every permission granted to `role` itself.
async fn permissions_of(admin: &Session, role: &str) -> BTreeSet<(String, String)> {
    let rows = admin
        .query_unpaged(format!("LIST ALL PERMISSIONS OF {role} NORECURSIVE"), ())
        .await
        .expect("LIST PERMISSIONS")
        .into_rows_result()
        .expect("rows");
    rows.rows::<(String, String, String, String)>()
        .expect("role, username, resource, permission")
        .map(|row| row.expect("a permission"))
        .map(|(_, _, resource, permission)| (resource, permission))
        // The tests' own keyspaces, granted by the fixtures.
        .filter(|(resource, _)| !resource.starts_with("<keyspace it_"))
        .collect()
}

#[tokio::test]
async fn the_stack_grants_crypto_data_as_readme_says_and_no_role_but_the_admin_is_superuser() {
    let stack = StackEnvironment::from_env();
    let admin = session(&stack, &stack.cassandra_admin)
        .await
        .expect("the admin logs in");
    let on_crypto_data = |permissions: &[&str]| -> BTreeSet<(String, String)> {
        permissions
            .iter()
            .map(|permission| {
                (
                    "<keyspace crypto_data>".to_owned(),
                    (*permission).to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        permissions_of(&admin, access::CONSUMER_ROLE).await,
        on_crypto_data(&["MODIFY", "SELECT"])
    );
    assert_eq!(
        permissions_of(&admin, access::GRAFANA_ROLE).await,
        on_crypto_data(&["SELECT"])
    );
    let roles = admin
        .query_unpaged(
            "SELECT role, is_superuser, can_login FROM system_auth.roles",
            (),
        )
        .await
        .expect("reading the roles")
        .into_rows_result()
        .expect("rows");
    for row in roles.rows::<(String, bool, bool)>().expect("roles") {
        let (role, superuser, can_login) = row.expect("a role");
        match role.as_str() {
            access::ADMIN_ROLE => assert!(superuser && can_login, "{role}"),
            access::DEFAULT_SUPERUSER => {
                assert!(!superuser && !can_login, "{role} is not disabled");
            }
            _ => assert!(!superuser, "{role} is a superuser"),
        }
    }
}

/// Runs `statement` as `who`, returning Cassandra's refusal when it refuses it as unauthorized
/// and panicking on any other failure.
async fn run(session: &Session, who: &str, statement: &str) -> Result<(), String> {
    match session.query_unpaged(statement, ()).await {
        Ok(_) => Ok(()),
        Err(error) => {
            use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
            assert!(
                matches!(
                    &error,
                    ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                        DbError::Unauthorized,
                        _
                    ))
                ),
                "{who}: `{statement}` failed for another reason: {error}"
            );
            Err(error.to_string())
        }
    }
}

#[tokio::test]
async fn each_cassandra_role_may_do_only_what_readme_grants() {
    let stack = StackEnvironment::from_env();
    let keyspace = TestKeyspace::create(&stack, "cassandra_roles").await;
    let ks = keyspace.name();
    let consumer = session(&stack, &stack.cassandra_consumer).await.unwrap();
    let grafana = session(&stack, &stack.cassandra_grafana).await.unwrap();
    // A keyspace nobody was granted.
    let ungranted = unique_name("ungranted");
    let admin = session(&stack, &stack.cassandra_admin).await.unwrap();
    admin
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {ungranted} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            (),
        )
        .await
        .unwrap();
    admin
        .query_unpaged(
            format!("CREATE TABLE {ungranted}.t (id int PRIMARY KEY)"),
            (),
        )
        .await
        .unwrap();

    let insert = format!(
        "INSERT INTO {ks}.klines (symbol, interval, month, open_time) VALUES ('BTCUSDT', '1m', '2025-11-01', '2025-11-06 00:00:00+0000')"
    );
    let select = format!("SELECT * FROM {ks}.klines");
    let allowed = [
        ("consumer", &consumer, insert.clone()),
        ("consumer", &consumer, select.clone()),
        (
            "consumer",
            &consumer,
            format!(
                "DELETE FROM {ks}.klines WHERE symbol = 'BTCUSDT' AND interval = '1m' AND month = '2025-11-01' AND open_time = '2025-11-06 00:00:00+0000'"
            ),
        ),
        ("consumer", &consumer, format!("TRUNCATE {ks}.ticker_24h")),
        ("grafana", &grafana, select.clone()),
    ];
    for (who, session, statement) in &allowed {
        if let Err(reason) = run(session, who, statement).await {
            panic!("{who} was refused `{statement}`: {reason}");
        }
    }
    let refused = [
        ("grafana", &grafana, insert.clone()),
        ("grafana", &grafana, format!("TRUNCATE {ks}.klines")),
        (
            "consumer",
            &consumer,
            format!("CREATE TABLE {ks}.sneaky (id int PRIMARY KEY)"),
        ),
        (
            "consumer",
            &consumer,
            format!("ALTER TABLE {ks}.klines WITH default_time_to_live = 1"),
        ),
        ("consumer", &consumer, format!("DROP KEYSPACE {ks}")),
        (
            "consumer",
            &consumer,
            format!(
                "CREATE KEYSPACE {ungranted}_2 WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
        ),
        (
            "consumer",
            &consumer,
            format!("INSERT INTO {ungranted}.t (id) VALUES (1)"),
        ),
        (
            "consumer",
            &consumer,
            format!("SELECT * FROM {ungranted}.t"),
        ),
        (
            "consumer",
            &consumer,
            "CREATE ROLE sneaky WITH LOGIN = true AND PASSWORD = 'x'".to_owned(),
        ),
        (
            "consumer",
            &consumer,
            format!("GRANT ALL ON KEYSPACE {ks} TO {}", access::GRAFANA_ROLE),
        ),
    ];
    let mut allowed_wrongly = Vec::new();
    for (who, session, statement) in &refused {
        if run(session, who, statement).await.is_ok() {
            allowed_wrongly.push(format!("{who}: {statement}"));
        }
    }
    admin
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {ungranted}"), ())
        .await
        .unwrap();
    assert!(
        allowed_wrongly.is_empty(),
        "allowed what README does not grant:\n  {}",
        allowed_wrongly.join("\n  ")
    );
}

/// `stack up` on a stack that is up (its Cassandra set up already, the default superuser
/// disabled) succeeds, twice: the setup is idempotent.
#[test]
fn stack_up_on_a_running_stack_succeeds_twice() {
    for round in 1..=2 {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["stack", "up"])
            .output()
            .expect("cannot run xtask");
        assert!(
            output.status.success(),
            "stack up, round {round}, failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
