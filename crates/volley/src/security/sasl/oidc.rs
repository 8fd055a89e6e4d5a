//! Kafka's OIDC login handler (`OAuthBearerLoginCallbackHandler`, KIP-768), behind the
//! `oauth-oidc` cargo feature: OAUTHBEARER tokens from `sasl.oauthbearer.token.endpoint.url`.
//!
//! * `http://` or `https://`: the OAuth 2 client-credentials grant (RFC 6749 §4.4). A `POST`
//!   of `grant_type=client_credentials[&scope=<scope>]` with HTTP Basic authorization of the
//!   client id and secret (URL-encoded first when `sasl.oauthbearer.header.urlencode` is
//!   true), `Accept: application/json`; the answer's `access_token` is the token. The client
//!   id, secret and scope are `sasl.oauthbearer.client.credentials.client.id`,
//!   `...client.secret` and `sasl.oauthbearer.scope`, or the JAAS options `clientId`,
//!   `clientSecret` and `scope`. As Java's `HttpAccessTokenRetriever`, failed attempts are
//!   retried after `sasl.login.retry.backoff.ms`, doubling, until
//!   `sasl.login.retry.backoff.max.ms` has passed, except for answers that will not change
//!   (400, 401, 403, 404 and the like); connecting is bounded by
//!   `sasl.login.connect.timeout.ms` (else `socket.connection.setup.timeout.ms`), reading by
//!   `sasl.login.read.timeout.ms` (else `request.timeout.ms`). HTTPS trusts the Mozilla roots
//!   (webpki-roots), through rustls with ring.
//! * `file:`: the token is the file's content, trimmed (Java's `FileTokenRetriever`). Java
//!   reads the file once, at start; Volley reads it again at each refresh, so a rotated file
//!   is picked up.
//!
//! The token must be a JWT, checked as Java's `LoginAccessTokenValidator` checks it, without
//! its signature (the broker checks that): three `.`-separated sections, a base64url JSON
//! payload whose `exp` claim (seconds) gives the expiry and whose `sasl.oauthbearer.sub.claim.name`
//! claim (`sub`) names the principal. Unlike Java, an empty signature section is accepted
//! (unsecured JWTs, for tests), and a token without `exp` is accepted when the endpoint's
//! answer has `expires_in`.

use std::sync::Arc;

use super::jaas::JaasEntry;
use crate::config::ProducerConfig;
use crate::error::Result;
use crate::security::TokenProvider;

/// The key of the handler class, for errors.
const HANDLER_KEY: &str = "sasl.login.callback.handler.class";

/// The token source `sasl.login.callback.handler.class` names (Kafka's OIDC handler, the one
/// accepted by the key's validator).
///
/// Errors: `Error::Config` naming the key at fault; without the `oauth-oidc` feature, naming
/// `sasl.login.callback.handler.class` and the feature.
pub(crate) fn login(
    cfg: &ProducerConfig,
    jaas: Option<&JaasEntry>,
) -> Result<Arc<dyn TokenProvider>> {
    #[cfg(feature = "oauth-oidc")]
    {
        Ok(Arc::new(imp::OidcLogin::from_config(cfg, jaas)?))
    }
    #[cfg(not(feature = "oauth-oidc"))]
    {
        let _ = (cfg, jaas);
        Err(crate::error::Error::config(
            HANDLER_KEY,
            "Kafka's OIDC login handler needs Volley's `oauth-oidc` cargo feature (enable it \
             in Cargo.toml), or set a TokenProvider in code (ProducerBuilder::token_provider)",
        ))
    }
}

#[cfg(all(feature = "oauth-oidc", any(test, fuzzing)))]
pub(crate) use imp::fuzz_token_response;

#[cfg(feature = "oauth-oidc")]
mod imp {
    use std::fmt;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime};

    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
    use base64::engine::DecodePaddingMode;
    use base64::Engine as _;

    use super::{JaasEntry, HANDLER_KEY};
    use crate::config::{Password, ProducerConfig};
    use crate::error::{Error, Result};
    use crate::security::{OAuthBearerToken, TokenError, TokenProvider};

    const URL_KEY: &str = "sasl.oauthbearer.token.endpoint.url";
    const ID_KEY: &str = "sasl.oauthbearer.client.credentials.client.id";
    const SECRET_KEY: &str = "sasl.oauthbearer.client.credentials.client.secret";

    /// The largest token endpoint answer read.
    const MAX_BODY: u64 = 1 << 20;

    /// HTTP statuses that a retry will not change (Java's `UNRETRYABLE_HTTP_CODES`).
    const UNRETRYABLE: &[u16] = &[
        400, 401, 402, 403, 404, 405, 406, 407, 409, 410, 411, 412, 413, 414, 415, 501, 505,
    ];

    /// base64url, padded or not (Java's `Base64.getUrlDecoder`).
    const URL_SAFE_ANY: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    impl OidcLogin {
        pub(crate) fn from_config(
            cfg: &ProducerConfig,
            jaas: Option<&JaasEntry>,
        ) -> Result<OidcLogin> {
            let url =
                non_empty(cfg.sasl_oauthbearer_token_endpoint_url.as_deref()).ok_or_else(|| {
                    Error::config(
                        URL_KEY,
                        format!("required by {HANDLER_KEY} (Kafka's OIDC login handler)"),
                    )
                })?;
            let claims = Claims {
                sub: cfg.sasl_oauthbearer_sub_claim_name.trim().to_string(),
            };
            if claims.sub.is_empty() {
                return Err(Error::config(
                    "sasl.oauthbearer.sub.claim.name",
                    "must not be blank",
                ));
            }
            let endpoint = if url.to_ascii_lowercase().starts_with("file:") {
                let path = file_path(url)?;
                std::fs::metadata(&path)
                    .map_err(|e| Error::config(URL_KEY, format!("{}: {e}", path.display())))?;
                Endpoint::File(path)
            } else if let Some(rest) = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
            {
                if rest.is_empty() {
                    return Err(Error::config(URL_KEY, format!("{url:?} has no host")));
                }
                Endpoint::Http(Box::new(Http::from_config(cfg, jaas, url)?))
            } else {
                return Err(Error::config(
                    URL_KEY,
                    format!("{url:?}: expected an http://, https:// or file: URL"),
                ));
            };
            Ok(OidcLogin { endpoint, claims })
        }
    }

    fn non_empty(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }

    /// `file:/p`, `file:///p` or `file://localhost/p` as a path.
    fn file_path(url: &str) -> Result<PathBuf> {
        let rest = &url["file:".len()..];
        let path = match rest.strip_prefix("//") {
            Some(r) if r.starts_with('/') => r,
            Some(r) => r
                .strip_prefix("localhost")
                .filter(|p| p.starts_with('/'))
                .ok_or_else(|| Error::config(URL_KEY, format!("{url:?}: not a local file URL")))?,
            None => rest,
        };
        if path.is_empty() {
            return Err(Error::config(URL_KEY, format!("{url:?} names no file")));
        }
        Ok(PathBuf::from(percent_decode(path)))
    }

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let hex = |c: u8| (c as char).to_digit(16);
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|c| hex(*c)),
                    b.get(i + 2).and_then(|c| hex(*c)),
                ) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Java's `URLEncoder.encode(s, UTF-8)`: letters, digits and `.-*_` kept, space as `+`,
    /// every other byte as `%XX`.
    pub(crate) fn form_encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    struct Claims {
        sub: String,
    }

    enum Endpoint {
        File(PathBuf),
        Http(Box<Http>),
    }

    /// The client-credentials flow against one endpoint.
    struct Http {
        url: String,
        client_id: String,
        /// `Basic base64(id:secret)`.
        authorization: Password,
        body: String,
        backoff: Duration,
        backoff_max: Duration,
        agent: ureq::Agent,
    }

    impl Http {
        fn from_config(cfg: &ProducerConfig, jaas: Option<&JaasEntry>, url: &str) -> Result<Http> {
            let jaas_opt = |name: &str| jaas.and_then(|j| non_empty(j.option(name)));
            let client_id = non_empty(cfg.sasl_oauthbearer_client_credentials_client_id.as_deref())
                .or_else(|| jaas_opt("clientId"))
                .ok_or_else(|| {
                    Error::config(
                        ID_KEY,
                        "required for an http(s) token endpoint (or the JAAS option clientId)",
                    )
                })?
                .to_string();
            let secret = non_empty(
                cfg.sasl_oauthbearer_client_credentials_client_secret
                    .as_ref()
                    .map(Password::value),
            )
            .or_else(|| jaas_opt("clientSecret"))
            .ok_or_else(|| {
                Error::config(
                    SECRET_KEY,
                    "required for an http(s) token endpoint (or the JAAS option clientSecret)",
                )
            })?;
            let scope =
                non_empty(cfg.sasl_oauthbearer_scope.as_deref()).or_else(|| jaas_opt("scope"));
            let (id, secret) = if cfg.sasl_oauthbearer_header_urlencode {
                (form_encode(&client_id), form_encode(secret))
            } else {
                (client_id.clone(), secret.to_string())
            };
            let authorization = Password::new(format!(
                "Basic {}",
                STANDARD.encode(format!("{id}:{secret}"))
            ));
            let mut body = String::from("grant_type=client_credentials");
            if let Some(scope) = scope {
                body.push_str("&scope=");
                body.push_str(&form_encode(scope));
            }
            let tls = ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::WebPki)
                .unversioned_rustls_crypto_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .build();
            let read = cfg.sasl_login_read_timeout.unwrap_or(cfg.request_timeout);
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_connect(Some(
                    cfg.sasl_login_connect_timeout
                        .unwrap_or(cfg.socket_connection_setup_timeout),
                ))
                .timeout_send_request(Some(read))
                .timeout_recv_response(Some(read))
                .timeout_recv_body(Some(read))
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(concat!("volley/", env!("CARGO_PKG_VERSION")))
                .tls_config(tls)
                .build()
                .into();
            Ok(Http {
                url: url.to_string(),
                client_id,
                authorization,
                body,
                backoff: cfg.sasl_login_retry_backoff,
                backoff_max: cfg.sasl_login_retry_backoff_max,
                agent,
            })
        }

        /// The access token and `expires_in`, retried as Java's `Retry` does.
        fn fetch(&self) -> std::result::Result<(String, Option<f64>), String> {
            let end = Instant::now() + self.backoff_max;
            let mut attempt: u32 = 0;
            loop {
                attempt += 1;
                let error = match self.post() {
                    Ok(body) => return parse_token_response(&body),
                    Err(Attempt::Final(e)) => return Err(e),
                    Err(Attempt::Retry(e)) => e,
                };
                let wait = self
                    .backoff
                    .saturating_mul(1u32 << (attempt - 1).min(20))
                    .min(end.saturating_duration_since(Instant::now()));
                if wait.is_zero() {
                    return Err(error);
                }
                tracing::warn!(attempt, "token endpoint: {error}; retrying in {wait:?}");
                std::thread::sleep(wait);
            }
        }

        fn post(&self) -> std::result::Result<String, Attempt> {
            let mut resp = self
                .agent
                .post(&self.url)
                .header("Accept", "application/json")
                .header("Authorization", self.authorization.value())
                .header("Cache-Control", "no-cache")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(self.body.as_bytes())
                .map_err(|e| Attempt::Retry(format!("POST {}: {e}", self.url)))?;
            let status = resp.status().as_u16();
            let body = resp
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()
                .map_err(|e| Attempt::Retry(format!("reading the answer of {}: {e}", self.url)))?;
            if status == 200 || status == 201 {
                if body.trim().is_empty() {
                    return Err(Attempt::Retry(format!(
                        "the token endpoint {} answered {status} with an empty body",
                        self.url
                    )));
                }
                return Ok(body);
            }
            let message = format!(
                "the token endpoint {} answered {status} {}",
                self.url,
                format_error(&body)
            );
            Err(if UNRETRYABLE.contains(&status) {
                Attempt::Final(message)
            } else {
                Attempt::Retry(message)
            })
        }
    }

    enum Attempt {
        Retry(String),
        Final(String),
    }

    /// Java's `formatErrorMessage`: `{error - error_description}` (RFC 6749 §5.2), Okta's
    /// `{errorCode - errorSummary}`, or the body itself (cut to 1,000 characters).
    fn format_error(body: &str) -> String {
        if body.trim().is_empty() {
            return "{}".into();
        }
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(body) {
            for (code, text) in [
                ("error", "error_description"),
                ("errorCode", "errorSummary"),
            ] {
                if let Some(c) = m.get(code) {
                    let t = m.get(text).cloned().unwrap_or(serde_json::Value::Null);
                    return format!("{{{c} - {t}}}");
                }
            }
        }
        let cut: String = body.chars().take(1000).collect();
        format!("{{{cut}}}")
    }

    fn parse_token_response(body: &str) -> std::result::Result<(String, Option<f64>), String> {
        let v: serde_json::Value = serde_json::from_str(body)
            .map_err(|e| format!("the token endpoint's answer is not JSON: {e}"))?;
        let token = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("the token endpoint's answer has no access_token")?;
        Ok((
            token.to_string(),
            v.get("expires_in").and_then(|e| e.as_f64()),
        ))
    }

    /// Fuzzing entry (`crate::fuzzing`): a token endpoint's answer, read as a token (then
    /// validated as a JWT) and as an error.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn fuzz_token_response(body: &[u8]) {
        let body = String::from_utf8_lossy(body);
        let _ = format_error(&body);
        if let Ok((token, expires_in)) = parse_token_response(&body) {
            let claims = Claims { sub: "sub".into() };
            let _ = claims.validate(&token, expires_in, SystemTime::UNIX_EPOCH);
        }
    }

    impl Claims {
        /// Java's `LoginAccessTokenValidator`, accepting an empty signature; errors never
        /// contain the token.
        fn validate(
            &self,
            token: &str,
            expires_in: Option<f64>,
            now: SystemTime,
        ) -> std::result::Result<OAuthBearerToken, String> {
            let token = token.trim();
            let parts: Vec<&str> = token.split('.').collect();
            if parts.len() != 3 || parts[0].trim().is_empty() || parts[1].trim().is_empty() {
                return Err(
                    "malformed access token: expected a JWT (header.payload.signature)".into(),
                );
            }
            let payload = URL_SAFE_ANY
                .decode(parts[1].trim())
                .map_err(|_| "malformed access token: its payload is not base64url".to_string())?;
            let claims: serde_json::Value = serde_json::from_slice(&payload)
                .map_err(|_| "malformed access token: its payload is not JSON".to_string())?;
            let claims = claims
                .as_object()
                .ok_or("malformed access token: its payload is not a JSON object")?;
            let expires = match claims.get("exp") {
                Some(exp) => {
                    // A number past what the clock holds (1e19) is not a time either: adding
                    // it to the epoch would panic.
                    exp.as_f64()
                        .filter(|s| *s >= 0.0)
                        .and_then(|s| {
                            SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(s).ok()?)
                        })
                        .ok_or("the access token's exp claim is not a time")?
                }
                None => {
                    let secs = expires_in.filter(|s| *s > 0.0).ok_or(
                        "the access token has no exp claim (and the answer no expires_in)",
                    )?;
                    now + Duration::from_secs_f64(secs.min(1e9))
                }
            };
            let principal = claims
                .get(&self.sub)
                .and_then(|s| s.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    format!(
                        "the access token has no {} claim (sasl.oauthbearer.sub.claim.name)",
                        self.sub
                    )
                })?;
            Ok(OAuthBearerToken::new(token, expires, principal))
        }
    }

    /// The OIDC handler's token source. `Debug` shows the endpoint and client id only.
    pub(crate) struct OidcLogin {
        endpoint: Endpoint,
        claims: Claims,
    }

    impl fmt::Debug for OidcLogin {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match &self.endpoint {
                Endpoint::File(p) => f.debug_struct("OidcLogin").field("file", p).finish(),
                Endpoint::Http(h) => f
                    .debug_struct("OidcLogin")
                    .field("url", &h.url)
                    .field("client_id", &h.client_id)
                    .finish_non_exhaustive(),
            }
        }
    }

    impl TokenProvider for OidcLogin {
        fn token(&self) -> std::result::Result<OAuthBearerToken, TokenError> {
            let (token, expires_in) = match &self.endpoint {
                Endpoint::File(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    (text.trim().to_string(), None)
                }
                Endpoint::Http(h) => h.fetch()?,
            };
            Ok(self
                .claims
                .validate(&token, expires_in, SystemTime::now())?)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::security::sasl::jaas;

        fn login(cfg: &ProducerConfig, jaas: Option<&JaasEntry>) -> Result<OidcLogin> {
            OidcLogin::from_config(cfg, jaas)
        }
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::TcpListener;

        fn jwt(claims: &str, signature: &str) -> String {
            format!(
                "{}.{}.{signature}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(claims)
            )
        }

        fn claims() -> Claims {
            Claims { sub: "sub".into() }
        }

        #[test]
        fn jwt_validation() {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
            let t = claims()
                .validate(&jwt(r#"{"sub":"alice","exp":5000}"#, ""), None, now)
                .unwrap();
            assert_eq!(t.principal(), "alice");
            assert_eq!(
                t.expires_at(),
                SystemTime::UNIX_EPOCH + Duration::from_secs(5000)
            );
            let t = claims()
                .validate(&jwt(r#"{"sub":"bob"}"#, "sig"), Some(60.0), now)
                .unwrap();
            assert_eq!(t.expires_at(), now + Duration::from_secs(60));
            let c = Claims {
                sub: "client_id".into(),
            };
            let t = c
                .validate(&jwt(r#"{"client_id":"svc","exp":5000}"#, "s"), None, now)
                .unwrap();
            assert_eq!(t.principal(), "svc");
            for (token, want) in [
                ("abc".to_string(), "malformed"),
                ("a..b".to_string(), "malformed"),
                ("a.!!.b".to_string(), "base64url"),
                (jwt("[1]", ""), "not a JSON object"),
                (jwt(r#"{"sub":"a"}"#, ""), "no exp"),
                (jwt(r#"{"exp":5000}"#, ""), "no sub claim"),
                (jwt(r#"{"sub":" ","exp":5000}"#, ""), "no sub claim"),
                (jwt(r#"{"sub":"a","exp":"x"}"#, ""), "not a time"),
            ] {
                let e = claims().validate(&token, None, now).unwrap_err();
                assert!(e.contains(want), "{token}: {e}");
                assert!(!e.contains(&token), "{e}");
            }
        }

        #[test]
        fn an_exp_claim_past_what_a_clock_holds_is_refused_not_a_panic() {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
            for exp in ["1e19", "1e300", "18446744073709551615"] {
                let claims_json = format!(r#"{{"sub":"alice","exp":{exp}}}"#);
                let e = claims()
                    .validate(&jwt(&claims_json, ""), None, now)
                    .unwrap_err();
                assert!(e.contains("exp claim is not a time"), "{exp}: {e}");
            }
        }

        #[test]
        fn java_form_encoding_and_file_urls() {
            assert_eq!(form_encode("a b+c/d~é.-*_"), "a+b%2Bc%2Fd%7E%C3%A9.-*_");
            assert_eq!(file_path("file:/a/b").unwrap(), PathBuf::from("/a/b"));
            assert_eq!(
                file_path("file:///a/b%20c").unwrap(),
                PathBuf::from("/a/b c")
            );
            assert_eq!(
                file_path("file://localhost/a").unwrap(),
                PathBuf::from("/a")
            );
            assert!(file_path("file://host/a").is_err());
            assert!(file_path("file:").is_err());
        }

        #[test]
        fn error_bodies() {
            assert_eq!(format_error(""), "{}");
            assert_eq!(
                format_error(r#"{"error":"invalid_client","error_description":"bad"}"#),
                r#"{"invalid_client" - "bad"}"#
            );
            assert_eq!(format_error("oops"), "{oops}");
        }

        fn cfg(pairs: &[(&str, &str)]) -> ProducerConfig {
            let mut all = vec![
                ("bootstrap.servers", "127.0.0.1:9092"),
                ("sasl.mechanism", "OAUTHBEARER"),
                (
                    "sasl.login.callback.handler.class",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                ),
                ("sasl.login.retry.backoff.ms", "10"),
                ("sasl.login.retry.backoff.max.ms", "100"),
            ];
            all.extend_from_slice(pairs);
            ProducerConfig::from_properties(all).unwrap()
        }

        /// Answers each connection with the next of `answers` (status, body) and sends the
        /// requests it read back.
        fn server(answers: Vec<(u16, String)>) -> (String, std::sync::mpsc::Receiver<String>) {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/token", l.local_addr().unwrap());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for (status, body) in answers {
                    let (mut s, _) = l.accept().unwrap();
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut head = String::new();
                    let mut len = 0;
                    loop {
                        let mut line = String::new();
                        r.read_line(&mut line).unwrap();
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut req_body = vec![0; len];
                    r.read_exact(&mut req_body).unwrap();
                    head.push_str(&String::from_utf8(req_body).unwrap());
                    tx.send(head).unwrap();
                    write!(
                        s,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .unwrap();
                }
            });
            (url, rx)
        }

        #[test]
        fn client_credentials_flow() {
            let token = jwt(r#"{"sub":"svc","exp":4102444800}"#, "");
            let (url, requests) = server(vec![
                (503, "busy".into()),
                (
                    200,
                    format!(r#"{{"access_token":"{token}","expires_in":3600}}"#),
                ),
            ]);
            let c = cfg(&[
                ("sasl.oauthbearer.token.endpoint.url", &url),
                ("sasl.oauthbearer.client.credentials.client.id", "my id"),
                (
                    "sasl.oauthbearer.client.credentials.client.secret",
                    "s3cr:t",
                ),
                ("sasl.oauthbearer.header.urlencode", "true"),
            ]);
            let j = jaas::parse(
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 scope=\"kafka write\";",
            )
            .unwrap();
            let p = login(&c, Some(&j)).unwrap();
            assert!(!format!("{p:?}").contains("s3cr"));
            let t = p.token().unwrap();
            assert_eq!(t.value(), token);
            assert_eq!(t.principal(), "svc");
            let first = requests.recv().unwrap();
            let second = requests.recv().unwrap();
            assert_eq!(first, second);
            assert!(first.starts_with("POST /token HTTP/1.1\r\n"), "{first}");
            let basic = STANDARD.encode("my+id:s3cr%3At");
            assert!(
                first.contains(&format!("authorization: Basic {basic}\r\n"))
                    || first.contains(&format!("Authorization: Basic {basic}\r\n")),
                "{first}"
            );
            assert!(
                first.ends_with("\r\n\r\ngrant_type=client_credentials&scope=kafka+write"),
                "{first}"
            );
        }

        #[test]
        fn unretryable_answers_fail_at_once() {
            let (url, _requests) = server(vec![(
                401,
                r#"{"error":"invalid_client","error_description":"no such client"}"#.into(),
            )]);
            let j = jaas::parse(
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 clientId=\"id\" clientSecret=\"topsecret\";",
            )
            .unwrap();
            let c = cfg(&[("sasl.oauthbearer.token.endpoint.url", &url)]);
            let e = login(&c, Some(&j))
                .unwrap()
                .token()
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(r#"answered 401 {"invalid_client" - "no such client"}"#),
                "{e}"
            );
            assert!(!e.contains("topsecret"));
        }

        #[test]
        fn config_errors() {
            let err = |c: &ProducerConfig| match login(c, None) {
                Err(Error::Config { key, .. }) => key,
                other => panic!("{other:?}"),
            };
            assert_eq!(err(&cfg(&[])), URL_KEY);
            assert_eq!(
                err(&cfg(&[(
                    "sasl.oauthbearer.token.endpoint.url",
                    "https://idp/token"
                )])),
                ID_KEY
            );
            assert_eq!(
                err(&cfg(&[
                    ("sasl.oauthbearer.token.endpoint.url", "https://idp/token"),
                    ("sasl.oauthbearer.client.credentials.client.id", "x"),
                ])),
                SECRET_KEY
            );
            assert_eq!(
                err(&cfg(&[("sasl.oauthbearer.token.endpoint.url", "ftp://x")])),
                URL_KEY
            );
            assert_eq!(
                err(&cfg(&[(
                    "sasl.oauthbearer.token.endpoint.url",
                    "file:/no/such/file"
                )])),
                URL_KEY
            );
        }

        #[test]
        fn token_files() {
            let path = std::env::temp_dir().join(format!("volley-token-{}", std::process::id()));
            std::fs::write(
                &path,
                format!("  {}\n", jwt(r#"{"sub":"f","exp":4102444800}"#, "x")),
            )
            .unwrap();
            let url = format!("file://{}", path.display());
            let p = login(&cfg(&[("sasl.oauthbearer.token.endpoint.url", &url)]), None).unwrap();
            assert_eq!(p.token().unwrap().principal(), "f");
            std::fs::write(&path, jwt(r#"{"sub":"g","exp":4102444800}"#, "x")).unwrap();
            assert_eq!(p.token().unwrap().principal(), "g", "read again");
            std::fs::remove_file(&path).unwrap();
        }
    }
}
