//! Closing batches and the codecs, on 16 KB and 1 MB batches.
//!
//! - `close/uncompressed/*`: `BatchBuilder::close` without compression: the 61-byte header
//!   written in place plus the CRC-32C over the batch (the builder is filled off the clock).
//! - `crc/rewrite_producer_state/*`: the same header + CRC work in place on a closed batch
//!   (what a retry after an epoch bump costs), and `crc/crc32c/*` the CRC alone.
//! - `codec/<name>/{compress,decompress}/*`: each codec on the records section of a batch of
//!   JSON-like event records (~200 bytes each, keys `user-NNNNNN`), the input `close` compresses.
//!   Throughput is in uncompressed bytes for both directions; the compression ratio is printed
//!   once per case.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use volley::protocol::compression::{decompress_into, Compression, CompressionCodec};
use volley::protocol::record_batch::{self, BatchBuilder, BatchParams, RECORDS_OFFSET};

const SIZES: [(usize, &str); 2] = [(16 * 1024, "16KB"), (1024 * 1024, "1MB")];

/// A batch builder holding 100-byte records up to `size` bytes.
fn filled_100b(size: usize, keys: &[[u8; common::KEY_LEN]], value: &[u8]) -> BatchBuilder {
    let ts = 1_700_000_000_000i64;
    let mut b = BatchBuilder::new(Vec::with_capacity(size), ts);
    let bound = BatchBuilder::record_size_upper_bound(Some(10), Some(value.len()), &[]);
    let mut i = 0;
    while b.estimated_size() + bound <= size {
        b.append(ts + i as i64, Some(&keys[i % keys.len()]), Some(value), &[]);
        i += 1;
    }
    b
}

/// A batch builder holding JSON-like records up to `size` bytes.
fn filled_json(size: usize) -> BatchBuilder {
    let mut rng = fastrand::Rng::with_seed(42);
    let ts = 1_700_000_000_000i64;
    let mut b = BatchBuilder::new(Vec::with_capacity(size), ts);
    let mut i = 0u64;
    loop {
        let v = common::json_record(&mut rng, i);
        let k = format!("user-{:06}", rng.u32(0..50_000));
        let bound = BatchBuilder::record_size_upper_bound(Some(k.len()), Some(v.len()), &[]);
        if b.estimated_size() + bound > size {
            return b;
        }
        b.append(ts + i as i64, Some(k.as_bytes()), Some(v.as_bytes()), &[]);
        i += 1;
    }
}

fn close(c: &mut Criterion) {
    let none = Compression::from_codec(CompressionCodec::None);
    let params = BatchParams {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: 0,
        ..BatchParams::default()
    };
    let keys = common::keys();
    let value = common::value();
    let mut g = c.benchmark_group("close");
    for (size, name) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let proto = filled_100b(size, &keys, &value);
        let proto_len = proto.estimated_size();
        g.bench_function(BenchmarkId::new("uncompressed", name), |b| {
            b.iter_batched(
                || filled_100b(size, &keys, &value),
                |builder| builder.close(&params, &none).expect("close"),
                if size > 64 * 1024 {
                    BatchSize::PerIteration
                } else {
                    BatchSize::SmallInput
                },
            )
        });
        let mut closed = proto.close(&params, &none).expect("close");
        assert_eq!(closed.size_in_bytes(), proto_len);
        let mut seq = 0;
        g.bench_function(BenchmarkId::new("rewrite_producer_state", name), |b| {
            b.iter(|| {
                seq += 1;
                closed
                    .rewrite_producer_state(7, 0, black_box(seq), false)
                    .expect("rewrite")
            })
        });
        let bytes = closed.as_bytes().to_vec();
        g.bench_function(BenchmarkId::new("crc32c_only", name), |b| {
            b.iter(|| record_batch::compute_crc(black_box(&bytes)))
        });
    }
    g.finish();
}

fn codecs(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    for (size, name) in SIZES {
        let builder = filled_json(size);
        let batch = builder.into_buffer();
        let input = &batch[RECORDS_OFFSET..];
        g.throughput(Throughput::Bytes(input.len() as u64));
        if size > 64 * 1024 {
            g.sample_size(10);
            g.measurement_time(Duration::from_secs(2));
        } else {
            g.sample_size(20);
        }
        for codec in [
            CompressionCodec::Gzip,
            CompressionCodec::Snappy,
            CompressionCodec::Lz4,
            CompressionCodec::Zstd,
        ] {
            let comp = Compression::from_codec(codec);
            let mut out = Vec::with_capacity(size * 2);
            comp.compress(input, &mut out).expect("compress");
            let compressed = out.clone();
            let mut check = Vec::new();
            decompress_into(codec, &compressed, usize::MAX, &mut check).expect("decompress");
            assert_eq!(check, input, "{codec} round trip");
            eprintln!(
                "codec {codec} {name}: {} -> {} bytes (ratio {:.2}, default level {:?})",
                input.len(),
                compressed.len(),
                input.len() as f64 / compressed.len() as f64,
                comp.effective_level(),
            );
            g.bench_function(BenchmarkId::new(format!("{codec}/compress"), name), |b| {
                b.iter(|| {
                    out.clear();
                    comp.compress(black_box(input), &mut out).expect("compress");
                    out.len()
                })
            });
            let mut dec = Vec::with_capacity(size * 2);
            g.bench_function(BenchmarkId::new(format!("{codec}/decompress"), name), |b| {
                b.iter(|| {
                    dec.clear();
                    decompress_into(codec, black_box(&compressed), usize::MAX, &mut dec)
                        .expect("decompress")
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = close, codecs
}
criterion_main!(benches);
