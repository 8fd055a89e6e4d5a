//! Exactly-once on real brokers: idempotence across leader failovers, transactions across a
//! broker bounce, fencing of a zombie transactional producer, and consumer offsets committed
//! with a transaction, on the transaction protocol the broker finalizes (version 2 on Kafka 4.x,
//! version 1 on 3.9: see `expected_protocol`).
//!
//! The three-node tests SIGKILL and restart brokers of the shared three-node cluster, so they run
//! one at a time (a lock) and a guard restarts every killed node and waits for a healthy cluster
//! (every partition led, every ISR full) even when the test fails. The one-node tests leave the
//! cluster alone.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use volley::{
    ConsumerGroupMetadata, DeliveryFuture, Error, KafkaCode, OffsetAndMetadata, Producer, Record,
    TxnProtocol,
};

// ---------------------------------------------------------------------------------------------
// The three-node cluster: one test at a time, restored on drop.

static SERIAL3: Mutex<()> = Mutex::new(());

fn lock3() -> MutexGuard<'static, ()> {
    SERIAL3.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until every node runs and every partition of every topic has a leader and a full
/// ISR (bounded).
fn wait_healthy3(timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut last: String;
    loop {
        match topic_command3(&[]) {
            Ok(out) => {
                let parts = parse_describe(&out);
                let sick: Vec<&PartitionState> = parts
                    .iter()
                    .filter(|p| p.leader.is_none() || p.isr.len() != p.replicas.len())
                    .collect();
                // No topic at all (a fresh cluster: scripts/test runs this binary first) is
                // healthy too, once every node runs.
                let all_running = || {
                    node_states3()
                        .is_ok_and(|s| !s.is_empty() && s.iter().all(|(_, st)| st == "running"))
                };
                if sick.is_empty() && (!parts.is_empty() || all_running()) {
                    return Ok(t0.elapsed());
                }
                last = format!(
                    "{} of {} partitions not healthy: {sick:?}",
                    sick.len(),
                    parts.len()
                );
            }
            Err(e) => last = e,
        }
        if t0.elapsed() >= timeout {
            return Err(format!(
                "the 3-node cluster was not healthy within {timeout:?}: {last}"
            ));
        }
        thread::sleep(Duration::from_secs(1));
    }
}

/// Node states from `scripts/kafka status`: (node, "running" | "paused" | "dead").
fn node_states3() -> Result<Vec<(u32, String)>, String> {
    let out = try_kafka3(&["status"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("node ")?;
            let (n, rest) = rest.split_once(':')?;
            let state = rest.split_whitespace().next()?;
            Some((n.trim().parse().ok()?, state.to_string()))
        })
        .collect())
}

/// Brings every node of the three-node cluster back (restart if killed, resume if paused) and
/// waits for a healthy cluster, also when the test panicked.
struct Restore3;

impl Drop for Restore3 {
    fn drop(&mut self) {
        match node_states3() {
            Ok(states) => {
                for (n, state) in states {
                    let n = n.to_string();
                    let r = match state.as_str() {
                        "dead" => try_kafka3(&["restart", &n]),
                        "paused" => try_kafka3(&["resume", &n]),
                        _ => Ok(String::new()),
                    };
                    if let Err(e) = r {
                        eprintln!("Restore3: could not bring node {n} back: {e}");
                    }
                }
            }
            Err(e) => eprintln!("Restore3: status failed: {e}"),
        }
        if let Err(e) = wait_healthy3(Duration::from_secs(120)) {
            eprintln!("Restore3: {e}");
        }
    }
}

/// Kills node `n` and starts it again after `down`, then waits for a healthy cluster.
fn bounce(n: i32, down: Duration) -> Result<Duration, String> {
    let n = n.to_string();
    try_kafka3(&["kill", &n])?;
    thread::sleep(down);
    try_kafka3(&["restart", &n])?;
    wait_healthy3(Duration::from_secs(120))
}

/// A background thread that is told to stop and joined when dropped, so that a failing test
/// does not leave it killing or restarting nodes behind the [`Restore3`] guard (declare it after
/// the guard, so that it drops first).
struct Background<T> {
    handle: Option<thread::JoinHandle<T>>,
    stop: Arc<AtomicBool>,
}

impl<T: Send + 'static> Background<T> {
    fn spawn(f: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static) -> Background<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        Background {
            handle: Some(thread::spawn(move || f(s))),
            stop,
        }
    }

    fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    fn join(mut self) -> T {
        let h = self.handle.take().expect("joined once");
        match h.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.store(true, Ordering::Relaxed);
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Log dumps

/// One batch header line of Kafka's log dump.
#[derive(Debug, Clone)]
struct DumpedBatch {
    base_offset: i64,
    last_offset: i64,
    count: i64,
    base_sequence: i32,
    last_sequence: i32,
    producer_id: i64,
    producer_epoch: i16,
    is_transactional: bool,
    is_control: bool,
}

fn parse_dump(out: &str) -> Vec<DumpedBatch> {
    out.lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let get = |key: &str| -> &str {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
                    .copied()
                    .unwrap_or_else(|| panic!("no {key} in dump line {l:?}"))
            };
            DumpedBatch {
                base_offset: get("baseOffset:").parse().unwrap(),
                last_offset: get("lastOffset:").parse().unwrap(),
                count: get("count:").parse().unwrap(),
                base_sequence: get("baseSequence:").parse().unwrap(),
                last_sequence: get("lastSequence:").parse().unwrap(),
                producer_id: get("producerId:").parse().unwrap(),
                producer_epoch: get("producerEpoch:").parse().unwrap(),
                is_transactional: get("isTransactional:") == "true",
                is_control: get("isControl:") == "true",
            }
        })
        .collect()
}

/// Checks the idempotence invariants of one partition's data batches: a single producer id,
/// epochs that never go down, and within each epoch sequences that start at 0 and run on
/// without a gap or an overlap. Returns the epochs seen, in order.
fn check_sequences(what: &str, batches: &[DumpedBatch]) -> Vec<i16> {
    let data: Vec<&DumpedBatch> = batches.iter().filter(|b| !b.is_control).collect();
    assert!(!data.is_empty(), "{what}: no data batches in the dump");
    let pid = data[0].producer_id;
    let mut epochs = Vec::new();
    let mut prev: Option<&DumpedBatch> = None;
    for b in &data {
        assert_eq!(
            b.producer_id, pid,
            "{what}: more than one producer id in the log: {b:?}"
        );
        assert_eq!(
            b.last_sequence - b.base_sequence + 1,
            b.count as i32,
            "{what}: batch sequence range does not match its record count: {b:?}"
        );
        match prev {
            Some(p) if p.producer_epoch == b.producer_epoch => assert_eq!(
                b.base_sequence,
                p.last_sequence + 1,
                "{what}: sequence gap or overlap within epoch {}: {p:?} then {b:?}",
                b.producer_epoch
            ),
            Some(p) => {
                assert!(
                    b.producer_epoch > p.producer_epoch,
                    "{what}: epoch went down: {p:?} then {b:?}"
                );
                assert_eq!(
                    b.base_sequence, 0,
                    "{what}: a new epoch does not start at sequence 0: {b:?}"
                );
                epochs.push(b.producer_epoch);
            }
            None => {
                assert_eq!(
                    b.base_sequence, 0,
                    "{what}: the first batch does not start at sequence 0: {b:?}"
                );
                epochs.push(b.producer_epoch);
            }
        }
        prev = Some(b);
    }
    epochs
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// A deterministic generator (splitmix64), so that a failing run can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    match std::env::var("VOLLEY_EOS_SEED") {
        Ok(s) => s.parse().expect("VOLLEY_EOS_SEED must be a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// Values per partition in offset order.
fn by_partition(records: &[Consumed]) -> BTreeMap<i32, Vec<String>> {
    let mut sorted: Vec<&Consumed> = records.iter().collect();
    sorted.sort_by_key(|c| (c.partition, c.offset));
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for c in sorted {
        out.entry(c.partition)
            .or_default()
            .push(c.value.clone().unwrap_or_default());
    }
    out
}

/// Calls a blocking transactional operation again while it fails with a retriable error (a
/// timeout while the coordinator moves, say), up to `deadline`. Returns how many retries it took.
fn retry_txn_call(
    what: &str,
    deadline: Instant,
    mut call: impl FnMut() -> volley::Result<()>,
) -> volley::Result<u32> {
    let mut retries = 0;
    loop {
        match call() {
            Ok(()) => return Ok(retries),
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                eprintln!("{what}: retriable error, calling again: {e}");
                retries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn flush_until(p: &Producer, deadline: Instant) -> volley::Result<u32> {
    retry_txn_call("flush", deadline, || {
        p.flush_timeout(Duration::from_secs(15))
    })
}

fn txn_producer(bootstrap: &str, transactional_id: &str, max_block_ms: &str) -> Producer {
    Producer::from_properties([
        ("bootstrap.servers", bootstrap),
        ("transactional.id", transactional_id),
        ("linger.ms", "5"),
        ("max.block.ms", max_block_ms),
        ("transaction.timeout.ms", "60000"),
        ("delivery.timeout.ms", "120000"),
    ])
    .expect("transactional producer")
}

/// The transaction protocol the one-node cluster calls for, from its finalized
/// `transaction.version` as Kafka's `FeatureCommand describe` prints it. On Kafka 4.x (the
/// default test bed) level 2 is required, so the version 2 path is what these tests exercise
/// there; Kafka 3.9 (`scripts/test`'s compatibility pass) must leave it below 2, so version 1 is
/// exercised there. The version is the one the test bed recorded (`common::kafka_version`).
fn expected_protocol() -> TxnProtocol {
    let bs = bootstrap();
    let out = kafka(&[
        "tool",
        "org.apache.kafka.tools.FeatureCommand",
        "--bootstrap-server",
        &bs,
        "describe",
    ]);
    let level = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("transaction.version"))
        .and_then(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "FinalizedVersionLevel:")?;
            w.get(i + 1)?.parse::<i16>().ok()
        })
        .unwrap_or(0);
    let version = common::kafka_version();
    if version.0 >= 4 {
        assert_eq!(
            level, 2,
            "Kafka 4.x's test bed must finalize transaction.version 2:\n{out}"
        );
    } else {
        assert!(
            level < 2,
            "Kafka {version:?} finalizes transaction.version {level}, expected below 2:\n{out}"
        );
    }
    if level >= 2 {
        TxnProtocol::V2
    } else {
        TxnProtocol::V1
    }
}

fn is_fencing(e: &Error) -> bool {
    e.is_fatal()
        && matches!(
            e.code(),
            Some(KafkaCode::PRODUCER_FENCED) | Some(KafkaCode::INVALID_PRODUCER_EPOCH)
        )
}

// ---------------------------------------------------------------------------------------------
// 1. Idempotence under failover

// Failure: a leader dies with batches in flight; the producer retries them to the new leader and
// the log ends up with duplicates (a retried batch appended twice), gaps (a batch lost while
// later ones were acknowledged) or reordering, or a record is acknowledged at an offset where it
// is not. Invariant: with idempotence, acks=all and min.insync.replicas=2, three SIGKILLs of
// partition 0's leader lose nothing: every record is acknowledged, Kafka's consumer reads each
// exactly once at the offset its acknowledgement named, each partition holds its numbers in
// send order without a gap, and each partition's log holds one producer id whose sequences run
// on without a gap within each epoch.
#[test]
fn idempotent_producer_keeps_exactly_once_and_order_across_leader_failovers() {
    const TOTAL: usize = 200_000;
    const PARTITIONS: usize = 3;
    const CYCLES: usize = 3;
    const RATE_PER_SEC: f64 = 5_000.0;
    let _serial = lock3();
    let _restore = Restore3;
    let t_start = Instant::now();
    wait_healthy3(Duration::from_secs(120)).unwrap();

    let topic = unique_topic("eos-failover");
    create_topic_on(
        Cluster::Three,
        &topic,
        PARTITIONS as u32,
        3,
        &["min.insync.replicas=2"],
    );
    wait_healthy3(Duration::from_secs(60)).unwrap();
    let bs = bootstrap3();
    let producer = Producer::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("acks", "all"),
        ("linger.ms", "5"),
        ("delivery.timeout.ms", "120000"),
    ])
    .unwrap();
    assert_eq!(producer.partitions_for(&topic).unwrap().len(), PARTITIONS);

    // Per record: the acknowledged offset, PENDING until its callback runs, FAILED after an error.
    const PENDING: i64 = -2;
    const FAILED: i64 = -1;
    let acked: Arc<Vec<AtomicI64>> =
        Arc::new((0..TOTAL).map(|_| AtomicI64::new(PENDING)).collect());
    let failures: Arc<Mutex<Vec<(usize, Error)>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let cycles_done = Arc::new(AtomicUsize::new(0));

    // The killer: once a quarter, a half and three quarters of the records are sent, SIGKILL
    // partition 0's current leader, keep it down a few seconds, restart it, and wait until the
    // cluster is healthy again.
    let killer = {
        let topic = topic.clone();
        let sent = sent.clone();
        let cycles_done = cycles_done.clone();
        Background::spawn(move |stop| -> Result<Vec<String>, String> {
            let mut log = Vec::new();
            for cycle in 0..CYCLES {
                let trigger = (cycle + 1) * TOTAL / (CYCLES + 1);
                while sent.load(Ordering::Relaxed) < trigger {
                    if stop.load(Ordering::Relaxed) {
                        return Err(format!("sending stopped before cycle {cycle}"));
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                let leader = leader_of(&topic, 0)?;
                let at = sent.load(Ordering::Relaxed);
                let t0 = Instant::now();
                let healthy_after = bounce(leader, Duration::from_secs(3))?;
                log.push(format!(
                    "cycle {cycle}: killed node {leader} (leader of partition 0) after {at} records; \
                     back and healthy after {:?} (health wait {healthy_after:?})",
                    t0.elapsed()
                ));
                cycles_done.fetch_add(1, Ordering::Release);
            }
            Ok(log)
        })
    };

    let send_started = Instant::now();
    let send_deadline = send_started + Duration::from_secs(300);
    for i in 0..TOTAL {
        let partition = i % PARTITIONS;
        let n = i / PARTITIONS;
        // Pace the run so that it spans the three kill/restart cycles, and let each cycle's
        // restart finish before sending on far past its kill.
        if i % 500 == 0 {
            let gate = (0..CYCLES)
                .filter(|c| i >= (c + 1) * TOTAL / (CYCLES + 1) + TOTAL / 8)
                .count();
            while cycles_done.load(Ordering::Acquire) < gate
                && !killer.is_finished()
                && Instant::now() < send_deadline
            {
                thread::sleep(Duration::from_millis(50));
            }
            let due = send_started + Duration::from_secs_f64(i as f64 / RATE_PER_SEC);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            assert!(
                Instant::now() < send_deadline,
                "sending took longer than 300 s ({i} records sent)"
            );
        }
        let acked_cb = acked.clone();
        let failures_cb = failures.clone();
        let r = producer.send_with_callback(
            Record::new(topic.as_str())
                .partition(partition as i32)
                .value(format!("p{partition}-{n}")),
            move |r| match r {
                Ok(md) => acked_cb[i].store(md.offset, Ordering::Release),
                Err(e) => {
                    acked_cb[i].store(FAILED, Ordering::Release);
                    failures_cb.lock().unwrap().push((i, e.into_error()));
                }
            },
        );
        if let Err(e) = r {
            panic!("send of record {i} failed at once: {e}");
        }
        sent.store(i + 1, Ordering::Relaxed);
    }
    let send_took = send_started.elapsed();
    let flush_started = Instant::now();
    let flushed = producer.flush_timeout(Duration::from_secs(180));
    let flush_took = flush_started.elapsed();
    let kills = killer.join();
    let metrics = producer.metrics();
    producer.close_timeout(Duration::from_secs(30)).unwrap();
    flushed.expect("flush within 180 s");
    let kills = kills.expect("kill/restart cycles");
    eprintln!(
        "failover: sent {TOTAL} records in {send_took:?}, flush took {flush_took:?}\n  {}\n  \
         metrics: acked {} errors {} record retries {} batches sent {} requests {} connections \
         made {} closed {} metadata updates {}",
        kills.join("\n  "),
        metrics.record_send_total,
        metrics.record_error_total,
        metrics.record_retry_total,
        metrics.batch_send_total,
        metrics.request_total,
        metrics.connection_creation_total,
        metrics.connection_close_total,
        metrics.metadata_update_total,
    );
    assert_eq!(kills.len(), CYCLES);

    // Every record resolved; with these settings every one should be acknowledged, and any
    // failure must at least be a typed, reported error.
    let pending = acked
        .iter()
        .filter(|a| a.load(Ordering::Acquire) == PENDING)
        .count();
    assert_eq!(pending, 0, "{pending} records never resolved");
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    for (i, e) in failures.iter().take(20) {
        eprintln!("record {i} failed: {e:?} (retriable: {})", e.is_retriable());
    }
    assert!(
        failures.is_empty(),
        "{} of {TOTAL} records failed (first: {:?})",
        failures.len(),
        failures.first()
    );
    assert_eq!(metrics.record_send_total, TOTAL as u64);

    // Read everything back (asking for one more record than sent, so that any extra shows).
    let t_consume = Instant::now();
    let consumed = consume_on(Cluster::Three, &topic, TOTAL + 1, "read_uncommitted");
    eprintln!(
        "failover: consumed {} records in {:?}",
        consumed.len(),
        t_consume.elapsed()
    );
    let mut seen = vec![false; TOTAL];
    for c in &consumed {
        let v = c.value.as_deref().unwrap_or("");
        let (p, n) = v
            .strip_prefix('p')
            .and_then(|s| s.split_once('-'))
            .and_then(|(p, n)| Some((p.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .unwrap_or_else(|| panic!("unexpected value {v:?}"));
        assert_eq!(
            p as i32, c.partition,
            "record {v} is in partition {}",
            c.partition
        );
        let i = n * PARTITIONS + p;
        assert!(i < TOTAL, "record {v} was never sent");
        assert!(
            !seen[i],
            "record {v} appears twice (second at offset {})",
            c.offset
        );
        seen[i] = true;
        let offset = acked[i].load(Ordering::Acquire);
        assert_eq!(
            offset, c.offset,
            "record {v} was acknowledged at offset {offset} but is at offset {}",
            c.offset
        );
    }
    let missing: Vec<usize> = (0..TOTAL).filter(|&i| !seen[i]).take(10).collect();
    assert!(
        missing.is_empty(),
        "acknowledged records missing, e.g. {missing:?}"
    );
    assert_eq!(consumed.len(), TOTAL);
    // Per partition, in offset order: 0, 1, 2, ... with no gap.
    for (p, values) in by_partition(&consumed) {
        for (k, v) in values.iter().enumerate() {
            assert_eq!(
                v,
                &format!("p{p}-{k}"),
                "partition {p} at position {k}: out of order or gap"
            );
        }
    }

    // The logs: one producer id, sequences without gaps within each epoch. Dump from the
    // partition's current leader, which has every acknowledged record.
    let mut epoch_report = Vec::new();
    for p in 0..PARTITIONS as i32 {
        let leader = leader_of(&topic, p).unwrap();
        let dump = kafka_on(
            Cluster::Three,
            &[
                "dump-log",
                &topic,
                &p.to_string(),
                "--node",
                &leader.to_string(),
            ],
        );
        let batches = parse_dump(&dump);
        let records: i64 = batches.iter().map(|b| b.count).sum();
        assert_eq!(
            records as usize,
            TOTAL / PARTITIONS + usize::from((p as usize) < TOTAL % PARTITIONS),
            "partition {p}: the log dump of node {leader} holds {records} records"
        );
        for w in batches.windows(2) {
            assert_eq!(
                w[1].base_offset,
                w[0].last_offset + 1,
                "partition {p}: offsets not contiguous"
            );
        }
        assert!(batches.iter().all(|b| !b.is_transactional && !b.is_control));
        let epochs = check_sequences(&format!("{topic}-{p}"), &batches);
        epoch_report.push(format!(
            "partition {p}: {} batches, producer id {}, epochs {epochs:?}",
            batches.len(),
            batches[0].producer_id
        ));
    }
    let pids: HashSet<&str> = epoch_report
        .iter()
        .filter_map(|r| r.split("producer id ").nth(1)?.split(',').next())
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "partitions have different producer ids: {epoch_report:?}"
    );
    eprintln!(
        "failover: {}\n  total {:?}",
        epoch_report.join("\n  "),
        t_start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Transactions under a broker bounce

// Failure: the transaction coordinator dies mid-run; a commit that times out or hits
// NOT_COORDINATOR is given up (or turned into an abort), a transaction's records end up half
// visible, or aborted records leak to read_committed consumers because no abort marker was
// written. Invariant: across a SIGKILL and restart of the coordinator (which also leads one of
// the topic's partitions), every commit eventually succeeds when called again after a retriable
// error; a read_committed consumer sees exactly the committed records, in send order per
// partition; a read_uncommitted consumer sees the committed and the aborted ones (so the aborted
// records were written and only their markers hide them), and each partition's log has the
// commit and abort markers.
#[test]
fn transactions_commit_and_abort_exactly_across_a_coordinator_bounce() {
    const TXNS: usize = 200;
    const BOUNCE_AT: usize = 100;
    const PARTITIONS: u64 = 3;
    let _serial = lock3();
    let _restore = Restore3;
    let t_start = Instant::now();
    wait_healthy3(Duration::from_secs(120)).unwrap();
    let seed = seed();
    eprintln!("transactions: seed {seed} (VOLLEY_EOS_SEED={seed} replays it)");
    let mut rng = Rng(seed);

    let topic = unique_topic("eos-txn");
    create_topic_on(
        Cluster::Three,
        &topic,
        PARTITIONS as u32,
        3,
        &["min.insync.replicas=2"],
    );
    wait_healthy3(Duration::from_secs(60)).unwrap();
    let tid = unique_topic("eos-txn-id");
    let bs = bootstrap3();
    // A short max.block.ms, so that commits during the bounce do time out and get called again.
    let producer = txn_producer(&bs, &tid, "4000");
    producer.init_transactions().unwrap();

    // The bouncer: find the transaction coordinator of our id, wait for transaction BOUNCE_AT,
    // then kill the coordinator and restart it.
    let current_txn = Arc::new(AtomicUsize::new(0));
    let bouncer = {
        let current_txn = current_txn.clone();
        let tid = tid.clone();
        Background::spawn(move |stop| -> Result<String, String> {
            let bs = bootstrap3();
            let out = try_kafka3(&[
                "tool",
                "org.apache.kafka.tools.TransactionsCommand",
                "--bootstrap-server",
                &bs,
                "describe",
                "--transactional-id",
                &tid,
            ])?;
            let mut lines = out.lines().filter(|l| !l.trim().is_empty());
            let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
            let row: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
            let col = header
                .iter()
                .position(|h| h.trim() == "CoordinatorId" || h.trim() == "Coordinator")
                .ok_or_else(|| format!("no coordinator column in {out:?}"))?;
            let coordinator: i32 = row
                .get(col)
                .and_then(|c| c.trim().parse().ok())
                .ok_or_else(|| format!("no coordinator in {out:?}"))?;
            let t0 = Instant::now();
            while current_txn.load(Ordering::Relaxed) < BOUNCE_AT {
                if stop.load(Ordering::Relaxed) || t0.elapsed() > Duration::from_secs(300) {
                    return Err("transaction 100 never came".into());
                }
                thread::sleep(Duration::from_millis(5));
            }
            let killed_at = current_txn.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let healthy_after = bounce(coordinator, Duration::from_secs(3))?;
            Ok(format!(
                "killed node {coordinator} (transaction coordinator) at transaction {killed_at}; \
                 healthy again after {:?} (health wait {healthy_after:?}), at transaction {}",
                t0.elapsed(),
                current_txn.load(Ordering::Relaxed)
            ))
        })
    };

    let mut committed: Vec<(i32, String)> = Vec::new();
    let mut all: Vec<(i32, String)> = Vec::new();
    let mut aborted_txns_per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let mut committed_txns_per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let (mut commit_retries, mut abort_retries, mut flush_retries, mut send_retries) =
        (0u32, 0u32, 0u32, 0u32);
    let mut slowest_commit = Duration::ZERO;
    let run_deadline = Instant::now() + Duration::from_secs(600);
    for txn in 0..TXNS {
        current_txn.store(txn, Ordering::Relaxed);
        let deadline = (Instant::now() + Duration::from_secs(180)).min(run_deadline);
        producer
            .begin_transaction()
            .unwrap_or_else(|e| panic!("begin_transaction {txn}: {e}"));
        let size = 1 + rng.below(50) as usize;
        let mut records: Vec<(i32, String, DeliveryFuture)> = Vec::with_capacity(size);
        for j in 0..size {
            let partition = rng.below(PARTITIONS) as i32;
            let value = format!("t{txn}-r{j}");
            let future = loop {
                match producer.send(
                    Record::new(topic.as_str())
                        .partition(partition)
                        .value(value.as_str()),
                ) {
                    Ok(f) => break f,
                    Err(e) if e.is_retriable() && Instant::now() < deadline => {
                        eprintln!("send in transaction {txn}: retriable error, sending again: {e}");
                        send_retries += 1;
                    }
                    Err(e) => panic!("send in transaction {txn} failed: {e:?}"),
                }
            };
            records.push((partition, value, future));
        }
        let partitions: HashSet<i32> = records.iter().map(|r| r.0).collect();
        let abort = txn % 3 == 2;
        if abort {
            // Get the records written first, so that the abort markers are what hides them.
            flush_retries += flush_until(&producer, deadline)
                .unwrap_or_else(|e| panic!("flush in transaction {txn}: {e:?}"));
        } else {
            let t0 = Instant::now();
            commit_retries += retry_txn_call(&format!("commit {txn}"), deadline, || {
                producer.commit_transaction()
            })
            .unwrap_or_else(|e| {
                panic!(
                    "commit_transaction {txn} failed with a non-retriable error (abortable: {}, \
                     fatal: {}): {e:?}",
                    matches!(e, Error::Abortable(_)),
                    e.is_fatal()
                )
            });
            slowest_commit = slowest_commit.max(t0.elapsed());
        }
        for (partition, value, future) in records {
            let md = future
                .wait_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("record {value} of transaction {txn} unresolved"))
                .unwrap_or_else(|e| panic!("record {value} of transaction {txn} failed: {e:?}"));
            assert_eq!(md.partition, partition);
            all.push((partition, value.clone()));
            if !abort {
                committed.push((partition, value));
            }
        }
        if abort {
            abort_retries += retry_txn_call(&format!("abort {txn}"), deadline, || {
                producer.abort_transaction()
            })
            .unwrap_or_else(|e| panic!("abort_transaction {txn}: {e:?}"));
            for p in &partitions {
                *aborted_txns_per_partition.entry(*p).or_default() += 1;
            }
        } else {
            for p in &partitions {
                *committed_txns_per_partition.entry(*p).or_default() += 1;
            }
        }
    }
    current_txn.store(TXNS, Ordering::Relaxed);
    let run_took = t_start.elapsed();
    let bounced = bouncer.join();
    let metrics = producer.metrics();
    producer.close_timeout(Duration::from_secs(30)).unwrap();
    let bounced = bounced.expect("the broker bounce");
    eprintln!(
        "transactions: {TXNS} transactions ({} records, {} committed) in {run_took:?}; {bounced}\n  \
         commit retries {commit_retries}, abort retries {abort_retries}, flush retries \
         {flush_retries}, send retries {send_retries}, slowest commit {slowest_commit:?}\n  \
         metrics: acked {} errors {} record retries {} requests {} connections made {} closed {}",
        all.len(),
        committed.len(),
        metrics.record_send_total,
        metrics.record_error_total,
        metrics.record_retry_total,
        metrics.request_total,
        metrics.connection_creation_total,
        metrics.connection_close_total,
    );

    let expect_per_partition = |records: &[(i32, String)]| {
        let mut m: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (p, v) in records {
            m.entry(*p).or_default().push(v.clone());
        }
        m
    };
    // read_committed: exactly the committed records, in send order per partition.
    let rc = consume_on(
        Cluster::Three,
        &topic,
        committed.len() + 1,
        "read_committed",
    );
    assert_eq!(
        rc.len(),
        committed.len(),
        "read_committed saw {} records, {} were committed",
        rc.len(),
        committed.len()
    );
    let mut rc_values: Vec<String> = rc.iter().filter_map(|c| c.value.clone()).collect();
    let mut want: Vec<String> = committed.iter().map(|c| c.1.clone()).collect();
    rc_values.sort();
    want.sort();
    assert_eq!(
        rc_values, want,
        "read_committed: not the committed multiset"
    );
    assert_eq!(
        by_partition(&rc),
        expect_per_partition(&committed),
        "read_committed: per-partition order differs"
    );
    // read_uncommitted: committed and aborted records, in send order per partition.
    let ru = consume_on(Cluster::Three, &topic, all.len() + 1, "read_uncommitted");
    assert_eq!(ru.len(), all.len(), "read_uncommitted count");
    assert_eq!(
        by_partition(&ru),
        expect_per_partition(&all),
        "read_uncommitted: per-partition order differs"
    );

    // The markers in each partition's log (a marker may be written again after the coordinator
    // moved, so at least one per transaction).
    for p in 0..PARTITIONS as i32 {
        let leader = leader_of(&topic, p).unwrap();
        let dump = kafka_on(
            Cluster::Three,
            &[
                "dump-log",
                &topic,
                &p.to_string(),
                "--node",
                &leader.to_string(),
            ],
        );
        let commits = dump.matches("endTxnMarker: COMMIT").count();
        let aborts = dump.matches("endTxnMarker: ABORT").count();
        let want_commits = committed_txns_per_partition.get(&p).copied().unwrap_or(0);
        let want_aborts = aborted_txns_per_partition.get(&p).copied().unwrap_or(0);
        let batches = parse_dump(&dump);
        assert!(batches
            .iter()
            .filter(|b| !b.is_control)
            .all(|b| b.is_transactional));
        // Aborted records were all written before their abort, so no batch failed and the
        // sequences run on without a gap, across transactions, in one epoch.
        let epochs = check_sequences(&format!("{topic}-{p}"), &batches);
        eprintln!(
            "transactions: partition {p}: {commits} COMMIT markers ({want_commits} transactions), \
             {aborts} ABORT markers ({want_aborts} transactions), producer id {}, epochs {epochs:?}",
            batches[0].producer_id
        );
        assert!(commits >= want_commits && aborts >= want_aborts);
    }
    eprintln!("transactions: total {:?}", t_start.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 3. Fencing

// Failure: a zombie producer (an older instance with the same transactional.id) keeps committing
// after a new instance took over, or its failure is reported as something the application would
// retry or abort and carry on. Invariant: once a second producer has called init_transactions,
// the first one's next transactional operation fails with a fatal error carrying
// PRODUCER_FENCED or INVALID_PRODUCER_EPOCH, every later call fails too, its open transaction is
// aborted (its records never become visible to read_committed), and the new producer commits
// normally. Checked both with a transaction open at fencing time and with the zombie idle.
#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let t_start = Instant::now();
    let topic = unique_topic("eos-fence");
    create_topic(&topic, 1, &[]);
    let tid = unique_topic("eos-fence-id");
    let bs = bootstrap();
    let send = |p: &Producer, v: &str| p.send(Record::new(topic.as_str()).value(v.to_string()));

    // p1 commits one transaction, then leaves a second one open with its record written.
    let p1 = txn_producer(&bs, &tid, "30000");
    p1.init_transactions().unwrap();
    assert_eq!(p1.transaction_protocol(), Some(expected_protocol()));
    p1.begin_transaction().unwrap();
    let f = send(&p1, "p1-committed").unwrap();
    p1.commit_transaction().unwrap();
    f.wait().expect("p1-committed acknowledged");
    p1.begin_transaction().unwrap();
    let open = send(&p1, "p1-open").unwrap();
    p1.flush().unwrap();
    open.wait().expect("p1's open record is written");

    // p2 takes over the id: this aborts p1's open transaction and fences p1.
    let p2 = txn_producer(&bs, &tid, "30000");
    p2.init_transactions().unwrap();

    let e = p1
        .commit_transaction()
        .expect_err("the fenced producer committed");
    assert!(is_fencing(&e), "commit after fencing: {e:?}");
    p2.begin_transaction().unwrap();
    let f = send(&p2, "p2-committed").unwrap();
    p2.commit_transaction().unwrap();
    f.wait().expect("p2-committed acknowledged");
    // Every later call of p1 fails with a fatal error too. (Checked once p2 has committed: right
    // after the failed commit, begin_transaction can still answer IllegalState; see
    // a_fenced_producer_fails_fatally_on_the_very_next_call.)
    let later: Vec<(&str, volley::Result<()>)> = vec![
        ("begin_transaction", p1.begin_transaction()),
        ("send", send(&p1, "p1-after").map(drop).map_err(Error::from)),
        ("commit_transaction", p1.commit_transaction()),
        ("abort_transaction", p1.abort_transaction()),
        ("init_transactions", p1.init_transactions()),
    ];
    for (what, r) in &later {
        let e = r.as_ref().expect_err(what);
        assert!(e.is_fatal(), "{what} after fencing: {e:?}");
    }
    eprintln!("fencing: open transaction: commit failed with {e}; later calls: {later:?}");

    // p3 takes over while p2 is idle: p2's next transaction fails on its first send/commit.
    let p3 = txn_producer(&bs, &tid, "30000");
    p3.init_transactions().unwrap();
    let begin = p2.begin_transaction();
    let sent = send(&p2, "p2-after");
    let e = p2
        .commit_transaction()
        .expect_err("the idle fenced producer committed");
    assert!(is_fencing(&e), "commit of an idle fenced producer: {e:?}");
    if let Ok(f) = sent {
        let r = f
            .wait_timeout(Duration::from_secs(30))
            .expect("p2-after resolved");
        assert!(
            r.is_err(),
            "a fenced producer's record was acknowledged: {r:?}"
        );
    }
    eprintln!("fencing: idle producer: begin gave {begin:?}, commit failed with {e}");

    p3.begin_transaction().unwrap();
    let f = send(&p3, "p3-committed").unwrap();
    p3.commit_transaction().unwrap();
    f.wait().expect("p3-committed acknowledged");
    let e2 = p2.begin_transaction().expect_err("begin after fencing");
    assert!(e2.is_fatal(), "begin after fencing: {e2:?}");
    p3.close().unwrap();
    let c1 = p1.close();
    let c2 = p2.close();
    eprintln!("fencing: close of the fenced producers: {c1:?}, {c2:?}");

    let values = |records: Vec<Consumed>| -> Vec<String> {
        records.into_iter().filter_map(|c| c.value).collect()
    };
    // Every record written (one more asked for, so that an extra one shows; "p2-after" must
    // never have been written), then the committed ones: one partition, so the first three in
    // offset order would include any aborted record that leaked.
    assert_eq!(
        values(consume_on(Cluster::One, &topic, 5, "read_uncommitted")),
        ["p1-committed", "p1-open", "p2-committed", "p3-committed"],
        "read_uncommitted"
    );
    assert_eq!(
        values(consume_on(Cluster::One, &topic, 3, "read_committed")),
        ["p1-committed", "p2-committed", "p3-committed"],
        "read_committed"
    );
    eprintln!("fencing: total {:?}", t_start.elapsed());
}

// Failure: right after a transactional call has failed with the fencing error, the next call
// answers as if the producer were merely in the wrong state (IllegalState, not fatal), so an
// application that checks is_fatal() to decide whether to close carries on with a zombie.
// Invariant: once a call has returned a fatal error, every later call returns a fatal error,
// with no window in between. Several fencings in a row, since the window is short.
#[test]
fn a_fenced_producer_fails_fatally_on_the_very_next_call() {
    const ROUNDS: usize = 10;
    let topic = unique_topic("eos-fence-next");
    create_topic(&topic, 1, &[]);
    let tid = unique_topic("eos-fence-next-id");
    let bs = bootstrap();
    let mut old = txn_producer(&bs, &tid, "30000");
    old.init_transactions().unwrap();
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        // The old producer has a transaction open with a record written; a new one fences it.
        old.begin_transaction().unwrap();
        let f = old
            .send(Record::new(topic.as_str()).value(format!("r{round}")))
            .unwrap();
        old.flush().unwrap();
        f.wait().unwrap();
        let new = txn_producer(&bs, &tid, "30000");
        new.init_transactions().unwrap();
        let e = old.commit_transaction().expect_err("fenced commit");
        assert!(is_fencing(&e), "round {round}: commit after fencing: {e:?}");
        match old.begin_transaction() {
            Err(e) if e.is_fatal() => {}
            other => wrong.push((round, format!("{other:?}"))),
        }
        let _ = old.close();
        old = new;
    }
    old.close().unwrap();
    assert!(
        wrong.is_empty(),
        "begin_transaction right after the fatal commit was not fatal in {} of {ROUNDS} \
         rounds: {wrong:?}",
        wrong.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Offsets in a transaction

/// The group's committed offsets per (topic, partition) as Kafka's consumer-groups tool shows
/// them ("-" for none), or `None` when the group does not exist.
fn group_offsets(group: &str) -> Option<BTreeMap<(String, i32), String>> {
    parse_group_offsets(
        group,
        &kafka(&[
            "consumer-groups",
            "--describe",
            "--group",
            group,
            "--offsets",
        ]),
    )
}

fn parse_group_offsets(group: &str, out: &str) -> Option<BTreeMap<(String, i32), String>> {
    if out.contains("GroupIdNotFoundException") || out.contains("does not exist") {
        return None;
    }
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[0] == group {
            if let Ok(p) = f[2].parse::<i32>() {
                m.insert((f[1].to_string(), p), f[3].to_string());
            }
        }
    }
    Some(m)
}

// Failure: offsets sent with a transaction become the group's committed offsets before the
// transaction commits, not at all, or despite an abort (a consume-transform-produce app would
// then skip or re-process input). Invariant: after send_offsets_to_transaction and before the
// commit, the group shows no committed offsets; after commit_transaction it shows exactly the
// offsets sent; a transaction whose offsets are aborted leaves them unchanged; a later commit of
// one partition's offset updates only that partition.
#[test]
fn offsets_sent_in_a_transaction_are_committed_with_it_and_only_with_it() {
    let t_start = Instant::now();
    let source = unique_topic("eos-src");
    let output = unique_topic("eos-out");
    create_topic(&source, 2, &[]);
    create_topic(&output, 1, &[]);
    let group = unique_topic("eos-group");
    let bs = bootstrap();
    let plain = Producer::from_properties([("bootstrap.servers", bs.as_str())]).unwrap();
    let inputs: Vec<DeliveryFuture> = (0..20)
        .map(|i| {
            plain
                .send(
                    Record::new(source.as_str())
                        .partition(i % 2)
                        .value(format!("in-{i}")),
                )
                .unwrap()
        })
        .collect();
    plain.close().unwrap();
    for f in inputs {
        f.wait().expect("source record acknowledged");
    }

    let tid = unique_topic("eos-offsets-id");
    let p = txn_producer(&bs, &tid, "30000");
    p.init_transactions().unwrap();
    assert_eq!(p.transaction_protocol(), Some(expected_protocol()));
    let meta = ConsumerGroupMetadata::new(group.as_str());
    let offsets = |o0: i64, o1: Option<i64>| {
        let mut v = vec![((source.clone(), 0), OffsetAndMetadata::new(o0))];
        if let Some(o1) = o1 {
            v.push(((source.clone(), 1), OffsetAndMetadata::new(o1)));
        }
        v
    };
    let expect = |o0: &str, o1: &str| {
        BTreeMap::from([
            ((source.clone(), 0), o0.to_string()),
            ((source.clone(), 1), o1.to_string()),
        ])
    };
    let wait_for = |want: &BTreeMap<(String, i32), String>, what: &str| {
        let mut last = None;
        let got = eventually(Duration::from_secs(30), || {
            let g = group_offsets(&group);
            let ok = g.as_ref() == Some(want);
            last = g;
            ok.then_some(())
        });
        assert!(
            got.is_some(),
            "{what}: group offsets {last:?}, want {want:?}"
        );
    };

    // Committed transaction: offsets 4 and 7.
    p.begin_transaction().unwrap();
    let out1 = p.send(Record::new(output.as_str()).value("out-1")).unwrap();
    p.send_offsets_to_transaction(offsets(4, Some(7)), &meta)
        .unwrap_or_else(|e| panic!("send_offsets_to_transaction: {e:?}"));
    let raw = kafka(&[
        "consumer-groups",
        "--describe",
        "--group",
        &group,
        "--offsets",
    ]);
    let before = parse_group_offsets(&group, &raw);
    eprintln!("offsets: before the commit the tool prints {raw:?}, that is {before:?}");
    if let Some(m) = &before {
        assert!(
            m.values().all(|o| o == "-"),
            "offsets visible before the commit: {m:?}"
        );
    }
    p.commit_transaction().unwrap();
    out1.wait().expect("out-1 acknowledged");
    wait_for(&expect("4", "7"), "after the first commit");

    // Aborted transaction: offsets 9 and 10 never become the group's.
    p.begin_transaction().unwrap();
    let out_aborted = p
        .send(Record::new(output.as_str()).value("out-aborted"))
        .unwrap();
    p.send_offsets_to_transaction(offsets(9, Some(10)), &meta)
        .unwrap();
    p.flush().unwrap();
    out_aborted
        .wait()
        .expect("out-aborted written before the abort");
    p.abort_transaction().unwrap();
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        group_offsets(&group),
        Some(expect("4", "7")),
        "offsets changed by an aborted transaction"
    );

    // A later commit of partition 0 alone moves only partition 0.
    p.begin_transaction().unwrap();
    let out2 = p.send(Record::new(output.as_str()).value("out-2")).unwrap();
    p.send_offsets_to_transaction(offsets(6, None), &meta)
        .unwrap();
    p.commit_transaction().unwrap();
    out2.wait().expect("out-2 acknowledged");
    wait_for(&expect("6", "7"), "after the second commit");
    p.close().unwrap();

    let rc: Vec<String> = consume_on(Cluster::One, &output, 2, "read_committed")
        .into_iter()
        .filter_map(|c| c.value)
        .collect();
    assert_eq!(rc, ["out-1", "out-2"]);
    eprintln!("offsets: total {:?}", t_start.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 5. The transaction protocol (KIP-890 part 2)

// Failure: on a broker that finalizes transaction.version 2 the producer speaks version 1 (or
// the reverse), or in version 2 it keeps the epoch EndTxn v5 bumped past (its next transaction
// fenced), or restarts its sequences wrongly. Invariant: the producer reports the protocol the
// broker's finalized feature calls for; three transactions (commit, abort, commit) on two
// partitions all succeed; read_committed reads exactly the committed ones; in the broker's log
// every data batch of a transaction carries the epoch its predecessor's EndTxn gave (version 2:
// one higher per transaction, each starting at sequence 0, markers at the next epoch) or one
// epoch throughout (version 1).
#[test]
fn each_transaction_runs_on_the_epoch_the_protocol_gives() {
    let topic = unique_topic("eos-tv");
    create_topic(&topic, 2, &[]);
    let tid = unique_topic("eos-tv-id");
    let bs = bootstrap();
    let expected = expected_protocol();
    let p = txn_producer(&bs, &tid, "30000");
    p.init_transactions().unwrap();
    assert_eq!(p.transaction_protocol(), Some(expected));
    let mut acks = Vec::new();
    for (round, end) in ["commit", "abort", "commit"].into_iter().enumerate() {
        p.begin_transaction().unwrap();
        for i in 0..4 {
            let r = Record::new(topic.as_str())
                .partition(i % 2)
                .value(format!("{end}-{round}-{i}"));
            acks.push(p.send(r).unwrap());
        }
        p.flush().unwrap();
        match end {
            "commit" => p.commit_transaction().unwrap(),
            _ => p.abort_transaction().unwrap(),
        }
    }
    for f in acks {
        f.wait()
            .expect("every record written before its transaction ended");
    }
    p.close().unwrap();

    let mut committed: Vec<String> = consume_on(Cluster::One, &topic, 9, "read_committed")
        .into_iter()
        .filter_map(|c| c.value)
        .collect();
    committed.sort();
    let mut want: Vec<String> = [0, 2]
        .iter()
        .flat_map(|r| (0..4).map(move |i| format!("commit-{r}-{i}")))
        .collect();
    want.sort();
    assert_eq!(committed, want, "read_committed");

    for partition in 0..2 {
        let batches = parse_dump(&dump_log(&topic, partition));
        let e0 = batches[0].producer_epoch;
        // (epoch of the data, epoch of the marker) of transaction n.
        let want = |n: i16| match expected {
            TxnProtocol::V2 => (e0 + n, e0 + n + 1),
            TxnProtocol::V1 => (e0, e0),
        };
        let (mut n, mut next_seq, mut epoch) = (0i16, 0, e0);
        for b in &batches {
            let what = format!("partition {partition}, transaction {n} on {expected:?}: {b:?}");
            if b.is_control {
                assert_eq!(b.producer_epoch, want(n).1, "marker of {what}");
                n += 1;
                continue;
            }
            assert!(b.is_transactional, "{what}");
            assert_eq!(b.producer_epoch, want(n).0, "data of {what}");
            if b.producer_epoch != epoch {
                (epoch, next_seq) = (b.producer_epoch, 0);
            }
            assert_eq!(b.base_sequence, next_seq, "sequence of {what}");
            next_seq += b.count as i32;
        }
        assert_eq!(n, 3, "three markers: {batches:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The transactional calls in async code

/// Polls `fut` once: it must be pending (a call that blocked the thread would have returned
/// its result from this first poll, after the coordinator's round trip), then awaits it.
async fn awaited<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    assert!(
        polled_once_pending(fut.as_mut()),
        "{what}: the first poll must hand the call to the I/O thread and return"
    );
    fut.await
}

/// Polls a future once with a no-op waker: whether it is pending.
fn polled_once_pending<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    fut.poll(&mut cx).is_pending()
}

// Failure: an async transactional call blocks the executor's thread while the coordinator
// answers (a single-threaded runtime would stall every other task), or it resolves to another
// result than the blocking call. Invariant: on a current-thread runtime, init, send_offsets,
// commit and abort are each pending after their first poll and then end with the blocking calls'
// results: the committed transaction's record and offsets become visible, the aborted one's
// never do.
#[test]
fn async_transactional_calls_commit_and_abort_without_blocking_the_executor() {
    let output = unique_topic("eos-async-out");
    let source = unique_topic("eos-async-src");
    create_topic(&output, 1, &[]);
    create_topic(&source, 1, &[]);
    let group = unique_topic("eos-async-group");
    let tid = unique_topic("eos-async-id");
    let bs = bootstrap();
    let p = txn_producer(&bs, &tid, "30000");
    let meta = ConsumerGroupMetadata::new(group.as_str());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        awaited("init", p.init_transactions_async()).await.unwrap();
        assert_eq!(p.transaction_protocol(), Some(expected_protocol()));

        // One transaction: a record and the source's offset, then its end, all awaited.
        let transaction = |value: &'static str, offset: i64, commit: bool| {
            let (p, output, source, meta) = (&p, &output, &source, &meta);
            async move {
                p.begin_transaction().unwrap();
                let f = p
                    .send_async(Record::new(output.as_str()).value(value))
                    .await
                    .unwrap();
                let offsets = [((source.clone(), 0), OffsetAndMetadata::new(offset))];
                awaited(
                    "send_offsets",
                    p.send_offsets_to_transaction_async(offsets, meta),
                )
                .await
                .unwrap();
                if commit {
                    awaited("commit", p.commit_transaction_async())
                        .await
                        .unwrap();
                    f.await.expect("acknowledged by the commit");
                } else {
                    awaited("abort", p.abort_transaction_async()).await.unwrap();
                    // Not yet sent when the abort came (linger.ms), or written then aborted.
                    let _ = f.await;
                }
            }
        };
        transaction("committed", 5, true).await;
        transaction("aborted", 9, false).await;

        p.begin_transaction().unwrap();
        let last = p
            .send_async(Record::new(output.as_str()).value("last"))
            .await
            .unwrap();
        awaited("commit", p.commit_transaction_async())
            .await
            .unwrap();
        last.await.expect("acknowledged by the commit");
    });
    p.close().unwrap();
    let rc: Vec<String> = consume_on(Cluster::One, &output, 2, "read_committed")
        .into_iter()
        .filter_map(|c| c.value)
        .collect();
    assert_eq!(rc, ["committed", "last"], "read_committed");
    let want = BTreeMap::from([((source.clone(), 0), "5".to_string())]);
    let got = eventually(Duration::from_secs(30), || {
        (group_offsets(&group).as_ref() == Some(&want)).then_some(())
    });
    assert!(
        got.is_some(),
        "group offsets {:?}, want {want:?}",
        group_offsets(&group)
    );
}

// Failure: an async commit waiting for the coordinator never ends once the producer is
// force-closed (its task hangs forever). Invariant: a forced close ends the pending commit with
// its result or `Closed` (or `Abortable(Closed)`: the close failed its record), and an init that can reach no broker ends with `Closed` at close.
#[test]
fn a_pending_async_commit_ends_when_the_producer_closes() {
    let topic = unique_topic("eos-async-close");
    create_topic(&topic, 1, &[]);
    let tid = unique_topic("eos-async-close-id");
    let bs = bootstrap();
    let p = txn_producer(&bs, &tid, "600000");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bound = Duration::from_secs(60);
    rt.block_on(async {
        p.init_transactions_async().await.unwrap();
        p.begin_transaction().unwrap();
        let _f = p.send(Record::new(topic.as_str()).value("v")).unwrap();
        let commit = p.commit_transaction_async();
        let mut commit = std::pin::pin!(commit);
        assert!(polled_once_pending(commit.as_mut()));
        let _ = p.close_timeout(Duration::ZERO);
        let r = tokio::time::timeout(bound, commit)
            .await
            .expect("the pending commit ended at the forced close");
        // Committed before the close, or ended by it (the record the close failed makes the
        // commit abortable).
        let ended_by_close = |e: &Error| match e {
            Error::Closed(_) => true,
            Error::Abortable(e) => matches!(**e, Error::Closed(_)),
            _ => false,
        };
        assert!(
            r.as_ref().err().is_none_or(ended_by_close),
            "commit after a forced close: {r:?}"
        );

        // Nothing to reach: the init waits (max.block.ms is ten minutes) until the close.
        let lost = txn_producer("127.0.0.1:1", &tid, "600000");
        let init = lost.init_transactions_async();
        let mut init = std::pin::pin!(init);
        assert!(polled_once_pending(init.as_mut()));
        let closer = lost.clone();
        let close = std::thread::spawn(move || closer.close_timeout(Duration::ZERO));
        let r = tokio::time::timeout(bound, init)
            .await
            .expect("the pending init ended at the forced close");
        assert!(matches!(r, Err(Error::Closed(_))), "init at close: {r:?}");
        let _ = close.join().unwrap();
    });
}
