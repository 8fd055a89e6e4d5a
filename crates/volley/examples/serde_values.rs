//! Typed keys and values: a `TypedProducer` with a string key serializer and a serde JSON
//! value serializer (cargo feature `json`).
//!
//! Runs against a local broker: `VOLLEY_BOOTSTRAP` (default `127.0.0.1:9092`), topic
//! `volley-example-json` (the test bed of `scripts/kafka` creates no topic by itself:
//! `scripts/kafka create-topic volley-example-json` first).
//!
//! ```sh
//! cargo run -p volley-kafka --features json --example serde_values
//! ```

use serde::Serialize;
use volley::serializer::{JsonSerializer, StringSerializer, TypedProducer, TypedRecord};
use volley::Producer;

/// The value type: any `serde::Serialize` works.
#[derive(Serialize)]
struct Order {
    id: u64,
    customer: String,
    total_cents: i64,
    items: Vec<String>,
}

fn main() -> volley::Result<()> {
    let bootstrap =
        std::env::var("VOLLEY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_string());
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str())])?;
    // Keys are `str` (UTF-8 bytes, as Java's StringSerializer), values `Order` as JSON.
    let orders: TypedProducer<str, Order, _, _> =
        TypedProducer::new(producer.clone(), StringSerializer, JsonSerializer);

    let order = Order {
        id: 7,
        customer: "customer-42".into(),
        total_cents: 1250,
        items: vec!["tea".into(), "scones".into()],
    };
    let key = order.customer.clone();
    // A serializer error is returned by `send` itself (`Error::Serialization`), before
    // anything is queued.
    let metadata = orders
        .send(
            TypedRecord::new("volley-example-json")
                .key(key.as_str())
                .value(&order),
        )?
        .wait()?;
    println!(
        "order {} stored at {}-{}@{} ({} value bytes)",
        order.id,
        metadata.topic,
        metadata.partition,
        metadata.offset,
        metadata.serialized_value_size
    );
    producer.close()
}
