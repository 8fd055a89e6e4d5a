//! The built-in uniform sticky partitioner with adaptive partitioning (Java's
//! `BuiltInPartitioner`, KIP-794).
//!
//! Keyless records of a topic all go to one partition, the *sticky* partition, so they fill
//! batches quickly. Once at least `batch.size` bytes went to it and the append hit a batch
//! boundary (or twice `batch.size` bytes went to it regardless), another partition is chosen at
//! random: uniformly among partitions with a leader, or, with adaptive partitioning and load
//! stats from the sender, with probability weighted towards partitions with shorter queues.
//!
//! The per-topic state is a single `AtomicU64` packing the sticky partition and the bytes
//! produced to it since it was chosen, so the hot path ([`StickyPartitioner::current_partition`],
//! [`StickyPartitioner::on_append`]) is a lock-free map lookup by `&str` plus one atomic load
//! or compare-and-swap; it does not allocate (except the first time a topic is seen) and takes
//! no mutex except when switching partitions with load stats present. The producer's send path
//! skips the lookup too: its per-thread topic cache holds the topic's state
//! (`StickyPartitioner::topic_state`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use super::partition_available;
use crate::metadata::TopicInfo;

/// The packed state before any partition was chosen (no real partition is `u32::MAX`).
const UNSET: u64 = u64::MAX;

fn pack(partition: i32, produced: u32) -> u64 {
    (u64::from(partition as u32) << 32) | u64::from(produced)
}

fn unpack(state: u64) -> (i32, u32) {
    ((state >> 32) as u32 as i32, state as u32)
}

/// The built-in partitioner for keyless records (and keyed ones with
/// `partitioner.ignore.keys=true`), shared by all threads that send.
///
/// Per topic it keeps the current sticky partition, the bytes produced to it, and (with
/// adaptive partitioning) the load stats of the last [`update_load_stats`](Self::update_load_stats).
///
/// Randomness comes from the partitioner's own generator (`SeededDraws`): seeded from entropy
/// by [`new`](Self::new), or by the caller with [`with_seed`](Self::with_seed) /
/// [`reseed`](Self::reseed) for reproducible choices (the simulator seeds it from its run's
/// seed). It is drawn from only when a partition is chosen, not per record.
#[derive(Debug)]
pub struct StickyPartitioner {
    /// `batch.size`, at least 1 and at most `i32::MAX` (Java's `int`).
    batch_size: u32,
    /// `partitioner.adaptive.partitioning.enable`.
    adaptive: bool,
    /// Per-topic state. Read on every keyless send without a lock (`ArcSwap`); replaced,
    /// copy on write under `topics_write`, when a topic is added or removed.
    topics: ArcSwap<FxHashMap<Arc<str>, Arc<TopicState>>>,
    topics_write: Mutex<()>,
    rng: SeededDraws,
}

/// A random stream shared by every thread without a lock: wyrand's state (a counter advanced by
/// a fixed odd constant) kept in an atomic, so each draw is one `fetch_add` and a mix. Draws
/// from several threads interleave in some order; from one thread (the simulator's) the
/// sequence is a function of the seed alone.
#[derive(Debug)]
struct SeededDraws(AtomicU64);

impl SeededDraws {
    /// wyrand's increment (fastrand's `Rng` uses the same).
    const GAMMA: u64 = 0xa076_1d64_78bd_642f;

    /// A uniform draw in `0..n` (`n` > 0).
    fn below(&self, n: u64) -> u64 {
        let state = self.0.fetch_add(Self::GAMMA, Ordering::Relaxed);
        // One-shot generator at this point of the stream: its bounded draw is unbiased.
        fastrand::Rng::with_seed(state).u64(..n)
    }
}

/// One topic's state, held by a caller (see [`StickyPartitioner::topic_state`]).
#[derive(Debug, Clone)]
pub(crate) struct StickyTopic(Arc<TopicState>);

#[derive(Debug)]
struct TopicState {
    /// `pack(partition, produced_bytes)` of the sticky partition, or `UNSET`.
    sticky: AtomicU64,
    /// Whether `stats` holds a table (lets switches skip the mutex without stats).
    has_stats: AtomicBool,
    stats: Mutex<LoadStats>,
}

impl TopicState {
    fn new() -> Self {
        TopicState {
            sticky: AtomicU64::new(UNSET),
            has_stats: AtomicBool::new(false),
            stats: Mutex::new(LoadStats::default()),
        }
    }
}

/// Java's `PartitionLoadStats`: a cumulative frequency table over the partitions whose leader
/// is available. Entry `i` is the running sum of `max_queue + 1 - queue[j]` for `j <= i`, so a
/// uniform random number in `0..total` lands on partition `i` with probability proportional to
/// `max_queue + 1 - queue[i]`. The vectors are reused between updates.
#[derive(Debug, Default)]
struct LoadStats {
    cumulative: Vec<u64>,
    partition_ids: Vec<i32>,
}

impl LoadStats {
    /// A partition drawn from the table, if it is non-empty and the partition is below `count`.
    fn pick(&self, count: i32, rng: &SeededDraws) -> Option<i32> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        let r = rng.below(total);
        // The first entry strictly greater than r (Java: |binarySearch(...) + 1|).
        let index = self.cumulative.partition_point(|&c| c <= r);
        self.partition_ids
            .get(index)
            .copied()
            .filter(|p| (0..count).contains(p))
    }
}

impl StickyPartitioner {
    /// A partitioner switching partitions after `batch_size` (`batch.size`) bytes, clamped to
    /// `1..=i32::MAX` like Java; `adaptive` is `partitioner.adaptive.partitioning.enable`.
    pub fn new(batch_size: usize, adaptive: bool) -> Self {
        Self::with_seed(batch_size, adaptive, fastrand::u64(..))
    }

    /// [`new`](Self::new) with its random choices drawn from a generator seeded with `seed`:
    /// the same seed and the same calls (from one thread) choose the same partitions.
    pub fn with_seed(batch_size: usize, adaptive: bool, seed: u64) -> Self {
        StickyPartitioner {
            batch_size: batch_size.clamp(1, i32::MAX as usize) as u32,
            adaptive,
            topics: ArcSwap::from_pointee(FxHashMap::default()),
            topics_write: Mutex::new(()),
            rng: SeededDraws(AtomicU64::new(seed)),
        }
    }

    /// Restarts the partitioner's random stream from `seed` (see [`with_seed`](Self::with_seed)).
    pub fn reseed(&self, seed: u64) {
        self.rng.0.store(seed, Ordering::Relaxed);
    }

    /// The partition a keyless record goes to now (Java `peekCurrentPartitionInfo`, which calls
    /// `nextPartition` on first use).
    ///
    /// The first call for a topic chooses a partition (see
    /// [`update_load_stats`](Self::update_load_stats) for how); later calls return the same one
    /// until [`on_append`](Self::on_append) switches it. A sticky partition that is no longer
    /// below the topic's partition count is replaced. Returns -1 (Java's
    /// `RecordMetadata.UNKNOWN_PARTITION`) for a topic without partitions.
    pub fn current_partition(&self, topic: &TopicInfo) -> i32 {
        if topic.partition_count() <= 0 {
            return -1;
        }
        self.with_state(topic, |state| self.current_in(state, topic))
    }

    /// [`current_partition`](Self::current_partition) on a topic's state the caller holds.
    pub(crate) fn current_partition_of(&self, state: &StickyTopic, topic: &TopicInfo) -> i32 {
        if topic.partition_count() <= 0 {
            return -1;
        }
        self.current_in(&state.0, topic)
    }

    fn current_in(&self, state: &TopicState, topic: &TopicInfo) -> i32 {
        let count = topic.partition_count();
        loop {
            let cur = state.sticky.load(Ordering::Acquire);
            if cur != UNSET {
                let (partition, _) = unpack(cur);
                if partition < count {
                    return partition;
                }
            }
            let next = self.next_partition(state, topic);
            // If another thread chose first, use its choice.
            if state
                .sticky
                .compare_exchange(cur, pack(next, 0), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return next;
            }
        }
    }

    /// Whether `partition` is the topic's sticky partition now. Java's `isPartitionChanged`
    /// negated: a caller that appends under the partition's queue lock can check this under
    /// the lock and, when another thread switched meanwhile, ask
    /// [`current_partition`](Self::current_partition) again.
    pub fn is_current(&self, topic: &str, partition: i32) -> bool {
        self.topics.load().get(topic).is_some_and(|state| {
            let cur = state.sticky.load(Ordering::Acquire);
            cur != UNSET && unpack(cur).0 == partition
        })
    }

    /// After a record of `bytes` was appended to `partition`: counts produced bytes and switches
    /// the sticky partition once at least batch.size bytes went to it and `batch_full_or_new`
    /// says a batch boundary was hit (Java updatePartitionInfo: switch when producedBytes >=
    /// stickyBatchSize && enableSwitch, or producedBytes >= 2*stickyBatchSize). Keep Java's
    /// exact rule.
    ///
    /// In detail: nothing happens unless `partition` is the topic's current sticky partition
    /// (call this only for records the sticky partitioner placed, like Java; bytes appended by
    /// a thread that raced a switch are not counted). Otherwise the bytes are added to the
    /// partition's count and, when `count >= batch.size && batch_full_or_new` or
    /// `count >= 2 * batch.size`, a new sticky partition is chosen (possibly the same one) with
    /// its count at 0. `batch_full_or_new` is Java's `enableSwitch`, which the accumulator
    /// computes as "every batch in the partition's queue is full" after the append, so that
    /// switches line up with batch boundaries. Counting and switching are one atomic update,
    /// so concurrent callers never lose bytes or switch twice for the same bytes.
    pub fn on_append(
        &self,
        topic: &TopicInfo,
        partition: i32,
        bytes: usize,
        batch_full_or_new: bool,
    ) {
        let topics = self.topics.load();
        if let Some(state) = topics.get(&*topic.name) {
            self.on_append_in(state, topic, partition, bytes, batch_full_or_new);
        }
    }

    /// [`on_append`](Self::on_append) on a topic's state the caller holds.
    pub(crate) fn on_append_of(
        &self,
        state: &StickyTopic,
        topic: &TopicInfo,
        partition: i32,
        bytes: usize,
        batch_full_or_new: bool,
    ) {
        self.on_append_in(&state.0, topic, partition, bytes, batch_full_or_new);
    }

    fn on_append_in(
        &self,
        state: &TopicState,
        topic: &TopicInfo,
        partition: i32,
        bytes: usize,
        batch_full_or_new: bool,
    ) {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let batch = u64::from(self.batch_size);
        let mut cur = state.sticky.load(Ordering::Acquire);
        loop {
            if cur == UNSET {
                return;
            }
            let (sticky, produced) = unpack(cur);
            if sticky != partition {
                return;
            }
            let produced = produced.saturating_add(bytes);
            let switch = (u64::from(produced) >= batch && batch_full_or_new)
                || u64::from(produced) >= 2 * batch;
            let new = if switch {
                pack(self.next_partition(state, topic), 0)
            } else {
                pack(partition, produced)
            };
            match state
                .sticky
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adaptive partitioning input, from the sender's ready() pass: per topic, the queue size
    /// (number of batches waiting) of each partition whose leader is available, i.e. Java's
    /// updatePartitionLoadStats(queueSizes, partitionIds, length). When adaptive is off or stats
    /// are absent, choose uniformly among partitions with a leader (all partitions if none has
    /// one). With stats, choose with probability weighted toward shorter queues, as Java does
    /// (it builds a cumulative frequency table of (maxQueueSize + 1 - queueSize) and picks with
    /// a random number).
    ///
    /// In detail: `partition_ids[i]` has `queue_sizes[i]` batches queued (extra entries of the
    /// longer slice are ignored; negative sizes count as 0). The next switch of the topic's
    /// sticky partition picks `partition_ids[i]` with probability proportional to
    /// `max(queue_sizes) + 1 - queue_sizes[i]`, so the longest queue still gets weight 1 and
    /// equal queues give a uniform choice. The caller leaves out partitions without a leader and
    /// those whose leader has had no working connection for longer than
    /// `partitioner.availability.timeout.ms`. Empty slices clear the stats (Java passes `null`
    /// until every partition of the topic has had a batch, so it stays uniform until then).
    ///
    /// Java skips the table when all sizes are equal and nothing was left out; a uniform table
    /// draws the same distribution, so this always builds it. Ignored when adaptive
    /// partitioning is off. Reuses its buffers: no allocation once they have grown.
    pub fn update_load_stats(&self, topic: &str, partition_ids: &[i32], queue_sizes: &[i32]) {
        if !self.adaptive {
            return;
        }
        let len = partition_ids.len().min(queue_sizes.len());
        let (ids, sizes) = (&partition_ids[..len], &queue_sizes[..len]);
        let fill = |state: &TopicState| {
            let mut stats = state.stats.lock();
            stats.cumulative.clear();
            stats.partition_ids.clear();
            if len == 0 {
                state.has_stats.store(false, Ordering::Release);
                return;
            }
            let max_plus_1 =
                u64::from(sizes.iter().map(|&q| q.max(0) as u32).max().unwrap_or(0)) + 1;
            let mut running = 0u64;
            for (&id, &q) in ids.iter().zip(sizes) {
                running += max_plus_1 - u64::from(q.max(0) as u32);
                stats.cumulative.push(running);
                stats.partition_ids.push(id);
            }
            state.has_stats.store(true, Ordering::Release);
        };
        if let Some(state) = self.topics.load().get(topic) {
            return fill(state);
        }
        if len == 0 {
            return;
        }
        fill(&self.state_or_insert(&Arc::from(topic)));
    }

    /// Forgets a topic's state (for a topic dropped from metadata); the next
    /// [`current_partition`](Self::current_partition) starts afresh.
    pub fn remove_topic(&self, topic: &str) {
        let _w = self.topics_write.lock();
        let mut map = FxHashMap::clone(&self.topics.load());
        if map.remove(topic).is_some() {
            self.topics.store(Arc::new(map));
        }
    }

    /// The topic's state, added if it has none yet, for a caller that keeps it at hand (the
    /// producer's per-thread topic cache) and so skips the map lookup of every
    /// [`current_partition`](Self::current_partition) and [`on_append`](Self::on_append).
    /// Valid as long as the topic is not removed ([`remove_topic`](Self::remove_topic)).
    pub(crate) fn topic_state(&self, topic: &Arc<str>) -> StickyTopic {
        if let Some(state) = self.topics.load().get(&**topic) {
            return StickyTopic(state.clone());
        }
        StickyTopic(self.state_or_insert(topic))
    }

    /// The topic's state, added (copy on write) if it has none yet.
    fn state_or_insert(&self, topic: &Arc<str>) -> Arc<TopicState> {
        let _w = self.topics_write.lock();
        if let Some(state) = self.topics.load().get(&**topic) {
            return state.clone();
        }
        let state = Arc::new(TopicState::new());
        let mut map = FxHashMap::clone(&self.topics.load());
        map.insert(topic.clone(), state.clone());
        self.topics.store(Arc::new(map));
        state
    }

    /// Runs `f` on the topic's state, creating it on first use.
    fn with_state<R>(&self, topic: &TopicInfo, f: impl FnOnce(&TopicState) -> R) -> R {
        {
            let topics = self.topics.load();
            if let Some(state) = topics.get(&*topic.name) {
                return f(state);
            }
        }
        f(&self.state_or_insert(&topic.name))
    }

    /// Java's `nextPartition`: weighted by the load stats when adaptive partitioning has them,
    /// else uniform among partitions with a leader, else uniform among all partitions.
    /// `topic` has at least one partition.
    fn next_partition(&self, state: &TopicState, topic: &TopicInfo) -> i32 {
        if self.adaptive && state.has_stats.load(Ordering::Acquire) {
            if let Some(p) = state.stats.lock().pick(topic.partition_count(), &self.rng) {
                return p;
            }
        }
        uniform_partition(topic, &self.rng)
    }
}

/// A uniformly random partition among those with a leader, or among all when none has one.
/// Two passes over the partitions instead of collecting the available ones: no allocation.
fn uniform_partition(topic: &TopicInfo, rng: &SeededDraws) -> i32 {
    let parts = &topic.partitions;
    let available = parts.iter().filter(|p| partition_available(p)).count();
    if available == 0 || available == parts.len() {
        return parts[rng.below(parts.len() as u64) as usize].partition;
    }
    let k = rng.below(available as u64) as usize;
    parts
        .iter()
        .filter(|p| partition_available(p))
        .nth(k)
        .map_or(0, |p| p.partition)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::topic;
    use super::*;

    const BATCH: usize = 1000;

    impl StickyPartitioner {
        /// (sticky partition, produced bytes) of a topic.
        fn state_of(&self, topic: &str) -> Option<(i32, u32)> {
            let topics = self.topics.load();
            let cur = topics.get(topic)?.sticky.load(Ordering::Acquire);
            (cur != UNSET).then(|| unpack(cur))
        }

        /// Forces a switch and returns the new sticky partition.
        fn force_switch(&self, t: &TopicInfo) -> i32 {
            let p = self.current_partition(t);
            self.on_append(t, p, self.batch_size as usize, true);
            self.current_partition(t)
        }
    }

    fn histogram(sp: &StickyPartitioner, t: &TopicInfo, switches: usize) -> Vec<usize> {
        let mut counts = vec![0usize; t.partitions.len()];
        for _ in 0..switches {
            counts[sp.force_switch(t) as usize] += 1;
        }
        counts
    }

    #[test]
    fn pack_roundtrip() {
        for (p, b) in [(0, 0), (5, 17), (i32::MAX, u32::MAX), (1000, 1 << 31)] {
            assert_eq!(unpack(pack(p, b)), (p, b));
            assert_ne!(pack(p, b), UNSET);
        }
    }

    #[test]
    fn stays_until_batch_size_with_boundary_then_switches() {
        let sp = StickyPartitioner::with_seed(BATCH, false, 7);
        let t = topic("t", 6, &[]);
        assert_eq!(sp.state_of("t"), None);
        let p = sp.current_partition(&t);
        assert!((0..6).contains(&p));
        assert_eq!(sp.state_of("t"), Some((p, 0)));

        // 900 bytes with batch boundaries: below batch.size, no switch.
        for _ in 0..3 {
            sp.on_append(&t, p, 300, true);
            assert_eq!(sp.current_partition(&t), p);
        }
        assert_eq!(sp.state_of("t"), Some((p, 900)));
        // Appends to other partitions (keyed records) are not counted.
        sp.on_append(&t, (p + 1) % 6, 5000, true);
        assert_eq!(sp.state_of("t"), Some((p, 900)));

        // Reaching batch.size without a batch boundary: still no switch.
        sp.on_append(&t, p, 300, false);
        assert_eq!(sp.state_of("t"), Some((p, 1200)));
        // A batch boundary once at least batch.size went: switch, with the count reset.
        sp.on_append(&t, p, 10, true);
        let (q, produced) = sp.state_of("t").unwrap();
        assert_eq!(produced, 0);
        assert_eq!(sp.current_partition(&t), q);
    }

    #[test]
    fn switches_at_twice_batch_size_even_without_boundary() {
        let sp = StickyPartitioner::new(BATCH, false);
        let t = topic("t", 6, &[]);
        let p = sp.current_partition(&t);
        sp.on_append(&t, p, 1999, false);
        assert_eq!(sp.state_of("t"), Some((p, 1999)));
        sp.on_append(&t, p, 1, false);
        assert_eq!(
            sp.state_of("t").unwrap().1,
            0,
            "2 * batch.size forces a switch"
        );

        // A single huge record switches at once.
        let p = sp.current_partition(&t);
        sp.on_append(&t, p, usize::MAX, false);
        assert_eq!(sp.state_of("t").unwrap().1, 0);
    }

    #[test]
    fn exact_java_threshold_rule() {
        // producedBytes >= stickyBatchSize && enableSwitch || producedBytes >= 2 * stickyBatchSize
        for (bytes, enable, switches) in [
            (999, true, false),
            (1000, true, true),
            (1000, false, false),
            (1999, false, false),
            (2000, false, true),
        ] {
            let sp = StickyPartitioner::new(BATCH, false);
            let t = topic("t", 1, &[]);
            sp.current_partition(&t);
            sp.on_append(&t, 0, bytes, enable);
            let produced = sp.state_of("t").unwrap().1;
            assert_eq!(
                produced == 0,
                switches,
                "{bytes} bytes, enable_switch={enable}"
            );
        }
    }

    #[test]
    fn on_append_before_any_choice_is_ignored() {
        let sp = StickyPartitioner::new(BATCH, false);
        let t = topic("t", 3, &[]);
        sp.on_append(&t, 0, 5000, true);
        assert_eq!(sp.state_of("t"), None);
        assert!(!sp.is_current("t", 0));
        let p = sp.current_partition(&t);
        assert!(sp.is_current("t", p));
        assert!(!sp.is_current("t", (p + 1) % 3));
    }

    #[test]
    fn batch_size_zero_behaves_as_one() {
        let sp = StickyPartitioner::new(0, false);
        let t = topic("t", 1, &[]);
        sp.current_partition(&t);
        sp.on_append(&t, 0, 1, true);
        assert_eq!(sp.state_of("t"), Some((0, 0)));
    }

    #[test]
    fn uniform_over_many_switches() {
        let sp = StickyPartitioner::with_seed(BATCH, true, 0x5eed);
        let t = topic("t", 6, &[]);
        let counts = histogram(&sp, &t, 10_000);
        let mean = 10_000 / 6;
        for (p, &c) in counts.iter().enumerate() {
            assert!(c > 0, "partition {p} never chosen: {counts:?}");
            assert!(c < 3 * mean, "partition {p} chosen {c} times: {counts:?}");
            // Far tighter than the required bound: ~1667 ± 37 (1 sd).
            assert!((1400..1950).contains(&c), "partition {p}: {counts:?}");
        }
    }

    #[test]
    fn leaderless_partition_is_avoided() {
        let sp = StickyPartitioner::with_seed(BATCH, true, 11);
        let t = topic("t", 6, &[2, 4]);
        let counts = histogram(&sp, &t, 4000);
        assert_eq!(counts[2], 0, "{counts:?}");
        assert_eq!(counts[4], 0, "{counts:?}");
        for p in [0, 1, 3, 5] {
            assert!(counts[p] > 700, "{counts:?}");
        }

        // No partition has a leader: all are used.
        let t = topic("u", 3, &[0, 1, 2]);
        let counts = histogram(&sp, &t, 3000);
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
    }

    #[test]
    fn adaptive_stats_avoid_long_queues() {
        let sp = StickyPartitioner::with_seed(BATCH, true, 42);
        let t = topic("t", 6, &[]);
        sp.current_partition(&t);
        // Partition 3's queue is huge: its weight is 1 against 101 for the others.
        sp.update_load_stats("t", &[0, 1, 2, 3, 4, 5], &[0, 0, 0, 100, 0, 0]);
        let counts = histogram(&sp, &t, 10_000);
        let others_min = [0, 1, 2, 4, 5].iter().map(|&p| counts[p]).min().unwrap();
        assert!(counts[3] * 20 < others_min, "{counts:?}");
        assert!(counts[3] < 100, "expected ~20 of 10000: {counts:?}");

        // Java's example: queues 0 3 1 give the table 4 5 8, i.e. weights 4:1:3.
        sp.update_load_stats("t", &[0, 1, 2], &[0, 3, 1]);
        {
            let topics = sp.topics.load();
            let stats = topics["t"].stats.lock();
            assert_eq!(stats.cumulative, [4, 5, 8]);
            assert_eq!(stats.partition_ids, [0, 1, 2]);
        }
        let counts = histogram(&sp, &t, 8000);
        assert_eq!(
            &counts[3..],
            [0, 0, 0],
            "only partitions in the stats are chosen"
        );
        assert!((3700..4300).contains(&counts[0]), "{counts:?}");
        assert!((800..1200).contains(&counts[1]), "{counts:?}");
        assert!((2700..3300).contains(&counts[2]), "{counts:?}");

        // Clearing the stats goes back to uniform over partitions with a leader.
        sp.update_load_stats("t", &[], &[]);
        let counts = histogram(&sp, &t, 6000);
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
    }

    #[test]
    fn stats_are_ignored_when_adaptive_is_off() {
        let sp = StickyPartitioner::with_seed(BATCH, false, 3);
        let t = topic("t", 3, &[]);
        sp.update_load_stats("t", &[0, 1, 2], &[1000, 1000, 0]);
        let counts = histogram(&sp, &t, 3000);
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
    }

    #[test]
    fn stale_stats_partitions_beyond_the_topic_fall_back_to_uniform() {
        let sp = StickyPartitioner::new(BATCH, true);
        let t = topic("t", 2, &[]);
        sp.update_load_stats("t", &[7], &[0]);
        for _ in 0..100 {
            assert!((0..2).contains(&sp.force_switch(&t)));
        }
    }

    #[test]
    fn sticky_partition_beyond_partition_count_is_replaced() {
        let sp = StickyPartitioner::new(BATCH, false);
        let big = topic("t", 100, &[]);
        let small = topic("t", 1, &[]);
        sp.current_partition(&big);
        assert_eq!(sp.current_partition(&small), 0);
        assert_eq!(sp.current_partition(&topic("t", 0, &[])), -1);
    }

    #[test]
    fn topics_are_independent_and_removable() {
        let sp = StickyPartitioner::new(BATCH, false);
        let a = topic("a", 50, &[]);
        let b = topic("b", 50, &[]);
        let pa = sp.current_partition(&a);
        sp.current_partition(&b);
        sp.on_append(&a, pa, 10, false);
        assert_eq!(sp.state_of("a"), Some((pa, 10)));
        assert_eq!(sp.state_of("b").unwrap().1, 0);
        sp.remove_topic("a");
        assert_eq!(sp.state_of("a"), None);
        assert!(sp.state_of("b").is_some());
    }

    #[test]
    fn concurrent_appends_count_every_byte_once() {
        // With switching only at 2 * batch.size and 1-byte records, the number of switches is
        // exactly total / (2 * batch.size) when no byte is lost or double-counted.
        let sp = Arc::new(StickyPartitioner::new(500, false));
        let t = Arc::new(topic("t", 1, &[]));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (sp, t) = (sp.clone(), t.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let p = sp.current_partition(&t);
                        sp.on_append(&t, p, 1, false);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        // 80,000 bytes = 80 switches of 1000 bytes, leaving 0.
        assert_eq!(sp.state_of("t"), Some((0, 0)));

        let sp = Arc::new(StickyPartitioner::new(100, true));
        let t = Arc::new(topic("t", 6, &[1]));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (sp, t) = (sp.clone(), t.clone());
                std::thread::spawn(move || {
                    for j in 0..5000 {
                        let p = sp.current_partition(&t);
                        assert!((0..6).contains(&p) && p != 1, "{p}");
                        sp.on_append(&t, p, 7, j % 3 == 0);
                        if i == 0 && j % 100 == 0 {
                            sp.update_load_stats("t", &[0, 2, 3, 4, 5], &[1, 2, 3, 4, j % 7]);
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
    }
}
