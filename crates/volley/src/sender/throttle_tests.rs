//! KIP-219 broker throttling against the simulated cluster: a response's `throttle_time_ms`
//! mutes its broker for that long, and nothing else (timeouts, other brokers) is held back.

use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;

use super::network::{client_throttles, NetworkClient};
use super::sim::Sim;
use super::tests::{ms, setup};
use super::*;

const T: &str = "t";

/// Requests of any kind the broker received in `(from, to)`.
fn requests_to(sim: &Sim, broker: i32, from: Instant, to: Instant) -> usize {
    sim.requests
        .iter()
        .filter(|r| r.broker == broker && r.at > from && r.at < to)
        .count()
}

/// Broker 1 answers one record (`"a"`, partition 0) with `throttle_ms`; returns when.
fn throttle_once(sim: &mut Sim, throttle_ms: i32) -> Instant {
    sim.throttle_produce(1, throttle_ms);
    let a = sim.send(T, 0, "a");
    assert!(sim.run_until(ms(1000), |s| s.is_done(a)));
    sim.throttle_produce(1, 0);
    sim.resolved_at(a).unwrap()
}

fn metrics(sim: &Sim) -> crate::metrics::Metrics {
    sim.shared.counters.snapshot(0, 0)
}

// Which responses make the client throttle itself, from which version (Java's
// `shouldClientThrottle`); a throttle never shortens one already running; zero and negative
// times are ignored.
#[test]
fn client_throttles_from_kip_219_versions_and_never_shortens_a_throttle() {
    for (api, from) in [
        (ApiKey::Produce, 6),
        (ApiKey::Metadata, 6),
        (ApiKey::FindCoordinator, 2),
        (ApiKey::InitProducerId, 1),
        (ApiKey::AddPartitionsToTxn, 1),
        (ApiKey::AddOffsetsToTxn, 1),
        (ApiKey::EndTxn, 1),
        (ApiKey::TxnOffsetCommit, 1),
    ] {
        assert!(!client_throttles(api, from - 1), "{api:?} v{}", from - 1);
        assert!(client_throttles(api, from), "{api:?} v{from}");
    }
    assert!(!client_throttles(ApiKey::ApiVersions, 3));

    let now = Instant::now();
    let mut net = NetworkClient::new(&["b:9092".to_string()], now);
    net.throttle(now, -1, ApiKey::Produce, 5, 1000);
    assert_eq!(
        net.nodes[&-1].throttle_until, None,
        "v5: the broker delays instead"
    );
    net.throttle(now, -1, ApiKey::Produce, 6, 0);
    net.throttle(now, -1, ApiKey::Produce, 6, -5);
    assert_eq!(net.nodes[&-1].throttle_until, None);
    net.throttle(now, -1, ApiKey::Produce, 9, 1000);
    net.throttle(now, -1, ApiKey::Metadata, 12, 200);
    assert_eq!(net.nodes[&-1].throttle_until, Some(now + ms(1000)));
    assert_eq!(net.next_throttle_end(now), Some(now + ms(1000)));
    assert_eq!(net.next_throttle_end(now + ms(1000)), None);
    assert!(!net.nodes[&-1].is_ready(now + ms(999)));
}

// Failure: a broker's quota ignored (the client keeps sending into a muted channel, the broker
// throttles harder) or honoured too broadly. Invariant: after a Produce response with
// throttle_time_ms = 500, the broker gets no request at all for 500 ms, gets the next one as
// soon as the throttle ends (the sender wakes for it), and another broker is served meanwhile.
#[test]
fn throttled_broker_gets_nothing_until_the_throttle_ends_and_others_are_served() {
    let mut sim = setup(&[1, 2], &[1, 2], |c| {
        c.linger = Duration::ZERO;
    });
    sim.delay_responses(1, ms(10));
    let throttled_at = throttle_once(&mut sim, 500);
    let b = sim.send(T, 0, "b");
    let c = sim.send(T, 1, "c");
    sim.run_until_all_done(Duration::from_secs(5));
    sim.assert_each_resolved_once();

    let end = throttled_at + ms(500);
    assert_eq!(requests_to(&sim, 1, throttled_at, end), 0);
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].0.at, end, "sent when the throttle ends");
    assert_eq!(sim.resolved_at(b).unwrap(), end + ms(10));
    // Broker 2 is not throttled: its record goes at once.
    assert_eq!(sim.resolved_at(c).unwrap(), throttled_at);
    assert_eq!(sim.log_values(T, 0), vec!["a", "b"]);

    let m = metrics(&sim);
    assert_eq!(m.produce_throttle_time_max, 500);
    assert_eq!(m.produce_throttle_time_ms_total, 500);
    assert_eq!(m.produce_throttle_time_count, 3);
    assert!((m.produce_throttle_time_avg() - 500.0 / 3.0).abs() < 1e-9);
}

// Failure: a muted broker stalls the producer's timeouts. Invariant: while the only broker is
// throttled (for much longer than delivery.timeout.ms), a queued batch fails with
// DeliveryTimeout exactly delivery.timeout.ms after it was created and is never sent; once the
// throttle ends, new records are delivered.
#[test]
fn delivery_timeout_expires_queued_batches_on_time_while_throttled() {
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = Duration::ZERO;
        c.request_timeout = ms(1000);
        c.delivery_timeout = ms(1500);
    });
    let throttled_at = throttle_once(&mut sim, 10_000);
    let t0 = sim.now;
    let b = sim.send(T, 0, "b");
    assert!(!sim.run_until(ms(1499), |s| s.is_done(b)));
    assert!(sim.run_until(ms(1), |s| s.is_done(b)));
    assert_eq!(sim.resolved_at(b).unwrap() - t0, ms(1500));
    assert!(matches!(sim.error(b), Error::DeliveryTimeout { .. }));
    assert_eq!(
        sim.produce_attempts(T, 0).len(),
        1,
        "nothing sent while throttled"
    );

    let end = throttled_at + ms(10_000);
    let wait = (end - ms(500)).duration_since(sim.now);
    sim.run_for(wait);
    let c = sim.send(T, 0, "c");
    sim.run_until_all_done(Duration::from_secs(5));
    sim.assert_each_resolved_once();
    assert_eq!(sim.offset(c), 1);
    assert_eq!(requests_to(&sim, 1, throttled_at, end), 0);
    let first_after = sim
        .requests
        .iter()
        .find(|r| r.at >= end)
        .expect("a request");
    assert_eq!(
        first_after.at, end,
        "the sender wakes when the throttle ends"
    );
}

// Failure: a throttle holds back what is already in flight, or its request timeout. Invariant:
// a request written before the throttling response still times out at request.timeout.ms (the
// connection closes then), while the broker is muted.
#[test]
fn request_timeout_of_a_request_in_flight_fires_while_throttled() {
    let mut sim = setup(&[1], &[1, 1], |c| {
        c.linger = Duration::ZERO;
        c.request_timeout = ms(1000);
        c.delivery_timeout = ms(3000);
    });
    sim.delay_responses(1, ms(100));
    sim.throttle_produce(1, 5000);
    let a = sim.send(T, 0, "a");
    assert!(sim.run_until(ms(50), |s| s.requests_of(ApiKey::Produce).len() == 1));
    sim.run_for(ms(20));
    sim.drop_produce_responses(1, 1);
    let b = sim.send(T, 1, "b");
    assert!(sim.run_until(ms(50), |s| s.requests_of(ApiKey::Produce).len() == 2));
    let b_sent = sim.requests_of(ApiKey::Produce)[1].at;
    assert!(sim.run_until(ms(200), |s| s.is_done(a)));
    let throttled_at = sim.resolved_at(a).unwrap();
    assert!(b_sent < throttled_at);
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    let close = sim
        .first_close(1)
        .expect("connection closed at the request timeout");
    assert_eq!(close - b_sent, ms(1000));
    assert!(close < throttled_at + ms(5000));
    // The retry waits for the throttle (it outlives the connection, as in Java), by which
    // time delivery.timeout.ms has passed.
    assert!(matches!(sim.error(b), Error::DeliveryTimeout { .. }));
    assert_eq!(requests_to(&sim, 1, throttled_at, close), 0);
}

// Failure: a graceful close hangs or gives up on a throttled broker. Invariant: the close
// waits for the throttle like any other delay, then delivers what is queued and finishes.
#[test]
fn graceful_close_delivers_after_the_throttle() {
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = Duration::ZERO;
    });
    let throttled_at = throttle_once(&mut sim, 800);
    let b = sim.send(T, 0, "b");
    sim.close();
    assert!(!sim.run_until(ms(799), |s| s.sender.is_finished()));
    assert!(!sim.is_done(b));
    assert!(sim.run_until(Duration::from_secs(5), |s| s.sender.is_finished()));
    sim.assert_each_resolved_once();
    assert_eq!(sim.resolved_at(b).unwrap(), throttled_at + ms(800));
    assert_eq!(sim.log_values(T, 0), vec!["a", "b"]);
}

/// Requests to `broker` from the `from`th on: each comes no sooner than `gap` after the one
/// before (whose response, answered at once, throttled the broker for `gap`), the second
/// exactly then (the sender wakes for it).
fn assert_spaced(sim: &Sim, broker: i32, from: usize, gap: Duration) -> usize {
    let at: Vec<Instant> = sim.requests[from..]
        .iter()
        .filter(|r| r.broker == broker)
        .map(|r| r.at)
        .collect();
    for w in at.windows(2) {
        assert!(w[1] - w[0] >= gap, "requests {:?} apart", w[1] - w[0]);
    }
    assert!(at.len() >= 2, "{at:?}");
    assert_eq!(at[1] - at[0], gap);
    at.len()
}

// Failure: only Produce responses honoured. Invariant: a Metadata response with a throttle
// time mutes its broker for metadata too: the next refresh waits for the throttle.
#[test]
fn metadata_responses_throttle_the_metadata_refresh() {
    let mut sim = setup(&[1], &[1], |c| {
        c.metadata_max_age = ms(100);
    });
    sim.throttle_responses(1, 700);
    let from = sim.requests.len();
    sim.run_for(ms(3000));
    let n = assert_spaced(&sim, 1, from, ms(700));
    assert!(n >= 3, "{n} metadata requests");
    assert!(sim.requests[from..]
        .iter()
        .all(|r| r.api == ApiKey::Metadata));
}

// Failure: transactional requests ignore the coordinator's throttle. Invariant: during
// init_transactions, FindCoordinator and InitProducerId answered with a throttle time are
// each followed by nothing to that broker until the throttle ends; the call still completes.
#[test]
fn transactional_responses_throttle_the_coordinator() {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| {
        c.transactional_id = Some("txn-throttle".into());
        c.linger = Duration::ZERO;
    });
    sim.wait_for_topic(T);
    sim.throttle_responses(1, 300);
    let from = sim.requests.len();
    sim.txn_call(
        "init_transactions",
        Duration::from_secs(60),
        crate::txn::TxnOp::Init,
    )
    .expect("init_transactions");
    assert_spaced(&sim, 1, from, ms(300));
    let apis: Vec<ApiKey> = sim.requests[from..].iter().map(|r| r.api).collect();
    assert!(apis.contains(&ApiKey::FindCoordinator), "{apis:?}");
    assert!(apis.contains(&ApiKey::InitProducerId), "{apis:?}");
}

// Bad input: a throttle of hours (here i32::MAX ms, 24 days) from a faulty broker. Invariant
// (DESIGN.md: capped): the broker is muted for MAX_CLIENT_THROTTLE (5 minutes) only, records
// queued meanwhile still fail at delivery.timeout.ms, and afterwards it is used again.
#[test]
fn a_throttle_of_days_is_capped() {
    use super::network::MAX_CLIENT_THROTTLE;
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = Duration::ZERO;
    });
    let throttled_at = throttle_once(&mut sim, i32::MAX);
    let b = sim.send(T, 0, "b");
    sim.run_for(MAX_CLIENT_THROTTLE - ms(1000) - (sim.now - throttled_at));
    assert!(matches!(sim.error(b), Error::DeliveryTimeout { .. }));
    let end = throttled_at + MAX_CLIENT_THROTTLE;
    assert_eq!(requests_to(&sim, 1, throttled_at, end - ms(1000)), 0);
    let c = sim.send(T, 0, "c");
    assert!(sim.run_until(ms(5000), |s| s.is_done(c)));
    assert_eq!(sim.offset(c), 1);
    assert!(sim.resolved_at(c).unwrap() >= end);
    sim.assert_each_resolved_once();
}
