//! The telemetry state machine on its own: the broker's answers as they come, bad ones
//! included.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{GetTelemetrySubscriptionsResponse, PushTelemetryResponse};
use kafka_protocol::protocol::StrBytes;
use prost::Message;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn subscription(requested: &[&str]) -> GetTelemetrySubscriptionsResponse {
    GetTelemetrySubscriptionsResponse::default()
        .with_client_instance_id(Uuid::from_u128(42))
        .with_subscription_id(3)
        .with_push_interval_ms(1000)
        .with_telemetry_max_bytes(1 << 20)
        .with_delta_temporality(true)
        .with_requested_metrics(
            requested
                .iter()
                .map(|r| StrBytes::from(r.to_string()))
                .collect(),
        )
}

/// A client holding `resp` as its subscription, subscribed at `now`.
fn subscribed(now: Instant, resp: &GetTelemetrySubscriptionsResponse) -> ClientTelemetry {
    let mut t = ClientTelemetry::new(now, 1_000_000_000, None);
    assert!(matches!(
        t.next_request(now, Metrics::default),
        Some(TelemetryRequest::Subscriptions(_))
    ));
    t.handle_subscriptions(now, resp, 0.0);
    t
}

fn push_of(req: Option<TelemetryRequest>) -> kafka_protocol::messages::PushTelemetryRequest {
    match req {
        Some(TelemetryRequest::Push(p)) => p,
        other => panic!("not a push: {other:?}"),
    }
}

// Failure: KIP-714's selector read wrongly. Invariant: no names = none, `*` or one empty
// string = all, otherwise prefixes.
#[test]
fn requested_metrics_select_by_prefix() {
    let sel = |r: &[&str]| {
        Selector::from_requested(
            &r.iter()
                .map(|s| StrBytes::from(s.to_string()))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(sel(&[]), Selector::None);
    assert_eq!(sel(&["*"]), Selector::All);
    assert_eq!(sel(&[""]), Selector::All);
    let s = sel(&[
        "org.apache.kafka.producer.record.",
        "org.apache.kafka.consumer.",
    ]);
    assert!(s.selects("org.apache.kafka.producer.record.send.total"));
    assert!(!s.selects("org.apache.kafka.producer.buffer.total.bytes"));
}

// Failure: a broker's bad subscription (no client instance id, a push interval of zero or
// below, compression ids nobody knows) breaks or stalls telemetry. Invariant: a missing id is
// asked for again after the default interval; a bad interval becomes the default 5 minutes;
// unknown compression ids are skipped for the next known one (none if there is none).
#[test]
fn bad_subscriptions_are_mended_or_asked_for_again() {
    let now = Instant::now();
    let t = subscribed(
        now,
        &subscription(&["*"]).with_client_instance_id(Uuid::nil()),
    );
    assert_eq!(t.state(), TelemetryState::SubscriptionNeeded);
    assert_eq!(t.due(), Some(now + DEFAULT_PUSH_INTERVAL));

    let t = subscribed(now, &subscription(&["*"]).with_push_interval_ms(-5));
    assert_eq!(t.state(), TelemetryState::PushNeeded);
    let first = t.due().unwrap() - now;
    assert_eq!(
        first,
        DEFAULT_PUSH_INTERVAL / 2,
        "jitter 0: half the default interval"
    );

    let mut t = subscribed(
        now,
        &subscription(&["*"]).with_accepted_compression_types(vec![9, -1, 3]),
    );
    let p = push_of(t.next_request(now + ms(500), Metrics::default));
    let lz4 = if CompressionCodec::Lz4.is_enabled() {
        3
    } else {
        0
    };
    assert_eq!(
        p.compression_type, lz4,
        "lz4, the first known id (if built)"
    );
    let mut t = subscribed(
        now,
        &subscription(&["*"]).with_accepted_compression_types(vec![9]),
    );
    let p = push_of(t.next_request(now + ms(500), Metrics::default));
    assert_eq!(p.compression_type, 0);
    let data = MetricsData::decode(p.metrics.as_ref()).unwrap();
    assert_eq!(data.metrics().count(), CATALOGUE.len());
}

// Failure: a payload over the broker's TelemetryMaxBytes sent anyway (refused each time).
// Invariant: it is not sent; the next push is tried an interval later.
#[test]
fn a_payload_over_telemetry_max_bytes_is_not_sent() {
    let now = Instant::now();
    let mut t = subscribed(now, &subscription(&["*"]).with_telemetry_max_bytes(10));
    assert!(t.next_request(now + ms(500), Metrics::default).is_none());
    assert_eq!(t.state(), TelemetryState::PushNeeded);
    assert_eq!(t.due(), Some(now + ms(1500)));
}

// Failure: deltas that double-count, go negative, or carry wrong times. Invariant: each sum's
// delta is the change since the previous payload, from that payload's time; the first starts
// at the client's creation; timestamps are the wall clock given at creation plus elapsed time.
#[test]
fn delta_sums_carry_the_change_since_the_last_push() {
    let now = Instant::now();
    let mut t = subscribed(
        now,
        &subscription(&["org.apache.kafka.producer.record.send"]),
    );
    let at = |n: u64| Metrics {
        record_send_total: n,
        ..Metrics::default()
    };
    let p1 = push_of(t.next_request(now + ms(500), || at(10)));
    t.handle_push(now + ms(500), &PushTelemetryResponse::default());
    let p2 = push_of(t.next_request(now + ms(1500), || at(25)));
    let point = |p: &kafka_protocol::messages::PushTelemetryRequest| {
        let data = MetricsData::decode(
            crate::protocol::compression::decompress(CompressionCodec::None, &p.metrics, 1 << 20)
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        let m = data.metrics().next().unwrap().clone();
        match m.data {
            Some(MetricData::Sum(s)) => s.data_points[0].clone(),
            other => panic!("{other:?}"),
        }
    };
    let (a, b) = (point(&p1), point(&p2));
    assert_eq!(a.value, Some(NumberValue::AsDouble(10.0)));
    assert_eq!(b.value, Some(NumberValue::AsDouble(15.0)));
    assert_eq!(a.start_time_unix_nano, 1_000_000_000);
    assert_eq!(a.time_unix_nano, 1_500_000_000);
    assert_eq!(b.start_time_unix_nano, a.time_unix_nano);
    assert_eq!(b.time_unix_nano, 2_500_000_000);
}

// Failure: a response for a request no longer in progress (a late answer after close, or a
// duplicate) moves the state machine. Invariant: it is ignored.
#[test]
fn answers_out_of_turn_are_ignored() {
    let now = Instant::now();
    let mut t = subscribed(now, &subscription(&["*"]));
    t.handle_push(now, &PushTelemetryResponse::default());
    t.handle_subscriptions(now, &subscription(&[]), 0.5);
    assert_eq!(t.state(), TelemetryState::PushNeeded);
    t.handle_failure(now, ms(1));
    assert_eq!(t.state(), TelemetryState::PushNeeded);
    t.initiate_close();
    assert_eq!(t.state(), TelemetryState::TerminatingPushNeeded);
    let p = push_of(t.next_request(now, Metrics::default));
    assert!(p.terminating);
    t.handle_push(now, &PushTelemetryResponse::default().with_error_code(42));
    assert_eq!(t.state(), TelemetryState::Terminated);
    assert!(t.is_done());
    assert!(t.next_request(now + ms(10_000), Metrics::default).is_none());
}
