//! The house rules a reviewer would otherwise check by hand (as rust-analyzer's tidy test does):
//! every Rust source file starts with a `//!` module doc saying what it is for, and every
//! dependency of every crate comes through the workspace's `[workspace.dependencies]` table, so
//! the workspace has one version of each, and library crates enable only the tokio features
//! they use.

use std::path::{Path, PathBuf};

use crate::workspace;

/// Every `.rs` file under `dir`, `target` directories left out.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    assert!(files.len() > 50, "only {} Rust files found", files.len());
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let first = text.lines().find(|line| !line.trim().is_empty());
            !first.is_some_and(|line| line.trim_start().starts_with("//!"))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a `//!` module doc at the top:\n{}",
        undocumented.join("\n")
    );
}

/// The dependency lines of a Cargo manifest that bypass the workspace table: in the
/// `[dependencies]`, `[dev-dependencies]` and `[build-dependencies]` sections (target-specific
/// ones included), every entry must be `name.workspace = true` or `name = { workspace = true, … }`.
fn bypassing_the_workspace(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line.trim_end_matches(']').ends_with("dependencies");
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let through_workspace =
            line.contains(".workspace = true") || line.replace(' ', "").contains("{workspace=true");
        if !through_workspace {
            found.push(line.to_owned());
        }
    }
    found
}

/// Each crate's manifest under `crates/`: its path, its text, and whether the crate has a
/// binary (`src/main.rs`).
fn crate_manifests() -> Vec<(PathBuf, String, bool)> {
    let crates = std::fs::read_dir(workspace().join("crates")).expect("crates/");
    crates
        .flatten()
        .filter_map(|entry| {
            let manifest = entry.path().join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).ok()?;
            Some((manifest, text, entry.path().join("src/main.rs").exists()))
        })
        .collect()
}

/// The lines `check` finds in `manifests`, each prefixed with its manifest's path.
fn offending_lines<'a>(
    manifests: impl Iterator<Item = &'a (PathBuf, String, bool)>,
    check: fn(&str) -> Vec<String>,
) -> Vec<String> {
    manifests
        .flat_map(|(manifest, text, _)| {
            check(text)
                .into_iter()
                .map(move |line| format!("{}: {line}", manifest.display()))
        })
        .collect()
}

#[test]
fn every_dependency_comes_through_the_workspace_table() {
    let manifests = crate_manifests();
    assert!(
        manifests.len() >= 8,
        "only {} crates found",
        manifests.len()
    );
    let bypassing = offending_lines(manifests.iter(), bypassing_the_workspace);
    assert!(
        bypassing.is_empty(),
        "dependencies that bypass [workspace.dependencies]:\n{}",
        bypassing.join("\n")
    );
}

#[test]
fn the_manifest_check_sees_a_bypassing_dependency() {
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nanyhow.workspace = true\nnix = { workspace = true, features = [\"signal\"] }\nrand = \"0.9\"\n\n[dev-dependencies]\nlocal = { path = \"../local\" }\n";
    assert_eq!(
        bypassing_the_workspace(manifest),
        ["rand = \"0.9\"", "local = { path = \"../local\" }"]
    );
}

/// The `tokio` lines of a Cargo manifest that enable all of tokio (`features = ["full"]`).
fn enabling_all_of_tokio(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("tokio ") || line.starts_with("tokio="))
        .filter(|line| line.contains("\"full\""))
        .map(str::to_owned)
        .collect()
}

#[test]
fn only_binaries_enable_all_of_tokio() {
    let root = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    let table = root
        .lines()
        .find(|line| line.starts_with("tokio ") || line.starts_with("tokio="))
        .expect("tokio in [workspace.dependencies]");
    assert!(
        !table.contains("features"),
        "the workspace table enables tokio features for every crate: {table}"
    );
    let manifests = crate_manifests();
    let libraries: Vec<_> = manifests.iter().filter(|(_, _, binary)| !binary).collect();
    let enabling = offending_lines(libraries.iter().copied(), enabling_all_of_tokio);
    assert!(
        libraries.len() >= 4,
        "only {} library crates found",
        libraries.len()
    );
    assert!(
        enabling.is_empty(),
        "library crates enabling all of tokio:\n{}",
        enabling.join("\n")
    );
}

#[test]
fn the_tokio_check_sees_full() {
    let manifest = "[dependencies]\ntokio = { workspace = true, features = [\"full\"] }\ntokio-util.workspace = true\n\n[dev-dependencies]\ntokio = { workspace = true, features = [\"macros\", \"rt\"] }\n";
    assert_eq!(
        enabling_all_of_tokio(manifest),
        ["tokio = { workspace = true, features = [\"full\"] }"]
    );
}
