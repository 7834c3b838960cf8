//! Running cargo from a process that cargo started (xtask, a test, a benchmark) as a user would
//! from the shell: the same cargo, without the variables cargo set for the package it runs.

use std::process::Command;

/// The cargo that runs this process (`CARGO`), so that the same toolchain builds everything.
pub fn program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// [`program`], without the variables cargo sets for the package it runs (see
/// [`without_package_variables`]).
pub fn cargo() -> Command {
    let mut command = Command::new(program());
    without_package_variables(&mut command);
    command
}

/// Removes from `command`'s environment the variables cargo sets for the package it runs
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_…`): build scripts that watch them (ring's) would otherwise
/// rebuild, and everything above them, whenever plain `cargo test` and `cargo xtask test` take
/// turns.
pub fn without_package_variables(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if is_set_by_cargo_for_a_package(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }
    command
}

/// Whether `name` is one of the variables cargo sets for the package it runs.
fn is_set_by_cargo_for_a_package(name: &str) -> bool {
    [
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_package_variables_are_cargo_s_per_package_ones() {
        assert!(is_set_by_cargo_for_a_package("CARGO_MANIFEST_DIR"));
        assert!(is_set_by_cargo_for_a_package("CARGO_PKG_VERSION"));
        assert!(is_set_by_cargo_for_a_package("CARGO_BIN_EXE_cdc-consumer"));
        assert!(!is_set_by_cargo_for_a_package("CARGO"));
        assert!(!is_set_by_cargo_for_a_package("CARGO_HOME"));
        assert!(!is_set_by_cargo_for_a_package("CARGO_TARGET_DIR"));
    }
}
