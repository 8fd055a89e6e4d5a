//! Tests of the sender state machine against the simulated cluster (`sim.rs`).

use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::sim::{ConnEvent, Sim};
use super::*;
use crate::config::{Acks, ProducerConfig};

const T: &str = "t";

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_caps() {
    let base = Duration::from_millis(100);
    let max = Duration::from_millis(1000);
    let rng = &mut fastrand::Rng::with_seed(1);
    for _ in 0..100 {
        let b1 = backoff(base, max, 1, rng);
        assert!(
            b1 >= Duration::from_millis(80) && b1 <= Duration::from_millis(120),
            "{b1:?}"
        );
        let b3 = backoff(base, max, 3, rng);
        assert!(
            b3 >= Duration::from_millis(320) && b3 <= Duration::from_millis(480),
            "{b3:?}"
        );
        let b10 = backoff(base, max, 10, rng);
        assert!(b10 <= max && b10 >= Duration::from_millis(800), "{b10:?}");
    }
    assert_eq!(backoff(Duration::ZERO, max, 5, rng), Duration::ZERO);
    // The jitter comes from the generator passed in: the same seed, the same backoffs.
    let draw = |seed| {
        let rng = &mut fastrand::Rng::with_seed(seed);
        (1..8)
            .map(|a| backoff(base, max, a, rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
}

// 1. Failure: records lost, misrouted or acknowledged with wrong offsets on the plain path, or
// one request per partition instead of one per broker. Invariant: records to 3 partitions on 2
// brokers are all delivered at their log offsets, each drain sends one Produce request per
// broker carrying every ready partition it leads, and no request exceeds max.request.size.
#[test]
fn happy_path_delivers_to_every_partition_with_one_request_per_broker() {
    let mut sim = Sim::new(&[1, 2], &[(T, &[1, 1, 2])], |_| {});
    let mut ids = Vec::new();
    for i in 0..9 {
        let p = i % 3;
        ids.push((p, sim.send(T, p, &format!("p{p}-r{i}"))));
    }
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    for p in 0..3 {
        let expect: Vec<String> = (0..9)
            .filter(|i| i % 3 == p)
            .map(|i| format!("p{p}-r{i}"))
            .collect();
        assert_eq!(sim.log_values(T, p), expect);
    }
    for (n, &(p, id)) in ids.iter().enumerate() {
        let offset = sim.offset(id);
        assert_eq!(offset, (n / 3) as i64, "record {n} of partition {p}");
        let md = sim.outcome(id).as_ref().unwrap().clone();
        assert_eq!((&*md.topic, md.partition), (T, p));
    }
    let produce = sim.requests_of(ApiKey::Produce);
    assert_eq!(produce.len(), 2, "{produce:#?}");
    let to1 = produce.iter().find(|r| r.broker == 1).unwrap();
    let mut parts: Vec<i32> = to1.parts.iter().map(|p| p.partition).collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![0, 1],
        "one request to broker 1 for both its partitions"
    );
    let to2 = produce.iter().find(|r| r.broker == 2).unwrap();
    assert_eq!(to2.parts.len(), 1);
    assert_eq!(to1.node, 1);
    assert_eq!(to2.node, 2);
    // The highest versions both sides speak: the broker offers Produce and Metadata v13.
    assert_eq!(to1.version, 12);
    assert!(sim
        .requests_of(ApiKey::Metadata)
        .iter()
        .all(|r| r.version == 13));
    assert_eq!(sim.requests_of(ApiKey::InitProducerId)[0].version, 5);
}

/// A simulation with the topic's metadata and (when idempotent) the producer id in hand.
pub(super) fn setup(
    brokers: &[i32],
    leaders: &[i32],
    configure: impl FnOnce(&mut ProducerConfig),
) -> Sim {
    let mut sim = Sim::new(brokers, &[(T, leaders)], configure);
    sim.wait_for_topic(T);
    let idempotent = sim.sender.cfg.idempotent;
    assert!(sim.run_until(Duration::from_secs(5), |s| !idempotent
        || s.sender.idem.state == PidState::Ready));
    sim
}

fn produce_count(sim: &Sim) -> usize {
    sim.requests_of(ApiKey::Produce).len()
}

// 1b. Failure: a request larger than max.request.size (the broker would refuse it whole).
// Invariant: when one broker's ready batches do not fit in one request, they are split over
// several requests, each within max.request.size.
#[test]
fn requests_stay_within_max_request_size() {
    let mut sim = setup(&[1], &[1, 1, 1], |c| {
        c.max_request_size = 500;
        c.linger = ms(10);
    });
    let value = "v".repeat(120);
    for p in 0..3 {
        for i in 0..2 {
            sim.send(T, p, &format!("{p}{i}{value}"));
        }
    }
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    let produce = sim.requests_of(ApiKey::Produce);
    assert!(produce.len() >= 2, "{produce:#?}");
    for r in &produce {
        assert!(r.size <= 500, "request of {} bytes", r.size);
    }
    for p in 0..3 {
        assert_eq!(sim.log(T, p).len(), 2);
    }
}

// 2. Failure: batches sent before linger.ms (tiny requests under load) or full batches held
// back for linger. Invariant: a batch that is not full goes when linger.ms has passed since it
// was created, not before; a full batch goes at once, and the partition's next (not full) batch
// still waits for its own linger.
#[test]
fn linger_holds_partial_batches_and_full_batches_go_at_once() {
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = ms(100);
        c.batch_size = 300;
    });
    let t0 = sim.now;
    let a = sim.send(T, 0, "small");
    assert!(!sim.run_until(ms(99), |s| produce_count(s) > 0));
    assert!(sim.run_until(ms(1), |s| s.is_done(a)));
    let first = sim.requests_of(ApiKey::Produce)[0].at;
    assert_eq!(first - t0, ms(100));

    // Three 100-byte records fill a batch; the third starts the next batch.
    let t1 = sim.now;
    let v = "x".repeat(100);
    let ids: Vec<usize> = (0..3).map(|i| sim.send(T, 0, &format!("{i}{v}"))).collect();
    assert!(
        sim.run_until(Duration::ZERO, |s| produce_count(s) >= 2),
        "a full batch goes at once"
    );
    assert_eq!(
        produce_count(&sim),
        2,
        "only the full batch goes: {:#?}",
        sim.requests_of(ApiKey::Produce)
    );
    assert_eq!(sim.requests_of(ApiKey::Produce)[1].at, t1);
    assert!(
        !sim.run_until(ms(99), |s| produce_count(s) > 2),
        "the batch behind the full one waits for its linger: {:#?}",
        sim.requests_of(ApiKey::Produce)
    );
    sim.run_until_all_done(ms(10));
    assert_eq!(sim.requests_of(ApiKey::Produce)[2].at - t1, ms(100));
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(sim.offset(id), 1 + i as i64);
    }
    sim.assert_each_resolved_once();
}

/// The gaps between consecutive produce attempts for the partition.
fn attempt_gaps(sim: &Sim, partition: i32) -> Vec<Duration> {
    let at: Vec<_> = sim
        .produce_attempts(T, partition)
        .iter()
        .map(|(r, _)| r.at)
        .collect();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

// 3. Failure: a batch retried on the old leader forever, retried without backoff, or appended
// twice after a leader move. Invariant: after NOT_LEADER_OR_FOLLOWER from a broker that names
// no new leader, the sender refreshes metadata and retries on the new leader, the record is in
// the log once, and each retry of a partition whose leader stays waits at least
// 0.8 × retry.backoff.ms × 2^(attempt-1) (capped at retry.backoff.max.ms).
#[test]
fn not_leader_retries_on_the_new_leader_after_backoff() {
    let mut sim = setup(&[1, 2], &[1], |c| {
        c.linger = Duration::ZERO;
        c.retry_backoff = ms(100);
        c.retry_backoff_max = ms(1000);
    });
    // A broker older than Kafka 3.7 names no new leader (KIP-951): metadata must tell.
    sim.set_leader_hints(false);
    // The leader moves a while after the last metadata fetch (a refresh right after one
    // would wait for retry.backoff.ms, and the first retry could find the old leader again).
    sim.run_for(Duration::from_secs(1));
    sim.set_leader(T, 0, Some(2));
    let id = sim.send(T, 0, "moved");
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_eq!(sim.offset(id), 0);
    assert_eq!(sim.log_values(T, 0), vec!["moved"]);
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert_eq!(
        (attempts[0].0.broker, attempts[0].1.code),
        (1, KafkaCode::NOT_LEADER_OR_FOLLOWER)
    );
    assert_eq!(
        (attempts[1].0.broker, attempts[1].1.code),
        (2, KafkaCode::NONE)
    );
    let (first, second) = (attempts[0].0.at, attempts[1].0.at);
    assert!(
        sim.requests_of(ApiKey::Metadata)
            .iter()
            .any(|m| m.at >= first && m.at <= second),
        "metadata refreshed between the attempts"
    );
    // The refresh showed a newer leader epoch: the retry did not wait out its backoff (see
    // leader_tests.rs, which also checks that it came after the refresh).

    // Repeated retriable errors: the backoff doubles, up to its max.
    sim.fail_produce(T, 0, 5, KafkaCode::NOT_ENOUGH_REPLICAS);
    let id = sim.send(T, 0, "again");
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_eq!(sim.offset(id), 1);
    let gaps = attempt_gaps(&sim, 0);
    let gaps = &gaps[2..];
    assert_eq!(gaps.len(), 5, "{gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        let expected = ms(100 * (1 << i)).min(ms(1000));
        assert!(
            *gap >= expected.mul_f64(0.8) && *gap <= expected.mul_f64(1.2) + ms(1),
            "retry {}: waited {gap:?}, expected about {expected:?}",
            i + 1
        );
    }
    assert_eq!(sim.log_values(T, 0), vec!["moved", "again"]);
}

// 4. Failure: a non-retriable broker error retried (or reported as something else). Invariant:
// INVALID_RECORD fails the batch at once with Error::Broker carrying the code, after one
// attempt; with idempotence the producer then bumps its epoch and later records go through.
#[test]
fn non_retriable_error_fails_the_batch_without_retry() {
    assert!(!KafkaCode::INVALID_RECORD.is_retriable());
    let mut sim = setup(&[1], &[1], |c| c.linger = Duration::ZERO);
    sim.fail_produce(T, 0, 1, KafkaCode::INVALID_RECORD);
    let id = sim.send(T, 0, "bad");
    sim.run_until_all_done(Duration::from_secs(10));
    match sim.error(id) {
        Error::Broker {
            topic,
            partition,
            code,
            ..
        } => assert_eq!(
            (topic.as_str(), partition, code),
            (T, 0, KafkaCode::INVALID_RECORD)
        ),
        e => panic!("{e:?}"),
    }
    assert_eq!(sim.produce_attempts(T, 0).len(), 1);
    assert!(sim.log(T, 0).is_empty());

    let id = sim.send(T, 0, "good");
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_eq!(sim.offset(id), 0);
    assert_eq!(
        sim.requests_of(ApiKey::InitProducerId).len(),
        2,
        "epoch bumped"
    );
    let log = sim.log(T, 0);
    assert_eq!((log[0].epoch, log[0].sequence), (1, 0));
}

// 5. Failure: retries not counted, or counted off by one. Invariant: with retries=2 a batch is
// attempted 3 times, then fails with the broker's last error.
#[test]
fn exhausted_retries_fail_with_the_broker_error() {
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = Duration::ZERO;
        c.retries = 2;
    });
    sim.fail_produce(T, 0, 10, KafkaCode::NOT_ENOUGH_REPLICAS);
    let id = sim.send(T, 0, "r");
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    let e = sim.error(id);
    assert!(matches!(e, Error::Broker { .. }), "{e:?}");
    assert_eq!(e.code(), Some(KafkaCode::NOT_ENOUGH_REPLICAS));
    assert_eq!(sim.produce_attempts(T, 0).len(), 3);
    assert!(sim.log(T, 0).is_empty());
}

// 6. Failure: a record waiting for a leader never fails, or fails early; or a batch in flight
// is failed while the broker may still append it (a "failed" record that is in the log).
// Invariant: a queued batch fails with DeliveryTimeout exactly when delivery.timeout.ms has
// passed since it was created; a batch in flight at that moment waits for its response (and is
// then delivered) or for its connection to close at request.timeout.ms.
#[test]
fn delivery_timeout_fails_queued_batches_on_time_and_waits_for_in_flight_ones() {
    let configure = |c: &mut ProducerConfig| {
        c.linger = Duration::ZERO;
        c.request_timeout = ms(1000);
        c.delivery_timeout = ms(1500);
        c.retry_backoff = ms(100);
    };
    // No leader.
    let mut sim = setup(&[1], &[-1], configure);
    let t0 = sim.now;
    let id = sim.send(T, 0, "stuck");
    assert!(!sim.run_until(ms(1499), |s| s.is_done(id)));
    assert!(sim.run_until(ms(1), |s| s.is_done(id)));
    assert_eq!(sim.records[id].sent_at, t0);
    assert_eq!(sim.resolved_at(id).unwrap() - t0, ms(1500));
    assert!(matches!(sim.error(id), Error::DeliveryTimeout { .. }));
    assert!(sim.requests_of(ApiKey::Produce).is_empty());
    sim.assert_each_resolved_once();

    // In flight when the delivery timeout passes, then answered: delivered.
    let mut sim = setup(&[1], &[1], configure);
    sim.delay_responses(1, ms(900));
    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    let t0 = sim.now;
    let id = sim.send(T, 0, "late");
    assert!(!sim.run_until(ms(1600), |s| s.is_done(id)));
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[1].0.at - t0 < ms(1500),
        "retry sent before the deadline"
    );
    sim.run_until_all_done(ms(1000));
    assert_eq!(sim.offset(id), 0);
    assert_eq!(sim.resolved_at(id).unwrap(), attempts_at(&sim, 1) + ms(900));
    sim.assert_each_resolved_once();

    // In flight when the delivery timeout passes, and the response is lost: the batch fails
    // when request.timeout.ms closes the connection, not before.
    let mut sim = setup(&[1], &[1], configure);
    sim.delay_responses(1, ms(900));
    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    let t0 = sim.now;
    let id = sim.send(T, 0, "lost");
    assert!(sim.run_until(ms(900), |s| produce_count(s) == 1));
    sim.drop_produce_responses(1, 1);
    assert!(!sim.run_until(ms(1600), |s| s.is_done(id)));
    sim.run_until_all_done(ms(1000));
    let retry_at = attempts_at(&sim, 1);
    assert!(retry_at - t0 < ms(1500));
    assert_eq!(sim.resolved_at(id).unwrap(), retry_at + ms(1000));
    assert!(matches!(sim.error(id), Error::DeliveryTimeout { .. }));
    sim.assert_each_resolved_once();
}

/// When the partition's `n`th produce attempt was sent.
fn attempts_at(sim: &Sim, n: usize) -> std::time::Instant {
    sim.produce_attempts(T, 0)[n].0.at
}

// 7. Failure: a lost response leaves the batch in flight forever. Invariant: the sender closes
// the connection (Output::Close) exactly request.timeout.ms after the request, retries the
// batch, and (the broker had appended it) the retry is a duplicate that counts as delivered,
// at the offset of the first append, with the record in the log once.
#[test]
fn request_timeout_closes_the_connection_and_retries() {
    let mut sim = setup(&[1], &[1], |c| {
        c.linger = Duration::ZERO;
        c.request_timeout = ms(1000);
    });
    sim.drop_produce_responses(1, 1);
    let id = sim.send(T, 0, "once");
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_eq!(sim.offset(id), 0);
    assert_eq!(sim.log_values(T, 0), vec!["once"]);
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts.len(), 2);
    assert!(attempts[0].0.dropped);
    assert_eq!(attempts[1].1.code, KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
    let sent = attempts[0].0.at;
    let close = sim.first_close(1).expect("connection closed");
    assert_eq!(close - sent, ms(1000));
    assert!(attempts[1].0.at >= close);
}

// 8. Failure: with max.in.flight.requests.per.connection=1 and no idempotence, a later batch
// overtakes a batch being retried. Invariant: a partition has one batch in flight at a time,
// and the log keeps send order across a retriable failure.
#[test]
fn one_in_flight_keeps_order_across_retries_without_idempotence() {
    let mut sim = setup(&[1], &[1], |c| {
        c.enable_idempotence = Some(false);
        c.max_in_flight = 1;
        c.batch_size = 1;
        c.linger = Duration::ZERO;
    });
    sim.delay_responses(1, ms(5));
    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    for v in ["a", "b", "c"] {
        sim.send(T, 0, v);
    }
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_eq!(sim.log_values(T, 0), vec!["a", "b", "c"]);
    let sent: Vec<Vec<String>> = sim
        .produce_attempts(T, 0)
        .iter()
        .map(|(_, p)| p.values.clone())
        .collect();
    assert_eq!(sent, vec![vec!["a"], vec!["a"], vec!["b"], vec!["c"]]);
    let times: Vec<_> = sim
        .produce_attempts(T, 0)
        .iter()
        .map(|(r, _)| r.at)
        .collect();
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= ms(5),
            "a request went before the previous answer"
        );
    }
    for id in 0..3 {
        assert_eq!(sim.offset(id), id as i64);
    }
}

/// Checks the partition's log holds `values` in order, each once, with sequences 0, 1, 2, …
/// within each producer epoch.
fn assert_log_exactly_once_in_order(sim: &Sim, partition: i32, values: &[String]) {
    assert_eq!(sim.log_values(T, partition), values);
    let log = sim.log(T, partition);
    for w in log.windows(2) {
        if w[0].epoch == w[1].epoch {
            assert_eq!(w[1].sequence, w[0].sequence + 1, "sequence gap: {w:?}");
        } else {
            assert_eq!(w[1].sequence, 0, "new epoch starts at 0: {w:?}");
        }
    }
}

// 9. Failure: with idempotence and several requests in flight, a retriable error on the first
// batch makes the later ones fail with OUT_OF_ORDER_SEQUENCE_NUMBER; retrying them in the wrong
// order, with new sequences, or failing them would reorder, duplicate or lose records.
// Invariant: up to 5 requests in flight per connection; after the failure every batch is
// retried in sequence order with its original sequence; the log has every record once, in
// order, with contiguous sequences; DUPLICATE_SEQUENCE_NUMBER (a retry of an appended batch)
// counts as success.
#[test]
fn idempotent_retries_after_out_of_order_keep_order_and_sequences() {
    let mut sim = setup(&[1], &[1], |c| {
        c.batch_size = 1;
        c.linger = Duration::ZERO;
    });
    let mut values = vec!["warm-up".to_string()];
    sim.send(T, 0, "warm-up");
    sim.run_until_all_done(Duration::from_secs(1));
    sim.delay_responses(1, ms(10));
    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    for i in 0..7 {
        values.push(format!("r{i}"));
        sim.send(T, 0, &values[i + 1]);
    }
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    for id in 0..values.len() {
        assert_eq!(sim.offset(id), id as i64);
    }
    let attempts = sim.produce_attempts(T, 0);
    let first_at = attempts[1].0.at;
    let burst: Vec<_> = attempts[1..]
        .iter()
        .filter(|(r, _)| r.at == first_at)
        .collect();
    assert_eq!(
        burst.len(),
        5,
        "five requests in flight before the first answer"
    );
    assert_eq!(burst[0].1.code, KafkaCode::NOT_ENOUGH_REPLICAS);
    for (_, p) in &burst[1..] {
        assert_eq!(p.code, KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }
    // Every attempt of a record carried the sequence it first had.
    for (_, p) in &attempts {
        let index = values.iter().position(|v| *v == p.values[0]).unwrap();
        assert_eq!(p.base_sequence, index as i32, "{p:?}");
    }
    assert_eq!(
        sim.requests_of(ApiKey::InitProducerId).len(),
        1,
        "no epoch bump"
    );

    // A lost response: the retry is a duplicate, which counts as success at its first offset.
    sim.drop_produce_responses(1, 1);
    let id = sim.send(T, 0, "dup");
    values.push("dup".into());
    sim.run_until_all_done(Duration::from_secs(60));
    sim.assert_each_resolved_once();
    let last = sim.produce_attempts(T, 0).last().unwrap().1.clone();
    assert_eq!(last.code, KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
    assert_eq!(sim.offset(id), 8);
    assert_log_exactly_once_in_order(&sim, 0, &values);
}

// 10. Failure: a batch the broker finds too large is retried as is forever, or split with its
// futures lost, resolved twice or out of order. Invariant: MESSAGE_TOO_LARGE splits the batch
// (again if needed), the halves are retried in order, every record resolves exactly once at its
// place in the log (offset = send order), and a single record that is too large fails with
// MESSAGE_TOO_LARGE.
#[test]
fn message_too_large_splits_the_batch_and_keeps_record_order() {
    for idempotent in [true, false] {
        let mut sim = setup(&[1], &[1], |c| {
            c.linger = ms(50);
            c.enable_idempotence = Some(idempotent);
        });
        sim.set_max_message_bytes(T, 300);
        let values: Vec<String> = (0..8).map(|i| format!("{i}{}", "v".repeat(60))).collect();
        for v in &values {
            sim.send(T, 0, v);
        }
        sim.run_until_all_done(Duration::from_secs(10));
        sim.assert_each_resolved_once();
        for id in 0..8 {
            assert_eq!(sim.offset(id), id as i64, "idempotent: {idempotent}");
        }
        if idempotent {
            assert_log_exactly_once_in_order(&sim, 0, &values);
        } else {
            assert_eq!(sim.log_values(T, 0), values);
        }
        let attempts = sim.produce_attempts(T, 0);
        assert_eq!(attempts[0].1.values.len(), 8);
        assert_eq!(attempts[0].1.code, KafkaCode::MESSAGE_TOO_LARGE);
        assert!(attempts
            .iter()
            .all(|(_, p)| p.code.is_ok() == (p.bytes <= 300)));

        let big = sim.send(T, 0, &"x".repeat(400));
        sim.run_until_all_done(Duration::from_secs(10));
        assert_eq!(sim.error(big).code(), Some(KafkaCode::MESSAGE_TOO_LARGE));
        let after = sim.send(T, 0, "after");
        sim.run_until_all_done(Duration::from_secs(10));
        assert_eq!(sim.offset(after), 8);
        sim.assert_each_resolved_once();
    }
}

// 11. Failure: a broken connection loses the batches in flight on it, or (idempotent) their
// retries are appended a second time. Invariant: every batch in flight on a connection that
// breaks is retried; with idempotence the broker recognises the ones it had appended, so the
// log has each record once and each future the offset of that single copy.
#[test]
fn disconnect_with_requests_in_flight_retries_without_duplicates() {
    for idempotent in [true, false] {
        let mut sim = setup(&[1], &[1], |c| {
            c.batch_size = 1;
            c.linger = Duration::ZERO;
            c.enable_idempotence = Some(idempotent);
        });
        // A first acknowledged batch: until then an idempotent producer sends one at a time.
        let mut values = vec!["w".to_string()];
        sim.send(T, 0, "w");
        sim.run_until_all_done(Duration::from_secs(1));
        sim.delay_responses(1, ms(50));
        values.extend((0..5).map(|i| format!("r{i}")));
        for v in &values[1..] {
            sim.send(T, 0, v);
        }
        assert!(sim.run_until(ms(10), |s| produce_count(s) == 6));
        assert_eq!(sim.log(T, 0).len(), 6, "the broker appended all five");
        sim.disconnect(1);
        sim.run_until_all_done(Duration::from_secs(10));
        sim.assert_each_resolved_once();
        assert!(produce_count(&sim) > 6, "retried");
        if idempotent {
            assert_log_exactly_once_in_order(&sim, 0, &values);
            for id in 0..6 {
                assert_eq!(sim.offset(id), id as i64);
            }
        } else {
            // At least once: each record is in the log, at the offset its future reports.
            for (id, value) in values.iter().enumerate() {
                let offset = sim.offset(id);
                assert_eq!(&sim.log(T, 0)[offset as usize].value, value);
            }
        }
    }
}

// 12. Failure: metadata fetched from nowhere useful: never from the bootstrap server, not again
// while a send waits for a topic that appears later, never refreshed when nothing fails, or
// sent to a busy connection while an idle one is up. Invariant: the first connection and
// request go to the bootstrap server; a waiting send keeps asking (spaced by retry.backoff.ms)
// until the topic exists; metadata is refreshed every metadata.max.age.ms; a refresh goes to
// the connected broker with the fewest requests in flight.
#[test]
fn metadata_bootstrap_unknown_topics_max_age_and_least_loaded_node() {
    let mut sim = Sim::new(&[1, 2], &[(T, &[1, 2])], |c| {
        c.metadata_max_age = ms(1000);
        c.linger = Duration::ZERO;
    });
    sim.wait_for_topic(T);
    assert!(
        matches!(&sim.conn_events[0].1, ConnEvent::Connect { node: -1, addr, .. } if addr == "broker1:9092"),
        "{:?}",
        sim.conn_events[0]
    );
    assert_eq!(sim.requests[0].api, ApiKey::Metadata);
    assert_eq!(sim.requests[0].node, -1);
    assert_eq!(sim.requests[0].topics, Some(vec![T.to_string()]));

    // A topic that does not exist yet: asked for, and asked for again while the send waits.
    let before = sim.requests_of(ApiKey::Metadata).len();
    assert!(!sim.wait_for_topic_within("later", ms(450)));
    let asks: Vec<_> = sim
        .requests_of(ApiKey::Metadata)
        .into_iter()
        .skip(before)
        .filter(|r| {
            r.topics
                .as_ref()
                .is_some_and(|t| t.iter().any(|t| t == "later"))
        })
        .map(|r| r.at)
        .collect();
    assert!(asks.len() >= 3, "asked {} times", asks.len());
    for w in asks.windows(2) {
        assert!(
            w[1] - w[0] >= ms(100),
            "refreshes spaced by retry.backoff.ms"
        );
    }
    let unknown = sim.shared.cluster().topics.get("later").map(|t| t.error);
    assert_eq!(unknown, Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION));
    sim.create_topic("later", &[2]);
    assert!(
        sim.wait_for_topic_within("later", ms(200)),
        "a send waiting for a topic sees it once it exists"
    );
    let id = sim.send("later", 0, "x");
    sim.run_until_all_done(Duration::from_secs(1));
    assert_eq!(sim.offset(id), 0);

    // metadata.max.age.ms: refreshed every second with nothing else going on.
    let since = sim.now;
    sim.run_for(ms(3500));
    let periodic: Vec<_> = sim
        .requests_of(ApiKey::Metadata)
        .into_iter()
        .filter(|r| r.at > since)
        .map(|r| r.at)
        .collect();
    assert_eq!(periodic.len(), 3, "{periodic:?}");
    for w in periodic.windows(2) {
        assert_eq!(w[1] - w[0], ms(1000));
    }

    // Least loaded: brokers 1 and 2 connected; with a request in flight on 1, a refresh goes
    // to 2, and the other way round.
    sim.send(T, 1, "to-2");
    sim.run_until_all_done(Duration::from_secs(1));
    for (busy, idle) in [(1, 2), (2, 1)] {
        sim.delay_responses(busy, ms(500));
        sim.send(T, busy - 1, "busy");
        assert!(sim.run_until(ms(10), |s| s.requests.last().unwrap().api
            == ApiKey::Produce));
        let n = sim.requests_of(ApiKey::Metadata).len();
        sim.shared
            .command(crate::shared::Command::WantTopic(Arc::from(
                format!("new-{busy}").as_str(),
            )));
        assert!(sim.run_until(ms(10), |s| s.requests_of(ApiKey::Metadata).len() > n));
        let m = sim.requests_of(ApiKey::Metadata)[n];
        assert_eq!(
            (m.node, m.broker),
            (idle, idle),
            "refresh on the idle connection"
        );
        sim.delay_responses(busy, Duration::ZERO);
        sim.run_until_all_done(Duration::from_secs(1));
    }
    sim.assert_each_resolved_once();
}

// 13. Failure: with acks=0 the sender waits for a response that never comes. Invariant: the
// request says acks=0 and its batches complete as soon as it is written, with offset -1.
#[test]
fn acks_zero_completes_on_write_with_offset_minus_one() {
    let mut sim = setup(&[1], &[1, 1], |c| {
        c.acks = Acks::None;
        c.linger = Duration::ZERO;
    });
    assert!(!sim.sender.cfg.idempotent);
    let ids: Vec<usize> = (0..4)
        .map(|i| sim.send(T, i % 2, &format!("r{i}")))
        .collect();
    sim.run_until_all_done(Duration::from_secs(1));
    sim.assert_each_resolved_once();
    for id in ids {
        assert_eq!(sim.offset(id), -1);
        let sent = sim
            .requests_of(ApiKey::Produce)
            .into_iter()
            .find(|r| {
                r.parts
                    .iter()
                    .any(|p| p.values.contains(&sim.records[id].value))
            })
            .unwrap()
            .at;
        assert_eq!(sim.resolved_at(id), Some(sent));
    }
    assert!(sim.requests_of(ApiKey::Produce).iter().all(|r| r.acks == 0));
    assert_eq!(sim.log(T, 0).len() + sim.log(T, 1).len(), 4);
    assert!(sim
        .sender
        .net
        .nodes
        .values()
        .all(|n| n.in_flight.is_empty()));
}

// 14. Failure: reconnecting in a tight loop to a broker that refuses connections. Invariant:
// the gap before each new attempt is at least 0.8 × reconnect.backoff.ms × 2^(failures-1) and at
// most reconnect.backoff.max.ms; once the broker accepts, the producer proceeds.
#[test]
fn reconnect_backoff_grows_to_its_max() {
    let mut sim = Sim::new(&[1], &[(T, &[1])], |c| {
        c.reconnect_backoff = ms(50);
        c.reconnect_backoff_max = ms(1000);
    });
    let until = sim.now + Duration::from_secs(6);
    sim.refuse_connections(1, until);
    sim.run_for(Duration::from_secs(6));
    let connects: Vec<_> = sim
        .conn_events
        .iter()
        .filter(|(_, e)| matches!(e, ConnEvent::Connect { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert!(connects.len() >= 6, "{} attempts", connects.len());
    for (i, w) in connects.windows(2).enumerate() {
        let gap = w[1] - w[0];
        let expected = ms(50 << i.min(10)).min(ms(1000));
        assert!(
            gap >= expected.mul_f64(0.8) && gap <= ms(1000),
            "attempt {}: waited {gap:?}, expected about {expected:?}",
            i + 2
        );
    }
    let last_gaps: Vec<_> = connects
        .windows(2)
        .map(|w| w[1] - w[0])
        .rev()
        .take(2)
        .collect();
    assert!(last_gaps.iter().all(|g| *g >= ms(800)), "{last_gaps:?}");
    // The setup timeout grows the same way, from socket.connection.setup.timeout.ms (10 s) to
    // socket.connection.setup.timeout.max.ms (30 s).
    let timeouts: Vec<Duration> = sim
        .conn_events
        .iter()
        .filter_map(|(_, e)| match e {
            ConnEvent::Connect { timeout, .. } => Some(*timeout),
            _ => None,
        })
        .collect();
    assert!(
        timeouts[0] >= ms(8_000) && timeouts[0] <= ms(12_000),
        "{timeouts:?}"
    );
    assert!(
        timeouts[1] >= ms(16_000) && timeouts[1] <= ms(24_000),
        "{timeouts:?}"
    );
    assert!(timeouts.iter().all(|t| *t <= ms(30_000)), "{timeouts:?}");
    assert!(timeouts.last().unwrap() >= &ms(24_000), "{timeouts:?}");
    sim.wait_for_topic(T);
    let id = sim.send(T, 0, "finally");
    sim.run_until_all_done(Duration::from_secs(5));
    assert_eq!(sim.offset(id), 0);
    sim.assert_each_resolved_once();
}

// 15. Failure: idle connections kept forever (or closed while in use). Invariant: a connection
// with nothing in flight is closed connections.max.idle.ms after its last activity, and opened
// again when needed.
#[test]
fn idle_connections_are_closed_after_max_idle() {
    let mut sim = setup(&[1], &[1], |c| {
        c.connections_max_idle = Some(Duration::from_secs(5));
        c.linger = Duration::ZERO;
    });
    sim.send(T, 0, "a");
    sim.run_until_all_done(Duration::from_secs(1));
    let last = sim.requests_of(ApiKey::Produce)[0].at;
    assert!(!sim.run_until(ms(4999) - (sim.now - last), |s| s
        .conn_events
        .iter()
        .any(|(_, e)| *e == ConnEvent::Close { node: 1 })));
    sim.run_for(ms(1));
    let closes: Vec<_> = sim
        .conn_events
        .iter()
        .filter(|(_, e)| *e == ConnEvent::Close { node: 1 })
        .collect();
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].0 - last, Duration::from_secs(5));
    let id = sim.send(T, 0, "b");
    sim.run_until_all_done(Duration::from_secs(1));
    assert_eq!(sim.offset(id), 1);
    let connects = sim
        .conn_events
        .iter()
        .filter(|(_, e)| matches!(e, ConnEvent::Connect { node: 1, .. }))
        .count();
    assert_eq!(connects, 2, "reconnected for the next send");
    sim.assert_each_resolved_once();
}

// 16. Failure: a forced close leaves futures hanging or resolves a batch twice (its late
// response arriving after the abort); a graceful close stops with records unresolved.
// Invariant: a forced close fails every queued and in-flight batch once with Error::Closed and
// closes the connections; a graceful close finishes only when every record has resolved.
#[test]
fn forced_close_fails_everything_once_and_graceful_close_drains() {
    let mut sim = setup(&[1], &[1, -1], |c| c.linger = Duration::ZERO);
    sim.delay_responses(1, ms(500));
    let in_flight = sim.send(T, 0, "in-flight");
    assert!(sim.run_until(ms(10), |s| produce_count(s) == 1));
    let queued = sim.send(T, 1, "queued");
    let open = sim.send(T, 0, "open");
    sim.force_close();
    sim.poll();
    assert!(sim.sender.is_finished());
    assert!(sim.all_done());
    sim.run_for(Duration::from_secs(1));
    sim.assert_each_resolved_once();
    for id in [in_flight, queued, open] {
        assert!(matches!(sim.error(id), Error::Closed(_)), "{id}");
    }
    assert!(sim
        .conn_events
        .iter()
        .any(|(_, e)| *e == ConnEvent::Close { node: 1 }));

    let mut sim = setup(&[1], &[1, 1], |c| c.linger = ms(50));
    sim.delay_responses(1, ms(300));
    sim.fail_produce(T, 1, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    for i in 0..6 {
        sim.send(T, i % 2, &format!("r{i}"));
    }
    sim.close();
    let finished = sim.run_until(Duration::from_secs(10), |s| {
        assert!(!s.sender.is_finished() || s.all_done(), "finished early");
        s.sender.is_finished()
    });
    assert!(finished);
    sim.assert_each_resolved_once();
    for id in 0..6 {
        assert!(sim.outcome(id).is_ok());
    }
}

/// Sends `n` records named `{prefix}{i}` to partition 0; returns their values.
fn send_n(sim: &mut Sim, prefix: &str, n: usize) -> Vec<String> {
    let values: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    for v in &values {
        sim.send(T, 0, v);
    }
    values
}

/// An idempotent producer with one record per batch and the producer id known to partition 0.
fn idempotent_setup(leaders: &[i32], brokers: &[i32]) -> (Sim, Vec<String>) {
    let mut sim = setup(brokers, leaders, |c| {
        c.batch_size = 1;
        c.linger = Duration::ZERO;
        c.request_timeout = ms(1000);
    });
    let values = send_n(&mut sim, "w", 1);
    sim.run_until_all_done(Duration::from_secs(1));
    (sim, values)
}

// 17. Failure: a leader move with five requests in flight reorders or duplicates records.
// Invariant: all five answered NOT_LEADER_OR_FOLLOWER are retried on the new leader in sequence
// order, and the log has each record once, in order.
#[test]
fn idempotent_leader_move_with_five_in_flight() {
    let (mut sim, mut values) = idempotent_setup(&[1], &[1, 2]);
    sim.run_for(Duration::from_secs(1));
    sim.delay_responses(1, ms(10));
    sim.set_leader(T, 0, Some(2));
    values.extend(send_n(&mut sim, "r", 5));
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    let refused = sim
        .produce_attempts(T, 0)
        .iter()
        .filter(|(_, p)| p.code == KafkaCode::NOT_LEADER_OR_FOLLOWER)
        .count();
    assert_eq!(refused, 5);
}

// 17b. Failure (seen on a real Kafka 4.4 broker under load): the first batch of a new producer
// to a partition is refused with a retriable error (UNKNOWN_TOPIC_OR_PARTITION, right after the
// topic was created) while the second is in flight; the broker, not knowing the producer,
// accepts the second whatever its sequence, the first can then only be written after an epoch
// bump, and the records end up reordered. Invariant: until a partition has acknowledged a batch
// of the producer, only one of its batches is in flight, so the log keeps send order with no
// epoch bump.
#[test]
fn first_batch_refused_does_not_let_the_second_overtake_it() {
    let mut sim = setup(&[1], &[1], |c| {
        c.batch_size = 200;
        c.linger = Duration::ZERO;
    });
    sim.wait_for_topic(T);
    sim.delay_responses(1, ms(10));
    sim.fail_produce(T, 0, 1, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION);
    let pad = "q".repeat(60);
    let values = send_n(&mut sim, &pad, 12);
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    assert_eq!(
        sim.requests_of(ApiKey::InitProducerId).len(),
        1,
        "no epoch bump"
    );
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts[0].1.code, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION);
    // Once the first batch is acknowledged, batches are pipelined again.
    let most_in_flight = attempts
        .iter()
        .map(|(r, _)| attempts.iter().filter(|(o, _)| o.at == r.at).count())
        .max()
        .unwrap();
    assert!(most_in_flight > 1, "pipelining resumes after the first ack");
}

// 18. Failure: MESSAGE_TOO_LARGE on the first of several idempotent batches in flight (the
// later ones are refused as out of order) loses, reorders or duplicates records, or bumps the
// epoch (which a transaction could not survive). Invariant: the split halves and the later
// batches are all delivered once, in send order, with the same producer epoch.
#[test]
fn idempotent_split_with_later_batches_in_flight() {
    let mut sim = setup(&[1], &[1], |c| {
        c.batch_size = 300;
        c.linger = Duration::ZERO;
    });
    sim.send(T, 0, "w");
    sim.run_until_all_done(Duration::from_secs(1));
    sim.delay_responses(1, ms(10));
    sim.fail_produce(T, 0, 1, KafkaCode::MESSAGE_TOO_LARGE);
    let pad = "p".repeat(60);
    let mut values = vec!["w".to_string()];
    values.extend(send_n(&mut sim, &pad, 15));
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    for id in 0..values.len() {
        assert_eq!(sim.offset(id), id as i64);
    }
    let attempts = sim.produce_attempts(T, 0);
    let first = &attempts[1].1;
    assert_eq!(first.code, KafkaCode::MESSAGE_TOO_LARGE);
    assert_eq!(first.values.len(), 3);
    let burst = attempts[1..]
        .iter()
        .filter(|(r, _)| r.at == attempts[1].0.at)
        .count();
    assert_eq!(burst, 5, "five batches in flight");
    assert_eq!(
        sim.requests_of(ApiKey::InitProducerId).len(),
        1,
        "a split needs no epoch bump"
    );
}

// 19. Failure: a broker that stops answering with five appended requests in flight makes the
// retries append them again. Invariant: request.timeout.ms closes the connection, the retries
// are recognised as duplicates, and each record is in the log once at the offset its future
// reports.
#[test]
fn idempotent_timeout_with_five_appended_in_flight() {
    let (mut sim, mut values) = idempotent_setup(&[1], &[1]);
    sim.set_unresponsive(1, true);
    values.extend(send_n(&mut sim, "r", 5));
    assert!(sim.run_until(ms(10), |s| produce_count(s) == 6));
    assert_eq!(sim.log(T, 0).len(), 6);
    sim.set_unresponsive(1, false);
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    for id in 0..values.len() {
        assert_eq!(sim.offset(id), id as i64);
    }
}

// 20. Failure: the broker no longer knows the producer (UNKNOWN_PRODUCER_ID) and the producer
// retries the same sequence forever or gives up. Invariant: the producer bumps its epoch and
// resends from sequence 0; the records are delivered once, in order.
#[test]
fn unknown_producer_id_bumps_the_epoch() {
    let (mut sim, mut values) = idempotent_setup(&[1], &[1]);
    sim.forget_producers(T, 0);
    sim.delay_responses(1, ms(10));
    values.extend(send_n(&mut sim, "r", 3));
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    assert_eq!(sim.requests_of(ApiKey::InitProducerId).len(), 2);
    assert_eq!(sim.log(T, 0)[1].epoch, 1);
    let attempts = sim.produce_attempts(T, 0);
    let refused = &attempts[1].1;
    assert_eq!(refused.code, KafkaCode::UNKNOWN_PRODUCER_ID);
    let retried = attempts
        .iter()
        .find(|(_, p)| p.values == refused.values && p.code.is_ok())
        .unwrap()
        .1;
    assert_eq!(
        (retried.producer_id, retried.epoch, retried.base_sequence),
        (refused.producer_id, refused.epoch + 1, 0),
        "same producer id, bumped epoch, sequences from 0"
    );
}

// 21. Failure: with idempotence, a batch that expires while being retried leaves a sequence
// gap that blocks the partition for good. Invariant: the expired batch fails with
// DeliveryTimeout, and later records are delivered (after an epoch bump), in order, once.
#[test]
fn idempotent_expiry_in_the_queue_does_not_block_the_partition() {
    let mut sim = setup(&[1], &[1], |c| {
        c.batch_size = 1;
        c.linger = Duration::ZERO;
        c.request_timeout = ms(1000);
        c.delivery_timeout = ms(2000);
        c.retry_backoff = ms(500);
        c.retry_backoff_max = ms(500);
    });
    sim.fail_produce(T, 0, 100, KafkaCode::NOT_ENOUGH_REPLICAS);
    send_n(&mut sim, "d", 2);
    assert!(sim.run_until(Duration::from_secs(2), |s| s.is_done(0) && s.is_done(1)));
    for id in 0..2 {
        let e = sim.error(id);
        assert!(matches!(e, Error::DeliveryTimeout { .. }), "{e:?}");
    }
    // The broker recovers.
    sim.clear_faults(T, 0);
    let later = send_n(&mut sim, "ok", 3);
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &later);
    assert_eq!(
        sim.requests_of(ApiKey::InitProducerId).len(),
        2,
        "epoch bumped"
    );
    assert_eq!((sim.log(T, 0)[0].epoch, sim.log(T, 0)[0].sequence), (1, 0));
}

// 22. Failure: the halves of a split batch are queued in front of an earlier batch of the
// partition that is waiting for its retry; with idempotence the first half may not go before
// that earlier sequence, and the earlier batch is stuck behind it: the partition stalls until
// every batch expires. Invariant: split halves take their place in sequence order among the
// partition's retries, and everything is delivered once, in order.
#[test]
fn split_halves_queue_behind_earlier_retries() {
    let mut sim = setup(&[1], &[1], |c| c.linger = Duration::ZERO);
    sim.send(T, 0, "w");
    sim.run_until_all_done(Duration::from_secs(1));
    sim.set_max_message_bytes(T, 300);
    sim.delay_responses(1, ms(10));
    sim.fail_produce(T, 0, 1, KafkaCode::NOT_ENOUGH_REPLICAS);
    let mut values = vec!["w".to_string()];
    values.extend(send_n(&mut sim, "early", 1));
    assert!(sim.run_until(ms(1), |s| produce_count(s) == 2));
    let pad = "p".repeat(60);
    values.extend(send_n(&mut sim, &pad, 8));
    assert!(sim.run_until(ms(1), |s| produce_count(s) == 3));
    sim.run_until_all_done(Duration::from_secs(10));
    sim.assert_each_resolved_once();
    assert_log_exactly_once_in_order(&sim, 0, &values);
    let attempts = sim.produce_attempts(T, 0);
    assert_eq!(attempts[1].1.code, KafkaCode::NOT_ENOUGH_REPLICAS);
    assert_eq!(attempts[2].1.code, KafkaCode::MESSAGE_TOO_LARGE);
    assert!(sim.now - sim.start < Duration::from_secs(1), "no stall");
}

// An authentication failure is not retried quietly until delivery.timeout.ms: the records
// queued for the refusing broker fail with it at once, and once the broker accepts the
// credentials again the same sender delivers new records.
#[test]
fn authentication_failure_fails_queued_records_and_recovers() {
    let configure = |c: &mut ProducerConfig| {
        c.linger = Duration::ZERO;
        c.delivery_timeout = Duration::from_secs(120);
        c.reconnect_backoff = ms(50);
        c.reconnect_backoff_max = ms(200);
    };
    let mut sim = setup(&[1], &[1], configure);
    let delivered = sim.send(T, 0, "before");
    sim.run_until_all_done(Duration::from_secs(5));
    assert!(sim.outcome(delivered).is_ok());
    // The credentials stop working: the live connection breaks and every reconnect is refused.
    let until = sim.now + Duration::from_secs(3);
    sim.refuse_authentication(1, until);
    sim.disconnect(1);
    let t0 = sim.now;
    let failed = sim.send(T, 0, "refused");
    assert!(sim.run_until(Duration::from_secs(2), |s| s.is_done(failed)));
    let e = sim.error(failed);
    assert!(matches!(e, Error::Authentication { .. }), "{e:?}");
    assert!(sim.resolved_at(failed).unwrap() - t0 < Duration::from_secs(1));
    assert!(sim.log_values(T, 0).iter().all(|v| v != "refused"));
    // Accepted again: the same sender works.
    sim.run_for(Duration::from_secs(3));
    let after = sim.send(T, 0, "after");
    sim.run_until_all_done(Duration::from_secs(10));
    assert!(sim.outcome(after).is_ok(), "{:?}", sim.outcome(after));
    assert_eq!(sim.log_values(T, 0), vec!["before", "after"]);
    sim.assert_each_resolved_once();
}
