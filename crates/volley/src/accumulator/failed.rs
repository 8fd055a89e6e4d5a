//! The records of a failed batch, read back from the batch's own bytes when it fails, so that
//! each record's error can hand it back ([`crate::DeliveryError`]). Nothing is kept per record
//! while a batch succeeds; this runs once per failed batch.

use std::borrow::Cow;

use crate::protocol::record_batch::{self, DecodedRecord};
use crate::record::{Header, Payload, Record};

use super::batch::ProducerBatch;

/// The failed records of one batch, by index in the batch; a record handed to its callback or
/// delivery handler is taken out, the others wait for their futures.
pub(crate) type FailedRecords = Vec<Option<Record<'static>>>;

/// The records of `b`, decoded from its open builder or its closed (maybe compressed) wire
/// bytes; `None` when it has neither (a batch whose close failed) or they do not decode (a
/// bug: logged, never a panic).
pub(crate) fn records_of(b: &ProducerBatch) -> Option<FailedRecords> {
    let decoded = match (&b.builder, &b.closed) {
        (Some(builder), _) => builder.decode_records().map_err(|e| e.to_string()),
        (None, Some(closed)) => match record_batch::decode_batches(closed.as_bytes()) {
            Ok(mut v) if v.len() == 1 => Ok(v.pop().map(|batch| batch.records).unwrap_or_default()),
            Ok(v) => Err(format!("{} batches where one was written", v.len())),
            Err(e) => Err(e.to_string()),
        },
        (None, None) => return None,
    };
    match decoded {
        Ok(records) => Some(
            records
                .into_iter()
                .map(|r| Some(owned_record(&b.topic, b.partition, r)))
                .collect(),
        ),
        Err(e) => {
            tracing::error!(topic = %b.topic, partition = b.partition, error = %e,
                "cannot read back the records of a failed batch");
            None
        }
    }
}

/// A decoded record as the [`Record`] to send again: its topic, partition and timestamp set.
fn owned_record(topic: &str, partition: i32, r: DecodedRecord) -> Record<'static> {
    Record {
        topic: Cow::Owned(topic.to_string()),
        partition: Some(partition),
        key: r.key.map(|k| Payload(Cow::Owned(k))),
        value: r.value.map(|v| Payload(Cow::Owned(v))),
        headers: r
            .headers
            .into_iter()
            .map(|h| Header {
                key: Cow::Owned(h.key),
                value: h.value.map(|v| Payload(Cow::Owned(v))),
            })
            .collect(),
        timestamp: Some(r.timestamp),
    }
}
