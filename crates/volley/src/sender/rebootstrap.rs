//! Re-bootstrap (KIP-899, KIP-1102) and the checks a Metadata response passes before it is
//! applied (its top-level error, its broker list, its cluster id).
//!
//! The state lives in the metadata layer ([`BootstrapState`] in `metadata.rs`); this module is
//! the sender's side: when a trigger fires it closes every connection (what was in flight is
//! retried as after any lost connection), makes `bootstrap.servers` the only nodes requests
//! may go to until metadata names the brokers again (no batch is drained meanwhile: the
//! leaders are not known), and lets
//! the transaction manager look its coordinators up again. As Java's `NetworkClient` with
//! `metadata.recovery.strategy=rebootstrap`, the triggers are:
//!
//! * a metadata refresh is due and no known broker is available (none connected, none
//!   connecting, every one in its reconnect backoff): at once, from `maybe_refresh_metadata`;
//! * a due refresh has not succeeded for `metadata.recovery.rebootstrap.trigger.ms`;
//! * a broker answered Metadata with REBOOTSTRAP_REQUIRED.
//!
//! With `none`, nothing here runs: the producer keeps retrying the brokers it knows.

use std::time::Instant;

use kafka_protocol::messages::MetadataResponse;

use super::network::Conn;
use super::Sender;
use crate::config::MetadataRecoveryStrategy;
use crate::error::{Error, KafkaCode};
use crate::metadata::{BootstrapState, Cluster};
use crate::metrics::Counters;

impl Sender {
    fn rebootstraps(&self) -> bool {
        self.cfg.recovery_strategy == MetadataRecoveryStrategy::Rebootstrap
    }

    /// KIP-1102's triggers, checked at every poll: REBOOTSTRAP_REQUIRED, and a refresh failing
    /// for `metadata.recovery.rebootstrap.trigger.ms` (asks to be woken then).
    pub(super) fn maybe_rebootstrap(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        if !self.rebootstraps() {
            return;
        }
        let Some(at) = self.metadata.rebootstrap_at(self.cfg.rebootstrap_trigger) else {
            return;
        };
        if at > now {
            wake_at(at);
            return;
        }
        let reason = match self.metadata.bootstrap_state() {
            BootstrapState::RebootstrapRequired => "a broker answered REBOOTSTRAP_REQUIRED".into(),
            _ => format!(
                "no metadata for {:?} (metadata.recovery.rebootstrap.trigger.ms)",
                self.cfg.rebootstrap_trigger
            ),
        };
        self.rebootstrap(now, &reason);
    }

    /// The first trigger: a refresh is due at `now` and no known broker is available.
    pub(super) fn rebootstrap_if_unreachable(&mut self, now: Instant) {
        let cluster = self.metadata.cluster().clone();
        if self.rebootstraps()
            && self.metadata.brokers_known()
            && !self.net.any_node_available(now, self.candidates(&cluster))
        {
            self.rebootstrap(now, "no known broker is reachable");
        }
    }

    /// Forgets every broker and bootstraps again from `bootstrap.servers` (Java's
    /// `Metadata.rebootstrap` after `NetworkClient` closed the known nodes' connections).
    /// Batches in flight are retried, queued ones wait, the producer id and sequences stay.
    pub(super) fn rebootstrap(&mut self, now: Instant, reason: &str) {
        tracing::info!(
            bootstrap = ?self.cfg.bootstrap,
            reason,
            "rebootstrapping (metadata.recovery.strategy=rebootstrap)"
        );
        let open: Vec<i32> = self
            .net
            .nodes
            .iter()
            .filter(|(_, n)| !matches!(n.conn, Conn::Down) || !n.in_flight.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in open {
            self.close_node(now, id, format!("rebootstrap: {reason}"));
        }
        self.drain_start.clear();
        self.metadata.begin_rebootstrap();
        if let Some(txn) = self.shared.txn.as_ref() {
            txn.lock().forget_coordinators();
        }
        Counters::add(&self.shared.counters.rebootstrap, 1);
    }

    /// The snapshot of a Metadata response from `node`, if it may be applied. A response is
    /// not applied (the refresh counts as failed and is retried after its backoff) when it
    /// carries a top-level error (REBOOTSTRAP_REQUIRED then asks for a rebootstrap), names no
    /// broker (a broker still starting, as Java's `DefaultMetadataUpdater`), or comes from
    /// another cluster than the producer's (the connection is closed too, so that the next
    /// refresh asks another node; see DESIGN.md).
    pub(super) fn accept_metadata(
        &mut self,
        now: Instant,
        node: i32,
        resp: &MetadataResponse,
    ) -> Option<Cluster> {
        let code = KafkaCode(resp.error_code);
        if code == KafkaCode::REBOOTSTRAP_REQUIRED && self.rebootstraps() {
            tracing::info!(
                node,
                "rebootstrap requested by the broker (REBOOTSTRAP_REQUIRED)"
            );
            self.metadata.require_rebootstrap();
            return None;
        }
        if !code.is_ok() || resp.brokers.is_empty() {
            tracing::warn!(node, error = %code, brokers = resp.brokers.len(), "metadata response not applied");
            self.metadata.handle_failure(now);
            return None;
        }
        let fresh = Cluster::from_response(resp);
        if let Err(m) = self.metadata.check_cluster_id(&fresh) {
            let broker = self.net.nodes.get(&node).map(|n| n.addr.clone());
            let error = Error::ClusterIdMismatch {
                broker: broker.unwrap_or_default(),
                expected: m.expected,
                found: m.found,
            };
            tracing::error!(node, %error, "metadata from another cluster refused");
            self.metadata.handle_failure(now);
            self.shared.lifecycle.set_io_error(Some(error.clone()));
            self.close_node(now, node, error.to_string());
            // Connecting works, so the node's failures were reset: its own count of refusals
            // backs it off instead, up to reconnect.backoff.max.ms.
            if let Some(n) = self.net.nodes.get_mut(&node) {
                n.refusals += 1;
                let planned = n.next_connect;
                n.back_off(now, n.refusals, &self.cfg, &mut self.rng);
                n.next_connect = n.next_connect.max(planned);
            }
            return None;
        }
        if let Some(n) = self.net.nodes.get_mut(&node) {
            n.refusals = 0;
        }
        Some(fresh)
    }
}
