//! SASL against the real broker's secure listeners (`scripts/kafka secure`): every mechanism
//! produces records that Kafka's console consumer reads back over the same kind of listener;
//! token sources that fail or hang, wrong passwords and unknown users fail with
//! `Error::Authentication` in bounded time, and never show a password.
//!
//! The OIDC test needs the `oauth-oidc` feature: `cargo test -p volley-kafka --features oauth-oidc
//! --test sasl`.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use volley::security::{OAuthBearerToken, TokenError, TokenProvider};
use volley::{Error, Producer, Record};

const OAUTH_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

fn with(mut v: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    v.extend(extra.iter().map(|(k, x)| (k.to_string(), x.to_string())));
    v
}

fn start(
    props: &[(String, String)],
    provider: Option<Box<dyn FnOnce(volley::ProducerBuilder) -> volley::ProducerBuilder>>,
) -> Producer {
    let cfg = volley::ProducerConfig::from_properties(
        props.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .expect("config");
    let b = Producer::builder(cfg);
    let b = match provider {
        Some(f) => f(b),
        None => b,
    };
    b.build().expect("producer")
}

/// Sends five records through `p`, then reads them back with Kafka's console consumer over
/// `listener` with `mechanism` (as admin).
fn round_trip(p: Producer, listener: &str, mechanism: &str) {
    let topic = unique_topic(&format!("sasl-{}", mechanism.to_ascii_lowercase()));
    create_topic(&topic, 1, &[]);
    let values: Vec<String> = (0..5)
        .map(|i| format!("{mechanism}-{listener}-{i}"))
        .collect();
    let futures: Vec<_> = values
        .iter()
        .map(|v| {
            p.send(Record::new(&topic).key("k").value(v.as_str()))
                .expect("send")
        })
        .collect();
    for f in futures {
        f.wait().expect("acknowledged");
    }
    p.close().expect("close");
    let out = kafka(&[
        "consume",
        &topic,
        "--max-messages",
        "5",
        "--timeout-ms",
        "20000",
        "--listener",
        listener,
        "--mechanism",
        mechanism,
    ]);
    let got: Vec<String> = parse_consumed(&out)
        .into_iter()
        .map(|r| r.value.expect("a value"))
        .collect();
    assert_eq!(got, values, "read back over {listener} with {mechanism}");
}

fn jaas_round_trip(listener: &str, mechanism: &str) {
    let s = secure();
    let props = with(
        sasl_listener_props(listener, mechanism),
        &[(
            "sasl.jaas.config",
            &jaas(mechanism, "admin", &s["user.admin.password"]),
        )],
    );
    round_trip(start(&props, None), listener, mechanism);
}

#[test]
fn plain_over_sasl_plaintext() {
    jaas_round_trip("sasl_plaintext", "PLAIN");
}

#[test]
fn scram_sha_256_over_sasl_plaintext() {
    jaas_round_trip("sasl_plaintext", "SCRAM-SHA-256");
}

#[test]
fn scram_sha_512_over_sasl_plaintext() {
    jaas_round_trip("sasl_plaintext", "SCRAM-SHA-512");
}

#[test]
fn unsecured_oauthbearer_over_sasl_plaintext() {
    jaas_round_trip("sasl_plaintext", "OAUTHBEARER");
}

#[test]
fn plain_over_sasl_ssl() {
    jaas_round_trip("sasl_ssl", "PLAIN");
}

#[test]
fn scram_sha_256_over_sasl_ssl() {
    jaas_round_trip("sasl_ssl", "SCRAM-SHA-256");
}

#[test]
fn scram_sha_512_over_sasl_ssl() {
    jaas_round_trip("sasl_ssl", "SCRAM-SHA-512");
}

#[test]
fn unsecured_oauthbearer_over_sasl_ssl() {
    jaas_round_trip("sasl_ssl", "OAUTHBEARER");
}

#[test]
fn username_and_password_keys() {
    let s = secure();
    let props = with(
        sasl_listener_props("sasl_plaintext", "SCRAM-SHA-256"),
        &[
            ("sasl.username", "admin"),
            ("sasl.password", &s["user.admin.password"]),
        ],
    );
    round_trip(start(&props, None), "sasl_plaintext", "SCRAM-SHA-256");
}

/// An unsecured JWT (what Kafka's unsecured validator accepts) naming `sub`.
fn unsecured_jwt(sub: &str, lifetime: Duration) -> (String, SystemTime) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let exp = now + lifetime;
    let claims = format!(
        r#"{{"sub":"{sub}","iat":{},"exp":{}}}"#,
        now.as_secs(),
        exp.as_secs()
    );
    let jwt = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none"}"#),
        b64.encode(claims)
    );
    (jwt, SystemTime::UNIX_EPOCH + exp)
}

struct Jwts;

impl TokenProvider for Jwts {
    fn token(&self) -> Result<OAuthBearerToken, TokenError> {
        let (jwt, exp) = unsecured_jwt("admin", Duration::from_secs(3600));
        Ok(OAuthBearerToken::new(jwt, exp, "admin"))
    }
}

#[test]
fn token_provider_tokens_authenticate() {
    let props = sasl_listener_props("sasl_plaintext", "OAUTHBEARER");
    round_trip(
        start(&props, Some(Box::new(|b| b.token_provider(Jwts)))),
        "sasl_plaintext",
        "OAUTHBEARER",
    );
}

/// The `Error::Authentication` in `e`'s cause chain.
fn authentication_in(e: &Error) -> Option<&Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        // A cause is held as a `Box<Error>`, which is what `source` gives.
        let v = x
            .downcast_ref::<Error>()
            .or_else(|| x.downcast_ref::<Box<Error>>().map(|b| &**b));
        if let Some(v @ Error::Authentication { .. }) = v {
            return Some(v);
        }
        cur = x.source();
    }
    None
}

/// A send through `p` fails within `bound` with `Error::Authentication` (its message holding
/// `want`) in the cause chain; no text of the error shows `secret`.
fn expect_authentication_failure(p: Producer, want: &str, secret: Option<&str>, bound: Duration) {
    let topic = unique_topic("sasl-refused");
    let t0 = Instant::now();
    let e = p
        .send(Record::new(&topic).value("never sent"))
        .and_then(|f| f.wait())
        .expect_err("the send must fail");
    let took = t0.elapsed();
    assert!(
        took < bound,
        "failed after {took:?}, more than {bound:?}: {e}"
    );
    let auth = authentication_in(&e).unwrap_or_else(|| panic!("no Authentication in {e:?}"));
    assert!(auth.to_string().contains(want), "{auth}");
    if let Some(secret) = secret {
        for text in [format!("{e}"), format!("{e:?}")] {
            assert!(!text.contains(secret), "the password shows in {text}");
        }
    }
    let _ = p.close_timeout(Duration::from_secs(5));
}

#[test]
fn wrong_password() {
    let s = secure();
    let wrong = format!("{}-wrong", &s["user.alice.password"]);
    let props = with(
        sasl_listener_props("sasl_plaintext", "SCRAM-SHA-512"),
        &[
            ("sasl.jaas.config", &jaas("SCRAM-SHA-512", "alice", &wrong)),
            ("max.block.ms", "4000"),
        ],
    );
    expect_authentication_failure(
        start(&props, None),
        "invalid credentials",
        Some(&wrong),
        Duration::from_secs(20),
    );
}

#[test]
fn unknown_user() {
    let props = with(
        sasl_listener_props("sasl_plaintext", "PLAIN"),
        &[
            (
                "sasl.jaas.config",
                &jaas("PLAIN", "nobody", "whatever-pw-123"),
            ),
            ("max.block.ms", "4000"),
        ],
    );
    expect_authentication_failure(
        start(&props, None),
        "Invalid username or password",
        Some("whatever-pw-123"),
        Duration::from_secs(20),
    );
}

struct Failing;

impl TokenProvider for Failing {
    fn token(&self) -> Result<OAuthBearerToken, TokenError> {
        Err("identity provider said no".into())
    }
}

#[test]
fn failing_token_provider() {
    let props = with(
        sasl_listener_props("sasl_plaintext", "OAUTHBEARER"),
        &[("max.block.ms", "3000")],
    );
    expect_authentication_failure(
        start(&props, Some(Box::new(|b| b.token_provider(Failing)))),
        "identity provider said no",
        None,
        Duration::from_secs(15),
    );
}

struct Hanging;

impl TokenProvider for Hanging {
    fn token(&self) -> Result<OAuthBearerToken, TokenError> {
        std::thread::sleep(Duration::from_secs(30));
        Err("too late".into())
    }
}

#[test]
fn hanging_token_provider_fails_in_bounded_time() {
    let props = with(
        sasl_listener_props("sasl_plaintext", "OAUTHBEARER"),
        &[
            ("max.block.ms", "3000"),
            ("sasl.login.read.timeout.ms", "500"),
        ],
    );
    expect_authentication_failure(
        start(&props, Some(Box::new(|b| b.token_provider(Hanging)))),
        "did not return a token within 500 ms",
        None,
        Duration::from_secs(15),
    );
}

#[test]
fn gssapi_is_refused_at_build() {
    let props = sasl_listener_props("sasl_plaintext", "GSSAPI");
    let cfg = volley::ProducerConfig::from_properties(
        props.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let e = cfg
        .and_then(|c| Producer::builder(c).build())
        .expect_err("GSSAPI is not supported");
    match e {
        Error::Config { key, message } => {
            assert_eq!(key, "sasl.mechanism");
            assert!(message.contains("GSSAPI"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// The OIDC client-credentials flow against a token endpoint on 127.0.0.1 that hands out
/// unsecured JWTs naming admin (which the broker's unsecured validator accepts).
#[cfg(feature = "oauth-oidc")]
#[test]
fn oidc_client_credentials() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line.trim_end().to_string();
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            seen.fetch_add(1, Ordering::SeqCst);
            let ok = String::from_utf8_lossy(&body).starts_with("grant_type=client_credentials")
                && auth.ends_with("Basic dm9sbGV5OnMzY3JldA=="); // volley:s3cret
            let (status, answer) = if ok {
                let (jwt, _) = unsecured_jwt("admin", Duration::from_secs(3600));
                (
                    "200 OK",
                    format!(
                        r#"{{"access_token":"{jwt}","token_type":"bearer","expires_in":3600}}"#
                    ),
                )
            } else {
                (
                    "401 Unauthorized",
                    r#"{"error":"invalid_client"}"#.to_string(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    let props = with(
        sasl_listener_props("sasl_plaintext", "OAUTHBEARER"),
        &[
            (
                "sasl.login.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
            ),
            ("sasl.oauthbearer.token.endpoint.url", &url),
            ("sasl.oauthbearer.client.credentials.client.id", "volley"),
            (
                "sasl.oauthbearer.client.credentials.client.secret",
                "s3cret",
            ),
            ("sasl.jaas.config", &format!("{OAUTH_MODULE} required;")),
        ],
    );
    round_trip(start(&props, None), "sasl_plaintext", "OAUTHBEARER");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one token for every connection"
    );
}
