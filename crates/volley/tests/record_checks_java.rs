//! The checks the Java producer makes on a record before it is queued, compared with Kafka's
//! own classes from the test bed's kafka-clients jar (run as single-file Java programs):
//!
//! - the record size estimate (`AbstractRecords.estimateSizeInBytesUpperBound`, record batch
//!   v2) over a grid of key, value and header sizes, against Volley's
//!   `estimate_batch_size_upper_bound`;
//! - at the `max.request.size` and `buffer.memory` boundaries, Volley's `send` accepts exactly
//!   the records that Java's `KafkaProducer.send` accepts (both against the real broker);
//! - `ProducerRecord`'s refusal of negative timestamps and partitions, with Java's messages;
//! - a transactional producer refuses records outside a transaction.
//!
//! Needs Java 17+ and the real broker (`VOLLEY_BOOTSTRAP`, as `scripts/test` sets up); a test
//! fails, never skips, when either is missing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    block_on, bootstrap, create_topic, kafka, parse_consumed, run_java, unique_topic, Consumed,
};
use volley::protocol::record_batch::{estimate_batch_size_upper_bound, RecordHeader};
use volley::{Error, Header, Interceptor, Producer, ProducerConfig, Record};

/// Reads commands from `cases.txt`, one a line, and prints one `R ...` line for each (other
/// output, such as log lines, is ignored):
///
/// - `e KEY VALUE HEADERS`: `estimateSizeInBytesUpperBound` for magic v2 with compression none
///   and zstd. KEY and VALUE are lengths (-1: null); HEADERS is `-` or `hexkey:len,...`.
/// - `r PARTITION TIMESTAMP`: builds a `ProducerRecord` (`null` for none); `ok` or the error.
/// - `s BOOTSTRAP TOPIC MAX_REQUEST_SIZE BUFFER_MEMORY KEY VALUE HEADERS`: sends such a record
///   with a `KafkaProducer` (one per distinct configuration) and waits for it: `ok` or the error.
const CHECKS_JAVA: &str = r#"
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Checks {
    static final Map<Integer, byte[]> BYTES = new HashMap<>();
    static final Map<String, KafkaProducer<byte[], byte[]>> PRODUCERS = new HashMap<>();

    static byte[] bytes(String len) {
        int n = Integer.parseInt(len);
        return n < 0 ? null : BYTES.computeIfAbsent(n, byte[]::new);
    }

    static Header[] headers(String spec) {
        if (spec.equals("-")) return new Header[0];
        List<Header> out = new ArrayList<>();
        for (String h : spec.split(",")) {
            String[] kv = h.split(":", -1);
            String key = new String(HexFormat.of().parseHex(kv[0]), StandardCharsets.UTF_8);
            out.add(new RecordHeader(key, bytes(kv[1])));
        }
        return out.toArray(new Header[0]);
    }

    static Class<?> recordClass(String name) throws ClassNotFoundException {
        try {
            return Class.forName("org.apache.kafka.common.record.internal." + name);
        } catch (ClassNotFoundException e) {
            return Class.forName("org.apache.kafka.common.record." + name);
        }
    }

    static String error(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    public static void main(String[] args) throws Exception {
        Class<?> compressionType = recordClass("CompressionType");
        Method estimate = recordClass("AbstractRecords").getMethod("estimateSizeInBytesUpperBound",
            byte.class, compressionType, byte[].class, byte[].class, Header[].class);
        byte magic = recordClass("RecordBatch").getField("CURRENT_MAGIC_VALUE").getByte(null);
        Object none = Enum.valueOf((Class) compressionType, "NONE");
        Object zstd = Enum.valueOf((Class) compressionType, "ZSTD");
        StringBuilder out = new StringBuilder();
        for (String line : Files.readAllLines(Path.of("cases.txt"))) {
            String[] f = line.split(" ");
            String result;
            switch (f[0]) {
                case "e" -> {
                    byte[] k = bytes(f[1]);
                    byte[] v = bytes(f[2]);
                    Header[] h = headers(f[3]);
                    result = estimate.invoke(null, magic, none, k, v, h) + " "
                        + estimate.invoke(null, magic, zstd, k, v, h);
                }
                case "r" -> {
                    Integer p = f[1].equals("null") ? null : Integer.valueOf(f[1]);
                    Long ts = f[2].equals("null") ? null : Long.valueOf(f[2]);
                    try {
                        new ProducerRecord<byte[], byte[]>("t", p, ts, null, null);
                        result = "ok";
                    } catch (IllegalArgumentException e) {
                        result = error(e);
                    }
                }
                case "s" -> {
                    String config = f[1] + " " + f[3] + " " + f[4];
                    KafkaProducer<byte[], byte[]> producer = PRODUCERS.computeIfAbsent(config, c -> {
                        Properties props = new Properties();
                        props.put("bootstrap.servers", f[1]);
                        props.put("max.request.size", f[3]);
                        props.put("buffer.memory", f[4]);
                        return new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
                    });
                    ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(f[2], null, null,
                        bytes(f[5]), bytes(f[6]), Arrays.asList(headers(f[7])));
                    try {
                        producer.send(record).get(60, TimeUnit.SECONDS);
                        result = "ok";
                    } catch (ExecutionException e) {
                        result = error(e.getCause());
                    }
                }
                default -> throw new IllegalArgumentException("bad line: " + line);
            }
            out.append("R ").append(result).append('\n');
        }
        for (KafkaProducer<byte[], byte[]> p : PRODUCERS.values()) p.close();
        System.out.print(out);
        System.out.flush();
    }
}
"#;

/// Runs [`CHECKS_JAVA`] over `cases` and returns its answer for each.
fn java(cases: &[String]) -> Vec<String> {
    let out = run_java(
        "Checks",
        CHECKS_JAVA,
        &[("cases.txt", &cases.join("\n"))],
        &[],
    );
    let answers: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("R "))
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), cases.len(), "one answer per case:\n{out}");
    answers
}

/// Every record of `topic` (read with `isolation`), once none has come for 5 s.
fn consume_all(topic: &str, isolation: &str) -> Vec<Consumed> {
    parse_consumed(&kafka(&[
        "consume",
        topic,
        "--timeout-ms",
        "5000",
        "--isolation",
        isolation,
    ]))
}

/// A record's shape: key and value lengths (`None` = null) and headers (key, value length).
#[derive(Clone, Debug)]
struct Shape {
    key: Option<usize>,
    value: Option<usize>,
    headers: Vec<(String, Option<usize>)>,
}

impl Shape {
    fn spec(&self) -> String {
        let len = |l: Option<usize>| l.map_or("-1".to_string(), |n| n.to_string());
        let headers = if self.headers.is_empty() {
            "-".to_string()
        } else {
            let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
            let items: Vec<String> = self
                .headers
                .iter()
                .map(|(k, v)| format!("{}:{}", hex(k), len(*v)))
                .collect();
            items.join(",")
        };
        format!("{} {} {headers}", len(self.key), len(self.value))
    }

    fn estimate(&self, zeros: &[u8]) -> usize {
        let headers: Vec<RecordHeader<'_>> = self
            .headers
            .iter()
            .map(|(k, v)| RecordHeader {
                key: k,
                value: v.map(|n| &zeros[..n]),
            })
            .collect();
        estimate_batch_size_upper_bound(self.key, self.value, &headers)
    }

    fn record<'a>(&self, topic: &'a str, zeros: &'a [u8]) -> Record<'a> {
        Record {
            key: self.key.map(|n| zeros[..n].into()),
            value: self.value.map(|n| zeros[..n].into()),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.clone().into(),
                    value: v.map(|n| zeros[..n].into()),
                })
                .collect(),
            ..Record::new(topic)
        }
    }
}

/// The header sets of the grid: none, one, several with null values, mixed (an empty key and
/// value, a multi-byte UTF-8 key), a large one, and 64 (the count takes two varint bytes).
fn header_sets() -> Vec<Vec<(String, Option<usize>)>> {
    let s = |k: &str, v| (k.to_string(), v);
    vec![
        vec![],
        vec![s("h", Some(1))],
        vec![s("a", None), s("bb", None), s("ccc", None)],
        vec![s("trace-id", Some(16)), s("", Some(0)), s("ключ", None)],
        vec![(format!("{:x>64}", ""), Some(8192))],
        (0..64).map(|i| (format!("{}", i % 10), None)).collect(),
    ]
}

const DEFAULT_MAX_REQUEST_SIZE: usize = 1_048_576;

#[test]
fn size_estimate_matches_java_for_a_grid_of_keys_values_and_headers() {
    // Null, then lengths on both sides of each varint length step (1, 2 and 3 bytes), then
    // lengths around the default max.request.size.
    let small = || std::iter::once(None).chain([0, 1, 63, 64, 8191, 8192].map(Some));
    let keys: Vec<Option<usize>> = small().chain([Some(1_048_575), Some(1_048_576)]).collect();
    let values: Vec<Option<usize>> = small()
        .chain([1_048_488, 1_048_489, 1_048_490, 1_048_491, 1_048_576].map(Some))
        .collect();
    let mut shapes = Vec::new();
    for headers in header_sets() {
        for &key in &keys {
            for &value in &values {
                shapes.push(Shape {
                    key,
                    value,
                    headers: headers.clone(),
                });
            }
        }
    }
    let cases: Vec<String> = shapes.iter().map(|s| format!("e {}", s.spec())).collect();
    let answers = java(&cases);
    let zeros = vec![0u8; 1 << 21];
    let mut mismatches = Vec::new();
    for (shape, answer) in shapes.iter().zip(&answers) {
        let ours = shape.estimate(&zeros);
        let expected = format!("{ours} {ours}");
        if *answer != expected {
            mismatches.push(format!("{shape:?}: ours {ours}, java {answer}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} estimates differ from Java's:\n{}",
        mismatches.len(),
        shapes.len(),
        mismatches.join("\n")
    );
    // The instance that started this: a null key, no headers, a 1,048,490-byte value.
    let instance = Shape {
        key: None,
        value: Some(1_048_490),
        headers: vec![],
    };
    assert_eq!(instance.estimate(&zeros), 1_048_577);
    println!(
        "record_checks_java: {} estimates equal Java's estimateSizeInBytesUpperBound",
        shapes.len()
    );
}

/// The largest value length whose record of `shape` Java's estimate puts within `limit`.
fn largest_value_within(shape: &Shape, limit: usize, zeros: &[u8]) -> usize {
    let with = |v| {
        Shape {
            value: Some(v),
            ..shape.clone()
        }
        .estimate(zeros)
    };
    let (mut lo, mut hi) = (0usize, limit);
    assert!(with(lo) <= limit && with(hi) > limit);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if with(mid) <= limit {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// What Volley's `send` did with a record: `ok` once delivered, or the error.
fn volley_outcome(p: &Producer, record: Record<'_>) -> Result<(), Error> {
    Ok(p.send(record)?.wait().map(drop)?)
}

#[test]
fn send_accepts_exactly_what_java_accepts_at_the_size_boundaries() {
    let topic = unique_topic("size-boundary");
    create_topic(&topic, 1, &[]);
    let bootstrap = bootstrap();
    let zeros = vec![0u8; 1 << 21];
    let key_shapes = [None, Some(0), Some(1), Some(64), Some(8192)];
    let mut shapes = Vec::new();
    for key in key_shapes {
        shapes.push((key, vec![]));
    }
    for headers in header_sets().into_iter().skip(1).take(3) {
        shapes.push((Some(63), headers));
    }
    // (max.request.size, buffer.memory): the default, and a buffer smaller than a request.
    let configs = [
        (
            DEFAULT_MAX_REQUEST_SIZE,
            33_554_432usize,
            "max.request.size",
        ),
        (DEFAULT_MAX_REQUEST_SIZE, 200_000, "buffer.memory"),
    ];
    let mut lines = Vec::new();
    for (max_request_size, buffer_memory, limit_key) in configs {
        let limit = max_request_size.min(buffer_memory);
        let mut records = Vec::new();
        for (key, headers) in &shapes {
            let base = Shape {
                key: *key,
                value: None,
                headers: headers.clone(),
            };
            let v = largest_value_within(&base, limit, &zeros);
            for value in [v, v + 1] {
                records.push(Shape {
                    value: Some(value),
                    ..base.clone()
                });
            }
        }
        let cases: Vec<String> = records
            .iter()
            .map(|s| {
                format!(
                    "s {bootstrap} {topic} {max_request_size} {buffer_memory} {}",
                    s.spec()
                )
            })
            .collect();
        let answers = java(&cases);

        let config = ProducerConfig::from_properties([
            ("bootstrap.servers", bootstrap.as_str()),
            ("max.request.size", &max_request_size.to_string()),
            ("buffer.memory", &buffer_memory.to_string()),
        ])
        .unwrap();
        let p = Producer::new(config).unwrap();
        for (i, (shape, java)) in records.iter().zip(&answers).enumerate() {
            let estimate = shape.estimate(&zeros);
            let at_boundary = i % 2 == 0;
            assert_eq!(at_boundary, estimate <= limit, "{shape:?}: {estimate}");
            let ours = volley_outcome(&p, shape.record(&topic, &zeros));
            match &ours {
                Ok(()) => assert_eq!(java, "ok", "{shape:?}: Volley accepted, Java did not"),
                Err(Error::RecordTooLarge {
                    size,
                    limit: l,
                    limit_key: k,
                }) => {
                    let expected = format!(
                        "RecordTooLargeException: The message is {size} bytes when serialized"
                    );
                    assert!(
                        java.starts_with(&expected) && java.contains(k),
                        "{shape:?}: Volley refused ({size} > {k} {l}), Java: {java}"
                    );
                    assert_eq!((*l, *k), (limit, limit_key));
                }
                Err(e) => panic!("{shape:?}: unexpected error {e}"),
            }
            assert_eq!(ours.is_ok(), at_boundary, "{shape:?}: {ours:?}");
            lines.push(format!(
                "{limit_key}={limit} key={:?} headers={} value={:?}: estimate {estimate}, \
                 volley {}, java {java}",
                shape.key,
                shape.headers.len(),
                shape.value,
                if ours.is_ok() { "ok" } else { "refused" }
            ));
        }
        p.close().unwrap();
    }
    println!("{}", lines.join("\n"));
}

/// Sets every record's timestamp to -1.
struct NegativeTimestamp(Arc<AtomicBool>);

impl Interceptor for NegativeTimestamp {
    fn on_send(
        &self,
        record: &mut Record<'_>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.0.load(Ordering::Relaxed) {
            record.timestamp = Some(-1);
        }
        Ok(())
    }
}

// Regression: a record with timestamp -5 was accepted and stored with CreateTime:-5. Java's
// ProducerRecord refuses negative timestamps and partitions at once; so does every send path,
// before metadata is waited for, with Java's own message.
#[test]
fn negative_timestamps_and_partitions_are_refused_at_once_with_javas_messages() {
    let cases = [
        (None, Some(-5i64)),
        (None, Some(-1)),
        (Some(-1i32), None),
        (Some(i32::MIN), None),
        (Some(-1), Some(-1)),
        (Some(0), Some(0)),
        (None, None),
    ];
    let opt = |v: Option<i64>| v.map_or("null".to_string(), |n| n.to_string());
    let lines: Vec<String> = cases
        .iter()
        .map(|(p, ts)| format!("r {} {}", opt(p.map(i64::from)), opt(*ts)))
        .collect();
    let answers = java(&lines);

    let topic = unique_topic("record-checks");
    create_topic(&topic, 1, &[]);
    let missing = unique_topic("record-checks-missing");
    let switch = Arc::new(AtomicBool::new(false));
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap().as_str()),
        ("max.block.ms", "20000"),
        ("allow.auto.create.topics", "false"),
    ])
    .unwrap();
    let p = Producer::builder(config)
        .interceptor(NegativeTimestamp(switch.clone()))
        .build()
        .unwrap();
    let record = |t: &str, (partition, timestamp): (Option<i32>, Option<i64>)| Record {
        partition,
        timestamp,
        ..Record::new(t.to_string()).value("v")
    };
    for (case, java) in cases.iter().zip(&answers) {
        if java == "ok" {
            continue;
        }
        let message = java
            .strip_prefix("IllegalArgumentException: ")
            .unwrap_or_else(|| panic!("{case:?}: Java said {java}"));
        // To an existing topic and to one that does not exist (no metadata wait), on every path.
        for t in [topic.as_str(), missing.as_str()] {
            let t0 = Instant::now();
            let results = [
                p.send(record(t, *case)).map(drop),
                p.send_with_callback(record(t, *case), |_| panic!("callback of a refused record")),
                block_on(p.send_async(record(t, *case))).map(drop),
            ]
            .map(|r| r.map_err(Error::from));
            for r in results {
                match r {
                    Err(Error::IllegalArgument(m)) => assert_eq!(m, message, "{case:?}"),
                    other => panic!("{case:?} to {t}: {other:?}"),
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{case:?}: not at once"
            );
        }
    }
    // An interceptor that makes the timestamp negative gets the record refused as well.
    switch.store(true, Ordering::Relaxed);
    match p.send(record(&topic, (None, Some(5)))).map_err(Error::from) {
        Err(Error::IllegalArgument(m)) => assert!(m.starts_with("Invalid timestamp: -1."), "{m}"),
        other => panic!("{other:?}"),
    }
    switch.store(false, Ordering::Relaxed);
    // Valid records still go, and nothing refused was stored.
    for case in [(Some(0), Some(0)), (None, None)] {
        p.send(record(&topic, case)).unwrap().wait().unwrap();
    }
    p.close().unwrap();
    let consumed = consume_all(&topic, "read_uncommitted");
    assert_eq!(consumed.len(), 2, "{consumed:?}");
    assert!(consumed.iter().all(|c| c.timestamp >= 0), "{consumed:?}");
}

// Java (TransactionManager.maybeAddPartition) refuses a transactional producer's records before
// initTransactions and outside a transaction with IllegalStateException; so does Volley.
#[test]
fn transactional_producer_refuses_records_outside_a_transaction() {
    let topic = unique_topic("txn-outside");
    create_topic(&topic, 1, &[]);
    let transactional_id = unique_topic("txn-outside-id");
    let p = Producer::from_properties([
        ("bootstrap.servers", bootstrap().as_str()),
        ("transactional.id", transactional_id.as_str()),
    ])
    .unwrap();
    let send = || {
        p.send(Record::new(topic.as_str()).value("v"))
            .map(drop)
            .map_err(Error::from)
    };
    let refused = |when: &str, r: Result<(), Error>| match r {
        Err(Error::IllegalState(_)) => {}
        other => panic!("send {when}: {other:?}"),
    };
    refused("before init_transactions", send());
    p.init_transactions().unwrap();
    refused("before begin_transaction", send());
    p.begin_transaction().unwrap();
    send().unwrap();
    p.commit_transaction().unwrap();
    refused("after commit_transaction", send());
    p.begin_transaction().unwrap();
    send().unwrap();
    p.abort_transaction().unwrap();
    refused("after abort_transaction", send());
    p.close().unwrap();
    assert_eq!(consume_all(&topic, "read_committed").len(), 1);
}
