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

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use krafka::auth::{AuthConfig, TlsConfig};
use krafka::producer::{Acks, Producer};
use krafka::{Compression, Kafka, Record};
use perf_common::{die, number, parse_args, read_payloads, run_threads, Args, Clock, Records};
use perf_common::{Shared, Throttler, Value};

const USAGE: &str = "usage: krafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput R [--bootstrap-server HOST:PORT]
       [--producer-props k=v ... | --command-property k=v ...] [--payload-delimiter D]
       [--reporting-interval MS] [--record-key-range K --key-distribution none|range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       krafka-perf --version
Kafka's kafka-producer-perf-test on the krafka crate; Java producer property names are mapped to
krafka's builder settings (--print-config prints the mapping). --threads N: N threads sharing one
producer, each sending a contiguous share of the records.";

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
    shared: Shared,
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
        match result {
            Ok(_) => self.shared.acknowledged(p.sent_ms, p.steady, p.bytes),
            Err(e) => self.shared.failed(|| e.to_string()),
        }
    }

    /// Thread `t` sends records `from..to` and awaits their acknowledgements in the same task.
    async fn thread(&self, t: usize, from: i64, to: i64) {
        let a = self.args;
        let clock = self.shared.clock;
        let (queued, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        let send = async move {
            let mut records = Records::new(a, self.payloads, t);
            let mut throttler = Throttler::new(a.throughput / a.threads as f64, clock.ms());
            let mut steady = false;
            for i in from..to {
                let (value, key) = records.next(i);
                let value = match value {
                    Value::Payload(p) => p.clone(),
                    Value::Bytes(b) => Bytes::copy_from_slice(b),
                };
                let key = key.map(Bytes::copy_from_slice);
                let sent_ms = clock.ms();
                if a.warmup_records > 0 && i == a.warmup_records {
                    self.shared.start_steady_state(sent_ms, a);
                    steady = true;
                }
                let bytes = value.len() as i64;
                let mut record = Record::new(a.topic.as_str(), value);
                if let Some(k) = key {
                    record = record.key(k);
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
                // The tool's throttle, sleeping with tokio's timer so that the acknowledgements
                // of the same thread are still taken while it sleeps.
                if throttler.should_throttle(i - from, sent_ms) {
                    if let Some(deficit) = throttler.take_deficit() {
                        let began = Instant::now();
                        while let Some(d) = Throttler::next_sleep(deficit, began) {
                            tokio::time::sleep(d).await;
                        }
                    }
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
    let args = parse_args(argv, USAGE, &[], |_, _| {});
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
    let payloads: Vec<Bytes> = read_payloads(&args).into_iter().map(Bytes::from).collect();
    // `#[tokio::main]`'s runtime: multi-thread, one worker per CPU this process may use.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(format!("tokio runtime: {e}")));
    let clock = Clock::start();
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
        shared: Shared::new(clock, &args),
    };
    run_threads(&args, |t, from, to| {
        runtime.block_on(run.thread(t, from, to))
    });
    runtime.block_on(async {
        if let Err(e) = producer.flush().await {
            eprintln!("krafka-perf: flush: {e}");
        }
    });
    run.shared.print_summary();
    runtime.block_on(async {
        if let Err(e) = producer.close().await {
            eprintln!("krafka-perf: close: {e}");
        }
    });
    run.shared.exit_code(&args)
}

fn main() {
    perf_common::set_program("krafka-perf");
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = if argv.first().map(String::as_str) == Some("--version") {
        println!("{}", version_string());
        0
    } else {
        perf(&argv)
    };
    std::process::exit(code);
}
