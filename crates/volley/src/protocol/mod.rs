//! The Kafka wire protocol: framing, record batches (v2) and compression codecs.

pub mod compression;
pub mod decode;
pub mod frame;
pub mod record_batch;
pub mod request_frame;
pub mod varint;
