//! Testing code that produces, without Kafka: write it against [`ProducerApi`], give it the
//! real [`Producer`] in `main` and a [`MockProducer`] in its tests. The one line that differs
//! is the one that builds the producer.
//!
//! Run against a broker: `cargo run -p volley-kafka --example testing_with_mock -- 127.0.0.1:9092`
//! (the topics `orders` and `incoming-orders` must exist: offsets of a topic the broker does
//! not know are retried until `max.block.ms`; the transaction's offsets go to group
//! `billing`). Run the tests, which need no broker:
//! `cargo test -p volley-kafka --example testing_with_mock`.

use std::sync::Arc;

use volley::{
    ConsumerGroupMetadata, OffsetAndMetadata, Producer, ProducerApi, Record, Result, TxnOffsets,
};

/// An order event, as the application sees it.
struct Order {
    id: String,
    amount_cents: u64,
}

/// Application code: publishes orders keyed by id (so one order's events stay in one
/// partition) and returns each one's offset. It knows only the trait.
fn publish_orders(producer: &impl ProducerApi, orders: &[Order]) -> Result<Vec<i64>> {
    let futures = orders
        .iter()
        .map(|o| {
            let value = format!("{{\"amount_cents\":{}}}", o.amount_cents);
            producer.send(
                Record::new("orders")
                    .key(o.id.as_str())
                    .value(value.into_bytes()),
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    futures.into_iter().map(|f| Ok(f.wait()?.offset)).collect()
}

/// Application code, consume-transform-produce shape: writes a batch of orders and the
/// consumer position they came from in one transaction, aborting it on any error. Takes a
/// shared trait object, as a service holding its producer in an `Arc` would.
fn process_batch(
    producer: &Arc<dyn ProducerApi>,
    orders: &[Order],
    consumed: (&str, i32, i64),
) -> Result<()> {
    producer.begin_transaction()?;
    let result = publish_orders(producer, orders).and_then(|_| {
        let (topic, partition, next_offset) = consumed;
        let offsets = TxnOffsets::from([(
            (topic.to_string(), partition),
            OffsetAndMetadata::new(next_offset),
        )]);
        producer.send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new("billing"))
    });
    match result {
        Ok(()) => producer.commit_transaction(),
        Err(e) => {
            producer.abort_transaction()?;
            Err(e)
        }
    }
}

fn main() -> Result<()> {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".to_string());
    // The real producer: the only line that differs from the tests below.
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str())])?;
    let orders = [Order {
        id: "o-1".into(),
        amount_cents: 1250,
    }];
    let offsets = publish_orders(&producer, &orders)?;
    println!("published at offsets {offsets:?}");
    producer.close()?;

    // A transactional producer, shared as a trait object.
    let producer: Arc<dyn ProducerApi> = Arc::new(Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("transactional.id", "testing-with-mock-example"),
    ])?);
    producer.init_transactions()?;
    process_batch(&producer, &orders, ("incoming-orders", 0, 1))?;
    println!("committed a batch with its consumer offset");
    producer.close()
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley::mock::{MockCall, MockProducer};
    use volley::partitioner::partition_for_key;
    use volley::Error;

    fn orders() -> Vec<Order> {
        ["o-1", "o-2", "o-1"]
            .iter()
            .map(|id| Order {
                id: id.to_string(),
                amount_cents: 100,
            })
            .collect()
    }

    #[test]
    fn orders_are_keyed_by_id() {
        // The mock: the only line that differs from `main`.
        let producer = MockProducer::builder().topic("orders", 6).build().unwrap();
        let offsets = publish_orders(&producer, &orders()).unwrap();
        let history = producer.history();
        assert_eq!(history.len(), 3);
        for r in &history {
            // The partition the real producer would choose for the key.
            assert_eq!(r.partition, partition_for_key(r.key.as_deref().unwrap(), 6));
            assert_eq!(r.value_str(), Some("{\"amount_cents\":100}"));
        }
        assert_eq!(history[0].partition, history[2].partition);
        assert_eq!(
            offsets[2],
            offsets[0] + 1,
            "the same partition's next offset"
        );
    }

    #[test]
    fn a_missing_topic_is_reported() {
        let producer = MockProducer::builder().build().unwrap();
        let err = publish_orders(&producer, &orders()).unwrap_err();
        assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    }

    #[test]
    fn a_failed_delivery_is_reported() {
        let producer = MockProducer::builder()
            .topic("orders", 1)
            .auto_complete(false)
            .build()
            .unwrap();
        let mock = producer.clone();
        let app = std::thread::spawn(move || publish_orders(&producer, &orders()));
        // Complete the sends as the application waits for them: the second one fails.
        let mut completed = 0;
        while completed < 3 {
            let done = if completed == 1 {
                mock.error_next(Error::IllegalState("broker down".into()))
            } else {
                mock.complete_next()
            };
            if done {
                completed += 1;
            } else {
                std::thread::yield_now();
            }
        }
        assert!(matches!(app.join().unwrap(), Err(Error::IllegalState(_))));
    }

    #[test]
    fn a_batch_commits_its_records_and_offsets() {
        let mock = MockProducer::builder().topic("orders", 3).build().unwrap();
        let producer: Arc<dyn ProducerApi> = Arc::new(mock.clone());
        producer.init_transactions().unwrap();
        process_batch(&producer, &orders(), ("incoming", 0, 42)).unwrap();
        assert!(mock.transaction_committed());
        assert_eq!(mock.history().len(), 3);
        let offsets = mock.consumer_group_offsets_history();
        assert_eq!(
            offsets[0]["billing"][&("incoming".to_string(), 0)].offset,
            42
        );
    }

    #[test]
    fn a_failed_batch_is_aborted() {
        let mock = MockProducer::builder().topic("orders", 3).build().unwrap();
        let producer: Arc<dyn ProducerApi> = Arc::new(mock.clone());
        producer.init_transactions().unwrap();
        mock.set_error(
            MockCall::SendOffsetsToTransaction,
            Some(Error::IllegalState("coordinator gone".into())),
        );
        assert!(process_batch(&producer, &orders(), ("incoming", 0, 42)).is_err());
        assert!(mock.transaction_aborted());
        assert!(mock.history().is_empty(), "an aborted batch left nothing");
        assert!(mock.consumer_group_offsets_history().is_empty());
    }
}
