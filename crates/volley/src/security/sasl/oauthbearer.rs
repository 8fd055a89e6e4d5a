//! SASL/OAUTHBEARER (RFC 7628, KIP-255) as Java's `OAuthBearerSaslClient` runs it, and where
//! its tokens come from.
//!
//! The client's one message is `n,,\x01auth=Bearer <token>[\x01<key>=<value>]*\x01\x01`: the
//! token, then SASL extensions (KIP-342; names of letters only, not `auth`; values of
//! printable ASCII, space, tab, CR, LF). The broker answers with an empty challenge when it
//! accepts the token; otherwise with a JSON error (`{"status":"invalid_token",...}`), which
//! the client acknowledges with `\x01` before the broker fails the exchange with its message.
//!
//! Token sources, first match wins ([`OAuthLogin::from_config`]):
//! 1. a [`TokenProvider`] set in code (`ProducerBuilder::token_provider`);
//! 2. Kafka's OIDC login handler (`sasl.login.callback.handler.class`, KIP-768), with the
//!    `oauth-oidc` feature: see [`super::oidc`];
//! 3. the unsecured JWT of `OAuthBearerLoginModule`'s `unsecuredLogin*` options: see
//!    [`super::unsecured`].
//!
//! Extensions come from the JAAS options `unsecuredLoginExtension_<name>` for the unsecured
//! login and `extension_<name>` for the other sources, as Java's two handlers read them.

use std::fmt;
use std::sync::Arc;

use super::jaas::{JaasEntry, KEY};
use super::token_cache::{RefreshPolicy, TokenCache};
use super::unsecured::{self, UnsecuredLogin};
use super::{SaslSession, Step};
use crate::config::{Password, ProducerConfig};
use crate::error::{Error, Result};
use crate::security::TokenProvider;

/// The JAAS option prefix of SASL extensions for the OIDC handler and token providers.
const EXTENSION_PREFIX: &str = "extension_";

/// A producer's OAUTHBEARER login: its token source behind a shared [`TokenCache`], and the
/// SASL extensions sent with each token.
pub(crate) struct OAuthLogin {
    source: &'static str,
    cache: TokenCache,
    extensions: Vec<(String, String)>,
}

impl fmt::Debug for OAuthLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.extensions.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OAuthLogin")
            .field("source", &self.source)
            .field("cache", &self.cache)
            .field("extensions", &names)
            .finish()
    }
}

impl OAuthLogin {
    /// The token source and extensions the configuration gives (see the module's docs).
    ///
    /// Errors: `Error::Config`, naming `sasl.jaas.config` (no token source at all, invalid
    /// unsecured options or extensions) or the OIDC keys at fault.
    pub(crate) fn from_config(
        cfg: &ProducerConfig,
        jaas: Option<&JaasEntry>,
        provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<OAuthLogin> {
        let handler = cfg
            .sasl_login_callback_handler_class
            .as_deref()
            .filter(|h| !h.is_empty());
        let extensions_with = |prefix: &str| jaas.map(|j| j.prefixed(prefix)).unwrap_or_default();
        let (source, provider, extensions): (_, Arc<dyn TokenProvider>, _) =
            if let Some(p) = provider {
                if handler.is_some() {
                    tracing::debug!(
                        "a TokenProvider is set: sasl.login.callback.handler.class is not used"
                    );
                }
                ("token provider", p, extensions_with(EXTENSION_PREFIX))
            } else if handler.is_some() {
                (
                    "OIDC token endpoint",
                    super::oidc::login(cfg, jaas)?,
                    extensions_with(EXTENSION_PREFIX),
                )
            } else {
                let jaas = jaas.ok_or_else(|| {
                    Error::config(
                        KEY,
                        "OAUTHBEARER needs a token source: a TokenProvider set in code \
                         (ProducerBuilder::token_provider), Kafka's OIDC handler \
                         (sasl.login.callback.handler.class), or OAuthBearerLoginModule's \
                         unsecuredLogin* options in sasl.jaas.config (unsecured JWTs, for tests)",
                    )
                })?;
                (
                    "unsecured JWT",
                    Arc::new(UnsecuredLogin::from_jaas(jaas)?),
                    extensions_with(unsecured::EXTENSION_PREFIX),
                )
            };
        validate_extensions(&extensions).map_err(|m| Error::config(KEY, m))?;
        let cache = TokenCache::new(
            provider,
            RefreshPolicy::from_config(cfg),
            cfg.sasl_login_read_timeout.unwrap_or(cfg.request_timeout),
            cfg.sasl_login_retry_backoff,
            cfg.sasl_login_retry_backoff_max,
        );
        Ok(OAuthLogin {
            source,
            cache,
            extensions,
        })
    }

    /// An exchange with a valid token (fetching one if needed; see [`TokenCache::token`]).
    pub(crate) async fn session(&self) -> std::result::Result<OAuthBearerSession, String> {
        let token = self.cache.token().await?;
        Ok(OAuthBearerSession::new(
            token.value().to_string(),
            self.extensions.clone(),
        ))
    }

    /// The token cache (for tests).
    #[cfg(test)]
    pub(crate) fn cache(&self) -> &TokenCache {
        &self.cache
    }
}

/// Java's `OAuthBearerClientInitialResponse.validateExtensions`: names `[A-Za-z]+` and not
/// `auth`, values `[\x21-\x7E \t\r\n]+`. Errors name the extension, not its value.
pub(crate) fn validate_extensions(ext: &[(String, String)]) -> std::result::Result<(), String> {
    for (k, v) in ext {
        if k == "auth" {
            return Err("Extension name auth is invalid".into());
        }
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("Extension name {k:?} is invalid: letters only"));
        }
        let valid = |b: u8| (0x21..=0x7E).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        if v.is_empty() || !v.bytes().all(valid) {
            return Err(format!(
                "the value of extension {k} is invalid: printable ASCII, space, tab, CR or LF"
            ));
        }
    }
    Ok(())
}

enum State {
    Start,
    Sent,
    /// The broker refused the token with this JSON; `\x01` was sent.
    Refused(String),
    Done,
}

/// One OAUTHBEARER exchange. `Debug` never shows the token.
pub(crate) struct OAuthBearerSession {
    token: String,
    extensions: Vec<(String, String)>,
    state: State,
}

impl fmt::Debug for OAuthBearerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerSession")
            .field("token", &Password::HIDDEN)
            .field("extensions", &self.extensions.len())
            .finish_non_exhaustive()
    }
}

impl OAuthBearerSession {
    pub(crate) fn new(token: String, extensions: Vec<(String, String)>) -> OAuthBearerSession {
        OAuthBearerSession {
            token,
            extensions,
            state: State::Start,
        }
    }

    /// The client's initial response (Java's `OAuthBearerClientInitialResponse.toBytes`).
    fn initial_response(&self) -> Vec<u8> {
        let mut msg = format!("n,,\x01auth=Bearer {}", self.token);
        for (k, v) in &self.extensions {
            msg.push('\x01');
            msg.push_str(k);
            msg.push('=');
            msg.push_str(v);
        }
        msg.push_str("\x01\x01");
        msg.into_bytes()
    }
}

impl SaslSession for OAuthBearerSession {
    fn refusal_detail(&self) -> Option<String> {
        match &self.state {
            State::Refused(json) => Some(refusal(json)),
            _ => None,
        }
    }

    fn step(&mut self, challenge: &[u8]) -> std::result::Result<Step, String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start => {
                if !challenge.is_empty() {
                    return Err(
                        "expected an empty challenge before the OAUTHBEARER initial \
                                response"
                            .into(),
                    );
                }
                self.state = State::Sent;
                Ok(Step::Send(self.initial_response()))
            }
            State::Sent if challenge.is_empty() => Ok(Step::Done),
            State::Sent => {
                let json: String = String::from_utf8_lossy(challenge)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(500)
                    .collect();
                tracing::debug!("the broker refused the OAUTHBEARER token: {json}");
                self.state = State::Refused(json);
                Ok(Step::Send(vec![0x01]))
            }
            State::Refused(json) => Err(refusal(&json)),
            State::Done => {
                Err("unexpected OAUTHBEARER challenge after the exchange completed".into())
            }
        }
    }
}

/// The message of a token the broker refused with the error challenge `json`.
fn refusal(json: &str) -> String {
    format!(
        "the broker refused the token (status {}): {json}",
        json_status(json).unwrap_or("unknown")
    )
}

/// The `status` of an RFC 7628 error challenge, read without a JSON parser: the string after
/// `"status"` and a colon.
pub(crate) fn json_status(json: &str) -> Option<&str> {
    let rest = &json[json.find("\"status\"")? + "\"status\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// Fuzzing entry (`crate::fuzzing`): the broker's challenges to an OAUTHBEARER exchange (split
/// at NUL bytes), and the `status` read from them.
#[cfg(any(test, fuzzing))]
pub(crate) fn fuzz_challenges(data: &[u8]) {
    let mut session = OAuthBearerSession::new("t.o.k".into(), vec![("k".into(), "v".into())]);
    let _ = session.step(b"");
    for challenge in data.split(|b| *b == 0) {
        let _ = session.step(challenge);
        let _ = session.refusal_detail();
    }
    let _ = json_status(&String::from_utf8_lossy(data));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::jaas;

    #[test]
    fn initial_response_and_success() {
        let mut s = OAuthBearerSession::new(
            "eyJ.eyJ.".into(),
            vec![("a".into(), "1".into()), ("traceId".into(), "x y".into())],
        );
        assert_eq!(
            s.step(b""),
            Ok(Step::Send(
                b"n,,\x01auth=Bearer eyJ.eyJ.\x01a=1\x01traceId=x y\x01\x01".to_vec()
            ))
        );
        assert_eq!(s.step(b""), Ok(Step::Done));
        assert!(s.step(b"").is_err());
        let mut s = OAuthBearerSession::new("t".into(), vec![]);
        assert_eq!(
            s.step(b""),
            Ok(Step::Send(b"n,,\x01auth=Bearer t\x01\x01".to_vec()))
        );
    }

    #[test]
    fn error_challenge_is_acknowledged_then_fails() {
        let mut s = OAuthBearerSession::new("t".into(), vec![]);
        s.step(b"").unwrap();
        let json = br#"{"status":"invalid_token","scope":"kafka"}"#;
        assert_eq!(s.step(json), Ok(Step::Send(vec![1])));
        let e = s.step(b"").unwrap_err();
        assert!(
            e.starts_with("the broker refused the token (status invalid_token)"),
            "{e}"
        );
        assert_eq!(json_status(r#"{ "status" : "x" }"#), Some("x"));
        assert_eq!(json_status(r#"{"status":1}"#), None);
        assert_eq!(json_status("garbage"), None);
        // A non-empty first challenge is refused.
        assert!(OAuthBearerSession::new("t".into(), vec![])
            .step(b"x")
            .is_err());
    }

    #[test]
    fn extensions_are_validated_as_java_does() {
        let ok = |k: &str, v: &str| validate_extensions(&[(k.into(), v.into())]).is_ok();
        assert!(ok("traceId", "abc 123\t!~"));
        assert!(!ok("auth", "x"));
        assert!(!ok("trace_id", "x"));
        assert!(!ok("", "x"));
        assert!(!ok("a", ""));
        assert!(!ok("a", "é"));
        assert!(!ok("a", "\x01"));
        let e = validate_extensions(&[("a".into(), "secret\x00".into())]).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    fn cfg(pairs: &[(&str, &str)]) -> ProducerConfig {
        let mut all = vec![("bootstrap.servers", "127.0.0.1:9092")];
        all.extend_from_slice(pairs);
        ProducerConfig::from_properties(all).unwrap()
    }

    #[test]
    fn sources_and_extensions_from_config() {
        let c = cfg(&[("sasl.mechanism", "OAUTHBEARER")]);
        let e = OAuthLogin::from_config(&c, None, None).unwrap_err();
        assert!(e.to_string().contains("needs a token source"), "{e}");

        let j = jaas::parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginExtension_traceId=\"t1\" \
             extension_other=\"no\";",
        )
        .unwrap();
        let l = OAuthLogin::from_config(&c, Some(&j), None).unwrap();
        assert_eq!(l.source, "unsecured JWT");
        assert_eq!(
            l.extensions,
            vec![("traceId".to_string(), "t1".to_string())]
        );

        struct P;
        impl TokenProvider for P {
            fn token(
                &self,
            ) -> std::result::Result<crate::security::OAuthBearerToken, crate::security::TokenError>
            {
                Err("no".into())
            }
        }
        let l = OAuthLogin::from_config(&c, Some(&j), Some(Arc::new(P))).unwrap();
        assert_eq!(l.source, "token provider");
        assert_eq!(l.extensions, vec![("other".to_string(), "no".to_string())]);

        let j = jaas::parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginExtension_bad_name=\"t1\";",
        )
        .unwrap();
        let e = OAuthLogin::from_config(&c, Some(&j), None).unwrap_err();
        assert!(e.to_string().contains("bad_name"), "{e}");
    }

    #[tokio::test]
    async fn unsecured_sessions_share_one_token() {
        let c = cfg(&[("sasl.mechanism", "OAUTHBEARER")]);
        let j = jaas::parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\";",
        )
        .unwrap();
        let l = OAuthLogin::from_config(&c, Some(&j), None).unwrap();
        let mut a = l.session().await.unwrap();
        let mut b = l.session().await.unwrap();
        assert_eq!(a.step(b""), b.step(b""));
        assert!(format!("{:?}", l.cache()).contains("alice"));
    }
}
