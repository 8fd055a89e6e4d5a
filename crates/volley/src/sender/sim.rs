//! A deterministic simulated Kafka cluster for testing the sender state machine.
//!
//! No sockets and no clock: time is an [`Instant`] the test advances (through
//! [`Sim::run_until`]), connections are entries in a map, and the brokers are a model that
//! decodes the sender's request frames with the `kafka-protocol` crate, keeps a log per
//! partition, allocates producer ids and checks sequence numbers the way a Kafka broker does
//! (the broker model of [`crate::fake::model`], which the fake cluster serves over TCP).
//! Faults are injected by the test: error codes for the next produce requests of a partition,
//! leader moves, lost requests and responses, delays, disconnects and refused connections.
//! Whole clusters can be replaced ([`cluster`]): brokers added, stopped, given another cluster
//! id, reached through extra addresses (a load balancer in front of the bootstrap servers),
//! or made to answer Metadata with REBOOTSTRAP_REQUIRED.
//!
//! Transactions (Kafka's transaction versions 1 and 2) are modelled in the broker model's
//! `txn` (the test's controls in [`txn`]): a transaction
//! coordinator and a group coordinator (each one broker, movable), InitProducerId with a
//! transactional id and epoch fencing, AddPartitionsToTxn, the leaders' verification of
//! transactional produce requests, EndTxn writing commit/abort markers into the partitions, and
//! AddOffsetsToTxn + TxnOffsetCommit with offsets that become the group's only on commit.
//!
//! The harness plays the I/O driver's part (`io/driver.rs`): it polls the sender, carries out
//! its outputs (a connect is answered on the next step, a request is answered at once or after
//! the broker's delay), drops events of connections the sender closed, and advances the clock
//! to the sender's `poll_timeout` or the next scheduled event. Every random choice (backoff
//! jitter, the sticky partitioner's picks) comes from generators [`Sim::with_seed`] seeds, so a
//! run is repeatable. Randomized runs (a seed deciding the cluster, workload and faults) and
//! their invariants are in [`random`] and [`invariants`].

mod cluster;
mod invariants;
pub(crate) mod random;
mod telemetry;
mod txn;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, MetadataRequest, MetadataResponse, ProduceRequest, RequestHeader,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion};
use parking_lot::Mutex;

pub(crate) use telemetry::SimSubscription;

pub(crate) use crate::fake::model::{
    encode_response, LogRecord, Marker, Model, PartitionModel, ProducePart, RequestLog, TxnStatus,
};

use super::{Output, Sender, SenderConfig};
use crate::accumulator::{Append, DeliveryFuture, RecordRef};
use crate::config::ProducerConfig;
use crate::delivery_error::DeliveryError;
use crate::error::{Error, KafkaCode};
use crate::protocol::frame::BrokerVersions;
use crate::protocol::record_batch::{decode_batches, BatchBuilder};
use crate::protocol::request_frame::RequestFrame;
use crate::record::RecordMetadata;
use crate::shared::{Command, Commands, Shared};
use std::sync::atomic::Ordering;

/// What a Kafka 4.x broker announces in ApiVersions: `(api key, min, max)`.
pub(crate) const KAFKA_4_VERSIONS: &[(i16, i16, i16)] = &[
    (0, 3, 13), // Produce
    (3, 0, 13), // Metadata
    (18, 0, 4), // ApiVersions
    (22, 0, 5), // InitProducerId
    (10, 0, 6), // FindCoordinator
    (24, 0, 5), // AddPartitionsToTxn
    (25, 0, 4), // AddOffsetsToTxn
    (26, 0, 5), // EndTxn
    (28, 0, 5), // TxnOffsetCommit
];

/// The address of a simulated broker.
pub(crate) fn addr(broker: i32) -> String {
    format!("broker{broker}:9092")
}

/// Connection-level events, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnEvent {
    Connect {
        node: i32,
        addr: String,
        /// The connection setup timeout the sender asked for.
        timeout: Duration,
    },
    Connected {
        node: i32,
    },
    ConnectFailed {
        node: i32,
    },
    /// The sender asked for the connection to be closed.
    Close {
        node: i32,
    },
    /// The connection broke (fault injection, or a write to a connection that is gone).
    Disconnected {
        node: i32,
    },
}

#[derive(Debug, Default)]
struct BrokerModel {
    refuse_until: Option<Instant>,
    /// Connection attempts fail authentication until then.
    refuse_auth_until: Option<Instant>,
    delay: Duration,
    drop_produce_responses: u32,
    lose_produce_requests: u32,
    drop_all_responses: bool,
    /// `throttle_time_ms` of its Produce responses (KIP-219), until set back to 0.
    produce_throttle_ms: i32,
    /// `throttle_time_ms` of its other responses (metadata, producer id, transactional).
    throttle_ms: i32,
    /// Its cluster's id (`None`: [`cluster::DEFAULT_CLUSTER_ID`]); its Metadata lists the
    /// running brokers of the same cluster.
    cluster_id: Option<String>,
    /// Stopped: refuses connections and is left out of every cluster's metadata.
    stopped: bool,
    /// Its next Metadata responses answer REBOOTSTRAP_REQUIRED.
    rebootstrap_required: u32,
}

#[derive(Debug)]
struct SimConn {
    broker: i32,
    generation: u64,
    up: bool,
    /// When the last response was scheduled (responses on a connection keep their order).
    last_response: Instant,
}

#[derive(Debug)]
enum Delivery {
    Connected {
        node: i32,
        generation: u64,
    },
    ConnectFailed {
        node: i32,
        generation: u64,
        /// Refused by authentication rather than by the network.
        auth: bool,
    },
    Response {
        node: i32,
        generation: u64,
        frame: Bytes,
    },
}

/// A record the test sent, and what became of it.
#[derive(Debug)]
pub(crate) struct SentRecord {
    pub topic: String,
    pub partition: i32,
    pub value: String,
    pub sent_at: Instant,
    future: Option<DeliveryFuture>,
    outcome: Option<Result<RecordMetadata, Error>>,
}

type Resolutions = Arc<Mutex<Vec<(usize, Instant, Result<RecordMetadata, DeliveryError>)>>>;

/// See the module docs.
pub(crate) struct Sim {
    pub now: Instant,
    pub start: Instant,
    pub shared: Arc<Shared>,
    pub sender: Sender,
    /// The I/O thread's end of the user commands (`Producer` sends them; so do the tests).
    commands: Commands,
    pub requests: Vec<RequestLog>,
    pub conn_events: Vec<(Instant, ConnEvent)>,
    pub records: Vec<SentRecord>,
    brokers: BTreeMap<i32, BrokerModel>,
    /// Extra addresses and the broker each reaches (see [`Sim::alias`]).
    aliases: HashMap<String, i32>,
    /// The brokers' shared state (logs, producer ids, coordinators).
    pub(crate) model: Model,
    conns: HashMap<i32, SimConn>,
    queue: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    generation: u64,
    resolutions: Resolutions,
    clock: Arc<Mutex<Instant>>,
    /// The client telemetry receiver (KIP-714), when a test turns it on.
    pub telemetry: Option<telemetry::TelemetryBroker>,
}

impl Sim {
    /// A cluster of `brokers` with `topics` (name, leader of each partition; `-1` = none), and
    /// a sender configured with bootstrap `broker<first>:9092` and whatever `configure` sets.
    pub(crate) fn new(
        brokers: &[i32],
        topics: &[(&str, &[i32])],
        configure: impl FnOnce(&mut ProducerConfig),
    ) -> Sim {
        Sim::with_seed(0x5eed, brokers, topics, configure)
    }

    /// [`Sim::new`] with the sender's and the sticky partitioner's generators seeded by `seed`.
    pub(crate) fn with_seed(
        seed: u64,
        brokers: &[i32],
        topics: &[(&str, &[i32])],
        configure: impl FnOnce(&mut ProducerConfig),
    ) -> Sim {
        let mut cfg = ProducerConfig::default();
        cfg.bootstrap_servers = vec![addr(brokers[0])];
        cfg.client_id = "sim".into();
        configure(&mut cfg);
        cfg.validate().expect("valid test configuration");
        let (shared, commands) = Shared::new(&cfg, Vec::new(), None).expect("shared state");
        shared.sticky.reseed(seed ^ 0x5717_c4e5);
        let now = Instant::now();
        let sender = Sender::new(
            SenderConfig::new(&cfg),
            shared.clone(),
            now,
            fastrand::Rng::with_seed(seed),
        );
        let mut sim = Sim {
            now,
            start: now,
            shared,
            sender,
            commands,
            requests: Vec::new(),
            conn_events: Vec::new(),
            records: Vec::new(),
            brokers: brokers
                .iter()
                .map(|&b| (b, BrokerModel::default()))
                .collect(),
            aliases: HashMap::new(),
            model: Model::new(brokers[0]),
            conns: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            generation: 0,
            resolutions: Arc::new(Mutex::new(Vec::new())),
            clock: Arc::new(Mutex::new(now)),
            telemetry: None,
        };
        for (name, leaders) in topics {
            sim.create_topic(name, leaders);
        }
        sim
    }

    /// Simulated time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    // ------------------------------------------------------------------ cluster changes, faults

    /// Creates a topic: one partition per leader (`-1` = no leader).
    pub(crate) fn create_topic(&mut self, name: &str, leaders: &[i32]) {
        self.model.create_topic(name, leaders);
    }

    /// Moves a partition's leadership (`None`: no leader). The old leader answers
    /// NOT_LEADER_OR_FOLLOWER from now on; metadata shows the new one.
    ///
    /// The leader epoch goes up by one. A NOT_LEADER_OR_FOLLOWER answer names the new leader
    /// and epoch (KIP-951's `CurrentLeader`, with the leader's `NodeEndpoints`) unless
    /// [`Sim::set_leader_hints`] turned that off.
    pub(crate) fn set_leader(&mut self, topic: &str, partition: i32, leader: Option<i32>) {
        self.model.set_leader(topic, partition, leader);
    }

    /// Sets a partition's leader and leader epoch outright (a cluster restored from older
    /// metadata: its epochs may be lower than the ones a producer saw).
    pub(crate) fn set_leader_and_epoch(
        &mut self,
        topic: &str,
        partition: i32,
        leader: i32,
        epoch: i32,
    ) {
        let p = self.partition_mut(topic, partition);
        p.leader = Some(leader);
        p.leader_epoch = epoch;
    }

    /// Whether NOT_LEADER_OR_FOLLOWER answers carry KIP-951's new-leader hint (Kafka 3.7+: on
    /// by default); off, the producer has to wait for metadata, as with older brokers.
    pub(crate) fn set_leader_hints(&mut self, on: bool) {
        self.model.leader_hints = on;
    }

    /// NOT_LEADER_OR_FOLLOWER answers for the partition name `leader` at `epoch` as its current
    /// leader, whatever the truth: a broker's bad hint.
    pub(crate) fn override_leader_hint(
        &mut self,
        topic: &str,
        partition: i32,
        leader: i32,
        epoch: i32,
    ) {
        self.partition_mut(topic, partition).hint_override = Some((leader, epoch));
    }

    /// The next `n` produce requests for the partition (reaching its leader) fail with `code`.
    pub(crate) fn fail_produce(&mut self, topic: &str, partition: i32, n: usize, code: KafkaCode) {
        self.partition_mut(topic, partition)
            .fail_next
            .extend(std::iter::repeat_n(code, n));
    }

    /// The partition leader forgets every producer's state (as after the producer's last
    /// records were deleted by retention), and from then on answers a sequence > 0 from a
    /// producer it does not know with UNKNOWN_PRODUCER_ID, as older brokers did. (By default,
    /// like Kafka 4.x, a leader accepts the first batch of a producer it does not know whatever
    /// its sequence.)
    pub(crate) fn forget_producers(&mut self, topic: &str, partition: i32) {
        let p = self.partition_mut(topic, partition);
        p.producers.clear();
        p.strict_unknown_producer = true;
    }

    /// Cancels the partition's pending `fail_produce` faults.
    pub(crate) fn clear_faults(&mut self, topic: &str, partition: i32) {
        self.partition_mut(topic, partition).fail_next.clear();
    }

    /// The topic's `max.message.bytes`.
    pub(crate) fn set_max_message_bytes(&mut self, topic: &str, bytes: usize) {
        self.model
            .topics
            .get_mut(topic)
            .expect("topic")
            .max_message_bytes = bytes;
    }

    /// The broker handles the next `n` produce requests (appends what it accepts) but their
    /// responses are lost.
    pub(crate) fn drop_produce_responses(&mut self, broker: i32, n: u32) {
        self.broker_mut(broker).drop_produce_responses += n;
    }

    /// The next `n` produce requests reaching the broker are lost: not handled, never answered
    /// (the connection stays open, as with a broker stuck on them).
    pub(crate) fn lose_produce_requests(&mut self, broker: i32, n: u32) {
        self.broker_mut(broker).lose_produce_requests += n;
    }

    /// The broker's Produce responses carry `throttle_time_ms = ms` (a broker quota, KIP-219)
    /// until set back to 0. The broker answers at once; the client must hold back.
    pub(crate) fn throttle_produce(&mut self, broker: i32, ms: i32) {
        self.broker_mut(broker).produce_throttle_ms = ms;
    }

    /// The broker's other responses (Metadata, InitProducerId, FindCoordinator and the
    /// transactional APIs) carry `throttle_time_ms = ms` until set back to 0.
    pub(crate) fn throttle_responses(&mut self, broker: i32, ms: i32) {
        self.broker_mut(broker).throttle_ms = ms;
    }

    /// The broker stops answering anything (requests are still handled) until set back.
    pub(crate) fn set_unresponsive(&mut self, broker: i32, on: bool) {
        self.broker_mut(broker).drop_all_responses = on;
    }

    /// Responses from the broker arrive `delay` after their request.
    pub(crate) fn delay_responses(&mut self, broker: i32, delay: Duration) {
        self.broker_mut(broker).delay = delay;
    }

    /// Connection attempts to the broker fail until `until`.
    pub(crate) fn refuse_connections(&mut self, broker: i32, until: Instant) {
        self.broker_mut(broker).refuse_until = Some(until);
    }

    /// Connection attempts to the broker fail authentication (as the driver reports a SASL
    /// refusal) until `until`.
    pub(crate) fn refuse_authentication(&mut self, broker: i32, until: Instant) {
        self.broker_mut(broker).refuse_auth_until = Some(until);
    }

    /// Breaks the sender's connection to `node` (as the driver reports a read error). Responses
    /// not yet delivered on it are lost.
    pub(crate) fn disconnect(&mut self, node: i32) {
        if self.conns.remove(&node).is_some() {
            self.conn_events
                .push((self.now, ConnEvent::Disconnected { node }));
            let err = Error::Network {
                broker: format!("node {node}"),
                message: "connection reset by the simulation".into(),
                source: None,
            };
            self.sender.handle_disconnected(self.now, node, &err);
        }
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> &mut PartitionModel {
        self.model.partition_mut(topic, partition)
    }

    fn broker_mut(&mut self, broker: i32) -> &mut BrokerModel {
        self.brokers.get_mut(&broker).expect("broker")
    }

    // ------------------------------------------------------------------ the producer's side

    /// Appends a record to `topic`-`partition` as `Producer::send` does (waiting for metadata
    /// first if the topic is not known yet). Returns the record's id. Panics if the send is
    /// refused (see [`Sim::try_send`]).
    pub(crate) fn send(&mut self, topic: &str, partition: i32, value: &str) -> usize {
        match self.try_send(topic, partition, value) {
            Ok(id) => id,
            Err(e) => panic!("send of {value} refused: {e}"),
        }
    }

    /// [`Sim::send`], with the checks `Producer::send` makes before appending: a fatal error
    /// refuses the record, and a transactional producer adds the partition to the open
    /// transaction (or refuses the record outside one).
    pub(crate) fn try_send(
        &mut self,
        topic: &str,
        partition: i32,
        value: &str,
    ) -> Result<usize, Error> {
        if let Some(e) = self.shared.lifecycle.fatal() {
            return Err(e.clone());
        }
        if self.shared.cluster().topic(topic).is_none() {
            self.wait_for_topic(topic);
        }
        let count = self
            .shared
            .cluster()
            .topic(topic)
            .expect("topic known")
            .partition_count();
        let topic_arc: Arc<str> = Arc::from(topic);
        if let Some(t) = self.shared.txn.as_ref() {
            t.lock().maybe_add_partition(&topic_arc, partition)?;
        }
        let id = self.records.len();
        let callback = self.record_callback(id);
        let rec = RecordRef {
            timestamp: 1_700_000_000_000 + self.elapsed().as_millis() as i64,
            key: None,
            value: Some(value.as_bytes()),
            headers: &[],
        };
        let size_bound = BatchBuilder::record_size_upper_bound(None, Some(value.len()), &[]);
        let a = Append {
            topic: &topic_arc,
            partition,
            partition_count: count,
            record: rec,
            size_bound,
            delivery: crate::accumulator::Delivery::Callback(callback),
            want_thunk: false,
            now: Some(self.now),
        };
        let appended = self
            .shared
            .acc
            .append(
                a,
                Some(Instant::now() + Duration::from_secs(1)),
                Duration::from_secs(1),
            )
            .expect("append");
        self.records.push(SentRecord {
            topic: topic.to_string(),
            partition,
            value: value.to_string(),
            sent_at: self.now,
            future: appended
                .future
                .or_else(|| self.shared.acc.future_of_last_append(topic, partition)),
            outcome: None,
        });
        Ok(id)
    }

    /// The callback of record `id`: records its resolution and when it came.
    fn record_callback(&self, id: usize) -> crate::accumulator::batch::Callback {
        let resolutions = self.resolutions.clone();
        let clock = self.clock.clone();
        Box::new(move |r: Result<RecordMetadata, DeliveryError>| {
            let at = *clock.lock();
            resolutions.lock().push((id, at, r));
        })
    }

    /// Asks for a topic's metadata as `Producer::send` does and runs until it is known; panics
    /// after 60 s.
    pub(crate) fn wait_for_topic(&mut self, topic: &str) {
        assert!(
            self.wait_for_topic_within(topic, Duration::from_secs(60)),
            "topic {topic} not in metadata after 60 s"
        );
    }

    /// Waits for a topic as `Producer::send` does (`topic_or_request`): asks for it, and asks
    /// again each time fresh metadata arrives without it, for up to `max`. Returns whether it
    /// became known.
    pub(crate) fn wait_for_topic_within(&mut self, topic: &str, max: Duration) -> bool {
        let deadline = self.now + max;
        let known = |s: &Sim| s.shared.cluster().topic(topic).is_some();
        loop {
            if known(self) {
                return true;
            }
            self.shared.command(Command::WantTopic(Arc::from(topic)));
            let generation = |s: &Sim| s.shared.cluster_generation.load(Ordering::Acquire);
            let seen = generation(self);
            let left = deadline.saturating_duration_since(self.now);
            let moved = self.run_until(left, |s| known(s) || generation(s) > seen);
            if !moved {
                return known(self);
            }
        }
    }

    /// Whether the record's future has resolved.
    pub(crate) fn is_done(&self, id: usize) -> bool {
        let r = &self.records[id];
        r.outcome.is_some() || r.future.as_ref().is_some_and(DeliveryFuture::is_done)
    }

    /// Whether every record sent so far has resolved.
    pub(crate) fn all_done(&self) -> bool {
        (0..self.records.len()).all(|id| self.is_done(id))
    }

    /// The record's outcome, taken from its future. Panics if it has not resolved.
    pub(crate) fn outcome(&mut self, id: usize) -> &Result<RecordMetadata, Error> {
        let r = &mut self.records[id];
        if r.outcome.is_none() {
            let fut = r.future.take().expect("future");
            match fut.wait_timeout(Duration::ZERO) {
                Ok(res) => r.outcome = Some(res.map_err(Error::from)),
                Err(fut) => {
                    r.future = Some(fut);
                    panic!("record {id} ({}) has not resolved", r.value);
                }
            }
        }
        r.outcome.as_ref().expect("outcome")
    }

    /// The offset the record was acknowledged at. Panics if it failed.
    pub(crate) fn offset(&mut self, id: usize) -> i64 {
        match self.outcome(id) {
            Ok(md) => md.offset,
            Err(e) => panic!("record {id} failed: {e}"),
        }
    }

    /// The error the record failed with. Panics if it succeeded.
    pub(crate) fn error(&mut self, id: usize) -> Error {
        match self.outcome(id) {
            Ok(md) => panic!("record {id} succeeded at offset {}", md.offset),
            Err(e) => e.clone(),
        }
    }

    /// When the record's callback ran (its resolution), if it has.
    pub(crate) fn resolved_at(&self, id: usize) -> Option<Instant> {
        self.resolutions
            .lock()
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, at, _)| *at)
    }

    /// Checks that every record resolved exactly once: its callback ran once, its future is
    /// done, and both tell the same outcome.
    pub(crate) fn assert_each_resolved_once(&mut self) {
        let resolutions: Vec<_> = self.resolutions.lock().clone();
        for id in 0..self.records.len() {
            let calls: Vec<_> = resolutions.iter().filter(|(i, _, _)| *i == id).collect();
            let value = self.records[id].value.clone();
            assert_eq!(
                calls.len(),
                1,
                "record {id} ({value}) resolved {} times",
                calls.len()
            );
            let from_callback = calls[0].2.clone();
            match &from_callback {
                Ok(md) => {
                    let r = &self.records[id];
                    assert_eq!((&*md.topic, md.partition), (r.topic.as_str(), r.partition));
                }
                Err(e) => invariants::record_handed_back(id, &self.records[id], e),
            }
            let from_callback = from_callback.map_err(Error::from);
            let from_future = self.outcome(id).clone();
            match (&from_callback, &from_future) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "record {id}: callback and future disagree"),
                (Err(a), Err(b)) => assert_eq!(
                    a.to_string(),
                    b.to_string(),
                    "record {id}: callback and future disagree"
                ),
                _ => panic!("record {id}: callback {from_callback:?}, future {from_future:?}"),
            }
        }
    }

    /// The partition's log, in offset order.
    pub(crate) fn log(&self, topic: &str, partition: i32) -> &[LogRecord] {
        &self.model.topics[topic].partitions[partition as usize].log
    }

    /// The values of the data records in the partition's log (markers left out), in offset
    /// order.
    pub(crate) fn log_values(&self, topic: &str, partition: i32) -> Vec<String> {
        self.log(topic, partition)
            .iter()
            .filter(|r| r.control.is_none())
            .map(|r| r.value.clone())
            .collect()
    }

    /// The produce requests, with the part for `topic`-`partition` of each that carried one.
    pub(crate) fn produce_attempts(
        &self,
        topic: &str,
        partition: i32,
    ) -> Vec<(&RequestLog, &ProducePart)> {
        self.requests
            .iter()
            .filter(|r| r.api == ApiKey::Produce)
            .filter_map(|r| {
                r.parts
                    .iter()
                    .find(|p| p.topic == topic && p.partition == partition)
                    .map(|p| (r, p))
            })
            .collect()
    }

    /// When the sender first closed its connection to `node` (`Output::Close`).
    pub(crate) fn first_close(&self, node: i32) -> Option<Instant> {
        self.conn_events
            .iter()
            .find(|(_, e)| *e == ConnEvent::Close { node })
            .map(|(at, _)| *at)
    }

    /// The requests of one API.
    pub(crate) fn requests_of(&self, api: ApiKey) -> Vec<&RequestLog> {
        self.requests.iter().filter(|r| r.api == api).collect()
    }

    // ------------------------------------------------------------------ the driver's loop

    fn set_now(&mut self, now: Instant) {
        self.now = now;
        *self.clock.lock() = now;
    }

    /// `Producer::close` as the I/O thread sees it: the lifecycle closes and the sender hears
    /// of it through a command.
    pub(crate) fn close(&mut self) {
        self.shared.lifecycle.begin_close();
        self.shared.command(Command::Close);
    }

    /// A forced close (`close_timeout` expired), as `Producer` does it.
    pub(crate) fn force_close(&mut self) {
        self.shared.lifecycle.force_close();
        self.shared.command(Command::ForceClose);
    }

    /// One `poll` of the sender, and its outputs carried out.
    pub(crate) fn poll(&mut self) {
        while let Ok(c) = self.commands.try_recv() {
            self.sender.handle_command(self.now, c);
        }
        self.sender.poll(self.now);
        while let Some(out) = self.sender.poll_output() {
            match out {
                Output::Connect {
                    node,
                    addr,
                    timeout,
                } => self.on_connect(node, addr, timeout),
                Output::Send { node, frame } => self.on_send(node, frame),
                Output::Close { node } => {
                    self.conn_events.push((self.now, ConnEvent::Close { node }));
                    self.conns.remove(&node);
                }
            }
        }
    }

    /// Runs the sender until `done` holds (checked after each poll) or `max` of simulated time
    /// has passed; returns whether `done` held. Time jumps to the sender's `poll_timeout` or the
    /// next scheduled event, whichever is first, and never past `now + max`.
    pub(crate) fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let deadline = self.now + max;
        let mut spins = 0;
        loop {
            self.poll();
            if done(self) {
                return true;
            }
            if self.deliver_due() {
                continue;
            }
            let mut next = deadline;
            if let Some(t) = self.sender.poll_timeout() {
                next = next.min(t);
            }
            if let Some((t, _)) = self.queue.keys().next() {
                next = next.min(*t);
            }
            if next <= self.now {
                if self.now >= deadline {
                    return false;
                }
                // A sender that asks to be polled now, again and again, without doing anything
                // would spin the real driver's thread.
                spins += 1;
                assert!(
                    spins < 1000,
                    "the sender asks for a poll at {:?} and does nothing (busy loop)",
                    self.elapsed()
                );
                continue;
            }
            spins = 0;
            self.set_now(next);
        }
    }

    /// Runs for `d` of simulated time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Runs until every record sent so far has resolved; panics after `max`.
    pub(crate) fn run_until_all_done(&mut self, max: Duration) {
        let ok = self.run_until(max, Sim::all_done);
        if !ok {
            let pending: Vec<_> = (0..self.records.len())
                .filter(|&i| !self.is_done(i))
                .map(|i| self.records[i].value.clone())
                .collect();
            panic!(
                "not every record resolved after {max:?} (t = {:?}): {pending:?}",
                self.elapsed()
            );
        }
    }

    fn schedule(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.queue.insert((at, self.seq), d);
    }

    /// Delivers every event due by now; returns whether there was any.
    fn deliver_due(&mut self) -> bool {
        let mut any = false;
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let d = entry.remove();
            any = true;
            let current = |conns: &HashMap<i32, SimConn>, node: i32, g: u64| {
                conns.get(&node).is_some_and(|c| c.generation == g)
            };
            match d {
                Delivery::Connected { node, generation } => {
                    if current(&self.conns, node, generation) {
                        self.conns.get_mut(&node).expect("conn").up = true;
                        self.conn_events
                            .push((self.now, ConnEvent::Connected { node }));
                        let telemetry_apis =
                            self.telemetry.is_some().then_some([(71, 0, 0), (72, 0, 0)]);
                        let v = BrokerVersions::new(
                            KAFKA_4_VERSIONS
                                .iter()
                                .copied()
                                .chain(telemetry_apis.into_iter().flatten()),
                        )
                        .with_finalized_features(
                            self.model.coordinators.features_epoch,
                            [(
                                "transaction.version",
                                self.model.coordinators.transaction_version,
                            )],
                        );
                        self.sender.handle_connected(self.now, node, v);
                    }
                }
                Delivery::ConnectFailed {
                    node,
                    generation,
                    auth,
                } => {
                    if current(&self.conns, node, generation) {
                        self.conns.remove(&node);
                        self.conn_events
                            .push((self.now, ConnEvent::ConnectFailed { node }));
                        let err = if auth {
                            Error::Authentication {
                                broker: format!("node {node}"),
                                mechanism: "PLAIN".into(),
                                message: "refused by the simulation".into(),
                            }
                        } else {
                            Error::Network {
                                broker: format!("node {node}"),
                                message: "connection refused by the simulation".into(),
                                source: None,
                            }
                        };
                        self.sender.handle_connect_failed(self.now, node, &err);
                    }
                }
                Delivery::Response {
                    node,
                    generation,
                    frame,
                } => {
                    if current(&self.conns, node, generation) {
                        self.sender.handle_frame(self.now, node, frame);
                    }
                }
            }
        }
        any
    }

    fn on_connect(&mut self, node: i32, address: String, timeout: Duration) {
        self.conn_events.push((
            self.now,
            ConnEvent::Connect {
                node,
                addr: address.clone(),
                timeout,
            },
        ));
        self.generation += 1;
        let generation = self.generation;
        let broker = self.broker_at(&address).unwrap_or(i32::MIN);
        self.conns.insert(
            node,
            SimConn {
                broker,
                generation,
                up: false,
                last_response: self.now,
            },
        );
        let refused = self
            .brokers
            .get(&broker)
            .is_none_or(|b| b.stopped || b.refuse_until.is_some_and(|t| self.now < t));
        let auth_refused = self
            .brokers
            .get(&broker)
            .is_some_and(|b| b.refuse_auth_until.is_some_and(|t| self.now < t));
        let d = if refused || auth_refused {
            Delivery::ConnectFailed {
                node,
                generation,
                auth: auth_refused && !refused,
            }
        } else {
            Delivery::Connected { node, generation }
        };
        self.schedule(self.now, d);
    }

    fn on_send(&mut self, node: i32, frame: RequestFrame) {
        let Some(conn) = self.conns.get(&node).filter(|c| c.up) else {
            // As the driver does when the connection's writer is gone.
            self.conn_events
                .push((self.now, ConnEvent::Disconnected { node }));
            self.conns.remove(&node);
            let err = Error::Network {
                broker: format!("node {node}"),
                message: "connection writer stopped".into(),
                source: None,
            };
            self.sender.handle_disconnected(self.now, node, &err);
            return;
        };
        let (broker, generation) = (conn.broker, conn.generation);
        // A simulated broker reads the bytes a socket would carry: the frame's pieces in order.
        let frame = frame.to_bytes();
        let size = frame.len();
        let declared = i32::from_be_bytes(frame[..4].try_into().expect("size prefix"));
        assert_eq!(
            declared as usize,
            size - 4,
            "size prefix of a request frame"
        );
        let mut body = frame.slice(4..);
        let key = i16::from_be_bytes([body[0], body[1]]);
        let version = i16::from_be_bytes([body[2], body[3]]);
        let api = ApiKey::try_from(key).expect("known api key");
        let mut log = RequestLog::new(self.now, (node, broker), api, version, size);
        let (corr, response) = match api {
            ApiKey::Produce => {
                let h = RequestHeader::decode(&mut body, ProduceRequest::header_version(version))
                    .expect("request header");
                let req = ProduceRequest::decode(&mut body, version).expect("produce request");
                log.acks = req.acks;
                log.transactional_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
                let b = self.broker_mut(broker);
                log.lost = b.lose_produce_requests > 0;
                if log.lost {
                    b.lose_produce_requests -= 1;
                }
                let throttle = b.produce_throttle_ms;
                for t in req.topic_data.iter().filter(|_| !log.lost) {
                    for p in &t.partition_data {
                        let bytes = p.records.as_deref().unwrap_or_default();
                        decode_batches(bytes).expect("the sender's batches decode");
                    }
                }
                let brokers = &self.brokers;
                let endpoint = |id: i32| {
                    brokers
                        .contains_key(&id)
                        .then(|| (format!("broker{id}"), 9092))
                };
                let resp = self
                    .model
                    .handle_produce((broker, version), &req, log.lost, &mut log.parts, &endpoint)
                    .with_throttle_time_ms(throttle);
                let frame = (req.acks != 0 && !log.lost)
                    .then(|| encode_response(h.correlation_id, version, &resp));
                (h.correlation_id, frame)
            }
            ApiKey::Metadata => {
                let h = RequestHeader::decode(&mut body, MetadataRequest::header_version(version))
                    .expect("request header");
                let req = MetadataRequest::decode(&mut body, version).expect("metadata request");
                log.topics = req.topics.as_ref().map(|ts| {
                    ts.iter()
                        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                        .collect()
                });
                let resp = self.handle_metadata(broker, version, &req);
                (
                    h.correlation_id,
                    Some(encode_response(h.correlation_id, version, &resp)),
                )
            }
            ApiKey::InitProducerId => {
                let h = RequestHeader::decode(
                    &mut body,
                    InitProducerIdRequest::header_version(version),
                )
                .expect("request header");
                let req =
                    InitProducerIdRequest::decode(&mut body, version).expect("init pid request");
                log.producer = Some((req.producer_id.0, req.producer_epoch));
                log.transactional_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
                let resp = self.model.init_producer_id(broker, &req);
                log.code = KafkaCode(resp.error_code);
                (
                    h.correlation_id,
                    Some(encode_response(h.correlation_id, version, &resp)),
                )
            }
            ApiKey::GetTelemetrySubscriptions | ApiKey::PushTelemetry => {
                self.handle_telemetry_request(api, version, &mut body, &mut log)
            }
            _ => {
                assert!(
                    api != ApiKey::AddPartitionsToTxn || version <= 3,
                    "transaction version 1 adds partitions with v3 or below"
                );
                let endpoint = |id: i32| Some((format!("broker{id}"), 9092));
                self.model
                    .handle_coordinator_request(
                        (broker, api, version),
                        &mut body,
                        &mut log,
                        &endpoint,
                    )
                    .unwrap_or_else(|| panic!("the simulation answers {api:?} v{version}"))
            }
        };
        assert!(
            body.is_empty(),
            "trailing bytes in a {api:?} v{version} request"
        );
        let throttle = self.brokers[&broker].throttle_ms;
        let response = match response {
            Some(frame) if throttle != 0 && api != ApiKey::Produce => {
                Some(with_throttle(frame, api, version, throttle))
            }
            r => r,
        };
        log.correlation_id = corr;
        let b = self.brokers.get_mut(&broker).expect("broker");
        let mut drop = false;
        if response.is_some() {
            if b.drop_all_responses {
                drop = true;
            } else if api == ApiKey::Produce && b.drop_produce_responses > 0 {
                b.drop_produce_responses -= 1;
                drop = true;
            } else {
                drop = self.model.coordinators.take_drop(api);
            }
        }
        let delay = b.delay;
        log.dropped = drop;
        self.requests.push(log);
        if let (Some(frame), false) = (response, drop) {
            let conn = self.conns.get_mut(&node).expect("conn");
            let at = (self.now + delay).max(conn.last_response);
            conn.last_response = at;
            self.schedule(
                at,
                Delivery::Response {
                    node,
                    generation,
                    frame,
                },
            );
        }
    }

    /// Metadata: REBOOTSTRAP_REQUIRED if the test asked for it, else the model's answer
    /// listing the broker's cluster.
    fn handle_metadata(
        &mut self,
        broker: i32,
        version: i16,
        req: &MetadataRequest,
    ) -> MetadataResponse {
        if let Some(resp) = self.take_rebootstrap_required(broker, version) {
            return resp;
        }
        let (members, cluster_id) = self.cluster_of(broker);
        let members: Vec<(i32, String, i32)> = members
            .into_iter()
            .map(|id| (id, format!("broker{id}"), 9092))
            .collect();
        self.model.metadata_response(&members, cluster_id, req)
    }
}

/// `frame` (a response to `api` at `version` whose body begins with `throttle_time_ms`, as
/// every non-produce response the simulated brokers give) with that field set to `ms`.
fn with_throttle(frame: Bytes, api: ApiKey, version: i16, ms: i32) -> Bytes {
    let first_field = match api {
        ApiKey::Metadata => version >= 3,
        ApiKey::FindCoordinator => version >= 1,
        _ => true,
    };
    if !first_field {
        return frame;
    }
    let at = if api.response_header_version(version) >= 1 {
        5
    } else {
        4
    };
    let mut buf = BytesMut::from(&frame[..]);
    buf[at..at + 4].copy_from_slice(&ms.to_be_bytes());
    buf.freeze()
}
