//! `xtask --help` (and every subcommand's) shows no password: neither a secret variable's
//! value from the environment nor a default password.

#[test]
fn help_shows_no_password() {
    stack_fixtures::help::assert_help_hides_secrets(
        std::path::Path::new(env!("CARGO_BIN_EXE_xtask")),
        &[
            &[],
            &["stack"],
            &["stack", "up"],
            &["stack", "down"],
            &["stack", "kill"],
            &["stack", "status"],
            &["stack", "env"],
            &["stack", "logs"],
            &["test"],
            &["run"],
            &["drill"],
            &["capture-fixtures"],
        ],
        &[
            "CDC_PG_SUPERUSER_PASSWORD",
            "CDC_INGESTER_PASSWORD",
            "CDC_DEBEZIUM_PASSWORD",
            "CDC_GRAFANA_PASSWORD",
            "CDC_CASSANDRA_ADMIN_PASSWORD",
            "CDC_CASSANDRA_CONSUMER_PASSWORD",
            "CDC_CASSANDRA_GRAFANA_PASSWORD",
        ],
    );
}
