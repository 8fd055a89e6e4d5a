//! The record accumulator: one queue of batches per partition, fed by the user's threads and
//! drained by the I/O thread.
//!
//! This is the one structure both sides share, so its locks are short and per partition: a
//! `send` takes the topic map's read lock, the partition list's read lock and the partition's
//! mutex, encodes the record straight into the open batch's buffer, and leaves. Allocating a
//! new batch buffer (which may wait for `buffer.memory`) happens outside the partition lock.

pub mod batch;
pub(crate) mod failed;
pub(crate) mod pool;
pub(crate) mod wire;

use std::collections::{HashMap, VecDeque};

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::interceptor::DeliveryHandler;
use crate::lifecycle::Lifecycle;
use crate::metadata::Cluster;
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::{self, BatchBuilder, BatchParams, RecordHeader};
use crate::util::time::deadline;

pub(crate) use batch::{
    Ack, BatchShared, BatchState, CompletionHooks, Delivery, DeliveryFuture, ProducerBatch,
    ProducerStamp, RecordFacts, Thunk,
};
use pool::BufferPool;
use wire::WireBatch;

/// The accumulator's share of the configuration.
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub batch_size: usize,
    pub linger: Duration,
    pub compression: Compression,
    pub delivery_timeout: Duration,
    pub buffer_memory: usize,
    pub transactional: bool,
}

/// One partition's queue.
#[derive(Debug)]
pub(crate) struct PartitionQueue {
    pub topic: Arc<str>,
    pub partition: i32,
    pub batches: Mutex<VecDeque<ProducerBatch>>,
    /// Set (under `batches`' lock) by the first `ready` pass that visits this queue: from then
    /// on every pass visits it, so a new batch here may spare the I/O thread a wake-up
    /// ([`Lifecycle::wake_io_unless_due_by`]).
    visited: AtomicBool,
}

/// A topic's partition queues. The list is replaced (copy on write) when the topic grows, so
/// that a `send` reads it without taking a lock.
#[derive(Debug)]
struct TopicQueues {
    partitions: ArcSwap<Vec<Arc<PartitionQueue>>>,
}

/// A record as the accumulator sees it: serialized, with its timestamp chosen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [RecordHeader<'a>],
}

/// One record to append, with what the caller knows of it.
pub(crate) struct Append<'a> {
    pub topic: &'a Arc<str>,
    pub partition: i32,
    /// The topic's partition count (to size the queue list when the queue is new).
    pub partition_count: i32,
    pub record: RecordRef<'a>,
    /// `BatchBuilder::record_size_upper_bound` of the record.
    pub size_bound: usize,
    /// How the record reports its outcome (a `DeliveryFuture` is returned only for
    /// `Delivery::Future`).
    pub delivery: Delivery,
    /// Keep the record's facts for interceptors.
    pub want_thunk: bool,
    /// The time, if the caller has it (tests drive their own clock); otherwise the clock is
    /// read only when a new batch starts (its creation time, for linger and delivery timeout).
    pub now: Option<Instant>,
}

/// What `append` did.
#[derive(Debug)]
pub(crate) struct Appended {
    pub future: Option<DeliveryFuture>,
    /// The batch the record went into is now full (Java's `enableSwitch` for the sticky
    /// partitioner: the last batch of the queue is full).
    pub batch_full: bool,
    /// The sender should look now: a batch is full or a new one was started behind another.
    pub wake_sender: bool,
    /// A new batch was started for this record.
    pub new_batch: bool,
    /// Bytes the record took in the batch.
    pub appended_bytes: usize,
}

/// What the sender's `ready` pass found. The sender keeps one and passes it to every pass, so
/// its vectors are reused rather than allocated per poll.
#[derive(Debug, Default)]
pub(crate) struct ReadyCheck {
    /// Leaders with at least one sendable batch (no duplicates).
    pub ready_nodes: Vec<i32>,
    /// The earliest time a batch not ready now becomes ready (linger or backoff).
    pub next_check: Option<Instant>,
    /// Some partition with data has no known leader: metadata should be refreshed.
    pub unknown_leaders: bool,
    /// Topics with queued batches (kept alive in the metadata's interest set).
    pub active_topics: Vec<Arc<str>>,
    /// Per topic: the range of `load_ids`/`load_sizes` holding the partitions with an
    /// available leader and their queue sizes, for the adaptive partitioner.
    pub load: Vec<(Arc<str>, std::ops::Range<usize>)>,
    pub load_ids: Vec<i32>,
    pub load_sizes: Vec<i32>,
}

impl ReadyCheck {
    fn clear(&mut self) {
        self.ready_nodes.clear();
        self.next_check = None;
        self.unknown_leaders = false;
        self.active_topics.clear();
        self.load.clear();
        self.load_ids.clear();
        self.load_sizes.clear();
    }
}

/// The shared accumulator.
#[derive(Debug)]
pub(crate) struct Accumulator {
    cfg: AccumulatorConfig,
    /// Shared with the closed batches, which give their memory back when the last holder (the
    /// batch or a request frame) drops them (`wire.rs`).
    pub pool: Arc<BufferPool>,
    /// Topic queues by name, replaced (copy on write, under `topics_write`) when a topic is
    /// added: `send` reads it with no lock and no reference count on a shared cache line.
    topics: ArcSwap<FxHashMap<Arc<str>, Arc<TopicQueues>>>,
    topics_write: Mutex<()>,
    incomplete: Mutex<HashMap<u64, Arc<BatchShared>>>,
    /// The batch whose callbacks are running ([`Accumulator::complete`]; `u64::MAX`: none):
    /// resolved already as far as a callback's `close` is concerned.
    completing: AtomicU64,
    next_batch_id: AtomicU64,
    flushes_in_progress: AtomicUsize,
    /// Appends are refused once the producer is no longer running; the I/O thread is woken
    /// through it.
    lifecycle: Arc<Lifecycle>,
    /// The producer's delivery handler, for records sent with an opaque value.
    pub delivery_handler: Option<Arc<dyn DeliveryHandler>>,
    /// Increases whenever the topic map or a topic's queue list is replaced (senders cache
    /// queue lists per thread and check this).
    pub generation: AtomicU64,
}

/// Ends a flush begun by [`Accumulator::begin_flush`] when dropped.
pub(crate) struct FlushGuard<'a>(&'a Accumulator);

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        self.0.flushes_in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Puts a batch back at the front of its queue, in sequence order among the queued retries when
/// it has a sequence (see [`Accumulator::reenqueue`]).
fn insert_retry(d: &mut VecDeque<ProducerBatch>, b: ProducerBatch) {
    match b.stamp.map(|s| s.base_sequence) {
        Some(seq) if seq >= 0 => {
            let pos = d
                .iter()
                .position(|x| {
                    x.stamp
                        .is_none_or(|s| s.base_sequence < 0 || s.base_sequence > seq)
                })
                .unwrap_or(d.len());
            d.insert(pos, b);
        }
        _ => d.push_front(b),
    }
}

fn min_instant(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Accumulator {
    pub(crate) fn new(cfg: AccumulatorConfig, lifecycle: Arc<Lifecycle>) -> Accumulator {
        Accumulator {
            pool: Arc::new(BufferPool::new(
                cfg.buffer_memory,
                cfg.batch_size.max(1),
                lifecycle.clone(),
            )),
            cfg,
            topics: ArcSwap::from_pointee(FxHashMap::default()),
            topics_write: Mutex::new(()),
            incomplete: Mutex::new(HashMap::new()),
            completing: AtomicU64::new(u64::MAX),
            next_batch_id: AtomicU64::new(0),
            flushes_in_progress: AtomicUsize::new(0),
            lifecycle,
            delivery_handler: None,
            generation: AtomicU64::new(0),
        }
    }

    /// The queue of `topic`-`partition`, created on first use. `partition_count` is the
    /// topic's current count; the list grows when the topic does.
    pub(crate) fn queue(
        &self,
        topic: &Arc<str>,
        partition: i32,
        partition_count: i32,
    ) -> Arc<PartitionQueue> {
        if let Some(q) = self.with_existing_queue(topic, partition, Arc::clone) {
            return q;
        }
        self.create_queue(topic, partition, partition_count)
    }

    /// Runs `f` on the queue of `topic`-`partition` if it exists, with no lock taken and no
    /// reference count touched (the hot path of `send`).
    fn with_existing_queue<R>(
        &self,
        topic: &str,
        partition: i32,
        f: impl FnOnce(&Arc<PartitionQueue>) -> R,
    ) -> Option<R> {
        let topics = self.topics.load();
        let t = topics.get(topic)?;
        let parts = t.partitions.load();
        parts.get(usize::try_from(partition).ok()?).map(f)
    }

    fn create_queue(
        &self,
        topic: &Arc<str>,
        partition: i32,
        partition_count: i32,
    ) -> Arc<PartitionQueue> {
        let _w = self.topics_write.lock();
        let t = match self.topics.load().get(&**topic) {
            Some(t) => t.clone(),
            None => {
                let t = Arc::new(TopicQueues {
                    partitions: ArcSwap::from_pointee(Vec::new()),
                });
                let mut map = FxHashMap::clone(&self.topics.load());
                map.insert(topic.clone(), t.clone());
                self.topics.store(Arc::new(map));
                self.generation.fetch_add(1, Ordering::AcqRel);
                t
            }
        };
        let idx = partition as usize;
        let want = (partition_count.max(partition + 1)) as usize;
        let current = t.partitions.load_full();
        if current.len() >= want {
            return current[idx].clone();
        }
        let mut parts = Vec::clone(&current);
        while parts.len() < want {
            let p = parts.len() as i32;
            parts.push(Arc::new(PartitionQueue {
                topic: topic.clone(),
                partition: p,
                batches: Mutex::new(VecDeque::new()),
                visited: AtomicBool::new(false),
            }));
        }
        let q = parts[idx].clone();
        t.partitions.store(Arc::new(parts));
        self.generation.fetch_add(1, Ordering::AcqRel);
        q
    }

    fn try_append(&self, q: &mut VecDeque<ProducerBatch>, a: &mut Append<'_>) -> Option<Appended> {
        let last = q.back_mut()?;
        let builder = last.builder.as_mut()?;
        if !builder.is_empty() && builder.estimated_size() + a.size_bound > self.cfg.batch_size {
            return None;
        }
        let rec = &a.record;
        let before = builder.estimated_size();
        let index = builder.append(rec.timestamp, rec.key, rec.value, rec.headers) as u32;
        let appended_bytes = builder.estimated_size() - before;
        last.record_count += 1;
        last.max_record_size = last.max_record_size.max(appended_bytes as u32);
        let facts = RecordFacts {
            index,
            timestamp: rec.timestamp,
            key_size: rec.key.map_or(-1, |k| k.len() as i32),
            value_size: rec.value.map_or(-1, |v| v.len() as i32),
        };
        let delivery = std::mem::replace(&mut a.delivery, Delivery::Future);
        let want_future = matches!(delivery, Delivery::Future);
        if a.want_thunk || !want_future {
            last.thunks.push(Thunk { facts, delivery });
        }
        let full = builder.estimated_size() >= self.cfg.batch_size;
        Some(Appended {
            future: want_future.then(|| DeliveryFuture::new(last.shared.clone(), facts)),
            batch_full: full,
            // A full batch is sendable now; a new one starts its linger timer (set by
            // `append_new`). Anything else the sender finds on its own.
            wake_sender: full,
            new_batch: false,
            appended_bytes,
        })
    }

    /// The topic's queue list, if it has one.
    pub(crate) fn topic_queues(&self, topic: &str) -> Option<Arc<Vec<Arc<PartitionQueue>>>> {
        self.topics
            .load()
            .get(topic)
            .map(|t| t.partitions.load_full())
    }

    /// [`Accumulator::append`] into a queue the caller already holds (from
    /// [`Accumulator::topic_queues`]).
    pub(crate) fn append_at(
        &self,
        q: &PartitionQueue,
        mut a: Append<'_>,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<Appended> {
        {
            let mut d = q.batches.lock();
            if !self.lifecycle.is_running() {
                return Err(Error::Closed("send after close"));
            }
            if let Some(done) = self.try_append(&mut d, &mut a) {
                return Ok(done);
            }
        }
        let need = self.new_batch_size(&a);
        let buf = self.pool.allocate(need, deadline, max_block)?;
        self.append_new(q, a, buf, need)
    }

    /// The fast path: the partition's open batch has room. No lock but the partition's, no
    /// allocation.
    fn try_append_existing(&self, a: &mut Append<'_>) -> Result<Option<Appended>> {
        let r = self.with_existing_queue(a.topic, a.partition, |q| {
            let mut d = q.batches.lock();
            if !self.lifecycle.is_running() {
                return Err(Error::Closed("send after close"));
            }
            Ok(self.try_append(&mut d, a))
        });
        r.unwrap_or(Ok(None))
    }

    fn new_batch_size(&self, a: &Append<'_>) -> usize {
        self.cfg
            .batch_size
            .max(a.size_bound + record_batch::RECORD_BATCH_OVERHEAD)
    }

    /// Appends a record to its partition's open batch, starting a new batch (and taking a
    /// buffer from the pool, waiting until `deadline`, or `max_block` from the first wait, if
    /// memory is short) when there is no room.
    pub(crate) fn append(
        &self,
        mut a: Append<'_>,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<Appended> {
        if let Some(done) = self.try_append_existing(&mut a)? {
            return Ok(done);
        }
        let q = self.queue(a.topic, a.partition, a.partition_count);
        let need = self.new_batch_size(&a);
        let buf = self.pool.allocate(need, deadline, max_block)?;
        self.append_new(&q, a, buf, need)
    }

    /// [`Accumulator::append`] for async callers: awaits buffer memory instead of blocking.
    /// Cancellation-safe: dropped while it waits for memory, it has appended nothing.
    pub(crate) async fn append_async(
        &self,
        mut a: Append<'_>,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<Appended> {
        if let Some(done) = self.try_append_existing(&mut a)? {
            return Ok(done);
        }
        let q = self.queue(a.topic, a.partition, a.partition_count);
        let need = self.new_batch_size(&a);
        let buf = self.pool.allocate_async(need, deadline, max_block).await?;
        self.append_new(&q, a, buf, need)
    }

    fn append_new(
        &self,
        q: &PartitionQueue,
        mut a: Append<'_>,
        buf: Vec<u8>,
        need: usize,
    ) -> Result<Appended> {
        let accounted = self.pool.accounted_size(need);
        let mut d = q.batches.lock();
        if !self.lifecycle.is_running() {
            drop(d);
            self.pool.deallocate(buf, accounted);
            return Err(Error::Closed("send after close"));
        }
        // Another thread may have started a batch while this one waited for memory.
        if let Some(done) = self.try_append(&mut d, &mut a) {
            drop(d);
            self.pool.deallocate(buf, accounted);
            return Ok(done);
        }
        let builder = BatchBuilder::new(buf, a.record.timestamp);
        let created = a.now.unwrap_or_else(Instant::now);
        let mut b = ProducerBatch::new(q.topic.clone(), q.partition, builder, accounted, created);
        b.id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        if a.want_thunk || !matches!(a.delivery, Delivery::Future) {
            b.thunks = Vec::with_capacity(thunks_expected(d.back()));
        }
        self.incomplete.lock().insert(b.id, b.shared.clone());
        d.push_back(b);
        let mut done = self
            .try_append(&mut d, &mut a)
            .expect("an empty batch takes any record");
        done.new_batch = true;
        // The batch is sendable now if full (or behind another one), else at its linger end:
        // then the I/O thread needs waking only if it would not poll by then anyway (and only
        // for a queue its polls already visit).
        let lingers = d.len() == 1 && !done.batch_full;
        if lingers && q.visited.load(Ordering::Relaxed) {
            drop(d);
            self.lifecycle
                .wake_io_unless_due_by(deadline(created, self.cfg.linger));
            done.wake_sender = false;
        } else {
            done.wake_sender = true;
        }
        Ok(done)
    }

    /// Starts a flush: every batch counts as ready until the guard is dropped (so that a
    /// flush future dropped half-way ends its flush too).
    pub(crate) fn begin_flush(&self) -> FlushGuard<'_> {
        self.flushes_in_progress.fetch_add(1, Ordering::AcqRel);
        self.lifecycle.wake_io();
        FlushGuard(self)
    }

    /// Whether a flush is under way (the sender's `ready` pass takes every batch as ready).
    pub(crate) fn flushing(&self) -> bool {
        self.flushes_in_progress.load(Ordering::Acquire) > 0
    }

    /// Wakes the I/O thread (a batch became sendable).
    pub(crate) fn wake_sender(&self) {
        self.lifecycle.wake_io();
    }

    /// Resolves every batch still unresolved with `err`, without running its callbacks: the
    /// last resort when the I/O thread ends abnormally, so that no future or flush waits
    /// forever.
    pub(crate) fn fail_incomplete(&self, err: &Error) {
        let left: Vec<Arc<BatchShared>> = self.incomplete.lock().drain().map(|(_, b)| b).collect();
        for b in left {
            b.complete_if_pending(Err(err.clone()));
        }
    }

    /// The completion states of every batch not yet resolved (for `flush`).
    pub(crate) fn incomplete(&self) -> Vec<Arc<BatchShared>> {
        self.incomplete.lock().values().cloned().collect()
    }

    /// Whether any batch is unresolved, besides the one whose callbacks are running (a forced
    /// `close` from its callback leaves nothing unresolved if it was the last).
    pub(crate) fn has_incomplete(&self) -> bool {
        let inc = self.incomplete.lock();
        let completing = self.completing.load(Ordering::Relaxed);
        inc.len() > usize::from(inc.contains_key(&completing))
    }

    fn all_queues(&self) -> Vec<Arc<PartitionQueue>> {
        let topics = self.topics.load();
        let mut out = Vec::new();
        for t in topics.values() {
            out.extend(t.partitions.load().iter().cloned());
        }
        out
    }

    /// Finds the leaders with sendable batches (Java's `RecordAccumulator.ready`), and
    /// collects batches whose delivery timeout passed while they waited in a queue.
    ///
    /// A batch is sendable when its partition is not muted, it is not backing off, and it is
    /// full, or has lingered `linger.ms` (a retry: `retry.backoff`), or a flush or close
    /// (`closing`) is under way, or someone waits for buffer memory.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ready(
        &self,
        cluster: &Cluster,
        now: Instant,
        closing: bool,
        is_muted: &dyn Fn(&str, i32) -> bool,
        expired: &mut Vec<ProducerBatch>,
        out: &mut ReadyCheck,
    ) {
        out.clear();
        let urgent = closing || self.flushing() || self.pool.has_waiters();
        let topics = self.topics.load();
        for (name, t) in topics.iter() {
            let parts = t.partitions.load();
            let topic_info = cluster.topic(name);
            let load_start = out.load_ids.len();
            let mut active = false;
            for q in parts.iter() {
                let mut d = q.batches.lock();
                if !q.visited.load(Ordering::Relaxed) {
                    q.visited.store(true, Ordering::Relaxed);
                }
                // Delivery timeout for batches waiting in the queue. The oldest sit in front.
                while let Some(front) = d.front() {
                    if front.has_expired(now, self.cfg.delivery_timeout) {
                        expired.push(d.pop_front().expect("front exists"));
                    } else {
                        break;
                    }
                }
                let leader = topic_info
                    .and_then(|t| t.partitions.get(q.partition as usize))
                    .and_then(|p| p.leader);
                if leader.is_some() {
                    out.load_ids.push(q.partition);
                    out.load_sizes.push(d.len() as i32);
                }
                let Some(first) = d.front() else { continue };
                active = true;
                out.next_check = min_instant(
                    out.next_check,
                    deadline(first.created, self.cfg.delivery_timeout),
                );
                let Some(leader) = leader else {
                    out.unknown_leaders = true;
                    continue;
                };
                if out.ready_nodes.contains(&leader) || is_muted(&q.topic, q.partition) {
                    continue;
                }
                if let Some(t) = first.retry_at {
                    if now < t {
                        out.next_check = min_instant(out.next_check, t);
                        continue;
                    }
                }
                let full = d.len() > 1
                    || first.state != BatchState::Open
                    || first.size() >= self.cfg.batch_size;
                let linger_end = if first.attempts > 0 {
                    first.last_attempt
                } else {
                    deadline(first.created, self.cfg.linger)
                };
                if full || urgent || now >= linger_end {
                    out.ready_nodes.push(leader);
                } else {
                    out.next_check = min_instant(out.next_check, linger_end);
                }
            }
            if active {
                out.active_topics.push(name.clone());
            }
            if out.load_ids.len() > load_start {
                out.load
                    .push((name.clone(), load_start..out.load_ids.len()));
            }
        }
    }

    /// Takes sendable batches led by `node`, up to `max_size` bytes in all, closing each one
    /// (Java's `RecordAccumulator.drain`). Partitions are visited in rotation from `start`
    /// so that no partition starves. `stamp` gives a batch its producer id, epoch and sequence
    /// (idempotence), or `None`; returning `Err(())` stops draining that partition for now
    /// (its sequence order is not yet safe).
    ///
    /// `queues` and `out` are the caller's scratch vectors (cleared here), reused between calls.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn drain(
        &self,
        cluster: &Cluster,
        node: i32,
        max_size: usize,
        now: Instant,
        start: &mut usize,
        is_muted: &dyn Fn(&str, i32) -> bool,
        stamp: &mut dyn FnMut(&ProducerBatch) -> std::result::Result<Option<ProducerStamp>, ()>,
        queues: &mut Vec<Arc<PartitionQueue>>,
        out: &mut Vec<ProducerBatch>,
    ) {
        queues.clear();
        out.clear();
        self.queues_led_by(cluster, node, queues);
        if queues.is_empty() {
            return;
        }
        let mut size = 0usize;
        let n = queues.len();
        let first_index = *start % n;
        for i in 0..n {
            let q = &queues[(first_index + i) % n];
            if is_muted(&q.topic, q.partition) {
                continue;
            }
            let mut d = q.batches.lock();
            let Some(first) = d.front() else { continue };
            if first.in_backoff(now) {
                continue;
            }
            let batch_size = first.size();
            if !out.is_empty() && size + batch_size > max_size {
                // The request is full; the rest waits for the next request. Start there next time.
                *start = (first_index + i) % n;
                break;
            }
            let st = match stamp(first) {
                Ok(s) => s,
                Err(()) => continue,
            };
            let mut b = d.pop_front().expect("front exists");
            drop(d);
            if let Err(e) = self.close_batch(&mut b, st) {
                // Closing can only fail on a compression error: fail the batch, keep going.
                tracing::error!(topic = %b.topic, partition = b.partition, error = %e, "cannot close batch");
                b.last_error = Some(e);
                out.push(b);
                continue;
            }
            size += b.size();
            out.push(b);
            *start = (first_index + i + 1) % n;
        }
    }

    fn close_batch(&self, b: &mut ProducerBatch, stamp: Option<ProducerStamp>) -> Result<()> {
        match b.state {
            BatchState::Open => {
                let builder = b.builder.take().expect("open batch has a builder");
                let params = BatchParams {
                    producer_id: stamp.map_or(-1, |s| s.producer_id),
                    producer_epoch: stamp.map_or(-1, |s| s.epoch),
                    base_sequence: stamp.map_or(-1, |s| s.base_sequence),
                    transactional: self.cfg.transactional && stamp.is_some(),
                    ..BatchParams::default()
                };
                let closed = builder
                    .close(&params, &self.cfg.compression)
                    .map_err(|e| Error::Serialization(format!("closing batch: {e}")))?;
                // The batch's pool share moves to its shared wire bytes, which give it back
                // when the last holder (the batch, or a request frame) drops them.
                let share = (b.pool_bytes > 0).then(|| (self.pool.clone(), b.pool_bytes));
                b.pool_bytes = 0;
                b.closed = Some(WireBatch::new(closed, share));
                b.stamp = stamp;
                b.state = BatchState::Closed;
            }
            BatchState::Closed | BatchState::InFlight => {
                // A retry: its header already has its producer state, unless the epoch was
                // bumped since (then the caller passes the new stamp and the header is
                // rewritten, CRC included).
                if let (Some(new), Some(closed)) = (stamp, b.closed.as_mut()) {
                    if b.stamp != Some(new) {
                        closed
                            .make_mut()
                            .rewrite_producer_state(
                                new.producer_id,
                                new.epoch,
                                new.base_sequence,
                                self.cfg.transactional,
                            )
                            .map_err(|e| {
                                Error::Serialization(format!("rewriting batch header: {e}"))
                            })?;
                        b.stamp = Some(new);
                        b.maybe_written = false;
                    }
                }
                b.state = BatchState::Closed;
            }
        }
        Ok(())
    }

    /// Puts a batch back at the front of its queue for a retry after `backoff`.
    ///
    /// With sequence numbers, it goes in sequence order among the queued retries: batches
    /// that failed together come back in any order, and must be resent in the order of their
    /// sequences or the broker answers OUT_OF_ORDER_SEQUENCE_NUMBER.
    pub(crate) fn reenqueue(&self, mut b: ProducerBatch, now: Instant, backoff: Duration) {
        let q = self.queue(&b.topic, b.partition, 0);
        b.retry_at = Some(deadline(now, backoff));
        b.last_attempt = deadline(now, backoff);
        b.state = BatchState::Closed;
        insert_retry(&mut q.batches.lock(), b);
    }

    /// Ends the retry backoff of the queued batches of `topic`-`partition`: its leader has
    /// changed since they failed (KIP-951), so waiting would only delay them.
    pub(crate) fn end_backoff(&self, topic: &str, partition: i32, now: Instant) {
        self.with_existing_queue(topic, partition, |q| {
            for b in q.batches.lock().iter_mut() {
                if b.in_backoff(now) {
                    b.retry_at = Some(now);
                    b.last_attempt = now;
                }
            }
        });
    }

    /// Splits a batch the broker found too large into two halves, queued at the front in
    /// order. Futures of its records follow them to the new batches. Returns false when the
    /// batch has a single record (it cannot be split; the caller fails it).
    pub(crate) fn split_and_reenqueue(
        &self,
        b: ProducerBatch,
        now: Instant,
    ) -> std::result::Result<(), Box<ProducerBatch>> {
        if b.record_count < 2 {
            return Err(Box::new(b));
        }
        let Some(closed) = b.closed.as_ref() else {
            return Err(Box::new(b));
        };
        let decoded = match record_batch::decode_batches(closed.as_bytes()) {
            Ok(mut v) if v.len() == 1 => v.pop().expect("one batch"),
            _ => return Err(Box::new(b)),
        };
        let records = decoded.records;
        let mid = records.len() / 2;
        let mut halves = Vec::with_capacity(2);
        let mut moved: Vec<(Arc<BatchShared>, u32)> = Vec::with_capacity(records.len());
        let mut seq = b.stamp.map(|s| s.base_sequence);
        for part in [&records[..mid], &records[mid..]] {
            let ts0 = part.first().map_or(0, |r| r.timestamp);
            let mut builder = BatchBuilder::new(Vec::new(), ts0);
            let mut nb_thunks = Vec::new();
            let shared = BatchShared::new(b.topic.clone(), b.partition);
            let mut max_record_size = 0;
            for r in part {
                let headers: Vec<RecordHeader<'_>> =
                    r.headers.iter().map(|h| h.as_record_header()).collect();
                let ts = r.timestamp;
                let before = builder.estimated_size();
                let idx = builder.append(ts, r.key.as_deref(), r.value.as_deref(), &headers) as u32;
                max_record_size = max_record_size.max((builder.estimated_size() - before) as u32);
                moved.push((shared.clone(), idx));
                nb_thunks.push((r.offset_delta as u32, idx));
            }
            let mut nb = ProducerBatch::new(b.topic.clone(), b.partition, builder, 0, b.created);
            nb.shared = shared;
            nb.id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
            nb.record_count = part.len() as u32;
            nb.max_record_size = max_record_size;
            nb.split = true;
            nb.attempts = b.attempts;
            if let (Some(s), Some(base)) = (b.stamp, seq) {
                nb.stamp = Some(ProducerStamp {
                    base_sequence: base,
                    ..s
                });
                seq = Some(base + part.len() as i32);
            }
            halves.push((nb, nb_thunks));
        }
        // Move the per-record thunks (callbacks) to the halves.
        let mut old_thunks = b.thunks;
        for (nb, map) in halves.iter_mut() {
            for (old, new) in map.iter() {
                if let Some(pos) = old_thunks.iter().position(|t| t.facts.index == *old) {
                    let mut t = old_thunks.swap_remove(pos);
                    t.facts.index = *new;
                    nb.thunks.push(t);
                }
            }
        }
        {
            let mut inc = self.incomplete.lock();
            inc.remove(&b.id);
            for (nb, _) in &halves {
                inc.insert(nb.id, nb.shared.clone());
            }
        }
        b.shared.complete_split(moved);
        self.release_buffers(b.pool_bytes, b.builder, b.closed);
        let q = self.queue(&b.topic, b.partition, 0);
        let mut d = q.batches.lock();
        for (mut nb, _) in halves.into_iter().rev() {
            // A split batch is still open: it is closed (with its stamp) when drained. With
            // sequences, the halves go after any earlier retry of the partition (see
            // `insert_retry`): in front of it, the first half could never be sent before the
            // earlier sequence, which could never be drained from behind it.
            nb.last_attempt = now;
            insert_retry(&mut d, nb);
        }
        drop(d);
        Ok(())
    }

    /// Gives a resolved (or split) batch's memory back: an open batch's buffer at once; a
    /// closed batch's when the last request frame referencing it is dropped too (`wire.rs`).
    fn release_buffers(
        &self,
        pool_bytes: usize,
        builder: Option<BatchBuilder>,
        closed: Option<WireBatch>,
    ) {
        drop(closed);
        if pool_bytes > 0 {
            let buf = builder.map(BatchBuilder::into_buffer);
            self.pool.deallocate(buf.unwrap_or_default(), pool_bytes);
        }
    }

    /// Resolves a batch ([`ProducerBatch::complete`]: interceptors, callbacks, the delivery
    /// handler, futures) and takes its memory back.
    pub(crate) fn complete(
        &self,
        b: ProducerBatch,
        result: std::result::Result<Ack, Error>,
        interceptors: &crate::interceptor::Interceptors,
    ) {
        let hooks = CompletionHooks {
            interceptors,
            delivery_handler: self.delivery_handler.as_deref(),
        };
        self.completing.store(b.id, Ordering::Relaxed);
        let released = b.complete(result, &hooks);
        self.completing.store(u64::MAX, Ordering::Relaxed);
        self.incomplete.lock().remove(&released.id);
        self.release_buffers(released.pool_bytes, released.builder, released.closed);
    }

    /// A future for the record just appended to `topic`-`partition` with a callback (the
    /// simulator checks that callbacks and futures agree; a real send has one or the other).
    #[cfg(test)]
    pub(crate) fn future_of_last_append(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<DeliveryFuture> {
        self.with_existing_queue(topic, partition, |q| {
            let d = q.batches.lock();
            let b = d.back()?;
            let t = b.thunks.last()?;
            Some(DeliveryFuture::new(b.shared.clone(), t.facts))
        })
        .flatten()
    }

    /// The queues of the partitions `node` leads in `cluster`, appended to `out`.
    fn queues_led_by(&self, cluster: &Cluster, node: i32, out: &mut Vec<Arc<PartitionQueue>>) {
        let topics = self.topics.load();
        for (name, t) in topics.iter() {
            let Some(info) = cluster.topic(name) else {
                continue;
            };
            for q in t.partitions.load().iter() {
                let led = info
                    .partitions
                    .get(q.partition as usize)
                    .and_then(|p| p.leader)
                    == Some(node);
                if led {
                    out.push(q.clone());
                }
            }
        }
    }

    /// Removes every queued batch of the partitions `node` leads in `cluster` (their records
    /// fail: the node refused this producer's authentication).
    pub(crate) fn take_led_by(&self, cluster: &Cluster, node: i32) -> Vec<ProducerBatch> {
        let mut queues = Vec::new();
        self.queues_led_by(cluster, node, &mut queues);
        let mut out = Vec::new();
        for q in queues {
            out.extend(q.batches.lock().drain(..));
        }
        out
    }

    /// Removes every queued batch (for a forced close or a fatal error).
    pub(crate) fn take_all(&self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for q in self.all_queues() {
            out.extend(q.batches.lock().drain(..));
        }
        out
    }
}

/// The per-record entries (callbacks, opaque values, interceptor facts) a new batch makes room
/// for: as many as the partition's previous batch still queued holds, plus an eighth, or none
/// when there is none (the list then grows as records come). Grown one push at a time, the
/// list was reallocated seven times for a batch of 148 records; sized from the partition's own
/// history, a partition whose batches hold few records (many partitions, short linger) does
/// not reserve room for a full batch of small records.
fn thunks_expected(previous: Option<&ProducerBatch>) -> usize {
    let n = previous.map_or(0, |b| b.record_count as usize);
    if n == 0 {
        0
    } else {
        n + n / 8 + 1
    }
}
