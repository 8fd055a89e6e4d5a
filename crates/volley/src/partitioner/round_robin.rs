//! Java's `RoundRobinPartitioner`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::murmur2::to_positive;
use super::{partition_available, Partitioner};
use crate::metadata::TopicInfo;

/// Spreads records over partitions in turn, whatever their keys (Java's
/// `org.apache.kafka.clients.producer.RoundRobinPartitioner`).
///
/// Each topic has its own counter, starting at 0 and incremented (wrapping like a Java `int`)
/// once per [`Partitioner::partition`] call. The counter value `v` picks the
/// `to_positive(v) % k`-th of the `k` partitions that have a leader, in partition order, or,
/// when no partition has a leader, partition `to_positive(v) % partition_count`.
///
/// Call it once per record: every call advances the counter.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: RwLock<HashMap<Arc<str>, AtomicI32>>,
}

impl RoundRobinPartitioner {
    /// A partitioner with all counters at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the topic's counter value and advances it (Java `getAndIncrement`).
    fn next_value(&self, topic: &str, topic_info: &TopicInfo) -> i32 {
        if let Some(c) = self.counters.read().get(topic) {
            return c.fetch_add(1, Ordering::Relaxed);
        }
        let name = if &*topic_info.name == topic {
            topic_info.name.clone()
        } else {
            Arc::from(topic)
        };
        self.counters
            .write()
            .entry(name)
            .or_insert_with(|| AtomicI32::new(0))
            .fetch_add(1, Ordering::Relaxed)
    }
}

impl Partitioner for RoundRobinPartitioner {
    /// The next partition in turn; `None` only for a topic without partitions.
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        topic_info: &TopicInfo,
    ) -> Option<i32> {
        let parts = &topic_info.partitions;
        if parts.is_empty() {
            return None;
        }
        let v = to_positive(self.next_value(topic, topic_info)) as usize;
        let available = parts.iter().filter(|p| partition_available(p)).count();
        if available == 0 {
            // No partition has a leader: give a non-available one.
            return Some((v % parts.len()) as i32);
        }
        parts
            .iter()
            .filter(|p| partition_available(p))
            .nth(v % available)
            .map(|p| p.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::topic;
    use super::*;

    fn take(rr: &RoundRobinPartitioner, t: &TopicInfo, n: usize) -> Vec<i32> {
        (0..n)
            .map(|_| rr.partition(&t.name, Some(b"same key"), None, t).unwrap())
            .collect()
    }

    #[test]
    fn cycles_over_all_partitions_ignoring_keys() {
        let rr = RoundRobinPartitioner::new();
        let t = topic("t", 4, &[]);
        assert_eq!(take(&rr, &t, 9), [0, 1, 2, 3, 0, 1, 2, 3, 0]);
    }

    #[test]
    fn cycles_over_available_partitions_only() {
        let rr = RoundRobinPartitioner::new();
        let t = topic("t", 6, &[1, 3]);
        assert_eq!(take(&rr, &t, 9), [0, 2, 4, 5, 0, 2, 4, 5, 0]);
    }

    #[test]
    fn uses_all_partitions_when_none_is_available() {
        let rr = RoundRobinPartitioner::new();
        let t = topic("t", 3, &[0, 1, 2]);
        assert_eq!(take(&rr, &t, 5), [0, 1, 2, 0, 1]);
    }

    #[test]
    fn counters_are_per_topic() {
        let rr = RoundRobinPartitioner::new();
        let a = topic("a", 3, &[]);
        let b = topic("b", 3, &[]);
        assert_eq!(take(&rr, &a, 2), [0, 1]);
        assert_eq!(take(&rr, &b, 1), [0]);
        assert_eq!(take(&rr, &a, 2), [2, 0]);
        assert_eq!(take(&rr, &b, 1), [1]);
        assert_eq!(
            rr.partition("empty", None, None, &topic("empty", 0, &[])),
            None
        );
    }

    #[test]
    fn counter_wraps_like_a_java_int() {
        let rr = RoundRobinPartitioner::new();
        let t = topic("t", 3, &[]);
        rr.counters
            .write()
            .insert(t.name.clone(), AtomicI32::new(i32::MAX - 1));
        // MAX-1 % 3 = 0, MAX % 3 = 1, then MIN wraps: to_positive(MIN) = 0, then 1.
        assert_eq!(take(&rr, &t, 4), [0, 1, 0, 1]);
    }

    #[test]
    fn concurrent_callers_share_the_cycle_evenly() {
        let rr = Arc::new(RoundRobinPartitioner::new());
        let t = Arc::new(topic("t", 5, &[]));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (rr, t) = (rr.clone(), t.clone());
                std::thread::spawn(move || {
                    let mut counts = [0usize; 5];
                    for _ in 0..1000 {
                        counts[rr.partition("t", None, None, &t).unwrap() as usize] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut total = [0usize; 5];
        for th in threads {
            for (i, c) in th.join().unwrap().iter().enumerate() {
                total[i] += c;
            }
        }
        assert_eq!(total, [800; 5]);
    }
}
