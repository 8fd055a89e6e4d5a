//! The sender's network client (Java's `NetworkClient` with `InFlightRequests`): the nodes the
//! producer knows, their connection state, reconnect backoff and setup timeouts, the requests
//! in flight on each connection with their correlation ids and deadlines, and idle close.
//!
//! Sans IO like the rest of the sender: it queues [`Output`]s for the driver and is told the
//! time. What a request means (a produce batch, metadata, a transactional step) is the
//! sender's business: an in-flight request carries a [`Pending`] that the sender gets back
//! with its response, or when the connection goes down.

use std::collections::{BTreeMap, VecDeque};
use std::ops::RangeInclusive;
use std::time::Instant;

use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;

use super::{backoff, Output, Pending, SenderConfig};
use crate::error::Error;
use crate::metrics::Counters;
use crate::protocol::frame::{self, BrokerVersions, Request};
use crate::protocol::request_frame::RequestFrame;
use crate::shared::Shared;
use crate::util::time::deadline;

/// Any version both sides speak (for [`NetworkClient::send_request`]).
pub(crate) const ANY_VERSION: RangeInclusive<i16> = i16::MIN..=i16::MAX;

/// A node's connection.
#[derive(Debug)]
pub(super) enum Conn {
    Down,
    Connecting,
    Up(BrokerVersions),
}

/// Which nodes may take a request not bound to a node ([`NetworkClient::candidate`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Candidates<'a> {
    /// No metadata has named brokers yet (or a rebootstrap is under way): the bootstrap
    /// servers.
    Bootstrap,
    /// The brokers the current metadata names.
    Brokers(&'a std::collections::HashMap<i32, crate::metadata::BrokerInfo>),
}

/// The longest throttle a response can impose (KIP-219 bad input: a throttle of hours). A
/// broker's own throttles are bounded by its quota window (`quota.window.num` ×
/// `quota.window.size.seconds`, 11 s by default), so a longer one is a broker fault: it is
/// capped, with a warning, so that a broker that recovers is used again.
pub(super) const MAX_CLIENT_THROTTLE: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether a response to `api` at `version` makes the client throttle itself (KIP-219): from
/// the version where the broker answers at once and expects the client to wait, as each Java
/// response's `shouldClientThrottle`. Earlier versions are throttled by the broker, which
/// delays its response.
pub(super) fn client_throttles(api: ApiKey, version: i16) -> bool {
    let from = match api {
        ApiKey::Produce | ApiKey::Metadata => 6,
        ApiKey::FindCoordinator => 2,
        ApiKey::InitProducerId
        | ApiKey::AddPartitionsToTxn
        | ApiKey::AddOffsetsToTxn
        | ApiKey::EndTxn
        | ApiKey::TxnOffsetCommit => 1,
        _ => return false,
    };
    version >= from
}

/// A request written on a connection, waiting for its response.
#[derive(Debug)]
pub(super) struct InFlight {
    pub correlation_id: i32,
    pub api: ApiKey,
    pub version: i16,
    pub sent: Instant,
    /// `request.timeout.ms` after `sent`.
    pub deadline: Instant,
    pub pending: Pending,
    /// A Produce request's `produce_request` span (`sender/observe.rs`), closed with its
    /// answer; `Span::none()` otherwise or when the span is disabled.
    pub span: tracing::Span,
}

/// A broker (or, with a negative id, a bootstrap server) and its connection.
#[derive(Debug)]
pub(super) struct Node {
    pub addr: String,
    pub conn: Conn,
    /// In send order; responses come back in the same order.
    pub in_flight: VecDeque<InFlight>,
    pub last_activity: Instant,
    /// Consecutive failed connection attempts (the exponent of the backoff).
    pub failures: u32,
    pub next_connect: Instant,
    /// Since when the node has had no working connection (for the partitioner's
    /// `partitioner.availability.timeout.ms`).
    pub unavailable_since: Option<Instant>,
    /// KIP-219: the broker asked (a response's `throttle_time_ms`) that nothing more be sent
    /// to it before then. Requests already in flight are not affected.
    pub throttle_until: Option<Instant>,
    /// Consecutive Metadata answers refused for coming from another cluster: they grow the
    /// reconnect backoff as failed connections do, and a successful connect does not reset
    /// them (only metadata accepted from the node does).
    pub refusals: u32,
}

impl Node {
    pub fn new(addr: String, now: Instant) -> Node {
        Node {
            addr,
            conn: Conn::Down,
            in_flight: VecDeque::new(),
            last_activity: now,
            failures: 0,
            next_connect: now,
            unavailable_since: None,
            throttle_until: None,
            refusals: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        matches!(self.conn, Conn::Up(_))
    }

    /// When the broker's throttle ends, if it is still throttled at `now`.
    pub fn throttled_until(&self, now: Instant) -> Option<Instant> {
        self.throttle_until.filter(|&t| t > now)
    }

    /// Connected and not throttled: a new request may be written (Java's
    /// `ClusterConnectionStates.isReady`).
    pub fn is_ready(&self, now: Instant) -> bool {
        self.is_up() && self.throttled_until(now).is_none()
    }

    /// The next connection attempt waits `reconnect.backoff.ms` doubled for each of
    /// `attempts` after the first (with jitter), up to `reconnect.backoff.max.ms`.
    pub fn back_off(
        &mut self,
        now: Instant,
        attempts: u32,
        cfg: &SenderConfig,
        rng: &mut fastrand::Rng,
    ) {
        let wait = backoff(
            cfg.reconnect_backoff,
            cfg.reconnect_backoff_max,
            attempts,
            rng,
        );
        self.next_connect = deadline(now, wait);
    }

    pub fn produce_in_flight(&self) -> usize {
        self.in_flight
            .iter()
            .filter(|f| matches!(f.pending, Pending::Produce(_)))
            .count()
    }
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct NetworkClient {
    pub nodes: BTreeMap<i32, Node>,
    pub outputs: VecDeque<Output>,
    next_correlation_id: i32,
}

impl NetworkClient {
    /// A client knowing only the bootstrap servers, which get negative ids until metadata names
    /// the real brokers.
    pub fn new(bootstrap: &[String], now: Instant) -> NetworkClient {
        let nodes = bootstrap
            .iter()
            .enumerate()
            .map(|(i, addr)| (-(i as i32) - 1, Node::new(addr.clone(), now)))
            .collect();
        NetworkClient {
            nodes,
            outputs: VecDeque::new(),
            next_correlation_id: 0,
        }
    }

    /// The next output for the driver.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next correlation id (non-negative, wrapping).
    pub fn next_correlation(&mut self) -> i32 {
        let c = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        c
    }

    /// KIP-219: a response from `node` to `api` at `version` said `throttle_time_ms`; if the
    /// client must throttle itself at that version ([`client_throttles`]), nothing more is sent
    /// to the node before `now + throttle_time_ms` (a later end never shortens an earlier one,
    /// as Java's `ClusterConnectionStates.throttle`).
    pub fn throttle(&mut self, now: Instant, node: i32, api: ApiKey, version: i16, ms: i32) {
        if ms <= 0 || !client_throttles(api, version) {
            return;
        }
        if let Some(n) = self.nodes.get_mut(&node) {
            let asked = std::time::Duration::from_millis(ms as u64);
            if asked > MAX_CLIENT_THROTTLE {
                tracing::warn!(
                    node,
                    throttle_ms = ms,
                    cap_ms = MAX_CLIENT_THROTTLE.as_millis() as u64,
                    "broker asked for an implausibly long throttle; capped"
                );
            }
            let until = deadline(now, asked.min(MAX_CLIENT_THROTTLE));
            tracing::debug!(
                node,
                throttle_ms = ms,
                ?api,
                "broker throttles the client (KIP-219)"
            );
            n.throttle_until = Some(n.throttle_until.map_or(until, |t| t.max(until)));
        }
    }

    /// The earliest end of a throttle still running at `now` (for `poll_timeout`).
    pub fn next_throttle_end(&self, now: Instant) -> Option<Instant> {
        self.nodes
            .values()
            .filter_map(|n| n.throttled_until(now))
            .min()
    }

    /// Nodes whose oldest request in flight is past its deadline (`request.timeout.ms`).
    pub fn expired_nodes(&self, now: Instant) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.in_flight.front().is_some_and(|f| f.deadline <= now))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Closes connections idle (nothing in flight) for `idle` (`connections.max.idle.ms`);
    /// asks to be woken when the next one will be.
    pub fn close_idle(
        &mut self,
        now: Instant,
        idle: std::time::Duration,
        wake_at: &mut impl FnMut(Instant),
    ) {
        let mut to_close = Vec::new();
        for (id, n) in &self.nodes {
            if n.is_up() && n.in_flight.is_empty() {
                let at = deadline(n.last_activity, idle);
                if at <= now {
                    to_close.push(*id);
                } else {
                    wake_at(at);
                }
            }
        }
        for id in to_close {
            tracing::debug!(
                node = id,
                "closing idle connection (connections.max.idle.ms)"
            );
            self.outputs.push_back(Output::Close { node: id });
            if let Some(n) = self.nodes.get_mut(&id) {
                n.conn = Conn::Down;
            }
        }
    }

    /// Whether `id` may be picked for a request not bound to a node: a broker the current
    /// metadata names, once it names brokers, else a bootstrap server (negative id). Brokers
    /// of an earlier metadata keep their connection state (reconnect backoff, KIP-219
    /// throttle) across a rebootstrap, as in Java's `ClusterConnectionStates`, but are not
    /// used until metadata names them again.
    pub fn candidate(id: i32, brokers: Candidates<'_>) -> bool {
        match brokers {
            Candidates::Bootstrap => id < 0,
            Candidates::Brokers(b) => id >= 0 && b.contains_key(&id),
        }
    }

    /// Whether some node could take a request now or soon (Java's
    /// `LeastLoadedNode.hasNodeAvailableOrConnectionReady`): one is connected (even if
    /// throttled or at its in-flight limit), connecting, or past its reconnect backoff. Once
    /// metadata has named brokers, only brokers count. When none does, a
    /// producer with `metadata.recovery.strategy=rebootstrap` bootstraps again.
    pub fn any_node_available(&self, now: Instant, brokers: Candidates<'_>) -> bool {
        self.nodes
            .iter()
            .filter(|(id, _)| Self::candidate(**id, brokers))
            .any(|(_, n)| match n.conn {
                Conn::Up(_) | Conn::Connecting => true,
                Conn::Down => n.next_connect <= now,
            })
    }

    /// The node for a non-produce request: a connected one with the fewest requests in flight,
    /// or, if none is connected, one to connect to (its connection is started). Once metadata
    /// has named brokers, only brokers are candidates, otherwise only the
    /// bootstrap servers ([`NetworkClient::candidate`]).
    pub fn least_loaded_node(
        &mut self,
        now: Instant,
        brokers: Candidates<'_>,
        cfg: &SenderConfig,
        rng: &mut fastrand::Rng,
        wake_at: &mut impl FnMut(Instant),
    ) -> Option<i32> {
        let candidate = |id: &i32| Self::candidate(*id, brokers);
        if let Some((&id, _)) = self
            .nodes
            .iter()
            .filter(|(id, n)| {
                candidate(id) && n.is_ready(now) && n.in_flight.len() < cfg.max_in_flight
            })
            .min_by_key(|(_, n)| n.in_flight.len())
        {
            return Some(id);
        }
        // A connected broker that throttles us (KIP-219) is not ready, but it is reachable: wait
        // for its throttle (it does not count as unreachable, so no rebootstrap either).
        let throttled = self
            .nodes
            .iter()
            .filter(|(id, n)| candidate(id) && n.is_up())
            .filter_map(|(_, n)| n.throttled_until(now))
            .min();
        if let Some(t) = throttled {
            wake_at(t);
        }
        if self
            .nodes
            .iter()
            .any(|(id, n)| candidate(id) && matches!(n.conn, Conn::Connecting))
        {
            return None;
        }
        // Connect to the node that has waited longest for its backoff.
        let mut best: Option<(i32, Instant)> = None;
        for (id, n) in &self.nodes {
            if candidate(id)
                && matches!(n.conn, Conn::Down)
                && best.is_none_or(|(_, t)| n.next_connect < t)
            {
                best = Some((*id, n.next_connect));
            }
        }
        if let Some((id, at)) = best {
            if at <= now {
                self.connect(id, cfg, rng);
            } else {
                wake_at(at);
            }
        }
        None
    }

    /// Starts connecting to `node` if its connection is down.
    pub fn connect(&mut self, node: i32, cfg: &SenderConfig, rng: &mut fastrand::Rng) {
        if let Some(n) = self.nodes.get_mut(&node) {
            if matches!(n.conn, Conn::Down) {
                n.conn = Conn::Connecting;
                // socket.connection.setup.timeout.ms grows exponentially (with jitter) with the
                // node's consecutive failures, up to socket.connection.setup.timeout.max.ms.
                let timeout = backoff(
                    cfg.connection_setup_timeout,
                    cfg.connection_setup_timeout_max,
                    n.failures + 1,
                    rng,
                );
                self.outputs.push_back(Output::Connect {
                    node,
                    addr: n.addr.clone(),
                    timeout,
                });
            }
        }
    }

    /// Encodes and queues a non-produce request on connected `node`, in flight until its
    /// response (or `request.timeout.ms`), at the highest version both sides speak within
    /// `allowed` ([`ANY_VERSION`], or a transaction protocol's versions of EndTxn and
    /// TxnOffsetCommit); a broker whose highest common version is below it cannot take the
    /// request (`UnsupportedVersion`).
    #[allow(clippy::too_many_arguments)]
    pub fn send_request<R: Request>(
        &mut self,
        now: Instant,
        node: i32,
        req: &R,
        pending: Pending,
        cfg: &SenderConfig,
        shared: &Shared,
        allowed: RangeInclusive<i16>,
    ) -> Result<(), Error> {
        let versions = match &self.nodes[&node].conn {
            Conn::Up(v) => v,
            _ => unreachable!("requests go only to connected nodes"),
        };
        let addr = self.nodes[&node].addr.clone();
        let negotiated = versions
            .negotiate(R::KEY)
            .map_err(|e| Error::protocol(&addr, e))?;
        let version = negotiated.min(*allowed.end());
        if version < *allowed.start() {
            return Err(Error::protocol(
                &addr,
                crate::error::ProtocolError::UnsupportedVersion {
                    api: frame::api_name(R::KEY),
                    client_min: *allowed.start(),
                    client_max: *allowed.end(),
                    broker: format!("..={negotiated}"),
                },
            ));
        }
        let corr = self.next_correlation();
        let mut buf = BytesMut::new();
        frame::encode_request(&mut buf, version, corr, &cfg.client_id, req)
            .map_err(|e| Error::protocol(&addr, e))?;
        let frame = RequestFrame::from(buf.freeze());
        Counters::add(&shared.counters.outgoing_bytes, frame.len() as u64);
        shared.stats.lock().request_sent(now, node, frame.len());
        let n = self.nodes.get_mut(&node).expect("node exists");
        n.in_flight.push_back(InFlight {
            correlation_id: corr,
            api: R::KEY,
            version,
            sent: now,
            deadline: deadline(now, cfg.request_timeout),
            pending,
            span: tracing::Span::none(),
        });
        n.last_activity = now;
        self.outputs.push_back(Output::Send { node, frame });
        Ok(())
    }
}
