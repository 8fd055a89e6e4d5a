//! The authenticator built from configuration, the exchange over a fake broker connection
//! (real request encoding and response decoding), and secrets kept out of every text.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ResponseHeader, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use super::exchange::{self, SaslTransport};
use super::scram::{ScramHash, ScramSession};
use super::*;
use crate::config::ProducerConfig;
use crate::error::KafkaCode;
use crate::protocol::frame::{self, BrokerVersions, Request};

const SECRET: &str = "s3cret-Pa55word";

fn cfg(pairs: &[(&str, &str)]) -> ProducerConfig {
    let mut all = vec![
        ("bootstrap.servers", "127.0.0.1:9092"),
        ("security.protocol", "SASL_PLAINTEXT"),
    ];
    all.extend_from_slice(pairs);
    ProducerConfig::from_properties(all).unwrap()
}

fn build(pairs: &[(&str, &str)]) -> Result<SaslAuthenticator> {
    SaslAuthenticator::from_config(&cfg(pairs), None)
}

fn config_error(pairs: &[(&str, &str)]) -> (String, String) {
    match build(pairs) {
        Err(Error::Config { key, message }) => (key, message),
        other => panic!("{pairs:?}: expected a config error, got {other:?}"),
    }
}

fn plain_jaas(user: &str, password: &str) -> String {
    format!(
        "{} required username=\"{user}\" password=\"{password}\";",
        jaas::PLAIN_MODULE
    )
}

fn scram_jaas(extra: &str) -> String {
    format!(
        "{} required username=\"alice\" password=\"{SECRET}\"{extra};",
        jaas::SCRAM_MODULE
    )
}

#[test]
fn credentials_from_jaas_or_keys() {
    let a = build(&[
        ("sasl.mechanism", "PLAIN"),
        ("sasl.jaas.config", &plain_jaas("alice", SECRET)),
        ("sasl.username", "bob"),
        ("sasl.password", "other"),
    ])
    .unwrap();
    let c = a.credentials.as_ref().unwrap();
    assert_eq!(
        (c.username.as_str(), c.password.as_str()),
        ("alice", SECRET),
        "JAAS wins"
    );

    let a = build(&[
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", "bob"),
        ("sasl.password", SECRET),
    ])
    .unwrap();
    assert_eq!(a.credentials.as_ref().unwrap().username, "bob");
    assert!(a.scram_extensions.is_empty());

    let a = build(&[
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.jaas.config", &scram_jaas(" tokenauth=\"true\"")),
    ])
    .unwrap();
    assert_eq!(
        a.scram_extensions,
        vec![("tokenauth".to_string(), "true".to_string())]
    );
}

#[test]
fn build_time_validation() {
    let (key, m) = config_error(&[("sasl.mechanism", "PLAIN")]);
    assert_eq!(key, "sasl.jaas.config");
    assert!(m.contains("needs a user name and password"), "{m}");
    let (key, _) = config_error(&[("sasl.mechanism", "SCRAM-SHA-256"), ("sasl.username", "u")]);
    assert_eq!(key, "sasl.jaas.config");
    let (key, m) = config_error(&[
        ("sasl.mechanism", "SCRAM-SHA-256"),
        (
            "sasl.jaas.config",
            &format!("{} required username=\"u\";", jaas::SCRAM_MODULE),
        ),
    ]);
    assert_eq!(key, "sasl.jaas.config");
    assert!(
        m.contains("ScramLoginModule needs the option password"),
        "{m}"
    );
    let (_, m) = config_error(&[
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.jaas.config", &plain_jaas("u", SECRET)),
    ]);
    assert!(
        m.contains("sasl.mechanism is SCRAM-SHA-512 but the login module is"),
        "{m}"
    );
    let (_, m) = config_error(&[
        ("sasl.mechanism", "PLAIN"),
        ("sasl.jaas.config", "com.example.MyLoginModule required;"),
    ]);
    assert!(
        m.contains("login module com.example.MyLoginModule is not supported"),
        "{m}"
    );
    let (key, m) = config_error(&[("sasl.mechanism", "GSSAPI")]);
    assert_eq!(key, "sasl.mechanism");
    assert!(m.contains("GSSAPI"), "{m}");
    // Java's default mechanism is GSSAPI: a SASL protocol without sasl.mechanism is refused.
    assert_eq!(config_error(&[]).0, "sasl.mechanism");
    let (key, _) = config_error(&[("sasl.mechanism", "OAUTHBEARER")]);
    assert_eq!(key, "sasl.jaas.config");
    let (key, m) = config_error(&[
        ("sasl.mechanism", "PLAIN"),
        (
            "sasl.jaas.config",
            &format!("{} required password={SECRET}", jaas::PLAIN_MODULE),
        ),
    ]);
    assert_eq!(key, "sasl.jaas.config");
    assert!(m.contains("semi-colon") && !m.contains(SECRET), "{m}");
}

#[cfg(not(feature = "oauth-oidc"))]
#[test]
fn oidc_handler_without_the_feature() {
    let (key, m) = config_error(&[
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.login.callback.handler.class",
            crate::security::OIDC_LOGIN_HANDLER,
        ),
        ("sasl.oauthbearer.token.endpoint.url", "https://idp/token"),
    ]);
    assert_eq!(key, "sasl.login.callback.handler.class");
    assert!(m.contains("oauth-oidc"), "{m}");
}

#[tokio::test]
async fn sessions_per_mechanism() {
    let plain = build(&[
        ("sasl.mechanism", "PLAIN"),
        ("sasl.jaas.config", &plain_jaas("alice", SECRET)),
    ])
    .unwrap();
    let mut s = plain.session().await.unwrap();
    assert_eq!(
        s.step(b""),
        Ok(Step::Send(format!("\0alice\0{SECRET}").into_bytes()))
    );
    let scram = build(&[
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.jaas.config", &scram_jaas("")),
    ])
    .unwrap();
    match scram.session().await.unwrap().step(b"") {
        Ok(Step::Send(m)) => assert!(m.starts_with(b"n,,n=alice,r=")),
        other => panic!("{other:?}"),
    }
    let oauth = build(&[
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.jaas.config",
            &format!(
                "{} required unsecuredLoginStringClaim_sub=\"admin\";",
                jaas::OAUTHBEARER_MODULE
            ),
        ),
    ])
    .unwrap();
    match oauth.session().await.unwrap().step(b"") {
        Ok(Step::Send(m)) => assert!(m.starts_with(b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.")),
        other => panic!("{other:?}"),
    }
}

/// The secrets of every configuration form never appear in `Debug` or `Display` of the
/// configuration, the authenticator, its sessions, or the errors of a failed exchange.
#[tokio::test]
async fn secrets_are_never_shown() {
    let forms: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("sasl.mechanism", "PLAIN".into()),
            ("sasl.jaas.config", plain_jaas("alice", SECRET)),
        ],
        vec![
            ("sasl.mechanism", "SCRAM-SHA-256".into()),
            ("sasl.username", "alice".into()),
            ("sasl.password", SECRET.into()),
        ],
        vec![
            ("sasl.mechanism", "SCRAM-SHA-512".into()),
            ("sasl.jaas.config", scram_jaas("")),
        ],
        vec![
            ("sasl.mechanism", "OAUTHBEARER".into()),
            (
                "sasl.jaas.config",
                format!(
                    "{} required unsecuredLoginStringClaim_sub=\"admin\" \
                     unsecuredLoginExtension_k=\"{SECRET}\" clientSecret=\"{SECRET}\";",
                    jaas::OAUTHBEARER_MODULE
                ),
            ),
            (
                "sasl.oauthbearer.client.credentials.client.secret",
                SECRET.into(),
            ),
        ],
    ];
    for form in forms {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let c = cfg(&pairs);
        let a = SaslAuthenticator::from_config(&c, None).unwrap();
        let mut texts = vec![
            format!("{c:?}"),
            format!("{:?}", c.to_properties()),
            format!("{a:?}"),
        ];
        let mut session = a.session().await.unwrap();
        let first = session.step(b"").unwrap();
        // A broker that answers nonsense: the errors name no secret.
        for answer in [
            &b"r=x,s=QSXCR+Q6sek8bf92,i=4096"[..],
            b"e=invalid-proof",
            b"{\"status\":\"invalid_token\"}",
        ] {
            if let Err(e) = session.step(answer) {
                texts.push(e);
            }
        }
        texts.push(format!("{first:?}").replace(SECRET, "<sent>"));
        let token = a.oauth.as_ref().map(|o| format!("{o:?}"));
        texts.extend(token);
        for t in &texts {
            assert!(!t.contains(SECRET), "{pairs:?} shows the secret: {t}");
        }
    }
    // The concrete sessions.
    let creds = Credentials {
        username: "alice".into(),
        password: SECRET.into(),
    };
    let shown = [
        format!(
            "{:?}",
            ScramSession::new(ScramHash::Sha256, creds.clone(), vec![], Default::default())
        ),
        format!(
            "{:?}",
            PlainSession {
                creds: Some(creds.clone())
            }
        ),
        format!("{creds:?}"),
        format!(
            "{:?}",
            oauthbearer::OAuthBearerSession::new(SECRET.into(), vec![])
        ),
        format!(
            "{:?}",
            crate::security::OAuthBearerToken::new(SECRET, std::time::SystemTime::now(), "a")
        ),
    ];
    for t in shown {
        assert!(!t.contains(SECRET), "{t}");
    }
}

/// A broker connection that encodes each request as the real one does and decodes canned
/// response frames with the real decoder.
struct FakeBroker {
    versions: BrokerVersions,
    replies: VecDeque<Box<dyn FnOnce(i32, i16) -> Bytes + Send>>,
    sent: Vec<ApiKey>,
    next_correlation_id: i32,
}

fn frame_of<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, resp: &R) -> Bytes {
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    resp.encode(&mut buf, version).unwrap();
    buf.freeze()
}

impl FakeBroker {
    fn new() -> FakeBroker {
        FakeBroker {
            versions: BrokerVersions::new([
                (ApiKey::SaslHandshake as i16, 0, 1),
                (ApiKey::SaslAuthenticate as i16, 0, 2),
            ]),
            replies: VecDeque::new(),
            sent: Vec::new(),
            next_correlation_id: 7,
        }
    }

    fn reply<R: Encodable + HeaderVersion + Send + 'static>(mut self, resp: R) -> Self {
        self.replies.push_back(Box::new(move |corr, version| {
            frame_of(corr, version, &resp)
        }));
        self
    }
}

impl SaslTransport for FakeBroker {
    fn broker(&self) -> &str {
        "fake:9092"
    }

    fn versions(&self) -> &BrokerVersions {
        &self.versions
    }

    async fn round_trip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let corr = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut out = BytesMut::new();
        frame::encode_request(&mut out, version, corr, "test", req)
            .map_err(|e| Error::protocol("fake:9092", e))?;
        self.sent.push(R::KEY);
        let reply = self.replies.pop_front().expect("a canned reply");
        frame::decode_response::<R>(reply(corr, version), version, corr)
            .map_err(|e| Error::protocol("fake:9092", e))
    }
}

fn scram256() -> SaslAuthenticator {
    build(&[
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.jaas.config", &scram_jaas("")),
    ])
    .unwrap()
}

#[tokio::test]
async fn unsupported_mechanism_is_an_authentication_error() {
    let mut broker = FakeBroker::new().reply(
        SaslHandshakeResponse::default()
            .with_error_code(KafkaCode::UNSUPPORTED_SASL_MECHANISM.0)
            .with_mechanisms(vec![
                StrBytes::from_static_str("PLAIN"),
                StrBytes::from_static_str("SCRAM-SHA-512"),
            ]),
    );
    match exchange::authenticate(&mut broker, &scram256()).await {
        Err(Error::Authentication {
            broker,
            mechanism,
            message,
        }) => {
            assert_eq!(broker, "fake:9092");
            assert_eq!(mechanism, "SCRAM-SHA-256");
            assert_eq!(
                message,
                "the broker does not enable SCRAM-SHA-256 on this listener (it enables: PLAIN, \
                 SCRAM-SHA-512)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(broker.sent, vec![ApiKey::SaslHandshake]);
}

#[tokio::test]
async fn refused_credentials_carry_the_brokers_message() {
    let mut broker = FakeBroker::new()
        .reply(
            SaslHandshakeResponse::default()
                .with_mechanisms(vec![StrBytes::from_static_str("SCRAM-SHA-256")]),
        )
        .reply(
            SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from_static(
                b"r=will-not-match,s=QSXCR+Q6sek8bf92,i=4096",
            )),
        );
    match exchange::authenticate(&mut broker, &scram256()).await {
        Err(Error::Authentication { message, .. }) => {
            assert!(message.contains("nonce"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let mut broker = FakeBroker::new()
        .reply(SaslHandshakeResponse::default())
        .reply(
            SaslAuthenticateResponse::default()
                .with_error_code(KafkaCode::SASL_AUTHENTICATION_FAILED.0)
                .with_error_message(Some(StrBytes::from_static_str(
                    "Authentication failed during authentication due to invalid credentials",
                ))),
        );
    match exchange::authenticate(&mut broker, &scram256()).await {
        Err(e @ Error::Authentication { .. }) => {
            assert!(e.to_string().contains("invalid credentials"), "{e}");
            assert!(!format!("{e:?}").contains(SECRET));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        broker.sent,
        vec![ApiKey::SaslHandshake, ApiKey::SaslAuthenticate]
    );
}

#[tokio::test]
async fn oauthbearer_exchange_with_session_lifetime() {
    struct Fixed;
    impl crate::security::TokenProvider for Fixed {
        fn token(
            &self,
        ) -> std::result::Result<crate::security::OAuthBearerToken, crate::security::TokenError>
        {
            Ok(crate::security::OAuthBearerToken::new(
                "h.p.",
                std::time::SystemTime::now() + std::time::Duration::from_secs(60),
                "admin",
            ))
        }
    }
    let auth = SaslAuthenticator::from_config(
        &cfg(&[("sasl.mechanism", "OAUTHBEARER")]),
        Some(Arc::new(Fixed)),
    )
    .unwrap();
    let mut broker = FakeBroker::new()
        .reply(SaslHandshakeResponse::default())
        .reply(SaslAuthenticateResponse::default().with_session_lifetime_ms(4000));
    let done = exchange::authenticate(&mut broker, &auth).await.unwrap();
    assert_eq!(
        done.session_lifetime,
        Some(std::time::Duration::from_millis(4000))
    );

    // A refused token: the broker answers the initial response with an RFC 7628 error
    // challenge, the client acknowledges it (0x01), and the broker then fails the exchange with
    // a generic message; the error carries the challenge's status too.
    let mut broker = FakeBroker::new()
        .reply(SaslHandshakeResponse::default())
        .reply(
            SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from_static(
                br#"{"status":"invalid_token","scope":"kafka"}"#,
            )),
        )
        .reply(
            SaslAuthenticateResponse::default()
                .with_error_code(KafkaCode::SASL_AUTHENTICATION_FAILED.0)
                .with_error_message(Some(StrBytes::from_static_str(
                    "Authentication failed during authentication",
                ))),
        );
    match exchange::authenticate(&mut broker, &auth).await {
        Err(Error::Authentication { message, .. }) => {
            assert!(message.contains("Authentication failed"), "{message}");
            assert!(message.contains("status invalid_token"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
