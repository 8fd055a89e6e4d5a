//! A dead-letter topic: records that fail are sent again to `<topic>.DLT`, with a header saying
//! why, from the record their error hands back (`DeliveryError::into_record`).
//!
//! ```sh
//! cargo run -p volley-kafka --example dead_letter -- 127.0.0.1:9092 orders
//! ```
//!
//! Needs a broker (and, with `auto.create.topics.enable=false`, the two topics). To see records
//! fail, create `orders` with `--config max.message.bytes=1000`: the large record below then
//! fails with MESSAGE_TOO_LARGE and lands in `orders.DLT`.

use volley::{DeliveryError, DeliveryFuture, Header, Producer, ProducerConfig, Record};

fn main() -> volley::Result<()> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());
    let dlt = format!("{topic}.DLT");
    let producer = Producer::new(ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("delivery.timeout.ms", "60000"),
    ])?)?;

    let large = "x".repeat(5000);
    let values = ["small", large.as_str(), "another small one"];
    let mut pending: Vec<DeliveryFuture> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let record = Record::new(topic.as_str())
            .key(format!("order-{i}"))
            .value(*value);
        match producer.send(record) {
            Ok(future) => pending.push(future),
            // Refused before it was queued (too large for max.request.size, unknown topic...):
            // the error hands the record back as given.
            Err(e) => dead_letter(&producer, &dlt, e)?,
        }
    }
    for future in pending {
        match future.wait() {
            Ok(md) => println!("stored at {}-{}@{}", md.topic, md.partition, md.offset),
            // Failed after it was queued: the record is read back from its batch.
            Err(e) => dead_letter(&producer, &dlt, e)?,
        }
    }
    producer.close()
}

/// Sends the failed record to the dead-letter topic, with the error as a header.
fn dead_letter(producer: &Producer, dlt: &str, e: DeliveryError) -> volley::Result<()> {
    let reason = e.to_string();
    let Some(mut record) = e.into_record() else {
        // Only when the record's bytes were gone (see `DeliveryError::record`).
        eprintln!("failed, and no record to dead-letter: {reason}");
        return Ok(());
    };
    eprintln!("dead-lettering a record of {}: {reason}", record.topic);
    record.topic = dlt.to_string().into();
    record.partition = None;
    record.headers.push(Header::new("dlt.reason", reason));
    let md = producer.send(record)?.wait()?;
    println!(
        "dead-lettered at {}-{}@{}",
        md.topic, md.partition, md.offset
    );
    Ok(())
}
