//! What the sender reports without changing anything: the windowed metrics of each Produce
//! request and batch (`metrics/stats.rs`) and its `tracing` spans.
//!
//! Spans (target `volley::sender`): `produce_request` at DEBUG, opened when a Produce request is
//! queued (fields `node`, `bytes`, `partitions`) and closed when its answer is handled, with
//! `latency_ms` and `outcome` (`ok`, `undecodable`, or `lost`, and `error`); `produce_batch` at
//! DEBUG around each batch's completion (its callbacks and interceptors run inside it), with
//! `topic`, `partition`, `records`, `attempts` and, on failure, `error`. Nothing per record.
//! When the level is disabled a span is `Span::none()`: creating and closing it costs a check
//! of the callsite's cached interest.

use std::time::Instant;

use tracing::field::Empty;

use crate::accumulator::batch::{Ack, ProducerBatch};
use crate::error::Error;
use crate::metrics::stats::BatchSent;
use crate::shared::Shared;

/// Records a Produce request's batches (once per request, under the stats lock) and opens its
/// span.
pub(super) fn produce_sent(
    shared: &Shared,
    now: Instant,
    node: i32,
    bytes: usize,
    batches: &[ProducerBatch],
) -> tracing::Span {
    {
        let mut stats = shared.stats.lock();
        stats.request_sent(now, node, bytes);
        stats.produce_sent(
            now,
            batches.iter().map(|b| {
                let closed = b.closed.as_ref();
                (
                    &b.topic,
                    BatchSent {
                        records: b.record_count,
                        bytes: closed.map_or(0, |c| c.as_bytes().len()),
                        uncompressed: closed.map_or(0, |c| c.uncompressed_size()),
                        queue_time_ms: now.saturating_duration_since(b.created).as_secs_f64()
                            * 1000.0,
                        max_record_size: b.max_record_size,
                        retry: b.attempts > 0,
                    },
                )
            }),
        );
    }
    tracing::debug_span!(
        target: "volley::sender",
        "produce_request",
        node,
        bytes,
        partitions = batches.len(),
        latency_ms = Empty,
        outcome = Empty,
        error = Empty,
    )
}

/// Closes a Produce request's span with its answer.
pub(super) fn request_answered<T, E: std::fmt::Display>(
    span: &tracing::Span,
    latency_us: u64,
    decoded: &Result<T, E>,
) {
    if span.is_disabled() {
        return;
    }
    span.record("latency_ms", latency_us as f64 / 1000.0);
    match decoded {
        Ok(_) => span.record("outcome", "ok"),
        Err(e) => span
            .record("outcome", "undecodable")
            .record("error", tracing::field::display(e)),
    };
}

/// A request lost with its connection.
pub(super) fn request_lost(span: &tracing::Span, reason: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "lost").record("error", reason);
}

/// The span a batch's completion runs in.
pub(super) fn batch_span(b: &ProducerBatch, result: &Result<Ack, Error>) -> tracing::Span {
    let span = tracing::debug_span!(
        target: "volley::sender",
        "produce_batch",
        topic = %b.topic,
        partition = b.partition,
        records = b.record_count,
        attempts = b.attempts,
        error = Empty,
    );
    if let Err(e) = result {
        span.record("error", tracing::field::display(e));
        span.in_scope(|| tracing::debug!(target: "volley::sender", error = %e, "batch failed"));
    }
    span
}
