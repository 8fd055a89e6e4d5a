//! Records, headers and the metadata of an acknowledged record.

use std::borrow::Cow;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Bytes that a record borrows or owns: `&[u8]`, `&[u8; N]`, `&str`, `Vec<u8>`, `String` and
/// [`bytes::Bytes`] all convert into it. Borrowed data is copied once, into the batch, during
/// `send`; nothing is kept pointing at it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a>(pub Cow<'a, [u8]>);

impl Payload<'_> {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// An owned copy with no borrow.
    pub fn into_owned(self) -> Payload<'static> {
        Payload(Cow::Owned(self.0.into_owned()))
    }
}

impl<'a> From<&'a [u8]> for Payload<'a> {
    fn from(v: &'a [u8]) -> Self {
        Payload(Cow::Borrowed(v))
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Payload<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Payload(Cow::Borrowed(v.as_slice()))
    }
}
impl<'a> From<&'a str> for Payload<'a> {
    fn from(v: &'a str) -> Self {
        Payload(Cow::Borrowed(v.as_bytes()))
    }
}
impl<'a> From<&'a String> for Payload<'a> {
    fn from(v: &'a String) -> Self {
        Payload(Cow::Borrowed(v.as_bytes()))
    }
}
impl<'a> From<&'a Vec<u8>> for Payload<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Payload(Cow::Borrowed(v.as_slice()))
    }
}
impl From<Vec<u8>> for Payload<'_> {
    fn from(v: Vec<u8>) -> Self {
        Payload(Cow::Owned(v))
    }
}
impl From<String> for Payload<'_> {
    fn from(v: String) -> Self {
        Payload(Cow::Owned(v.into_bytes()))
    }
}
impl From<bytes::Bytes> for Payload<'_> {
    fn from(v: bytes::Bytes) -> Self {
        Payload(Cow::Owned(v.to_vec()))
    }
}
impl<'a> From<Cow<'a, [u8]>> for Payload<'a> {
    fn from(v: Cow<'a, [u8]>) -> Self {
        Payload(v)
    }
}

/// A record header: a string key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The key.
    pub key: Cow<'a, str>,
    /// The value; `None` is a null value.
    pub value: Option<Payload<'a>>,
}

impl<'a> Header<'a> {
    /// A header with a value.
    pub fn new(key: impl Into<Cow<'a, str>>, value: impl Into<Payload<'a>>) -> Header<'a> {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A header with a null value.
    pub fn null(key: impl Into<Cow<'a, str>>) -> Header<'a> {
        Header {
            key: key.into(),
            value: None,
        }
    }
}

/// A record to send: a topic, an optional partition, an optional key, a value (none is a
/// tombstone), headers and an optional timestamp (milliseconds since the epoch; the send time
/// when absent, as `CreateTime`).
///
/// ```
/// use volley::{Header, Record};
/// let r = Record::new("orders")
///     .key("customer-42")
///     .value(b"{\"total\": 12}")
///     .header(Header::new("trace", "abc"));
/// assert_eq!(r.topic(), "orders");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The topic.
    pub topic: Cow<'a, str>,
    /// An explicit partition, bypassing the partitioner.
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<Payload<'a>>,
    /// The value; `None` is a tombstone.
    pub value: Option<Payload<'a>>,
    /// Headers.
    pub headers: Vec<Header<'a>>,
    /// The timestamp in milliseconds since the epoch; `None` means the time of `send`.
    pub timestamp: Option<i64>,
}

impl<'a> Record<'a> {
    /// A record for `topic` with no key, value, headers or timestamp.
    pub fn new(topic: impl Into<Cow<'a, str>>) -> Record<'a> {
        Record {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key. Without an explicit partition, a keyed record goes to the partition
    /// Java's producer picks: murmur2 of the key modulo the partition count (unless
    /// `partitioner.ignore.keys`); a record with no key goes to the sticky partition.
    pub fn key(mut self, key: impl Into<Payload<'a>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Payload<'a>>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sets an explicit partition, bypassing the partitioner. `send` refuses a negative one
    /// with [`Error::IllegalArgument`] and one the topic does not have (after one metadata
    /// refresh) with [`Error::PartitionOutOfRange`].
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp, in milliseconds since the Unix epoch (Java's `CreateTime`; a topic
    /// with `LogAppendTime` replaces it). `send` refuses a negative one with
    /// [`Error::IllegalArgument`], as Java's `ProducerRecord`.
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = Some(ts);
        self
    }

    /// Adds a header.
    pub fn header(mut self, h: Header<'a>) -> Self {
        self.headers.push(h);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// An owned copy with no borrows, for keeping past the call.
    pub fn into_owned(self) -> Record<'static> {
        Record {
            topic: Cow::Owned(self.topic.into_owned()),
            partition: self.partition,
            key: self.key.map(Payload::into_owned),
            value: self.value.map(Payload::into_owned),
            headers: self
                .headers
                .into_iter()
                .map(|h| Header {
                    key: Cow::Owned(h.key.into_owned()),
                    value: h.value.map(Payload::into_owned),
                })
                .collect(),
            timestamp: self.timestamp,
        }
    }
}

/// The checks the Java client makes on a record before it sends it (`ProducerRecord`'s
/// constructor): a timestamp, when given, and an explicit partition must not be negative. `send`
/// makes them first, before the producer's state, metadata or the record's size are looked at,
/// and again after interceptors have changed the record.
///
/// Java's other checks on a record cannot fail here: the topic, header keys and headers are never
/// null in Rust. The topic name is checked against Kafka's rules once metadata is needed, and
/// the record's size (see [`ensure_valid_record_size`]) once its partition is known.
///
/// ```
/// use volley::record::check_record;
/// use volley::{Error, Record};
/// assert!(check_record(&Record::new("t").timestamp(0).partition(0)).is_ok());
/// let err = check_record(&Record::new("t").timestamp(-5)).unwrap_err();
/// assert!(matches!(err, Error::IllegalArgument(_)));
/// assert_eq!(
///     err.to_string(),
///     "invalid argument: Invalid timestamp: -5. Timestamp should always be non-negative or null."
/// );
/// ```
pub fn check_record(record: &Record<'_>) -> Result<()> {
    if let Some(ts) = record.timestamp.filter(|ts| *ts < 0) {
        return Err(Error::IllegalArgument(format!(
            "Invalid timestamp: {ts}. Timestamp should always be non-negative or null."
        )));
    }
    if let Some(p) = record.partition.filter(|p| *p < 0) {
        return Err(Error::IllegalArgument(format!(
            "Invalid partition: {p}. Partition number should always be non-negative or null."
        )));
    }
    Ok(())
}

/// The Java producer's size check (`KafkaProducer.ensureValidRecordSize`): `size`, the upper
/// bound of a batch holding only the record
/// ([`estimate_batch_size_upper_bound`](crate::protocol::record_batch::estimate_batch_size_upper_bound)),
/// must not exceed `max.request.size` nor `buffer.memory`; otherwise the record can never be
/// sent and fails with [`Error::RecordTooLarge`], naming the limit it broke.
///
/// ```
/// use volley::protocol::record_batch::estimate_batch_size_upper_bound;
/// use volley::record::ensure_valid_record_size;
/// let limit = 1_048_576; // max.request.size's default
/// let size = |value_len| estimate_batch_size_upper_bound(None, Some(value_len), &[]);
/// assert!(ensure_valid_record_size(size(1_048_489), limit, 33_554_432).is_ok());
/// assert!(ensure_valid_record_size(size(1_048_490), limit, 33_554_432).is_err());
/// ```
pub fn ensure_valid_record_size(
    size: usize,
    max_request_size: usize,
    buffer_memory: usize,
) -> Result<()> {
    let too_large = |limit, limit_key| {
        Err(Error::RecordTooLarge {
            size,
            limit,
            limit_key,
        })
    };
    if size > max_request_size {
        return too_large(max_request_size, "max.request.size");
    }
    if size > buffer_memory {
        return too_large(buffer_memory, "buffer.memory");
    }
    Ok(())
}

/// What the broker acknowledged for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0`, where the broker says nothing.
    pub offset: i64,
    /// The record's timestamp: the broker's `LogAppendTime` when the topic uses it, else the
    /// record's `CreateTime`.
    pub timestamp: i64,
    /// Size of the serialized key in bytes; -1 for a null key.
    pub serialized_key_size: i32,
    /// Size of the serialized value in bytes; -1 for a null value.
    pub serialized_value_size: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn illegal_argument(r: Result<()>) -> String {
        match r {
            Err(Error::IllegalArgument(m)) => m,
            other => panic!("expected IllegalArgument, got {other:?}"),
        }
    }

    // Regression: a record with timestamp -5 (or -1) was accepted and stored with
    // CreateTime:-5; Java's ProducerRecord refuses any negative timestamp.
    #[test]
    fn negative_timestamps_are_refused_with_javas_message() {
        for ts in [-5, -1, i64::MIN] {
            let m = illegal_argument(check_record(&Record::new("t").value("v").timestamp(ts)));
            assert_eq!(
                m,
                format!(
                    "Invalid timestamp: {ts}. Timestamp should always be non-negative or null."
                )
            );
        }
        for ts in [0, 1, i64::MAX] {
            check_record(&Record::new("t").timestamp(ts)).unwrap();
        }
        check_record(&Record::new("t")).unwrap();
    }

    #[test]
    fn negative_partitions_are_refused_with_javas_message() {
        for p in [-1, -2, i32::MIN] {
            let m = illegal_argument(check_record(&Record::new("t").partition(p)));
            assert_eq!(
                m,
                format!(
                    "Invalid partition: {p}. Partition number should always be non-negative or null."
                )
            );
        }
        for p in [0, 1, i32::MAX] {
            check_record(&Record::new("t").partition(p)).unwrap();
        }
    }

    #[test]
    fn the_timestamp_is_checked_before_the_partition_as_in_java() {
        let m = illegal_argument(check_record(&Record::new("t").partition(-1).timestamp(-1)));
        assert!(m.starts_with("Invalid timestamp: -1."), "{m}");
    }

    #[test]
    fn null_values_and_headers_pass() {
        let r = Record::new("t")
            .header(Header::null(""))
            .header(Header::null("k"))
            .header(Header::new("k", ""));
        check_record(&r).unwrap();
    }

    fn too_large(r: Result<()>) -> (usize, usize, &'static str) {
        match r {
            Err(Error::RecordTooLarge {
                size,
                limit,
                limit_key,
            }) => (size, limit, limit_key),
            other => panic!("expected RecordTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn record_size_is_checked_against_max_request_size_then_buffer_memory() {
        ensure_valid_record_size(1000, 1000, 1000).unwrap();
        ensure_valid_record_size(0, 0, 0).unwrap();
        assert_eq!(
            too_large(ensure_valid_record_size(1001, 1000, 5000)),
            (1001, 1000, "max.request.size")
        );
        assert_eq!(
            too_large(ensure_valid_record_size(1001, 5000, 1000)),
            (1001, 1000, "buffer.memory")
        );
        // Over both: max.request.size is named, as Java checks it first.
        assert_eq!(
            too_large(ensure_valid_record_size(6000, 5000, 1000)),
            (6000, 5000, "max.request.size")
        );
    }
}
