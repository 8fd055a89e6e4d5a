//! A producer in tokio tasks: `send_async` waits for metadata and buffer space without
//! blocking the executor, and the returned `DeliveryFuture` is awaited like any future.
//!
//! Runs against a local broker: `VOLLEY_BOOTSTRAP` (default `127.0.0.1:9092`), topic
//! `volley-example-async` (the test bed of `scripts/kafka` creates no topic by itself:
//! `scripts/kafka create-topic volley-example-async` first).
//!
//! ```sh
//! cargo run -p volley-kafka --example async_producer
//! ```

use volley::{Producer, Record, RecordMetadata};

#[tokio::main]
async fn main() -> volley::Result<()> {
    let bootstrap =
        std::env::var("VOLLEY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_string());
    // Building a producer only starts its I/O thread; it does not block on the network.
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "5"),
    ])?;
    let topic = "volley-example-async";

    // Ten tasks, each sending 100 records and awaiting their acknowledgements together.
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..10 {
        let producer = producer.clone();
        tasks.spawn(async move {
            let mut deliveries = Vec::with_capacity(100);
            for i in 0..100 {
                let record = Record::new(topic)
                    .key(format!("task-{task}"))
                    .value(format!("record {i}"));
                // Queued once this returns; the future resolves when the broker answers.
                deliveries.push(producer.send_async(record).await?);
            }
            let mut last: Option<RecordMetadata> = None;
            for delivery in deliveries {
                last = Some(delivery.await?);
            }
            Ok::<_, volley::Error>(last)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let last = joined.expect("the task does not panic")?;
        if let Some(md) = last {
            println!(
                "task done: last record at {}-{}@{}",
                md.topic, md.partition, md.offset
            );
        }
    }

    // `flush_async` waits for everything queued; `close` blocks, so it runs off the executor.
    producer.flush_async().await?;
    tokio::task::spawn_blocking(move || producer.close())
        .await
        .expect("close does not panic")
}
