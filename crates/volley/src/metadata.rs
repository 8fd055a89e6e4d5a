//! Cluster metadata: brokers, topics, partitions and their leaders, and the refresh policy.
//!
//! [`Cluster`] is an immutable snapshot, shared behind an `Arc` between the user's threads (which
//! need partition counts to partition records) and the I/O thread (which needs leaders).
//! [`MetadataState`] decides when to refresh, with time passed in as `now`, and keeps the
//! producer's [`BootstrapState`]: whether its nodes are the bootstrap servers or the brokers
//! metadata named, and when it must bootstrap again (KIP-899, KIP-1102). It also pins the
//! cluster id first seen ([`ClusterIdMismatch`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

use rustc_hash::FxHashMap;

use crate::error::KafkaCode;
use crate::util::time::deadline;

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `node.id`.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id; `None` while there is no leader.
    pub leader: Option<i32>,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The leader epoch as the last Metadata response gave it: `leader_epoch` may be higher
    /// after a KIP-951 hint. Stale metadata is judged against this one, so that a bad hint
    /// cannot pin a partition to the wrong leader (-1: no floor, e.g. after a rebootstrap).
    pub metadata_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The partition-level error, if any (e.g. LEADER_NOT_AVAILABLE).
    pub error: KafkaCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: Arc<str>,
    /// The topic id (a UUID, as 128 bits).
    pub id: u128,
    /// The topic-level error (UNKNOWN_TOPIC_OR_PARTITION when it does not exist).
    pub error: KafkaCode,
    /// Whether it is an internal topic.
    pub internal: bool,
    /// Partitions, indexed by partition number.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// Partition count.
    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }
}

/// A Produce response's new-leader hint for one partition (KIP-951's `CurrentLeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(hidden)]
pub struct LeaderHint {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id (-1: not given).
    pub leader: i32,
    /// The leader epoch (-1: not given).
    pub epoch: i32,
}

/// A topic and one of its partitions.
#[doc(hidden)]
pub type TopicPartition = (Arc<str>, i32);

/// An immutable metadata snapshot.
#[derive(Debug, Clone, Default)]
#[doc(hidden)]
pub struct Cluster {
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// The active controller, when the broker says.
    pub controller: Option<i32>,
    /// Brokers by id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Topics by name (only the topics asked for, including those with errors). Looked up on
    /// every send, hence the fast (non-cryptographic) hash.
    pub topics: FxHashMap<Arc<str>, Arc<TopicInfo>>,
}

impl Cluster {
    /// Builds a snapshot from a Metadata response.
    pub fn from_response(resp: &MetadataResponse) -> Cluster {
        let brokers = resp
            .brokers
            .iter()
            .map(|b| {
                let info = BrokerInfo {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: u16::try_from(b.port).unwrap_or(0),
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                };
                (info.id, info)
            })
            .collect();
        let mut topics = FxHashMap::default();
        for t in &resp.topics {
            let Some(name) = t.name.as_ref() else {
                continue;
            };
            let name: Arc<str> = Arc::from(name.0.as_str());
            let mut parts: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    leader_epoch: p.leader_epoch,
                    metadata_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    error: KafkaCode(p.error_code),
                })
                .collect();
            parts.sort_by_key(|p| p.partition);
            // A well-formed response lists partitions 0..n; anything else is treated as not
            // (yet) known, so no record is ever routed to a partition index that is not there.
            let dense = parts
                .iter()
                .enumerate()
                .all(|(i, p)| p.partition == i as i32);
            let info = TopicInfo {
                name: name.clone(),
                id: t.topic_id.as_u128(),
                error: KafkaCode(t.error_code),
                internal: t.is_internal,
                partitions: if dense { parts } else { Vec::new() },
            };
            topics.insert(name, Arc::new(info));
        }
        Cluster {
            cluster_id: resp.cluster_id.as_ref().map(|c| c.to_string()),
            controller: (resp.controller_id.0 >= 0).then_some(resp.controller_id.0),
            brokers,
            topics,
        }
    }

    /// The topic, if known and without a topic-level error.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics
            .get(name)
            .filter(|t| t.error.is_ok() && !t.partitions.is_empty())
    }

    /// The leader of a partition, if known.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<&BrokerInfo> {
        let t = self.topic(topic)?;
        let p = t.partitions.get(usize::try_from(partition).ok()?)?;
        self.brokers.get(&p.leader?)
    }

    /// Merges a newer response into this snapshot: topics in `newer` replace ours, brokers are
    /// replaced wholesale; topics not asked for in `newer` are kept.
    ///
    /// A partition whose leader epoch in `newer` is older than the one our last metadata gave
    /// keeps ours (KIP-320, as Java's `Metadata.updateLatestMetadata`): a broker that has not
    /// yet heard of a leader change, answering after one that had, must not move the leader
    /// back. A KIP-951 hint does not raise that floor (`PartitionInfo::metadata_epoch`): a
    /// lagging broker may then undo a true hint (the old leader names the new one again, at
    /// once), but no bogus hint, whatever its epoch, outlives the next metadata. A topic
    /// recreated under a new topic id takes `newer` whatever the epochs.
    pub fn merged(&self, newer: Cluster) -> Cluster {
        let mut topics = self.topics.clone();
        for (name, mut fresh) in newer.topics {
            if let Some(old) = self.topics.get(&name) {
                let same_topic = old.id == fresh.id || old.id == 0 || fresh.id == 0;
                let stale = |i: usize, p: &PartitionInfo| {
                    old.partitions
                        .get(i)
                        .filter(|o| {
                            same_topic && p.leader_epoch >= 0 && o.metadata_epoch > p.leader_epoch
                        })
                        .cloned()
                };
                if fresh
                    .partitions
                    .iter()
                    .enumerate()
                    .any(|(i, p)| stale(i, p).is_some())
                {
                    let t = Arc::make_mut(&mut fresh);
                    for i in 0..t.partitions.len() {
                        if let Some(kept) = stale(i, &t.partitions[i]) {
                            tracing::debug!(topic = %name, partition = i, epoch = t.partitions[i].leader_epoch, kept = kept.leader_epoch, "metadata for an older leader epoch; keeping ours");
                            t.partitions[i] = kept;
                        }
                    }
                }
            }
            topics.insert(name, fresh);
        }
        Cluster {
            cluster_id: newer.cluster_id.or_else(|| self.cluster_id.clone()),
            controller: newer.controller,
            brokers: newer.brokers,
            topics,
        }
    }

    /// Applies the new-leader hints of a Produce response (KIP-951): `hints` from the
    /// partitions' `CurrentLeader`, `endpoints` the response's `NodeEndpoints`. As Java's `Metadata.updatePartitionLeadership`,
    /// a hint is ignored unless its leader id and epoch are set, its epoch is newer than ours,
    /// its leader is a broker we know (from metadata or `endpoints`), and the partition is in
    /// this snapshot. The endpoints are merged into the brokers (an endpoint replaces our
    /// address for its node). Returns the new snapshot and the partitions whose leader it
    /// changed, or `None` when no hint applied.
    pub fn with_leader_hints(
        &self,
        hints: &[LeaderHint],
        endpoints: &[BrokerInfo],
    ) -> Option<(Cluster, Vec<TopicPartition>)> {
        let known =
            |id: i32| self.brokers.contains_key(&id) || endpoints.iter().any(|b| b.id == id);
        let mut topics = self.topics.clone();
        let mut moved = Vec::new();
        for h in hints {
            let (topic, partition, leader, epoch) = (&h.topic, h.partition, h.leader, h.epoch);
            if leader < 0 || epoch < 0 || !known(leader) {
                tracing::debug!(%topic, partition, leader, epoch, "leader hint without a known leader; ignored");
                continue;
            }
            let Some(t) = topics.get_mut(topic) else {
                continue;
            };
            let Some(p) = usize::try_from(partition)
                .ok()
                .and_then(|i| t.partitions.get(i))
            else {
                continue;
            };
            if p.leader_epoch >= epoch {
                tracing::debug!(%topic, partition, epoch, ours = p.leader_epoch, "leader hint not newer than our metadata; ignored");
                continue;
            }
            let p = &mut Arc::make_mut(t).partitions[partition as usize];
            p.leader = Some(leader);
            p.leader_epoch = epoch;
            moved.push((topic.clone(), partition));
        }
        if moved.is_empty() {
            return None;
        }
        let mut brokers = self.brokers.clone();
        for b in endpoints.iter().filter(|b| b.id >= 0) {
            brokers.insert(b.id, b.clone());
        }
        let cluster = Cluster {
            cluster_id: self.cluster_id.clone(),
            controller: self.controller,
            brokers,
            topics,
        };
        Some((cluster, moved))
    }

    /// This snapshot with no partition's epoch a floor for the next metadata
    /// ([`Cluster::merged`]).
    pub fn without_epoch_floors(&self) -> Cluster {
        let mut c = self.clone();
        for t in c.topics.values_mut() {
            for p in &mut Arc::make_mut(t).partitions {
                p.metadata_epoch = -1;
            }
        }
        c
    }

    /// The leader epoch of a partition, or -1 when it is not known.
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.topic(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
            .map_or(-1, |p| p.leader_epoch)
    }

    /// The partitions whose leader epoch is higher in `newer` than here (a leader moved).
    pub fn leaders_moved(&self, newer: &Cluster) -> Vec<TopicPartition> {
        let mut out = Vec::new();
        for (name, t) in &newer.topics {
            let Some(old) = self.topics.get(name) else {
                continue;
            };
            for (p, o) in t.partitions.iter().zip(&old.partitions) {
                if p.leader_epoch > o.leader_epoch && p.leader.is_some() {
                    out.push((name.clone(), p.partition));
                }
            }
        }
        out
    }
}

/// Builds a Metadata request for `topics` (an empty list asks for no topics, only brokers).
#[doc(hidden)]
pub fn metadata_request(topics: &[Arc<str>], allow_auto_topic_creation: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                })
                .collect(),
        ))
        .with_allow_auto_topic_creation(allow_auto_topic_creation)
}

/// Where the producer's nodes come from, and whether it must bootstrap again (KIP-899,
/// KIP-1102): the metadata layer's recovery state. Java keeps the same facts in
/// `DefaultMetadataUpdater` (`metadataAttemptStartMs`) and `Metadata` (the bootstrap cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum BootstrapState {
    /// The only nodes are `bootstrap.servers`: before the first metadata, and after each
    /// rebootstrap until a bootstrap server answers.
    Bootstrapping,
    /// The nodes are the brokers of the last metadata, and no due refresh is failing.
    Bootstrapped,
    /// The brokers of the last metadata are the nodes, but a refresh has been due since
    /// `since` without a metadata response being applied. KIP-1102: after
    /// `metadata.recovery.rebootstrap.trigger.ms` of this, the producer bootstraps again.
    Stale {
        /// When the first attempt of the failing refresh was due.
        since: Instant,
    },
    /// A broker answered Metadata with REBOOTSTRAP_REQUIRED (KIP-1102): bootstrap again at
    /// once.
    RebootstrapRequired,
}

/// Metadata from a cluster other than the producer's: the cluster id it carried, and the one
/// the producer pinned from its first metadata. See [`MetadataState::check_cluster_id`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(hidden)]
pub struct ClusterIdMismatch {
    /// The producer's cluster id (the first one seen).
    pub expected: String,
    /// The cluster id of the refused response.
    pub found: String,
}

/// When to refresh metadata, and for which topics.
///
/// A refresh is due when someone asked for one (a send for an unknown topic, a leader change,
/// a network error) or when the snapshot is older than `metadata.max.age.ms`. Requests are
/// spaced by `retry.backoff.ms` after a failure or an incomplete answer. Topics not used for
/// `metadata.max.idle.ms` are dropped from the interest set.
#[derive(Debug)]
#[doc(hidden)]
pub struct MetadataState {
    created: Instant,
    cluster: Arc<Cluster>,
    version: u64,
    max_age: Duration,
    max_idle: Duration,
    backoff: Duration,
    last_refresh: Option<Instant>,
    last_attempt: Option<Instant>,
    update_requested: bool,
    in_flight: bool,
    topics: HashMap<Arc<str>, Instant>,
    new_topics: HashSet<Arc<str>>,
    bootstrap: BootstrapState,
    /// The cluster id of the first metadata that carried one; metadata from another cluster
    /// is refused for the producer's life.
    cluster_id: Option<String>,
}

impl MetadataState {
    /// A state with an empty snapshot, due for a refresh at once.
    pub fn new(
        now: Instant,
        max_age: Duration,
        max_idle: Duration,
        backoff: Duration,
    ) -> MetadataState {
        MetadataState {
            created: now,
            cluster: Arc::new(Cluster::default()),
            version: 0,
            max_age,
            max_idle,
            backoff,
            last_refresh: None,
            last_attempt: None,
            update_requested: true,
            in_flight: false,
            topics: HashMap::new(),
            new_topics: HashSet::new(),
            bootstrap: BootstrapState::Bootstrapping,
            cluster_id: None,
        }
    }

    /// Where the producer's nodes come from, and whether it must bootstrap again.
    pub fn bootstrap_state(&self) -> BootstrapState {
        self.bootstrap
    }

    /// Whether metadata has named the brokers (they, not the bootstrap servers, are the nodes).
    pub fn brokers_known(&self) -> bool {
        self.bootstrap != BootstrapState::Bootstrapping
    }

    /// A refresh is due at `now` (it is being attempted, whether or not a node can take it):
    /// KIP-1102's clock starts, unless it already runs (Java's `metadataAttemptStartMs`).
    pub fn refresh_due(&mut self, now: Instant) {
        if self.bootstrap == BootstrapState::Bootstrapped {
            self.bootstrap = BootstrapState::Stale { since: now };
        }
    }

    /// A broker answered REBOOTSTRAP_REQUIRED: the producer must bootstrap again.
    pub fn require_rebootstrap(&mut self) {
        self.in_flight = false;
        self.bootstrap = BootstrapState::RebootstrapRequired;
    }

    /// When KIP-1102's trigger fires: `trigger` (`metadata.recovery.rebootstrap.trigger.ms`)
    /// after a failing refresh was first due, or at once after REBOOTSTRAP_REQUIRED. `None`
    /// when no rebootstrap is pending.
    pub fn rebootstrap_at(&self, trigger: Duration) -> Option<Instant> {
        match self.bootstrap {
            BootstrapState::Stale { since } => Some(deadline(since, trigger)),
            BootstrapState::RebootstrapRequired => Some(self.created),
            BootstrapState::Bootstrapping | BootstrapState::Bootstrapped => None,
        }
    }

    /// The producer bootstraps again: its nodes are the bootstrap servers until one answers,
    /// and a full refresh is due (after the backoff of the refresh the rebootstrap cut short).
    /// The snapshot is kept, so sends still see their topics' partitions meanwhile.
    pub fn begin_rebootstrap(&mut self) {
        // The cluster we bootstrap into may carry older epochs (restored metadata, KIP-1102):
        // its first metadata is taken whatever they are, as Java's bootstrap snapshot does.
        self.cluster = Arc::new(self.cluster.without_epoch_floors());
        self.in_flight = false;
        self.update_requested = true;
        self.bootstrap = BootstrapState::Bootstrapping;
    }

    /// Checks `fresh` against the producer's cluster id: the first metadata carrying one pins
    /// it; later metadata from another cluster is refused. A response without a cluster id
    /// (Metadata before v2) cannot be checked and passes.
    pub fn check_cluster_id(&self, fresh: &Cluster) -> Result<(), ClusterIdMismatch> {
        match (&self.cluster_id, &fresh.cluster_id) {
            (Some(expected), Some(found)) if expected != found => Err(ClusterIdMismatch {
                expected: expected.clone(),
                found: found.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The current snapshot.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Increases by one with every applied response.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Marks `topic` as used now; an unknown topic asks for an immediate refresh.
    pub fn add_topic(&mut self, topic: &Arc<str>, now: Instant) {
        if self.topics.insert(topic.clone(), now).is_none() {
            self.new_topics.insert(topic.clone());
            self.update_requested = true;
        }
    }

    /// Asks for a refresh as soon as the backoff allows.
    pub fn request_update(&mut self) {
        self.update_requested = true;
    }

    /// Whether a refresh has been asked for and not yet done.
    pub fn update_requested(&self) -> bool {
        self.update_requested
    }

    /// When the next refresh is due (`now` or earlier means due now); `None` while one is in
    /// flight.
    pub fn next_refresh(&self) -> Option<Instant> {
        if self.in_flight {
            return None;
        }
        let earliest = self.last_attempt.map(|t| deadline(t, self.backoff));
        let due = if self.update_requested {
            earliest
        } else {
            match self.last_refresh {
                None => earliest,
                Some(t) => {
                    let aged = deadline(t, self.max_age);
                    Some(earliest.map_or(aged, |e| e.max(aged)))
                }
            }
        };
        // `None` from the computation above means "no constraint": due at once.
        Some(due.unwrap_or(self.created))
    }

    /// Whether a refresh should be sent at `now`.
    pub fn should_refresh(&self, now: Instant) -> bool {
        self.next_refresh().is_some_and(|t| t <= now)
    }

    /// Starts a refresh: returns the topics to ask for, and expires idle topics.
    pub fn begin_refresh(&mut self, now: Instant) -> Vec<Arc<str>> {
        let max_idle = self.max_idle;
        self.topics
            .retain(|_, used| now.saturating_duration_since(*used) < max_idle);
        self.in_flight = true;
        self.last_attempt = Some(now);
        self.topics.keys().cloned().collect()
    }

    /// Applies a response to the refresh begun last (the caller checked it with
    /// [`MetadataState::check_cluster_id`] and that it names brokers). Returns the new
    /// snapshot.
    pub fn handle_response(&mut self, now: Instant, fresh: Cluster) -> Arc<Cluster> {
        self.in_flight = false;
        self.last_refresh = Some(now);
        // A topic that is still unknown, or a partition without a leader, keeps the refresh
        // requested (with backoff) so that waiting sends see it appear.
        let incomplete = self.topics.keys().any(|t| match fresh.topics.get(t) {
            None => true,
            Some(info) => {
                info.error == KafkaCode::LEADER_NOT_AVAILABLE
                    || info.partitions.iter().any(|p| p.leader.is_none())
            }
        });
        self.update_requested = incomplete;
        for t in fresh.topics.keys() {
            self.new_topics.remove(t);
        }
        if self.cluster_id.is_none() {
            self.cluster_id.clone_from(&fresh.cluster_id);
        }
        self.bootstrap = BootstrapState::Bootstrapped;
        self.cluster = Arc::new(self.cluster.merged(fresh));
        self.version += 1;
        self.cluster.clone()
    }

    /// Applies a Produce response's new-leader hints (see [`Cluster::with_leader_hints`]); the
    /// refresh policy is untouched (the caller still asks for a refresh). Returns the new
    /// snapshot and the partitions whose leader changed, or `None` when no hint applied.
    pub fn apply_leader_hints(
        &mut self,
        hints: &[LeaderHint],
        endpoints: &[BrokerInfo],
    ) -> Option<(Arc<Cluster>, Vec<TopicPartition>)> {
        let (cluster, moved) = self.cluster.with_leader_hints(hints, endpoints)?;
        self.cluster = Arc::new(cluster);
        Some((self.cluster.clone(), moved))
    }

    /// The refresh failed (no broker answered): try again after the backoff.
    pub fn handle_failure(&mut self, now: Instant) {
        self.in_flight = false;
        self.last_attempt = Some(now);
        self.update_requested = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;

    fn response(topic: &str, leaders: &[i32]) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.into()))))
                .with_partitions(
                    leaders
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(i as i32)
                                .with_leader_id(BrokerId(l))
                        })
                        .collect(),
                )])
    }

    #[test]
    fn snapshot_from_response() {
        let c = Cluster::from_response(&response("t", &[1, -1]));
        let t = c.topic("t").unwrap();
        assert_eq!(t.partition_count(), 2);
        assert_eq!(c.leader_for("t", 0).unwrap().address(), "127.0.0.1:9092");
        assert!(c.leader_for("t", 1).is_none());
        assert!(c.leader_for("t", 2).is_none());
        assert!(c.topic("other").is_none());
    }

    #[test]
    fn refresh_policy_follows_max_age_backoff_and_requests() {
        let t0 = Instant::now();
        let age = Duration::from_secs(300);
        let backoff = Duration::from_millis(100);
        let mut m = MetadataState::new(t0, age, Duration::from_secs(600), backoff);
        assert!(m.should_refresh(t0), "a new state refreshes at once");
        let topic: Arc<str> = Arc::from("t");
        m.add_topic(&topic, t0);
        assert_eq!(m.begin_refresh(t0), vec![topic.clone()]);
        assert!(!m.should_refresh(t0), "nothing while one is in flight");
        m.handle_response(t0, Cluster::from_response(&response("t", &[1])));
        assert_eq!(m.version(), 1);
        assert!(!m.should_refresh(t0 + Duration::from_secs(299)));
        assert!(
            m.should_refresh(t0 + age),
            "refreshed after metadata.max.age.ms"
        );

        // An explicit request is honoured once the backoff since the last attempt has passed.
        m.request_update();
        assert!(!m.should_refresh(t0 + Duration::from_millis(50)));
        assert!(m.should_refresh(t0 + backoff));

        // A partition without a leader keeps the update requested.
        let t1 = t0 + Duration::from_secs(1);
        m.begin_refresh(t1);
        m.handle_response(t1, Cluster::from_response(&response("t", &[-1])));
        assert!(m.update_requested());
        assert!(m.should_refresh(t1 + backoff));

        // A failure backs off too.
        let t2 = t1 + Duration::from_secs(1);
        m.begin_refresh(t2);
        m.handle_failure(t2);
        assert!(!m.should_refresh(t2 + Duration::from_millis(10)));
        assert!(m.should_refresh(t2 + backoff));
    }

    fn with_epochs(topic: &str, leaders: &[(i32, i32)]) -> Cluster {
        let mut c = Cluster::from_response(&response(
            topic,
            &leaders.iter().map(|l| l.0).collect::<Vec<_>>(),
        ));
        let t = Arc::make_mut(c.topics.get_mut(topic).unwrap());
        for (p, (_, epoch)) in t.partitions.iter_mut().zip(leaders) {
            p.leader_epoch = *epoch;
            p.metadata_epoch = *epoch;
        }
        c
    }

    fn broker(id: i32, port: u16) -> BrokerInfo {
        BrokerInfo {
            id,
            host: "127.0.0.1".into(),
            port,
            rack: None,
        }
    }

    // Failure: a lagging broker's metadata moves a leader back to an older epoch. Invariant:
    // per partition, the newer epoch wins; a recreated topic (new id) takes the new metadata.
    #[test]
    fn metadata_for_an_older_leader_epoch_keeps_ours() {
        let ours = with_epochs("t", &[(2, 5), (1, 3)]);
        let lagging = with_epochs("t", &[(1, 4), (1, 4)]);
        let merged = ours.merged(lagging);
        let p = &merged.topic("t").unwrap().partitions;
        assert_eq!(
            (p[0].leader, p[0].leader_epoch),
            (Some(2), 5),
            "older epoch ignored"
        );
        assert_eq!(
            (p[1].leader, p[1].leader_epoch),
            (Some(1), 4),
            "newer epoch taken"
        );

        let mut recreated = with_epochs("t", &[(1, 0), (1, 0)]);
        let mut old = ours.clone();
        Arc::make_mut(old.topics.get_mut("t").unwrap()).id = 1;
        Arc::make_mut(recreated.topics.get_mut("t").unwrap()).id = 2;
        let merged = old.merged(recreated);
        assert_eq!(merged.topic("t").unwrap().partitions[0].leader_epoch, 0);
    }

    // Failure: a bad KIP-951 hint (unknown leader, stale epoch, missing fields, unknown
    // partition) is applied. Invariant: only a newer epoch whose leader is known (from metadata
    // or the response's endpoints) moves the leader; endpoints join the brokers.
    #[test]
    fn leader_hints_apply_only_when_newer_and_known() {
        let c = with_epochs("t", &[(1, 5), (1, 5)]);
        let t: Arc<str> = Arc::from("t");
        let hint = |partition: i32, leader: i32, epoch: i32| LeaderHint {
            topic: t.clone(),
            partition,
            leader,
            epoch,
        };
        // Unknown node, older or equal epoch, missing leader or epoch, unknown partition/topic.
        for bad in [
            hint(0, 7, 6),
            hint(0, 1, 5),
            hint(0, 1, 4),
            hint(0, -1, 6),
            hint(0, 1, -1),
            hint(9, 1, 6),
            LeaderHint {
                topic: Arc::from("other"),
                ..hint(0, 1, 6)
            },
        ] {
            assert!(
                c.with_leader_hints(std::slice::from_ref(&bad), &[])
                    .is_none(),
                "{bad:?}"
            );
        }
        // A node known only from the endpoints.
        let (moved, parts) = c
            .with_leader_hints(&[hint(1, 7, 6)], &[broker(7, 9097)])
            .expect("applied");
        assert_eq!(parts, vec![(t.clone(), 1)]);
        assert_eq!(
            moved.leader_for("t", 1).unwrap().address(),
            "127.0.0.1:9097"
        );
        assert_eq!(moved.leader_epoch("t", 1), 6);
        assert_eq!(moved.leader_epoch("t", 0), 5, "other partitions untouched");
        assert_eq!(c.leaders_moved(&moved), vec![(t.clone(), 1)]);
        // A hint does not raise the floor for metadata: the next refresh is taken (a lagging
        // one undoes a true hint, which the old leader then gives again; a bogus hint, here
        // at i32::MAX, does not outlive it). A refresh older than our metadata is not.
        let lagging = with_epochs("t", &[(1, 5), (1, 5)]);
        assert_eq!(moved.clone().merged(lagging).leader_epoch("t", 1), 5);
        let (bogus, _) = c
            .with_leader_hints(&[hint(0, 1, i32::MAX)], &[])
            .expect("applied");
        let truth = with_epochs("t", &[(1, 6), (1, 5)]);
        assert_eq!(bogus.merged(truth).leader_epoch("t", 0), 6);
        let older = with_epochs("t", &[(1, 4), (1, 4)]);
        assert_eq!(c.merged(older).leader_epoch("t", 0), 5);
    }

    #[test]
    fn bootstrap_state_and_rebootstrap_triggers() {
        let t0 = Instant::now();
        let trigger = Duration::from_secs(300);
        let mut m = MetadataState::new(
            t0,
            Duration::from_secs(300),
            Duration::from_secs(600),
            Duration::from_millis(100),
        );
        assert_eq!(m.bootstrap_state(), BootstrapState::Bootstrapping);
        assert!(!m.brokers_known());
        // KIP-1102's clock does not run before the first metadata: there is nothing to go
        // back from.
        m.refresh_due(t0);
        assert_eq!(m.rebootstrap_at(trigger), None);
        m.begin_refresh(t0);
        let mut first = Cluster::from_response(&response("t", &[1]));
        first.cluster_id = Some("c1".into());
        m.handle_response(t0, first);
        assert_eq!(m.bootstrap_state(), BootstrapState::Bootstrapped);
        assert!(m.brokers_known());

        // A due refresh starts the clock once; success stops it.
        let t1 = t0 + Duration::from_secs(1);
        m.refresh_due(t1);
        m.refresh_due(t1 + Duration::from_secs(5));
        assert_eq!(m.bootstrap_state(), BootstrapState::Stale { since: t1 });
        assert_eq!(m.rebootstrap_at(trigger), Some(t1 + trigger));
        m.handle_response(t1, Cluster::from_response(&response("t", &[1])));
        assert_eq!(m.rebootstrap_at(trigger), None);

        // REBOOTSTRAP_REQUIRED: due at once; a rebootstrap goes back to the bootstrap servers
        // and asks for metadata, keeping the snapshot.
        m.require_rebootstrap();
        assert!(m.rebootstrap_at(trigger).is_some_and(|t| t <= t1));
        m.begin_rebootstrap();
        assert_eq!(m.bootstrap_state(), BootstrapState::Bootstrapping);
        assert!(m.update_requested());
        assert!(m.cluster().topic("t").is_some());

        // The first cluster id is pinned; another is refused, a missing one passes.
        let mut other = Cluster::from_response(&response("t", &[1]));
        other.cluster_id = Some("c2".into());
        assert_eq!(
            m.check_cluster_id(&other),
            Err(ClusterIdMismatch {
                expected: "c1".into(),
                found: "c2".into()
            })
        );
        other.cluster_id = None;
        assert_eq!(m.check_cluster_id(&other), Ok(()));
    }

    #[test]
    fn idle_topics_expire() {
        let t0 = Instant::now();
        let mut m = MetadataState::new(
            t0,
            Duration::from_secs(300),
            Duration::from_secs(10),
            Duration::from_millis(100),
        );
        let a: Arc<str> = Arc::from("a");
        m.add_topic(&a, t0);
        assert_eq!(m.begin_refresh(t0 + Duration::from_secs(5)).len(), 1);
        m.handle_failure(t0);
        assert!(m.begin_refresh(t0 + Duration::from_secs(11)).is_empty());
    }
}
