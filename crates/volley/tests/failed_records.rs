//! Failed records handed back (`DeliveryError`) by a real broker: a record the broker refuses
//! (over the topic's `max.message.bytes`) comes back from its batch's bytes through its future,
//! its callback and the delivery handler, whatever the codec, and goes to a dead-letter topic;
//! a record `send` refuses comes back as it was given.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use volley::{DeliveryError, Error, Header, KafkaCode, Producer, Record, RecordMetadata};

const TS: i64 = 1_700_000_000_123;

/// `n` pseudo-random letters and digits (they compress to about 6 bits a character: over
/// 1000 bytes whatever the codec, for n = 5000).
fn text(n: usize, mut seed: u64) -> String {
    const ABC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ABC[(seed >> 58) as usize] as char
        })
        .collect()
}

fn big_record<'a>(topic: &'a str, value: &'a str) -> Record<'a> {
    Record::new(topic)
        .key("k1")
        .value(value)
        .header(Header::new("h", "v"))
        .header(Header::null("n"))
        .timestamp(TS)
}

/// The failed record must be the one sent, with its partition set.
fn assert_handed_back(e: &DeliveryError, topic: &str, value: &str) {
    assert_eq!(e.code(), Some(KafkaCode::MESSAGE_TOO_LARGE), "{e}");
    let r = e.record().unwrap_or_else(|| panic!("no record with {e}"));
    let want = big_record(topic, value).partition(0).into_owned();
    assert_eq!(r, &want, "the record handed back");
}

// Failure: a record the broker refuses is lost to the application (no record in its error), or
// comes back with another record's bytes or garbled by the codec. Invariant: for each codec, the
// refused record comes back through its future with its key, value, headers, timestamp and
// partition; a record sent with it still lands; re-sent to a dead-letter topic, it reads back
// there as it was sent.
#[test]
fn a_record_the_broker_refuses_comes_back_and_goes_to_a_dead_letter_topic() {
    let dlt = unique_topic("failed-all.DLT");
    create_topic(&dlt, 1, &[]);
    let bs = bootstrap();
    let codecs = ["none", "gzip", "zstd"];
    let mut sent = Vec::new();
    for (n, codec) in codecs.into_iter().enumerate() {
        let topic = unique_topic(&format!("failed-{codec}"));
        create_topic(&topic, 1, &["max.message.bytes=1000"]);
        let p = Producer::from_properties([
            ("bootstrap.servers", bs.as_str()),
            ("compression.type", codec),
            ("linger.ms", "20"),
        ])
        .unwrap();
        let big = text(5000, n as u64);
        let refused = p.send(big_record(&topic, &big)).unwrap();
        let fits = p.send(Record::new(topic.as_str()).value("fits")).unwrap();
        let e = refused.wait().expect_err("over max.message.bytes");
        assert_handed_back(&e, &topic, &big);
        fits.wait().expect("the small record lands");

        let mut r = e.into_record().unwrap();
        r.topic = dlt.clone().into();
        r.partition = None;
        p.send(r).unwrap().wait().expect("dead-lettered");
        p.close().unwrap();
        sent.push(big);
    }
    // Kafka's consumer reads each dead letter back as it was first sent.
    let got = consume(&dlt, codecs.len());
    assert_eq!(got.len(), codecs.len());
    for (c, big) in got.iter().zip(&sent) {
        assert_eq!(
            (c.key.as_deref(), c.value.as_deref(), c.timestamp),
            (Some("k1"), Some(big.as_str()), TS)
        );
        assert_eq!(
            c.headers,
            [
                ("h".to_string(), Some("v".to_string())),
                ("n".to_string(), None)
            ]
        );
    }
}

// Failure: callbacks and the delivery handler see the error but not the record. Invariant: a
// record the broker refuses comes back to its callback and to the delivery handler (with its
// opaque value).
#[test]
fn callbacks_and_the_delivery_handler_get_the_refused_record() {
    type Seen = Arc<Mutex<Vec<(u64, Option<KafkaCode>, Option<Record<'static>>)>>>;
    struct Collect(Seen);
    impl volley::DeliveryHandler for Collect {
        fn on_delivery(&self, result: Result<&RecordMetadata, &DeliveryError>, opaque: u64) {
            let seen = match result {
                Ok(_) => (opaque, None, None),
                Err(e) => (opaque, e.code(), e.record().cloned()),
            };
            self.0.lock().unwrap().push(seen);
        }
    }
    let topic = unique_topic("failed-cb");
    create_topic(&topic, 1, &["max.message.bytes=1000"]);
    let seen: Seen = Arc::default();
    let bs = bootstrap();
    let config =
        volley::ProducerConfig::from_properties([("bootstrap.servers", bs.as_str())]).unwrap();
    let p = Producer::builder(config)
        .delivery_handler(Collect(seen.clone()))
        .build()
        .unwrap();
    let big = text(5000, 11);
    p.send_with_opaque(big_record(&topic, &big), 7).unwrap();
    let from_callback: Arc<Mutex<Option<Result<RecordMetadata, DeliveryError>>>> = Arc::default();
    let cb = from_callback.clone();
    p.send_with_callback(big_record(&topic, &big), move |r| {
        *cb.lock().unwrap() = Some(r);
    })
    .unwrap();
    p.flush().unwrap();
    p.close().unwrap();
    let e = from_callback
        .lock()
        .unwrap()
        .take()
        .expect("the callback ran")
        .expect_err("refused");
    assert_handed_back(&e, &topic, &big);
    let seen = seen.lock().unwrap();
    let want = big_record(&topic, &big).partition(0).into_owned();
    assert_eq!(
        *seen,
        [(7, Some(KafkaCode::MESSAGE_TOO_LARGE), Some(want))],
        "the delivery handler"
    );
}

// Failure: a record `send` refuses is dropped (the caller built it, often from borrowed data,
// and has nothing left to dead-letter). Invariant: over max.request.size, an explicit partition
// out of range and after close, `send` and `send_async` hand the record back as given.
#[test]
fn a_record_send_refuses_comes_back_as_given() {
    let topic = unique_topic("failed-refused");
    create_topic(&topic, 1, &[]);
    let bs = bootstrap();
    let p = Producer::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("max.request.size", "2000"),
        ("max.block.ms", "10000"),
    ])
    .unwrap();
    let big = text(5000, 3);
    let check = |what: &str, r: Result<volley::DeliveryFuture, DeliveryError>, want: &Record| {
        let e = r.map(drop).expect_err(what);
        assert_eq!(e.record(), Some(&want.clone().into_owned()), "{what}: {e}");
        e.into_error()
    };
    let too_large = big_record(&topic, &big);
    let e = check("too large", p.send(too_large.clone()), &too_large);
    assert!(matches!(e, Error::RecordTooLarge { .. }), "{e}");
    let e = check(
        "too large, async",
        block_on(p.send_async(too_large.clone())),
        &too_large,
    );
    assert!(matches!(e, Error::RecordTooLarge { .. }), "{e}");
    let out_of_range = Record::new(topic.as_str()).partition(3).key("k").value("v");
    let e = check("partition 3", p.send(out_of_range.clone()), &out_of_range);
    assert!(matches!(e, Error::PartitionOutOfRange { .. }), "{e}");
    p.close().unwrap();
    let late = Record::new(topic.as_str()).value("late");
    let e = check("after close", p.send(late.clone()), &late);
    assert!(matches!(e, Error::Closed(_)), "{e}");
}
