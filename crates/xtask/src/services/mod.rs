//! The native stack as a whole: which services exist, how many nodes of each run (one, or
//! several on the high-availability stack), in what order they start, and the `up`, `down`,
//! `kill`, `status` and `logs` commands over them.

mod cassandra;
pub mod connect;
mod kafka;
pub mod postgres;

use std::time::Duration;

use anyhow::Context;

use crate::config::{Stack, node_address};
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

    /// How many nodes of the service run on `stack`.
    pub fn nodes(self, stack: &Stack) -> u8 {
        match self {
            Service::Postgres => 1,
            Service::Kafka => stack.topology.kafka_brokers,
            Service::Connect => stack.topology.connect_workers,
            Service::Cassandra => stack.topology.cassandra_nodes,
        }
    }

    /// Every node of the service, or only `number` when given.
    fn node_list(self, stack: &Stack, number: Option<u8>) -> Vec<Node> {
        (1..=self.nodes(stack))
            .filter(|n| number.is_none_or(|wanted| wanted == *n))
            .map(|number| Node {
                service: self,
                number,
            })
            .collect()
    }

    /// The first node's process id, if it runs.
    pub fn pid(self, stack: &Stack) -> Option<u32> {
        let node = Node {
            service: self,
            number: 1,
        };
        let pid = node.process(stack).running_pid()?;
        u32::try_from(pid.as_raw()).ok()
    }
}

/// One process of a service: its node `number`, from 1, listening on 127.0.0.`number`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub service: Service,
    pub number: u8,
}

impl Node {
    /// `kafka` when the service has one node, `kafka-2` for the second of several.
    fn name(self, stack: &Stack) -> String {
        if self.service.nodes(stack) == 1 {
            self.service.name().to_owned()
        } else {
            format!("{}-{}", self.service.name(), self.number)
        }
    }

    fn process(self, stack: &Stack) -> ManagedProcess {
        ManagedProcess::new(self.name(stack), &stack.state_dir)
    }

    /// The address and ports the node listens on, each port with the flag that moves it.
    fn ports(self, stack: &Stack) -> (String, Vec<(u16, &'static str)>) {
        let ports = match self.service {
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
        };
        (node_address(self.number), ports)
    }

    /// Installs what the service needs, writes the node's configuration and starts it.
    async fn start(self, stack: &Stack) -> anyhow::Result<()> {
        let process = self.process(stack);
        let number = self.number;
        match self.service {
            Service::Postgres => postgres::start(stack, &process),
            Service::Kafka => kafka::start(stack, &process, number),
            Service::Connect => connect::start(stack, &process, number),
            Service::Cassandra => cassandra::start(stack, &process, number),
        }
        .with_context(|| format!("starting {}", self.name(stack)))
    }

    /// One readiness check of this node in the service's own protocol.
    async fn probe(self, stack: &Stack) -> anyhow::Result<()> {
        match self.service {
            Service::Postgres => postgres::probe(stack).await,
            Service::Kafka => kafka::probe(stack, self.number).await,
            Service::Connect => connect::probe(stack, self.number).await,
            // Boxed: the CQL driver's futures are deep enough to exceed the type-layout limit.
            Service::Cassandra => Box::pin(cassandra::probe(stack, self.number)).await,
        }
    }

    /// Starts the node and waits until it is ready.
    async fn start_until_ready(self, stack: &Stack) -> anyhow::Result<()> {
        self.start(stack).await?;
        self.wait_ready(stack).await
    }

    async fn wait_ready(self, stack: &Stack) -> anyhow::Result<()> {
        let process = self.process(stack);
        wait_until_ready(&process, stack.startup_timeout, || self.probe(stack)).await
    }

    fn is_running(self, stack: &Stack) -> bool {
        self.process(stack).running_pid().is_some()
    }
}

/// Every running node's name (`kafka`, `kafka-2`) and process id, for the benchmarks that
/// measure each process's CPU; as `name=pid,…`.
pub fn node_pids(stack: &Stack) -> String {
    all_nodes(stack)
        .into_iter()
        .filter_map(|node| {
            let pid = node.process(stack).running_pid()?;
            Some(format!("{}={pid}", node.name(stack)))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Every node of every service, in start order.
fn all_nodes(stack: &Stack) -> Vec<Node> {
    Service::ALL
        .into_iter()
        .flat_map(|service| service.node_list(stack, None))
        .collect()
}

/// Starts whatever is not running, waits for each node to be ready, then applies the schemas
/// and registers the connector. Running it twice is harmless.
pub async fn up(stack: &Stack) -> anyhow::Result<()> {
    let to_start: Vec<Node> = all_nodes(stack)
        .into_iter()
        .filter(|node| !node.is_running(stack))
        .collect();
    // Check every port before starting anything, so a taken port fails fast and leaves
    // nothing half started.
    for node in &to_start {
        let (address, ports) = node.ports(stack);
        for (port, flag) in ports {
            ensure_port_free(&node.name(stack), &address, port, flag)?;
        }
    }
    install::ensure_debian_packages(&install::stack_packages(stack))?;
    std::fs::create_dir_all(&stack.state_dir)?;
    let starts = |node: &Node| to_start.contains(node);

    // Cassandra is the slowest to start, so its first node boots while the others come up.
    // Kafka's brokers start together: their controllers need a majority to elect a leader.
    let first_cassandra = Node {
        service: Service::Cassandra,
        number: 1,
    };
    // A Cassandra node restarting into a running ring (its first node up) needs no turn.
    let ring_runs = !starts(&first_cassandra);
    for node in all_nodes(stack) {
        let early = matches!(node.service, Service::Postgres | Service::Kafka)
            || node == first_cassandra
            || (node.service == Service::Cassandra && ring_runs);
        if early && starts(&node) {
            node.start(stack).await?;
        }
    }
    let postgres = Node {
        service: Service::Postgres,
        number: 1,
    };
    postgres.wait_ready(stack).await?;
    postgres::apply_schema(stack)
        .await
        .context("applying sql/postgres to PostgreSQL")?;
    for broker in Service::Kafka.node_list(stack, None) {
        broker.wait_ready(stack).await?;
    }
    for worker in Service::Connect.node_list(stack, None) {
        if starts(&worker) {
            worker.start_until_ready(stack).await?;
        } else {
            worker.wait_ready(stack).await?;
        }
    }
    connect::register_connector(stack)
        .await
        .context("registering the Debezium connector")?;
    // New nodes join the ring one at a time, once the one before is up.
    for node in Service::Cassandra.node_list(stack, None) {
        if node != first_cassandra && starts(&node) && !ring_runs {
            node.start_until_ready(stack).await?;
        } else {
            node.wait_ready(stack).await?;
        }
    }
    Box::pin(cassandra::set_up(stack))
        .await
        .context("setting up Cassandra's roles and schema")?;
    tracing::info!("the stack is up; state in {}", stack.state_dir.display());
    Ok(())
}

/// Stops, in reverse start order, the nodes this state directory's `up` started; only
/// `service`'s when given, and of those only node `number` when given (`up` starts them again).
pub fn down(stack: &Stack, service: Option<Service>, number: Option<u8>) -> anyhow::Result<()> {
    for node in selected(stack, service, number).into_iter().rev() {
        let stopped = node
            .process(stack)
            .stop(node.service.stop_signal(), Duration::from_secs(60))?;
        if stopped {
            tracing::info!("stopped {}", node.name(stack));
        }
    }
    Ok(())
}

/// Kills `service`'s nodes (only node `number` when given) with SIGKILL: no shutdown, as in a
/// crash (`up` starts them again).
pub fn kill(stack: &Stack, service: Service, number: Option<u8>) -> anyhow::Result<()> {
    for node in service.node_list(stack, number) {
        if node.process(stack).kill_hard()? {
            tracing::info!("killed {}", node.name(stack));
        } else {
            tracing::info!("{} was not running", node.name(stack));
        }
    }
    Ok(())
}

fn selected(stack: &Stack, service: Option<Service>, number: Option<u8>) -> Vec<Node> {
    match service {
        Some(service) => service.node_list(stack, number),
        None => all_nodes(stack),
    }
}

/// Prints one line per node; returns whether all are healthy.
pub async fn status(stack: &Stack) -> bool {
    let mut all_healthy = true;
    for node in all_nodes(stack) {
        let running = node.process(stack).running_pid();
        // Bounded like the readiness waits: a client of a stopped service may retry forever.
        let probed = tokio::time::timeout(Duration::from_secs(10), node.probe(stack))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within 10 s")));
        let line = match (running, probed) {
            (Some(pid), Ok(())) => format!("healthy    (pid {pid})"),
            (Some(pid), Err(error)) => format!("unhealthy  (pid {pid}): {error:#}"),
            (None, Ok(())) => "healthy    (not started by this state directory)".to_owned(),
            (None, Err(_)) => "stopped".to_owned(),
        };
        all_healthy &= line.starts_with("healthy");
        println!("{:<12} {line}", node.name(stack));
    }
    all_healthy
}

pub fn print_logs(stack: &Stack, service: Option<Service>, number: Option<u8>, lines: usize) {
    for node in selected(stack, service, number) {
        let process = node.process(stack);
        println!(
            "==> {} <==\n{}\n",
            process.log_file().display(),
            process.log_tail(lines)
        );
    }
}
