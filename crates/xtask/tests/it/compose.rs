//! `docker compose` cannot run here, so the compose file is checked against the repository
//! instead: every version it pins comes from `.env` (the file the native stack installs from),
//! every file it mounts exists, and the image build uses the same toolchain pins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {relative}: {error}"))
}

/// `.env`'s KEY=value lines.
fn pinned() -> BTreeMap<String, String> {
    read(".env")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// Every `${…}` in `text`: the variable's name and whether it has a `:-` default.
fn substitutions(text: &str) -> Vec<(String, bool)> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(inside, _)| match inside.split_once(":-") {
            Some((name, _)) => (name.to_owned(), true),
            None => (inside.to_owned(), false),
        })
        .collect()
}

#[test]
fn every_compose_variable_without_a_default_is_pinned_in_dot_env() {
    let pins = pinned();
    let compose = read("docker-compose.yml");
    let used = substitutions(&compose);
    assert!(!used.is_empty());
    for (name, has_default) in used {
        assert!(
            has_default || pins.contains_key(&name),
            "docker-compose.yml uses ${{{name}}}, which .env does not define"
        );
    }
}

#[test]
fn the_services_the_native_stack_runs_use_its_pinned_versions() {
    let compose = read("docker-compose.yml");
    for image in [
        "postgres:${POSTGRES_VERSION}",
        "apache/kafka:${KAFKA_VERSION}",
        "quay.io/debezium/connect:${DEBEZIUM_VERSION}",
        "cassandra:${CASSANDRA_VERSION}",
    ] {
        assert!(
            compose.contains(&format!("image: {image}")),
            "docker-compose.yml does not run {image}"
        );
    }
}

#[test]
fn every_mounted_file_exists() {
    let compose = read("docker-compose.yml");
    let mounts: Vec<&str> = compose
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- ./"))
        .filter_map(|mount| mount.split(':').next())
        .collect();
    assert!(mounts.len() >= 8, "found only {mounts:?}");
    for mount in mounts {
        assert!(
            workspace().join(mount).exists(),
            "docker-compose.yml mounts ./{mount}, which does not exist"
        );
    }
}

#[test]
fn the_image_is_built_with_the_pinned_toolchain() {
    let pins = pinned();
    let dockerfile = read("Dockerfile");
    for name in ["RUST_VERSION", "DEBIAN_RELEASE"] {
        let value = pins
            .get(name)
            .unwrap_or_else(|| panic!(".env does not pin {name}"));
        assert!(
            dockerfile.contains(&format!("ARG {name}={value}")),
            "the Dockerfile's default {name} differs from .env's {value}"
        );
    }
}

#[test]
fn every_sql_file_of_the_native_stack_initialises_the_compose_database() {
    let compose = read("docker-compose.yml");
    let sql = std::fs::read_dir(workspace().join("sql/postgres")).expect("sql/postgres");
    for entry in sql.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sql") {
            assert!(
                compose.contains(&format!(
                    "./sql/postgres/{name}:/docker-entrypoint-initdb.d/"
                )),
                "docker-compose.yml does not run sql/postgres/{name} when PostgreSQL initialises"
            );
        }
    }
}
