//! Leader discovery (KIP-951): a Produce response that says NOT_LEADER_OR_FOLLOWER (or
//! FENCED_LEADER_EPOCH) also names the partition's current leader and epoch, with the address
//! of any leader the client may not know (`NodeEndpoints`, Produce v10+). The sender moves the
//! partition to that leader at once, and its batches retry there without their backoff, instead
//! of waiting for a metadata round trip. A metadata refresh is still asked for, in the
//! background. The same "leader moved, skip the backoff" rule applies when a metadata refresh
//! brings a newer leader epoch (Java's `ProducerBatch.hasLeaderChangedForTheOngoingRetry`).
//!
//! Bad hints are ignored (`Cluster::with_leader_hints`): a leader id or epoch below zero, an
//! epoch not newer than ours, a leader that is neither in our metadata nor in the response's
//! endpoints, a partition we do not know. Stale metadata cannot undo a hint either: a
//! Metadata response with an older leader epoch keeps ours (`Cluster::merged`).

use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::messages::ProduceResponse;

use super::network::{Conn, Node};
use super::{Output, Sender};
use crate::error::KafkaCode;
use crate::metadata::{BrokerInfo, Cluster, LeaderHint};
use crate::metrics::Counters;

impl Sender {
    /// Applies the new-leader hints of a Produce response, before its partitions' results are
    /// handled (so that a retried batch sees the new leader).
    pub(super) fn apply_leader_hints(&mut self, now: Instant, resp: &ProduceResponse) {
        let mut hints: Vec<LeaderHint> = Vec::new();
        for t in &resp.responses {
            for p in &t.partition_responses {
                let code = KafkaCode(p.error_code);
                if code != KafkaCode::NOT_LEADER_OR_FOLLOWER
                    && code != KafkaCode::FENCED_LEADER_EPOCH
                {
                    continue;
                }
                let l = &p.current_leader;
                hints.push(LeaderHint {
                    topic: Arc::from(t.name.0.as_str()),
                    partition: p.index,
                    leader: l.leader_id.0,
                    epoch: l.leader_epoch,
                });
            }
        }
        if hints.is_empty() {
            return;
        }
        let endpoints: Vec<BrokerInfo> = resp
            .node_endpoints
            .iter()
            .filter_map(|e| {
                // An endpoint without a usable address is no endpoint (its hint is then
                // ignored unless metadata knows the node).
                let port = u16::try_from(e.port).ok().filter(|p| *p > 0)?;
                (!e.host.is_empty()).then(|| BrokerInfo {
                    id: e.node_id.0,
                    host: e.host.to_string(),
                    port,
                    rack: e.rack.as_ref().map(|r| r.to_string()),
                })
            })
            .collect();
        let Some((cluster, moved)) = self.metadata.apply_leader_hints(&hints, &endpoints) else {
            return;
        };
        self.sync_nodes(now, &cluster);
        // Not a metadata refresh: `cluster_generation` stays (user threads look only at
        // partition counts, which a hint does not change).
        self.shared.cluster.store(cluster);
        Counters::add(&self.shared.counters.leader_hint, moved.len() as u64);
        for (topic, partition) in &moved {
            tracing::debug!(%topic, partition, "leader moved (KIP-951 hint); retrying there without backoff");
            self.shared.acc.end_backoff(topic, *partition, now);
        }
    }

    /// After a metadata refresh: the queued retries of partitions whose leader epoch moved
    /// skip the rest of their backoff.
    pub(super) fn end_backoff_of_moved(&mut self, now: Instant, old: &Cluster, new: &Cluster) {
        for (topic, partition) in old.leaders_moved(new) {
            self.shared.acc.end_backoff(&topic, partition, now);
        }
    }

    /// Whether `topic`-`partition` has a newer leader than the one a batch sent with
    /// `sent_epoch` went to.
    pub(super) fn leader_moved_since(&self, topic: &str, partition: i32, sent_epoch: i32) -> bool {
        sent_epoch >= 0 && self.metadata.cluster().leader_epoch(topic, partition) > sent_epoch
    }

    /// Makes the nodes of `cluster`'s brokers known to the network client; a node whose
    /// address changed loses its connection.
    pub(super) fn sync_nodes(&mut self, now: Instant, cluster: &Cluster) {
        for (id, b) in &cluster.brokers {
            let addr = b.address();
            match self.net.nodes.get_mut(id) {
                Some(n) if n.addr == addr => {}
                Some(n) => {
                    // The broker moved: drop the old connection.
                    n.addr = addr;
                    if !matches!(n.conn, Conn::Down) {
                        self.net.outputs.push_back(Output::Close { node: *id });
                        let id = *id;
                        self.disconnect(now, id, "broker address changed".into());
                    }
                }
                None => {
                    self.net.nodes.insert(*id, Node::new(addr, now));
                }
            }
        }
    }
}
