//! The windowed side of the producer's metrics: what Java keeps in sensors (rates, averages,
//! maxima) and the per-topic and per-broker counts. The I/O thread records here once per
//! request, response, batch or connection event (never per record), under one uncontended
//! lock shared with readers of [`crate::Producer::metric_list`]; the sender passes its own
//! `now`, so recording only observes the state machine.

use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;

use super::window::Sampled;

/// A batch as it goes into a Produce request (Java's `SenderMetrics.updateProduceRequestMetrics`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSent {
    pub records: u32,
    /// Wire bytes (compressed).
    pub bytes: usize,
    /// Uncompressed record bytes.
    pub uncompressed: usize,
    /// Milliseconds since the batch was created.
    pub queue_time_ms: f64,
    /// Largest record of the batch, in bytes.
    pub max_record_size: u32,
    /// Whether this is a retry.
    pub retry: bool,
}

impl BatchSent {
    /// Java's `ProducerBatch.compressionRatio`: compressed over uncompressed size.
    fn compression_ratio(&self) -> f64 {
        if self.uncompressed == 0 {
            1.0
        } else {
            self.bytes as f64 / self.uncompressed as f64
        }
    }
}

/// `producer-topic-metrics` for one topic.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicStats {
    /// Records per batch sent (rate: records per second).
    pub records: Sampled,
    pub records_total: u64,
    /// Bytes per batch sent.
    pub bytes: Sampled,
    pub bytes_total: u64,
    pub compression: Sampled,
    pub retries: Sampled,
    pub retries_total: u64,
    pub errors: Sampled,
    pub errors_total: u64,
}

/// `producer-node-metrics` for one broker.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeStats {
    /// Bytes per request sent (event rate: requests per second).
    pub sent: Sampled,
    pub requests_total: u64,
    pub sent_bytes_total: u64,
    /// Bytes per response received.
    pub received: Sampled,
    pub responses_total: u64,
    pub received_bytes_total: u64,
    /// Produce request latency in milliseconds.
    pub latency: Sampled,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SenderStats {
    /// Records per Produce request (`record-send-rate`, `records-per-request-avg`).
    pub records_per_request: Sampled,
    /// Records in sent batches, retries included (Java's `record-send-total`).
    pub records_sent_total: u64,
    pub retries: Sampled,
    pub errors: Sampled,
    pub batch_size: Sampled,
    pub compression: Sampled,
    pub queue_time: Sampled,
    pub record_size: Sampled,
    pub request_latency: Sampled,
    pub throttle: Sampled,
    pub splits: Sampled,
    /// Bytes per request sent, every API (`request-rate`, `request-size-*`, `outgoing-byte-rate`).
    pub sent: Sampled,
    pub requests_total: u64,
    /// Bytes per response received.
    pub received: Sampled,
    pub connections_created: Sampled,
    pub connections_closed: Sampled,
    /// Open connections (`connection-count`).
    pub connection_count: u64,
    pub topics: FxHashMap<Arc<str>, TopicStats>,
    pub nodes: FxHashMap<i32, NodeStats>,
}

impl SenderStats {
    fn topic(&mut self, topic: &Arc<str>) -> &mut TopicStats {
        if !self.topics.contains_key(&**topic) {
            self.topics.insert(topic.clone(), TopicStats::default());
        }
        self.topics.get_mut(&**topic).expect("inserted")
    }

    fn node(&mut self, node: i32) -> &mut NodeStats {
        self.nodes.entry(node).or_default()
    }

    /// A request of `bytes` (frame) went to `node`.
    pub(crate) fn request_sent(&mut self, now: Instant, node: i32, bytes: usize) {
        self.sent.record(now, bytes as f64);
        self.requests_total += 1;
        let n = self.node(node);
        n.sent.record(now, bytes as f64);
        n.requests_total += 1;
        n.sent_bytes_total += bytes as u64;
    }

    /// A response of `bytes` came from `node`.
    pub(crate) fn response_received(&mut self, now: Instant, node: i32, bytes: usize) {
        self.received.record(now, bytes as f64);
        let n = self.node(node);
        n.received.record(now, bytes as f64);
        n.responses_total += 1;
        n.received_bytes_total += bytes as u64;
    }

    /// The batches of one Produce request.
    pub(crate) fn produce_sent<'a>(
        &mut self,
        now: Instant,
        batches: impl Iterator<Item = (&'a Arc<str>, BatchSent)>,
    ) {
        let mut records = 0u64;
        for (topic, b) in batches {
            records += b.records as u64;
            let ratio = b.compression_ratio();
            self.batch_size.record(now, b.bytes as f64);
            self.compression.record(now, ratio);
            self.queue_time.record(now, b.queue_time_ms);
            self.record_size.record(now, b.max_record_size as f64);
            if b.retry {
                self.retries.record(now, b.records as f64);
            }
            let t = self.topic(topic);
            t.records.record(now, b.records as f64);
            t.records_total += b.records as u64;
            t.bytes.record(now, b.bytes as f64);
            t.bytes_total += b.bytes as u64;
            t.compression.record(now, ratio);
            if b.retry {
                t.retries.record(now, b.records as f64);
                t.retries_total += b.records as u64;
            }
        }
        self.records_per_request.record(now, records as f64);
        self.records_sent_total += records;
    }

    /// `records` records of `topic` failed (`topic` is `None` for a record refused before it
    /// was queued, counted only producer-wide as in Java).
    pub(crate) fn records_failed(&mut self, now: Instant, topic: Option<&Arc<str>>, records: u32) {
        self.errors.record(now, records as f64);
        if let Some(topic) = topic {
            let t = self.topic(topic);
            t.errors.record(now, records as f64);
            t.errors_total += records as u64;
        }
    }

    /// A Produce response from `node` after `latency_ms`.
    pub(crate) fn produce_latency(&mut self, now: Instant, node: i32, latency_ms: f64) {
        self.request_latency.record(now, latency_ms);
        self.node(node).latency.record(now, latency_ms);
    }

    /// A Produce response's throttle time (every response, zero included, as Java's sensor).
    pub(crate) fn produce_throttle(&mut self, now: Instant, throttle_ms: f64) {
        self.throttle.record(now, throttle_ms);
    }

    pub(crate) fn batch_split(&mut self, now: Instant) {
        self.splits.record(now, 1.0);
    }

    pub(crate) fn connection_created(&mut self, now: Instant) {
        self.connections_created.record(now, 1.0);
        self.connection_count += 1;
    }

    /// A connection closed (`was_up`: it had been established, so it leaves the count).
    pub(crate) fn connection_closed(&mut self, now: Instant, was_up: bool) {
        self.connections_closed.record(now, 1.0);
        if was_up {
            self.connection_count = self.connection_count.saturating_sub(1);
        }
    }
}
