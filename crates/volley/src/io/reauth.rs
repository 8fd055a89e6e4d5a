//! Re-authentication of a live connection before its SASL session ends (KIP-368).
//!
//! A broker that sets `connections.max.reauth.ms` tells the client the session's lifetime in
//! the SaslAuthenticate response; past it, the broker closes the connection at its next
//! request. Like Java's client, Volley re-authenticates on the same connection at a random
//! point between 85 % and 95 % of the lifetime: the connection's writer stops writing the
//! sender's frames (they wait in its queue, in order), runs SaslHandshake + SaslAuthenticate,
//! then goes on. Requests already in flight are answered first (a broker handles one request
//! per connection at a time, in order) and reach the sender as usual; the re-authentication's
//! own responses are told apart by their correlation ids, which are negative while the
//! sender's never are. Nothing in flight fails, repeats or changes order.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::io::stream::{write_flushed, WriteHalf};
use crate::protocol::frame::{self, BrokerVersions, Request};
use crate::security::sasl::exchange::SaslTransport;

/// Whether a response frame answers a re-authentication request (its correlation id, the
/// first four bytes of the frame, is negative).
pub(crate) fn is_reauth_response(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x80 != 0)
}

/// How many re-authentication responses the reader may hold for the writer. An exchange has
/// one request outstanding at a time, so more is a broker fault (frames no request asked for):
/// the reader closes the connection rather than keep them (`io/driver.rs`).
pub(crate) const RESPONSE_QUEUE: usize = 2;

/// When to re-authenticate a session of `lifetime` that began at `start`: at a uniformly
/// random point between 85 % and 95 % of it (Java's `KafkaChannel` rule). `unit` is a random
/// number in `0.0..1.0`.
pub(crate) fn reauth_at(start: Instant, lifetime: Duration, unit: f64) -> Instant {
    let fraction = 0.85 + 0.10 * unit.clamp(0.0, 1.0);
    crate::util::time::deadline(start, lifetime.mul_f64(fraction))
}

/// The transport of a re-authentication: requests are written by the connection's writer,
/// responses come from its reader through `responses`.
pub(crate) struct ReauthTransport<'a> {
    pub broker: &'a str,
    pub client_id: &'a str,
    pub versions: &'a BrokerVersions,
    pub writer: &'a mut WriteHalf,
    pub responses: &'a mut mpsc::Receiver<Bytes>,
    /// Each round trip's bound (`request.timeout.ms`).
    pub timeout: Duration,
    /// The next correlation id: negative, counting down from -1.
    pub next_correlation_id: i32,
}

impl SaslTransport for ReauthTransport<'_> {
    fn broker(&self) -> &str {
        self.broker
    }

    fn versions(&self) -> &BrokerVersions {
        self.versions
    }

    async fn round_trip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let corr = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.checked_sub(1).unwrap_or(-1);
        let mut buf = BytesMut::new();
        frame::encode_request(&mut buf, version, corr, self.client_id, req)
            .map_err(|e| Error::protocol(self.broker, e))?;
        let broker = self.broker.to_string();
        let exchange = async {
            write_flushed(self.writer.as_mut(), &buf)
                .await
                .map_err(|e| Error::network(&broker, e))?;
            self.responses.recv().await.ok_or_else(|| Error::Network {
                broker: broker.clone(),
                message: "connection closed during re-authentication".into(),
                source: None,
            })
        };
        let frame = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Network {
                broker: broker.clone(),
                message: format!(
                    "re-authentication timed out after {:?} (request.timeout.ms)",
                    self.timeout
                ),
                source: None,
            })??;
        frame::decode_response::<R>(frame, version, corr).map_err(|e| Error::protocol(&broker, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauth_point_is_between_85_and_95_percent() {
        let t0 = Instant::now();
        let life = Duration::from_secs(100);
        assert_eq!(reauth_at(t0, life, 0.0), t0 + Duration::from_secs(85));
        assert_eq!(reauth_at(t0, life, 1.0), t0 + Duration::from_secs(95));
        let mid = reauth_at(t0, life, 0.5);
        assert!(mid > t0 + Duration::from_secs(89) && mid < t0 + Duration::from_secs(91));
    }

    #[test]
    fn reauth_responses_are_told_apart_by_sign() {
        assert!(is_reauth_response(&(-1i32).to_be_bytes()));
        assert!(is_reauth_response(&i32::MIN.to_be_bytes()));
        assert!(!is_reauth_response(&0i32.to_be_bytes()));
        assert!(!is_reauth_response(&i32::MAX.to_be_bytes()));
        assert!(!is_reauth_response(&[]));
    }
}
