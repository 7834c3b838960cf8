//! Watching the consumer group through librdkafka's statistics, to tell when the Kafka client
//! must be replaced. librdkafka can stay without a group coordinator for good: the Kafka outage
//! test caught 2.12 dropping its only broker after a restart and waiting 5 minutes to bootstrap
//! again, its partitions revoked and nothing consumed (that cause is configured away, see
//! `consume::kafka_client_config`), and its issue tracker lists other ways. A new client in the
//! same group recovers, so a group that has had no coordinator for longer than a bound gets a
//! new client. Kafka being down looks the same from the client; the consumer then replaces it
//! once, and not again while the replaced one is still closing (which lasts until Kafka
//! answers). Pure: the caller passes the time in.

use std::time::{Duration, Instant};

/// What one round of statistics says about the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupHealth {
    /// The group has its coordinator, or the client has no group yet.
    Fine,
    /// The group has had no coordinator for this long.
    Coordinatorless(Duration),
    /// As above, for at least the bound: the client is to be replaced.
    Stuck(Duration),
}

#[derive(Debug)]
pub struct GroupWatch {
    bound: Duration,
    coordinatorless_since: Option<Instant>,
}

impl GroupWatch {
    /// A watch that calls the group stuck after `bound` without a coordinator.
    pub fn new(bound: Duration) -> Self {
        Self {
            bound,
            coordinatorless_since: None,
        }
    }

    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// `group_state` is librdkafka's `cgrp.state` (`up` when the coordinator is known), `None`
    /// before the client has a group.
    pub fn observe(&mut self, group_state: Option<&str>, now: Instant) -> GroupHealth {
        let coordinatorless = group_state.is_some_and(|state| state != "up");
        if !coordinatorless {
            self.coordinatorless_since = None;
            return GroupHealth::Fine;
        }
        let since = *self.coordinatorless_since.get_or_insert(now);
        let lasted = now.saturating_duration_since(since);
        if lasted >= self.bound {
            GroupHealth::Stuck(lasted)
        } else {
            GroupHealth::Coordinatorless(lasted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(60);

    #[test]
    fn a_group_without_coordinator_is_stuck_after_the_bound() {
        let start = Instant::now();
        let mut watch = GroupWatch::new(BOUND);
        assert_eq!(
            watch.observe(Some("query-coord"), start),
            GroupHealth::Coordinatorless(Duration::ZERO)
        );
        let later = start + Duration::from_secs(30);
        assert_eq!(
            watch.observe(Some("wait-coord"), later),
            GroupHealth::Coordinatorless(Duration::from_secs(30))
        );
        assert_eq!(
            watch.observe(Some("query-coord"), start + BOUND),
            GroupHealth::Stuck(BOUND)
        );
    }

    #[test]
    fn a_coordinator_found_or_no_group_resets_the_watch() {
        let start = Instant::now();
        let mut watch = GroupWatch::new(BOUND);
        watch.observe(Some("query-coord"), start);
        let found = start + Duration::from_secs(50);
        assert_eq!(watch.observe(Some("up"), found), GroupHealth::Fine);
        // The clock starts again with the next loss.
        let lost_again = start + Duration::from_secs(100);
        assert_eq!(
            watch.observe(Some("query-coord"), lost_again),
            GroupHealth::Coordinatorless(Duration::ZERO)
        );
        assert_eq!(watch.observe(None, lost_again + BOUND), GroupHealth::Fine);
    }
}
