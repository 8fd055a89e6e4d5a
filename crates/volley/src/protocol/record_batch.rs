//! Kafka record batches, format v2 (magic 2): building, closing, rewriting the
//! producer state of, and decoding.
//!
//! A batch on the wire is a 61-byte header followed by the records section:
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            (i64, 0 from producers; the broker assigns it)
//!      8     4  batchLength           (i32, bytes after this field)
//!     12     4  partitionLeaderEpoch  (i32)
//!     16     1  magic                 (i8, 2)
//!     17     4  crc                   (u32, CRC-32C of bytes 21..end)
//!     21     2  attributes            (i16, see ATTR_*)
//!     23     4  lastOffsetDelta       (i32)
//!     27     8  baseTimestamp         (i64)
//!     35     8  maxTimestamp          (i64)
//!     43     8  producerId            (i64)
//!     51     2  producerEpoch         (i16)
//!     53     4  baseSequence          (i32)
//!     57     4  recordCount           (i32)
//!     61     …  records (compressed as a whole when the codec is not none)
//! ```
//!
//! All integers are big-endian. Each record is
//! `length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! keyLength varint, key, valueLength varint, value, headerCount varint,
//! (headerKeyLength varint, headerKey, headerValueLength varint, headerValue)*`,
//! with `-1` lengths for null keys and values.
//!
//! [`BatchBuilder`] writes every record exactly once, straight into the pooled
//! batch buffer, with one capacity check per record and no allocation beyond
//! buffer growth. [`decode_batches`] is meant for untrusted bytes: it never
//! panics and never allocates more than the input (or the decompression limit)
//! justifies.

use super::compression::{decompress_into, Compression, CompressionCodec, CompressionError};
use super::varint::{
    read_varint, read_varlong, varint_size, varlong_size, zigzag32, zigzag64, SpareWriter,
    VarintError, MAX_VARINT_LEN, MAX_VARLONG_LEN,
};

/// The only record batch format version this module reads and writes.
pub const MAGIC: i8 = 2;
/// Byte offset of `baseOffset` (i64).
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Byte offset of `batchLength` (i32).
pub const BATCH_LENGTH_OFFSET: usize = 8;
/// Byte offset of `partitionLeaderEpoch` (i32).
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Byte offset of `magic` (i8).
pub const MAGIC_OFFSET: usize = 16;
/// Byte offset of `crc` (u32).
pub const CRC_OFFSET: usize = 17;
/// Byte offset of `attributes` (i16); the CRC covers everything from here on.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Byte offset of `lastOffsetDelta` (i32).
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Byte offset of `baseTimestamp` (i64).
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Byte offset of `maxTimestamp` (i64).
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Byte offset of `producerId` (i64).
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Byte offset of `producerEpoch` (i16).
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Byte offset of `baseSequence` (i32).
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Byte offset of `recordCount` (i32).
pub const RECORD_COUNT_OFFSET: usize = 57;
/// Byte offset of the records section.
pub const RECORDS_OFFSET: usize = 61;
/// Size of the batch header: 61 bytes.
pub const RECORD_BATCH_OVERHEAD: usize = RECORDS_OFFSET;
/// Bytes before the part counted by `batchLength` (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;

/// Attribute bits 0-2: compression codec id.
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamp type (0 = CreateTime, 1 = LogAppendTime).
pub const ATTR_TIMESTAMP_TYPE_MASK: i16 = 0x08;
/// Attribute bit 4: the batch is part of a transaction.
pub const ATTR_TRANSACTIONAL_MASK: i16 = 0x10;
/// Attribute bit 5: the batch holds control records (commit/abort markers).
pub const ATTR_CONTROL_MASK: i16 = 0x20;
/// Attribute bit 6: baseTimestamp is a delete horizon (compacted topics).
pub const ATTR_DELETE_HORIZON_MASK: i16 = 0x40;

/// `producerId` of a batch without an idempotent/transactional producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` of a batch without a producer id.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` of a batch without sequence numbers.
pub const NO_SEQUENCE: i32 = -1;
/// `partitionLeaderEpoch` written by producers.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Default cap on the bytes [`decode_batches`] decompresses per call: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 * 1024 * 1024;

/// The most a record adds to its key, value and headers fields: its length (5), attributes (1),
/// timestampDelta (10) and offsetDelta (5), at their largest (Java's
/// `DefaultRecord.MAX_RECORD_OVERHEAD`).
pub const MAX_RECORD_OVERHEAD: usize = 21;

/// Smallest possible encoded record: length, attributes, timestampDelta,
/// offsetDelta, keyLength, valueLength and headerCount, one byte each.
const MIN_RECORD_SIZE: usize = 7;
/// Smallest possible encoded header: keyLength and valueLength.
const MIN_HEADER_SIZE: usize = 2;

/// A record header in borrowed form, for appending. Kafka header keys are
/// strings; values are nullable bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordHeader<'a> {
    /// Header key.
    pub key: &'a str,
    /// Header value; `None` is encoded as length -1.
    pub value: Option<&'a [u8]>,
}

/// How the timestamps of a batch are to be interpreted (attribute bit 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Timestamps were set by the producer. Producers always write this.
    #[default]
    CreateTime,
    /// The broker overwrote the timestamps with its append time (maxTimestamp).
    LogAppendTime,
}

/// Producer-side header fields written when a batch is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchParams {
    /// Producer id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// Producer epoch, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// Sequence number of the first record, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
    /// Sets the transactional attribute bit.
    pub transactional: bool,
    /// Partition leader epoch, normally [`NO_PARTITION_LEADER_EPOCH`].
    pub partition_leader_epoch: i32,
    /// Timestamp type bit; producers use [`TimestampType::CreateTime`].
    pub timestamp_type: TimestampType,
}

impl BatchParams {
    /// A non-idempotent, non-transactional producer's parameters (all ids -1,
    /// CreateTime).
    pub const NONE: BatchParams = BatchParams {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        transactional: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        timestamp_type: TimestampType::CreateTime,
    };
}

impl Default for BatchParams {
    fn default() -> Self {
        BatchParams::NONE
    }
}

/// Errors from closing a batch or rewriting its header.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// `close` was called on a builder without records; Kafka rejects empty batches.
    #[error("cannot close a record batch with no records")]
    Empty,
    /// The batch (`size` bytes in total) does not fit the i32 `batchLength` field.
    #[error("record batch of {size} bytes exceeds the protocol maximum of 2147483647 bytes")]
    TooLarge { size: usize },
    /// The records section could not be compressed with `codec`.
    #[error("failed to compress record batch with {codec}: {source}")]
    Compression {
        codec: CompressionCodec,
        source: CompressionError,
    },
    /// The bytes given to [`rewrite_producer_state`] are not one v2 batch (`reason`).
    #[error("cannot rewrite record batch: {reason}")]
    InvalidBatch { reason: &'static str },
}

/// Appends records to a pooled buffer in record batch v2 format.
///
/// The first 61 bytes of the buffer are reserved for the header, which
/// [`close`](Self::close) fills in. Offset deltas count from 0; timestamp
/// deltas are relative to the base timestamp given at creation and may be
/// negative.
#[derive(Debug)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    base_timestamp: i64,
    max_timestamp: i64,
    record_count: i32,
}

impl BatchBuilder {
    /// Starts a batch in `buf` (cleared first; its capacity is reused) whose
    /// header `baseTimestamp` is `base_timestamp` (normally the first record's
    /// timestamp).
    pub fn new(mut buf: Vec<u8>, base_timestamp: i64) -> BatchBuilder {
        buf.clear();
        buf.extend_from_slice(&[0u8; RECORD_BATCH_OVERHEAD]);
        BatchBuilder {
            buf,
            base_timestamp,
            max_timestamp: i64::MIN,
            record_count: 0,
        }
    }

    /// An upper bound on the encoded size of a record with the given key and
    /// value lengths (`None` = null) and headers, whatever its timestamp and
    /// offset delta. Use it with [`estimated_size`](Self::estimated_size) to
    /// check a record fits `batch.size` before appending. (The record's
    /// `max.request.size` and `buffer.memory` checks use Java's looser
    /// [`estimate_batch_size_upper_bound`] instead.)
    pub fn record_size_upper_bound(
        key_len: Option<usize>,
        value_len: Option<usize>,
        headers: &[RecordHeader<'_>],
    ) -> usize {
        RecordSizeBounds::of(key_len, value_len, headers).in_batch
    }

    /// The exact number of bytes [`append`](Self::append) would add for this
    /// record right now.
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> usize {
        let body = body_size(
            timestamp.wrapping_sub(self.base_timestamp),
            self.record_count,
            key,
            value,
            headers,
        );
        varint_size(clamp_i32(body)) + body
    }

    /// Appends a record and returns its offset delta (0 for the first record).
    ///
    /// The record is encoded directly into the batch buffer after one
    /// `reserve` of its exact size.
    ///
    /// # Panics
    ///
    /// If the encoded record would exceed `i32::MAX` bytes or the batch already
    /// holds `i32::MAX` records — both impossible within Kafka's request size
    /// limits, which callers check first.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> i32 {
        let offset_delta = self.record_count;
        assert!(
            offset_delta < i32::MAX,
            "record batch holds i32::MAX records"
        );
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let body = body_size(timestamp_delta, offset_delta, key, value, headers);
        let body_len = i32::try_from(body).expect("record larger than i32::MAX bytes");
        let total = varint_size(body_len) + body;

        self.buf.reserve(total);
        let start = self.buf.len();
        let written = {
            let mut w = SpareWriter::new(&mut self.buf.spare_capacity_mut()[..total]);
            w.uvarint(zigzag32(body_len));
            w.byte(0); // record attributes: unused
            w.uvarlong(zigzag64(timestamp_delta));
            w.uvarint(zigzag32(offset_delta));
            w.nullable(key);
            w.nullable(value);
            // Lengths fit i32: each is part of body, checked above.
            w.uvarint(zigzag32(headers.len() as i32));
            for header in headers {
                w.uvarint(zigzag32(header.key.len() as i32));
                w.bytes(header.key.as_bytes());
                w.nullable(header.value);
            }
            w.written()
        };
        debug_assert_eq!(written, total, "record size computation is off");
        // SAFETY: `SpareWriter` initialises its slice sequentially from index 0
        // and `written()` counts those bytes, so the `written` bytes after
        // `start` are initialised; `written <= total <= spare capacity` because
        // every write indexes the `total`-long slice.
        unsafe { self.buf.set_len(start + written) };

        self.record_count += 1;
        if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        offset_delta
    }

    /// Bytes in the batch so far, header included, uncompressed.
    #[inline]
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// Number of records appended.
    #[inline]
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// True if no record has been appended.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The base timestamp given at creation.
    #[inline]
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest timestamp appended, or the base timestamp if the batch is empty.
    #[inline]
    pub fn max_timestamp(&self) -> i64 {
        if self.record_count == 0 {
            self.base_timestamp
        } else {
            self.max_timestamp
        }
    }

    /// Abandons the batch and returns its buffer (for the pool).
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Fills in the header and returns the finished batch. See
    /// [`close_into`](Self::close_into); this variant allocates the output
    /// buffer when compressing.
    pub fn close(
        self,
        params: &BatchParams,
        compression: &Compression,
    ) -> Result<ClosedBatch, BatchError> {
        self.close_into(params, compression, Vec::new())
    }

    /// Fills in the header and returns the finished batch.
    ///
    /// * `Compression::None`: the header is written in place; the builder's
    ///   buffer becomes the wire buffer and `spare` is handed back untouched
    ///   through [`ClosedBatch::into_buffers`] (if it has capacity).
    /// * Otherwise the records section is compressed into `spare` (cleared
    ///   first, so a pooled buffer can be reused), after a copy of the header;
    ///   the uncompressed buffer is handed back for the pool.
    ///
    /// Fails on an empty batch, a batch larger than `i32::MAX` bytes, or an
    /// invalid compression level.
    pub fn close_into(
        self,
        params: &BatchParams,
        compression: &Compression,
        mut spare: Vec<u8>,
    ) -> Result<ClosedBatch, BatchError> {
        if self.record_count == 0 {
            return Err(BatchError::Empty);
        }
        let codec = compression.codec();
        let fields = HeaderFields {
            attributes: attributes(codec, params.timestamp_type, params.transactional),
            last_offset_delta: self.record_count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            record_count: self.record_count,
        };
        let uncompressed_size = self.buf.len();
        let (mut wire, spare) = if codec == CompressionCodec::None {
            (self.buf, Some(spare).filter(|b| b.capacity() > 0))
        } else {
            spare.clear();
            spare.extend_from_slice(&[0u8; RECORD_BATCH_OVERHEAD]);
            compression
                .compress(&self.buf[RECORDS_OFFSET..], &mut spare)
                .map_err(|source| BatchError::Compression { codec, source })?;
            (spare, Some(self.buf))
        };
        write_header(&mut wire, params, &fields)?;
        Ok(ClosedBatch {
            wire,
            spare,
            record_count: self.record_count,
            codec,
            uncompressed_size,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
        })
    }
}

/// A finished batch: its wire bytes plus the buffers to return to the pool.
#[derive(Debug)]
pub struct ClosedBatch {
    wire: Vec<u8>,
    spare: Option<Vec<u8>>,
    record_count: i32,
    codec: CompressionCodec,
    uncompressed_size: usize,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl ClosedBatch {
    /// The complete batch as sent on the wire (header + records section).
    pub fn as_bytes(&self) -> &[u8] {
        &self.wire
    }

    /// Size of the wire bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.wire.len()
    }

    /// Size the batch had before compression (equal to
    /// [`size_in_bytes`](Self::size_in_bytes) when uncompressed).
    pub fn uncompressed_size(&self) -> usize {
        self.uncompressed_size
    }

    /// Number of records.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// The codec the records section is compressed with.
    pub fn codec(&self) -> CompressionCodec {
        self.codec
    }

    /// The header's baseTimestamp.
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The header's maxTimestamp.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Rewrites producer id, epoch, base sequence and the transactional bit and
    /// recomputes the CRC; see [`rewrite_producer_state`].
    pub fn rewrite_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        transactional: bool,
    ) -> Result<(), BatchError> {
        rewrite_producer_state(
            &mut self.wire,
            producer_id,
            producer_epoch,
            base_sequence,
            transactional,
        )
    }

    /// Takes the buffer not needed for the wire bytes (the uncompressed buffer
    /// of a compressed batch, or the unused `spare` of an uncompressed one), so
    /// it can go back to the pool before the batch is sent.
    pub fn take_spare_buffer(&mut self) -> Option<Vec<u8>> {
        self.spare.take()
    }

    /// Returns `(wire buffer, spare buffer)`.
    pub fn into_buffers(self) -> (Vec<u8>, Option<Vec<u8>>) {
        (self.wire, self.spare)
    }

    /// A copy of the batch (its wire bytes and facts; no spare buffer), for a batch whose
    /// bytes must change while a request still holds the original.
    pub fn copy_wire(&self) -> ClosedBatch {
        ClosedBatch {
            wire: self.wire.clone(),
            spare: None,
            record_count: self.record_count,
            codec: self.codec,
            uncompressed_size: self.uncompressed_size,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
        }
    }
}

/// Rewrites the producer id, producer epoch, base sequence and transactional
/// attribute bit of one v2 batch in place and recomputes its CRC. Used when a
/// batch is retried after the producer epoch was bumped.
///
/// `batch` must be exactly one batch (`12 + batchLength == batch.len()`) with
/// magic 2; otherwise nothing is modified and an error is returned.
pub fn rewrite_producer_state(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
) -> Result<(), BatchError> {
    let invalid = |reason| BatchError::InvalidBatch { reason };
    let Some(header) = batch.first_chunk_mut::<RECORD_BATCH_OVERHEAD>() else {
        return Err(invalid("shorter than the 61-byte batch header"));
    };
    if header[MAGIC_OFFSET] as i8 != MAGIC {
        return Err(invalid("magic is not 2"));
    }
    let batch_length = i32::from_be_bytes(field(header, BATCH_LENGTH_OFFSET));
    if usize::try_from(batch_length).ok().map(|l| l + LOG_OVERHEAD) != Some(batch.len()) {
        return Err(invalid("batchLength does not match the buffer length"));
    }
    let header = batch
        .first_chunk_mut::<RECORD_BATCH_OVERHEAD>()
        .expect("length checked above");
    let mut attrs = i16::from_be_bytes(field(header, ATTRIBUTES_OFFSET));
    if transactional {
        attrs |= ATTR_TRANSACTIONAL_MASK;
    } else {
        attrs &= !ATTR_TRANSACTIONAL_MASK;
    }
    put(header, ATTRIBUTES_OFFSET, attrs.to_be_bytes());
    put(header, PRODUCER_ID_OFFSET, producer_id.to_be_bytes());
    put(header, PRODUCER_EPOCH_OFFSET, producer_epoch.to_be_bytes());
    put(header, BASE_SEQUENCE_OFFSET, base_sequence.to_be_bytes());
    update_crc(batch);
    Ok(())
}

/// Computes the CRC-32C of a batch's bytes from the attributes field to the end
/// (`batch[21..]`), i.e. the value its `crc` field must hold. Returns `None` if
/// `batch` is shorter than the header.
pub fn compute_crc(batch: &[u8]) -> Option<u32> {
    batch
        .get(ATTRIBUTES_OFFSET..)
        .filter(|_| batch.len() >= RECORD_BATCH_OVERHEAD)
        .map(crc32c::crc32c)
}

// ---------------------------------------------------------------------------
// Encoding internals

struct HeaderFields {
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    record_count: i32,
}

fn attributes(codec: CompressionCodec, timestamp_type: TimestampType, transactional: bool) -> i16 {
    let mut attrs = i16::from(codec.id());
    if timestamp_type == TimestampType::LogAppendTime {
        attrs |= ATTR_TIMESTAMP_TYPE_MASK;
    }
    if transactional {
        attrs |= ATTR_TRANSACTIONAL_MASK;
    }
    attrs
}

fn write_header(
    batch: &mut [u8],
    params: &BatchParams,
    f: &HeaderFields,
) -> Result<(), BatchError> {
    let size = batch.len();
    let batch_length =
        i32::try_from(size - LOG_OVERHEAD).map_err(|_| BatchError::TooLarge { size })?;
    let header = batch
        .first_chunk_mut::<RECORD_BATCH_OVERHEAD>()
        .expect("a batch buffer always starts with the reserved header");
    put(header, BASE_OFFSET_OFFSET, 0i64.to_be_bytes());
    put(header, BATCH_LENGTH_OFFSET, batch_length.to_be_bytes());
    put(
        header,
        PARTITION_LEADER_EPOCH_OFFSET,
        params.partition_leader_epoch.to_be_bytes(),
    );
    put(header, MAGIC_OFFSET, MAGIC.to_be_bytes());
    put(header, ATTRIBUTES_OFFSET, f.attributes.to_be_bytes());
    put(
        header,
        LAST_OFFSET_DELTA_OFFSET,
        f.last_offset_delta.to_be_bytes(),
    );
    put(
        header,
        BASE_TIMESTAMP_OFFSET,
        f.base_timestamp.to_be_bytes(),
    );
    put(header, MAX_TIMESTAMP_OFFSET, f.max_timestamp.to_be_bytes());
    put(header, PRODUCER_ID_OFFSET, params.producer_id.to_be_bytes());
    put(
        header,
        PRODUCER_EPOCH_OFFSET,
        params.producer_epoch.to_be_bytes(),
    );
    put(
        header,
        BASE_SEQUENCE_OFFSET,
        params.base_sequence.to_be_bytes(),
    );
    put(header, RECORD_COUNT_OFFSET, f.record_count.to_be_bytes());
    update_crc(batch);
    Ok(())
}

/// Stores the CRC-32C of `batch[21..]` at offset 17. `batch.len() >= 61`.
fn update_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[inline(always)]
fn put<const N: usize>(header: &mut [u8; RECORD_BATCH_OVERHEAD], at: usize, bytes: [u8; N]) {
    header[at..at + N].copy_from_slice(&bytes);
}

#[inline(always)]
fn field<const N: usize>(header: &[u8; RECORD_BATCH_OVERHEAD], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&header[at..at + N]);
    out
}

/// The two size bounds of one record, computed from its key and value lengths (`None` = null)
/// and headers in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSizeBounds {
    /// The most [`BatchBuilder::append`] can add for the record, whatever its timestamp and
    /// offset delta ([`BatchBuilder::record_size_upper_bound`]): what batch fullness and a new
    /// batch's buffer are measured with.
    pub in_batch: usize,
    /// Java's estimate of a batch holding only this record
    /// ([`estimate_batch_size_upper_bound`]): what `max.request.size` and `buffer.memory` are
    /// checked against, so that Volley accepts exactly the records the Java producer accepts.
    /// Never smaller than `RECORD_BATCH_OVERHEAD + in_batch`.
    pub batch_estimate: usize,
}

impl RecordSizeBounds {
    /// Both bounds of a record with these fields.
    #[inline]
    pub fn of(
        key_len: Option<usize>,
        value_len: Option<usize>,
        headers: &[RecordHeader<'_>],
    ) -> RecordSizeBounds {
        let fields = fields_size(key_len, value_len, headers);
        let body = 1 /* attributes */ + MAX_VARLONG_LEN + MAX_VARINT_LEN + fields;
        RecordSizeBounds {
            in_batch: varint_size(clamp_i32(body)) + body,
            batch_estimate: RECORD_BATCH_OVERHEAD + MAX_RECORD_OVERHEAD + fields,
        }
    }
}

/// The upper bound the Java producer puts on the size of a batch holding one record with these
/// fields, for record batch v2 (`AbstractRecords.estimateSizeInBytesUpperBound`, that is
/// `DefaultRecordBatch.estimateBatchSizeUpperBound`): the 61-byte batch header, the record's
/// largest overhead ([`MAX_RECORD_OVERHEAD`], 21 bytes, whatever the record's size) and its key,
/// value and headers fields. It does not depend on the compression codec.
///
/// ```
/// use volley::protocol::record_batch::estimate_batch_size_upper_bound;
/// // A null key, no headers and a 1,048,490-byte value: 1 byte more than the default
/// // max.request.size, so the Java producer refuses it.
/// assert_eq!(estimate_batch_size_upper_bound(None, Some(1_048_490), &[]), 1_048_577);
/// ```
pub fn estimate_batch_size_upper_bound(
    key_len: Option<usize>,
    value_len: Option<usize>,
    headers: &[RecordHeader<'_>],
) -> usize {
    RecordSizeBounds::of(key_len, value_len, headers).batch_estimate
}

/// A record's key, value and headers fields as encoded, length prefixes included (Java's
/// `DefaultRecord.sizeOf`).
#[inline(always)]
fn fields_size(
    key_len: Option<usize>,
    value_len: Option<usize>,
    headers: &[RecordHeader<'_>],
) -> usize {
    len_field_size(key_len) + len_field_size(value_len) + headers_size(headers)
}

#[inline(always)]
fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Size of a nullable length-prefixed field with the given length.
#[inline(always)]
fn len_field_size(len: Option<usize>) -> usize {
    match len {
        None => 1, // varint(-1)
        Some(n) => varint_size(clamp_i32(n)) + n,
    }
}

#[inline(always)]
fn headers_size(headers: &[RecordHeader<'_>]) -> usize {
    let mut size = varint_size(clamp_i32(headers.len()));
    for h in headers {
        size += len_field_size(Some(h.key.len())) + len_field_size(h.value.map(<[u8]>::len));
    }
    size
}

/// Size of a record after its length prefix.
#[inline(always)]
fn body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader<'_>],
) -> usize {
    1 + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + fields_size(key.map(<[u8]>::len), value.map(<[u8]>::len), headers)
}

// ---------------------------------------------------------------------------
// Decoding

/// A record header as decoded (owned).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecodedHeader {
    /// Header key (UTF-8).
    pub key: String,
    /// Header value; `None` if the length was -1.
    pub value: Option<Vec<u8>>,
}

impl DecodedHeader {
    /// Borrowed form, for appending to a new batch.
    pub fn as_record_header(&self) -> RecordHeader<'_> {
        RecordHeader {
            key: &self.key,
            value: self.value.as_deref(),
        }
    }
}

/// A record as decoded (owned).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecodedRecord {
    /// The record attributes byte (unused by Kafka, 0).
    pub attributes: i8,
    /// Offset relative to the batch's baseOffset.
    pub offset_delta: i32,
    /// Timestamp delta as stored, relative to baseTimestamp.
    pub timestamp_delta: i64,
    /// The record's timestamp: `baseTimestamp + timestampDelta` (wrapping), or
    /// the batch's maxTimestamp for LogAppendTime batches, as Kafka reports it.
    pub timestamp: i64,
    /// Key; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` for a null value (tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<DecodedHeader>,
}

/// A decoded record batch: every header field plus the records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecodedBatch {
    /// Byte position of the batch within the decoded input.
    pub position: usize,
    /// baseOffset.
    pub base_offset: i64,
    /// batchLength (bytes after the length field).
    pub batch_length: i32,
    /// partitionLeaderEpoch.
    pub partition_leader_epoch: i32,
    /// magic (always 2).
    pub magic: i8,
    /// The stored (and verified) CRC-32C.
    pub crc: u32,
    /// Raw attributes.
    pub attributes: i16,
    /// Compression codec from the attributes.
    pub codec: CompressionCodec,
    /// lastOffsetDelta.
    pub last_offset_delta: i32,
    /// baseTimestamp.
    pub base_timestamp: i64,
    /// maxTimestamp.
    pub max_timestamp: i64,
    /// producerId.
    pub producer_id: i64,
    /// producerEpoch.
    pub producer_epoch: i16,
    /// baseSequence.
    pub base_sequence: i32,
    /// The records (as many as recordCount declares).
    pub records: Vec<DecodedRecord>,
}

impl DecodedBatch {
    /// True if the transactional attribute bit is set.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL_MASK != 0
    }

    /// True if the control attribute bit is set.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL_MASK != 0
    }

    /// The timestamp type from attribute bit 3.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Total size of the batch on the wire (`batchLength + 12`).
    pub fn size_in_bytes(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }
}

/// Errors from [`decode_batches`]. Every variant carries `position`, the byte
/// offset of the offending batch within the input.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a batch, which needs `needed` bytes (header, or
    /// header + batchLength) where only `available` remain.
    #[error("batch at byte {position} is truncated: needs {needed} bytes, {available} available")]
    Truncated {
        position: usize,
        needed: usize,
        available: usize,
    },
    /// batchLength (`length`) is negative or smaller than the header.
    #[error("batch at byte {position} has invalid batchLength {length}")]
    InvalidBatchLength { position: usize, length: i32 },
    /// The magic byte is not 2; only v2 batches are supported.
    #[error("batch at byte {position} has unsupported magic {magic} (only v2 is supported)")]
    UnsupportedMagic { position: usize, magic: i8 },
    /// The header's CRC (`stored`) differs from the CRC-32C of the bytes (`computed`).
    #[error(
        "batch at byte {position} is corrupt: stored CRC {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        position: usize,
        stored: u32,
        computed: u32,
    },
    /// Attribute bits 0-2 hold an unknown codec `id` (5-7).
    #[error("batch at byte {position} uses unknown compression codec id {id}")]
    UnknownCodec { position: usize, id: u8 },
    /// recordCount (`count`) is negative.
    #[error("batch at byte {position} declares a negative record count {count}")]
    InvalidRecordCount { position: usize, count: i32 },
    /// The records section failed to decompress, or exceeded the size limit.
    #[error("batch at byte {position}: cannot decompress records: {source}")]
    Decompression {
        position: usize,
        source: CompressionError,
    },
    /// Record number `index` is malformed: `problem` while reading `field`.
    #[error("batch at byte {position}, record {index}: {field}: {problem}")]
    InvalidRecord {
        position: usize,
        index: usize,
        field: &'static str,
        problem: &'static str,
    },
    /// `trailing` bytes remain in the records section after the `count` declared records.
    #[error(
        "batch at byte {position}: {trailing} bytes remain after the {count} declared records"
    )]
    TrailingBytes {
        position: usize,
        count: i32,
        trailing: usize,
    },
}

/// Decodes one or more concatenated v2 batches with the default decompression
/// limit ([`DEFAULT_MAX_DECOMPRESSED_SIZE`]). See [`decode_batches_with_limit`].
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<DecodedBatch>, DecodeError> {
    decode_batches_with_limit(bytes, DEFAULT_MAX_DECOMPRESSED_SIZE)
}

/// Decodes one or more concatenated v2 batches: checks each header and CRC,
/// decompresses the records section (any codec) and parses every record.
///
/// Strict: a truncated trailing batch, a record whose length prefix disagrees
/// with its fields, or bytes left after the declared records are errors.
/// Never panics. Allocations are bounded by the input: vectors are
/// pre-sized only up to what the remaining bytes can hold, and at most
/// `max_decompressed` bytes are decompressed in total over all batches of the
/// call. (The returned records take roughly 100 bytes each, so memory is a
/// small constant times the input plus the decompressed bytes.)
pub fn decode_batches_with_limit(
    bytes: &[u8],
    max_decompressed: usize,
) -> Result<Vec<DecodedBatch>, DecodeError> {
    let mut batches = Vec::new();
    let mut budget = max_decompressed;
    let mut scratch = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let Some(header) = rest.first_chunk::<RECORD_BATCH_OVERHEAD>() else {
            return Err(DecodeError::Truncated {
                position,
                needed: RECORD_BATCH_OVERHEAD,
                available: rest.len(),
            });
        };
        let batch_length = i32::from_be_bytes(field(header, BATCH_LENGTH_OFFSET));
        let size = match usize::try_from(batch_length) {
            Ok(len) if len + LOG_OVERHEAD >= RECORD_BATCH_OVERHEAD => len + LOG_OVERHEAD,
            _ => {
                return Err(DecodeError::InvalidBatchLength {
                    position,
                    length: batch_length,
                })
            }
        };
        let magic = header[MAGIC_OFFSET] as i8;
        if magic != MAGIC {
            return Err(DecodeError::UnsupportedMagic { position, magic });
        }
        let Some(batch) = rest.get(..size) else {
            return Err(DecodeError::Truncated {
                position,
                needed: size,
                available: rest.len(),
            });
        };
        let stored = u32::from_be_bytes(field(header, CRC_OFFSET));
        let computed = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        if stored != computed {
            return Err(DecodeError::CrcMismatch {
                position,
                stored,
                computed,
            });
        }
        let attributes = i16::from_be_bytes(field(header, ATTRIBUTES_OFFSET));
        let codec_id = (attributes & ATTR_COMPRESSION_MASK) as u8;
        let codec = CompressionCodec::from_id(codec_id).ok_or(DecodeError::UnknownCodec {
            position,
            id: codec_id,
        })?;
        let count = i32::from_be_bytes(field(header, RECORD_COUNT_OFFSET));
        if count < 0 {
            return Err(DecodeError::InvalidRecordCount { position, count });
        }
        let base_timestamp = i64::from_be_bytes(field(header, BASE_TIMESTAMP_OFFSET));
        let max_timestamp = i64::from_be_bytes(field(header, MAX_TIMESTAMP_OFFSET));
        let log_append_time = (attributes & ATTR_TIMESTAMP_TYPE_MASK != 0).then_some(max_timestamp);

        let section = &batch[RECORDS_OFFSET..];
        let records_bytes: &[u8] = if codec == CompressionCodec::None {
            section
        } else {
            scratch.clear();
            let n = decompress_into(codec, section, budget, &mut scratch)
                .map_err(|source| DecodeError::Decompression { position, source })?;
            budget -= n;
            &scratch
        };
        let records = decode_records(
            records_bytes,
            count,
            base_timestamp,
            log_append_time,
            position,
        )?;

        batches.push(DecodedBatch {
            position,
            base_offset: i64::from_be_bytes(field(header, BASE_OFFSET_OFFSET)),
            batch_length,
            partition_leader_epoch: i32::from_be_bytes(field(
                header,
                PARTITION_LEADER_EPOCH_OFFSET,
            )),
            magic,
            crc: stored,
            attributes,
            codec,
            last_offset_delta: i32::from_be_bytes(field(header, LAST_OFFSET_DELTA_OFFSET)),
            base_timestamp,
            max_timestamp,
            producer_id: i64::from_be_bytes(field(header, PRODUCER_ID_OFFSET)),
            producer_epoch: i16::from_be_bytes(field(header, PRODUCER_EPOCH_OFFSET)),
            base_sequence: i32::from_be_bytes(field(header, BASE_SEQUENCE_OFFSET)),
            records,
        });
        position += size;
    }
    Ok(batches)
}

/// The (uncompressed) records section of one batch, indexed so that each record can be
/// decoded on its own: how a failed batch keeps its records for their futures, at the cost of
/// its bytes and four bytes a record (decoded records would cost a few allocations each).
#[derive(Debug)]
pub struct RecordsSection {
    bytes: Vec<u8>,
    /// Where each record (its length varint) starts in `bytes`.
    starts: Vec<u32>,
    base_timestamp: i64,
}

impl RecordsSection {
    /// The records appended to an open batch so far (copied out of its buffer).
    pub fn of_builder(b: &BatchBuilder) -> Result<RecordsSection, DecodeError> {
        let bytes = b.buf.get(RECORDS_OFFSET..).unwrap_or_default().to_vec();
        RecordsSection::index(bytes, b.record_count, b.base_timestamp)
    }

    /// The records of one closed batch's wire bytes (header checked as [`decode_batches`]
    /// does, decompressed when the codec is not none).
    pub fn of_batch(wire: &[u8]) -> Result<RecordsSection, DecodeError> {
        let truncated = || DecodeError::Truncated {
            position: 0,
            needed: RECORD_BATCH_OVERHEAD,
            available: wire.len(),
        };
        let header = wire
            .first_chunk::<RECORD_BATCH_OVERHEAD>()
            .ok_or_else(truncated)?;
        let attributes = i16::from_be_bytes(field(header, ATTRIBUTES_OFFSET));
        let codec_id = (attributes & ATTR_COMPRESSION_MASK) as u8;
        let codec = CompressionCodec::from_id(codec_id).ok_or(DecodeError::UnknownCodec {
            position: 0,
            id: codec_id,
        })?;
        let count = i32::from_be_bytes(field(header, RECORD_COUNT_OFFSET));
        let base_timestamp = i64::from_be_bytes(field(header, BASE_TIMESTAMP_OFFSET));
        let section = &wire[RECORDS_OFFSET..];
        let bytes = if codec == CompressionCodec::None {
            section.to_vec()
        } else {
            let mut out = Vec::new();
            decompress_into(codec, section, DEFAULT_MAX_DECOMPRESSED_SIZE, &mut out).map_err(
                |source| DecodeError::Decompression {
                    position: 0,
                    source,
                },
            )?;
            out
        };
        RecordsSection::index(bytes, count, base_timestamp)
    }

    fn index(
        bytes: Vec<u8>,
        count: i32,
        base_timestamp: i64,
    ) -> Result<RecordsSection, DecodeError> {
        let count = usize::try_from(count)
            .map_err(|_| DecodeError::InvalidRecordCount { position: 0, count })?;
        let mut starts = Vec::with_capacity(count.min(bytes.len() / MIN_RECORD_SIZE));
        let mut cur = &bytes[..];
        for index in 0..count {
            starts.push((bytes.len() - cur.len()) as u32);
            let len = read_len(&mut cur, "record length", false)
                .map_err(|(field, problem)| DecodeError::InvalidRecord {
                    position: 0,
                    index,
                    field,
                    problem,
                })?
                .unwrap_or(0);
            take(&mut cur, len);
        }
        Ok(RecordsSection {
            bytes,
            starts,
            base_timestamp,
        })
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there is no record.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Record `i`, decoded; `None` when out of range or malformed.
    pub fn record(&self, i: usize) -> Option<DecodedRecord> {
        let start = *self.starts.get(i)? as usize;
        let mut cur = self.bytes.get(start..)?;
        decode_record(&mut cur, self.base_timestamp, None).ok()
    }
}

/// Where a record failed: the field and the problem.
type Fault = (&'static str, &'static str);

fn decode_records(
    data: &[u8],
    count: i32,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    position: usize,
) -> Result<Vec<DecodedRecord>, DecodeError> {
    let count_usize = count as usize; // count >= 0 checked by the caller
    let mut records = Vec::with_capacity(count_usize.min(data.len() / MIN_RECORD_SIZE));
    let mut cur = data;
    for index in 0..count_usize {
        let record = decode_record(&mut cur, base_timestamp, log_append_time).map_err(
            |(field, problem)| DecodeError::InvalidRecord {
                position,
                index,
                field,
                problem,
            },
        )?;
        records.push(record);
    }
    if !cur.is_empty() {
        return Err(DecodeError::TrailingBytes {
            position,
            count,
            trailing: cur.len(),
        });
    }
    Ok(records)
}

fn varint_fault(field: &'static str) -> impl Fn(VarintError) -> Fault {
    move |e| match e {
        VarintError::Truncated { .. } => (field, "truncated varint"),
        VarintError::Overlong { .. } => (field, "over-long varint"),
    }
}

/// Reads a varint length that must be `-1` (null, if allowed) or fit in `cur`.
fn read_len(cur: &mut &[u8], field: &'static str, nullable: bool) -> Result<Option<usize>, Fault> {
    let len = read_varint(cur).map_err(varint_fault(field))?;
    if len == -1 && nullable {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| (field, "negative length"))?;
    if len > cur.len() {
        return Err((field, "length exceeds the remaining record bytes"));
    }
    Ok(Some(len))
}

fn take<'a>(cur: &mut &'a [u8], len: usize) -> &'a [u8] {
    let (head, tail) = cur.split_at(len);
    *cur = tail;
    head
}

fn read_nullable_bytes(cur: &mut &[u8], field: &'static str) -> Result<Option<Vec<u8>>, Fault> {
    Ok(read_len(cur, field, true)?.map(|len| take(cur, len).to_vec()))
}

fn decode_record(
    cur: &mut &[u8],
    base_timestamp: i64,
    log_append_time: Option<i64>,
) -> Result<DecodedRecord, Fault> {
    let len = read_len(cur, "record length", false)?.unwrap_or(0);
    let mut body = take(cur, len);
    let Some((&attributes, rest)) = body.split_first() else {
        return Err(("record attributes", "record is empty"));
    };
    body = rest;
    let timestamp_delta = read_varlong(&mut body).map_err(varint_fault("timestamp delta"))?;
    let offset_delta = read_varint(&mut body).map_err(varint_fault("offset delta"))?;
    let key = read_nullable_bytes(&mut body, "key")?;
    let value = read_nullable_bytes(&mut body, "value")?;
    let header_count = read_varint(&mut body).map_err(varint_fault("header count"))?;
    let header_count = usize::try_from(header_count).map_err(|_| ("header count", "negative"))?;
    let mut headers = Vec::with_capacity(header_count.min(body.len() / MIN_HEADER_SIZE));
    for _ in 0..header_count {
        let key_len = read_len(&mut body, "header key", false)?.unwrap_or(0);
        let key = std::str::from_utf8(take(&mut body, key_len))
            .map_err(|_| ("header key", "not valid UTF-8"))?;
        let value = read_nullable_bytes(&mut body, "header value")?;
        headers.push(DecodedHeader {
            key: key.to_owned(),
            value,
        });
    }
    if !body.is_empty() {
        return Err(("record length", "does not match the record's fields"));
    }
    Ok(DecodedRecord {
        attributes: attributes as i8,
        offset_delta,
        timestamp_delta,
        timestamp: log_append_time.unwrap_or(base_timestamp.wrapping_add(timestamp_delta)),
        key,
        value,
        headers,
    })
}

// Every codec's tests: built with all four codec features (the default).
#[cfg(all(
    test,
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
#[path = "record_batch_tests.rs"]
mod tests;

#[cfg(test)]
mod disabled_codec_tests {
    use super::*;

    // Invariant: a batch compressed with a codec this build leaves out (its cargo feature off)
    // decodes to a typed `Decompress` error naming the feature, never a panic; with the codec
    // built, the same bytes (not really compressed) are a `Decompress` error too.
    #[test]
    fn a_batch_of_a_left_out_codec_is_a_typed_error() {
        for codec in CompressionCodec::ALL.into_iter().skip(1) {
            let mut builder = BatchBuilder::new(Vec::new(), 1_700_000_000_000);
            builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]);
            let closed = builder
                .close(&BatchParams::NONE, &Compression::None)
                .unwrap();
            let mut bytes = closed.as_bytes().to_vec();
            let attrs =
                i16::from_be_bytes([bytes[ATTRIBUTES_OFFSET], bytes[ATTRIBUTES_OFFSET + 1]]);
            let attrs = attrs | i16::from(codec.id());
            bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
            let crc = compute_crc(&bytes).unwrap();
            bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
            let err = decode_batches(&bytes).unwrap_err();
            let DecodeError::Decompression { source, .. } = &err else {
                panic!("{codec}: {err}");
            };
            assert_eq!(
                matches!(source, CompressionError::Disabled(c) if *c == codec),
                !codec.is_enabled(),
                "{codec}: {err}"
            );
        }
    }
}
