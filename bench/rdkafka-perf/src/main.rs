//! rdkafka-perf: Kafka's `kafka-producer-perf-test` (`org.apache.kafka.tools.ProducerPerformance`
//! of Kafka 4.4) on librdkafka through the `rdkafka` crate, for Volley's benchmark harness
//! (bench/run).
//!
//! ```text
//! rdkafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
//!              --throughput R [--bootstrap-server HOST:PORT | --mock-brokers N]
//!              [--producer-props k=v ... | --command-property k=v ...] [--reporting-interval MS]
//!              [--record-key-range K --key-distribution range|random] [--random-seed S]
//!              [--warmup-records N] [--threads N] [--print-config]
//! rdkafka-perf mock-cluster [--brokers N] [--topic NAME:PARTITIONS ...] [--exit-on-stdin-eof] [--no-proxy]
//! rdkafka-perf --version
//! ```
//!
//! The perf mode prints the tool's lines (a window line every --reporting-interval ms, then the
//! summary with 50th/95th/99th/99.9th percentiles) and sends the tool's workload: payloads and
//! keys drawn from the same `SplittableRandom` sequence, so each client of the harness sends the
//! same records. Java producer property names are mapped to librdkafka's (see `map_property`).
//!
//! `mock-cluster` starts librdkafka's in-memory mock cluster (brokers listen on 127.0.0.1 only),
//! behind a small proxy that lets non-librdkafka clients connect (see `mock_cluster`), prints
//! `bootstrap: HOST:PORT,...`, creates the `--topic`s, and then stays up until killed; it also
//! reads commands from stdin, one a line: `create TOPIC PARTITIONS` (answers `ok` or
//! `error: ...`). With --exit-on-stdin-eof it exits when stdin closes; --no-proxy exposes the
//! mock brokers directly (librdkafka clients only).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

// ---------------------------------------------------------------------------------------
// java.util.SplittableRandom (enough of it for nextInt(bound)).

struct SplittableRandom {
    seed: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl SplittableRandom {
    fn next_int(&mut self) -> i32 {
        self.seed = self.seed.wrapping_add(GOLDEN_GAMMA);
        let z = self.seed;
        let z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
        ((z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3) >> 32) as i32
    }

    fn next_int_bounded(&mut self, bound: i32) -> i32 {
        let mut r = self.next_int();
        let m = bound.wrapping_sub(1);
        if bound & m == 0 {
            return r & m;
        }
        let mut u = ((r as u32) >> 1) as i32;
        loop {
            r = u % bound;
            if u.wrapping_add(m).wrapping_sub(r) >= 0 {
                return r;
            }
            u = ((self.next_int() as u32) >> 1) as i32;
        }
    }
}

/// Java's `String.format("%.Nf")`, close enough for the numbers a parser reads.
fn fixed(x: f64, prec: usize) -> String {
    if x.is_nan() {
        "NaN".into()
    } else {
        format!("{x:.prec$}")
    }
}

// ---------------------------------------------------------------------------------------
// ProducerPerformance.Stats.

struct Stats {
    steady: bool,
    suppress_print: bool,
    start: i64,
    latencies: Vec<i32>,
    sampling: i64,
    reporting_interval: i64,
    iteration: i64,
    index: usize,
    count: i64,
    bytes: i64,
    max_latency: i32,
    total_latency: i64,
    window_count: i64,
    window_max_latency: i32,
    window_total_latency: i64,
    window_bytes: i64,
    window_start: i64,
}

#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now_ms(&self) -> i64 {
        self.0.elapsed().as_millis() as i64
    }
}

impl Stats {
    fn new(now: i64, num_records: i64, reporting_interval: i64, steady: bool) -> Stats {
        let sampling = num_records / num_records.min(500_000);
        Stats {
            steady,
            suppress_print: false,
            start: now,
            latencies: vec![0; (num_records / sampling) as usize + 1],
            sampling,
            reporting_interval,
            iteration: 0,
            index: 0,
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            window_count: 0,
            window_max_latency: 0,
            window_total_latency: 0,
            window_bytes: 0,
            window_start: now,
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
        if self.iteration % self.sampling == 0 && self.index < self.latencies.len() {
            self.latencies[self.index] = latency;
            self.index += 1;
        }
        if now - self.window_start >= self.reporting_interval
            && self.steady
            && self.count == self.window_count
        {
            println!("In steady state.");
        }
        if now - self.window_start >= self.reporting_interval && !self.suppress_print {
            let elapsed = (clock.now_ms() - self.window_start) as f64;
            println!(
                "{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency.",
                self.window_count,
                fixed(1000.0 * self.window_count as f64 / elapsed, 1),
                fixed(1000.0 * self.window_bytes as f64 / elapsed / 1048576.0, 2),
                fixed(self.window_total_latency as f64 / self.window_count as f64, 1),
                fixed(f64::from(self.window_max_latency), 1),
            );
        }
        if now - self.window_start >= self.reporting_interval {
            self.window_start = clock.now_ms();
            self.window_count = 0;
            self.window_max_latency = 0;
            self.window_total_latency = 0;
            self.window_bytes = 0;
        }
        self.iteration += 1;
    }

    fn total_line(&mut self, now: i64) -> String {
        let elapsed = (now - self.start) as f64;
        let size = self.index.min(self.latencies.len());
        let l = &mut self.latencies[..size];
        l.sort_unstable();
        let pick = |p: f64| {
            if size == 0 {
                0
            } else {
                l[(p * size as f64) as usize]
            }
        };
        format!(
            "{}{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            if self.steady { " steady state" } else { "" },
            fixed(1000.0 * self.count as f64 / elapsed, 6),
            fixed(1000.0 * self.bytes as f64 / elapsed / 1048576.0, 2),
            fixed(self.total_latency as f64 / self.count as f64, 2),
            fixed(f64::from(self.max_latency), 2),
            pick(0.5),
            pick(0.95),
            pick(0.99),
            pick(0.999),
        )
    }
}

// ---------------------------------------------------------------------------------------
// ThroughputThrottler.

struct Throttler {
    start_ms: i64,
    sleep_time_ns: i64,
    target: f64,
    sleep_deficit_ns: i64,
}

const MIN_SLEEP_NS: i64 = 2_000_000;

impl Throttler {
    fn new(target: f64, start_ms: i64) -> Throttler {
        Throttler {
            start_ms,
            sleep_time_ns: if target > 0.0 {
                (1.0e9 / target) as i64
            } else {
                i64::MAX
            },
            target,
            sleep_deficit_ns: 0,
        }
    }

    fn should_throttle(&self, amount_so_far: i64, send_start_ms: i64) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let elapsed_sec = (send_start_ms - self.start_ms) as f32 / 1000.0f32;
        elapsed_sec > 0.0 && amount_so_far as f64 / f64::from(elapsed_sec) > self.target
    }

    fn throttle(&mut self) {
        self.sleep_deficit_ns = self.sleep_deficit_ns.saturating_add(self.sleep_time_ns);
        if self.sleep_deficit_ns < MIN_SLEEP_NS {
            return;
        }
        let start = Instant::now();
        let mut remaining = self.sleep_deficit_ns;
        while remaining > 0 {
            let ms = remaining / 1_000_000 + i64::from(remaining % 1_000_000 > 0);
            std::thread::sleep(Duration::from_millis(ms as u64));
            remaining = self.sleep_deficit_ns - start.elapsed().as_nanos() as i64;
        }
        self.sleep_deficit_ns = 0;
    }
}

// ---------------------------------------------------------------------------------------
// The producer context: delivery reports update the stats (on the ThreadedProducer's poll
// thread, as Java's callbacks run on its I/O thread).

struct PerfContext {
    clock: Clock,
    /// All records, and (after --warmup-records) the steady-state ones.
    stats: Mutex<(Stats, Option<Stats>)>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for PerfContext {}

impl ProducerContext for PerfContext {
    /// The send start in ms on `clock`, shifted left by one; the low bit says "sent in the
    /// steady state" (after --warmup-records).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let now = self.clock.now_ms();
        let (send_start_ms, in_steady) = ((opaque >> 1) as i64, opaque & 1 == 1);
        match result {
            Ok(msg) => {
                let bytes = msg.payload_len() as i32;
                let latency = (now - send_start_ms) as i32;
                let mut s = self.stats.lock().unwrap();
                s.0.record(latency, bytes, now, self.clock);
                if in_steady {
                    if let Some(steady) = s.1.as_mut() {
                        steady.record(latency, bytes, now, self.clock);
                    }
                }
            }
            Err((e, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("rdkafka-perf: a record failed: {e}");
                    *self.first_error.lock().unwrap() = Some(e.to_string());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Arguments.

#[derive(Clone, Copy, PartialEq)]
enum KeyDist {
    None,
    Range,
    Random,
}

struct Args {
    bootstrap: Option<String>,
    mock_brokers: Option<i32>,
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
    key_dist: KeyDist,
    random_seed: i64,
    warmup_records: i64,
    threads: usize,
    print_config: bool,
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("rdkafka-perf: error: {msg}");
    std::process::exit(1);
}

const USAGE: &str = "usage: rdkafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput R [--bootstrap-server HOST:PORT | --mock-brokers N]
       [--producer-props k=v ... | --command-property k=v ...] [--payload-delimiter D]
       [--reporting-interval MS] [--record-key-range K --key-distribution range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       rdkafka-perf mock-cluster [--brokers N] [--topic NAME:PARTITIONS ...] [--exit-on-stdin-eof] [--no-proxy]
       rdkafka-perf --version
Kafka's kafka-producer-perf-test on librdkafka (rdkafka crate); Java producer property names are mapped
to librdkafka's.";

fn parse_args(argv: &[String]) -> Args {
    let mut a = Args {
        bootstrap: None,
        mock_brokers: None,
        topic: String::new(),
        num_records: -1,
        record_size: None,
        payload_file: None,
        payload_delimiter: "\n".into(),
        payload_monotonic: false,
        throughput: f64::NAN,
        props: Vec::new(),
        reporting_interval: 5000,
        key_range: 0,
        key_dist: KeyDist::None,
        random_seed: 0,
        warmup_records: 0,
        threads: 1,
        print_config: false,
    };
    let mut i = 0;
    let value = |i: &mut usize, name: &str| -> String {
        *i += 1;
        argv.get(*i)
            .cloned()
            .unwrap_or_else(|| die(format!("{name} needs a value")))
    };
    fn num<T: std::str::FromStr>(s: &str, name: &str) -> T {
        s.parse()
            .unwrap_or_else(|_| die(format!("{name}: not a number: {s:?}")))
    }
    while i < argv.len() {
        let arg = argv[i].as_str();
        match arg {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--bootstrap-server" => a.bootstrap = Some(value(&mut i, arg)),
            "--mock-brokers" => a.mock_brokers = Some(num(&value(&mut i, arg), arg)),
            "--topic" => a.topic = value(&mut i, arg),
            "--num-records" => a.num_records = num(&value(&mut i, arg), arg),
            "--record-size" => a.record_size = Some(num(&value(&mut i, arg), arg)),
            "--payload-file" => a.payload_file = Some(value(&mut i, arg)),
            "--payload-delimiter" => {
                a.payload_delimiter = value(&mut i, arg);
                if a.payload_delimiter == "\\n" {
                    a.payload_delimiter = "\n".into();
                }
            }
            "--payload-monotonic" => a.payload_monotonic = true,
            "--throughput" => a.throughput = num(&value(&mut i, arg), arg),
            "--producer-props" | "--command-property" => {
                while i + 1 < argv.len() && !argv[i + 1].starts_with("--") {
                    i += 1;
                    match argv[i].split_once('=') {
                        Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                            a.props.push((k.to_string(), v.to_string()))
                        }
                        _ => die(format!("Invalid property: {}", argv[i])),
                    }
                }
            }
            "--reporting-interval" => a.reporting_interval = num(&value(&mut i, arg), arg),
            "--record-key-range" => a.key_range = num(&value(&mut i, arg), arg),
            "--key-distribution" => {
                a.key_dist = match value(&mut i, arg).as_str() {
                    "none" => KeyDist::None,
                    "range" => KeyDist::Range,
                    "random" => KeyDist::Random,
                    other => die(format!(
                        "--key-distribution: none, range or random, not {other:?}"
                    )),
                }
            }
            "--random-seed" => a.random_seed = num(&value(&mut i, arg), arg),
            "--warmup-records" => a.warmup_records = num(&value(&mut i, arg), arg),
            "--threads" => a.threads = num(&value(&mut i, arg), arg),
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
    if sources.iter().filter(|b| **b).count() != 1 {
        die("exactly one of --record-size, --payload-file or --payload-monotonic");
    }
    if a.record_size == Some(0) {
        die("--record-size should be greater than zero.");
    }
    match a.key_dist {
        KeyDist::None if a.key_range != 0 => die(
            "--key-distribution must be 'range' or 'random' when --record-key-range is specified.",
        ),
        KeyDist::Range | KeyDist::Random if a.key_range <= 0 => {
            die("--record-key-range is required when --key-distribution is 'range' or 'random'.")
        }
        _ => {}
    }
    if a.threads == 0 {
        die("--threads must be at least 1");
    }
    a.warmup_records = a.warmup_records.max(0);
    if a.warmup_records >= a.num_records {
        die("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.");
    }
    if a.warmup_records > 0 && a.threads > 1 {
        die("--warmup-records works with --threads 1 only");
    }
    if a.reporting_interval <= 0 {
        die("--reporting-interval should be greater than zero.");
    }
    a
}

/// A Java producer property as librdkafka properties (name, value). librdkafka accepts many Java
/// names as aliases; the ones that differ are translated here.
fn map_property(k: &str, v: &str) -> Vec<(String, String)> {
    let one = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    match k {
        // Same name and meaning in librdkafka (some are aliases there).
        "bootstrap.servers"
        | "client.id"
        | "acks"
        | "linger.ms"
        | "enable.idempotence"
        | "max.in.flight.requests.per.connection"
        | "retries"
        | "retry.backoff.ms"
        | "retry.backoff.max.ms"
        | "request.timeout.ms"
        | "delivery.timeout.ms"
        | "reconnect.backoff.ms"
        | "reconnect.backoff.max.ms"
        | "transactional.id" => one(k, v),
        // librdkafka >= 1.5: batch.size is bytes per MessageSet, as in Java. Its second bound,
        // batch.num.messages (default 10000), is raised out of the way so bytes decide.
        "batch.size" => vec![
            ("batch.size".into(), v.into()),
            ("batch.num.messages".into(), "1000000".into()),
        ],
        "compression.type" => one("compression.codec", v),
        // Java bounds the buffered bytes only; librdkafka bounds bytes (in KiB) and message
        // count (default 100000), which is lifted so that bytes are the bound here too.
        "buffer.memory" => {
            let bytes: u64 = v
                .parse()
                .unwrap_or_else(|_| die(format!("{k}: not a number")));
            vec![
                (
                    "queue.buffering.max.kbytes".into(),
                    bytes.div_ceil(1024).to_string(),
                ),
                ("queue.buffering.max.messages".into(), "2147483647".into()),
            ]
        }
        "max.request.size" => one("message.max.bytes", v),
        // TLS. librdkafka takes lower-case protocol names and reads a trust store from a PEM
        // file (ssl.ca.location) only: Java's PEM trust store maps to it, other types do not.
        "security.protocol" => one(k, &v.to_ascii_lowercase()),
        "ssl.truststore.type" => match v.to_ascii_uppercase().as_str() {
            "PEM" => vec![],
            _ => die(format!(
                "ssl.truststore.type={v}: librdkafka reads PEM CA files only (ssl.ca.location)"
            )),
        },
        "ssl.truststore.location" => one("ssl.ca.location", v),
        // Same name and values ("https": check the broker's host name; "none").
        "ssl.endpoint.identification.algorithm" => one(k, if v.is_empty() { "none" } else { v }),
        "partitioner.class" => die("partitioner.class has no librdkafka mapping"),
        // Anything else is passed through as a librdkafka property (it rejects unknown names).
        _ => one(k, v),
    }
}

fn client_config(a: &Args, bootstrap: Option<&str>) -> ClientConfig {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    // Java's default partitioner: murmur2 of the key (the same partition as Java for keyed
    // records); keyless records are sticky (librdkafka's sticky.partitioning.linger.ms).
    props.insert("partitioner".into(), "murmur2_random".into());
    for (k, v) in &a.props {
        for (k2, v2) in map_property(k, v) {
            props.insert(k2, v2);
        }
    }
    if let Some(b) = bootstrap {
        props.insert("bootstrap.servers".into(), b.to_string());
    }
    if !props.contains_key("bootstrap.servers") {
        die("no bootstrap server: use --bootstrap-server, --mock-brokers or bootstrap.servers=...");
    }
    let mut c = ClientConfig::new();
    for (k, v) in &props {
        c.set(k, v);
    }
    if a.print_config {
        let desc: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("rdkafka-perf: {}", version_string());
        eprintln!("rdkafka-perf: librdkafka config: {}", desc.join(" "));
    }
    c
}

// OpenSSL's version string; librdkafka is built with --enable-ssl and links the system libssl.
extern "C" {
    fn OpenSSL_version(t: std::ffi::c_int) -> *const std::ffi::c_char;
}

fn version_string() -> String {
    let (_, v) = rdkafka::util::get_rdkafka_version();
    // SAFETY: OpenSSL_version(OPENSSL_VERSION = 0) returns a static NUL-terminated string.
    let ssl = unsafe { std::ffi::CStr::from_ptr(OpenSSL_version(0)) }.to_string_lossy();
    format!("rdkafka-perf (rdkafka crate 0.39.0, librdkafka {v}, bundled build, {ssl})")
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
    // --mock-brokers: an in-process mock cluster (kept alive until the end of the run).
    let mock = a.mock_brokers.map(|n| {
        let m = MockCluster::new(n).unwrap_or_else(|e| die(format!("mock cluster: {e}")));
        m.create_topic(&a.topic, 1, n.min(3))
            .unwrap_or_else(|e| die(format!("mock topic: {e}")));
        m
    });
    let mock_bootstrap = mock.as_ref().map(|m| m.bootstrap_servers());
    let config = client_config(&a, mock_bootstrap.as_deref().or(a.bootstrap.as_deref()));
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
    let clock = Clock(Instant::now());
    let context = PerfContext {
        clock,
        stats: Mutex::new((
            Stats::new(clock.now_ms(), a.num_records, a.reporting_interval, false),
            None,
        )),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
    };
    let producer: ThreadedProducer<PerfContext> = config
        .create_with_context(context)
        .unwrap_or_else(|e| die(format!("cannot create the producer: {e}")));

    let worker = |t: usize, from: i64, to: i64| {
        let mut random = SplittableRandom {
            seed: (a.random_seed + t as i64) as u64,
        };
        let mut throttler = Throttler::new(a.throughput / a.threads as f64, clock.now_ms());
        let mut buf = vec![0u8; a.record_size.unwrap_or(0)];
        let mut mono = String::new();
        let mut key = String::new();
        let mut in_steady = false;
        for i in from..to {
            let value: &[u8] = if !payloads.is_empty() {
                &payloads[random.next_int_bounded(payloads.len() as i32) as usize]
            } else if a.record_size.is_some() {
                for b in buf.iter_mut() {
                    *b = (random.next_int_bounded(26) + 65) as u8;
                }
                &buf
            } else {
                mono.clear();
                use std::fmt::Write;
                let _ = write!(mono, "{i}");
                mono.as_bytes()
            };
            let key: Option<&[u8]> = match a.key_dist {
                KeyDist::None => None,
                KeyDist::Range | KeyDist::Random => {
                    let k = if a.key_dist == KeyDist::Range {
                        i % i64::from(a.key_range)
                    } else {
                        i64::from(random.next_int_bounded(a.key_range))
                    };
                    key.clear();
                    use std::fmt::Write;
                    let _ = write!(key, "{k}");
                    Some(key.as_bytes())
                }
            };
            let send_start = clock.now_ms();
            if a.warmup_records > 0 && i == a.warmup_records {
                // As Java: the steady-state statistics start now, and only they print windows.
                let mut st = producer.context().stats.lock().unwrap();
                st.1 = Some(Stats::new(
                    clock.now_ms(),
                    a.num_records - a.warmup_records,
                    a.reporting_interval,
                    true,
                ));
                st.0.suppress_print = true;
                in_steady = true;
            }
            let opaque = (send_start as usize) << 1 | usize::from(in_steady);
            let mut record =
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(&a.topic, opaque).payload(value);
            if let Some(k) = key {
                record = record.key(k);
            }
            // librdkafka does not block when its queue is full (Java's send does): wait for
            // the I/O and poll threads to make room, then try again.
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_micros(500));
                    }
                    Err((e, _)) => die(format!("send failed after {i} records: {e}")),
                }
            }
            if throttler.should_throttle(i - from, send_start) {
                throttler.throttle();
            }
        }
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
    if let Err(e) = producer.flush(Duration::from_secs(300)) {
        eprintln!("rdkafka-perf: flush: {e}");
    }
    let ctx = producer.context();
    {
        let mut st = ctx.stats.lock().unwrap();
        let now = clock.now_ms();
        println!("{}", st.0.total_line(now));
        if let Some(steady) = st.1.as_mut() {
            println!("{}", steady.total_line(now));
        }
    }
    let failed = ctx.failed.load(Ordering::Relaxed);
    let first = ctx.first_error.lock().unwrap().clone();
    drop(producer);
    drop(mock);
    if failed > 0 {
        eprintln!(
            "rdkafka-perf: error: {failed} of {} records failed; the first error: {}",
            a.num_records,
            first.unwrap_or_default()
        );
        return 1;
    }
    0
}

// ---------------------------------------------------------------------------------------
// mock-cluster: librdkafka's mock cluster in its own process, behind a small TCP proxy.
//
// librdkafka's mock brokers (2.12.1) support ApiVersions v0-v2 only, and answer a v3/v4 request
// (which Java, Volley and franz-go send first on every connection) with an UNSUPPORTED_VERSION
// response that is neither in the v0 layout those clients then expect (KIP-511) nor a valid v3
// one, so they cannot connect. The proxy answers a connection's first request itself when it is
// ApiVersions v3 or later (from the version ranges the mock reports for v0), and copies all
// other bytes both ways unchanged. Each mock broker advertises its proxy's address, so every
// client (librdkafka too) reaches the mock through the proxy.

use rdkafka::bindings as rdsys;
use std::io::Read;
use std::net::{TcpListener, TcpStream};

/// The mock cluster, owned through the raw librdkafka API (the rdkafka crate's `MockCluster`
/// does not expose the pointer that `rd_kafka_mock_broker_set_host_port` needs).
struct RawMock {
    ptr: *mut rdsys::rd_kafka_mock_cluster_t,
    _handle: rdkafka::producer::BaseProducer,
}

unsafe impl Send for RawMock {}
unsafe impl Sync for RawMock {}

impl RawMock {
    fn new(brokers: i32) -> RawMock {
        use rdkafka::producer::Producer as _;
        let handle: rdkafka::producer::BaseProducer = ClientConfig::new()
            .create()
            .unwrap_or_else(|e| die(format!("mock cluster handle: {e}")));
        let ptr =
            unsafe { rdsys::rd_kafka_mock_cluster_new(handle.client().native_ptr(), brokers) };
        if ptr.is_null() {
            die("rd_kafka_mock_cluster_new failed");
        }
        RawMock {
            ptr,
            _handle: handle,
        }
    }

    /// The brokers' own listeners, "127.0.0.1:port" in broker id order (1, 2, ...).
    fn listeners(&self) -> Vec<String> {
        let s =
            unsafe { std::ffi::CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(self.ptr)) };
        s.to_string_lossy().split(',').map(str::to_string).collect()
    }

    fn create_topic(&self, topic: &str, partitions: i32, rf: i32) -> Result<(), String> {
        let t = std::ffi::CString::new(topic).map_err(|e| e.to_string())?;
        let err =
            unsafe { rdsys::rd_kafka_mock_topic_create(self.ptr, t.as_ptr(), partitions, rf) };
        if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(format!("{:?}", rdkafka::error::RDKafkaErrorCode::from(err)))
        }
    }

    fn advertise(&self, broker_id: i32, host: &str, port: u16) {
        let h = std::ffi::CString::new(host).unwrap();
        unsafe {
            rdsys::rd_kafka_mock_broker_set_host_port(
                self.ptr,
                broker_id,
                h.as_ptr(),
                i32::from(port),
            )
        };
    }
}

impl Drop for RawMock {
    fn drop(&mut self) {
        unsafe { rdsys::rd_kafka_mock_cluster_destroy(self.ptr) };
    }
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if !(0..=100 << 20).contains(&n) {
        return Err(std::io::Error::other(format!("bad frame length {n}")));
    }
    let mut frame = vec![0u8; n as usize];
    s.read_exact(&mut frame)?;
    Ok(frame)
}

/// (api key, min version, max version) of every API the mock broker at `addr` supports, from an
/// ApiVersions v0 request.
fn mock_api_versions(addr: &str) -> Vec<(i16, i16, i16)> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| die(format!("connect {addr}: {e}")));
    let client_id = b"mock-proxy";
    let mut req = Vec::new();
    req.extend_from_slice(&18i16.to_be_bytes());
    req.extend_from_slice(&0i16.to_be_bytes());
    req.extend_from_slice(&1i32.to_be_bytes());
    req.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    req.extend_from_slice(client_id);
    let mut msg = (req.len() as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&req);
    s.write_all(&msg)
        .unwrap_or_else(|e| die(format!("ApiVersions to {addr}: {e}")));
    let f = read_frame(&mut s).unwrap_or_else(|e| die(format!("ApiVersions from {addr}: {e}")));
    let i16_at = |o: usize| i16::from_be_bytes([f[o], f[o + 1]]);
    let n = i32::from_be_bytes([f[6], f[7], f[8], f[9]]) as usize;
    (0..n)
        .map(|k| 10 + 6 * k)
        .map(|o| (i16_at(o), i16_at(o + 2), i16_at(o + 4)))
        .collect()
}

/// An ApiVersions v3/v4 response (flexible body, header v0) with the given ranges.
fn api_versions_response(correlation_id: i32, apis: &[(i16, i16, i16)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes()); // error_code
    let mut n = apis.len() as u32 + 1; // compact array length: unsigned varint N+1
    while n >= 0x80 {
        b.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    for &(key, min, max) in apis {
        b.extend_from_slice(&key.to_be_bytes());
        b.extend_from_slice(&min.to_be_bytes());
        b.extend_from_slice(&max.to_be_bytes());
        b.push(0); // tagged fields
    }
    b.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
    b.push(0); // tagged fields
    let mut msg = (b.len() as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&b);
    msg
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
    let _ = from.shutdown(std::net::Shutdown::Read);
}

fn proxy_connection(
    mut client: TcpStream,
    upstream: String,
    apis: std::sync::Arc<Vec<(i16, i16, i16)>>,
) {
    let Ok(mut server) = TcpStream::connect(&upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The connection's first request.
    let Ok(first) = read_frame(&mut client) else {
        return;
    };
    if first.len() >= 8 {
        let key = i16::from_be_bytes([first[0], first[1]]);
        let version = i16::from_be_bytes([first[2], first[3]]);
        let correlation_id = i32::from_be_bytes([first[4], first[5], first[6], first[7]]);
        if key == 18 && version >= 3 {
            if client
                .write_all(&api_versions_response(correlation_id, &apis))
                .is_err()
            {
                return;
            }
        } else {
            let mut msg = (first.len() as i32).to_be_bytes().to_vec();
            msg.extend_from_slice(&first);
            if server.write_all(&msg).is_err() {
                return;
            }
        }
    }
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || pump(s2, c2));
    pump(client, server);
}

fn mock_cluster(argv: &[String]) -> i32 {
    let mut brokers = 1;
    let mut topics: Vec<(String, i32)> = Vec::new();
    let mut exit_on_eof = false;
    let mut proxy = true;
    let mut i = 0;
    while i < argv.len() {
        match argv[i].as_str() {
            "--brokers" => {
                i += 1;
                brokers = argv
                    .get(i)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| die("--brokers needs a number"));
            }
            "--topic" => {
                i += 1;
                let spec = argv
                    .get(i)
                    .unwrap_or_else(|| die("--topic needs NAME:PARTITIONS"));
                let (name, p) = spec.rsplit_once(':').unwrap_or((spec.as_str(), "1"));
                topics.push((
                    name.to_string(),
                    p.parse().unwrap_or_else(|_| die("bad partition count")),
                ));
            }
            "--exit-on-stdin-eof" => exit_on_eof = true,
            "--no-proxy" => proxy = false,
            other => die(format!("mock-cluster: unknown argument {other:?}\n{USAGE}")),
        }
        i += 1;
    }
    let mock = RawMock::new(brokers);
    let listeners = mock.listeners();
    let mut bootstrap = listeners.clone();
    if proxy {
        let mut apis = mock_api_versions(&listeners[0]);
        // The proxy answers ApiVersions v3 and v4 itself.
        for a in apis.iter_mut().filter(|a| a.0 == 18) {
            a.2 = a.2.max(4);
        }
        let apis = std::sync::Arc::new(apis);
        bootstrap.clear();
        for (k, upstream) in listeners.iter().enumerate() {
            let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| die(format!("bind: {e}")));
            let port = l.local_addr().unwrap().port();
            mock.advertise(k as i32 + 1, "127.0.0.1", port);
            bootstrap.push(format!("127.0.0.1:{port}"));
            let (upstream, apis) = (upstream.clone(), apis.clone());
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    let (u, a) = (upstream.clone(), apis.clone());
                    std::thread::spawn(move || proxy_connection(c, u, a));
                }
            });
        }
    }
    let rf = brokers.min(3);
    for (t, p) in &topics {
        mock.create_topic(t, *p, rf)
            .unwrap_or_else(|e| die(format!("create {t}: {e}")));
    }
    let bootstrap = bootstrap.join(",");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "bootstrap: {bootstrap}");
    let _ = out.flush();
    drop(out);
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            [] => continue,
            ["create", topic, partitions] => match partitions.parse::<i32>() {
                Ok(p) => match mock.create_topic(topic, p, rf) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error: {e}"),
                },
                Err(_) => "error: bad partition count".to_string(),
            },
            ["bootstrap"] => bootstrap.clone(),
            _ => "error: commands: create TOPIC PARTITIONS | bootstrap".to_string(),
        };
        println!("{reply}");
    }
    if exit_on_eof {
        return 0;
    }
    loop {
        std::thread::park();
    }
}

/// Prints librdkafka's log lines (through the `log` crate) to stderr, with the time since start.
struct StderrLogger(Instant);

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!(
            "{:>9.3} {} {}",
            self.0.elapsed().as_secs_f64(),
            r.level(),
            r.args()
        );
    }
    fn flush(&self) {}
}

fn main() {
    if std::env::var_os("RDKAFKA_PERF_LOG").is_some() {
        let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger(Instant::now())));
        let _ = log::set_logger(logger);
        log::set_max_level(log::LevelFilter::Trace);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match argv.first().map(String::as_str) {
        Some("mock-cluster") => mock_cluster(&argv[1..]),
        Some("--version") => {
            println!("{}", version_string());
            0
        }
        _ => perf(&argv),
    };
    std::process::exit(code);
}
