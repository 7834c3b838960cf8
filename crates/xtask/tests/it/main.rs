//! Tests of the `xtask` binary's behaviour, and of what the stack it sets up promises
//! (`roles` and `cassandra_roles`: PostgreSQL's and Cassandra's logins and privileges; `argv`:
//! no password on a command line; `register_connector`: compose's registration job against a
//! scripted and the real Connect; `schema_upgrade`: `sql/postgres` on an earlier install; all on
//! the stack `cargo xtask test` starts), `help`: no password in `--help`, and `tidy`: module
//! docs and workspace dependencies.

mod argv;
mod cassandra_roles;
mod compose;
mod help;
mod register_connector;
mod roles;
mod schema_upgrade;
mod tidy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, where the files under test live.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn stack_up_names_the_taken_port_and_its_service() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let state_dir = std::env::temp_dir().join(format!("xtask-port-test-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["stack", "up"])
        .env("CDC_STATE_DIR", &state_dir)
        .env("CDC_PG_PORT", free_port().to_string())
        .env("CDC_KAFKA_PORT", free_port().to_string())
        .env("CDC_KAFKA_CONTROLLER_PORT", free_port().to_string())
        .env("CDC_CONNECT_PORT", taken_port.to_string())
        .env("CDC_CASSANDRA_PORT", free_port().to_string())
        .env("CDC_CASSANDRA_STORAGE_PORT", free_port().to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "stack up should fail when a port is taken:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "port {taken_port} needed by connect is already in use"
        )),
        "the error should name the port and the service:\n{stderr}"
    );
    assert!(
        stderr.contains("CDC_CONNECT_PORT"),
        "the error should say how to move it:\n{stderr}"
    );
    assert!(
        !state_dir.exists(),
        "nothing should have been started:\n{stderr}"
    );
}
