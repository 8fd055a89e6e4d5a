use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::partitioner::partition_for_key;
use crate::record::Header;
use crate::OffsetAndMetadata;
use crate::{KafkaCode, ProducerApi};

fn mock(topics: &[(&str, i32)], auto_complete: bool) -> MockProducer {
    let mut b = MockProducer::builder().auto_complete(auto_complete);
    for (t, n) in topics {
        b = b.topic(*t, *n);
    }
    b.build().unwrap()
}

/// One outcome an interceptor saw: topic, partition, offset, error.
type Ack = (String, i32, i64, Option<String>);

/// Every call an interceptor saw.
#[derive(Default)]
struct Seen {
    sends: AtomicUsize,
    acks: Mutex<Vec<Ack>>,
    closes: AtomicUsize,
}

struct Recording(Arc<Seen>);

impl Interceptor for Recording {
    fn on_send(
        &self,
        record: &mut Record<'_>,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.sends.fetch_add(1, Ordering::Relaxed);
        record.headers.push(Header::new("seen", "yes"));
        Ok(())
    }

    fn on_acknowledgement(&self, md: &RecordMetadata, error: Option<&Error>) {
        self.0.acks.lock().push((
            md.topic.to_string(),
            md.partition,
            md.offset,
            error.map(|e| e.to_string()),
        ));
    }

    fn close(&self) {
        self.0.closes.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn auto_complete_gives_each_partition_its_own_offsets() {
    let p = mock(&[("t", 3), ("u", 1)], true);
    let offsets: Vec<(i32, i64)> = [0, 1, 0, 0, 1]
        .iter()
        .map(|&part| {
            let md = p
                .send(Record::new("t").partition(part).value("v"))
                .unwrap()
                .wait()
                .unwrap();
            (md.partition, md.offset)
        })
        .collect();
    assert_eq!(offsets, [(0, 0), (1, 0), (0, 1), (0, 2), (1, 1)]);
    let md = p.send(Record::new("u").value("v")).unwrap().wait().unwrap();
    assert_eq!((md.partition, md.offset), (0, 0));
    assert_eq!(p.history().len(), 6);
    assert!(p.flushed());
}

#[test]
fn history_keeps_owned_records_with_partition_and_timestamp() {
    let p = mock(&[("t", 4)], true);
    let key = String::from("k1");
    p.send(
        Record::new("t")
            .key(key.as_bytes())
            .value("v1")
            .timestamp(1234)
            .header(Header::new("h", "x"))
            .header(Header::null("n")),
    )
    .unwrap()
    .wait()
    .unwrap();
    drop(key);
    let before = wall_clock_ms();
    drop(p.send(Record::new("t").value("v2")).unwrap());
    let h = p.history();
    assert_eq!(
        h[0],
        MockRecord {
            topic: "t".into(),
            partition: partition_for_key(b"k1", 4),
            key: Some(b"k1".to_vec()),
            value: Some(b"v1".to_vec()),
            headers: vec![Header::new("h", "x"), Header::null("n")],
            timestamp: 1234,
        }
    );
    assert_eq!((h[1].key_str(), h[1].value_str()), (None, Some("v2")));
    assert!(h[1].timestamp >= before, "stamped at send");
}

#[test]
fn the_real_partitioners_choose() {
    let p = mock(&[("t", 7)], true);
    for i in 0..50 {
        let key = format!("key-{i}");
        let md = p
            .send(Record::new("t").key(key.as_bytes()))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.partition, partition_for_key(key.as_bytes(), 7));
    }
    // Keyless records stick to one partition until batch.size bytes went there, then the
    // sticky partitioner picks again at random (possibly the same partition): every run but
    // the last is a whole number of turns.
    let p = MockProducer::builder()
        .topic("t", 7)
        .property("batch.size", "1000")
        .build()
        .unwrap();
    // A fixed seed: the random choices, and so this run, are the same every time.
    p.inner.sticky.reseed(7);
    let v = [b'x'; 100];
    let per_record = RecordSizeBounds::of(None, Some(v.len()), &[]).in_batch;
    let turn = 1000usize.div_ceil(per_record);
    let parts: Vec<i32> = (0..40)
        .map(|_| {
            p.send(Record::new("t").value(&v[..]))
                .unwrap()
                .wait()
                .unwrap()
                .partition
        })
        .collect();
    let runs: Vec<usize> = parts.chunk_by(|a, b| a == b).map(<[i32]>::len).collect();
    let (_, complete) = runs.split_last().unwrap();
    assert!(complete.len() >= 2, "the partition changed: {parts:?}");
    assert!(
        complete.iter().all(|r| r % turn == 0),
        "turns of {turn} records: {parts:?}"
    );
    // An explicit partition wins over the key.
    let md = p
        .send(Record::new("t").key("k").partition(6))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.partition, 6);
}

struct Always(i32);

impl Partitioner for Always {
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        _info: &TopicInfo,
    ) -> Option<i32> {
        Some(self.0)
    }
}

#[test]
fn custom_and_round_robin_partitioners_apply() {
    let p = MockProducer::builder()
        .topic("t", 3)
        .partitioner(Always(2))
        .build()
        .unwrap();
    let md = p.send(Record::new("t").key("k")).unwrap().wait().unwrap();
    assert_eq!(md.partition, 2);
    let p = MockProducer::builder()
        .topic("t", 2)
        .partitioner(Always(5))
        .build()
        .unwrap();
    assert!(matches!(
        p.send(Record::new("t").key("k")).map_err(Error::from),
        Err(Error::PartitionOutOfRange {
            partition: 5,
            partitions: 2,
            ..
        })
    ));
    let p = MockProducer::builder()
        .topic("t", 3)
        .property(
            "partitioner.class",
            "org.apache.kafka.clients.producer.RoundRobinPartitioner",
        )
        .build()
        .unwrap();
    let parts: Vec<i32> = (0..6)
        .map(|_| {
            p.send(Record::new("t").key("same"))
                .unwrap()
                .wait()
                .unwrap()
                .partition
        })
        .collect();
    assert_eq!(parts, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn bad_input_fails_with_the_real_producers_errors() {
    let seen = Arc::new(Seen::default());
    let p = MockProducer::builder()
        .topic("t", 2)
        .interceptor(Recording(seen.clone()))
        .build()
        .unwrap();
    let e = p.send(Record::new("nope").value("v")).unwrap_err();
    assert!(
        matches!(e.error(), Error::UnknownTopic { topic, after, .. } if topic == "nope" && after.is_zero()),
        "{e:?}"
    );
    // As the real producer, a refused send hands its record back.
    let back = e.record().expect("the refused record");
    assert_eq!(
        (&*back.topic, back.value.as_ref().map(|v| v.as_bytes())),
        ("nope", Some(&b"v"[..]))
    );
    assert!(matches!(
        p.send(Record::new("t").partition(2)).map_err(Error::from),
        Err(Error::PartitionOutOfRange {
            partition: 2,
            partitions: 2,
            ..
        })
    ));
    assert!(matches!(
        p.send(Record::new("t").partition(-1)).map_err(Error::from),
        Err(Error::IllegalArgument(_))
    ));
    assert!(matches!(
        p.send(Record::new("t").timestamp(-5)).map_err(Error::from),
        Err(Error::IllegalArgument(_))
    ));
    assert!(matches!(
        p.send(Record::new("bad name")).map_err(Error::from),
        Err(Error::InvalidTopic { .. })
    ));
    let big = vec![0u8; 2 << 20];
    assert!(matches!(
        p.send(Record::new("t").value(&big[..]))
            .map_err(Error::from),
        Err(Error::RecordTooLarge {
            limit_key: "max.request.size",
            ..
        })
    ));
    assert!(matches!(
        p.partitions_for("nope"),
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(p.partitions_for("t").unwrap().len(), 2);
    assert!(p.history().is_empty(), "nothing failed was recorded");
    // The interceptors saw each send error (after on_send for those that got that far).
    let acks = seen.acks.lock();
    assert_eq!(acks.len(), 6);
    assert!(acks.iter().all(|a| a.2 == -1 && a.3.is_some()));

    for (t, n) in [("t", 0), ("t", -1), ("bad name", 1)] {
        assert!(
            MockProducer::builder().topic(t, n).build().is_err(),
            "{t} {n}"
        );
    }
    assert!(matches!(
        MockProducer::builder().default_partitions(0).build(),
        Err(Error::IllegalArgument(_))
    ));
    assert!(matches!(
        MockProducer::builder().property("batch.size", "x").build(),
        Err(Error::Config { .. })
    ));
}

#[test]
fn default_partitions_creates_topics_on_first_use() {
    let p = MockProducer::builder()
        .default_partitions(4)
        .build()
        .unwrap();
    assert_eq!(p.partitions_for("any").unwrap().len(), 4);
    let md = p
        .send(Record::new("other").partition(3))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.partition, 3);
    assert!(matches!(
        p.send(Record::new("other").partition(4))
            .map_err(Error::from),
        Err(Error::PartitionOutOfRange { .. })
    ));
}

#[test]
fn manual_completion_in_send_order() {
    let p = mock(&[("t", 1)], false);
    let results = Arc::new(Mutex::new(Vec::new()));
    let f0 = p.send(Record::new("t").value("a")).unwrap();
    let r = results.clone();
    p.send_with_callback(Record::new("t").value("b"), move |res| {
        r.lock()
            .push(res.map(|md| md.offset).map_err(|e| e.to_string()))
    })
    .unwrap();
    let f2 = p.send(Record::new("t").value("c")).unwrap();
    assert!(!f0.is_done() && !p.flushed());
    assert_eq!(p.history().len(), 3, "recorded at send");

    assert!(p.complete_next());
    assert_eq!(f0.wait().unwrap().offset, 0);
    let fenced = Error::Closed("test error");
    assert!(p.error_next(fenced.clone()));
    assert_eq!(
        *results.lock(),
        [Err(fenced.to_string())],
        "the callback got the error"
    );
    assert!(!f2.is_done());
    p.flush().unwrap();
    assert!(p.flushed());
    assert_eq!(f2.wait().unwrap().offset, 2, "offsets are taken at send");
    assert!(
        !p.complete_next() && !p.error_next(fenced),
        "nothing pending"
    );
}

#[test]
fn interceptors_and_delivery_handler_run_as_in_the_real_producer() {
    struct Handler(Arc<Mutex<Vec<(u64, i64)>>>);
    impl DeliveryHandler for Handler {
        fn on_delivery(
            &self,
            r: std::result::Result<&RecordMetadata, &DeliveryError>,
            opaque: u64,
        ) {
            self.0.lock().push((opaque, r.map_or(-1, |md| md.offset)));
        }
    }
    let seen = Arc::new(Seen::default());
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let p = MockProducer::builder()
        .topic("t", 1)
        .auto_complete(false)
        .interceptor(Recording(seen.clone()))
        .delivery_handler(Handler(delivered.clone()))
        .build()
        .unwrap();
    p.send_with_opaque(Record::new("t").value("a"), 7).unwrap();
    p.send_with_opaque(Record::new("t").value("b"), 8).unwrap();
    assert_eq!(seen.sends.load(Ordering::Relaxed), 2);
    assert_eq!(
        p.history()[0].headers,
        [Header::new("seen", "yes")],
        "on_send's change is what was sent"
    );
    assert!(seen.acks.lock().is_empty(), "nothing completed yet");
    p.complete_next();
    p.error_next(Error::IllegalState("x".into()));
    assert_eq!(*delivered.lock(), [(7, 0), (8, -1)]);
    let acks = seen.acks.lock().clone();
    assert_eq!(acks[0], ("t".into(), 0, 0, None));
    assert_eq!((acks[1].1, acks[1].2), (0, -1));
    assert!(acks[1].3.is_some());

    p.close().unwrap();
    p.close().unwrap();
    assert_eq!(seen.closes.load(Ordering::Relaxed), 1, "closed once");

    let no_handler = mock(&[("t", 1)], true);
    assert!(matches!(
        no_handler
            .send_with_opaque(Record::new("t"), 1)
            .map_err(Error::from),
        Err(Error::IllegalState(_))
    ));
}

#[test]
fn a_callback_may_send_again() {
    let p = mock(&[("t", 1)], true);
    let p2 = p.clone();
    p.send_with_callback(Record::new("t").value("first"), move |r| {
        assert!(r.is_ok());
        drop(p2.send(Record::new("t").value("second")).unwrap());
    })
    .unwrap();
    let values: Vec<_> = p.history().iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, [Some(b"first".to_vec()), Some(b"second".to_vec())]);
}

#[test]
fn close_fails_later_calls_with_closed() {
    let p = mock(&[("t", 1)], true);
    p.set_error(MockCall::Close, Some(Error::IllegalState("close".into())));
    assert!(p.close().is_err());
    assert!(!p.closed(), "a failed close leaves it open");
    p.set_error(MockCall::Close, None);
    p.close().unwrap();
    assert!(p.closed());
    assert!(matches!(
        p.send(Record::new("t")).map_err(Error::from),
        Err(Error::Closed(_))
    ));
    assert!(matches!(p.init_transactions(), Err(Error::Closed(_))));
    assert!(matches!(p.partitions_for("t"), Err(Error::Closed(_))));
}

#[test]
fn transaction_calls_out_of_order_fail() {
    let p = mock(&[("t", 1)], true);
    let group = ConsumerGroupMetadata::new("g");
    let illegal = |r: Result<()>| matches!(r, Err(Error::IllegalState(_)));
    assert!(illegal(p.begin_transaction()), "begin before init");
    assert!(illegal(p.commit_transaction()));
    assert!(illegal(p.abort_transaction()));
    assert!(illegal(p.fence_producer()));
    p.init_transactions().unwrap();
    assert!(p.transaction_initialized());
    assert!(illegal(p.init_transactions()), "init twice");
    assert!(illegal(p.commit_transaction()), "commit without begin");
    assert!(illegal(p.abort_transaction()));
    assert!(illegal(p.send_offsets_to_transaction(
        [(("t", 0), OffsetAndMetadata::new(1))],
        &group
    )));
    p.begin_transaction().unwrap();
    assert!(p.transaction_in_flight());
    assert!(illegal(p.begin_transaction()), "begin twice");
}

#[test]
fn committed_records_and_offsets_reach_the_history() {
    let p = mock(&[("t", 2)], false);
    let group = ConsumerGroupMetadata::new("g");
    p.init_transactions().unwrap();
    drop(
        p.send(Record::new("t").partition(0).value("outside"))
            .unwrap(),
    );
    p.begin_transaction().unwrap();
    let f = p.send(Record::new("t").partition(1).value("in")).unwrap();
    p.send_offsets_to_transaction([(("in", 0), OffsetAndMetadata::new(5))], &group)
        .unwrap();
    p.send_offsets_to_transaction([(("in", 0), OffsetAndMetadata::new(6))], &group)
        .unwrap();
    p.send_offsets_to_transaction(Vec::<((String, i32), OffsetAndMetadata)>::new(), &group)
        .unwrap();
    // As the real producer (breaker fault 16): offsets Kafka cannot hold are refused.
    for bad in [(("in", 0), -1), (("in", -1), 7), (("bad topic!", 0), 7)] {
        let (tp, offset) = bad;
        let r = p.send_offsets_to_transaction([(tp, OffsetAndMetadata::new(offset))], &group);
        assert!(
            matches!(
                r,
                Err(Error::IllegalArgument(_) | Error::InvalidTopic { .. })
            ),
            "{bad:?}: {r:?}"
        );
    }
    assert_eq!(p.history().len(), 1, "only the record sent outside");
    assert_eq!(p.uncommitted_records()[0].value_str(), Some("in"));
    assert!(p.sent_offsets());
    assert_eq!(
        p.uncommitted_offsets()["g"][&("in".to_string(), 0)].offset,
        6
    );
    p.commit_transaction().unwrap();
    assert!(f.is_done(), "commit flushed");
    assert!(p.transaction_committed() && !p.transaction_in_flight());
    assert_eq!(p.commit_count(), 1);
    let values: Vec<_> = p
        .history()
        .iter()
        .map(|r| r.value_str().map(String::from))
        .collect();
    assert_eq!(values, [Some("outside".into()), Some("in".into())]);
    let offsets = p.consumer_group_offsets_history();
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[0]["g"][&("in".to_string(), 0)].offset, 6);

    // An aborted transaction leaves no record and no offsets.
    p.begin_transaction().unwrap();
    drop(p.send(Record::new("t").value("dropped")).unwrap());
    p.send_offsets_to_transaction([(("in", 0), OffsetAndMetadata::new(9))], &group)
        .unwrap();
    p.abort_transaction().unwrap();
    assert!(p.transaction_aborted() && !p.transaction_committed());
    assert_eq!(p.history().len(), 2);
    assert!(p.uncommitted_records().is_empty());
    assert_eq!(p.consumer_group_offsets_history().len(), 1);
    assert!(p.flushed(), "abort flushed too");

    // A commit without offsets adds no offsets entry.
    p.begin_transaction().unwrap();
    p.commit_transaction().unwrap();
    assert_eq!(p.consumer_group_offsets_history().len(), 1);
    assert_eq!(p.commit_count(), 2);

    p.clear();
    assert!(p.history().is_empty() && p.consumer_group_offsets_history().is_empty());
    assert!(!p.sent_offsets());
}

#[test]
fn injected_errors_fail_each_call_until_cleared() {
    let p = mock(&[("t", 1)], false);
    let err = || Error::IllegalState("injected".into());
    let is_injected = |r: Result<()>| matches!(r, Err(Error::IllegalState(m)) if m == "injected");
    let group = ConsumerGroupMetadata::new("g");

    p.set_error(MockCall::InitTransactions, Some(err()));
    assert!(is_injected(p.init_transactions()));
    assert!(!p.transaction_initialized());
    p.set_error(MockCall::InitTransactions, None);
    p.init_transactions().unwrap();

    p.set_error(MockCall::BeginTransaction, Some(err()));
    assert!(is_injected(p.begin_transaction()));
    p.set_error(MockCall::BeginTransaction, None);
    p.begin_transaction().unwrap();

    p.set_error(MockCall::Send, Some(err()));
    assert!(is_injected(
        p.send(Record::new("t")).map(drop).map_err(Error::from)
    ));
    assert!(p.uncommitted_records().is_empty());
    p.set_error(MockCall::Send, None);
    let f = p.send(Record::new("t")).unwrap();

    p.set_error(MockCall::SendOffsetsToTransaction, Some(err()));
    assert!(is_injected(p.send_offsets_to_transaction(
        [(("in", 0), OffsetAndMetadata::new(1))],
        &group
    )));
    assert!(!p.sent_offsets());

    p.set_error(MockCall::CommitTransaction, Some(err()));
    assert!(is_injected(p.commit_transaction()));
    assert!(
        p.transaction_in_flight() && !f.is_done(),
        "nothing happened"
    );

    // The flush inside commit and abort fails too, as Java's mock.
    p.set_error(MockCall::CommitTransaction, None);
    p.set_error(MockCall::Flush, Some(err()));
    assert!(is_injected(p.commit_transaction()));
    assert!(is_injected(p.flush()));
    assert!(!p.flushed());
    p.set_error(MockCall::Flush, None);

    p.set_error(MockCall::AbortTransaction, Some(err()));
    assert!(is_injected(p.abort_transaction()));
    p.set_error(MockCall::AbortTransaction, None);
    p.abort_transaction().unwrap();
    assert!(f.is_done());

    p.set_error(MockCall::PartitionsFor, Some(err()));
    assert!(is_injected(p.partitions_for("t").map(drop)));
}

#[test]
fn a_fenced_producer_fails_fatally() {
    let p = mock(&[("t", 1)], true);
    p.init_transactions().unwrap();
    p.fence_producer().unwrap();
    let fenced = |r: Result<()>| matches!(r, Err(Error::Fatal(inner)) if inner.code() == Some(KafkaCode::PRODUCER_FENCED));
    assert!(fenced(p.begin_transaction()));
    assert!(fenced(
        p.send(Record::new("t")).map(drop).map_err(Error::from)
    ));
    assert!(fenced(p.fence_producer()));
    assert!(p.history().is_empty());
}

#[test]
fn a_transactional_id_makes_sends_outside_transactions_fail() {
    let p = MockProducer::builder()
        .topic("t", 1)
        .property("transactional.id", "app")
        .build()
        .unwrap();
    assert!(matches!(
        p.send(Record::new("t")).map_err(Error::from),
        Err(Error::IllegalState(_))
    ));
    p.init_transactions().unwrap();
    assert!(matches!(
        p.send(Record::new("t")).map_err(Error::from),
        Err(Error::IllegalState(_))
    ));
    p.begin_transaction().unwrap();
    p.send(Record::new("t")).unwrap().wait().unwrap();
    p.commit_transaction().unwrap();
    assert_eq!(p.history().len(), 1);
}

#[test]
fn async_calls_through_the_trait() {
    let p = mock(&[("t", 1)], true);
    let api: &dyn ProducerApi = &p;
    let f = api.send_async(Record::new("t").value("v"));
    let md = poll_ready(f).unwrap();
    let md = poll_ready(md).unwrap();
    assert_eq!(md.offset, 0);
    poll_ready(api.flush_async()).unwrap();
    assert_eq!(api.metrics(), Metrics::default());
    api.close_timeout(Duration::ZERO).unwrap();
    assert!(p.closed());
}

/// Polls a future that must be ready at once.
fn poll_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the mock never waits"),
    }
}

#[test]
fn error_next_hands_the_record_back_to_the_future_and_the_callback() {
    let p = MockProducer::builder()
        .topic("t", 3)
        .auto_complete(false)
        .build()
        .unwrap();
    let f = p
        .send(
            Record::new("t")
                .key("k")
                .value("v1")
                .header(Header::new("h", "x")),
        )
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    p.send_with_callback(Record::new("t").partition(2).value("v2"), move |r| {
        tx.send(r).unwrap();
    })
    .unwrap();
    assert!(p.error_next(Error::IllegalState("expired".into())));
    assert!(p.error_next(Error::IllegalState("expired".into())));
    let e = f.wait().unwrap_err();
    assert!(matches!(e.error(), Error::IllegalState(_)), "{e:?}");
    let r = e.into_record().expect("the failed record");
    assert_eq!(&*r.topic, "t");
    assert_eq!(r.partition, Some(partition_for_key(b"k", 3)));
    assert_eq!(r.value.as_ref().map(|v| v.as_bytes()), Some(&b"v1"[..]));
    assert_eq!(r.headers.len(), 1);
    assert!(r.timestamp.is_some());
    let e = rx.recv().unwrap().unwrap_err();
    let r = e.record().expect("the failed record");
    assert_eq!(
        (r.partition, r.value.as_ref().map(|v| v.as_bytes())),
        (Some(2), Some(&b"v2"[..]))
    );
}
