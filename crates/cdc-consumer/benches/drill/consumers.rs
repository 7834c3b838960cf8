//! The drill's consumers: release `cdc-consumer` processes in one group, each serving
//! `/metrics` and `/healthz` on a port of its own. One can be killed (SIGKILL, as a crash) and
//! started again as a supervisor would; the changes a killed process had counted are kept, so
//! that the drill can count the writes that were repeated after it.

use std::process::{Child, Stdio};

use stack_fixtures::TestPipeline;

use crate::support::{consumer_command, free_port};

struct Slot {
    /// `None` while killed on purpose, until started again.
    child: Option<Child>,
    address: String,
    /// `cdc_consumer_events_total` of this slot's earlier, killed processes.
    counted_by_killed: u64,
}

pub struct Consumers {
    slots: Vec<Slot>,
    environment: Vec<(&'static str, String)>,
    group: String,
    log_dir: std::path::PathBuf,
    /// Consumers that exited although nobody killed them (each was started again).
    pub unexpected_exits: u32,
}

impl Consumers {
    /// `count` consumers of `pipeline`'s topics in the group named after it, logging into
    /// `log_dir`.
    pub fn start(pipeline: &TestPipeline, count: usize, log_dir: &std::path::Path) -> Self {
        let mut consumers = Consumers {
            slots: Vec::new(),
            environment: pipeline.consumer_environment(),
            group: pipeline.name().to_owned(),
            log_dir: log_dir.to_owned(),
            unexpected_exits: 0,
        };
        for index in 0..count {
            let (child, address) = consumers.spawn(index);
            consumers.slots.push(Slot {
                child: Some(child),
                address,
                counted_by_killed: 0,
            });
        }
        consumers
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    fn spawn(&self, index: usize) -> (Child, String) {
        let address = format!("127.0.0.1:{}", free_port());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("consumer-{index}.log")))
            .expect("the consumer's log file");
        let child = consumer_command(&address)
            .envs(self.environment.iter().map(|(name, value)| (*name, value)))
            .env("CONSUMER_GROUP_ID", &self.group)
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting cdc-consumer");
        (child, address)
    }

    /// The running consumers' names (`cdc-consumer-1`, …) and process ids.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                Some((
                    format!("cdc-consumer-{}", index + 1),
                    slot.child.as_ref()?.id(),
                ))
            })
            .collect()
    }

    /// Where each running consumer serves `/metrics` and `/healthz`.
    pub fn addresses(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|slot| slot.child.is_some())
            .map(|slot| slot.address.clone())
            .collect()
    }

    /// The changes killed consumers had counted before they died.
    pub fn counted_by_killed(&self) -> u64 {
        self.slots.iter().map(|slot| slot.counted_by_killed).sum()
    }

    /// SIGKILL consumer `index` right after reading its count, so that what it wrote after the
    /// reading is a few milliseconds' worth at most.
    pub async fn kill(&mut self, index: usize, http: &reqwest::Client) {
        let slot = &mut self.slots[index];
        let counted = crate::support::events_replicated(http, &slot.address)
            .await
            .unwrap_or(0);
        if let Some(mut child) = slot.child.take() {
            // SIGKILL on Unix.
            child.kill().expect("cannot kill cdc-consumer");
            let _ = child.wait();
            slot.counted_by_killed += counted;
        }
    }

    /// Starts consumer `index` again, on a new port.
    pub fn restart(&mut self, index: usize) {
        let (child, address) = self.spawn(index);
        self.slots[index].child = Some(child);
        self.slots[index].address = address;
    }

    /// Starts again every consumer that exited on its own, counting it.
    pub fn restart_exited(&mut self) {
        for index in 0..self.slots.len() {
            let exited = self.slots[index]
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited {
                eprintln!("consumer {index} exited on its own; starting it again");
                self.unexpected_exits += 1;
                self.restart(index);
            }
        }
    }

    /// SIGTERM to each: it commits what it wrote and exits. Returns how many were still running
    /// after `bound` (they are killed when dropped).
    pub fn stop(mut self, bound: std::time::Duration) -> usize {
        self.slots
            .iter_mut()
            .filter_map(|slot| slot.child.as_mut())
            .map(|child| stack_fixtures::processes::terminate_within(child, bound))
            .filter(Option::is_none)
            .count()
    }
}

/// A drill that fails midway leaves no consumer running.
impl Drop for Consumers {
    fn drop(&mut self) {
        for child in self.slots.iter_mut().filter_map(|slot| slot.child.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
