//! The sender's side of transactions: sending what the [`TxnManager`] asks for, feeding it the
//! responses, and holding produce data back until its partitions are in the transaction.

use std::ops::RangeInclusive;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};

use super::network::{Conn, Node, ANY_VERSION};
use super::{Pending, Sender};
use crate::error::{Error, ProtocolError};
use crate::protocol::frame;
use crate::txn::manager::{CoordinatorKind, Effects, Target, TxnRequest};
use crate::txn::TxnProtocol;

/// Which transactional request is in flight.
#[derive(Debug, Clone)]
pub(crate) enum TxnPending {
    FindCoordinator(CoordinatorKind),
    InitProducerId,
    AddPartitions,
    AddOffsets,
    TxnOffsetCommit(String),
    EndTxn,
}

impl TxnPending {
    /// The request's API.
    fn api(&self) -> kafka_protocol::messages::ApiKey {
        use kafka_protocol::messages::ApiKey;
        match self {
            TxnPending::FindCoordinator(_) => ApiKey::FindCoordinator,
            TxnPending::InitProducerId => ApiKey::InitProducerId,
            TxnPending::AddPartitions => ApiKey::AddPartitionsToTxn,
            TxnPending::AddOffsets => ApiKey::AddOffsetsToTxn,
            TxnPending::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            TxnPending::EndTxn => ApiKey::EndTxn,
        }
    }

    /// The coordinator to look up again if this request fails on the network.
    fn lookup_on_failure(&self) -> Option<CoordinatorKind> {
        match self {
            TxnPending::FindCoordinator(_) => None,
            TxnPending::TxnOffsetCommit(g) => Some(CoordinatorKind::Group(g.clone())),
            _ => Some(CoordinatorKind::Transaction),
        }
    }
}

impl Sender {
    /// Transactions: fail batches of an aborted transaction, keep the accumulator flushing
    /// while a commit or abort waits for its batches, and send the manager's next request.
    pub(super) fn poll_txn(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        let shared = self.shared.clone();
        let Some(txn) = shared.txn.as_ref() else {
            return;
        };
        let (aborting, completing, failed) = {
            let t = txn.lock();
            (
                t.is_aborting(),
                t.is_completing(),
                t.state() == crate::txn::TxnState::AbortableError,
            )
        };
        if aborting || failed {
            // Batches not sent yet will never be: the transaction is being (or must be) aborted.
            let queued = self.shared.acc.take_all();
            for b in queued {
                let err = Error::Abortable(Box::new(Error::IllegalState(
                    "the record's transaction was aborted before it was sent".into(),
                )));
                self.complete(now, b, Err(err));
            }
        }
        // A commit waits for every batch: send them now rather than after linger.ms.
        self.txn_flushing = completing;
        let batches_done = !self.shared.acc.has_incomplete()
            && self.net.nodes.values().all(|n| n.produce_in_flight() == 0);
        let next = txn.lock().next_request(now, batches_done);
        let Some((target, request)) = next else {
            if let Some(t) = txn.lock().retry_at() {
                wake_at(t);
            }
            return;
        };
        let node = match target {
            Target::AnyNode => self.least_loaded_node(now, wake_at),
            Target::TxnCoordinator(n) | Target::GroupCoordinator(n) => {
                self.ready_node(now, n, wake_at)
            }
        };
        let Some(node) = node else {
            // Not connected yet: the manager asks again on the next poll (a connection event
            // wakes the loop).
            txn.lock().unsend();
            return;
        };
        let result = match request {
            TxnRequest::FindCoordinator(mut r, kind) => {
                // v4+ asks for a list of keys; earlier versions for one key. Only one of the
                // two fields may be set for the version the connection speaks.
                let version = match &self.net.nodes[&node].conn {
                    Conn::Up(v) => v
                        .negotiate(kafka_protocol::messages::ApiKey::FindCoordinator)
                        .unwrap_or(0),
                    _ => 0,
                };
                if version >= 4 {
                    r.key = Default::default();
                } else {
                    r.coordinator_keys.clear();
                }
                self.send_txn::<FindCoordinatorRequest>(
                    now,
                    node,
                    &r,
                    TxnPending::FindCoordinator(kind),
                    ANY_VERSION,
                )
            }
            TxnRequest::InitProducerId(r) => self.send_txn::<InitProducerIdRequest>(
                now,
                node,
                &r,
                TxnPending::InitProducerId,
                ANY_VERSION,
            ),
            TxnRequest::AddPartitions(r) => self.send_txn::<AddPartitionsToTxnRequest>(
                now,
                node,
                &r,
                TxnPending::AddPartitions,
                ANY_VERSION,
            ),
            TxnRequest::AddOffsets(r) => self.send_txn::<AddOffsetsToTxnRequest>(
                now,
                node,
                &r,
                TxnPending::AddOffsets,
                ANY_VERSION,
            ),
            TxnRequest::TxnOffsetCommit(r) => {
                let group = r.group_id.0.to_string();
                let allowed = self.txn_protocol().txn_offset_commit_versions();
                let p = TxnPending::TxnOffsetCommit(group);
                self.send_txn::<TxnOffsetCommitRequest>(now, node, &r, p, allowed)
            }
            TxnRequest::EndTxn(r) => {
                let allowed = self.txn_protocol().end_txn_versions();
                self.send_txn::<EndTxnRequest>(now, node, &r, TxnPending::EndTxn, allowed)
            }
        };
        if let Err(e) = result {
            // The broker cannot take the request at all (too old): fatal for transactions.
            self.fatal(now, e);
        }
    }

    /// The transaction protocol in use (version 1 until `init_transactions` chose one).
    fn txn_protocol(&self) -> TxnProtocol {
        self.shared
            .txn
            .as_ref()
            .and_then(|t| t.lock().protocol())
            .unwrap_or(TxnProtocol::V1)
    }

    /// The highest Produce version for the transaction's batches.
    pub(super) fn txn_produce_max(&self) -> i16 {
        self.txn_protocol().produce_max()
    }

    fn send_txn<R: frame::Request>(
        &mut self,
        now: Instant,
        node: i32,
        req: &R,
        p: TxnPending,
        allowed: RangeInclusive<i16>,
    ) -> Result<(), Error> {
        let (cfg, shared) = (&self.cfg, &self.shared);
        self.net
            .send_request(now, node, req, Pending::Txn(p), cfg, shared, allowed)
    }

    /// `node` if its connection is up and the broker is not throttling us; otherwise starts
    /// connecting (after its backoff), or waits for the throttle to end.
    fn ready_node(
        &mut self,
        now: Instant,
        node: i32,
        wake_at: &mut impl FnMut(Instant),
    ) -> Option<i32> {
        let n = self.net.nodes.get(&node)?;
        match n.conn {
            Conn::Up(_) => match n.throttled_until(now) {
                Some(t) => {
                    wake_at(t);
                    None
                }
                None => Some(node),
            },
            Conn::Connecting => None,
            Conn::Down => {
                if n.next_connect <= now {
                    self.connect(node);
                } else {
                    wake_at(n.next_connect);
                }
                None
            }
        }
    }

    /// A transactional request could not complete (connection lost, undecodable answer).
    pub(super) fn txn_request_failed(&mut self, now: Instant, p: &TxnPending) {
        if let Some(txn) = self.shared.txn.as_ref() {
            txn.lock().handle_failure(now, p.lookup_on_failure());
        }
    }

    /// A response to a transactional request.
    pub(super) fn handle_txn_response(
        &mut self,
        now: Instant,
        node: i32,
        p: TxnPending,
        frame: Bytes,
        version: i16,
        corr: i32,
    ) -> Result<(), ProtocolError> {
        let shared = self.shared.clone();
        let Some(txn) = shared.txn.as_ref() else {
            return Ok(());
        };
        let (effects, throttle_ms) = {
            let mut t = txn.lock();
            match &p {
                TxnPending::FindCoordinator(kind) => {
                    let r = frame::decode_response::<FindCoordinatorRequest>(frame, version, corr)?;
                    (
                        t.handle_find_coordinator(now, kind.clone(), &r),
                        r.throttle_time_ms,
                    )
                }
                TxnPending::InitProducerId => {
                    let r = frame::decode_response::<InitProducerIdRequest>(frame, version, corr)?;
                    (t.handle_init_producer_id(now, &r), r.throttle_time_ms)
                }
                TxnPending::AddPartitions => {
                    let r =
                        frame::decode_response::<AddPartitionsToTxnRequest>(frame, version, corr)?;
                    (t.handle_add_partitions(now, &r), r.throttle_time_ms)
                }
                TxnPending::AddOffsets => {
                    let r = frame::decode_response::<AddOffsetsToTxnRequest>(frame, version, corr)?;
                    (t.handle_add_offsets(now, &r), r.throttle_time_ms)
                }
                TxnPending::TxnOffsetCommit(_) => {
                    let r = frame::decode_response::<TxnOffsetCommitRequest>(frame, version, corr)?;
                    (t.handle_txn_offset_commit(now, &r), r.throttle_time_ms)
                }
                TxnPending::EndTxn => {
                    let r = frame::decode_response::<EndTxnRequest>(frame, version, corr)?;
                    (t.handle_end_txn(now, &r), r.throttle_time_ms)
                }
            }
        };
        self.net.throttle(now, node, p.api(), version, throttle_ms);
        self.apply_txn_effects(now, effects);
        Ok(())
    }

    fn apply_txn_effects(&mut self, now: Instant, effects: Effects) {
        if let Some((id, addr)) = effects.coordinator_address {
            match self.net.nodes.get_mut(&id) {
                Some(n) if n.addr == addr => {}
                Some(n) => n.addr = addr,
                None => {
                    self.net.nodes.insert(id, Node::new(addr, now));
                }
            }
        }
        if let Some((pid, epoch)) = effects.producer {
            tracing::debug!(
                producer_id = pid,
                epoch,
                "transactional producer id assigned"
            );
            self.idem.set_producer(pid, epoch);
        }
        if let Some(e) = effects.fatal {
            self.fatal(now, e);
        }
    }

    /// A batch of the transaction failed: the transaction must be aborted, and a sequence gap
    /// it left is closed by an epoch bump after the abort.
    pub(super) fn txn_batch_failed(&mut self, e: &Error) {
        let shared = self.shared.clone();
        let Some(txn) = shared.txn.as_ref() else {
            return;
        };
        let mut t = txn.lock();
        t.on_batch_failed(e);
        if self.idem.needs_reset {
            t.request_epoch_bump();
        }
    }
}
