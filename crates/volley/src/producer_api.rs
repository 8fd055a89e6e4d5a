//! [`ProducerApi`]: the producer's calls as a trait (Java's `Producer` interface), implemented
//! by the real [`Producer`] and by [`MockProducer`](crate::mock::MockProducer), so that
//! application code written against it runs against either.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::accumulator::batch::{Callback, DeliveryFuture};
use crate::delivery_error::DeliveryError;
use crate::error::Result;
use crate::metadata::PartitionInfo;
use crate::metrics::Metrics;
use crate::mock::MockProducer;
use crate::producer::Producer;
use crate::record::Record;
use crate::txn::{ConsumerGroupMetadata, OffsetAndMetadata};

/// A boxed future returned by the async calls of [`ProducerApi`] (`Send`, so it can be
/// spawned on a multi-threaded runtime).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a send of [`ProducerApi`] returns: a refused send hands its record back
/// ([`DeliveryError`]), as [`Producer::send`] does.
pub type SendResult<T> = std::result::Result<T, DeliveryError>;

/// The offsets [`ProducerApi::send_offsets_to_transaction`] takes: each consumed
/// `(topic, partition)` with the position to commit (Java's `Map<TopicPartition,
/// OffsetAndMetadata>`).
pub type TxnOffsets = BTreeMap<(String, i32), OffsetAndMetadata>;

/// What application code needs of a producer (Java's `org.apache.kafka.clients.producer.Producer`
/// interface): implemented by [`Producer`] and by [`MockProducer`](crate::mock::MockProducer).
///
/// Write the code that produces against `impl ProducerApi` (or `Arc<dyn ProducerApi>`, or
/// `&dyn ProducerApi`: the trait is object-safe) and the choice between the real producer and
/// the mock is the one line that builds it:
///
/// ```
/// use volley::mock::MockProducer;
/// use volley::{ProducerApi, Record};
///
/// fn publish(p: &impl ProducerApi, order: &str) -> volley::Result<i64> {
///     let md = p.send(Record::new("orders").key(order).value("placed"))?.wait()?;
///     Ok(md.offset)
/// }
///
/// # fn main() -> volley::Result<()> {
/// // In production: `let p = volley::Producer::new(config)?;`
/// let p = MockProducer::builder().topic("orders", 3).build()?;
/// assert_eq!(publish(&p, "o-1")?, 0);
/// assert_eq!(p.history()[0].key_str(), Some("o-1"));
/// # Ok(()) }
/// ```
///
/// The methods carry the names and meanings of [`Producer`]'s inherent methods (see those for
/// blocking, errors and the Java behaviour followed); [`Producer`] keeps its inherent methods,
/// which take generic arguments where the trait takes boxed or concrete ones. The name is not
/// `Producer` because that is the real producer's struct, used in every program that builds
/// one.
pub trait ProducerApi: Send + Sync {
    /// Sends a record; see [`Producer::send`].
    fn send(&self, record: Record<'_>) -> SendResult<DeliveryFuture>;

    /// Sends a record and calls `callback` with its outcome; see
    /// [`Producer::send_with_callback`].
    fn send_with_callback(&self, record: Record<'_>, callback: Callback) -> SendResult<()>;

    /// Sends a record, reporting its outcome to the producer's
    /// [`DeliveryHandler`](crate::DeliveryHandler) with `opaque`; see
    /// [`Producer::send_with_opaque`].
    fn send_with_opaque(&self, record: Record<'_>, opaque: u64) -> SendResult<()>;

    /// Sends a record, awaiting metadata and buffer memory; see [`Producer::send_async`].
    fn send_async<'a>(&'a self, record: Record<'a>) -> BoxFuture<'a, SendResult<DeliveryFuture>>;

    /// Blocks until every record sent so far has resolved; see [`Producer::flush`].
    fn flush(&self) -> Result<()>;

    /// [`flush`](ProducerApi::flush) for async callers; see [`Producer::flush_async`].
    fn flush_async(&self) -> BoxFuture<'_, Result<()>>;

    /// Closes the producer, waiting for accepted records; see [`Producer::close`].
    fn close(&self) -> Result<()>;

    /// Closes the producer, waiting up to `timeout`; see [`Producer::close_timeout`].
    fn close_timeout(&self, timeout: Duration) -> Result<()>;

    /// The partitions of `topic`; see [`Producer::partitions_for`].
    fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>>;

    /// A snapshot of the producer's metrics; see [`Producer::metrics`].
    fn metrics(&self) -> Metrics;

    /// See [`Producer::init_transactions`].
    fn init_transactions(&self) -> Result<()>;

    /// See [`Producer::begin_transaction`].
    fn begin_transaction(&self) -> Result<()>;

    /// See [`Producer::send_offsets_to_transaction`].
    fn send_offsets_to_transaction(
        &self,
        offsets: TxnOffsets,
        group: &ConsumerGroupMetadata,
    ) -> Result<()>;

    /// See [`Producer::commit_transaction`].
    fn commit_transaction(&self) -> Result<()>;

    /// See [`Producer::abort_transaction`].
    fn abort_transaction(&self) -> Result<()>;

    /// See [`Producer::init_transactions_async`].
    fn init_transactions_async(&self) -> BoxFuture<'_, Result<()>>;

    /// See [`Producer::send_offsets_to_transaction_async`].
    fn send_offsets_to_transaction_async<'a>(
        &'a self,
        offsets: TxnOffsets,
        group: &'a ConsumerGroupMetadata,
    ) -> BoxFuture<'a, Result<()>>;

    /// See [`Producer::commit_transaction_async`].
    fn commit_transaction_async(&self) -> BoxFuture<'_, Result<()>>;

    /// See [`Producer::abort_transaction_async`].
    fn abort_transaction_async(&self) -> BoxFuture<'_, Result<()>>;
}

/// Implements [`ProducerApi`] by calling the type's inherent methods of the same names.
macro_rules! producer_api_by_inherent_methods {
    ($($ty:ty),*) => {$(
        impl ProducerApi for $ty {
            fn send(&self, record: Record<'_>) -> SendResult<DeliveryFuture> {
                <$ty>::send(self, record)
            }
            fn send_with_callback(&self, record: Record<'_>, callback: Callback) -> SendResult<()> {
                <$ty>::send_with_callback(self, record, callback)
            }
            fn send_with_opaque(&self, record: Record<'_>, opaque: u64) -> SendResult<()> {
                <$ty>::send_with_opaque(self, record, opaque)
            }
            fn send_async<'a>(
                &'a self,
                record: Record<'a>,
            ) -> BoxFuture<'a, SendResult<DeliveryFuture>> {
                Box::pin(<$ty>::send_async(self, record))
            }
            fn flush(&self) -> Result<()> {
                <$ty>::flush(self)
            }
            fn flush_async(&self) -> BoxFuture<'_, Result<()>> {
                Box::pin(<$ty>::flush_async(self))
            }
            fn close(&self) -> Result<()> {
                <$ty>::close(self)
            }
            fn close_timeout(&self, timeout: Duration) -> Result<()> {
                <$ty>::close_timeout(self, timeout)
            }
            fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
                <$ty>::partitions_for(self, topic)
            }
            fn metrics(&self) -> Metrics {
                <$ty>::metrics(self)
            }
            fn init_transactions(&self) -> Result<()> {
                <$ty>::init_transactions(self)
            }
            fn begin_transaction(&self) -> Result<()> {
                <$ty>::begin_transaction(self)
            }
            fn send_offsets_to_transaction(
                &self,
                offsets: TxnOffsets,
                group: &ConsumerGroupMetadata,
            ) -> Result<()> {
                <$ty>::send_offsets_to_transaction(self, offsets, group)
            }
            fn commit_transaction(&self) -> Result<()> {
                <$ty>::commit_transaction(self)
            }
            fn abort_transaction(&self) -> Result<()> {
                <$ty>::abort_transaction(self)
            }
            fn init_transactions_async(&self) -> BoxFuture<'_, Result<()>> {
                Box::pin(<$ty>::init_transactions_async(self))
            }
            fn send_offsets_to_transaction_async<'a>(
                &'a self,
                offsets: TxnOffsets,
                group: &'a ConsumerGroupMetadata,
            ) -> BoxFuture<'a, Result<()>> {
                Box::pin(<$ty>::send_offsets_to_transaction_async(self, offsets, group))
            }
            fn commit_transaction_async(&self) -> BoxFuture<'_, Result<()>> {
                Box::pin(<$ty>::commit_transaction_async(self))
            }
            fn abort_transaction_async(&self) -> BoxFuture<'_, Result<()>> {
                Box::pin(<$ty>::abort_transaction_async(self))
            }
        }
    )*};
}

producer_api_by_inherent_methods!(Producer, MockProducer);

/// Forwards every call to the pointee: `Arc<dyn ProducerApi>`, `Arc<MockProducer>`, `&P` and
/// `Box<dyn ProducerApi>` are producers too, so they can be passed where `impl ProducerApi` is
/// asked for.
macro_rules! forward_producer_api {
    ($($ty:ty),*) => {$(
        impl<P: ProducerApi + ?Sized> ProducerApi for $ty {
            fn send(&self, record: Record<'_>) -> SendResult<DeliveryFuture> {
                (**self).send(record)
            }
            fn send_with_callback(&self, record: Record<'_>, callback: Callback) -> SendResult<()> {
                (**self).send_with_callback(record, callback)
            }
            fn send_with_opaque(&self, record: Record<'_>, opaque: u64) -> SendResult<()> {
                (**self).send_with_opaque(record, opaque)
            }
            fn send_async<'a>(
                &'a self,
                record: Record<'a>,
            ) -> BoxFuture<'a, SendResult<DeliveryFuture>> {
                (**self).send_async(record)
            }
            fn flush(&self) -> Result<()> {
                (**self).flush()
            }
            fn flush_async(&self) -> BoxFuture<'_, Result<()>> {
                (**self).flush_async()
            }
            fn close(&self) -> Result<()> {
                (**self).close()
            }
            fn close_timeout(&self, timeout: Duration) -> Result<()> {
                (**self).close_timeout(timeout)
            }
            fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
                (**self).partitions_for(topic)
            }
            fn metrics(&self) -> Metrics {
                (**self).metrics()
            }
            fn init_transactions(&self) -> Result<()> {
                (**self).init_transactions()
            }
            fn begin_transaction(&self) -> Result<()> {
                (**self).begin_transaction()
            }
            fn send_offsets_to_transaction(
                &self,
                offsets: TxnOffsets,
                group: &ConsumerGroupMetadata,
            ) -> Result<()> {
                (**self).send_offsets_to_transaction(offsets, group)
            }
            fn commit_transaction(&self) -> Result<()> {
                (**self).commit_transaction()
            }
            fn abort_transaction(&self) -> Result<()> {
                (**self).abort_transaction()
            }
            fn init_transactions_async(&self) -> BoxFuture<'_, Result<()>> {
                (**self).init_transactions_async()
            }
            fn send_offsets_to_transaction_async<'a>(
                &'a self,
                offsets: TxnOffsets,
                group: &'a ConsumerGroupMetadata,
            ) -> BoxFuture<'a, Result<()>> {
                (**self).send_offsets_to_transaction_async(offsets, group)
            }
            fn commit_transaction_async(&self) -> BoxFuture<'_, Result<()>> {
                (**self).commit_transaction_async()
            }
            fn abort_transaction_async(&self) -> BoxFuture<'_, Result<()>> {
                (**self).abort_transaction_async()
            }
        }
    )*};
}

forward_producer_api!(&P, Arc<P>, Box<P>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trait_is_object_safe_and_forwarded() {
        fn takes_impl(_: &impl ProducerApi) {}
        fn takes_dyn(_: &dyn ProducerApi) {}
        let mock = crate::mock::MockProducer::builder()
            .topic("t", 1)
            .build()
            .unwrap();
        let shared: Arc<dyn ProducerApi> = Arc::new(mock.clone());
        takes_impl(&shared);
        takes_dyn(&*shared);
        let boxed: Box<dyn ProducerApi> = Box::new(mock.clone());
        takes_impl(&boxed);
        takes_impl(&&mock);
        drop(shared.send(Record::new("t").value("v")).unwrap());
        drop(boxed.send(Record::new("t").value("v")).unwrap());
        assert_eq!(mock.history().len(), 2);
    }
}
