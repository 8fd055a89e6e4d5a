//! Records, headers and the metadata of an acknowledged record.

use std::borrow::Cow;
use std::sync::Arc;

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

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Payload<'a>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Payload<'a>>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (ms since the epoch).
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
