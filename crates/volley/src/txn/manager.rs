//! The transaction manager: Java's `TransactionManager` state machine, sans IO.
//!
//! A user's call reaches the sender as a `Command::Txn`, which calls [`TxnManager::begin`]
//! (the `begin_*` methods): they check the transition, queue the work and hand back a
//! [`TxnResult`] that the caller waits on. `begin_transaction` and `maybe_add_partition` are
//! called by user threads directly (synchronous, as in Java). The sender asks
//! [`TxnManager::next_request`] for the next request to send (FindCoordinator, InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), one at a time, and feeds
//! each response back; the manager classes every error as retriable (the same request again,
//! after a coordinator lookup if the coordinator moved), abortable (the transaction must be
//! aborted) or fatal (the producer must be closed).
//!
//! Both of Kafka's transaction protocols are spoken ([`super::protocol`]): version 1 adds
//! partitions explicitly with AddPartitionsToTxn before their first batch (Produce capped at
//! v11); version 2 (KIP-890 part 2), chosen when the brokers finalize `transaction.version` 2,
//! lets Produce v12 and TxnOffsetCommit v5 add them implicitly and takes the bumped epoch from
//! each EndTxn v5 answer.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, InitProducerIdRequest, InitProducerIdResponse, ProducerId,
    TopicName, TransactionalId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, KafkaCode, Result};
use crate::lifecycle::Lifecycle;

use super::protocol::{end_txn_epoch, EndTxnEpoch, TxnProtocol};
use super::{ConsumerGroupMetadata, OffsetAndMetadata, TxnOp, TxnResult, TxnState};
use crate::util::time::deadline;

/// Which coordinator a request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Any broker (FindCoordinator).
    AnyNode,
    /// The transaction coordinator.
    TxnCoordinator(i32),
    /// A consumer group's coordinator.
    GroupCoordinator(i32),
}

/// A request the sender should send for the manager.
#[derive(Debug)]
pub(crate) enum TxnRequest {
    FindCoordinator(FindCoordinatorRequest, CoordinatorKind),
    InitProducerId(InitProducerIdRequest),
    AddPartitions(AddPartitionsToTxnRequest),
    AddOffsets(AddOffsetsToTxnRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    EndTxn(EndTxnRequest),
}

/// The kind of coordinator looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CoordinatorKind {
    Transaction,
    Group(String),
}

#[derive(Debug)]
enum Work {
    InitProducerId {
        bump: bool,
    },
    AddOffsets {
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
    },
    TxnOffsetCommit {
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
    },
    EndTxn {
        commit: bool,
    },
}

/// What the sender must do after a response.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Install this producer id and epoch (sequences restart).
    pub producer: Option<(i64, i16)>,
    /// The producer is fenced or otherwise unusable.
    pub fatal: Option<Error>,
    /// A coordinator's address, for the sender's node table.
    pub coordinator_address: Option<(i32, String)>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TxnManager {
    pub transactional_id: String,
    timeout_ms: i32,
    retry_backoff: Duration,
    state: TxnState,
    last_error: Option<Error>,
    txn_coordinator: Option<i32>,
    group_coordinator: Option<(String, i32)>,
    partitions_in_txn: HashSet<(Arc<str>, i32)>,
    new_partitions: HashSet<(Arc<str>, i32)>,
    pending_partitions: HashSet<(Arc<str>, i32)>,
    queue: VecDeque<Work>,
    in_flight: bool,
    retry_at: Option<Instant>,
    /// The user call whose result is pending, so that calling it again after a timeout waits
    /// for the same outcome instead of starting over.
    result: Option<(Op, Arc<TxnResult>)>,
    producer_id: i64,
    epoch: i16,
    need_lookup: Option<CoordinatorKind>,
    /// After an abort, the epoch must be bumped before the next transaction (a sequence gap).
    bump_after_abort: bool,
    /// Offsets were added to the open transaction (it then needs an EndTxn even with no
    /// partitions).
    offsets_added: bool,
    /// Version 2: a batch of the open transaction was sent (the broker may have added its
    /// partition), so the transaction needs an EndTxn.
    produced: bool,
    /// The transaction protocol in use; `None` until `init_transactions` gets a producer id.
    protocol: Option<TxnProtocol>,
    /// The newest finalized features any broker reported: `(features epoch,
    /// transaction.version)`, as Java's `ApiVersions` keeps them.
    features: (i64, i16),
    lifecycle: Arc<Lifecycle>,
}

/// The user operations, for matching a retried call with its pending result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Init,
    Commit,
    Abort,
    SendOffsets,
}

fn tp_topics(parts: &HashSet<(Arc<str>, i32)>) -> Vec<AddPartitionsToTxnTopic> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(t.to_string())))
                .with_partitions(ps)
        })
        .collect()
}

fn abortable(e: Error) -> Error {
    match e {
        Error::Abortable(_) | Error::Fatal(_) => e,
        e => Error::Abortable(Box::new(e)),
    }
}

impl TxnManager {
    pub(crate) fn new(
        transactional_id: String,
        timeout: Duration,
        retry_backoff: Duration,
        lifecycle: Arc<Lifecycle>,
    ) -> TxnManager {
        TxnManager {
            lifecycle,
            transactional_id,
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            retry_backoff,
            state: TxnState::Uninitialized,
            last_error: None,
            txn_coordinator: None,
            group_coordinator: None,
            partitions_in_txn: HashSet::new(),
            new_partitions: HashSet::new(),
            pending_partitions: HashSet::new(),
            queue: VecDeque::new(),
            in_flight: false,
            retry_at: None,
            result: None,
            producer_id: -1,
            epoch: -1,
            need_lookup: None,
            bump_after_abort: false,
            offsets_added: false,
            produced: false,
            protocol: None,
            features: (-1, 0),
        }
    }

    pub(crate) fn state(&self) -> TxnState {
        self.state
    }

    /// The transaction protocol in use (`None` before `init_transactions` got a producer id).
    pub(crate) fn protocol(&self) -> Option<TxnProtocol> {
        self.protocol
    }

    fn is_v2(&self) -> bool {
        self.protocol == Some(TxnProtocol::V2)
    }

    /// A broker reported its finalized features (ApiVersions): `(features epoch,
    /// transaction.version)`. The newest report is kept; it takes effect at the next choice of
    /// protocol (the producer id's first grant, or the end of a transaction).
    pub(crate) fn observe_features(&mut self, features: (i64, i16)) {
        if features.0 > self.features.0 {
            self.features = features;
        }
    }

    /// The protocol the newest finalized features call for.
    fn wanted_protocol(&self) -> TxnProtocol {
        TxnProtocol::for_feature_level(self.features.1)
    }

    fn set_protocol(&mut self, p: TxnProtocol) {
        if self.protocol != Some(p) {
            tracing::info!(
                transactional_id = %self.transactional_id,
                protocol = p.number(),
                transaction_version = self.features.1,
                "transactions use Kafka's transaction protocol version {} ({})",
                p.number(),
                match p {
                    TxnProtocol::V2 => "the brokers finalize transaction.version 2: partitions \
                                        added by Produce, epoch bumped by each EndTxn",
                    TxnProtocol::V1 => "transaction.version 2 not finalized: AddPartitionsToTxn",
                }
            );
        }
        self.protocol = Some(p);
    }

    /// A batch of the open transaction is being sent.
    pub(crate) fn on_batch_sent(&mut self) {
        self.produced = true;
    }

    fn transition(&mut self, to: TxnState) -> Result<()> {
        if self.state == TxnState::Fatal {
            return Err(self.fatal_error());
        }
        if !self.state.can_transition_to(to) {
            return Err(Error::IllegalState(format!(
                "invalid transaction transition from {:?} to {:?}",
                self.state, to
            )));
        }
        self.state = to;
        Ok(())
    }

    /// The error a call gets in `AbortableError`: the failure that made the transaction
    /// abortable.
    fn abortable_error(&self) -> Error {
        abortable(
            self.last_error
                .clone()
                .unwrap_or(Error::IllegalState("transaction failed".into())),
        )
    }

    fn fatal_error(&self) -> Error {
        match &self.last_error {
            Some(e @ Error::Fatal(_)) => e.clone(),
            Some(e) => Error::Fatal(Box::new(e.clone())),
            None => Error::Fatal(Box::new(Error::IllegalState(
                "transaction manager failed".into(),
            ))),
        }
    }

    /// Starts a user's transactional call (handed over as `Command::Txn`): its result, or the
    /// pending result of the same call made earlier.
    pub(crate) fn begin(&mut self, op: TxnOp) -> Result<Arc<TxnResult>> {
        match op {
            TxnOp::Init => self.begin_init(),
            TxnOp::SendOffsets { offsets, group } => self.begin_send_offsets(offsets, group),
            TxnOp::Commit => self.begin_commit(),
            TxnOp::Abort => self.begin_abort(),
        }
    }

    /// A pending result of the same operation, to wait on again after a timeout.
    pub(crate) fn pending(&self, op: Op) -> Option<Arc<TxnResult>> {
        match &self.result {
            Some((o, r)) if *o == op && !r.is_done() => Some(r.clone()),
            _ => None,
        }
    }

    fn start(&mut self, op: Op) -> Arc<TxnResult> {
        let r = Arc::new(TxnResult::new(self.lifecycle.clone()));
        self.result = Some((op, r.clone()));
        r
    }

    fn finish(&mut self, r: Result<()>) {
        if let Some((_, res)) = self.result.take() {
            res.complete(r);
        }
    }

    /// `init_transactions`.
    pub(crate) fn begin_init(&mut self) -> Result<Arc<TxnResult>> {
        if let Some(r) = self.pending(Op::Init) {
            return Ok(r);
        }
        if self.state == TxnState::Ready && self.producer_id >= 0 {
            return Err(Error::IllegalState(
                "init_transactions was already called".into(),
            ));
        }
        self.transition(TxnState::Initializing)?;
        self.queue.push_back(Work::InitProducerId { bump: false });
        Ok(self.start(Op::Init))
    }

    /// `begin_transaction`: a local transition.
    pub(crate) fn begin_transaction(&mut self) -> Result<()> {
        if self.state == TxnState::Fatal {
            return Err(self.fatal_error());
        }
        if self.state == TxnState::Uninitialized {
            return Err(Error::IllegalState("call init_transactions first".into()));
        }
        if self.state != TxnState::Ready {
            return Err(Error::IllegalState(format!(
                "cannot begin a transaction in state {:?}",
                self.state
            )));
        }
        self.transition(TxnState::InTransaction)
    }

    /// A record is about to go to `topic`-`partition`: it must be in a transaction, and the
    /// partition is added to it before its first batch is sent.
    pub(crate) fn maybe_add_partition(&mut self, topic: &Arc<str>, partition: i32) -> Result<()> {
        match self.state {
            TxnState::InTransaction => {}
            TxnState::AbortableError => return Err(self.abortable_error()),
            TxnState::Fatal => return Err(self.fatal_error()),
            s => {
                return Err(Error::IllegalState(format!(
                    "cannot send outside a transaction (state {s:?})"
                )))
            }
        }
        let key = (topic.clone(), partition);
        if self.is_v2() {
            // Version 2: the leader adds the partition when the batch reaches it.
            self.partitions_in_txn.insert(key);
        } else if !self.partitions_in_txn.contains(&key) && !self.pending_partitions.contains(&key)
        {
            self.new_partitions.insert(key);
        }
        Ok(())
    }

    /// Whether a batch of this partition may be sent now.
    pub(crate) fn is_partition_added(&self, topic: &Arc<str>, partition: i32) -> bool {
        self.partitions_in_txn.contains(&(topic.clone(), partition))
    }

    /// `send_offsets_to_transaction`.
    pub(crate) fn begin_send_offsets(
        &mut self,
        offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
    ) -> Result<Arc<TxnResult>> {
        if let Some(r) = self.pending(Op::SendOffsets) {
            return Ok(r);
        }
        if self.state != TxnState::InTransaction {
            return Err(self.not_in_transaction("send_offsets_to_transaction"));
        }
        if self.is_v2() {
            // Version 2: TxnOffsetCommit v5 adds the group to the transaction itself.
            self.queue
                .push_back(Work::TxnOffsetCommit { group, offsets });
        } else {
            self.queue.push_back(Work::AddOffsets { group, offsets });
        }
        Ok(self.start(Op::SendOffsets))
    }

    fn not_in_transaction(&self, what: &str) -> Error {
        match self.state {
            TxnState::Fatal => self.fatal_error(),
            TxnState::AbortableError => self.abortable_error(),
            s => Error::IllegalState(format!("{what} needs an open transaction (state {s:?})")),
        }
    }

    /// `commit_transaction`: EndTxn(commit) is sent once every batch of the transaction has
    /// been acknowledged.
    pub(crate) fn begin_commit(&mut self) -> Result<Arc<TxnResult>> {
        if let Some(r) = self.pending(Op::Commit) {
            return Ok(r);
        }
        match self.state {
            TxnState::InTransaction => {}
            TxnState::AbortableError => return Err(self.abortable_error()),
            _ => return Err(self.not_in_transaction("commit_transaction")),
        }
        self.transition(TxnState::Committing)?;
        self.queue.push_back(Work::EndTxn { commit: true });
        Ok(self.start(Op::Commit))
    }

    /// `abort_transaction`: queued batches are failed by the sender, in-flight ones finish, then
    /// EndTxn(abort).
    pub(crate) fn begin_abort(&mut self) -> Result<Arc<TxnResult>> {
        if let Some(r) = self.pending(Op::Abort) {
            return Ok(r);
        }
        if !matches!(
            self.state,
            TxnState::InTransaction | TxnState::AbortableError
        ) {
            return Err(match self.state {
                TxnState::Fatal => self.fatal_error(),
                s => Error::IllegalState(format!("no transaction to abort (state {s:?})")),
            });
        }
        self.transition(TxnState::Aborting)?;
        self.new_partitions.clear();
        // Work queued for the transaction (offsets) is dropped: the abort supersedes it.
        self.queue
            .retain(|w| matches!(w, Work::InitProducerId { .. }));
        if let Some((Op::SendOffsets, r)) = self.result.take() {
            r.complete(Err(Error::Abortable(Box::new(Error::IllegalState(
                "transaction aborted".into(),
            )))));
        }
        self.queue.push_back(Work::EndTxn { commit: false });
        Ok(self.start(Op::Abort))
    }

    /// Whether queued (unsent) batches must be failed now (an abort is under way).
    pub(crate) fn is_aborting(&self) -> bool {
        self.state == TxnState::Aborting
    }

    /// Whether batches should be sent at once (a commit or abort waits for them).
    pub(crate) fn is_completing(&self) -> bool {
        matches!(self.state, TxnState::Committing | TxnState::Aborting)
    }

    /// A batch of the transaction failed: the transaction can only be aborted now.
    pub(crate) fn on_batch_failed(&mut self, e: &Error) {
        if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
            self.last_error = Some(e.clone());
            self.state = TxnState::AbortableError;
            // A commit waiting for its batches fails now; the user must abort.
            if let Some((Op::Commit, r)) = self.result.take() {
                r.complete(Err(abortable(e.clone())));
            }
            self.queue
                .retain(|w| !matches!(w, Work::EndTxn { commit: true }));
        }
    }

    /// The producer is unusable.
    pub(crate) fn set_fatal(&mut self, e: Error) {
        let e = match e {
            Error::Fatal(_) => e,
            e => Error::Fatal(Box::new(e)),
        };
        self.last_error = Some(e.clone());
        self.state = TxnState::Fatal;
        self.queue.clear();
        self.finish(Err(e));
    }

    /// Whether the next request may go at `now` (for the sender's timer).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The next request to send, if any. `batches_done` says every batch of the transaction
    /// has resolved (EndTxn waits for it).
    pub(crate) fn next_request(
        &mut self,
        now: Instant,
        batches_done: bool,
    ) -> Option<(Target, TxnRequest)> {
        if self.in_flight || self.state == TxnState::Fatal {
            return None;
        }
        if self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        self.retry_at = None;
        let has_work = !self.queue.is_empty() || !self.new_partitions.is_empty();
        if !has_work {
            return None;
        }
        if let Some(kind) = self.need_lookup.clone() {
            return Some(self.find_coordinator(kind));
        }
        let Some(coord) = self.txn_coordinator else {
            return Some(self.find_coordinator(CoordinatorKind::Transaction));
        };
        // Partitions first: batches wait for them, and EndTxn must come after them.
        if !self.new_partitions.is_empty()
            && matches!(self.state, TxnState::InTransaction | TxnState::Committing)
        {
            self.pending_partitions = std::mem::take(&mut self.new_partitions);
            let req = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(
                    self.transactional_id.clone(),
                )))
                .with_v3_and_below_producer_id(ProducerId(self.producer_id))
                .with_v3_and_below_producer_epoch(self.epoch)
                .with_v3_and_below_topics(tp_topics(&self.pending_partitions));
            self.in_flight = true;
            return Some((
                Target::TxnCoordinator(coord),
                TxnRequest::AddPartitions(req),
            ));
        }
        let txn_id = TransactionalId(StrBytes::from_string(self.transactional_id.clone()));
        let front = self.queue.front()?;
        let out = match front {
            Work::InitProducerId { bump } => {
                let mut req = InitProducerIdRequest::default()
                    .with_transactional_id(Some(txn_id))
                    .with_transaction_timeout_ms(self.timeout_ms)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
                if *bump && self.producer_id >= 0 {
                    req = req
                        .with_producer_id(ProducerId(self.producer_id))
                        .with_producer_epoch(self.epoch);
                }
                (
                    Target::TxnCoordinator(coord),
                    TxnRequest::InitProducerId(req),
                )
            }
            Work::AddOffsets { group, .. } => {
                let req = AddOffsetsToTxnRequest::default()
                    .with_transactional_id(txn_id)
                    .with_producer_id(ProducerId(self.producer_id))
                    .with_producer_epoch(self.epoch)
                    .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())));
                (Target::TxnCoordinator(coord), TxnRequest::AddOffsets(req))
            }
            Work::TxnOffsetCommit { group, offsets } => {
                let gc = match &self.group_coordinator {
                    Some((g, node)) if *g == group.group_id => *node,
                    _ => {
                        return Some(
                            self.find_coordinator(CoordinatorKind::Group(group.group_id.clone())),
                        )
                    }
                };
                let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> =
                    BTreeMap::new();
                for ((t, p), o) in offsets {
                    topics.entry(t).or_default().push(
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(o.offset)
                            .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                            .with_committed_metadata(Some(StrBytes::from_string(
                                o.metadata.clone(),
                            ))),
                    );
                }
                // Version 2: from here the group coordinator may have added the group.
                self.offsets_added |= self.is_v2();
                let req = TxnOffsetCommitRequest::default()
                    .with_transactional_id(txn_id)
                    .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())))
                    .with_producer_id(ProducerId(self.producer_id))
                    .with_producer_epoch(self.epoch)
                    .with_generation_id(group.generation_id)
                    .with_member_id(StrBytes::from_string(group.member_id.clone()))
                    .with_group_instance_id(
                        group.group_instance_id.clone().map(StrBytes::from_string),
                    )
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(t, ps)| {
                                TxnOffsetCommitRequestTopic::default()
                                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                                    .with_partitions(ps)
                            })
                            .collect(),
                    );
                (
                    Target::GroupCoordinator(gc),
                    TxnRequest::TxnOffsetCommit(req),
                )
            }
            Work::EndTxn { commit } => {
                if !batches_done {
                    return None;
                }
                // A transaction to which nothing was added needs no EndTxn: the coordinator
                // does not know of it. (Version 2 adds partitions when their batches arrive.)
                let added = if self.is_v2() {
                    self.produced
                } else {
                    !self.partitions_in_txn.is_empty()
                };
                if !added && !self.offsets_added {
                    let commit = *commit;
                    self.queue.pop_front();
                    self.end_completed(commit, false);
                    return None;
                }
                let req = EndTxnRequest::default()
                    .with_transactional_id(txn_id)
                    .with_producer_id(ProducerId(self.producer_id))
                    .with_producer_epoch(self.epoch)
                    .with_committed(*commit);
                (Target::TxnCoordinator(coord), TxnRequest::EndTxn(req))
            }
        };
        self.in_flight = true;
        Some(out)
    }

    fn find_coordinator(&mut self, kind: CoordinatorKind) -> (Target, TxnRequest) {
        let (key, key_type) = match &kind {
            CoordinatorKind::Transaction => (self.transactional_id.clone(), 1i8),
            CoordinatorKind::Group(g) => (g.clone(), 0i8),
        };
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(key.clone()))
            .with_key_type(key_type)
            .with_coordinator_keys(vec![StrBytes::from_string(key)]);
        self.in_flight = true;
        (Target::AnyNode, TxnRequest::FindCoordinator(req, kind))
    }

    fn retry(&mut self, now: Instant) {
        self.retry_at = Some(deadline(now, self.retry_backoff));
    }

    /// The request failed on the network (or could not be sent): try again after a backoff,
    /// looking the coordinator up again.
    pub(crate) fn handle_failure(&mut self, now: Instant, lookup: Option<CoordinatorKind>) {
        self.in_flight = false;
        if !self.pending_partitions.is_empty() {
            let p = std::mem::take(&mut self.pending_partitions);
            self.new_partitions.extend(p);
        }
        if let Some(k) = lookup {
            self.coordinator_lost(k);
        }
        self.retry(now);
    }

    /// A rebootstrap (KIP-899) forgot every broker: both coordinators are looked up again
    /// before the next request that needs them.
    pub(crate) fn forget_coordinators(&mut self) {
        self.txn_coordinator = None;
        self.group_coordinator = None;
    }

    fn coordinator_lost(&mut self, kind: CoordinatorKind) {
        match &kind {
            CoordinatorKind::Transaction => self.txn_coordinator = None,
            CoordinatorKind::Group(_) => self.group_coordinator = None,
        }
        self.need_lookup = Some(kind);
    }

    /// Classes an error code of a transactional response.
    fn classify(
        &mut self,
        now: Instant,
        code: KafkaCode,
        api: &'static str,
        kind: CoordinatorKind,
    ) -> Step {
        match code {
            KafkaCode::NONE => Step::Ok,
            KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => {
                self.coordinator_lost(kind);
                self.retry(now);
                Step::Retry
            }
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
            | KafkaCode::CONCURRENT_TRANSACTIONS
            | KafkaCode::REQUEST_TIMED_OUT => {
                self.retry(now);
                Step::Retry
            }
            KafkaCode::INVALID_PRODUCER_EPOCH
            | KafkaCode::PRODUCER_FENCED
            | KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            | KafkaCode::INVALID_TXN_STATE
            | KafkaCode::CLUSTER_AUTHORIZATION_FAILED
            | KafkaCode::TRANSACTION_COORDINATOR_FENCED => {
                Step::Fatal(Error::request(api, code, None))
            }
            // The coordinator no longer maps the transactional id to this producer id: the
            // transaction cannot be ended, so the producer is done (Java's EndTxnHandler).
            KafkaCode::INVALID_PRODUCER_ID_MAPPING if api == "EndTxn" => {
                Step::Fatal(Error::request(api, code, None))
            }
            c if c.is_retriable() => {
                self.retry(now);
                Step::Retry
            }
            // No transaction to abort yet: any other error ends the producer (Java's
            // InitProducerIdHandler, "Unexpected error in InitProducerIdResponse"), e.g.
            // INVALID_TRANSACTION_TIMEOUT for a transaction.timeout.ms above the broker's max.
            _ if api == "InitProducerId" => Step::Fatal(Error::request(api, code, None)),
            _ => Step::Abortable(Error::request(api, code, None)),
        }
    }

    fn apply(&mut self, step: Step, effects: &mut Effects) -> bool {
        match step {
            Step::Ok => true,
            Step::Retry => false,
            Step::Fatal(e) => {
                self.set_fatal(e.clone());
                effects.fatal = Some(Error::Fatal(Box::new(e)));
                false
            }
            Step::Abortable(e) => {
                self.queue.pop_front();
                self.last_error = Some(e.clone());
                // A failed abort too: the user aborts again (left in Aborting, nothing could
                // end the transaction).
                if matches!(
                    self.state,
                    TxnState::InTransaction | TxnState::Committing | TxnState::Aborting
                ) {
                    self.state = TxnState::AbortableError;
                }
                self.finish(Err(abortable(e)));
                false
            }
        }
    }

    pub(crate) fn handle_find_coordinator(
        &mut self,
        now: Instant,
        kind: CoordinatorKind,
        resp: &FindCoordinatorResponse,
    ) -> Effects {
        self.in_flight = false;
        let mut effects = Effects::default();
        // v4+ answers per key; older versions at the top level.
        let (code, node, host, port) = match resp.coordinators.first() {
            Some(c) => (
                KafkaCode(c.error_code),
                c.node_id.0,
                c.host.to_string(),
                c.port,
            ),
            None => (
                KafkaCode(resp.error_code),
                resp.node_id.0,
                resp.host.to_string(),
                resp.port,
            ),
        };
        match code {
            KafkaCode::NONE => {
                self.need_lookup = None;
                match &kind {
                    CoordinatorKind::Transaction => self.txn_coordinator = Some(node),
                    CoordinatorKind::Group(g) => self.group_coordinator = Some((g.clone(), node)),
                }
                let addr = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                effects.coordinator_address = Some((node, addr));
            }
            KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => {
                let e = Error::request("FindCoordinator", code, None);
                self.set_fatal(e.clone());
                effects.fatal = Some(Error::Fatal(Box::new(e)));
            }
            c if c.0 == 30 => {
                // GROUP_AUTHORIZATION_FAILED: the offsets cannot be committed.
                let step = Step::Abortable(Error::request("FindCoordinator", code, None));
                self.apply(step, &mut effects);
            }
            _ => {
                self.need_lookup = Some(kind);
                self.retry(now);
            }
        }
        effects
    }

    /// The common shape of a transaction-coordinator response with one error code: classify
    /// it, and on success run `ok`.
    fn respond(
        &mut self,
        now: Instant,
        code: i16,
        api: &'static str,
        ok: impl FnOnce(&mut Self, &mut Effects),
    ) -> Effects {
        self.in_flight = false;
        let mut effects = Effects::default();
        let step = self.classify(now, KafkaCode(code), api, CoordinatorKind::Transaction);
        if self.apply(step, &mut effects) {
            ok(self, &mut effects);
        }
        effects
    }

    pub(crate) fn handle_init_producer_id(
        &mut self,
        now: Instant,
        resp: &InitProducerIdResponse,
    ) -> Effects {
        self.respond(now, resp.error_code, "InitProducerId", |t, effects| {
            t.queue.pop_front();
            t.producer_id = resp.producer_id.0;
            t.epoch = resp.producer_epoch;
            if t.protocol.is_none() {
                // The first grant: the coordinator's connection has reported the features.
                t.set_protocol(t.wanted_protocol());
            }
            effects.producer = Some((t.producer_id, t.epoch));
            t.state = TxnState::Ready;
            t.finish(Ok(()));
        })
    }

    pub(crate) fn handle_add_partitions(
        &mut self,
        now: Instant,
        resp: &AddPartitionsToTxnResponse,
    ) -> Effects {
        self.in_flight = false;
        let mut effects = Effects::default();
        let pending = std::mem::take(&mut self.pending_partitions);
        let mut worst = KafkaCode(resp.error_code);
        let mut added = Vec::new();
        for t in &resp.results_by_topic_v3_and_below {
            for p in &t.results_by_partition {
                let code = KafkaCode(p.partition_error_code);
                if code.is_ok() {
                    added.push((Arc::<str>::from(t.name.0.as_str()), p.partition_index));
                } else if worst.is_ok() || code != KafkaCode(55) {
                    // OPERATION_NOT_ATTEMPTED (55) only says another partition failed.
                    worst = code;
                }
            }
        }
        for a in added {
            self.partitions_in_txn.insert(a);
        }
        for p in pending {
            if !self.partitions_in_txn.contains(&p) {
                self.new_partitions.insert(p);
            }
        }
        if worst.is_ok() || worst == KafkaCode(55) {
            return effects;
        }
        let code = worst;
        let step = if code == KafkaCode::UNKNOWN_PRODUCER_ID
            || code == KafkaCode::INVALID_PRODUCER_ID_MAPPING
        {
            Step::Abortable(Error::request("AddPartitionsToTxn", code, None))
        } else if code == KafkaCode::UNKNOWN_TOPIC_OR_PARTITION {
            self.retry(now);
            Step::Retry
        } else if code == KafkaCode::CONCURRENT_TRANSACTIONS && self.partitions_in_txn.is_empty() {
            // The coordinator is still writing the previous transaction's markers: that takes
            // milliseconds, so the first AddPartitionsToTxn of a transaction retries sooner than
            // retry.backoff.ms (Java uses 20 ms here too).
            self.retry_at = Some(now + self.retry_backoff.min(Duration::from_millis(20)));
            Step::Retry
        } else {
            self.classify(
                now,
                code,
                "AddPartitionsToTxn",
                CoordinatorKind::Transaction,
            )
        };
        if let Step::Abortable(e) = step {
            // Not tied to a queued work item: the transaction fails.
            self.last_error = Some(e.clone());
            self.new_partitions.clear();
            if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
                self.state = TxnState::AbortableError;
            }
            if let Some((Op::Commit, r)) = self.result.take() {
                r.complete(Err(abortable(e)));
            }
            self.queue
                .retain(|w| !matches!(w, Work::EndTxn { commit: true }));
        } else {
            self.apply(step, &mut effects);
        }
        effects
    }

    pub(crate) fn handle_add_offsets(
        &mut self,
        now: Instant,
        resp: &AddOffsetsToTxnResponse,
    ) -> Effects {
        self.respond(now, resp.error_code, "AddOffsetsToTxn", |t, _| {
            if let Some(Work::AddOffsets { group, offsets }) = t.queue.pop_front() {
                t.offsets_added = true;
                t.queue.push_front(Work::TxnOffsetCommit { group, offsets });
            }
        })
    }

    pub(crate) fn handle_txn_offset_commit(
        &mut self,
        now: Instant,
        resp: &TxnOffsetCommitResponse,
    ) -> Effects {
        self.in_flight = false;
        let mut effects = Effects::default();
        let group = match self.queue.front() {
            Some(Work::TxnOffsetCommit { group, .. }) => group.group_id.clone(),
            _ => String::new(),
        };
        let worst = resp
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| KafkaCode(p.error_code))
            .find(|c| !c.is_ok())
            .unwrap_or(KafkaCode::NONE);
        let step = match worst.0 {
            // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID: the consumer lost its
            // group membership; the offsets must not be committed.
            25 | 22 | 82 => Step::Abortable(Error::request("TxnOffsetCommit", worst, None)),
            _ => self.classify(now, worst, "TxnOffsetCommit", CoordinatorKind::Group(group)),
        };
        if self.apply(step, &mut effects) {
            self.queue.pop_front();
            self.finish(Ok(()));
        }
        effects
    }

    pub(crate) fn handle_end_txn(&mut self, now: Instant, resp: &EndTxnResponse) -> Effects {
        let commit = matches!(self.queue.front(), Some(Work::EndTxn { commit: true }));
        self.respond(now, resp.error_code, "EndTxn", |t, effects| {
            t.queue.pop_front();
            let mut reinit = false;
            if t.is_v2() {
                let current = (t.producer_id, t.epoch);
                match end_txn_epoch(current, (resp.producer_id.0, resp.producer_epoch)) {
                    EndTxnEpoch::Bumped(pid, epoch) => {
                        if pid != t.producer_id {
                            tracing::info!(
                                old_producer_id = t.producer_id,
                                producer_id = pid,
                                epoch,
                                "producer epoch exhausted: the coordinator gave a new producer id"
                            );
                        }
                        t.producer_id = pid;
                        t.epoch = epoch;
                        effects.producer = Some((pid, epoch));
                        // The bump also closes any sequence gap of the transaction.
                        t.bump_after_abort = false;
                    }
                    EndTxnEpoch::Missing => {
                        // DESIGN.md, "Transaction protocol version 2", bad input: the
                        // coordinator has bumped the epoch but did not say to what; guessing
                        // risks being fenced. Get a fresh id and epoch with InitProducerId
                        // before the call counts as done.
                        tracing::warn!(
                            producer_id = resp.producer_id.0,
                            epoch = resp.producer_epoch,
                            "EndTxn v5 answered without a new producer epoch (transaction \
                             version 2); getting one with InitProducerId"
                        );
                        reinit = true;
                    }
                }
            }
            t.end_completed(commit, reinit);
        })
    }

    /// The transaction ended (EndTxn answered, or none was needed). `reinit`: the producer id
    /// and epoch must be fetched afresh before the call counts as done.
    fn end_completed(&mut self, commit: bool, reinit: bool) {
        self.partitions_in_txn.clear();
        self.new_partitions.clear();
        self.pending_partitions.clear();
        self.offsets_added = false;
        self.produced = false;
        self.last_error = None;
        // The protocol may change between transactions only (Java's
        // `maybeUpdateTransactionV2Enabled` at the end of each). Moving up to version 2 takes
        // an epoch bump first, as in Java, so nothing of a version 1 transaction is taken for
        // part of the first version 2 one.
        let wanted = self.wanted_protocol();
        let upgrade = self.protocol == Some(TxnProtocol::V1) && wanted == TxnProtocol::V2;
        if self.protocol.is_some() {
            self.set_protocol(wanted);
        }
        let gap = !commit && self.bump_after_abort;
        if gap || upgrade || reinit {
            // A sequence gap of the aborted transaction (KIP-360), the move to version 2, or an
            // EndTxn v5 answer without an epoch: a new epoch before the call counts as done, so
            // the next transaction starts from sequence 0 on an epoch the coordinator knows.
            self.bump_after_abort = false;
            self.state = TxnState::Initializing;
            self.queue
                .push_front(Work::InitProducerId { bump: !reinit });
            return;
        }
        self.state = TxnState::Ready;
        self.finish(Ok(()));
    }

    /// The request from [`TxnManager::next_request`] could not be sent (no connection yet); it
    /// will be asked for again.
    pub(crate) fn unsend(&mut self) {
        self.in_flight = false;
        if !self.pending_partitions.is_empty() {
            let p = std::mem::take(&mut self.pending_partitions);
            self.new_partitions.extend(p);
        }
    }

    /// A batch failure left a sequence gap: bump the epoch after the abort.
    pub(crate) fn request_epoch_bump(&mut self) {
        self.bump_after_abort = true;
    }
}

enum Step {
    Ok,
    Retry,
    Fatal(Error),
    Abortable(Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_checked() {
        use TxnState::*;
        assert!(Uninitialized.can_transition_to(Initializing));
        assert!(!Uninitialized.can_transition_to(InTransaction));
        assert!(!Ready.can_transition_to(Committing));
        assert!(InTransaction.can_transition_to(AbortableError));
        assert!(!AbortableError.can_transition_to(Committing));
        assert!(AbortableError.can_transition_to(Aborting));
        assert!(Committing.can_transition_to(Fatal));
    }

    fn manager() -> TxnManager {
        TxnManager::new(
            "t".into(),
            Duration::from_secs(60),
            Duration::from_millis(100),
            Arc::default(),
        )
    }

    #[test]
    fn the_newest_finalized_features_decide_the_protocol() {
        let mut m = manager();
        assert_eq!(m.wanted_protocol(), TxnProtocol::V1, "nothing reported");
        m.observe_features((5, 2));
        assert_eq!(m.wanted_protocol(), TxnProtocol::V2);
        m.observe_features((4, 0));
        assert_eq!(m.wanted_protocol(), TxnProtocol::V2, "an older report");
        m.observe_features((6, 1));
        assert_eq!(m.wanted_protocol(), TxnProtocol::V1, "a newer one");
        assert_eq!(m.protocol(), None, "chosen only at the producer id's grant");
    }

    #[test]
    fn calls_out_of_order_are_illegal_state_errors() {
        let mut m = manager();
        assert!(matches!(m.begin_transaction(), Err(Error::IllegalState(_))));
        assert!(matches!(m.begin_commit(), Err(Error::IllegalState(_))));
        assert!(matches!(m.begin_abort(), Err(Error::IllegalState(_))));
        let a: Arc<str> = Arc::from("x");
        assert!(matches!(
            m.maybe_add_partition(&a, 0),
            Err(Error::IllegalState(_))
        ));
        let r1 = m.begin_init().unwrap();
        let r2 = m.begin_init().unwrap();
        assert!(
            Arc::ptr_eq(&r1, &r2),
            "a second call waits for the same result"
        );
    }
}
