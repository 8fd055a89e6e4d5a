//! The mock producer's bookkeeping: what was sent, what waits for completion, the transaction
//! flags (Java `MockProducer`'s fields), and how one send is completed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::accumulator::batch::{run_record_hooks, Ack, BatchShared, CompletionHooks, Delivery};
use crate::accumulator::failed::FailedRecords;
use crate::error::{Error, KafkaCode};
use crate::metadata::TopicInfo;
use crate::producer_api::TxnOffsets;
use crate::record::{Header, Record, RecordMetadata};

/// One record as the mock producer received it (after the interceptors' `on_send`), with the
/// partition the partitioners chose and the timestamp the producer gave it (the record's own,
/// else the send time in milliseconds since the epoch, as the real producer stamps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRecord {
    /// The topic.
    pub topic: String,
    /// The partition: the record's own, else the one the partitioners chose.
    pub partition: i32,
    /// The key's bytes (`None`: null key).
    pub key: Option<Vec<u8>>,
    /// The value's bytes (`None`: null value, a tombstone).
    pub value: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Vec<Header<'static>>,
    /// The record's timestamp in milliseconds (CreateTime).
    pub timestamp: i64,
}

impl MockRecord {
    /// The key as UTF-8, if it is set and valid UTF-8 (a convenience for assertions).
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The value as UTF-8, if it is set and valid UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        self.value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Consumer group offsets sent in one transaction: group id → partition → offset (Java's
/// `Map<String, Map<TopicPartition, OffsetAndMetadata>>`).
pub type GroupOffsets = BTreeMap<String, TxnOffsets>;

/// A call of the mock producer that can be made to fail (Java `MockProducer`'s public
/// `...Exception` fields), with [`MockProducer::set_error`](super::MockProducer::set_error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MockCall {
    /// `init_transactions` (Java's `initTransactionException`).
    InitTransactions,
    /// `begin_transaction` (`beginTransactionException`).
    BeginTransaction,
    /// `send_offsets_to_transaction` (`sendOffsetsToTransactionException`).
    SendOffsetsToTransaction,
    /// `commit_transaction` (`commitTransactionException`).
    CommitTransaction,
    /// `abort_transaction` (`abortTransactionException`).
    AbortTransaction,
    /// Every `send*` call (`sendException`): the send returns the error and records nothing.
    Send,
    /// `flush`, and the flush inside commit and abort (`flushException`).
    Flush,
    /// `partitions_for` (`partitionsForException`).
    PartitionsFor,
    /// `close` (`closeException`): the error is returned and the producer stays open.
    Close,
}

/// A send waiting for `complete_next`, `error_next` or `flush` (Java's `Completion`).
pub(super) struct Completion {
    pub offset: i64,
    pub metadata: RecordMetadata,
    pub delivery: Delivery,
    /// The state of the send's [`DeliveryFuture`](crate::DeliveryFuture), if it returned one.
    pub future: Option<Arc<BatchShared>>,
    /// The record as sent (partition and timestamp set), handed back if it fails.
    pub record: Record<'static>,
}

impl Completion {
    /// Resolves the send as the real producer resolves a record: its hooks (interceptors,
    /// then callback or delivery handler), then its future. `None` succeeds at the record's
    /// offset.
    pub(super) fn complete(self, error: Option<Error>, hooks: &CompletionHooks<'_>) {
        let mut md = self.metadata;
        let result = match error {
            None => {
                md.offset = self.offset;
                Ok(Ack {
                    base_offset: self.offset,
                    log_append_time: -1,
                })
            }
            Some(e) => Err(e),
        };
        let record = self.record;
        run_record_hooks(self.delivery, &result, &md, hooks, || Some(record.clone()));
        if let Some(f) = self.future {
            match result {
                Ok(ack) => f.complete(Ok(ack)),
                Err(e) => f.fail(e, Some(FailedRecords::One(record))),
            };
        }
    }
}

/// Java `MockProducer`'s state, behind the producer's lock.
#[derive(Default)]
pub(super) struct State {
    pub topics: HashMap<String, Arc<TopicInfo>>,
    pub closed: bool,
    pub fenced: bool,
    pub txn_initialized: bool,
    pub txn_in_flight: bool,
    pub txn_committed: bool,
    pub txn_aborted: bool,
    pub sent_offsets: bool,
    pub commit_count: u64,
    pub sent: Vec<MockRecord>,
    pub uncommitted: Vec<MockRecord>,
    pub group_offsets: Vec<GroupOffsets>,
    pub uncommitted_offsets: GroupOffsets,
    pub next_offsets: HashMap<(Arc<str>, i32), i64>,
    pub completions: VecDeque<Completion>,
    pub errors: HashMap<MockCall, Error>,
}

impl State {
    /// The injected error for `call`, if any (it stays until cleared, as Java's fields do).
    pub(super) fn injected(&self, call: MockCall) -> Result<(), Error> {
        match self.errors.get(&call) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Java's `nextOffset`: 0, 1, 2... per partition.
    pub(super) fn next_offset(&mut self, topic: &Arc<str>, partition: i32) -> i64 {
        let next = self
            .next_offsets
            .entry((topic.clone(), partition))
            .or_insert(0);
        let offset = *next;
        *next += 1;
        offset
    }

    /// The real producer's error for a call after `close`.
    pub(super) fn check_open(&self, what: &'static str) -> Result<(), Error> {
        if self.closed {
            Err(Error::Closed(what))
        } else {
            Ok(())
        }
    }

    /// Java's `verifyNotFenced`: the fatal error a fenced producer returns from then on.
    pub(super) fn check_not_fenced(&self) -> Result<(), Error> {
        if self.fenced {
            Err(Error::Fatal(Box::new(Error::request(
                "MockProducer",
                KafkaCode::PRODUCER_FENCED,
                Some("fenced by MockProducer::fence_producer".into()),
            ))))
        } else {
            Ok(())
        }
    }

    /// Java's `verifyTransactionsInitialized`.
    pub(super) fn check_initialized(&self) -> Result<(), Error> {
        if self.txn_initialized {
            Ok(())
        } else {
            Err(Error::IllegalState("call init_transactions first".into()))
        }
    }

    /// Java's `verifyTransactionInFlight`.
    pub(super) fn check_in_flight(&self, what: &str) -> Result<(), Error> {
        if self.txn_in_flight {
            Ok(())
        } else {
            Err(Error::IllegalState(format!(
                "{what} needs an open transaction"
            )))
        }
    }

    /// The checks every transactional call starts with (Java's `verifyNotClosed`,
    /// `verifyNotFenced`, `verifyTransactionsInitialized`), then the injected error.
    pub(super) fn check_txn_call(&self, call: MockCall) -> Result<(), Error> {
        self.check_open("transactional call after close")?;
        self.check_not_fenced()?;
        if call != MockCall::InitTransactions {
            self.check_initialized()?;
        }
        Ok(())
    }
}
