//! Re-bootstrap (KIP-899) on real brokers: a producer whose whole cluster moves to other
//! addresses recovers without being rebuilt.
//!
//! The producer's `bootstrap.servers` is a stable address in front of the cluster (a small TCP
//! forwarder in this test, as a load balancer or a DNS name would be in production); the
//! brokers advertise their own addresses, which the producer learns from metadata. Cluster A
//! (one node) runs first; cluster B (one node, formatted with A's cluster id: the same
//! cluster, moved) has other ports. The test stops A and points the forwarder at B: no broker
//! address the producer knows answers any more, only the bootstrap address does.
//!
//! This test starts its own two clusters (never the shared test beds), with their own state
//! dirs and ports: `VOLLEY_REBOOTSTRAP_PORT_BASE` (default 31690, below Linux's ephemeral
//! port range so that no client socket of another test holds one of them; cluster B uses
//! that + 30) and state dirs `volley-reboot-a`/`-b` under the temp dir. Like every integration test it
//! fails, never skips, outside `scripts/test` (no `VOLLEY_BOOTSTRAP`) or when
//! `scripts/kafka` cannot start a cluster.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use volley::{Producer, Record};

fn script() -> PathBuf {
    match std::env::var("VOLLEY_KAFKA_SCRIPT") {
        Ok(p) => PathBuf::from(p),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka"),
    }
}

/// A one-node cluster of this test: its state dir and port base.
struct TestCluster {
    state: PathBuf,
    base: u16,
}

impl TestCluster {
    /// Runs `scripts/kafka ARGS` on this cluster (with `env` added); panics with its output
    /// if it fails.
    fn kafka(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        self.try_kafka(args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts this one-node cluster, once more if the first start fails (a node started while
    /// other tests run can lose a port to a client socket for a moment).
    fn start(&self, cluster_id: &str) {
        let env = [("VOLLEY_KAFKA_CLUSTER_ID", cluster_id)];
        if let Err(e) = self.try_kafka(&["start", "--brokers", "1"], &env) {
            eprintln!("first start failed, trying again: {e}");
            let _ = self.try_kafka(&["stop"], &[]);
            self.kafka(&["start", "--brokers", "1"], &env);
        }
    }

    /// [`TestCluster::kafka`], with the failure as an error.
    fn try_kafka(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .env("VOLLEY_KAFKA_STATE", &self.state)
            .env("VOLLEY_KAFKA_PORT_BASE", self.base.to_string())
            .env("VOLLEY_KAFKA_SECURE", "0")
            .env("VOLLEY_KAFKA_TELEMETRY", "0")
            .env("VOLLEY_KAFKA_AUTO_CREATE", "true")
            .env(
                "VOLLEY_KAFKA_HEAP",
                std::env::var("VOLLEY_KAFKA_HEAP").unwrap_or("-Xms128m -Xmx256m".into()),
            )
            .envs(env.iter().copied())
            .output()
            .expect("run scripts/kafka");
        if !out.status.success() {
            return Err(format!(
                "scripts/kafka {args:?} on {:?} failed: {}\n{}",
                self.state,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn broker_port(&self) -> u16 {
        self.base + 1
    }

    fn cluster_id(&self) -> String {
        std::fs::read_to_string(self.state.join("cluster_id"))
            .expect("cluster id recorded by scripts/kafka start")
            .trim()
            .to_string()
    }

    /// Every record of `topic`, read with Kafka's console consumer.
    fn consume(&self, topic: &str, expected: usize) -> Vec<String> {
        let n = expected.to_string();
        let out = self.kafka(&consume_args(topic, &n), &[]);
        parse_consumed(&out)
            .into_iter()
            .map(|c| c.value.unwrap_or_default())
            .collect()
    }
}

/// A new cluster id (22 characters of base64url, as Kafka's `Uuid`), from the clock and the
/// process id: the same for both clusters, another for each run.
fn cluster_id(tmp: &std::path::Path) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seed = nanos ^ (u128::from(std::process::id()) << 96) ^ tmp.as_os_str().len() as u128;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id: String = (0..21)
        .map(|i| ALPHABET[((seed >> (i * 6)) & 63) as usize] as char)
        .collect();
    // The 22nd character carries only 2 bits of a 128-bit id.
    id.push(ALPHABET[((seed >> 126) & 3) as usize * 16] as char);
    // A leading '-' would read as an option to Kafka's StorageTool.
    id.replace_range(..1, "V");
    id
}

/// Stops the clusters even when the test fails.
struct Stop(Vec<Arc<TestCluster>>);

impl Drop for Stop {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .env("VOLLEY_KAFKA_STATE", &c.state)
                .output();
        }
    }
}

/// A TCP forwarder on an ephemeral port of 127.0.0.1: each connection is relayed to
/// 127.0.0.1:`target` (read at accept time); one whose target refuses is closed at once.
fn forwarder(target: Arc<AtomicU16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the forwarder");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let to = target.load(Ordering::SeqCst);
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", to)) else {
                continue; // dropping the client closes it
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || into.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = into.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            }
        }
    });
    port
}

// The whole cluster moves (stopped, then up again on other advertised ports, reached through
// the same bootstrap address). Invariant: the same producer, never rebuilt, re-bootstraps and
// delivers every record sent before, during and after the move, each once and in order, as
// Kafka's console consumer reads them from each cluster.
#[test]
fn producer_recovers_when_every_broker_moves() {
    // Integration tests run under scripts/test; this fails (never skips) elsewhere.
    let _ = bootstrap();
    let base: u16 = std::env::var("VOLLEY_REBOOTSTRAP_PORT_BASE")
        .map(|b| b.parse().expect("VOLLEY_REBOOTSTRAP_PORT_BASE is a port"))
        .unwrap_or(31690);
    let tmp = std::env::temp_dir();
    let a = Arc::new(TestCluster {
        state: tmp.join("volley-reboot-a"),
        base,
    });
    let b = Arc::new(TestCluster {
        state: tmp.join("volley-reboot-b"),
        base: base + 30,
    });
    let _stop = Stop(vec![a.clone(), b.clone()]);
    // B is "the same cluster, moved": formatted with A's cluster id (Volley refuses metadata
    // from another cluster). Both start at once (each is a JVM; this halves the wait).
    let id = cluster_id(&tmp);
    let starts: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|c| {
            let id = id.clone();
            thread::spawn(move || c.start(&id))
        })
        .collect();
    for s in starts {
        s.join().expect("cluster started");
    }
    assert_eq!((a.cluster_id(), b.cluster_id()), (id.clone(), id));

    let target = Arc::new(AtomicU16::new(a.broker_port()));
    let lb = format!("127.0.0.1:{}", forwarder(target.clone()));
    let topic = unique_topic("rebootstrap");
    let p = Producer::from_properties([
        ("bootstrap.servers", lb.as_str()),
        ("linger.ms", "0"),
        ("max.block.ms", "60000"),
    ])
    .unwrap();
    let send = |prefix: &str| -> Vec<volley::DeliveryFuture> {
        (0..20)
            .map(|i| {
                p.send(Record::new(topic.as_str()).value(format!("{prefix}-{i}")))
                    .unwrap()
            })
            .collect()
    };
    let before = send("before");
    for f in before {
        f.wait().expect("delivered to cluster A");
    }
    let expected: Vec<String> = (0..20).map(|i| format!("before-{i}")).collect();
    assert_eq!(a.consume(&topic, 20), expected);
    assert_eq!(p.metrics().rebootstrap_total, 0);

    // The move: A stops (the producer's connections break, the broker address it knows
    // refuses them), then the bootstrap address leads to B.
    a.kafka(&["stop"], &[]);
    let during = send("during");
    target.store(b.broker_port(), Ordering::SeqCst);
    let after = send("after");
    for f in during.into_iter().chain(after) {
        if let Err(e) = f.wait() {
            panic!("not delivered to cluster B: {e}; {:?}", p.metrics());
        }
    }
    assert!(p.metrics().rebootstrap_total >= 1, "{:?}", p.metrics());
    let expected: Vec<String> = ["during", "after"]
        .iter()
        .flat_map(|s| (0..20).map(move |i| format!("{s}-{i}")))
        .collect();
    assert_eq!(b.consume(&topic, 40), expected);
    p.close().unwrap();
}
