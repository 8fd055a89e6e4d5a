//! Shared helpers for the integration tests: the real broker started by `scripts/test`, and
//! Kafka's own tools (console consumer, topic command, log dump) through `scripts/kafka`.
//!
//! A test that needs the broker calls [`bootstrap`]; when `VOLLEY_BOOTSTRAP` is not set it
//! fails (it never skips): run the suite with `scripts/test`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub mod cluster3;
pub mod secure;
#[allow(unused_imports)]
pub use cluster3::*;
#[allow(unused_imports)]
pub use secure::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Bootstrap servers of the one-node test cluster.
pub fn bootstrap() -> String {
    std::env::var("VOLLEY_BOOTSTRAP").expect(
        "VOLLEY_BOOTSTRAP is not set: integration tests need the real broker; run them with scripts/test",
    )
}

/// Bootstrap servers of the three-node test cluster.
pub fn bootstrap3() -> String {
    std::env::var("VOLLEY_BOOTSTRAP_3").expect(
        "VOLLEY_BOOTSTRAP_3 is not set: integration tests need the real 3-node cluster; run them with scripts/test",
    )
}

pub fn script() -> PathBuf {
    match std::env::var("VOLLEY_KAFKA_SCRIPT") {
        Ok(p) => PathBuf::from(p),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka"),
    }
}

/// Which test cluster a tool call acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    /// The one-node cluster.
    One,
    /// The three-node cluster.
    Three,
}

/// Runs `scripts/kafka ARGS` against `cluster`; panics with its output if it fails.
pub fn kafka_on(cluster: Cluster, args: &[&str]) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(script()).args(args);
    if cluster == Cluster::Three {
        cmd.env(
            "VOLLEY_KAFKA_STATE",
            std::env::var("VOLLEY_KAFKA_STATE_3")
                .expect("VOLLEY_KAFKA_STATE_3 (run via scripts/test)"),
        );
    }
    let out = cmd.output().expect("run scripts/kafka");
    assert!(
        out.status.success(),
        "scripts/kafka {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `scripts/kafka ARGS` against the one-node cluster.
pub fn kafka(args: &[&str]) -> String {
    kafka_on(Cluster::One, args)
}

/// The Kafka version `(major, minor, patch)` the test bed runs on `cluster`: the one
/// `scripts/kafka start` recorded in the cluster's state dir (`VOLLEY_KAFKA_VERSION` at start;
/// 4.4.0 by default, 3.9.x in `scripts/test`'s compatibility pass). For the few checks whose
/// expectation differs by broker version; what a test checks on 4.x must not be weakened.
pub fn kafka_version_on(cluster: Cluster) -> (u32, u32, u32) {
    let out = kafka_on(cluster, &["version"]);
    let parts: Vec<u32> = out
        .trim()
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("scripts/kafka version printed {out:?}"))
        })
        .collect();
    assert_eq!(parts.len(), 3, "scripts/kafka version printed {out:?}");
    (parts[0], parts[1], parts[2])
}

/// [`kafka_version_on`] the one-node cluster.
pub fn kafka_version() -> (u32, u32, u32) {
    kafka_version_on(Cluster::One)
}

/// Kafka's config tool on the one-node cluster: `--alter` of entity `name` of `entity_type`
/// (`clients`, `client-metrics`, ...) with `args` (e.g. `--add-config`, `k=v,...`).
pub fn alter_config(entity_type: &str, name: &str, args: &[&str]) {
    let bs = bootstrap();
    let mut all = vec![
        "tool",
        "org.apache.kafka.tools.ConfigCommand",
        "--bootstrap-server",
        &bs,
        "--alter",
        "--entity-type",
        entity_type,
        "--entity-name",
        name,
    ];
    all.extend_from_slice(args);
    kafka(&all);
}

/// A topic name no other test (or earlier run) uses.
pub fn unique_topic(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

/// Creates a topic with Kafka's own topic command, with `retention.ms=-1` unless `configs`
/// sets it.
pub fn create_topic_on(
    cluster: Cluster,
    name: &str,
    partitions: u32,
    replication: u32,
    configs: &[&str],
) {
    let p = partitions.to_string();
    let r = replication.to_string();
    let mut args = vec![
        "create-topic",
        name,
        "--partitions",
        &p,
        "--replication-factor",
        &r,
    ];
    for c in configs {
        args.push("--config");
        args.push(c);
    }
    // Test topics keep their records whatever their timestamps: tests write records stamped
    // years ago (or at 0), which time retention (7 days by default, checked every 5 minutes)
    // would otherwise delete before they are read back.
    if !configs.iter().any(|c| c.starts_with("retention.ms=")) {
        args.extend(["--config", "retention.ms=-1"]);
    }
    kafka_on(cluster, &args);
}

/// Creates a topic on the one-node cluster.
pub fn create_topic(name: &str, partitions: u32, configs: &[&str]) {
    create_topic_on(Cluster::One, name, partitions, 1, configs);
}

/// One record as Kafka's console consumer printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub timestamp_type: String,
    pub timestamp: i64,
    pub partition: i32,
    pub offset: i64,
    /// `(key, value)` pairs; `None` for the literal `null`.
    pub headers: Vec<(String, Option<String>)>,
    pub key: Option<String>,
    pub value: Option<String>,
}

fn null_or(s: &str) -> Option<String> {
    (s != "null").then(|| s.to_string())
}

/// Parses the console consumer's output lines (see scripts/kafka for the format).
pub fn parse_consumed(out: &str) -> Vec<Consumed> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.splitn(6, '\t').collect();
            assert_eq!(f.len(), 6, "unexpected consumer line {line:?}");
            let (tt, ts) = f[0].split_once(':').unwrap_or((f[0], "-1"));
            let headers = if f[3] == "NO_HEADERS" {
                Vec::new()
            } else {
                f[3].split(',')
                    .map(|h| {
                        let (k, v) = h.split_once(':').unwrap_or((h, "null"));
                        (k.to_string(), null_or(v))
                    })
                    .collect()
            };
            Consumed {
                timestamp_type: tt.to_string(),
                timestamp: ts.parse().unwrap_or(-1),
                partition: f[1].trim_start_matches("Partition:").parse().unwrap(),
                offset: f[2].trim_start_matches("Offset:").parse().unwrap(),
                headers,
                key: null_or(f[4]),
                value: null_or(f[5]),
            }
        })
        .collect()
}

/// Reads `expected` records of `topic` from the beginning with Kafka's console consumer.
pub fn consume_on(
    cluster: Cluster,
    topic: &str,
    expected: usize,
    isolation: &str,
) -> Vec<Consumed> {
    consume_with(cluster, topic, expected, isolation, &[])
}

/// [`consume_on`] with more `scripts/kafka consume` options (`--listener`, `--mechanism`, ...).
pub fn consume_with(
    cluster: Cluster,
    topic: &str,
    expected: usize,
    isolation: &str,
    extra: &[&str],
) -> Vec<Consumed> {
    let n = expected.to_string();
    let mut args = consume_args(topic, &n);
    args.extend_from_slice(&["--isolation", isolation]);
    args.extend_from_slice(extra);
    parse_consumed(&kafka_on(cluster, &args))
}

/// `scripts/kafka consume` arguments reading `expected` records of `topic` (20 s at most
/// without a record).
pub fn consume_args<'a>(topic: &'a str, expected: &'a str) -> Vec<&'a str> {
    vec![
        "consume",
        topic,
        "--max-messages",
        expected,
        "--timeout-ms",
        "20000",
    ]
}

/// Reads `expected` records of `topic` (one-node cluster, read_uncommitted).
pub fn consume(topic: &str, expected: usize) -> Vec<Consumed> {
    consume_on(Cluster::One, topic, expected, "read_uncommitted")
}

/// Kafka's log dump of one partition.
pub fn dump_log_on(cluster: Cluster, topic: &str, partition: i32) -> String {
    kafka_on(cluster, &["dump-log", topic, &partition.to_string()])
}

/// Kafka's log dump of one partition of the one-node cluster.
pub fn dump_log(topic: &str, partition: i32) -> String {
    dump_log_on(Cluster::One, topic, partition)
}

/// Polls `f` until it returns `Some`, up to `timeout`.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the single-file Java program `source` (class `class`, Java 17 or later: `$JAVA` or
/// `java`) with the test bed's Kafka classpath and `args`, in a fresh temporary directory that
/// also holds the `files` given (name, contents) and is the working directory. Returns its
/// stdout; panics (never skips) when Java or the classpath is missing or the program fails.
pub fn run_java(class: &str, source: &str, files: &[(&str, &str)], args: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("volley-java-{}", unique_topic(class)));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{class}.java"));
    std::fs::write(&src, source).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.join(name), contents).unwrap();
    }
    let cp = kafka(&["classpath"]).trim().to_string();
    let java = std::env::var_os("JAVA").unwrap_or_else(|| "java".into());
    let out = Command::new(&java)
        .args(["-cp", &cp])
        .arg(&src)
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {java:?} (Java 17 or later is needed): {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "java {class}.java failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("java printed UTF-8")
}

/// The partitions Kafka's own `Utils.murmur2` (from the kafka-clients jar of the test bed)
/// gives for `keys` with `partitions` partitions: `toPositive(murmur2(key)) % partitions`.
pub fn java_partitions(keys: &[String], partitions: i32) -> Vec<i32> {
    let source = r#"
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import org.apache.kafka.common.utils.Utils;
public class Part {
    public static void main(String[] a) throws Exception {
        int n = Integer.parseInt(a[1]);
        StringBuilder out = new StringBuilder();
        for (String k : Files.readAllLines(Paths.get(a[0]), StandardCharsets.UTF_8)) {
            out.append(Utils.toPositive(Utils.murmur2(k.getBytes(StandardCharsets.UTF_8))) % n).append('\n');
        }
        System.out.print(out);
    }
}
"#;
    let keys_file = keys.join("\n");
    let out = run_java(
        "Part",
        source,
        &[("keys.txt", &keys_file)],
        &["keys.txt", &partitions.to_string()],
    );
    let v: Vec<i32> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(v.len(), keys.len());
    v
}

/// Blocks on a future with no async runtime at all (to prove futures need none).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Resident set size of this process in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A new empty temporary directory named after `prefix`.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_topic(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh self-signed CA certificate (PEM) in `dir`, made with `openssl`: one nothing was
/// signed with. Returns its path.
pub fn fresh_ca(dir: &std::path::Path) -> String {
    let args = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout \
                other-ca.key -out other-ca.pem -days 2 -subj /CN=volley-other-ca";
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed");
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("other-ca.pem").to_string_lossy().into_owned()
}
