//! The windowed, per-topic and per-broker metrics the sender records, against the simulated
//! cluster (deterministic time: latencies and queue times are exact).

use std::time::Duration;

use super::tests::setup;
use super::*;
use crate::metrics::{MetricEntry, NODE_GROUP, PRODUCER_GROUP, TOPIC_GROUP};

const T: &str = "t";

fn value(list: &[MetricEntry], group: &str, name: &str, tag: Option<(&str, &str)>) -> f64 {
    let found: Vec<_> = list
        .iter()
        .filter(|e| e.group == group && e.name == name)
        .filter(|e| tag.is_none_or(|(k, v)| e.tag(k) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "{group}:{name} {tag:?}: {found:?}");
    found[0].value
}

// Two brokers, one partition each; broker 1 answers after 40 ms; partition 0's first produce
// fails with a retriable error. Every count below follows from that.
#[test]
fn per_topic_per_broker_and_windowed_values_follow_the_requests() {
    let mut sim = setup(&[1, 2], &[1, 2], |c| {
        c.linger = Duration::from_millis(10);
        c.retry_backoff = Duration::from_millis(5);
    });
    sim.delay_responses(1, Duration::from_millis(40));
    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    let mut ids: Vec<usize> = (0..3).map(|_| sim.send(T, 0, "v0")).collect();
    ids.extend((0..2).map(|_| sim.send(T, 1, "v1")));
    sim.run_until_all_done(Duration::from_secs(5));
    for id in ids {
        assert!(sim.outcome(id).is_ok());
    }
    let list = crate::metrics::list_of(&sim.shared, "sim");
    let g = PRODUCER_GROUP;
    // Java's record-send-total counts records in sent batches: partition 0's three twice.
    assert_eq!(value(&list, g, "record-send-total", None), 8.0);
    assert_eq!(value(&list, g, "record-retry-total", None), 3.0);
    assert_eq!(value(&list, g, "record-error-total", None), 0.0);
    let topic = Some(("topic", T));
    assert_eq!(value(&list, TOPIC_GROUP, "record-send-total", topic), 8.0);
    assert_eq!(value(&list, TOPIC_GROUP, "record-retry-total", topic), 3.0);
    // Broker 1 answered both of its Produce requests after exactly 40 ms, broker 2 at once.
    let node1 = Some(("node-id", "node-1"));
    let node2 = Some(("node-id", "node-2"));
    assert_eq!(value(&list, NODE_GROUP, "request-latency-max", node1), 40.0);
    assert_eq!(value(&list, NODE_GROUP, "request-latency-avg", node1), 40.0);
    assert_eq!(value(&list, NODE_GROUP, "request-latency-max", node2), 0.0);
    assert_eq!(value(&list, g, "request-latency-max", None), 40.0);
    // Requests: in total and summed over the nodes (the bootstrap connection, `node--1`,
    // included), the same as the brokers saw.
    let seen = sim.requests.len() as f64;
    assert_eq!(value(&list, g, "request-total", None), seen);
    let per_node: f64 = list
        .iter()
        .filter(|e| e.group == NODE_GROUP && e.name == "request-total")
        .map(|e| e.value)
        .sum();
    assert_eq!(per_node, seen);
    let produce_requests = sim.requests_of(ApiKey::Produce).len() as f64;
    assert_eq!(
        value(&list, g, "records-per-request-avg", None),
        8.0 / produce_requests
    );
    // Each batch waited its linger (10 ms) before its first send; the retry waited longer.
    let queue_max = value(&list, g, "record-queue-time-max", None);
    assert!(queue_max > 40.0, "{queue_max}");
    assert!(value(&list, g, "record-size-max", None) > 0.0);
    let open = sim
        .sender
        .net
        .nodes
        .values()
        .filter(|n| matches!(n.conn, network::Conn::Up(_)))
        .count();
    assert_eq!(value(&list, g, "connection-count", None), open as f64);
}
