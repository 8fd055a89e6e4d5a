//! The producer against the real broker, read back with Kafka's own consumer and log dump.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use volley::{Error, Header, Interceptor, Producer, Record, RecordMetadata};

fn producer(extra: &[(&str, &str)]) -> Producer {
    let bs = bootstrap();
    let mut props = vec![("bootstrap.servers", bs.as_str())];
    props.extend_from_slice(extra);
    Producer::from_properties(props).expect("producer")
}

// Eight threads share one producer; with acks=all every record must come back exactly once,
// each key on the partition Kafka's own murmur2 picks, and each key's records in send order.
#[test]
fn eight_threads_keyed_exactly_once_in_order_on_java_partitions() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 100_000;
    const KEYS_PER_THREAD: usize = 125;
    const PARTITIONS: i32 = 6;
    let topic = unique_topic("keyed");
    create_topic(&topic, PARTITIONS as u32, &[]);
    let p = producer(&[("acks", "all"), ("linger.ms", "5")]);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let p = p.clone();
            let topic = topic.clone();
            std::thread::spawn(move || {
                let mut seq = vec![0u64; KEYS_PER_THREAD];
                let failures = Arc::new(AtomicUsize::new(0));
                for i in 0..PER_THREAD {
                    let k = i % KEYS_PER_THREAD;
                    let key = format!("t{t}-k{k}");
                    let value = format!("{key}:{}", seq[k]);
                    seq[k] += 1;
                    let f = failures.clone();
                    p.send_with_callback(
                        Record::new(topic.as_str())
                            .key(key.as_str())
                            .value(value.as_str()),
                        move |r| {
                            if let Err(e) = r {
                                eprintln!("delivery failed: {e}");
                                f.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                    )
                    .expect("send");
                }
                failures
            })
        })
        .collect();
    let failures: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    p.flush().unwrap();
    for f in failures {
        assert_eq!(f.load(Ordering::Relaxed), 0, "no delivery may fail");
    }
    let m = p.metrics();
    eprintln!("{m:?}");
    assert_eq!(m.record_send_total, (THREADS * PER_THREAD) as u64);
    p.close().unwrap();

    let records = consume(&topic, THREADS * PER_THREAD);
    assert_eq!(
        records.len(),
        THREADS * PER_THREAD,
        "every record read back"
    );
    let keys: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..KEYS_PER_THREAD).map(move |k| format!("t{t}-k{k}")))
        .collect();
    let java: HashMap<String, i32> = keys
        .iter()
        .cloned()
        .zip(java_partitions(&keys, PARTITIONS))
        .collect();
    // Per partition, records come in offset order; per key, sequence numbers must ascend by 1.
    let mut next: HashMap<String, u64> = HashMap::new();
    let mut by_partition: HashMap<i32, Vec<&Consumed>> = HashMap::new();
    for r in &records {
        by_partition.entry(r.partition).or_default().push(r);
    }
    for (_, mut rs) in by_partition {
        rs.sort_by_key(|r| r.offset);
        for r in rs {
            let key = r.key.clone().unwrap();
            assert_eq!(
                java[&key], r.partition,
                "key {key} on Kafka's murmur2 partition"
            );
            let (vk, seq) = r.value.as_ref().unwrap().rsplit_once(':').unwrap();
            assert_eq!(vk, key);
            let seq: u64 = seq.parse().unwrap();
            let want = next.entry(key.clone()).or_insert(0);
            assert_eq!(
                seq, *want,
                "key {key}: records in send order, each exactly once"
            );
            *want += 1;
        }
    }
    assert!(next
        .values()
        .all(|&n| n == (PER_THREAD / KEYS_PER_THREAD) as u64));
}

// Every codec produces batches Kafka's consumer reads back, and the log dump names the codec.
#[test]
fn every_codec_round_trips_through_kafka() {
    for codec in ["gzip", "snappy", "lz4", "zstd", "none"] {
        let topic = unique_topic(&format!("codec-{codec}"));
        create_topic(&topic, 1, &[]);
        let p = producer(&[("compression.type", codec), ("linger.ms", "50")]);
        let futs: Vec<_> = (0..500)
            .map(|i| {
                let v = format!("{codec} value {i} {}", "x".repeat(i % 50));
                p.send(
                    Record::new(topic.as_str())
                        .key(format!("k{i}"))
                        .value(v)
                        .header(Header::new("n", i.to_string())),
                )
                .unwrap()
            })
            .collect();
        for f in futs {
            f.wait().unwrap();
        }
        p.close().unwrap();
        let recs = consume(&topic, 500);
        assert_eq!(recs.len(), 500, "{codec}");
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_str()));
            assert_eq!(
                r.value.as_deref(),
                Some(format!("{codec} value {i} {}", "x".repeat(i % 50)).as_str())
            );
            assert_eq!(r.headers, vec![("n".to_string(), Some(i.to_string()))]);
        }
        let dump = dump_log(&topic, 0);
        assert!(
            dump.contains(&format!("compresscodec: {}", codec)),
            "{codec}: {dump:.2000}"
        );
        assert!(!dump.contains("isvalid: false"));
    }
}

// The metadata a future resolves to matches what the broker stored.
#[test]
fn futures_resolve_to_offsets_partitions_and_sizes() {
    let topic = unique_topic("meta");
    create_topic(&topic, 3, &[]);
    let p = producer(&[]);
    let mut mds = Vec::new();
    for i in 0..30 {
        let f = p
            .send(
                Record::new(topic.as_str())
                    .partition(i % 3)
                    .key("kk")
                    .value(format!("v{i}"))
                    .timestamp(1_700_000_000_000 + i as i64),
            )
            .unwrap();
        mds.push(f);
    }
    let mds: Vec<RecordMetadata> = mds.into_iter().map(|f| f.wait().unwrap()).collect();
    for (i, md) in mds.iter().enumerate() {
        assert_eq!(&*md.topic, topic.as_str());
        assert_eq!(md.partition, (i % 3) as i32);
        assert_eq!(md.offset, (i / 3) as i64);
        assert_eq!(md.timestamp, 1_700_000_000_000 + i as i64);
        assert_eq!(md.serialized_key_size, 2);
        assert_eq!(md.serialized_value_size, format!("v{i}").len() as i32);
    }
    // A tombstone (no value) and a null key.
    let md = p
        .send(Record::new(topic.as_str()).partition(0))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.serialized_key_size, -1);
    assert_eq!(md.serialized_value_size, -1);
    p.close().unwrap();
    let recs = consume(&topic, 31);
    let tomb = recs
        .iter()
        .find(|r| r.partition == 0 && r.offset == 10)
        .unwrap();
    assert_eq!((tomb.key.as_deref(), tomb.value.as_deref()), (None, None));
}

// A topic with LogAppendTime reports the broker's time, not the record's.
#[test]
fn log_append_time_is_reported() {
    let topic = unique_topic("lat");
    create_topic(&topic, 1, &["message.timestamp.type=LogAppendTime"]);
    let p = producer(&[]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let md = p
        .send(Record::new(topic.as_str()).value("x").timestamp(1000))
        .unwrap()
        .wait()
        .unwrap();
    assert!(
        md.timestamp >= before - 5_000,
        "broker time {} vs {before}",
        md.timestamp
    );
    p.close().unwrap();
}

// acks=0 and acks=1 deliver too (acks=0 reports offset -1).
#[test]
fn acks_zero_and_one() {
    let topic = unique_topic("acks");
    create_topic(&topic, 1, &[]);
    for acks in ["0", "1"] {
        let p = producer(&[("acks", acks)]);
        let futs: Vec<_> = (0..100)
            .map(|i| {
                p.send(Record::new(topic.as_str()).value(format!("{acks}-{i}")))
                    .unwrap()
            })
            .collect();
        for f in futs {
            let md = f.wait().unwrap();
            if acks == "0" {
                assert_eq!(md.offset, -1);
            } else {
                assert!(md.offset >= 0);
            }
        }
        p.close().unwrap();
    }
    assert_eq!(consume(&topic, 200).len(), 200);
}

// A record over max.request.size fails at once, before it is queued.
#[test]
fn record_over_max_request_size_fails_at_once() {
    let topic = unique_topic("big");
    create_topic(&topic, 1, &[]);
    let p = producer(&[("max.request.size", "10000")]);
    let t0 = Instant::now();
    let err = p
        .send(Record::new(topic.as_str()).value(vec![0u8; 20_000]))
        .unwrap_err()
        .into_error();
    assert!(
        matches!(
            err,
            Error::RecordTooLarge {
                limit_key: "max.request.size",
                ..
            }
        ),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    // The producer still works.
    p.send(Record::new(topic.as_str()).value("small"))
        .unwrap()
        .wait()
        .unwrap();
    p.close().unwrap();
}

// A batch the broker rejects as too large (topic max.message.bytes) is split and delivered.
#[test]
fn oversized_batch_is_split_and_delivered() {
    let topic = unique_topic("split");
    create_topic(&topic, 1, &["max.message.bytes=3000"]);
    let p = producer(&[("batch.size", "100000"), ("linger.ms", "200")]);
    let futs: Vec<_> = (0..200)
        .map(|i| {
            p.send(
                Record::new(topic.as_str())
                    .key(format!("k{i}"))
                    .value(format!("{i:0>100}")),
            )
            .unwrap()
        })
        .collect();
    let offsets: Vec<i64> = futs.into_iter().map(|f| f.wait().unwrap().offset).collect();
    assert_eq!(
        offsets,
        (0..200).collect::<Vec<i64>>(),
        "split halves keep the order"
    );
    assert!(p.metrics().batch_split_total > 0, "the batch was split");
    p.close().unwrap();
    let recs = consume(&topic, 200);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.value.as_deref(), Some(format!("{i:0>100}").as_str()));
    }
}

// flush sends lingering batches at once and waits for them.
#[test]
fn flush_sends_lingering_records() {
    let topic = unique_topic("flush");
    create_topic(&topic, 2, &[]);
    let p = producer(&[("linger.ms", "60000"), ("batch.size", "1000000")]);
    let futs: Vec<_> = (0..50)
        .map(|i| {
            p.send(Record::new(topic.as_str()).value(format!("{i}")))
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        futs.iter().all(|f| !f.is_done()),
        "linger.ms holds the batches"
    );
    let t0 = Instant::now();
    p.flush().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert!(
        futs.iter().all(|f| f.is_done()),
        "flush waits for every record"
    );
    for f in futs {
        f.wait().unwrap();
    }
    p.close().unwrap();
}

// close drains: everything sent before close is delivered; sends after close fail.
#[test]
fn close_drains_then_rejects() {
    let topic = unique_topic("close");
    create_topic(&topic, 1, &[]);
    let p = producer(&[("linger.ms", "1000")]);
    let futs: Vec<_> = (0..100)
        .map(|i| {
            p.send(Record::new(topic.as_str()).value(format!("{i}")))
                .unwrap()
        })
        .collect();
    p.close().unwrap();
    for f in futs {
        f.wait().unwrap();
    }
    let err = p
        .send(Record::new(topic.as_str()).value("late"))
        .unwrap_err()
        .into_error();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    assert_eq!(consume(&topic, 100).len(), 100);
}

// Interceptors see every send and every outcome; their panics and errors never reach the caller.
#[test]
fn interceptors_change_records_and_see_outcomes_and_never_break_sends() {
    #[derive(Default)]
    struct Counting {
        sends: AtomicUsize,
        acks: AtomicUsize,
        errors: AtomicUsize,
    }
    struct Tagger(Arc<Counting>);
    impl Interceptor for Tagger {
        fn on_send(
            &self,
            r: &mut Record<'_>,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.0.sends.fetch_add(1, Ordering::Relaxed);
            r.headers.push(Header::new("tagged", "yes"));
            Ok(())
        }
        fn on_acknowledgement(&self, _md: &RecordMetadata, e: Option<&Error>) {
            if e.is_some() {
                self.0.errors.fetch_add(1, Ordering::Relaxed);
            } else {
                self.0.acks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    struct Faulty;
    impl Interceptor for Faulty {
        fn on_send(
            &self,
            _r: &mut Record<'_>,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err("on_send failure".into())
        }
        fn on_acknowledgement(&self, _md: &RecordMetadata, _e: Option<&Error>) {
            panic!("interceptor panic");
        }
    }
    let topic = unique_topic("icpt");
    create_topic(&topic, 1, &[]);
    let counts = Arc::new(Counting::default());
    let cfg = volley::ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap().as_str()),
        ("max.request.size", "5000"),
    ])
    .unwrap();
    let p = Producer::builder(cfg)
        .interceptor(Faulty)
        .interceptor(Tagger(counts.clone()))
        .build()
        .unwrap();
    let futs: Vec<_> = (0..20)
        .map(|i| {
            p.send(Record::new(topic.as_str()).value(format!("{i}")))
                .unwrap()
        })
        .collect();
    for f in futs {
        f.wait().unwrap();
    }
    // A send that fails before queueing is reported to on_acknowledgement too.
    assert!(p
        .send(Record::new(topic.as_str()).value(vec![0u8; 10_000]))
        .is_err());
    p.close().unwrap();
    assert_eq!(counts.sends.load(Ordering::Relaxed), 21);
    assert_eq!(counts.acks.load(Ordering::Relaxed), 20);
    assert_eq!(counts.errors.load(Ordering::Relaxed), 1);
    let recs = consume(&topic, 20);
    assert!(recs
        .iter()
        .all(|r| r.headers == vec![("tagged".to_string(), Some("yes".to_string()))]));
}

// Callbacks run exactly once per record, and a panicking callback harms nothing.
#[test]
fn callbacks_run_once_each() {
    let topic = unique_topic("cb");
    create_topic(&topic, 2, &[]);
    let p = producer(&[]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..200 {
        let seen = seen.clone();
        p.send_with_callback(
            Record::new(topic.as_str()).key(format!("{i}")).value("v"),
            move |r| {
                seen.lock().unwrap().push((i, r.is_ok()));
                if i == 7 {
                    panic!("callback panic is contained");
                }
            },
        )
        .unwrap();
    }
    p.flush().unwrap();
    p.close().unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..200).map(|i| (i, true)).collect::<Vec<_>>());
}

// The async send and the delivery future work with no async runtime at all.
#[test]
fn async_send_works_without_a_runtime() {
    let topic = unique_topic("async");
    create_topic(&topic, 1, &[]);
    let p = producer(&[]);
    let md = block_on(async {
        let f = p
            .send_async(Record::new(topic.as_str()).value("async"))
            .await
            .unwrap();
        f.await
    })
    .unwrap();
    assert_eq!(md.offset, 0);
    block_on(p.flush_async()).unwrap();
    p.close().unwrap();
}

// partitions_for and metrics.
#[test]
fn partitions_for_and_metrics() {
    let topic = unique_topic("parts");
    create_topic(&topic, 4, &[]);
    let p = producer(&[]);
    let parts = p.partitions_for(&topic).unwrap();
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|p| p.leader.is_some()));
    p.send(Record::new(topic.as_str()).value("m"))
        .unwrap()
        .wait()
        .unwrap();
    let m = p.metrics();
    assert_eq!(m.record_send_total, 1);
    assert!(
        m.request_total >= 1 && m.outgoing_byte_total > 0 && m.buffer_total_bytes == 33_554_432
    );
    p.close().unwrap();
}

// Bad input gets typed errors within the configured time, and nothing is left unresolved.
#[test]
fn bad_input_gives_typed_errors() {
    // Invalid configuration names the key.
    let err =
        Producer::from_properties([("bootstrap.servers", "127.0.0.1:1"), ("linger.ms", "soon")])
            .unwrap_err();
    assert!(err.to_string().contains("linger.ms"), "{err}");
    let err = Producer::from_properties([
        ("bootstrap.servers", "127.0.0.1:1"),
        ("enable.idempotence", "true"),
        ("acks", "1"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("acks"), "{err}");
    let err =
        Producer::from_properties([("bootstrap.servers", "127.0.0.1:1"), ("no.such.key", "1")])
            .unwrap_err();
    assert!(err.to_string().contains("no.such.key"), "{err}");

    let p = producer(&[("max.block.ms", "2000")]);
    // Invalid topic name: rejected before any network round trip.
    assert!(matches!(
        p.send(Record::new("bad topic!").value("x"))
            .map_err(Error::from),
        Err(Error::InvalidTopic { .. })
    ));
    // Unknown topic with auto-creation off: not in metadata within max.block.ms.
    let t0 = Instant::now();
    let err = p
        .send(Record::new(unique_topic("missing").as_str()).value("x"))
        .unwrap_err()
        .into_error();
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err}");
    // The broker's answer is the cause, and the message says to create the topic.
    assert!(
        err.to_string().contains("UNKNOWN_TOPIC_OR_PARTITION")
            && err.to_string().contains("create it"),
        "{err}"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    // Partition out of range.
    let topic = unique_topic("range");
    create_topic(&topic, 2, &[]);
    let err = p
        .send(Record::new(topic.as_str()).partition(5).value("x"))
        .unwrap_err()
        .into_error();
    assert!(
        matches!(
            err,
            Error::PartitionOutOfRange {
                partition: 5,
                partitions: 2,
                ..
            }
        ),
        "{err}"
    );
    p.close().unwrap();
}

// The delivery handler gets every record sent with an opaque value exactly once, with its
// metadata; without a handler, send_with_opaque is refused rather than silently dropping
// outcomes.
#[test]
fn delivery_handler_reports_each_opaque_once() {
    struct Collect(Arc<Mutex<Vec<(u64, i32, i64)>>>);
    impl volley::DeliveryHandler for Collect {
        fn on_delivery(
            &self,
            result: Result<&RecordMetadata, &volley::DeliveryError>,
            opaque: u64,
        ) {
            let md = result.expect("delivered");
            self.0
                .lock()
                .unwrap()
                .push((opaque, md.partition, md.offset));
        }
    }
    let topic = unique_topic("opaque");
    create_topic(&topic, 2, &[]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cfg =
        volley::ProducerConfig::from_properties([("bootstrap.servers", bootstrap().as_str())])
            .unwrap();
    let p = Producer::builder(cfg)
        .delivery_handler(Collect(seen.clone()))
        .build()
        .unwrap();
    for i in 0..300u64 {
        p.send_with_opaque(
            Record::new(topic.as_str())
                .partition((i % 2) as i32)
                .value(format!("{i}")),
            i,
        )
        .unwrap();
    }
    p.flush().unwrap();
    p.close().unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 300);
    for (i, (opaque, partition, offset)) in seen.iter().enumerate() {
        assert_eq!(*opaque, i as u64);
        assert_eq!(*partition, (i % 2) as i32);
        assert_eq!(
            *offset,
            (i / 2) as i64,
            "records of a partition in send order"
        );
    }
    let plain = producer(&[]);
    assert!(matches!(
        plain
            .send_with_opaque(Record::new(topic.as_str()).value("x"), 1)
            .map_err(Error::from),
        Err(Error::IllegalState(_))
    ));
    plain.close().unwrap();
}
