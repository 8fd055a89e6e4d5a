//! The fake cluster's network side and public API: listeners, connections, request dispatch to
//! the broker model, fault controls and inspection.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, InitProducerIdRequest,
    MetadataRequest, ProduceRequest, ProduceResponse,
};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use super::model::txn::decode;
use super::model::{encode_response, end_marker, LogRecord, Marker, Model, RequestLog};
use crate::error::{Error, KafkaCode, Result};

/// The largest request frame accepted (a larger size prefix closes the connection, as a
/// broker's `socket.request.max.bytes`, 100 MiB by default).
const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// The APIs the fake cluster answers, for [`FakeCluster::fail_next`],
/// [`FakeCluster::disconnect_next`] and [`FakeCluster::request_count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Api {
    /// ApiVersions (key 18).
    ApiVersions,
    /// Metadata (key 3).
    Metadata,
    /// Produce (key 0).
    Produce,
    /// InitProducerId (key 22).
    InitProducerId,
    /// FindCoordinator (key 10).
    FindCoordinator,
    /// AddPartitionsToTxn (key 24).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (key 25).
    AddOffsetsToTxn,
    /// EndTxn (key 26).
    EndTxn,
    /// TxnOffsetCommit (key 28).
    TxnOffsetCommit,
}

impl Api {
    fn key(self) -> ApiKey {
        match self {
            Api::ApiVersions => ApiKey::ApiVersions,
            Api::Metadata => ApiKey::Metadata,
            Api::Produce => ApiKey::Produce,
            Api::InitProducerId => ApiKey::InitProducerId,
            Api::FindCoordinator => ApiKey::FindCoordinator,
            Api::AddPartitionsToTxn => ApiKey::AddPartitionsToTxn,
            Api::AddOffsetsToTxn => ApiKey::AddOffsetsToTxn,
            Api::EndTxn => ApiKey::EndTxn,
            Api::TxnOffsetCommit => ApiKey::TxnOffsetCommit,
        }
    }
}

/// The versions the fake brokers announce: `(api, min, max)`, within Kafka 4.x's (KIP-896
/// removed Produce v0-2 and Metadata v0-3). Produce stops at v12 (v13 names topics by id) and
/// AddPartitionsToTxn at v3 (v4+ is the brokers' own form).
const VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Metadata, 4, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
];

/// A transaction marker (control record) in a partition's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnMarker {
    /// COMMIT: the producer's records before it in the partition are committed.
    Commit,
    /// ABORT: they are aborted (a `read_committed` consumer skips them).
    Abort,
}

/// What became of a stored record's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Not written in a transaction (or a marker itself).
    NotTransactional,
    /// Its transaction committed.
    Committed,
    /// Its transaction aborted.
    Aborted,
    /// Its transaction is still open.
    Ongoing,
}

/// A record as the fake cluster stored it in a partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// Key (`None`: null; also `None` for a marker).
    pub key: Option<Bytes>,
    /// Value (`None`: null, a tombstone; also `None` for a marker).
    pub value: Option<Bytes>,
    /// Headers in order: `(key, value)`.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The timestamp the producer set (ms since the Unix epoch; -1 for a marker).
    pub timestamp: i64,
    /// The producer id of its batch (-1: not idempotent).
    pub producer_id: i64,
    /// The producer epoch of its batch.
    pub producer_epoch: i16,
    /// Its sequence number (batch base sequence + offset delta; -1: not idempotent).
    pub sequence: i32,
    /// Written by a transactional producer.
    pub transactional: bool,
    /// `Some` for a transaction marker (a control record), `None` for data.
    pub marker: Option<TxnMarker>,
    /// What became of its transaction.
    pub outcome: TxnOutcome,
}

/// Builds a [`FakeCluster`]: `FakeCluster::builder().brokers(3).topic("t", 6).start()`.
#[derive(Debug, Clone)]
pub struct FakeClusterBuilder {
    brokers: usize,
    ports: Vec<u16>,
    topics: Vec<(String, i32)>,
    auto_create: bool,
    default_partitions: i32,
    cluster_id: String,
}

impl FakeClusterBuilder {
    /// The number of brokers (ids 1 to n; default 1). Broker 1 is the transaction and group
    /// coordinator.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// Fixed ports for the brokers, in id order (default: ephemeral ports, 0).
    pub fn ports(mut self, ports: &[u16]) -> Self {
        self.ports = ports.to_vec();
        self
    }

    /// A topic created up front with `partitions` partitions (leaders spread over the brokers:
    /// partition p on broker `1 + p % brokers`).
    pub fn topic(mut self, name: &str, partitions: i32) -> Self {
        self.topics.push((name.to_string(), partitions));
        self
    }

    /// Whether a Metadata request that asks for an unknown topic with
    /// `allow_auto_topic_creation` creates it, as a broker's `auto.create.topics.enable`
    /// (default true). Off, the topic is answered UNKNOWN_TOPIC_OR_PARTITION.
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.auto_create = on;
        self
    }

    /// The partitions of an auto-created topic (a broker's `num.partitions`, default 1).
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.default_partitions = n;
        self
    }

    /// The cluster id Metadata reports (default `"fake-cluster"`).
    pub fn cluster_id(mut self, id: &str) -> Self {
        self.cluster_id = id.to_string();
        self
    }

    /// Binds the listeners and starts the cluster's thread.
    ///
    /// Errors: [`Error::Config`] for no brokers, a partition count below 1, more ports than
    /// brokers or an invalid topic name; [`Error::Network`] if a port cannot be bound.
    pub fn start(self) -> Result<FakeCluster> {
        FakeCluster::start(self)
    }
}

/// An in-process fake Kafka cluster on loopback; see the [module docs](crate::fake).
///
/// Every method takes `&self` and may be called from any thread while clients are connected.
/// Methods naming a broker, topic or partition that does not exist are no-ops (inspection
/// answers empty).
pub struct FakeCluster {
    state: Arc<Mutex<State>>,
    addrs: BTreeMap<i32, SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCluster")
            .field("brokers", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// A broker's network state.
struct BrokerState {
    addr: SocketAddr,
    stopped: bool,
    delay: Duration,
    /// Bumped to close every connection of the broker.
    kick: watch::Sender<u64>,
}

/// Everything the connections and the test share.
struct State {
    model: Model,
    brokers: BTreeMap<i32, BrokerState>,
    auto_create: bool,
    default_partitions: i32,
    cluster_id: String,
    /// Request-level faults: the next requests of an API answered with the code, unhandled.
    faults: HashMap<ApiKey, VecDeque<KafkaCode>>,
    /// The next requests of an API close their connection instead.
    disconnects: HashMap<ApiKey, u32>,
    counts: HashMap<ApiKey, usize>,
}

/// What a connection does after a request.
pub(super) enum Reply {
    Frame(Bytes, Duration),
    /// No response (acks=0).
    Nothing,
    Close,
}

impl FakeCluster {
    /// A builder with the defaults: one broker, ephemeral port, topics auto-created with one
    /// partition.
    pub fn builder() -> FakeClusterBuilder {
        FakeClusterBuilder {
            brokers: 1,
            ports: Vec::new(),
            topics: Vec::new(),
            auto_create: true,
            default_partitions: 1,
            cluster_id: "fake-cluster".into(),
        }
    }

    /// One broker with the builder's defaults, started.
    pub fn new() -> Result<FakeCluster> {
        FakeCluster::builder().start()
    }

    fn start(b: FakeClusterBuilder) -> Result<FakeCluster> {
        if b.brokers == 0 || b.brokers > 1000 {
            return Err(Error::config("brokers", "between 1 and 1000 brokers"));
        }
        if b.ports.len() > b.brokers {
            return Err(Error::config("ports", "more ports than brokers"));
        }
        if b.default_partitions < 1 {
            return Err(Error::config("default_partitions", "at least 1"));
        }
        let mut listeners = Vec::new();
        let mut brokers = BTreeMap::new();
        for i in 0..b.brokers {
            let id = i as i32 + 1;
            let port = b.ports.get(i).copied().unwrap_or(0);
            let net = |e: std::io::Error| Error::Network {
                broker: format!("127.0.0.1:{port}"),
                message: format!("fake cluster cannot listen: {e}"),
                source: Some(Arc::new(e)),
            };
            let l = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(net)?;
            l.set_nonblocking(true).map_err(net)?;
            let addr = l.local_addr().map_err(net)?;
            let (kick, _) = watch::channel(0);
            brokers.insert(
                id,
                BrokerState {
                    addr,
                    stopped: false,
                    delay: Duration::ZERO,
                    kick,
                },
            );
            listeners.push((id, l));
        }
        let mut state = State {
            model: Model::new(1),
            brokers,
            auto_create: b.auto_create,
            default_partitions: b.default_partitions,
            cluster_id: b.cluster_id,
            faults: HashMap::new(),
            disconnects: HashMap::new(),
            counts: HashMap::new(),
        };
        for (name, partitions) in &b.topics {
            state.create_topic(name, *partitions)?;
        }
        let addrs = state.brokers.iter().map(|(id, b)| (*id, b.addr)).collect();
        let state = Arc::new(Mutex::new(state));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Network {
                broker: "fake cluster".into(),
                message: format!("cannot start its runtime: {e}"),
                source: Some(Arc::new(e)),
            })?;
        let (stop, stopped) = oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("volley-fake-cluster".into())
            .spawn(move || {
                rt.block_on(async move {
                    for (id, l) in listeners {
                        match TcpListener::from_std(l) {
                            Ok(l) => {
                                tokio::spawn(accept(id, l, shared.clone()));
                            }
                            Err(e) => tracing::error!("fake broker {id}: {e}"),
                        }
                    }
                    let _ = stopped.await;
                });
                // Dropping the runtime cancels every task: listeners and connections close.
                drop(rt);
            })
            .map_err(|e| Error::Network {
                broker: "fake cluster".into(),
                message: format!("cannot start its thread: {e}"),
                source: Some(Arc::new(e)),
            })?;
        Ok(FakeCluster {
            state,
            addrs,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Handles a request frame (no size prefix) as broker `broker` would.
    #[cfg(test)]
    pub(super) fn handle_for_test(&self, broker: i32, frame: Bytes) -> Reply {
        self.state.lock().handle(broker, frame)
    }

    /// `bootstrap.servers` for a client: every broker's `127.0.0.1:port`, comma-separated.
    pub fn bootstrap_servers(&self) -> String {
        self.addrs
            .values()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The brokers' ids and addresses.
    pub fn brokers(&self) -> Vec<(i32, SocketAddr)> {
        self.addrs.iter().map(|(id, a)| (*id, *a)).collect()
    }

    /// Stops the cluster: closes every listener and connection and joins its thread (also what
    /// dropping it does).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    // ------------------------------------------------------------------ topics

    /// Creates a topic with `partitions` partitions (leaders spread over the brokers), or
    /// replaces one, emptying it.
    ///
    /// Errors: [`Error::Config`] for an invalid topic name (Kafka's rules: 1 to 249 of
    /// `[a-zA-Z0-9._-]`, not `.` or `..`) or fewer than 1 partition.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.state.lock().create_topic(name, partitions)
    }

    /// The topic's partition count (`None`: no such topic).
    pub fn partitions(&self, topic: &str) -> Option<i32> {
        let s = self.state.lock();
        s.model.topics.get(topic).map(|t| t.partitions.len() as i32)
    }

    /// The partition's leader (`None`: no such partition, or no leader).
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.state.lock().model.partition(topic, partition)?.leader
    }

    // ------------------------------------------------------------------ inspection

    /// Everything in the partition's log, markers included, in offset order (empty for a
    /// partition that does not exist).
    pub fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        let s = self.state.lock();
        let log = s.model.log(topic, partition);
        log.iter()
            .enumerate()
            .map(|(i, r)| stored(r, outcome(log, i)))
            .collect()
    }

    /// The data records a `read_committed` consumer reads from the partition: those not
    /// written in a transaction or whose transaction committed, up to the first record of a
    /// transaction still open (the last stable offset).
    pub fn committed_records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        let s = self.state.lock();
        s.model
            .read_committed(topic, partition)
            .into_iter()
            .map(|r| {
                let o = if r.transactional {
                    TxnOutcome::Committed
                } else {
                    TxnOutcome::NotTransactional
                };
                stored(r, o)
            })
            .collect()
    }

    /// The offsets committed for `group` by transactions (TxnOffsetCommit, made the group's at
    /// commit): `(topic, partition) → offset`.
    pub fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        self.state.lock().model.committed_offsets(group)
    }

    /// How many requests of `api` the brokers received so far (all brokers, faulted ones
    /// included).
    pub fn request_count(&self, api: Api) -> usize {
        let s = self.state.lock();
        s.counts.get(&api.key()).copied().unwrap_or(0)
    }

    // ------------------------------------------------------------------ faults

    /// The next `n` requests of `api` (to any broker) are answered with `code` and not
    /// handled: every partition of a Produce request, every topic of a Metadata answer, the
    /// error code of the others.
    pub fn fail_next(&self, api: Api, n: usize, code: KafkaCode) {
        let mut s = self.state.lock();
        let faults = match api.key() {
            // The coordinators' faults, as the simulator injects them.
            k @ (ApiKey::InitProducerId
            | ApiKey::FindCoordinator
            | ApiKey::AddPartitionsToTxn
            | ApiKey::AddOffsetsToTxn
            | ApiKey::EndTxn
            | ApiKey::TxnOffsetCommit) => s.model.coordinators.faults.entry(k).or_default(),
            k => s.faults.entry(k).or_default(),
        };
        faults.extend(std::iter::repeat_n(code, n));
    }

    /// The next `n` produce requests for the partition that reach its leader get `code` for
    /// it. NOT_ENOUGH_REPLICAS_AFTER_APPEND and REQUEST_TIMED_OUT are answered after the batch
    /// was appended (as a leader whose replicas did not acknowledge in time): a retry is then
    /// a duplicate the broker recognises.
    pub fn fail_produce(&self, topic: &str, partition: i32, n: usize, code: KafkaCode) {
        let mut s = self.state.lock();
        if s.model.partition(topic, partition).is_some() {
            s.model
                .partition_mut(topic, partition)
                .fail_next
                .extend(std::iter::repeat_n(code, n));
        }
    }

    /// Cancels every pending fault of [`FakeCluster::fail_next`],
    /// [`FakeCluster::fail_produce`] and [`FakeCluster::disconnect_next`].
    pub fn clear_faults(&self) {
        let mut s = self.state.lock();
        s.faults.clear();
        s.disconnects.clear();
        s.model.coordinators.clear_faults();
        for t in s.model.topics.values_mut() {
            for p in &mut t.partitions {
                p.fail_next.clear();
            }
        }
    }

    /// The next `n` requests of `api` close their connection instead of being handled.
    pub fn disconnect_next(&self, api: Api, n: u32) {
        *self.state.lock().disconnects.entry(api.key()).or_default() += n;
    }

    /// Closes every open connection to `broker` now (clients reconnect).
    pub fn drop_connections(&self, broker: i32) {
        if let Some(b) = self.state.lock().brokers.get(&broker) {
            b.kick.send_modify(|g| *g += 1);
        }
    }

    /// The broker's responses are sent `delay` after their request was handled (until set
    /// back to zero). Responses on a connection keep their order.
    pub fn delay_responses(&self, broker: i32, delay: Duration) {
        if let Some(b) = self.state.lock().brokers.get_mut(&broker) {
            b.delay = delay;
        }
    }

    /// Moves the partition's leadership to `broker`: its leader epoch goes up, the old leader
    /// answers NOT_LEADER_OR_FOLLOWER (naming the new one, KIP-951) and Metadata shows the new
    /// one.
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) {
        let mut s = self.state.lock();
        if s.brokers.contains_key(&broker) && s.model.partition(topic, partition).is_some() {
            s.model.set_leader(topic, partition, Some(broker));
        }
    }

    /// Stops a broker: its connections close, new ones are closed at once, Metadata leaves it
    /// out and shows its partitions without a leader (LEADER_NOT_AVAILABLE) until
    /// [`FakeCluster::start_broker`] or [`FakeCluster::move_leader`]. A stopped coordinator is
    /// answered COORDINATOR_NOT_AVAILABLE by FindCoordinator.
    pub fn stop_broker(&self, broker: i32) {
        let mut s = self.state.lock();
        if let Some(b) = s.brokers.get_mut(&broker) {
            b.stopped = true;
            b.kick.send_modify(|g| *g += 1);
        }
    }

    /// Starts a stopped broker again (its partitions' logs are as they were).
    pub fn start_broker(&self, broker: i32) {
        if let Some(b) = self.state.lock().brokers.get_mut(&broker) {
            b.stopped = false;
        }
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn stored(r: &LogRecord, outcome: TxnOutcome) -> StoredRecord {
    StoredRecord {
        offset: r.offset,
        key: r.key_bytes.clone(),
        value: r.value_bytes.clone(),
        headers: r.headers.clone(),
        timestamp: r.timestamp,
        producer_id: r.producer_id,
        producer_epoch: r.epoch,
        sequence: r.sequence,
        transactional: r.transactional,
        marker: r.control.map(|m| match m {
            Marker::Commit => TxnMarker::Commit,
            Marker::Abort => TxnMarker::Abort,
        }),
        outcome,
    }
}

/// The outcome of `log[i]`'s transaction: the producer's next marker after it.
fn outcome(log: &[LogRecord], i: usize) -> TxnOutcome {
    let r = &log[i];
    if !r.transactional || r.control.is_some() {
        return TxnOutcome::NotTransactional;
    }
    match end_marker(log, i) {
        Some(Marker::Commit) => TxnOutcome::Committed,
        Some(Marker::Abort) => TxnOutcome::Aborted,
        None => TxnOutcome::Ongoing,
    }
}

/// Kafka's topic name rules (`Topic.validate`).
fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

impl State {
    fn create_topic(&mut self, name: &str, partitions: i32) -> Result<()> {
        if !valid_topic_name(name) {
            return Err(Error::config(
                "topic",
                format!("invalid topic name {name:?}"),
            ));
        }
        if !(1..=100_000).contains(&partitions) {
            return Err(Error::config("partitions", "between 1 and 100000"));
        }
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let leaders: Vec<i32> = (0..partitions as usize)
            .map(|p| ids[p % ids.len()])
            .collect();
        self.model.create_topic(name, &leaders);
        Ok(())
    }

    /// A running broker's `(host, port)`.
    fn endpoint(&self, id: i32) -> Option<(String, i32)> {
        let b = self.brokers.get(&id).filter(|b| !b.stopped)?;
        Some((b.addr.ip().to_string(), i32::from(b.addr.port())))
    }

    /// Every running broker's `(host, port)`, for the model's answers.
    fn endpoints(&self) -> HashMap<i32, (String, i32)> {
        self.brokers
            .keys()
            .filter_map(|&id| Some((id, self.endpoint(id)?)))
            .collect()
    }

    /// Handles one request frame (no size prefix) at `broker`.
    fn handle(&mut self, broker: i32, mut body: Bytes) -> Reply {
        if body.len() < 8 {
            return Reply::Close;
        }
        let key = i16::from_be_bytes([body[0], body[1]]);
        let version = i16::from_be_bytes([body[2], body[3]]);
        let corr = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
        let Ok(api) = ApiKey::try_from(key) else {
            return Reply::Close;
        };
        *self.counts.entry(api).or_default() += 1;
        if let Some(n) = self.disconnects.get_mut(&api).filter(|n| **n > 0) {
            *n -= 1;
            return Reply::Close;
        }
        let Some(&(_, min, max)) = VERSIONS.iter().find(|(k, _, _)| *k == api) else {
            // Kafka closes the connection on an API it does not announce.
            return Reply::Close;
        };
        let delay = self
            .brokers
            .get(&broker)
            .map_or(Duration::ZERO, |b| b.delay);
        if api == ApiKey::ApiVersions && !(min..=max).contains(&version) {
            // KIP-511: an unknown ApiVersions version is answered at v0 with the ranges.
            let resp = api_versions(KafkaCode::UNSUPPORTED_VERSION);
            return Reply::Frame(encode_response(corr, 0, &resp), delay);
        }
        if !(min..=max).contains(&version) {
            return Reply::Close;
        }
        let fault = self.faults.get_mut(&api).and_then(VecDeque::pop_front);
        let frame = match api {
            ApiKey::ApiVersions => decode::<ApiVersionsRequest>(&mut body, version).map(|_| {
                let resp = api_versions(fault.unwrap_or(KafkaCode::NONE));
                encode_response(corr, version, &resp)
            }),
            ApiKey::Metadata => decode::<MetadataRequest>(&mut body, version)
                .map(|(_, req)| encode_response(corr, version, &self.metadata(&req, fault))),
            ApiKey::Produce => match decode::<ProduceRequest>(&mut body, version) {
                None => None,
                Some((_, req)) => {
                    let resp = self.produce(broker, version, &req, fault);
                    if req.acks == 0 {
                        return Reply::Nothing;
                    }
                    Some(encode_response(corr, version, &resp))
                }
            },
            ApiKey::InitProducerId => {
                decode::<InitProducerIdRequest>(&mut body, version).map(|(_, req)| {
                    encode_response(corr, version, &self.model.init_producer_id(broker, &req))
                })
            }
            _ => {
                let mut log =
                    RequestLog::new(Instant::now(), (broker, broker), api, version, body.len());
                let endpoints = self.endpoints();
                let endpoint = |id: i32| endpoints.get(&id).cloned();
                self.model
                    .handle_coordinator_request(
                        (broker, api, version),
                        &mut body,
                        &mut log,
                        &endpoint,
                    )
                    .and_then(|(_, frame)| frame)
            }
        };
        match frame {
            Some(f) => Reply::Frame(f, delay),
            None => Reply::Close,
        }
    }

    fn metadata(
        &mut self,
        req: &MetadataRequest,
        fault: Option<KafkaCode>,
    ) -> kafka_protocol::messages::MetadataResponse {
        if self.auto_create && req.allow_auto_topic_creation {
            let missing: Vec<String> = req
                .topics
                .iter()
                .flatten()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .filter(|n| !self.model.topics.contains_key(n) && valid_topic_name(n))
                .collect();
            for name in missing {
                let _ = self.create_topic(&name, self.default_partitions);
            }
        }
        let members: Vec<(i32, String, i32)> = self
            .brokers
            .keys()
            .filter_map(|&id| self.endpoint(id).map(|(h, p)| (id, h, p)))
            .collect();
        let mut resp = self
            .model
            .metadata_response(&members, self.cluster_id.clone(), req);
        for t in &mut resp.topics {
            if let Some(code) = fault {
                t.error_code = code.0;
                t.partitions.clear();
                continue;
            }
            let invalid = t.name.as_ref().is_some_and(|n| !valid_topic_name(&n.0));
            if t.error_code == KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0 && invalid {
                t.error_code = KafkaCode::INVALID_TOPIC_EXCEPTION.0;
            }
            for p in &mut t.partitions {
                let up = self.endpoint(p.leader_id.0).is_some();
                if !up && p.leader_id.0 >= 0 {
                    p.leader_id = BrokerId(-1);
                    p.error_code = KafkaCode::LEADER_NOT_AVAILABLE.0;
                }
            }
        }
        resp
    }

    fn produce(
        &mut self,
        broker: i32,
        version: i16,
        req: &ProduceRequest,
        fault: Option<KafkaCode>,
    ) -> ProduceResponse {
        if let Some(code) = fault {
            let responses = req
                .topic_data
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| {
                                    PartitionProduceResponse::default()
                                        .with_index(p.index)
                                        .with_error_code(code.0)
                                        .with_base_offset(-1)
                                })
                                .collect(),
                        )
                })
                .collect();
            return ProduceResponse::default().with_responses(responses);
        }
        let endpoints = self.endpoints();
        let endpoint = |id: i32| endpoints.get(&id).cloned();
        let mut parts = Vec::new();
        self.model
            .handle_produce((broker, version), req, false, &mut parts, &endpoint)
    }
}

fn api_versions(code: KafkaCode) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(code.0)
        .with_api_keys(
            VERSIONS
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}

async fn accept(id: i32, listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let kick = {
            let s = state.lock();
            match s.brokers.get(&id) {
                Some(b) if !b.stopped => b.kick.subscribe(),
                _ => continue, // stopped: the connection is dropped
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(id, stream, state.clone(), kick));
    }
}

/// One client connection: requests are handled in order and answered in order (each before
/// the next is read).
async fn serve(
    id: i32,
    mut stream: TcpStream,
    state: Arc<Mutex<State>>,
    mut kick: watch::Receiver<u64>,
) {
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut stream) => f,
            _ = kick.changed() => None,
        };
        let Some(body) = frame else {
            return;
        };
        let reply = {
            let mut s = state.lock();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.handle(id, body)))
                .unwrap_or(Reply::Close)
        };
        match reply {
            Reply::Close => return,
            Reply::Nothing => {}
            Reply::Frame(frame, delay) => {
                if !delay.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = kick.changed() => return,
                    }
                }
                let mut out = BytesMut::with_capacity(frame.len() + 4);
                out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
                out.extend_from_slice(&frame);
                let write = tokio::select! {
                    w = stream.write_all(&out) => w,
                    _ = kick.changed() => return,
                };
                if write.is_err() {
                    return;
                }
            }
        }
    }
}

/// A size-prefixed request frame (without the prefix); `None` at end of stream, on an error
/// or for a size out of bounds.
async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.ok()?;
    let size = usize::try_from(i32::from_be_bytes(size)).ok()?;
    if size > MAX_REQUEST_BYTES {
        return None;
    }
    let mut buf = vec![0u8; size];
    stream.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}
