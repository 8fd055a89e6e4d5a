//! [`MockProducer`]: a producer for unit tests that talks to no broker (Java's
//! `org.apache.kafka.clients.producer.MockProducer`).
//!
//! It records every send in [`history`](MockProducer::history), completes each send at once
//! (`auto_complete`, the default) or when the test says so
//! ([`complete_next`](MockProducer::complete_next), [`error_next`](MockProducer::error_next),
//! [`flush`](MockProducer::flush)), applies the real partitioners (the same code as
//! [`Producer`](crate::Producer): an explicit partition, then a custom partitioner, then
//! murmur2 of the key, then the sticky partitioner) to the topics it is given, runs the
//! interceptors, callbacks and delivery handler as the real producer does, and keeps Java's
//! transaction bookkeeping. It implements [`ProducerApi`](crate::ProducerApi), so code written
//! against that trait runs against the mock or the real producer unchanged.
//!
//! ```
//! use volley::mock::MockProducer;
//! use volley::{ProducerApi, Record};
//!
//! # fn main() -> volley::Result<()> {
//! let producer = MockProducer::builder()
//!     .topic("orders", 3)
//!     .auto_complete(false)
//!     .build()?;
//! let future = producer.send(Record::new("orders").key("o-1").value("placed"))?;
//! assert!(!future.is_done());
//! assert!(producer.complete_next()); // the test decides when (and how) a send completes
//! assert_eq!(future.wait()?.offset, 0);
//!
//! let sent = &producer.history()[0];
//! assert_eq!((sent.key_str(), sent.value_str()), (Some("o-1"), Some("placed")));
//! // The same partition the real producer would choose (murmur2 of the key).
//! assert_eq!(sent.partition, volley::partitioner::partition_for_key(b"o-1", 3));
//! # Ok(()) }
//! ```

mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use state::{Completion, State};
pub use state::{GroupOffsets, MockCall, MockRecord};

use crate::accumulator::batch::{CompletionHooks, Delivery, DeliveryFuture};
use crate::config::{PartitionerClass, ProducerConfig};
use crate::delivery_error::DeliveryError;
use crate::error::{Error, Result};
use crate::interceptor::{DeliveryHandler, Interceptor, Interceptors};
use crate::metadata::{PartitionInfo, TopicInfo};
use crate::metrics::Metrics;
use crate::partitioner::{
    self, PartitionSource, Partitioner, RoundRobinPartitioner, StickyPartitioner,
};
use crate::producer::{headers_of, validate_topic};
use crate::protocol::record_batch::RecordSizeBounds;
use crate::record::{check_record, ensure_valid_record_size, Record, RecordMetadata};
use crate::txn::ConsumerGroupMetadata;
use crate::util::time::wall_clock_ms;

/// Builds a [`MockProducer`]: its topics, completion mode, partitioner, interceptors and
/// delivery handler.
#[must_use]
pub struct MockProducerBuilder {
    config: ProducerConfig,
    topics: Vec<(String, i32)>,
    default_partitions: Option<i32>,
    auto_complete: bool,
    interceptors: Vec<Arc<dyn Interceptor>>,
    partitioner: Option<Arc<dyn Partitioner>>,
    delivery_handler: Option<Arc<dyn DeliveryHandler>>,
    /// The first error of [`property`](Self::property).
    error: Option<Error>,
}

impl MockProducerBuilder {
    /// Adds a topic with `partitions` partitions (each with leader 0). Sends to a topic not
    /// given here fail with [`Error::UnknownTopic`], as the real producer's do once
    /// `max.block.ms` has passed (here at once), unless
    /// [`default_partitions`](Self::default_partitions) is set. Giving a topic twice keeps the
    /// last count.
    pub fn topic(mut self, name: impl Into<String>, partitions: i32) -> Self {
        self.topics.push((name.into(), partitions));
        self
    }

    /// Creates any other topic on its first use with `partitions` partitions, like a broker
    /// with `auto.create.topics.enable=true` and `num.partitions`. Unset by default.
    pub fn default_partitions(mut self, partitions: i32) -> Self {
        self.default_partitions = Some(partitions);
        self
    }

    /// Whether each send completes successfully at once (`true`, the default), or waits for
    /// [`MockProducer::complete_next`], [`MockProducer::error_next`] or a flush (Java's
    /// `autoComplete`).
    pub fn auto_complete(mut self, auto_complete: bool) -> Self {
        self.auto_complete = auto_complete;
        self
    }

    /// The configuration the mock reads: `batch.size` and
    /// `partitioner.adaptive.partitioning.enable` (sticky partitioner),
    /// `partitioner.ignore.keys`, `partitioner.class`, `max.request.size` and `buffer.memory`
    /// (the record size check), and `transactional.id` (see [`MockProducer`]). Other keys are
    /// ignored; `bootstrap.servers` is not needed. Defaults: [`ProducerConfig::default`].
    pub fn config(mut self, config: ProducerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets one configuration key by its Java name (as [`ProducerConfig::set`]), for the keys
    /// [`config`](Self::config) lists; a bad key or value fails [`build`](Self::build) with
    /// its [`Error::Config`].
    pub fn property(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none() {
            if let Err(e) = self.config.set(key, value) {
                self.error = Some(e);
            }
        }
        self
    }

    /// Adds an interceptor; interceptors run in the order added, as in
    /// [`ProducerBuilder::interceptor`](crate::ProducerBuilder::interceptor).
    pub fn interceptor(mut self, i: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(i));
        self
    }

    /// Sets a custom partitioner (Java's `partitioner.class`).
    pub fn partitioner(mut self, p: impl Partitioner) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }

    /// Sets the delivery handler that [`MockProducer::send_with_opaque`] reports to.
    pub fn delivery_handler(mut self, h: impl DeliveryHandler) -> Self {
        self.delivery_handler = Some(Arc::new(h));
        self
    }

    /// The mock producer. Fails with [`Error::InvalidTopic`] for a topic name Kafka refuses,
    /// [`Error::IllegalArgument`] for a partition count below 1, and the [`Error::Config`] of
    /// a bad [`property`](Self::property).
    pub fn build(self) -> Result<MockProducer> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut state = State::default();
        for (name, partitions) in self.topics {
            let info = topic_info(&name, partitions)?;
            state.topics.insert(name, info);
        }
        if let Some(n) = self.default_partitions {
            check_partition_count(n)?;
        }
        let mut partitioner = self.partitioner;
        if partitioner.is_none() && self.config.partitioner == PartitionerClass::RoundRobin {
            partitioner = Some(Arc::new(RoundRobinPartitioner::new()));
        }
        let sticky = StickyPartitioner::new(
            self.config.batch_size,
            self.config.partitioner_adaptive_partitioning,
        );
        Ok(MockProducer {
            inner: Arc::new(Inner {
                auto_complete: self.auto_complete,
                default_partitions: self.default_partitions,
                interceptors: Interceptors::new(self.interceptors),
                partitioner,
                delivery_handler: self.delivery_handler,
                sticky,
                config: self.config,
                state: Mutex::new(state),
            }),
        })
    }
}

fn check_partition_count(partitions: i32) -> Result<()> {
    if partitions < 1 {
        return Err(Error::IllegalArgument(format!(
            "a mock topic needs at least one partition, not {partitions}"
        )));
    }
    Ok(())
}

/// A topic of the mock cluster: partitions `0..partitions`, each led by broker 0.
fn topic_info(name: &str, partitions: i32) -> Result<Arc<TopicInfo>> {
    validate_topic(name)?;
    check_partition_count(partitions)?;
    Ok(Arc::new(TopicInfo::led_by(name, 0, partitions, 0)))
}

struct Inner {
    config: ProducerConfig,
    auto_complete: bool,
    default_partitions: Option<i32>,
    interceptors: Interceptors,
    partitioner: Option<Arc<dyn Partitioner>>,
    delivery_handler: Option<Arc<dyn DeliveryHandler>>,
    sticky: StickyPartitioner,
    state: Mutex<State>,
}

/// A producer for tests, with the behaviour of Java's `MockProducer` (see the
/// [module](self)). Cheap to clone; clones share one history. Thread-safe.
///
/// # Completion
/// With `auto_complete` (the default) a send completes successfully before it returns: its
/// offset is the next of its partition (0, 1, 2...), its callback and the interceptors'
/// `on_acknowledgement` run on the sending thread. Without it, sends wait in one queue, in
/// send order, until [`complete_next`](Self::complete_next) (success),
/// [`error_next`](Self::error_next) (that error) or [`flush`](Self::flush) (all succeed)
/// completes them, on the thread that calls those. The real producer runs callbacks on its
/// I/O thread instead.
///
/// # Errors
/// Misuse fails with the real producer's typed errors: [`Error::IllegalArgument`] (negative
/// timestamp or partition), [`Error::InvalidTopic`], [`Error::UnknownTopic`] (a topic the mock
/// was not given; `after` is zero), [`Error::PartitionOutOfRange`] (explicit or custom
/// partition), [`Error::RecordTooLarge`], [`Error::Closed`] (any send or transactional call
/// after [`close`](Self::close)), and [`Error::IllegalState`] for transactional calls out of
/// order (Java's `IllegalStateException`s). Errors set with [`set_error`](Self::set_error)
/// are returned as given.
///
/// # Transactions
/// As Java's mock: no `transactional.id` is needed; [`begin_transaction`](Self::begin_transaction)
/// before [`init_transactions`](Self::init_transactions) fails, and so do a second init, a
/// second begin, and offsets, commit or abort without an open transaction. Records sent in a
/// transaction are kept in [`uncommitted_records`](Self::uncommitted_records) and reach
/// [`history`](Self::history) only when it commits (an abort drops them); commit and abort
/// first flush (every pending send succeeds, as in Java's mock). Offsets sent in a committed
/// transaction reach [`consumer_group_offsets_history`](Self::consumer_group_offsets_history).
/// Records sent outside a transaction go straight to the history, unless the
/// configuration has a `transactional.id`: then, as the real producer, such a send fails with
/// [`Error::IllegalState`].
#[derive(Clone)]
pub struct MockProducer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MockProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("MockProducer")
            .field("sent", &s.sent.len())
            .field("pending", &s.completions.len())
            .field("closed", &s.closed)
            .finish()
    }
}

impl MockProducer {
    /// A builder with no topics, `auto_complete` on and the default configuration.
    pub fn builder() -> MockProducerBuilder {
        MockProducerBuilder {
            config: ProducerConfig::default(),
            topics: Vec::new(),
            default_partitions: None,
            auto_complete: true,
            interceptors: Vec::new(),
            partitioner: None,
            delivery_handler: None,
            error: None,
        }
    }

    fn hooks(&self) -> CompletionHooks<'_> {
        CompletionHooks {
            interceptors: &self.inner.interceptors,
            delivery_handler: self.inner.delivery_handler.as_deref(),
        }
    }

    /// The topic's metadata, creating it if `default_partitions` is set.
    fn topic(&self, state: &mut State, name: &str) -> Result<Arc<TopicInfo>> {
        if let Some(t) = state.topics.get(name) {
            return Ok(t.clone());
        }
        validate_topic(name)?;
        match self.inner.default_partitions {
            Some(n) => {
                let t = topic_info(name, n)?;
                state.topics.insert(name.to_string(), t.clone());
                Ok(t)
            }
            None => Err(Error::UnknownTopic {
                topic: name.to_string(),
                after: Duration::ZERO,
                cause: None,
            }),
        }
    }

    /// The checks before a record is accepted, in the real producer's order; the topic.
    fn admit(&self, record: &mut Record<'_>) -> Result<Arc<TopicInfo>> {
        check_record(record)?;
        {
            let s = self.inner.state.lock();
            s.check_open("send after close")?;
            s.check_not_fenced()?;
            s.injected(MockCall::Send)?;
            if self.inner.config.transactional_id.is_some() && !s.txn_in_flight {
                return Err(Error::IllegalState(
                    "cannot send outside a transaction (transactional.id is set)".into(),
                ));
            }
        }
        if !self.inner.interceptors.is_empty() {
            self.inner.interceptors.on_send(record);
            check_record(record)?;
        }
        let topic = self.topic(&mut self.inner.state.lock(), &record.topic)?;
        if let Some(p) = record.partition.filter(|p| *p >= topic.partition_count()) {
            return Err(Error::PartitionOutOfRange {
                topic: topic.name.to_string(),
                partition: p,
                partitions: topic.partition_count(),
            });
        }
        Ok(topic)
    }

    /// One send: checks, partitions and records the record, then completes it now
    /// (`auto_complete`) or queues its completion.
    fn send_inner(
        &self,
        mut record: Record<'_>,
        delivery: Delivery,
    ) -> std::result::Result<Option<DeliveryFuture>, DeliveryError> {
        let r = self.admit(&mut record).and_then(|topic| {
            let headers = headers_of(&record);
            let key = record.key.as_ref().map(|k| k.as_bytes());
            let value = record.value.as_ref().map(|v| v.as_bytes());
            let bounds =
                RecordSizeBounds::of(key.map(<[u8]>::len), value.map(<[u8]>::len), &headers);
            let cfg = &self.inner.config;
            ensure_valid_record_size(
                bounds.batch_estimate,
                cfg.max_request_size,
                cfg.buffer_memory,
            )?;
            // The partitioners run without the lock: a custom one may call back into the mock.
            let chosen = partitioner::choose_partition_with_source(
                record.partition,
                key,
                value,
                cfg.partitioner_ignore_keys,
                &topic,
                self.inner.partitioner.as_deref(),
                &self.inner.sticky,
            )?;
            if chosen.source == PartitionSource::Sticky {
                // No batches here: each append may end the sticky partition's turn once
                // batch.size bytes went there, as when the real producer's batches fill.
                self.inner
                    .sticky
                    .on_append(&topic, chosen.partition, bounds.in_batch, true);
            }
            Ok((topic, chosen.partition))
        });
        let (topic, partition) = match r {
            Ok(t) => t,
            Err(e) => {
                self.report_send_error(&record, &e);
                // As the real producer: a refused send hands the record back.
                return Err(DeliveryError::new(e, Some(record.into_owned())));
            }
        };
        let timestamp = record.timestamp.unwrap_or_else(wall_clock_ms);
        let key_size = record.key.as_ref().map_or(-1, |k| k.0.len() as i32);
        let value_size = record.value.as_ref().map_or(-1, |v| v.0.len() as i32);
        let mut owned = record.into_owned();
        owned.partition = Some(partition);
        owned.timestamp = Some(timestamp);
        let sent = MockRecord {
            topic: owned.topic.to_string(),
            partition,
            key: owned.key.as_ref().map(|k| k.0.to_vec()),
            value: owned.value.as_ref().map(|v| v.0.to_vec()),
            headers: owned.headers.clone(),
            timestamp,
        };
        let (future, shared) = match delivery {
            Delivery::Future => {
                let (f, shared) = DeliveryFuture::standalone(
                    topic.name.clone(),
                    partition,
                    timestamp,
                    key_size,
                    value_size,
                );
                (Some(f), Some(shared))
            }
            _ => (None, None),
        };
        let metadata = RecordMetadata {
            topic: topic.name.clone(),
            partition,
            offset: -1,
            timestamp,
            serialized_key_size: key_size,
            serialized_value_size: value_size,
        };
        let now = {
            let mut s = self.inner.state.lock();
            let completion = Completion {
                offset: s.next_offset(&topic.name, partition),
                metadata,
                delivery,
                future: shared,
                record: owned,
            };
            if s.txn_in_flight {
                s.uncommitted.push(sent);
            } else {
                s.sent.push(sent);
            }
            if self.inner.auto_complete {
                Some(completion)
            } else {
                s.completions.push_back(completion);
                None
            }
        };
        if let Some(c) = now {
            c.complete(None, &self.hooks());
        }
        Ok(future)
    }

    /// The real producer's report of a send that failed before it was queued: the
    /// interceptors see it with offset -1.
    fn report_send_error(&self, record: &Record<'_>, e: &Error) {
        if self.inner.interceptors.is_empty() {
            return;
        }
        let md = RecordMetadata {
            topic: Arc::from(&*record.topic),
            partition: record.partition.unwrap_or(-1),
            offset: -1,
            timestamp: record.timestamp.unwrap_or(-1),
            serialized_key_size: record.key.as_ref().map_or(-1, |k| k.0.len() as i32),
            serialized_value_size: record.value.as_ref().map_or(-1, |v| v.0.len() as i32),
        };
        self.inner.interceptors.on_acknowledgement(&md, Some(e));
    }

    /// Sends a record (see [`Producer::send`](crate::Producer::send)); the future resolves at
    /// once with `auto_complete`, else when the test completes it.
    pub fn send(&self, record: Record<'_>) -> std::result::Result<DeliveryFuture, DeliveryError> {
        self.send_inner(record, Delivery::Future)?
            .ok_or_else(|| Error::IllegalState("no future for a send".into()).into())
    }

    /// Sends a record; `callback` runs when it completes (on the thread that completes it).
    pub fn send_with_callback(
        &self,
        record: Record<'_>,
        callback: impl FnOnce(std::result::Result<RecordMetadata, DeliveryError>) + Send + 'static,
    ) -> std::result::Result<(), DeliveryError> {
        self.send_inner(record, Delivery::Callback(Box::new(callback)))
            .map(drop)
    }

    /// Sends a record, reporting its outcome to the delivery handler with `opaque`. Fails
    /// with [`Error::IllegalState`] without a delivery handler, as the real producer.
    pub fn send_with_opaque(
        &self,
        record: Record<'_>,
        opaque: u64,
    ) -> std::result::Result<(), DeliveryError> {
        if self.inner.delivery_handler.is_none() {
            let e = Error::IllegalState(
                "send_with_opaque needs a delivery handler (MockProducerBuilder::delivery_handler)"
                    .into(),
            );
            return Err(DeliveryError::new(e, Some(record.into_owned())));
        }
        self.send_inner(record, Delivery::Opaque(opaque)).map(drop)
    }

    /// [`send`](Self::send) as a future (it never waits: the mock needs no metadata nor
    /// memory).
    pub async fn send_async(
        &self,
        record: Record<'_>,
    ) -> std::result::Result<DeliveryFuture, DeliveryError> {
        self.send(record)
    }

    /// Completes every pending send successfully, in order (Java's mock `flush`). Fails with
    /// the error set for [`MockCall::Flush`], completing nothing.
    pub fn flush(&self) -> Result<()> {
        self.inner.state.lock().injected(MockCall::Flush)?;
        while self.complete_next() {}
        Ok(())
    }

    /// [`flush`](Self::flush) as a future (ready at once).
    pub async fn flush_async(&self) -> Result<()> {
        self.flush()
    }

    /// The oldest pending send completes successfully; `false` if none was pending (Java's
    /// `completeNext`).
    pub fn complete_next(&self) -> bool {
        self.finish_next(None)
    }

    /// The oldest pending send fails with `error` (its future, callback or delivery handler
    /// gets it, the interceptors see it); `false` if none was pending (Java's `errorNext`).
    pub fn error_next(&self, error: Error) -> bool {
        self.finish_next(Some(error))
    }

    fn finish_next(&self, error: Option<Error>) -> bool {
        let next = self.inner.state.lock().completions.pop_front();
        match next {
            Some(c) => {
                c.complete(error, &self.hooks());
                true
            }
            None => false,
        }
    }

    /// Closes the producer: later sends and transactional calls fail with [`Error::Closed`];
    /// the interceptors and the partitioner are closed (once). As in Java's mock, pending sends
    /// stay pending (the test may still complete them). Fails with the error set for
    /// [`MockCall::Close`], leaving the producer open.
    pub fn close(&self) -> Result<()> {
        let first = {
            let mut s = self.inner.state.lock();
            s.injected(MockCall::Close)?;
            !std::mem::replace(&mut s.closed, true)
        };
        if first {
            self.inner.interceptors.close();
            if let Some(p) = &self.inner.partitioner {
                p.close();
            }
        }
        Ok(())
    }

    /// [`close`](Self::close): the mock has nothing to wait for, so `timeout` is not used.
    pub fn close_timeout(&self, timeout: Duration) -> Result<()> {
        let _ = timeout;
        self.close()
    }

    /// All zero: the mock keeps no metrics.
    pub fn metrics(&self) -> Metrics {
        Metrics::default()
    }

    /// The partitions of a topic the mock knows; [`Error::UnknownTopic`] otherwise (or the
    /// error set for [`MockCall::PartitionsFor`]).
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
        let mut s = self.inner.state.lock();
        s.injected(MockCall::PartitionsFor)?;
        s.check_open("send after close")?;
        Ok(self.topic(&mut s, topic)?.partitions.clone())
    }

    /// Java's `initTransactions`: fails if already initialized.
    pub fn init_transactions(&self) -> Result<()> {
        let mut s = self.inner.state.lock();
        s.check_txn_call(MockCall::InitTransactions)?;
        if s.txn_initialized {
            return Err(Error::IllegalState(
                "init_transactions was already called".into(),
            ));
        }
        s.injected(MockCall::InitTransactions)?;
        s.txn_initialized = true;
        s.txn_in_flight = false;
        s.txn_committed = false;
        s.txn_aborted = false;
        s.sent_offsets = false;
        Ok(())
    }

    /// Java's `beginTransaction`: fails before `init_transactions` or inside a transaction.
    pub fn begin_transaction(&self) -> Result<()> {
        let mut s = self.inner.state.lock();
        s.check_txn_call(MockCall::BeginTransaction)?;
        s.injected(MockCall::BeginTransaction)?;
        if s.txn_in_flight {
            return Err(Error::IllegalState(
                "cannot begin a transaction in state InTransaction".into(),
            ));
        }
        s.txn_in_flight = true;
        s.txn_committed = false;
        s.txn_aborted = false;
        s.sent_offsets = false;
        Ok(())
    }

    /// Java's `sendOffsetsToTransaction`: the offsets join the open transaction's (per group,
    /// a later offset of the same partition replacing the earlier one). Empty offsets change
    /// nothing.
    pub fn send_offsets_to_transaction<I, T>(
        &self,
        offsets: I,
        group: &ConsumerGroupMetadata,
    ) -> Result<()>
    where
        I: IntoIterator<Item = ((T, i32), crate::OffsetAndMetadata)>,
        T: Into<String>,
    {
        let mut s = self.inner.state.lock();
        s.check_txn_call(MockCall::SendOffsetsToTransaction)?;
        s.check_in_flight("send_offsets_to_transaction")?;
        s.injected(MockCall::SendOffsetsToTransaction)?;
        let offsets: std::collections::BTreeMap<(String, i32), crate::OffsetAndMetadata> = offsets
            .into_iter()
            .map(|((t, p), o)| ((t.into(), p), o))
            .collect();
        crate::txn::check_offsets(&offsets, group)?;
        if offsets.is_empty() {
            return Ok(());
        }
        let group_offsets = s
            .uncommitted_offsets
            .entry(group.group_id.clone())
            .or_default();
        group_offsets.extend(offsets);
        s.sent_offsets = true;
        Ok(())
    }

    /// The checks of commit and abort, then the flush they start with.
    fn end_transaction(&self, call: MockCall, what: &str) -> Result<()> {
        {
            let s = self.inner.state.lock();
            s.check_txn_call(call)?;
            s.check_in_flight(what)?;
            s.injected(call)?;
        }
        self.flush()
    }

    /// Java's `commitTransaction`: flushes, then the transaction's records join
    /// [`history`](Self::history) and its offsets
    /// [`consumer_group_offsets_history`](Self::consumer_group_offsets_history).
    pub fn commit_transaction(&self) -> Result<()> {
        self.end_transaction(MockCall::CommitTransaction, "commit_transaction")?;
        let mut s = self.inner.state.lock();
        let records = std::mem::take(&mut s.uncommitted);
        s.sent.extend(records);
        let offsets = std::mem::take(&mut s.uncommitted_offsets);
        if !offsets.is_empty() {
            s.group_offsets.push(offsets);
        }
        s.txn_committed = true;
        s.txn_aborted = false;
        s.txn_in_flight = false;
        s.commit_count += 1;
        Ok(())
    }

    /// Java's `abortTransaction`: flushes, then drops the transaction's records and offsets.
    pub fn abort_transaction(&self) -> Result<()> {
        self.end_transaction(MockCall::AbortTransaction, "abort_transaction")?;
        let mut s = self.inner.state.lock();
        s.uncommitted.clear();
        s.uncommitted_offsets.clear();
        s.txn_committed = false;
        s.txn_aborted = true;
        s.txn_in_flight = false;
        Ok(())
    }

    /// [`init_transactions`](Self::init_transactions) as a future (ready at once), as
    /// [`Producer::init_transactions_async`](crate::Producer::init_transactions_async).
    pub async fn init_transactions_async(&self) -> Result<()> {
        self.init_transactions()
    }

    /// [`send_offsets_to_transaction`](Self::send_offsets_to_transaction) as a future (ready
    /// at once).
    pub async fn send_offsets_to_transaction_async<I, T>(
        &self,
        offsets: I,
        group: &ConsumerGroupMetadata,
    ) -> Result<()>
    where
        I: IntoIterator<Item = ((T, i32), crate::OffsetAndMetadata)>,
        T: Into<String>,
    {
        self.send_offsets_to_transaction(offsets, group)
    }

    /// [`commit_transaction`](Self::commit_transaction) as a future (ready at once).
    pub async fn commit_transaction_async(&self) -> Result<()> {
        self.commit_transaction()
    }

    /// [`abort_transaction`](Self::abort_transaction) as a future (ready at once).
    pub async fn abort_transaction_async(&self) -> Result<()> {
        self.abort_transaction()
    }

    /// Java's `fenceProducer`: from now on every send fails and every transactional call
    /// fails with a fatal `PRODUCER_FENCED` error, as a real producer fenced by a newer
    /// instance with the same `transactional.id`. Fails if closed, already fenced or not
    /// initialized for transactions.
    pub fn fence_producer(&self) -> Result<()> {
        let mut s = self.inner.state.lock();
        s.check_txn_call(MockCall::InitTransactions)?;
        s.check_initialized()?;
        s.fenced = true;
        Ok(())
    }

    /// Makes `call` fail with `error` from now on (`None`: succeed again), as setting Java's
    /// `MockProducer.commitTransactionException` and the like. The state checks come first:
    /// a call out of order still fails with [`Error::IllegalState`].
    pub fn set_error(&self, call: MockCall, error: Option<Error>) {
        let mut s = self.inner.state.lock();
        match error {
            Some(e) => s.errors.insert(call, e),
            None => s.errors.remove(&call),
        };
    }

    /// The records sent outside transactions and in committed ones, in send order, since the
    /// last [`clear`](Self::clear) (Java's `history`).
    pub fn history(&self) -> Vec<MockRecord> {
        self.inner.state.lock().sent.clone()
    }

    /// The records of the open transaction (Java's `uncommittedRecords`).
    pub fn uncommitted_records(&self) -> Vec<MockRecord> {
        self.inner.state.lock().uncommitted.clone()
    }

    /// The offsets of each committed transaction that sent some, oldest first (Java's
    /// `consumerGroupOffsetsHistory`).
    pub fn consumer_group_offsets_history(&self) -> Vec<GroupOffsets> {
        self.inner.state.lock().group_offsets.clone()
    }

    /// The offsets sent in the open transaction (Java's `uncommittedOffsets`).
    pub fn uncommitted_offsets(&self) -> GroupOffsets {
        self.inner.state.lock().uncommitted_offsets.clone()
    }

    /// Forgets the history, the uncommitted records and offsets, the offsets history and the
    /// pending sends (which then never complete), as Java's `clear`. Partition offsets go on
    /// from where they were.
    pub fn clear(&self) {
        let mut s = self.inner.state.lock();
        s.sent.clear();
        s.uncommitted.clear();
        s.sent_offsets = false;
        s.completions.clear();
        s.group_offsets.clear();
        s.uncommitted_offsets.clear();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn closed(&self) -> bool {
        self.inner.state.lock().closed
    }

    /// Whether no send is pending (Java's `flushed`).
    pub fn flushed(&self) -> bool {
        self.inner.state.lock().completions.is_empty()
    }

    /// Whether `init_transactions` succeeded.
    pub fn transaction_initialized(&self) -> bool {
        self.inner.state.lock().txn_initialized
    }

    /// Whether a transaction is open.
    pub fn transaction_in_flight(&self) -> bool {
        self.inner.state.lock().txn_in_flight
    }

    /// Whether the last transaction ended with a commit.
    pub fn transaction_committed(&self) -> bool {
        self.inner.state.lock().txn_committed
    }

    /// Whether the last transaction ended with an abort.
    pub fn transaction_aborted(&self) -> bool {
        self.inner.state.lock().txn_aborted
    }

    /// Whether the open (or last) transaction sent offsets.
    pub fn sent_offsets(&self) -> bool {
        self.inner.state.lock().sent_offsets
    }

    /// How many transactions were committed.
    pub fn commit_count(&self) -> u64 {
        self.inner.state.lock().commit_count
    }
}
