//! End-to-end tests of the `volley` binary against a real broker, checked with Kafka's own
//! console consumer. Run them through `scripts/test`, which starts the broker and exports
//! `VOLLEY_BOOTSTRAP` and `VOLLEY_KAFKA_SCRIPT`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const VOLLEY: &str = env!("CARGO_BIN_EXE_volley");

fn env_or_fail(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: these tests need a running Kafka broker; run them via scripts/test \
             (it starts one and exports VOLLEY_BOOTSTRAP and VOLLEY_KAFKA_SCRIPT)"
        ),
    }
}

fn bootstrap() -> String {
    env_or_fail("VOLLEY_BOOTSTRAP")
}

fn kafka_script() -> String {
    env_or_fail("VOLLEY_KAFKA_SCRIPT")
}

/// A topic name unique to this process and call.
fn unique_topic(name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "volley-cli-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn new_topic(name: &str, partitions: u32) -> String {
    let topic = unique_topic(name);
    let out = Command::new(kafka_script())
        .args([
            "create-topic",
            &topic,
            "--partitions",
            &partitions.to_string(),
        ])
        .output()
        .expect("run scripts/kafka create-topic");
    assert!(
        out.status.success(),
        "create-topic {topic} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    topic
}

/// Runs `volley ARGS` with `stdin` as its standard input.
fn volley(args: &[&str], stdin: &[u8]) -> Output {
    run_piped(VOLLEY, args, stdin)
}

/// Runs `program ARGS` with `stdin` as its standard input.
fn run_piped(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The process may exit before reading everything (e.g. on a parse error).
        let _ = input.write_all(&data);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {program}: {e}"));
    writer.join().unwrap();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The run failed with exit code 1 and `message` on stderr (`what` says which run it was).
fn assert_fails_with(out: &Output, message: &str, what: &str) {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(message),
        "{what}: expected {message:?} on stderr: {}",
        text(&out.stderr)
    );
}

/// One record as Kafka's console consumer prints it (see scripts/kafka).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Consumed {
    /// `CreateTime:<ms>`, `LogAppendTime:<ms>` or `NO_TIMESTAMP`.
    timestamp: String,
    partition: u32,
    headers: String,
    key: String,
    value: String,
}

/// The stdout of `scripts/kafka consume TOPIC --max-messages MAX --timeout-ms T EXTRA...`.
fn consumer_stdout(topic: &str, extra: &[&str], max: usize, timeout_ms: u32) -> String {
    let max = max.to_string();
    let timeout = timeout_ms.to_string();
    let mut args = vec![
        "consume",
        topic,
        "--max-messages",
        &max,
        "--timeout-ms",
        &timeout,
    ];
    args.extend_from_slice(extra);
    let out = Command::new(kafka_script())
        .args(&args)
        .output()
        .expect("run scripts/kafka consume");
    assert!(
        out.status.success(),
        "consume {topic} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Reads `topic` from the beginning with Kafka's console consumer, until `max` records or
/// `timeout_ms` without one.
fn consume_for(topic: &str, max: usize, timeout_ms: u32) -> Vec<Consumed> {
    consumer_stdout(topic, &[], max, timeout_ms)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 6, "unexpected consumer line {line:?}");
            Consumed {
                timestamp: f[0].to_string(),
                partition: f[1].strip_prefix("Partition:").unwrap().parse().unwrap(),
                headers: f[3].to_string(),
                key: f[4].to_string(),
                value: f[5].to_string(),
            }
        })
        .collect()
}

fn consume(topic: &str, max: usize) -> Vec<Consumed> {
    consume_for(topic, max, 15_000)
}

#[test]
fn produce_lines_with_keys_and_headers() {
    let bs = bootstrap();
    let topic = new_topic("keys", 3);
    let mut input = String::new();
    let mut expected = BTreeSet::new();
    for i in 0..1000 {
        // Every 100th line has an empty value; a few end in \r\n.
        let value = if i % 100 == 7 {
            String::new()
        } else {
            format!("value-{i}")
        };
        let eol = if i % 250 == 3 { "\r\n" } else { "\n" };
        input.push_str(&format!("key-{i}={value}{eol}"));
        expected.insert((format!("key-{i}"), value));
    }
    let out = volley(
        &[
            "produce",
            "--bootstrap-server",
            &bs,
            "--topic",
            &topic,
            "--key-separator",
            "=",
            "--header",
            "source=cli-test",
            "--producer-property",
            "linger.ms=20",
        ],
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "volley produce failed:\n{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("1000 records sent, 1000 acknowledged, 0 failed"),
        "stderr: {}",
        text(&out.stderr)
    );

    let records = consume(&topic, 1000);
    assert_eq!(records.len(), 1000);
    let mut got = BTreeSet::new();
    for r in &records {
        assert_eq!(r.headers, "source:cli-test", "{r:?}");
        got.insert((r.key.clone(), r.value.clone()));
    }
    assert_eq!(got, expected);
    // Keyed records: one key always lands on one partition, and more than one partition is used.
    let partitions: BTreeSet<u32> = records.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "all keys on one partition: {partitions:?}"
    );
}

#[test]
fn produce_sync_to_a_partition_without_keys() {
    let bs = bootstrap();
    let topic = new_topic("sync", 2);
    let out = volley(
        &[
            "produce",
            "--bootstrap-server",
            &bs,
            "--topic",
            &topic,
            "--partition",
            "1",
            "--sync",
        ],
        b"first\n\nthird",
    );
    assert!(
        out.status.success(),
        "volley produce failed:\n{}",
        text(&out.stderr)
    );
    let records = consume(&topic, 3);
    let values: Vec<&str> = records.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(values, ["first", "", "third"]);
    for r in &records {
        assert_eq!(
            (r.partition, r.key.as_str(), r.headers.as_str()),
            (1, "null", "NO_HEADERS")
        );
    }
}

#[test]
fn produce_line_without_separator_fails_naming_the_line() {
    let bs = bootstrap();
    let topic = new_topic("nosep", 1);
    let out = volley(
        &[
            "produce",
            "--bootstrap-server",
            &bs,
            "--topic",
            &topic,
            "--key-separator",
            ":",
        ],
        b"a:1\nb:2\nthis line has no separator\nd:4\n",
    );
    assert!(!out.status.success(), "expected failure");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("No key separator found on line number 3: 'this line has no separator'"),
        "stderr: {err}"
    );
    // The lines before it were sent; nothing after it was.
    let records = consume_for(&topic, 3, 4000);
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn produce_bad_producer_property_names_the_key() {
    let bs = bootstrap();
    let out = volley(
        &[
            "produce",
            "--bootstrap-server",
            &bs,
            "--topic",
            &unique_topic("badcfg"),
            "--producer-property",
            "linger.ms=abc",
        ],
        b"x\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("linger.ms"), "stderr: {err}");
    assert!(err.contains("abc"), "stderr: {err}");
}

/// Runs `volley perf ARGS`, asserts that it succeeded and returns its stdout.
fn run_perf(args: &[&str]) -> String {
    let mut argv = vec!["perf"];
    argv.extend_from_slice(args);
    let out = volley(&argv, b"");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "volley perf failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    stdout
}

/// Kafka 4.4's final line (ProducerPerformance.Stats.printTotal).
const TOTAL_LINE: &str = r"^(\d+) records sent, \d+\.\d{6} records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d{2} ms avg latency, \d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$";
/// Kafka 4.4's periodic line (ProducerPerformance.Stats.printWindow).
const WINDOW_LINE: &str = r"^\d+ records sent, \d+\.\d records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d ms avg latency, \d+\.\d ms max latency\.$";

#[test]
fn perf_prints_the_java_summary_and_sends_every_record() {
    let bs = bootstrap();
    let topic = new_topic("perf", 1);
    let stdout = run_perf(&[
        "--topic",
        &topic,
        "--num-records",
        "20000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        "acks=1",
        &format!("bootstrap.servers={bs}"),
    ]);
    let total = regex::Regex::new(TOTAL_LINE).unwrap();
    let window = regex::Regex::new(WINDOW_LINE).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("Option --producer-props has been deprecated and will be removed in a future version. Use --command-property instead."),
        "stdout: {stdout}"
    );
    let last = *lines.last().expect("some output");
    let caps = total
        .captures(last)
        .unwrap_or_else(|| panic!("final line {last:?} does not match the Java format"));
    assert_eq!(&caps[1], "20000");
    for l in &lines[1..lines.len() - 1] {
        assert!(window.is_match(l), "unexpected line {l:?}");
    }
    let records = consume(&topic, 20000);
    assert_eq!(records.len(), 20000);
    // Java's payload: 100 random uppercase letters, drawn anew for each record.
    assert!(records
        .iter()
        .all(|r| r.value.len() == 100 && r.value.bytes().all(|b| b.is_ascii_uppercase())));
    assert!(records[0].value != records[1].value);
    assert_eq!(records[0].key, "null");
}

#[test]
fn perf_with_threads_sends_every_record_once() {
    let bs = bootstrap();
    let topic = new_topic("perfthreads", 3);
    let before_ms = epoch_ms();
    let stdout = run_perf(&[
        "--bootstrap-server",
        &bs,
        "--topic",
        &topic,
        "--num-records",
        "20000",
        // The payload is the record's number, so each record shows which one it is.
        "--payload-monotonic",
        "--throughput",
        "-1",
        "--threads",
        "4",
        "--command-property",
        "acks=all",
        "linger.ms=2",
    ]);
    let after_ms = epoch_ms();
    let total = regex::Regex::new(TOTAL_LINE).unwrap();
    let window = regex::Regex::new(WINDOW_LINE).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let last = *lines.last().expect("some output");
    let caps = total
        .captures(last)
        .unwrap_or_else(|| panic!("final line {last:?} does not match the Java format"));
    assert_eq!(&caps[1], "20000");
    for l in &lines[..lines.len() - 1] {
        assert!(window.is_match(l), "unexpected line {l:?}");
    }
    // Exactly records 0..20000, each once (a 20,001st would show within the timeout).
    let records = consume_for(&topic, 20001, 5000);
    assert_eq!(records.len(), 20000);
    let values: BTreeSet<u32> = records.iter().map(|r| r.value.parse().unwrap()).collect();
    assert_eq!(values, (0..20000).collect::<BTreeSet<u32>>());
    let partitions: BTreeSet<u32> = records.iter().map(|r| r.partition).collect();
    assert!(partitions.len() > 1, "one partition only: {partitions:?}");
    // The tool's send time is each record's timestamp.
    for r in &records {
        let ms: i64 = r
            .timestamp
            .strip_prefix("CreateTime:")
            .unwrap_or_else(|| panic!("{r:?}"))
            .parse()
            .unwrap();
        assert!((before_ms..=after_ms).contains(&ms), "{r:?}");
    }
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn perf_with_payload_file_keys_and_metrics() {
    let bs = bootstrap();
    let topic = new_topic("perfkeys", 2);
    let dir = std::env::temp_dir().join(format!("volley-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payloads.txt");
    std::fs::write(&file, "alpha|beta||gamma|").unwrap();
    let stdout = run_perf(&[
        "--bootstrap-server",
        &bs,
        "--topic",
        &topic,
        "--num-records",
        "300",
        "--payload-file",
        file.to_str().unwrap(),
        "--payload-delimiter",
        "\\|+",
        "--key-distribution",
        "range",
        "--record-key-range",
        "7",
        "--throughput",
        "1000",
        "--command-property",
        "linger.ms=1",
        "--print-metrics",
    ]);
    assert!(
        stdout.starts_with("Reading payloads from: "),
        "stdout: {stdout}"
    );
    assert!(
        stdout.contains("\nNumber of records read: 3\n"),
        "stdout: {stdout}"
    );
    let total = regex::Regex::new(TOTAL_LINE).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| total.captures(l).is_some_and(|c| &c[1] == "300")),
        "stdout: {stdout}"
    );
    assert!(stdout.contains("Metric Name"), "stdout: {stdout}");
    assert!(
        stdout.lines().any(|l| l
            .starts_with("producer-metrics:record-send-total:{client-id=perf-producer-client}")),
        "stdout: {stdout}"
    );
    // Java's per-topic and per-broker groups, and windowed values (NaN only while empty).
    let value_of = |prefix: &str| -> Option<String> {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit_once(" : "))
            .map(|(_, v)| v.to_string())
    };
    // Java's record-send-total: records as their batches are sent, so 300 plus any retried.
    let number = |prefix: &str| -> f64 {
        let v = value_of(prefix).unwrap_or_else(|| panic!("{prefix} missing: {stdout}"));
        v.parse().unwrap_or_else(|_| panic!("{prefix} = {v}"))
    };
    let sent = number("producer-metrics:record-send-total:{client-id=perf-producer-client}");
    let retried = number("producer-metrics:record-retry-total:{client-id=perf-producer-client}");
    assert_eq!(sent, 300.0 + retried, "stdout: {stdout}");
    let topic_sent = number(&format!(
        "producer-topic-metrics:record-send-total:{{client-id=perf-producer-client, topic={topic}}}"
    ));
    assert_eq!(topic_sent, sent, "stdout: {stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with(
            "producer-node-metrics:request-latency-avg:{client-id=perf-producer-client, node-id=node-"
        )),
        "stdout: {stdout}"
    );
    for name in [
        "request-latency-avg",
        "record-size-max",
        "batch-size-avg",
        "record-send-rate",
    ] {
        let v = value_of(&format!(
            "producer-metrics:{name}:{{client-id=perf-producer-client}}"
        ))
        .unwrap_or_else(|| panic!("{name} missing: {stdout}"));
        let v: f64 = v.parse().unwrap_or_else(|_| panic!("{name} = {v}"));
        assert!(v > 0.0, "{name} = {v}");
    }
    let records = consume(&topic, 300);
    assert_eq!(records.len(), 300);
    let keys: BTreeSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, BTreeSet::from(["0", "1", "2", "3", "4", "5", "6"]));
    let values: BTreeSet<&str> = records.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(values, BTreeSet::from(["alpha", "beta", "gamma"]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn perf_rejects_bad_options_with_kafkas_messages() {
    let bs = bootstrap();
    let base = [
        "perf",
        "--bootstrap-server",
        &bs,
        "--topic",
        "t",
        "--record-size",
        "10",
        "--throughput",
        "-1",
    ];
    for (extra, message) in [
        (
            &[
                "--num-records",
                "10",
                "--transactional-id",
                "tx",
                "--threads",
                "2",
            ][..],
            "--threads cannot be combined with transactions",
        ),
        (
            &["--num-records", "10", "--transaction-duration-ms", "0"][..],
            "--transaction-duration-ms should be greater than zero.",
        ),
        (
            &["--num-records", "10", "--threads", "0"][..],
            "--threads should be greater than zero.",
        ),
        (
            &["--num-records", "0"][..],
            "--num-records should be greater than zero.",
        ),
        (
            &["--num-records", "10", "--command-property", "linger.ms=abc"][..],
            "linger.ms",
        ),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        assert_fails_with(&volley(&args, b""), message, &format!("{extra:?}"));
    }
}

#[test]
fn version_and_help() {
    let _ = bootstrap();
    let out = volley(&["--version"], b"");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("volley {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in ["produce", "perf"] {
        let out = volley(&[sub, "--help"], b"");
        assert!(out.status.success());
        assert!(
            text(&out.stdout).contains("--topic"),
            "{}",
            text(&out.stdout)
        );
    }
}

// ---- `volley produce` against Kafka's own ConsoleProducer ----

/// Kafka's console consumer's lines for partition 0 of `topic` (see scripts/kafka) without
/// their timestamp field: `Partition:p\tOffset:o\theaders\tkey\tvalue`, kept whole so that
/// tabs in a value compare too. Stops after `max` records or `timeout_ms` without one. The
/// partition is assigned (no consumer group to join), so the first record comes quickly.
fn consume_lines(topic: &str, extra: &[&str], max: usize, timeout_ms: u32) -> Vec<String> {
    let mut args = vec!["--partition", "0", "--offset", "earliest"];
    args.extend_from_slice(extra);
    // Records end in "\n"; a value may hold a lone "\r" only if the producer kept one.
    consumer_stdout(topic, &args, max, timeout_ms)
        .split_terminator('\n')
        .map(|l| match l.split_once('\t') {
            Some((_, rest)) => rest.to_string(),
            None => panic!("unexpected consumer line {l:?}"),
        })
        .collect()
}

/// What one console producer did with the input.
struct ProducerRun {
    out: Output,
    records: Vec<String>,
}

/// Runs Kafka's ConsoleProducer (`java`) or `volley produce --quiet` into `topic` with
/// `options` after `--bootstrap-server` and `--topic`, `input` on its stdin.
///
/// `volley produce` follows the options of Kafka 4.x's ConsoleProducer, so the reference is
/// the 4.x tool: on a test bed running another Kafka (`scripts/kafka version`, e.g. 3.9.x,
/// whose tool spells its options otherwise) these comparisons fail at once, saying so.
fn console_producer(java: bool, topic: &str, options: &[&str], input: &[u8]) -> Output {
    let bs = bootstrap();
    let mut args: Vec<&str> = if java {
        let version = run_piped(&kafka_script(), &["version"], b"");
        let version = text(&version.stdout).trim().to_string();
        assert!(
            version
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok())
                >= Some(4),
            "the `volley produce` comparisons need Kafka 4.x's ConsoleProducer; the test bed \
             runs Kafka {version:?} (scripts/test runs them on its 4.4 pass only)"
        );
        vec!["tool", "org.apache.kafka.tools.ConsoleProducer"]
    } else {
        vec!["produce", "--quiet"]
    };
    args.extend(["--bootstrap-server", &bs, "--topic", topic]);
    args.extend_from_slice(options);
    let program = if java {
        kafka_script()
    } else {
        VOLLEY.to_string()
    };
    run_piped(&program, &args, input)
}

/// Sends `input` through Kafka's ConsoleProducer and through `volley produce`, with the same
/// `options` after `--bootstrap-server` and `--topic`, each into a new one-partition topic,
/// and reads both topics back (up to `expected + 1` records, so an extra one shows).
fn both_console_producers(
    name: &str,
    options: &[&str],
    input: &[u8],
    expected: usize,
) -> (ProducerRun, ProducerRun) {
    let run = |java: bool| {
        let topic = new_topic(
            &format!("{name}-{}", if java { "java" } else { "volley" }),
            1,
        );
        let out = console_producer(java, &topic, options, input);
        let records = consume_lines(&topic, &[], expected + 1, 5000);
        ProducerRun { out, records }
    };
    (run(true), run(false))
}

/// The two runs ended alike: the same exit code, the same stdout (Kafka's deprecation
/// warnings), and the same `expected` records (headers, keys, values, nulls, offsets).
fn assert_same_records(java: &ProducerRun, volley: &ProducerRun, expected: usize) {
    let context = || {
        format!(
            "\njava stderr:\n{}\nvolley stderr:\n{}",
            text(&java.out.stderr),
            text(&volley.out.stderr)
        )
    };
    assert_eq!(
        java.records.len(),
        expected,
        "Kafka's tool sent {:?}{}",
        java.records,
        context()
    );
    assert_eq!(volley.records, java.records, "{}", context());
    assert_eq!(
        volley.out.status.code(),
        java.out.status.code(),
        "{}",
        context()
    );
    assert_eq!(
        text(&volley.out.stdout),
        text(&java.out.stdout),
        "{}",
        context()
    );
}

#[test]
fn produce_parse_key_with_the_deprecated_property_option_like_java() {
    // The reported case: --property parse.key=true --property key.separator=:
    let input = "k1:v1\nk2:v:with:colons\r\n:empty-key\nk4:\nk5:cr\rk6:after-cr\n\
                 ключ:значение\nk8:bad\u{1}byte\nk9:last"
        .as_bytes()
        .iter()
        .map(|&b| if b == 1 { 0xff } else { b })
        .collect::<Vec<u8>>();
    let (java, volley) = both_console_producers(
        "parsekey",
        &[
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        &input,
        9,
    );
    assert_same_records(&java, &volley, 9);
    assert_eq!(volley.out.status.code(), Some(0));
    assert_record_ends(&volley.records, 1, "\tk2\tv:with:colons");
}

#[test]
fn produce_headers_keys_and_null_marker_like_java() {
    let input = "a=1;b=2|k1#v1\n\
                 a=NULL&b=|NULL#v2\n\
                 NULL|k3#NULL\n\
                 h=x|k4#\n\
                 h=x;g=y;|k6#v6\n\
                 h=NULLx|NULLk#NULLv\n\
                 x=é|ü#ß\n";
    let (java, volley) = both_console_producers(
        "headers",
        &reader_properties(&[
            "parse.headers=true",
            "parse.key=true",
            "null.marker=NULL",
            "headers.delimiter=|",
            "headers.separator=[;&]",
            "headers.key.separator==",
            "key.separator=#",
        ]),
        input.as_bytes(),
        7,
    );
    assert_same_records(&java, &volley, 7);
    // Null key and null header value; a header field equal to the marker means no headers.
    assert_record_ends(&volley.records, 1, "\ta:null,b:\tnull\tv2");
    assert_record_ends(&volley.records, 2, "\tNO_HEADERS\tk3\tnull");
}

#[test]
fn produce_ignore_error_like_java() {
    let input = "no delimiters at all\n\
                 h:1\tno key separator\n\
                 bare,h:2\tk\tv\n\
                 ,,\tk\tv\n\
                 \tk\tv\n\
                 ,x:1\tk\tv\n\
                 a:1,,b:2\tk\tv\n";
    let (java, volley) = both_console_producers(
        "ignoreerror",
        &reader_properties(&["parse.headers=true", "parse.key=true", "ignore.error=true"]),
        input.as_bytes(),
        7,
    );
    assert_same_records(&java, &volley, 7);
    assert_eq!(volley.out.status.code(), Some(0));
}

/// Record `i` (a `consume_lines` line) ends with `suffix` (its headers, key and value).
fn assert_record_ends(records: &[String], i: usize, suffix: &str) {
    assert!(
        records.get(i).is_some_and(|r| r.ends_with(suffix)),
        "record {i} should end with {suffix:?}: {records:?}"
    );
}

/// `--reader-property P` for each of `props`.
fn reader_properties<'a>(props: &[&'a str]) -> Vec<&'a str> {
    props
        .iter()
        .flat_map(|&p| ["--reader-property", p])
        .collect()
}

/// A line the reader cannot parse stops both tools with exit code 1 and the same message;
/// the records before it are delivered, none after it.
fn assert_stops_like_java(name: &str, options: &[&str], input: &str, sent: usize, message: &str) {
    let (java, volley) = both_console_producers(name, options, input.as_bytes(), sent);
    assert_same_records(&java, &volley, sent);
    assert_fails_with(&java.out, message, "Kafka's ConsoleProducer");
    assert_fails_with(&volley.out, message, "volley produce");
}

#[test]
fn produce_missing_key_separator_stops_like_java() {
    assert_stops_like_java(
        "stopkey",
        &["--reader-property", "parse.key=true"],
        "a\t1\nb\t2\nno separator here\nd\t4\n",
        2,
        "No key separator found on line number 3: 'no separator here'",
    );
}

#[test]
fn produce_bad_header_stops_like_java() {
    assert_stops_like_java(
        "stopheader",
        &["--reader-property", "parse.headers=true"],
        "h:1\tv1\nbroken\tv2\nh:3\tv3\n",
        1,
        "No header key separator found in pair 'broken' on line number 2",
    );
    assert_stops_like_java(
        "stopnullkey",
        &reader_properties(&["parse.headers=true", "null.marker=N"]),
        "h:N\tv1\nN:x\tv2\n",
        1,
        "Header keys should not be equal to the null marker 'N' as they can't be null",
    );
}

#[test]
fn produce_rejects_bad_options_like_java() {
    let topic = unique_topic("rejected");
    for (options, message) in [
        (
            &["--reader-property", "null.marker=\t"][..],
            "null.marker and key.separator may not be equal",
        ),
        (
            &["--reader-property", "headers.delimiter=,"][..],
            "headers.delimiter and headers.separator may not be equal",
        ),
        (
            &["--reader-property", "parse.key=true", "--property", "a=b"][..],
            "Options --reader-property and --property cannot be specified together.",
        ),
        (
            &["--line-reader", "com.example.NoSuchReader"][..],
            "com.example.NoSuchReader",
        ),
    ] {
        for java in [true, false] {
            let out = console_producer(java, &topic, options, b"x\n");
            assert_fails_with(&out, message, &format!("java={java} {options:?}"));
        }
    }
}

#[test]
fn produce_config_files_and_producer_options_like_java() {
    let dir = std::env::temp_dir().join(format!("volley-cli-produce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let reader_file = dir.join("reader.properties");
    std::fs::write(
        &reader_file,
        "parse.key=true\nkey.separator=\\t\nparse.headers=true\n",
    )
    .unwrap();
    let producer_file = dir.join("producer.properties");
    std::fs::write(&producer_file, "linger.ms=5\nacks=1\n").unwrap();
    let (java, volley) = both_console_producers(
        "configfiles",
        &[
            "--reader-config",
            reader_file.to_str().unwrap(),
            // Wins over the file.
            "--reader-property",
            "parse.headers=false",
            "--command-config",
            producer_file.to_str().unwrap(),
            "--command-property",
            "client.id=console-compat",
            // No value: gzip.
            "--compression-codec",
            "--batch-size",
            "1024",
            "--timeout",
            "10",
            "--request-required-acks",
            "-1",
            "--message-send-max-retries",
            "5",
            "--request-timeout-ms",
            "5000",
            "--max-block-ms",
            "20000",
            "--max-memory-bytes",
            "1048576",
            "--socket-buffer-size",
            "65536",
            "--metadata-expiry-ms",
            "60000",
            "--retry-backoff-ms",
            "50",
            "--line-reader",
            "org.apache.kafka.tools.LineMessageReader",
            "--sync",
        ],
        b"k1\tv1\nk2\th:1\tv2\nk3\t\n",
        3,
    );
    assert_same_records(&java, &volley, 3);
    assert_eq!(volley.out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn produce_compression_codec_and_deprecated_options_like_java() {
    let dir = std::env::temp_dir().join(format!("volley-cli-codec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let producer_file = dir.join("producer.properties");
    // Kafka's tool always sets compression.type from --compression-codec.
    std::fs::write(&producer_file, "compression.type=gzip\n").unwrap();
    let options = [
        "--producer.config",
        producer_file.to_str().unwrap(),
        "--producer-property",
        "linger.ms=2",
        "--max-partition-memory-bytes",
        "2048",
        "--compression-codec",
        "lz4",
    ];
    let input = b"whole\tline\tis the value\n\nx:y,z\r\n";
    let mut codecs = Vec::new();
    for java in [true, false] {
        let topic = new_topic(if java { "codec-java" } else { "codec-volley" }, 1);
        let out = console_producer(java, &topic, &options, input);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let records = consume_lines(&topic, &[], 4, 5000);
        let dump = Command::new(kafka_script())
            .args(["dump-log", &topic, "0"])
            .output()
            .expect("run scripts/kafka dump-log");
        let mut batches: Vec<String> = text(&dump.stdout)
            .lines()
            .filter_map(|l| l.split(" compresscodec: ").nth(1))
            .map(|c| c.split_whitespace().next().unwrap_or_default().to_string())
            .collect();
        // The codecs the batches used: how many batches each tool made depends on timing
        // (linger), so only the set is compared.
        assert!(!batches.is_empty(), "no batch in the dump of {topic}");
        batches.sort();
        batches.dedup();
        codecs.push((text(&out.stdout), records, batches));
    }
    assert_eq!(codecs[0].1.len(), 3, "{:?}", codecs[0]);
    assert_eq!(codecs[0].2, ["lz4"], "{:?}", codecs[0]);
    assert_eq!(codecs[1], codecs[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- `volley perf` with transactions ----

/// The number of transaction commit markers in `topic`'s partition 0.
fn commit_markers(topic: &str) -> usize {
    let dump = Command::new(kafka_script())
        .args(["dump-log", topic, "0"])
        .output()
        .expect("run scripts/kafka dump-log");
    text(&dump.stdout)
        .lines()
        .filter(|l| l.contains("endTxnMarker: COMMIT"))
        .count()
}

#[test]
fn perf_transactions_commit_every_duration_and_at_the_end() {
    let bs = bootstrap();
    let topic = new_topic("perftxn", 1);
    let txn_id = unique_topic("txn");
    let stdout = run_perf(&[
        "--bootstrap-server",
        &bs,
        "--topic",
        &topic,
        "--num-records",
        "3000",
        "--payload-monotonic",
        // At least a second, so several transactions of 200 ms.
        "--throughput",
        "3000",
        "--transactional-id",
        &txn_id,
        "--transaction-duration-ms",
        "200",
    ]);
    let total = regex::Regex::new(TOTAL_LINE).unwrap();
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        total.captures(last).is_some_and(|c| &c[1] == "3000"),
        "stdout: {stdout}"
    );
    let committed = consume_lines(&topic, &["--isolation", "read_committed"], 3001, 5000);
    assert_eq!(committed.len(), 3000);
    let values: BTreeSet<u32> = committed
        .iter()
        .map(|l| l.rsplit('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, (0..3000).collect::<BTreeSet<u32>>());
    let markers = commit_markers(&topic);
    assert!(
        (4..=100).contains(&markers),
        "{markers} commits for a run of 1 s with 200 ms transactions"
    );
}

#[test]
fn perf_transactional_id_in_the_properties_turns_transactions_on() {
    let bs = bootstrap();
    let topic = new_topic("perftxnprops", 1);
    let txn_prop = format!("transactional.id={}", unique_topic("txnprops"));
    run_perf(&[
        "--bootstrap-server",
        &bs,
        "--topic",
        &topic,
        "--num-records",
        "500",
        "--record-size",
        "20",
        "--throughput",
        "-1",
        "--command-property",
        &txn_prop,
        "acks=all",
    ]);
    let committed = consume_lines(&topic, &["--isolation", "read_committed"], 501, 5000);
    assert_eq!(committed.len(), 500);
    // The default duration is 3 s: far longer than 500 records take, so one commit, at the end.
    assert_eq!(commit_markers(&topic), 1);
}

/// One value of the one-node cluster's `listeners.properties` (`scripts/kafka secure`).
fn secure_value(key: &str) -> String {
    let out = Command::new(kafka_script())
        .arg("secure")
        .output()
        .expect("run scripts/kafka secure");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = text(&out.stdout);
    let props = std::fs::read_to_string(path.trim()).expect("read listeners.properties");
    props
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("listeners.properties has no {key}"))
        .to_string()
}

// Both commands take the security settings as Kafka's tools do, from --producer.config (and
// --producer-property): here SASL_SSL with PLAIN, the records read back by Kafka's console
// consumer over the same listener.
#[test]
fn produce_and_perf_over_sasl_ssl_from_a_producer_config_file() {
    let topic = new_topic("sasl-ssl", 1);
    let dir = std::env::temp_dir().join(format!("volley-cli-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("client.properties");
    std::fs::write(
        &config,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n\
             sasl.username=admin\nsasl.password={}\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            secure_value("user.admin.password"),
            secure_value("ca.pem")
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let server = secure_value("sasl_ssl");
    let out = volley(
        &[
            "produce",
            "--bootstrap-server",
            &server,
            "--topic",
            &topic,
            "--producer.config",
            config,
            "--producer-property",
            "acks=all",
        ],
        b"one\ntwo\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    run_perf(&[
        "--topic",
        &topic,
        "--num-records",
        "100",
        "--record-size",
        "10",
        "--throughput",
        "-1",
        "--producer.config",
        config,
        "--producer-props",
        &format!("bootstrap.servers={server}"),
    ]);
    let lines = consumer_stdout(&topic, &["--listener", "sasl_ssl"], 102, 15_000);
    let values: Vec<&str> = lines
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap())
        .collect();
    assert_eq!(values.len(), 102, "{lines}");
    assert_eq!(&values[..2], ["one", "two"]);
    std::fs::remove_dir_all(&dir).ok();
}
