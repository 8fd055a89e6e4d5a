//! A producer used from plain threads: send, wait for one acknowledgement, send with a
//! callback, flush, close.
//!
//! Runs against a local broker: `VOLLEY_BOOTSTRAP` (default `127.0.0.1:9092`), topic
//! `volley-example-sync` (the test bed of `scripts/kafka` creates no topic by itself:
//! `scripts/kafka create-topic volley-example-sync` first).
//!
//! ```sh
//! cargo run -p volley-kafka --example sync_producer
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley::{Header, Producer, ProducerConfig, Record};

fn main() -> volley::Result<()> {
    let bootstrap =
        std::env::var("VOLLEY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_string());
    // Java's property names and defaults (acks=all, idempotence on).
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "10"),
        ("compression.type", "lz4"),
    ])?;
    let producer = Producer::new(config)?;
    let topic = "volley-example-sync";

    // One record, waited for: `wait` blocks this thread until the broker answers.
    let metadata = producer
        .send(
            Record::new(topic)
                .key("customer-42")
                .value(r#"{"total": 12.5}"#)
                .header(Header::new("source", "sync-example")),
        )?
        .wait()?;
    println!(
        "first record stored at {}-{}@{}",
        metadata.topic, metadata.partition, metadata.offset
    );

    // Many records from several threads sharing one producer (clones share everything),
    // each outcome counted by a callback run on the producer's I/O thread.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let producer = producer.clone();
            let acknowledged = Arc::clone(&acknowledged);
            scope.spawn(move || -> volley::Result<()> {
                for i in 0..250 {
                    let acknowledged = Arc::clone(&acknowledged);
                    producer.send_with_callback(
                        Record::new(topic)
                            .key(format!("thread-{t}"))
                            .value(format!("{i}")),
                        move |result| match result {
                            Ok(_) => {
                                acknowledged.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => eprintln!("delivery failed: {e}"),
                        },
                    )?;
                }
                Ok(())
            });
        }
    });

    // Send what is queued and wait for every answer, then stop the I/O thread.
    producer.flush()?;
    println!(
        "{} of 1000 records acknowledged",
        acknowledged.load(Ordering::Relaxed)
    );
    producer.close_timeout(Duration::from_secs(30))
}
