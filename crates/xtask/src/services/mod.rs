//! The native stack as a whole: which services exist, in what order they start, and the
//! `up`, `down`, `status` and `logs` commands over all of them.

mod cassandra;
pub mod connect;
mod kafka;
pub mod postgres;

use std::time::Duration;

use anyhow::Context;

use crate::config::Stack;
use crate::install;
use crate::process::{ManagedProcess, ensure_port_free};
use crate::readiness::wait_until_ready;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Postgres,
    Kafka,
    Connect,
    Cassandra,
}

impl Service {
    /// Start order: Connect needs Kafka (and PostgreSQL, for the connector).
    pub const ALL: [Service; 4] = [
        Service::Postgres,
        Service::Kafka,
        Service::Cassandra,
        Service::Connect,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Kafka => "kafka",
            Service::Connect => "connect",
            Service::Cassandra => "cassandra",
        }
    }

    /// The signal that shuts the service down cleanly and promptly. PostgreSQL's SIGTERM is a
    /// "smart" shutdown that waits for every client to disconnect, which Debezium's replication
    /// connection never does; SIGINT is its "fast" shutdown (clients are disconnected, the data
    /// is checkpointed).
    fn stop_signal(self) -> nix::sys::signal::Signal {
        match self {
            Service::Postgres => nix::sys::signal::Signal::SIGINT,
            Service::Kafka | Service::Connect | Service::Cassandra => {
                nix::sys::signal::Signal::SIGTERM
            }
        }
    }

    fn process(self, stack: &Stack) -> ManagedProcess {
        ManagedProcess::new(self.name(), &stack.state_dir)
    }

    /// The running service's process id, if it runs.
    pub fn pid(self, stack: &Stack) -> Option<u32> {
        let pid = self.process(stack).running_pid()?;
        u32::try_from(pid.as_raw()).ok()
    }

    /// The ports the service listens on, each with the flag that moves it.
    fn ports(self, stack: &Stack) -> Vec<(u16, &'static str)> {
        match self {
            Service::Postgres => vec![(stack.pg_port, "--pg-port / CDC_PG_PORT")],
            Service::Kafka => vec![
                (stack.kafka_port, "--kafka-port / CDC_KAFKA_PORT"),
                (
                    stack.kafka_controller_port,
                    "--kafka-controller-port / CDC_KAFKA_CONTROLLER_PORT",
                ),
            ],
            Service::Connect => vec![(stack.connect_port, "--connect-port / CDC_CONNECT_PORT")],
            Service::Cassandra => vec![
                (
                    stack.cassandra_port,
                    "--cassandra-port / CDC_CASSANDRA_PORT",
                ),
                (
                    stack.cassandra_storage_port,
                    "--cassandra-storage-port / CDC_CASSANDRA_STORAGE_PORT",
                ),
            ],
        }
    }

    /// Installs what the service needs, writes its configuration and starts it.
    async fn start(self, stack: &Stack) -> anyhow::Result<()> {
        let process = self.process(stack);
        match self {
            Service::Postgres => postgres::start(stack, &process),
            Service::Kafka => kafka::start(stack, &process),
            Service::Connect => connect::start(stack, &process),
            Service::Cassandra => cassandra::start(stack, &process),
        }
        .with_context(|| format!("starting {}", self.name()))
    }

    /// One readiness check in the service's own protocol.
    async fn probe(self, stack: &Stack) -> anyhow::Result<()> {
        match self {
            Service::Postgres => postgres::probe(stack).await,
            Service::Kafka => kafka::probe(stack).await,
            Service::Connect => connect::probe(stack).await,
            // Boxed: the CQL driver's futures are deep enough to exceed the type-layout limit.
            Service::Cassandra => Box::pin(cassandra::probe(stack)).await,
        }
    }

    /// Starts the service and waits until it is ready. A process that dies during start-up is
    /// started once more, saying why: on a loaded machine a Connect worker has been seen to exit
    /// at its first start without a line of log, and start again cleanly.
    async fn start_until_ready(self, stack: &Stack) -> anyhow::Result<()> {
        self.start(stack).await?;
        match self.wait_ready(stack).await {
            Err(error) if self.process(stack).running_pid().is_none() => {
                tracing::warn!(
                    "{} exited during start-up; starting it once more: {error:#}",
                    self.name()
                );
                self.start(stack).await?;
                self.wait_ready(stack).await
            }
            result => result,
        }
    }

    async fn wait_ready(self, stack: &Stack) -> anyhow::Result<()> {
        let process = self.process(stack);
        wait_until_ready(&process, stack.startup_timeout, || self.probe(stack)).await
    }
}

/// Starts whatever is not running, waits for each service to be ready, then applies the
/// schemas and registers the connector. Running it twice is harmless.
pub async fn up(stack: &Stack) -> anyhow::Result<()> {
    let to_start: Vec<Service> = Service::ALL
        .into_iter()
        .filter(|s| s.process(stack).running_pid().is_none())
        .collect();
    // Check every port before starting anything, so a taken port fails fast and leaves
    // nothing half started.
    for service in &to_start {
        for (port, flag) in service.ports(stack) {
            ensure_port_free(service.name(), port, flag)?;
        }
    }
    install::ensure_debian_packages(&install::stack_packages(stack))?;
    std::fs::create_dir_all(&stack.state_dir)?;

    // Cassandra is the slowest to start, so it boots while the others come up.
    for service in [Service::Postgres, Service::Kafka, Service::Cassandra] {
        if to_start.contains(&service) {
            service.start(stack).await?;
        }
    }
    Service::Postgres.wait_ready(stack).await?;
    postgres::apply_schema(stack)
        .await
        .context("applying sql/postgres to PostgreSQL")?;
    Service::Kafka.wait_ready(stack).await?;
    if to_start.contains(&Service::Connect) {
        Service::Connect.start_until_ready(stack).await?;
    } else {
        Service::Connect.wait_ready(stack).await?;
    }
    connect::register_connector(stack)
        .await
        .context("registering the Debezium connector")?;
    Service::Cassandra.wait_ready(stack).await?;
    Box::pin(cassandra::set_up(stack))
        .await
        .context("setting up Cassandra's roles and schema")?;
    tracing::info!("the stack is up; state in {}", stack.state_dir.display());
    Ok(())
}

/// Stops, in reverse start order, the services this state directory's `up` started; only
/// `only` when given (`up` starts it again).
pub fn down(stack: &Stack, only: Option<Service>) -> anyhow::Result<()> {
    let services = only
        .map(|service| vec![service])
        .unwrap_or_else(|| Service::ALL.to_vec());
    for service in services.into_iter().rev() {
        let stopped = service
            .process(stack)
            .stop(service.stop_signal(), Duration::from_secs(60))?;
        if stopped {
            tracing::info!("stopped {}", service.name());
        }
    }
    Ok(())
}

/// Kills `service` with SIGKILL: no shutdown, as in a crash (`up` starts it again).
pub fn kill(stack: &Stack, service: Service) -> anyhow::Result<()> {
    if service.process(stack).kill_hard()? {
        tracing::info!("killed {}", service.name());
    } else {
        tracing::info!("{} was not running", service.name());
    }
    Ok(())
}

/// Prints one line per service; returns whether all are healthy.
pub async fn status(stack: &Stack) -> bool {
    let mut all_healthy = true;
    for service in Service::ALL {
        let running = service.process(stack).running_pid();
        let line = match (running, service.probe(stack).await) {
            (Some(pid), Ok(())) => format!("healthy    (pid {pid})"),
            (Some(pid), Err(error)) => format!("unhealthy  (pid {pid}): {error:#}"),
            (None, Ok(())) => "healthy    (not started by this state directory)".to_owned(),
            (None, Err(_)) => "stopped".to_owned(),
        };
        all_healthy &= line.starts_with("healthy");
        println!("{:<10} {line}", service.name());
    }
    all_healthy
}

pub fn print_logs(stack: &Stack, service: Option<Service>, lines: usize) {
    let services = service
        .map(|s| vec![s])
        .unwrap_or_else(|| Service::ALL.to_vec());
    for service in services {
        let process = service.process(stack);
        println!(
            "==> {} <==\n{}\n",
            process.log_file().display(),
            process.log_tail(lines)
        );
    }
}
