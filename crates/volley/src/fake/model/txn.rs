//! The model cluster's coordinators, as Kafka 4.x runs them for transaction versions 1
//! and 2 (KIP-890 part 2).
//!
//! One broker is the transaction coordinator (for every transactional id) and one the group
//! coordinator (for every group); either can be moved, after which the old one answers
//! NOT_COORDINATOR and FindCoordinator names the new one (the state moves with it, as a new
//! coordinator loads it from its log). The transaction coordinator hands out producer ids and
//! bumps the epoch on each InitProducerId for a known transactional id (fencing the previous
//! epoch; an open transaction is first aborted with the bumped epoch and CONCURRENT_TRANSACTIONS
//! answered, as Kafka does). AddPartitionsToTxn and AddOffsetsToTxn open the transaction;
//! partition leaders verify transactional batches against it; EndTxn writes a commit or abort
//! marker into each partition of the transaction and makes the offsets sent with
//! TxnOffsetCommit the group's committed offsets on commit only.
//!
//! With `transaction.version` 2 finalized (`Sim::set_transaction_version`, reported in every
//! ApiVersions answer), a transactional Produce v12+ adds its partition to the transaction, a
//! TxnOffsetCommit v5 its group, and EndTxn v5 bumps the epoch (markers written at the bumped
//! epoch) and answers with it, or with a new producer id at epoch 0 once the epoch is exhausted
//! (Kafka's `isProducerEpochExhausted`: the epoch before the bump ≥ `i16::MAX - 1`). A retried
//! EndTxn v5 (its answer lost) at the epoch before the bump gets the same answer again.
//! Requests at older versions keep version 1's rules, as a Kafka 4.x broker does for older
//! clients.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, BrokerId, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ProducerId, RequestHeader, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, StrBytes};

use super::{encode_response, LogRecord, Model, ProducerEntry, RequestLog};
use crate::error::KafkaCode;

/// OPERATION_NOT_ATTEMPTED: another partition of the request failed.
const OPERATION_NOT_ATTEMPTED: KafkaCode = KafkaCode(55);
const INVALID_REQUEST: KafkaCode = KafkaCode(42);

/// A transaction marker (control record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Commit,
    Abort,
}

/// The coordinator's state of a transactional id (Kafka's `TransactionState`, without the
/// transient Prepare states: markers are written at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnStatus {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

/// What the coordinator knows of a transactional id.
#[derive(Debug, Clone)]
pub(crate) struct TxnEntry {
    pub producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last KIP-360 bump (-1 after a plain init): a retry of that bump
    /// (its answer lost) gets the current epoch back instead of PRODUCER_FENCED.
    pub last_epoch: i16,
    pub status: TxnStatus,
    /// The partitions of the open transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// The groups added with AddOffsetsToTxn.
    pub groups: BTreeSet<String>,
    /// TxnOffsetCommit offsets waiting for the end of the transaction:
    /// `(group, topic, partition) → offset`.
    pub pending_offsets: BTreeMap<(String, String, i32), i64>,
    /// The transactions ended so far: how, and the partitions that got the marker.
    pub ended: Vec<(Marker, BTreeSet<(String, i32)>)>,
}

/// The coordinators' state, and the faults injected into non-produce requests.
#[derive(Debug)]
pub(crate) struct Coordinators {
    pub(crate) txn_coordinator: i32,
    pub(crate) group_coordinator: i32,
    pub(crate) txns: BTreeMap<String, TxnEntry>,
    /// The groups' committed offsets: `(group, topic, partition) → offset`.
    pub(crate) committed: BTreeMap<(String, String, i32), i64>,
    pub(crate) faults: HashMap<ApiKey, VecDeque<KafkaCode>>,
    pub(crate) drops: HashMap<ApiKey, u32>,
    /// The finalized `transaction.version` (0: not finalized) and the features epoch that
    /// every ApiVersions answer reports.
    pub(crate) transaction_version: i16,
    pub(crate) features_epoch: i64,
    /// Bad input: EndTxn v5 answers with producer id and epoch -1 (after bumping the epoch).
    pub(crate) end_txn_without_epoch: bool,
}

impl Coordinators {
    pub(crate) fn new(broker: i32) -> Coordinators {
        Coordinators {
            txn_coordinator: broker,
            group_coordinator: broker,
            txns: BTreeMap::new(),
            committed: BTreeMap::new(),
            faults: HashMap::new(),
            drops: HashMap::new(),
            transaction_version: 0,
            features_epoch: 1,
            end_txn_without_epoch: false,
        }
    }

    /// Whether a request of this version follows transaction version 2's rules
    /// (`first_v2`: the API's first version 2 version).
    fn is_v2(&self, version: i16, first_v2: i16) -> bool {
        self.transaction_version >= 2 && version >= first_v2
    }

    /// A partition leader's check of a transactional batch: for transaction version 2
    /// (Produce v12+) the partition is added to the producer's transaction (which opens it);
    /// otherwise [`Coordinators::verify`].
    pub(crate) fn admit(
        &mut self,
        txn_id: Option<&str>,
        version: i16,
        topic: &str,
        partition: i32,
        producer_id: i64,
        epoch: i16,
    ) -> KafkaCode {
        let Some(id) = txn_id.filter(|_| self.is_v2(version, 12)) else {
            return self.verify(txn_id, topic, partition, producer_id, epoch);
        };
        match self.check_producer(id, producer_id, epoch) {
            // PRODUCER_FENCED is converted on the produce path.
            KafkaCode::PRODUCER_FENCED => KafkaCode::INVALID_PRODUCER_EPOCH,
            KafkaCode::NONE => {
                self.open(id)
                    .partitions
                    .insert((topic.to_string(), partition));
                KafkaCode::NONE
            }
            c => c,
        }
    }

    /// Cancels every pending fault and lost response.
    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
        self.drops.clear();
    }

    /// The injected error for the next request of `api`, if any.
    pub(crate) fn take_fault(&mut self, api: ApiKey) -> Option<KafkaCode> {
        self.faults.get_mut(&api).and_then(VecDeque::pop_front)
    }

    /// Whether the response to this request of `api` is to be lost.
    pub(crate) fn take_drop(&mut self, api: ApiKey) -> bool {
        match self.drops.get_mut(&api) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// A partition leader's verification of a transactional batch with the coordinator
    /// (Kafka's `AddPartitionsToTxnManager`, verify-only for transaction version 1): a stale
    /// epoch comes back as INVALID_PRODUCER_EPOCH (PRODUCER_FENCED is converted on the produce
    /// path), a partition not in the open transaction as INVALID_TXN_STATE.
    pub(crate) fn verify(
        &self,
        txn_id: Option<&str>,
        topic: &str,
        partition: i32,
        producer_id: i64,
        epoch: i16,
    ) -> KafkaCode {
        let Some(id) = txn_id else {
            return INVALID_REQUEST;
        };
        match self.txns.get(id) {
            Some(e) if e.producer_id != producer_id => KafkaCode::INVALID_PRODUCER_ID_MAPPING,
            None => KafkaCode::INVALID_PRODUCER_ID_MAPPING,
            Some(e) if e.epoch != epoch => KafkaCode::INVALID_PRODUCER_EPOCH,
            Some(e)
                if e.status != TxnStatus::Ongoing
                    || !e.partitions.contains(&(topic.to_string(), partition)) =>
            {
                KafkaCode::INVALID_TXN_STATE
            }
            Some(_) => KafkaCode::NONE,
        }
    }

    /// The checks every transactional request of the producer goes through.
    fn check_producer(&self, id: &str, producer_id: i64, epoch: i16) -> KafkaCode {
        match self.txns.get(id) {
            None => KafkaCode::INVALID_PRODUCER_ID_MAPPING,
            Some(e) if e.producer_id != producer_id => KafkaCode::INVALID_PRODUCER_ID_MAPPING,
            Some(e) if e.epoch != epoch => KafkaCode::PRODUCER_FENCED,
            Some(_) => KafkaCode::NONE,
        }
    }

    /// The entry of a transaction being added to: a finished one starts afresh.
    fn open(&mut self, id: &str) -> &mut TxnEntry {
        let e = self.txns.get_mut(id).expect("checked");
        if e.status != TxnStatus::Ongoing {
            e.status = TxnStatus::Ongoing;
            e.partitions.clear();
            e.groups.clear();
            e.pending_offsets.clear();
        }
        e
    }
}

/// A request's header and body: `(correlation id, request)`; `None` if they do not decode.
pub(crate) fn decode<R: Decodable + HeaderVersion>(
    body: &mut Bytes,
    version: i16,
) -> Option<(i32, R)> {
    let h = RequestHeader::decode(body, R::header_version(version)).ok()?;
    let req = R::decode(body, version).ok()?;
    Some((h.correlation_id, req))
}

impl Model {
    /// A new producer id for `id`, at `epoch`, with no transaction: the producer id.
    pub(crate) fn new_txn_entry(&mut self, id: &str, epoch: i16) -> i64 {
        let pid = self.next_producer_id;
        self.next_producer_id += 1;
        self.coordinators.txns.insert(
            id.to_string(),
            TxnEntry {
                producer_id: pid,
                epoch,
                last_epoch: -1,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
                pending_offsets: BTreeMap::new(),
                ended: Vec::new(),
            },
        );
        pid
    }

    // ------------------------------------------------------------------ the coordinators

    /// InitProducerId with a transactional id.
    pub(crate) fn handle_init_transactional(
        &mut self,
        broker: i32,
        req: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let id = req
            .transactional_id
            .as_ref()
            .map_or_else(String::new, |t| t.0.to_string());
        let (code, pid, epoch) = if broker != self.coordinators.txn_coordinator {
            (KafkaCode::NOT_COORDINATOR, -1, -1)
        } else {
            let expected =
                (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
            self.init_txn(&id, expected)
        };
        InitProducerIdResponse::default()
            .with_error_code(code.0)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    }

    /// The coordinator's InitProducerId (Kafka's `prepareIncrementProducerEpoch`): a new id at
    /// epoch 0, or the epoch bumped. `expected` (KIP-360) must be the current id and epoch, or
    /// the epoch before the last bump (a retry: the current epoch is answered). An open
    /// transaction is aborted first, with the bumped epoch, and CONCURRENT_TRANSACTIONS
    /// answered (the client retries).
    pub(crate) fn init_txn(
        &mut self,
        id: &str,
        expected: Option<(i64, i16)>,
    ) -> (KafkaCode, i64, i16) {
        let Some(e) = self.coordinators.txns.get_mut(id) else {
            if expected.is_some() {
                return (KafkaCode::INVALID_PRODUCER_ID_MAPPING, -1, -1);
            }
            let pid = self.new_txn_entry(id, 0);
            return (KafkaCode::NONE, pid, 0);
        };
        match expected {
            None => e.last_epoch = -1,
            Some((pid, _)) if pid != e.producer_id => return (KafkaCode::PRODUCER_FENCED, -1, -1),
            Some((_, epoch)) if epoch == e.epoch => e.last_epoch = e.epoch,
            Some((_, epoch)) if epoch == e.last_epoch && e.status != TxnStatus::Ongoing => {
                return (KafkaCode::NONE, e.producer_id, e.epoch)
            }
            Some(_) => return (KafkaCode::PRODUCER_FENCED, -1, -1),
        }
        e.epoch += 1;
        if e.status == TxnStatus::Ongoing {
            self.end_txn(id, Marker::Abort);
            return (KafkaCode::CONCURRENT_TRANSACTIONS, -1, -1);
        }
        e.status = TxnStatus::Empty;
        (KafkaCode::NONE, e.producer_id, e.epoch)
    }

    /// Writes the markers of the open transaction (at the coordinator's epoch), settles its
    /// offsets and completes it.
    fn end_txn(&mut self, id: &str, marker: Marker) {
        let c = &mut self.coordinators;
        let e = c.txns.get_mut(id).expect("entry");
        let (pid, epoch) = (e.producer_id, e.epoch);
        let partitions = std::mem::take(&mut e.partitions);
        let pending = std::mem::take(&mut e.pending_offsets);
        if marker == Marker::Commit {
            for ((g, t, p), o) in pending {
                if e.groups.contains(&g) {
                    c.committed.insert((g, t, p), o);
                }
            }
        }
        e.groups.clear();
        e.status = match marker {
            Marker::Commit => TxnStatus::CompleteCommit,
            Marker::Abort => TxnStatus::CompleteAbort,
        };
        e.ended.push((marker, partitions.clone()));
        for (t, p) in partitions {
            let part = self.partition_mut(&t, p);
            part.log.push(LogRecord {
                offset: part.log.len() as i64,
                value: String::new(),
                key_bytes: None,
                value_bytes: None,
                headers: Vec::new(),
                timestamp: -1,
                producer_id: pid,
                epoch,
                sequence: -1,
                transactional: true,
                control: Some(marker),
            });
            // A marker of a newer epoch moves the partition's producer state to it, with no
            // sequence yet (Kafka's `maybeUpdateProducerEpoch`).
            let st = part.producers.entry(pid).or_insert(ProducerEntry {
                epoch,
                last_seq: -1,
                recent: VecDeque::new(),
            });
            if epoch > st.epoch {
                st.epoch = epoch;
                st.last_seq = -1;
                st.recent.clear();
            }
        }
    }

    /// EndTxn v5 (transaction version 2): the epoch is bumped and the markers written at the
    /// bumped epoch; an exhausted epoch (≥ `i16::MAX - 1` before the bump) gets a new producer
    /// id at epoch 0.
    fn end_txn_v2(&mut self, id: &str, marker: Marker) {
        let e = self.coordinators.txns.get_mut(id).expect("entry");
        let before = e.epoch;
        e.epoch += 1;
        self.end_txn(id, marker);
        let next_pid = self.next_producer_id;
        let e = self.coordinators.txns.get_mut(id).expect("entry");
        if before >= i16::MAX - 1 {
            self.next_producer_id += 1;
            e.producer_id = next_pid;
            e.epoch = 0;
            // (A retry of this EndTxn is not modelled across the new id.)
            e.last_epoch = -1;
        } else {
            e.last_epoch = before;
        }
    }

    /// The successful answer to EndTxn v5: the producer id and epoch to use next (or -1, -1
    /// when the test asked for that bad input).
    fn end_txn_v2_answer(&self, id: &str) -> EndTxnResponse {
        let e = &self.coordinators.txns[id];
        let (pid, epoch) = if self.coordinators.end_txn_without_epoch {
            (-1, -1)
        } else {
            (e.producer_id, e.epoch)
        };
        EndTxnResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    }

    /// A retried EndTxn v5 whose first attempt ended the transaction (its answer lost): sent at
    /// the epoch before the bump, it gets the same answer again.
    fn retried_end_txn_v2(
        &self,
        id: &str,
        (pid, epoch): (i64, i16),
        committed: bool,
    ) -> Option<EndTxnResponse> {
        let e = self.coordinators.txns.get(id)?;
        let done = match e.status {
            TxnStatus::CompleteCommit => committed,
            TxnStatus::CompleteAbort => !committed,
            _ => false,
        };
        (done && e.producer_id == pid && e.last_epoch == epoch && e.last_epoch >= 0)
            .then(|| self.end_txn_v2_answer(id))
    }

    /// FindCoordinator, AddPartitionsToTxn (v3 or below), AddOffsetsToTxn, TxnOffsetCommit and
    /// EndTxn at `broker`: `(correlation id, response frame)`; `None` for a request that does
    /// not decode or another API. `endpoint` gives a broker's `(host, port)` for
    /// FindCoordinator (`None`: COORDINATOR_NOT_AVAILABLE).
    pub(crate) fn handle_coordinator_request(
        &mut self,
        (broker, api, version): (i32, ApiKey, i16),
        body: &mut Bytes,
        log: &mut RequestLog,
        endpoint: &dyn Fn(i32) -> Option<(String, i32)>,
    ) -> Option<(i32, Option<Bytes>)> {
        let fault = self.coordinators.take_fault(api);
        let txn_coordinator = self.coordinators.txn_coordinator;
        // The check of a request to the transaction coordinator.
        let check = |s: &Model, id: &str, pid: i64, epoch: i16| {
            if broker != txn_coordinator {
                KafkaCode::NOT_COORDINATOR
            } else if let Some(f) = fault {
                f
            } else {
                s.coordinators.check_producer(id, pid, epoch)
            }
        };
        let (corr, frame) = match api {
            ApiKey::FindCoordinator => {
                let (corr, req) = decode::<FindCoordinatorRequest>(body, version)?;
                let keys: Vec<StrBytes> = if version >= 4 {
                    req.coordinator_keys.clone()
                } else {
                    vec![req.key.clone()]
                };
                log.key = Some((req.key_type, keys.first()?.to_string()));
                let node = match req.key_type {
                    1 => self.coordinators.txn_coordinator,
                    _ => self.coordinators.group_coordinator,
                };
                let at = endpoint(node);
                let code = match (fault, &at) {
                    (Some(f), _) => f,
                    (None, None) => KafkaCode::COORDINATOR_NOT_AVAILABLE,
                    (None, Some(_)) => KafkaCode::NONE,
                };
                log.code = code;
                let (node, host, port) = match at {
                    Some((host, port)) if code.is_ok() => (node, StrBytes::from_string(host), port),
                    _ => (-1, StrBytes::default(), -1),
                };
                let resp = if version >= 4 {
                    FindCoordinatorResponse::default().with_coordinators(
                        keys.into_iter()
                            .map(|k| {
                                Coordinator::default()
                                    .with_key(k)
                                    .with_node_id(BrokerId(node))
                                    .with_host(host.clone())
                                    .with_port(port)
                                    .with_error_code(code.0)
                            })
                            .collect(),
                    )
                } else {
                    FindCoordinatorResponse::default()
                        .with_error_code(code.0)
                        .with_node_id(BrokerId(node))
                        .with_host(host)
                        .with_port(port)
                };
                (corr, encode_response(corr, version, &resp))
            }
            ApiKey::AddPartitionsToTxn => {
                let (corr, req) = decode::<AddPartitionsToTxnRequest>(body, version)?;
                if version > 3 {
                    // v4+ is the brokers' verification form.
                    return None;
                }
                let id = req.v3_and_below_transactional_id.0.to_string();
                let (pid, epoch) = (
                    req.v3_and_below_producer_id.0,
                    req.v3_and_below_producer_epoch,
                );
                log.transactional_id = Some(id.clone());
                log.producer = Some((pid, epoch));
                for t in &req.v3_and_below_topics {
                    for p in &t.partitions {
                        log.txn_partitions.push((t.name.0.to_string(), *p));
                    }
                }
                let mut code = check(self, &id, pid, epoch);
                let exists = |s: &Model, (t, p): &(String, i32)| {
                    s.topics
                        .get(t)
                        .is_some_and(|m| (*p as usize) < m.partitions.len() && *p >= 0)
                };
                let unknown: Vec<(String, i32)> = log
                    .txn_partitions
                    .iter()
                    .filter(|tp| !exists(self, tp))
                    .cloned()
                    .collect();
                if code.is_ok() && unknown.is_empty() {
                    let e = self.coordinators.open(&id);
                    e.partitions.extend(log.txn_partitions.iter().cloned());
                }
                let code_of = |tp: &(String, i32)| {
                    if !code.is_ok() {
                        code
                    } else if unknown.contains(tp) {
                        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
                    } else if !unknown.is_empty() {
                        OPERATION_NOT_ATTEMPTED
                    } else {
                        KafkaCode::NONE
                    }
                };
                let topics = req
                    .v3_and_below_topics
                    .iter()
                    .map(|t| {
                        AddPartitionsToTxnTopicResult::default()
                            .with_name(t.name.clone())
                            .with_results_by_partition(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        let c = code_of(&(t.name.0.to_string(), *p));
                                        AddPartitionsToTxnPartitionResult::default()
                                            .with_partition_index(*p)
                                            .with_partition_error_code(c.0)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                if code.is_ok() && !unknown.is_empty() {
                    code = KafkaCode::UNKNOWN_TOPIC_OR_PARTITION;
                }
                log.code = code;
                let resp = AddPartitionsToTxnResponse::default()
                    .with_results_by_topic_v3_and_below(topics);
                (corr, encode_response(corr, version, &resp))
            }
            ApiKey::AddOffsetsToTxn => {
                let (corr, req) = decode::<AddOffsetsToTxnRequest>(body, version)?;
                let id = req.transactional_id.0.to_string();
                let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
                log.transactional_id = Some(id.clone());
                log.producer = Some((pid, epoch));
                log.key = Some((0, req.group_id.0.to_string()));
                let code = check(self, &id, pid, epoch);
                if code.is_ok() {
                    self.coordinators
                        .open(&id)
                        .groups
                        .insert(req.group_id.0.to_string());
                }
                log.code = code;
                let resp = AddOffsetsToTxnResponse::default().with_error_code(code.0);
                (corr, encode_response(corr, version, &resp))
            }
            ApiKey::TxnOffsetCommit => {
                let (corr, req) = decode::<TxnOffsetCommitRequest>(body, version)?;
                let id = req.transactional_id.0.to_string();
                let group = req.group_id.0.to_string();
                let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
                log.transactional_id = Some(id.clone());
                log.producer = Some((pid, epoch));
                log.key = Some((0, group.clone()));
                // The group coordinator writes the offsets as transactional records of the
                // producer; a fenced epoch is refused there.
                let code = if broker != self.coordinators.group_coordinator {
                    KafkaCode::NOT_COORDINATOR
                } else if let Some(f) = fault {
                    f
                } else {
                    match self.coordinators.check_producer(&id, pid, epoch) {
                        KafkaCode::PRODUCER_FENCED => KafkaCode::INVALID_PRODUCER_EPOCH,
                        c => c,
                    }
                };
                log.code = code;
                let mut topics = Vec::new();
                for t in &req.topics {
                    let mut parts = Vec::new();
                    for p in &t.partitions {
                        let tp = (t.name.0.to_string(), p.partition_index);
                        log.txn_partitions.push(tp.clone());
                        if code.is_ok() {
                            // Transaction version 2: TxnOffsetCommit v5 adds the group.
                            let e = if self.coordinators.is_v2(version, 5) {
                                let e = self.coordinators.open(&id);
                                e.groups.insert(group.clone());
                                e
                            } else {
                                self.coordinators.txns.get_mut(&id).expect("checked")
                            };
                            e.pending_offsets
                                .insert((group.clone(), tp.0, tp.1), p.committed_offset);
                        }
                        parts.push(
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code.0),
                        );
                    }
                    topics.push(
                        TxnOffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(parts),
                    );
                }
                let resp = TxnOffsetCommitResponse::default().with_topics(topics);
                (corr, encode_response(corr, version, &resp))
            }
            ApiKey::EndTxn => {
                let (corr, req) = decode::<EndTxnRequest>(body, version)?;
                let id = req.transactional_id.0.to_string();
                let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
                log.transactional_id = Some(id.clone());
                log.producer = Some((pid, epoch));
                log.committed = Some(req.committed);
                let v2 = self.coordinators.is_v2(version, 5);
                if v2 && broker == txn_coordinator && fault.is_none() {
                    if let Some(resp) = self.retried_end_txn_v2(&id, (pid, epoch), req.committed) {
                        log.code = KafkaCode::NONE;
                        return Some((corr, Some(encode_response(corr, version, &resp))));
                    }
                }
                let mut code = check(self, &id, pid, epoch);
                if code.is_ok() {
                    let marker = if req.committed {
                        Marker::Commit
                    } else {
                        Marker::Abort
                    };
                    code = match (self.coordinators.txns[&id].status, marker) {
                        (TxnStatus::Ongoing, _) if v2 => {
                            self.end_txn_v2(&id, marker);
                            KafkaCode::NONE
                        }
                        (TxnStatus::Ongoing, _) => {
                            self.end_txn(&id, marker);
                            KafkaCode::NONE
                        }
                        // A retry of an EndTxn that completed: answered as it was.
                        (TxnStatus::CompleteCommit, Marker::Commit)
                        | (TxnStatus::CompleteAbort, Marker::Abort) => KafkaCode::NONE,
                        _ => KafkaCode::INVALID_TXN_STATE,
                    };
                }
                log.code = code;
                let resp = if v2 && code.is_ok() {
                    self.end_txn_v2_answer(&id)
                } else {
                    EndTxnResponse::default()
                        .with_error_code(code.0)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1)
                };
                (corr, encode_response(corr, version, &resp))
            }
            _ => return None,
        };
        Some((corr, Some(frame)))
    }
}
