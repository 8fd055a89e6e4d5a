//! Re-bootstrap (KIP-899, KIP-1102) and the cluster-id rule against the simulated cluster.
//!
//! The producer bootstraps from `lb:9092`, an address in front of the cluster (as a load
//! balancer or a DNS name): at first it reaches broker 1 of brokers 1 and 2. "The cluster
//! moves" is: brokers 11 and 12 join the same cluster (same id, same partition logs), the
//! leaders move to them, `lb:9092` now reaches broker 11, and brokers 1 and 2 stop. No address
//! the producer learnt from metadata works any more; only the bootstrap address does.

use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::idempotence::PidState;
use super::sim::{ConnEvent, Sim};
use super::tests::ms;
use crate::config::{MetadataRecoveryStrategy, ProducerConfig};
use crate::error::Error;
use crate::metadata::BootstrapState;

const T: &str = "t";
const LB: &str = "lb:9092";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Brokers `brokers` leading the partitions of `T` (`leaders`), the producer bootstrapping
/// from `LB` (which reaches `brokers[0]`), the topic known and the producer id in hand.
fn behind_lb(brokers: &[i32], leaders: &[i32], configure: impl FnOnce(&mut ProducerConfig)) -> Sim {
    let mut sim = Sim::new(brokers, &[(T, leaders)], |c| {
        c.bootstrap_servers = vec![LB.into()];
        c.linger = Duration::ZERO;
        configure(c);
    });
    sim.alias(LB, brokers[0]);
    sim.wait_for_topic(T);
    assert!(sim.run_until(secs(5), |s| s.sender.idem.state == PidState::Ready));
    assert_eq!(
        sim.sender.metadata.bootstrap_state(),
        BootstrapState::Bootstrapped
    );
    sim
}

/// The cluster of brokers 1 and 2 moves to brokers 11 and 12 (see the module docs); `LB` then
/// reaches `lb_to`.
fn move_cluster(sim: &mut Sim, lb_to: i32) {
    sim.add_broker(11, None);
    sim.add_broker(12, None);
    sim.set_leader(T, 0, Some(11));
    sim.set_leader(T, 1, Some(12));
    sim.alias(LB, lb_to);
    sim.stop_broker(1);
    sim.stop_broker(2);
}

fn rebootstraps(sim: &Sim) -> u64 {
    sim.shared.counters.snapshot(0, 0).rebootstrap_total
}

/// Connection attempts to `address` among the connection events from the `since`th on.
fn connects_to(sim: &Sim, address: &str, since: usize) -> usize {
    sim.conn_events[since..]
        .iter()
        .filter(|(_, e)| matches!(e, ConnEvent::Connect { addr, .. } if addr == address))
        .count()
}

/// Each partition's log holds `values` of it, in send order, each once.
fn assert_logs(sim: &Sim, p0: &[&str], p1: &[&str]) {
    assert_eq!(sim.log_values(T, 0), p0, "partition 0");
    assert_eq!(sim.log_values(T, 1), p1, "partition 1");
}

// Trigger 1 (KIP-899): the brokers all moved, their old addresses refuse connections.
// Invariant: once a metadata refresh finds no known broker available, the producer bootstraps
// again through LB, at once, and every record (acknowledged before, in flight at the move, and
// sent while no broker was known) is written once, in order, under the same producer id.
#[test]
fn producer_follows_a_moved_cluster_through_the_bootstrap_address() {
    let mut sim = behind_lb(&[1, 2], &[1, 2], |_| {});
    let pid = sim.sender.idem.producer_id;
    sim.send(T, 0, "a0");
    sim.send(T, 1, "a1");
    sim.run_until_all_done(secs(1));
    // In flight at the move: the old brokers write these, but their answers are lost.
    sim.delay_responses(1, ms(50));
    sim.delay_responses(2, ms(50));
    sim.send(T, 0, "b0");
    sim.send(T, 1, "b1");
    assert!(sim.run_until(ms(20), |s| s.requests_of(ApiKey::Produce).len() == 4));
    let moved = sim.now;
    let mark = sim.conn_events.len();
    move_cluster(&mut sim, 11);
    sim.send(T, 0, "c0");
    sim.send(T, 1, "c1");
    sim.run_until_all_done(secs(5));
    sim.assert_each_resolved_once();
    for id in 0..sim.records.len() {
        sim.offset(id);
    }
    assert_logs(&sim, &["a0", "b0", "c0"], &["a1", "b1", "c1"]);
    assert_eq!(rebootstraps(&sim), 1);
    assert_eq!(connects_to(&sim, LB, mark), 1, "one bootstrap connection");
    let produce = sim.requests_of(ApiKey::Produce);
    assert!(produce.iter().all(|r| r.parts[0].producer_id == pid));
    let after: Vec<i32> = produce
        .iter()
        .filter(|r| r.at > moved)
        .map(|r| r.broker)
        .collect();
    assert!(after.iter().all(|b| [11, 12].contains(b)), "{after:?}");
    // The retried b0 and b1 were duplicates the brokers recognised (DUPLICATE_SEQUENCE_NUMBER).
    assert_eq!(sim.offset(2), 1);
    assert_eq!(sim.offset(3), 1);
    // Recovery took one refresh backoff and a connection, not a trigger.ms.
    let recovered = sim.resolved_at(5).unwrap();
    assert!(recovered - moved < ms(500), "{:?}", recovered - moved);
}

// After the rebootstrap, the moved cluster does not have the topic yet (an operator or
// auto-creation makes it a moment later). Invariant: batches waiting for a leader keep the
// metadata refresh going at its backoff (100 ms), rather than the sender sleeping until their
// delivery timeout, so they go out as soon as the topic exists.
#[test]
fn batches_waiting_for_their_topic_keep_refreshing_after_a_rebootstrap() {
    let mut sim = behind_lb(&[1, 2], &[1, 2], |_| {});
    move_cluster(&mut sim, 11);
    sim.delete_topic(T);
    let a = sim.send(T, 0, "a0");
    let sent = sim.now;
    assert!(!sim.run_until(secs(1), |s| s.is_done(a)));
    assert_eq!(rebootstraps(&sim), 1);
    // Asked again and again (not once, then nothing until delivery.timeout.ms).
    let asked = sim
        .requests_of(ApiKey::Metadata)
        .iter()
        .filter(|r| r.at > sent + ms(300))
        .count();
    assert!(asked >= 5, "{asked} metadata requests in the last 700 ms");
    let created = sim.now;
    sim.create_topic(T, &[11, 12]);
    sim.run_until_all_done(secs(1));
    sim.offset(a);
    let waited = sim.resolved_at(a).unwrap() - created;
    assert!(waited <= ms(200), "{waited:?}");
    assert_logs(&sim, &["a0"], &[]);
}

// `metadata.recovery.strategy=none`. Invariant: the producer never goes back to the bootstrap
// servers: it keeps retrying the brokers it knows (within their reconnect backoff), and the
// records fail at delivery.timeout.ms, each once.
#[test]
fn none_keeps_retrying_the_known_brokers_and_never_rebootstraps() {
    let mut sim = behind_lb(&[1, 2], &[1, 2], |c| {
        c.metadata_recovery_strategy = MetadataRecoveryStrategy::None;
        c.delivery_timeout = secs(5);
        c.request_timeout = secs(2);
        c.metadata_recovery_rebootstrap_trigger = ms(100);
    });
    let mark = sim.conn_events.len();
    move_cluster(&mut sim, 11);
    sim.send(T, 0, "a0");
    sim.send(T, 1, "a1");
    sim.run_until_all_done(secs(10));
    sim.assert_each_resolved_once();
    for id in 0..2 {
        assert!(
            matches!(sim.error(id), Error::DeliveryTimeout { .. }),
            "{:?}",
            sim.error(id)
        );
    }
    assert_eq!(rebootstraps(&sim), 0);
    assert_eq!(connects_to(&sim, LB, mark), 0);
    // Reconnect attempts to each known broker, spaced by reconnect.backoff.ms growing to its
    // max (1 s): more than a few, fewer than one per 50 ms.
    for b in ["broker1:9092", "broker2:9092"] {
        let n = connects_to(&sim, b, mark);
        assert!((4..=40).contains(&n), "{b}: {n} attempts");
    }
    assert_logs(&sim, &[], &[]);
    assert!(matches!(
        sim.sender.metadata.bootstrap_state(),
        BootstrapState::Stale { .. }
    ));
}

// Trigger 2 (KIP-1102): the old brokers still accept connections but answer nothing, so they
// never look unreachable. Invariant: metadata.recovery.rebootstrap.trigger.ms after the first
// attempt of the refresh that does not complete, the producer closes every connection (what
// was in flight is retried) and bootstraps again, before request.timeout.ms would have cut
// those connections; records then reach the moved cluster once each.
#[test]
fn a_refresh_failing_for_trigger_ms_rebootstraps() {
    let mut sim = behind_lb(&[1, 2], &[1, 2], |c| {
        c.metadata_max_age = secs(1);
        c.metadata_recovery_rebootstrap_trigger = secs(2);
        c.request_timeout = secs(10);
    });
    sim.add_broker(11, None);
    sim.add_broker(12, None);
    sim.set_unresponsive(1, true);
    sim.set_unresponsive(2, true);
    let stalled = sim.now;
    sim.send(T, 0, "a0");
    sim.send(T, 1, "a1");
    assert!(sim.run_until(secs(2), |s| s
        .requests_of(ApiKey::Metadata)
        .iter()
        .any(|r| r.at > stalled)));
    let due = sim.now;
    // The refresh hangs; the cluster moves meanwhile (the old brokers stay up, mute).
    sim.set_leader(T, 0, Some(11));
    sim.set_leader(T, 1, Some(12));
    sim.alias(LB, 11);
    assert!(!sim.run_until(secs(2) - ms(1), |s| rebootstraps(s) > 0));
    assert!(sim.run_until(ms(1), |s| rebootstraps(s) == 1));
    assert_eq!(sim.now, due + secs(2));
    assert_eq!(
        sim.first_close(1),
        Some(sim.now),
        "connections closed at once"
    );
    sim.run_until_all_done(secs(5));
    sim.assert_each_resolved_once();
    // The mute brokers wrote a0 and a1 (their answers never came); the retries were
    // recognised as duplicates.
    assert_logs(&sim, &["a0"], &["a1"]);
    assert_eq!(sim.offset(0), 0);
    assert_eq!(rebootstraps(&sim), 1);
}

// Trigger 3 (KIP-1102): a broker answers Metadata v13 with REBOOTSTRAP_REQUIRED. Invariant:
// the producer bootstraps again at once (closing its connections), then goes on; with
// `none` the answer is only a failed refresh, retried after the backoff.
#[test]
fn rebootstrap_required_rebootstraps_at_once_unless_none() {
    for strategy in [
        MetadataRecoveryStrategy::Rebootstrap,
        MetadataRecoveryStrategy::None,
    ] {
        let mut sim = behind_lb(&[1], &[1, 1], |c| {
            c.metadata_recovery_strategy = strategy;
            c.metadata_max_age = secs(1);
        });
        sim.send(T, 0, "a0");
        sim.run_until_all_done(secs(1));
        sim.answer_rebootstrap_required(1, 1);
        let asked = sim.now;
        assert!(sim.run_until(secs(2), |s| s
            .requests_of(ApiKey::Metadata)
            .iter()
            .any(|r| r.at > asked)));
        let answered = sim.now;
        sim.run_for(ms(300));
        sim.send(T, 1, "a1");
        sim.run_until_all_done(secs(1));
        sim.assert_each_resolved_once();
        assert_logs(&sim, &["a0"], &["a1"]);
        let later_metadata: Vec<i32> = sim
            .requests_of(ApiKey::Metadata)
            .iter()
            .filter(|r| r.at > answered)
            .map(|r| r.node)
            .collect();
        match strategy {
            MetadataRecoveryStrategy::Rebootstrap => {
                assert_eq!(rebootstraps(&sim), 1);
                assert_eq!(sim.first_close(1), Some(answered));
                assert_eq!(later_metadata.first(), Some(&-1), "through LB");
            }
            _ => {
                assert_eq!(rebootstraps(&sim), 0);
                assert_eq!(sim.first_close(1), None);
                assert_eq!(later_metadata.first(), Some(&1), "{later_metadata:?}");
            }
        }
    }
}

// Bad input: a bootstrap address that answers for another cluster (cluster id). Invariant
// (DESIGN.md): the producer pins the cluster id of its first metadata; metadata from another
// cluster is refused (never applied, its connection closed, the refusal the cause of waits
// that time out), and the producer keeps trying its other bootstrap servers, so it finds its
// own cluster there. Nothing but Metadata ever goes to the foreign broker.
#[test]
fn metadata_from_another_cluster_is_refused_and_other_bootstrap_servers_tried() {
    const LB2: &str = "lb2:9092";
    let mut sim = Sim::new(&[1, 2], &[(T, &[1, 2])], |c| {
        c.bootstrap_servers = vec![LB.into(), LB2.into()];
        c.linger = Duration::ZERO;
    });
    sim.alias(LB, 1);
    sim.alias(LB2, 1);
    sim.wait_for_topic(T);
    sim.send(T, 0, "a0");
    sim.run_until_all_done(secs(2));
    // A foreign cluster (broker 21) behind LB, which the producer tries first after the
    // rebootstrap (it bootstrapped through LB2, whose node is in its reconnect backoff once
    // the rebootstrap closed it), the moved cluster behind LB2.
    sim.add_broker(21, Some("other-cluster"));
    let mark = sim.conn_events.len();
    move_cluster(&mut sim, 21);
    sim.alias(LB2, 11);
    sim.send(T, 0, "b0");
    sim.send(T, 1, "b1");
    assert!(sim.run_until(secs(2), |s| s.requests.iter().any(|r| r.broker == 21)));
    sim.run_for(ms(1));
    match sim.shared.lifecycle.io_error().as_deref() {
        Some(Error::ClusterIdMismatch {
            broker,
            expected,
            found,
        }) => {
            assert_eq!(
                (broker.as_str(), expected.as_str(), found.as_str()),
                (LB, "sim-cluster", "other-cluster")
            );
        }
        e => panic!("{e:?}"),
    }
    sim.run_until_all_done(secs(5));
    sim.assert_each_resolved_once();
    assert_logs(&sim, &["a0", "b0"], &["b1"]);
    let to_foreign: Vec<ApiKey> = sim
        .requests
        .iter()
        .filter(|r| r.broker == 21)
        .map(|r| r.api)
        .collect();
    assert_eq!(to_foreign, vec![ApiKey::Metadata]);
    assert!(!sim.sender.net.nodes.contains_key(&21));
    assert_eq!(
        sim.shared.cluster().cluster_id.as_deref(),
        Some("sim-cluster")
    );
    assert!(connects_to(&sim, LB2, mark) >= 1);
}

// Bad input, no way out: the only bootstrap address now answers for another cluster.
// Invariant: the producer never takes its metadata, retries within the reconnect backoff (not
// in a busy loop), and every wait still ends: a graceful close finishes once the records
// expire at delivery.timeout.ms (each failing once), a forced close at once.
#[test]
fn only_a_foreign_cluster_left_every_wait_still_ends_on_close() {
    for forced in [false, true] {
        let mut sim = behind_lb(&[1, 2], &[1, 2], |c| {
            c.delivery_timeout = secs(5);
            c.request_timeout = secs(2);
        });
        sim.add_broker(21, Some("other-cluster"));
        let moved = sim.now;
        move_cluster(&mut sim, 21);
        sim.send(T, 0, "a0");
        sim.send(T, 1, "a1");
        sim.run_for(secs(2));
        let refused = sim
            .requests_of(ApiKey::Metadata)
            .iter()
            .filter(|r| r.broker == 21)
            .count();
        // The foreign broker's node backs off as an unreachable one (50 ms doubling, ±20 %).
        assert!((3..=7).contains(&refused), "{refused} refused answers");
        assert!(matches!(
            sim.shared.lifecycle.io_error().as_deref(),
            Some(Error::ClusterIdMismatch { .. }) | None
        ));
        let closed_at = sim.now;
        if forced {
            sim.force_close();
        } else {
            sim.close();
        }
        assert!(sim.run_until(secs(10), |s| s.sender.is_finished()));
        sim.assert_each_resolved_once();
        for id in 0..2 {
            let e = sim.error(id);
            if forced {
                assert!(matches!(e, Error::Closed(_)), "{e:?}");
                assert_eq!(sim.resolved_at(id), Some(closed_at));
            } else {
                assert!(matches!(e, Error::DeliveryTimeout { .. }), "{e:?}");
                assert_eq!(sim.resolved_at(id), Some(moved + secs(5)));
            }
        }
        assert_logs(&sim, &[], &[]);
        assert_ne!(
            sim.shared.cluster().cluster_id.as_deref(),
            Some("other-cluster")
        );
        assert!(sim
            .requests
            .iter()
            .all(|r| r.broker != 21 || r.api == ApiKey::Metadata));
    }
}

// A transactional producer whose cluster moves between two transactions and in the middle of
// one. Invariant: the rebootstrap makes it look its coordinator up again (through the
// bootstrap address), and both transactions commit, their records visible once each.
#[test]
fn transactions_commit_across_a_rebootstrap() {
    use crate::txn::TxnOp;
    let mut sim = Sim::new(&[1, 2], &[(T, &[1, 2])], |c| {
        c.bootstrap_servers = vec![LB.into()];
        c.transactional_id = Some("txn-1".into());
        c.linger = Duration::ZERO;
    });
    sim.alias(LB, 1);
    sim.wait_for_topic(T);
    sim.txn_call("init_transactions", secs(60), TxnOp::Init)
        .expect("init_transactions");
    sim.begin_transaction().unwrap();
    sim.send(T, 0, "a0");
    sim.send(T, 1, "a1");
    sim.run_until_all_done(secs(2));
    move_cluster(&mut sim, 11);
    sim.move_txn_coordinator(11);
    sim.move_group_coordinator(11);
    sim.send(T, 0, "b0");
    sim.txn_call("commit_transaction", secs(60), TxnOp::Commit)
        .expect("commit across the move");
    sim.begin_transaction().unwrap();
    sim.send(T, 1, "c1");
    sim.txn_call("commit_transaction", secs(60), TxnOp::Commit)
        .expect("second commit");
    sim.assert_each_resolved_once();
    assert_eq!(sim.read_committed(T, 0), vec!["a0", "b0"]);
    assert_eq!(sim.read_committed(T, 1), vec!["a1", "c1"]);
    assert_eq!(rebootstraps(&sim), 1);
}

// Failure: brokers that no metadata names any more (the cluster moved: 1, 2 -> 11, 12) stay
// candidates for metadata and other non-produce requests, and count as available, so the
// producer keeps connecting to dead addresses. Invariant: once metadata names brokers, only
// those take such requests.
#[test]
fn brokers_no_metadata_names_are_not_connected_to() {
    let mut sim = behind_lb(&[1, 2], &[1, 2], |_| {});
    move_cluster(&mut sim, 11);
    sim.send(T, 0, "c0");
    sim.send(T, 1, "c1");
    sim.run_until_all_done(secs(5));
    assert_eq!(rebootstraps(&sim), 1);
    assert!(sim
        .sender
        .metadata
        .cluster()
        .brokers
        .keys()
        .all(|b| [11, 12].contains(b)));
    let mark = sim.conn_events.len();
    sim.run_for(secs(1));
    sim.disconnect(11);
    sim.disconnect(12);
    sim.sender.metadata.request_update();
    sim.run_for(secs(3));
    let old = connects_to(&sim, "broker1:9092", mark) + connects_to(&sim, "broker2:9092", mark);
    assert_eq!(old, 0, "connections to brokers that no metadata names");
}

// Failure: the producer rebootstraps into its cluster (same id, same topic ids) whose leader
// epochs are lower than those it saw (restored metadata, the KIP-1102 case), and the old,
// higher epochs keep the partitions on dead leaders for good. Invariant: a rebootstrap drops
// the epoch floors (as Java's bootstrap snapshot), so the first metadata after it is taken.
#[test]
fn epochs_from_before_a_rebootstrap_do_not_pin_the_old_leaders() {
    let mut sim = behind_lb(&[1, 2], &[1, 2], |c| {
        c.delivery_timeout = secs(10);
        c.request_timeout = secs(5);
    });
    for _ in 0..5 {
        sim.set_leader(T, 0, Some(2));
        sim.set_leader(T, 0, Some(1));
    }
    let a = sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    assert_eq!(sim.offset(a), 0);
    sim.sender.metadata.request_update();
    sim.run_for(secs(1));
    assert!(sim.sender.metadata.cluster().leader_epoch(T, 0) >= 10);
    sim.add_broker(11, None);
    sim.add_broker(12, None);
    sim.set_leader_and_epoch(T, 0, 11, 0);
    sim.set_leader_and_epoch(T, 1, 12, 0);
    sim.alias(LB, 11);
    sim.stop_broker(1);
    sim.stop_broker(2);
    let b = sim.send(T, 0, "b");
    sim.run_until_all_done(secs(15));
    assert!(rebootstraps(&sim) >= 1);
    assert_eq!(sim.offset(b), 1, "{:?}", sim.error(b));
    sim.assert_each_resolved_once();
}
