//! The one name every resource of a slice carries, and how a leftover is recognised by it.

use std::sync::atomic::{AtomicU32, Ordering};

/// What every slice's name starts with; nothing of the pipeline's own starts with it.
pub const FIXTURE_PREFIX: &str = "it_";

/// `it_<label>_<unique>`: unique across processes and runs, and valid everywhere it is used.
/// PostgreSQL databases and slots take lowercase letters, digits and `_`; Cassandra keyspaces
/// at most 48 of them, so `label` is cut to 20.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(20)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{FIXTURE_PREFIX}{label}_{:x}_{nanos:x}{count:x}",
        std::process::id()
    )
}

/// The process that made the slice `name`, from the name itself (`it_<label>_<pid>_<unique>`).
pub fn creator_pid(name: &str) -> Option<u32> {
    let mut segments = name.rsplit('_');
    segments.next()?;
    u32::from_str_radix(segments.next()?, 16).ok()
}

/// Whether the slice `name` is a leftover: made by a test process that no longer runs. A slice
/// of a test still running (another `cargo xtask test` beside this one) is not.
pub fn is_leftover(name: &str) -> bool {
    name.starts_with(FIXTURE_PREFIX)
        && creator_pid(name)
            .is_none_or(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// The slice a Kafka topic belongs to: `<name>.public.<table>`, `<name>.dead-letter`, and
/// Debezium's `__debezium-heartbeat.<name>` all belong to `<name>`.
pub fn topic_owner(topic: &str) -> &str {
    let topic = topic.strip_prefix("__debezium-heartbeat.").unwrap_or(topic);
    topic.split('.').next().unwrap_or(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_every_store_and_differ() {
        let first = unique_name("Delivery: SIGKILL mid-stream, with a long label");
        let second = unique_name("Delivery: SIGKILL mid-stream, with a long label");
        assert_ne!(first, second);
        for name in [&first, &second] {
            assert!(name.starts_with("it_delivery__sigkill_mi_"), "{name}");
            assert!(name.len() <= 48, "{name} is too long for a keyspace");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_slice_of_a_running_process_is_no_leftover() {
        let ours = unique_name("running");
        assert_eq!(creator_pid(&ours), Some(std::process::id()));
        assert!(!is_leftover(&ours));
        // pid 0x7fffffff is above Linux's pid limit: no such process runs.
        assert!(is_leftover("it_gone_7fffffff_1a"));
        assert!(is_leftover("it_old_style_name"));
        assert!(!is_leftover("crypto_data"));
    }

    #[test]
    fn topics_belong_to_the_slice_named_before_their_first_dot() {
        assert_eq!(topic_owner("it_a_1.public.ticker_24h"), "it_a_1");
        assert_eq!(topic_owner("it_a_1.dead-letter"), "it_a_1");
        assert_eq!(topic_owner("__debezium-heartbeat.it_a_1"), "it_a_1");
        assert_eq!(topic_owner("crypto.public.klines"), "crypto");
    }
}
