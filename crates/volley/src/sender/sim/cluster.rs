//! Whole-cluster changes in the simulation: brokers added and stopped, cluster ids, extra
//! addresses in front of brokers (a load balancer or a DNS name that `bootstrap.servers`
//! names), and Metadata answered with REBOOTSTRAP_REQUIRED (KIP-1102).
//!
//! A broker's Metadata lists the running brokers of its own cluster (same cluster id) with that
//! id, so "the cluster moved" is: add brokers, move the partition leaders to them, stop the old
//! ones, and point the bootstrap address at a new one. The partitions' logs stay (the same
//! cluster, on new machines); a broker of another cluster id answers for the same topics, so a
//! producer that followed it would visibly write there.

use kafka_protocol::messages::MetadataResponse;

use super::{BrokerModel, Sim};
use crate::error::KafkaCode;

/// The cluster id of a broker that was given none.
pub(crate) const DEFAULT_CLUSTER_ID: &str = "sim-cluster";

impl Sim {
    /// Connections to `address` reach `broker` (until pointed elsewhere). The sender's
    /// `bootstrap.servers` may name such an address.
    pub(crate) fn alias(&mut self, address: &str, broker: i32) {
        self.aliases.insert(address.to_string(), broker);
    }

    /// A new broker `id`, of the cluster `cluster_id` (`None`: the default one).
    pub(crate) fn add_broker(&mut self, id: i32, cluster_id: Option<&str>) {
        let model = BrokerModel {
            cluster_id: cluster_id.map(str::to_string),
            ..BrokerModel::default()
        };
        assert!(
            self.brokers.insert(id, model).is_none(),
            "broker {id} exists"
        );
    }

    /// Stops `broker`: its connections break (what was in flight on them is lost), new ones
    /// are refused, and no metadata lists it any more.
    pub(crate) fn stop_broker(&mut self, broker: i32) {
        self.broker_mut(broker).stopped = true;
        let mut nodes: Vec<i32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .map(|(node, _)| *node)
            .collect();
        nodes.sort_unstable();
        for node in nodes {
            self.disconnect(node);
        }
    }

    /// The next `n` Metadata responses of `broker` (v13+) carry the top-level error
    /// REBOOTSTRAP_REQUIRED and nothing else.
    pub(crate) fn answer_rebootstrap_required(&mut self, broker: i32, n: u32) {
        self.broker_mut(broker).rebootstrap_required += n;
    }

    /// Deletes a topic: its metadata answers UNKNOWN_TOPIC_OR_PARTITION, and so do its
    /// partitions' leaders, until [`Sim::create_topic`] makes it again (empty).
    pub(crate) fn delete_topic(&mut self, name: &str) {
        self.model.topics.remove(name);
    }

    /// The broker a connection to `address` reaches.
    pub(super) fn broker_at(&self, address: &str) -> Option<i32> {
        if let Some(&b) = self.aliases.get(address) {
            return Some(b);
        }
        self.brokers
            .keys()
            .copied()
            .find(|&b| super::addr(b) == address)
    }

    /// The running brokers of `broker`'s cluster (itself included), and the cluster's id.
    pub(super) fn cluster_of(&self, broker: i32) -> (Vec<i32>, String) {
        let id_of = |m: &BrokerModel| {
            m.cluster_id
                .clone()
                .unwrap_or_else(|| DEFAULT_CLUSTER_ID.to_string())
        };
        let id = id_of(&self.brokers[&broker]);
        let members = self
            .brokers
            .iter()
            .filter(|(b, m)| **b == broker || (!m.stopped && id_of(m) == id))
            .map(|(b, _)| *b)
            .collect();
        (members, id)
    }

    /// A REBOOTSTRAP_REQUIRED answer, if one is due from `broker` and `version` can carry it.
    pub(super) fn take_rebootstrap_required(
        &mut self,
        broker: i32,
        version: i16,
    ) -> Option<MetadataResponse> {
        let b = self.broker_mut(broker);
        if b.rebootstrap_required == 0 || version < 13 {
            return None;
        }
        b.rebootstrap_required -= 1;
        Some(MetadataResponse::default().with_error_code(KafkaCode::REBOOTSTRAP_REQUIRED.0))
    }
}
