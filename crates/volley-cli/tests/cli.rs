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
    let mut child = Command::new(VOLLEY)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start volley");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The process may exit before reading everything (e.g. on a parse error).
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for volley");
    writer.join().unwrap();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

/// Reads `topic` from the beginning with Kafka's console consumer, until `max` records or
/// `timeout_ms` without one.
fn consume_for(topic: &str, max: usize, timeout_ms: u32) -> Vec<Consumed> {
    let out = Command::new(kafka_script())
        .args([
            "consume",
            topic,
            "--max-messages",
            &max.to_string(),
            "--timeout-ms",
            &timeout_ms.to_string(),
        ])
        .output()
        .expect("run scripts/kafka consume");
    assert!(
        out.status.success(),
        "consume {topic} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
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

/// Kafka 4.4's final line (ProducerPerformance.Stats.printTotal).
const TOTAL_LINE: &str = r"^(\d+) records sent, \d+\.\d{6} records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d{2} ms avg latency, \d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$";
/// Kafka 4.4's periodic line (ProducerPerformance.Stats.printWindow).
const WINDOW_LINE: &str = r"^\d+ records sent, \d+\.\d records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d ms avg latency, \d+\.\d ms max latency\.$";

#[test]
fn perf_prints_the_java_summary_and_sends_every_record() {
    let bs = bootstrap();
    let topic = new_topic("perf", 1);
    let out = volley(
        &[
            "perf",
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
        ],
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "volley perf failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
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
    let out = volley(
        &[
            "perf",
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
        ],
        b"",
    );
    let after_ms = epoch_ms();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "volley perf failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
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
    let out = volley(
        &[
            "perf",
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
        ],
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "volley perf failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
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
            .starts_with("producer-metrics:record-send-total:{client-id=perf-producer-client}")
            && l.ends_with(" : 300.000")),
        "stdout: {stdout}"
    );
    let records = consume(&topic, 300);
    assert_eq!(records.len(), 300);
    let keys: BTreeSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, BTreeSet::from(["0", "1", "2", "3", "4", "5", "6"]));
    let values: BTreeSet<&str> = records.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(values, BTreeSet::from(["alpha", "beta", "gamma"]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn perf_rejects_what_it_does_not_support() {
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
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        volley(&args, b"")
    };
    let out = run(&["--num-records", "10", "--transactional-id", "tx"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not supported yet"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--num-records", "10", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--threads should be greater than zero."),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--num-records", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--num-records should be greater than zero."),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--num-records", "10", "--command-property", "linger.ms=abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("linger.ms"),
        "{}",
        text(&out.stderr)
    );
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
