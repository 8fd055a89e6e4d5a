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
use std::time::{Duration, Instant};

use confluent_kafka::common::Error as KafkaError;
use confluent_kafka::common::serialization::ByteArraySerializer;
use confluent_kafka::producer::{
    Callback, KafkaProducer, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
use perf_common::{Args, Clock, Records, Shared, Throttler, Value};
use perf_common::{die, parse_args, read_payloads, run_threads};

const VERSIONS: &str = env!("CONFLUENT_PERF_VERSIONS");

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

const USAGE: &str = "usage: confluent-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput R --bootstrap-server HOST:PORT
       [--producer-props k=v ... | --command-property k=v ...] [--payload-delimiter D]
       [--reporting-interval MS] [--record-key-range K --key-distribution none|range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       confluent-perf --version
Kafka's kafka-producer-perf-test on Confluent's Rust client (confluent-kafka crate), which takes
Java's producer property names; --threads N: N threads sharing one producer.";

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

// ---------------------------------------------------------------------------------------

fn perf(argv: &[String]) -> i32 {
    let a = parse_args(argv, USAGE, &[], |_, _| {});
    let props = producer_properties(&a);
    let payloads = read_payloads(&a);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(format!("tokio runtime: {e}")));
    let handle = runtime.handle().clone();
    let clock = Clock::start();
    // What the completion callbacks share (leaked: it lives as long as the process).
    let shared: &'static Shared = Box::leak(Box::new(Shared::new(clock, &a)));
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
    run_threads(&a, |t, from, to| {
        let mut records = Records::new(&a, &payloads, t);
        let mut throttler = Throttler::new(a.throughput / a.threads as f64, clock.ms());
        let mut steady = false;
        handle.block_on(async {
            for i in from..to {
                let (value, record_key) = records.next(i);
                let value: &[u8] = match value {
                    Value::Payload(p) => p,
                    Value::Bytes(b) => b,
                };
                let send_start = clock.ms();
                if a.warmup_records > 0 && i == a.warmup_records {
                    shared.start_steady_state(clock.ms(), &a);
                    steady = true;
                }
                let bytes = value.len() as i64;
                let in_steady = steady;
                // The per-record completion, on the producer's sender task (Java's
                // `PerfCallback`).
                let callback: Box<dyn Callback> = Box::new(
                    move |_: Option<&RecordMetadata>, error: Option<&KafkaError>| match error {
                        Some(e) => shared.failed(|| chain(e)),
                        None => shared.acknowledged(send_start, in_steady, bytes),
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
    });
    if let Err(e) = handle.block_on(Producer::flush(&producer)) {
        eprintln!("confluent-perf: flush: {e}");
    }
    shared.print_summary();
    if let Err(e) = handle.block_on(Producer::close_with_timeout(
        &producer,
        Duration::from_secs(30),
    )) {
        eprintln!("confluent-perf: close: {e}");
    }
    shared.exit_code(&a)
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
    perf_common::set_program("confluent-perf");
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
