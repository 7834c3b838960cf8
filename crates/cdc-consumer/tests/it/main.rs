//! Integration tests of the consumer against the real stack that `cargo xtask test` starts:
//! PostgreSQL → Debezium on Kafka Connect → Kafka → cdc-consumer → Cassandra.
//!
//! They need the stack and fail loudly without it; the connection settings come from the
//! environment `cargo xtask test` sets (`PG_URL`, `KAFKA_BROKERS`, `CASSANDRA_NODES`).

mod end_to_end;

use std::process::{Child, Command};

/// A required setting from `cargo xtask test`'s environment.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real stack; run them with `cargo xtask test`"
        )
    })
}

/// The consumer binary, running until dropped; dropping it kills it so a failed test leaves
/// nothing behind.
pub struct RunningConsumer {
    child: Child,
}

impl RunningConsumer {
    /// Starts the consumer in a consumer group of its own, so it reads every topic from the start.
    pub fn start(test_name: &str) -> Self {
        let group = format!("it-{test_name}-{}", unique_suffix());
        let child = Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
            .env("CONSUMER_GROUP_ID", group)
            .env("KAFKA_BROKERS", required_env("KAFKA_BROKERS"))
            .env("CASSANDRA_NODES", required_env("CASSANDRA_NODES"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("cannot start cdc-consumer");
        Self { child }
    }

    /// Sends SIGTERM and returns whether the consumer then exited cleanly.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .expect("cannot signal cdc-consumer");
        self.child.wait().expect("cdc-consumer did not exit")
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A suffix that makes names unique across test runs against the same stack.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}{}", std::process::id(), nanos % 1_000_000_000)
}
