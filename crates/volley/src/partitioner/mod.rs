//! Partitioners: which partition of a topic a record goes to.
//!
//! The order is Java `KafkaProducer`'s ([`choose_partition`]):
//!
//! 1. a partition set explicitly on the record, validated against the partition count;
//! 2. otherwise the user's [`Partitioner`] (`partitioner.class`), if one is configured;
//! 3. otherwise, for a record with a key (unless `partitioner.ignore.keys=true`),
//!    `to_positive(murmur2(key)) % partitions` ([`murmur2::partition_for_key`]), exactly as Java
//!    producers hash keys;
//! 4. otherwise the built-in uniform sticky partitioner ([`StickyPartitioner`], KIP-794), which
//!    sends keyless records to one partition until about `batch.size` bytes went there, then
//!    picks another one at random, weighted towards partitions with shorter queues when
//!    `partitioner.adaptive.partitioning.enable=true`.
//!
//! [`RoundRobinPartitioner`] is Java's `RoundRobinPartitioner`, for users who configure it.
//! `partitioner.availability.timeout.ms` is applied by the sender, which knows each leader's
//! connection (see `Sender::update_partition_load`).

pub mod murmur2;
pub mod round_robin;
pub mod sticky;

use std::time::Duration;

pub use murmur2::{murmur2, partition_for_key, to_positive};
pub use round_robin::RoundRobinPartitioner;
pub use sticky::StickyPartitioner;

use crate::error::Error;
use crate::metadata::{PartitionInfo, TopicInfo};

/// A user-supplied partitioner (Java's `Partitioner` interface).
///
/// It is called from the thread that calls `send`, possibly from many threads at once, so it
/// must be cheap and thread-safe.
pub trait Partitioner: Send + Sync + 'static {
    /// Returns the partition for a record; `None` lets the built-in sticky partitioner choose
    /// (for keyless records).
    ///
    /// More precisely, `None` applies the built-in partitioning: the key hash for a keyed record
    /// (unless `partitioner.ignore.keys=true`), the sticky partitioner otherwise.
    ///
    /// `key` and `value` are the serialized bytes (`None` for a null key or value). A returned
    /// partition outside `0..topic_info.partition_count()` fails the send with
    /// [`Error::PartitionOutOfRange`].
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        topic_info: &TopicInfo,
    ) -> Option<i32>;

    /// Called when the producer closes.
    fn close(&self) {}
}

/// Whether a partition counts as available for partitioning: it has a leader (Java's
/// `Cluster.availablePartitionsForTopic`).
#[inline]
pub fn partition_available(partition: &PartitionInfo) -> bool {
    partition.leader.is_some()
}

/// Which rule of [`choose_partition`] picked a record's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionSource {
    /// The record named its partition.
    Explicit,
    /// The user's [`Partitioner`] chose it.
    Custom,
    /// The key's murmur2 hash chose it.
    Key,
    /// The built-in sticky partitioner chose it: the caller reports the append with
    /// [`StickyPartitioner::on_append`] (Java calls `updatePartitionInfo` only in this case).
    Sticky,
}

/// A partition and the rule that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChosenPartition {
    /// The partition.
    pub partition: i32,
    /// The rule that chose it.
    pub source: PartitionSource,
}

/// The partition for a record, in Java `KafkaProducer`'s order: the explicit partition
/// (validated: it must be in `0..partition_count`, else [`Error::PartitionOutOfRange`]), then the
/// custom partitioner if set, then the key hash when the key is present and `ignore_keys`
/// (`partitioner.ignore.keys`) is false, then the sticky partitioner. A custom partitioner's
/// `None` falls through to the built-in rules (key hash, then sticky); Java's `Partitioner`
/// cannot decline, so with a custom partitioner that never returns `None` this is Java's order.
///
/// Errors: [`Error::PartitionOutOfRange`] for an explicit or custom partition outside the
/// topic's range (Java rejects negative ones with `IllegalArgumentException` and too-large
/// explicit ones with `KafkaException`; a too-large custom partition is not checked by Java, the
/// record then times out, but fails fast here); [`Error::UnknownTopic`] (with a zero wait) when
/// `topic` has no partitions, which callers avoid by taking topics from
/// [`Cluster::topic`](crate::metadata::Cluster::topic).
///
/// Allocation-free unless the sticky partitioner sees `topic` for the first time (or the
/// custom partitioner allocates).
pub fn choose_partition(
    explicit: Option<i32>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    ignore_keys: bool,
    topic: &TopicInfo,
    custom: Option<&dyn Partitioner>,
    sticky: &StickyPartitioner,
) -> Result<i32, Error> {
    choose_partition_with_source(explicit, key, value, ignore_keys, topic, custom, sticky)
        .map(|c| c.partition)
}

/// [`choose_partition`], also telling which rule chose the partition (the caller needs it to
/// call [`StickyPartitioner::on_append`] only for sticky-chosen records).
pub fn choose_partition_with_source(
    explicit: Option<i32>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    ignore_keys: bool,
    topic: &TopicInfo,
    custom: Option<&dyn Partitioner>,
    sticky: &StickyPartitioner,
) -> Result<ChosenPartition, Error> {
    let sticky = StickyChoice {
        partitioner: sticky,
        state: None,
    };
    choose_partition_in(explicit, key, value, ignore_keys, topic, custom, sticky)
}

/// The sticky partitioner, and the topic's state in it when the caller holds it.
#[derive(Clone, Copy)]
pub(crate) struct StickyChoice<'a> {
    pub partitioner: &'a StickyPartitioner,
    pub state: Option<&'a sticky::StickyTopic>,
}

impl StickyChoice<'_> {
    fn current_partition(self, topic: &TopicInfo) -> i32 {
        match self.state {
            Some(s) => self.partitioner.current_partition_of(s, topic),
            None => self.partitioner.current_partition(topic),
        }
    }

    /// [`StickyPartitioner::on_append`], through the held state if there is one.
    pub(crate) fn on_append(self, topic: &TopicInfo, partition: i32, bytes: usize, full: bool) {
        match self.state {
            Some(s) => self
                .partitioner
                .on_append_of(s, topic, partition, bytes, full),
            None => self.partitioner.on_append(topic, partition, bytes, full),
        }
    }
}

/// [`choose_partition_with_source`] with the sticky partitioner's topic state possibly at hand.
pub(crate) fn choose_partition_in(
    explicit: Option<i32>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    ignore_keys: bool,
    topic: &TopicInfo,
    custom: Option<&dyn Partitioner>,
    sticky: StickyChoice<'_>,
) -> Result<ChosenPartition, Error> {
    let count = topic.partition_count();
    let chosen = |partition, source| ChosenPartition { partition, source };
    if let Some(p) = explicit {
        check_range(topic, p, count)?;
        return Ok(chosen(p, PartitionSource::Explicit));
    }
    if count <= 0 {
        return Err(Error::UnknownTopic {
            topic: topic.name.to_string(),
            after: Duration::ZERO,
            cause: None,
        });
    }
    if let Some(custom) = custom {
        if let Some(p) = custom.partition(&topic.name, key, value, topic) {
            check_range(topic, p, count)?;
            return Ok(chosen(p, PartitionSource::Custom));
        }
    }
    if let (Some(key), false) = (key, ignore_keys) {
        return Ok(chosen(partition_for_key(key, count), PartitionSource::Key));
    }
    Ok(chosen(
        sticky.current_partition(topic),
        PartitionSource::Sticky,
    ))
}

fn check_range(topic: &TopicInfo, partition: i32, count: i32) -> Result<(), Error> {
    if (0..count).contains(&partition) {
        Ok(())
    } else {
        Err(Error::PartitionOutOfRange {
            topic: topic.name.to_string(),
            partition,
            partitions: count,
        })
    }
}

/// Topic fixtures shared by the partitioner tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use crate::error::KafkaCode;
    use crate::metadata::{PartitionInfo, TopicInfo};

    /// A topic whose partitions `0..n` all have a leader except those in `leaderless`.
    pub(crate) fn topic(name: &str, n: i32, leaderless: &[i32]) -> TopicInfo {
        TopicInfo {
            name: Arc::from(name),
            id: 1,
            error: KafkaCode::NONE,
            internal: false,
            partitions: (0..n)
                .map(|p| PartitionInfo {
                    partition: p,
                    leader: (!leaderless.contains(&p)).then_some(p % 3),
                    leader_epoch: 0,
                    metadata_epoch: 0,
                    replicas: vec![p % 3],
                    isr: vec![p % 3],
                    error: KafkaCode::NONE,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::topic;
    use super::*;

    struct Fixed(Option<i32>);

    impl Partitioner for Fixed {
        fn partition(
            &self,
            _topic: &str,
            _key: Option<&[u8]>,
            _value: Option<&[u8]>,
            _topic_info: &TopicInfo,
        ) -> Option<i32> {
            self.0
        }
    }

    /// Records what the custom partitioner was given.
    struct EchoValueLen;

    impl Partitioner for EchoValueLen {
        fn partition(
            &self,
            topic: &str,
            key: Option<&[u8]>,
            value: Option<&[u8]>,
            topic_info: &TopicInfo,
        ) -> Option<i32> {
            assert_eq!(topic, &*topic_info.name);
            assert_eq!(key, Some(&b"k"[..]));
            value.map(|v| v.len() as i32)
        }
    }

    #[test]
    fn explicit_partition_is_validated() {
        let t = topic("t", 6, &[]);
        let sticky = StickyPartitioner::new(16384, true);
        for p in 0..6 {
            let c =
                choose_partition_with_source(Some(p), Some(b"k"), None, false, &t, None, &sticky)
                    .unwrap();
            assert_eq!(
                c,
                ChosenPartition {
                    partition: p,
                    source: PartitionSource::Explicit
                }
            );
        }
        for bad in [6, 7, -1, i32::MIN, i32::MAX] {
            match choose_partition(Some(bad), None, None, false, &t, None, &sticky) {
                Err(Error::PartitionOutOfRange {
                    topic,
                    partition,
                    partitions,
                }) => {
                    assert_eq!((topic.as_str(), partition, partitions), ("t", bad, 6));
                }
                other => panic!("partition {bad}: expected PartitionOutOfRange, got {other:?}"),
            }
        }
        // The explicit partition wins over a custom partitioner.
        let custom = Fixed(Some(1));
        assert_eq!(
            choose_partition(Some(4), None, None, false, &t, Some(&custom), &sticky).unwrap(),
            4
        );
    }

    #[test]
    fn keyed_records_hash_unless_keys_are_ignored() {
        let t = topic("t", 7, &[]);
        let sticky = StickyPartitioner::new(16384, false);
        let sticky_p = sticky.current_partition(&t);
        for i in 0..200 {
            let key = format!("key-{i}");
            let c = choose_partition_with_source(
                None,
                Some(key.as_bytes()),
                None,
                false,
                &t,
                None,
                &sticky,
            )
            .unwrap();
            assert_eq!(c.source, PartitionSource::Key);
            assert_eq!(c.partition, partition_for_key(key.as_bytes(), 7));
            // partitioner.ignore.keys=true: keyed records use the sticky partition.
            let c = choose_partition_with_source(
                None,
                Some(key.as_bytes()),
                None,
                true,
                &t,
                None,
                &sticky,
            )
            .unwrap();
            assert_eq!(
                c,
                ChosenPartition {
                    partition: sticky_p,
                    source: PartitionSource::Sticky
                }
            );
        }
        // An empty key is a key (hashed), not a missing one.
        assert_eq!(
            choose_partition(None, Some(b""), None, false, &t, None, &sticky).unwrap(),
            partition_for_key(b"", 7)
        );
        let c = choose_partition_with_source(None, None, None, false, &t, None, &sticky).unwrap();
        assert_eq!(
            c,
            ChosenPartition {
                partition: sticky_p,
                source: PartitionSource::Sticky
            }
        );
    }

    #[test]
    fn custom_partitioner_comes_before_the_key_and_may_defer_to_sticky() {
        let t = topic("t", 6, &[]);
        let sticky = StickyPartitioner::new(16384, true);
        let c = choose_partition_with_source(
            None,
            Some(b"k"),
            None,
            false,
            &t,
            Some(&Fixed(Some(2))),
            &sticky,
        )
        .unwrap();
        assert_eq!(
            c,
            ChosenPartition {
                partition: 2,
                source: PartitionSource::Custom
            }
        );

        // None: the built-in rules apply (key hash for a keyed record, else sticky).
        let c = choose_partition_with_source(
            None,
            Some(b"k"),
            None,
            false,
            &t,
            Some(&Fixed(None)),
            &sticky,
        )
        .unwrap();
        assert_eq!(
            c,
            ChosenPartition {
                partition: partition_for_key(b"k", 6),
                source: PartitionSource::Key
            }
        );
        let c = choose_partition_with_source(
            None,
            Some(b"k"),
            None,
            true,
            &t,
            Some(&Fixed(None)),
            &sticky,
        )
        .unwrap();
        assert_eq!(
            c,
            ChosenPartition {
                partition: sticky.current_partition(&t),
                source: PartitionSource::Sticky
            }
        );
        let c =
            choose_partition_with_source(None, None, None, false, &t, Some(&Fixed(None)), &sticky)
                .unwrap();
        assert_eq!(
            c,
            ChosenPartition {
                partition: sticky.current_partition(&t),
                source: PartitionSource::Sticky
            }
        );

        for bad in [6, -1] {
            assert!(matches!(
                choose_partition(None, None, None, false, &t, Some(&Fixed(Some(bad))), &sticky),
                Err(Error::PartitionOutOfRange { partition, .. }) if partition == bad
            ));
        }

        // The custom partitioner sees the topic, key and value.
        let p = choose_partition(
            None,
            Some(b"k"),
            Some(b"vvv"),
            false,
            &t,
            Some(&EchoValueLen),
            &sticky,
        )
        .unwrap();
        assert_eq!(p, 3);
    }

    #[test]
    fn topic_without_partitions_is_an_error_not_a_panic() {
        let t = topic("empty", 0, &[]);
        let sticky = StickyPartitioner::new(16384, true);
        assert!(matches!(
            choose_partition(None, Some(b"k"), None, false, &t, None, &sticky),
            Err(Error::UnknownTopic { .. })
        ));
        assert!(matches!(
            choose_partition(None, None, None, false, &t, None, &sticky),
            Err(Error::UnknownTopic { .. })
        ));
        assert!(matches!(
            choose_partition(Some(0), None, None, false, &t, None, &sticky),
            Err(Error::PartitionOutOfRange { partitions: 0, .. })
        ));
    }

    #[test]
    fn round_robin_as_custom_partitioner() {
        let t = topic("t", 3, &[]);
        let sticky = StickyPartitioner::new(16384, true);
        let rr = RoundRobinPartitioner::new();
        let got: Vec<i32> = (0..6)
            .map(|_| {
                choose_partition(None, Some(b"k"), None, false, &t, Some(&rr), &sticky).unwrap()
            })
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
    }
}
