//! `market-sim --help` (and every subcommand's) shows no password: neither a secret variable's
//! value from the environment nor a default password.

#[test]
fn help_shows_no_password() {
    stack_fixtures::help::assert_help_hides_secrets(
        std::path::Path::new(env!("CARGO_BIN_EXE_market-sim")),
        &[&[]],
        &["MARKET_SIM_LISTEN"],
    );
}
