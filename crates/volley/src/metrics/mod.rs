//! Producer metrics: counters kept with relaxed atomics, read as a [`Metrics`] snapshot, and
//! the full list under the Java producer's names ([`MetricEntry`], from
//! [`crate::Producer::metric_list`]): totals from the counters, rates, averages and maxima from
//! windowed samples that the I/O thread records per request, response and batch (never per
//! record). Rates, averages and maxima cover Java's default window: [`SAMPLES`] samples of
//! [`SAMPLE_WINDOW`] (the last 30 to 60 seconds).

#[cfg(feature = "metrics-exporter")]
mod export;
mod list;
pub(crate) mod stats;
mod window;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::shared::Shared;

#[cfg(feature = "metrics-exporter")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics-exporter")))]
pub use export::{publish, MetricsPublisher};
pub use list::{MetricEntry, MetricKind, NODE_GROUP, PRODUCER_GROUP, TOPIC_GROUP};
pub use window::{SAMPLES, SAMPLE_WINDOW};

/// A point-in-time snapshot of the producer's counters (names follow the Java producer's
/// `producer-metrics` group where one exists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Records acknowledged. (Java's `record-send-total`, in [`MetricEntry`]'s list, counts
    /// records as they are sent instead, retries included.)
    pub record_send_total: u64,
    /// Records that ended in an error (`record-error-total`).
    pub record_error_total: u64,
    /// Record retries, counted per batch record (`record-retry-total`).
    pub record_retry_total: u64,
    /// Batches sent, retries included (Volley's `batch-send-total`; Java has no such metric).
    pub batch_send_total: u64,
    /// Batches split after MESSAGE_TOO_LARGE (`batch-split-total`).
    pub batch_split_total: u64,
    /// Produce requests sent (Volley's `produce-request-total` in `volley perf
    /// --print-metrics`; Java's `request-total` counts requests of every kind).
    pub request_total: u64,
    /// Responses received (`response-total`).
    pub response_total: u64,
    /// Bytes written to brokers (`outgoing-byte-total`).
    pub outgoing_byte_total: u64,
    /// Bytes read from brokers (`incoming-byte-total`).
    pub incoming_byte_total: u64,
    /// Sum of produce request latencies in microseconds (with `request_total`, the average).
    pub request_latency_us_total: u64,
    /// Largest produce request latency seen, in microseconds (`request-latency-max`).
    pub request_latency_us_max: u64,
    /// Connections made (`connection-creation-total`).
    pub connection_creation_total: u64,
    /// Connections closed (`connection-close-total`).
    pub connection_close_total: u64,
    /// Re-authentications of live connections before their SASL session ended (KIP-368,
    /// `successful-reauthentication-total`).
    pub successful_reauthentication_total: u64,
    /// Metadata responses applied.
    pub metadata_update_total: u64,
    /// Partitions moved to a new leader named by a Produce response (KIP-951's
    /// `CurrentLeader`), without waiting for a metadata refresh.
    pub leader_hint_total: u64,
    /// Rebootstraps: times the producer forgot its brokers and bootstrapped again from
    /// `bootstrap.servers` (KIP-899, `metadata.recovery.strategy=rebootstrap`; Volley's own
    /// count, Java has no metric for it).
    pub rebootstrap_total: u64,
    /// Free bytes in the buffer pool (`buffer-available-bytes`).
    pub buffer_available_bytes: u64,
    /// `buffer.memory` (`buffer-total-bytes`).
    pub buffer_total_bytes: u64,
    /// Sum of uncompressed record bytes of closed batches.
    pub uncompressed_bytes_total: u64,
    /// Sum of wire bytes of closed batches (with the above: `compression-rate-avg`).
    pub compressed_bytes_total: u64,
    /// Sum of the `throttle_time_ms` of Produce responses, in milliseconds (KIP-219; with
    /// `produce_throttle_time_count`, `produce-throttle-time-avg`: see
    /// [`Metrics::produce_throttle_time_avg`]).
    pub produce_throttle_time_ms_total: u64,
    /// Produce responses whose throttle time was counted (every one, zero included).
    pub produce_throttle_time_count: u64,
    /// Largest `throttle_time_ms` of a Produce response, in milliseconds
    /// (`produce-throttle-time-max`).
    pub produce_throttle_time_max: u64,
    /// Total time callers waited for buffer memory, in nanoseconds
    /// (`bufferpool-wait-time-ns-total`; a wait is counted when it ends).
    pub bufferpool_wait_time_ns_total: u64,
}

impl Metrics {
    /// Average `throttle_time_ms` of the Produce responses, in milliseconds
    /// (`produce-throttle-time-avg`, over the producer's life rather than Java's sample
    /// window); `NaN` before the first response, as Java's.
    pub fn produce_throttle_time_avg(&self) -> f64 {
        self.produce_throttle_time_ms_total as f64 / self.produce_throttle_time_count as f64
    }
}

/// The typed snapshot of a producer's state.
pub(crate) fn snapshot_of(shared: &Shared) -> Metrics {
    let pool = &shared.acc.pool;
    let mut m = shared
        .counters
        .snapshot(pool.available() as u64, pool.total() as u64);
    m.bufferpool_wait_time_ns_total = pool.wait_time_ns();
    m
}

/// The full list under Java's names (see [`crate::Producer::metric_list`]).
pub(crate) fn list_of(shared: &Shared, client_id: &str) -> Vec<MetricEntry> {
    let m = snapshot_of(shared);
    let pool = list::PoolReading {
        waiting_threads: shared.acc.pool.waiting(),
    };
    let stats = shared.stats.lock();
    list::build(client_id, &m, &stats, pool, std::time::Instant::now())
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub record_send: AtomicU64,
    pub record_error: AtomicU64,
    pub record_retry: AtomicU64,
    pub batch_send: AtomicU64,
    pub batch_split: AtomicU64,
    pub request: AtomicU64,
    pub response: AtomicU64,
    pub outgoing_bytes: AtomicU64,
    pub incoming_bytes: AtomicU64,
    pub request_latency_us: AtomicU64,
    pub request_latency_us_max: AtomicU64,
    pub connection_creation: AtomicU64,
    pub connection_close: AtomicU64,
    pub reauthentication: AtomicU64,
    pub metadata_update: AtomicU64,
    pub leader_hint: AtomicU64,
    pub rebootstrap: AtomicU64,
    pub uncompressed_bytes: AtomicU64,
    pub compressed_bytes: AtomicU64,
    pub produce_throttle_time_ms: AtomicU64,
    pub produce_throttle_count: AtomicU64,
    pub produce_throttle_time_ms_max: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn max(c: &AtomicU64, n: u64) {
        c.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, buffer_available: u64, buffer_total: u64) -> Metrics {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            record_send_total: g(&self.record_send),
            record_error_total: g(&self.record_error),
            record_retry_total: g(&self.record_retry),
            batch_send_total: g(&self.batch_send),
            batch_split_total: g(&self.batch_split),
            request_total: g(&self.request),
            response_total: g(&self.response),
            outgoing_byte_total: g(&self.outgoing_bytes),
            incoming_byte_total: g(&self.incoming_bytes),
            request_latency_us_total: g(&self.request_latency_us),
            request_latency_us_max: g(&self.request_latency_us_max),
            connection_creation_total: g(&self.connection_creation),
            connection_close_total: g(&self.connection_close),
            successful_reauthentication_total: g(&self.reauthentication),
            metadata_update_total: g(&self.metadata_update),
            leader_hint_total: g(&self.leader_hint),
            rebootstrap_total: g(&self.rebootstrap),
            buffer_available_bytes: buffer_available,
            buffer_total_bytes: buffer_total,
            uncompressed_bytes_total: g(&self.uncompressed_bytes),
            compressed_bytes_total: g(&self.compressed_bytes),
            produce_throttle_time_ms_total: g(&self.produce_throttle_time_ms),
            produce_throttle_time_count: g(&self.produce_throttle_count),
            produce_throttle_time_max: g(&self.produce_throttle_time_ms_max),
            bufferpool_wait_time_ns_total: 0,
        }
    }
}
