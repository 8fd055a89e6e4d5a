//! Testing code that produces, against the in-process fake cluster: start it, produce with
//! Volley, read back what the brokers stored, inject an error the producer retries.
//!
//! `cargo run -p volley-kafka --example fake_cluster --features fake-cluster`

use volley::fake::{Api, FakeCluster};
use volley::{KafkaCode, Producer, Record};

/// The application code under test: writes one order event.
fn publish_order(producer: &Producer, id: u32) -> volley::Result<i64> {
    let md = producer
        .send(
            Record::new("orders")
                .key(format!("order-{id}"))
                .value("created"),
        )?
        .wait()?;
    Ok(md.offset)
}

fn main() -> volley::Result<()> {
    // Two brokers on ephemeral loopback ports; "orders" with 2 partitions.
    let cluster = FakeCluster::builder()
        .brokers(2)
        .topic("orders", 2)
        .start()?;
    let producer = Producer::from_properties([
        ("bootstrap.servers", cluster.bootstrap_servers().as_str()),
        ("retry.backoff.ms", "10"),
    ])?;

    publish_order(&producer, 1)?;

    // The next produce request is refused with a retriable error: the producer retries it,
    // and the idempotent broker stores the record once.
    cluster.fail_next(Api::Produce, 1, KafkaCode::NOT_LEADER_OR_FOLLOWER);
    publish_order(&producer, 2)?;
    producer.close()?;

    let stored: Vec<_> = (0..2).flat_map(|p| cluster.records("orders", p)).collect();
    assert_eq!(stored.len(), 2);
    for r in &stored {
        let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
        println!(
            "{key} at offset {} (producer id {})",
            r.offset, r.producer_id
        );
    }
    assert!(cluster.request_count(Api::Produce) >= 3);
    println!("ok");
    Ok(())
}
