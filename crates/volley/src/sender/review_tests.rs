//! Attacks on the idempotent producer's pending epoch bump (issue 11 review): interleavings
//! where a batch that may be in the log could be restamped, or where the bump could wait
//! for a batch that cannot be sent.

use std::time::Duration;

use super::idempotence::PidState;
use super::tests::{ms, setup};
use crate::error::{Error, KafkaCode};

const T: &str = "t";

// Failure: partition 0's first unacknowledged batch A was answered with a retriable error (so
// it is not "unanswered") and waits for its retry; B, sent behind it, lost its answer (so the
// bump waits for B's retry). Then partition 1 shows a gap: an epoch bump is pending. B cannot
// go before A (sequence order), and A, not being unanswered, could not go during the pending
// bump: nothing moved until A's delivery timeout failed it. Invariant: A is retried under its
// stamp, then B, then the epoch is bumped; every record is delivered once, long before
// delivery.timeout.ms.
#[test]
fn a_pending_bump_lets_an_answered_retry_go_before_an_unanswered_one() {
    let mut sim = setup(&[1], &[1, 1], |c| {
        c.linger = Duration::ZERO;
        c.request_timeout = ms(500);
        c.retry_backoff = ms(3000);
        c.retry_backoff_max = ms(3000);
        c.delivery_timeout = ms(60_000);
    });
    // The partitions have acknowledged a batch of this producer (more than one may fly).
    let a0 = sim.send(T, 0, "a0");
    let q0 = sim.send(T, 1, "q0");
    sim.run_until_all_done(ms(5000));
    let epoch = sim.sender.idem.epoch;

    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    let a = sim.send(T, 0, "a");
    sim.poll(); // A is sent; its answer (an error) is scheduled
    sim.drop_produce_responses(1, 1);
    let b = sim.send(T, 0, "b");
    sim.poll(); // B is sent behind it; its answer is lost
                // B's request times out (500 ms), A waits for its retry (3 s backoff).
    sim.run_for(ms(1000));
    assert!(!sim.is_done(a) && !sim.is_done(b));
    // A gap on partition 1: the epoch must be bumped.
    sim.fail_produce(T, 1, 1, KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    let q = sim.send(T, 1, "q");
    sim.run_until_all_done(ms(20_000));
    sim.assert_each_resolved_once();
    for id in [a0, q0, a, b, q] {
        assert!(
            sim.outcome(id).is_ok(),
            "record {id}: {:?}",
            sim.outcome(id)
        );
    }
    assert_eq!(sim.log_values(T, 0), vec!["a0", "a", "b"]);
    assert_eq!(sim.log_values(T, 1), vec!["q0", "q"]);
    assert_eq!(sim.sender.idem.state, PidState::Ready);
    assert!(sim.sender.idem.epoch > epoch, "the epoch was bumped");
}

// Failure: NOT_ENOUGH_REPLICAS_AFTER_APPEND (and REQUEST_TIMED_OUT, acks=all's replication
// wait) come after the leader appended the batch. A failed for good with one (retries
// exhausted) was taken as surely unwritten: the epoch was bumped at once and B, behind it and
// also in the log (its answer the same retriable error), was written again under new
// sequences. Invariant: such an answer leaves the batch maybe written, as a lost answer does;
// every record is in the log once.
#[test]
fn an_error_after_the_append_leaves_the_batch_maybe_written() {
    for code in [
        KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaCode::REQUEST_TIMED_OUT,
    ] {
        let mut sim = setup(&[1], &[1], |c| {
            c.linger = Duration::ZERO;
            c.retries = 1;
            c.retry_backoff = ms(100);
            c.retry_backoff_max = ms(100);
        });
        let a0 = sim.send(T, 0, "a0");
        sim.run_until_all_done(ms(5000));
        // A's two attempts and B's first: appended (or a duplicate), then answered `code`.
        sim.fail_produce(T, 0, 3, code);
        let a = sim.send(T, 0, "a");
        sim.poll();
        let b = sim.send(T, 0, "b");
        sim.poll();
        sim.run_until_all_done(ms(10_000));
        sim.assert_each_resolved_once();
        assert!(sim.outcome(a0).is_ok());
        assert!(
            sim.outcome(a).is_err(),
            "{code:?}: A's retries are exhausted"
        );
        assert!(sim.outcome(b).is_ok(), "{code:?}: {:?}", sim.outcome(b));
        assert_eq!(sim.log_values(T, 0), vec!["a0", "a", "b"], "{code:?}");
    }
}

// Failure: a batch whose first attempt got no answer was in the log; before its retry the
// topic's max.message.bytes was lowered, so the retry was refused MESSAGE_TOO_LARGE (the
// leader checks the size before it looks for a duplicate) and split. The first half's
// sequence was then below the broker's (OUT_OF_ORDER_SEQUENCE_NUMBER), taken as a gap: the
// epoch was bumped and both halves written again. Invariant: a batch that may be in the log is
// not split; it fails (its records may be in the log, as for any batch that fails maybe
// written), and no record is in the log twice.
#[test]
fn a_batch_that_may_be_written_is_not_split() {
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = Duration::ZERO;
        c.request_timeout = ms(500);
    });
    let a0 = sim.send(T, 0, "a0");
    sim.run_until_all_done(ms(5000));
    let big = |c: char| std::iter::repeat_n(c, 100).collect::<String>();
    sim.drop_produce_responses(1, 1);
    let s1 = sim.send(T, 0, &big('x'));
    let s2 = sim.send(T, 0, &big('y'));
    sim.poll();
    sim.set_max_message_bytes(T, 230);
    let c = sim.send(T, 0, "c");
    sim.run_until_all_done(ms(20_000));
    sim.assert_each_resolved_once();
    assert!(sim.outcome(a0).is_ok());
    for id in [s1, s2] {
        assert!(
            matches!(
                sim.error(id),
                Error::Broker {
                    code: KafkaCode::MESSAGE_TOO_LARGE,
                    ..
                }
            ),
            "{:?}",
            sim.outcome(id)
        );
    }
    assert!(sim.outcome(c).is_ok());
    // The first attempt's append, once.
    assert_eq!(
        sim.log_values(T, 0),
        vec!["a0".to_string(), big('x'), big('y'), "c".to_string()]
    );
}
