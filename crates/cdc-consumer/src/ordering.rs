//! What may be written concurrently, and which Kafka offset may be stored. Pure: no IO.
//!
//! Changes are written concurrently, but all changes of one PostgreSQL row go through one
//! lane, in the order they were consumed, so a later change is never overwritten by an earlier
//! one. Debezium keys every message by the row's primary key, so the lane follows from the
//! Kafka key ([`lane_for`]).
//!
//! Writes of one partition therefore finish out of order, while an offset may be stored only
//! when it and every earlier message of its partition are written. [`OffsetTracker`] holds, per
//! partition, the offsets handed out and not yet written, and answers with the highest offset
//! below all of them.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

/// A Kafka topic partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// The lane (`0..lanes`) of a message with this Kafka key, or `None` for a message without a
/// key: a truncate, or a row of a table without a primary key. Such a message cannot be
/// ordered against any row, so it waits until everything before it is written, and runs alone.
pub fn lane_for(topic: &str, key: Option<&[u8]>, lanes: usize) -> Option<usize> {
    let key = key?;
    let mut hasher = DefaultHasher::new();
    topic.hash(&mut hasher);
    key.hash(&mut hasher);
    // `lanes` is at most a few thousand, so the remainder fits any usize.
    Some((hasher.finish() % lanes.max(1) as u64) as usize)
}

/// One partition's messages handed out for writing.
#[derive(Debug, Default)]
struct PartitionProgress {
    /// Handed out and not written: running, queued, or abandoned at shutdown or revocation.
    unwritten: BTreeSet<i64>,
    /// Handed out and not ended (written or abandoned).
    running: usize,
    highest_dispatched: i64,
    /// The highest offset stored so far, or the one before the first message handed out.
    stored: i64,
}

/// Per partition, which messages are not yet written, and so which offset is safe to store.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, PartitionProgress>,
}

impl OffsetTracker {
    /// `offset` of `partition` was handed out for writing. Offsets of a partition are handed out
    /// in increasing order, as Kafka delivers them.
    pub fn dispatched(&mut self, partition: &TopicPartition, offset: i64) {
        let progress =
            self.partitions
                .entry(partition.clone())
                .or_insert_with(|| PartitionProgress {
                    stored: offset - 1,
                    ..PartitionProgress::default()
                });
        progress.unwritten.insert(offset);
        progress.running += 1;
        progress.highest_dispatched = progress.highest_dispatched.max(offset);
    }

    /// `offset` was written. Returns the offset to store now, if the safe one advanced: the
    /// highest offset such that it and everything before it in the partition are written.
    pub fn written(&mut self, partition: &TopicPartition, offset: i64) -> Option<i64> {
        let progress = self.partitions.get_mut(partition)?;
        if !progress.unwritten.remove(&offset) {
            return None;
        }
        progress.running -= 1;
        let safe = match progress.unwritten.first() {
            Some(first_unwritten) => first_unwritten - 1,
            None => progress.highest_dispatched,
        };
        (safe > progress.stored).then(|| {
            progress.stored = safe;
            safe
        })
    }

    /// `offset` ended without being written (shutdown or revocation). It stays unwritten, so no
    /// offset at or after it is stored; the next owner of the partition reads it again.
    pub fn abandoned(&mut self, partition: &TopicPartition, offset: i64) {
        if let Some(progress) = self.partitions.get_mut(partition) {
            if progress.unwritten.contains(&offset) {
                progress.running -= 1;
            }
        }
    }

    /// How many handed-out messages of `partition` have not ended.
    pub fn running(&self, partition: &TopicPartition) -> usize {
        self.partitions
            .get(partition)
            .map_or(0, |progress| progress.running)
    }

    /// Whether every handed-out message of every partition has ended.
    pub fn idle(&self) -> bool {
        self.partitions
            .values()
            .all(|progress| progress.running == 0)
    }

    /// Drops a partition that is no longer ours.
    pub fn forget(&mut self, partition: &TopicPartition) {
        self.partitions.remove(partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn partition() -> TopicPartition {
        TopicPartition {
            topic: "t".to_owned(),
            partition: 0,
        }
    }

    /// A tracker that has handed out `offsets` of [`partition`], in that order.
    fn tracker_with_dispatched(offsets: impl IntoIterator<Item = i64>) -> OffsetTracker {
        let p = partition();
        let mut tracker = OffsetTracker::default();
        for offset in offsets {
            tracker.dispatched(&p, offset);
        }
        tracker
    }

    #[test]
    fn stores_only_once_everything_before_is_written() {
        let p = partition();
        let mut tracker = tracker_with_dispatched(10..14);
        assert_eq!(tracker.written(&p, 12), None);
        assert_eq!(tracker.written(&p, 11), None);
        assert_eq!(tracker.written(&p, 10), Some(12));
        assert_eq!(tracker.written(&p, 13), Some(13));
        assert!(tracker.idle());
    }

    #[test]
    fn gaps_in_offsets_are_not_waited_for() {
        // Transaction markers and compaction leave offsets no message has.
        let p = partition();
        let mut tracker = tracker_with_dispatched([5, 8]);
        assert_eq!(tracker.written(&p, 8), None);
        assert_eq!(tracker.written(&p, 5), Some(8));
    }

    #[test]
    fn an_abandoned_message_blocks_every_later_offset() {
        let p = partition();
        let mut tracker = tracker_with_dispatched(0..4);
        assert_eq!(tracker.written(&p, 0), Some(0));
        tracker.abandoned(&p, 1);
        assert_eq!(tracker.written(&p, 2), None);
        assert_eq!(tracker.written(&p, 3), None);
        assert_eq!(tracker.running(&p), 0, "nothing is left running");
        assert!(tracker.idle());
    }

    #[test]
    fn a_forgotten_partition_stores_nothing_more() {
        let p = partition();
        let mut tracker = tracker_with_dispatched([0]);
        tracker.forget(&p);
        assert_eq!(tracker.written(&p, 0), None);
        // Assigned again later, it starts from what it is handed then.
        tracker.dispatched(&p, 7);
        assert_eq!(tracker.written(&p, 7), Some(7));
    }

    #[test]
    fn keyless_messages_have_no_lane_and_keys_keep_theirs() {
        assert_eq!(lane_for("t", None, 8), None);
        let lane = lane_for("t", Some(b"{\"id\":1}"), 8);
        assert!(lane.is_some_and(|lane| lane < 8));
        assert_eq!(lane_for("t", Some(b"{\"id\":1}"), 8), lane);
        assert_eq!(lane_for("t", Some(b"k"), 1), Some(0));
    }

    proptest! {
        /// Whatever order writes finish in, each stored offset is one whose message and every
        /// earlier one are written, stored offsets only grow, and the last one is the highest.
        #[test]
        fn stored_offsets_never_run_ahead_of_unwritten_messages(
            offsets in proptest::collection::btree_set(0i64..200, 1..40),
            order_seed in any::<u64>(),
        ) {
            let p = partition();
            let offsets: Vec<i64> = offsets.into_iter().collect();
            let mut tracker = tracker_with_dispatched(offsets.iter().copied());
            let mut finishing = offsets.clone();
            // A cheap deterministic shuffle driven by the seed.
            let mut state = order_seed | 1;
            for i in (1..finishing.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                finishing.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let mut written = BTreeSet::new();
            let mut last_stored = i64::MIN;
            for offset in finishing {
                written.insert(offset);
                if let Some(stored) = tracker.written(&p, offset) {
                    prop_assert!(stored > last_stored);
                    prop_assert!(offsets.iter().filter(|o| **o <= stored).all(|o| written.contains(o)));
                    last_stored = stored;
                }
            }
            prop_assert_eq!(last_stored, *offsets.last().unwrap_or(&0));
        }
    }
}
