//! The sender's side of KIP-714 client telemetry: it sends what the
//! [`ClientTelemetry`](crate::telemetry::ClientTelemetry) state machine asks for, on the
//! sender's own connections and request path, and feeds it the answers.
//!
//! Requests go only to a broker whose ApiVersions response lists both GetTelemetrySubscriptions
//! and PushTelemetry (a broker without a telemetry receiver lists neither): the one used last
//! while it stays ready (KIP-714 keeps a client on one broker), else the ready one with the
//! fewest requests in flight. If no connection is up, the least loaded node is connected to,
//! as for metadata, but only once some broker has taken a telemetry request: a cluster that
//! never offered the APIs gets no connection for telemetry's sake. Nothing here runs per record: one snapshot of the counters per push.

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, GetTelemetrySubscriptionsRequest, PushTelemetryRequest};

use super::network::{Conn, NetworkClient, Node};
use super::{backoff, Pending, RunState, Sender};
use crate::error::ProtocolError;
use crate::protocol::frame;
use crate::telemetry::TelemetryRequest;

impl Sender {
    /// Whether every record has resolved and no produce request is in flight.
    pub(super) fn records_drained(&self) -> bool {
        !self.shared.acc.has_incomplete()
            && self.net.nodes.values().all(|n| {
                n.in_flight
                    .iter()
                    .all(|f| !matches!(f.pending, Pending::Produce(_)))
            })
    }

    /// Sends the telemetry request due at `now`, if any, and asks to be woken for the next.
    pub(super) fn poll_telemetry(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        if self.telemetry.is_none() {
            return;
        }
        // The last push waits for the records: it then reports their outcome.
        if self.run == RunState::Closing && self.records_drained() {
            if let Some(t) = self.telemetry.as_mut() {
                t.initiate_close();
            }
        }
        let Some(due) = self.telemetry.as_ref().and_then(|t| t.due()) else {
            return;
        };
        if due > now {
            wake_at(due);
            return;
        }
        let terminating = self.run == RunState::Closing;
        let Some(node) = self.telemetry_node(now, terminating, wake_at) else {
            // The last push waits only for a ready broker that is busy (its requests in flight
            // answer within request.timeout.ms), never for a connection or a throttle.
            if terminating && !self.telemetry_broker_ready(now) {
                if let Some(t) = self.telemetry.as_mut() {
                    t.give_up_terminating_push();
                }
            }
            return;
        };
        let shared = self.shared.clone();
        let metrics = || {
            shared.counters.snapshot(
                shared.acc.pool.available() as u64,
                shared.acc.pool.total() as u64,
            )
        };
        let Some(t) = self.telemetry.as_mut() else {
            return;
        };
        let request = t.next_request(now, metrics);
        let sent = match request {
            None => {
                if let Some(at) = t.due() {
                    wake_at(at);
                }
                return;
            }
            Some(TelemetryRequest::Subscriptions(r)) => self
                .send_request::<GetTelemetrySubscriptionsRequest>(
                    now,
                    node,
                    &r,
                    Pending::Telemetry(ApiKey::GetTelemetrySubscriptions),
                ),
            Some(TelemetryRequest::Push(r)) => self.send_request::<PushTelemetryRequest>(
                now,
                node,
                &r,
                Pending::Telemetry(ApiKey::PushTelemetry),
            ),
        };
        match sent {
            Ok(()) => {
                self.telemetry_node = Some(node);
                self.telemetry_offered = true;
            }
            Err(e) => {
                tracing::warn!(node, error = %e, "cannot send a telemetry request");
                self.telemetry_failed(now);
            }
        }
    }

    /// The nodes a telemetry request may use: those of every non-produce request
    /// ([`super::network::NetworkClient::candidate`]).
    fn telemetry_candidates(&self) -> impl Iterator<Item = (i32, &Node)> {
        let brokers = self.candidates(self.metadata.cluster());
        self.net
            .nodes
            .iter()
            .filter(move |(id, _)| NetworkClient::candidate(**id, brokers))
            .map(|(id, n)| (*id, n))
    }

    /// Whether a broker offering the telemetry APIs is connected and not throttled.
    fn telemetry_broker_ready(&self, now: Instant) -> bool {
        self.telemetry_candidates()
            .any(|(_, n)| n.is_ready(now) && offers_telemetry(n))
    }

    /// The broker for a telemetry request (see the module docs). `None` if none is ready; when
    /// no connection is up at all (and the producer is not closing), one is started if a broker
    /// has taken a telemetry request before.
    fn telemetry_node(
        &mut self,
        now: Instant,
        closing: bool,
        wake_at: &mut impl FnMut(Instant),
    ) -> Option<i32> {
        let max_in_flight = self.cfg.max_in_flight;
        let usable =
            |n: &Node| n.is_ready(now) && n.in_flight.len() < max_in_flight && offers_telemetry(n);
        let sticky = self.telemetry_node;
        if let Some((id, _)) = self
            .telemetry_candidates()
            .find(|(id, n)| Some(*id) == sticky && usable(n))
        {
            return Some(id);
        }
        if let Some((id, _)) = self
            .telemetry_candidates()
            .filter(|(_, n)| usable(n))
            .min_by_key(|(_, n)| n.in_flight.len())
        {
            return Some(id);
        }
        let any_up = self.telemetry_candidates().any(|(_, n)| n.is_up());
        // Only once a broker has taken a telemetry request: a cluster that has never offered
        // the APIs gets no connection for telemetry's sake.
        if !any_up && !closing && self.telemetry_offered {
            // Connects (or waits for a connection) like a metadata request would; the
            // connection event wakes the sender.
            let _ = self.least_loaded_node(now, wake_at);
        }
        None
    }

    /// A telemetry request got no usable answer: the subscription is asked for again after a
    /// backoff (see [`crate::telemetry`]).
    pub(super) fn telemetry_failed(&mut self, now: Instant) {
        self.telemetry_failures += 1;
        let wait = backoff(
            self.cfg.retry_backoff,
            self.cfg.retry_backoff_max,
            self.telemetry_failures,
            &mut self.rng,
        );
        self.telemetry_node = None;
        if let Some(t) = self.telemetry.as_mut() {
            t.handle_failure(now, wait);
        }
    }

    /// A telemetry response from `node`.
    pub(super) fn handle_telemetry_response(
        &mut self,
        now: Instant,
        node: i32,
        api: ApiKey,
        frame: Bytes,
        version: i16,
        corr: i32,
    ) -> Result<(), ProtocolError> {
        let decoded = match api {
            ApiKey::GetTelemetrySubscriptions => {
                frame::decode_response::<GetTelemetrySubscriptionsRequest>(frame, version, corr)
                    .map(|resp| {
                        self.net
                            .throttle(now, node, api, version, resp.throttle_time_ms);
                        let jitter = self.rng.f64();
                        if let Some(t) = self.telemetry.as_mut() {
                            t.handle_subscriptions(now, &resp, jitter);
                        }
                    })
            }
            _ => frame::decode_response::<PushTelemetryRequest>(frame, version, corr).map(|resp| {
                self.net
                    .throttle(now, node, api, version, resp.throttle_time_ms);
                if let Some(t) = self.telemetry.as_mut() {
                    t.handle_push(now, &resp);
                }
            }),
        };
        match decoded {
            Ok(()) => {
                self.telemetry_failures = 0;
                Ok(())
            }
            Err(e) => {
                self.telemetry_failed(now);
                Err(e)
            }
        }
    }
}

/// Whether the node's ApiVersions listed both telemetry APIs (at versions this client speaks).
fn offers_telemetry(n: &Node) -> bool {
    match &n.conn {
        Conn::Up(v) => {
            v.negotiate(ApiKey::GetTelemetrySubscriptions).is_ok()
                && v.negotiate(ApiKey::PushTelemetry).is_ok()
        }
        _ => false,
    }
}
