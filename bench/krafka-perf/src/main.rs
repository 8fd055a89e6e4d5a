//! krafka-perf: Kafka's `kafka-producer-perf-test` (`org.apache.kafka.tools.ProducerPerformance`
//! of Kafka 4.4) on the pure-Rust `krafka` crate, for Volley's benchmark harness (bench/run).
//!
//! ```text
//! krafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
//!             --throughput R [--bootstrap-server HOST:PORT]
//!             [--producer-props k=v ... | --command-property k=v ...] [--reporting-interval MS]
//!             [--record-key-range K --key-distribution none|range|random] [--random-seed S]
//!             [--warmup-records N] [--threads N] [--print-config]
//! krafka-perf --version
//! ```
//!
//! It prints the tool's lines (a window line every --reporting-interval ms, then the summary
//! with the 50th/95th/99th/99.9th percentiles) and sends the tool's workload: payloads and keys
//! drawn from the same `SplittableRandom` sequence as the tool and the harness's other programs,
//! so every client sends the same records.
//!
//! krafka's documented throughput path (its README and `Producer::enqueue` docs): one shared
//! `Producer`; `enqueue` returns once the record is queued and hands back a `DeliveryHandle`
//! that resolves to the broker's answer; the handles are awaited together in a
//! `FuturesUnordered`, never one by one. Each sending thread runs on the `#[tokio::main]`-style
//! multi-thread runtime (`block_on` on the thread, the producer's engine task on the runtime's
//! workers) and awaits its own handles in the same task, next to the send loop, so a record's
//! latency (from just before `enqueue` to its handle resolving) is taken as soon as the
//! acknowledgement arrives, also while the loop sleeps in the throttle or waits for buffer
//! memory. Java producer property names are mapped to krafka's builder settings (see
//! `Settings::apply`; `--print-config` prints the mapping).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use krafka::auth::{AuthConfig, TlsConfig};
use krafka::producer::{Acks, Producer};
use krafka::{Compression, Kafka, Record};

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("krafka-perf: error: {msg}");
    std::process::exit(1);
}

// ---------------------------------------------------------------------------------------
// java.util.SplittableRandom: the part the tool uses (nextInt(bound) from one seed).

struct JavaRandom(u64);

impl JavaRandom {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    /// `SplittableRandom.nextInt()`: mix32 of the next seed.
    fn int(&mut self) -> i32 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
        z = (z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3);
        (z >> 32) as i32
    }

    /// `SplittableRandom.nextInt(bound)` for a positive bound: a mask for powers of two,
    /// rejection of the top values otherwise.
    fn below(&mut self, bound: i32) -> i32 {
        let first = self.int();
        let mask = bound - 1;
        if bound & mask == 0 {
            return first & mask;
        }
        let mut u = ((first as u32) >> 1) as i32;
        loop {
            let r = u % bound;
            if u.wrapping_add(mask).wrapping_sub(r) >= 0 {
                return r;
            }
            u = ((self.int() as u32) >> 1) as i32;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tool's statistics (ProducerPerformance.Stats): one for the whole run and, after
// --warmup-records, one for the steady state.

/// Milliseconds since the program's clock started (Java's `System.currentTimeMillis()` in
/// differences only).
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn ms(self) -> i64 {
        self.0.elapsed().as_millis() as i64
    }
}

/// Java's `String.format("%.Nf", x)` for the figures the harness reads.
fn decimals(x: f64, n: usize) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else {
        format!("{x:.n$}")
    }
}

/// The current reporting window.
#[derive(Default)]
struct Window {
    start: i64,
    count: i64,
    bytes: i64,
    latency_sum: i64,
    latency_max: i32,
}

struct Stats {
    steady_state: bool,
    /// Window lines are not printed (the whole-run stats once the steady state began).
    quiet: bool,
    start: i64,
    interval: i64,
    count: i64,
    bytes: i64,
    latency_sum: i64,
    latency_max: i32,
    /// Every `every`-th latency, at most `slots` of them.
    samples: Vec<i32>,
    slots: usize,
    every: i64,
    seen: i64,
    window: Window,
}

impl Stats {
    fn new(now: i64, records: i64, interval: i64, steady_state: bool) -> Stats {
        let every = records / records.min(500_000);
        Stats {
            steady_state,
            quiet: false,
            start: now,
            interval,
            count: 0,
            bytes: 0,
            latency_sum: 0,
            latency_max: 0,
            samples: Vec::with_capacity((records / every) as usize + 1),
            slots: (records / every) as usize + 1,
            every,
            seen: 0,
            window: Window {
                start: now,
                ..Window::default()
            },
        }
    }

    fn record(&mut self, latency: i32, bytes: i64, now: i64, clock: Clock) {
        self.count += 1;
        self.bytes += bytes;
        self.latency_sum += i64::from(latency);
        self.latency_max = self.latency_max.max(latency);
        let w = &mut self.window;
        w.count += 1;
        w.bytes += bytes;
        w.latency_sum += i64::from(latency);
        w.latency_max = w.latency_max.max(latency);
        if self.seen % self.every == 0 && self.samples.len() < self.slots {
            self.samples.push(latency);
        }
        self.seen += 1;
        if now - self.window.start < self.interval {
            return;
        }
        if self.steady_state && self.count == self.window.count {
            println!("In steady state.");
        }
        if !self.quiet {
            let w = &self.window;
            let elapsed = (clock.ms() - w.start) as f64;
            println!(
                "{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency.",
                w.count,
                decimals(1000.0 * w.count as f64 / elapsed, 1),
                decimals(1000.0 * w.bytes as f64 / elapsed / (1024.0 * 1024.0), 2),
                decimals(w.latency_sum as f64 / w.count as f64, 1),
                decimals(f64::from(w.latency_max), 1),
            );
        }
        self.window = Window {
            start: clock.ms(),
            ..Window::default()
        };
    }

    fn summary(&mut self, now: i64) -> String {
        let elapsed = (now - self.start) as f64;
        self.samples.sort_unstable();
        let n = self.samples.len();
        let at = |q: f64| {
            if n == 0 {
                0
            } else {
                self.samples[(q * n as f64) as usize]
            }
        };
        format!(
            "{}{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            if self.steady_state {
                " steady state"
            } else {
                ""
            },
            decimals(1000.0 * self.count as f64 / elapsed, 6),
            decimals(1000.0 * self.bytes as f64 / elapsed / (1024.0 * 1024.0), 2),
            decimals(self.latency_sum as f64 / self.count as f64, 2),
            decimals(f64::from(self.latency_max), 2),
            at(0.5),
            at(0.95),
            at(0.99),
            at(0.999),
        )
    }
}

// ---------------------------------------------------------------------------------------
// The tool's ThroughputThrottler, sleeping with tokio's timer so that the acknowledgements of
// the same thread are still taken while it sleeps.

struct Throttler {
    target: f64,
    start_ms: i64,
    per_record_ns: i64,
    deficit_ns: i64,
}

impl Throttler {
    /// Java's MIN_SLEEP_NS: shorter deficits are carried to the next record.
    const MIN_SLEEP_NS: i64 = 2_000_000;

    fn new(target: f64, start_ms: i64) -> Throttler {
        let per_record_ns = if target > 0.0 {
            (1e9 / target) as i64
        } else {
            i64::MAX
        };
        Throttler {
            target,
            start_ms,
            per_record_ns,
            deficit_ns: 0,
        }
    }

    fn should_throttle(&self, sent: i64, now_ms: i64) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let seconds = (now_ms - self.start_ms) as f32 / 1000.0;
        seconds > 0.0 && sent as f64 / f64::from(seconds) > self.target
    }

    async fn throttle(&mut self) {
        self.deficit_ns = self.deficit_ns.saturating_add(self.per_record_ns);
        if self.deficit_ns < Self::MIN_SLEEP_NS {
            return;
        }
        // As Java: sleep whole milliseconds until the deficit has passed.
        let deficit = Duration::from_nanos(self.deficit_ns as u64);
        let began = Instant::now();
        while let Some(left) = deficit
            .checked_sub(began.elapsed())
            .filter(|d| !d.is_zero())
        {
            let ms = left.as_nanos().div_ceil(1_000_000) as u64;
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.deficit_ns = 0;
    }
}

// ---------------------------------------------------------------------------------------
// Arguments.

#[derive(Clone, Copy, PartialEq)]
enum Keys {
    None,
    Range,
    Random,
}

enum Payload {
    Size(usize),
    File(String),
    Monotonic,
}

struct Args {
    bootstrap: Option<String>,
    topic: String,
    records: i64,
    payload: Payload,
    delimiter: String,
    throughput: f64,
    props: Vec<(String, String)>,
    interval: i64,
    key_range: i32,
    keys: Keys,
    seed: i64,
    warmup: i64,
    threads: usize,
    print_config: bool,
}

const USAGE: &str = "usage: krafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput R [--bootstrap-server HOST:PORT]
       [--producer-props k=v ... | --command-property k=v ...] [--payload-delimiter D]
       [--reporting-interval MS] [--record-key-range K --key-distribution none|range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       krafka-perf --version
Kafka's kafka-producer-perf-test on the krafka crate; Java producer property names are mapped to
krafka's builder settings (--print-config prints the mapping). --threads N: N threads sharing one
producer, each sending a contiguous share of the records.";

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| die(format!("{flag}: not a number: {text:?}")))
}

fn parse_args(argv: &[String]) -> Args {
    let mut bootstrap = None;
    let mut topic = None;
    let mut records = None;
    let mut payloads: Vec<Payload> = Vec::new();
    let mut delimiter = "\n".to_string();
    let mut throughput = None;
    let mut props = Vec::new();
    let mut interval = 5000;
    let mut key_range = 0;
    let mut keys = Keys::None;
    let mut seed = 0;
    let mut warmup = 0i64;
    let mut threads = 1usize;
    let mut print_config = false;
    let mut it = argv.iter().peekable();
    while let Some(flag) = it.next() {
        let flag = flag.as_str();
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| die(format!("{flag} needs a value")))
        };
        match flag {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--bootstrap-server" => bootstrap = Some(value()),
            "--topic" => topic = Some(value()),
            "--num-records" => records = Some(number::<i64>(&value(), flag)),
            "--record-size" => payloads.push(Payload::Size(number(&value(), flag))),
            "--payload-file" => payloads.push(Payload::File(value())),
            "--payload-monotonic" => payloads.push(Payload::Monotonic),
            "--payload-delimiter" => {
                delimiter = value();
                if delimiter == "\\n" {
                    delimiter = "\n".to_string();
                }
            }
            "--throughput" => throughput = Some(number::<f64>(&value(), flag)),
            "--producer-props" | "--command-property" => {
                while let Some(kv) = it.next_if(|a| !a.starts_with("--")) {
                    match kv.split_once('=') {
                        Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                            props.push((k.to_string(), v.to_string()))
                        }
                        _ => die(format!("Invalid property: {kv}")),
                    }
                }
            }
            "--reporting-interval" => interval = number(&value(), flag),
            "--record-key-range" => key_range = number(&value(), flag),
            "--key-distribution" => {
                keys = match value().as_str() {
                    "none" => Keys::None,
                    "range" => Keys::Range,
                    "random" => Keys::Random,
                    other => die(format!(
                        "--key-distribution: none, range or random, not {other:?}"
                    )),
                }
            }
            "--random-seed" => seed = number(&value(), flag),
            "--warmup-records" => warmup = number(&value(), flag),
            "--threads" => threads = number(&value(), flag),
            "--print-config" => print_config = true,
            other => die(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let topic = topic.unwrap_or_else(|| die("--topic is required"));
    let records = records
        .filter(|n| *n > 0)
        .unwrap_or_else(|| die("--num-records should be greater than zero."));
    let throughput = throughput
        .filter(|t| *t != 0.0 && !t.is_nan())
        .unwrap_or_else(|| die("--throughput is required and must not be 0 (-1: no throttling)"));
    if payloads.len() != 1 {
        die("exactly one of --record-size, --payload-file or --payload-monotonic");
    }
    let payload = payloads.remove(0);
    if matches!(payload, Payload::Size(0)) {
        die("--record-size should be greater than zero.");
    }
    match keys {
        Keys::None if key_range != 0 => die(
            "--key-distribution must be 'range' or 'random' when --record-key-range is specified.",
        ),
        Keys::Range | Keys::Random if key_range <= 0 => {
            die("--record-key-range is required when --key-distribution is 'range' or 'random'.")
        }
        _ => {}
    }
    if threads == 0 {
        die("--threads must be at least 1");
    }
    let warmup = warmup.max(0);
    if warmup >= records {
        die("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.");
    }
    if warmup > 0 && threads > 1 {
        die("--warmup-records works with --threads 1 only");
    }
    if interval <= 0 {
        die("--reporting-interval should be greater than zero.");
    }
    Args {
        bootstrap,
        topic,
        records,
        payload,
        delimiter,
        throughput,
        props,
        interval,
        key_range,
        keys,
        seed,
        warmup,
        threads,
        print_config,
    }
}

/// The tool's `--payload-file`: the file split at the delimiter, empty ends dropped.
fn read_payload_file(path: &str, delimiter: &str) -> Vec<Bytes> {
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.into());
    println!("Reading payloads from: {}", shown.display());
    let text = match std::fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => die("File does not exist or empty file provided."),
    };
    let mut parts: Vec<&str> = text.split(delimiter).collect();
    if parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.first() == Some(&"") {
        parts.remove(0);
    }
    println!("Number of records read: {}", parts.len());
    if parts.is_empty() {
        die("No payload file, record size or payload-monotonic option provided.");
    }
    parts
        .into_iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Java producer properties as krafka builder settings.

/// Every setting the harness may give, as krafka takes it. `None`: krafka's default.
#[derive(Default)]
struct Settings {
    bootstrap: Option<String>,
    client_id: Option<String>,
    // Connection (`Kafka::builder`) settings.
    request_timeout: Option<Duration>,
    max_in_flight_requests: Option<usize>,
    tls: bool,
    ca_file: Option<String>,
    // Producer (`kafka.producer()`) settings.
    acks: Option<Acks>,
    idempotent: Option<bool>,
    linger: Option<Duration>,
    batch_size: Option<usize>,
    compression: Option<Compression>,
    compression_level: Option<i32>,
    buffer_memory: Option<usize>,
    delivery_timeout: Option<Duration>,
    retry_backoff: Option<Duration>,
    max_request_size: Option<usize>,
    max_block: Option<Duration>,
    metrics_push: Option<bool>,
    /// `java=value -> krafka setting`, for --print-config.
    mapping: Vec<String>,
}

impl Settings {
    /// Maps one Java property; dies on a property or value krafka has no equivalent for.
    fn apply(&mut self, k: &str, v: &str) {
        let ms = |v: &str| Duration::from_millis(number(v, k));
        let bytes = |v: &str| -> usize { number(v, k) };
        let note = match k {
            "bootstrap.servers" => {
                self.bootstrap = Some(v.to_string());
                "Kafka::builder(bootstrap)".to_string()
            }
            "client.id" => {
                self.client_id = Some(v.to_string());
                "KafkaBuilder::client_id".to_string()
            }
            "acks" => {
                self.acks = Some(match v {
                    "all" | "-1" => Acks::All,
                    "1" => Acks::Leader,
                    "0" => Acks::None,
                    _ => die(format!("acks={v}: all, -1, 1 or 0")),
                });
                format!("ProducerBuilder::acks(Acks::{:?})", self.acks.unwrap())
            }
            "enable.idempotence" => {
                self.idempotent = Some(match v {
                    "true" => true,
                    "false" => false,
                    _ => die(format!("enable.idempotence={v}: true or false")),
                });
                format!("ProducerBuilder::idempotent({v})")
            }
            "linger.ms" => {
                self.linger = Some(ms(v));
                "ProducerBuilder::linger".to_string()
            }
            "batch.size" => {
                self.batch_size = Some(bytes(v));
                "ProducerBuilder::batch_size (bytes per partition batch)".to_string()
            }
            "compression.type" => {
                self.compression = Some(match v {
                    "none" => Compression::None,
                    "gzip" => Compression::Gzip,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    _ => die(format!("compression.type={v}: none, gzip, snappy, lz4 or zstd")),
                });
                format!(
                    "ProducerBuilder::compression(Compression::{:?})",
                    self.compression.unwrap()
                )
            }
            "compression.gzip.level" | "compression.zstd.level" => {
                self.compression_level = Some(number(v, k));
                "ProducerBuilder::compression_level".to_string()
            }
            "compression.lz4.level" => {
                die("compression.lz4.level: krafka's LZ4 (lz4_flex, frame format) takes no level")
            }
            "buffer.memory" => {
                self.buffer_memory = Some(bytes(v));
                "ProducerBuilder::buffer_memory (bytes; enqueue waits for room, as Java's send blocks)"
                    .to_string()
            }
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests = Some(number(v, k));
                "KafkaBuilder::max_in_flight_requests (a per-connection cap on every request type; \
                 krafka's producer itself keeps at most 5 Produce requests per broker and one \
                 batch per partition on the wire, whatever this says)"
                    .to_string()
            }
            "request.timeout.ms" => {
                self.request_timeout = Some(ms(v));
                "KafkaBuilder::request_timeout".to_string()
            }
            "delivery.timeout.ms" => {
                self.delivery_timeout = Some(ms(v));
                "ProducerBuilder::delivery_timeout".to_string()
            }
            "retry.backoff.ms" => {
                self.retry_backoff = Some(ms(v));
                "ProducerBuilder::retry_backoff".to_string()
            }
            "max.request.size" => {
                self.max_request_size = Some(bytes(v));
                "ProducerBuilder::max_request_size".to_string()
            }
            "max.block.ms" => {
                self.max_block = Some(ms(v));
                "ProducerBuilder::max_block".to_string()
            }
            "enable.metrics.push" => {
                self.metrics_push = Some(v == "true");
                "ProducerBuilder::metrics_push".to_string()
            }
            "security.protocol" => match v.to_ascii_uppercase().as_str() {
                "PLAINTEXT" => {
                    self.tls = false;
                    "no KafkaBuilder::security (plaintext)".to_string()
                }
                "SSL" => {
                    self.tls = true;
                    "KafkaBuilder::security(AuthConfig::ssl(TlsConfig::new()...)) (rustls, ring)"
                        .to_string()
                }
                _ => die(format!(
                    "security.protocol={v}: krafka-perf maps PLAINTEXT and SSL only"
                )),
            },
            "ssl.truststore.type" => match v.to_ascii_uppercase().as_str() {
                "PEM" => "(PEM: the file is read by TlsConfig::with_ca_cert)".to_string(),
                _ => die(format!(
                    "ssl.truststore.type={v}: krafka reads PEM CA files only (TlsConfig::with_ca_cert)"
                )),
            },
            "ssl.truststore.location" => {
                self.ca_file = Some(v.to_string());
                "TlsConfig::with_ca_cert(path) (pins the trust store to that file)".to_string()
            }
            "ssl.endpoint.identification.algorithm" => match v {
                "https" => "(rustls always checks the broker's host name)".to_string(),
                _ => die(format!(
                    "ssl.endpoint.identification.algorithm={v}: krafka always checks the host \
                     name; its only opt-out, TlsConfig::insecure(), skips the whole certificate check"
                )),
            },
            _ => die(format!("{k}: no krafka mapping in krafka-perf")),
        };
        self.mapping.push(format!("{k}={v} -> {note}"));
    }

    fn kafka(&self) -> krafka::KafkaBuilder {
        let bootstrap = self.bootstrap.clone().unwrap_or_else(|| {
            die("no bootstrap server: use --bootstrap-server or bootstrap.servers=...")
        });
        let mut b = Kafka::builder(bootstrap);
        if let Some(id) = &self.client_id {
            b = b.client_id(id.clone());
        }
        if let Some(t) = self.request_timeout {
            b = b.request_timeout(t);
        }
        if let Some(n) = self.max_in_flight_requests {
            b = b.max_in_flight_requests(n);
        }
        if self.tls {
            let mut tls = TlsConfig::new();
            if let Some(ca) = &self.ca_file {
                tls = tls.with_ca_cert(ca.clone());
            }
            b = b.security(AuthConfig::ssl(tls));
        }
        b
    }

    fn producer(&self, kafka: &Kafka) -> krafka::producer::ProducerBuilder {
        let mut p = kafka.producer();
        if let Some(a) = self.acks {
            p = p.acks(a);
        }
        // As Java: without an explicit enable.idempotence, acks other than all turn it off.
        match (self.idempotent, self.acks) {
            (Some(i), _) => p = p.idempotent(i),
            (None, Some(Acks::Leader | Acks::None)) => p = p.idempotent(false),
            _ => {}
        }
        if let Some(l) = self.linger {
            p = p.linger(l);
        }
        if let Some(n) = self.batch_size {
            p = p.batch_size(n);
        }
        if let Some(c) = self.compression {
            p = p.compression(c);
        }
        if self.compression_level.is_some() {
            p = p.compression_level(self.compression_level);
        }
        if let Some(n) = self.buffer_memory {
            p = p.buffer_memory(n);
        }
        if let Some(t) = self.delivery_timeout {
            p = p.delivery_timeout(t);
        }
        if let Some(t) = self.retry_backoff {
            p = p.retry_backoff(t);
        }
        if let Some(n) = self.max_request_size {
            p = p.max_request_size(n);
        }
        if let Some(t) = self.max_block {
            p = p.max_block(t);
        }
        if let Some(m) = self.metrics_push {
            p = p.metrics_push(m);
        }
        p
    }
}

/// Versions from the Cargo.lock this program was built with.
fn version_string() -> String {
    const LOCK: &str = include_str!("../Cargo.lock");
    let version = |name: &str| {
        let head = format!("name = \"{name}\"\nversion = \"");
        LOCK.find(&head)
            .and_then(|i| LOCK[i + head.len()..].split('"').next())
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "krafka-perf (krafka {}, tokio {}, rustls {} with ring, zstd encoding through zstd-sys)",
        version("krafka"),
        version("tokio"),
        version("rustls"),
    )
}

// ---------------------------------------------------------------------------------------
// The run.

/// What every sending thread shares.
struct Run<'a> {
    args: &'a Args,
    producer: &'a Producer,
    payloads: &'a [Bytes],
    clock: Clock,
    /// The whole run's statistics and, after --warmup-records, the steady state's.
    stats: Mutex<(Stats, Option<Stats>)>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// A record waiting for its acknowledgement: when it was sent, its value's length, and whether
/// it belongs to the steady state.
struct Pending {
    handle: krafka::producer::DeliveryHandle,
    sent_ms: i64,
    bytes: i64,
    steady: bool,
}

impl Run<'_> {
    fn acknowledged(&self, p: &Pending, result: krafka::Result<krafka::producer::RecordMetadata>) {
        let now = self.clock.ms();
        match result {
            Ok(_) => {
                let latency = (now - p.sent_ms) as i32;
                let mut s = self.stats.lock().unwrap();
                s.0.record(latency, p.bytes, now, self.clock);
                if p.steady {
                    if let Some(steady) = s.1.as_mut() {
                        steady.record(latency, p.bytes, now, self.clock);
                    }
                }
            }
            Err(e) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("krafka-perf: a record failed: {e}");
                    *self.first_error.lock().unwrap() = Some(e.to_string());
                }
            }
        }
    }

    /// Thread `t` sends records `from..to` and awaits their acknowledgements in the same task.
    async fn thread(&self, t: usize, from: i64, to: i64) {
        let a = self.args;
        let (queued, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        let send = async move {
            let mut random = JavaRandom((a.seed + t as i64) as u64);
            let mut throttler = Throttler::new(a.throughput / a.threads as f64, self.clock.ms());
            let mut generated = vec![
                0u8;
                if let Payload::Size(n) = a.payload {
                    n
                } else {
                    0
                }
            ];
            let mut steady = false;
            for i in from..to {
                let value = match &a.payload {
                    Payload::File(_) => {
                        self.payloads[random.below(self.payloads.len() as i32) as usize].clone()
                    }
                    Payload::Size(_) => {
                        for b in generated.iter_mut() {
                            *b = b'A' + random.below(26) as u8;
                        }
                        Bytes::copy_from_slice(&generated)
                    }
                    Payload::Monotonic => Bytes::from(i.to_string()),
                };
                let key = match a.keys {
                    Keys::None => None,
                    Keys::Range => Some(i % i64::from(a.key_range)),
                    Keys::Random => Some(i64::from(random.below(a.key_range))),
                };
                let sent_ms = self.clock.ms();
                if a.warmup > 0 && i == a.warmup {
                    // As Java: the steady-state statistics start here, and only they print
                    // window lines from now on.
                    let mut s = self.stats.lock().unwrap();
                    s.1 = Some(Stats::new(sent_ms, a.records - a.warmup, a.interval, true));
                    s.0.quiet = true;
                    steady = true;
                }
                let bytes = value.len() as i64;
                let mut record = Record::new(a.topic.as_str(), value);
                if let Some(k) = key {
                    let mut text = String::with_capacity(8);
                    let _ = write!(text, "{k}");
                    record = record.key(text);
                }
                match self.producer.enqueue(record).await {
                    Ok(handle) => {
                        let _ = queued.send(Pending {
                            handle,
                            sent_ms,
                            bytes,
                            steady,
                        });
                    }
                    Err(e) => die(format!("enqueue failed after {} records: {e}", i - from)),
                }
                if throttler.should_throttle(i - from, sent_ms) {
                    throttler.throttle().await;
                }
            }
            // Dropping the sender ends the acknowledgement loop once every handle resolved.
        };
        let acknowledge = async {
            let mut waiting = FuturesUnordered::new();
            let mut sending = true;
            while sending || !waiting.is_empty() {
                tokio::select! {
                    p = arrivals.recv(), if sending => match p {
                        Some(mut p) => waiting.push(async move {
                            let result = (&mut p.handle).await;
                            (p, result)
                        }),
                        None => sending = false,
                    },
                    Some((p, result)) = waiting.next(), if !waiting.is_empty() => {
                        self.acknowledged(&p, result);
                    }
                }
            }
        };
        futures::join!(send, acknowledge);
    }
}

fn perf(argv: &[String]) -> i32 {
    let args = parse_args(argv);
    let mut settings = Settings::default();
    for (k, v) in &args.props {
        settings.apply(k, v);
    }
    if let Some(b) = &args.bootstrap {
        settings.bootstrap = Some(b.clone());
    }
    if args.print_config {
        eprintln!("krafka-perf: {}", version_string());
        for m in &settings.mapping {
            eprintln!("krafka-perf: {m}");
        }
    }
    let payloads = match &args.payload {
        Payload::File(path) => read_payload_file(path, &args.delimiter),
        _ => Vec::new(),
    };
    // `#[tokio::main]`'s runtime: multi-thread, one worker per CPU this process may use.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(format!("tokio runtime: {e}")));
    let clock = Clock(Instant::now());
    let producer = runtime.block_on(async {
        let kafka = settings
            .kafka()
            .connect()
            .await
            .unwrap_or_else(|e| die(format!("cannot connect: {e}")));
        settings
            .producer(&kafka)
            .build()
            .await
            .unwrap_or_else(|e| die(format!("cannot create the producer: {e}")))
    });
    let run = Run {
        args: &args,
        producer: &producer,
        payloads: &payloads,
        clock,
        stats: Mutex::new((
            Stats::new(clock.ms(), args.records, args.interval, false),
            None,
        )),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
    };
    std::thread::scope(|s| {
        let share = args.records / args.threads as i64;
        let mut from = 0;
        for t in 0..args.threads {
            // Thread 0 also takes the remainder.
            let to = from
                + share
                + if t == 0 {
                    args.records % args.threads as i64
                } else {
                    0
                };
            let (run, runtime) = (&run, &runtime);
            s.spawn(move || runtime.block_on(run.thread(t, from, to)));
            from = to;
        }
    });
    runtime.block_on(async {
        if let Err(e) = producer.flush().await {
            eprintln!("krafka-perf: flush: {e}");
        }
    });
    {
        let now = clock.ms();
        let mut s = run.stats.lock().unwrap();
        println!("{}", s.0.summary(now));
        if let Some(steady) = s.1.as_mut() {
            println!("{}", steady.summary(now));
        }
    }
    runtime.block_on(async {
        if let Err(e) = producer.close().await {
            eprintln!("krafka-perf: close: {e}");
        }
    });
    let failed = run.failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!(
            "krafka-perf: error: {failed} of {} records failed; the first error: {}",
            args.records,
            run.first_error.lock().unwrap().clone().unwrap_or_default()
        );
        return 1;
    }
    0
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = if argv.first().map(String::as_str) == Some("--version") {
        println!("{}", version_string());
        0
    } else {
        perf(&argv)
    };
    std::process::exit(code);
}
