//! The append path without a network, for 100-byte records (10-byte key, 100-byte value, no
//! headers): what `Producer::send` costs the calling thread, and its pieces.
//!
//! - `encode/builder_append`: `BatchBuilder::append` alone, into a 16 KB batch that is reset
//!   (buffer reused) when full.
//! - `partitioner/*`: murmur2 of the key; `choose_partition` for a keyed and a keyless record.
//! - `accumulator/queue_lookup`: the accumulator's topic/partition queue lookup.
//! - `accumulator/append`: `Accumulator::append` (queue lock, encode into the open batch, new
//!   batch from the pool when full), partition precomputed, clock not read.
//! - `send/*`: every step of `Producer::send` (`SendHarness::send`, producer.rs order) with
//!   metadata seeded and no I/O thread.
//! - `producer_loopback/*`: the real `Producer::send` with its I/O thread sending to an
//!   in-process loopback mock broker (end to end, see `producer`).
//!
//! Full batches are completed (their buffers go back to the pool) every `CHUNK` records, off the
//! clock, so the pool's free list feeds new batches as in steady state. The `threads/2` variants
//! run two threads on one shared accumulator; their time is per record per thread (so records/s
//! per thread is 1/time; the reported throughput is both threads together).

mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{CHUNK, KEY_LEN, PARTITIONS, TOPIC};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use volley::bench_support::SendHarness;
use volley::metadata::TopicInfo;
use volley::partitioner::{self, StickyPartitioner};
use volley::protocol::record_batch::BatchBuilder;
use volley::{Producer, Record};

const BATCH_SIZE: usize = 16384;

fn encode(c: &mut Criterion) {
    let keys = common::keys();
    let value = common::value();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("builder_append", |b| {
        let ts = 1_700_000_000_000i64;
        let mut builder = BatchBuilder::new(Vec::with_capacity(BATCH_SIZE), ts);
        let bound = BatchBuilder::record_size_upper_bound(Some(KEY_LEN), Some(value.len()), &[]);
        let mut i = 0usize;
        b.iter(|| {
            if builder.estimated_size() + bound > BATCH_SIZE {
                builder = BatchBuilder::new(
                    std::mem::replace(&mut builder, BatchBuilder::new(Vec::new(), ts))
                        .into_buffer(),
                    ts,
                );
            }
            let key = &keys[i % keys.len()];
            i += 1;
            black_box(builder.append(
                black_box(ts + (i as i64 & 7)),
                Some(black_box(&key[..])),
                Some(black_box(&value[..])),
                &[],
            ))
        });
    });
    g.finish();
}

fn partitioner(c: &mut Criterion) {
    let keys = common::keys();
    let value = common::value();
    let h = common::harness();
    let topic: &TopicInfo = h.topic();
    let sticky = StickyPartitioner::new(BATCH_SIZE, true);
    let mut g = c.benchmark_group("partitioner");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("murmur2_partition_for_key", |b| {
        b.iter(|| {
            i += 1;
            partitioner::partition_for_key(black_box(&keys[i % keys.len()]), PARTITIONS)
        })
    });
    g.bench_function("choose_keyed", |b| {
        b.iter(|| {
            i += 1;
            partitioner::choose_partition_with_source(
                None,
                Some(black_box(&keys[i % keys.len()])),
                Some(&value),
                false,
                topic,
                None,
                &sticky,
            )
            .expect("partition")
        })
    });
    g.bench_function("choose_keyless_sticky_plus_on_append", |b| {
        b.iter(|| {
            let c = partitioner::choose_partition_with_source(
                None,
                None,
                Some(&value),
                false,
                topic,
                None,
                &sticky,
            )
            .expect("partition");
            sticky.on_append(topic, c.partition, 120, false);
            c
        })
    });
    g.finish();
}

/// Runs `op(thread, i)` for `i in 0..iters` on each of `threads` threads, in chunks of `CHUNK`
/// records; after each chunk the threads wait for one another and full batches are completed
/// off the clock. Returns the slowest thread's time spent in `op`.
fn run(h: &SendHarness, threads: usize, iters: u64, op: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut spent = Duration::ZERO;
                    let mut done = 0u64;
                    while done < iters {
                        let n = CHUNK.min(iters - done);
                        barrier.wait();
                        let start = Instant::now();
                        for i in done..done + n {
                            op(t, i);
                        }
                        spent += start.elapsed();
                        done += n;
                        if barrier.wait().is_leader() {
                            h.recycle(false);
                        }
                    }
                    spent
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|j| j.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

fn accumulator(c: &mut Criterion) {
    let keys = common::keys();
    let value = common::value();
    let h = common::harness();
    let parts: Vec<i32> = keys
        .iter()
        .map(|k| partitioner::partition_for_key(k, PARTITIONS))
        .collect();
    let mut g = c.benchmark_group("accumulator");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("queue_lookup", |b| {
        b.iter(|| {
            i += 1;
            h.queue_lookup(black_box(parts[i % parts.len()]))
        })
    });
    let ts = 1_700_000_000_000i64;
    let append = |t: usize, i: u64| {
        let k = (i as usize * 7 + t * 1013) % keys.len();
        let f = h
            .append(parts[k], ts, Some(&keys[k]), Some(&value))
            .expect("append");
        drop(black_box(f));
    };
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_with_input(
            BenchmarkId::new("append", format!("threads/{threads}")),
            &threads,
            |b, &n| b.iter_custom(|iters| run(&h, n, iters, &append)),
        );
    }
    g.finish();
    h.recycle(true);
}

fn send(c: &mut Criterion) {
    let keys = common::keys();
    let value = common::value();
    let h = common::harness();
    let mut g = c.benchmark_group("send");
    let send = |t: usize, i: u64| {
        let k = (i as usize * 7 + t * 1013) % keys.len();
        let f = h
            .send(Record::new(TOPIC).key(&keys[k]).value(&value))
            .expect("send");
        drop(black_box(f));
    };
    let send_keyless = |_t: usize, _i: u64| {
        let f = h.send(Record::new(TOPIC).value(&value)).expect("send");
        drop(black_box(f));
    };
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_with_input(
            BenchmarkId::new("keyed", format!("threads/{threads}")),
            &threads,
            |b, &n| b.iter_custom(|iters| run(&h, n, iters, &send)),
        );
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("keyless_sticky/threads/1", |b| {
        b.iter_custom(|iters| run(&h, 1, iters, &send_keyless))
    });
    g.finish();
    h.recycle(true);
}

/// The real `Producer::send`, end to end, against the loopback mock broker: the I/O thread
/// closes and sends batches and the broker acknowledges them concurrently (on this 2-core
/// machine the three threads share two cores), so this is the sending thread's cost including
/// contention with the I/O thread and any wait for buffer memory.
fn producer(c: &mut Criterion) {
    let keys = common::keys();
    let value = common::value();
    let broker = common::broker::MockBroker::start();
    let producer =
        Producer::from_properties([("bootstrap.servers", broker.addr.as_str())]).expect("producer");
    // The first send waits for metadata.
    producer
        .send(Record::new(TOPIC).key(&keys[0]).value(&value))
        .expect("send")
        .wait()
        .expect("delivered");
    let mut g = c.benchmark_group("producer_loopback");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("send_keyed/threads/1", |b| {
        b.iter(|| {
            i += 1;
            let k = &keys[(i * 7) % keys.len()];
            producer
                .send(Record::new(TOPIC).key(k).value(&value))
                .expect("send")
        })
    });
    g.finish();
    producer.close().expect("close");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = encode, partitioner, accumulator, send, producer
}
criterion_main!(benches);
