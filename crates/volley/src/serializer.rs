//! Serializers and the typed producer.
//!
//! [`Producer`] sends bytes. A [`TypedProducer`] wraps one with a key and a value
//! [`Serializer`], for records of Rust types. Serializers may borrow (the string serializer
//! returns the string's own bytes) so that serializing costs no copy before the one into the
//! batch.

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::accumulator::batch::DeliveryFuture;
use crate::delivery_error::DeliveryError;
use crate::error::Result;
use crate::producer::Producer;
use crate::record::{Header, Payload, Record, RecordMetadata};

/// Turns a `T` into the bytes of a record key or value (Java's `Serializer`).
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// Serializes `data` for `topic`. Borrow from `data` where possible.
    fn serialize<'a>(&self, topic: &str, data: &'a T) -> Result<Cow<'a, [u8]>>;
}

/// Bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerializer;

impl Serializer<[u8]> for BytesSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        Ok(Cow::Borrowed(data))
    }
}

impl Serializer<Vec<u8>> for BytesSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a Vec<u8>) -> Result<Cow<'a, [u8]>> {
        Ok(Cow::Borrowed(data.as_slice()))
    }
}

/// UTF-8 strings (Java's `StringSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;

impl Serializer<str> for StringSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a str) -> Result<Cow<'a, [u8]>> {
        Ok(Cow::Borrowed(data.as_bytes()))
    }
}

impl Serializer<String> for StringSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a String) -> Result<Cow<'a, [u8]>> {
        Ok(Cow::Borrowed(data.as_bytes()))
    }
}

/// Integers as 4 or 8 big-endian bytes (Java's `IntegerSerializer` and `LongSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BigEndianSerializer;

impl Serializer<i32> for BigEndianSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a i32) -> Result<Cow<'a, [u8]>> {
        Ok(Cow::Owned(data.to_be_bytes().to_vec()))
    }
}

impl Serializer<i64> for BigEndianSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a i64) -> Result<Cow<'a, [u8]>> {
        Ok(Cow::Owned(data.to_be_bytes().to_vec()))
    }
}

/// JSON through serde (cargo feature `json`).
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

#[cfg(feature = "json")]
impl<T: serde::Serialize + ?Sized> Serializer<T> for JsonSerializer {
    fn serialize<'a>(&self, topic: &str, data: &'a T) -> Result<Cow<'a, [u8]>> {
        serde_json::to_vec(data)
            .map(Cow::Owned)
            .map_err(|e| crate::Error::Serialization(format!("JSON for topic {topic:?}: {e}")))
    }
}

/// A record of typed key and value, for a [`TypedProducer`].
#[derive(Debug)]
pub struct TypedRecord<'a, K: ?Sized, V: ?Sized> {
    /// The topic.
    pub topic: Cow<'a, str>,
    /// An explicit partition.
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<&'a K>,
    /// The value; `None` is a tombstone.
    pub value: Option<&'a V>,
    /// Headers.
    pub headers: Vec<Header<'a>>,
    /// Timestamp in ms since the epoch; `None` is the send time.
    pub timestamp: Option<i64>,
}

impl<'a, K: ?Sized, V: ?Sized> TypedRecord<'a, K, V> {
    /// A record for `topic` with nothing else set.
    pub fn new(topic: impl Into<Cow<'a, str>>) -> Self {
        TypedRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: &'a V) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets the partition.
    pub fn partition(mut self, p: i32) -> Self {
        self.partition = Some(p);
        self
    }

    /// Adds a header.
    pub fn header(mut self, h: Header<'a>) -> Self {
        self.headers.push(h);
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = Some(ts);
        self
    }
}

/// A [`Producer`] with a key and a value serializer. Cheap to clone if the serializers are.
///
/// ```no_run
/// use volley::serializer::{StringSerializer, TypedProducer, TypedRecord};
/// use volley::Producer;
/// # fn main() -> volley::Result<()> {
/// let producer = Producer::from_properties([("bootstrap.servers", "127.0.0.1:9092")])?;
/// let typed: TypedProducer<str, str, _, _> =
///     TypedProducer::new(producer, StringSerializer, StringSerializer);
/// typed.send(TypedRecord::new("greetings").key("en").value("hello"))?.wait()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TypedProducer<K: ?Sized, V: ?Sized, KS, VS> {
    producer: Producer,
    key_serializer: KS,
    value_serializer: VS,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K: ?Sized, V: ?Sized, KS: Serializer<K>, VS: Serializer<V>> TypedProducer<K, V, KS, VS> {
    /// Wraps `producer`.
    pub fn new(producer: Producer, key_serializer: KS, value_serializer: VS) -> Self {
        TypedProducer {
            producer,
            key_serializer,
            value_serializer,
            _types: PhantomData,
        }
    }

    /// The underlying producer (for flush, close, metrics).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    fn to_record<'a>(&self, r: TypedRecord<'a, K, V>) -> Result<Record<'a>> {
        let key = match r.key {
            Some(k) => Some(Payload(self.key_serializer.serialize(&r.topic, k)?)),
            None => None,
        };
        let value = match r.value {
            Some(v) => Some(Payload(self.value_serializer.serialize(&r.topic, v)?)),
            None => None,
        };
        Ok(Record {
            topic: r.topic,
            partition: r.partition,
            key,
            value,
            headers: r.headers,
            timestamp: r.timestamp,
        })
    }

    /// Serializes and sends; see [`Producer::send`]. A serializer error is returned as
    /// [`Error::Serialization`](crate::Error::Serialization) and nothing is sent; its [`DeliveryError::record`] is `None`
    /// (the typed key and value are still the caller's). Any later refusal or failure hands
    /// back the serialized record, as [`Producer::send`] does.
    pub fn send(&self, record: TypedRecord<'_, K, V>) -> Result<DeliveryFuture, DeliveryError> {
        self.producer.send(self.to_record(record)?)
    }

    /// Serializes and sends with a callback; see [`Producer::send_with_callback`].
    pub fn send_with_callback(
        &self,
        record: TypedRecord<'_, K, V>,
        callback: impl FnOnce(Result<RecordMetadata, DeliveryError>) + Send + 'static,
    ) -> Result<(), DeliveryError> {
        self.producer
            .send_with_callback(self.to_record(record)?, callback)
    }

    /// Serializes and sends without blocking the thread; see [`Producer::send_async`].
    pub async fn send_async(
        &self,
        record: TypedRecord<'_, K, V>,
    ) -> Result<DeliveryFuture, DeliveryError> {
        let r = self.to_record(record)?;
        self.producer.send_async(r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_and_bytes_serializers_borrow() {
        let s = String::from("héllo");
        let out = StringSerializer.serialize("t", &s).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(&*out, "héllo".as_bytes());
        let b: &[u8] = &[1, 2, 3];
        assert_eq!(&*BytesSerializer.serialize("t", b).unwrap(), &[1, 2, 3]);
        assert_eq!(
            &*BigEndianSerializer.serialize("t", &1i32).unwrap(),
            &[0, 0, 0, 1]
        );
        assert_eq!(BigEndianSerializer.serialize("t", &-1i64).unwrap().len(), 8);
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_serializer() {
        #[derive(serde::Serialize)]
        struct Order {
            id: u32,
            total: f64,
        }
        let out = JsonSerializer
            .serialize("t", &Order { id: 7, total: 1.5 })
            .unwrap();
        assert_eq!(&*out, br#"{"id":7,"total":1.5}"#);
    }
}
