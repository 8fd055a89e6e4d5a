//! Failed records handed back (`DeliveryError::record`), read from their batch's bytes at
//! failure time: closed and compressed batches failed by the broker, a batch failed by a
//! delivery timeout, an open batch failed by a forced close, split batches, and a batch with no
//! bytes left.

use std::sync::Arc;
use std::time::Duration;

use super::sim::Sim;
use crate::accumulator::{Append, Delivery, DeliveryFuture, RecordRef};
use crate::config::CompressionType;
use crate::error::{Error, KafkaCode};
use crate::protocol::record_batch::{BatchBuilder, RecordHeader};
use crate::record::{Header, Record};

const T: &str = "t";

fn sim(configure: impl FnOnce(&mut crate::config::ProducerConfig)) -> Sim {
    let mut sim = Sim::new(&[1], &[(T, &[1, 1])], configure);
    sim.wait_for_topic(T);
    sim
}

/// Appends a record with a key, a value, two headers (one null) and timestamp `ts` to
/// partition `p`, for a future (as `Producer::send` does).
fn send(sim: &mut Sim, p: i32, value: &str, ts: i64) -> DeliveryFuture {
    let key = format!("key-{value}");
    let headers = [
        RecordHeader {
            key: "trace",
            value: Some(b"abc"),
        },
        RecordHeader {
            key: "none",
            value: None,
        },
    ];
    let topic: Arc<str> = Arc::from(T);
    let a = Append {
        topic: &topic,
        partition: p,
        partition_count: 2,
        record: RecordRef {
            timestamp: ts,
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            headers: &headers,
        },
        size_bound: BatchBuilder::record_size_upper_bound(
            Some(key.len()),
            Some(value.len()),
            &headers,
        ),
        delivery: Delivery::Future,
        want_thunk: false,
        now: Some(sim.now),
    };
    let appended = sim
        .shared
        .acc
        .append(a, None, Duration::from_secs(1))
        .expect("append");
    appended.future.expect("a future")
}

/// The record `send` appended, as a failure must hand it back.
fn expected(p: i32, value: &str, ts: i64) -> Record<'static> {
    Record::new(T)
        .partition(p)
        .key(format!("key-{value}"))
        .value(value.to_string())
        .header(Header::new("trace", "abc"))
        .header(Header::null("none"))
        .timestamp(ts)
}

/// The future's error, which must have resolved.
fn failure(f: DeliveryFuture) -> crate::DeliveryError {
    match f.wait_timeout(Duration::ZERO) {
        Ok(Err(e)) => e,
        Ok(Ok(md)) => panic!("delivered: {md:?}"),
        Err(_) => panic!("not resolved"),
    }
}

// Failure: a record failed by the broker comes back without its record, or with another
// record's bytes, or garbled when the batch was compressed. Invariant: for each codec, each
// record of a batch the broker refuses (INVALID_RECORD, not retriable) is handed back by its
// own future: topic, partition, key, value, headers (a null one included) and timestamp.
#[test]
fn records_of_a_batch_the_broker_refuses_come_back_from_its_bytes_whatever_the_codec() {
    for codec in [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ] {
        let mut sim = sim(|c| {
            c.compression_type = codec;
            c.linger = Duration::from_millis(10);
        });
        sim.fail_produce(T, 1, 1, KafkaCode::INVALID_RECORD);
        let futures: Vec<_> = (0..3)
            .map(|i| send(&mut sim, 1, &format!("v{i}"), 1_700_000_000_000 + i))
            .collect();
        sim.run_until(Duration::from_secs(10), |_| {
            futures.iter().all(DeliveryFuture::is_done)
        });
        assert_eq!(sim.produce_attempts(T, 1).len(), 1, "{codec:?}: one batch");
        for (i, f) in futures.into_iter().enumerate() {
            let e = failure(f);
            assert_eq!(e.code(), Some(KafkaCode::INVALID_RECORD), "{codec:?}: {e}");
            let i = i as i64;
            assert_eq!(
                e.record(),
                Some(&expected(1, &format!("v{i}"), 1_700_000_000_000 + i)),
                "{codec:?}: record {i}"
            );
            // The record is re-sendable as it is, or to another topic.
            let (error, record) = e.into_parts();
            assert!(matches!(error, Error::Broker { .. }));
            assert_eq!(record.map(|r| r.value), Some(Some(format!("v{i}").into())));
        }
    }
}

// Failure: records whose batch was never sent (its partition has no leader) come back empty
// when delivery.timeout.ms passes. Invariant: each record of the batch comes back.
#[test]
fn records_of_a_batch_that_times_out_unsent_come_back() {
    let mut sim = sim(|c| {
        c.delivery_timeout = Duration::from_millis(1000);
        c.request_timeout = Duration::from_millis(500);
        c.linger = Duration::from_millis(500);
    });
    sim.set_leader(T, 0, None);
    let a = send(&mut sim, 0, "a", 5);
    let b = send(&mut sim, 0, "b", 7);
    sim.run_until(Duration::from_secs(10), |_| a.is_done() && b.is_done());
    let (ea, eb) = (failure(a), failure(b));
    assert!(matches!(ea.error(), Error::DeliveryTimeout { .. }), "{ea}");
    assert_eq!(ea.record(), Some(&expected(0, "a", 5)));
    assert_eq!(eb.into_record(), Some(expected(0, "b", 7)));
}

// Failure: a forced close fails what is queued without the records, or reading a batch that
// was never closed (no header yet: only the builder's records section) fails. Invariant:
// records still in an open batch at a forced close fail with Closed and come back.
#[test]
fn records_failed_by_a_forced_close_come_back() {
    let mut sim = sim(|c| c.linger = Duration::from_secs(60));
    let f = send(&mut sim, 0, "queued", 42);
    sim.force_close();
    sim.run_until(Duration::from_secs(5), |_| f.is_done());
    let e = failure(f);
    assert!(matches!(e.error(), Error::Closed(_)), "{e}");
    assert_eq!(e.into_record(), Some(expected(0, "queued", 42)));
}

// Failure: after a MESSAGE_TOO_LARGE split, a record's future follows it to a half whose
// failure hands back another record (index mix-up). Invariant: every record of a split batch
// whose halves then fail comes back as itself.
#[test]
fn records_of_a_split_batch_come_back_as_themselves() {
    let mut sim = sim(|c| c.linger = Duration::from_millis(10));
    sim.fail_produce(T, 0, 1, KafkaCode::MESSAGE_TOO_LARGE);
    let futures: Vec<_> = (0..4)
        .map(|i| send(&mut sim, 0, &format!("s{i}"), i))
        .collect();
    // The halves are refused too (not retriable).
    sim.run_until(Duration::from_millis(5), |_| false);
    sim.fail_produce(T, 0, 10, KafkaCode::INVALID_RECORD);
    sim.run_until(Duration::from_secs(10), |_| {
        futures.iter().all(DeliveryFuture::is_done)
    });
    let attempts = sim.produce_attempts(T, 0);
    assert!(
        attempts.len() >= 3,
        "the batch and its halves: {attempts:?}"
    );
    for (i, f) in futures.into_iter().enumerate() {
        let e = failure(f);
        assert_eq!(
            e.into_record(),
            Some(expected(0, &format!("s{i}"), i as i64)),
            "record {i}"
        );
    }
}

// Failure: the last-resort sweep (the I/O thread ended abnormally: no batch bytes left) panics
// or invents a record. Invariant: its error has no record.
#[test]
fn a_batch_failed_without_its_bytes_hands_back_no_record() {
    let mut sim = sim(|c| c.linger = Duration::from_secs(60));
    let f = send(&mut sim, 0, "x", 1);
    sim.shared.acc.fail_incomplete(&Error::Closed("test"));
    let e = failure(f);
    assert!(matches!(e.error(), Error::Closed(_)));
    assert!(e.record().is_none());
}

// Breaker fault 14: a send that passed its fatal check while the I/O thread made the producer
// fatal (an idempotent producer's InitProducerId refused, racing the send's metadata wait)
// appended its record after the fatal error had failed everything queued; the record then
// waited for delivery.timeout.ms (120 s by default) and failed with DeliveryTimeout. Invariant
// (Java's Sender aborts batches on every run while fatal): it fails with the fatal error at the
// next poll.
#[test]
fn a_record_appended_after_a_fatal_error_fails_with_it_at_once() {
    let mut sim = sim(|_| {});
    let fatal = Error::request("InitProducerId", KafkaCode::UNKNOWN_SERVER_ERROR, None);
    sim.shared.lifecycle.set_fatal(fatal);
    let f = send(&mut sim, 0, "late", 1);
    sim.run_for(Duration::from_secs(1));
    let e = failure(f);
    assert_eq!(e.code(), Some(KafkaCode::UNKNOWN_SERVER_ERROR), "{e:?}");
    assert_eq!(e.into_record(), Some(expected(0, "late", 1)));
}
