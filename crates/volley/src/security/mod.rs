//! The security layer: TLS (rustls) and SASL authentication, configured from Java's `ssl.*`
//! and `sasl.*` keys and applied by the connection layer to every broker connection.
//!
//! - `tls` builds one rustls client configuration per producer (trust and key stores read
//!   once, at build time) and wraps each TCP stream in TLS.
//! - `sasl` runs SaslHandshake + SaslAuthenticate with the configured mechanism (PLAIN,
//!   SCRAM-SHA-256/512, OAUTHBEARER), and again before a session's lifetime ends (KIP-368).
//!
//! Secrets never reach `Debug` output, logs or error messages: the configuration holds them as
//! [`Password`](crate::config::Password)s, and the types here print only what is not secret.

pub mod oauth;
pub(crate) mod sasl;
pub(crate) mod tls;

use std::fmt;
use std::sync::Arc;

pub use oauth::{OAuthBearerToken, TokenError, TokenProvider};

use crate::config::{ProducerConfig, SecurityProtocol};
use crate::error::Result;

/// Kafka's OIDC client-credentials login handler (KIP-768), the one handler accepted by name.
pub(crate) const OIDC_LOGIN_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler";
/// Its name before Kafka 3.4 (package `secured`), accepted as the same handler.
pub(crate) const OIDC_LOGIN_HANDLER_OLD: &str =
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler";

/// What every connection of one producer needs for security, built once from its
/// configuration (files are read here, so a missing trust store fails the producer's build,
/// not a connection).
///
/// `Default` is `PLAINTEXT`. `Debug` shows the protocol and mechanism, never a secret.
#[derive(Clone, Default)]
pub struct Security {
    /// `security.protocol`.
    pub(crate) protocol: SecurityProtocol,
    /// Present for `SSL` and `SASL_SSL`.
    pub(crate) tls: Option<Arc<tls::TlsConnector>>,
    /// Present for `SASL_PLAINTEXT` and `SASL_SSL`.
    pub(crate) sasl: Option<Arc<sasl::SaslAuthenticator>>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| s.mechanism().name()))
            .finish()
    }
}

impl Security {
    /// The protocol these settings are for.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// Builds the TLS and SASL parts `security.protocol` asks for. `token_provider` is the
    /// OAUTHBEARER token source set in code, if any.
    ///
    /// Errors: `Error::Config` naming the key at fault (an unreadable trust store, a wrong key
    /// store password, a missing JAAS option, ...).
    pub fn from_config(
        cfg: &ProducerConfig,
        token_provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Security> {
        let protocol = cfg.security_protocol;
        let tls = if protocol.uses_tls() {
            Some(Arc::new(tls::TlsConnector::from_config(cfg)?))
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(Arc::new(sasl::SaslAuthenticator::from_config(
                cfg,
                token_provider,
            )?))
        } else {
            None
        };
        Ok(Security {
            protocol,
            tls,
            sasl,
        })
    }
}

/// The validator of `ssl.enabled.protocols`.
pub(crate) fn check_tls_versions(list: &str) -> std::result::Result<(), String> {
    for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if !["TLSv1.2", "TLSv1.3"].contains(&v) {
            return Err(format!(
                "{v:?} is not supported: rustls implements TLSv1.2 and TLSv1.3 only"
            ));
        }
    }
    Ok(())
}

/// The validator of `sasl.login.callback.handler.class`.
pub(crate) fn check_login_handler(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name == OIDC_LOGIN_HANDLER || name == OIDC_LOGIN_HANDLER_OLD {
        Ok(())
    } else {
        Err(format!(
            "cannot load login callback handler class {name:?}: only Kafka's OIDC handler \
             {OIDC_LOGIN_HANDLER} is accepted by name; other token sources are set in code \
             with a TokenProvider (ProducerBuilder::token_provider)"
        ))
    }
}

fn check_fraction(text: &str, lo: f64, hi: f64) -> std::result::Result<(), String> {
    match text.parse::<f64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(()),
        _ => Err(format!(
            "expected a number between {lo} and {hi}, got {text:?}"
        )),
    }
}

/// The validator of `sasl.login.refresh.window.factor` (Java: between 0.5 and 1.0).
pub(crate) fn check_refresh_factor(text: &str) -> std::result::Result<(), String> {
    check_fraction(text, 0.5, 1.0)
}

/// The validator of `sasl.login.refresh.window.jitter` (Java: between 0.0 and 0.25).
pub(crate) fn check_refresh_jitter(text: &str) -> std::result::Result<(), String> {
    check_fraction(text, 0.0, 0.25)
}
