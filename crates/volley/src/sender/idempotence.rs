//! Producer id, epoch and per-partition sequence numbers (the idempotent producer).
//!
//! Sequences are assigned when a batch is drained for its first send and never change while
//! its epoch lives. A partition's unacknowledged sequences are tracked until each batch ends;
//! a retried batch may only be resent when it holds the lowest unacknowledged sequence, so the
//! broker sees sequences in order. A batch that ends in failure after its sequence was used
//! leaves a gap the broker would never accept past, so the producer then bumps its epoch (or
//! gets a new id) once nothing is in flight, and sequences restart at 0 (KIP-360).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::accumulator::{ProducerBatch, ProducerStamp};

/// The producer id state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PidState {
    /// No id yet (or a reset was decided): an InitProducerId must be sent.
    Unset,
    /// An InitProducerId is in flight.
    Requesting,
    /// Usable.
    Ready,
}

#[derive(Debug, Default)]
pub(crate) struct PartitionSeq {
    next: i32,
    unacked: BTreeSet<i32>,
    /// The sequence after the last acknowledged batch.
    acked_end: i32,
    /// A batch failed with its fate unknown: new batches wait until the batches sent after it
    /// have ended, which tells whether the broker has it.
    unresolved: bool,
    /// Whether a batch of this producer id and epoch has been acknowledged on the partition.
    acked_any: bool,
    /// Base sequences of the batches stamped from the lowest unacknowledged one on (answered
    /// or not): what the broker may have appended after that batch. See
    /// [`BROKER_DUPLICATE_WINDOW`].
    since_unacked: BTreeSet<i32>,
}

/// How many of a producer's latest batches per partition the broker remembers to recognise a
/// retry as a duplicate (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`). A retry of an
/// older batch is answered OUT_OF_ORDER_SEQUENCE_NUMBER even though the broker has it, which
/// reads as a gap. So no more than this many batches of a partition are stamped from its
/// lowest unacknowledged one on, whatever the connections they went to: after a leader move,
/// batches in flight to the old leader plus new ones to the new leader could exceed the
/// window per connection that `max.in.flight.requests.per.connection` <= 5 keeps
/// (randomized simulation, seed 0xc256f: a retry fell out of the window, an epoch bump
/// followed, and the batches were written twice).
pub(crate) const BROKER_DUPLICATE_WINDOW: usize = 5;

impl PartitionSeq {
    /// Forgets the stamped batches below the lowest unacknowledged one (all of them when
    /// none is unacknowledged).
    fn prune(&mut self) {
        match self.unacked.first() {
            None => self.since_unacked.clear(),
            // In wrapping order (sequences wrap at i32::MAX), not the set's.
            Some(&first) => self
                .since_unacked
                .retain(|&q| seq_ahead(first, q).is_some()),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Idempotence {
    pub producer_id: i64,
    pub epoch: i16,
    pub state: PidState,
    /// A sequence gap or an unknown producer id was seen: bump the epoch once nothing is in
    /// flight.
    pub needs_reset: bool,
    partitions: HashMap<(Arc<str>, i32), PartitionSeq>,
    /// `(topic, partition, base sequence)` of batches of this epoch waiting for a retry whose
    /// last attempt got no answer (timed out or disconnected): the broker may have them. A
    /// pending epoch bump waits until each has been sent again as it is and answered, since
    /// under new sequences the broker could not recognise one it already has (a duplicate).
    unanswered: HashSet<(Arc<str>, i32, i32)>,
}

fn next_seq(seq: i32, count: u32) -> i32 {
    // Sequences wrap from i32::MAX to 0, as in the broker.
    ((seq as i64 + count as i64) % (i32::MAX as i64 + 1)) as i32
}

/// How far `to` is after `from` in the wrapping sequence space (modulo 2^31), if it is at or
/// after it by less than half the space; `None` if it is before.
fn seq_ahead(from: i32, to: i32) -> Option<i32> {
    let d = to.wrapping_sub(from) & i32::MAX;
    (d < 1 << 30).then_some(d)
}

impl Idempotence {
    pub(crate) fn new() -> Idempotence {
        Idempotence {
            producer_id: -1,
            epoch: -1,
            state: PidState::Unset,
            needs_reset: false,
            partitions: HashMap::new(),
            unanswered: HashSet::new(),
        }
    }

    /// Whether a pending epoch bump waits for batches to be retried first (see
    /// [`Idempotence::on_retry`]); those batches may be drained meanwhile.
    pub(crate) fn retrying_before_reset(&self) -> bool {
        self.state == PidState::Ready && self.needs_reset && !self.unanswered.is_empty()
    }

    /// A batch goes back to its queue for a retry; `no_answer`: its attempt got no answer.
    /// Until it is sent again, a pending epoch bump waits (see the `unanswered` field).
    pub(crate) fn on_retry(&mut self, b: &ProducerBatch, no_answer: bool) {
        let Some(s) = b.stamp else { return };
        if s.producer_id != self.producer_id || s.epoch != self.epoch {
            return;
        }
        let key = (b.topic.clone(), b.partition, s.base_sequence);
        if no_answer {
            self.unanswered.insert(key);
        } else {
            self.unanswered.remove(&key);
        }
    }

    /// Whether batches may be drained now.
    pub(crate) fn can_send(&self) -> bool {
        self.state == PidState::Ready && !self.needs_reset
    }

    /// Installs a new id and epoch; sequences restart at 0.
    pub(crate) fn set_producer(&mut self, producer_id: i64, epoch: i16) {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.state = PidState::Ready;
        self.needs_reset = false;
        self.partitions.clear();
        self.unanswered.clear();
    }

    /// The stamp for a batch about to be sent, or `Err(())` if the partition must wait.
    ///
    /// A batch that carries a stamp of the current producer id and epoch keeps it, and may go
    /// only when its sequence is the lowest unacknowledged one of its partition. A batch
    /// without one (or with a stamp from an older epoch, after a bump) gets the partition's
    /// next sequence.
    ///
    /// While an epoch bump is pending, only batches of partitions with a batch whose attempt
    /// got no answer may go (with their stamp, in sequence order), so that the broker answers
    /// for them under the epoch they were written with.
    pub(crate) fn stamp(&mut self, b: &ProducerBatch) -> Result<Option<ProducerStamp>, ()> {
        // Any batch of such a partition keeps its stamp and goes in sequence order: one that
        // got an answer may sit in front of an unanswered one, which cannot go before it.
        let retry_first = self.retrying_before_reset()
            && b.stamp.is_some_and(|s| {
                s.producer_id == self.producer_id
                    && s.epoch == self.epoch
                    && self
                        .unanswered
                        .iter()
                        .any(|(t, p, _)| *t == b.topic && *p == b.partition)
            });
        if !self.can_send() && !retry_first {
            return Err(());
        }
        let key = (b.topic.clone(), b.partition);
        let p = self.partitions.entry(key).or_default();
        if let Some(s) = b.stamp {
            if s.producer_id == self.producer_id && s.epoch == self.epoch {
                if !p.unacked.contains(&s.base_sequence) {
                    // A split half: its sequences were the parent's, now counted as its own.
                    p.unacked.insert(s.base_sequence);
                    p.since_unacked.insert(s.base_sequence);
                }
                return if p.unacked.first() == Some(&s.base_sequence) {
                    if !self.unanswered.is_empty() {
                        self.unanswered
                            .remove(&(b.topic.clone(), b.partition, s.base_sequence));
                    }
                    Ok(Some(s))
                } else {
                    Err(())
                };
            }
        }
        if p.unresolved {
            return Err(());
        }
        // Until the partition has acknowledged a batch of this producer id, only one batch may
        // be in flight: a broker that does not know the producer yet accepts its first batch
        // whatever its sequence. With two in flight, if the first is refused (say
        // UNKNOWN_TOPIC_OR_PARTITION right after the topic was created) and the second is
        // accepted, the broker's sequence starts past the first, which could then only be
        // written out of order (after an epoch bump): records reordered.
        if !p.acked_any && !p.unacked.is_empty() {
            return Err(());
        }
        if p.since_unacked.len() >= BROKER_DUPLICATE_WINDOW {
            return Err(());
        }
        let seq = p.next;
        p.next = next_seq(seq, b.record_count);
        p.unacked.insert(seq);
        p.since_unacked.insert(seq);
        Ok(Some(ProducerStamp {
            producer_id: self.producer_id,
            epoch: self.epoch,
            base_sequence: seq,
        }))
    }

    /// A batch ended (success or final failure). A failure of a batch whose sequence was used
    /// leaves a gap: an epoch bump is scheduled. Unless `maybe_written`: its last attempt got
    /// no answer, so the broker may have appended it (and the later batches in flight behind
    /// it, which must then keep their sequences). Its sequence is then unresolved (Java's
    /// `markSequenceUnresolved`): the batches sent after it are retried as they are, new ones
    /// wait; if the broker lacks it, OUT_OF_ORDER_SEQUENCE_NUMBER for the next one (the first
    /// unacknowledged) triggers the bump; once all have ended, the epoch is bumped unless the
    /// acknowledged sequences reach the partition's next one.
    pub(crate) fn on_batch_done(&mut self, b: &ProducerBatch, success: bool, maybe_written: bool) {
        let Some(s) = b.stamp else { return };
        if s.producer_id != self.producer_id || s.epoch != self.epoch {
            return;
        }
        if !self.unanswered.is_empty() {
            self.unanswered
                .remove(&(b.topic.clone(), b.partition, s.base_sequence));
        }
        let failed_after_send = !success && b.attempts > 0;
        if let Some(p) = self.partitions.get_mut(&(b.topic.clone(), b.partition)) {
            p.unacked.remove(&s.base_sequence);
            p.prune();
            if success {
                p.acked_end = next_seq(s.base_sequence, b.record_count);
                p.acked_any = true;
            }
            p.unresolved |= failed_after_send && maybe_written;
            if p.unresolved && p.unacked.is_empty() {
                // Every batch sent after it has ended: if the acknowledged ones reach the
                // partition's next sequence, the broker had it; otherwise there is a gap.
                p.unresolved = false;
                if p.acked_end != p.next {
                    self.needs_reset = true;
                }
            }
        }
        if failed_after_send && !maybe_written {
            self.gap_at(b);
        }
    }

    /// The broker does not have the batch's sequence (it failed for sure, or was refused as
    /// out of order or from an unknown producer): the epoch must be bumped. The broker appends
    /// a partition's sequences in order, so it has none of the later batches of that
    /// partition either: they need not be retried before the bump. Earlier ones whose answer
    /// was lost may be in the log and are still waited for (randomized simulation, seed
    /// 0x1076b: they were restamped and written twice).
    pub(crate) fn gap_at(&mut self, b: &ProducerBatch) {
        self.needs_reset = true;
        let Some(base) = b.stamp.map(|s| s.base_sequence) else {
            return;
        };
        self.unanswered.retain(|(t, p, seq)| {
            !(*t == b.topic && *p == b.partition && seq_ahead(base, *seq).is_some())
        });
    }

    /// Whether the broker acknowledged sequences of this producer id and epoch that come after
    /// all of the batch's on its partition: it appends a partition's sequences in order, so it
    /// has the batch too, whatever it answers a retry of it (a retry older than the broker's
    /// five-batch duplicate window is answered OUT_OF_ORDER_SEQUENCE_NUMBER).
    pub(crate) fn acked_past(&self, b: &ProducerBatch) -> bool {
        let Some(s) = b.stamp else { return false };
        if s.producer_id != self.producer_id || s.epoch != self.epoch {
            return false;
        }
        self.partitions
            .get(&(b.topic.clone(), b.partition))
            .is_some_and(|p| {
                p.acked_any
                    && seq_ahead(s.base_sequence, p.acked_end)
                        .is_some_and(|ahead| ahead >= b.record_count as i32)
            })
    }

    /// Whether the batch holds its partition's lowest unacknowledged sequence (so an
    /// OUT_OF_ORDER_SEQUENCE_NUMBER for it is not explained by an earlier failed batch).
    pub(crate) fn is_first_unacked(&self, b: &ProducerBatch) -> bool {
        match b.stamp {
            None => true,
            Some(s) => self
                .partitions
                .get(&(b.topic.clone(), b.partition))
                .and_then(|p| p.unacked.first())
                .is_none_or(|&f| f == s.base_sequence),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap() {
        assert_eq!(next_seq(5, 10), 15);
        assert_eq!(next_seq(i32::MAX, 1), 0);
        assert_eq!(next_seq(i32::MAX - 1, 3), 1);
    }
}
