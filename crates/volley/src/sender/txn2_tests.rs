//! Deterministic tests of Kafka's transaction protocol version 2 (KIP-890 part 2) against the
//! simulated cluster, and of the choice between versions 1 and 2 (`txn/protocol.rs`): a
//! simulated cluster that finalizes `transaction.version` 2 gets implicit partition and group
//! additions (Produce v12, TxnOffsetCommit v5) and an epoch bump at every EndTxn v5; one that
//! does not gets version 1 (AddPartitionsToTxn, Produce v11, EndTxn v4).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::sim::{Marker, Sim};
use super::txn_tests::{
    abort, assert_fatal_from_now_on, assert_fenced_at_produce_and_at_end_txn, begin, commit, init,
    secs, transactional, T, TXN,
};
use crate::error::KafkaCode;
use crate::txn::{ConsumerGroupMetadata, OffsetAndMetadata, TxnOp, TxnProtocol, TxnState};

/// A transactional producer (`transactional.id` = TXN, linger 0) on a cluster that finalizes
/// `transaction.version` 2; topic known, not initialized.
fn transactional_v2(brokers: &[i32], leaders: &[i32]) -> Sim {
    let mut sim = Sim::new(brokers, &[(T, leaders)], |c| {
        c.transactional_id = Some(TXN.into());
        c.linger = Duration::ZERO;
    });
    sim.set_transaction_version(2);
    sim.wait_for_topic(T);
    sim
}

/// The producer id and epoch the sender stamps batches with now.
fn producer(sim: &Sim) -> (i64, i16) {
    (sim.sender.idem.producer_id, sim.sender.idem.epoch)
}

/// `(producer id, epoch, base sequence)` of every produce attempt on partition `p`.
fn stamps(sim: &Sim, p: i32) -> Vec<(i64, i16, i32)> {
    sim.requests_of(ApiKey::Produce)
        .iter()
        .flat_map(|r| r.parts.iter())
        .filter(|x| x.topic == T && x.partition == p)
        .map(|x| (x.producer_id, x.epoch, x.base_sequence))
        .collect()
}

fn versions(sim: &Sim, api: ApiKey) -> Vec<i16> {
    sim.requests_of(api).iter().map(|r| r.version).collect()
}

// V1. Failure: on a cluster that finalizes transaction.version 2 the producer keeps speaking
// version 1, or speaks version 2 to one that does not (Produce v12 without AddPartitionsToTxn is
// refused by a broker that expects it). Invariant: the finalized feature decides; version 2
// sends no AddPartitionsToTxn, Produce v12 and EndTxn v5; version 1 sends AddPartitionsToTxn
// first, Produce v11 and EndTxn v4. Both commit.
#[test]
fn the_finalized_feature_selects_the_protocol() {
    let mut sim = transactional_v2(&[1], &[1, 1]);
    init(&mut sim);
    assert_eq!(sim.txn().protocol(), Some(TxnProtocol::V2));
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.send(T, 1, "b");
    commit(&mut sim).expect("commit");
    assert!(sim.requests_of(ApiKey::AddPartitionsToTxn).is_empty());
    assert!(versions(&sim, ApiKey::Produce).iter().all(|&v| v == 12));
    assert_eq!(versions(&sim, ApiKey::EndTxn), [5]);
    assert_eq!(sim.read_committed(T, 0), ["a"]);
    assert_eq!(sim.read_committed(T, 1), ["b"]);
    sim.assert_each_resolved_once();

    let mut sim = transactional(&[1], &[1, 1], |_| {});
    init(&mut sim);
    assert_eq!(sim.txn().protocol(), Some(TxnProtocol::V1));
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.send(T, 1, "b");
    commit(&mut sim).expect("commit");
    assert_eq!(sim.requests_of(ApiKey::AddPartitionsToTxn).len(), 1);
    assert!(versions(&sim, ApiKey::Produce).iter().all(|&v| v == 11));
    assert_eq!(versions(&sim, ApiKey::EndTxn), [4]);
    assert_eq!(sim.read_committed(T, 0), ["a"]);
    assert_eq!(sim.read_committed(T, 1), ["b"]);
}

// V2. Failure: after EndTxn v5 the producer goes on with the epoch it had, which the
// coordinator has bumped past (its next batches fenced), or keeps the old sequences. Invariant:
// each commit and abort installs the epoch the EndTxn answer carries; the next transaction's
// batches carry it from sequence 0; the markers are written at the bumped epoch; committed
// records are read, aborted ones are not.
#[test]
fn each_end_txn_bumps_the_epoch_the_next_transaction_uses() {
    let mut sim = transactional_v2(&[1], &[1]);
    init(&mut sim);
    let (pid, e0) = producer(&sim);

    begin(&mut sim);
    sim.send(T, 0, "a1");
    sim.send(T, 0, "a2");
    commit(&mut sim).expect("commit");
    assert_eq!(producer(&sim), (pid, e0 + 1));
    assert_eq!(sim.txn_entry(TXN).expect("entry").epoch, e0 + 1);

    begin(&mut sim);
    sim.send(T, 0, "b");
    sim.run_until_all_done(secs(5));
    abort(&mut sim).expect("abort");
    assert_eq!(producer(&sim), (pid, e0 + 2));

    begin(&mut sim);
    sim.send(T, 0, "c");
    commit(&mut sim).expect("commit");
    assert_eq!(producer(&sim), (pid, e0 + 3));

    let data: Vec<_> = sim
        .log(T, 0)
        .iter()
        .filter(|r| r.control.is_none())
        .map(|r| (r.value.as_str(), r.producer_id, r.epoch, r.sequence))
        .collect();
    assert_eq!(
        data,
        [
            ("a1", pid, e0, 0),
            ("a2", pid, e0, 1),
            ("b", pid, e0 + 1, 0),
            ("c", pid, e0 + 2, 0)
        ],
        "each transaction on the epoch the last EndTxn gave, from sequence 0"
    );
    assert_eq!(
        sim.marker_epochs(T, 0),
        [
            (Some(Marker::Commit), e0 + 1),
            (Some(Marker::Abort), e0 + 2),
            (Some(Marker::Commit), e0 + 3)
        ]
    );
    assert_eq!(sim.read_committed(T, 0), ["a1", "a2", "c"]);
    assert!(sim.requests_of(ApiKey::InitProducerId).len() == 1);
    sim.assert_each_resolved_once();
}

// V3. Failure: in version 2 the producer still sends AddOffsetsToTxn, or the offsets become the
// group's without the commit. Invariant: send_offsets_to_transaction sends TxnOffsetCommit v5
// straight to the group coordinator (no AddOffsetsToTxn); the offsets are the group's after the
// commit only; an abort discards them; a transaction with offsets only commits them too.
#[test]
fn send_offsets_adds_the_group_implicitly() {
    let mut sim = transactional_v2(&[1, 2], &[1]);
    sim.move_group_coordinator(2);
    let group = ConsumerGroupMetadata::new("g");
    let send_offsets = |sim: &mut Sim, o: i64| {
        let op = TxnOp::SendOffsets {
            offsets: BTreeMap::from([(("in".to_string(), 0), OffsetAndMetadata::new(o))]),
            group: group.clone(),
        };
        sim.txn_call("send_offsets_to_transaction", secs(60), op)
    };
    let committed = |sim: &Sim| sim.committed_offsets("g").get(&("in".into(), 0)).copied();
    init(&mut sim);

    begin(&mut sim);
    sim.send(T, 0, "x");
    send_offsets(&mut sim, 42).expect("send_offsets");
    assert_eq!(committed(&sim), None, "pending until the commit");
    commit(&mut sim).expect("commit");
    assert_eq!(committed(&sim), Some(42));

    begin(&mut sim);
    sim.send(T, 0, "y");
    send_offsets(&mut sim, 50).expect("send_offsets");
    abort(&mut sim).expect("abort");
    assert_eq!(committed(&sim), Some(42));

    begin(&mut sim);
    send_offsets(&mut sim, 60).expect("send_offsets");
    commit(&mut sim).expect("commit");
    assert_eq!(committed(&sim), Some(60));

    assert!(sim.requests_of(ApiKey::AddOffsetsToTxn).is_empty());
    let commits: Vec<_> = sim
        .requests_of(ApiKey::TxnOffsetCommit)
        .iter()
        .map(|r| (r.broker, r.version, r.code))
        .collect();
    assert_eq!(commits, [(2, 5, KafkaCode::NONE); 3]);
    assert_eq!(versions(&sim, ApiKey::EndTxn), [5, 5, 5]);
    assert_eq!(sim.read_committed(T, 0), ["x"]);
}

// V4. Failure: a version 2 producer fenced by a newer instance goes on, or treats the fencing
// as retriable. Invariant: its next produce (the leader's implicit add refuses the old epoch:
// INVALID_PRODUCER_EPOCH) or its EndTxn (PRODUCER_FENCED) is fatal, and every later call fails
// with that error; nothing it wrote is read.
#[test]
fn fenced_producer_fails_fatally() {
    let fenced = || {
        let mut sim = transactional_v2(&[1], &[1]);
        init(&mut sim);
        begin(&mut sim);
        sim.send(T, 0, "a");
        sim.run_until_all_done(secs(5));
        sim.fence(TXN);
        sim
    };
    assert_fenced_at_produce_and_at_end_txn(fenced);
}

// V5. Failure: when the epoch is exhausted the coordinator hands out a new producer id at epoch
// 0; a producer that ignores it (or takes only the epoch) is fenced or writes under an id the
// coordinator no longer knows. Invariant: the next transaction carries the new id at epoch 0
// from sequence 0, and commits.
#[test]
fn epoch_exhaustion_moves_to_the_new_producer_id() {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| {
        c.transactional_id = Some(TXN.into());
        c.linger = Duration::ZERO;
    });
    sim.set_transaction_version(2);
    let old = sim.preset_txn_epoch(TXN, i16::MAX - 2);
    sim.wait_for_topic(T);
    init(&mut sim);
    assert_eq!(producer(&sim), (old, i16::MAX - 1));
    begin(&mut sim);
    sim.send(T, 0, "a");
    commit(&mut sim).expect("commit");
    let (new, epoch) = producer(&sim);
    assert_ne!(new, old);
    assert_eq!(epoch, 0);
    assert_eq!(sim.markers(T, 0)[0].epoch, i16::MAX, "old id's last marker");

    begin(&mut sim);
    sim.send(T, 0, "b");
    commit(&mut sim).expect("commit");
    assert_eq!(stamps(&sim, 0).last(), Some(&(new, 0, 0)));
    assert_eq!(producer(&sim), (new, 1));
    assert_eq!(sim.read_committed(T, 0), ["a", "b"]);
}

// V6. Bad input (DESIGN.md, "Transactions"): a broker that finalizes transaction.version 2 but
// answers EndTxn v5 without an epoch (producer id and epoch -1). Failure: the producer keeps its
// epoch, which the coordinator has bumped past, and its next transaction is fenced; or it guesses
// epoch + 1; or the call hangs. Invariant: the commit completes only after an InitProducerId
// (without id and epoch, as at init_transactions) got a fresh epoch; the next transaction uses
// it and commits; both transactions are read.
#[test]
fn end_txn_v5_without_an_epoch_gets_a_fresh_one_with_init_producer_id() {
    let mut sim = transactional_v2(&[1], &[1]);
    init(&mut sim);
    let (pid, e0) = producer(&sim);
    sim.answer_end_txn_without_epoch();
    begin(&mut sim);
    sim.send(T, 0, "a");
    commit(&mut sim).expect("commit");
    let inits = sim.requests_of(ApiKey::InitProducerId);
    assert_eq!(inits.len(), 2);
    assert_eq!(inits[1].producer, Some((-1, -1)), "no guess at the epoch");
    let order: Vec<_> = sim
        .requests
        .iter()
        .map(|r| r.api)
        .filter(|a| matches!(a, ApiKey::EndTxn | ApiKey::InitProducerId))
        .collect();
    assert_eq!(
        order,
        [
            ApiKey::InitProducerId,
            ApiKey::EndTxn,
            ApiKey::InitProducerId
        ]
    );
    // The coordinator bumped once at EndTxn and once more at InitProducerId.
    assert_eq!(producer(&sim), (pid, e0 + 2));
    assert_eq!(sim.txn().state(), TxnState::Ready);

    begin(&mut sim);
    sim.send(T, 0, "b");
    commit(&mut sim).expect("commit");
    assert_eq!(stamps(&sim, 0).last(), Some(&(pid, e0 + 2, 0)));
    assert_eq!(sim.read_committed(T, 0), ["a", "b"]);
    assert!(sim.shared.lifecycle.fatal().is_none());
}

// V7. Failure: an EndTxn v5 whose answer is lost is resent with the old epoch and refused as
// fenced, or its bumped epoch is never learnt. Invariant: the retry (same epoch) gets the same
// answer, the producer installs the bumped epoch, and the next transaction commits.
#[test]
fn lost_end_txn_answer_is_retried_and_answered_again() {
    let mut sim = transactional_v2(&[1], &[1]);
    init(&mut sim);
    let (pid, e0) = producer(&sim);
    sim.drop_responses(ApiKey::EndTxn, 1);
    begin(&mut sim);
    sim.send(T, 0, "a");
    commit(&mut sim).expect("commit");
    let ends = sim.requests_of(ApiKey::EndTxn);
    assert_eq!(ends.len(), 2);
    assert_eq!(ends[1].producer, Some((pid, e0)));
    assert_eq!(ends[1].code, KafkaCode::NONE);
    assert_eq!(producer(&sim), (pid, e0 + 1));
    begin(&mut sim);
    sim.send(T, 0, "b");
    commit(&mut sim).expect("commit");
    assert_eq!(sim.read_committed(T, 0), ["a", "b"]);
}

// V8. Failure: the cluster finalizes transaction.version 2 while the producer runs, and the
// producer switches in the middle of a transaction (its partitions half added), or switches
// without a new epoch. Invariant: the open transaction ends in version 1; before the commit
// returns the epoch is bumped (InitProducerId with the current id and epoch, as Java); the next
// transaction is version 2 (no AddPartitionsToTxn, Produce v12, EndTxn v5).
#[test]
fn moving_up_to_version_2_happens_between_transactions_with_an_epoch_bump() {
    let mut sim = transactional(&[1], &[1], |_| {});
    init(&mut sim);
    let (pid, e0) = producer(&sim);
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    // The feature is finalized; the producer hears of it on its next connection.
    sim.set_transaction_version(2);
    sim.disconnect(1);
    sim.send(T, 0, "b");
    sim.run_until_all_done(secs(5));
    assert_eq!(
        sim.txn().protocol(),
        Some(TxnProtocol::V1),
        "not mid-transaction"
    );
    commit(&mut sim).expect("commit");
    assert_eq!(sim.txn().protocol(), Some(TxnProtocol::V2));
    let inits = sim.requests_of(ApiKey::InitProducerId);
    assert_eq!(inits.len(), 2);
    assert_eq!(inits[1].producer, Some((pid, e0)), "a KIP-360 bump");
    assert_eq!(producer(&sim), (pid, e0 + 1));
    let adds = sim.requests_of(ApiKey::AddPartitionsToTxn).len();

    begin(&mut sim);
    sim.send(T, 0, "c");
    commit(&mut sim).expect("commit");
    assert_eq!(sim.requests_of(ApiKey::AddPartitionsToTxn).len(), adds);
    assert_eq!(versions(&sim, ApiKey::EndTxn), [4, 5]);
    assert_eq!(versions(&sim, ApiKey::Produce).last(), Some(&12));
    assert_eq!(producer(&sim), (pid, e0 + 2));
    assert_eq!(sim.read_committed(T, 0), ["a", "b", "c"]);
}

// V9. Failure: in version 2 an abort after a record failed with a sequence gap sends an extra
// InitProducerId (version 1's KIP-360 bump), or none and the next transaction is refused as out
// of order. Invariant: the EndTxn v5 bump alone closes the gap: one InitProducerId in all, the
// next transaction starts at sequence 0 on the bumped epoch and commits.
#[test]
fn abort_after_a_failed_record_needs_no_extra_bump() {
    let mut sim = transactional_v2(&[1], &[1]);
    init(&mut sim);
    let (pid, e0) = producer(&sim);
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    sim.fail_produce(T, 0, 1, KafkaCode::TRANSACTION_ABORTABLE);
    let b = sim.send(T, 0, "b");
    sim.run_until_all_done(secs(5));
    assert_eq!(sim.error(b).code(), Some(KafkaCode::TRANSACTION_ABORTABLE));
    let e = commit(&mut sim).expect_err("the transaction failed");
    assert!(matches!(e, crate::error::Error::Abortable(_)), "{e:?}");
    abort(&mut sim).expect("abort");
    assert_eq!(sim.requests_of(ApiKey::InitProducerId).len(), 1);
    assert_eq!(producer(&sim), (pid, e0 + 1));
    begin(&mut sim);
    sim.send(T, 0, "c");
    commit(&mut sim).expect("commit");
    assert_eq!(stamps(&sim, 0).last(), Some(&(pid, e0 + 1, 0)));
    assert_eq!(sim.read_committed(T, 0), ["c"]);
}

// V10. Failure: EndTxn answered INVALID_PRODUCER_ID_MAPPING (the coordinator no longer maps the
// transactional id to this producer id) is taken for an abortable error, and the producer goes
// on aborting a transaction that cannot be ended. Invariant: it is fatal, as in Java's
// EndTxnHandler, in both versions; nothing is read.
#[test]
fn end_txn_with_an_unknown_producer_id_mapping_is_fatal() {
    for v2 in [false, true] {
        let mut sim = if v2 {
            transactional_v2(&[1], &[1])
        } else {
            transactional(&[1], &[1], |_| {})
        };
        init(&mut sim);
        begin(&mut sim);
        sim.send(T, 0, "a");
        sim.fail_requests(ApiKey::EndTxn, 1, KafkaCode::INVALID_PRODUCER_ID_MAPPING);
        let e = commit(&mut sim).expect_err("commit");
        assert!(e.is_fatal(), "v2 {v2}: {e:?}");
        assert_eq!(e.code(), Some(KafkaCode::INVALID_PRODUCER_ID_MAPPING));
        assert_fatal_from_now_on(&mut sim, &e);
    }
}

// V11. Failure: a version 2 batch that reaches its leader while the previous transaction's
// markers are still being written is answered CONCURRENT_TRANSACTIONS (seen on Kafka 4.4 right
// after a commit), and the producer fails the record, so the transaction can only be aborted.
// Invariant: the batch is retried, as Java retries it (a RetriableException), with the same
// sequence, and the transaction commits.
#[test]
fn concurrent_transactions_on_produce_is_retried() {
    let mut sim = transactional_v2(&[1], &[1]);
    init(&mut sim);
    begin(&mut sim);
    sim.fail_produce(T, 0, 2, KafkaCode::CONCURRENT_TRANSACTIONS);
    let a = sim.send(T, 0, "a");
    commit(&mut sim).expect("commit");
    assert!(sim.outcome(a).is_ok());
    let attempts: Vec<_> = stamps(&sim, 0).iter().map(|s| s.2).collect();
    assert_eq!(attempts, [0, 0, 0]);
    assert_eq!(sim.read_committed(T, 0), ["a"]);
}
