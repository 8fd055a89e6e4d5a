//! KIP-951 leader discovery on the real three-node cluster: when a partition's leadership moves
//! while the broker that led it stays up, that broker answers NOT_LEADER_OR_FOLLOWER with the
//! new leader and its epoch, and the producer moves its batches there without waiting for
//! metadata.
//!
//! The leadership is moved by a preferred-leader election (Kafka's own tools), on a topic of
//! this test only: no node is stopped, so the other test binaries' use of the cluster is not
//! disturbed.

mod common;

use std::time::Duration;

use common::*;
use volley::{Producer, Record};

/// Partition 0's replicas and leader as `TopicCommand --describe` shows them.
fn replicas_and_leader(topic: &str) -> (Vec<i32>, Option<i32>) {
    let out = topic_command3(&["--topic", topic]).expect("describe the topic");
    let p = parse_describe(&out)
        .into_iter()
        .find(|p| p.topic == topic && p.partition == 0)
        .unwrap_or_else(|| panic!("no partition 0 of {topic} in:\n{out}"));
    (p.replicas, p.leader)
}

// Failure: after a leader move, the producer keeps sending to the old leader until a metadata
// refresh, loses or duplicates records across the move, or ignores the broker's hint.
// Invariant: every record is acknowledged once, at consecutive offsets in send order (read back
// by Kafka's consumer), and the producer took the new leader from the old leader's answer
// (`leader_hint_total`: a hint only counts when its epoch is newer than the producer's
// metadata, which had no reason to refresh: max age 5 minutes, no error before the move).
#[test]
fn the_producer_follows_the_leader_the_old_one_names() {
    let topic = unique_topic("leader-hint");
    create_topic_on(Cluster::Three, &topic, 1, 3, &["min.insync.replicas=2"]);
    let (replicas, leader) = eventually(Duration::from_secs(30), || {
        let (r, l) = replicas_and_leader(&topic);
        l.map(|l| (r, l))
    })
    .expect("partition 0 gets a leader");
    assert_eq!(replicas.len(), 3, "{replicas:?}");

    // Make another replica the preferred one: the election below moves the leadership to it.
    let mut order: Vec<i32> = replicas.iter().copied().filter(|&r| r != leader).collect();
    order.push(leader);
    let dir = temp_dir("leader-hint");
    let plan = dir.join("reassign.json");
    std::fs::write(
        &plan,
        format!(
            r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":0,"replicas":[{}]}}]}}"#,
            order
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
    .unwrap();
    let bs = bootstrap3();
    try_kafka3(&[
        "tool",
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        "--bootstrap-server",
        &bs,
        "--execute",
        "--reassignment-json-file",
        plan.to_str().unwrap(),
    ])
    .expect("reorder the replicas");
    eventually(Duration::from_secs(30), || {
        (replicas_and_leader(&topic).0 == order).then_some(())
    })
    .expect("the new replica order is in place");

    let producer = Producer::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("acks", "all"),
        ("linger.ms", "0"),
        ("metadata.max.age.ms", "300000"),
    ])
    .unwrap();
    let send = |from: usize, to: usize| {
        for i in from..to {
            let md = producer
                .send(
                    Record::new(topic.as_str())
                        .partition(0)
                        .value(format!("r{i}")),
                )
                .unwrap()
                .wait()
                .unwrap_or_else(|e| panic!("record {i}: {e}"));
            assert_eq!(md.offset, i as i64, "record {i}");
        }
    };
    send(0, 100);
    let before = producer.metrics();
    assert_eq!(before.leader_hint_total, 0);

    try_kafka3(&[
        "tool",
        "org.apache.kafka.tools.LeaderElectionCommand",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "PREFERRED",
        "--topic",
        &topic,
        "--partition",
        "0",
    ])
    .expect("preferred leader election");
    let new_leader = eventually(Duration::from_secs(30), || {
        replicas_and_leader(&topic).1.filter(|&l| l == order[0])
    })
    .expect("the preferred replica leads");
    assert_ne!(new_leader, leader);

    send(100, 200);
    producer.close().unwrap();
    let m = producer.metrics();
    assert!(
        m.leader_hint_total >= 1,
        "the new leader was not taken from the old leader's answer: {m:?}"
    );
    assert_eq!(m.record_error_total, 0, "{m:?}");

    let got = consume_on(Cluster::Three, &topic, 200, "read_committed");
    let values: Vec<String> = got.iter().map(|c| c.value.clone().unwrap()).collect();
    let want: Vec<String> = (0..200).map(|i| format!("r{i}")).collect();
    assert_eq!(values, want);
    let _ = std::fs::remove_dir_all(dir);
}
