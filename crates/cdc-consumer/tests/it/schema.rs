//! `cdc-consumer schema` creates the Cassandra schema with the configured keyspace, replication
//! and retention, as the admin role; the consumer's own role may not; a replication Cassandra
//! rejects stops it with a clear error. The consumer itself creates nothing: on a keyspace
//! without the schema it stops, saying how to create it.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use stack_fixtures::{StackEnvironment, unique_name};

use crate::required_env;

/// Runs `cdc-consumer` with `arguments` and `environment` on the stack's Cassandra as `login`;
/// fails the test when it has not exited within a minute. Returns its status and stderr.
pub fn run_consumer(
    arguments: &[&str],
    login: Option<&cassandra_schema::access::Login>,
    environment: &[(&str, &str)],
) -> (ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cdc-consumer"));
    command
        .args(arguments)
        .env("CASSANDRA_NODES", required_env("CASSANDRA_NODES"))
        .env("KAFKA_BROKERS", required_env("KAFKA_BROKERS"))
        .env("CONSUMER_METRICS_LISTEN", "127.0.0.1:0")
        .env_remove("CASSANDRA_USERNAME")
        .env_remove("CASSANDRA_PASSWORD")
        .envs(environment.iter().copied())
        .stderr(Stdio::piped());
    if let Some(login) = login {
        command
            .env("CASSANDRA_USERNAME", &login.username)
            .env("CASSANDRA_PASSWORD", &login.password);
    }
    let mut child = command.spawn().expect("cannot start cdc-consumer");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for cdc-consumer") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("cdc-consumer {arguments:?} was still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).unwrap();
    (status, stderr)
}

async fn drop_keyspace(stack: &StackEnvironment, keyspace: &str) {
    stack_fixtures::cassandra::session(stack, &stack.cassandra_admin)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
        .await
        .expect("cannot drop the keyspace");
}

#[tokio::test]
async fn creates_the_schema_with_the_configured_retention() {
    let stack = StackEnvironment::from_env();
    let keyspace = unique_name("schema");
    let (status, stderr) = run_consumer(
        &["schema"],
        Some(&stack.cassandra_admin),
        &[
            ("CASSANDRA_KEYSPACE", keyspace.as_str()),
            ("CONSUMER_TICKER_RETENTION_DAYS", "7"),
        ],
    );
    assert!(status.success(), "cdc-consumer schema failed:\n{stderr}");

    let session = stack_fixtures::cassandra::session(&stack, &stack.cassandra_admin)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let ttl = |table: &'static str| {
        let (session, keyspace) = (&session, &keyspace);
        async move {
            session
                .query_unpaged(
                    "SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
                    (keyspace, table),
                )
                .await
                .expect("cannot read the schema")
                .into_rows_result()
                .expect("not rows")
                .single_row::<(i32,)>()
                .expect("the table does not exist")
                .0
        }
    };
    assert_eq!(ttl("ticker_24h").await, 7 * 86_400);
    assert_eq!(ttl("klines").await, 400 * 86_400);
    drop_keyspace(&stack, &keyspace).await;
}

#[tokio::test]
async fn the_consumers_role_may_not_create_the_schema() {
    let stack = StackEnvironment::from_env();
    let keyspace = unique_name("schema_refused");
    let (status, stderr) = run_consumer(
        &["schema"],
        Some(&stack.cassandra_consumer),
        &[("CASSANDRA_KEYSPACE", keyspace.as_str())],
    );
    // Removed whatever happens, should the role have been allowed after all.
    drop_keyspace(&stack, &keyspace).await;
    assert!(
        !status.success(),
        "the consumer's role created keyspace {keyspace}"
    );
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("has no CREATE permission"),
        "the schema should be refused for lack of permission:\n{stderr}"
    );
}

#[test]
fn a_replication_cassandra_rejects_stops_the_schema_command_naming_it() {
    let stack = StackEnvironment::from_env();
    // A name of its own: removed with the test's leftovers, should it have been created.
    let keyspace = unique_name("bad_replication");
    let (status, stderr) = run_consumer(
        &["schema"],
        Some(&stack.cassandra_admin),
        &[
            ("CASSANDRA_KEYSPACE", keyspace.as_str()),
            ("CASSANDRA_REPLICATION", "{'class': 'NoSuchStrategy'}"),
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("NoSuchStrategy"),
        "the error should show the rejected statement:\n{stderr}"
    );
}

#[test]
fn the_consumer_stops_on_a_keyspace_without_the_schema_saying_how_to_create_it() {
    let stack = StackEnvironment::from_env();
    let name = unique_name("no_schema");
    let (status, stderr) = run_consumer(
        &[],
        Some(&stack.cassandra_consumer),
        &[
            ("CASSANDRA_KEYSPACE", name.as_str()),
            ("CONSUMER_TOPICS", name.as_str()),
            ("CONSUMER_GROUP_ID", name.as_str()),
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("is the schema there?") && stderr.contains("cdc-consumer schema"),
        "the error should say how to create the schema:\n{stderr}"
    );
}

/// The keyspace's replication factor and the klines table's TTL, as Cassandra reports them.
async fn live_settings(
    session: &scylla::client::session::Session,
    keyspace: &str,
) -> (String, i32) {
    let (replication,): (std::collections::BTreeMap<String, String>,) = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .expect("cannot read the keyspace")
        .into_rows_result()
        .expect("not rows")
        .single_row()
        .expect("the keyspace does not exist");
    let (ttl,): (i32,) = session
        .query_unpaged(
            "SELECT default_time_to_live FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = 'klines'",
            (keyspace,),
        )
        .await
        .expect("cannot read the table")
        .into_rows_result()
        .expect("not rows")
        .single_row()
        .expect("the table does not exist");
    (
        replication
            .get("replication_factor")
            .cloned()
            .unwrap_or_default(),
        ttl,
    )
}

#[tokio::test]
async fn an_operators_replication_and_retention_stand_and_are_reported_unless_applied() {
    let stack = StackEnvironment::from_env();
    let keyspace = unique_name("operator_settings");
    let run = |extra: &[&str]| {
        let arguments: Vec<&str> = ["schema"].iter().chain(extra).copied().collect();
        run_consumer(
            &arguments,
            Some(&stack.cassandra_admin),
            &[("CASSANDRA_KEYSPACE", keyspace.as_str())],
        )
    };
    let (status, stderr) = run(&[]);
    assert!(status.success(), "cdc-consumer schema failed:\n{stderr}");
    let admin = stack_fixtures::cassandra::session(&stack, &stack.cassandra_admin)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    for change in [
        format!(
            "ALTER KEYSPACE {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 2}}"
        ),
        format!("ALTER TABLE {keyspace}.klines WITH default_time_to_live = 86400"),
    ] {
        admin
            .query_unpaged(change, ())
            .await
            .expect("the operator's change");
    }

    let (status, stderr) = run(&[]);
    assert!(status.success(), "cdc-consumer schema failed:\n{stderr}");
    assert_eq!(
        live_settings(&admin, &keyspace).await,
        ("2".to_owned(), 86_400),
        "the operator's settings changed"
    );
    assert!(
        stderr.contains(&format!("keyspace {keyspace} has replication"))
            && stderr.contains("klines has default_time_to_live 86400, configured 34560000")
            && stderr.contains("left as it is"),
        "each difference should be reported:\n{stderr}"
    );

    let (status, stderr) = run(&["--apply-settings"]);
    assert!(status.success(), "cdc-consumer schema failed:\n{stderr}");
    assert_eq!(
        live_settings(&admin, &keyspace).await,
        ("1".to_owned(), 400 * 86_400),
        "--apply-settings applies the configured settings"
    );
    drop_keyspace(&stack, &keyspace).await;
}
