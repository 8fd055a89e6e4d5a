//! KIP-714 client telemetry: the producer asks a broker which of its metrics to push
//! (GetTelemetrySubscriptions) and pushes them as OTLP `MetricsData` (PushTelemetry) at the
//! interval the broker sets, with a last push marked `terminating` when it closes.
//!
//! [`ClientTelemetry`] is the state machine (Java's `ClientTelemetryReporter` sender and
//! `ClientTelemetryState`). Like the sender it reads no clock and owns no socket: the sender
//! asks it what is due at `now` ([`ClientTelemetry::due`]), sends the request it builds to a
//! broker that advertises both APIs, and hands back the response or the failure.
//!
//! Rules followed (Java 4.x's `ClientTelemetryReporter` and `ClientTelemetryUtils`):
//! - the first GetTelemetrySubscriptions goes out as soon as a broker offering it is
//!   connected, with a zero client instance id; the broker assigns one, kept for the
//!   producer's life;
//! - an empty `RequestedMetrics` means no metrics: the subscription is asked again after the
//!   push interval; `*` (or one empty string, as KIP-714 writes it) means all; otherwise a
//!   metric is pushed when its name starts with one of the prefixes;
//! - the first push of a subscription comes after a random 0.5 to 1.5 times the push interval
//!   (so that clients started together do not push together), then every push interval;
//! - the payload is compressed with the first of the broker's `AcceptedCompressionTypes`
//!   (none if it lists none); a payload over `TelemetryMaxBytes` is not sent;
//! - with `DeltaTemporality` sums carry the change since the last push, otherwise the total
//!   since the producer started; a change of temporality starts the deltas over;
//! - errors: INVALID_REQUEST, INVALID_RECORD, UNSUPPORTED_VERSION and any unknown code stop
//!   telemetry for the producer's life; UNKNOWN_SUBSCRIPTION_ID and
//!   UNSUPPORTED_COMPRESSION_TYPE ask for the subscription again at once; TELEMETRY_TOO_LARGE
//!   and THROTTLING_QUOTA_EXCEEDED ask for it again after the push interval;
//! - a request lost with its connection (or timed out) asks for the subscription again after
//!   a backoff (`retry.backoff.ms` growing to `retry.backoff.max.ms`). Java stops telemetry
//!   for good then; Volley does not, since a broker restart would otherwise end it;
//! - on close, once every record has resolved, one push marked `terminating` is sent (if a
//!   subscription with metrics is held and a broker offering telemetry is connected and not
//!   throttled; otherwise it is skipped) and its answer awaited (at most `request.timeout.ms`,
//!   and within the close timeout); nothing more is sent after it.

pub(crate) mod otlp;

use std::time::Duration;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest,
    PushTelemetryResponse,
};
use kafka_protocol::protocol::StrBytes;
use rustc_hash::FxHashMap;
use uuid::Uuid;

use crate::error::KafkaCode;
use crate::metrics::Metrics;
use crate::protocol::compression::{Compression, CompressionCodec};
use otlp::{
    Gauge, KeyValue, Metric, MetricData, MetricsData, NumberDataPoint, NumberValue, Resource,
    ResourceMetrics, ScopeMetrics, Sum, TEMPORALITY_CUMULATIVE, TEMPORALITY_DELTA,
};

/// Java's `ClientTelemetryReporter.DEFAULT_PUSH_INTERVAL_MS`: used when the broker's push
/// interval is not positive, and after errors that name no interval.
pub(crate) const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The prefix of every producer metric's telemetry name (Java's domain `org.apache.kafka`,
/// then the group `producer-metrics` without `-metrics`, dashes made dots).
pub const METRIC_PREFIX: &str = "org.apache.kafka.producer.";

/// How a metric is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A monotonic sum (Java's `CumulativeSum`/`CumulativeCount` metrics, the `*-total` ones).
    Sum,
    /// A value at the time of the push.
    Gauge,
}

/// Reads one metric from a snapshot.
type Reader = fn(&Metrics) -> u64;

/// The producer metrics offered to telemetry: the name after [`METRIC_PREFIX`] (Java's metric
/// name with dots for dashes), the kind, and where the value comes from. Java's windowed
/// rates, averages and maxima have no counterpart in Volley's counters and are not offered.
const CATALOGUE: &[(&str, Kind, Reader)] = &[
    ("record.send.total", Kind::Sum, |m| m.record_send_total),
    ("record.error.total", Kind::Sum, |m| m.record_error_total),
    ("record.retry.total", Kind::Sum, |m| m.record_retry_total),
    ("batch.split.total", Kind::Sum, |m| m.batch_split_total),
    ("response.total", Kind::Sum, |m| m.response_total),
    ("outgoing.byte.total", Kind::Sum, |m| m.outgoing_byte_total),
    ("incoming.byte.total", Kind::Sum, |m| m.incoming_byte_total),
    ("connection.creation.total", Kind::Sum, |m| {
        m.connection_creation_total
    }),
    ("connection.close.total", Kind::Sum, |m| {
        m.connection_close_total
    }),
    ("successful.reauthentication.total", Kind::Sum, |m| {
        m.successful_reauthentication_total
    }),
    ("buffer.available.bytes", Kind::Gauge, |m| {
        m.buffer_available_bytes
    }),
    ("buffer.total.bytes", Kind::Gauge, |m| m.buffer_total_bytes),
];

/// Where the telemetry client is (Java's `ClientTelemetryState`, plus `Disabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TelemetryState {
    SubscriptionNeeded,
    SubscriptionInProgress,
    PushNeeded,
    PushInProgress,
    TerminatingPushNeeded,
    TerminatingPushInProgress,
    /// Closed: nothing more is sent.
    Terminated,
    /// Stopped by a broker error that retrying cannot mend; nothing more is sent.
    Disabled,
}

/// Which metrics the subscription asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    None,
    All,
    Prefixes(Vec<String>),
}

impl Selector {
    fn from_requested(requested: &[StrBytes]) -> Selector {
        match requested {
            [] => Selector::None,
            [one] if one.as_str() == "*" || one.is_empty() => Selector::All,
            many => Selector::Prefixes(many.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn selects(&self, name: &str) -> bool {
        match self {
            Selector::None => false,
            Selector::All => true,
            Selector::Prefixes(ps) => ps.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

/// A subscription the broker gave.
#[derive(Debug, Clone)]
struct Subscription {
    subscription_id: i32,
    push_interval: Duration,
    codec: CompressionCodec,
    delta: bool,
    selector: Selector,
    max_bytes: usize,
}

/// The request the telemetry client wants sent.
#[derive(Debug)]
pub(crate) enum TelemetryRequest {
    Subscriptions(GetTelemetrySubscriptionsRequest),
    Push(PushTelemetryRequest),
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ClientTelemetry {
    state: TelemetryState,
    subscription: Option<Subscription>,
    client_instance_id: Uuid,
    /// When the next subscription request or push is due (in the `*Needed` states).
    next_at: Instant,
    /// The producer is closing: no new subscription or periodic push, only the last push.
    closing: bool,
    /// Wall-clock time at `clock_base`, in Unix nanoseconds: OTLP timestamps are
    /// `unix_base + (t - clock_base)`.
    clock_base: Instant,
    unix_base: u64,
    /// Resource attributes (Java's `ClientTelemetryProvider`: `transactional_id`).
    resource: Vec<KeyValue>,
    /// Delta temporality: each sum's value and time at the last push.
    last_pushed: FxHashMap<&'static str, (u64, u64)>,
    /// The temporality of the last payload (a change starts the deltas over).
    last_delta: Option<bool>,
}

impl ClientTelemetry {
    /// A telemetry client that asks for its subscription as soon as it can. `unix_nanos` is
    /// the wall-clock time at `now`.
    pub(crate) fn new(
        now: Instant,
        unix_nanos: u64,
        transactional_id: Option<&str>,
    ) -> ClientTelemetry {
        ClientTelemetry {
            state: TelemetryState::SubscriptionNeeded,
            subscription: None,
            client_instance_id: Uuid::nil(),
            next_at: now,
            closing: false,
            clock_base: now,
            unix_base: unix_nanos,
            resource: transactional_id
                .map(|t| vec![KeyValue::string("transactional_id", t)])
                .unwrap_or_default(),
            last_pushed: FxHashMap::default(),
            last_delta: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> TelemetryState {
        self.state
    }

    /// When a request is next due: `Some(t)` with `t <= now` means now. `None`: nothing is
    /// due until a response (or the close) comes.
    pub(crate) fn due(&self) -> Option<Instant> {
        match self.state {
            TelemetryState::SubscriptionNeeded | TelemetryState::PushNeeded => Some(self.next_at),
            TelemetryState::TerminatingPushNeeded => Some(self.clock_base),
            _ => None,
        }
    }

    /// Whether the telemetry client has nothing more to do for a closing producer.
    pub(crate) fn is_done(&self) -> bool {
        matches!(
            self.state,
            TelemetryState::Terminated | TelemetryState::Disabled
        )
    }

    /// The producer is closing and every record has resolved: the last push is due now (if
    /// a subscription with metrics is held), or, with a request in flight, once it answers.
    pub(crate) fn initiate_close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        match self.state {
            TelemetryState::SubscriptionNeeded | TelemetryState::PushNeeded => {
                self.state = self.after_close();
            }
            _ => {}
        }
    }

    /// Where a closing client goes once no request is in flight.
    fn after_close(&self) -> TelemetryState {
        match &self.subscription {
            Some(s) if s.selector != Selector::None => TelemetryState::TerminatingPushNeeded,
            _ => TelemetryState::Terminated,
        }
    }

    /// The closing client found no broker to send its last push to.
    pub(crate) fn give_up_terminating_push(&mut self) {
        if self.state == TelemetryState::TerminatingPushNeeded {
            tracing::debug!("no broker for the terminating telemetry push; skipped");
            self.state = TelemetryState::Terminated;
        }
    }

    /// The request due now, moving to its `*InProgress` state; `metrics` is the producer's
    /// snapshot at `now` (read only for a push). `None` if nothing is due, or if the push was
    /// skipped (its payload could not be built or is over the broker's limit: the next comes
    /// after the push interval).
    pub(crate) fn next_request(
        &mut self,
        now: Instant,
        metrics: impl FnOnce() -> Metrics,
    ) -> Option<TelemetryRequest> {
        match self.state {
            TelemetryState::SubscriptionNeeded if self.next_at <= now => {
                self.state = TelemetryState::SubscriptionInProgress;
                Some(TelemetryRequest::Subscriptions(
                    GetTelemetrySubscriptionsRequest::default()
                        .with_client_instance_id(self.client_instance_id),
                ))
            }
            TelemetryState::PushNeeded if self.next_at <= now => self.push(now, &metrics(), false),
            TelemetryState::TerminatingPushNeeded => self.push(now, &metrics(), true),
            _ => None,
        }
    }

    fn push(
        &mut self,
        now: Instant,
        metrics: &Metrics,
        terminating: bool,
    ) -> Option<TelemetryRequest> {
        let Some(sub) = self.subscription.clone() else {
            self.state = TelemetryState::SubscriptionNeeded;
            return None;
        };
        let payload = self.payload(now, metrics, &sub).encode_to_bytes();
        let mut codec = sub.codec;
        let mut compressed = Vec::new();
        if let Err(e) = Compression::from_codec(codec).compress(&payload, &mut compressed) {
            tracing::info!(error = %e, "cannot compress the telemetry payload; sending it uncompressed");
            codec = CompressionCodec::None;
            compressed = payload;
        }
        if compressed.len() > sub.max_bytes {
            tracing::warn!(
                bytes = compressed.len(),
                max = sub.max_bytes,
                "telemetry payload over the broker's TelemetryMaxBytes; not sent"
            );
            self.state = if terminating {
                TelemetryState::Terminated
            } else {
                self.next_at = now + sub.push_interval;
                TelemetryState::PushNeeded
            };
            return None;
        }
        self.state = if terminating {
            TelemetryState::TerminatingPushInProgress
        } else {
            TelemetryState::PushInProgress
        };
        Some(TelemetryRequest::Push(
            PushTelemetryRequest::default()
                .with_client_instance_id(self.client_instance_id)
                .with_subscription_id(sub.subscription_id)
                .with_terminating(terminating)
                .with_compression_type(codec.id() as i8)
                .with_metrics(Bytes::from(compressed)),
        ))
    }

    fn unix_nanos(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.clock_base).as_nanos();
        self.unix_base
            .saturating_add(since.min(u64::MAX as u128) as u64)
    }

    /// The OTLP payload of the selected metrics at `now` (Java's shape: one `ResourceMetrics`
    /// per metric). With delta temporality it records what it pushed.
    fn payload(&mut self, now: Instant, metrics: &Metrics, sub: &Subscription) -> MetricsData {
        if self.last_delta != Some(sub.delta) {
            self.last_pushed.clear();
            self.last_delta = Some(sub.delta);
        }
        let time = self.unix_nanos(now);
        let start = self.unix_base;
        let mut out = MetricsData::default();
        for &(suffix, kind, read) in CATALOGUE {
            let name = format!("{METRIC_PREFIX}{suffix}");
            if !sub.selector.selects(&name) {
                continue;
            }
            let value = read(metrics);
            let data = match kind {
                Kind::Gauge => MetricData::Gauge(Gauge {
                    data_points: vec![point(0, time, value as f64)],
                }),
                Kind::Sum if sub.delta => {
                    let (last, since) = self
                        .last_pushed
                        .insert(suffix, (value, time))
                        .unwrap_or((0, start));
                    MetricData::Sum(Sum {
                        data_points: vec![point(since, time, value.saturating_sub(last) as f64)],
                        aggregation_temporality: TEMPORALITY_DELTA,
                        is_monotonic: true,
                    })
                }
                Kind::Sum => MetricData::Sum(Sum {
                    data_points: vec![point(start, time, value as f64)],
                    aggregation_temporality: TEMPORALITY_CUMULATIVE,
                    is_monotonic: true,
                }),
            };
            out.resource_metrics.push(ResourceMetrics {
                resource: Some(Resource {
                    attributes: self.resource.clone(),
                    dropped_attributes_count: 0,
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name,
                        description: String::new(),
                        unit: String::new(),
                        data: Some(data),
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        out
    }

    /// A GetTelemetrySubscriptions response. `jitter` is a number in `[0, 1)` (the sender's
    /// generator) that places the first push between 0.5 and 1.5 push intervals from now.
    pub(crate) fn handle_subscriptions(
        &mut self,
        now: Instant,
        resp: &GetTelemetrySubscriptionsResponse,
        jitter: f64,
    ) {
        if self.state != TelemetryState::SubscriptionInProgress {
            return;
        }
        let code = KafkaCode(resp.error_code);
        if !code.is_ok() {
            let interval = self.subscription.as_ref().map(|s| s.push_interval);
            self.handle_error(now, code, interval);
            return;
        }
        if !resp.client_instance_id.is_nil() {
            self.client_instance_id = resp.client_instance_id;
        } else if self.client_instance_id.is_nil() {
            tracing::warn!(
                "telemetry subscription without a client instance id; asking again later"
            );
            self.retry_subscription(now, DEFAULT_PUSH_INTERVAL);
            return;
        }
        let push_interval = if resp.push_interval_ms > 0 {
            Duration::from_millis(resp.push_interval_ms as u64)
        } else {
            tracing::warn!(
                push_interval_ms = resp.push_interval_ms,
                "invalid telemetry push interval from the broker; using the default"
            );
            DEFAULT_PUSH_INTERVAL
        };
        // The broker lists them by preference; ids this client does not know, or whose cargo
        // feature is off, are skipped.
        let codec = resp
            .accepted_compression_types
            .iter()
            .find_map(|&id| {
                let codec = u8::try_from(id).ok().and_then(CompressionCodec::from_id);
                codec.filter(|c| c.is_enabled())
            })
            .unwrap_or(CompressionCodec::None);
        let selector = Selector::from_requested(&resp.requested_metrics);
        let sub = Subscription {
            subscription_id: resp.subscription_id,
            push_interval,
            codec,
            delta: resp.delta_temporality,
            max_bytes: usize::try_from(resp.telemetry_max_bytes)
                .ok()
                .filter(|&m| m > 0)
                .unwrap_or(usize::MAX),
            selector,
        };
        tracing::debug!(client_instance_id = %self.client_instance_id, subscription = ?sub, "telemetry subscription");
        let has_metrics = sub.selector != Selector::None;
        self.subscription = Some(sub);
        if self.closing {
            self.state = self.after_close();
        } else if has_metrics {
            self.state = TelemetryState::PushNeeded;
            self.next_at = now + push_interval.mul_f64(0.5 + jitter.clamp(0.0, 1.0));
        } else {
            self.retry_subscription(now, push_interval);
        }
    }

    /// A PushTelemetry response.
    pub(crate) fn handle_push(&mut self, now: Instant, resp: &PushTelemetryResponse) {
        match self.state {
            TelemetryState::TerminatingPushInProgress => {
                let code = KafkaCode(resp.error_code);
                if !code.is_ok() {
                    tracing::debug!(error = %code, "terminating telemetry push refused");
                }
                self.state = TelemetryState::Terminated;
            }
            TelemetryState::PushInProgress => {
                let code = KafkaCode(resp.error_code);
                let interval = self.subscription.as_ref().map(|s| s.push_interval);
                if !code.is_ok() {
                    self.handle_error(now, code, interval);
                } else if self.closing {
                    self.state = self.after_close();
                } else {
                    self.state = TelemetryState::PushNeeded;
                    self.next_at = now + interval.unwrap_or(DEFAULT_PUSH_INTERVAL);
                }
            }
            _ => {}
        }
    }

    /// A telemetry request got no usable answer (connection lost, timed out, undecodable):
    /// the subscription is asked for again after `backoff`; a closing client stops.
    pub(crate) fn handle_failure(&mut self, now: Instant, backoff: Duration) {
        match self.state {
            TelemetryState::TerminatingPushInProgress => self.state = TelemetryState::Terminated,
            TelemetryState::SubscriptionInProgress | TelemetryState::PushInProgress => {
                if self.closing {
                    self.state = TelemetryState::Terminated;
                } else {
                    self.retry_subscription(now, backoff);
                }
            }
            _ => {}
        }
    }

    fn retry_subscription(&mut self, now: Instant, after: Duration) {
        self.state = if self.closing {
            TelemetryState::Terminated
        } else {
            TelemetryState::SubscriptionNeeded
        };
        self.next_at = now + after;
    }

    /// A broker error code (Java's `ClientTelemetryUtils.maybeFetchErrorIntervalMs`).
    fn handle_error(&mut self, now: Instant, code: KafkaCode, interval: Option<Duration>) {
        match code {
            KafkaCode::UNKNOWN_SUBSCRIPTION_ID | KafkaCode::UNSUPPORTED_COMPRESSION_TYPE => {
                tracing::debug!(error = %code, "telemetry subscription asked for again");
                self.retry_subscription(now, Duration::ZERO);
            }
            KafkaCode::TELEMETRY_TOO_LARGE | KafkaCode::THROTTLING_QUOTA_EXCEEDED => {
                tracing::debug!(error = %code, "telemetry subscription asked for again after the push interval");
                self.retry_subscription(now, interval.unwrap_or(DEFAULT_PUSH_INTERVAL));
            }
            _ => {
                // INVALID_REQUEST, INVALID_RECORD, UNSUPPORTED_VERSION and anything unknown:
                // retrying would not help.
                tracing::warn!(error = %code, "the broker refused client telemetry; telemetry stopped for this producer");
                self.state = TelemetryState::Disabled;
            }
        }
    }
}

fn point(start: u64, time: u64, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: Vec::new(),
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(NumberValue::AsDouble(value)),
        flags: 0,
    }
}

#[cfg(test)]
mod tests;
