//! SASL authentication (KIP-43 SaslHandshake + KIP-152 SaslAuthenticate): the mechanisms as
//! client state machines ([`SaslSession`]), and [`exchange`], which runs one over a broker
//! connection.

pub(crate) mod exchange;
pub(crate) mod jaas;
pub(crate) mod oauthbearer;
pub(crate) mod oidc;
pub(crate) mod scram;
#[cfg(test)]
mod tests;
mod token_cache;
mod unsecured;

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

    /// What the mechanism learnt of a refusal before the broker's error response (OAUTHBEARER's
    /// error challenge), to add to the broker's message.
    fn refusal_detail(&self) -> Option<String> {
        None
    }
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
///
/// `Debug` shows the mechanism, the user name and the token source, never a secret.
pub(crate) struct SaslAuthenticator {
    mechanism: Mechanism,
    /// PLAIN and SCRAM.
    credentials: Option<Credentials>,
    /// SCRAM extensions of the client-first message (`tokenauth=true`).
    scram_extensions: Vec<(String, String)>,
    /// SCRAM's last SaltedPassword, so a re-authentication does not run PBKDF2 again.
    salted_cache: std::sync::Arc<scram::SaltedCache>,
    /// OAUTHBEARER.
    oauth: Option<oauthbearer::OAuthLogin>,
}

impl fmt::Debug for SaslAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuthenticator")
            .field("mechanism", &self.mechanism.name())
            .field("credentials", &self.credentials)
            .field("scram_extensions", &self.scram_extensions)
            .field("oauth", &self.oauth)
            .finish()
    }
}

impl SaslAuthenticator {
    /// From `sasl.mechanism`, `sasl.jaas.config` (parsed as Java parses it, see [`jaas`]) and
    /// the other `sasl.*` keys; `token_provider` is the OAUTHBEARER token source set in code.
    ///
    /// * The JAAS login module must match the mechanism: `PlainLoginModule` for PLAIN,
    ///   `ScramLoginModule` for SCRAM-SHA-256/512, `OAuthBearerLoginModule` for OAUTHBEARER.
    /// * PLAIN and SCRAM take the JAAS options `username` and `password`; without
    ///   `sasl.jaas.config`, the Volley extension keys `sasl.username` and `sasl.password`
    ///   (when both are given, JAAS wins). SCRAM's `tokenauth="true"` authenticates with a
    ///   delegation token (KIP-48).
    /// * OAUTHBEARER: see [`oauthbearer::OAuthLogin::from_config`].
    ///
    /// Errors: `Error::Config` naming `sasl.mechanism` (GSSAPI, unknown), `sasl.jaas.config`
    /// (unparsable, wrong module, missing credentials or token source) or the OAuth key at
    /// fault. Messages never contain a secret.
    pub(crate) fn from_config(
        cfg: &ProducerConfig,
        token_provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<SaslAuthenticator> {
        let mechanism = Mechanism::from_config(&cfg.sasl_mechanism)?;
        let jaas = match &cfg.sasl_jaas_config {
            Some(p) if !p.value().trim().is_empty() => Some(jaas::parse(p.value())?),
            _ => None,
        };
        if let Some(j) = &jaas {
            check_module(mechanism, j)?;
        }
        if token_provider.is_some() && mechanism != Mechanism::OAuthBearer {
            tracing::warn!(
                "a TokenProvider is set but sasl.mechanism is {}: it is not used",
                mechanism.name()
            );
        }
        let mut auth = SaslAuthenticator {
            mechanism,
            credentials: None,
            scram_extensions: Vec::new(),
            salted_cache: Default::default(),
            oauth: None,
        };
        match mechanism {
            Mechanism::OAuthBearer => {
                auth.oauth = Some(oauthbearer::OAuthLogin::from_config(
                    cfg,
                    jaas.as_ref(),
                    token_provider,
                )?);
            }
            Mechanism::Plain | Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                auth.credentials = Some(credentials(cfg, jaas.as_ref(), mechanism)?);
                let tokenauth = jaas.as_ref().and_then(|j| j.option("tokenauth"));
                if mechanism != Mechanism::Plain
                    && tokenauth.is_some_and(|t| t.eq_ignore_ascii_case("true"))
                {
                    auth.scram_extensions = vec![("tokenauth".into(), "true".into())];
                }
            }
        }
        Ok(auth)
    }

    /// The configured mechanism.
    pub(crate) fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// A new exchange (for OAUTHBEARER, with a valid token, which may mean fetching one).
    ///
    /// Errors: messages for `Error::Authentication` (a token source that failed or hung).
    pub(crate) async fn session(&self) -> std::result::Result<Box<dyn SaslSession>, String> {
        if let Some(oauth) = &self.oauth {
            return Ok(Box::new(oauth.session().await?));
        }
        let creds = self
            .credentials
            .clone()
            .ok_or("no credentials for SASL/PLAIN or SCRAM")?;
        Ok(match scram::ScramHash::of(self.mechanism) {
            Some(hash) => Box::new(scram::ScramSession::new(
                hash,
                creds,
                self.scram_extensions.clone(),
                self.salted_cache.clone(),
            )),
            None => Box::new(PlainSession { creds: Some(creds) }),
        })
    }
}

/// The login module `sasl.jaas.config` must name for `m`.
fn check_module(m: Mechanism, j: &jaas::JaasEntry) -> Result<()> {
    let expected = match m {
        Mechanism::Plain => jaas::PLAIN_MODULE,
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => jaas::SCRAM_MODULE,
        Mechanism::OAuthBearer => jaas::OAUTHBEARER_MODULE,
    };
    if j.module == expected {
        return Ok(());
    }
    let known = [
        jaas::PLAIN_MODULE,
        jaas::SCRAM_MODULE,
        jaas::OAUTHBEARER_MODULE,
    ];
    let message = if known.contains(&j.module.as_str()) {
        format!(
            "sasl.mechanism is {} but the login module is {}: use {expected}",
            m.name(),
            j.module
        )
    } else {
        format!(
            "login module {} is not supported: with sasl.mechanism={} use {expected}",
            j.module,
            m.name()
        )
    };
    Err(Error::config(jaas::KEY, message))
}

/// The user name and password of PLAIN and SCRAM: JAAS `username` and `password`, or
/// `sasl.username` and `sasl.password` without JAAS.
fn credentials(
    cfg: &ProducerConfig,
    jaas: Option<&jaas::JaasEntry>,
    m: Mechanism,
) -> Result<Credentials> {
    let keys_given = cfg.sasl_username.is_some() || cfg.sasl_password.is_some();
    if let Some(j) = jaas {
        if keys_given {
            tracing::debug!(
                "sasl.jaas.config and sasl.username/sasl.password are both set: using \
                 sasl.jaas.config"
            );
        }
        let module = j.module.rsplit('.').next().unwrap_or_default();
        let option = |name: &str| {
            j.option(name).map(str::to_string).ok_or_else(|| {
                Error::config(
                    jaas::KEY,
                    format!("{module} needs the option {name} (for {})", m.name()),
                )
            })
        };
        return Ok(Credentials {
            username: option("username")?,
            password: option("password")?,
        });
    }
    match (&cfg.sasl_username, &cfg.sasl_password) {
        (Some(u), Some(p)) => Ok(Credentials {
            username: u.clone(),
            password: p.value().to_string(),
        }),
        _ => Err(Error::config(
            jaas::KEY,
            format!(
                "{} needs a user name and password: set sasl.jaas.config (e.g. {} required \
                 username=\"...\" password=\"...\";), or sasl.username and sasl.password",
                m.name(),
                if m == Mechanism::Plain {
                    jaas::PLAIN_MODULE
                } else {
                    jaas::SCRAM_MODULE
                }
            ),
        )),
    }
}

/// RFC 4616: one message, `authzid NUL authcid NUL passwd`, with an empty authzid.
/// `Debug` hides the password.
#[derive(Debug)]
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
