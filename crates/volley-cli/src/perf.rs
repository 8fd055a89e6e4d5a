//! `volley perf`: Kafka's `kafka-producer-perf-test` (`org.apache.kafka.tools.ProducerPerformance`
//! of Kafka 4.4) on the Volley producer: the same options, the same workload (payloads and keys
//! from the same `SplittableRandom` sequence), the same throttling and the same output lines.
//! One addition: `--threads N`, N sending threads sharing the producer (see [`send_loop`]).
//!
//! The tool's own work per record is kept small, since its CPU time counts as the client's in
//! benchmarks: one wall-clock read at send (the latency's start and the record's timestamp) and
//! one in the callback, a 16-byte callback, letters for `--record-size` computed several at a
//! time (the same letters as Java's), and no division or extra atomic in the statistics.
//!
//! Java source references are to `tools/src/main/java/org/apache/kafka/tools/ProducerPerformance.java`
//! and `server-common/src/main/java/org/apache/kafka/server/util/ThroughputThrottler.java` of
//! Kafka 4.4.0 (line numbers from the class files' line tables).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Args, ValueEnum};
use volley::{Error, Metrics, Payload, Producer, Record, RecordMetadata};

use crate::common::{build_config, print_error, read_properties_file, ConfigSources};
use crate::java::{self, LetterKernel, SplittableRandom};

#[derive(Args, Debug)]
#[command(
    about = "Measure producer throughput and latency, like kafka-producer-perf-test",
    long_about = "Measure producer throughput and latency: Kafka's kafka-producer-perf-test \
                  (ProducerPerformance of Kafka 4.4) on the Volley producer, with the same options, \
                  the same workload and the same output lines.\n\n\
                  Every --reporting-interval ms a line like\n  \
                  5000 records sent, 1000.0 records/sec (0.10 MB/sec), 2.1 ms avg latency, 9.0 ms max latency.\n\
                  is printed, and at the end the summary\n  \
                  500000 records sent, 99990.001998 records/sec (9.54 MB/sec), 2.83 ms avg latency, 150.00 ms max \
                  latency, 2 ms 50th, 7 ms 95th, 16 ms 99th, 140 ms 99.9th.\n\
                  Latency is measured from just before send to the record's acknowledgement; the \
                  percentiles come from (at most 500,000) sampled latencies. Failed records are not \
                  counted; the first failure is printed and the exit code is then 1.\n\n\
                  With --threads N (an addition to Kafka's tool), N threads share the producer and \
                  the records: thread i sends records i, i+N, i+2N, ... with its own random \
                  sequence (--random-seed + i) and 1/N of --throughput; the statistics and the \
                  lines are those of all the records together.\n\n\
                  Transactions: with --transactional-id, --transaction-duration-ms or a \
                  transactional.id in the producer config, the records are sent in transactions as \
                  Kafka's tool sends them: the producer is initialized with init_transactions, a \
                  transaction begins before the first record, is committed after the first record \
                  sent once --transaction-duration-ms (default 3000) has passed since it began, and \
                  the last one is committed at the end. --transactional-id wins over a \
                  transactional.id in the config; with neither, the id is performance-producer- \
                  and a random id. Transactions cannot be combined with --threads.",
    after_help = "Example:\n  volley perf --bootstrap-server localhost:9092 --topic perf --num-records 500000 \\\n      \
                  --record-size 100 --throughput -1 --producer-props acks=1 linger.ms=5",
    group(ArgGroup::new("payload").required(true).args(["record_size", "payload_file", "payload_monotonic"]))
)]
pub struct PerfArgs {
    /// The server(s) to connect to. Takes precedence over bootstrap.servers given with
    /// --command-property or --command-config.
    #[arg(long = "bootstrap-server", value_name = "BOOTSTRAP-SERVER")]
    pub bootstrap_server: Option<String>,

    /// Produce records to this topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,

    /// Number of records to produce.
    #[arg(
        long = "num-records",
        value_name = "NUM-RECORDS",
        allow_negative_numbers = true
    )]
    pub num_records: i64,

    /// Record size in bytes: a payload of random uppercase letters, drawn anew for each record
    /// as Java does. Exactly one of --record-size, --payload-file or --payload-monotonic.
    #[arg(
        long = "record-size",
        value_name = "RECORD-SIZE",
        allow_negative_numbers = true
    )]
    pub record_size: Option<i32>,

    /// File to read the record payloads from (UTF-8 text), split at --payload-delimiter; each
    /// record gets one of them chosen at random.
    #[arg(long = "payload-file", value_name = "PAYLOAD-FILE")]
    pub payload_file: Option<PathBuf>,

    /// Payload is a monotonically increasing integer (0, 1, 2, ...).
    #[arg(long = "payload-monotonic")]
    pub payload_monotonic: bool,

    /// Delimiter between the payloads of --payload-file: a regular expression, as in Java. The
    /// default, \n, is a newline.
    #[arg(
        long = "payload-delimiter",
        value_name = "PAYLOAD-DELIMITER",
        default_value = "\\n"
    )]
    pub payload_delimiter: String,

    /// Throttle maximum record throughput to *approximately* THROUGHPUT records/sec. Set this
    /// to -1 to disable throttling.
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    pub throughput: f64,

    /// (Deprecated in Kafka; use --command-property) Producer configuration properties.
    #[arg(long = "producer-props", value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    pub producer_props: Option<Vec<String>>,

    /// Producer configuration properties with their Java names, e.g. --command-property
    /// linger.ms=10 batch.size=32768. They take precedence over --command-config.
    #[arg(long = "command-property", value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    pub command_property: Option<Vec<String>>,

    /// (Deprecated in Kafka; use --command-config) Producer config properties file.
    #[arg(long = "producer.config", value_name = "CONFIG-FILE")]
    pub producer_config: Option<PathBuf>,

    /// Producer config properties file.
    #[arg(long = "command-config", value_name = "CONFIG-FILE")]
    pub command_config: Option<PathBuf>,

    /// Print the producer's metrics at the end of the test, in Kafka's format: Java's metrics,
    /// and sorted among them six counters of Volley's own that Java lacks (producer-metrics:
    /// batch-send-total, produce-request-total, metadata-update-total, leader-hint-total,
    /// batch-uncompressed-byte-total, batch-compressed-byte-total).
    #[arg(long = "print-metrics")]
    pub print_metrics: bool,

    /// The transactional id to use (turns transactions on). Takes precedence over a
    /// transactional.id given with --command-property or --command-config; without any, but
    /// with --transaction-duration-ms, it is performance-producer- followed by a random id.
    #[arg(long = "transactional-id", value_name = "TRANSACTIONAL-ID")]
    pub transactional_id: Option<String>,

    /// The maximum duration of each transaction (turns transactions on): the transaction is
    /// committed after the first record sent once this many milliseconds have passed since it
    /// began. Must be greater than 0; 3000 when transactions are on and it is not given.
    #[arg(
        long = "transaction-duration-ms",
        value_name = "TRANSACTION-DURATION",
        allow_negative_numbers = true
    )]
    pub transaction_duration_ms: Option<i64>,

    /// Records to treat as warmup: they are left out of the steady-state statistics, which get
    /// an additional summary line.
    #[arg(
        long = "warmup-records",
        value_name = "WARMUP-RECORDS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub warmup_records: i64,

    /// Interval in milliseconds at which to print progress info.
    #[arg(
        long = "reporting-interval",
        value_name = "INTERVAL-MS",
        default_value_t = 5000,
        allow_negative_numbers = true
    )]
    pub reporting_interval: i64,

    /// Keys are integers in [0, KEY-RANGE) with --key-distribution range or random.
    #[arg(
        long = "record-key-range",
        value_name = "KEY-RANGE",
        allow_negative_numbers = true
    )]
    pub record_key_range: Option<i32>,

    /// none: null keys; range: round-robin keys in [0, KEY-RANGE); random: random keys in
    /// [0, KEY-RANGE).
    #[arg(long = "key-distribution", value_name = "KEY-DISTRIBUTION", value_enum, default_value_t = KeyDistribution::None)]
    pub key_distribution: KeyDistribution,

    /// Seed of the pseudo-random generator for random keys and payloads (Java's
    /// SplittableRandom: the same seed gives the same payloads and keys as Kafka's tool).
    #[arg(
        long = "random-seed",
        value_name = "RANDOM-SEED",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub random_seed: i64,

    /// Application threads sharing the producer (not in Kafka's tool): thread i sends records
    /// i, i+N, i+2N, ..., draws its payloads and random keys from its own sequence (seed
    /// --random-seed + i) and is throttled to --throughput / N.
    #[arg(
        long,
        value_name = "THREADS",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub threads: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyDistribution {
    None,
    Range,
    Random,
}

/// The checked settings (Java's `ConfigPostProcessor`).
struct Settings {
    topic: String,
    num_records: i64,
    warmup_records: i64,
    record_size: Option<i32>,
    payloads: Vec<Vec<u8>>,
    throughput: f64,
    reporting_interval: i64,
    key_distribution: KeyDistribution,
    record_key_range: i32,
    random_seed: i64,
    threads: i64,
    print_metrics: bool,
    /// With transactions: how long each one lasts at most (Java's `transactionDurationMs`).
    transaction_duration_ms: Option<i64>,
    config: volley::ProducerConfig,
}

/// Java's `prop.split("=")` with its trailing empty strings dropped must give exactly two
/// pieces (`ProducerPerformance.readProps`, lines 209-226).
fn java_prop(prop: &str) -> Result<(String, String), String> {
    let mut pieces: Vec<&str> = prop.split('=').collect();
    while pieces.last() == Some(&"") {
        pieces.pop();
    }
    match pieces.as_slice() {
        [k, v] => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("Invalid property: {prop}")),
    }
}

/// `readPayloadFile` (lines 230-250): a `Scanner` with the delimiter as a regular expression,
/// which skips one delimiter at the start of the input and yields no empty token at its end.
fn split_payloads(text: &str, delimiter: &str) -> Result<Vec<Vec<u8>>, String> {
    let re = regex::Regex::new(delimiter)
        .map_err(|e| format!("invalid --payload-delimiter {delimiter:?}: {e}"))?;
    let mut tokens: Vec<&str> = re.split(text).collect();
    if tokens.first() == Some(&"") {
        tokens.remove(0);
    }
    if tokens.last() == Some(&"") {
        tokens.pop();
    }
    Ok(tokens.into_iter().map(|t| t.as_bytes().to_vec()).collect())
}

fn read_payload_file(path: &Path, delimiter: &str) -> Result<Vec<Vec<u8>>, String> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    println!("Reading payloads from: {}", absolute.display());
    let bytes = match std::fs::read(path) {
        Ok(b) if !b.is_empty() => b,
        _ => return Err("File does not exist or empty file provided.".into()),
    };
    let payloads = split_payloads(&String::from_utf8_lossy(&bytes), delimiter)?;
    println!("Number of records read: {}", payloads.len());
    Ok(payloads)
}

fn check(args: PerfArgs) -> Result<Settings, String> {
    // The checks and messages of ConfigPostProcessor, in its order (lines 640-730).
    if args.num_records <= 0 {
        return Err("--num-records should be greater than zero.".into());
    }
    let warmup_records = args.warmup_records.max(0);
    if warmup_records >= args.num_records {
        return Err("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.".into());
    }
    if args.record_size.is_some_and(|s| s <= 0) {
        return Err("--record-size should be greater than zero.".into());
    }
    if args.bootstrap_server.is_none()
        && args.command_property.is_none()
        && args.producer_props.is_none()
        && args.producer_config.is_none()
        && args.command_config.is_none()
    {
        return Err("At least one of --bootstrap-server, --command-property, --producer-props, --producer.config or --command-config must be specified.".into());
    }
    if args.command_property.is_some() && args.producer_props.is_some() {
        return Err("--command-property and --producer-props cannot be specified together.".into());
    }
    if args.command_config.is_some() && args.producer_config.is_some() {
        return Err("--command-config and --producer.config cannot be specified together.".into());
    }
    if args.transaction_duration_ms.is_some_and(|d| d <= 0) {
        return Err("--transaction-duration-ms should be greater than zero.".into());
    }
    if args.reporting_interval <= 0 {
        return Err("--reporting-interval should be greater than zero.".into());
    }
    if args.threads <= 0 {
        return Err("--threads should be greater than zero.".into());
    }
    if args.record_key_range.is_some_and(|r| r <= 0) {
        return Err("--record-key-range should be greater than zero.".into());
    }
    if args.key_distribution != KeyDistribution::None && args.record_key_range.is_none() {
        return Err(
            "--record-key-range is required when --key-distribution is 'range' or 'random'.".into(),
        );
    }
    if args.key_distribution == KeyDistribution::None && args.record_key_range.is_some() {
        return Err(
            "--key-distribution must be 'range' or 'random' when --record-key-range is specified."
                .into(),
        );
    }
    // Java's ThroughputThrottler waits forever at 0 (after the first record); say so instead.
    if args.throughput == 0.0 || args.throughput.is_nan() {
        return Err("--throughput must not be 0 (Kafka's tool would block forever after the first record); use -1 for no throttling.".into());
    }
    let delimiter = if args.payload_delimiter == "\\n" {
        "\n"
    } else {
        args.payload_delimiter.as_str()
    };
    let payloads = match &args.payload_file {
        Some(path) => read_payload_file(path, delimiter)?,
        None => Vec::new(),
    };
    if payloads.is_empty() && args.record_size.is_none() && !args.payload_monotonic {
        // generateRandomPayload's IllegalArgumentException (line 203), e.g. for a file with
        // only delimiters in it.
        return Err("No payload file, record size or payload-monotonic option provided.".into());
    }
    let mut props_list = args.command_property;
    if args.producer_props.is_some() {
        println!("Option --producer-props has been deprecated and will be removed in a future version. Use --command-property instead.");
        props_list = args.producer_props;
    }
    let mut config_file = args.command_config;
    if args.producer_config.is_some() {
        println!("Option --producer.config has been deprecated and will be removed in a future version. Use --command-config instead.");
        config_file = args.producer_config;
    }
    let mut props = props_list
        .unwrap_or_default()
        .iter()
        .map(|p| java_prop(p))
        .collect::<Result<Vec<_>, _>>()?;
    // Transactions (ConfigPostProcessor, lines 709-717): on with --transactional-id,
    // --transaction-duration-ms or any transactional.id in the properties.
    let last_txn_id = |list: &[(String, String)]| {
        list.iter()
            .rev()
            .find(|(k, _)| k.trim() == "transactional.id")
            .map(|(_, v)| v.clone())
    };
    let configured_id = match last_txn_id(&props) {
        Some(id) => Some(id),
        None => match &config_file {
            Some(f) => last_txn_id(&read_properties_file(f, "producer config file")?),
            None => None,
        },
    };
    let transactions = args.transaction_duration_ms.is_some()
        || args.transactional_id.is_some()
        || configured_id.is_some();
    let transaction_duration_ms = if transactions {
        let id = args
            .transactional_id
            .or(configured_id)
            .unwrap_or_else(|| format!("performance-producer-{}", random_id()));
        if id.trim().is_empty() {
            return Err(
                "Invalid value for configuration transactional.id: String must be non-empty".into(),
            );
        }
        if args.threads > 1 {
            return Err("--threads cannot be combined with transactions (--transactional-id, --transaction-duration-ms or transactional.id): a transaction belongs to the whole producer.".into());
        }
        props.push(("transactional.id".to_string(), id));
        Some(args.transaction_duration_ms.unwrap_or(3000))
    } else {
        None
    };
    let config = build_config(ConfigSources {
        file: config_file.as_deref(),
        props,
        bootstrap: args.bootstrap_server.as_deref(),
        default_client_id: "perf-producer-client",
    })?;
    Ok(Settings {
        topic: args.topic,
        num_records: args.num_records,
        warmup_records,
        record_size: args.record_size,
        payloads,
        throughput: args.throughput,
        reporting_interval: args.reporting_interval,
        key_distribution: args.key_distribution,
        record_key_range: args.record_key_range.unwrap_or(1),
        random_seed: args.random_seed,
        threads: args.threads,
        print_metrics: args.print_metrics,
        transaction_duration_ms,
        config,
    })
}

/// A random id like Kafka's `Uuid.randomUuid().toString()`: 16 random bytes in URL-safe
/// base64 without padding (22 characters).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = Vec::with_capacity(16);
    for _ in 0..2 {
        // Each RandomState has fresh random keys.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        bytes.extend_from_slice(&h.finish().to_le_bytes());
    }
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// `System.currentTimeMillis()`: the wall clock in milliseconds since the epoch. Read once per
/// record at send (the latency's start and the record's timestamp) and once in its callback,
/// the way the producer reads it for a record's timestamp (`clock_gettime` straight, without
/// `SystemTime`'s 128-bit arithmetic).
#[inline]
fn now_ms() -> i64 {
    volley::bench_support::wall_clock_ms()
}

/// Java's `ProducerPerformance.Stats` (lines 475-590).
struct Stats {
    start: i64,
    latencies: Vec<i32>,
    sampling: i64,
    reporting_interval: i64,
    iteration: i64,
    /// `iteration % sampling`, kept as a counter (no division per record).
    since_sample: i64,
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
    is_steady_state: bool,
    suppress_print: bool,
}

impl Stats {
    fn new(num_records: i64, reporting_interval: i64, is_steady_state: bool) -> Stats {
        let now = now_ms();
        let sampling = num_records / num_records.min(500_000);
        Stats {
            start: now,
            latencies: vec![0; (num_records / sampling) as usize + 1],
            sampling,
            reporting_interval,
            iteration: 0,
            since_sample: 0,
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
            is_steady_state,
            suppress_print: false,
        }
    }

    #[inline]
    fn record(&mut self, latency: i32, bytes: i32, time: i64) {
        self.count += 1;
        self.bytes += i64::from(bytes);
        self.total_latency += i64::from(latency);
        self.max_latency = self.max_latency.max(latency);
        self.window_count += 1;
        self.window_bytes += i64::from(bytes);
        self.window_total_latency += i64::from(latency);
        self.window_max_latency = self.window_max_latency.max(latency);
        // iteration % sampling == 0
        if self.since_sample == 0 && self.index < self.latencies.len() {
            self.latencies[self.index] = latency;
            self.index += 1;
        }
        if time - self.window_start >= self.reporting_interval {
            self.end_window();
        }
        self.iteration += 1;
        self.since_sample += 1;
        if self.since_sample == self.sampling {
            self.since_sample = 0;
        }
    }

    #[cold]
    #[inline(never)]
    fn end_window(&mut self) {
        if self.is_steady_state && self.count == self.window_count {
            println!("In steady state.");
        }
        if !self.suppress_print {
            println!("{}", self.window_line(now_ms()));
        }
        self.new_window();
    }

    /// `printWindow`, line 543.
    fn window_line(&self, now: i64) -> String {
        let elapsed = (now - self.window_start) as f64;
        let recs_per_sec = 1000.0 * self.window_count as f64 / elapsed;
        let mb_per_sec = 1000.0 * self.window_bytes as f64 / elapsed / 1048576.0;
        format!(
            "{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency.",
            self.window_count,
            java::fixed(recs_per_sec, 1),
            java::fixed(mb_per_sec, 2),
            java::fixed(
                self.window_total_latency as f64 / self.window_count as f64,
                1
            ),
            java::fixed(f64::from(self.window_max_latency), 1),
        )
    }

    fn new_window(&mut self) {
        self.window_start = now_ms();
        self.window_count = 0;
        self.window_max_latency = 0;
        self.window_total_latency = 0;
        self.window_bytes = 0;
    }

    /// `printTotal`, line 564.
    fn total_line(&mut self, now: i64) -> String {
        let elapsed = (now - self.start) as f64;
        let recs_per_sec = 1000.0 * self.count as f64 / elapsed;
        let mb_per_sec = 1000.0 * self.bytes as f64 / elapsed / 1048576.0;
        let percs = percentiles(&mut self.latencies, self.index, &[0.5, 0.95, 0.99, 0.999]);
        format!(
            "{}{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            if self.is_steady_state { " steady state" } else { "" },
            java::fixed(recs_per_sec, 6),
            java::fixed(mb_per_sec, 2),
            java::fixed(self.total_latency as f64 / self.count as f64, 2),
            java::fixed(f64::from(self.max_latency), 2),
            percs[0],
            percs[1],
            percs[2],
            percs[3],
        )
    }
}

/// `Stats.percentiles` (lines 578-585): sorts the sampled latencies and picks
/// `latencies[(int) (p * size)]`.
fn percentiles(latencies: &mut [i32], count: usize, ps: &[f64]) -> Vec<i32> {
    let size = count.min(latencies.len());
    latencies[..size].sort_unstable();
    ps.iter()
        .map(|p| latencies[(p * size as f64) as usize])
        .collect()
}

/// Java's `ThroughputThrottler` (server-common, lines 48-127).
struct Throttler {
    start_ms: i64,
    sleep_time_ns: i64,
    target: f64,
    sleep_deficit_ns: i64,
}

const NS_PER_MS: i64 = 1_000_000;
const MIN_SLEEP_NS: i64 = 2 * NS_PER_MS;

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

    #[inline]
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
        let sleep_start = Instant::now();
        let mut remaining = self.sleep_deficit_ns;
        while remaining > 0 {
            // Object.wait(ms, ns) waits whole milliseconds, one more when ns > 0.
            let ms = remaining / NS_PER_MS + i64::from(remaining % NS_PER_MS > 0);
            std::thread::sleep(Duration::from_millis(ms as u64));
            let elapsed = sleep_start.elapsed().as_nanos().min(i64::MAX as u128) as i64;
            remaining = self.sleep_deficit_ns - elapsed;
        }
        self.sleep_deficit_ns = 0;
    }
}

/// The totals and the steady-state totals, updated from the producer's I/O thread.
struct AllStats {
    all: Stats,
    steady: Option<Stats>,
    /// Callbacks run so far.
    completed: u64,
}

/// What the callbacks and the sending threads share; leaked once per run so that a callback
/// captures one pointer (and its send time).
struct Shared {
    stats: Mutex<AllStats>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Set by a sending thread that stopped on an error, so that the others stop too.
    stop: AtomicBool,
    /// The error that stopped the sending, the first one if several threads stopped.
    stopped: Mutex<Option<String>>,
}

impl Shared {
    fn lock_stats(&self) -> std::sync::MutexGuard<'_, AllStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on_error(&self, e: &Error) {
        if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!("volley perf: a record failed: {e}");
            *self.first_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    }

    /// `PerfCallback.onCompletion` (lines 607-619), for a record sent at `send_start_ms` (its
    /// timestamp too); `STEADY` when it was sent after the warmup records. The record's size
    /// is its value's, as the metadata reports it (Java's `payload.length`).
    #[inline]
    fn on_completion<const STEADY: bool>(
        &self,
        result: Result<&RecordMetadata, &Error>,
        send_start_ms: i64,
    ) {
        match result {
            Ok(md) => {
                let now = now_ms();
                let latency = (now - send_start_ms) as i32;
                let bytes = md.serialized_value_size;
                let mut s = self.lock_stats();
                s.all.record(latency, bytes, now);
                if STEADY {
                    if let Some(steady) = s.steady.as_mut() {
                        steady.record(latency, bytes, now);
                    }
                }
                s.completed += 1;
            }
            Err(e) => {
                self.on_error(e);
                self.lock_stats().completed += 1;
            }
        }
    }

    /// Waits until `n` callbacks have run. Volley's `flush` returns once every batch is
    /// resolved, which can be just before the I/O thread has run that batch's callbacks (Java
    /// runs them first), so the totals printed after a flush could miss a few records.
    fn wait_for_callbacks(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.lock_stats().completed < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Stops every sending thread, keeping the first reason.
    fn stop_sending(&self, reason: String) {
        self.stop.store(true, Ordering::Relaxed);
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        if stopped.is_none() {
            *stopped = Some(reason);
        }
    }
}

/// The producer's delivery handler: every record is sent with `send_with_opaque`, its opaque
/// value packing the send time (ms, also its timestamp) and whether it was sent after the
/// warmup, so that a record costs no allocation (librdkafka's perf tool reports deliveries the
/// same way; Java's allocates a callback object per record).
struct Deliveries(&'static Shared);

fn pack_opaque(send_start_ms: i64, steady: bool) -> u64 {
    ((send_start_ms as u64) << 1) | u64::from(steady)
}

impl volley::DeliveryHandler for Deliveries {
    fn on_delivery(&self, result: Result<&RecordMetadata, &volley::DeliveryError>, opaque: u64) {
        let result = result.map_err(volley::DeliveryError::error);
        let send_start_ms = (opaque >> 1) as i64;
        if opaque & 1 == 1 {
            self.0.on_completion::<true>(result, send_start_ms)
        } else {
            self.0.on_completion::<false>(result, send_start_ms)
        }
    }
}

/// `Long.toString(v)` / `Integer.toString(v)` into `buf`, returning the digits.
fn decimal(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// The producer's metrics as Java's `ToolsUtils.printMetrics` prints them: sorted
/// `group:name:{tags}` names padded to one width, ` : `, the value with `%.3f`. Every metric of
/// [`Producer::metric_list`] (Java's names), then Volley's own counters that Java lacks.
fn metrics_table(producer: &Producer, client_id: &str) -> String {
    let m: Metrics = producer.metrics();
    let mut named: Vec<(String, String)> = producer
        .metric_list()
        .iter()
        .map(|e| (e.display_key(), java::fixed(e.value, 3)))
        .collect();
    let volley_only: [(&str, u64); 6] = [
        ("batch-send-total", m.batch_send_total),
        ("produce-request-total", m.request_total),
        ("metadata-update-total", m.metadata_update_total),
        ("leader-hint-total", m.leader_hint_total),
        ("batch-uncompressed-byte-total", m.uncompressed_bytes_total),
        ("batch-compressed-byte-total", m.compressed_bytes_total),
    ];
    for (name, v) in volley_only {
        named.push((
            format!("producer-metrics:{name}:{{client-id={client_id}}}"),
            java::fixed(v as f64, 3),
        ));
    }
    // Java's String-valued metrics print with %s.
    named.push((
        format!("app-info:version:{{client-id={client_id}}}"),
        format!("volley-{}", env!("CARGO_PKG_VERSION")),
    ));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let width = named.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = format!("\n{:<width$}   {}\n", "Metric Name", "Value");
    for (name, v) in named {
        out.push_str(&format!("{name:<width$} : {v}\n"));
    }
    out
}

pub fn run(args: PerfArgs) -> i32 {
    let settings = match check(args) {
        Ok(s) => s,
        Err(e) => {
            print_error("perf", e);
            return 1;
        }
    };
    let client_id = settings.config.client_id.clone();
    let shared: &'static Shared = Box::leak(Box::new(Shared {
        stats: Mutex::new(AllStats {
            all: Stats::new(settings.num_records, settings.reporting_interval, false),
            steady: None,
            completed: 0,
        }),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
        stop: AtomicBool::new(false),
        stopped: Mutex::new(None),
    }));
    let producer = match Producer::builder(settings.config.clone())
        .delivery_handler(Deliveries(shared))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            print_error("perf", format!("cannot create the producer: {e}"));
            return 1;
        }
    };
    if settings.transaction_duration_ms.is_some() {
        if let Err(e) = producer.init_transactions() {
            print_error("perf", format!("init_transactions failed: {e}"));
            let _ = producer.close();
            return 1;
        }
    }
    let code = run_loop(&settings, &producer, shared, &client_id);
    // Normally closed already; a no-op then.
    let _ = producer.close();
    code
}

/// What one sending thread did.
struct Sent {
    /// Records it got to (sent or failed alone) before the end or a stop.
    attempted: i64,
    /// Records the producer accepted (each gets a callback).
    accepted: u64,
}

/// The send loop of `ProducerPerformance.start` (lines 101-133) for thread `t` of
/// `s.threads`: records `t`, `t + threads`, ...; all of them with one thread.
fn send_loop(
    s: &Settings,
    producer: &Producer,
    shared: &'static Shared,
    t: i64,
    start_ms: i64,
) -> Sent {
    let threads = s.threads;
    let kernel = LetterKernel::detect();
    let mut payload: Vec<u8> = vec![0; s.record_size.unwrap_or(0) as usize];
    let mut random = SplittableRandom::new(s.random_seed.wrapping_add(t));
    let target = if s.throughput > 0.0 {
        s.throughput / threads as f64
    } else {
        s.throughput
    };
    let mut throttler = Throttler::new(target, start_ms);
    let mut mono_buf = [0u8; 20];
    let mut key_buf = [0u8; 20];
    let mut in_steady = false;
    let mut sent = Sent {
        attempted: 0,
        accepted: 0,
    };
    // Java's currentTransactionSize and transactionStartTime (one sending thread only).
    let mut transaction_size: u64 = 0;
    let mut transaction_start_ms: i64 = 0;
    let mut i = t;
    // `sent.attempted` is this thread's index of record i (Java's i with one thread).
    while i < s.num_records {
        if threads > 1 && shared.stop.load(Ordering::Relaxed) {
            break;
        }
        // generateRandomPayload (lines 195-205): a fresh random payload for every record.
        let value: &[u8] = if !s.payloads.is_empty() {
            &s.payloads[random.next_int_bounded(s.payloads.len() as i32) as usize]
        } else if s.record_size.is_some() {
            random.fill_uppercase(&mut payload, kernel);
            &payload
        } else {
            decimal(i, &mut mono_buf)
        };
        if s.transaction_duration_ms.is_some() && transaction_size == 0 {
            if let Err(e) = producer.begin_transaction() {
                shared.stop_sending(format!("begin_transaction failed: {e}"));
                break;
            }
            transaction_start_ms = now_ms();
        }
        // generateKey (lines 186-189).
        let key: Option<&[u8]> = match s.key_distribution {
            KeyDistribution::None => None,
            KeyDistribution::Range => {
                Some(decimal(i % i64::from(s.record_key_range), &mut key_buf))
            }
            KeyDistribution::Random => Some(decimal(
                i64::from(random.next_int_bounded(s.record_key_range)),
                &mut key_buf,
            )),
        };
        // The one clock read of the send: the latency's start and the record's timestamp
        // (which the producer would otherwise read the clock for).
        let send_start_ms = now_ms();
        if !in_steady && s.warmup_records > 0 && i >= s.warmup_records {
            // Java creates the steady-state stats at record `warmup_records`; with several
            // threads, whichever thread gets there first does.
            let mut st = shared.lock_stats();
            if st.steady.is_none() {
                st.steady = Some(Stats::new(
                    s.num_records - s.warmup_records,
                    s.reporting_interval,
                    true,
                ));
                st.all.suppress_print = true;
            }
            in_steady = true;
        }
        let record = Record {
            topic: Cow::Borrowed(s.topic.as_str()),
            partition: None,
            key: key.map(|k| Payload(Cow::Borrowed(k))),
            value: Some(Payload(Cow::Borrowed(value))),
            headers: Vec::new(),
            timestamp: Some(send_start_ms),
        };
        let result = producer.send_with_opaque(record, pack_opaque(send_start_ms, in_steady));
        match result {
            Ok(()) => sent.accepted += 1,
            // Only a too-large record fails alone; anything else (unknown topic, closed or
            // failed producer) fails every record after it, and each would block up to
            // max.block.ms: stop there.
            Err(e) if matches!(e.error(), Error::RecordTooLarge { .. }) => shared.on_error(&e),
            Err(e) => {
                shared.stop_sending(e.to_string());
                break;
            }
        }
        transaction_size += 1;
        if let Some(duration) = s.transaction_duration_ms {
            if duration <= send_start_ms - transaction_start_ms {
                transaction_size = 0;
                if !commit(producer, shared) {
                    break;
                }
            }
        }
        if throttler.should_throttle(sent.attempted, send_start_ms) {
            throttler.throttle();
        }
        sent.attempted += 1;
        i += threads;
    }
    if s.transaction_duration_ms.is_some() && transaction_size != 0 {
        if shared.stop.load(Ordering::Relaxed) {
            // Stopped on an error: do not leave the transaction open (it would hold back
            // read_committed consumers until transaction.timeout.ms).
            let _ = producer.abort_transaction();
        } else {
            commit(producer, shared);
        }
    }
    sent
}

/// Commits the open transaction (Java's `commitTransaction`). On failure stops the run and, if
/// the producer can still be used, aborts the transaction rather than leave it open.
fn commit(producer: &Producer, shared: &Shared) -> bool {
    match producer.commit_transaction() {
        Ok(()) => true,
        Err(e) => {
            let fatal = e.is_fatal();
            shared.stop_sending(format!("commit_transaction failed: {e}"));
            if !fatal {
                let _ = producer.abort_transaction();
            }
            false
        }
    }
}

fn run_loop(s: &Settings, producer: &Producer, shared: &'static Shared, client_id: &str) -> i32 {
    if s.warmup_records > 0 {
        println!(
            "Warmup first {} records. Steady state results will print after the complete test summary.",
            s.warmup_records
        );
    }
    let start_ms = now_ms();
    // Thread 0 is this one; threads 1.. share clones of the producer.
    let sent: Vec<Sent> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..s.threads)
            .map(|t| {
                let producer = producer.clone();
                std::thread::Builder::new()
                    .name(format!("perf-send-{t}"))
                    .spawn_scoped(scope, move || send_loop(s, &producer, shared, t, start_ms))
                    .expect("spawn a sending thread")
            })
            .collect();
        let mut sent = vec![send_loop(s, producer, shared, 0, start_ms)];
        sent.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("a sending thread panicked")),
        );
        sent
    });
    let accepted: u64 = sent.iter().map(|x| x.accepted).sum();
    let attempted: i64 = sent.iter().map(|x| x.attempted).sum();

    // As Java (start(), lines 134-158): without --print-metrics close, then print; with it flush,
    // print, print the metrics, close.
    if !s.print_metrics {
        if let Err(e) = producer.close() {
            print_error("perf", format!("close: {e}"));
        }
    } else {
        if let Err(e) = producer.flush() {
            print_error("perf", format!("flush: {e}"));
        }
        shared.wait_for_callbacks(accepted);
    }
    {
        let mut st = shared.lock_stats();
        let now = now_ms();
        println!("{}", st.all.total_line(now));
        if let Some(steady) = st.steady.as_mut() {
            println!("{}", steady.total_line(now));
        }
    }
    if s.print_metrics {
        print!("{}", metrics_table(producer, client_id));
        if let Err(e) = producer.close() {
            print_error("perf", format!("close: {e}"));
        }
    }
    let failed = shared.failed.load(Ordering::Relaxed);
    let mut code = 0;
    let stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(e) = stopped {
        print_error(
            "perf",
            format!("stopped after sending {attempted} records: {e}"),
        );
        code = 1;
    }
    if failed > 0 {
        let first = shared
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        print_error(
            "perf",
            format!(
                "{failed} of {} records failed; the first error: {first}",
                s.num_records
            ),
        );
        code = 1;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_props() {
        assert_eq!(java_prop("acks=1").unwrap(), ("acks".into(), "1".into()));
        assert_eq!(java_prop("a=b=").unwrap(), ("a".into(), "b".into()));
        assert!(java_prop("a=").is_err());
        assert!(java_prop("a=b=c").is_err());
        assert!(java_prop("a").is_err());
        assert_eq!(java_prop("a=b=c").unwrap_err(), "Invalid property: a=b=c");
    }

    #[test]
    fn random_ids_look_like_kafka_uuids() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 22, "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn payloads_split_like_java_scanner() {
        // Java: new Scanner(s).useDelimiter(d) tokens.
        let p = split_payloads("\n\na\n\nb\n\n\nc\n", "\n").unwrap();
        let s: Vec<&[u8]> = p.iter().map(|v| v.as_slice()).collect();
        assert_eq!(s, [&b""[..], b"a", b"", b"b", b"", b"", b"c"]);
        let p = split_payloads("a,,b,", ",").unwrap();
        assert_eq!(p, [b"a".to_vec(), b"".to_vec(), b"b".to_vec()]);
        let p = split_payloads("a||b|", "\\|+").unwrap();
        assert_eq!(p, [b"a".to_vec(), b"b".to_vec()]);
        assert!(split_payloads("\n", "\n").unwrap().is_empty());
    }

    #[test]
    fn decimal_like_java_to_string() {
        let mut b = [0u8; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(1234567, &mut b), b"1234567");
        assert_eq!(decimal(-42, &mut b), b"-42");
        assert_eq!(decimal(i64::MIN, &mut b), b"-9223372036854775808");
    }

    #[test]
    fn percentiles_pick_sorted_samples() {
        let mut l: Vec<i32> = (0..1000).rev().collect();
        l.push(0);
        assert_eq!(
            percentiles(&mut l, 1000, &[0.5, 0.95, 0.99, 0.999]),
            [500, 950, 990, 999]
        );
        let mut empty = vec![0];
        assert_eq!(percentiles(&mut empty, 0, &[0.5, 0.999]), [0, 0]);
    }

    #[test]
    fn stats_lines_have_java_format() {
        let mut s = Stats::new(10, 5000, false);
        for (lat, t) in [(1, 0), (2, 0), (4, 0)] {
            s.record(lat, 100, t);
        }
        // One second after the start, whatever the clock says.
        s.window_start = s.start;
        let now = s.start + 1000;
        assert_eq!(
            s.window_line(now),
            "3 records sent, 3.0 records/sec (0.00 MB/sec), 2.3 ms avg latency, 4.0 ms max latency."
        );
        assert_eq!(
            s.total_line(now),
            "3 records sent, 3.000000 records/sec (0.00 MB/sec), 2.33 ms avg latency, 4.00 ms max latency, 2 ms 50th, 4 ms 95th, 4 ms 99th, 4 ms 99.9th."
        );
        let mut empty = Stats::new(10, 5000, true);
        let now = empty.start + 1000;
        assert_eq!(
            empty.total_line(now),
            "0 steady state records sent, 0.000000 records/sec (0.00 MB/sec), NaN ms avg latency, 0.00 ms max latency, 0 ms 50th, 0 ms 95th, 0 ms 99th, 0 ms 99.9th."
        );
    }

    #[test]
    fn throttler_like_java() {
        let t = Throttler::new(-1.0, 0);
        assert!(!t.should_throttle(1_000_000, 1));
        let t = Throttler::new(1000.0, 0);
        assert!(!t.should_throttle(5, 0), "no time elapsed yet");
        assert!(t.should_throttle(1001, 1000));
        assert!(!t.should_throttle(999, 1000));
        let mut t = Throttler::new(1000.0, 0);
        let start = Instant::now();
        t.throttle(); // 1 ms deficit: below MIN_SLEEP_NS, no sleep
        assert_eq!(t.sleep_deficit_ns, 1_000_000);
        t.throttle(); // 2 ms: sleeps
        assert_eq!(t.sleep_deficit_ns, 0);
        assert!(start.elapsed() >= Duration::from_millis(2));
    }
}
