//! The producer's metrics under Java's names after real sends (and, with the
//! `metrics-exporter` feature, published through the `metrics` facade; with `opentelemetry`,
//! the trace context carried in record headers).

mod common;

use common::*;
use volley::metrics::{MetricEntry, MetricKind, NODE_GROUP, PRODUCER_GROUP, TOPIC_GROUP};
use volley::{Producer, Record};

const RECORDS: usize = 200;
const VALUE: &[u8] = &[7u8; 100];

fn find<'a>(list: &'a [MetricEntry], group: &str, name: &str) -> Vec<&'a MetricEntry> {
    list.iter()
        .filter(|e| e.group == group && e.name == name)
        .collect()
}

fn one(list: &[MetricEntry], group: &str, name: &str) -> f64 {
    let found = find(list, group, name);
    assert_eq!(found.len(), 1, "{group}:{name} in {list:#?}");
    found[0].value
}

/// Sends `RECORDS` 100-byte records to a new 3-partition topic and waits for them.
fn send_some(client_id: &str) -> (Producer, String) {
    let topic = unique_topic("metrics");
    create_topic(&topic, 3, &[]);
    let bs = bootstrap();
    let p = Producer::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("client.id", client_id),
        ("linger.ms", "5"),
        ("compression.type", "gzip"),
    ])
    .expect("producer");
    let futures: Vec<_> = (0..RECORDS)
        .map(|i| {
            p.send(
                Record::new(topic.as_str())
                    .key(format!("k{i}"))
                    .value(VALUE),
            )
            .expect("send")
        })
        .collect();
    p.flush().expect("flush");
    for f in futures {
        f.wait().expect("acknowledged");
    }
    (p, topic)
}

#[test]
fn metric_list_has_javas_names_and_values_after_real_sends() {
    let (p, topic) = send_some("metrics-list");
    let list = p.metric_list();
    // Every entry carries the client id first; the list is sorted.
    assert!(list
        .iter()
        .all(|e| e.tags.first() == Some(&("client-id", "metrics-list".to_string()))));
    let keys: Vec<_> = list
        .iter()
        .map(|e| (e.group, e.name, e.tags.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let g = PRODUCER_GROUP;
    // Java's record-send-total counts records as their batches are sent, retries included.
    let retries = one(&list, g, "record-retry-total");
    let sent = RECORDS as f64 + retries;
    assert_eq!(one(&list, g, "record-send-total"), sent);
    assert_eq!(one(&list, g, "record-error-total"), 0.0);
    assert!(one(&list, g, "record-send-rate") > 0.0);
    let per_request = one(&list, g, "records-per-request-avg");
    assert!(
        per_request >= 1.0 && per_request <= RECORDS as f64,
        "{per_request}"
    );
    let latency = one(&list, g, "request-latency-avg");
    assert!(latency.is_finite() && latency >= 0.0, "{latency}");
    assert!(one(&list, g, "request-latency-max") >= latency);
    // gzip of 100 identical bytes: batches shrink well below their uncompressed size.
    let ratio = one(&list, g, "compression-rate-avg");
    assert!(ratio > 0.0 && ratio < 0.9, "{ratio}");
    let batch_avg = one(&list, g, "batch-size-avg");
    assert!(batch_avg > 0.0 && one(&list, g, "batch-size-max") >= batch_avg);
    // A 100-byte value with a 2-4 byte key: one encoded record is a little over 100 bytes.
    let record_max = one(&list, g, "record-size-max");
    assert!((100.0..200.0).contains(&record_max), "{record_max}");
    let queue_max = one(&list, g, "record-queue-time-max");
    assert!(queue_max.is_finite() && queue_max >= 0.0, "{queue_max}");
    assert_eq!(one(&list, g, "produce-throttle-time-max"), 0.0);
    assert!(one(&list, g, "connection-count") >= 1.0);
    assert!(one(&list, g, "connection-creation-total") >= 1.0);
    assert!(
        one(&list, g, "request-total") >= 2.0,
        "metadata and produce requests"
    );
    assert!(one(&list, g, "response-total") >= 2.0);
    assert!(one(&list, g, "outgoing-byte-total") > 0.0);
    assert!(one(&list, g, "incoming-byte-rate") > 0.0);
    // Every batch gives its memory back (just after its futures resolve).
    let total = one(&list, g, "buffer-total-bytes");
    assert_eq!(total, 32.0 * 1024.0 * 1024.0, "buffer.memory");
    let freed = eventually(std::time::Duration::from_secs(10), || {
        (one(&p.metric_list(), g, "buffer-available-bytes") == total).then_some(())
    });
    assert!(
        freed.is_some(),
        "buffer-available-bytes never came back to {total}"
    );
    assert_eq!(one(&list, g, "bufferpool-wait-time-ns-total"), 0.0);
    for e in find(&list, g, "record-send-total") {
        assert_eq!(e.kind, MetricKind::Counter);
    }
    for e in find(&list, g, "record-send-rate") {
        assert_eq!(e.kind, MetricKind::Gauge);
    }

    // Per topic: only the topic sent to.
    let topics: Vec<_> = find(&list, TOPIC_GROUP, "record-send-total");
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].tag("topic"), Some(topic.as_str()));
    assert_eq!(topics[0].value, sent);
    assert_eq!(one(&list, TOPIC_GROUP, "record-retry-total"), retries);
    let bytes = one(&list, TOPIC_GROUP, "byte-total");
    assert!(
        bytes > 0.0 && bytes < (RECORDS * VALUE.len()) as f64,
        "compressed: {bytes}"
    );
    assert_eq!(one(&list, TOPIC_GROUP, "record-error-total"), 0.0);

    // Per broker: the one node, and the bootstrap connection as Java names it (`node--1`).
    let node = |name: &str| -> f64 {
        let found: Vec<_> = find(&list, NODE_GROUP, name)
            .into_iter()
            .filter(|e| e.tag("node-id").is_some_and(|n| !n.starts_with("node--")))
            .collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0].value
    };
    assert!(node("request-total") >= 1.0);
    assert!(node("request-latency-avg").is_finite());
    assert!(node("outgoing-byte-total") >= bytes);
    assert!(find(&list, NODE_GROUP, "request-total")
        .iter()
        .any(|e| e.tag("node-id") == Some("node--1")));

    // Errors before queuing count producer-wide (as Java's `errors` sensor).
    let refused = p.send(Record::new(topic.as_str()).partition(99).value("x"));
    assert!(refused.is_err() || refused.unwrap().wait().is_err());
    let after = p.metric_list();
    assert_eq!(one(&after, g, "record-error-total"), 1.0);
    assert!(one(&after, g, "record-error-rate") > 0.0);
    assert_eq!(p.metrics().record_error_total, 1);
    p.close().expect("close");
}

#[cfg(feature = "metrics-exporter")]
mod exporter {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    use super::*;

    type Seen = Arc<Mutex<HashMap<String, f64>>>;

    /// Keeps the last value of each metric, keyed `name{label=value,...}`.
    #[derive(Clone, Default)]
    struct Keeper(Seen);

    struct Slot(String, Seen);

    impl metrics::CounterFn for Slot {
        fn increment(&self, v: u64) {
            *self.1.lock().unwrap().entry(self.0.clone()).or_default() += v as f64;
        }
        fn absolute(&self, v: u64) {
            self.1.lock().unwrap().insert(self.0.clone(), v as f64);
        }
    }

    impl metrics::GaugeFn for Slot {
        fn increment(&self, v: f64) {
            *self.1.lock().unwrap().entry(self.0.clone()).or_default() += v;
        }
        fn decrement(&self, v: f64) {
            *self.1.lock().unwrap().entry(self.0.clone()).or_default() -= v;
        }
        fn set(&self, v: f64) {
            self.1.lock().unwrap().insert(self.0.clone(), v);
        }
    }

    fn render(key: &Key) -> String {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Keeper {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Slot(render(key), self.0.clone())))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Slot(render(key), self.0.clone())))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// A recorder that panics on every registration.
    struct Panicky;

    impl Recorder for Panicky {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
            panic!("exporter bug");
        }
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
            panic!("exporter bug");
        }
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            panic!("exporter bug");
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            panic!("exporter bug");
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn published_through_the_metrics_facade_with_javas_names_and_tags() {
        let (p, topic) = send_some("metrics-facade");
        let keeper = Keeper::default();
        let list = p.metric_list();
        let ok = metrics::with_local_recorder(&keeper, || volley::metrics::publish(&list));
        assert!(ok);
        let seen = keeper.0.lock().unwrap().clone();
        let client = "client-id=metrics-facade";
        // Every entry published once, under `<group>.<name>{tags}`.
        assert_eq!(seen.len(), list.len());
        let sent = one(&list, PRODUCER_GROUP, "record-send-total");
        assert!(sent >= RECORDS as f64);
        assert_eq!(
            seen[&format!("producer-metrics.record-send-total{{{client}}}")],
            sent
        );
        assert_eq!(
            seen[&format!("producer-topic-metrics.record-send-total{{{client},topic={topic}}}")],
            sent
        );
        assert!(seen[&format!("producer-metrics.request-latency-avg{{{client}}}")].is_finite());
        assert!(seen
            .keys()
            .any(|k| k.starts_with("producer-node-metrics.request-total{")
                && k.contains(",node-id=node-")));

        // A panicking exporter is caught: publish reports it, the producer goes on.
        let ok =
            metrics::with_local_recorder(&Panicky, || volley::metrics::publish(&p.metric_list()));
        assert!(!ok);
        p.send(Record::new(topic.as_str()).value("after"))
            .expect("send")
            .wait()
            .expect("still sends");

        // The periodic publisher (global recorder: this is the only test that installs one).
        let global = Keeper::default();
        metrics::set_global_recorder(global.clone()).expect("first recorder");
        let publisher =
            volley::metrics::MetricsPublisher::start(&p, Duration::from_millis(20)).expect("start");
        let key = format!("producer-metrics.record-send-total{{{client}}}");
        let got = eventually(Duration::from_secs(10), || {
            global.0.lock().unwrap().get(&key).copied()
        });
        let expected = one(&p.metric_list(), PRODUCER_GROUP, "record-send-total");
        assert!(expected > sent);
        assert_eq!(got, Some(expected));
        publisher.stop();
        p.close().expect("close");
    }
}

#[cfg(feature = "opentelemetry")]
mod otel {
    use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use volley::otel::TraceContextInterceptor;

    use super::*;

    #[test]
    fn a_record_sent_in_a_span_carries_its_traceparent() {
        let topic = unique_topic("otel");
        create_topic(&topic, 1, &[]);
        let bs = bootstrap();
        let cfg = volley::ProducerConfig::from_properties([("bootstrap.servers", bs.as_str())])
            .expect("config");
        let p = Producer::builder(cfg)
            .interceptor(TraceContextInterceptor::with_propagator(
                TraceContextPropagator::new(),
            ))
            .build()
            .expect("producer");
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("volley-test");
        let expected = tracer.in_span("produce orders", |cx| {
            let sc = cx.span().span_context().clone();
            p.send(Record::new(topic.as_str()).value("traced"))
                .expect("send")
                .wait()
                .expect("acknowledged");
            format!("00-{}-{}-01", sc.trace_id(), sc.span_id())
        });
        // Outside any span: no header.
        p.send(Record::new(topic.as_str()).value("untraced"))
            .expect("send")
            .wait()
            .expect("acknowledged");
        p.close().expect("close");
        let records = consume(&topic, 2);
        let traced = records
            .iter()
            .find(|r| r.value.as_deref() == Some("traced"))
            .unwrap();
        assert_eq!(
            traced.headers,
            vec![("traceparent".to_string(), Some(expected))]
        );
        let untraced = records
            .iter()
            .find(|r| r.value.as_deref() == Some("untraced"))
            .unwrap();
        assert!(untraced.headers.is_empty(), "{:?}", untraced.headers);
    }
}
