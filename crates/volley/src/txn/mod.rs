//! Transactions: the public types of the transactional API, the result a user's call waits on,
//! and the transaction manager ([`manager`]), Java's `TransactionManager` state machine.
//!
//! The sender's side (sending what the manager asks, feeding it the responses) is
//! `sender/transactional.rs`.

pub(crate) mod manager;
pub(crate) mod protocol;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;
use crate::lifecycle::Lifecycle;

pub(crate) use manager::{Op, TxnManager};
pub use protocol::TxnProtocol;

/// Java's `TransactionManager.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// `init_transactions` not called yet.
    Uninitialized,
    /// Getting a producer id and epoch from the coordinator.
    Initializing,
    /// No transaction open.
    Ready,
    /// A transaction is open.
    InTransaction,
    /// `commit_transaction` under way.
    Committing,
    /// `abort_transaction` under way.
    Aborting,
    /// The transaction failed; only an abort is possible.
    AbortableError,
    /// The producer cannot be used any more.
    Fatal,
}

impl TxnState {
    fn can_transition_to(self, to: TxnState) -> bool {
        use TxnState::*;
        matches!(
            (self, to),
            (_, Fatal)
                | (Uninitialized, Initializing)
                | (Initializing, Ready)
                | (Ready, InTransaction)
                | (Ready, Initializing)
                | (InTransaction, Committing)
                | (InTransaction, Aborting)
                | (InTransaction, AbortableError)
                | (Committing, Ready)
                | (Committing, Initializing)
                | (Committing, AbortableError)
                | (Aborting, Ready)
                | (Aborting, Initializing)
                | (AbortableError, Aborting)
                | (AbortableError, AbortableError)
        )
    }
}

/// A transactional call that a user thread hands to the I/O thread (`Command::Txn`), which
/// starts it on the [`TxnManager`].
#[derive(Debug, Clone)]
pub(crate) enum TxnOp {
    /// `init_transactions`.
    Init,
    /// `send_offsets_to_transaction`.
    SendOffsets {
        offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
    },
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

impl TxnOp {
    /// Which user operation this is (a call repeated after a timeout waits for the pending
    /// result of the same operation).
    pub(crate) fn kind(&self) -> Op {
        match self {
            TxnOp::Init => Op::Init,
            TxnOp::SendOffsets { .. } => Op::SendOffsets,
            TxnOp::Commit => Op::Commit,
            TxnOp::Abort => Op::Abort,
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    result: Option<Result<()>>,
    /// Results that end with this one (a call whose operation was already pending).
    followers: Vec<Arc<TxnResult>>,
}

/// The outcome of one transactional call, awaited by the user's thread.
#[derive(Debug)]
pub(crate) struct TxnResult {
    outcome: Mutex<Outcome>,
    /// Notified when the outcome is set: the caller waits on the producer's lifecycle.
    lifecycle: Arc<Lifecycle>,
}

impl TxnResult {
    pub(crate) fn new(lifecycle: Arc<Lifecycle>) -> TxnResult {
        TxnResult {
            outcome: Mutex::new(Outcome::default()),
            lifecycle,
        }
    }

    /// Sets the outcome (once; later calls change nothing) and hands it to the followers.
    pub(crate) fn complete(&self, r: Result<()>) {
        let followers = {
            let mut o = self.outcome.lock();
            if o.result.is_some() {
                return;
            }
            o.result = Some(r.clone());
            std::mem::take(&mut o.followers)
        };
        for f in followers {
            f.complete(r.clone());
        }
        self.lifecycle.notify();
    }

    /// Makes `other` end with this result (now, if it already has one).
    pub(crate) fn forward_to(&self, other: Arc<TxnResult>) {
        let done = {
            let mut o = self.outcome.lock();
            match &o.result {
                Some(r) => Some(r.clone()),
                None => {
                    o.followers.push(other.clone());
                    None
                }
            }
        };
        if let Some(r) = done {
            other.complete(r);
        }
    }

    /// The outcome, once there is one.
    pub(crate) fn try_get(&self) -> Option<Result<()>> {
        self.outcome.lock().result.clone()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.outcome.lock().result.is_some()
    }
}

/// A consumer's position to commit with the transaction (Java's `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The offset of the next record to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no metadata.
    pub fn new(offset: i64) -> OffsetAndMetadata {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// The consumer's group membership (Java's `ConsumerGroupMetadata`). For a consumer that is not
/// a group member (manual assignment), only the group id is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The generation, or -1.
    pub generation_id: i32,
    /// The member id, or empty.
    pub member_id: String,
    /// The static member id, if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata for a group id alone (generation -1, no member id).
    pub fn new(group_id: impl Into<String>) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// Java's checks of `sendOffsetsToTransaction`'s arguments, before anything is sent:
/// `IllegalArgument` for group metadata with a generation above 0 but no member id, a negative
/// offset (as Java's `OffsetAndMetadata`) or partition; `InvalidTopic` for a name Kafka refuses.
pub(crate) fn check_offsets(
    offsets: &BTreeMap<(String, i32), OffsetAndMetadata>,
    group: &ConsumerGroupMetadata,
) -> crate::Result<()> {
    if group.generation_id > 0 && group.member_id.is_empty() {
        return Err(crate::Error::IllegalArgument(format!(
            "group metadata of {:?} has generation {} but no member id",
            group.group_id, group.generation_id
        )));
    }
    for ((topic, partition), o) in offsets {
        crate::producer::validate_topic(topic)?;
        if *partition < 0 || o.offset < 0 {
            return Err(crate::Error::IllegalArgument(format!(
                "invalid offset {} for {topic}-{partition}: partitions and offsets are \
                 non-negative",
                o.offset
            )));
        }
    }
    Ok(())
}
