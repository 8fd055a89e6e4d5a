//! confluent-perf: Kafka's `kafka-producer-perf-test` (`org.apache.kafka.tools.ProducerPerformance`
//! of Kafka 4.4) on Confluent's Rust client, the `confluent-kafka` crate (a translation of the
//! Java client, async on tokio), for Volley's benchmark harness (bench/run).
//!
//! ```text
//! confluent-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
//!                --throughput R --bootstrap-server HOST:PORT
//!                [--producer-props k=v ... | --command-property k=v ...] [--reporting-interval MS]
//!                [--record-key-range K --key-distribution none|range|random] [--random-seed S]
//!                [--warmup-records N] [--threads N] [--print-config]
//! confluent-perf --version
//! ```
//!
//! It prints the tool's lines (a window line every --reporting-interval ms, then the summary with
//! 50th/95th/99th/99.9th percentiles) and sends the tool's workload: payloads and keys drawn from
//! the same `SplittableRandom` sequence as Kafka's tool and the harness's other perf programs, so
//! every client sends the same records.
//!
//! The crate takes Java's producer property names, so the properties are passed through as they
//! are, plus `partitioner.type=Murmur2RandomPartitioner` (Java's key hash; the crate's default is
//! CRC-32); a name the crate does not define stops the program (the crate itself would only log
//! and ignore it, as Java does).
//!
//! How it drives the client (the crate's fast path, as its own producer performance test and
//! Kafka's tool do): one `KafkaProducer<Vec<u8>, Vec<u8>>` shared by all sending threads; each
//! record goes through the crate's byte-slice `send(ProducerRecord<&[u8], &[u8]>, callback)`
//! (written straight into the batch, no serializer), whose future completes once the record is
//! in the accumulator (it waits only for metadata or buffer memory, like Java's blocking `send`);
//! the per-record completion is a `Callback` (Java's `PerfCallback`), run on the producer's sender
//! task, which takes the latency (send start to acknowledgement) and updates the statistics. The
//! returned `KafkaFuture`s are dropped unread. The sending threads are plain OS threads, each
//! running its loop with `Handle::block_on`, and the sender task runs on a tokio multi-thread
//! runtime with the default worker count (the CPUs the process may use: one when bench/run pins
//! the client to a core).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confluent_kafka::common::Error as KafkaError;
use confluent_kafka::common::serialization::ByteArraySerializer;
use confluent_kafka::producer::{
    Callback, KafkaProducer, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};

const VERSIONS: &str = env!("CONFLUENT_PERF_VERSIONS");

// ---------------------------------------------------------------------------------------
// java.util.SplittableRandom: nextInt() and nextInt(bound), as Kafka's tool draws them.

struct SplittableRandom(u64);

impl SplittableRandom {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    /// `mix32(nextSeed())`.
    fn next_int(&mut self) -> i32 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
        z = (z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3);
        (z >> 32) as i32
    }

    /// `nextInt(bound)` for `bound > 0`: a mask for powers of two, else rejection sampling of
    /// the upper 31 bits (Java's loop, with its int overflow test).
    fn next_below(&mut self, bound: i32) -> i32 {
        let r = self.next_int();
        let m = bound - 1;
        if bound & m == 0 {
            return r & m;
        }
        let mut u = ((r as u32) >> 1) as i32;
        loop {
            let candidate = u % bound;
            if u.wrapping_add(m).wrapping_sub(candidate) >= 0 {
                return candidate;
            }
            u = ((self.next_int() as u32) >> 1) as i32;
        }
    }
}

/// Java's `String.format("%.Nf", x)` for the figures the harness parses.
fn fixed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else {
        format!("{x:.decimals$}")
    }
}

// ---------------------------------------------------------------------------------------
// ProducerPerformance.Stats: totals, windows and sampled latencies.

/// Milliseconds since the program's clock started.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn ms(&self) -> i64 {
        self.0.elapsed().as_millis() as i64
    }
}

struct Stats {
    steady: bool,
    quiet: bool,
    start: i64,
    sampled: Vec<i32>,
    sampled_len: usize,
    sampling: i64,
    interval: i64,
    iteration: i64,
    count: i64,
    bytes: i64,
    max_latency: i32,
    total_latency: i64,
    window_start: i64,
    window_count: i64,
    window_bytes: i64,
    window_max_latency: i32,
    window_total_latency: i64,
}

impl Stats {
    fn new(now: i64, records: i64, interval: i64, steady: bool) -> Stats {
        let sampling = records / records.min(500_000);
        Stats {
            steady,
            quiet: false,
            start: now,
            sampled: vec![0; (records / sampling) as usize + 1],
            sampled_len: 0,
            sampling,
            interval,
            iteration: 0,
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_max_latency: 0,
            window_total_latency: 0,
        }
    }

    fn record(&mut self, latency: i32, bytes: i32, now: i64, clock: Clock) {
        self.count += 1;
        self.bytes += i64::from(bytes);
        self.total_latency += i64::from(latency);
        self.max_latency = self.max_latency.max(latency);
        self.window_count += 1;
        self.window_bytes += i64::from(bytes);
        self.window_total_latency += i64::from(latency);
        self.window_max_latency = self.window_max_latency.max(latency);
        if self.iteration % self.sampling == 0 && self.sampled_len < self.sampled.len() {
            self.sampled[self.sampled_len] = latency;
            self.sampled_len += 1;
        }
        let window_over = now - self.window_start >= self.interval;
        if window_over && self.steady && self.count == self.window_count {
            println!("In steady state.");
        }
        if window_over && !self.quiet {
            let elapsed = (clock.ms() - self.window_start) as f64;
            println!(
                "{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency.",
                self.window_count,
                fixed(1000.0 * self.window_count as f64 / elapsed, 1),
                fixed(1000.0 * self.window_bytes as f64 / elapsed / 1048576.0, 2),
                fixed(
                    self.window_total_latency as f64 / self.window_count as f64,
                    1
                ),
                fixed(f64::from(self.window_max_latency), 1),
            );
        }
        if window_over {
            self.window_start = clock.ms();
            self.window_count = 0;
            self.window_bytes = 0;
            self.window_max_latency = 0;
            self.window_total_latency = 0;
        }
        self.iteration += 1;
    }

    fn summary(&mut self, now: i64) -> String {
        let elapsed = (now - self.start) as f64;
        let sampled = &mut self.sampled[..self.sampled_len];
        sampled.sort_unstable();
        let n = sampled.len();
        let percentile = |p: f64| {
            if n == 0 {
                0
            } else {
                sampled[(p * n as f64) as usize]
            }
        };
        format!(
            "{}{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            if self.steady { " steady state" } else { "" },
            fixed(1000.0 * self.count as f64 / elapsed, 6),
            fixed(1000.0 * self.bytes as f64 / elapsed / 1048576.0, 2),
            fixed(self.total_latency as f64 / self.count as f64, 2),
            fixed(f64::from(self.max_latency), 2),
            percentile(0.5),
            percentile(0.95),
            percentile(0.99),
            percentile(0.999),
        )
    }
}

// ---------------------------------------------------------------------------------------
// ThroughputThrottler (Kafka's): sleeps the sending thread once it is ahead of the target.

struct Throttler {
    start: i64,
    target: f64,
    ns_per_record: i64,
    deficit_ns: i64,
}

impl Throttler {
    const MIN_SLEEP_NS: i64 = 2_000_000;

    fn new(target: f64, start: i64) -> Throttler {
        let ns_per_record = if target > 0.0 {
            (1e9 / target) as i64
        } else {
            i64::MAX
        };
        Throttler {
            start,
            target,
            ns_per_record,
            deficit_ns: 0,
        }
    }

    fn should_throttle(&self, sent: i64, now: i64) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let seconds = (now - self.start) as f32 / 1000.0;
        seconds > 0.0 && sent as f64 / f64::from(seconds) > self.target
    }

    fn throttle(&mut self) {
        self.deficit_ns = self.deficit_ns.saturating_add(self.ns_per_record);
        if self.deficit_ns < Self::MIN_SLEEP_NS {
            return;
        }
        let began = Instant::now();
        let mut left = self.deficit_ns;
        while left > 0 {
            let ms = (left + 999_999) / 1_000_000;
            std::thread::sleep(Duration::from_millis(ms as u64));
            left = self.deficit_ns - began.elapsed().as_nanos() as i64;
        }
        self.deficit_ns = 0;
    }
}

// ---------------------------------------------------------------------------------------
// What the completion callbacks share (leaked: it lives as long as the process).

struct Shared {
    clock: Clock,
    /// The statistics of all records, and (after --warmup-records) of the steady-state ones.
    stats: Mutex<(Stats, Option<Stats>)>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    /// A record's completion, on the producer's sender task (Java's `PerfCallback`).
    fn completed(&self, send_start: i64, steady: bool, bytes: i32, error: Option<&KafkaError>) {
        let now = self.clock.ms();
        if let Some(e) = error {
            if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                let text = chain(e);
                eprintln!("confluent-perf: a record failed: {text}");
                *self.first_error.lock().unwrap() = Some(text);
            }
            return;
        }
        let latency = (now - send_start) as i32;
        let mut stats = self.stats.lock().unwrap();
        stats.0.record(latency, bytes, now, self.clock);
        if steady {
            if let Some(s) = stats.1.as_mut() {
                s.record(latency, bytes, now, self.clock);
            }
        }
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

struct Args {
    bootstrap: Option<String>,
    topic: String,
    num_records: i64,
    record_size: Option<usize>,
    payload_file: Option<String>,
    payload_delimiter: String,
    payload_monotonic: bool,
    throughput: f64,
    props: Vec<(String, String)>,
    reporting_interval: i64,
    key_range: i32,
    keys: Keys,
    random_seed: i64,
    warmup_records: i64,
    threads: usize,
    print_config: bool,
}

/// An error with its sources ("a: b: c"): the crate wraps the cause of a failed construction.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("confluent-perf: error: {msg}");
    std::process::exit(1);
}

const USAGE: &str = "usage: confluent-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput R --bootstrap-server HOST:PORT
       [--producer-props k=v ... | --command-property k=v ...] [--payload-delimiter D]
       [--reporting-interval MS] [--record-key-range K --key-distribution none|range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       confluent-perf --version
Kafka's kafka-producer-perf-test on Confluent's Rust client (confluent-kafka crate), which takes
Java's producer property names; --threads N: N threads sharing one producer.";

fn parse_args(argv: &[String]) -> Args {
    let mut a = Args {
        bootstrap: None,
        topic: String::new(),
        num_records: -1,
        record_size: None,
        payload_file: None,
        payload_delimiter: "\n".to_string(),
        payload_monotonic: false,
        throughput: f64::NAN,
        props: Vec::new(),
        reporting_interval: 5000,
        key_range: 0,
        keys: Keys::None,
        random_seed: 0,
        warmup_records: 0,
        threads: 1,
        print_config: false,
    };
    fn number<T: std::str::FromStr>(flag: &str, v: &str) -> T {
        v.parse()
            .unwrap_or_else(|_| die(format!("{flag}: not a number: {v:?}")))
    }
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].as_str();
        let mut value = || -> String {
            i += 1;
            argv.get(i)
                .cloned()
                .unwrap_or_else(|| die(format!("{flag} needs a value")))
        };
        match flag {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--bootstrap-server" => a.bootstrap = Some(value()),
            "--topic" => a.topic = value(),
            "--num-records" => a.num_records = number(flag, &value()),
            "--record-size" => a.record_size = Some(number(flag, &value())),
            "--payload-file" => a.payload_file = Some(value()),
            "--payload-delimiter" => {
                let d = value();
                a.payload_delimiter = if d == "\\n" { "\n".to_string() } else { d };
            }
            "--payload-monotonic" => a.payload_monotonic = true,
            "--throughput" => a.throughput = number(flag, &value()),
            "--producer-props" | "--command-property" => {
                while i + 1 < argv.len() && !argv[i + 1].starts_with("--") {
                    i += 1;
                    match argv[i].split_once('=') {
                        Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                            a.props.push((k.to_string(), v.to_string()));
                        }
                        _ => die(format!("Invalid property: {}", argv[i])),
                    }
                }
            }
            "--reporting-interval" => a.reporting_interval = number(flag, &value()),
            "--record-key-range" => a.key_range = number(flag, &value()),
            "--key-distribution" => {
                a.keys = match value().as_str() {
                    "none" => Keys::None,
                    "range" => Keys::Range,
                    "random" => Keys::Random,
                    other => die(format!(
                        "--key-distribution: none, range or random, not {other:?}"
                    )),
                }
            }
            "--random-seed" => a.random_seed = number(flag, &value()),
            "--warmup-records" => a.warmup_records = number(flag, &value()),
            "--threads" => a.threads = number(flag, &value()),
            "--print-config" => a.print_config = true,
            other => die(format!("unknown argument {other:?}\n{USAGE}")),
        }
        i += 1;
    }
    if a.topic.is_empty() {
        die("--topic is required");
    }
    if a.num_records <= 0 {
        die("--num-records should be greater than zero.");
    }
    if a.throughput.is_nan() || a.throughput == 0.0 {
        die("--throughput is required and must not be 0 (-1: no throttling)");
    }
    let sources = [
        a.record_size.is_some(),
        a.payload_file.is_some(),
        a.payload_monotonic,
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        die("exactly one of --record-size, --payload-file or --payload-monotonic");
    }
    if a.record_size == Some(0) {
        die("--record-size should be greater than zero.");
    }
    match a.keys {
        Keys::None if a.key_range != 0 => die(
            "--key-distribution must be 'range' or 'random' when --record-key-range is specified.",
        ),
        Keys::Range | Keys::Random if a.key_range <= 0 => {
            die("--record-key-range is required when --key-distribution is 'range' or 'random'.")
        }
        _ => {}
    }
    if a.threads == 0 {
        die("--threads must be at least 1");
    }
    a.warmup_records = a.warmup_records.max(0);
    if a.warmup_records >= a.num_records {
        die(
            "The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.",
        );
    }
    if a.warmup_records > 0 && a.threads > 1 {
        die("--warmup-records works with --threads 1 only");
    }
    if a.reporting_interval <= 0 {
        die("--reporting-interval should be greater than zero.");
    }
    a
}

/// The producer's configuration: the Java properties as they are (the crate defines Java's
/// names), with --bootstrap-server, and `partitioner.type=Murmur2RandomPartitioner`: Java's
/// default partitioner (murmur2 of the key; keyless records sticky, adaptive), where the crate's
/// own default hashes keys with CRC-32 (librdkafka's `consistent_random`), which would put keyed
/// records on other partitions than Java's. A name the crate does not define is an error here
/// rather than a silently ignored setting.
fn producer_properties(a: &Args) -> BTreeMap<String, String> {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    props.insert(
        ProducerConfig::PARTITIONER_TYPE_CONFIG.to_string(),
        ProducerConfig::MURMUR2_RANDOM_PARTITIONER.to_string(),
    );
    props.extend(a.props.iter().cloned());
    if let Some(b) = &a.bootstrap {
        props.insert("bootstrap.servers".to_string(), b.clone());
    }
    if !props.contains_key("bootstrap.servers") {
        die("no bootstrap server: use --bootstrap-server or bootstrap.servers=...");
    }
    let known = ProducerConfig::config_names();
    for k in props.keys() {
        if !known.contains(k) {
            die(format!(
                "{k} is not a confluent-kafka producer setting (the crate would ignore it)"
            ));
        }
    }
    if a.print_config {
        let desc: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("confluent-perf: {}", version_string());
        eprintln!(
            "confluent-perf: confluent-kafka config (Java names, passed as they are): {}",
            desc.join(" ")
        );
    }
    props
}

fn version_string() -> String {
    format!("confluent-perf ({VERSIONS})")
}

fn read_payloads(path: &str, delimiter: &str) -> Vec<Vec<u8>> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.into());
    println!("Reading payloads from: {}", abs.display());
    let text = match std::fs::read(path) {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => die("File does not exist or empty file provided."),
    };
    let mut tokens: Vec<&str> = text.split(delimiter).collect();
    if tokens.first() == Some(&"") {
        tokens.remove(0);
    }
    if tokens.last() == Some(&"") {
        tokens.pop();
    }
    println!("Number of records read: {}", tokens.len());
    tokens.into_iter().map(|t| t.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------------------------------

fn perf(argv: &[String]) -> i32 {
    let a = parse_args(argv);
    let props = producer_properties(&a);
    let payloads = match &a.payload_file {
        Some(p) => {
            let p = read_payloads(p, &a.payload_delimiter);
            if p.is_empty() {
                die("No payload file, record size or payload-monotonic option provided.");
            }
            p
        }
        None => Vec::new(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(format!("tokio runtime: {e}")));
    let handle = runtime.handle().clone();
    let clock = Clock(Instant::now());
    let shared: &'static Shared = Box::leak(Box::new(Shared {
        clock,
        stats: Mutex::new((
            Stats::new(clock.ms(), a.num_records, a.reporting_interval, false),
            None,
        )),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
    }));
    let producer = {
        // The producer spawns its sender task on the runtime it is created in.
        let _in_runtime = runtime.enter();
        let config = ProducerConfig::new(&props.into_iter().collect::<HashMap<_, _>>())
            .unwrap_or_else(|e| die(format!("producer configuration: {}", chain(&e))));
        KafkaProducer::<Vec<u8>, Vec<u8>>::new(
            config,
            ByteArraySerializer::new(),
            ByteArraySerializer::new(),
        )
        .unwrap_or_else(|e| die(format!("cannot create the producer: {}", chain(&e))))
    };

    let worker = |t: usize, from: i64, to: i64| {
        let mut random = SplittableRandom((a.random_seed + t as i64) as u64);
        let mut throttler = Throttler::new(a.throughput / a.threads as f64, clock.ms());
        let mut generated = vec![0u8; a.record_size.unwrap_or(0)];
        let mut monotonic = String::new();
        let mut key = String::new();
        let mut steady = false;
        handle.block_on(async {
            for i in from..to {
                let value: &[u8] = if !payloads.is_empty() {
                    &payloads[random.next_below(payloads.len() as i32) as usize]
                } else if a.record_size.is_some() {
                    for b in generated.iter_mut() {
                        *b = (random.next_below(26) + 65) as u8;
                    }
                    &generated
                } else {
                    monotonic = i.to_string();
                    monotonic.as_bytes()
                };
                let record_key: Option<&[u8]> = match a.keys {
                    Keys::None => None,
                    Keys::Range | Keys::Random => {
                        let k = match a.keys {
                            Keys::Range => i % i64::from(a.key_range),
                            _ => i64::from(random.next_below(a.key_range)),
                        };
                        key.clear();
                        use std::fmt::Write;
                        let _ = write!(key, "{k}");
                        Some(key.as_bytes())
                    }
                };
                let send_start = clock.ms();
                if a.warmup_records > 0 && i == a.warmup_records {
                    // As Java: the steady-state statistics start now, and only they print windows.
                    let mut stats = shared.stats.lock().unwrap();
                    let steady_stats = Stats::new(
                        clock.ms(),
                        a.num_records - a.warmup_records,
                        a.reporting_interval,
                        true,
                    );
                    stats.1 = Some(steady_stats);
                    stats.0.quiet = true;
                    steady = true;
                }
                let bytes = value.len() as i32;
                let in_steady = steady;
                let callback: Box<dyn Callback> = Box::new(
                    move |_: Option<&RecordMetadata>, error: Option<&KafkaError>| {
                        shared.completed(send_start, in_steady, bytes, error)
                    },
                );
                let record = match record_key {
                    Some(k) => ProducerRecord::with_key(a.topic.clone(), Some(k), Some(value)),
                    None => ProducerRecord::new(a.topic.clone(), Some(value)),
                };
                // Completes once the record is in the accumulator (waiting, like Java's send,
                // only for metadata or buffer memory); the acknowledgement reaches the callback.
                if let Err(e) = producer.send(record, Some(callback)).await {
                    die(format!(
                        "send failed after {} records: {}",
                        i - from,
                        chain(&e)
                    ));
                }
                if throttler.should_throttle(i - from, send_start) {
                    throttler.throttle();
                }
            }
        });
    };
    std::thread::scope(|s| {
        let per = a.num_records / a.threads as i64;
        let mut from = 0;
        for t in 0..a.threads {
            let to = from
                + per
                + if t == 0 {
                    a.num_records % a.threads as i64
                } else {
                    0
                };
            let worker = &worker;
            s.spawn(move || worker(t, from, to));
            from = to;
        }
    });
    if let Err(e) = handle.block_on(Producer::flush(&producer)) {
        eprintln!("confluent-perf: flush: {e}");
    }
    {
        let mut stats = shared.stats.lock().unwrap();
        let now = clock.ms();
        println!("{}", stats.0.summary(now));
        if let Some(s) = stats.1.as_mut() {
            println!("{}", s.summary(now));
        }
    }
    if let Err(e) = handle.block_on(Producer::close_with_timeout(
        &producer,
        Duration::from_secs(30),
    )) {
        eprintln!("confluent-perf: close: {e}");
    }
    let failed = shared.failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!(
            "confluent-perf: error: {failed} of {} records failed; the first error: {}",
            a.num_records,
            shared
                .first_error
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_default()
        );
        return 1;
    }
    0
}

/// The crate's log lines (through the `log` crate) on stderr, with the time since start.
struct StderrLogger(Instant);

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!(
            "{:>9.3} {} {} {}",
            self.0.elapsed().as_secs_f64(),
            r.level(),
            r.target(),
            r.args()
        );
    }
    fn flush(&self) {}
}

fn main() {
    // CONFLUENT_PERF_LOG=error|warn|info|debug|trace: the crate's log at that level and above.
    if let Some(level) = std::env::var("CONFLUENT_PERF_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
    {
        let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger(Instant::now())));
        let _ = log::set_logger(logger);
        log::set_max_level(level);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match argv.first().map(String::as_str) {
        Some("--version") => {
            println!("{}", version_string());
            0
        }
        _ => perf(&argv),
    };
    std::process::exit(code);
}
