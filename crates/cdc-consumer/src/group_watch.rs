//! Watching the consumer group through librdkafka's statistics. A client whose brokers answer
//! but which has had no group coordinator for [`COORDINATOR_BOUND`] is stuck: the chaos drill
//! caught librdkafka 2.12 staying so after its broker restarted, re-asking for the coordinator
//! on a request that never completed, its partitions revoked and nothing consumed. Only a new
//! client recovers, so the consumer then exits with an error and its supervisor (compose's
//! `restart: unless-stopped`) starts it again. While Kafka itself is down nothing is stuck: the
//! consumer waits for it without limit. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

/// How long the group may be without a coordinator while brokers answer. Past the session
/// timeout (45 s), after which the group has moved this client's partitions to other members
/// anyway, with room for a coordinator fail-over, which takes seconds.
pub const COORDINATOR_BOUND: Duration = Duration::from_secs(60);

/// What one round of statistics says about the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupHealth {
    /// The group is up, or Kafka is unreachable (waited for without limit), or the client has
    /// no group yet.
    Fine,
    /// Brokers answer but the group has had no coordinator for this long.
    Coordinatorless(Duration),
    /// As above for longer than [`COORDINATOR_BOUND`].
    Stuck(Duration),
}

#[derive(Debug, Default)]
pub struct GroupWatch {
    coordinatorless_since: Option<Instant>,
}

impl GroupWatch {
    /// `group_state` is librdkafka's `cgrp.state` (`up` when the coordinator is known), `None`
    /// before the client has a group; `brokers_up` whether a connection to a broker is up.
    pub fn observe(
        &mut self,
        group_state: Option<&str>,
        brokers_up: bool,
        now: Instant,
    ) -> GroupHealth {
        let coordinatorless = brokers_up && group_state.is_some_and(|state| state != "up");
        if !coordinatorless {
            self.coordinatorless_since = None;
            return GroupHealth::Fine;
        }
        let since = *self.coordinatorless_since.get_or_insert(now);
        let lasted = now.saturating_duration_since(since);
        if lasted >= COORDINATOR_BOUND {
            GroupHealth::Stuck(lasted)
        } else {
            GroupHealth::Coordinatorless(lasted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_without_coordinator_while_brokers_answer_is_stuck_after_the_bound() {
        let start = Instant::now();
        let mut watch = GroupWatch::default();
        assert_eq!(
            watch.observe(Some("query-coord"), true, start),
            GroupHealth::Coordinatorless(Duration::ZERO)
        );
        let later = start + Duration::from_secs(30);
        assert_eq!(
            watch.observe(Some("wait-coord"), true, later),
            GroupHealth::Coordinatorless(Duration::from_secs(30))
        );
        let past = start + COORDINATOR_BOUND;
        assert_eq!(
            watch.observe(Some("query-coord"), true, past),
            GroupHealth::Stuck(COORDINATOR_BOUND)
        );
    }

    #[test]
    fn kafka_down_or_a_group_up_resets_the_watch() {
        let start = Instant::now();
        let mut watch = GroupWatch::default();
        watch.observe(Some("query-coord"), true, start);
        // Kafka unreachable: waited for without limit, and the clock starts again after it.
        let down = start + Duration::from_secs(50);
        assert_eq!(
            watch.observe(Some("query-coord"), false, down),
            GroupHealth::Fine
        );
        let back = start + Duration::from_secs(100);
        assert_eq!(
            watch.observe(Some("query-coord"), true, back),
            GroupHealth::Coordinatorless(Duration::ZERO)
        );
        assert_eq!(watch.observe(Some("up"), true, back), GroupHealth::Fine);
        assert_eq!(
            watch.observe(None, true, back + COORDINATOR_BOUND),
            GroupHealth::Fine
        );
    }
}
