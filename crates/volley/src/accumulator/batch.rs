//! A producer batch, its shared completion state, and the future each record's sender holds.
//!
//! One allocation per batch holds the completion state ([`BatchShared`]); every
//! [`DeliveryFuture`] of the batch points into it with its record's index, so a record costs no
//! allocation of its own. A batch is completed exactly once: [`BatchShared::complete`] ignores a
//! second outcome, and the `debug_assert` there flags the bug in tests.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::delivery_error::DeliveryError;
use crate::error::Error;
use crate::interceptor::{DeliveryHandler, Interceptors};
use crate::protocol::record_batch::BatchBuilder;
use crate::record::{Record, RecordMetadata};

use super::failed::FailedRecords;
use super::wire::WireBatch;

/// What a broker acknowledged for a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ack {
    /// The offset of the batch's first record; -1 when unknown (acks=0).
    pub base_offset: i64,
    /// The broker's append time when the topic uses `LogAppendTime`, else -1.
    pub log_append_time: i64,
}

#[derive(Debug)]
enum Outcome {
    Pending(Vec<Waker>),
    /// Resolved; a failed batch keeps the records its futures hand back (`None`: every record
    /// was reported to a callback or the delivery handler, or the batch's bytes were gone).
    Done(Result<Ack, Error>, Option<FailedRecords>),
    /// The batch was split after MESSAGE_TOO_LARGE: record `i` now lives at `moved[i]`.
    Split(Arc<[(Arc<BatchShared>, u32)]>),
}

/// The completion state of one batch, shared by its futures.
#[derive(Debug)]
pub(crate) struct BatchShared {
    pub topic: Arc<str>,
    pub partition: i32,
    outcome: Mutex<Outcome>,
    cond: Condvar,
}

impl BatchShared {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<BatchShared> {
        Arc::new(BatchShared {
            topic,
            partition,
            outcome: Mutex::new(Outcome::Pending(Vec::new())),
            cond: Condvar::new(),
        })
    }

    /// Resolves the batch. Returns false (and changes nothing) if it was already resolved.
    pub(crate) fn complete(&self, result: Result<Ack, Error>) -> bool {
        self.resolve(Outcome::Done(result, None))
    }

    /// Resolves the batch with an error and the failed records its futures hand back.
    pub(crate) fn fail(&self, error: Error, records: Option<FailedRecords>) -> bool {
        self.resolve(Outcome::Done(Err(error), records))
    }

    /// Resolves the batch unless it already is (no double-resolution check: for the last-resort
    /// sweep when the I/O thread ends abnormally).
    pub(crate) fn complete_if_pending(&self, result: Result<Ack, Error>) {
        if !self.is_resolved() {
            let _ = self.resolve_quietly(Outcome::Done(result, None));
        }
    }

    /// Points every record of this batch at its place in the batches it was split into.
    pub(crate) fn complete_split(&self, moved: Vec<(Arc<BatchShared>, u32)>) -> bool {
        self.resolve(Outcome::Split(moved.into()))
    }

    fn resolve(&self, new: Outcome) -> bool {
        let resolved = self.resolve_quietly(new);
        debug_assert!(
            resolved,
            "batch {}-{} resolved twice",
            self.topic, self.partition
        );
        resolved
    }

    fn resolve_quietly(&self, new: Outcome) -> bool {
        let wakers = {
            let mut o = self.outcome.lock();
            match &mut *o {
                Outcome::Pending(w) => {
                    let w = std::mem::take(w);
                    *o = new;
                    w
                }
                _ => return false,
            }
        };
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
        true
    }

    /// Whether this batch has an outcome of its own (done or split).
    pub(crate) fn is_resolved(&self) -> bool {
        !matches!(&*self.outcome.lock(), Outcome::Pending(_))
    }

    /// Whether the batch (and, through splits, every record of it) has an outcome.
    pub(crate) fn is_done(&self) -> bool {
        match &*self.outcome.lock() {
            Outcome::Pending(_) => false,
            Outcome::Done(..) => true,
            Outcome::Split(moved) => moved.iter().all(|(b, _)| b.is_done()),
        }
    }

    /// Registers `cx`'s waker unless done; returns whether done (following splits).
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> bool {
        let moved = {
            let mut o = self.outcome.lock();
            match &mut *o {
                Outcome::Pending(w) => {
                    if !w.iter().any(|x| x.will_wake(cx.waker())) {
                        w.push(cx.waker().clone());
                    }
                    return false;
                }
                Outcome::Done(..) => return true,
                Outcome::Split(m) => m.clone(),
            }
        };
        moved.iter().all(|(b, _)| b.poll_done(cx))
    }

    /// Blocks until done or `deadline`; returns whether done.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let moved = {
            let mut o = self.outcome.lock();
            loop {
                match &*o {
                    Outcome::Pending(_) => match deadline {
                        None => self.cond.wait(&mut o),
                        Some(d) => {
                            if self.cond.wait_until(&mut o, d).timed_out() {
                                return !matches!(&*o, Outcome::Pending(_));
                            }
                        }
                    },
                    Outcome::Done(..) => return true,
                    Outcome::Split(m) => break m.clone(),
                }
            }
        };
        moved.iter().all(|(b, _)| b.wait_until(deadline))
    }
}

/// The per-record facts a future needs to build its [`RecordMetadata`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordFacts {
    pub index: u32,
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
}

/// The outcome of one `send`: resolves to the record's [`RecordMetadata`] once the broker
/// acknowledges it, or to the error that ended its delivery.
///
/// It is a plain [`std::future::Future`] that needs no particular runtime (the background I/O
/// thread wakes it), and [`DeliveryFuture::wait`] blocks the calling thread instead. Dropping it
/// does not cancel the delivery.
#[derive(Debug)]
#[must_use = "a DeliveryFuture tells whether the record was delivered"]
pub struct DeliveryFuture {
    shared: Arc<BatchShared>,
    facts: RecordFacts,
}

enum Step {
    Ready(Result<RecordMetadata, DeliveryError>),
    Follow(Arc<BatchShared>, u32),
    Pending,
}

impl DeliveryFuture {
    pub(crate) fn new(shared: Arc<BatchShared>, facts: RecordFacts) -> DeliveryFuture {
        DeliveryFuture { shared, facts }
    }

    /// A future for one record of its own, and the handle that resolves it: for producers
    /// without batches ([`MockProducer`](crate::mock::MockProducer)). Its record is the batch's
    /// only one (index 0), so a success at `offset` gives the record that offset.
    pub(crate) fn standalone(
        topic: Arc<str>,
        partition: i32,
        timestamp: i64,
        key_size: i32,
        value_size: i32,
    ) -> (DeliveryFuture, Arc<BatchShared>) {
        let shared = BatchShared::new(topic, partition);
        let facts = RecordFacts {
            index: 0,
            timestamp,
            key_size,
            value_size,
        };
        (DeliveryFuture::new(shared.clone(), facts), shared)
    }

    fn step(&self, waker: Option<&Waker>) -> Step {
        let mut o = self.shared.outcome.lock();
        match &mut *o {
            Outcome::Done(Ok(ack), _) => Step::Ready(Ok(metadata(&self.shared, &self.facts, ack))),
            Outcome::Done(Err(e), records) => {
                let record = records.as_ref().and_then(|r| r.record(self.facts.index));
                Step::Ready(Err(DeliveryError::new(e.clone(), record)))
            }
            Outcome::Split(moved) => {
                let (b, i) = &moved[self.facts.index as usize];
                Step::Follow(b.clone(), *i)
            }
            Outcome::Pending(wakers) => {
                if let Some(w) = waker {
                    if !wakers.iter().any(|x| x.will_wake(w)) {
                        wakers.push(w.clone());
                    }
                }
                Step::Pending
            }
        }
    }

    /// Blocks the calling thread until the record is acknowledged or has failed. Never call it
    /// from an async task; `.await` the future there.
    pub fn wait(mut self) -> Result<RecordMetadata, DeliveryError> {
        loop {
            match self.step(None) {
                Step::Ready(r) => return r,
                Step::Follow(b, i) => {
                    self.shared = b;
                    self.facts.index = i;
                }
                Step::Pending => {
                    let mut o = self.shared.outcome.lock();
                    while matches!(&*o, Outcome::Pending(_)) {
                        self.shared.cond.wait(&mut o);
                    }
                }
            }
        }
    }

    /// Like [`DeliveryFuture::wait`], giving up after `timeout` (the delivery goes on); returns
    /// the future back on timeout. Any `timeout` is accepted (`Duration::MAX` waits as long as
    /// `wait`).
    pub fn wait_timeout(
        mut self,
        timeout: Duration,
    ) -> Result<Result<RecordMetadata, DeliveryError>, Self> {
        let deadline = crate::util::time::deadline(Instant::now(), timeout);
        loop {
            match self.step(None) {
                Step::Ready(r) => return Ok(r),
                Step::Follow(b, i) => {
                    self.shared = b;
                    self.facts.index = i;
                }
                Step::Pending => {
                    let mut o = self.shared.outcome.lock();
                    while matches!(&*o, Outcome::Pending(_)) {
                        if self.shared.cond.wait_until(&mut o, deadline).timed_out()
                            && matches!(&*o, Outcome::Pending(_))
                        {
                            drop(o);
                            return Err(self);
                        }
                    }
                }
            }
        }
    }

    /// Whether the outcome is known (a `wait` would not block).
    pub fn is_done(&self) -> bool {
        self.shared.is_done()
    }
}

fn metadata(shared: &BatchShared, f: &RecordFacts, ack: &Ack) -> RecordMetadata {
    RecordMetadata {
        topic: shared.topic.clone(),
        partition: shared.partition,
        offset: if ack.base_offset < 0 {
            -1
        } else {
            ack.base_offset + f.index as i64
        },
        timestamp: if ack.log_append_time >= 0 {
            ack.log_append_time
        } else {
            f.timestamp
        },
        serialized_key_size: f.key_size,
        serialized_value_size: f.value_size,
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, DeliveryError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.step(Some(cx.waker())) {
                Step::Ready(r) => return Poll::Ready(r),
                Step::Follow(b, i) => {
                    self.shared = b;
                    self.facts.index = i;
                }
                Step::Pending => return Poll::Pending,
            }
        }
    }
}

/// A user callback, run on the I/O thread when its record resolves: with its metadata, or with
/// the error and the record handed back ([`DeliveryError`]).
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata, DeliveryError>) + Send + 'static>;

/// How a record reports its outcome: one value from `send` to the batch's completion.
pub(crate) enum Delivery {
    /// A [`DeliveryFuture`] returned to the caller (nothing per record at completion, beyond
    /// the interceptors).
    Future,
    /// A boxed callback, run on the I/O thread.
    Callback(Callback),
    /// The producer's [`DeliveryHandler`], called with this value.
    Opaque(u64),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Future => f.write_str("Future"),
            Delivery::Callback(_) => f.write_str("Callback"),
            Delivery::Opaque(o) => write!(f, "Opaque({o})"),
        }
    }
}

/// Per-record work to run at completion: the record's delivery (callback or delivery handler)
/// and the interceptors' acknowledgement, which need the record's facts.
pub(crate) struct Thunk {
    pub facts: RecordFacts,
    pub delivery: Delivery,
}

/// Who hears of a batch's records at completion besides their futures.
pub(crate) struct CompletionHooks<'a> {
    pub interceptors: &'a Interceptors,
    pub delivery_handler: Option<&'a dyn DeliveryHandler>,
}

/// One record's completion hooks, as Java's `ProducerBatch.completeFutureAndFireCallbacks` runs
/// them per record: the interceptors' `on_acknowledgement`, then its callback or the delivery
/// handler, each guarded (a panic is logged). A [`Delivery::Future`] needs nothing here: its
/// future reads the batch's outcome, which the caller sets afterwards.
#[inline]
pub(crate) fn run_record_hooks(
    delivery: Delivery,
    result: &Result<Ack, Error>,
    md: &RecordMetadata,
    hooks: &CompletionHooks<'_>,
    record: impl FnOnce() -> Option<Record<'static>>,
) {
    if !hooks.interceptors.is_empty() {
        hooks
            .interceptors
            .on_acknowledgement(md, result.as_ref().err());
    }
    // The failed record is read back only on failure, and only for a callback or handler.
    let error = |e: &Error| DeliveryError::new(e.clone(), record());
    match delivery {
        Delivery::Future => {}
        Delivery::Opaque(o) => {
            if let Some(h) = hooks.delivery_handler {
                let e;
                let r = match result {
                    Ok(_) => Ok(md),
                    Err(err) => {
                        e = error(err);
                        Err(&e)
                    }
                };
                if catch_unwind(AssertUnwindSafe(|| h.on_delivery(r, o))).is_err() {
                    tracing::warn!("delivery handler panicked");
                }
            }
        }
        Delivery::Callback(cb) => {
            let r = match result {
                Ok(_) => Ok(md.clone()),
                Err(err) => Err(error(err)),
            };
            if catch_unwind(AssertUnwindSafe(|| cb(r))).is_err() {
                tracing::warn!("send callback panicked");
            }
        }
    }
}

/// What a completed batch gives back to the accumulator: its memory.
#[derive(Debug)]
pub(crate) struct Released {
    pub id: u64,
    pub pool_bytes: usize,
    pub builder: Option<BatchBuilder>,
    pub closed: Option<WireBatch>,
}

impl std::fmt::Debug for Thunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thunk").field("facts", &self.facts).finish()
    }
}

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchState {
    /// Accepting records.
    Open,
    /// Closed (header written, compressed), waiting in its partition's queue to be sent or
    /// retried.
    Closed,
    /// Sent; its response has not arrived.
    InFlight,
}

/// The producer-id fields written into a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerStamp {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

/// One batch of one partition.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    /// Unique within the producer (the key of the accumulator's incomplete set).
    pub id: u64,
    pub topic: Arc<str>,
    pub partition: i32,
    pub shared: Arc<BatchShared>,
    pub state: BatchState,
    pub builder: Option<BatchBuilder>,
    pub closed: Option<WireBatch>,
    /// Capacity accounted to the buffer pool for this batch's buffer while it is open; closing
    /// moves it to the [`WireBatch`], which gives it back when its last holder drops it.
    pub pool_bytes: usize,
    pub record_count: u32,
    /// The largest record appended, in encoded bytes (Java's `ProducerBatch.maxRecordSize`,
    /// for `record-size-avg`/`-max`).
    pub max_record_size: u32,
    pub created: Instant,
    /// When the batch was last sent (or created, before the first send).
    pub last_attempt: Instant,
    pub attempts: u32,
    /// A retried batch waits until then.
    pub retry_at: Option<Instant>,
    pub stamp: Option<ProducerStamp>,
    pub thunks: Vec<Thunk>,
    /// Whether the batch is the product of a split (it is then never split again below one
    /// record, and keeps its records' order).
    pub split: bool,
    /// The last retriable error, reported with a delivery timeout.
    pub last_error: Option<Error>,
    /// The partition's leader epoch when the batch was last sent (-1: not sent, or unknown). A
    /// retry skips its backoff once the leader epoch has moved past it (KIP-951, as Java's
    /// `ProducerBatch.hasLeaderChangedForTheOngoingRetry`).
    pub sent_leader_epoch: i32,
    /// An attempt under the batch's current producer stamp got no answer (the connection was
    /// lost or the request timed out): the broker may have appended it, whatever a later
    /// attempt is answered, until one is acknowledged (DUPLICATE_SEQUENCE_NUMBER included) or
    /// the broker's OUT_OF_ORDER_SEQUENCE_NUMBER shows it lacks the sequence (when no later
    /// sequence was acknowledged). While set, an
    /// epoch bump must not give the batch new sequences (`sender/idempotence.rs`).
    pub maybe_written: bool,
}

impl ProducerBatch {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        builder: BatchBuilder,
        pool_bytes: usize,
        now: Instant,
    ) -> ProducerBatch {
        ProducerBatch {
            id: 0,
            shared: BatchShared::new(topic.clone(), partition),
            topic,
            partition,
            state: BatchState::Open,
            builder: Some(builder),
            closed: None,
            pool_bytes,
            record_count: 0,
            max_record_size: 0,
            created: now,
            last_attempt: now,
            attempts: 0,
            retry_at: None,
            stamp: None,
            thunks: Vec::new(),
            split: false,
            last_error: None,
            sent_leader_epoch: -1,
            maybe_written: false,
        }
    }

    /// Uncompressed bytes so far (open) or the wire size (closed).
    pub(crate) fn size(&self) -> usize {
        match (&self.builder, &self.closed) {
            (Some(b), _) => b.estimated_size(),
            (None, Some(c)) => c.as_bytes().len(),
            _ => 0,
        }
    }

    /// Whether the delivery timeout has passed for this batch.
    pub(crate) fn has_expired(&self, now: Instant, delivery_timeout: Duration) -> bool {
        now.saturating_duration_since(self.created) >= delivery_timeout
    }

    /// Resolves the batch, exactly once (Java's `ProducerBatch.completeFutureAndFireCallbacks`):
    /// for each record, the interceptors' `on_acknowledgement`, then its callback or the
    /// delivery handler (each guarded: a panic is logged); then its futures. Callbacks run
    /// before the futures resolve, so that a `flush` returns only after every callback of the
    /// records it waited for has run (as in Java). Returns the batch's memory for the pool.
    pub(crate) fn complete(
        self,
        result: Result<Ack, Error>,
        hooks: &CompletionHooks<'_>,
    ) -> Released {
        if self.shared.is_resolved() {
            debug_assert!(
                false,
                "batch {}-{} resolved twice",
                self.topic, self.partition
            );
            return self.into_released();
        }
        // One metadata value per batch, updated per record: the topic's `Arc` is cloned once
        // per batch, not per record.
        let mut md = RecordMetadata {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: -1,
            timestamp: -1,
            serialized_key_size: -1,
            serialized_value_size: -1,
        };
        let mut this = self;
        // A failed batch reads its records back from its bytes (nothing is kept per record
        // while the batch may still succeed).
        let failed = match &result {
            Ok(_) => None,
            Err(_) => FailedRecords::of(&this),
        };
        // On failure, the records reported to a callback or the delivery handler (the others
        // have futures); not counted on success.
        let reported = match &failed {
            None => 0,
            Some(_) => this
                .thunks
                .iter()
                .filter(|t| !matches!(t.delivery, Delivery::Future))
                .count(),
        };
        for t in std::mem::take(&mut this.thunks) {
            md.offset = match &result {
                Ok(a) if a.base_offset >= 0 => a.base_offset + t.facts.index as i64,
                _ => -1,
            };
            md.timestamp = match &result {
                Ok(a) if a.log_append_time >= 0 => a.log_append_time,
                _ => t.facts.timestamp,
            };
            md.serialized_key_size = t.facts.key_size;
            md.serialized_value_size = t.facts.value_size;
            run_record_hooks(t.delivery, &result, &md, hooks, || {
                failed.as_ref().and_then(|r| r.record(t.facts.index))
            });
        }
        match result {
            Ok(ack) => this.shared.complete(Ok(ack)),
            Err(e) => {
                // Keep the records only if a future may still ask for one.
                let futures_wait = reported < this.record_count as usize;
                this.shared.fail(e, failed.filter(|_| futures_wait))
            }
        };
        this.into_released()
    }

    fn into_released(self) -> Released {
        Released {
            id: self.id,
            pool_bytes: self.pool_bytes,
            builder: self.builder,
            closed: self.closed,
        }
    }

    /// Whether a retry is still backing off.
    pub(crate) fn in_backoff(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| now < t)
    }
}
