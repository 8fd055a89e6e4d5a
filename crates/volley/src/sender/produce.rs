//! The Produce request, encoded by hand: it is the one request on the hot path. Every field but
//! the record batches is written into one small buffer; each batch is referenced where it lies
//! (its closed wire bytes, shared with the batch), never copied, and the driver writes the
//! pieces with vectored writes (`protocol/request_frame.rs`).
//!
//! Layout (v3–v12): request header (v1, or v2 with tagged fields from v9), then
//! `transactional_id: nullable string, acks: i16, timeout_ms: i32,
//!  topic_data: [name: string, partition_data: [index: i32, records: nullable bytes]]`,
//! where v9+ uses compact (unsigned-varint, length + 1) strings, arrays and bytes, and ends each
//! structure with an empty tagged-field section.

use bytes::{BufMut, BytesMut};

use crate::protocol::request_frame::{FrameBuilder, RequestFrame, SharedBytes};

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn put_string(out: &mut BytesMut, s: &str, flexible: bool) {
    if flexible {
        put_uvarint(out, s.len() as u32 + 1);
    } else {
        out.put_i16(s.len() as i16);
    }
    out.put_slice(s.as_bytes());
}

fn put_nullable_string(out: &mut BytesMut, s: Option<&str>, flexible: bool) {
    match s {
        Some(s) => put_string(out, s, flexible),
        None if flexible => put_uvarint(out, 0),
        None => out.put_i16(-1),
    }
}

fn put_array_len(out: &mut BytesMut, n: usize, flexible: bool) {
    if flexible {
        put_uvarint(out, n as u32 + 1);
    } else {
        out.put_i32(n as i32);
    }
}

/// One topic's part of a request: its name and `(partition, batch bytes)` pairs.
pub(crate) struct TopicData<'a> {
    pub name: &'a str,
    pub partitions: Vec<(i32, SharedBytes)>,
}

/// Encodes a complete Produce request frame (size prefix included). `scratch` holds the inline
/// bytes while the frame is built (kept by the caller between requests; left empty); the
/// batches are referenced, not copied.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_produce(
    scratch: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    transactional_id: Option<&str>,
    acks: i16,
    timeout_ms: i32,
    topics: &[TopicData<'_>],
) -> RequestFrame {
    let flexible = version >= 9;
    let inline: usize = topics
        .iter()
        .map(|t| t.name.len() + 16 + t.partitions.len() * 16)
        .sum();
    let pieces = topics.iter().map(|t| t.partitions.len()).sum();
    let mut frame = FrameBuilder::new(
        scratch,
        inline + client_id.len() + transactional_id.map_or(0, str::len) + 64,
        pieces,
    );
    let out = frame.inline();
    // Request header v1/v2.
    out.put_i16(0); // api key: Produce
    out.put_i16(version);
    out.put_i32(correlation_id);
    out.put_i16(client_id.len() as i16);
    out.put_slice(client_id.as_bytes());
    if flexible {
        put_uvarint(out, 0);
    }
    // Body.
    put_nullable_string(out, transactional_id, flexible);
    out.put_i16(acks);
    out.put_i32(timeout_ms);
    put_array_len(out, topics.len(), flexible);
    for t in topics {
        let out = frame.inline();
        put_string(out, t.name, flexible);
        put_array_len(out, t.partitions.len(), flexible);
        for (partition, bytes) in &t.partitions {
            let len = (**bytes).as_ref().len();
            let out = frame.inline();
            out.put_i32(*partition);
            if flexible {
                put_uvarint(out, len as u32 + 1);
            } else {
                out.put_i32(len as i32);
            }
            frame.reference(bytes.clone());
            if flexible {
                put_uvarint(frame.inline(), 0);
            }
        }
        if flexible {
            put_uvarint(frame.inline(), 0);
        }
    }
    if flexible {
        put_uvarint(frame.inline(), 0);
    }
    frame.finish()
}

/// Bytes a request adds around its batches, at most (for the `max.request.size` check).
pub(crate) fn overhead_upper_bound(client_id: &str, transactional_id: Option<&str>) -> usize {
    64 + client_id.len() + transactional_id.map_or(0, str::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ProduceRequest, RequestHeader};
    use kafka_protocol::protocol::{Decodable, HeaderVersion};
    use std::sync::Arc;

    fn decode(frame: &[u8], version: i16) -> (RequestHeader, ProduceRequest) {
        let mut b = bytes::Bytes::copy_from_slice(&frame[4..]);
        let h = RequestHeader::decode(&mut b, ProduceRequest::header_version(version)).unwrap();
        let r = ProduceRequest::decode(&mut b, version).unwrap();
        assert!(b.is_empty(), "trailing bytes at v{version}");
        (h, r)
    }

    // Failure: a referenced batch put in the wrong place, its length field or the size prefix
    // off, or a tagged-field section missing at a flexible version. Invariant: the frame's
    // bytes decode with Kafka's generated decoder at every version, and no batch byte is
    // inline.
    #[test]
    fn hand_encoding_matches_the_generated_decoder_at_every_version() {
        let b1: SharedBytes = Arc::new(vec![1u8, 2, 3]);
        let b2: SharedBytes = Arc::new(vec![9u8; 300]);
        let topics = [
            TopicData {
                name: "alpha",
                partitions: vec![(0, b1.clone()), (5, b2.clone())],
            },
            TopicData {
                name: "beta",
                partitions: vec![(2, b1.clone())],
            },
        ];
        let mut scratch = BytesMut::new();
        for version in 3..=12 {
            for txn in [None, Some("tx-1")] {
                let frame = encode_produce(
                    &mut scratch,
                    version,
                    77,
                    "client",
                    txn,
                    -1,
                    30_000,
                    &topics,
                );
                assert!(scratch.is_empty());
                assert_eq!(frame.referenced_pieces(), 3);
                let inline: usize = frame.pieces().step_by(2).map(<[u8]>::len).sum();
                assert_eq!(inline + 306, frame.len(), "the batches are not copied");
                let out = frame.to_bytes();
                assert_eq!(out.len(), frame.len());
                assert_eq!(
                    i32::from_be_bytes(out[..4].try_into().unwrap()) as usize,
                    out.len() - 4
                );
                let (h, r) = decode(&out, version);
                assert_eq!(h.request_api_key, 0);
                assert_eq!(h.request_api_version, version);
                assert_eq!(h.correlation_id, 77);
                assert_eq!(h.client_id.as_deref(), Some("client"));
                assert_eq!(r.transactional_id.as_ref().map(|t| t.0.as_str()), txn);
                assert_eq!(r.acks, -1);
                assert_eq!(r.timeout_ms, 30_000);
                assert_eq!(r.topic_data.len(), 2);
                assert_eq!(r.topic_data[0].name.0.as_str(), "alpha");
                let p = &r.topic_data[0].partition_data;
                assert_eq!(p[0].records.as_deref(), Some(&[1u8, 2, 3][..]));
                assert_eq!(p[1].index, 5);
                assert_eq!(p[1].records.as_deref(), Some(&[9u8; 300][..]));
                assert_eq!(r.topic_data[1].partition_data[0].index, 2);
                assert_eq!(
                    r.topic_data[1].partition_data[0].records.as_deref(),
                    Some(&[1u8, 2, 3][..])
                );
            }
        }
    }
}
