//! Consume-transform-produce with transactions: each batch of output records and the input
//! position they came from commit together, or not at all.
//!
//! Volley is a producer only, so the consumed records here are a stand-in (`poll_input`, a
//! fixed batch per call with made-up offsets of partition 0 of topic
//! `volley-example-orders`); with a real consumer (say rdkafka's or Java's), its polled
//! records and its group metadata take their place, and it reads with
//! `isolation.level=read_committed`. The offsets are committed for the consumer group
//! `volley-example-enricher` through the transaction, as Java's
//! `KafkaProducer.sendOffsetsToTransaction` does.
//!
//! Runs against a local broker: `VOLLEY_BOOTSTRAP` (default `127.0.0.1:9092`), output topic
//! `volley-example-enriched`. Both topics must exist (`scripts/kafka create-topic NAME` on the
//! test bed): the broker refuses offsets of an unknown topic as retriable, so
//! `send_offsets_to_transaction` would wait out `max.block.ms` and fail with a timeout.
//!
//! ```sh
//! cargo run -p volley-kafka --example transactional
//! ```

use volley::{ConsumerGroupMetadata, Error, OffsetAndMetadata, Producer, Record};

/// A consumed record: what a consumer's poll would return.
struct Consumed {
    topic: &'static str,
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

/// Stand-in for a consumer's poll: the `batch`-th batch of ten records of one partition.
fn poll_input(batch: i64) -> Vec<Consumed> {
    (0..10)
        .map(|i| Consumed {
            topic: "volley-example-orders",
            partition: 0,
            offset: batch * 10 + i,
            key: format!("order-{}", batch * 10 + i),
            value: format!("{{\"amount\": {}}}", 10 + i),
        })
        .collect()
}

fn main() -> volley::Result<()> {
    let bootstrap =
        std::env::var("VOLLEY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_string());
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        // One transactional.id per input partition (or per instance with KIP-447 fencing).
        ("transactional.id", "volley-example-enricher-0"),
    ])?;
    // Fences earlier producers with this transactional.id and finishes their transaction.
    producer.init_transactions()?;
    let group = ConsumerGroupMetadata::new("volley-example-enricher");

    for batch in 0..5 {
        let input = poll_input(batch);
        producer.begin_transaction()?;
        for record in &input {
            let enriched = format!(
                "{{\"order\": {:?}, \"source\": {}}}",
                record.key, record.value
            );
            // The commit fails if any record of the transaction fails, so the delivery
            // futures can go (dropping one cancels nothing).
            drop(
                producer.send(
                    Record::new("volley-example-enriched")
                        .key(record.key.as_str())
                        .value(enriched),
                )?,
            );
        }
        // The position after the last consumed record (Kafka's convention: the next offset
        // to read), per partition, committed with the output.
        let last = input.last().expect("a batch is never empty");
        let next = OffsetAndMetadata::new(last.offset + 1);
        producer.send_offsets_to_transaction([((last.topic, last.partition), next)], &group)?;
        match producer.commit_transaction() {
            Ok(()) => println!("batch {batch}: {} records committed", input.len()),
            // A record of the transaction failed: nothing of it becomes visible, and the
            // consumer would rewind to its last committed position and read the batch again.
            Err(Error::Abortable(cause)) => {
                eprintln!("batch {batch} failed ({cause}); aborting");
                producer.abort_transaction()?;
            }
            // Fatal (e.g. fenced by a newer instance with the same transactional.id): stop.
            Err(e) => return Err(e),
        }
    }
    producer.close()
}
