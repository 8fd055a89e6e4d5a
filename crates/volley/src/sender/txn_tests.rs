//! Deterministic tests of idempotence (epoch bumps, sequence handling) and transactions against
//! the simulated cluster (`sim.rs`, `sim/txn.rs`): time is advanced by hand, there are no
//! sockets. The transaction manager is driven as `Producer` drives it (`Sim::txn_call` mirrors
//! `Producer::txn_call`, with `max.block.ms` counted in simulated time).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::idempotence::PidState;
use super::sim::{Marker, RequestLog, Sim, TxnStatus};
use crate::config::ProducerConfig;
use crate::error::{Error, KafkaCode};
use crate::shared::Command;
use crate::txn::{ConsumerGroupMetadata, OffsetAndMetadata, TxnOp, TxnState};

pub(super) const T: &str = "t";
pub(super) const TXN: &str = "txn-1";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An idempotent producer with one record per batch, the topic known and the producer id in
/// hand, and one warm-up record `w{p}` delivered to each partition (so the broker knows the
/// producer everywhere).
fn idempotent(
    brokers: &[i32],
    leaders: &[i32],
    configure: impl FnOnce(&mut ProducerConfig),
) -> Sim {
    let mut sim = Sim::new(brokers, &[(T, leaders)], |c| {
        c.batch_size = 1;
        c.linger = Duration::ZERO;
        configure(c);
    });
    sim.wait_for_topic(T);
    assert!(sim.run_until(secs(5), |s| s.sender.idem.state == PidState::Ready));
    for p in 0..leaders.len() as i32 {
        sim.send(T, p, &format!("w{p}"));
    }
    sim.run_until_all_done(secs(1));
    sim
}

/// A transactional producer (`transactional.id` = TXN, linger 0), topic known, not initialized.
pub(super) fn transactional(
    brokers: &[i32],
    leaders: &[i32],
    configure: impl FnOnce(&mut ProducerConfig),
) -> Sim {
    let mut sim = Sim::new(brokers, &[(T, leaders)], |c| {
        c.transactional_id = Some(TXN.into());
        c.linger = Duration::ZERO;
        configure(c);
    });
    sim.wait_for_topic(T);
    sim
}

pub(super) fn init(sim: &mut Sim) {
    sim.txn_call("init_transactions", secs(60), TxnOp::Init)
        .expect("init_transactions");
}

pub(super) fn begin(sim: &mut Sim) {
    sim.begin_transaction().expect("begin_transaction");
}

pub(super) fn commit(sim: &mut Sim) -> crate::error::Result<()> {
    sim.txn_call("commit_transaction", secs(60), TxnOp::Commit)
}

pub(super) fn abort(sim: &mut Sim) -> crate::error::Result<()> {
    sim.txn_call("abort_transaction", secs(60), TxnOp::Abort)
}

/// The data records of the partition's log are `values`, in order, each once, and within each
/// producer epoch their sequences run 0, 1, 2, … or continue without a gap.
fn assert_exactly_once_in_order(sim: &Sim, partition: i32, values: &[&str]) {
    assert_eq!(
        sim.log_values(T, partition),
        values,
        "partition {partition}"
    );
    let data: Vec<_> = sim
        .log(T, partition)
        .iter()
        .filter(|r| r.control.is_none())
        .collect();
    for w in data.windows(2) {
        if (w[0].producer_id, w[0].epoch) == (w[1].producer_id, w[1].epoch) {
            assert_eq!(w[1].sequence, w[0].sequence + 1, "sequence gap: {w:?}");
        } else {
            assert_eq!(w[1].sequence, 0, "a new epoch starts at 0: {w:?}");
        }
    }
}

/// No sequence was ever given to two different batches: every produce attempt with the same
/// producer id, epoch, partition and base sequence carried the same records.
fn assert_no_sequence_reuse(sim: &Sim) {
    let mut seen: HashMap<(i64, i16, String, i32, i32), Vec<String>> = HashMap::new();
    for r in sim.requests_of(ApiKey::Produce) {
        for p in &r.parts {
            let key = (
                p.producer_id,
                p.epoch,
                p.topic.clone(),
                p.partition,
                p.base_sequence,
            );
            let prev = seen.entry(key).or_insert_with(|| p.values.clone());
            assert_eq!(
                *prev, p.values,
                "sequence {} of epoch {} reused for other records",
                p.base_sequence, p.epoch
            );
        }
    }
}

/// Index in the request log of the first request matching `f`.
fn first_index(sim: &Sim, f: impl Fn(&RequestLog) -> bool) -> Option<usize> {
    sim.requests.iter().position(f)
}

fn carries(r: &RequestLog, partition: i32) -> bool {
    r.parts
        .iter()
        .any(|p| p.topic == T && p.partition == partition)
}

// ---------------------------------------------------------------------------- idempotence

// I1. Failure: the broker forgot the producer (UNKNOWN_PRODUCER_ID, e.g. its last records were
// deleted by retention) while a single batch was in flight; the producer retries the same
// sequence forever, gives up, or takes a new id without telling the broker its old epoch.
// Invariant: InitProducerId v3+ carries the current id and epoch, the batch is resent with the
// bumped epoch from sequence 0 and delivered once, and the next record continues at sequence 1.
#[test]
fn unknown_producer_id_with_nothing_in_flight_bumps_the_epoch_once() {
    let mut sim = idempotent(&[1], &[1], |_| {});
    let pid = sim.sender.idem.producer_id;
    sim.forget_producers(T, 0);
    let a = sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    let b = sim.send(T, 0, "b");
    sim.run_until_all_done(secs(5));
    sim.assert_each_resolved_once();
    assert_exactly_once_in_order(&sim, 0, &["w0", "a", "b"]);
    assert_eq!((sim.offset(a), sim.offset(b)), (1, 2));

    let inits = sim.requests_of(ApiKey::InitProducerId);
    assert_eq!(inits.len(), 2, "one epoch bump");
    assert!(inits[1].version >= 3, "KIP-360 bump needs v3+");
    assert_eq!(
        inits[1].producer,
        Some((pid, 0)),
        "the current id and epoch"
    );
    let attempts: Vec<_> = sim
        .produce_attempts(T, 0)
        .iter()
        .map(|(_, p)| (p.values[0].clone(), p.epoch, p.base_sequence, p.code))
        .collect();
    assert_eq!(
        attempts,
        vec![
            ("w0".to_string(), 0, 0, KafkaCode::NONE),
            ("a".to_string(), 0, 1, KafkaCode::UNKNOWN_PRODUCER_ID),
            ("a".to_string(), 1, 0, KafkaCode::NONE),
            ("b".to_string(), 1, 1, KafkaCode::NONE),
        ]
    );
    let refused = sim.produce_attempts(T, 0)[1].0.at;
    assert!(inits[1].at >= refused, "the bump follows the refusal");
    assert_no_sequence_reuse(&sim);
}

// I2. Failure: UNKNOWN_PRODUCER_ID on one partition with several requests in flight (to it and
// to another partition); bumping the epoch while batches of the old epoch are still in flight
// lets new-epoch batches overtake them, duplicating or reordering records. Invariant: the bump
// is sent only once no produce request is in flight, no produce request goes out between the
// refusal and the new epoch, and both partitions end with every record once, in send order.
#[test]
fn unknown_producer_id_with_requests_in_flight_waits_and_keeps_order() {
    let delay = ms(10);
    let mut sim = idempotent(&[1], &[1, 1], |_| {});
    sim.delay_responses(1, delay);
    sim.forget_producers(T, 0);
    let mut p0 = vec!["w0"];
    let mut p1 = vec!["w1"];
    let names0 = ["a0", "a1", "a2", "a3"];
    let names1 = ["b0", "b1", "b2", "b3"];
    for i in 0..4 {
        sim.send(T, 0, names0[i]);
        sim.send(T, 1, names1[i]);
        p0.push(names0[i]);
        p1.push(names1[i]);
    }
    sim.run_until_all_done(secs(10));
    sim.assert_each_resolved_once();
    assert_exactly_once_in_order(&sim, 0, &p0);
    assert_exactly_once_in_order(&sim, 1, &p1);
    for (i, id) in (2..10).step_by(2).enumerate() {
        assert_eq!(sim.offset(id), 1 + i as i64, "a{i}");
        assert_eq!(sim.offset(id + 1), 1 + i as i64, "b{i}");
    }

    let inits = sim.requests_of(ApiKey::InitProducerId);
    assert_eq!(inits.len(), 2, "one epoch bump");
    let bump_at = inits[1].at;
    let first_refusal = sim
        .produce_attempts(T, 0)
        .iter()
        .find(|(_, p)| p.code == KafkaCode::UNKNOWN_PRODUCER_ID)
        .expect("refused")
        .0
        .at
        + delay;
    for r in sim.requests_of(ApiKey::Produce) {
        if r.at <= bump_at {
            assert!(
                r.at + delay <= bump_at,
                "produce request at {:?} still in flight at the bump",
                r.at - sim.start
            );
        }
        assert!(
            r.at < first_refusal || r.at >= bump_at + delay,
            "a produce request went out between the refusal and the new epoch"
        );
    }
    assert_no_sequence_reuse(&sim);
}

/// I3's scenario: `a` is sent to an unresponsive broker; with `later`, `b` and `c` follow it
/// 500 ms later; `a` fails with DeliveryTimeout when request.timeout.ms closes the connection,
/// and `d` is sent right then, with the fate of `a` unknown. `lost`: the broker never saw `a`
/// (else it appended it and only the answers were lost). Returns the simulation, run to the end,
/// after the checks common to every variant.
fn timed_out_in_flight(lost: bool, later: bool) -> Sim {
    let mut sim = idempotent(&[1], &[1], |c| {
        c.request_timeout = ms(1000);
        c.delivery_timeout = ms(1000);
        c.retry_backoff = ms(100);
        c.retry_backoff_max = ms(100);
    });
    sim.set_unresponsive(1, true);
    if lost {
        sim.lose_produce_requests(1, 1);
    }
    let a = sim.send(T, 0, "a");
    assert!(sim.run_until(ms(1), |s| s.requests_of(ApiKey::Produce).len() == 2));
    let mut later_ids = Vec::new();
    if later {
        sim.run_for(ms(500));
        later_ids.push(sim.send(T, 0, "b"));
        later_ids.push(sim.send(T, 0, "c"));
        assert!(sim.run_until(ms(1), |s| s.requests_of(ApiKey::Produce).len() == 4));
    }
    // request.timeout.ms after `a` was sent the connection is closed; `a` is past its delivery
    // timeout and fails, `b` and `c` are not and will be retried.
    assert!(sim.run_until(ms(1000), |s| s.is_done(a)));
    let sent = sim.produce_attempts(T, 0)[1].0.at;
    assert_eq!(sim.resolved_at(a).expect("resolved") - sent, ms(1000));
    let e = sim.error(a);
    assert!(matches!(e, Error::DeliveryTimeout { .. }), "{e:?}");
    assert!(later_ids.iter().all(|&id| !sim.is_done(id)));
    later_ids.push(sim.send(T, 0, "d"));
    sim.set_unresponsive(1, false);
    sim.run_until_all_done(secs(10));
    sim.assert_each_resolved_once();
    for &id in &later_ids {
        assert!(sim.outcome(id).is_ok(), "{:?}", sim.outcome(id));
    }
    assert_no_sequence_reuse(&sim);
    // `d` never went with a sequence past one whose fate was unknown.
    let d: Vec<_> = sim
        .produce_attempts(T, 0)
        .iter()
        .filter(|(_, p)| p.values == ["d"])
        .map(|(_, p)| p.code)
        .collect();
    assert_eq!(d, vec![KafkaCode::NONE], "d is sent once, and accepted");
    sim
}

/// The `(epoch, sequence)` of the data records after the warm-up.
fn epochs_and_sequences(sim: &Sim) -> Vec<(i16, i32)> {
    sim.log(T, 0)[1..]
        .iter()
        .map(|r| (r.epoch, r.sequence))
        .collect()
}

// I3. Failure: a batch fails with DeliveryTimeout after its request timed out in flight (its
// fate unknown), possibly with later batches of the partition in flight. Bumping the epoch at
// once and resending the later batches under new sequences duplicates them if the broker had
// appended them; giving a new batch the next sequence sends it past a sequence the broker may
// never have seen; reassigning the failed batch's sequence breaks the sequence contract.
// Invariant: batches sent after the failed one are retried with their own sequences; if the
// broker had the failed one they are recognised (no duplicate, no bump); if it did not, its
// OUT_OF_ORDER_SEQUENCE_NUMBER leads to an epoch bump and they are delivered once from
// sequence 0 of the new epoch; a new batch waits until that is settled (or, with nothing sent
// after the failed batch to settle it, until the epoch is bumped) and is accepted at once; a
// sequence is never given to other records within an epoch.
#[test]
fn out_of_order_after_a_batch_timed_out_in_flight() {
    // The broker had appended `a`, `b` and `c`; only the answers were lost.
    let sim = timed_out_in_flight(false, true);
    assert_exactly_once_in_order(&sim, 0, &["w0", "a", "b", "c", "d"]);
    assert_eq!(sim.requests_of(ApiKey::InitProducerId).len(), 1, "no bump");
    assert_eq!(
        epochs_and_sequences(&sim),
        vec![(0, 1), (0, 2), (0, 3), (0, 4)]
    );

    // The broker never saw `a`: `b` and `c` were refused as out of order.
    let sim = timed_out_in_flight(true, true);
    assert_exactly_once_in_order(&sim, 0, &["w0", "b", "c", "d"]);
    assert!(
        sim.produce_attempts(T, 0).iter().any(|(r, p)| !r.dropped
            && p.values == ["b"]
            && p.code == KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
        "the retry of b, with its own sequence, is answered OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    let inits = sim.requests_of(ApiKey::InitProducerId);
    assert_eq!(inits.len(), 2, "the epoch is bumped once");
    assert_eq!(epochs_and_sequences(&sim), vec![(1, 0), (1, 1), (1, 2)]);
    // No batch of the new epoch went out before the bump.
    for (r, p) in sim.produce_attempts(T, 0) {
        if p.epoch == 1 {
            assert!(r.at >= inits[1].at);
        }
    }

    // Nothing was sent after `a` to tell whether the broker has it: the epoch is bumped.
    for lost in [false, true] {
        let sim = timed_out_in_flight(lost, false);
        let expect: &[&str] = if lost {
            &["w0", "d"]
        } else {
            &["w0", "a", "d"]
        };
        assert_exactly_once_in_order(&sim, 0, expect);
        assert_eq!(sim.requests_of(ApiKey::InitProducerId).len(), 2);
        assert_eq!(epochs_and_sequences(&sim).last(), Some(&(1, 0)));
    }
}

// I4. Failure: DUPLICATE_SEQUENCE_NUMBER (the broker already has the batch: a retry after a lost
// answer) is treated as an error, retried forever, or resolved without an offset although the
// broker gave one. Invariant: it counts as success; each record's future holds the offset of
// the single copy in the log when the broker gives the base offset, and resolves Ok (offset -1)
// when it does not; nothing is retried after it, and no epoch bump follows.
#[test]
fn duplicate_sequence_counts_as_success_with_the_original_offset() {
    let mut sim = idempotent(&[1], &[1], |c| {
        c.batch_size = 16384;
        c.request_timeout = ms(1000);
    });
    sim.drop_produce_responses(1, 1);
    let ids: Vec<usize> = ["x", "y", "z"].iter().map(|v| sim.send(T, 0, v)).collect();
    sim.run_until_all_done(secs(10));
    sim.assert_each_resolved_once();
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts.len(), 3, "the warm-up, the lost answer, the retry");
    assert!(attempts[1].0.dropped);
    assert_eq!(attempts[2].1.code, KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
    assert_eq!(attempts[2].1.values, vec!["x", "y", "z"]);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(sim.offset(*id), 1 + i as i64);
    }
    assert_exactly_once_in_order(&sim, 0, &["w0", "x", "y", "z"]);

    // The broker appends `d`, the answer is lost, and the retry is answered
    // DUPLICATE_SEQUENCE_NUMBER without the offset.
    sim.drop_produce_responses(1, 1);
    let dup = sim.send(T, 0, "d");
    assert!(sim.run_until(ms(1), |s| s.produce_attempts(T, 0).len() == 4));
    sim.fail_produce(T, 0, 1, KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
    sim.run_until_all_done(secs(10));
    assert_eq!(sim.offset(dup), -1);
    let after = sim.send(T, 0, "after");
    sim.run_until_all_done(secs(10));
    sim.assert_each_resolved_once();
    assert_eq!(
        sim.produce_attempts(T, 0).len(),
        6,
        "no retry of the duplicate"
    );
    assert_eq!(sim.requests_of(ApiKey::InitProducerId).len(), 1, "no bump");
    assert_eq!(sim.offset(after), 5);
    assert_exactly_once_in_order(&sim, 0, &["w0", "x", "y", "z", "d", "after"]);
}

// ---------------------------------------------------------------------------- transactions

// T1. Failure: the coordinator answers InitProducerId CONCURRENT_TRANSACTIONS (a previous
// instance's transaction is still being completed) and init_transactions fails, or the retry
// goes at once (hammering the coordinator) or to a broker that is not the coordinator.
// Invariant: the coordinator is found with FindCoordinator(key_type 1); InitProducerId (with the
// transactional id, no producer id) is retried there after retry.backoff.ms until it succeeds;
// init_transactions then succeeds and the sender uses the id and epoch the coordinator gave.
// (A lookup answered COORDINATOR_NOT_AVAILABLE is retried too.)
#[test]
fn concurrent_transactions_on_init_is_retried_after_backoff() {
    let mut sim = transactional(&[1, 2], &[1], |c| c.retry_backoff = ms(100));
    sim.move_txn_coordinator(2);
    sim.fail_requests(
        ApiKey::FindCoordinator,
        1,
        KafkaCode::COORDINATOR_NOT_AVAILABLE,
    );
    sim.fail_requests(
        ApiKey::InitProducerId,
        2,
        KafkaCode::CONCURRENT_TRANSACTIONS,
    );
    let r = sim.txn().begin_init().expect("begin_init");
    sim.wait_txn(&r, secs(10))
        .expect("init done")
        .expect("init succeeds");
    assert_eq!(sim.txn().state(), TxnState::Ready);

    let find = sim.requests_of(ApiKey::FindCoordinator);
    assert_eq!(find.len(), 2);
    assert_eq!(find[0].code, KafkaCode::COORDINATOR_NOT_AVAILABLE);
    assert!(find[1].at - find[0].at >= ms(100));
    assert!(find.iter().all(|r| r.key == Some((1, TXN.to_string()))));
    let inits = sim.requests_of(ApiKey::InitProducerId);
    let codes: Vec<_> = inits.iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        vec![
            KafkaCode::CONCURRENT_TRANSACTIONS,
            KafkaCode::CONCURRENT_TRANSACTIONS,
            KafkaCode::NONE
        ]
    );
    for r in &inits {
        assert_eq!(r.broker, 2, "sent to the coordinator");
        assert_eq!(r.transactional_id.as_deref(), Some(TXN));
        assert_eq!(r.producer, Some((-1, -1)));
    }
    for w in inits.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= ms(100) && gap < ms(150), "retried after {gap:?}");
    }
    let entry = sim.txn_entry(TXN).expect("registered").clone();
    assert_eq!((entry.epoch, entry.status), (0, TxnStatus::Empty));
    assert_eq!(
        (sim.sender.idem.producer_id, sim.sender.idem.epoch),
        (entry.producer_id, 0)
    );

    // The producer works, and a second init_transactions is refused.
    begin(&mut sim);
    sim.send(T, 0, "x");
    commit(&mut sim).expect("commit");
    assert_eq!(sim.read_committed(T, 0), vec!["x"]);
    assert!(matches!(
        sim.txn().begin_init(),
        Err(Error::IllegalState(_))
    ));
}

// Failure: a transactional call handed to the I/O thread twice (two threads, or a retry before
// the first command was handled) starts two commits, or one caller never hears the outcome; an
// illegal call is not refused. Invariant: calls are Command::Txn handled by the sender; a second
// command for the same call joins the pending result and both end with its outcome; an illegal
// transition ends its result with IllegalState at once.
#[test]
fn transactional_commands_join_the_pending_call_and_refuse_illegal_ones() {
    let mut sim = transactional(&[1], &[1], |_| {});
    let lifecycle = sim.shared.lifecycle.clone();
    let result = || Arc::new(crate::txn::TxnResult::new(lifecycle.clone()));
    let commit_early = result();
    sim.shared
        .command(Command::Txn(TxnOp::Commit, commit_early.clone()));
    sim.poll();
    assert!(
        matches!(commit_early.try_get(), Some(Err(Error::IllegalState(_)))),
        "{:?}",
        commit_early.try_get()
    );
    init(&mut sim);
    begin(&mut sim);
    sim.send(T, 0, "a");
    let (c1, c2) = (result(), result());
    sim.shared.command(Command::Txn(TxnOp::Commit, c1.clone()));
    sim.shared.command(Command::Txn(TxnOp::Commit, c2.clone()));
    assert!(sim.run_until(secs(10), |_| c1.is_done() && c2.is_done()));
    assert!(matches!(c1.try_get(), Some(Ok(()))), "{:?}", c1.try_get());
    assert!(matches!(c2.try_get(), Some(Ok(()))), "{:?}", c2.try_get());
    assert_eq!(sim.requests_of(ApiKey::EndTxn).len(), 1, "one commit");
    assert_eq!(sim.txn().state(), TxnState::Ready);
}

// T2. Failure: commit_transaction times out for the user (EndTxn answers lost, the coordinator
// silent past max.block.ms) and the producer gives up on the commit, starts it over, or turns it
// into an abort. Invariant: the timeout returns Error::Timeout with the commit still under way;
// calling commit again waits for the same pending result (abort is refused meanwhile); EndTxn
// is resent (always commit = true) until answered, and the log has COMMIT markers only.
#[test]
fn commit_that_times_out_is_retried_and_never_becomes_an_abort() {
    let mut sim = transactional(&[1], &[1, 1], |c| c.request_timeout = ms(2000));
    init(&mut sim);
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.send(T, 1, "b");
    sim.run_until_all_done(secs(5));
    sim.drop_responses(ApiKey::EndTxn, 2);

    let max_block = ms(1500);
    let first = sim.txn_call("commit_transaction", max_block, TxnOp::Commit);
    assert!(matches!(first, Err(Error::Timeout { .. })), "{first:?}");
    assert_eq!(sim.txn().state(), TxnState::Committing);
    let r1 = sim.txn().begin_commit().expect("same commit");
    let r2 = sim.txn().begin_commit().expect("same commit");
    assert!(Arc::ptr_eq(&r1, &r2), "one pending commit");
    assert!(
        matches!(sim.txn().begin_abort(), Err(Error::IllegalState(_))),
        "a commit under way is not turned into an abort"
    );
    let mut calls = 1;
    loop {
        match sim.txn_call("commit_transaction", max_block, TxnOp::Commit) {
            Ok(()) => break,
            Err(Error::Timeout { .. }) => calls += 1,
            Err(e) => panic!("commit failed: {e}"),
        }
        assert!(calls < 10, "commit never completed");
    }
    assert!(calls >= 2, "the commit outlasted several waits");
    assert_eq!(sim.txn().state(), TxnState::Ready);

    let ends = sim.requests_of(ApiKey::EndTxn);
    assert_eq!(ends.len(), 3, "two lost answers, then the answer");
    assert!(ends.iter().all(|r| r.committed == Some(true)));
    assert!(ends[0].dropped && ends[1].dropped && !ends[2].dropped);
    for w in ends.windows(2) {
        // request.timeout.ms closes the connection, then retry.backoff.ms and a lookup.
        let gap = w[1].at - w[0].at;
        assert!(gap >= ms(2000) && gap <= ms(2200), "resent after {gap:?}");
    }
    for p in 0..2 {
        let markers: Vec<_> = sim.markers(T, p).iter().map(|m| m.control).collect();
        assert_eq!(markers, vec![Some(Marker::Commit)], "partition {p}");
    }
    assert_eq!(sim.read_committed(T, 0), vec!["a"]);
    assert_eq!(sim.read_committed(T, 1), vec!["b"]);
    let ended: Vec<_> = sim
        .txn_entry(TXN)
        .unwrap()
        .ended
        .iter()
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(ended, vec![Marker::Commit]);
}

// T3. Failure: the transaction coordinator moves mid-transaction and the producer keeps asking
// the old one (NOT_COORDINATOR forever), loses the partitions it was adding, or aborts.
// Invariant: NOT_COORDINATOR on AddPartitionsToTxn and on EndTxn leads to FindCoordinator and
// the same request on the new coordinator; the partition's batch waits until it is added
// there; the transaction commits with markers in both partitions.
#[test]
fn coordinator_move_mid_transaction_continues_on_the_new_one() {
    let mut sim = transactional(&[1, 2, 3], &[1, 2], |_| {});
    init(&mut sim);
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    sim.move_txn_coordinator(2);
    sim.send(T, 1, "b");
    sim.run_until_all_done(secs(5));
    sim.move_txn_coordinator(3);
    commit(&mut sim).expect("commit");
    sim.assert_each_resolved_once();

    let adds: Vec<_> = sim
        .requests_of(ApiKey::AddPartitionsToTxn)
        .iter()
        .map(|r| (r.broker, r.txn_partitions.clone(), r.code))
        .collect();
    let tp = |p: i32| vec![(T.to_string(), p)];
    assert_eq!(
        adds,
        vec![
            (1, tp(0), KafkaCode::NONE),
            (1, tp(1), KafkaCode::NOT_COORDINATOR),
            (2, tp(1), KafkaCode::NONE),
        ]
    );
    let ends: Vec<_> = sim
        .requests_of(ApiKey::EndTxn)
        .iter()
        .map(|r| (r.broker, r.code))
        .collect();
    assert_eq!(
        ends,
        vec![(2, KafkaCode::NOT_COORDINATOR), (3, KafkaCode::NONE)]
    );
    // A lookup between each refusal and its retry.
    let kinds: Vec<ApiKey> = sim
        .requests
        .iter()
        .map(|r| r.api)
        .filter(|a| {
            matches!(
                a,
                ApiKey::FindCoordinator | ApiKey::AddPartitionsToTxn | ApiKey::EndTxn
            )
        })
        .collect();
    use ApiKey::{AddPartitionsToTxn as Add, EndTxn as End, FindCoordinator as Find};
    assert_eq!(kinds, vec![Find, Add, Add, Find, Add, End, Find, End]);
    let added_on_2 = first_index(&sim, |r| {
        r.api == ApiKey::AddPartitionsToTxn && r.broker == 2
    })
    .unwrap();
    let produce_b = first_index(&sim, |r| r.api == ApiKey::Produce && carries(r, 1)).unwrap();
    assert!(added_on_2 < produce_b, "b waited for its partition");
    for p in 0..2 {
        assert_eq!(sim.markers(T, p)[0].control, Some(Marker::Commit));
    }
    assert_eq!(sim.read_committed(T, 0), vec!["a"]);
    assert_eq!(sim.read_committed(T, 1), vec!["b"]);
}

// T4. Failure: a transactional batch sent before its partition is in the transaction (the broker
// refuses it, or a read_committed consumer never sees it committed), records left out of the
// commit, or EndTxn sent while batches are still in flight. Invariant: records to 3
// partitions on 2 brokers; AddPartitionsToTxn for each partition is answered before the first
// batch of that partition goes; batches are transactional, with the producer's id and epoch,
// on Produce v11 or below; EndTxn(commit) goes after every batch is acknowledged; each
// partition ends with a COMMIT marker and a read_committed consumer sees every record.
#[test]
fn commit_adds_partitions_before_their_first_batch() {
    let delay = ms(5);
    let mut sim = transactional(&[1, 2], &[1, 1, 2], |_| {});
    sim.delay_responses(1, delay);
    sim.delay_responses(2, delay);
    init(&mut sim);
    let entry = sim.txn_entry(TXN).unwrap().clone();
    begin(&mut sim);
    let mut values: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for i in 0..2 {
        for p in 0..3 {
            let v = format!("p{p}-{i}");
            sim.send(T, p, &v);
            values.entry(p).or_default().push(v);
        }
    }
    commit(&mut sim).expect("commit");
    sim.assert_each_resolved_once();
    for id in 0..6 {
        assert!(sim.outcome(id).is_ok());
    }
    let last_produce = sim.requests_of(ApiKey::Produce).last().unwrap().at;
    let ends = sim.requests_of(ApiKey::EndTxn);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].committed, Some(true));
    assert!(
        ends[0].at >= last_produce + delay,
        "EndTxn after every answer"
    );
    for (p, vals) in &values {
        let p = *p;
        let add = first_index(&sim, |r| {
            r.api == ApiKey::AddPartitionsToTxn
                && r.code.is_ok()
                && r.txn_partitions.contains(&(T.to_string(), p))
        })
        .expect("partition added");
        let produce = first_index(&sim, |r| r.api == ApiKey::Produce && carries(r, p)).unwrap();
        assert!(add < produce, "partition {p} added first");
        assert!(
            sim.requests[produce].at >= sim.requests[add].at + delay,
            "partition {p}: the first batch waited for the answer"
        );
        for (r, part) in sim.produce_attempts(T, p) {
            assert!(
                r.version <= 11,
                "transaction version 1: Produce v11 or below"
            );
            assert_eq!(r.transactional_id.as_deref(), Some(TXN));
            assert!(part.transactional);
            assert_eq!(
                (part.producer_id, part.epoch),
                (entry.producer_id, entry.epoch)
            );
        }
        let log = sim.log(T, p);
        assert_eq!(log.last().unwrap().control, Some(Marker::Commit));
        assert_eq!(sim.markers(T, p).len(), 1);
        assert_eq!(&sim.read_committed(T, p), vals);
    }
    assert_eq!(
        sim.txn_entry(TXN).unwrap().status,
        TxnStatus::CompleteCommit
    );
}

// T5. Failure: abort_transaction sends batches still queued (they would be appended and then
// aborted, for nothing), drops in-flight batches without an answer, or sends EndTxn(abort)
// while a batch is still in flight. Invariant: queued batches fail at once with
// Error::Abortable and are never sent; the batch in flight finishes; EndTxn(abort) follows its
// answer; the partition gets an ABORT marker and a read_committed consumer sees nothing; no
// epoch bump is needed (no sequence was lost), and the next transaction commits.
#[test]
fn abort_fails_queued_batches_and_lets_in_flight_ones_finish() {
    let delay = ms(50);
    let mut sim = transactional(&[1], &[1], |c| {
        c.max_in_flight = 1;
        c.batch_size = 1;
    });
    sim.delay_responses(1, delay);
    init(&mut sim);
    begin(&mut sim);
    let ids: Vec<usize> = (0..4).map(|i| sim.send(T, 0, &format!("r{i}"))).collect();
    assert!(sim.run_until(secs(1), |s| !s.requests_of(ApiKey::Produce).is_empty()));
    let r = sim.txn().begin_abort().expect("abort");
    sim.wait_txn(&r, secs(10))
        .expect("abort done")
        .expect("abort succeeds");
    sim.assert_each_resolved_once();
    assert_eq!(sim.offset(ids[0]), 0, "the batch in flight finished");
    for &id in &ids[1..] {
        let e = sim.error(id);
        assert!(matches!(e, Error::Abortable(_)), "{e:?}");
    }
    let produce = sim.requests_of(ApiKey::Produce);
    assert_eq!(produce.len(), 1, "queued batches were never sent");
    let ends = sim.requests_of(ApiKey::EndTxn);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].committed, Some(false));
    assert!(
        ends[0].at >= produce[0].at + delay,
        "EndTxn after the answer"
    );
    assert_eq!(sim.markers(T, 0)[0].control, Some(Marker::Abort));
    assert!(sim.read_committed(T, 0).is_empty());
    assert_eq!(sim.requests_of(ApiKey::InitProducerId).len(), 1, "no bump");
    assert_eq!(sim.txn().state(), TxnState::Ready);

    begin(&mut sim);
    sim.send(T, 0, "next");
    commit(&mut sim).expect("commit");
    assert_eq!(sim.read_committed(T, 0), vec!["next"]);
    let next = sim.produce_attempts(T, 0).last().unwrap().1.clone();
    assert_eq!((next.epoch, next.base_sequence), (0, 1), "sequences go on");
}

// T6. Failure: a batch of the transaction fails (non-retriable error) and commit_transaction
// commits anyway (a read_committed consumer would see a transaction with a record missing),
// or the producer is stuck after it. Invariant: commit fails with Error::Abortable carrying the
// broker's error, sends are refused the same way, no EndTxn(commit) is sent; abort succeeds,
// writes ABORT markers, and the next transaction commits.
#[test]
fn failed_batch_makes_commit_abortable_and_abort_recovers() {
    let mut sim = transactional(&[1], &[1, 1], |_| {});
    init(&mut sim);
    begin(&mut sim);
    sim.fail_produce(T, 1, 1, KafkaCode::INVALID_RECORD);
    let a = sim.send(T, 0, "a");
    let b = sim.send(T, 1, "b");
    let e = commit(&mut sim).expect_err("commit fails");
    assert!(matches!(e, Error::Abortable(_)), "{e:?}");
    assert_eq!(e.code(), Some(KafkaCode::INVALID_RECORD));
    assert!(sim.outcome(a).is_ok());
    assert_eq!(sim.error(b).code(), Some(KafkaCode::INVALID_RECORD));
    assert_eq!(sim.txn().state(), TxnState::AbortableError);
    let refused = sim.try_send(T, 0, "refused").expect_err("send refused");
    assert!(matches!(refused, Error::Abortable(_)), "{refused:?}");
    let again = commit(&mut sim).expect_err("commit fails again");
    assert!(matches!(again, Error::Abortable(_)), "{again:?}");

    abort(&mut sim).expect("abort");
    assert!(sim
        .requests_of(ApiKey::EndTxn)
        .iter()
        .all(|r| r.committed == Some(false)));
    for p in 0..2 {
        assert_eq!(sim.markers(T, p)[0].control, Some(Marker::Abort));
        assert!(sim.read_committed(T, p).is_empty());
    }
    begin(&mut sim);
    sim.send(T, 0, "c");
    commit(&mut sim).expect("commit");
    assert_eq!(sim.read_committed(T, 0), vec!["c"]);
    sim.assert_each_resolved_once();
}

/// A producer with an open transaction holding a delivered record `a` on partition 0, then
/// fenced by another instance with the same transactional id.
pub(super) fn fenced() -> Sim {
    let mut sim = transactional(&[1], &[1], |_| {});
    init(&mut sim);
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    let (_, epoch) = sim.fence(TXN);
    // The open transaction was aborted with epoch 1, the new instance has epoch 2.
    assert_eq!(epoch, 2);
    assert_eq!(sim.markers(T, 0)[0].control, Some(Marker::Abort));
    assert_eq!(sim.markers(T, 0)[0].epoch, 1);
    sim
}

/// Every later call fails with `fatal`.
pub(super) fn assert_fatal_from_now_on(sim: &mut Sim, fatal: &Error) {
    let same = |e: Error| assert_eq!(e.to_string(), fatal.to_string());
    same(commit(sim).expect_err("commit"));
    same(abort(sim).expect_err("abort"));
    same(sim.try_send(T, 0, "late").expect_err("send"));
    let init = sim.txn_call("init_transactions", secs(1), TxnOp::Init);
    same(init.expect_err("init"));
    same(sim.begin_transaction().expect_err("begin"));
    assert_eq!(sim.txn().state(), TxnState::Fatal);
    assert!(sim.read_committed(T, 0).is_empty());
}

/// A producer that `fenced` makes (an open transaction holding a delivered record `a` on
/// partition 0, then fenced) fails fatally at its next produce (INVALID_PRODUCER_EPOCH, `b`
/// refused) and, made again, at its commit's EndTxn (PRODUCER_FENCED, not retried); every later
/// call fails with that same error.
pub(super) fn assert_fenced_at_produce_and_at_end_txn(fenced: impl Fn() -> Sim) {
    // Fenced at its next produce.
    let mut sim = fenced();
    let b = sim.send(T, 0, "b");
    sim.run_until_all_done(secs(5));
    let e = sim.error(b);
    assert!(e.is_fatal(), "{e:?}");
    assert_eq!(e.code(), Some(KafkaCode::INVALID_PRODUCER_EPOCH));
    let fatal = sim.shared.lifecycle.fatal().cloned().expect("fatal");
    assert_eq!(fatal.to_string(), e.to_string());
    assert_fatal_from_now_on(&mut sim, &fatal);
    assert_eq!(sim.log_values(T, 0), vec!["a"], "b was refused");

    // Fenced at EndTxn.
    let mut sim = fenced();
    let e = commit(&mut sim).expect_err("commit fails");
    assert!(e.is_fatal(), "{e:?}");
    assert_eq!(e.code(), Some(KafkaCode::PRODUCER_FENCED));
    let ends = sim.requests_of(ApiKey::EndTxn);
    assert_eq!(ends.len(), 1, "not retried");
    assert_eq!(ends[0].code, KafkaCode::PRODUCER_FENCED);
    assert_fatal_from_now_on(&mut sim, &e);
}

// T7. Failure: a producer fenced by a newer instance with the same transactional id (a zombie)
// goes on producing or committing, or treats the fencing as retriable. Invariant: its next
// produce (INVALID_PRODUCER_EPOCH, the broker's verification), AddPartitionsToTxn or EndTxn
// (PRODUCER_FENCED) fails with Error::Fatal; from then on every call fails with that same fatal error; nothing it
// wrote is visible to a read_committed consumer.
#[test]
fn fenced_producer_fails_fatally() {
    assert_fenced_at_produce_and_at_end_txn(fenced);

    // Fenced between transactions: at AddPartitionsToTxn; the record waiting for it fails.
    let mut sim = transactional(&[1], &[1], |_| {});
    init(&mut sim);
    sim.fence(TXN);
    begin(&mut sim);
    let c = sim.send(T, 0, "c");
    sim.run_until_all_done(secs(5));
    let e = sim.error(c);
    assert!(e.is_fatal(), "{e:?}");
    assert_eq!(e.code(), Some(KafkaCode::PRODUCER_FENCED));
    assert_eq!(sim.requests_of(ApiKey::Produce).len(), 0);
    assert_fatal_from_now_on(&mut sim, &e);
}

// T8. Failure: offsets sent with send_offsets_to_transaction become the group's committed
// offsets before (or without) the transaction committing, so a consumer that restarts after an
// abort skips records whose output was discarded. Invariant: AddOffsetsToTxn goes to the
// transaction coordinator, then TxnOffsetCommit to the group coordinator (found with
// FindCoordinator key_type 0, and again after NOT_COORDINATOR); the offsets stay pending until
// EndTxn(commit) and are discarded by an abort; a transaction holding only offsets commits
// them too.
#[test]
fn offsets_are_committed_only_with_the_transaction() {
    let mut sim = transactional(&[1, 2], &[1], |_| {});
    sim.move_group_coordinator(2);
    let group = ConsumerGroupMetadata::new("g");
    let offsets = |o: i64| BTreeMap::from([(("in".to_string(), 0), OffsetAndMetadata::new(o))]);
    let send_offsets = |sim: &mut Sim, o: i64| {
        let g = group.clone();
        let op = TxnOp::SendOffsets {
            offsets: offsets(o),
            group: g,
        };
        sim.txn_call("send_offsets_to_transaction", secs(60), op)
    };
    let committed = |sim: &Sim| {
        sim.committed_offsets("g")
            .get(&("in".to_string(), 0))
            .copied()
    };
    init(&mut sim);

    begin(&mut sim);
    sim.send(T, 0, "x");
    send_offsets(&mut sim, 42).expect("send_offsets");
    sim.run_for(secs(1));
    assert_eq!(committed(&sim), None, "pending until the commit");
    commit(&mut sim).expect("commit");
    assert_eq!(committed(&sim), Some(42));
    let order: Vec<_> = sim
        .requests
        .iter()
        .filter(|r| {
            matches!(
                r.api,
                ApiKey::AddOffsetsToTxn
                    | ApiKey::TxnOffsetCommit
                    | ApiKey::EndTxn
                    | ApiKey::FindCoordinator
            )
        })
        .map(|r| (r.api, r.broker, r.key.clone()))
        .collect();
    let g = Some((0, "g".to_string()));
    assert_eq!(
        order[1..],
        [
            (ApiKey::AddOffsetsToTxn, 1, g.clone()),
            (ApiKey::FindCoordinator, order[2].1, g.clone()),
            (ApiKey::TxnOffsetCommit, 2, g.clone()),
            (ApiKey::EndTxn, 1, None),
        ]
    );

    // Aborted: the offsets are discarded.
    begin(&mut sim);
    sim.send(T, 0, "y");
    send_offsets(&mut sim, 50).expect("send_offsets");
    abort(&mut sim).expect("abort");
    assert_eq!(committed(&sim), Some(42));
    assert_eq!(sim.read_committed(T, 0), vec!["x"]);

    // Offsets alone, with the group coordinator moved.
    sim.move_group_coordinator(1);
    begin(&mut sim);
    send_offsets(&mut sim, 60).expect("send_offsets");
    commit(&mut sim).expect("commit");
    assert_eq!(committed(&sim), Some(60));
    assert_eq!(sim.requests_of(ApiKey::EndTxn).len(), 3);
    let commits: Vec<_> = sim
        .requests_of(ApiKey::TxnOffsetCommit)
        .iter()
        .map(|r| (r.broker, r.code))
        .collect();
    assert_eq!(
        commits[2..],
        [(2, KafkaCode::NOT_COORDINATOR), (1, KafkaCode::NONE)]
    );
}

// T9. Failure: a batch of the transaction failed after it was sent (its sequence used, the
// batches behind it refused), and after the abort the next transaction goes on with the old
// epoch and the next sequences: the broker refuses them as out of order and the producer can
// never commit again. Invariant: the abort bumps the epoch (InitProducerId with the current id
// and epoch, after EndTxn(abort) was answered) and completes only once the new epoch is in
// (the bump's answer lost: it is resent, and the coordinator answers the epoch it bumped to);
// the next transaction's batches carry the new epoch from sequence 0, and commit.
#[test]
fn abort_after_a_sequence_gap_bumps_the_epoch_before_it_completes() {
    let delay = ms(10);
    let mut sim = transactional(&[1], &[1], |c| {
        c.batch_size = 1;
        c.request_timeout = ms(2000);
    });
    sim.delay_responses(1, delay);
    init(&mut sim);
    let pid = sim.txn_entry(TXN).unwrap().producer_id;
    begin(&mut sim);
    sim.send(T, 0, "ok");
    sim.run_until_all_done(secs(5));
    sim.fail_produce(T, 0, 1, KafkaCode::INVALID_RECORD);
    for v in ["a", "b", "c"] {
        sim.send(T, 0, v);
    }
    sim.run_until_all_done(secs(5));
    let refused: Vec<KafkaCode> = sim
        .produce_attempts(T, 0)
        .iter()
        .skip(1)
        .map(|(_, p)| p.code)
        .collect();
    assert_eq!(
        refused,
        vec![
            KafkaCode::INVALID_RECORD,
            KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        ]
    );
    assert!(commit(&mut sim).is_err());

    sim.drop_responses(ApiKey::InitProducerId, 1);
    let r = sim.txn().begin_abort().expect("abort");
    let ended = sim.run_until(secs(5), |s| !s.requests_of(ApiKey::EndTxn).is_empty());
    assert!(ended);
    let end_at = sim.requests_of(ApiKey::EndTxn)[0].at;
    assert!(!r.is_done(), "the abort waits for the epoch bump");
    sim.wait_txn(&r, secs(5))
        .expect("abort done")
        .expect("abort succeeds");
    let done_at = sim.now;
    let inits = sim.requests_of(ApiKey::InitProducerId);
    assert_eq!(
        inits.len(),
        3,
        "init, the bump (answer lost), the bump again"
    );
    for r in &inits[1..] {
        assert_eq!(r.producer, Some((pid, 0)), "bump of the current epoch");
        assert_eq!(r.transactional_id.as_deref(), Some(TXN));
    }
    assert!(inits[1].dropped);
    assert!(
        inits[1].at >= end_at + delay,
        "after EndTxn(abort) was answered"
    );
    assert!(
        done_at >= inits[2].at + delay,
        "done once the new epoch is in"
    );
    assert_eq!(sim.txn_entry(TXN).unwrap().epoch, 1, "bumped once");
    assert_eq!(sim.sender.idem.epoch, 1);

    begin(&mut sim);
    sim.send(T, 0, "n0");
    sim.send(T, 0, "n1");
    commit(&mut sim).expect("commit");
    sim.assert_each_resolved_once();
    let next: Vec<_> = sim
        .produce_attempts(T, 0)
        .iter()
        .filter(|(_, p)| p.values[0].starts_with('n'))
        .map(|(_, p)| (p.epoch, p.base_sequence, p.code))
        .collect();
    assert_eq!(next, vec![(1, 0, KafkaCode::NONE), (1, 1, KafkaCode::NONE)]);
    assert_eq!(sim.read_committed(T, 0), vec!["n0", "n1"]);
    assert_eq!(
        sim.marker_epochs(T, 0),
        vec![(Some(Marker::Abort), 0), (Some(Marker::Commit), 1)]
    );
}

// S1. Failure: the simulated partition leaders accept transactional batches that Kafka 4.x
// refuses, so a sender that sent a batch before AddPartitionsToTxn, after EndTxn, or after
// being fenced would pass the tests above. Invariant: the leaders' verification refuses a
// partition not in the open transaction with INVALID_TXN_STATE (what Kafka answers transaction
// version 1 clients), an unknown producer id with INVALID_PRODUCER_ID_MAPPING, a stale epoch
// with INVALID_PRODUCER_EPOCH.
#[test]
fn simulated_leaders_verify_transactional_batches() {
    let mut sim = transactional(&[1], &[1, 1], |_| {});
    init(&mut sim);
    let pid = sim.txn_entry(TXN).unwrap().producer_id;
    let verify = |sim: &Sim, p: i32, producer: (i64, i16)| {
        sim.verify_transactional_batch(TXN, T, p, producer)
    };
    assert_eq!(verify(&sim, 0, (pid, 0)), KafkaCode::INVALID_TXN_STATE);
    begin(&mut sim);
    sim.send(T, 0, "a");
    sim.run_until_all_done(secs(5));
    assert_eq!(verify(&sim, 0, (pid, 0)), KafkaCode::NONE);
    assert_eq!(verify(&sim, 1, (pid, 0)), KafkaCode::INVALID_TXN_STATE);
    assert_eq!(
        verify(&sim, 0, (pid + 1, 0)),
        KafkaCode::INVALID_PRODUCER_ID_MAPPING
    );
    commit(&mut sim).expect("commit");
    assert_eq!(verify(&sim, 0, (pid, 0)), KafkaCode::INVALID_TXN_STATE);
    sim.fence(TXN);
    assert_eq!(verify(&sim, 0, (pid, 0)), KafkaCode::INVALID_PRODUCER_EPOCH);
}
