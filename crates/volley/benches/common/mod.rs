//! Fixtures shared by the benchmarks: records, payloads and the producer configuration.

#![allow(dead_code)] // each bench binary uses a different part

pub mod broker;

use volley::bench_support::SendHarness;
use volley::ProducerConfig;

/// The benchmark topic.
pub const TOPIC: &str = "bench";
/// Partitions of the benchmark topic.
pub const PARTITIONS: i32 = 12;
/// Distinct keys cycled through.
pub const KEYS: usize = 4096;
/// Key and value sizes of the "100-byte record".
pub const KEY_LEN: usize = 10;
pub const VALUE_LEN: usize = 100;
/// Records sent between two recycling passes (completing full batches off the clock).
pub const CHUNK: u64 = 4096;

/// `KEYS` distinct 10-byte keys, `k000000000`...
pub fn keys() -> Vec<[u8; KEY_LEN]> {
    (0..KEYS)
        .map(|i| {
            let s = format!("k{i:09}");
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(s.as_bytes());
            k
        })
        .collect()
}

/// A 100-byte value (JSON-ish text).
pub fn value() -> Vec<u8> {
    let mut v = br#"{"user":"u-000042","event":"page_view","path":"/products/123","ts":1700000000123,"ok":1}"#.to_vec();
    v.resize(VALUE_LEN, b' ');
    v
}

/// The default producer configuration (batch.size 16384, buffer.memory 32 MB, no compression),
/// pointing at a port nothing listens on: nothing is ever sent.
pub fn config() -> ProducerConfig {
    ProducerConfig::from_properties([("bootstrap.servers", "127.0.0.1:9")]).expect("config")
}

/// A harness with the benchmark topic seeded.
pub fn harness() -> SendHarness {
    SendHarness::new(config(), TOPIC, PARTITIONS).expect("harness")
}

/// One JSON-like line of an event log, about 150-250 bytes, varied but compressible the way
/// real event streams are (repeated field names, small vocabularies, increasing numbers).
pub fn json_record(rng: &mut fastrand::Rng, i: u64) -> String {
    const EVENTS: [&str; 6] = [
        "page_view",
        "add_to_cart",
        "checkout",
        "search",
        "login",
        "logout",
    ];
    const COUNTRIES: [&str; 8] = ["DE", "US", "FR", "GB", "JP", "BR", "IN", "NL"];
    const AGENTS: [&str; 3] = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    ];
    format!(
        r#"{{"id":{},"ts":{},"user":"user-{:06}","session":"{:016x}","event":"{}","country":"{}","path":"/products/{}","price":{}.{:02},"ua":"{}"}}"#,
        1_000_000 + i,
        1_700_000_000_000u64 + i * 3 + rng.u64(0..3),
        rng.u32(0..50_000),
        rng.u64(..),
        EVENTS[rng.usize(0..EVENTS.len())],
        COUNTRIES[rng.usize(0..COUNTRIES.len())],
        rng.u32(0..5_000),
        rng.u32(1..500),
        rng.u32(0..100),
        AGENTS[rng.usize(0..AGENTS.len())],
    )
}
