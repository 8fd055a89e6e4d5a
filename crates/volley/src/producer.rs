//! The producer: the handle users share between threads.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::accumulator::{
    Accumulator, Append, Appended, Delivery, DeliveryFuture, PartitionQueue, RecordRef,
};
use crate::config::{PartitionerClass, ProducerConfig};
use crate::delivery_error::DeliveryError;
use crate::error::{Error, KafkaCode, Result};
use crate::interceptor::{DeliveryHandler, Interceptor};
use crate::io::connection::ConnectOptions;
use crate::lifecycle::{Ends, State};
use crate::metadata::{Cluster, PartitionInfo, TopicInfo};
use crate::metrics::{self, Counters, MetricEntry, Metrics};
use crate::partitioner::sticky::StickyTopic;
use crate::partitioner::{self, PartitionSource, Partitioner, RoundRobinPartitioner, StickyChoice};
use crate::protocol::record_batch::{RecordHeader, RecordSizeBounds};
use crate::record::{check_record, ensure_valid_record_size, Record, RecordMetadata};
use crate::security::{Security, TokenProvider};
use crate::sender::{Sender, SenderConfig};
use crate::shared::{Command, Shared};
use crate::txn::{
    ConsumerGroupMetadata, OffsetAndMetadata, TxnManager, TxnOp, TxnProtocol, TxnResult,
};
use crate::util::time;

static PRODUCER_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Distinguishes producers in the per-thread topic cache (an address could be reused).
static PRODUCER_IDS: AtomicU64 = AtomicU64::new(1);

/// The last topic this thread sent to, with what a send needs of it: its metadata and its
/// partition queues. Valid while both generation counters are unchanged (any new metadata
/// snapshot or queue list invalidates every thread's entry), so the common send skips the
/// snapshot and queue-map lookups: no hash, no `ArcSwap` load, no shared reference count.
struct TopicCache {
    producer: u64,
    generations: (u64, u64),
    topic: Arc<str>,
    info: Arc<TopicInfo>,
    queues: Arc<Vec<Arc<PartitionQueue>>>,
    /// The topic's state in the sticky partitioner (no map lookup per keyless record).
    sticky: StickyTopic,
}

thread_local! {
    static TOPIC_CACHE: RefCell<Option<TopicCache>> = const { RefCell::new(None) };
}

/// How a send ends when the producer closes or fails while it waits for metadata or memory
/// (Java: "Producer closed while send in progress").
const SEND_WAIT_ENDS: Ends = Ends::on_close("producer closed while send in progress");

/// `close` waits for the I/O thread to stop, whatever else happens.
const CLOSE_WAIT: Ends = Ends {
    at: State::Stopped,
    on_fatal: false,
    closed: "",
    on_auth_failure: false,
};

/// A transactional call's wait ends at a forced close or stop (the I/O thread goes on with
/// transactional work during a graceful close).
const TXN_WAIT_ENDS: Ends = Ends::on_stop("producer closed during a transactional call");

/// How a send ends when the producer is already closed.
const SEND_ENDS: Ends = Ends::on_close("send after close");
/// Transactional calls refused after close (or a fatal error), as Java's `throwIfProducerClosed`.
const TXN_ENDS: Ends = Ends::on_close("transactional call after close");

/// Builds a [`Producer`] with interceptors or a custom partitioner.
#[must_use]
pub struct ProducerBuilder {
    config: ProducerConfig,
    interceptors: Vec<Arc<dyn Interceptor>>,
    partitioner: Option<Arc<dyn Partitioner>>,
    delivery_handler: Option<Arc<dyn DeliveryHandler>>,
    token_provider: Option<Arc<dyn TokenProvider>>,
}

impl ProducerBuilder {
    /// Sets where SASL/OAUTHBEARER tokens come from (Java's `sasl.login.callback.handler.class`
    /// in code): used when `sasl.mechanism=OAUTHBEARER`, in place of `sasl.jaas.config`'s
    /// unsecured tokens or the OIDC client-credentials flow.
    pub fn token_provider(mut self, p: impl TokenProvider) -> Self {
        self.token_provider = Some(Arc::new(p));
        self
    }

    /// Adds an interceptor; interceptors run in the order added.
    pub fn interceptor(mut self, i: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(i));
        self
    }

    /// Sets a custom partitioner (Java's `partitioner.class`).
    pub fn partitioner(mut self, p: impl Partitioner) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }

    /// Sets the delivery handler that [`Producer::send_with_opaque`] reports to.
    pub fn delivery_handler(mut self, h: impl DeliveryHandler) -> Self {
        self.delivery_handler = Some(Arc::new(h));
        self
    }

    /// Validates the configuration and starts the producer's I/O thread. No connection is made
    /// until the first send or metadata request needs one.
    pub fn build(self) -> Result<Producer> {
        Producer::start(
            self.config,
            self.interceptors,
            self.partitioner,
            self.delivery_handler,
            self.token_provider,
        )
    }
}

struct Inner {
    /// Unique per producer (see [`TopicCache`]).
    id: u64,
    shared: Arc<Shared>,
    cfg: ProducerConfig,
    partitioner: Option<Arc<dyn Partitioner>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Whether the producer has an I/O thread (not one for benchmarks); the lifecycle knows
    /// which thread it is.
    has_io_thread: bool,
}

impl Inner {
    fn on_io_thread(&self) -> bool {
        self.shared.lifecycle.on_io_thread()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone without `close`: start a graceful close and let the I/O
        // thread finish sending in the background. Nothing here blocks.
        if self.shared.lifecycle.begin_close() {
            self.shared.command(Command::Close);
        }
    }
}

/// A Kafka producer. Cheap to clone; all clones share one I/O thread, buffer pool and set of
/// connections, and sharing one producer between threads is the fast path.
///
/// # Blocking
/// [`send`](Producer::send) returns at once unless the topic's metadata is not known yet or the
/// buffer pool (`buffer.memory`) is full; it then waits up to `max.block.ms`.
/// [`send_async`](Producer::send_async) awaits instead. [`flush`](Producer::flush) and
/// [`close`](Producer::close) block the calling thread; don't call them from an async task
/// (use [`flush_async`](Producer::flush_async), or `spawn_blocking`). The transactional calls
/// that wait for the coordinator ([`init_transactions`](Producer::init_transactions),
/// [`send_offsets_to_transaction`](Producer::send_offsets_to_transaction),
/// [`commit_transaction`](Producer::commit_transaction),
/// [`abort_transaction`](Producer::abort_transaction)) block too; their `_async` forms await.
///
/// # Ordering
/// Records sent from one thread to one partition are appended in send order. The broker keeps
/// that order across retries when idempotence is on (the default) or when
/// `max.in.flight.requests.per.connection` is 1.
///
/// # Drop
/// Dropping the last clone without `close` never blocks: the I/O thread sends what is queued
/// (within `delivery.timeout.ms`), then exits on its own. Call `close` to wait for that.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.inner.cfg.client_id)
            .finish()
    }
}

/// Kafka's topic name rules (`Topic.validate`).
pub(crate) fn validate_topic(topic: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidTopic {
            topic: topic.to_string(),
            reason,
        })
    };
    if topic.is_empty() {
        return bad("the name is empty");
    }
    if topic == "." || topic == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if topic.len() > 249 {
        return bad("longer than 249 characters");
    }
    if !topic
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

impl Producer {
    /// A producer with this configuration, as Java's `new KafkaProducer<>(props)`: validates
    /// it ([`ProducerConfig::validate`]), reads the TLS stores and starts the I/O thread. No
    /// connection is made until the first send (or [`partitions_for`](Producer::partitions_for))
    /// needs metadata, so a wrong `bootstrap.servers` shows only then, as the cause of the
    /// send's [`Error::UnknownTopic`] after `max.block.ms`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault: an invalid or conflicting setting, a
    /// `compression.type` whose cargo feature is off, a trust or key store that cannot be read
    /// (missing file, wrong password, a JKS store), or an I/O thread that cannot be started.
    pub fn new(config: ProducerConfig) -> Result<Producer> {
        Producer::builder(config).build()
    }

    /// A producer from Java-style properties (see [`ProducerConfig::from_properties`]): an
    /// unknown key or a bad value is an [`Error::Config`] naming the key; then as
    /// [`Producer::new`].
    pub fn from_properties<I, K, V>(props: I) -> Result<Producer>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Producer::new(ProducerConfig::from_properties(props)?)
    }

    /// A builder, for interceptors and custom partitioners.
    pub fn builder(config: ProducerConfig) -> ProducerBuilder {
        ProducerBuilder {
            config,
            interceptors: Vec::new(),
            partitioner: None,
            delivery_handler: None,
            token_provider: None,
        }
    }

    fn start(
        mut cfg: ProducerConfig,
        interceptors: Vec<Arc<dyn Interceptor>>,
        mut partitioner: Option<Arc<dyn Partitioner>>,
        delivery_handler: Option<Arc<dyn DeliveryHandler>>,
        token_provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Producer> {
        cfg.validate()?;
        let n = PRODUCER_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        if cfg.client_id.is_empty() {
            cfg.client_id = match &cfg.transactional_id {
                Some(t) => format!("producer-{t}"),
                None => format!("producer-{n}"),
            };
        }
        if partitioner.is_none() && cfg.partitioner == PartitionerClass::RoundRobin {
            partitioner = Some(Arc::new(RoundRobinPartitioner::new()));
        }
        let (shared, commands) = Shared::new(&cfg, interceptors, delivery_handler)?;
        let options = ConnectOptions {
            client_id: cfg.client_id.clone(),
            connect_timeout: cfg.socket_connection_setup_timeout,
            send_buffer_bytes: cfg.send_buffer_bytes,
            receive_buffer_bytes: cfg.receive_buffer_bytes,
            request_timeout: cfg.request_timeout,
            max_response_size: cfg.receive_message_max_bytes,
            security: Security::from_config(&cfg, token_provider)?,
        };
        let sender = Sender::new(
            SenderConfig::new(&cfg),
            shared.clone(),
            Instant::now(),
            fastrand::Rng::new(),
        );
        let thread = crate::io::driver::spawn(
            sender,
            shared.clone(),
            commands,
            options,
            format!("volley-io-{}", cfg.client_id),
        )
        .map_err(|e| Error::config("(producer)", format!("cannot start the I/O thread: {e}")))?;
        Ok(Producer {
            inner: Arc::new(Inner {
                id: PRODUCER_IDS.fetch_add(1, Ordering::Relaxed),
                shared,
                cfg,
                partitioner,
                thread: Mutex::new(Some(thread)),
                has_io_thread: true,
            }),
        })
    }

    /// A producer with no I/O thread: records are appended to their batches and stay there
    /// until the caller completes them through the accumulator (benchmarks of the send path).
    pub(crate) fn detached(mut cfg: ProducerConfig) -> Result<Producer> {
        cfg.validate()?;
        if cfg.client_id.is_empty() {
            cfg.client_id = "producer-detached".into();
        }
        let (shared, _commands) = Shared::new(&cfg, Vec::new(), None)?;
        Ok(Producer {
            inner: Arc::new(Inner {
                id: PRODUCER_IDS.fetch_add(1, Ordering::Relaxed),
                shared,
                cfg,
                partitioner: None,
                thread: Mutex::new(None),
                has_io_thread: false,
            }),
        })
    }

    /// The state shared with the I/O thread.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The effective configuration (after validation and defaults).
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.cfg
    }

    fn check_usable(&self) -> Result<()> {
        self.inner.shared.lifecycle.check(SEND_ENDS)
    }

    /// Looks the topic up, asking the I/O thread for metadata if it is not known yet.
    fn topic_or_request(
        &self,
        topic: &str,
        partition: Option<i32>,
        asked: &mut Option<u64>,
    ) -> Result<Option<Arc<TopicInfo>>> {
        let shared = &self.inner.shared;
        let gen = shared.cluster_generation.load(Ordering::Acquire);
        {
            let cluster = shared.cluster.load();
            if let Some(t) = cluster.topics.get(topic) {
                if t.error.is_ok() && !t.partitions.is_empty() {
                    match partition {
                        Some(p) if p >= t.partition_count() => {
                            // The partition may be new: one refresh, then the range is final.
                            if asked.is_some_and(|g| gen > g) {
                                return Err(Error::PartitionOutOfRange {
                                    topic: topic.to_string(),
                                    partition: p,
                                    partitions: t.partition_count(),
                                });
                            }
                        }
                        _ => return Ok(Some(t.clone())),
                    }
                } else {
                    match t.error {
                        KafkaCode::INVALID_TOPIC_EXCEPTION => {
                            return Err(Error::InvalidTopic {
                                topic: topic.to_string(),
                                reason: "the broker rejected the name",
                            })
                        }
                        KafkaCode::TOPIC_AUTHORIZATION_FAILED => {
                            return Err(Error::topic_authorization(
                                topic,
                                Some("refused in metadata".into()),
                            ))
                        }
                        _ => {}
                    }
                }
            }
        }
        // Ask the first time, and again each time fresh metadata comes without the topic.
        if asked.is_none_or(|g| gen > g) {
            *asked = Some(gen);
            shared.command(Command::WantTopic(Arc::from(topic)));
        }
        Ok(None)
    }

    /// Waits up to `deadline` for the topic's metadata; ends with `Closed` (or the fatal
    /// error) as soon as the producer closes or fails.
    fn wait_for_topic(
        &self,
        topic: &str,
        partition: Option<i32>,
        deadline: Instant,
    ) -> Result<Arc<TopicInfo>> {
        let mut asked = None;
        let r =
            self.inner
                .shared
                .lifecycle
                .wait_blocking(SEND_WAIT_ENDS, Some(deadline), || {
                    self.topic_or_request(topic, partition, &mut asked)
                        .transpose()
                })?;
        self.topic_wait_result(topic, r)
    }

    /// [`Producer::wait_for_topic`] for async callers. Cancellation-safe: dropped, it leaves at
    /// most a metadata request that the I/O thread answers anyway.
    async fn wait_for_topic_async(
        &self,
        topic: &str,
        partition: Option<i32>,
        deadline: Instant,
    ) -> Result<Arc<TopicInfo>> {
        let mut asked = None;
        let r = self
            .inner
            .shared
            .lifecycle
            .wait_async(SEND_WAIT_ENDS, Some(deadline), || {
                self.topic_or_request(topic, partition, &mut asked)
                    .transpose()
            })
            .await?;
        self.topic_wait_result(topic, r)
    }

    /// The topic from a finished wait, or `UnknownTopic` when the wait timed out, with as its
    /// cause the last connection error or else the brokers' metadata error for the topic.
    fn topic_wait_result(
        &self,
        topic: &str,
        r: Option<Result<Arc<TopicInfo>>>,
    ) -> Result<Arc<TopicInfo>> {
        match r {
            Some(t) => t,
            None => Err(Error::UnknownTopic {
                topic: topic.to_string(),
                after: self.inner.cfg.max_block,
                cause: self.inner.shared.lifecycle.io_error().or_else(|| {
                    let cluster = self.inner.shared.cluster.load();
                    let code = cluster.topics.get(topic).map(|t| t.error)?;
                    Error::topic_metadata_answer(code).map(Box::new)
                }),
            }),
        }
    }

    /// Sends a record. Returns at once with a [`DeliveryFuture`] once the record is in its
    /// batch, unless metadata or buffer memory must be waited for (bounded by
    /// `max.block.ms`).
    ///
    /// Errors returned here mean the record was not accepted (nothing was sent); the
    /// [`DeliveryError`] hands the record back ([`DeliveryError::into_record`], an owned copy
    /// as the interceptors left it) with one of: [`Error::IllegalArgument`] (negative timestamp
    /// or partition), [`Error::IllegalState`] (from a callback, on the I/O thread, a send that
    /// would have to wait for metadata or buffer memory: it fails at once instead of stalling
    /// the producer), [`Error::InvalidTopic`], [`Error::UnknownTopic`] (not in metadata within
    /// `max.block.ms`), [`Error::PartitionOutOfRange`], [`Error::RecordTooLarge`],
    /// [`Error::Timeout`] (no buffer memory within `max.block.ms`), [`Error::Closed`],
    /// [`Error::Fatal`]. Once accepted, the future resolves exactly once: to the record's
    /// [`RecordMetadata`], or to a [`DeliveryError`] with the record read back from its batch
    /// and an [`Error::Broker`] (non-retriable broker error, or retries exhausted), an
    /// [`Error::DeliveryTimeout`], an [`Error::Closed`] (forced close) or an [`Error::Fatal`].
    /// `?` turns a [`DeliveryError`] into its [`Error`].
    pub fn send(&self, record: Record<'_>) -> Result<DeliveryFuture, DeliveryError> {
        match self.send_blocking(record, Delivery::Future)? {
            Some(f) => Ok(f),
            None => Err(Error::IllegalState("no future for a send".into()).into()),
        }
    }

    /// Like [`send`](Producer::send), calling `callback` on the I/O thread when the record
    /// resolves (keep it short), with the record handed back in its [`DeliveryError`] when it
    /// failed. If `send` itself fails, the callback is not called and the error (with the
    /// record) is returned.
    pub fn send_with_callback(
        &self,
        record: Record<'_>,
        callback: impl FnOnce(Result<RecordMetadata, DeliveryError>) + Send + 'static,
    ) -> Result<(), DeliveryError> {
        self.send_blocking(record, Delivery::Callback(Box::new(callback)))
            .map(drop)
    }

    /// Like [`send`](Producer::send), reporting the outcome to the producer's
    /// [`DeliveryHandler`] (set with [`ProducerBuilder::delivery_handler`]) with `opaque`,
    /// instead of returning a future. The cheapest way to send: nothing is allocated per record.
    /// Fails with [`Error::IllegalState`] if the producer has no delivery handler.
    pub fn send_with_opaque(&self, record: Record<'_>, opaque: u64) -> Result<(), DeliveryError> {
        if self.inner.shared.acc.delivery_handler.is_none() {
            let e = Error::IllegalState(
                "send_with_opaque needs a delivery handler (ProducerBuilder::delivery_handler)"
                    .into(),
            );
            return Err(DeliveryError::new(e, Some(record.into_owned())));
        }
        self.send_blocking(record, Delivery::Opaque(opaque))
            .map(drop)
    }

    // Inlined into the send path: out of line it cost about 35 instructions a record
    // (`scripts/bench-instructions`).
    #[inline(always)]
    fn prepare(&self, record: &mut Record<'_>) -> Result<()> {
        check_record(record)?;
        self.check_usable()?;
        if !self.inner.shared.interceptors.is_empty() {
            self.inner.shared.interceptors.on_send(record);
            check_record(record)?;
        }
        Ok(())
    }

    /// Java's size check (its estimate against `max.request.size` and `buffer.memory`); returns
    /// the record's own size bound in its batch.
    fn size_check(&self, record: &Record<'_>, headers: &[RecordHeader<'_>]) -> Result<usize> {
        let bounds = RecordSizeBounds::of(
            record.key.as_ref().map(|k| k.0.len()),
            record.value.as_ref().map(|v| v.0.len()),
            headers,
        );
        let cfg = &self.inner.cfg;
        ensure_valid_record_size(
            bounds.batch_estimate,
            cfg.max_request_size,
            cfg.buffer_memory,
        )?;
        Ok(bounds.in_batch)
    }

    fn report_send_error(&self, record: &Record<'_>, e: &Error) {
        let shared = &self.inner.shared;
        Counters::add(&shared.counters.record_error, 1);
        shared.stats.lock().records_failed(Instant::now(), None, 1);
        if !shared.interceptors.is_empty() {
            let md = RecordMetadata {
                topic: Arc::from(&*record.topic),
                partition: record.partition.unwrap_or(-1),
                offset: -1,
                timestamp: record.timestamp.unwrap_or(-1),
                serialized_key_size: record.key.as_ref().map_or(-1, |k| k.0.len() as i32),
                serialized_value_size: record.value.as_ref().map_or(-1, |v| v.0.len() as i32),
            };
            shared.interceptors.on_acknowledgement(&md, Some(e));
        }
    }

    /// The topic from the current snapshot when it is there and the partition (if any) is in
    /// range: the common case, with no lock, no allocation and no clock read.
    fn known_topic<'c>(cluster: &'c Cluster, record: &Record<'_>) -> Option<&'c Arc<TopicInfo>> {
        let t = cluster.topics.get(&*record.topic)?;
        let usable = t.error.is_ok()
            && !t.partitions.is_empty()
            && record.partition.is_none_or(|p| p < t.partition_count());
        usable.then_some(t)
    }

    /// `send`, blocking for metadata and buffer memory (up to `max.block.ms`).
    ///
    /// The common case reads one clock (the record's timestamp, if it has none) and takes one
    /// lock (its partition's): the metadata snapshot and the queue map are read through
    /// `ArcSwap`s, the topic name is trusted once metadata knows it, and deadlines are only
    /// computed when something must be waited for.
    fn send_blocking(
        &self,
        mut record: Record<'_>,
        delivery: Delivery,
    ) -> Result<Option<DeliveryFuture>, DeliveryError> {
        let mut delivery = Some(delivery);
        let result = self.prepare(&mut record).and_then(|()| {
            let shared = &self.inner.shared;
            let generations = (
                shared.cluster_generation.load(Ordering::Acquire),
                shared.acc.generation.load(Ordering::Acquire),
            );
            if let Some(done) = self.send_cached(&record, generations, &mut delivery) {
                return done;
            }
            let delivery = delivery.take().expect("not used by a cache miss");
            let cluster = self.inner.shared.cluster.load();
            let waited;
            let (topic, deadline) = match Self::known_topic(&cluster, &record) {
                Some(t) => (t, None),
                None => {
                    validate_topic(&record.topic)?;
                    let deadline = time::deadline(Instant::now(), self.inner.cfg.max_block);
                    waited = self.wait_for_topic(&record.topic, record.partition, deadline)?;
                    (&waited, Some(deadline))
                }
            };
            let max_block = self.inner.cfg.max_block;
            let r = self.append(&record, topic, None, delivery, |acc, a| {
                acc.append(a, deadline, max_block)
            });
            if r.is_ok() {
                self.fill_topic_cache(topic, generations);
            }
            r
        });
        // A `match`, not `map_err` with a closure: the closure would take the record by value
        // (a copy of it) on the success path too.
        match result {
            Ok(f) => Ok(f),
            Err(e) => Err(self.refused(record, e)),
        }
    }

    /// A record `send` refused: reported to the interceptors and counted, then handed back
    /// with its error (copied out of its borrows; only on this path).
    #[cold]
    fn refused(&self, record: Record<'_>, e: Error) -> DeliveryError {
        self.report_send_error(&record, &e);
        DeliveryError::new(e, Some(record.into_owned()))
    }

    /// `send` through this thread's [`TopicCache`], if it holds the record's topic and is
    /// current; `None` (with `delivery` untouched) otherwise.
    fn send_cached(
        &self,
        record: &Record<'_>,
        generations: (u64, u64),
        delivery: &mut Option<Delivery>,
    ) -> Option<Result<Option<DeliveryFuture>>> {
        TOPIC_CACHE.with(|cell| {
            // A custom partitioner that sends from inside `partition` finds the cache borrowed
            // and takes the slow path.
            let cache = cell.try_borrow().ok()?;
            let c = cache.as_ref()?;
            if c.producer != self.inner.id
                || c.generations != generations
                || *c.topic != *record.topic
                || record
                    .partition
                    .is_some_and(|p| p >= c.info.partition_count())
            {
                return None;
            }
            let info = &c.info;
            let max_block = self.inner.cfg.max_block;
            let delivery = delivery.take()?;
            Some(
                self.append(record, info, Some(&c.sticky), delivery, |acc, a| {
                    match c.queues.get(a.partition as usize) {
                        Some(q) => acc.append_at(q, a, None, max_block),
                        None => acc.append(a, None, max_block),
                    }
                }),
            )
        })
    }

    /// Remembers `topic` in this thread's cache once its queue list covers every partition.
    fn fill_topic_cache(&self, topic: &Arc<TopicInfo>, generations: (u64, u64)) {
        let Some(queues) = self.inner.shared.acc.topic_queues(&topic.name) else {
            return;
        };
        if queues.len() < topic.partitions.len() {
            return;
        }
        TOPIC_CACHE.with(|cell| {
            if let Ok(mut c) = cell.try_borrow_mut() {
                *c = Some(TopicCache {
                    producer: self.inner.id,
                    generations,
                    topic: topic.name.clone(),
                    info: topic.clone(),
                    queues,
                    sticky: self.inner.shared.sticky.topic_state(&topic.name),
                });
            }
        });
    }

    /// Like [`send`](Producer::send), awaiting metadata and buffer memory instead of blocking
    /// the thread (still bounded by `max.block.ms`, with the same errors). Works on any async
    /// runtime: it needs no timer of the caller's runtime nor of Volley's.
    ///
    /// Cancellation-safe: dropped before it completes, it has appended nothing (the record is
    /// not sent) and leaves the producer as if it had not been called (interceptors' `on_send`
    /// may have seen the record).
    pub async fn send_async(
        &self,
        mut record: Record<'_>,
    ) -> Result<DeliveryFuture, DeliveryError> {
        let result = match self.prepare(&mut record) {
            Err(e) => Err(e),
            Ok(()) => {
                let known = Self::known_topic(&self.inner.shared.cluster.load(), &record).cloned();
                let mut deadline = None;
                let topic = match known {
                    Some(t) => Ok(t),
                    None => match validate_topic(&record.topic) {
                        Ok(()) => {
                            // One max.block.ms for both waits (metadata, then memory).
                            let d = time::deadline(Instant::now(), self.inner.cfg.max_block);
                            deadline = Some(d);
                            self.wait_for_topic_async(&record.topic, record.partition, d)
                                .await
                        }
                        Err(e) => Err(e),
                    },
                };
                match topic {
                    Err(e) => Err(e),
                    Ok(topic) => self.append_async(&record, &topic, deadline).await,
                }
            }
        };
        match result {
            Ok(f) => Ok(f),
            Err(e) => Err(self.refused(record, e)),
        }
    }

    async fn append_async(
        &self,
        record: &Record<'_>,
        topic: &Arc<TopicInfo>,
        deadline: Option<Instant>,
    ) -> Result<DeliveryFuture> {
        // The fast path (room in the open batch) never waits; only a new batch may.
        let headers = headers_of(record);
        let size_bound = self.size_check(record, &headers)?;
        let sticky = self.sticky(None);
        let chosen = self.choose(record, topic, sticky)?;
        self.txn_add_partition(&topic.name, chosen.partition)?;
        let a = self.append_args(
            record,
            topic,
            &chosen,
            &headers,
            size_bound,
            Delivery::Future,
        );
        let appended = self
            .inner
            .shared
            .acc
            .append_async(a, deadline, self.inner.cfg.max_block)
            .await?;
        self.after_append(topic, chosen, sticky, appended)
            .ok_or_else(|| Error::IllegalState("no future for an async send".into()))
    }

    #[allow(clippy::too_many_arguments)]
    fn append_args<'a>(
        &self,
        record: &'a Record<'_>,
        topic: &'a Arc<TopicInfo>,
        chosen: &partitioner::ChosenPartition,
        headers: &'a [RecordHeader<'a>],
        size_bound: usize,
        delivery: Delivery,
    ) -> Append<'a> {
        Append {
            topic: &topic.name,
            partition: chosen.partition,
            partition_count: topic.partition_count(),
            record: RecordRef {
                timestamp: record.timestamp.unwrap_or_else(time::wall_clock_ms),
                key: record.key.as_ref().map(|k| k.as_bytes()),
                value: record.value.as_ref().map(|v| v.as_bytes()),
                headers,
            },
            size_bound,
            delivery,
            want_thunk: !self.inner.shared.interceptors.is_empty(),
            now: None,
        }
    }

    /// The sticky partitioner, with the topic's state when the caller holds it.
    fn sticky<'a>(&'a self, state: Option<&'a StickyTopic>) -> StickyChoice<'a> {
        StickyChoice {
            partitioner: &self.inner.shared.sticky,
            state,
        }
    }

    fn choose(
        &self,
        record: &Record<'_>,
        topic: &TopicInfo,
        sticky: StickyChoice<'_>,
    ) -> Result<partitioner::ChosenPartition> {
        partitioner::choose_partition_in(
            record.partition,
            record.key.as_ref().map(|k| k.as_bytes()),
            record.value.as_ref().map(|v| v.as_bytes()),
            self.inner.cfg.partitioner_ignore_keys,
            topic,
            self.inner.partitioner.as_deref(),
            sticky,
        )
    }

    /// Appends `record` (through `f`), its topic's sticky state at hand if `sticky` has it.
    fn append(
        &self,
        record: &Record<'_>,
        topic: &Arc<TopicInfo>,
        sticky: Option<&StickyTopic>,
        delivery: Delivery,
        f: impl FnOnce(&Accumulator, Append<'_>) -> Result<Appended>,
    ) -> Result<Option<DeliveryFuture>> {
        let headers = headers_of(record);
        let size_bound = self.size_check(record, &headers)?;
        let sticky = self.sticky(sticky);
        let chosen = self.choose(record, topic, sticky)?;
        self.txn_add_partition(&topic.name, chosen.partition)?;
        let a = self.append_args(record, topic, &chosen, &headers, size_bound, delivery);
        let appended = f(&self.inner.shared.acc, a)?;
        Ok(self.after_append(topic, chosen, sticky, appended))
    }

    fn after_append(
        &self,
        topic: &TopicInfo,
        chosen: partitioner::ChosenPartition,
        sticky: StickyChoice<'_>,
        a: Appended,
    ) -> Option<DeliveryFuture> {
        let shared = &self.inner.shared;
        if chosen.source == PartitionSource::Sticky {
            sticky.on_append(topic, chosen.partition, a.appended_bytes, a.batch_full);
        }
        if a.wake_sender {
            shared.acc.wake_sender();
        }
        a.future
    }

    /// Sends every record accepted so far at once (ignoring `linger.ms`) and blocks until each
    /// has resolved, successfully or not. Records sent during the flush may or may not be
    /// waited for. Bounded in practice by `delivery.timeout.ms`.
    pub fn flush(&self) -> Result<()> {
        self.flush_until(None)
    }

    /// [`flush`](Producer::flush), giving up with [`Error::Timeout`] after `timeout` (the
    /// records are still delivered). Any `timeout` is accepted (`Duration::MAX` waits as long
    /// as `flush`).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.flush_until(Some(time::deadline(Instant::now(), timeout)))
            .map_err(|e| match e {
                Error::Timeout { operation, .. } => Error::Timeout {
                    operation,
                    after: timeout,
                    cause: self.inner.shared.lifecycle.io_error(),
                },
                e => e,
            })
    }

    fn flush_until(&self, deadline: Option<Instant>) -> Result<()> {
        if self.inner.on_io_thread() {
            return Err(Error::IllegalState(
                "flush called from a callback on the I/O thread".into(),
            ));
        }
        let acc = &self.inner.shared.acc;
        let _flushing = acc.begin_flush();
        for b in acc.incomplete() {
            if !b.wait_until(deadline) {
                return Err(Error::Timeout {
                    operation: "flush",
                    after: Duration::ZERO,
                    cause: None,
                });
            }
        }
        Ok(())
    }

    /// [`flush`](Producer::flush) for async callers, on any executor.
    ///
    /// Cancellation-safe: dropped before it completes (say under a timeout), it ends its flush
    /// (`linger.ms` applies again) and leaves the producer as if it had not been called; the
    /// records go on being delivered.
    pub async fn flush_async(&self) -> Result<()> {
        if self.inner.on_io_thread() {
            return Err(Error::IllegalState(
                "flush called from a callback on the I/O thread".into(),
            ));
        }
        let acc = &self.inner.shared.acc;
        let _flushing = acc.begin_flush();
        for b in acc.incomplete() {
            BatchDone(b).await;
        }
        Ok(())
    }

    /// Closes the producer, waiting as long as it takes for every accepted record to resolve
    /// (each within `delivery.timeout.ms`). Sends after (or during) close fail with
    /// [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        self.close_timeout(Duration::MAX)
    }

    /// Closes the producer, waiting up to `timeout` for queued and in-flight records (and the
    /// last client telemetry push, KIP-714); when it passes, every record still unresolved
    /// fails with [`Error::Closed`] and this returns [`Error::Timeout`] (only then: a close
    /// that had only the telemetry push left drops it and returns `Ok`). A zero timeout fails
    /// everything pending at once.
    pub fn close_timeout(&self, timeout: Duration) -> Result<()> {
        let inner = &self.inner;
        let shared = &inner.shared;
        let lifecycle = &shared.lifecycle;
        let first = lifecycle.begin_close();
        let mut forced = false;
        if timeout.is_zero() {
            // Java's close(Duration.ZERO): a forced close at once, nothing more is sent.
            let records_left = shared.acc.has_incomplete();
            forced = lifecycle.force_close() && records_left;
            shared.command(Command::ForceClose);
        } else {
            shared.command(Command::Close);
        }
        if inner.on_io_thread() {
            // From a callback: the I/O thread cannot wait for itself (forced above if asked not
            // to wait).
        } else if inner.has_io_thread {
            let stopped = || (lifecycle.state() == State::Stopped).then_some(());
            let deadline = time::deadline(Instant::now(), timeout);
            if lifecycle
                .wait_blocking(CLOSE_WAIT, Some(deadline), stopped)?
                .is_none()
            {
                // Only records make it a failure: the close may also have waited for the last
                // telemetry push or a transactional request, which the forced close drops.
                let records_left = shared.acc.has_incomplete();
                forced |= lifecycle.force_close() && records_left;
                shared.command(Command::ForceClose);
                // The I/O thread fails what is left and exits at once.
                lifecycle.wait_blocking(CLOSE_WAIT, None, stopped)?;
            }
            if let Some(t) = inner.thread.lock().take() {
                let _ = t.join();
            }
        }
        if first {
            shared.interceptors.close();
            if let Some(p) = &inner.partitioner {
                p.close();
            }
        }
        if forced {
            return Err(Error::Timeout {
                operation: "close (unresolved records were failed)",
                after: timeout,
                cause: None,
            });
        }
        Ok(())
    }

    fn txn_add_partition(&self, topic: &Arc<str>, partition: i32) -> Result<()> {
        match &self.inner.shared.txn {
            None => Ok(()),
            Some(t) => t.lock().maybe_add_partition(topic, partition),
        }
    }

    /// Hands a transactional call to the I/O thread (`Command::Txn`), or finds the pending
    /// result of the same call (a call repeated after a timeout waits for it instead of
    /// starting another). Its wait is [`Producer::txn_wait`] or [`Producer::txn_wait_async`].
    /// The transaction manager for a transactional call: the fatal error, else `Closed` after
    /// close (Java's `throwIfProducerClosed`: "Cannot perform operation after producer has
    /// been closed"), else `IllegalState` for a producer without `transactional.id`.
    fn transaction_manager(&self, operation: &str) -> Result<&Mutex<TxnManager>> {
        self.inner.shared.lifecycle.check(TXN_ENDS)?;
        self.inner.shared.txn.as_ref().ok_or_else(|| {
            Error::IllegalState(format!(
                "{operation} needs a transactional producer (set transactional.id)"
            ))
        })
    }

    fn txn_start(&self, operation: &'static str, op: TxnOp) -> Result<Arc<TxnResult>> {
        let shared = &self.inner.shared;
        let lifecycle = &shared.lifecycle;
        let txn = self.transaction_manager(operation)?;
        if self.inner.on_io_thread() {
            // Its wait would fail (see `Lifecycle::wait_blocking`); refused before the request
            // goes out, so that a refused call has started nothing.
            return Err(Error::IllegalState(format!(
                "{operation} called from a callback on the I/O thread"
            )));
        }
        let pending = txn.lock().pending(op.kind());
        Ok(pending.unwrap_or_else(|| {
            let r = Arc::new(TxnResult::new(lifecycle.clone()));
            shared.command(Command::Txn(op, r.clone()));
            r
        }))
    }

    /// The deadline of a transactional call's wait: `max.block.ms` from now.
    fn txn_deadline(&self) -> Instant {
        time::deadline(Instant::now(), self.inner.cfg.max_block)
    }

    /// A transactional call's result from its finished wait: `Timeout` (with the last
    /// connection error as its cause) when `max.block.ms` passed first.
    fn txn_outcome(
        &self,
        operation: &'static str,
        waited: Result<Option<Result<()>>>,
    ) -> Result<()> {
        match waited? {
            Some(r) => r,
            None => Err(Error::Timeout {
                operation,
                after: self.inner.cfg.max_block,
                cause: self.inner.shared.lifecycle.io_error(),
            }),
        }
    }

    /// Starts (or rejoins) a transactional call and blocks up to `max.block.ms` for its result.
    fn txn_call(&self, operation: &'static str, op: TxnOp) -> Result<()> {
        let result = self.txn_start(operation, op)?;
        let deadline = self.txn_deadline();
        let waited =
            self.inner
                .shared
                .lifecycle
                .wait_blocking(TXN_WAIT_ENDS, Some(deadline), || result.try_get());
        self.txn_outcome(operation, waited)
    }

    /// [`Producer::txn_call`] for async callers: the same call, result and bounds, awaited on
    /// the producer's lifecycle (woken by the I/O thread; no thread of the executor blocks).
    /// Cancellation-safe: dropped, the call goes on in the I/O thread, and calling the same
    /// operation again waits for its result.
    async fn txn_call_async(&self, operation: &'static str, op: TxnOp) -> Result<()> {
        let result = self.txn_start(operation, op)?;
        let deadline = self.txn_deadline();
        let waited = self
            .inner
            .shared
            .lifecycle
            .wait_async(TXN_WAIT_ENDS, Some(deadline), || result.try_get())
            .await;
        self.txn_outcome(operation, waited)
    }

    /// Registers the `transactional.id` with its coordinator, fencing any earlier producer with
    /// the same id and completing (or aborting) a transaction it left open. Call once, before
    /// the first transaction. Blocks up to `max.block.ms`; after a [`Error::Timeout`], call it
    /// again to keep waiting for the same initialization.
    pub fn init_transactions(&self) -> Result<()> {
        self.txn_call("init_transactions", TxnOp::Init)
    }

    /// Starts a transaction. Records sent from now on belong to it until it is committed or
    /// aborted. Does not block (it only changes local state, as Java's `beginTransaction`), so
    /// async code calls it as it is: it has no `_async` form.
    /// Fails with [`Error::Closed`] after [`close`](Producer::close), as every transactional
    /// call does (and from a callback, the blocking ones fail with [`Error::IllegalState`]).
    pub fn begin_transaction(&self) -> Result<()> {
        self.transaction_manager("begin_transaction")?
            .lock()
            .begin_transaction()
    }

    /// Adds a consumer's offsets to the open transaction: they become the group's committed
    /// offsets if and only if the transaction commits (consume-transform-produce). Blocks up to
    /// `max.block.ms`; call again after a timeout to keep waiting. As Java's: no offsets is a
    /// no-op, and group metadata with a generation above 0 but no member id, a negative offset
    /// or partition are refused with [`Error::IllegalArgument`] (an invalid topic name with
    /// [`Error::InvalidTopic`]) before anything is sent.
    pub fn send_offsets_to_transaction<I, T>(
        &self,
        offsets: I,
        group: &ConsumerGroupMetadata,
    ) -> Result<()>
    where
        I: IntoIterator<Item = ((T, i32), OffsetAndMetadata)>,
        T: Into<String>,
    {
        let op = send_offsets_op(offsets, group);
        if !self.send_offsets_needed(&op)? {
            return Ok(());
        }
        self.txn_call("send_offsets_to_transaction", op)
    }

    /// Commits the open transaction: sends every queued record at once, waits for all of them,
    /// then commits. If any record of the transaction failed, this fails with
    /// [`Error::Abortable`] and the transaction must be aborted. Blocks up to `max.block.ms`;
    /// a [`Error::Timeout`] does not abort anything: call `commit_transaction` again to keep
    /// waiting for the same commit.
    pub fn commit_transaction(&self) -> Result<()> {
        self.txn_call("commit_transaction", TxnOp::Commit)
    }

    /// Aborts the open transaction: records not yet sent fail, records in flight finish, and
    /// the coordinator writes abort markers so that `read_committed` consumers skip the
    /// transaction's records. Blocks up to `max.block.ms`; call again after a timeout.
    pub fn abort_transaction(&self) -> Result<()> {
        self.txn_call("abort_transaction", TxnOp::Abort)
    }

    /// [`init_transactions`](Producer::init_transactions) for async code: the same call, errors
    /// and `max.block.ms` bound, awaited without blocking the executor's thread, on any
    /// runtime. Cancellation-safe: dropped (say under a timeout), the initialization goes on,
    /// and calling it again (sync or async) waits for the same one.
    pub async fn init_transactions_async(&self) -> Result<()> {
        self.txn_call_async("init_transactions", TxnOp::Init).await
    }

    /// [`send_offsets_to_transaction`](Producer::send_offsets_to_transaction) for async code,
    /// awaited without blocking the executor's thread (same errors and bound; cancellation-safe
    /// as [`init_transactions_async`](Producer::init_transactions_async)).
    pub async fn send_offsets_to_transaction_async<I, T>(
        &self,
        offsets: I,
        group: &ConsumerGroupMetadata,
    ) -> Result<()>
    where
        I: IntoIterator<Item = ((T, i32), OffsetAndMetadata)>,
        T: Into<String>,
    {
        let op = send_offsets_op(offsets, group);
        if !self.send_offsets_needed(&op)? {
            return Ok(());
        }
        self.txn_call_async("send_offsets_to_transaction", op).await
    }

    /// Java's checks before `sendOffsetsToTransaction` does anything ([`crate::txn::check_offsets`],
    /// then, with no offsets, a transactional producer not closed); `Ok(false)`: nothing to
    /// send (Java sends nothing; an AddOffsetsToTxn with no offsets made the broker refuse the
    /// commit, a fatal error).
    fn send_offsets_needed(&self, op: &TxnOp) -> Result<bool> {
        let TxnOp::SendOffsets { offsets, group } = op else {
            return Ok(true);
        };
        crate::txn::check_offsets(offsets, group)?;
        if !offsets.is_empty() {
            return Ok(true);
        }
        self.transaction_manager("send_offsets_to_transaction")?;
        Ok(false)
    }

    /// [`commit_transaction`](Producer::commit_transaction) for async code, awaited without
    /// blocking the executor's thread (same errors and bound: a [`Error::Timeout`] aborts
    /// nothing, await it again to keep waiting for the same commit). Ends with
    /// [`Error::Closed`] if the producer is force-closed or stops meanwhile.
    pub async fn commit_transaction_async(&self) -> Result<()> {
        self.txn_call_async("commit_transaction", TxnOp::Commit)
            .await
    }

    /// [`abort_transaction`](Producer::abort_transaction) for async code, awaited without
    /// blocking the executor's thread (same errors and bound).
    pub async fn abort_transaction_async(&self) -> Result<()> {
        self.txn_call_async("abort_transaction", TxnOp::Abort).await
    }

    /// The transaction protocol this producer speaks: [`TxnProtocol::V2`] (KIP-890 part 2)
    /// when the brokers finalize the `transaction.version` feature at level 2 (Kafka 4.0+,
    /// read from ApiVersions), [`TxnProtocol::V1`] otherwise. `None` for a producer without
    /// `transactional.id` or before `init_transactions` has succeeded. As in Java's
    /// `TransactionManager`, the choice is made when `init_transactions` gets its producer id and
    /// looked at again when each transaction ends (moving up to version 2 bumps the epoch
    /// first), never in the middle of a transaction.
    pub fn transaction_protocol(&self) -> Option<TxnProtocol> {
        self.inner.shared.txn.as_ref()?.lock().protocol()
    }

    /// The partitions of `topic`, waiting up to `max.block.ms` for metadata.
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
        validate_topic(topic)?;
        self.check_usable()?;
        let deadline = time::deadline(Instant::now(), self.inner.cfg.max_block);
        let t = self.wait_for_topic(topic, None, deadline)?;
        Ok(t.partitions.clone())
    }

    /// A snapshot of the producer's counters (typed; see [`Producer::metric_list`] for every
    /// metric under Java's names).
    pub fn metrics(&self) -> Metrics {
        metrics::snapshot_of(&self.inner.shared)
    }

    /// Every metric with the Java producer's group, name, tags (`client-id`, and `topic` or
    /// `node-id`), value and description, sorted by group, name and tags: what Java's
    /// `producer.metrics()` map holds. Groups `producer-metrics` (producer-wide: the sender's,
    /// the buffer pool's and the network's), `producer-topic-metrics` (per topic, from the
    /// first batch sent to it) and `producer-node-metrics` (per broker, from the first request
    /// sent to it). Units, windows and `NaN`s as Java's: see [`MetricEntry`]. Reading takes a
    /// lock the I/O thread records under (per request and per batch): read it every few
    /// seconds, not per record.
    pub fn metric_list(&self) -> Vec<MetricEntry> {
        metrics::list_of(&self.inner.shared, &self.inner.cfg.client_id)
    }

    /// What a metrics publisher reads, without keeping the producer open.
    #[cfg(feature = "metrics-exporter")]
    pub(crate) fn metrics_source(&self) -> (std::sync::Weak<Shared>, String) {
        (
            Arc::downgrade(&self.inner.shared),
            self.inner.cfg.client_id.clone(),
        )
    }
}

/// The `TxnOp` of a `send_offsets_to_transaction` call.
fn send_offsets_op<I, T>(offsets: I, group: &ConsumerGroupMetadata) -> TxnOp
where
    I: IntoIterator<Item = ((T, i32), OffsetAndMetadata)>,
    T: Into<String>,
{
    let offsets = offsets
        .into_iter()
        .map(|((t, p), o)| ((t.into(), p), o))
        .collect();
    TxnOp::SendOffsets {
        offsets,
        group: group.clone(),
    }
}

pub(crate) fn headers_of<'a>(record: &'a Record<'_>) -> Vec<RecordHeader<'a>> {
    record
        .headers
        .iter()
        .map(|h| RecordHeader {
            key: &h.key,
            value: h.value.as_ref().map(|v| v.as_bytes()),
        })
        .collect()
}

/// Awaits a batch's completion from any executor.
struct BatchDone(Arc<crate::accumulator::BatchShared>);

impl Future for BatchDone {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0.poll_done(cx) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_is_shareable() {
        fn is_send_sync_clone<T: Send + Sync + Clone>() {}
        is_send_sync_clone::<Producer>();
        is_send_sync_clone::<Producer>();
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic("orders.v1_x-y").is_ok());
        for bad in ["", ".", "..", "has space", "ünïcode", &"x".repeat(250)] {
            assert!(
                matches!(validate_topic(bad), Err(Error::InvalidTopic { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_topic(&"x".repeat(249)).is_ok());
    }

    // Invariant: a compression.type whose cargo feature is off parses, but building the
    // producer fails with a typed Config error naming the key and the feature.
    #[test]
    fn a_codec_left_out_of_the_build_fails_the_producer() {
        use crate::protocol::compression::CompressionCodec;
        for codec in CompressionCodec::ALL {
            let props = [
                ("bootstrap.servers", "127.0.0.1:1"),
                ("compression.type", codec.name()),
            ];
            let config = ProducerConfig::from_properties(props).expect("any codec parses");
            match Producer::detached(config) {
                Ok(_) => assert!(codec.is_enabled(), "{codec}"),
                Err(Error::Config { key, message }) => {
                    assert!(!codec.is_enabled(), "{codec}: {message}");
                    assert_eq!(key, "compression.type");
                    assert!(
                        message.contains(&format!("`{codec}` cargo feature")),
                        "{message}"
                    );
                }
                Err(e) => panic!("{codec}: {e}"),
            }
        }
    }

    /// Polls a future once with a no-op waker; `None` if it is pending.
    fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    fn detached(extra: &[(&str, &str)]) -> Producer {
        let mut props = vec![("bootstrap.servers", "127.0.0.1:1")];
        props.extend_from_slice(extra);
        Producer::detached(ProducerConfig::from_properties(props).unwrap()).unwrap()
    }

    /// Makes topic `t` (one partition) known to a detached producer.
    fn know_topic(p: &Producer) {
        let mut cluster = Cluster::default();
        let info = TopicInfo {
            name: Arc::from("t"),
            id: 1,
            error: KafkaCode::NONE,
            internal: false,
            partitions: vec![PartitionInfo {
                partition: 0,
                leader: Some(1),
                leader_epoch: 0,
                metadata_epoch: 0,
                replicas: vec![1],
                isr: vec![1],
                error: KafkaCode::NONE,
            }],
        };
        cluster.topics.insert(info.name.clone(), Arc::new(info));
        p.shared().cluster.store(Arc::new(cluster));
        p.shared().cluster_generation.fetch_add(1, Ordering::AcqRel);
    }

    // Fault 2 (instance): a flush_async future dropped before it completes used to leave the
    // flush counter raised, and linger.ms was ignored for the producer's life.
    #[test]
    fn a_dropped_flush_async_ends_its_flush() {
        let p = detached(&[]);
        know_topic(&p);
        let _f = p.send(Record::new("t").value("v")).unwrap();
        {
            let flush = p.flush_async();
            let mut flush = std::pin::pin!(flush);
            assert!(poll_once(flush.as_mut()).is_none(), "the record is pending");
            assert!(p.shared().acc.flushing());
        }
        assert!(!p.shared().acc.flushing(), "the dropped flush ended");
    }

    // Fault 2 (siblings): send_async dropped while it waits for buffer memory or for metadata
    // leaves nothing behind: no pool waiter, no record appended.
    #[test]
    fn a_dropped_send_async_leaves_no_trace() {
        let p = detached(&[("buffer.memory", "2048"), ("batch.size", "1024")]);
        know_topic(&p);
        // Fill the pool: two batches of 1024 bytes take all of buffer.memory.
        let v = vec![b'x'; 500];
        let _f1 = p.send(Record::new("t").partition(0).value(&v[..])).unwrap();
        let _f2 = p.send(Record::new("t").partition(0).value(&v[..])).unwrap();
        assert_eq!(p.shared().acc.pool.available(), 0);
        let incomplete = p.shared().acc.incomplete().len();
        {
            // A record with no room in the open batch needs a new one: it waits for memory.
            let send = p.send_async(Record::new("t").partition(0).value(&v[..]));
            let mut send = std::pin::pin!(send);
            let r = poll_once(send.as_mut());
            assert!(r.is_none(), "waits for memory: {r:?}");
            assert!(p.shared().acc.pool.has_waiters());
        }
        assert!(
            !p.shared().acc.pool.has_waiters(),
            "the dropped wait is uncounted"
        );
        assert_eq!(
            p.shared().acc.incomplete().len(),
            incomplete,
            "nothing appended"
        );
        {
            let send = p.send_async(Record::new("unknown-topic").value("v"));
            let mut send = std::pin::pin!(send);
            assert!(poll_once(send.as_mut()).is_none(), "waits for metadata");
        }
        assert_eq!(
            p.shared().acc.incomplete().len(),
            incomplete,
            "nothing appended"
        );
    }

    // Fault 3: caller durations saturate instead of overflowing.
    #[test]
    fn huge_caller_durations_do_not_overflow() {
        let p = detached(&[("max.block.ms", "9223372036854775807")]);
        know_topic(&p);
        // Nothing pending: returns at once, whatever the bound.
        p.flush_timeout(Duration::MAX).unwrap();
        let f = p.send(Record::new("t").value("v")).unwrap();
        // Pending forever on a detached producer: a zero wait gives the future back; the
        // maximal one must not panic computing its deadline (checked on a done future below).
        let f = f.wait_timeout(Duration::ZERO).unwrap_err();
        drop(f);
        p.close_timeout(Duration::MAX).unwrap();
    }

    // Fault 1 (sibling): a send blocked on buffer memory ends with Closed as soon as another
    // thread closes the producer (no I/O thread here: nothing would free the memory).
    #[test]
    fn close_ends_a_send_waiting_for_buffer_memory() {
        let p = detached(&[
            ("buffer.memory", "2048"),
            ("batch.size", "1024"),
            ("max.block.ms", "60000"),
        ]);
        know_topic(&p);
        let v = vec![b'x'; 500];
        let _f1 = p.send(Record::new("t").partition(0).value(&v[..])).unwrap();
        let _f2 = p.send(Record::new("t").partition(0).value(&v[..])).unwrap();
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            let v = vec![b'x'; 500];
            p2.send(Record::new("t").partition(0).value(&v[..]))
                .map(drop)
        });
        while !p.shared().acc.pool.has_waiters() {
            std::thread::yield_now();
        }
        p.shared().lifecycle.begin_close();
        let r = t.join().unwrap().map_err(Error::from);
        assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
    }
}
