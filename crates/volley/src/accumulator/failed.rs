//! The records of a failed batch, read back from the batch's own bytes when it fails, so that
//! each record's error can hand it back ([`crate::DeliveryError`]). Nothing is kept per record
//! while a batch may still succeed; when it fails, its (uncompressed) records section is kept,
//! indexed, while its futures may ask for their records, and each record is decoded when asked.

use std::borrow::Cow;
use std::sync::Arc;

use crate::protocol::record_batch::{DecodedRecord, RecordsSection};
use crate::record::{Header, Payload, Record};

use super::batch::ProducerBatch;

/// The records of one failed batch.
#[derive(Debug)]
pub(crate) enum FailedRecords {
    /// A batch's records section, decoded one record at a time when asked.
    Batch {
        section: RecordsSection,
        topic: Arc<str>,
        partition: i32,
    },
    /// One record kept whole: the one-record batch of a `MockProducer` send.
    One(Record<'static>),
}

impl FailedRecords {
    /// The records of `b`, from its open builder or its closed (maybe compressed) wire bytes;
    /// `None` when it has neither (a batch whose close failed) or they do not read (a bug:
    /// logged, never a panic).
    pub(crate) fn of(b: &ProducerBatch) -> Option<FailedRecords> {
        let section = match (&b.builder, &b.closed) {
            (Some(builder), _) => RecordsSection::of_builder(builder),
            (None, Some(closed)) => RecordsSection::of_batch(closed.as_bytes()),
            (None, None) => return None,
        };
        match section {
            Ok(section) => Some(FailedRecords::Batch {
                section,
                topic: b.topic.clone(),
                partition: b.partition,
            }),
            Err(e) => {
                tracing::error!(topic = %b.topic, partition = b.partition, error = %e,
                    "cannot read back the records of a failed batch");
                None
            }
        }
    }

    /// Record `index` of the batch as the [`Record`] to send again: its topic, partition and
    /// timestamp set. `None` if there is no such record or it does not decode (a bug).
    pub(crate) fn record(&self, index: u32) -> Option<Record<'static>> {
        match self {
            FailedRecords::Batch {
                section,
                topic,
                partition,
            } => {
                let r = section.record(index as usize)?;
                Some(owned_record(topic, *partition, r))
            }
            FailedRecords::One(r) => (index == 0).then(|| r.clone()),
        }
    }
}

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
