//! KIP-714 client telemetry against the simulated cluster: the subscription, the push
//! interval, the terminating push on close, the broker's errors, and silence towards brokers
//! that do not advertise the telemetry APIs.

use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use uuid::Uuid;

use super::sim::{Sim, SimSubscription};
use super::tests::ms;
use crate::error::KafkaCode;
use crate::protocol::compression::CompressionCodec;
use crate::telemetry::{TelemetryState, METRIC_PREFIX};

const T: &str = "t";

/// A one-broker cluster whose receiver hands out `subscription`, with a producer connected
/// and its topic known.
fn telemetry_sim(subscription: SimSubscription) -> Sim {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| c.linger = ms(5));
    sim.enable_telemetry(subscription);
    sim.wait_for_topic(T);
    sim
}

/// The value of `name` (after the prefix) in a push, if it carried it.
fn pushed(sim: &mut Sim, push: usize, name: &str) -> Option<f64> {
    let full = format!("{METRIC_PREFIX}{name}");
    let data = sim.telemetry().pushes[push].data.clone()?;
    let m = data.metrics().find(|m| m.name == full)?;
    m.value()
}

/// Runs until the receiver has a push (at most 3 s: the first comes within 1.5 intervals).
fn run_until_pushed(sim: &mut Sim) {
    assert!(sim.run_until(Duration::from_secs(3), |s| s
        .telemetry
        .as_ref()
        .is_some_and(|t| !t.pushes.is_empty())));
}

fn send_all(sim: &mut Sim, n: usize) {
    for i in 0..n {
        sim.send(T, 0, &format!("v{i}"));
    }
    sim.run_until_all_done(Duration::from_secs(5));
}

fn telemetry_state(sim: &Sim) -> TelemetryState {
    sim.sender.telemetry.as_ref().expect("telemetry on").state()
}

// Failure: no subscription asked for, pushes at the wrong pace (all clients at once, or not at
// the broker's interval), under another client instance or subscription id, uncompressed
// although the broker accepts compression, or counters that do not add up. Invariant: the
// subscription is asked for once with a nil id; the first push comes between 0.5 and 1.5
// intervals later, each next one an interval after the previous answer; each carries the
// assigned id, the subscription id, the broker's first accepted compression type; the
// record.send.total deltas add up to the records acknowledged.
#[test]
fn subscribes_then_pushes_at_the_broker_interval() {
    let mut sim = telemetry_sim(SimSubscription::default());
    send_all(&mut sim, 10);
    sim.run_for(Duration::from_secs(3));
    send_all(&mut sim, 5);
    sim.run_for(Duration::from_secs(7));

    let t = sim.telemetry();
    assert_eq!(t.gets.len(), 1, "{:?}", t.gets);
    let (subscribed, id) = t.gets[0];
    assert_eq!(id, Uuid::nil());
    let pushes = t.pushes.clone();
    assert!(pushes.len() >= 8, "{} pushes in 10 s", pushes.len());
    let first = pushes[0].at - subscribed;
    assert!(
        first >= ms(500) && first <= ms(1500),
        "first push after {first:?}"
    );
    for w in pushes.windows(2) {
        assert_eq!(w[1].at - w[0].at, ms(1000), "the broker's interval");
    }
    for p in &pushes {
        assert_eq!(p.client_instance_id, Uuid::from_u128(0x714_714));
        assert_eq!(p.subscription_id, 7);
        let zstd = CompressionCodec::Zstd.is_enabled();
        assert_eq!(
            p.compression,
            if zstd { 4 } else { 0 },
            "zstd, the broker's first choice"
        );
        assert!(!p.terminating);
        assert_eq!(p.code, KafkaCode::NONE);
    }
    let sent: f64 = (0..pushes.len())
        .map(|i| pushed(&mut sim, i, "record.send.total").unwrap())
        .sum();
    assert_eq!(sent, 15.0);
    let data = sim.telemetry().pushes[0].data.clone().unwrap();
    assert!(data.metrics().all(|m| m.name.starts_with(METRIC_PREFIX)));
    assert_eq!(data.resource_metrics.len(), data.metrics().count());
}

// Failure: the producer closes without its last push, pushes before its records resolved (so
// the last figures miss them), keeps pushing after it, or waits forever for it. Invariant:
// close sends one push marked terminating once every record has resolved; it carries the
// records sent since the previous push; the sender finishes when it is answered, and nothing
// is sent to the receiver afterwards.
#[test]
fn close_sends_one_terminating_push_after_the_records() {
    let mut sim = telemetry_sim(SimSubscription::default());
    send_all(&mut sim, 10);
    run_until_pushed(&mut sim);
    for i in 0..7 {
        sim.send(T, 0, &format!("late{i}"));
    }
    sim.close();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.sender.is_finished()));
    assert!(sim.all_done());
    let n = sim.telemetry().pushes.len();
    let last = sim.telemetry().pushes[n - 1].clone();
    assert!(last.terminating);
    assert!(sim.telemetry().pushes[..n - 1]
        .iter()
        .all(|p| !p.terminating));
    let total: f64 = (0..n)
        .map(|i| pushed(&mut sim, i, "record.send.total").unwrap())
        .sum();
    assert_eq!(total, 17.0, "the terminating push reports the late records");
    assert_eq!(telemetry_state(&sim), TelemetryState::Terminated);
    let before = sim.requests.len();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.requests.len(), before);
}

// Failure: a close that hangs on a broker that does not answer the terminating push.
// Invariant: the terminating push waits at most request.timeout.ms.
#[test]
fn an_unanswered_terminating_push_ends_at_the_request_timeout() {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| {
        c.request_timeout = ms(2000);
        c.delivery_timeout = ms(5000);
    });
    sim.enable_telemetry(SimSubscription::default());
    sim.wait_for_topic(T);
    send_all(&mut sim, 3);
    sim.set_unresponsive(1, true);
    let closed = sim.now;
    sim.close();
    assert!(sim.run_until(Duration::from_secs(10), |s| s.sender.is_finished()));
    let pushes = sim.telemetry().pushes.clone();
    assert!(pushes.last().unwrap().terminating);
    assert_eq!(sim.now - closed, ms(2000), "request.timeout.ms");
}

// Failure: telemetry requests sent to a broker that never offered them (it would answer
// UNSUPPORTED_VERSION or drop the connection), or a close that waits for telemetry that cannot
// happen. Invariant: without the APIs in ApiVersions, no telemetry request is ever sent and
// close finishes as soon as the records have resolved.
#[test]
fn nothing_is_sent_to_brokers_without_the_telemetry_apis() {
    let mut sim = Sim::new(&[1, 2], &[(T, &[1, 2])], |_| {});
    sim.wait_for_topic(T);
    for i in 0..20 {
        sim.send(T, i % 2, "v");
    }
    sim.run_until_all_done(Duration::from_secs(5));
    sim.run_for(Duration::from_secs(600));
    sim.close();
    assert!(sim.run_until(ms(1), |s| s.sender.is_finished()));
    for api in [ApiKey::GetTelemetrySubscriptions, ApiKey::PushTelemetry] {
        assert!(sim.requests_of(api).is_empty(), "{api:?}");
    }
    assert_eq!(telemetry_state(&sim), TelemetryState::Terminated);
}

// Failure: `enable.metrics.push=false` ignored. Invariant: no telemetry request at all.
#[test]
fn enable_metrics_push_false_sends_nothing() {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| c.enable_metrics_push = false);
    sim.enable_telemetry(SimSubscription::default());
    sim.wait_for_topic(T);
    send_all(&mut sim, 5);
    sim.run_for(Duration::from_secs(30));
    sim.close();
    assert!(sim.run_until(ms(1), |s| s.sender.is_finished()));
    assert!(sim.telemetry().gets.is_empty());
    assert!(sim.sender.telemetry.is_none());
}

// Failure: a stale subscription pushed forever (refused each time), or a new id asked for.
// Invariant: after UNKNOWN_SUBSCRIPTION_ID (the broker's subscriptions changed) the
// subscription is asked for again at once, with the same client instance id, and pushes go on
// under the new subscription id.
#[test]
fn unknown_subscription_id_fetches_the_subscription_again_at_once() {
    let mut sim = telemetry_sim(SimSubscription::default());
    run_until_pushed(&mut sim);
    sim.change_subscription(SimSubscription {
        interval_ms: 500,
        ..SimSubscription::default()
    });
    assert!(sim.run_until(Duration::from_secs(5), |s| s
        .telemetry
        .as_ref()
        .is_some_and(|t| t.pushes.iter().any(|p| p.subscription_id == 8))));
    let t = sim.telemetry();
    let refused = t
        .pushes
        .iter()
        .find(|p| p.code == KafkaCode::UNKNOWN_SUBSCRIPTION_ID)
        .expect("the stale push was refused")
        .clone();
    assert_eq!(t.gets.len(), 2);
    assert_eq!(t.gets[1].0, refused.at, "asked again at once");
    assert_eq!(
        t.gets[1].1,
        Uuid::from_u128(0x714_714),
        "same client instance id"
    );
}

// Failure: an oversized or throttled push retried at once (hammering the broker), or telemetry
// stopped for good. Invariant: after TELEMETRY_TOO_LARGE (and THROTTLING_QUOTA_EXCEEDED) the
// subscription is asked for again one push interval later, and pushes resume.
#[test]
fn too_large_and_throttled_ask_again_after_the_interval() {
    for code in [
        KafkaCode::TELEMETRY_TOO_LARGE,
        KafkaCode::THROTTLING_QUOTA_EXCEEDED,
    ] {
        let mut sim = telemetry_sim(SimSubscription::default());
        sim.telemetry()
            .faults
            .push_back((ApiKey::PushTelemetry, code));
        assert!(sim.run_until(Duration::from_secs(10), |s| s
            .telemetry
            .as_ref()
            .is_some_and(|t| t.pushes.iter().filter(|p| p.code.is_ok()).count() >= 2)));
        let t = sim.telemetry();
        assert_eq!(t.pushes[0].code, code);
        assert_eq!(t.gets.len(), 2, "{code}");
        assert_eq!(
            t.gets[1].0 - t.pushes[0].at,
            ms(1000),
            "{code}: one interval later"
        );
    }
}

// Failure: a producer that keeps sending telemetry the broker refuses as malformed.
// Invariant: INVALID_REQUEST, INVALID_RECORD, UNSUPPORTED_VERSION (and an unknown code) stop
// telemetry for the producer's life, terminating push included; records are unaffected.
#[test]
fn invalid_request_record_or_version_stops_telemetry_for_good() {
    for code in [
        KafkaCode::INVALID_REQUEST,
        KafkaCode::INVALID_RECORD,
        KafkaCode::UNSUPPORTED_VERSION,
        KafkaCode(9999),
    ] {
        let mut sim = telemetry_sim(SimSubscription::default());
        sim.telemetry()
            .faults
            .push_back((ApiKey::PushTelemetry, code));
        sim.run_for(Duration::from_secs(10));
        send_all(&mut sim, 3);
        sim.close();
        assert!(sim.run_until(Duration::from_secs(5), |s| s.sender.is_finished()));
        let t = sim.telemetry();
        assert_eq!(t.pushes.len(), 1, "{code}");
        assert_eq!(t.gets.len(), 1, "{code}");
        assert_eq!(telemetry_state(&sim), TelemetryState::Disabled, "{code}");
    }
    // The same codes on the subscription request.
    let mut sim = Sim::new(&[1], &[(T, &[1])], |_| {});
    sim.enable_telemetry(SimSubscription::default());
    sim.telemetry().faults.push_back((
        ApiKey::GetTelemetrySubscriptions,
        KafkaCode::INVALID_REQUEST,
    ));
    sim.wait_for_topic(T);
    sim.run_for(Duration::from_secs(30));
    assert_eq!(sim.telemetry().gets.len(), 1);
    assert!(sim.telemetry().pushes.is_empty());
}

// Failure: telemetry lost for good when a connection drops with a request in flight (Java
// disables it then), or retried in a tight loop. Invariant: the subscription is asked for
// again after the retry backoff, on the new connection, and pushes resume.
#[test]
fn a_lost_connection_asks_for_the_subscription_again_after_a_backoff() {
    let mut sim = telemetry_sim(SimSubscription::default());
    sim.delay_responses(1, ms(50));
    run_until_pushed(&mut sim);
    let lost_at = sim.now;
    sim.disconnect(1);
    sim.delay_responses(1, Duration::ZERO);
    assert!(sim.run_until(Duration::from_secs(5), |s| s
        .telemetry
        .as_ref()
        .is_some_and(|t| t.gets.len() == 2 && t.pushes.len() >= 2)));
    let again = sim.telemetry().gets[1].0 - lost_at;
    assert!(
        again >= ms(80) && again <= ms(500),
        "asked again after {again:?}"
    );
}

// Failure: pushing metrics nobody asked for, or nothing when asked for a subset. Invariant:
// only metrics whose names start with a requested prefix are pushed; an empty list means none
// (the subscription is asked for again after the interval); `*` means all.
#[test]
fn requested_metric_prefixes_select_what_is_pushed() {
    let mut sim = telemetry_sim(SimSubscription {
        requested: vec![format!("{METRIC_PREFIX}record.")],
        ..SimSubscription::default()
    });
    send_all(&mut sim, 2);
    sim.run_for(Duration::from_secs(3));
    let data = sim.telemetry().pushes[0].data.clone().unwrap();
    let mut names: Vec<_> = data.metrics().map(|m| m.name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "record.error.total",
            "record.retry.total",
            "record.send.total"
        ]
        .map(|n| format!("{METRIC_PREFIX}{n}"))
    );

    let mut sim = telemetry_sim(SimSubscription {
        requested: vec![],
        ..SimSubscription::default()
    });
    sim.run_for(Duration::from_millis(3500));
    let t = sim.telemetry();
    assert!(t.pushes.is_empty());
    let gets: Vec<Instant> = t.gets.iter().map(|g| g.0).collect();
    assert_eq!(gets.len(), 4, "{gets:?}");
    assert!(gets.windows(2).all(|w| w[1] - w[0] == ms(1000)));

    let mut sim = telemetry_sim(SimSubscription {
        requested: vec!["*".into()],
        ..SimSubscription::default()
    });
    sim.run_for(Duration::from_secs(2));
    let data = sim.telemetry().pushes[0].data.clone().unwrap();
    assert_eq!(data.metrics().count(), 12);
}

// Failure: cumulative subscriptions sent deltas (or the reverse). Invariant: with
// DeltaTemporality false, sums carry the total since the producer started, from the same
// start time each push.
#[test]
fn cumulative_temporality_pushes_totals() {
    let mut sim = telemetry_sim(SimSubscription {
        delta: false,
        ..SimSubscription::default()
    });
    send_all(&mut sim, 4);
    sim.run_for(Duration::from_secs(2));
    send_all(&mut sim, 3);
    sim.run_for(Duration::from_secs(2));
    let n = sim.telemetry().pushes.len();
    assert!(n >= 3);
    assert_eq!(pushed(&mut sim, n - 1, "record.send.total"), Some(7.0));
    assert!(pushed(&mut sim, n - 2, "record.send.total").unwrap() >= 4.0);
    let data = sim.telemetry().pushes[n - 1].data.clone().unwrap();
    let sum = data
        .metrics()
        .find_map(|m| match &m.data {
            Some(crate::telemetry::otlp::MetricData::Sum(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        sum.aggregation_temporality,
        crate::telemetry::otlp::TEMPORALITY_CUMULATIVE
    );
    assert!(sum.is_monotonic);
}

// Failure: a close that reconnects (or waits for a reconnect) only to push telemetry.
// Invariant: with no connection to a broker offering telemetry when the records are done, the
// terminating push is skipped and the sender finishes at once, connecting to nothing.
#[test]
fn no_connected_broker_at_close_skips_the_terminating_push() {
    let mut sim = telemetry_sim(SimSubscription::default());
    send_all(&mut sim, 3);
    run_until_pushed(&mut sim);
    let until = sim.now + Duration::from_secs(3600);
    sim.refuse_connections(1, until);
    sim.disconnect(1);
    let closed = sim.now;
    sim.close();
    assert!(sim.run_until(ms(1), |s| s.sender.is_finished()));
    assert_eq!(sim.now, closed);
    assert!(sim.telemetry().pushes.iter().all(|p| !p.terminating));
    assert_eq!(telemetry_state(&sim), TelemetryState::Terminated);
    assert!(!sim
        .conn_events
        .iter()
        .any(|(at, e)| *at >= closed && matches!(e, super::sim::ConnEvent::Connect { .. })));
}

// Failure: telemetry keeps an idle producer connected to a cluster that never offered the APIs
// (reconnecting after every idle close). Invariant: once the idle connection closes, nothing
// reconnects until real work (here: none) or the metadata max age asks for it.
#[test]
fn no_connection_is_opened_for_telemetry_to_a_cluster_without_it() {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| {
        c.connections_max_idle = Some(Duration::from_secs(1));
    });
    sim.wait_for_topic(T);
    assert!(sim.run_until(Duration::from_secs(10), |s| s
        .conn_events
        .iter()
        .any(|(_, e)| matches!(e, super::sim::ConnEvent::Close { .. }))));
    let after_close = sim.conn_events.len();
    sim.run_for(Duration::from_secs(60));
    let reconnects: Vec<_> = sim.conn_events[after_close..]
        .iter()
        .filter(|(_, e)| matches!(e, super::sim::ConnEvent::Connect { .. }))
        .collect();
    assert!(reconnects.is_empty(), "{reconnects:?}");
}
