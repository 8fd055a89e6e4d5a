//! Keyed partitioning must match the Java client bit for bit: this test computes murmur2 hashes
//! and key partitions with Kafka's own `Utils.murmur2`, `Utils.toPositive` and
//! `BuiltInPartitioner.partitionForKey` from the kafka-clients jar, and compares ours.
//!
//! Where the jar comes from:
//! - `VOLLEY_KAFKA_CLIENTS_JAR`: a kafka-clients jar; its directory is also put on the classpath
//!   (kafka-clients needs slf4j-api, which sits next to it in a Kafka `libs` directory);
//! - otherwise `scripts/kafka classpath` (the script at `VOLLEY_KAFKA_SCRIPT`, or
//!   `<workspace>/scripts/kafka`), which prints the Kafka classpath.
//!
//! Java is `$JAVA` or `java` (17 or later: the generator runs as a single-file source program).
//!
//! When `VOLLEY_BOOTSTRAP` is set (CI, `scripts/test`), a missing java or jar fails the test.
//! When none of `VOLLEY_BOOTSTRAP`, `VOLLEY_KAFKA_CLIENTS_JAR` and `VOLLEY_KAFKA_SCRIPT` is set,
//! the test prints a note and passes without comparing (running the script could download
//! Kafka).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use volley::partitioner::murmur2::{murmur2, partition_for_key, to_positive};

/// Partition counts every key is partitioned over.
const PARTITION_COUNTS: [i32; 6] = [1, 3, 6, 7, 100, 1000];

/// The generator: reads hex keys (one per line, each prefixed with `k:` so the empty key is a
/// visible line), prints the kafka-clients version and jar, then per key `murmur2` followed by, for each
/// partition count, `toPositive(murmur2(k)) % n` and `BuiltInPartitioner.partitionForKey(k, n)`.
const GEN_JAVA: &str = r#"
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class Gen {
    public static void main(String[] args) throws Exception {
        int[] counts = PARTITION_COUNTS;
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        StringBuilder out = new StringBuilder();
        Properties version = new Properties();
        try (var in = Utils.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in != null) version.load(in);
        }
        out.append("kafka-clients ").append(version.getProperty("version", "(unknown version)"))
            .append(" from ").append(Utils.class.getProtectionDomain().getCodeSource().getLocation())
            .append('\n');
        HexFormat hex = HexFormat.of();
        for (String line : lines) {
            if (!line.startsWith("k:")) throw new IllegalArgumentException("bad line: " + line);
            byte[] key = hex.parseHex(line.substring(2));
            int hash = Utils.murmur2(key);
            out.append(hash);
            for (int n : counts) {
                out.append(' ').append(Utils.toPositive(Utils.murmur2(key)) % n);
                out.append(' ').append(BuiltInPartitioner.partitionForKey(key, n));
            }
            out.append('\n');
        }
        System.out.print(out);
        System.out.flush();
    }
}
"#;

/// The keys compared: the empty key, ASCII keys of every length 1..=20, binary keys with the
/// high bit set (every single byte, then 2..=24 byte patterns), UTF-8 keys, "key-0".."key-999",
/// and long keys.
fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    for len in 1..=20usize {
        keys.push(
            (0..len)
                .map(|i| b'!' + ((i * 7 + len * 3) % 94) as u8)
                .collect(),
        );
        keys.push(b"abcdefghijklmnopqrst"[..len].to_vec());
    }
    keys.extend((0..=255u8).map(|b| vec![b]));
    for len in 2..=24usize {
        keys.push(vec![0xff; len]);
        keys.push(
            (0..len)
                .map(|i| 0x80 | ((i * 37 + len) & 0x7f) as u8)
                .collect(),
        );
        keys.push(
            (0..len)
                .map(|i| ((i * 97 + 13 * len) & 0xff) as u8)
                .collect(),
        );
    }
    for s in ["ключ", "鍵", "🔑-key", "Schlüssel-ß", "\u{0}nul\u{0}"] {
        keys.push(s.as_bytes().to_vec());
    }
    keys.extend((0..1000).map(|i| format!("key-{i}").into_bytes()));
    let mut x: u32 = 0x1234_5678;
    for len in [255usize, 1000, 10_007] {
        keys.push(
            (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect(),
        );
    }
    keys
}

fn required() -> bool {
    std::env::var_os("VOLLEY_BOOTSTRAP").is_some()
}

/// Fails when required, otherwise prints a note and tells the caller to skip.
fn unavailable(why: String) -> Option<OsString> {
    if required() {
        panic!("VOLLEY_BOOTSTRAP is set but the Java comparison cannot run: {why}");
    }
    eprintln!("murmur2_java: skipped: {why}");
    None
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Kafka classpath, or `None` (after a note) when the test is to be skipped.
fn kafka_classpath() -> Option<OsString> {
    if let Some(jar) = std::env::var_os("VOLLEY_KAFKA_CLIENTS_JAR") {
        let jar = PathBuf::from(jar);
        if !jar.is_file() {
            panic!("VOLLEY_KAFKA_CLIENTS_JAR={} is not a file", jar.display());
        }
        let dir = jar.parent().unwrap_or(Path::new(".")).join("*");
        return Some(std::env::join_paths([jar, dir]).expect("classpath"));
    }
    let script = std::env::var_os("VOLLEY_KAFKA_SCRIPT").map(PathBuf::from);
    if script.is_none() && !required() {
        return unavailable(
            "set VOLLEY_KAFKA_CLIENTS_JAR or VOLLEY_KAFKA_SCRIPT (or VOLLEY_BOOTSTRAP) to compare \
             with Kafka's Java murmur2"
                .into(),
        );
    }
    let script = script.unwrap_or_else(|| workspace_root().join("scripts/kafka"));
    if !script.is_file() {
        return unavailable(format!("no Kafka script at {}", script.display()));
    }
    let out = match Command::new(&script).arg("classpath").output() {
        Ok(out) => out,
        Err(e) => return unavailable(format!("cannot run {} classpath: {e}", script.display())),
    };
    if !out.status.success() {
        return unavailable(format!(
            "{} classpath failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().map(str::trim).rfind(|l| !l.is_empty()) {
        Some(cp) => Some(cp.into()),
        None => unavailable(format!("{} classpath printed nothing", script.display())),
    }
}

#[test]
fn murmur2_and_key_partitions_match_kafka_java() {
    let Some(classpath) = kafka_classpath() else {
        return;
    };
    let java = std::env::var_os("JAVA").unwrap_or_else(|| "java".into());

    let dir = std::env::temp_dir().join(format!("volley-murmur2-java-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let counts = PARTITION_COUNTS.map(|n| n.to_string()).join(", ");
    let source = GEN_JAVA.replace("PARTITION_COUNTS", &format!("{{{counts}}}"));
    std::fs::write(dir.join("Gen.java"), source).expect("write Gen.java");
    let keys = keys();
    let mut input = String::new();
    for key in &keys {
        input.push_str("k:");
        for b in key {
            write!(input, "{b:02x}").unwrap();
        }
        input.push('\n');
    }
    std::fs::write(dir.join("keys.txt"), input).expect("write keys.txt");

    let run = Command::new(&java)
        .arg("-cp")
        .arg(&classpath)
        .arg("Gen.java")
        .arg("keys.txt")
        .current_dir(&dir)
        .output();
    let out = match run {
        Ok(out) => out,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            unavailable(format!("cannot run {java:?}: {e}"));
            return;
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "java Gen.java failed ({}) with classpath {classpath:?}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut lines = stdout.lines();
    let version = lines.next().expect("version line");
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), keys.len(), "one output line per key");

    let mut compared = 0usize;
    let mut mismatches = Vec::new();
    for (key, line) in keys.iter().zip(&lines) {
        let java: Vec<i32> = line
            .split(' ')
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|e| panic!("bad number {v:?}: {e}"))
            })
            .collect();
        assert_eq!(java.len(), 1 + 2 * PARTITION_COUNTS.len(), "line {line:?}");
        let hash = murmur2(key);
        let mut ours = vec![hash];
        for n in PARTITION_COUNTS {
            let p = partition_for_key(key, n);
            assert_eq!(p, to_positive(hash) % n);
            ours.extend([p, p]);
        }
        compared += ours.len();
        if ours != java {
            mismatches.push(format!("key {key:02x?}: ours {ours:?}, java {java:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} keys differ from Kafka's Java client:\n{}",
        mismatches.len(),
        keys.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!(
        "murmur2_java: {compared} values for {} keys match {version} (Utils.murmur2, \
         Utils.toPositive % n and BuiltInPartitioner.partitionForKey, n in {PARTITION_COUNTS:?})",
        keys.len()
    );
}
