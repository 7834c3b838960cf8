//! Concurrent writes in order per key: the lanes, and the progress that decides which offsets
//! they may store.
//!
//! There are `max_in_flight` lanes, each a task that runs one job at a time, so at most that
//! many Cassandra requests are in flight. A job's lane follows from its Kafka key
//! ([`lane_for`](crate::ordering::lane_for)): all changes of one row run in one lane, in the
//! order they were consumed. The lanes together hold at most [`QUEUED_PER_LANE`] jobs per lane,
//! after which handing out more waits: that, with librdkafka's bounded fetch queue, bounds
//! memory. The bound is shared rather than per lane, so one busy lane does not hold up the
//! others.
//!
//! [`Progress`] is shared by the dispatcher, the lanes and the rebalance callback: it stores an
//! offset once its message and every earlier one of the partition are written, cancels the
//! jobs of a revoked partition, and lets the callback wait until none of them is running.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ordering::{OffsetTracker, TopicPartition};

/// How many jobs the lanes hold, per lane, counting those running. Two keep nearly every lane
/// busy (keys spread evenly); four held some 10 MiB more (each job keeps its ~9.5 KB message
/// for the dead-letter topic) for no more throughput (`cargo xtask bench consumer`).
pub const QUEUED_PER_LANE: usize = 2;

/// Where an offset goes once it is safe: the Kafka consumer's offset store.
pub trait OffsetStore: Send + Sync {
    /// Stores `offset` as processed (the next commit resumes after it).
    fn store(&self, partition: &TopicPartition, offset: i64);
}

/// Something that runs a job to its end: `true` when written (or dead-lettered), `false` when
/// abandoned because `stop` was cancelled first.
pub trait Execute<J>: Send + Sync + 'static {
    fn execute(&self, job: &J, stop: &CancellationToken) -> impl Future<Output = bool> + Send;
}

/// A message handed out for writing.
pub struct Dispatched<J> {
    pub partition: TopicPartition,
    pub offset: i64,
    /// Cancelled at shutdown, or when the partition is revoked.
    pub stop: CancellationToken,
    /// The message's span (topic, partition, offset), for what the job logs.
    pub span: tracing::Span,
    pub job: J,
}

struct ProgressState {
    tracker: OffsetTracker,
    /// Per assigned partition, the token its jobs stop on; children of the shutdown token.
    stops: HashMap<TopicPartition, CancellationToken>,
}

pub struct Progress {
    state: Mutex<ProgressState>,
    /// Notified whenever a job ends.
    ended: Notify,
    shutdown: CancellationToken,
}

impl Progress {
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            state: Mutex::new(ProgressState {
                tracker: OffsetTracker::default(),
                stops: HashMap::new(),
            }),
            ended: Notify::new(),
            shutdown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ProgressState> {
        // The state stays consistent at every unlock, so a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands out `offset` of `partition` for writing; returns the token its job stops on.
    pub fn dispatch(&self, partition: &TopicPartition, offset: i64) -> CancellationToken {
        let mut state = self.lock();
        state.tracker.dispatched(partition, offset);
        state
            .stops
            .entry(partition.clone())
            .or_insert_with(|| self.shutdown.child_token())
            .clone()
    }

    /// A handed-out message ended; stores the offset that became safe, if any. The store
    /// happens under the lock so that stores of one partition are never reordered.
    pub fn end(
        &self,
        partition: &TopicPartition,
        offset: i64,
        written: bool,
        store: &dyn OffsetStore,
    ) {
        {
            let mut state = self.lock();
            if written {
                if let Some(safe) = state.tracker.written(partition, offset) {
                    store.store(partition, safe);
                }
            } else {
                state.tracker.abandoned(partition, offset);
            }
        }
        self.ended.notify_waiters();
    }

    /// Waits until every handed-out message has ended; used before a message that runs alone.
    pub async fn idle(&self) {
        self.wait_until(|state| state.tracker.idle()).await;
    }

    /// Stops the jobs of `partitions` (those queued end without writing; a request already sent
    /// finishes), waits until none is running, and forgets them; their stored offsets are then
    /// final. Called from librdkafka's rebalance callback, which cannot await: it blocks this
    /// thread, letting the runtime's other workers run the lanes.
    pub fn release_blocking(&self, partitions: &[TopicPartition]) {
        {
            let mut state = self.lock();
            for partition in partitions {
                if let Some(stop) = state.stops.remove(partition) {
                    stop.cancel();
                }
            }
        }
        let running = |state: &ProgressState| {
            partitions
                .iter()
                .any(|partition| state.tracker.running(partition) > 0)
        };
        if running(&self.lock()) {
            match tokio::runtime::Handle::try_current() {
                Ok(handle)
                    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread =>
                {
                    tokio::task::block_in_place(|| {
                        handle.block_on(self.wait_until(|state| !running(state)));
                    });
                }
                _ => tracing::warn!(
                    "cannot wait for the revoked partitions' writes outside a multi-threaded runtime"
                ),
            }
        }
        let mut state = self.lock();
        for partition in partitions {
            state.tracker.forget(partition);
        }
    }

    async fn wait_until(&self, done: impl Fn(&ProgressState) -> bool) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the check, so an end between the check and the await still wakes.
            ended.as_mut().enable();
            if done(&self.lock()) {
                return;
            }
            ended.await;
        }
    }
}

/// A job in a lane, with its share of the lanes' bound on held jobs.
type Queued<J> = (Dispatched<J>, OwnedSemaphorePermit);

/// The lanes: tasks that run jobs, one at a time each.
pub struct Lanes<J> {
    senders: Vec<mpsc::UnboundedSender<Queued<J>>>,
    /// Permits for the jobs the lanes may hold.
    room: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl<J: Send + 'static> Lanes<J> {
    pub fn start<E: Execute<J>>(
        count: usize,
        executor: Arc<E>,
        progress: Arc<Progress>,
        offsets: Arc<dyn OffsetStore>,
    ) -> Self {
        let count = count.max(1);
        let mut senders = Vec::with_capacity(count);
        let mut tasks = JoinSet::new();
        for _ in 0..count {
            let (sender, receiver) = mpsc::unbounded_channel();
            senders.push(sender);
            tasks.spawn(run_lane(
                receiver,
                Arc::clone(&executor),
                Arc::clone(&progress),
                Arc::clone(&offsets),
            ));
        }
        Self {
            senders,
            room: Arc::new(Semaphore::new(count * QUEUED_PER_LANE)),
            tasks,
        }
    }

    pub fn count(&self) -> usize {
        self.senders.len()
    }

    /// Queues a job on `lane`, waiting while the lanes hold as many jobs as they may.
    pub async fn submit(&self, lane: usize, dispatched: Dispatched<J>) {
        let Ok(permit) = Arc::clone(&self.room).acquire_owned().await else {
            // The semaphore is never closed.
            return;
        };
        // A lane's task ends only after its sender is dropped in `close`, so sending cannot fail.
        if self.senders[lane % self.senders.len()]
            .send((dispatched, permit))
            .is_err()
        {
            tracing::error!("lane {lane} ended early");
        }
    }

    /// Lets every lane finish what it holds, then returns.
    pub async fn close(mut self) {
        self.senders.clear();
        while let Some(ended) = self.tasks.join_next().await {
            if let Err(error) = ended {
                tracing::error!("a lane failed: {error}");
            }
        }
    }
}

async fn run_lane<J, E: Execute<J>>(
    mut jobs: mpsc::UnboundedReceiver<Queued<J>>,
    executor: Arc<E>,
    progress: Arc<Progress>,
    offsets: Arc<dyn OffsetStore>,
) {
    while let Some((dispatched, _permit)) = jobs.recv().await {
        let written = !dispatched.stop.is_cancelled()
            && executor
                .execute(&dispatched.job, &dispatched.stop)
                .instrument(dispatched.span.clone())
                .await;
        progress.end(
            &dispatched.partition,
            dispatched.offset,
            written,
            offsets.as_ref(),
        );
    }
}

#[cfg(test)]
mod tests {
    //! The lanes against an executor that records what runs when; no service is involved.

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A job: the row it changes and its sequence number for that row.
    struct Change {
        row: u64,
        sequence: u32,
    }

    #[derive(Default)]
    struct Recorder {
        running: AtomicUsize,
        most_running: AtomicUsize,
        /// (row, sequence) in the order they finished.
        finished: Mutex<Vec<(u64, u32)>>,
    }

    impl Execute<Change> for Recorder {
        async fn execute(&self, job: &Change, stop: &CancellationToken) -> bool {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            // Varying delays, so that rows overtake each other.
            let delay = Duration::from_micros(200 * ((job.row * 7 + u64::from(job.sequence)) % 5));
            let written = tokio::select! {
                _ = stop.cancelled() => false,
                _ = tokio::time::sleep(delay) => true,
            };
            if written {
                let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
                finished.push((job.row, job.sequence));
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            written
        }
    }

    #[derive(Default)]
    struct StoredOffsets(Mutex<Vec<i64>>);

    impl OffsetStore for StoredOffsets {
        fn store(&self, _: &TopicPartition, offset: i64) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(offset);
        }
    }

    fn partition() -> TopicPartition {
        TopicPartition {
            topic: "t".to_owned(),
            partition: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_keep_their_order_within_the_bound_and_offsets_trail_the_writes() {
        const LANES: usize = 4;
        let recorder = Arc::new(Recorder::default());
        let stored = Arc::new(StoredOffsets::default());
        let progress = Arc::new(Progress::new(CancellationToken::new()));
        let lanes = Lanes::start(LANES, recorder.clone(), progress.clone(), stored.clone());
        let p = partition();
        let mut offset = 0;
        for sequence in 0..20u32 {
            for row in 0..10u64 {
                let stop = progress.dispatch(&p, offset);
                let key = row.to_be_bytes();
                let lane = crate::ordering::lane_for("t", Some(&key), lanes.count());
                let job = Change { row, sequence };
                let dispatched = Dispatched {
                    partition: p.clone(),
                    offset,
                    stop,
                    span: tracing::Span::none(),
                    job,
                };
                lanes.submit(lane.unwrap_or(0), dispatched).await;
                offset += 1;
            }
        }
        lanes.close().await;

        assert!(recorder.most_running.load(Ordering::SeqCst) <= LANES);
        let finished = recorder
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert_eq!(finished.len(), 200);
        for row in 0..10 {
            let sequences: Vec<u32> = finished
                .iter()
                .filter(|(r, _)| *r == row)
                .map(|(_, sequence)| *sequence)
                .collect();
            assert_eq!(
                sequences,
                (0..20).collect::<Vec<_>>(),
                "row {row} out of order"
            );
        }
        let stored = stored.0.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            stored.windows(2).all(|pair| pair[0] < pair[1]),
            "{stored:?}"
        );
        assert_eq!(stored.last(), Some(&199));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn releasing_a_partition_stops_its_jobs_and_waits_for_them() {
        /// Never finishes until stopped: Cassandra is away.
        struct Stuck;
        impl Execute<()> for Stuck {
            async fn execute(&self, _: &(), stop: &CancellationToken) -> bool {
                stop.cancelled().await;
                false
            }
        }
        let stored = Arc::new(StoredOffsets::default());
        let progress = Arc::new(Progress::new(CancellationToken::new()));
        let lanes = Lanes::start(2, Arc::new(Stuck), progress.clone(), stored.clone());
        let p = partition();
        // As many as the lanes hold: one more would wait for room that the stuck jobs never make.
        for offset in 0..(2 * QUEUED_PER_LANE) as i64 {
            let stop = progress.dispatch(&p, offset);
            let dispatched = Dispatched {
                partition: p.clone(),
                offset,
                stop,
                span: tracing::Span::none(),
                job: (),
            };
            lanes.submit(offset as usize % 2, dispatched).await;
        }
        // What librdkafka's rebalance callback does, from inside a task.
        let releasing = progress.clone();
        let p_released = p.clone();
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio::spawn(async move { releasing.release_blocking(&[p_released]) }),
        )
        .await
        .expect("release waited for stuck jobs instead of stopping them")
        .expect("release panicked");
        assert!(progress.lock().tracker.idle());
        assert!(
            stored
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        );
        lanes.close().await;
    }
}
