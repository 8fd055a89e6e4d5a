//! Resource bounds under failure, against the simulated cluster (the deterministic side of
//! `tests/resource_bounds.rs`): a broker that never answers, one whose answers come after
//! `request.timeout.ms`, one that drops every connection with a Produce request on it, and one
//! that refuses connections. In each, every record resolves with `DeliveryTimeout` within
//! `delivery.timeout.ms` + `request.timeout.ms` of its send, each node has at most one
//! connection at a time, connection attempts are spaced by the reconnect backoff, and every
//! byte of `buffer.memory` is back in the pool at the end.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::sim::{ConnEvent, Sim};
use super::tests::{ms, setup};
use super::*;
use crate::config::ProducerConfig;

const T: &str = "t";
const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
const DELIVERY_TIMEOUT: Duration = Duration::from_millis(1000);
const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);

fn configure(c: &mut ProducerConfig) {
    c.request_timeout = REQUEST_TIMEOUT;
    c.delivery_timeout = DELIVERY_TIMEOUT;
    c.linger = Duration::ZERO;
    c.reconnect_backoff = RECONNECT_BACKOFF;
    c.reconnect_backoff_max = ms(1000);
    c.retry_backoff = ms(50);
    c.buffer_memory = 64 * 1024;
    c.batch_size = 1024;
}

/// Sends `n` records to partition 0, one every `every`, running the simulation in between.
fn send_spread(sim: &mut Sim, n: usize, every: Duration) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let id = sim.send(T, 0, &format!("r{i}-{}", "x".repeat(200)));
            sim.run_for(every);
            id
        })
        .collect()
}

/// The bounds every scenario keeps (see the module docs).
fn check_bounds(sim: &mut Sim, ids: &[usize]) {
    sim.run_until_all_done(DELIVERY_TIMEOUT + REQUEST_TIMEOUT + ms(100));
    sim.assert_each_resolved_once();
    for &id in ids {
        let took = sim.resolved_at(id).expect("resolved") - sim.records[id].sent_at;
        assert!(
            took <= DELIVERY_TIMEOUT + REQUEST_TIMEOUT,
            "record {id} resolved after {took:?}"
        );
        let e = sim.error(id);
        assert!(
            matches!(e, Error::DeliveryTimeout { .. }),
            "record {id}: {e}"
        );
    }
    // Connections: at most one per node at a time, attempts spaced by the backoff.
    let mut open: HashMap<i32, i32> = HashMap::new();
    let mut connects: HashMap<i32, Vec<Instant>> = HashMap::new();
    for (at, e) in &sim.conn_events {
        match e {
            ConnEvent::Connect { node, .. } => {
                let n = open.entry(*node).or_default();
                *n += 1;
                assert!(*n <= 1, "node {node}: a second connection at {at:?}");
                connects.entry(*node).or_default().push(*at);
            }
            ConnEvent::ConnectFailed { node }
            | ConnEvent::Close { node }
            | ConnEvent::Disconnected { node } => {
                let n = open.entry(*node).or_default();
                *n = (*n - 1).max(0);
            }
            ConnEvent::Connected { .. } => {}
        }
    }
    for (node, times) in &connects {
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= RECONNECT_BACKOFF.mul_f64(0.8),
                "node {node}: reconnected after {:?}",
                w[1] - w[0]
            );
        }
    }
    let pool = &sim.shared.acc.pool;
    assert_eq!(pool.available(), pool.total(), "buffer.memory all returned");
    sim.close();
    assert!(sim.run_until(ms(5000), |s| s.sender.is_finished()));
}

// Failure: with a broker that reads and never answers, records wait forever, or a new
// connection is opened per request. Invariant: see the module docs.
#[test]
fn unresponsive_broker_keeps_bounds() {
    let mut sim = setup(&[1], &[1], configure);
    sim.set_unresponsive(1, true);
    let ids = send_spread(&mut sim, 30, ms(100));
    check_bounds(&mut sim, &ids);
    // The first Produce went out and was never answered; its timeout closed the connections,
    // and with no broker left to ask, the producer bootstrapped again (no drain until metadata
    // answers, which it never does): every record then expired in its queue.
    assert_eq!(sim.requests_of(ApiKey::Produce).len(), 1);
    assert!(sim.shared.counters.snapshot(0, 0).rebootstrap_total >= 1);
}

// Failure: a broker whose answers arrive after request.timeout.ms (a byte-at-a-time broker, as
// the sender sees it) keeps requests in flight past their timeout, or its late answers are
// taken on a newer connection. Invariant: see the module docs.
#[test]
fn slow_broker_keeps_bounds() {
    let mut sim = setup(&[1], &[1], configure);
    sim.delay_responses(1, REQUEST_TIMEOUT + ms(200));
    let ids = send_spread(&mut sim, 30, ms(100));
    check_bounds(&mut sim, &ids);
    assert!(
        sim.conn_events
            .iter()
            .filter(|(_, e)| matches!(e, ConnEvent::Close { .. }))
            .count()
            >= 2,
        "timed-out requests close their connections"
    );
}

// Failure: a broker that resets the connection at each Produce request makes the producer
// reconnect in a tight loop. Invariant: see the module docs.
#[test]
fn broker_resetting_at_each_produce_keeps_bounds() {
    let mut sim = setup(&[1], &[1], configure);
    // Answers take 20 ms, so that each Produce is seen in flight and its connection reset.
    sim.delay_responses(1, ms(20));
    let produce_in_flight = |s: &Sim| {
        s.sender
            .net
            .nodes
            .values()
            .any(|n| n.produce_in_flight() > 0)
    };
    let mut ids = Vec::new();
    let mut next_send = sim.now;
    let give_up = sim.now + Duration::from_secs(10);
    while (ids.len() < 40 || !sim.all_done()) && sim.now < give_up {
        if ids.len() < 40 && sim.now >= next_send {
            ids.push(sim.send(T, 0, &format!("r{}", ids.len())));
            next_send += ms(100);
        }
        if sim.run_until(ms(10), produce_in_flight) {
            sim.disconnect(1);
        }
    }
    check_bounds(&mut sim, &ids);
}

// Failure: records queued for a broker that refuses connections wait past their delivery
// timeout, or the refusals are retried without backoff. Invariant: see the module docs.
#[test]
fn refused_connections_keep_bounds() {
    let mut sim = setup(&[1], &[1], configure);
    let until = sim.now + Duration::from_secs(10);
    sim.refuse_connections(1, until);
    sim.disconnect(1);
    let ids = send_spread(&mut sim, 30, ms(100));
    check_bounds(&mut sim, &ids);
}
