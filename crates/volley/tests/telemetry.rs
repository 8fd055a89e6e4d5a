//! KIP-714 client telemetry against the real broker. The one-node test bed runs a broker-side
//! receiver (`scripts/telemetry/TelemetryRecorder.java`, a `MetricsReporter` offering Kafka's
//! client telemetry exporter) that appends one JSON line per PushTelemetry to a file
//! (`scripts/kafka telemetry` names it). Each test sets its own client metrics subscription
//! (Kafka's config tool, `--entity-type client-metrics`) matching only its own `client.id`.
//!
//! The tests run one at a time ([`one_at_a_time`]): a new subscription changes the broker's
//! subscription set, which sends every connected client back for its subscription (KIP-714's
//! `UNKNOWN_SUBSCRIPTION_ID`), and a client closing just then may push no terminating push
//! (once in a CI rehearsal Java's producer's last push was not terminating, most likely so).

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::*;
use serde_json::Value;
use volley::{Producer, ProducerConfig, Record};

const PREFIX: &str = "org.apache.kafka.producer.";

/// Held for a whole test, so that no other test's subscription lands while this one's clients
/// push and close (see the module docs).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A client metrics subscription for `client_id` only: the producer metrics, pushed every
/// `interval_ms`.
fn subscribe(client_id: &str, interval_ms: u32) {
    let config =
        format!("metrics=[{PREFIX}],interval.ms={interval_ms},match=[client_id={client_id}]");
    alter_config("client-metrics", client_id, &["--add-config", &config]);
}

/// The pushes the receiver recorded for `client_id`, in order.
fn pushes(client_id: &str) -> Vec<Value> {
    let path = kafka(&["telemetry"]).trim().to_string();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|p| p["client_id"] == client_id)
        .collect()
}

/// The metric named `name` of a push.
fn metric<'a>(push: &'a Value, name: &str) -> Option<&'a Value> {
    push["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
}

/// The value of the first data point of `name` in a push (0 if absent).
fn value(push: &Value, name: &str) -> f64 {
    metric(push, name)
        .and_then(|m| m["points"][0]["value"].as_f64())
        .unwrap_or(0.0)
}

/// Sends `n` records to `topic` and waits until each is acknowledged.
fn send_acked(p: &Producer, topic: &str, n: usize) {
    let futures: Vec<_> = (0..n)
        .map(|i| p.send(Record::new(topic).value(format!("v{i}"))).unwrap())
        .collect();
    p.flush().unwrap();
    for f in futures {
        f.wait().unwrap();
    }
}

fn producer(client_id: &str, extra: &[(&str, &str)]) -> Producer {
    let bs = bootstrap();
    let mut props = vec![
        ("bootstrap.servers", bs.as_str()),
        ("client.id", client_id),
        ("linger.ms", "5"),
    ];
    props.extend_from_slice(extra);
    Producer::new(ProducerConfig::from_properties(props).unwrap()).unwrap()
}

// Failure: no telemetry at all, pushes with Java-incompatible names or shape, counters that
// never move, or a close without the terminating push. Invariant: with a subscription for the
// producer, the broker receives periodic pushes of `org.apache.kafka.producer.*` metrics as
// delta sums (one resource per metric, as Java), their `record.send.total` deltas add up to
// exactly the records acknowledged, and the last push, at close, is marked terminating.
#[test]
fn pushes_subscribed_metrics_periodically_and_a_terminating_push_at_close() {
    let _serial = one_at_a_time();
    let client_id = unique_topic("volley-telemetry");
    subscribe(&client_id, 500);
    let topic = unique_topic("telemetry");
    create_topic(&topic, 1, &[]);
    let p = producer(&client_id, &[]);
    send_acked(&p, &topic, 100);
    // A periodic push that saw the first 100 records.
    let first = eventually(Duration::from_secs(30), || {
        pushes(&client_id)
            .into_iter()
            .find(|p| value(p, &format!("{PREFIX}record.send.total")) > 0.0)
    })
    .expect("no push with record.send.total > 0 within 30 s");
    assert_eq!(first["terminating"], false);
    send_acked(&p, &topic, 50);
    p.close_timeout(Duration::from_secs(30)).unwrap();

    let all = pushes(&client_id);
    assert!(all.len() >= 2, "{all:?}");
    let (last, periodic) = all.split_last().unwrap();
    assert_eq!(
        last["terminating"], true,
        "the last push is the terminating one"
    );
    assert!(periodic.iter().all(|p| p["terminating"] == false));
    let id = &last["client_instance_id"];
    assert!(
        all.iter().all(|p| &p["client_instance_id"] == id),
        "one client instance id"
    );
    assert_ne!(id, "AAAAAAAAAAAAAAAAAAAAAA", "the broker assigned an id");

    let sent: f64 = all
        .iter()
        .map(|p| value(p, &format!("{PREFIX}record.send.total")))
        .sum();
    assert_eq!(sent, 150.0, "delta sums add up to the records acknowledged");
    for push in &all {
        let metrics = push["metrics"].as_array().unwrap();
        assert_eq!(
            push["resource_metrics"].as_u64(),
            Some(metrics.len() as u64)
        );
        assert_eq!(push["resource"], serde_json::json!({}));
        for m in metrics {
            let name = m["name"].as_str().unwrap();
            assert!(name.starts_with(PREFIX), "{name}");
            let point = &m["points"][0];
            assert_eq!(point["int"], false, "{name}: values are doubles, as Java's");
            if name.ends_with(".total") {
                assert_eq!(m["kind"], "sum", "{name}");
                assert_eq!(m["temporality"], "delta", "{name}");
                assert_eq!(m["monotonic"], true, "{name}");
                assert!(point["start"].as_u64() < point["time"].as_u64(), "{name}");
            } else {
                assert_eq!(m["kind"], "gauge", "{name}");
            }
        }
    }
    assert_eq!(
        value(last, &format!("{PREFIX}buffer.total.bytes")),
        33_554_432.0,
        "buffer.memory's default"
    );
    assert!(value(&all[0], &format!("{PREFIX}outgoing.byte.total")) > 0.0);
}

// Failure: telemetry sent although the user turned it off. Invariant: with
// `enable.metrics.push=false` the broker records no push from the producer, even with a
// subscription matching it, over a time in which a producer with telemetry on (the default)
// pushed twice.
#[test]
fn enable_metrics_push_false_sends_nothing() {
    let _serial = one_at_a_time();
    let off_id = unique_topic("volley-no-telemetry");
    let on_id = unique_topic("volley-telemetry-on");
    subscribe(&off_id, 200);
    subscribe(&on_id, 200);
    let topic = unique_topic("telemetry-off");
    create_topic(&topic, 1, &[]);
    let off = producer(&off_id, &[("enable.metrics.push", "false")]);
    let on = producer(&on_id, &[]);
    send_acked(&off, &topic, 20);
    send_acked(&on, &topic, 20);
    eventually(Duration::from_secs(30), || {
        (pushes(&on_id).len() >= 2).then_some(())
    })
    .expect("the producer with telemetry on pushed twice");
    off.close_timeout(Duration::from_secs(30)).unwrap();
    on.close_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(pushes(&off_id), Vec::<Value>::new());
}

// Failure: Volley's telemetry diverges from Java's where they overlap (another name, kind,
// temporality, value type, or resource layout), so a broker-side plugin written for Java
// clients would misread it. Invariant: every metric Volley pushes is also pushed by Java's
// producer (ProducerPerformance with enable.metrics.push=true) to the same receiver, with the
// same kind, temporality and monotonicity, as a double.
#[test]
fn metric_names_and_shape_match_the_java_producer() {
    let _serial = one_at_a_time();
    let java_id = unique_topic("java-telemetry");
    let volley_id = unique_topic("volley-telemetry-cmp");
    subscribe(&java_id, 500);
    subscribe(&volley_id, 500);
    let topic = unique_topic("telemetry-java");
    create_topic(&topic, 1, &[]);
    let bs = bootstrap();
    kafka(&[
        "tool",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        &topic,
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "1000",
        // One flag followed by every property (a repeated flag keeps only its last value).
        "--command-property",
        &format!("bootstrap.servers={bs}"),
        &format!("client.id={java_id}"),
        "enable.metrics.push=true",
    ]);
    let p = producer(&volley_id, &[]);
    send_acked(&p, &topic, 100);
    p.close_timeout(Duration::from_secs(30)).unwrap();

    let java = pushes(&java_id);
    let volley = pushes(&volley_id);
    // Java's terminating push when it sent one, else its last: the shapes compared are the same
    // in both (whether Java's producer pushes at close is Java's business, not this test's).
    let java_last = java
        .iter()
        .rev()
        .find(|p| p["terminating"] == true)
        .or(java.last())
        .expect("Java's producer pushed nothing");
    let volley_last = volley.last().expect("Volley pushed nothing");
    let volley_metrics = volley_last["metrics"].as_array().unwrap();
    assert!(volley_metrics.len() >= 10, "{volley_last}");
    for m in volley_metrics {
        let name = m["name"].as_str().unwrap();
        let j = metric(java_last, name)
            .unwrap_or_else(|| panic!("Java's producer does not push {name}"));
        for field in ["kind", "temporality", "monotonic"] {
            assert_eq!(m[field], j[field], "{name}: {field}");
        }
        assert_eq!(m["points"][0]["int"], j["points"][0]["int"], "{name}");
        assert_eq!(
            m["points"][0]["attributes"], j["points"][0]["attributes"],
            "{name}: attributes (Java drops client_id)"
        );
    }
    // The resource layout: one ResourceMetrics per metric, no resource attributes without a
    // transactional id.
    assert_eq!(java_last["resource"], volley_last["resource"]);
    assert_eq!(
        java_last["resource_metrics"].as_u64(),
        Some(java_last["metrics"].as_array().unwrap().len() as u64)
    );
}
