//! Checks that a binary's help shows no secret. clap prints an environment variable's value
//! beside its flag (`[env: PG_URL=host=… password=…]`) and a flag's default (`[default: …]`)
//! unless told not to; every binary's tests run their help through [`assert_help_hides_secrets`]
//! with every secret variable set to a marker.

use std::path::Path;
use std::process::Command;

/// Every variable that carries a password, in any binary or in `cargo xtask`'s environment.
pub const SECRET_VARIABLES: &[&str] = &[
    "PG_URL",
    "PG_ADMIN_URL",
    "PG_GRAFANA_URL",
    "CASSANDRA_PASSWORD",
    "CASSANDRA_ADMIN_PASSWORD",
    "CASSANDRA_GRAFANA_PASSWORD",
    "CDC_PG_SUPERUSER_PASSWORD",
    "CDC_INGESTER_PASSWORD",
    "CDC_DEBEZIUM_PASSWORD",
    "CDC_GRAFANA_PASSWORD",
    "CDC_CASSANDRA_ADMIN_PASSWORD",
    "CDC_CASSANDRA_CONSUMER_PASSWORD",
    "CDC_CASSANDRA_GRAFANA_PASSWORD",
];

/// What each secret variable is set to; the help must not contain it.
const MARKER: &str = "help-secret-marker";

/// Runs `binary <subcommand…> --help` and `-h` for each subcommand (the empty one is the
/// binary itself) with every [`SECRET_VARIABLES`] set to a marker, and fails the test when the
/// help shows a marker, or a default on a line about a password. `mentioned` are variables the
/// help must name, so that the check looks at the help it means to.
pub fn assert_help_hides_secrets(binary: &Path, subcommands: &[&[&str]], mentioned: &[&str]) {
    let mut all_help = String::new();
    for subcommand in subcommands {
        for flag in ["--help", "-h"] {
            let output = Command::new(binary)
                .args(*subcommand)
                .arg(flag)
                .envs(
                    SECRET_VARIABLES
                        .iter()
                        .map(|name| (*name, format!("password={MARKER}-{name}"))),
                )
                .output()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
            let help = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{} {subcommand:?} {flag} failed:\n{}",
                binary.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                !help.contains(MARKER),
                "{} {subcommand:?} {flag} shows a secret from the environment:\n{help}",
                binary.display()
            );
            for entry in flag_entries(&help) {
                let lower = entry.to_lowercase();
                assert!(
                    !(lower.contains("password") && lower.contains("[default:")),
                    "{} {subcommand:?} {flag} shows a default password:\n{entry}",
                    binary.display()
                );
            }
            all_help.push_str(&help);
        }
    }
    for name in mentioned {
        assert!(
            all_help.contains(name),
            "the help of {} never names {name}:\n{all_help}",
            binary.display()
        );
    }
}

/// The help split into one entry per flag: a line starting (after indentation) with `-`
/// begins an entry, which runs until the next one, so a flag's doc, `[env: …]` and
/// `[default: …]` are together however clap wraps them.
fn flag_entries(help: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines() {
        if line.trim_start().starts_with('-') || entries.is_empty() {
            entries.push(String::new());
        }
        if let Some(entry) = entries.last_mut() {
            entry.push_str(line);
            entry.push('\n');
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::flag_entries;

    #[test]
    fn a_flag_entry_holds_its_wrapped_lines() {
        let help = "Options:\n      --pg-password <X>\n          The password\n\n          [default: p]\n  -h, --help\n";
        let entries = flag_entries(help);
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert!(entries[1].contains("--pg-password") && entries[1].contains("[default: p]"));
    }
}
