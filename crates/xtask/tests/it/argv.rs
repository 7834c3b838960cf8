//! No process of the stack carries a password on its command line, where any user of the
//! machine can read it (`ps -eo args`, `/proc/<pid>/cmdline`): the services `cargo xtask stack
//! up` started, and every process they started, are checked against every configured password.

use std::collections::BTreeSet;
use std::path::PathBuf;

use stack_fixtures::required_env;

/// The password in a libpq key=value connection string.
fn password_in(url: &str) -> String {
    url.split_whitespace()
        .find_map(|pair| pair.strip_prefix("password="))
        .unwrap_or_else(|| panic!("a connection string without a password"))
        .to_owned()
}

/// Every password the stack is configured with.
fn configured_passwords() -> BTreeSet<String> {
    let mut passwords: BTreeSet<String> = ["PG_URL", "PG_ADMIN_URL", "PG_GRAFANA_URL"]
        .into_iter()
        .map(|name| password_in(&required_env(name)))
        .collect();
    for name in [
        "CASSANDRA_PASSWORD",
        "CASSANDRA_ADMIN_PASSWORD",
        "CASSANDRA_GRAFANA_PASSWORD",
    ] {
        passwords.insert(required_env(name));
    }
    // Debezium's is not in the tests' environment: its variable, or the local default.
    passwords.insert(std::env::var("CDC_DEBEZIUM_PASSWORD").unwrap_or_else(|_| "debezium".into()));
    passwords
}

/// The pids in the state directory's pid files and all their descendants.
fn stack_processes() -> BTreeSet<u32> {
    let state_dir = PathBuf::from(required_env("CDC_STATE_DIR"));
    let mut stack: BTreeSet<u32> = ["postgres", "kafka", "connect", "cassandra"]
        .iter()
        .map(|service| {
            let pid_file = state_dir.join(service).join("pid");
            let recorded = std::fs::read_to_string(&pid_file)
                .unwrap_or_else(|error| panic!("{} is not running: {error}", pid_file.display()));
            // `<pid> <start time>`
            recorded
                .split_whitespace()
                .next()
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| panic!("no pid in {}: {recorded:?}", pid_file.display()))
        })
        .collect();
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    loop {
        let before = stack.len();
        for pid in &all {
            if stack_fixtures::processes::parent_pid(*pid)
                .is_some_and(|parent| stack.contains(&parent))
            {
                stack.insert(*pid);
            }
        }
        if stack.len() == before {
            return stack;
        }
    }
}

/// Whether `argument` shows `password`: as a whole argument, a `…=password` setting, or inside
/// a URL or connection string.
fn shows(argument: &str, password: &str) -> bool {
    argument == password
        || argument.ends_with(&format!("={password}"))
        || argument.contains(&format!("password={password} "))
        || argument.contains(&format!(":{password}@"))
}

#[test]
fn no_stack_process_has_a_password_on_its_command_line() {
    let passwords = configured_passwords();
    let processes = stack_processes();
    let mut shown = Vec::new();
    let mut checked = 0;
    for pid in &processes {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue; // ended meanwhile
        };
        checked += 1;
        for argument in String::from_utf8_lossy(&cmdline).split('\0') {
            for password in &passwords {
                if shows(argument, password) {
                    shown.push(format!("pid {pid}: {argument}"));
                }
            }
        }
    }
    assert!(checked >= 4, "only {checked} stack processes found");
    assert!(
        shown.is_empty(),
        "passwords on command lines:\n  {}",
        shown.join("\n  ")
    );
}

#[test]
fn a_password_is_recognised_in_each_form_it_could_take() {
    for argument in ["s3cret", "-Dpassword=s3cret", "postgres://u:s3cret@h/db"] {
        assert!(shows(argument, "s3cret"), "{argument}");
    }
    assert!(!shows("/usr/lib/postgresql/15/bin/postgres", "postgres"));
}
