//! What the harness's Rust perf programs (`bench/rdkafka-perf`, `bench/krafka-perf`,
//! `bench/confluent-perf`) share: Kafka's `kafka-producer-perf-test`
//! (`org.apache.kafka.tools.ProducerPerformance` of Kafka 4.4) without the client. Its flags
//! ([`parse_args`]), its workload (payloads and keys drawn from the same `SplittableRandom`
//! sequence, [`Records`]), `--payload-file` ([`read_payloads`]), its statistics and printed lines
//! ([`Stats`], [`Shared`]) and its `ThroughputThrottler` ([`Throttler`]). Each program keeps the
//! client-specific part: mapping the properties, building the producer, sending, and the
//! delivery hook, which calls [`Shared::acknowledged`] or [`Shared::failed`].
//!
//! The messages start with the program's name: call [`set_program`] first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// Sets the program name that starts every message (`rdkafka-perf: error: ...`).
pub fn set_program(name: &'static str) {
    let _ = PROGRAM.set(name);
}

/// The program name given to [`set_program`].
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("perf")
}

/// Prints `<program>: error: <msg>` and exits with 1.
pub fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("{}: error: {msg}", program());
    std::process::exit(1);
}

// ---------------------------------------------------------------------------------------
// java.util.SplittableRandom: nextInt() and nextInt(bound), as Kafka's tool draws them.

pub struct SplittableRandom(u64);

impl SplittableRandom {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new(seed: i64) -> SplittableRandom {
        SplittableRandom(seed as u64)
    }

    /// `mix32(nextSeed())`.
    pub fn next_int(&mut self) -> i32 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
        z = (z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3);
        (z >> 32) as i32
    }

    /// `nextInt(bound)` for `bound > 0`: a mask for powers of two, else rejection sampling of
    /// the upper 31 bits (Java's loop, with its int overflow test).
    pub fn next_below(&mut self, bound: i32) -> i32 {
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
pub fn fixed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else {
        format!("{x:.decimals$}")
    }
}

// ---------------------------------------------------------------------------------------
// ProducerPerformance.Stats: totals, windows and sampled latencies.

/// Milliseconds since the program's clock started (Java's `System.currentTimeMillis()` in
/// differences only). Read twice per record, so it calls `clock_gettime(CLOCK_MONOTONIC)`
/// itself, as `volley perf` reads its clock: through `Instant::elapsed` and `as_millis` the same
/// read cost about 80 instructions more.
#[derive(Clone, Copy)]
pub struct Clock(i64);

/// CLOCK_MONOTONIC in nanoseconds.
fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC exists on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

impl Clock {
    pub fn start() -> Clock {
        Clock(monotonic_ns())
    }

    pub fn ms(&self) -> i64 {
        (monotonic_ns() - self.0) / 1_000_000
    }
}

pub struct Stats {
    steady: bool,
    /// Window lines are not printed (the whole-run stats once the steady state began).
    pub quiet: bool,
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
    pub fn new(now: i64, records: i64, interval: i64, steady: bool) -> Stats {
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

    pub fn record(&mut self, latency: i32, bytes: i64, now: i64, clock: Clock) {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += i64::from(latency);
        self.max_latency = self.max_latency.max(latency);
        self.window_count += 1;
        self.window_bytes += bytes;
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

    pub fn summary(&mut self, now: i64) -> String {
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
// What the sending threads and the delivery hook share.

pub struct Shared {
    pub clock: Clock,
    /// The statistics of all records, and (after --warmup-records) of the steady-state ones.
    stats: Mutex<(Stats, Option<Stats>)>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    /// The whole run's statistics start now on `clock`.
    pub fn new(clock: Clock, a: &Args) -> Shared {
        Shared {
            clock,
            stats: Mutex::new((
                Stats::new(clock.ms(), a.num_records, a.reporting_interval, false),
                None,
            )),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
        }
    }

    /// At --warmup-records (as Java): the steady-state statistics start at `now`, and only they
    /// print window lines from then on.
    pub fn start_steady_state(&self, now: i64, a: &Args) {
        let mut stats = self.stats.lock().unwrap();
        stats.1 = Some(Stats::new(
            now,
            a.num_records - a.warmup_records,
            a.reporting_interval,
            true,
        ));
        stats.0.quiet = true;
    }

    /// A record sent at `send_start` (ms on the clock) was acknowledged: its latency and its
    /// value's length go into the statistics (also the steady state's when `steady`).
    pub fn acknowledged(&self, send_start: i64, steady: bool, bytes: i64) {
        let now = self.clock.ms();
        let latency = (now - send_start) as i32;
        let mut stats = self.stats.lock().unwrap();
        stats.0.record(latency, bytes, now, self.clock);
        if steady {
            if let Some(s) = stats.1.as_mut() {
                s.record(latency, bytes, now, self.clock);
            }
        }
    }

    /// A record failed; the first failure is printed and kept (`error` is called for it only).
    pub fn failed(&self, error: impl FnOnce() -> String) {
        if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
            let text = error();
            eprintln!("{}: a record failed: {text}", program());
            *self.first_error.lock().unwrap() = Some(text);
        }
    }

    /// Prints the summary line (and the steady state's), as the tool does at the end.
    pub fn print_summary(&self) {
        let mut stats = self.stats.lock().unwrap();
        let now = self.clock.ms();
        println!("{}", stats.0.summary(now));
        if let Some(s) = stats.1.as_mut() {
            println!("{}", s.summary(now));
        }
    }

    /// The exit code: 0, or 1 after printing how many records failed.
    pub fn exit_code(&self, a: &Args) -> i32 {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed > 0 {
            eprintln!(
                "{}: error: {failed} of {} records failed; the first error: {}",
                program(),
                a.num_records,
                self.first_error.lock().unwrap().clone().unwrap_or_default()
            );
            return 1;
        }
        0
    }
}

// ---------------------------------------------------------------------------------------
// ThroughputThrottler (Kafka's): sleeps the sending thread once it is ahead of the target.

pub struct Throttler {
    start: i64,
    target: f64,
    ns_per_record: i64,
    deficit_ns: i64,
}

impl Throttler {
    /// Java's MIN_SLEEP_NS: shorter deficits are carried to the next record.
    const MIN_SLEEP_NS: i64 = 2_000_000;

    pub fn new(target: f64, start: i64) -> Throttler {
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

    pub fn should_throttle(&self, sent: i64, now: i64) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let seconds = (now - self.start) as f32 / 1000.0;
        seconds > 0.0 && sent as f64 / f64::from(seconds) > self.target
    }

    /// Adds a record's time to the deficit and, once it reaches MIN_SLEEP_NS, takes it (to be
    /// slept away with [`Throttler::next_sleep`]).
    pub fn take_deficit(&mut self) -> Option<Duration> {
        self.deficit_ns = self.deficit_ns.saturating_add(self.ns_per_record);
        if self.deficit_ns < Self::MIN_SLEEP_NS {
            return None;
        }
        let deficit = Duration::from_nanos(self.deficit_ns as u64);
        self.deficit_ns = 0;
        Some(deficit)
    }

    /// As Java: whole milliseconds (rounded up) of the `deficit` not yet slept since `began`;
    /// `None` once it has passed.
    pub fn next_sleep(deficit: Duration, began: Instant) -> Option<Duration> {
        let left = deficit
            .checked_sub(began.elapsed())
            .filter(|d| !d.is_zero())?;
        Some(Duration::from_millis(
            left.as_nanos().div_ceil(1_000_000) as u64
        ))
    }

    /// `ThroughputThrottler.throttle()`, sleeping this thread.
    pub fn throttle(&mut self) {
        if let Some(deficit) = self.take_deficit() {
            let began = Instant::now();
            while let Some(d) = Self::next_sleep(deficit, began) {
                std::thread::sleep(d);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Arguments.

#[derive(Clone, Copy, PartialEq)]
pub enum KeyDist {
    None,
    Range,
    Random,
}

pub struct Args {
    pub bootstrap: Option<String>,
    pub topic: String,
    pub num_records: i64,
    pub record_size: Option<usize>,
    pub payload_file: Option<String>,
    pub payload_delimiter: String,
    pub payload_monotonic: bool,
    pub throughput: f64,
    pub props: Vec<(String, String)>,
    pub reporting_interval: i64,
    pub key_range: i32,
    pub key_dist: KeyDist,
    pub random_seed: i64,
    pub warmup_records: i64,
    pub threads: usize,
    pub print_config: bool,
}

/// `text` as a number, or `<flag>: not a number: "<text>"` and exit.
pub fn number<T: std::str::FromStr>(text: &str, flag: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| die(format!("{flag}: not a number: {text:?}")))
}

/// The tool's flags and checks. `usage` is printed for `-h` / `--help` and after an unknown
/// argument; a flag in `extra_flags` (a program's own flag that takes a value) is handed to
/// `extra` with its value.
pub fn parse_args(
    argv: &[String],
    usage: &str,
    extra_flags: &[&str],
    mut extra: impl FnMut(&str, &str),
) -> Args {
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
        key_dist: KeyDist::None,
        random_seed: 0,
        warmup_records: 0,
        threads: 1,
        print_config: false,
    };
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
                println!("{usage}");
                std::process::exit(0);
            }
            "--bootstrap-server" => a.bootstrap = Some(value()),
            "--topic" => a.topic = value(),
            "--num-records" => a.num_records = number(&value(), flag),
            "--record-size" => a.record_size = Some(number(&value(), flag)),
            "--payload-file" => a.payload_file = Some(value()),
            "--payload-delimiter" => {
                let d = value();
                a.payload_delimiter = if d == "\\n" { "\n".to_string() } else { d };
            }
            "--payload-monotonic" => a.payload_monotonic = true,
            "--throughput" => a.throughput = number(&value(), flag),
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
            "--reporting-interval" => a.reporting_interval = number(&value(), flag),
            "--record-key-range" => a.key_range = number(&value(), flag),
            "--key-distribution" => {
                a.key_dist = match value().as_str() {
                    "none" => KeyDist::None,
                    "range" => KeyDist::Range,
                    "random" => KeyDist::Random,
                    other => die(format!(
                        "--key-distribution: none, range or random, not {other:?}"
                    )),
                }
            }
            "--random-seed" => a.random_seed = number(&value(), flag),
            "--warmup-records" => a.warmup_records = number(&value(), flag),
            "--threads" => a.threads = number(&value(), flag),
            "--print-config" => a.print_config = true,
            f if extra_flags.contains(&f) => extra(f, &value()),
            other => die(format!("unknown argument {other:?}\n{usage}")),
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

// ---------------------------------------------------------------------------------------
// The workload.

/// The tool's `--payload-file` (an empty `Vec` without one): the file split at the delimiter,
/// empty ends dropped.
pub fn read_payloads(a: &Args) -> Vec<Vec<u8>> {
    let Some(path) = &a.payload_file else {
        return Vec::new();
    };
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.into());
    println!("Reading payloads from: {}", abs.display());
    let text = match std::fs::read(path) {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => die("File does not exist or empty file provided."),
    };
    let mut tokens: Vec<&str> = text.split(a.payload_delimiter.as_str()).collect();
    if tokens.first() == Some(&"") {
        tokens.remove(0);
    }
    if tokens.last() == Some(&"") {
        tokens.pop();
    }
    println!("Number of records read: {}", tokens.len());
    if tokens.is_empty() {
        die("No payload file, record size or payload-monotonic option provided.");
    }
    tokens.into_iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// A record's value: one of the payload file's (`P`: the program's payload type), or bytes
/// made for this record.
pub enum Value<'s, P> {
    Payload(&'s P),
    Bytes(&'s [u8]),
}

/// One sending thread's records: the tool's payload and key choice, from a `SplittableRandom`
/// seeded with `--random-seed` plus the thread's number.
pub struct Records<'a, P> {
    args: &'a Args,
    payloads: &'a [P],
    random: SplittableRandom,
    generated: Vec<u8>,
    monotonic: String,
    key: String,
}

impl<'a, P> Records<'a, P> {
    pub fn new(args: &'a Args, payloads: &'a [P], thread: usize) -> Records<'a, P> {
        Records {
            args,
            payloads,
            random: SplittableRandom::new(args.random_seed + thread as i64),
            generated: vec![0u8; args.record_size.unwrap_or(0)],
            monotonic: String::new(),
            key: String::new(),
        }
    }

    /// Record `i`'s value and key (the value drawn first, as the tool does).
    pub fn next(&mut self, i: i64) -> (Value<'_, P>, Option<&[u8]>) {
        use std::fmt::Write;
        let a = self.args;
        let value = if !self.payloads.is_empty() {
            let n = self.random.next_below(self.payloads.len() as i32);
            Value::Payload(&self.payloads[n as usize])
        } else if a.record_size.is_some() {
            for b in self.generated.iter_mut() {
                *b = (self.random.next_below(26) + 65) as u8;
            }
            Value::Bytes(&self.generated)
        } else {
            self.monotonic.clear();
            let _ = write!(self.monotonic, "{i}");
            Value::Bytes(self.monotonic.as_bytes())
        };
        let key = match a.key_dist {
            KeyDist::None => None,
            KeyDist::Range | KeyDist::Random => {
                let k = match a.key_dist {
                    KeyDist::Range => i % i64::from(a.key_range),
                    _ => i64::from(self.random.next_below(a.key_range)),
                };
                self.key.clear();
                let _ = write!(self.key, "{k}");
                Some(self.key.as_bytes())
            }
        };
        (value, key)
    }
}

/// Runs `worker(t, from, to)` on `--threads` threads and waits for them: thread `t` sends
/// records `from..to`, a contiguous share (thread 0 also takes the remainder).
pub fn run_threads(a: &Args, worker: impl Fn(usize, i64, i64) + Sync) {
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
}
