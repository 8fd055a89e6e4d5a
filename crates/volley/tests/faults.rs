//! Faults on the real broker: a stopped (SIGSTOP) broker. These tests pause the shared
//! one-node cluster, so they run one at a time (a lock), in their own test binary (cargo runs
//! test binaries one after another).

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use volley::{Error, Producer, Record};

static SERIAL: Mutex<()> = Mutex::new(());

/// Resumes the broker even when the test fails.
struct Paused;

impl Paused {
    fn pause() -> Paused {
        kafka(&["pause", "1"]);
        Paused
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        kafka(&["resume", "1"]);
    }
}

// With the broker stopped and a small buffer.memory, send blocks no longer than max.block.ms
// and then fails with a typed timeout; every accepted record fails with a delivery timeout
// after delivery.timeout.ms; memory stays bounded; after the broker resumes, the producer works.
#[test]
fn stopped_broker_bounds_blocking_and_fails_every_record_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topic = unique_topic("stopped");
    create_topic(&topic, 1, &[]);
    let bs = bootstrap();
    let p = Producer::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("buffer.memory", "131072"),
        ("batch.size", "16384"),
        ("linger.ms", "0"),
        ("max.block.ms", "2000"),
        ("request.timeout.ms", "3000"),
        ("delivery.timeout.ms", "8000"),
        ("socket.connection.setup.timeout.ms", "1500"),
        ("socket.connection.setup.timeout.max.ms", "1500"),
    ])
    .unwrap();
    // Warm up: metadata and connection.
    p.send(Record::new(topic.as_str()).value("warm"))
        .unwrap()
        .wait()
        .unwrap();
    let rss_before = rss_bytes();

    let paused = Paused::pause();
    let value = vec![7u8; 1000];
    let mut futures = Vec::new();
    let started = Instant::now();
    let blocked = loop {
        let t0 = Instant::now();
        match p.send(Record::new(topic.as_str()).value(value.as_slice())) {
            Ok(f) => futures.push(f),
            Err(e) => break (e.into_error(), t0.elapsed()),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "send never blocked: buffer.memory is not enforced"
        );
    };
    let (err, waited) = blocked;
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        waited >= Duration::from_millis(1900),
        "gave up early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(6000),
        "blocked past max.block.ms: {waited:?}"
    );
    // 128 KiB of buffer holds about 128 records of 1 KB.
    assert!(
        futures.len() > 50 && futures.len() < 200,
        "{} records accepted",
        futures.len()
    );

    // Every accepted record fails with a delivery timeout, within delivery.timeout.ms plus the
    // request timeout that closes the stuck connection.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut timeouts = 0;
    for f in futures {
        let left = deadline.saturating_duration_since(Instant::now());
        match f.wait_timeout(left).map(|r| r.map_err(Error::from)) {
            Ok(Err(Error::DeliveryTimeout { .. })) => timeouts += 1,
            Ok(other) => panic!("expected a delivery timeout, got {other:?}"),
            Err(_) => panic!("a record was left unresolved past delivery.timeout.ms"),
        }
    }
    assert!(timeouts > 0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(
        grown < 64 << 20,
        "memory grew by {grown} bytes while the broker was stopped"
    );
    drop(paused);

    // The broker is back: the same producer delivers again (it reconnects).
    let md = p
        .send(Record::new(topic.as_str()).value("after"))
        .unwrap()
        .wait()
        .expect("delivered after the broker resumed");
    assert!(md.offset >= 1);
    p.close().unwrap();
}

// close(timeout) with a stopped broker fails what is left when the timeout passes, and
// returns promptly.
#[test]
fn close_with_timeout_fails_what_is_left() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topic = unique_topic("closet");
    create_topic(&topic, 1, &[]);
    let bs = bootstrap();
    let p = Producer::from_properties([("bootstrap.servers", bs.as_str()), ("linger.ms", "0")])
        .unwrap();
    p.send(Record::new(topic.as_str()).value("warm"))
        .unwrap()
        .wait()
        .unwrap();
    let paused = Paused::pause();
    let futures: Vec<_> = (0..100)
        .map(|i| {
            p.send(Record::new(topic.as_str()).value(format!("{i}")))
                .unwrap()
        })
        .collect();
    let t0 = Instant::now();
    let r = p.close_timeout(Duration::from_millis(1500));
    let took = t0.elapsed();
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "{took:?}"
    );
    for f in futures {
        let r = f
            .wait_timeout(Duration::from_secs(5))
            .expect("resolved by the forced close")
            .map_err(Error::from);
        assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
    }
    drop(paused);
}
