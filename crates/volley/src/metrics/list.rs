//! Every metric under Java's group, name and tags: the list that
//! [`crate::Producer::metric_list`] returns and the exporter publishes.

use std::time::Instant;

use super::stats::SenderStats;
use super::window::Sampled;
use super::Metrics;

/// Java's producer-wide group.
pub const PRODUCER_GROUP: &str = "producer-metrics";
/// Java's per-topic group (tags `client-id`, `topic`).
pub const TOPIC_GROUP: &str = "producer-topic-metrics";
/// Java's per-broker group (tags `client-id`, `node-id`, the latter `node-<id>`).
pub const NODE_GROUP: &str = "producer-node-metrics";

/// Whether a metric only grows (a Java `CumulativeSum`/`CumulativeCount`, the `*-total` ones)
/// or is a value at the time it is read (rates, averages, maxima, gauges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Monotonic: a counter for an exporter.
    Counter,
    /// A reading: a gauge for an exporter.
    Gauge,
}

/// One metric as Java's `producer.metrics()` map holds it: its `MetricName` (group, name,
/// tags, description) and its value.
///
/// Units are Java's: latencies and queue times in milliseconds, sizes in bytes, rates per
/// second over Java's default window ([`crate::metrics::SAMPLES`] samples of
/// [`crate::metrics::SAMPLE_WINDOW`]), compression rates as compressed over uncompressed size.
/// An average or maximum with no value in the window is `NaN`, as in Java.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricEntry {
    /// [`PRODUCER_GROUP`], [`TOPIC_GROUP`] or [`NODE_GROUP`].
    pub group: &'static str,
    /// Java's metric name, e.g. `record-send-rate`.
    pub name: &'static str,
    /// `client-id` first, then `topic` or `node-id`.
    pub tags: Vec<(&'static str, String)>,
    /// The value (counts as floating point too, as Java's `metricValue()`).
    pub value: f64,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Java's description.
    pub description: &'static str,
}

impl MetricEntry {
    /// The tag named `key`, if any.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Kafka's `ProducerPerformance --print-metrics` key: `group:name:{tag=value, ...}`.
    pub fn display_key(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}:{}:{{{}}}", self.group, self.name, tags.join(", "))
    }
}

struct Builder {
    out: Vec<MetricEntry>,
    group: &'static str,
    tags: Vec<(&'static str, String)>,
    now: Instant,
}

impl Builder {
    fn push(
        &mut self,
        name: &'static str,
        kind: MetricKind,
        value: f64,
        description: &'static str,
    ) {
        self.out.push(MetricEntry {
            group: self.group,
            name,
            tags: self.tags.clone(),
            value,
            kind,
            description,
        });
    }

    fn total(&mut self, name: &'static str, value: u64, description: &'static str) {
        self.push(name, MetricKind::Counter, value as f64, description);
    }

    fn gauge(&mut self, name: &'static str, value: f64, description: &'static str) {
        self.push(name, MetricKind::Gauge, value, description);
    }

    /// A windowed value (`read` is one of `Sampled`'s measures), always a gauge.
    fn sampled(
        &mut self,
        read: fn(&Sampled, Instant) -> f64,
        name: &'static str,
        s: &Sampled,
        description: &'static str,
    ) {
        let v = read(s, self.now);
        self.gauge(name, v, description);
    }
}

/// What the list is built from besides the counters and the sender's statistics.
pub(crate) struct PoolReading {
    pub waiting_threads: usize,
}

/// The full list at `now`, sorted by group, name and tags.
pub(crate) fn build(
    client_id: &str,
    m: &Metrics,
    s: &SenderStats,
    pool: PoolReading,
    now: Instant,
) -> Vec<MetricEntry> {
    let client = ("client-id", client_id.to_string());
    let mut b = Builder {
        out: Vec::with_capacity(64 + 10 * (s.topics.len() + s.nodes.len())),
        group: PRODUCER_GROUP,
        tags: vec![client.clone()],
        now,
    };
    producer_wide(&mut b, m, s, pool);
    b.group = TOPIC_GROUP;
    for (topic, t) in &s.topics {
        b.tags = vec![client.clone(), ("topic", topic.to_string())];
        b.sampled(
            Sampled::rate,
            "record-send-rate",
            &t.records,
            "The average number of records sent per second for a topic.",
        );
        b.total(
            "record-send-total",
            t.records_total,
            "The total number of records sent for a topic.",
        );
        b.sampled(
            Sampled::rate,
            "byte-rate",
            &t.bytes,
            "The average number of bytes sent per second for a topic.",
        );
        b.total(
            "byte-total",
            t.bytes_total,
            "The total number of bytes sent for a topic.",
        );
        b.sampled(Sampled::avg, "compression-rate", &t.compression, "The average compression rate of record batches for a topic, defined as the average ratio of the compressed batch size over the uncompressed size.");
        b.sampled(
            Sampled::rate,
            "record-retry-rate",
            &t.retries,
            "The average per-second number of retried record sends for a topic",
        );
        b.total(
            "record-retry-total",
            t.retries_total,
            "The total number of retried record sends for a topic",
        );
        b.sampled(
            Sampled::rate,
            "record-error-rate",
            &t.errors,
            "The average per-second number of record sends that resulted in errors for a topic",
        );
        b.total(
            "record-error-total",
            t.errors_total,
            "The total number of record sends that resulted in errors for a topic",
        );
    }
    b.group = NODE_GROUP;
    for (node, n) in &s.nodes {
        b.tags = vec![client.clone(), ("node-id", format!("node-{node}"))];
        b.sampled(
            Sampled::event_rate,
            "request-rate",
            &n.sent,
            "The number of requests sent per second",
        );
        b.total(
            "request-total",
            n.requests_total,
            "The total number of requests sent",
        );
        b.sampled(
            Sampled::avg,
            "request-size-avg",
            &n.sent,
            "The average size of requests sent.",
        );
        b.sampled(
            Sampled::max,
            "request-size-max",
            &n.sent,
            "The maximum size of any request sent.",
        );
        b.sampled(
            Sampled::rate,
            "outgoing-byte-rate",
            &n.sent,
            "The number of outgoing bytes per second",
        );
        b.total(
            "outgoing-byte-total",
            n.sent_bytes_total,
            "The total number of outgoing bytes",
        );
        b.sampled(
            Sampled::event_rate,
            "response-rate",
            &n.received,
            "The number of responses received per second",
        );
        b.total(
            "response-total",
            n.responses_total,
            "The total number of responses received",
        );
        b.sampled(
            Sampled::rate,
            "incoming-byte-rate",
            &n.received,
            "The number of incoming bytes per second",
        );
        b.total(
            "incoming-byte-total",
            n.received_bytes_total,
            "The total number of incoming bytes",
        );
        b.sampled(
            Sampled::avg,
            "request-latency-avg",
            &n.latency,
            "The average request latency in ms for a node",
        );
        b.sampled(
            Sampled::max,
            "request-latency-max",
            &n.latency,
            "The maximum request latency in ms for a node",
        );
    }
    let mut out = b.out;
    out.sort_by(|a, b| (a.group, a.name, &a.tags).cmp(&(b.group, b.name, &b.tags)));
    out
}

fn producer_wide(b: &mut Builder, m: &Metrics, s: &SenderStats, pool: PoolReading) {
    // The sender's (Java's SenderMetricsRegistry).
    b.sampled(
        Sampled::rate,
        "record-send-rate",
        &s.records_per_request,
        "The average number of records sent per second.",
    );
    b.total(
        "record-send-total",
        s.records_sent_total,
        "The total number of records sent.",
    );
    b.sampled(
        Sampled::avg,
        "records-per-request-avg",
        &s.records_per_request,
        "The average number of records per request.",
    );
    b.sampled(
        Sampled::rate,
        "record-retry-rate",
        &s.retries,
        "The average per-second number of retried record sends",
    );
    b.total(
        "record-retry-total",
        m.record_retry_total,
        "The total number of retried record sends",
    );
    b.sampled(
        Sampled::rate,
        "record-error-rate",
        &s.errors,
        "The average per-second number of record sends that resulted in errors",
    );
    b.total(
        "record-error-total",
        m.record_error_total,
        "The total number of record sends that resulted in errors",
    );
    b.sampled(
        Sampled::avg,
        "request-latency-avg",
        &s.request_latency,
        "The average request latency in ms",
    );
    b.sampled(
        Sampled::max,
        "request-latency-max",
        &s.request_latency,
        "The maximum request latency in ms",
    );
    b.sampled(
        Sampled::avg,
        "batch-size-avg",
        &s.batch_size,
        "The average number of bytes sent per partition per-request.",
    );
    b.sampled(
        Sampled::max,
        "batch-size-max",
        &s.batch_size,
        "The max number of bytes sent per partition per-request.",
    );
    b.sampled(Sampled::avg, "compression-rate-avg", &s.compression, "The average compression rate of record batches, defined as the average ratio of the compressed batch size over the uncompressed size.");
    b.sampled(
        Sampled::avg,
        "record-queue-time-avg",
        &s.queue_time,
        "The average time in ms record batches spent in the send buffer.",
    );
    b.sampled(
        Sampled::max,
        "record-queue-time-max",
        &s.queue_time,
        "The maximum time in ms record batches spent in the send buffer.",
    );
    b.sampled(
        Sampled::avg,
        "record-size-avg",
        &s.record_size,
        "The average record size",
    );
    b.sampled(
        Sampled::max,
        "record-size-max",
        &s.record_size,
        "The maximum record size",
    );
    b.sampled(
        Sampled::rate,
        "batch-split-rate",
        &s.splits,
        "The average number of batch splits per second",
    );
    b.total(
        "batch-split-total",
        m.batch_split_total,
        "The total number of batch splits",
    );
    b.sampled(
        Sampled::avg,
        "produce-throttle-time-avg",
        &s.throttle,
        "The average time in ms a request was throttled by a broker",
    );
    b.sampled(
        Sampled::max,
        "produce-throttle-time-max",
        &s.throttle,
        "The maximum time in ms a request was throttled by a broker",
    );
    // The accumulator's (Java's RecordAccumulator and BufferPool).
    b.gauge("buffer-total-bytes", m.buffer_total_bytes as f64, "The maximum amount of buffer memory the client can use (whether or not it is currently used).");
    b.gauge("buffer-available-bytes", m.buffer_available_bytes as f64, "The total amount of buffer memory that is not being used (either unallocated or in the free list).");
    b.gauge(
        "waiting-threads",
        pool.waiting_threads as f64,
        "The number of user threads blocked waiting for buffer memory to enqueue their records",
    );
    b.total(
        "bufferpool-wait-time-ns-total",
        m.bufferpool_wait_time_ns_total,
        "The total time in nanoseconds an appender waits for space allocation.",
    );
    // The network's (Java's Selector, group producer-metrics).
    b.sampled(
        Sampled::event_rate,
        "request-rate",
        &s.sent,
        "The number of requests sent per second",
    );
    b.total(
        "request-total",
        s.requests_total,
        "The total number of requests sent",
    );
    b.sampled(
        Sampled::avg,
        "request-size-avg",
        &s.sent,
        "The average size of requests sent.",
    );
    b.sampled(
        Sampled::max,
        "request-size-max",
        &s.sent,
        "The maximum size of any request sent.",
    );
    b.sampled(
        Sampled::event_rate,
        "response-rate",
        &s.received,
        "The number of responses received per second",
    );
    b.total(
        "response-total",
        m.response_total,
        "The total number of responses received",
    );
    b.sampled(
        Sampled::rate,
        "outgoing-byte-rate",
        &s.sent,
        "The number of outgoing bytes sent to all servers per second",
    );
    b.total(
        "outgoing-byte-total",
        m.outgoing_byte_total,
        "The total number of outgoing bytes sent to all servers",
    );
    b.sampled(
        Sampled::rate,
        "incoming-byte-rate",
        &s.received,
        "The number of bytes read off all sockets per second",
    );
    b.total(
        "incoming-byte-total",
        m.incoming_byte_total,
        "The total number of bytes read off all sockets",
    );
    b.sampled(
        Sampled::event_rate,
        "connection-creation-rate",
        &s.connections_created,
        "The number of new connections established per second",
    );
    b.total(
        "connection-creation-total",
        m.connection_creation_total,
        "The total number of new connections established",
    );
    b.sampled(
        Sampled::event_rate,
        "connection-close-rate",
        &s.connections_closed,
        "The number of connections closed per second",
    );
    b.total(
        "connection-close-total",
        m.connection_close_total,
        "The total number of connections closed",
    );
    b.gauge(
        "connection-count",
        s.connection_count as f64,
        "The current number of active connections.",
    );
    b.total(
        "successful-reauthentication-total",
        m.successful_reauthentication_total,
        "The total number of successful re-authentication of connections",
    );
}
