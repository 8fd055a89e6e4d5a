//! The broker side of a Kafka cluster, as a model: partition logs, the leaders' checks and
//! idempotent deduplication of produce requests, producer ids, and the transaction and group
//! coordinators ([`txn`]). Time-free and I/O-free: requests come in decoded (with the
//! `kafka-protocol` crate), responses go out as its messages.
//!
//! Two front ends share it: the simulator of the sender's tests (`sender/sim.rs`, which carries
//! requests through a map of simulated connections on a simulated clock) and the fake cluster
//! of the `fake-cluster` feature ([`crate::fake`], which carries them over TCP). Whatever the
//! brokers decide (offsets, duplicates, sequence and epoch checks, markers, committed offsets)
//! is decided here, once.

pub(crate) mod txn;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, InitProducerIdRequest, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, ProducerId, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

pub(crate) use txn::{Coordinators, Marker};
#[cfg(test)]
pub(crate) use txn::{TxnEntry, TxnStatus};

use crate::error::KafkaCode;
use crate::protocol::record_batch::decode_batches;

/// How many appended batches per producer and partition the broker remembers to recognise a
/// retry of one of them (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
const DUPLICATE_WINDOW: usize = 5;

/// One record in a partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogRecord {
    pub offset: i64,
    /// The value as text (lossy UTF-8; empty for a null value or a marker).
    pub value: String,
    /// The key and value as written (`None`: null; both `None` for a marker).
    pub key_bytes: Option<Bytes>,
    pub value_bytes: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The record's timestamp (ms since the epoch, as the producer set it; -1 for a marker).
    pub timestamp: i64,
    pub producer_id: i64,
    pub epoch: i16,
    /// The record's own sequence (batch base sequence + offset delta); -1 without idempotence.
    pub sequence: i32,
    /// Written by a transactional producer (the batch's transactional attribute).
    pub transactional: bool,
    /// A transaction marker (control record) rather than data.
    pub control: Option<Marker>,
}

/// One partition of a produce request, as the broker saw it.
#[derive(Debug, Clone)]
pub(crate) struct ProducePart {
    pub topic: String,
    pub partition: i32,
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    /// The batch's transactional attribute.
    pub transactional: bool,
    pub values: Vec<String>,
    /// The batch bytes.
    pub bytes: usize,
    /// What the broker answered.
    pub code: KafkaCode,
}

/// The marker that ends the transaction of `log[i]` (a transactional data record): its
/// producer's next marker in the log; `None` while the transaction is open.
pub(crate) fn end_marker(log: &[LogRecord], i: usize) -> Option<Marker> {
    let producer_id = log[i].producer_id;
    log[i + 1..]
        .iter()
        .find(|m| m.control.is_some() && m.producer_id == producer_id)
        .and_then(|m| m.control)
}

/// A request the sender wrote, as the broker saw it.
#[derive(Debug, Clone)]
pub(crate) struct RequestLog {
    pub at: Instant,
    /// The sender's node id (negative for a bootstrap connection).
    pub node: i32,
    pub broker: i32,
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    /// The frame's size, size prefix included.
    pub size: usize,
    pub acks: i16,
    /// Produce: the partitions it carried.
    pub parts: Vec<ProducePart>,
    /// Metadata: the topics asked for (`None` = all).
    pub topics: Option<Vec<String>>,
    /// The response was lost (fault injection).
    pub dropped: bool,
    /// The request itself was lost: the broker never handled it (fault injection).
    pub lost: bool,
    /// Transactional requests (Produce included): the transactional id.
    pub transactional_id: Option<String>,
    /// InitProducerId and transactional requests: the producer id and epoch they carried.
    pub producer: Option<(i64, i16)>,
    /// AddPartitionsToTxn and TxnOffsetCommit: the partitions named.
    pub txn_partitions: Vec<(String, i32)>,
    /// EndTxn: commit (`true`) or abort.
    pub committed: Option<bool>,
    /// FindCoordinator: `(key type, key)`; AddOffsetsToTxn: `(0, group)`.
    pub key: Option<(i8, String)>,
    /// Non-produce requests: the (first) error code answered.
    pub code: KafkaCode,
}

impl RequestLog {
    /// A request of `api` at `version`, `size` bytes, from the client's node `node` to
    /// `broker`, with nothing else known yet.
    pub(crate) fn new(
        at: Instant,
        (node, broker): (i32, i32),
        api: ApiKey,
        version: i16,
        size: usize,
    ) -> RequestLog {
        RequestLog {
            at,
            node,
            broker,
            api,
            version,
            correlation_id: 0,
            size,
            acks: -1,
            parts: Vec::new(),
            topics: None,
            dropped: false,
            lost: false,
            transactional_id: None,
            producer: None,
            txn_partitions: Vec::new(),
            committed: None,
            key: None,
            code: KafkaCode::NONE,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    /// The sequence of the last record appended.
    pub last_seq: i32,
    /// `(first sequence, last sequence, base offset)` of the last appended batches.
    pub recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Default)]
pub(crate) struct PartitionModel {
    pub leader: Option<i32>,
    /// Bumped by every leader change, as Kafka's partition leader epoch.
    pub leader_epoch: i32,
    /// What a NOT_LEADER_OR_FOLLOWER answer names as the current leader (KIP-951):
    /// `Some((leader id, epoch))` overrides the truth (to test bad hints).
    pub hint_override: Option<(i32, i32)>,
    pub log: Vec<LogRecord>,
    pub fail_next: VecDeque<KafkaCode>,
    pub producers: HashMap<i64, ProducerEntry>,
    /// See `Sim::forget_producers`.
    pub strict_unknown_producer: bool,
}

#[derive(Debug)]
pub(crate) struct TopicModel {
    pub partitions: Vec<PartitionModel>,
    /// The topic's `max.message.bytes`: a larger batch is refused with MESSAGE_TOO_LARGE.
    pub max_message_bytes: usize,
}

/// The brokers' shared state: topics and their logs, producer ids, the coordinators.
#[derive(Debug)]
pub(crate) struct Model {
    pub topics: BTreeMap<String, TopicModel>,
    pub next_producer_id: i64,
    /// Idempotent (non-transactional) producer ids and their epochs.
    pub producer_epochs: HashMap<i64, i16>,
    pub coordinators: Coordinators,
    /// Whether NOT_LEADER_OR_FOLLOWER answers carry KIP-951's new-leader hint.
    pub leader_hints: bool,
}

impl Model {
    /// No topics; producer ids from 1000; `coordinator` coordinates every transactional id and
    /// group; leader hints on.
    pub(crate) fn new(coordinator: i32) -> Model {
        Model {
            topics: BTreeMap::new(),
            next_producer_id: 1000,
            producer_epochs: HashMap::new(),
            coordinators: Coordinators::new(coordinator),
            leader_hints: true,
        }
    }

    /// Creates (or replaces) a topic: one partition per leader (`-1` = none), with a
    /// `max.message.bytes` of 1 MiB.
    pub(crate) fn create_topic(&mut self, name: &str, leaders: &[i32]) {
        let partitions = leaders
            .iter()
            .map(|&l| PartitionModel {
                leader: (l >= 0).then_some(l),
                ..PartitionModel::default()
            })
            .collect();
        self.topics.insert(
            name.to_string(),
            TopicModel {
                partitions,
                max_message_bytes: 1024 * 1024,
            },
        );
    }

    /// The partition, if it exists.
    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionModel> {
        let i = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(i)
    }

    /// The partition; panics if it does not exist (for the simulator's tests).
    pub(crate) fn partition_mut(&mut self, topic: &str, partition: i32) -> &mut PartitionModel {
        &mut self.topics.get_mut(topic).expect("topic").partitions[partition as usize]
    }

    /// Moves a partition's leadership (`None`: no leader); the leader epoch goes up by one.
    pub(crate) fn set_leader(&mut self, topic: &str, partition: i32, leader: Option<i32>) {
        let p = self.partition_mut(topic, partition);
        p.leader = leader;
        p.leader_epoch += 1;
    }

    /// The partition's log (empty if it does not exist).
    pub(crate) fn log(&self, topic: &str, partition: i32) -> &[LogRecord] {
        self.partition(topic, partition).map_or(&[], |p| &p.log)
    }

    /// The records a `read_committed` consumer reads from the partition: data records that are
    /// not transactional or whose transaction committed, up to the first record of a
    /// transaction still open (the last stable offset).
    pub(crate) fn read_committed(&self, topic: &str, partition: i32) -> Vec<&LogRecord> {
        let log = self.log(topic, partition);
        let mut out = Vec::new();
        for (i, r) in log.iter().enumerate() {
            if r.control.is_some() {
                continue;
            }
            if r.transactional {
                match end_marker(log, i) {
                    Some(Marker::Commit) => {}
                    Some(Marker::Abort) => continue,
                    None => break,
                }
            }
            out.push(r);
        }
        out
    }

    /// The group's offsets committed by transactions: `(topic, partition) → offset`.
    pub(crate) fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        self.coordinators
            .committed
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, p), o)| ((t.clone(), *p), *o))
            .collect()
    }

    // ------------------------------------------------------------------ the brokers

    /// Handles a produce request at `broker` (`lost`: records it without handling it, every
    /// part with UNKNOWN_SERVER_ERROR). `endpoint` gives a broker's `(host, port)` for the
    /// KIP-951 leader hints (`None`: left out).
    pub(crate) fn handle_produce(
        &mut self,
        (broker, version): (i32, i16),
        req: &ProduceRequest,
        lost: bool,
        parts: &mut Vec<ProducePart>,
        endpoint: &dyn Fn(i32) -> Option<(String, i32)>,
    ) -> ProduceResponse {
        let txn_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
        let mut responses = Vec::new();
        let mut hinted = Vec::new();
        for t in &req.topic_data {
            let topic = t.name.0.to_string();
            let mut partition_responses = Vec::new();
            for p in &t.partition_data {
                let bytes = p.records.clone().unwrap_or_default();
                let (code, base_offset) = if lost {
                    (KafkaCode::UNKNOWN_SERVER_ERROR, -1)
                } else {
                    self.append(
                        broker,
                        (txn_id.as_deref(), version),
                        &topic,
                        p.index,
                        &bytes,
                    )
                };
                // (Undecodable bytes were answered CORRUPT_MESSAGE.)
                let decoded = decode_batches(&bytes).unwrap_or_default();
                let first = decoded.first();
                parts.push(ProducePart {
                    topic: topic.clone(),
                    partition: p.index,
                    producer_id: first.map_or(-1, |b| b.producer_id),
                    epoch: first.map_or(-1, |b| b.producer_epoch),
                    base_sequence: first.map_or(-1, |b| b.base_sequence),
                    transactional: first.is_some_and(|b| b.is_transactional()),
                    values: decoded
                        .iter()
                        .flat_map(|b| b.records.iter())
                        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).into())
                        .collect(),
                    bytes: bytes.len(),
                    code,
                });
                let mut r = PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_error_code(code.0)
                    .with_base_offset(base_offset)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(0);
                if code == KafkaCode::NOT_LEADER_OR_FOLLOWER && self.leader_hints {
                    if let Some((leader, epoch)) = self.leader_hint(&topic, p.index) {
                        r = r.with_current_leader(
                            LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(epoch),
                        );
                        hinted.push(leader);
                    }
                }
                partition_responses.push(r);
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(partition_responses),
            );
        }
        hinted.sort_unstable();
        hinted.dedup();
        let endpoints = hinted
            .into_iter()
            .filter_map(|id| {
                let (host, port) = endpoint(id)?;
                Some(
                    NodeEndpoint::default()
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                )
            })
            .collect();
        ProduceResponse::default()
            .with_responses(responses)
            .with_node_endpoints(endpoints)
    }

    /// The current leader and epoch a NOT_LEADER_OR_FOLLOWER answer names (KIP-951).
    fn leader_hint(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let p = self.topics.get(topic)?.partitions.get(partition as usize)?;
        p.hint_override
            .or_else(|| Some((p.leader?, p.leader_epoch)))
    }

    /// A partition leader's checks and append: `(error code, base offset)`.
    pub(crate) fn append(
        &mut self,
        broker: i32,
        (txn_id, version): (Option<&str>, i16),
        topic: &str,
        partition: i32,
        bytes: &[u8],
    ) -> (KafkaCode, i64) {
        let Some(t) = self.topics.get_mut(topic) else {
            return (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1);
        };
        let max_message_bytes = t.max_message_bytes;
        let Some(p) = t.partitions.get_mut(partition as usize) else {
            return (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1);
        };
        if p.leader != Some(broker) {
            return (KafkaCode::NOT_LEADER_OR_FOLLOWER, -1);
        }
        // These two come after the leader appended the batch (acks=all then waits for the
        // replicas): it is in the log, or already was (a duplicate), whatever the answer.
        let after_append = match p.fail_next.pop_front() {
            Some(
                c @ (KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND | KafkaCode::REQUEST_TIMED_OUT),
            ) => Some(c),
            Some(code) => return (code, -1),
            None => None,
        };
        if bytes.len() > max_message_bytes {
            return (KafkaCode::MESSAGE_TOO_LARGE, -1);
        }
        let Ok(batches) = decode_batches(bytes) else {
            return (KafkaCode::CORRUPT_MESSAGE, -1);
        };
        let [b] = batches.as_slice() else {
            return (KafkaCode::INVALID_RECORD, -1);
        };
        if b.is_control() {
            // Only coordinators write control records.
            return (KafkaCode::INVALID_RECORD, -1);
        }
        let pid = b.producer_id;
        let first = b.base_sequence;
        let last = first.wrapping_add(b.last_offset_delta);
        if b.is_transactional() {
            // Kafka 4.x verifies a transactional batch with the coordinator first (the
            // partition must be in the producer's open transaction, at its current epoch), or,
            // for transaction version 2 (Produce v12+), adds the partition to it.
            let code =
                self.coordinators
                    .admit(txn_id, version, topic, partition, pid, b.producer_epoch);
            if !code.is_ok() {
                return (code, -1);
            }
        }
        if pid >= 0 {
            match p.producers.get(&pid) {
                None if first != 0 && p.strict_unknown_producer => {
                    return (KafkaCode::UNKNOWN_PRODUCER_ID, -1)
                }
                None => {}
                Some(e) if b.producer_epoch < e.epoch => {
                    return (KafkaCode::INVALID_PRODUCER_EPOCH, -1)
                }
                // A new epoch starts at sequence 0.
                Some(e) if b.producer_epoch > e.epoch && first != 0 => {
                    return (KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
                }
                Some(e) if b.producer_epoch > e.epoch => {}
                Some(e) => {
                    if let Some(&(_, _, offset)) =
                        e.recent.iter().find(|(f, l, _)| *f == first && *l == last)
                    {
                        return (
                            after_append.unwrap_or(KafkaCode::DUPLICATE_SEQUENCE_NUMBER),
                            offset,
                        );
                    }
                    // (-1 after a marker that bumped the epoch: the epoch starts afresh.)
                    let expected = if e.last_seq == i32::MAX {
                        0
                    } else {
                        e.last_seq + 1
                    };
                    if first != expected {
                        return (KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
                    }
                }
            }
        }
        let base_offset = p.log.len() as i64;
        for (i, r) in b.records.iter().enumerate() {
            p.log.push(LogRecord {
                offset: base_offset + i as i64,
                value: String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).into(),
                key_bytes: r.key.as_deref().map(Bytes::copy_from_slice),
                value_bytes: r.value.as_deref().map(Bytes::copy_from_slice),
                headers: r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.key.clone(),
                            h.value.as_deref().map(Bytes::copy_from_slice),
                        )
                    })
                    .collect(),
                timestamp: r.timestamp,
                producer_id: pid,
                epoch: b.producer_epoch,
                sequence: if pid >= 0 {
                    first.wrapping_add(r.offset_delta)
                } else {
                    -1
                },
                transactional: b.is_transactional(),
                control: None,
            });
        }
        if pid >= 0 {
            let e = p.producers.entry(pid).or_default();
            if e.epoch != b.producer_epoch {
                e.recent.clear();
            }
            e.epoch = b.producer_epoch;
            e.last_seq = last;
            e.recent.push_back((first, last, base_offset));
            if e.recent.len() > DUPLICATE_WINDOW {
                e.recent.pop_front();
            }
        }
        (after_append.unwrap_or(KafkaCode::NONE), base_offset)
    }

    /// A Metadata answer listing `members` (`(id, host, port)`, the first one as the
    /// controller) of the cluster `cluster_id`, and the topics asked for (all when `None`).
    pub(crate) fn metadata_response(
        &self,
        members: &[(i32, String, i32)],
        cluster_id: String,
        req: &MetadataRequest,
    ) -> MetadataResponse {
        let brokers = members
            .iter()
            .map(|(id, host, port)| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(*id))
                    .with_host(StrBytes::from_string(host.clone()))
                    .with_port(*port)
            })
            .collect();
        let names: Vec<String> = match &req.topics {
            None => self.topics.keys().cloned().collect(),
            Some(ts) => ts
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .collect(),
        };
        let topics = names
            .into_iter()
            .map(|name| {
                let t = MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
                match self.topics.get(&name) {
                    None => t.with_error_code(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0),
                    Some(model) => t.with_partitions(
                        model
                            .partitions
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                let leader = p.leader.unwrap_or(-1);
                                MetadataResponsePartition::default()
                                    .with_partition_index(i as i32)
                                    .with_leader_id(BrokerId(leader))
                                    .with_leader_epoch(p.leader_epoch)
                                    .with_error_code(if leader < 0 {
                                        KafkaCode::LEADER_NOT_AVAILABLE.0
                                    } else {
                                        0
                                    })
                                    .with_replica_nodes(vec![BrokerId(leader)])
                                    .with_isr_nodes(vec![BrokerId(leader)])
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(StrBytes::from_string(cluster_id)))
            .with_controller_id(BrokerId(members.first().map_or(-1, |m| m.0)))
            .with_topics(topics)
    }

    /// InitProducerId at `broker`: an injected fault (answered, not handled), or the
    /// transaction coordinator's answer for a transactional id, or a new idempotent producer id.
    pub(crate) fn init_producer_id(
        &mut self,
        broker: i32,
        req: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        match self.coordinators.take_fault(ApiKey::InitProducerId) {
            Some(code) => InitProducerIdResponse::default()
                .with_error_code(code.0)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            None if req.transactional_id.is_some() => self.handle_init_transactional(broker, req),
            None => self.handle_init_producer_id(req),
        }
    }

    /// InitProducerId without a transactional id. (A KIP-360 bump of the current id and epoch
    /// is answered with the same id and the next epoch; Kafka hands out a new id at epoch 0.)
    pub(crate) fn handle_init_producer_id(
        &mut self,
        req: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let resp = InitProducerIdResponse::default();
        let asked = req.producer_id.0;
        if asked < 0 {
            let pid = self.next_producer_id;
            self.next_producer_id += 1;
            self.producer_epochs.insert(pid, 0);
            return resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0);
        }
        match self.producer_epochs.get_mut(&asked) {
            Some(epoch) if *epoch == req.producer_epoch => {
                *epoch += 1;
                resp.with_producer_id(ProducerId(asked))
                    .with_producer_epoch(*epoch)
            }
            _ => resp
                .with_error_code(KafkaCode::INVALID_PRODUCER_EPOCH.0)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        }
    }
}

/// A response frame (header and body, no size prefix).
pub(crate) fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    resp: &R,
) -> Bytes {
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .expect("response header");
    resp.encode(&mut buf, version).expect("response body");
    buf.freeze()
}
