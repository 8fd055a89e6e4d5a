//! SASL authentication (KIP-43 SaslHandshake + KIP-152 SaslAuthenticate): the mechanisms as
//! client state machines ([`SaslSession`]), and [`exchange`], which runs one over a broker
//! connection.

pub(crate) mod exchange;

use std::fmt;
use std::sync::Arc;

use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::security::TokenProvider;

/// A SASL mechanism Volley implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// RFC 4616.
    Plain,
    /// RFC 5802 / RFC 7677 with SHA-256.
    ScramSha256,
    /// RFC 5802 with SHA-512.
    ScramSha512,
    /// RFC 7628 (KIP-255).
    OAuthBearer,
}

impl Mechanism {
    /// The IANA name sent in SaslHandshake.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// `sasl.mechanism`; `Error::Config` for GSSAPI (Kerberos) and unknown names.
    pub(crate) fn from_config(name: &str) -> Result<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Mechanism::Plain),
            "SCRAM-SHA-256" => Ok(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(Mechanism::ScramSha512),
            "OAUTHBEARER" => Ok(Mechanism::OAuthBearer),
            "GSSAPI" => Err(Error::config(
                "sasl.mechanism",
                "GSSAPI (Kerberos, Java's default) is not supported: set sasl.mechanism to \
                 PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            )),
            other => Err(Error::config(
                "sasl.mechanism",
                format!("unknown SASL mechanism {other:?}"),
            )),
        }
    }
}

/// What a mechanism does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send these bytes in a SaslAuthenticate request.
    Send(Vec<u8>),
    /// The exchange is complete on the client's side.
    Done,
}

/// One authentication exchange of a mechanism, as a client state machine. The first call to
/// [`step`](SaslSession::step) gets an empty challenge and gives the initial response; each
/// later call gets the bytes of the broker's last SaslAuthenticate response.
///
/// Errors are messages for `Error::Authentication` and must never contain a secret.
pub(crate) trait SaslSession: Send {
    fn step(&mut self, challenge: &[u8]) -> std::result::Result<Step, String>;
}

/// User name and password (PLAIN, SCRAM). `Debug` hides the password.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &crate::config::Password::HIDDEN)
            .finish()
    }
}

/// A producer's SASL settings: the mechanism and where its credentials come from. Starts one
/// [`SaslSession`] per (re-)authentication.
pub(crate) struct SaslAuthenticator {
    mechanism: Mechanism,
    credentials: Option<Credentials>,
    #[allow(dead_code)]
    token_provider: Option<Arc<dyn TokenProvider>>,
}

impl SaslAuthenticator {
    /// From `sasl.mechanism` and the credentials the configuration gives.
    pub(crate) fn from_config(
        cfg: &ProducerConfig,
        token_provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<SaslAuthenticator> {
        let mechanism = Mechanism::from_config(&cfg.sasl_mechanism)?;
        let credentials = match (&cfg.sasl_username, &cfg.sasl_password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.value().to_string(),
            }),
            _ => None,
        };
        if matches!(mechanism, Mechanism::Plain) && credentials.is_none() {
            return Err(Error::config(
                "sasl.jaas.config",
                format!(
                    "{} needs a user name and password (sasl.jaas.config, or sasl.username \
                     and sasl.password)",
                    mechanism.name()
                ),
            ));
        }
        Ok(SaslAuthenticator {
            mechanism,
            credentials,
            token_provider,
        })
    }

    /// The configured mechanism.
    pub(crate) fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// A new exchange (for OAUTHBEARER, with a valid token, which may mean fetching one).
    pub(crate) async fn session(&self) -> std::result::Result<Box<dyn SaslSession>, String> {
        match self.mechanism {
            Mechanism::Plain => {
                let c = self.credentials.clone().ok_or("no credentials")?;
                Ok(Box::new(PlainSession { creds: Some(c) }))
            }
            m => Err(format!("{} is not implemented yet", m.name())),
        }
    }
}

/// RFC 4616: one message, `authzid NUL authcid NUL passwd`, with an empty authzid.
struct PlainSession {
    creds: Option<Credentials>,
}

impl SaslSession for PlainSession {
    fn step(&mut self, _challenge: &[u8]) -> std::result::Result<Step, String> {
        match self.creds.take() {
            Some(c) => {
                let mut msg = Vec::with_capacity(c.username.len() + c.password.len() + 2);
                msg.push(0);
                msg.extend_from_slice(c.username.as_bytes());
                msg.push(0);
                msg.extend_from_slice(c.password.as_bytes());
                Ok(Step::Send(msg))
            }
            None => Ok(Step::Done),
        }
    }
}
