//! Every wait in the API ends when the producer closes or fails; async calls need no runtime of
//! Volley's; caller durations saturate; timeouts carry their cause. Against the real broker
//! (and, for "no broker reachable", a closed port).

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use volley::{Error, Producer, Record};

/// Far below max.block.ms (60 s) in these tests: a wait that ends within this ended because of
/// the close, not its own bound.
const PROMPT: Duration = Duration::from_secs(20);

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> Producer {
    let mut props = vec![("bootstrap.servers", bootstrap)];
    props.extend_from_slice(extra);
    Producer::from_properties(props).expect("producer")
}

fn closed_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Runs `wait` on another thread, lets it start waiting, runs `close`, and returns what the
/// wait returned and how long after the close.
fn wait_then_close<T: Send + 'static>(
    wait: impl FnOnce() -> T + Send + 'static,
    close: impl FnOnce(),
) -> (T, Duration) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(wait());
    });
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    close();
    let r = rx
        .recv_timeout(PROMPT)
        .expect("the wait did not end after the close");
    (r, start.elapsed())
}

// Fault 1 (instance): a send waiting for the metadata of a topic that does not exist
// (max.block.ms = 60 s) ends with Closed as soon as another thread closes the producer, instead
// of blocking the full 60 s and then reporting UnknownTopic.
#[test]
fn close_ends_a_send_waiting_for_metadata() {
    let p = producer(
        &bootstrap(),
        &[
            ("max.block.ms", "60000"),
            ("allow.auto.create.topics", "false"),
        ],
    );
    let topic = unique_topic("never-created");
    let p2 = p.clone();
    let (r, after) = wait_then_close(
        move || {
            p2.send(Record::new(&topic).value("v"))
                .map(drop)
                .map_err(Error::from)
        },
        || p.close().expect("close"),
    );
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
    eprintln!("send ended {after:?} after close");
}

// Fault 1 (instance, async): the same wait in send_async on a tokio runtime ends with Closed,
// and polling it after the producer's I/O thread (and its runtime) has stopped does not panic.
#[test]
fn close_ends_a_send_async_waiting_for_metadata() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let p = producer(
        &bootstrap(),
        &[
            ("max.block.ms", "60000"),
            ("allow.auto.create.topics", "false"),
        ],
    );
    let topic = unique_topic("never-created-async");
    let p2 = p.clone();
    let task = rt.spawn(async move {
        p2.send_async(Record::new(&topic).value("v"))
            .await
            .map(drop)
            .map_err(Error::from)
    });
    std::thread::sleep(Duration::from_millis(500));
    p.close().expect("close");
    let r = rt.block_on(async { tokio::time::timeout(PROMPT, task).await });
    let r = r
        .expect("send_async did not end after close")
        .expect("no panic in the task");
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
    // After the I/O thread is gone, async calls still answer (and need no timer).
    let r = block_on(p.send_async(Record::new("t").value("v"))).map_err(Error::from);
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
    assert!(block_on(p.flush_async()).is_ok());
}

// Fault 1 (sibling): a transactional call waiting for its coordinator ends with Closed when the
// producer closes (no broker reachable; max.block.ms = 60 s).
#[test]
fn close_ends_a_transactional_call() {
    let p = producer(
        &closed_port(),
        &[
            ("max.block.ms", "60000"),
            ("transactional.id", "lifecycle-txn"),
        ],
    );
    let p2 = p.clone();
    let (r, after) = wait_then_close(
        move || p2.init_transactions(),
        || {
            let _ = p.close_timeout(Duration::ZERO);
        },
    );
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
    eprintln!("init_transactions ended {after:?} after close");
}

// Fault 1 (sibling): a thread blocked on a delivery future ends with Closed when another thread
// forces the close (close_timeout(0): nothing more is sent, and the record lingers for 10 min).
#[test]
fn forced_close_ends_a_blocked_delivery_future() {
    let topic = unique_topic("forced-future");
    create_topic(&topic, 1, &[]);
    let p = producer(
        &bootstrap(),
        &[("linger.ms", "600000"), ("delivery.timeout.ms", "900000")],
    );
    let f = p
        .send(Record::new(&topic).value("never acknowledged"))
        .unwrap();
    let (r, _) = wait_then_close(
        move || f.wait().map_err(Error::from),
        || {
            let r = p.close_timeout(Duration::ZERO);
            assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
        },
    );
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
}

// Fault 2 (instance, real broker): a flush_async dropped before it completes leaves linger.ms
// in force: after it (and a complete flush), a new record waits for its linger instead of being
// sent at once. (Whether the dropped flush got to send anything is a race, and either is right.)
#[test]
fn a_dropped_flush_async_leaves_linger_in_force() {
    let topic = unique_topic("dropped-flush");
    create_topic(&topic, 1, &[]);
    let p = producer(
        &bootstrap(),
        &[("linger.ms", "600000"), ("delivery.timeout.ms", "900000")],
    );
    let first = p.send(Record::new(&topic).value("first")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A zero timeout polls the flush once (starting it) and drops it.
    let r = rt.block_on(async { tokio::time::timeout(Duration::ZERO, p.flush_async()).await });
    assert!(r.is_err(), "the flush could not have finished in zero time");
    // A complete flush sends the first record and ends its own flush mode.
    p.flush().unwrap();
    first.wait().expect("flushed");
    let second = p.send(Record::new(&topic).value("second")).unwrap();
    let second = second
        .wait_timeout(Duration::from_secs(2))
        .expect_err("the second record lingers (linger.ms = 10 min)");
    p.flush().unwrap();
    second.wait().expect("flushed");
    p.close().unwrap();
}

// Fault 3: durations at their maximum, passed to methods and as config values (Java's longs),
// neither panic nor overflow, and the producer works.
#[test]
fn maximal_durations_do_not_overflow() {
    let topic = unique_topic("max-durations");
    create_topic(&topic, 1, &[]);
    let max = "9223372036854775807";
    let p = producer(
        &bootstrap(),
        &[
            ("max.block.ms", max),
            ("metadata.max.age.ms", max),
            ("metadata.max.idle.ms", max),
            ("retry.backoff.ms", max),
            ("retry.backoff.max.ms", max),
            ("reconnect.backoff.ms", max),
            ("reconnect.backoff.max.ms", max),
            ("connections.max.idle.ms", max),
            ("socket.connection.setup.timeout.ms", max),
            ("socket.connection.setup.timeout.max.ms", max),
            ("partitioner.availability.timeout.ms", max),
        ],
    );
    let f = p.send(Record::new(&topic).value("v")).unwrap();
    p.flush_timeout(Duration::MAX).unwrap();
    let md = f
        .wait_timeout(Duration::MAX)
        .expect("done")
        .expect("delivered");
    assert_eq!(md.offset, 0);
    p.close_timeout(Duration::MAX).unwrap();
}

// Fault 7 (siblings of the send instance in bad_input.rs): with no broker reachable, every
// wait that times out carries the last connection error as its cause.
#[test]
fn timeouts_carry_the_last_connection_error() {
    let has_cause = |e: &Error| {
        let cause = match e {
            Error::UnknownTopic { cause, .. } | Error::Timeout { cause, .. } => cause.as_deref(),
            _ => None,
        };
        matches!(cause, Some(Error::Network { .. } | Error::Bootstrap { .. }))
            && e.to_string().contains("last connection error")
    };
    let p = producer(&closed_port(), &[("max.block.ms", "1500")]);
    let e = block_on(p.send_async(Record::new("t").value("v")))
        .unwrap_err()
        .into_error();
    assert!(
        matches!(e, Error::UnknownTopic { .. }) && has_cause(&e),
        "{e}"
    );
    let e = p.partitions_for("t").unwrap_err();
    assert!(has_cause(&e), "{e}");
    p.close().unwrap();

    let p = producer(
        &closed_port(),
        &[("max.block.ms", "1500"), ("transactional.id", "cause-txn")],
    );
    let e = p.init_transactions().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }) && has_cause(&e), "{e}");
    p.close_timeout(Duration::ZERO).ok();
}

/// Sends one record with a callback that runs `inside` on the I/O thread, flushes, and returns
/// what `inside` returned.
fn from_a_callback<T: Send + 'static>(
    p: &Producer,
    topic: &str,
    inside: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    p.send_with_callback(Record::new(topic).value("first"), move |r| {
        r.expect("the first record is delivered");
        let _ = tx.send(inside());
    })
    .unwrap();
    p.flush().unwrap();
    rx.recv().expect("the callback ran")
}

// Fault 8 (instance, breaker): a send from a callback (on the I/O thread) to a topic whose
// metadata is not known waited up to max.block.ms (60 s here) for metadata only the blocked I/O
// thread could fetch, stalling every delivery of the producer, then failed with UnknownTopic.
// Invariant: a call from a callback never waits for the I/O thread; it fails at once with
// IllegalState, and the producer goes on.
#[test]
fn a_send_from_a_callback_never_waits_for_metadata() {
    let topic = unique_topic("cb-send");
    create_topic(&topic, 1, &[]);
    let p = producer(
        &bootstrap(),
        &[
            ("max.block.ms", "60000"),
            ("allow.auto.create.topics", "false"),
        ],
    );
    let p2 = p.clone();
    let missing = unique_topic("cb-missing");
    let r = from_a_callback(&p, &topic, move || {
        let sync = p2.send(Record::new(missing.as_str()).value("v")).map(drop);
        let r#async = block_on(p2.send_async(Record::new(missing.as_str()).value("v"))).map(drop);
        let parts = p2.partitions_for(&missing).map(drop);
        (
            sync.map_err(Error::from),
            r#async.map_err(Error::from),
            parts,
        )
    });
    assert!(
        matches!(r.0, Err(Error::IllegalState(_))),
        "send: {:?}",
        r.0
    );
    assert!(
        matches!(r.1, Err(Error::IllegalState(_))),
        "send_async: {:?}",
        r.1
    );
    assert!(
        matches!(r.2, Err(Error::IllegalState(_))),
        "partitions_for: {:?}",
        r.2
    );
    // A send that needs no wait works from a callback, and the producer goes on.
    let p2 = p.clone();
    let t2 = topic.clone();
    let f = from_a_callback(&p, &topic, move || {
        p2.send(Record::new(t2.as_str()).value("v"))
    });
    f.unwrap().wait().expect("sent from a callback");
    p.close().unwrap();
}

// Fault 8 (sibling): a send from a callback that needs buffer memory waited up to max.block.ms
// for memory only the I/O thread frees, then failed with Timeout.
#[test]
fn a_send_from_a_callback_never_waits_for_buffer_memory() {
    let topic = unique_topic("cb-memory");
    create_topic(&topic, 8, &[]);
    let p = producer(
        &bootstrap(),
        &[
            ("max.block.ms", "60000"),
            ("buffer.memory", "65536"),
            ("batch.size", "16384"),
            ("linger.ms", "600000"),
        ],
    );
    p.partitions_for(&topic).unwrap();
    let p2 = p.clone();
    let t2 = topic.clone();
    let (sent, r) = from_a_callback(&p, &topic, move || {
        // One batch per partition: the pool (4 batches) runs out before the 8th partition.
        let mut sent = Vec::new();
        for partition in 0..8 {
            match p2.send(Record::new(t2.as_str()).partition(partition).value("v")) {
                Ok(f) => sent.push(f),
                Err(e) => return (sent, Err(Error::from(e))),
            }
        }
        (sent, Ok(()))
    });
    assert!(matches!(r, Err(Error::IllegalState(_))), "{r:?}");
    assert!(!sent.is_empty());
    p.flush().unwrap();
    for f in sent {
        f.wait().expect("the records that fitted are delivered");
    }
    p.close().unwrap();
}

// Fault 8 (sibling): a transactional call from a callback waited up to max.block.ms for the
// coordinator's answer, which only the blocked I/O thread could read, then failed with Timeout
// while its request went on.
#[test]
fn a_transactional_call_from_a_callback_is_refused() {
    let topic = unique_topic("cb-txn");
    create_topic(&topic, 1, &[]);
    let tid = unique_topic("cb-txn-id");
    let p = producer(
        &bootstrap(),
        &[
            ("max.block.ms", "60000"),
            ("transactional.id", tid.as_str()),
        ],
    );
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let p2 = p.clone();
    let r = from_a_callback(&p, &topic, move || {
        (
            p2.commit_transaction(),
            block_on(p2.abort_transaction_async()),
        )
    });
    assert!(
        matches!(r.0, Err(Error::IllegalState(_))),
        "commit: {:?}",
        r.0
    );
    assert!(
        matches!(r.1, Err(Error::IllegalState(_))),
        "abort: {:?}",
        r.1
    );
    // Nothing was started: the transaction is still open and commits.
    p.commit_transaction().unwrap();
    p.close().unwrap();
}

// Fault 9 (instance, breaker): begin_transaction after close succeeded (Java's
// beginTransaction throws IllegalStateException "Cannot perform operation after producer has
// been closed"). Invariant: every transactional call after close fails with Closed.
#[test]
fn transactional_calls_after_close_fail_with_closed() {
    let tid = unique_topic("closed-txn-id");
    let p = producer(&bootstrap(), &[("transactional.id", tid.as_str())]);
    p.init_transactions().unwrap();
    p.close().unwrap();
    let closed = |r: volley::Result<()>| matches!(r, Err(Error::Closed(_)));
    assert!(closed(p.begin_transaction()), "begin_transaction");
    assert!(closed(p.init_transactions()), "init_transactions");
    assert!(closed(p.commit_transaction()), "commit_transaction");
    assert!(closed(p.abort_transaction()), "abort_transaction");
}

// Fault 11 (instance, breaker): close_timeout(0) from a callback returned Timeout ("unresolved
// records were failed") when nothing was left but the batch whose callback was running, which
// had already been acknowledged. Invariant: a forced close reports failed records only when
// some record other than the resolving batch's was still unresolved.
#[test]
fn a_forced_close_from_the_last_callback_reports_nothing_failed() {
    let topic = unique_topic("cb-close0");
    create_topic(&topic, 1, &[]);
    let p = producer(&bootstrap(), &[("linger.ms", "0")]);
    p.send(Record::new(topic.as_str()).value("warm"))
        .unwrap()
        .wait()
        .unwrap();
    let p2 = p.clone();
    let r = from_a_callback(&p, &topic, move || p2.close_timeout(Duration::ZERO));
    assert!(r.is_ok(), "{r:?}");
    p.close().unwrap();
}

// Fault 12 (instance, breaker): InitProducerId refused with an error Java's
// InitProducerIdHandler does not name (here INVALID_TRANSACTION_TIMEOUT: transaction.timeout.ms
// above the broker's transaction.max.timeout.ms of 15 min) ended init_transactions with an
// "abortable" error and left the producer in Initializing for good: init_transactions again,
// begin_transaction, abort_transaction and send all failed with IllegalState, so nothing could
// end the wedge. Invariant (Java: fatalError "Unexpected error in InitProducerIdResponse"): the
// error is fatal, and every later call fails with it.
#[test]
fn an_unexpected_init_producer_id_error_is_fatal() {
    let topic = unique_topic("init-fatal");
    create_topic(&topic, 1, &[]);
    let tid = unique_topic("init-fatal-id");
    let p = producer(
        &bootstrap(),
        &[
            ("transactional.id", tid.as_str()),
            ("transaction.timeout.ms", "1000000"),
            ("max.block.ms", "30000"),
        ],
    );
    let is_fatal = |e: &Error| {
        matches!(e, Error::Fatal(inner)
            if inner.code() == Some(volley::KafkaCode::INVALID_TRANSACTION_TIMEOUT))
    };
    let e = p.init_transactions().unwrap_err();
    assert!(is_fatal(&e), "init_transactions: {e:?}");
    for (call, r) in [
        ("init_transactions", p.init_transactions()),
        ("begin_transaction", p.begin_transaction()),
        ("abort_transaction", p.abort_transaction()),
    ] {
        assert!(r.as_ref().is_err_and(is_fatal), "{call}: {r:?}");
    }
    let e = p
        .send(Record::new(topic.as_str()).value("v"))
        .map(drop)
        .unwrap_err();
    assert!(is_fatal(e.error()), "send: {e:?}");
    p.close().unwrap();
}

// Fault 15 (instance, breaker): send_offsets_to_transaction with no offsets sent an
// AddOffsetsToTxn anyway, and the broker then refused the commit's EndTxn with
// INVALID_TXN_STATE, a fatal error: the producer was dead. Siblings: offsets Kafka cannot hold
// were sent as given: a negative offset was committed as the group's position (Java's
// OffsetAndMetadata refuses it), and a negative partition got a retriable answer for ever, so
// send_offsets_to_transaction and then commit_transaction timed out and the transaction stayed
// in Committing until the broker aborted it. Invariant (Java's sendOffsetsToTransaction): no
// offsets is a no-op; group metadata with a generation but no member id, a negative offset or
// partition are refused with IllegalArgument (a bad topic name with InvalidTopic) before
// anything is sent; the transaction goes on and commits.
#[test]
fn send_offsets_to_transaction_checks_its_arguments() {
    use volley::{ConsumerGroupMetadata, OffsetAndMetadata};
    let topic = unique_topic("offsets-args");
    create_topic(&topic, 1, &[]);
    let tid = unique_topic("offsets-args-id");
    let p = producer(&bootstrap(), &[("transactional.id", tid.as_str())]);
    p.init_transactions().unwrap();
    let group = ConsumerGroupMetadata::new("offsets-args-group");
    let stale = ConsumerGroupMetadata {
        generation_id: 3,
        ..group.clone()
    };
    for _ in 0..2 {
        p.begin_transaction().unwrap();
        let none: Vec<((String, i32), OffsetAndMetadata)> = Vec::new();
        p.send_offsets_to_transaction(none, &group)
            .expect("no offsets");
        for (g, (t, partition), offset) in [
            (&stale, (topic.clone(), 0), 1),
            (&group, (topic.clone(), 0), -5),
            (&group, (topic.clone(), -1), 5),
            (&group, ("bad topic!".to_string(), 0), 5),
        ] {
            let r = p.send_offsets_to_transaction(
                [((t.clone(), partition), OffsetAndMetadata::new(offset))],
                g,
            );
            assert!(
                matches!(
                    r,
                    Err(Error::IllegalArgument(_) | Error::InvalidTopic { .. })
                ),
                "{t}-{partition}@{offset} (generation {}): {r:?}",
                g.generation_id
            );
        }
        p.send(Record::new(topic.as_str()).value("v"))
            .unwrap()
            .wait()
            .unwrap();
        p.commit_transaction().expect("commit");
    }
    p.close().unwrap();
}
