//! Runs one SASL exchange over a broker connection: SaslHandshake v1 names the mechanism, then
//! SaslAuthenticate requests carry the mechanism's messages until it completes (KIP-152).
//! The same code serves the first authentication of a connection and each re-authentication
//! (KIP-368); only the transport differs.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::{SaslAuthenticator, Step};
use crate::error::{Error, KafkaCode, Result};
use crate::protocol::frame::{BrokerVersions, Request};

/// A connection that can make one request and wait for its response.
pub(crate) trait SaslTransport {
    /// The broker's address, for errors.
    fn broker(&self) -> &str;
    /// The broker's API versions (from the connection's ApiVersions exchange).
    fn versions(&self) -> &BrokerVersions;
    /// Sends `req` at `version` and returns the response to it.
    async fn round_trip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response>;
}

/// What a successful exchange tells about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Authenticated {
    /// The broker's `session_lifetime_ms` (KIP-368): the connection must re-authenticate
    /// before this much time has passed. `None` when the broker sets no limit.
    pub session_lifetime: Option<Duration>,
}

/// Authenticates the connection behind `t` with `auth`'s mechanism.
///
/// Errors: `Error::Authentication` (mechanism not enabled, credentials refused, a token
/// provider that failed), or the transport's own network and protocol errors.
pub(crate) async fn authenticate<T: SaslTransport>(
    t: &mut T,
    auth: &SaslAuthenticator,
) -> Result<Authenticated> {
    let mechanism = auth.mechanism().name();
    let fail = |t: &T, message: String| Error::Authentication {
        broker: t.broker().to_string(),
        mechanism: mechanism.to_string(),
        message,
    };
    let hs_version = t
        .versions()
        .negotiate(SaslHandshakeRequest::KEY)
        .map_err(|e| Error::protocol(t.broker(), e))?;
    let auth_version = t
        .versions()
        .negotiate(SaslAuthenticateRequest::KEY)
        .map_err(|e| Error::protocol(t.broker(), e))?;
    let hs = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let resp = t.round_trip(&hs, hs_version).await?;
    let code = KafkaCode(resp.error_code);
    if code == KafkaCode::UNSUPPORTED_SASL_MECHANISM {
        let enabled: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(fail(
            t,
            format!(
                "the broker does not enable {mechanism} on this listener (it enables: {})",
                if enabled.is_empty() {
                    "none".to_string()
                } else {
                    enabled.join(", ")
                }
            ),
        ));
    }
    if !code.is_ok() {
        return Err(fail(t, format!("SaslHandshake failed: {code}")));
    }
    let mut session = auth.session().await.map_err(|m| fail(t, m))?;
    let mut challenge = Bytes::new();
    let mut lifetime_ms = 0i64;
    // A mechanism takes a few round trips (SCRAM: two); a broker that keeps challenging is
    // refused rather than followed forever.
    for _ in 0..8 {
        match session.step(&challenge).map_err(|m| fail(t, m))? {
            Step::Done => {
                return Ok(Authenticated {
                    session_lifetime: (lifetime_ms > 0)
                        .then(|| Duration::from_millis(lifetime_ms as u64)),
                })
            }
            Step::Send(bytes) => {
                let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
                let resp = t.round_trip(&req, auth_version).await?;
                let code = KafkaCode(resp.error_code);
                if !code.is_ok() {
                    let mut detail = resp
                        .error_message
                        .as_ref()
                        .map(|m| m.as_str().to_string())
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| code.to_string());
                    if let Some(more) = session.refusal_detail() {
                        detail = format!("{detail} ({more})");
                    }
                    return Err(fail(t, detail));
                }
                lifetime_ms = resp.session_lifetime_ms;
                challenge = resp.auth_bytes;
            }
        }
    }
    Err(fail(
        t,
        "the broker kept challenging after 8 round trips".into(),
    ))
}
