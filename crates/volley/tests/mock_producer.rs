//! The mock producer through the public API, as a user's test suite sees it: behind
//! `Arc<dyn ProducerApi>`, shared between threads, next to the real producer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use volley::mock::MockProducer;
use volley::{Producer, ProducerApi, Record};

/// The code under test holds whichever producer it is given.
struct Service {
    producer: Arc<dyn ProducerApi>,
}

impl Service {
    fn record_event(&self, user: u32, event: &str) -> volley::Result<(i32, i64)> {
        let md = self
            .producer
            .send(Record::new("events").key(user.to_string()).value(event))?
            .wait()?;
        Ok((md.partition, md.offset))
    }
}

#[test]
fn concurrent_sends_get_contiguous_offsets_per_partition() {
    let mock = MockProducer::builder().topic("events", 4).build().unwrap();
    let service = Arc::new(Service {
        producer: Arc::new(mock.clone()),
    });
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let service = service.clone();
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| service.record_event(t * 1000 + i, "click").unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for t in threads {
        for (p, o) in t.join().unwrap() {
            by_partition.entry(p).or_default().push(o);
        }
    }
    let mut total = 0;
    for (p, mut offsets) in by_partition {
        offsets.sort_unstable();
        let n = offsets.len() as i64;
        assert_eq!(offsets, (0..n).collect::<Vec<_>>(), "partition {p}");
        total += n;
    }
    assert_eq!(total, 1000);
    let history = mock.history();
    assert_eq!(history.len(), 1000);
    for r in &history {
        let key = r.key.as_deref().unwrap();
        assert_eq!(r.partition, volley::partitioner::partition_for_key(key, 4));
    }
}

#[test]
fn the_real_producer_and_the_mock_are_interchangeable() {
    // No connection is made until a send needs one: this builds without a broker.
    let real = Producer::from_properties([("bootstrap.servers", "127.0.0.1:1")]).unwrap();
    let mock = MockProducer::builder().topic("events", 1).build().unwrap();
    let producers: Vec<Arc<dyn ProducerApi>> = vec![Arc::new(real), Arc::new(mock.clone())];
    for p in &producers {
        p.close_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(
                p.send(Record::new("events").value("late"))
                    .map_err(|e| e.into_error()),
                Err(volley::Error::Closed(_))
            ),
            "a send after close fails with Closed on both"
        );
    }
    assert!(mock.closed());
}
