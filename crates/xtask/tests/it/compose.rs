//! `docker compose` cannot run here, so the compose file is checked against the repository
//! instead: every version it pins comes from `.env` (the file the native stack installs from),
//! every file it mounts exists, and the image build uses the same toolchain pins.

use crate::workspace;
use std::collections::BTreeMap;

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

/// The compose file as compose-go, the Compose Specification's reference loader (the one Docker
/// Compose uses), resolves it with `.env` for `profiles`, from an environment holding nothing but
/// what Go itself needs; `tools/compose-check` fails on any load error or warning, such as an
/// unset variable.
fn resolved_project(profiles: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new("go")
        .args(["run", "-buildvcs=false", "."])
        .arg(workspace())
        .args(profiles)
        .current_dir(workspace().join("tools/compose-check"))
        .env_clear()
        .envs(
            std::env::vars()
                .filter(|(name, _)| name.starts_with("GO") || name == "PATH" || name == "HOME"),
        )
        .output()
        .expect("cannot run `go` (Go 1.26 or newer is needed for the compose check)");
    assert!(
        output.status.success(),
        "compose-go rejected docker-compose.yml with profiles {profiles:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("compose-check prints the project as JSON")
}

#[test]
fn compose_go_loads_the_file_for_every_profile_without_a_warning() {
    for profiles in [&[][..], &["offline"]] {
        let project = resolved_project(profiles);
        assert!(project["services"]["postgres"].is_object(), "{project}");
    }
}

/// Where each stateful image keeps its data: PostgreSQL's `PGDATA` (default
/// `/var/lib/postgresql/data`), Cassandra's `/var/lib/cassandra`, and the log dirs of the
/// apache/kafka image (`KAFKA_LOG_DIRS`, default `/tmp/kraft-combined-logs`). Data kept anywhere
/// else is lost when the container is recreated.
#[test]
fn every_stateful_service_keeps_its_data_on_a_named_volume_where_its_image_writes_it() {
    let project = resolved_project(&["offline"]);
    for (service, variable, default) in [
        ("postgres", "PGDATA", "/var/lib/postgresql/data"),
        ("kafka", "KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs"),
        ("cassandra", "", "/var/lib/cassandra"),
    ] {
        let definition = &project["services"][service];
        let data_path = definition["environment"][variable]
            .as_str()
            .unwrap_or(default);
        let on_a_named_volume = definition["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|volume| volume["type"] == "volume" && volume["target"] == data_path);
        assert!(
            on_a_named_volume,
            "{service} writes its data to {data_path}, which is on no named volume: {}",
            definition["volumes"]
        );
    }
}

#[test]
fn every_published_port_binds_to_loopback_unless_told_otherwise() {
    let project = resolved_project(&["offline"]);
    let services = project["services"].as_object().expect("services");
    let mut published = 0;
    for (name, service) in services {
        for port in service["ports"].as_array().into_iter().flatten() {
            published += 1;
            assert_eq!(
                port["host_ip"], "127.0.0.1",
                "{name} publishes {port} beyond this machine, with development passwords"
            );
        }
    }
    assert!(published >= 5, "only {published} published ports found");
}

/// While its init scripts run, the postgres image's temporary server listens on the Unix socket
/// only: a health check over the socket would let the services that wait for PostgreSQL start
/// against a database that is not ready.
#[test]
fn postgres_is_healthy_only_once_it_accepts_tcp_connections() {
    let project = resolved_project(&[]);
    let check = project["services"]["postgres"]["healthcheck"]["test"].to_string();
    assert!(
        check.contains("pg_isready") && check.contains("-h 127.0.0.1"),
        "postgres' health check does not go over TCP: {check}"
    );
}

#[test]
fn with_the_offline_profile_the_ingester_starts_after_the_simulator() {
    let project = resolved_project(&["offline"]);
    let waits_for = &project["services"]["ingester"]["depends_on"]["market-sim"];
    assert_eq!(waits_for["condition"], "service_started", "{waits_for}");
}

/// The variables the Debezium Connect image's entrypoint reads by name; every other setting of
/// the worker must be a `CONNECT_*` variable, which the entrypoint turns into a worker property
/// (`CONNECT_OFFSET_FLUSH_INTERVAL_MS` → `offset.flush.interval.ms`).
const CONNECT_IMAGE_VARIABLES: &[&str] = &[
    "BOOTSTRAP_SERVERS",
    "GROUP_ID",
    "CONFIG_STORAGE_TOPIC",
    "OFFSET_STORAGE_TOPIC",
    "STATUS_STORAGE_TOPIC",
    "HOST_NAME",
    "REST_PORT",
    "REST_HOST_NAME",
    "ADVERTISED_PORT",
    "ADVERTISED_HOST_NAME",
    "OFFSET_FLUSH_INTERVAL_MS",
    "OFFSET_FLUSH_TIMEOUT_MS",
    "SHUTDOWN_TIMEOUT",
    "KEY_CONVERTER",
    "VALUE_CONVERTER",
    "HEAP_OPTS",
    "LOG_LEVEL",
];

/// A Connect worker's environment must be read by someone: the image's entrypoint (by name or
/// as `CONNECT_*` properties) or the connector configuration (`${env:NAME}`). The internal
/// topics' replication factors must fit the compose file's brokers, or the workers cannot create
/// them (the worker's default is 3).
#[test]
fn every_connect_worker_setting_is_one_the_image_or_the_connector_reads() {
    let project = resolved_project(&[]);
    let connector = read("debezium/postgres-connector.json");
    let services = project["services"].as_object().expect("services");
    let brokers = services
        .values()
        .filter(|service| {
            service["image"]
                .as_str()
                .is_some_and(|image| image.starts_with("apache/kafka:"))
        })
        .count();
    let workers: Vec<_> = services
        .iter()
        .filter(|(_, service)| {
            service["image"]
                .as_str()
                .is_some_and(|image| image.starts_with("quay.io/debezium/connect:"))
        })
        .collect();
    assert!(
        !workers.is_empty(),
        "no Connect worker in docker-compose.yml"
    );
    for (name, worker) in workers {
        let environment = worker["environment"].as_object().expect("environment");
        let mut properties = BTreeMap::new();
        for (variable, value) in environment {
            if let Some(property) = variable.strip_prefix("CONNECT_") {
                properties.insert(property.to_lowercase().replace('_', "."), value.clone());
            } else {
                assert!(
                    CONNECT_IMAGE_VARIABLES.contains(&variable.as_str())
                        || connector.contains(&format!("${{env:{variable}}}")),
                    "{name}: neither the Debezium image nor the connector reads {variable}"
                );
            }
        }
        for topic in ["config", "offset", "status"] {
            let property = format!("{topic}.storage.replication.factor");
            assert_eq!(
                properties.get(&property).and_then(|value| value.as_str()),
                Some(brokers.to_string().as_str()),
                "{name}: {property} must match the {brokers} broker(s)"
            );
        }
    }
}

/// A change to the pipeline's source must not rebuild librdkafka and every dependency: the build
/// keeps cargo's registry and target directory in BuildKit cache mounts.
#[test]
fn the_image_build_keeps_compiled_dependencies_between_builds() {
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.starts_with("# syntax=docker/dockerfile:1"),
        "cache mounts need the Dockerfile 1.x syntax"
    );
    for target in ["/usr/local/cargo/registry", "/src/target"] {
        assert!(
            dockerfile.contains(&format!("--mount=type=cache,target={target}")),
            "the build does not cache {target}"
        );
    }
}

/// The packages every Debian image has, slim included: the `Essential: yes` ones and everything
/// they depend on (Depends and Pre-Depends, transitively), read from this machine's dpkg.
fn packages_of_debian_slim() -> std::collections::BTreeSet<String> {
    let output = std::process::Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\n",
        ])
        .output()
        .expect("dpkg-query");
    let listing = String::from_utf8_lossy(&output.stdout);
    let mut dependencies: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut pending = vec![];
    for line in listing.lines() {
        let mut fields = line.split('\t');
        let (Some(package), Some(essential), Some(depends)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let names = depends
            .split([',', '|'])
            .filter_map(|dependency| dependency.split_whitespace().next())
            .map(|name| name.split(':').next().unwrap_or(name))
            .collect();
        dependencies.insert(package, names);
        if essential == "yes" {
            pending.push(package);
        }
    }
    let mut packages = std::collections::BTreeSet::new();
    while let Some(package) = pending.pop() {
        if packages.insert(package.to_owned()) {
            pending.extend(dependencies.get(package).into_iter().flatten());
        }
    }
    packages
}

/// The runtime image installs no package: every shared library the pipeline's binaries load must
/// come from a package Debian's slim image always has. Checked on the binaries as built here,
/// with `ldd` and `dpkg`.
#[test]
fn the_runtime_image_needs_no_package_beyond_debian_slim() {
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a runtime stage");
    assert!(
        !runtime.contains("apt-get"),
        "the runtime stage installs packages:\n{runtime}"
    );
    let build = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "ingester",
            "-p",
            "cdc-consumer",
            "-p",
            "market-sim",
        ])
        .current_dir(workspace())
        .status()
        .expect("cargo build");
    assert!(build.success(), "cannot build the pipeline's binaries");
    let slim = packages_of_debian_slim();
    assert!(
        slim.contains("libc6"),
        "no required packages found: {slim:?}"
    );
    for binary in ["ingester", "cdc-consumer", "market-sim"] {
        let path = workspace().join("target/debug").join(binary);
        let output = std::process::Command::new("ldd")
            .arg(&path)
            .output()
            .expect("ldd");
        assert!(output.status.success(), "ldd {}", path.display());
        let libraries: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once("=> ").map(|(_, rest)| rest.to_owned()))
            .filter_map(|rest| rest.split_whitespace().next().map(str::to_owned))
            .collect();
        assert!(!libraries.is_empty(), "{binary} loads no shared library?");
        for library in libraries {
            let owner = std::process::Command::new("dpkg")
                .args(["-S", &library])
                .output()
                .expect("dpkg -S");
            let owner = String::from_utf8_lossy(&owner.stdout);
            let package = owner
                .split(':')
                .next()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| panic!("{binary} loads {library}, which no package owns"));
            assert!(
                slim.contains(package),
                "{binary} loads {library} from {package}, which Debian's slim image may lack"
            );
        }
    }
}

/// The consumer logs in to Cassandra as `cdc_consumer` and Grafana as `grafana`, each with the
/// password cassandra-init gives that role; nothing logs in as the default superuser.
#[test]
fn the_consumer_and_grafana_log_in_to_cassandra_as_roles_of_their_own() {
    use cassandra_schema::access::{CONSUMER_ROLE, DEFAULT_SUPERUSER, GRAFANA_ROLE};
    let project = resolved_project(&["offline"]);
    let services = &project["services"];
    let init = &services["cassandra-init"]["environment"];
    let consumer = &services["cdc-consumer"]["environment"];
    assert_eq!(consumer["CASSANDRA_USERNAME"], CONSUMER_ROLE, "{consumer}");
    assert_eq!(
        consumer["CASSANDRA_PASSWORD"], init["CASSANDRA_CONSUMER_PASSWORD"],
        "the consumer's password is not the one cassandra-init sets"
    );
    assert_eq!(
        services["grafana"]["environment"]["GRAFANA_CASSANDRA_PASSWORD"],
        init["GRAFANA_CASSANDRA_PASSWORD"],
        "Grafana's Cassandra password is not the one cassandra-init sets"
    );
    for password in ["CASSANDRA_ADMIN_PASSWORD", "CASSANDRA_CONSUMER_PASSWORD"] {
        assert!(
            init[password]
                .as_str()
                .is_some_and(|value| !value.is_empty()),
            "cassandra-init gets no {password}: {init}"
        );
    }

    let datasources = read("grafana/provisioning/datasources/datasources.yml");
    let cassandra_source = datasources
        .split("  - name: ")
        .find(|source| source.starts_with("Cassandra"))
        .expect("a Cassandra data source");
    assert!(
        cassandra_source.contains(&format!("user: {GRAFANA_ROLE}\n"))
            && cassandra_source.contains("password: $GRAFANA_CASSANDRA_PASSWORD\n"),
        "Grafana's Cassandra data source does not log in as {GRAFANA_ROLE} with \
         $GRAFANA_CASSANDRA_PASSWORD:\n{cassandra_source}"
    );

    for (name, service) in services.as_object().expect("services") {
        for (variable, value) in service["environment"].as_object().into_iter().flatten() {
            assert!(
                !(variable.contains("USER") && value == DEFAULT_SUPERUSER),
                "{name} logs in as the default superuser ({variable})"
            );
        }
    }
}

/// Roles and schema exist before anything logs in: cassandra-init waits for Cassandra to be
/// healthy, the consumer and Grafana for cassandra-init to succeed. Cassandra's health check
/// needs no CQL login (no role may log in before cassandra-init has run).
#[test]
fn cassandra_init_runs_between_cassandra_and_its_clients() {
    let project = resolved_project(&[]);
    let services = &project["services"];
    assert_eq!(
        services["cassandra-init"]["depends_on"]["cassandra"]["condition"],
        "service_healthy"
    );
    for client in ["cdc-consumer", "grafana"] {
        assert_eq!(
            services[client]["depends_on"]["cassandra-init"]["condition"],
            "service_completed_successfully",
            "{client} does not wait for cassandra-init"
        );
    }
    let check = services["cassandra"]["healthcheck"]["test"].to_string();
    assert!(
        check.contains("nodetool") && !check.contains("cqlsh"),
        "Cassandra's health check should not need a CQL login: {check}"
    );
}

/// cassandra-init grants exactly what `cargo xtask stack up` grants `crypto_data`, and disables
/// the default superuser the same way.
#[test]
fn cassandra_init_grants_what_the_native_stack_grants() {
    use cassandra_schema::access;
    let script = read("docker/cassandra/init.sh");
    let native = access::setup_statements(cassandra_schema::DEFAULT_KEYSPACE, "c", "g");
    let grants = |statements: Vec<&str>| -> Vec<String> {
        statements
            .into_iter()
            .map(|statement| statement.trim().trim_end_matches(';').to_owned())
            .filter(|statement| statement.starts_with("GRANT"))
            .collect()
    };
    assert_eq!(
        grants(script.lines().collect()),
        grants(native.iter().map(String::as_str).collect())
    );
    assert!(
        script.contains(&format!("{};", access::disable_default_superuser())),
        "cassandra-init does not disable the default superuser as the native stack does"
    );
    for role in [access::CONSUMER_ROLE, access::GRAFANA_ROLE] {
        let creation = access::create_login_role(role, "x");
        let up_to_password = creation.split(" PASSWORD").next().unwrap();
        assert!(
            script.contains(up_to_password),
            "cassandra-init does not create {role} as the native stack does: {up_to_password}"
        );
    }
}

/// docker/cassandra/enable-auth.sh on cassandra.yaml: each auth setting is replaced (in the
/// one-line form and in 5.0's block form alike), the rest of the file kept, and a second run
/// changes nothing.
#[test]
fn enable_auth_sets_each_auth_setting_once_and_keeps_the_rest() {
    let yaml = "cluster_name: 'Test Cluster'\n\
                authenticator:\n  class_name : org.apache.cassandra.auth.AllowAllAuthenticator\n\
                # MutualTlsAuthenticator can be configured…\n\
                authorizer: AllowAllAuthorizer\n\
                role_manager:\n  class_name: CassandraRoleManager\n  parameters:\n    # a comment\n\n\
                network_authorizer:\n  class_name: AllowAllNetworkAuthorizer\n\
                roles_validity: 2000ms\n";
    let path = std::env::temp_dir().join(format!("enable-auth-{}.yaml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    let run = || {
        let output = std::process::Command::new("sh")
            .arg(workspace().join("docker/cassandra/enable-auth.sh"))
            .env("CASSANDRA_YAML", &path)
            .output()
            .expect("cannot run sh");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read_to_string(&path).unwrap()
    };
    let once = run();
    let twice = run();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(once, twice, "a second run changed the file");
    for (key, value) in [
        ("authenticator", "PasswordAuthenticator"),
        ("authorizer", "CassandraAuthorizer"),
        ("role_manager", "CassandraRoleManager"),
    ] {
        let settings: Vec<&str> = once
            .lines()
            .filter(|line| line.starts_with(&format!("{key}:")))
            .collect();
        assert_eq!(settings, [format!("{key}: {value}")], "{once}");
    }
    assert!(!once.contains("AllowAllAuthenticator"), "{once}");
    for kept in [
        "cluster_name: 'Test Cluster'",
        "network_authorizer:\n  class_name: AllowAllNetworkAuthorizer",
        "roles_validity: 2000ms",
    ] {
        assert!(once.contains(kept), "lost {kept:?}:\n{once}");
    }
}
