//! PostgreSQL from Debian's packages, run from a data directory under the state directory with
//! `wal_level=logical` and password (SCRAM) authentication only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use nix::unistd::{Uid, User};

use crate::config::{PG_DATABASE, Stack};
use crate::process::{ManagedProcess, run_to_completion};

fn bin_dir(stack: &Stack) -> PathBuf {
    PathBuf::from(format!(
        "/usr/lib/postgresql/{}/bin",
        stack.versions.postgres
    ))
}

fn data_dir(process: &ManagedProcess) -> PathBuf {
    process.dir.join("data")
}

pub fn start(stack: &Stack, process: &ManagedProcess) -> anyhow::Result<()> {
    let run_as = server_user()?;
    std::fs::create_dir_all(&process.dir)?;
    chown_to(&process.dir, run_as.as_ref())?;
    if !data_dir(process).join("PG_VERSION").exists() {
        initialise_cluster(stack, process, run_as.as_ref())?;
    }
    let mut command = Command::new(bin_dir(stack).join("postgres"));
    command
        .arg("-D")
        .arg(data_dir(process))
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", &format!("port={}", stack.pg_port)])
        .args([
            "-c",
            &format!("unix_socket_directories={}", process.dir.display()),
        ])
        .args(["-c", "wal_level=logical"])
        .args(["-c", "max_wal_senders=10"])
        .args(["-c", "max_replication_slots=10"])
        // A replication slot holds WAL until Debezium confirms it: without a bound, a Connect
        // that stays down fills the disk. Past it the slot is invalidated (README says what then).
        .args([
            "-c",
            &format!("max_slot_wal_keep_size={}MB", stack.max_slot_wal_keep_mb),
        ])
        // Full-page images dominate the WAL of the ticker inserts (`cargo xtask bench disk`).
        .args(["-c", "wal_compression=zstd"])
        .args(["-c", "password_encryption=scram-sha-256"]);
    if let Some(user) = &run_as {
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    process.spawn(command)?;
    Ok(())
}

/// PostgreSQL refuses to run as root; as root we run it as the `postgres` user that Debian's
/// package creates.
fn server_user() -> anyhow::Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    User::from_name("postgres")?
        .context("running as root, but there is no `postgres` user to run PostgreSQL as")
        .map(Some)
}

fn chown_to(path: &Path, user: Option<&User>) -> anyhow::Result<()> {
    if let Some(user) = user {
        std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
            .with_context(|| format!("cannot chown {} to postgres", path.display()))?;
    }
    Ok(())
}

fn initialise_cluster(
    stack: &Stack,
    process: &ManagedProcess,
    run_as: Option<&User>,
) -> anyhow::Result<()> {
    tracing::info!(
        "initialising a PostgreSQL cluster in {}",
        data_dir(process).display()
    );
    let password_file = process.dir.join("superuser-password");
    // Readable by its owner only, from its creation on: it holds the superuser's password.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&password_file)
        .and_then(|mut file| file.write_all(stack.pg_superuser_password.as_bytes()))
        .with_context(|| format!("cannot write {}", password_file.display()))?;
    chown_to(&password_file, run_as)?;
    let mut command = Command::new(bin_dir(stack).join("initdb"));
    command
        .arg("-D")
        .arg(data_dir(process))
        .args(["-U", "postgres", "--encoding=UTF8", "--locale=C"])
        .args(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", password_file.display()));
    if let Some(user) = run_as {
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let result = run_to_completion(&mut command);
    std::fs::remove_file(&password_file)?;
    result.map(drop)
}

/// A superuser connection to `database`.
pub async fn connect(stack: &Stack, database: &str) -> anyhow::Result<tokio_postgres::Client> {
    let url = format!(
        "host=127.0.0.1 port={} user=postgres password={} dbname={database} connect_timeout=5",
        stack.pg_port, stack.pg_superuser_password
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!("postgres connection closed: {error}");
        }
    });
    Ok(client)
}

pub async fn probe(stack: &Stack) -> anyhow::Result<()> {
    connect(stack, "postgres")
        .await?
        .simple_query("SELECT 1")
        .await?;
    Ok(())
}

/// Creates the database, runs every `sql/postgres/*.sql` file in name order (each is
/// idempotent), and sets the roles' passwords from the configuration.
pub async fn apply_schema(stack: &Stack) -> anyhow::Result<()> {
    let admin = connect(stack, "postgres").await?;
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&PG_DATABASE],
        )
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {PG_DATABASE}"))
            .await?;
    }
    let client = connect(stack, PG_DATABASE).await?;
    let sql_dir = stack.workspace_root.join("sql").join("postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sql_dir)
        .with_context(|| format!("cannot list {}", sql_dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    for file in files {
        let sql = std::fs::read_to_string(&file)?;
        client
            .batch_execute(&sql)
            .await
            .with_context(|| format!("in {}", file.display()))?;
    }
    for (role, password) in [
        ("ingester", &stack.ingester_password),
        ("debezium", &stack.debezium_password),
        ("grafana", &stack.grafana_password),
    ] {
        let statement = format!("ALTER ROLE {role} PASSWORD {}", quote_literal(password));
        client
            .batch_execute(&statement)
            .await
            .with_context(|| format!("setting {role}'s password"))?;
    }
    Ok(())
}

/// A SQL string literal; `ALTER ROLE … PASSWORD` takes no bind parameters.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::quote_literal;

    #[test]
    fn quotes_single_quotes_in_literals() {
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
