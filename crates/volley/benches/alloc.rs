//! Allocations on the append path, counted by a wrapping global allocator.
//!
//! Each scenario warms up (so pools, queues and maps have grown), then sends `RECORDS` records
//! while counting the allocations made *on the sending threads* and prints allocations and bytes
//! per record (the goal is 0 per record; a batch costs its completion state). The allocation
//! sites are found by capturing a backtrace for the first `MAX_SAMPLES` counted allocations and
//! printing the innermost volley frames.
//!
//! Scenarios: `BatchBuilder::append` alone; the partitioner; `Accumulator::append`;
//! `SendHarness::send` (every step of `Producer::send`, metadata seeded, no I/O thread) on one
//! and two threads; the completion of full batches (the I/O thread's side, counted apart); and
//! the real `Producer::send` against an in-process loopback mock broker (only the sending
//! thread counted; the I/O thread's allocations are reported apart).
//!
//! Run: `cargo bench -p volley-kafka --bench alloc` (`ALLOC_RECORDS=n` to change the count).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{CHUNK, PARTITIONS, TOPIC};
use volley::bench_support::SendHarness;
use volley::partitioner::{self, StickyPartitioner};
use volley::protocol::record_batch::BatchBuilder;
use volley::{Producer, Record};

struct Counting;

thread_local! {
    /// Count this thread's allocations.
    static ON: Cell<bool> = const { Cell::new(false) };
    /// A thread of the mock broker: never counted.
    static BROKER: Cell<bool> = const { Cell::new(false) };
    /// Inside the hook (capturing a backtrace): don't count.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Allocations on every thread, counted or not (to see the I/O thread's share).
static ALL_ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALL_BYTES: AtomicU64 = AtomicU64::new(0);
static COUNT_ALL: AtomicBool = AtomicBool::new(false);
static SAMPLING: AtomicBool = AtomicBool::new(false);
const MAX_SAMPLES: usize = 128;
static SAMPLES: Mutex<Vec<(usize, Backtrace)>> = Mutex::new(Vec::new());
static OTHER_SAMPLES: Mutex<Vec<(usize, Backtrace)>> = Mutex::new(Vec::new());

fn record(size: usize) {
    let busy = BUSY.try_with(Cell::get).unwrap_or(true);
    if busy {
        return;
    }
    let on = ON.try_with(Cell::get).unwrap_or(false);
    let (count, samples) = if on {
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
        (ALLOCS.fetch_add(1, Ordering::Relaxed), &SAMPLES)
    } else if COUNT_ALL.load(Ordering::Relaxed) && !BROKER.try_with(Cell::get).unwrap_or(true) {
        ALL_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        (ALL_ALLOCS.fetch_add(1, Ordering::Relaxed), &OTHER_SAMPLES)
    } else {
        return;
    };
    // The first few, then every 31st (prime, so as not to follow a per-batch rhythm).
    if SAMPLING.load(Ordering::Relaxed) && (count < 8 || count % 31 == 0) {
        BUSY.with(|b| b.set(true));
        if let Ok(mut s) = samples.lock() {
            if s.len() < MAX_SAMPLES {
                s.push((size, Backtrace::force_capture()));
            }
        }
        BUSY.with(|b| b.set(false));
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the hook only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the allocations `f` makes on this thread.
fn counted<R>(f: impl FnOnce() -> R) -> R {
    ON.with(|c| c.set(true));
    let r = f();
    ON.with(|c| c.set(false));
    r
}

fn reset(sampling: bool) {
    ALLOCS.store(0, Ordering::SeqCst);
    BYTES.store(0, Ordering::SeqCst);
    SAMPLES.lock().expect("samples").clear();
    OTHER_SAMPLES.lock().expect("samples").clear();
    SAMPLING.store(sampling, Ordering::SeqCst);
}

fn taken() -> (u64, u64) {
    SAMPLING.store(false, Ordering::SeqCst);
    (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst))
}

fn report(name: &str, records: u64, batches: Option<u64>, (allocs, bytes): (u64, u64)) {
    let per_batch = match batches {
        Some(b) if b > 0 => format!(
            "  | {b} batches: {:.2} allocs/batch, {:.0} B/batch",
            allocs as f64 / b as f64,
            bytes as f64 / b as f64
        ),
        _ => String::new(),
    };
    println!(
        "{name:<44} {records:>9} records: {allocs:>7} allocs, {bytes:>10} B = {:.5} allocs/record, {:.3} B/record{per_batch}",
        allocs as f64 / records as f64,
        bytes as f64 / records as f64,
    );
    print_sites(&SAMPLES);
}

/// Groups the sampled backtraces by their innermost volley frames.
fn print_sites(samples: &Mutex<Vec<(usize, Backtrace)>>) {
    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    if samples.is_empty() {
        return;
    }
    let mut sites: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for (size, bt) in &samples {
        let text = bt.to_string();
        let mut frames = Vec::new();
        let mut last_fn = "";
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("at ") {
                // Paths are relative to the crate (`./src/...`) or absolute.
                let file = rest
                    .strip_prefix("./src/")
                    .or_else(|| rest.split_once("crates/volley/src/").map(|(_, f)| f));
                if let (Some(file), false) = (file, last_fn.is_empty()) {
                    let file = file.rsplit_once(':').map_or(file, |(a, _)| a);
                    frames.push(format!("{last_fn} (src/{file})"));
                }
            } else if let Some((_, f)) = line.split_once(": ") {
                last_fn = f;
            }
            if frames.len() == 3 {
                break;
            }
        }
        if frames.is_empty() {
            if std::env::var_os("ALLOC_RAW").is_some() {
                println!("{text}");
            }
            frames.push("(no volley frame: the bench itself)".into());
        }
        let e = sites.entry(frames.join("\n        <- ")).or_default();
        e.0 += 1;
        e.1 = *size;
    }
    println!("    sampled {} allocation(s), by site:", samples.len());
    for (site, (n, size)) in sites {
        println!("    {n:>3} x {size:>6} B  {site}");
    }
}

fn records_total() -> u64 {
    std::env::var("ALLOC_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn builder_append(n: u64) {
    let keys = common::keys();
    let value = common::value();
    let ts = 1_700_000_000_000i64;
    let bound = BatchBuilder::record_size_upper_bound(Some(10), Some(value.len()), &[]);
    let mut builder = Some(BatchBuilder::new(Vec::with_capacity(16384), ts));
    let mut run = |n: u64| {
        for i in 0..n as usize {
            let b = builder.as_mut().expect("builder");
            if b.estimated_size() + bound > 16384 {
                let buf = builder.take().expect("builder").into_buffer();
                builder = Some(BatchBuilder::new(buf, ts));
            }
            let b = builder.as_mut().expect("builder");
            black_box(b.append(
                ts + i as i64,
                Some(&keys[i % keys.len()]),
                Some(&value),
                &[],
            ));
        }
    };
    run(10_000);
    reset(true);
    counted(|| run(n));
    report("BatchBuilder::append", n, None, taken());
}

fn partitioner_choose(n: u64) {
    let keys = common::keys();
    let value = common::value();
    let h = common::harness();
    let sticky = StickyPartitioner::new(16384, true);
    let run = |n: u64, keyed: bool| {
        for i in 0..n as usize {
            let key = keyed.then(|| &keys[i % keys.len()][..]);
            let c = partitioner::choose_partition_with_source(
                None,
                key,
                Some(&value),
                false,
                h.topic(),
                None,
                &sticky,
            )
            .expect("partition");
            if !keyed {
                sticky.on_append(h.topic(), c.partition, 120, i % 136 == 0);
            }
            black_box(c);
        }
    };
    for keyed in [true, false] {
        run(10_000, keyed);
        reset(true);
        counted(|| run(n, keyed));
        let name = if keyed {
            "partitioner: keyed (murmur2)"
        } else {
            "partitioner: keyless (sticky + on_append)"
        };
        report(name, n, None, taken());
    }
}

/// Sends `n` records per thread with `op`, recycling full batches every `CHUNK` records between
/// barriers; counts the sending threads' allocations, and the recycling's apart.
fn chunked(
    h: &SendHarness,
    threads: usize,
    n: u64,
    op: &(dyn Fn(usize, u64) + Sync),
) -> ((u64, u64), (u64, u64), u64) {
    let barrier = Barrier::new(threads);
    let recycle_allocs = AtomicU64::new(0);
    let recycle_bytes = AtomicU64::new(0);
    let batches = AtomicU64::new(0);
    let warm = CHUNK * 12;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (barrier, recycle_allocs, recycle_bytes, batches) =
                (&barrier, &recycle_allocs, &recycle_bytes, &batches);
            s.spawn(move || {
                let mut done = 0u64;
                while done < warm + n {
                    let measuring = done >= warm;
                    let chunk = CHUNK.min(warm + n - done);
                    if barrier.wait().is_leader() && done == warm {
                        reset(true);
                    }
                    barrier.wait();
                    if measuring {
                        counted(|| (done..done + chunk).for_each(|i| op(t, i)));
                    } else {
                        (done..done + chunk).for_each(|i| op(t, i));
                    }
                    done += chunk;
                    if barrier.wait().is_leader() {
                        if measuring {
                            let (a0, b0) =
                                (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
                            let sampling = SAMPLING.swap(false, Ordering::SeqCst);
                            let k = counted(|| h.recycle(false));
                            SAMPLING.store(sampling, Ordering::SeqCst);
                            let (a1, b1) =
                                (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
                            recycle_allocs.fetch_add(a1 - a0, Ordering::Relaxed);
                            recycle_bytes.fetch_add(b1 - b0, Ordering::Relaxed);
                            ALLOCS.store(a0, Ordering::SeqCst);
                            BYTES.store(b0, Ordering::SeqCst);
                            batches.fetch_add(k as u64, Ordering::Relaxed);
                        } else {
                            h.recycle(false);
                        }
                    }
                }
            });
        }
    });
    let sent = taken();
    h.recycle(true);
    (
        sent,
        (
            recycle_allocs.load(Ordering::Relaxed),
            recycle_bytes.load(Ordering::Relaxed),
        ),
        batches.load(Ordering::Relaxed),
    )
}

fn accumulator_append(n: u64) {
    let keys = common::keys();
    let value = common::value();
    let h = common::harness();
    let parts: Vec<i32> = keys
        .iter()
        .map(|k| partitioner::partition_for_key(k, PARTITIONS))
        .collect();
    let op = |t: usize, i: u64| {
        let k = (i as usize * 7 + t * 1013) % keys.len();
        let f = h
            .append(parts[k], 1_700_000_000_000, Some(&keys[k]), Some(&value))
            .expect("append");
        drop(black_box(f));
    };
    let (sent, recycled, batches) = chunked(&h, 1, n, &op);
    report("Accumulator::append (1 thread)", n, Some(batches), sent);
    report(
        "  completing those batches (I/O side)",
        n,
        Some(batches),
        recycled,
    );
}

fn harness_send(n: u64, threads: usize, keyed: bool) {
    let keys = common::keys();
    let value = common::value();
    let h = common::harness();
    let op = |t: usize, i: u64| {
        let k = (i as usize * 7 + t * 1013) % keys.len();
        let r = Record::new(TOPIC).value(&value);
        let r = if keyed { r.key(&keys[k]) } else { r };
        drop(black_box(h.send(r).expect("send")));
    };
    let (sent, recycled, batches) = chunked(&h, threads, n, &op);
    let name = format!(
        "send path ({}, {threads} thread{})",
        if keyed { "keyed" } else { "keyless" },
        if threads > 1 { "s" } else { "" }
    );
    report(&name, n * threads as u64, Some(batches), sent);
    report(
        "  completing those batches (I/O side)",
        n * threads as u64,
        Some(batches),
        recycled,
    );
}

fn real_producer(n: u64) {
    let broker = common::broker::MockBroker::start_with(|| BROKER.with(|b| b.set(true)));
    let producer =
        Producer::from_properties([("bootstrap.servers", broker.addr.as_str())]).expect("producer");
    let keys = common::keys();
    let value = common::value();
    let run = |n: u64| {
        for i in 0..n as usize {
            let r = Record::new(TOPIC).key(&keys[i % keys.len()]).value(&value);
            drop(black_box(producer.send(r).expect("send")));
        }
    };
    run(100_000);
    producer.flush().expect("flush");
    reset(true);
    ALL_ALLOCS.store(0, Ordering::SeqCst);
    ALL_BYTES.store(0, Ordering::SeqCst);
    COUNT_ALL.store(true, Ordering::SeqCst);
    let start = Instant::now();
    counted(|| run(n));
    let elapsed = start.elapsed();
    producer.flush().expect("flush");
    COUNT_ALL.store(false, Ordering::SeqCst);
    let sent = taken();
    let all = (
        ALL_ALLOCS.load(Ordering::SeqCst),
        ALL_BYTES.load(Ordering::SeqCst),
    );
    report("Producer::send, real (loopback mock broker)", n, None, sent);
    report(
        "  the I/O thread (other threads but the broker)",
        n,
        None,
        all,
    );
    print_sites(&OTHER_SAMPLES);
    println!(
        "    (end to end: {n} sends in {elapsed:.2?} = {:.0} ns/record on the sending thread, incl. waits for buffer memory; acked {})",
        elapsed.as_nanos() as f64 / n as f64,
        broker.records.load(Ordering::Relaxed)
    );
    producer
        .close_timeout(Duration::from_secs(10))
        .expect("close");
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects a quick
    // check.
    let n = if std::env::args().any(|a| a == "--bench") {
        records_total()
    } else {
        10_000
    };
    println!(
        "allocations per record, {n} records per scenario after warmup (sending threads only)"
    );
    builder_append(n);
    partitioner_choose(n);
    accumulator_append(n);
    harness_send(n, 1, true);
    harness_send(n, 1, false);
    harness_send(n, 2, true);
    real_producer(n);
}
