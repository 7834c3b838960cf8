//! Installing what the stack and the build need, idempotently and from nothing.
//!
//! System packages come from Debian (PostgreSQL, Java, Maven, Prometheus for the tests of the
//! "Pipeline health" dashboard, the headers rdkafka's bundled librdkafka needs); the JVM services come from Maven Central into a cache outside the work
//! tree, one directory per pinned version set, marked complete only once fully resolved.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::config::Stack;
use crate::process::run_to_completion;

/// A Maven coordinate `group:artifact:version`.
pub struct Artifact<'a> {
    pub group: &'a str,
    pub artifact: &'a str,
    pub version: &'a str,
}

/// The Debian packages the native stack runs on. Prometheus is not one of the stack's
/// services: the consumer's tests start their own, scraping the binaries they run, to run the
/// "Pipeline health" dashboard's queries (`crates/cdc-consumer/tests/it/pipeline_dashboard.rs`).
pub fn stack_packages(stack: &Stack) -> Vec<String> {
    vec![
        format!("postgresql-{}", stack.versions.postgres),
        "openjdk-17-jre-headless".to_owned(),
        "maven".to_owned(),
        "prometheus".to_owned(),
    ]
}

/// The Debian packages the workspace needs to build: rdkafka builds its bundled librdkafka with
/// cmake, which looks for libcurl's headers even with curl support off.
pub fn build_packages() -> Vec<String> {
    ["cmake", "libcurl4-openssl-dev", "g++", "pkg-config"]
        .map(str::to_owned)
        .to_vec()
}

/// Installs the missing ones among `packages` with apt-get when running as root; otherwise
/// fails with the exact command to run.
pub fn ensure_debian_packages(packages: &[String]) -> anyhow::Result<()> {
    let missing: Vec<&String> = packages.iter().filter(|name| !is_installed(name)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|name| name.as_str()).collect();
    let names = names.join(" ");
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "missing system packages: {names}\ninstall them with:\n  sudo apt-get update && sudo apt-get install -y {names}"
        );
    }
    tracing::info!("installing system packages: {names}");
    prevent_debian_default_postgres_cluster()?;
    let _no_daemons = NoDaemonsStarted::install()?;
    run_to_completion(Command::new("apt-get").arg("update").arg("-q"))?;
    run_to_completion(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

/// Debian starts a package's daemon on installation (prometheus on :9090, a PostgreSQL
/// cluster); xtask and the tests start what they need themselves, so while it installs, a
/// `policy-rc.d` answering 101 ("action forbidden") keeps those daemons from starting. One
/// already there (container images ship one) is left as it is.
struct NoDaemonsStarted {
    written: Option<&'static Path>,
}

impl NoDaemonsStarted {
    fn install() -> anyhow::Result<Self> {
        let policy = Path::new("/usr/sbin/policy-rc.d");
        if policy.exists() {
            return Ok(Self { written: None });
        }
        std::fs::write(
            policy,
            "#!/bin/sh\n# Written by cargo xtask while it installs packages.\nexit 101\n",
        )
        .with_context(|| format!("cannot write {}", policy.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            written: Some(policy),
        })
    }
}

impl Drop for NoDaemonsStarted {
    fn drop(&mut self) {
        if let Some(policy) = self.written {
            let _ = std::fs::remove_file(policy);
        }
    }
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Debian's postgresql package creates and starts a cluster on port 5432 by default; ours is
/// started by xtask in the state directory, so that default one would only take the port.
fn prevent_debian_default_postgres_cluster() -> anyhow::Result<()> {
    let conf = Path::new("/etc/postgresql-common/createcluster.conf");
    if conf.exists() {
        return Ok(());
    }
    std::fs::create_dir_all("/etc/postgresql-common")?;
    std::fs::write(conf, "create_main_cluster = false\n")
        .with_context(|| format!("cannot write {}", conf.display()))
}

/// Resolves `artifacts` and all their runtime dependencies into `<cache>/<name>/lib` and returns
/// that directory, ready to be a JVM classpath (`lib/*`).
pub fn ensure_maven_classpath(
    stack: &Stack,
    name: &str,
    artifacts: &[Artifact],
) -> anyhow::Result<PathBuf> {
    let home = stack.cache_dir.join(name);
    let lib = home.join("lib");
    let complete = home.join(".complete");
    if complete.exists() {
        return Ok(lib);
    }
    tracing::info!("downloading {name} from Maven Central");
    std::fs::create_dir_all(&home)?;
    let _ = std::fs::remove_dir_all(&lib);
    let pom = home.join("pom.xml");
    std::fs::write(&pom, pom_xml(name, artifacts))?;
    run_to_completion(
        Command::new("mvn")
            .args(["-B", "-q", "-f"])
            .arg(&pom)
            .arg("dependency:copy-dependencies")
            .arg(format!("-DoutputDirectory={}", lib.display()))
            .arg("-DincludeScope=runtime"),
    )
    .with_context(|| format!("resolving {name} from Maven Central"))?;
    std::fs::write(&complete, "")?;
    Ok(lib)
}

/// Unpacks the Debezium PostgreSQL connector plugin archive into `<cache>/<name>/plugins` and
/// returns that directory, ready to be Kafka Connect's `plugin.path`.
pub fn ensure_debezium_plugin(stack: &Stack) -> anyhow::Result<PathBuf> {
    let home = stack
        .cache_dir
        .join(format!("debezium-{}", stack.versions.debezium));
    let plugins = home.join("plugins");
    let complete = home.join(".complete");
    if complete.exists() {
        return Ok(plugins);
    }
    tracing::info!(
        "downloading the Debezium PostgreSQL connector {}",
        stack.versions.debezium
    );
    let _ = std::fs::remove_dir_all(&plugins);
    std::fs::create_dir_all(&plugins)?;
    let coordinate = format!(
        "io.debezium:debezium-connector-postgres:{}:tar.gz:plugin",
        stack.versions.debezium
    );
    run_to_completion(
        Command::new("mvn")
            .args(["-B", "-q", "dependency:unpack"])
            .arg(format!("-Dartifact={coordinate}"))
            .arg(format!("-DoutputDirectory={}", plugins.display()))
            .current_dir(&home),
    )
    .with_context(|| format!("fetching {coordinate} from Maven Central"))?;
    std::fs::write(&complete, "")?;
    Ok(plugins)
}

fn pom_xml(name: &str, artifacts: &[Artifact]) -> String {
    let dependencies: String = artifacts
        .iter()
        .map(|a| {
            format!(
                "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>\n",
                a.group, a.artifact, a.version
            )
        })
        .collect();
    format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>crypto-cdc-pipeline.stack</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}  </dependencies>
</project>
"#
    )
}
