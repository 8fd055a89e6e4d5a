//! The three-node test cluster through Kafka's tools: `scripts/kafka` on it, and the
//! partitions' leaders and replicas as `TopicCommand --describe` reports them.

use std::collections::HashMap;
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::{bootstrap3, script};

/// `scripts/kafka ARGS` on the three-node cluster; never panics (usable from `Drop`).
pub fn try_kafka3(args: &[&str]) -> Result<String, String> {
    let state = std::env::var("VOLLEY_KAFKA_STATE_3")
        .map_err(|_| "VOLLEY_KAFKA_STATE_3 is not set (run via scripts/test)".to_string())?;
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("VOLLEY_KAFKA_STATE", state)
        .output()
        .map_err(|e| format!("cannot run scripts/kafka: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "scripts/kafka {args:?} failed ({}): {stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn topic_command3(extra: &[&str]) -> Result<String, String> {
    let bs = bootstrap3();
    let mut args = vec![
        "tool",
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        bs.as_str(),
        "--describe",
    ];
    args.extend_from_slice(extra);
    try_kafka3(&args)
}

/// One partition line of `TopicCommand --describe`.
#[derive(Debug, Clone)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

pub fn parse_describe(out: &str) -> Vec<PartitionState> {
    let ids =
        |s: &str| -> Vec<i32> { s.split(',').filter_map(|x| x.trim().parse().ok()).collect() };
    let mut parts = Vec::new();
    for line in out.lines() {
        let mut fields = HashMap::new();
        for f in line.split('\t') {
            if let Some((k, v)) = f.split_once(':') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let (Some(t), Some(p)) = (fields.get("Topic"), fields.get("Partition")) else {
            continue;
        };
        parts.push(PartitionState {
            topic: t.to_string(),
            partition: p.parse().unwrap_or(-1),
            leader: fields
                .get("Leader")
                .and_then(|l| l.parse().ok())
                .filter(|&l: &i32| l >= 0),
            replicas: ids(fields.get("Replicas").copied().unwrap_or("")),
            isr: ids(fields.get("Isr").copied().unwrap_or("")),
        });
    }
    parts
}

/// The leader of `topic`-`partition` as the brokers see it now (a few tries, since the tool
/// can fail while a node is down).
pub fn leader_of(topic: &str, partition: i32) -> Result<i32, String> {
    let mut last = String::new();
    for _ in 0..5 {
        match topic_command3(&["--topic", topic]) {
            Ok(out) => {
                if let Some(l) = parse_describe(&out)
                    .into_iter()
                    .find(|p| p.topic == topic && p.partition == partition)
                    .and_then(|p| p.leader)
                {
                    return Ok(l);
                }
                last = format!("no leader for {topic}-{partition} in:\n{out}");
            }
            Err(e) => last = e,
        }
        thread::sleep(Duration::from_secs(1));
    }
    Err(last)
}
