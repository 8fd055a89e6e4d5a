//! The sender: a single-threaded state machine that turns queued batches into Produce
//! requests and responses into completed batches.
//!
//! It owns no socket and reads no clock. The I/O driver feeds it events (`handle_*`, each with
//! the current `now`) and carries out what it asks for (`poll_output`: connect, send a frame,
//! close); `poll_timeout` says when it next needs a call even if nothing happens. That is what
//! lets a test drive it through timeouts, lost responses and leader moves deterministically.

#[cfg(test)]
mod bounds_tests;
mod capabilities;
#[cfg(test)]
mod failed_tests;
mod fatal;
pub(crate) mod idempotence;
mod leader;
#[cfg(test)]
mod leader_tests;
#[cfg(test)]
mod metrics_tests;
mod network;
mod observe;
pub(crate) mod produce;
mod rebootstrap;
#[cfg(test)]
mod rebootstrap_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_random_tests;
mod telemetry;
#[cfg(test)]
mod telemetry_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod throttle_tests;
mod transactional;
#[cfg(test)]
mod txn2_tests;
#[cfg(test)]
mod txn_tests;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProducerId};
use kafka_protocol::messages::{InitProducerIdRequest, MetadataRequest, ProduceRequest};
use rustc_hash::FxHashMap;

use crate::accumulator::{Ack, BatchState, PartitionQueue, ProducerBatch, ReadyCheck};
use crate::config::{MetadataRecoveryStrategy, ProducerConfig};
use crate::error::{Error, KafkaCode};
use crate::metadata::{self, Cluster, MetadataState};
use crate::metrics::Counters;
use crate::protocol::frame::{self, BrokerVersions, Request};
use crate::protocol::request_frame::RequestFrame;
use crate::shared::{Command, Shared};
use crate::util::time::deadline;

use idempotence::{Idempotence, PidState};
use network::{Candidates, Conn, InFlight, NetworkClient};

/// The sender's share of the configuration.
#[derive(Debug, Clone)]
pub(crate) struct SenderConfig {
    pub bootstrap: Vec<String>,
    pub client_id: String,
    pub acks: i16,
    pub request_timeout: Duration,
    pub max_in_flight: usize,
    pub max_request_size: usize,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub reconnect_backoff: Duration,
    pub reconnect_backoff_max: Duration,
    pub connections_max_idle: Duration,
    pub delivery_timeout: Duration,
    pub idempotent: bool,
    pub transactional_id: Option<String>,
    pub allow_auto_create: bool,
    pub metadata_max_age: Duration,
    pub metadata_max_idle: Duration,
    pub recovery_strategy: MetadataRecoveryStrategy,
    pub rebootstrap_trigger: Duration,
    pub partitioner_availability_timeout: Duration,
    pub adaptive_partitioning: bool,
    pub connection_setup_timeout: Duration,
    pub connection_setup_timeout_max: Duration,
    /// `enable.metrics.push` (KIP-714 client telemetry).
    pub metrics_push: bool,
    /// Wall-clock time when the configuration was taken, in Unix nanoseconds: the base of
    /// telemetry timestamps (the sender reads no clock; `Sender::new`'s `now` stands for it).
    pub start_unix_nanos: u64,
}

impl SenderConfig {
    /// The sender's share of a validated producer configuration.
    pub(crate) fn new(cfg: &ProducerConfig) -> SenderConfig {
        SenderConfig {
            bootstrap: cfg.bootstrap_servers.clone(),
            client_id: cfg.client_id.clone(),
            acks: cfg.acks.as_i16(),
            request_timeout: cfg.request_timeout,
            max_in_flight: cfg.max_in_flight,
            max_request_size: cfg.max_request_size,
            retries: cfg.retries,
            retry_backoff: cfg.retry_backoff,
            retry_backoff_max: cfg.retry_backoff_max,
            reconnect_backoff: cfg.reconnect_backoff,
            reconnect_backoff_max: cfg.reconnect_backoff_max,
            connections_max_idle: cfg
                .connections_max_idle
                .unwrap_or(crate::util::time::FOREVER),
            delivery_timeout: cfg.delivery_timeout,
            idempotent: cfg.effective_idempotence(),
            transactional_id: cfg.transactional_id.clone(),
            allow_auto_create: cfg.allow_auto_create_topics,
            metadata_max_age: cfg.metadata_max_age,
            metadata_max_idle: cfg.metadata_max_idle,
            recovery_strategy: cfg.metadata_recovery_strategy,
            rebootstrap_trigger: cfg.metadata_recovery_rebootstrap_trigger,
            partitioner_availability_timeout: cfg.partitioner_availability_timeout,
            adaptive_partitioning: cfg.partitioner_adaptive_partitioning,
            connection_setup_timeout: cfg.socket_connection_setup_timeout,
            connection_setup_timeout_max: cfg.socket_connection_setup_timeout_max,
            metrics_push: cfg.enable_metrics_push,
            start_unix_nanos: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64),
        }
    }
}

/// Where the sender is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    /// `handle_close`: no new records come; finish once everything has resolved.
    Closing,
    /// Stopped for good (closed and drained, or forced).
    Finished,
}

/// What the sender asks the driver to do.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// Open a connection to `addr` and negotiate API versions within `timeout`; answer with
    /// `handle_connected` or `handle_connect_failed`.
    Connect {
        node: i32,
        addr: String,
        timeout: Duration,
    },
    /// Write a frame on the node's connection. A Produce frame references its batches' bytes
    /// (kept alive, and out of the buffer pool, until the frame is dropped).
    Send { node: i32, frame: RequestFrame },
    /// Close the node's connection. No event comes back for it.
    Close { node: i32 },
}

#[derive(Debug)]
enum Pending {
    Produce(Vec<ProducerBatch>),
    Metadata,
    InitProducerId,
    Txn(transactional::TxnPending),
    /// A KIP-714 telemetry request.
    Telemetry(ApiKey),
}

/// Exponential backoff with ±20% jitter, as Java's `ExponentialBackoff`; the jitter is drawn
/// from `rng`, the sender's own generator.
pub(crate) fn backoff(
    base: Duration,
    max: Duration,
    attempts: u32,
    rng: &mut fastrand::Rng,
) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let max = max.max(base);
    let exp = attempts.saturating_sub(1).min(30);
    let raw = base.as_secs_f64() * 2f64.powi(exp as i32);
    let capped = raw.min(max.as_secs_f64());
    let jitter = 0.8 + rng.f64() * 0.4;
    Duration::from_secs_f64((capped * jitter).min(max.as_secs_f64()))
}

/// See the module docs.
pub(crate) struct Sender {
    cfg: SenderConfig,
    shared: Arc<Shared>,
    metadata: MetadataState,
    /// Nodes, connections, requests in flight (Java's `NetworkClient`).
    net: NetworkClient,
    drain_start: HashMap<i32, usize>,
    /// Partitions with a batch in flight, when `max.in.flight.requests.per.connection` is 1
    /// (strict order without idempotence): topic → partitions.
    muted: FxHashMap<Arc<str>, Vec<i32>>,
    /// Reused by every `ready` pass and every drain (no allocation per poll).
    ready_scratch: ReadyCheck,
    expired_scratch: Vec<ProducerBatch>,
    drain_queues: Vec<Arc<PartitionQueue>>,
    idem: Idempotence,
    pid_next_attempt: Instant,
    pid_failures: u32,
    next_timeout: Option<Instant>,
    run: RunState,
    /// Backoff jitter: seeded by whoever builds the sender (the simulator per run).
    rng: fastrand::Rng,
    /// Scratch for a Produce request's inline bytes (everything but the batches).
    frame_buf: BytesMut,
    /// Whether the accumulator is in flush mode for a completing transaction.
    txn_flushing: bool,
    /// KIP-714 client telemetry (`enable.metrics.push`).
    telemetry: Option<crate::telemetry::ClientTelemetry>,
    /// The broker telemetry requests go to while it stays ready.
    telemetry_node: Option<i32>,
    /// Some broker has taken a telemetry request (telemetry may then open a connection).
    telemetry_offered: bool,
    /// The features already reported missing on some broker (`capabilities.rs`), one bit each.
    missing_reported: u8,
    /// Consecutive telemetry requests without a usable answer (the backoff's exponent).
    telemetry_failures: u32,
}

impl Sender {
    pub(crate) fn new(
        cfg: SenderConfig,
        shared: Arc<Shared>,
        now: Instant,
        rng: fastrand::Rng,
    ) -> Sender {
        let telemetry = cfg.metrics_push.then(|| {
            crate::telemetry::ClientTelemetry::new(
                now,
                cfg.start_unix_nanos,
                cfg.transactional_id.as_deref(),
            )
        });
        Sender {
            telemetry,
            telemetry_node: None,
            telemetry_offered: false,
            missing_reported: 0,
            telemetry_failures: 0,
            net: NetworkClient::new(&cfg.bootstrap, now),
            metadata: MetadataState::new(
                now,
                cfg.metadata_max_age,
                cfg.metadata_max_idle,
                cfg.retry_backoff,
            ),
            cfg,
            shared,
            drain_start: HashMap::new(),
            muted: FxHashMap::default(),
            ready_scratch: ReadyCheck::default(),
            expired_scratch: Vec::new(),
            drain_queues: Vec::new(),
            idem: Idempotence::new(),
            pid_next_attempt: now,
            pid_failures: 0,
            next_timeout: None,
            run: RunState::Running,
            rng,
            frame_buf: BytesMut::new(),
            txn_flushing: false,
        }
    }

    /// Whether the sender has stopped for good (closed and drained, or forced).
    pub(crate) fn is_finished(&self) -> bool {
        self.run == RunState::Finished
    }

    /// The next output for the driver.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.net.poll_output()
    }

    /// When the sender next needs a `poll`, if nothing else happens first.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    // ---------------------------------------------------------------- commands from users

    /// A command from a user thread, carried by the driver.
    pub(crate) fn handle_command(&mut self, now: Instant, c: Command) {
        match c {
            Command::WantTopic(t) => self.handle_want_topic(now, &t),
            Command::Close => self.handle_close(now),
            Command::ForceClose => self.handle_force_close(now),
            Command::Txn(op, result) => self.handle_txn_command(now, op, result),
        }
    }

    /// A user's transactional call: started on the transaction manager (or joined to the
    /// pending result of the same call); its errors (an illegal transition, a fatal or
    /// abortable state) end `result` at once.
    pub(crate) fn handle_txn_command(
        &mut self,
        _now: Instant,
        op: crate::txn::TxnOp,
        result: Arc<crate::txn::TxnResult>,
    ) {
        let Some(txn) = self.shared.txn.as_ref() else {
            result.complete(Err(Error::IllegalState(
                "a transactional call needs a transactional producer (set transactional.id)".into(),
            )));
            return;
        };
        let started = txn.lock().begin(op);
        match started {
            Ok(r) => r.forward_to(result),
            Err(e) => result.complete(Err(e)),
        }
    }

    /// A send waits for `topic`'s metadata.
    pub(crate) fn handle_want_topic(&mut self, now: Instant, topic: &Arc<str>) {
        self.metadata.add_topic(topic, now);
        // A send waits for this topic, so the last metadata did not have it. A topic already in
        // the interest set does not ask for a refresh by itself: without this, a topic created
        // after the first lookup would be seen only at metadata.max.age.ms, after the send gave
        // up (Java's waitOnMetadata asks again on each wake-up too). The refresh backoff bounds
        // the rate.
        self.metadata.request_update();
    }

    /// `close`: no new records will come; send everything now and finish once every record
    /// has resolved.
    pub(crate) fn handle_close(&mut self, _now: Instant) {
        if self.run == RunState::Running {
            self.run = RunState::Closing;
        }
    }

    /// A forced close: every queued and in-flight record fails with `Error::Closed`, the
    /// connections close, and the sender finishes at once.
    pub(crate) fn handle_force_close(&mut self, now: Instant) {
        if self.run == RunState::Finished {
            return;
        }
        self.abort_everything(
            now,
            Error::Closed("producer was closed before the record was acknowledged (forced close)"),
        );
        self.run = RunState::Finished;
        self.next_timeout = None;
    }

    // ---------------------------------------------------------------- events from the driver

    /// A connection (with versions negotiated) is up.
    pub(crate) fn handle_connected(&mut self, now: Instant, node: i32, versions: BrokerVersions) {
        self.report_missing_features(node, &versions);
        if let Some(n) = self.net.nodes.get_mut(&node) {
            if matches!(n.conn, Conn::Connecting) {
                if let Some(t) = self.shared.txn.as_ref() {
                    t.lock().observe_features(versions.transaction_version());
                }
                n.conn = Conn::Up(versions);
                n.failures = 0;
                n.last_activity = now;
                n.unavailable_since = None;
                self.shared.lifecycle.set_io_error(None);
                Counters::add(&self.shared.counters.connection_creation, 1);
                self.shared.stats.lock().connection_created(now);
                self.shared.lifecycle.clear_auth_failure();
                tracing::debug!(node, addr = %n.addr, "connected");
            }
        }
    }

    /// A connection attempt failed.
    pub(crate) fn handle_connect_failed(&mut self, now: Instant, node: i32, error: &Error) {
        self.shared.lifecycle.set_io_error(Some(error.clone()));
        if let Some(n) = self.net.nodes.get_mut(&node) {
            tracing::warn!(node, addr = %n.addr, %error, "connection failed");
            n.conn = Conn::Down;
            n.failures += 1;
            n.back_off(now, n.failures, &self.cfg, &mut self.rng);
            n.unavailable_since.get_or_insert(now);
        }
        if error.is_authentication() {
            // Not retried quietly (Java's AuthenticationException): waiting sends and
            // transactional calls end with it, and the records queued for this node fail.
            // The next attempt still happens after the backoff; once one succeeds the producer
            // works again.
            self.shared.lifecycle.set_auth_failure(error.clone());
            let cluster = self.shared.cluster.load_full();
            for b in self.shared.acc.take_led_by(&cluster, node) {
                self.complete(now, b, Err(error.clone()));
            }
        }
        // The broker may have moved or gone: look again.
        self.metadata.request_update();
    }

    /// A connection closed or broke. Everything in flight on it fails with a network error
    /// (retried where allowed).
    pub(crate) fn handle_disconnected(&mut self, now: Instant, node: i32, error: &Error) {
        self.disconnect(now, node, error.to_string());
    }

    fn disconnect(&mut self, now: Instant, node: i32, reason: String) {
        let Some(n) = self.net.nodes.get_mut(&node) else {
            return;
        };
        if matches!(n.conn, Conn::Down) && n.in_flight.is_empty() {
            return;
        }
        tracing::info!(node, addr = %n.addr, %reason, "disconnected");
        let was_up = matches!(n.conn, Conn::Up(_));
        n.conn = Conn::Down;
        n.failures += 1;
        n.back_off(now, n.failures, &self.cfg, &mut self.rng);
        n.unavailable_since.get_or_insert(now);
        let in_flight: Vec<InFlight> = n.in_flight.drain(..).collect();
        let broker = n.addr.clone();
        Counters::add(&self.shared.counters.connection_close, 1);
        self.shared.stats.lock().connection_closed(now, was_up);
        for f in in_flight {
            observe::request_lost(&f.span, &reason);
            match f.pending {
                Pending::Produce(batches) => {
                    for b in batches {
                        let err = Error::Network {
                            broker: broker.clone(),
                            message: format!(
                                "connection lost with the request in flight: {reason}"
                            ),
                            source: None,
                        };
                        self.retry_or_fail(now, b, err, true);
                    }
                }
                Pending::Metadata => self.metadata.handle_failure(now),
                Pending::InitProducerId => self.pid_failed(now),
                Pending::Txn(p) => self.txn_request_failed(now, &p),
                Pending::Telemetry(_) => self.telemetry_failed(now),
            }
        }
        self.metadata.request_update();
    }

    /// A response frame arrived on `node`'s connection.
    pub(crate) fn handle_frame(&mut self, now: Instant, node: i32, frame: Bytes) {
        Counters::add(&self.shared.counters.incoming_bytes, frame.len() as u64 + 4);
        self.shared
            .stats
            .lock()
            .response_received(now, node, frame.len() + 4);
        let Some(n) = self.net.nodes.get_mut(&node) else {
            return;
        };
        n.last_activity = now;
        let corr = match frame::response_correlation_id(&frame) {
            Ok(c) => c,
            Err(e) => {
                self.close_node(now, node, format!("bad response: {e}"));
                return;
            }
        };
        let Some(front) = n.in_flight.front() else {
            self.close_node(
                now,
                node,
                format!("response with correlation id {corr} but nothing in flight"),
            );
            return;
        };
        if front.correlation_id != corr {
            let expected = front.correlation_id;
            self.close_node(
                now,
                node,
                format!("correlation id mismatch: expected {expected}, got {corr}"),
            );
            return;
        }
        let f = n.in_flight.pop_front().expect("front exists");
        let broker = n.addr.clone();
        Counters::add(&self.shared.counters.response, 1);
        let result = match f.pending {
            Pending::Produce(batches) => {
                let latency = now.saturating_duration_since(f.sent).as_micros() as u64;
                Counters::add(&self.shared.counters.request_latency_us, latency);
                Counters::max(&self.shared.counters.request_latency_us_max, latency);
                self.shared
                    .stats
                    .lock()
                    .produce_latency(now, node, latency as f64 / 1000.0);
                let decoded = frame::decode_response::<ProduceRequest>(frame, f.version, corr);
                observe::request_answered(&f.span, latency, &decoded);
                match decoded {
                    Ok(resp) => {
                        self.record_produce_throttle(now, node, f.version, resp.throttle_time_ms);
                        self.apply_leader_hints(now, &resp);
                        self.handle_produce_response(now, batches, resp);
                        Ok(())
                    }
                    Err(e) => {
                        // Put the batches back in flight so that closing the node retries them.
                        self.requeue_in_flight(
                            node,
                            f.correlation_id,
                            f.api,
                            f.version,
                            f.sent,
                            batches,
                        );
                        Err(e)
                    }
                }
            }
            Pending::Metadata => {
                match frame::decode_response::<MetadataRequest>(frame, f.version, corr) {
                    Ok(resp) => {
                        let ms = resp.throttle_time_ms;
                        self.net.throttle(now, node, f.api, f.version, ms);
                        if let Some(fresh) = self.accept_metadata(now, node, &resp) {
                            self.apply_metadata(now, fresh);
                        }
                        Ok(())
                    }
                    Err(e) => {
                        self.metadata.handle_failure(now);
                        Err(e)
                    }
                }
            }
            Pending::InitProducerId => {
                match frame::decode_response::<InitProducerIdRequest>(frame, f.version, corr) {
                    Ok(resp) => {
                        let ms = resp.throttle_time_ms;
                        self.net.throttle(now, node, f.api, f.version, ms);
                        self.handle_init_pid(now, resp);
                        Ok(())
                    }
                    Err(e) => {
                        self.pid_failed(now);
                        Err(e)
                    }
                }
            }
            Pending::Txn(p) => {
                let r = self.handle_txn_response(now, node, p.clone(), frame, f.version, corr);
                if r.is_err() {
                    self.txn_request_failed(now, &p);
                }
                r
            }
            Pending::Telemetry(api) => {
                self.handle_telemetry_response(now, node, api, frame, f.version, corr)
            }
        };
        if let Err(e) = result {
            tracing::warn!(node, %broker, error = %e, "undecodable response; closing connection");
            self.close_node(now, node, format!("undecodable response: {e}"));
        }
    }

    /// A Produce response's `throttle_time_ms`: counted (`produce-throttle-time-avg`/`-max`,
    /// every response, zero included, as Java's sensor) and honoured (KIP-219).
    fn record_produce_throttle(&mut self, now: Instant, node: i32, version: i16, ms: i32) {
        let c = &self.shared.counters;
        let ms_u = ms.max(0) as u64;
        Counters::add(&c.produce_throttle_time_ms, ms_u);
        Counters::add(&c.produce_throttle_count, 1);
        Counters::max(&c.produce_throttle_time_ms_max, ms_u);
        self.shared.stats.lock().produce_throttle(now, ms_u as f64);
        self.net.throttle(now, node, ApiKey::Produce, version, ms);
    }

    fn requeue_in_flight(
        &mut self,
        node: i32,
        corr: i32,
        api: ApiKey,
        version: i16,
        sent: Instant,
        batches: Vec<ProducerBatch>,
    ) {
        if let Some(n) = self.net.nodes.get_mut(&node) {
            n.in_flight.push_front(InFlight {
                correlation_id: corr,
                api,
                version,
                sent,
                deadline: sent,
                pending: Pending::Produce(batches),
                span: tracing::Span::none(),
            });
        }
    }

    fn close_node(&mut self, now: Instant, node: i32, reason: String) {
        self.net.outputs.push_back(Output::Close { node });
        self.disconnect(now, node, reason);
    }

    // ---------------------------------------------------------------- the main step

    /// Does everything due at `now`: metadata, producer id, timeouts, expiry, and sends.
    pub(crate) fn poll(&mut self, now: Instant) {
        if self.run == RunState::Finished {
            return;
        }
        let mut next: Option<Instant> = None;
        let mut wake_at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));

        self.check_request_timeouts(now);
        self.maybe_rebootstrap(now, &mut wake_at);
        self.maybe_refresh_metadata(now, &mut wake_at);
        if self.shared.txn.is_some() {
            self.poll_txn(now, &mut wake_at);
        } else if self.cfg.idempotent {
            self.maybe_init_producer_id(now, &mut wake_at);
        }
        self.fail_appended_after_fatal(now);
        self.send_produce(now, &mut wake_at);
        self.poll_telemetry(now, &mut wake_at);
        self.net
            .close_idle(now, self.cfg.connections_max_idle, &mut wake_at);
        // A throttled broker takes requests again then (KIP-219).
        if let Some(t) = self.net.next_throttle_end(now) {
            wake_at(t);
        }
        // After every send of this poll: a request sent above (metadata, producer id,
        // transactional) must time out even if nothing else wakes the driver.
        for n in self.net.nodes.values() {
            if let Some(f) = n.in_flight.iter().map(|f| f.deadline).min() {
                wake_at(f);
            }
        }

        if self.run == RunState::Closing
            && self.records_drained()
            && self.telemetry.as_ref().is_none_or(|t| t.is_done())
        {
            self.run = RunState::Finished;
        }
        // A finished sender needs no more polls: no deadline is left behind (found by the
        // randomized simulation, seed 0x5eed0083).
        self.next_timeout = next
            .filter(|_| self.run != RunState::Finished)
            .map(|t| t.max(now));
    }

    fn check_request_timeouts(&mut self, now: Instant) {
        for id in self.net.expired_nodes(now) {
            let timeout = self.cfg.request_timeout;
            self.close_node(
                now,
                id,
                format!("request timed out after {timeout:?} (request.timeout.ms)"),
            );
        }
    }

    /// The node for a non-produce request ([`NetworkClient::least_loaded_node`]).
    fn least_loaded_node(
        &mut self,
        now: Instant,
        wake_at: &mut impl FnMut(Instant),
    ) -> Option<i32> {
        let cluster = self.metadata.cluster().clone();
        let brokers = self.candidates(&cluster);
        self.net
            .least_loaded_node(now, brokers, &self.cfg, &mut self.rng, wake_at)
    }

    /// The nodes a request not bound to a node may go to: the bootstrap servers until metadata
    /// names brokers, then the brokers of `cluster` (the current metadata).
    fn candidates<'a>(&self, cluster: &'a Cluster) -> Candidates<'a> {
        if self.metadata.brokers_known() {
            Candidates::Brokers(&cluster.brokers)
        } else {
            Candidates::Bootstrap
        }
    }

    fn connect(&mut self, node: i32) {
        self.net.connect(node, &self.cfg, &mut self.rng);
    }

    /// Encodes and queues a non-produce request on `node`.
    fn send_request<R: Request>(
        &mut self,
        now: Instant,
        node: i32,
        req: &R,
        pending: Pending,
    ) -> Result<(), Error> {
        self.net.send_request(
            now,
            node,
            req,
            pending,
            &self.cfg,
            &self.shared,
            network::ANY_VERSION,
        )
    }

    // ---------------------------------------------------------------- metadata

    fn maybe_refresh_metadata(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        match self.metadata.next_refresh() {
            None => return,
            Some(t) if t > now => {
                wake_at(t);
                return;
            }
            Some(_) => {}
        }
        self.metadata.refresh_due(now);
        self.rebootstrap_if_unreachable(now);
        let Some(node) = self.least_loaded_node(now, wake_at) else {
            wake_at(
                now + Duration::from_millis(100)
                    .min(self.cfg.retry_backoff.max(Duration::from_millis(1))),
            );
            return;
        };
        let topics = self.metadata.begin_refresh(now);
        let req = metadata::metadata_request(&topics, self.cfg.allow_auto_create);
        if let Err(e) = self.send_request(now, node, &req, Pending::Metadata) {
            tracing::error!(error = %e, "cannot send metadata request");
            self.metadata.handle_failure(now);
        }
    }

    fn apply_metadata(&mut self, now: Instant, fresh: Cluster) {
        self.sync_nodes(now, &fresh);
        let old = self.metadata.cluster().clone();
        let cluster = self.metadata.handle_response(now, fresh);
        self.end_backoff_of_moved(now, &old, &cluster);
        self.shared.cluster.store(cluster);
        self.shared
            .cluster_generation
            .fetch_add(1, Ordering::AcqRel);
        Counters::add(&self.shared.counters.metadata_update, 1);
        // Sends waiting for a topic look again.
        self.shared.lifecycle.notify();
    }

    // ---------------------------------------------------------------- producer id

    fn maybe_init_producer_id(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        if self.idem.needs_reset && self.idem.state == PidState::Ready {
            // Batches that may be in the log under this epoch are retried as they are first
            // (found by the randomized simulation, seed 0x5eed0097: restamped, one was
            // written twice).
            let in_flight = self.net.nodes.values().any(|n| n.produce_in_flight() > 0);
            if in_flight || self.idem.retrying_before_reset() {
                return;
            }
            tracing::info!(
                producer_id = self.idem.producer_id,
                epoch = self.idem.epoch,
                "resetting producer epoch after a sequence gap"
            );
            self.idem.state = PidState::Unset;
        }
        if self.idem.state != PidState::Unset {
            return;
        }
        if self.pid_next_attempt > now {
            wake_at(self.pid_next_attempt);
            return;
        }
        let Some(node) = self.least_loaded_node(now, wake_at) else {
            return;
        };
        let versions_ok = match &self.net.nodes[&node].conn {
            Conn::Up(v) => v.negotiate(ApiKey::InitProducerId).unwrap_or(0),
            _ => 0,
        };
        // An idempotent (non-transactional) producer sends a null transactional id (the
        // generated default is an empty string, which the broker rejects) and, as Java does,
        // the largest transaction timeout.
        let mut req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        // KIP-360: with v3+, a producer that had an id asks for an epoch bump of that id.
        if versions_ok >= 3 && self.idem.producer_id >= 0 {
            req = req
                .with_producer_id(ProducerId(self.idem.producer_id))
                .with_producer_epoch(self.idem.epoch);
        }
        match self.send_request(now, node, &req, Pending::InitProducerId) {
            Ok(()) => self.idem.state = PidState::Requesting,
            Err(e) => {
                self.fatal(now, e);
            }
        }
    }

    fn pid_failed(&mut self, now: Instant) {
        self.idem.state = PidState::Unset;
        self.pid_failures += 1;
        let wait = backoff(
            self.cfg.retry_backoff,
            self.cfg.retry_backoff_max,
            self.pid_failures,
            &mut self.rng,
        );
        self.pid_next_attempt = deadline(now, wait);
    }

    fn handle_init_pid(
        &mut self,
        now: Instant,
        resp: kafka_protocol::messages::InitProducerIdResponse,
    ) {
        let code = KafkaCode(resp.error_code);
        if code.is_ok() {
            tracing::debug!(
                producer_id = resp.producer_id.0,
                epoch = resp.producer_epoch,
                "producer id assigned"
            );
            self.pid_failures = 0;
            self.idem
                .set_producer(resp.producer_id.0, resp.producer_epoch);
        } else if code.is_retriable() || code == KafkaCode::CONCURRENT_TRANSACTIONS {
            self.pid_failed(now);
        } else if code == KafkaCode::INVALID_PRODUCER_EPOCH || code == KafkaCode::PRODUCER_FENCED {
            // The epoch bump was refused: start over with a new id.
            self.idem.producer_id = -1;
            self.idem.epoch = -1;
            self.pid_failed(now);
        } else {
            self.fatal(now, Error::request("InitProducerId", code, None));
        }
    }

    /// A fatal error: every pending record fails with it, and so does every later send.
    fn fatal(&mut self, now: Instant, e: Error) {
        tracing::error!(error = %e, "fatal producer error");
        // The transaction manager hands over errors it already made fatal; the first fatal
        // error stays the producer's.
        let fatal = self.shared.lifecycle.set_fatal(e);
        if let Some(txn) = self.shared.txn.as_ref() {
            txn.lock().set_fatal(fatal.clone());
        }
        self.abort_everything(now, fatal);
    }

    fn abort_everything(&mut self, now: Instant, err: Error) {
        for b in self.shared.acc.take_all() {
            self.complete(now, b, Err(err.clone()));
        }
        let ids: Vec<i32> = self.net.nodes.keys().copied().collect();
        for id in ids {
            let n = self.net.nodes.get_mut(&id).expect("node exists");
            let in_flight: Vec<InFlight> = n.in_flight.drain(..).collect();
            if !matches!(n.conn, Conn::Down) {
                if matches!(n.conn, Conn::Up(_)) {
                    Counters::add(&self.shared.counters.connection_close, 1);
                    self.shared.stats.lock().connection_closed(now, true);
                }
                n.conn = Conn::Down;
                self.net.outputs.push_back(Output::Close { node: id });
            }
            for f in in_flight {
                match f.pending {
                    Pending::Produce(batches) => {
                        for b in batches {
                            self.complete(now, b, Err(err.clone()));
                        }
                    }
                    Pending::Telemetry(_) => self.telemetry_failed(now),
                    _ => {}
                }
            }
        }
    }

    // ---------------------------------------------------------------- produce

    fn is_muted(muted: &FxHashMap<Arc<str>, Vec<i32>>, topic: &str, partition: i32) -> bool {
        muted.get(topic).is_some_and(|ps| ps.contains(&partition))
    }

    fn send_produce(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        let cluster = self.shared.cluster();
        let mut expired = std::mem::take(&mut self.expired_scratch);
        let mut ready = std::mem::take(&mut self.ready_scratch);
        {
            let muted = &self.muted;
            let is_muted = |t: &str, p: i32| Self::is_muted(muted, t, p);
            let none = |_: &str, _: i32| false;
            let check: &dyn Fn(&str, i32) -> bool =
                if muted.is_empty() { &none } else { &is_muted };
            // Everything is sendable now while closing or completing a transaction.
            let drain_all = self.run == RunState::Closing || self.txn_flushing;
            self.shared
                .acc
                .ready(&cluster, now, drain_all, check, &mut expired, &mut ready);
        }
        for b in expired.drain(..) {
            let err = Error::DeliveryTimeout {
                topic: b.topic.to_string(),
                partition: b.partition,
                after: self.cfg.delivery_timeout,
                last_error: b.last_error.clone().map(Box::new),
            };
            self.complete(now, b, Err(err));
        }
        self.expired_scratch = expired;
        for t in &ready.active_topics {
            self.metadata.add_topic(t, now);
        }
        if ready.unknown_leaders {
            // Batches wait for a leader: poll again when the refresh is due, even if no other
            // event comes (after a rebootstrap, the first metadata may not have the topic yet).
            // A refresh that was already due was tried earlier in this poll: if no node could
            // take it, that path chose when to try again; waking at its (past) due time would
            // poll in a busy loop until a node frees up (found by the randomized simulation,
            // seed 0x5eed0010).
            let was_due = self.metadata.should_refresh(now);
            self.metadata.request_update();
            if let Some(t) = self.metadata.next_refresh() {
                if t > now || !was_due {
                    wake_at(t);
                }
            }
        }
        if self.cfg.adaptive_partitioning {
            self.update_partition_load(now, &cluster, &ready);
        }
        if let Some(t) = ready.next_check {
            wake_at(t);
        }
        // After a rebootstrap the leaders are unknown until a bootstrap server answers.
        let leaders_known = self.metadata.brokers_known();
        let drain = !self.cfg.idempotent
            || self.idem.can_send()
            || (self.shared.txn.is_none() && self.idem.retrying_before_reset());
        if leaders_known && drain {
            for &node in &ready.ready_nodes {
                if !self.net.nodes.contains_key(&node) {
                    continue;
                }
                match self.net.nodes[&node].conn {
                    Conn::Down => {
                        let at = self.net.nodes[&node].next_connect;
                        if at <= now {
                            self.connect(node);
                        } else {
                            wake_at(at);
                            // Records wait for a leader we cannot reach: it may have died and
                            // been replaced (no KIP-951 hint comes from a dead broker). Keep
                            // metadata refreshing (every retry.backoff.ms, as librdkafka's fast
                            // refresh) rather than once per reconnect attempt (up to
                            // reconnect.backoff.max.ms apart).
                            self.metadata.request_update();
                        }
                        continue;
                    }
                    Conn::Connecting => continue,
                    Conn::Up(_) => {}
                }
                // KIP-219: the broker asked us to wait; its batches stay queued (and still
                // expire at delivery.timeout.ms). `poll` wakes when the throttle ends.
                if self.net.nodes[&node].throttled_until(now).is_some() {
                    continue;
                }
                // One request per node per poll, as Java's drain. `drain` does not look at
                // linger.ms, so draining again in this poll would send the batch right behind a
                // full one (still open, not lingered). The next poll runs `ready` again and
                // sends what is sendable then.
                if self.net.nodes[&node].produce_in_flight() < self.cfg.max_in_flight
                    && self.send_one_request(now, node, &cluster)
                {
                    wake_at(now);
                }
            }
        }
        self.ready_scratch = ready;
    }

    fn update_partition_load(&mut self, now: Instant, cluster: &Cluster, ready: &ReadyCheck) {
        let timeout = self.cfg.partitioner_availability_timeout;
        for (topic, range) in &ready.load {
            let ids = &ready.load_ids[range.clone()];
            let sizes = &ready.load_sizes[range.clone()];
            if timeout.is_zero() {
                self.shared.sticky.update_load_stats(topic, ids, sizes);
                continue;
            }
            // Leave out partitions whose leader has been unavailable for longer than
            // partitioner.availability.timeout.ms.
            let mut fids = Vec::with_capacity(ids.len());
            let mut fsizes = Vec::with_capacity(ids.len());
            for (&p, &s) in ids.iter().zip(sizes) {
                let leader = cluster
                    .topic(topic)
                    .and_then(|t| t.partitions.get(p as usize))
                    .and_then(|p| p.leader);
                let unavailable = leader
                    .and_then(|l| self.net.nodes.get(&l))
                    .and_then(|n| n.unavailable_since)
                    .is_some_and(|since| now.saturating_duration_since(since) > timeout);
                if !unavailable {
                    fids.push(p);
                    fsizes.push(s);
                }
            }
            self.shared.sticky.update_load_stats(topic, &fids, &fsizes);
        }
    }

    /// Drains one request's worth of batches for `node` and sends it. Returns whether a
    /// request was sent.
    fn send_one_request(&mut self, now: Instant, node: i32, cluster: &Cluster) -> bool {
        let version = match &self.net.nodes[&node].conn {
            Conn::Up(v) => match v.negotiate(ApiKey::Produce) {
                // Transaction protocol version 1 (explicit AddPartitionsToTxn) stops at v11:
                // v12 tells the broker the client speaks version 2 (txn/protocol.rs).
                Ok(v) if self.shared.txn.is_some() => v.min(self.txn_produce_max()),
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(node, error = %e, "broker cannot take produce requests");
                    return false;
                }
            },
            _ => return false,
        };
        let overhead = produce::overhead_upper_bound(
            &self.cfg.client_id,
            self.cfg.transactional_id.as_deref(),
        );
        let max_size = self.cfg.max_request_size.saturating_sub(overhead).max(1);
        let mut start = self.drain_start.get(&node).copied().unwrap_or(0);
        let idempotent = self.cfg.idempotent;
        let idem = &mut self.idem;
        let muted = &self.muted;
        let is_muted = |t: &str, p: i32| !muted.is_empty() && Self::is_muted(muted, t, p);
        // In a transaction, a partition's batches wait until the partition is added to it.
        let mut txn = self.shared.txn.as_ref().map(|t| t.lock());
        let mut stamp = |b: &ProducerBatch| {
            if let Some(t) = txn.as_ref() {
                let open = matches!(
                    t.state(),
                    crate::txn::TxnState::InTransaction | crate::txn::TxnState::Committing
                );
                if !open || !t.is_partition_added(&b.topic, b.partition) {
                    return Err(());
                }
            }
            let stamped = if idempotent { idem.stamp(b) } else { Ok(None) };
            if let (Ok(_), Some(t)) = (&stamped, txn.as_mut()) {
                t.on_batch_sent();
            }
            stamped
        };
        let mut batches = Vec::new();
        self.shared.acc.drain(
            cluster,
            node,
            max_size,
            now,
            &mut start,
            &is_muted,
            &mut stamp,
            &mut self.drain_queues,
            &mut batches,
        );
        drop(txn);
        self.drain_start.insert(node, start);
        if batches.is_empty() {
            return false;
        }
        // A batch that failed to close (compression error) fails now.
        let (batches, failed): (Vec<_>, Vec<_>) =
            batches.into_iter().partition(|b| b.closed.is_some());
        for mut b in failed {
            let e = b
                .last_error
                .take()
                .unwrap_or(Error::Closed("batch could not be closed"));
            self.complete(now, b, Err(e));
        }
        if batches.is_empty() {
            return true;
        }
        let corr = self.net.next_correlation();
        let mut by_topic: Vec<produce::TopicData<'_>> = Vec::new();
        for b in &batches {
            let bytes = b.closed.as_ref().expect("closed").share();
            match by_topic.iter_mut().find(|t| t.name == &*b.topic) {
                Some(t) => t.partitions.push((b.partition, bytes)),
                None => by_topic.push(produce::TopicData {
                    name: &b.topic,
                    partitions: vec![(b.partition, bytes)],
                }),
            }
        }
        let frame = produce::encode_produce(
            &mut self.frame_buf,
            version,
            corr,
            &self.cfg.client_id,
            self.cfg.transactional_id.as_deref(),
            self.cfg.acks,
            self.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32,
            &by_topic,
        );
        drop(by_topic);
        let c = &self.shared.counters;
        Counters::add(&c.request, 1);
        Counters::add(&c.outgoing_bytes, frame.len() as u64);
        Counters::add(&c.batch_send, batches.len() as u64);
        let span = observe::produce_sent(&self.shared, now, node, frame.len(), &batches);
        let mut batches = batches;
        for b in &mut batches {
            b.sent_leader_epoch = cluster.leader_epoch(&b.topic, b.partition);
            if b.attempts == 0 {
                let closed = b.closed.as_ref().expect("closed");
                Counters::add(&c.compressed_bytes, closed.as_bytes().len() as u64);
                Counters::add(&c.uncompressed_bytes, closed.uncompressed_size() as u64);
            } else {
                Counters::add(&c.record_retry, b.record_count as u64);
            }
            b.attempts += 1;
            b.last_attempt = now;
            b.retry_at = None;
            b.state = BatchState::InFlight;
            if self.cfg.max_in_flight == 1 {
                self.muted
                    .entry(b.topic.clone())
                    .or_default()
                    .push(b.partition);
            }
        }
        self.net.outputs.push_back(Output::Send { node, frame });
        let n = self.net.nodes.get_mut(&node).expect("node exists");
        n.last_activity = now;
        if self.cfg.acks == 0 {
            // No response will come: the batches are done once written.
            for b in batches {
                self.complete(
                    now,
                    b,
                    Ok(Ack {
                        base_offset: -1,
                        log_append_time: -1,
                    }),
                );
            }
        } else {
            n.in_flight.push_back(InFlight {
                correlation_id: corr,
                api: ApiKey::Produce,
                version,
                sent: now,
                deadline: deadline(now, self.cfg.request_timeout),
                pending: Pending::Produce(batches),
                span,
            });
        }
        true
    }

    fn handle_produce_response(
        &mut self,
        now: Instant,
        batches: Vec<ProducerBatch>,
        resp: kafka_protocol::messages::ProduceResponse,
    ) {
        type PartResp = kafka_protocol::messages::produce_response::PartitionProduceResponse;
        let flat: Vec<(&str, &PartResp)> = resp
            .responses
            .iter()
            .flat_map(|t| {
                t.partition_responses
                    .iter()
                    .map(move |p| (t.name.0.as_str(), p))
            })
            .collect();
        // A few partitions per request (the common case): a scan beats hashing.
        let index: Option<FxHashMap<(&str, i32), &PartResp>> =
            (flat.len() > 8).then(|| flat.iter().map(|&(t, p)| ((t, p.index), p)).collect());
        let find = |topic: &str, partition: i32| -> Option<&PartResp> {
            match &index {
                Some(m) => m.get(&(topic, partition)).copied(),
                None => flat
                    .iter()
                    .find(|(t, p)| p.index == partition && *t == topic)
                    .map(|&(_, p)| p),
            }
        };
        let mut outcomes = Vec::with_capacity(batches.len());
        for b in batches {
            let r = find(&b.topic, b.partition).map(|p| {
                (
                    KafkaCode(p.error_code),
                    p.base_offset,
                    p.log_append_time_ms,
                    p.error_message.as_ref().map(|m| m.to_string()).or_else(|| {
                        p.record_errors.first().and_then(|e| {
                            e.batch_index_error_message.as_ref().map(|m| m.to_string())
                        })
                    }),
                )
            });
            outcomes.push((b, r));
        }
        for (b, r) in outcomes {
            match r {
                None => {
                    let err = Error::Protocol {
                        broker: String::new(),
                        source: crate::error::ProtocolError::Decode {
                            what: "Produce response",
                            reason: format!("no result for {}-{}", b.topic, b.partition),
                        },
                    };
                    self.retry_or_fail(now, b, err, true);
                }
                Some((code, base_offset, log_append_time, message)) => {
                    self.handle_partition_result(
                        now,
                        b,
                        code,
                        base_offset,
                        log_append_time,
                        message,
                    );
                }
            }
        }
    }

    fn handle_partition_result(
        &mut self,
        now: Instant,
        mut b: ProducerBatch,
        code: KafkaCode,
        base_offset: i64,
        log_append_time: i64,
        message: Option<String>,
    ) {
        if code.is_ok() || code == KafkaCode::DUPLICATE_SEQUENCE_NUMBER {
            self.complete(
                now,
                b,
                Ok(Ack {
                    base_offset,
                    log_append_time,
                }),
            );
            return;
        }
        // Not a batch that may be in the log (an attempt got no answer): the leader checks the
        // size before it looks for a duplicate, so after max.message.bytes was lowered the
        // halves' sequences would be refused as out of order and then written again under a
        // new epoch. It fails instead (maybe written). In a transaction it is split: a half
        // refused as out of order fails the transaction, and the abort discards the rest.
        let may_be_in_log = self.cfg.idempotent && self.shared.txn.is_none() && b.maybe_written;
        if code == KafkaCode::MESSAGE_TOO_LARGE && b.record_count > 1 && !may_be_in_log {
            self.unmute(&b);
            let (topic, partition) = (b.topic.clone(), b.partition);
            let count = b.record_count;
            match self.shared.acc.split_and_reenqueue(b, now) {
                Ok(()) => {
                    tracing::info!(topic = %topic, partition, records = count, "batch too large for the broker; split in two");
                    Counters::add(&self.shared.counters.batch_split, 1);
                    self.shared.stats.lock().batch_split(now);
                    // The parent's base sequence stays unacknowledged: the first half starts
                    // there (the second half's is added when it is drained). Dropping it would
                    // make a later batch, refused as OUT_OF_ORDER because of this one, look like
                    // the partition's first unacknowledged batch and bump the epoch for nothing.
                    return;
                }
                Err(b) => {
                    let b = *b;
                    let err = Error::partition(&b.topic, b.partition, code, message);
                    self.complete(now, b, Err(err));
                    return;
                }
            }
        }
        if code.invalidates_metadata() {
            self.metadata.request_update();
        }
        let err = Error::partition(&b.topic, b.partition, code, message);
        // CONCURRENT_TRANSACTIONS is retriable for Java too (a transaction version 2 batch
        // that reached the leader while the previous transaction's markers were being written).
        let mut retriable = code.is_retriable() || code == KafkaCode::CONCURRENT_TRANSACTIONS;
        if self.cfg.idempotent {
            if code == KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                || code == KafkaCode::UNKNOWN_PRODUCER_ID
            {
                // If the broker acknowledged later sequences, it has this batch: its
                // acknowledgement was lost and the retry is too old for the broker's duplicate
                // window. It fails (the record is in the log, at an offset nobody told us) and
                // nothing is bumped (found by the randomized simulation, seed 0x3603: taken as
                // a gap, the bump restamped it and it was written twice).
                // If an earlier batch of the partition is unresolved, this one was refused
                // because of it: retry in order. Otherwise the broker lost our state: the
                // epoch is bumped and the batch retried with new sequences.
                if code == KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER && self.idem.acked_past(&b) {
                    b.maybe_written = true;
                    let err = Error::partition(
                        &b.topic,
                        b.partition,
                        code,
                        Some(
                            "the broker has later sequences of this producer, so it has this \
                             batch too, but its acknowledgement was lost (the records are in \
                             the log; their offsets are unknown)"
                                .into(),
                        ),
                    );
                    self.retry_or_fail(now, b, err, false);
                    return;
                }
                if !self.idem.is_first_unacked(&b) {
                    retriable = true;
                } else if self.shared.txn.is_some() {
                    // In a transaction the gap cannot be repaired mid-transaction: the batch
                    // fails, the transaction must be aborted, and the epoch is bumped then.
                    self.idem.needs_reset = true;
                    retriable = false;
                } else {
                    // The broker lacks the sequence, whatever an earlier attempt did.
                    b.maybe_written = false;
                    self.idem.gap_at(&b);
                    retriable = true;
                }
            }
            if code == KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                || code == KafkaCode::REQUEST_TIMED_OUT
            {
                // The leader appended it and then waited for the replicas (acks=all): it is
                // in the log, as after a lost answer (Java: a TimeoutException leaves the
                // sequence unresolved).
                b.maybe_written = true;
            }
            if code == KafkaCode::INVALID_PRODUCER_EPOCH || code == KafkaCode::PRODUCER_FENCED {
                self.fatal(now, err.clone());
                self.complete(now, b, Err(Error::Fatal(Box::new(err))));
                return;
            }
        }
        self.retry_or_fail(now, b, err, retriable);
    }

    fn unmute(&mut self, b: &ProducerBatch) {
        if let Some(ps) = self.muted.get_mut(&*b.topic) {
            ps.retain(|&p| p != b.partition);
        }
    }

    /// Retries a failed batch if the error is retriable, retries remain and its delivery
    /// timeout has not passed; otherwise fails it.
    fn retry_or_fail(&mut self, now: Instant, mut b: ProducerBatch, err: Error, retriable: bool) {
        self.unmute(&b);
        if matches!(err, Error::Network { .. }) {
            // No answer: the broker may have the batch, whatever later attempts are answered
            // (found by the randomized simulation, seed 0xf493e: an answered retry made it look
            // unwritten, and an epoch bump restamped the batches behind it).
            b.maybe_written = true;
        }
        let expired = b.has_expired(now, self.cfg.delivery_timeout);
        if retriable && !expired && b.attempts <= self.cfg.retries {
            tracing::debug!(topic = %b.topic, partition = b.partition, attempts = b.attempts, error = %err, "retrying batch");
            if self.cfg.idempotent && self.shared.txn.is_none() {
                self.idem.on_retry(&b, b.maybe_written);
            }
            b.last_error = Some(err);
            // The partition has a new leader since this attempt (KIP-951): no backoff.
            let wait = if self.leader_moved_since(&b.topic, b.partition, b.sent_leader_epoch) {
                Duration::ZERO
            } else {
                backoff(
                    self.cfg.retry_backoff,
                    self.cfg.retry_backoff_max,
                    b.attempts,
                    &mut self.rng,
                )
            };
            self.shared.acc.reenqueue(b, now, wait);
            return;
        }
        let err = if expired && retriable {
            Error::DeliveryTimeout {
                topic: b.topic.to_string(),
                partition: b.partition,
                after: self.cfg.delivery_timeout,
                last_error: Some(Box::new(err)),
            }
        } else {
            err
        };
        self.complete(now, b, Err(err));
    }

    /// Resolves a batch, exactly once.
    fn complete(&mut self, now: Instant, b: ProducerBatch, result: Result<Ack, Error>) {
        self.unmute(&b);
        if self.cfg.idempotent {
            // Failed after a request that got no answer (connection lost or timed out), at
            // this attempt or an earlier one: the broker may have it. In a transaction the
            // abort discards it anyway: bump then.
            let maybe_written = self.shared.txn.is_none()
                && (b.maybe_written
                    || match &result {
                        Err(Error::Network { .. }) => true,
                        Err(Error::DeliveryTimeout {
                            last_error: Some(e),
                            ..
                        }) => matches!(**e, Error::Network { .. }),
                        _ => false,
                    });
            self.idem.on_batch_done(&b, result.is_ok(), maybe_written);
        }
        if let Err(e) = &result {
            self.txn_batch_failed(e);
        }
        let c = &self.shared.counters;
        match &result {
            Ok(_) => Counters::add(&c.record_send, b.record_count as u64),
            Err(_) => {
                Counters::add(&c.record_error, b.record_count as u64);
                let mut stats = self.shared.stats.lock();
                stats.records_failed(now, Some(&b.topic), b.record_count);
            }
        }
        let span = observe::batch_span(&b, &result);
        span.in_scope(|| {
            self.shared
                .acc
                .complete(b, result, &self.shared.interceptors)
        });
    }
}
