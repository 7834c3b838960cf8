//! What README promises of the PostgreSQL the stack sets up: password (SCRAM) login only, and
//! least-privilege roles. Checked on a database of the test's own made by the same
//! `sql/postgres` files, on the stack's real server (`cargo xtask test` starts it).

use stack_fixtures::{StackEnvironment, TestDatabase, unique_name};

/// `url` with its password replaced by `password`, or removed when `None`.
fn with_password(url: &str, password: Option<&str>) -> String {
    url.split_whitespace()
        .filter(|pair| !pair.starts_with("password="))
        .map(str::to_owned)
        .chain(password.map(|password| format!("password={password}")))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn login(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test]
async fn a_login_without_the_right_password_is_refused() {
    let stack = StackEnvironment::from_env();
    let database = TestDatabase::create(&stack, &unique_name("login")).await;
    let url = database.ingester_url();
    login(&url)
        .await
        .expect("the right password logs in (the control case)");
    for (case, password) in [("no password", None), ("a wrong password", Some("wrong"))] {
        let refused = login(&with_password(&url, password))
            .await
            .err()
            .unwrap_or_else(|| panic!("a login with {case} was accepted"));
        // Without a password the client gives up once the server asks for one ("password
        // missing"); with a wrong one the server refuses it. Both mean a password is required.
        let reason = format!("{refused:?}");
        assert!(
            reason.contains("password"),
            "a login with {case} failed for another reason: {reason}"
        );
    }
}

/// Each role tries what README says it may not do; PostgreSQL must refuse with "permission
/// denied", and what it may do must work.
#[tokio::test]
async fn each_role_may_do_only_what_readme_grants() {
    let stack = StackEnvironment::from_env();
    let database = TestDatabase::create(&stack, &unique_name("roles")).await;
    let ingester = database.ingester().await;
    let grafana = stack_fixtures::connect_postgres(&database.grafana_url()).await;
    let debezium_url = with_password(
        &database
            .ingester_url()
            .replace("user=ingester", "user=debezium"),
        Some(&password_of("CDC_DEBEZIUM_PASSWORD", "debezium")),
    );
    let debezium = login(&debezium_url).await.expect("debezium logs in");

    let insert =
        "INSERT INTO ticker_24h (symbol, last_price, close_time) VALUES ('BTCUSDT', 1, now())";
    ingester
        .execute(insert, &[])
        .await
        .expect("the ingester may insert tickers");
    ingester
        .execute("UPDATE ticker_24h SET last_price = 2", &[])
        .await
        .expect("the ingester may update");
    grafana
        .query("SELECT * FROM ticker_24h", &[])
        .await
        .expect("grafana may read");

    let refusals: [(&str, &tokio_postgres::Client, &str); 8] = [
        ("ingester", &ingester, "DELETE FROM ticker_24h"),
        ("ingester", &ingester, "TRUNCATE ticker_24h"),
        ("ingester", &ingester, "CREATE TABLE sneaky (id int)"),
        ("ingester", &ingester, "SELECT * FROM price_alerts"),
        ("grafana", &grafana, insert),
        ("grafana", &grafana, "UPDATE ticker_24h SET last_price = 3"),
        ("grafana", &grafana, "DELETE FROM klines"),
        ("debezium", &debezium, insert),
    ];
    for (role, client, statement) in refusals {
        let refused = client
            .batch_execute(statement)
            .await
            .err()
            .unwrap_or_else(|| panic!("{role} was allowed to run: {statement}"));
        let reason = refused
            .as_db_error()
            .map_or_else(|| refused.to_string(), |error| error.message().to_owned());
        assert!(
            reason.contains("permission denied"),
            "{role}: {statement} failed for another reason: {reason}"
        );
    }
}

/// The password `cargo xtask` gives a role: its variable, or the local default README lists.
fn password_of(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}
