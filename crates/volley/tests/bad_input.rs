//! Hostile or broken peers: a tiny scripted fake broker (a TCP listener on 127.0.0.1:0) that
//! answers with chosen bytes, plus unreachable and unresolvable bootstrap hosts. Every case must
//! end in a typed error, promptly, without a panic or a hang. No real broker is needed.

use std::future::pending;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, MetadataRequest};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use volley::io::connection::{ConnectOptions, Connection};
use volley::protocol::frame::CLIENT_VERSIONS;
use volley::{Error, KafkaCode, Producer, ProtocolError, Record};

// --- the fake broker ---------------------------------------------------------------------

/// The header of one request the fake broker read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Req {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
}

/// What the fake broker does after reading a request.
enum Step {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Close the connection.
    Close,
    /// Keep the connection open and never write again.
    Hold,
}

struct Fake {
    addr: String,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    fn requests(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }
}

/// Starts a fake broker. With `close_on_accept` it closes every connection at once; otherwise
/// it reads size-prefixed requests and runs `script(n, request)` for the n-th request of the
/// connection (from 0). After the steps it reads the next request, unless a step closed or held.
async fn fake_broker(
    close_on_accept: bool,
    script: impl Fn(usize, &Req) -> Vec<Step> + Send + Sync + 'static,
) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(script);
    {
        let accepted = accepted.clone();
        let requests = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                if close_on_accept {
                    drop(sock);
                    continue;
                }
                let script = script.clone();
                let requests = requests.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    loop {
                        let mut size = [0u8; 4];
                        if sock.read_exact(&mut size).await.is_err() {
                            return;
                        }
                        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                        if sock.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let req = Req {
                            api_key: i16::from_be_bytes([body[0], body[1]]),
                            api_version: i16::from_be_bytes([body[2], body[3]]),
                            correlation_id: i32::from_be_bytes([
                                body[4], body[5], body[6], body[7],
                            ]),
                        };
                        requests.lock().unwrap().push(req);
                        for step in script(n, &req) {
                            match step {
                                Step::Write(bytes) => {
                                    if sock.write_all(&bytes).await.is_err() {
                                        return;
                                    }
                                    let _ = sock.flush().await;
                                }
                                Step::Close => return,
                                Step::Hold => pending::<()>().await,
                            }
                        }
                        n += 1;
                    }
                });
            }
        });
    }
    Fake {
        addr,
        accepted,
        requests,
    }
}

/// A response frame: size prefix, header v0 (correlation id), body.
fn frame(correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An ApiVersions response body at `version`.
fn api_versions_body(resp: &ApiVersionsResponse, version: i16) -> Vec<u8> {
    let mut b = BytesMut::new();
    resp.encode(&mut b, version).expect("encode ApiVersions");
    b.to_vec()
}

/// An ApiVersions response listing every API the client speaks, from v0 to the client's max,
/// with `produce` as Produce's range.
fn versions_with_produce(produce: (i16, i16)) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(
            CLIENT_VERSIONS
                .iter()
                .map(|&(key, _, max)| {
                    let (lo, hi) = if key == ApiKey::Produce {
                        produce
                    } else {
                        (0, max)
                    };
                    ApiVersion::default()
                        .with_api_key(key as i16)
                        .with_min_version(lo)
                        .with_max_version(hi)
                })
                .collect(),
        )
}

fn good_versions() -> ApiVersionsResponse {
    versions_with_produce((0, 12))
}

/// A fake broker that answers the first ApiVersions request with `reply(correlation id)`,
/// then runs `after`.
async fn answer_api_versions_with(
    reply: impl Fn(i32) -> Vec<u8> + Send + Sync + 'static,
    after: fn() -> Step,
) -> Fake {
    fake_broker(false, move |n, req| {
        if n == 0 {
            assert_eq!(req.api_key, ApiKey::ApiVersions as i16, "first request");
            vec![Step::Write(reply(req.correlation_id)), after()]
        } else {
            vec![Step::Hold]
        }
    })
    .await
}

fn options(connect_timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        client_id: "volley-bad-input-test".into(),
        connect_timeout,
        request_timeout: Duration::from_secs(2),
        ..ConnectOptions::default()
    }
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// Connects with `connect_timeout` and returns the error and how long it took; panics if the
/// connect succeeds. An outer bound of timeout + 5 s turns a hang into a test failure.
async fn connect_err(addr: &str, opts: &ConnectOptions) -> (Error, Duration) {
    let start = Instant::now();
    let res = tokio::time::timeout(
        opts.connect_timeout + Duration::from_secs(5),
        Connection::connect(addr, opts),
    )
    .await
    .expect("Connection::connect hung past its connect timeout");
    let elapsed = start.elapsed();
    match res {
        Ok(c) => panic!("connect to {addr} succeeded: {:?}", c.versions()),
        Err(e) => (e, elapsed),
    }
}

fn is_timeout(e: &Error) -> bool {
    matches!(e, Error::Network { message, .. } if message.contains("timed out"))
}

// --- the fake broker itself works ----------------------------------------------------------

// Pins: the fake broker's well-formed answer connects (a control for every case below), and a
// broker that answers ApiVersions v3 with UNSUPPORTED_VERSION in v0 gets a retry at its max.
#[tokio::test]
async fn control_well_formed_and_unsupported_version_retry() {
    let fake = answer_api_versions_with(
        |c| frame(c, &api_versions_body(&good_versions(), 3)),
        || Step::Hold,
    )
    .await;
    let conn = Connection::connect(&fake.addr, &options(TIMEOUT))
        .await
        .expect("connect");
    assert_eq!(conn.versions().negotiate(ApiKey::Produce).unwrap(), 12);
    assert_eq!(fake.requests()[0].api_version, 3);

    let fake = fake_broker(false, |n, req| {
        assert_eq!(req.api_key, ApiKey::ApiVersions as i16);
        let body = if n == 0 {
            let old = ApiVersionsResponse::default()
                .with_error_code(KafkaCode::UNSUPPORTED_VERSION.0)
                .with_api_keys(vec![ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_min_version(0)
                    .with_max_version(2)]);
            api_versions_body(&old, 0)
        } else {
            api_versions_body(&good_versions(), req.api_version)
        };
        vec![Step::Write(frame(req.correlation_id, &body))]
    })
    .await;
    let conn = Connection::connect(&fake.addr, &options(TIMEOUT))
        .await
        .expect("connect");
    assert_eq!(conn.versions().negotiate(ApiKey::Produce).unwrap(), 12);
    let versions: Vec<i16> = fake.requests().iter().map(|r| r.api_version).collect();
    assert_eq!(
        versions,
        vec![3, 2],
        "retried at the broker's max ApiVersions version"
    );
}

// --- broken responses during connect -------------------------------------------------------

// Pins: a response whose size prefix promises more bytes than are sent before the broker closes
// is a typed error (connection closed), not a panic, and comes at once, not at the timeout.
#[tokio::test]
async fn truncated_response_then_close() {
    for sent in [0usize, 1, 3, 10, 20] {
        let fake = answer_api_versions_with(
            move |c| {
                let full = frame(c, &api_versions_body(&good_versions(), 3));
                let mut cut = full.clone();
                cut.truncate(4 + sent);
                assert!(cut.len() < full.len());
                cut
            },
            || Step::Close,
        )
        .await;
        let (e, elapsed) = connect_err(&fake.addr, &options(TIMEOUT)).await;
        match &e {
            Error::Network { message, .. } => {
                assert!(message.contains("closed"), "{e}");
            }
            Error::Protocol { .. } => {}
            other => panic!("{sent} body bytes: unexpected error {other:?}"),
        }
        assert!(elapsed < TIMEOUT, "{sent} body bytes: took {elapsed:?}");
    }
}

// Pins: a truncated response on a connection that stays open ends at the connect timeout with a
// network error (the client waits for the rest, bounded).
#[tokio::test]
async fn truncated_response_connection_left_open() {
    let fake = answer_api_versions_with(
        |c| {
            let mut f = frame(c, &api_versions_body(&good_versions(), 3));
            f.truncate(f.len() / 2);
            f
        },
        || Step::Hold,
    )
    .await;
    let t = Duration::from_millis(300);
    let (e, elapsed) = connect_err(&fake.addr, &options(t)).await;
    assert!(is_timeout(&e), "{e:?}");
    assert!(
        elapsed >= t && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

// Pins: a size prefix past max_response_size (0x7fff_ffff, and negative) is rejected from the
// prefix alone: FrameTooLarge, at once (the broker keeps the socket open, so a client that
// tried to read the announced body would sit until the timeout).
#[tokio::test]
async fn length_prefix_past_the_cap() {
    for prefix in [0x7fff_ffffi32, -1, i32::MIN, 1_048_577] {
        let fake =
            answer_api_versions_with(move |_| prefix.to_be_bytes().to_vec(), || Step::Hold).await;
        let opts = ConnectOptions {
            max_response_size: 1 << 20,
            ..options(Duration::from_secs(5))
        };
        let (e, elapsed) = connect_err(&fake.addr, &opts).await;
        match &e {
            Error::Protocol {
                source: ProtocolError::FrameTooLarge { size, limit },
                ..
            } => {
                assert_eq!(*size, prefix as i64);
                assert_eq!(*limit, 1 << 20);
            }
            other => panic!("prefix {prefix}: expected FrameTooLarge, got {other:?}"),
        }
        assert!(
            elapsed < Duration::from_secs(1),
            "prefix {prefix}: {elapsed:?}"
        );
    }
}

// Pins: an otherwise valid ApiVersions response with the wrong correlation id is a
// CorrelationMismatch naming both ids.
#[tokio::test]
async fn wrong_correlation_id() {
    let fake = answer_api_versions_with(
        |c| frame(c + 1000, &api_versions_body(&good_versions(), 3)),
        || Step::Hold,
    )
    .await;
    let (e, elapsed) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    let corr = fake.requests()[0].correlation_id;
    match &e {
        Error::Protocol {
            source: ProtocolError::CorrelationMismatch { expected, got },
            ..
        } => {
            assert_eq!(*expected, corr);
            assert_eq!(*got, corr + 1000);
        }
        other => panic!("expected CorrelationMismatch, got {other:?}"),
    }
    assert!(elapsed < TIMEOUT);
}

// Pins: an unknown error code in the ApiVersions response is Error::Request with that code, and
// its Display names the code.
#[tokio::test]
async fn unknown_error_code_in_api_versions() {
    let fake = answer_api_versions_with(
        |c| {
            let resp = good_versions().with_error_code(12345);
            frame(c, &api_versions_body(&resp, 3))
        },
        || Step::Hold,
    )
    .await;
    let (e, _) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    match &e {
        Error::Request {
            api, code, message, ..
        } => {
            assert_eq!(*api, "ApiVersions");
            assert_eq!(*code, KafkaCode(12345));
            assert!(message.is_none());
        }
        other => panic!("expected Error::Request, got {other:?}"),
    }
    let shown = e.to_string();
    assert!(shown.contains("12345"), "{shown}");
    assert!(shown.contains("ApiVersions"), "{shown}");
    assert_eq!(e.code(), Some(KafkaCode(12345)));
    assert!(!e.is_retriable());
}

// Pins: garbage after a valid size prefix (and a matching correlation id) is a typed
// ProtocolError::Decode; garbage that breaks the correlation id is a CorrelationMismatch.
#[tokio::test]
async fn garbage_bodies_are_decode_errors() {
    // Bodies after the correlation id; none declares a collection larger than the frame.
    let bodies: Vec<Vec<u8>> = vec![
        vec![],                                         // no error code at all
        vec![0x00],                                     // half an error code
        vec![0x00, 0x00, 0x80],                         // array length varint cut short
        vec![0x00, 0x00, 0x03, 0x00],                   // 2 api keys announced, half of one sent
        vec![0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x00], // over-long varint 0: a null array
        vec![
            0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0x05, 0xff,
        ], // tagged field cut short
    ];
    for body in bodies {
        let b = body.clone();
        let fake = answer_api_versions_with(move |c| frame(c, &b), || Step::Hold).await;
        let (e, elapsed) = connect_err(&fake.addr, &options(TIMEOUT)).await;
        assert!(
            matches!(
                e,
                Error::Protocol {
                    source: ProtocolError::Decode { .. },
                    ..
                }
            ),
            "body {body:02x?}: expected a decode error, got {e:?}"
        );
        assert!(elapsed < TIMEOUT);
    }
    // A frame shorter than a response header.
    let fake = answer_api_versions_with(|_| vec![0, 0, 0, 2, 0xde, 0xad], || Step::Hold).await;
    let (e, _) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    assert!(
        matches!(
            e,
            Error::Protocol {
                source: ProtocolError::Decode { .. },
                ..
            }
        ),
        "{e:?}"
    );
    // Random bytes in place of the correlation id too.
    let fake = answer_api_versions_with(
        |_| {
            let mut f = vec![0, 0, 0, 12];
            f.extend_from_slice(&[
                0x5a, 0xc3, 0x11, 0x07, 0x9e, 0x42, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
            ]);
            f
        },
        || Step::Hold,
    )
    .await;
    let (e, _) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    assert!(
        matches!(
            e,
            Error::Protocol {
                source: ProtocolError::CorrelationMismatch { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

// --- hostile collection lengths: run in a child process, since an abort would end the
// --- whole test binary --------------------------------------------------------------------

const CHILD_ENV: &str = "VOLLEY_BAD_INPUT_CHILD_CASE";

/// Runs the ignored test `name` of this binary in a child process with `CHILD_ENV=case` and
/// returns `None` if it passed, or a description of how it failed.
fn run_child(name: &str, case: &str) -> Option<String> {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, case)
        .output()
        .expect("run child test");
    if out.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let tail = tail[tail.len().saturating_sub(6)..].join("\n    ");
    Some(format!(
        "case {case}: child exited with {}:\n    {tail}",
        out.status
    ))
}

/// Hostile bodies: tiny frames whose array lengths announce billions of elements.
fn hostile_case(case: &str, corr: i32) -> Vec<u8> {
    match case {
        // ApiVersions v3: error 0, compact array length varint u32::MAX.
        "api_versions_v3_compact_array" => frame(corr, &[0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        // UNSUPPORTED_VERSION, so the body is read as v0: array length i32::MAX.
        "api_versions_v0_array" => frame(corr, &[0x00, 35, 0x7f, 0xff, 0xff, 0xff]),
        other => panic!("unknown case {other}"),
    }
}

// Child half of `hostile_array_lengths_are_decode_errors`: connects to a fake broker answering
// with the case's hostile frame (or, for `metadata_brokers_array`, a hostile Metadata response
// after a good ApiVersions) and expects a typed decode error.
#[tokio::test]
#[ignore = "run in a child process by hostile_array_lengths_are_decode_errors"]
async fn child_hostile_array_length() {
    let case = std::env::var(CHILD_ENV).expect("set by the parent test");
    let opts = options(TIMEOUT);
    let err = if case == "metadata_brokers_array" {
        let fake = fake_broker(false, |n, req| {
            let f = if n == 0 {
                frame(req.correlation_id, &api_versions_body(&good_versions(), 3))
            } else {
                // Metadata v12 (flexible): header v1 = correlation id + tagged fields (0),
                // then throttle time, then the brokers compact array: u32::MAX - 1 entries.
                frame(
                    req.correlation_id,
                    &[0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f],
                )
            };
            vec![Step::Write(f)]
        })
        .await;
        let mut conn = Connection::connect(&fake.addr, &opts)
            .await
            .expect("connect");
        conn.request(&MetadataRequest::default().with_topics(Some(vec![])))
            .await
            .expect_err("a hostile metadata response decoded")
    } else {
        let c = case.clone();
        let fake =
            answer_api_versions_with(move |corr| hostile_case(&c, corr), || Step::Hold).await;
        connect_err(&fake.addr, &opts).await.0
    };
    assert!(
        matches!(
            err,
            Error::Protocol {
                source: ProtocolError::Decode { .. },
                ..
            }
        ),
        "case {case}: {err:?}"
    );
}

// Pins: a tiny response frame whose array length field announces billions of elements is a
// typed decode error; it must not make the client allocate for the announced count (an
// allocation that fails aborts the process, which no catch_unwind can turn into an error).
#[test]
fn hostile_array_lengths_are_decode_errors() {
    let failures: Vec<String> = [
        "api_versions_v3_compact_array",
        "api_versions_v0_array",
        "metadata_brokers_array",
    ]
    .iter()
    .filter_map(|case| run_child("child_hostile_array_length", case))
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A small deterministic generator (xorshift64*), so a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// Child half of `random_garbage_bodies_are_typed_errors`.
#[tokio::test]
#[ignore = "run in a child process by random_garbage_bodies_are_typed_errors"]
async fn child_random_garbage() {
    let seeds: u64 = std::env::var(CHILD_ENV).unwrap().parse().unwrap();
    for seed in 1..=seeds {
        // Printed first, so that an abort names the seed in the parent's report.
        eprintln!("seed {seed}");
        let fake = answer_api_versions_with(
            move |corr| {
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
                let len = (rng.next() % 64) as usize;
                let body = rng.bytes(len);
                // Keep the correlation id right for most seeds, so the body is decoded.
                let c = if seed % 8 == 0 {
                    rng.next() as i32
                } else {
                    corr
                };
                frame(c, &body)
            },
            || Step::Hold,
        )
        .await;
        let (e, elapsed) = connect_err(&fake.addr, &options(TIMEOUT)).await;
        assert!(
            matches!(e, Error::Protocol { .. } | Error::Request { .. }),
            "seed {seed}: {e:?}"
        );
        assert!(elapsed < TIMEOUT, "seed {seed}: {elapsed:?}");
    }
}

// Pins: random bytes after a valid size prefix always give a typed error (Protocol, or Request
// when an error code happens to decode), never a panic, a hang or an abort.
#[test]
fn random_garbage_bodies_are_typed_errors() {
    if let Some(f) = run_child("child_random_garbage", "300") {
        panic!("{f}");
    }
}

// --- network failures -------------------------------------------------------------------------

// Pins: a broker that accepts and closes at once gives Error::Network, promptly.
#[tokio::test]
async fn broker_closes_at_once() {
    let fake = fake_broker(true, |_, _| vec![]).await;
    let (e, elapsed) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    assert!(matches!(e, Error::Network { .. }), "{e:?}");
    assert!(!is_timeout(&e), "{e}");
    assert!(elapsed < TIMEOUT);
    assert!(fake.accepted.load(Ordering::SeqCst) >= 1);
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

// Pins: an unreachable bootstrap address (connection refused) is Error::Network, quickly.
#[tokio::test]
async fn unreachable_port_is_network_error() {
    let addr = format!("127.0.0.1:{}", free_port().await);
    let (e, elapsed) = connect_err(&addr, &options(Duration::from_secs(5))).await;
    match &e {
        Error::Network { broker, source, .. } => {
            assert_eq!(broker, &addr);
            assert!(source.is_some(), "the I/O error is kept");
        }
        other => panic!("expected Error::Network, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

// Pins: a host name that does not resolve is Error::Network (DNS), within the connect timeout.
#[tokio::test]
async fn unresolvable_host_is_network_error() {
    let t = Duration::from_secs(3);
    let (e, elapsed) = connect_err("no-such-host.invalid:9092", &options(t)).await;
    match &e {
        Error::Network { broker, .. } => assert_eq!(broker, "no-such-host.invalid:9092"),
        other => panic!("expected Error::Network, got {other:?}"),
    }
    assert!(elapsed <= t + Duration::from_millis(500), "{elapsed:?}");
}

// Pins: a broker that accepts and never answers ends in a network error once the connect
// timeout (300 ms here) passes: no hang, and not much later.
#[tokio::test]
async fn silent_broker_times_out() {
    let fake = fake_broker(false, |_, _| vec![Step::Hold]).await;
    let t = Duration::from_millis(300);
    let (e, elapsed) = connect_err(&fake.addr, &options(t)).await;
    assert!(is_timeout(&e), "{e:?}");
    assert!(
        e.to_string().contains("socket.connection.setup.timeout.ms"),
        "{e}"
    );
    assert!(elapsed >= t, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(fake.requests().len(), 1, "the ApiVersions request was sent");
}

// Pins: a broker whose ApiVersions lists Produce only up to v2 (older than record batch v2) is
// rejected at connect with UnsupportedVersion naming Produce.
#[tokio::test]
async fn broker_too_old_for_produce_v3() {
    let fake = answer_api_versions_with(
        |c| frame(c, &api_versions_body(&versions_with_produce((0, 2)), 3)),
        || Step::Hold,
    )
    .await;
    let (e, elapsed) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    match &e {
        Error::Protocol {
            source:
                ProtocolError::UnsupportedVersion {
                    api,
                    client_min,
                    broker,
                    ..
                },
            ..
        } => {
            assert_eq!(*api, "Produce");
            assert_eq!(*client_min, 3);
            assert_eq!(broker, "0..=2");
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    assert!(e.to_string().contains("Produce"), "{e}");
    assert!(elapsed < TIMEOUT);

    // A broker that does not list Produce at all is rejected the same way.
    let fake = answer_api_versions_with(
        |c| {
            let mut r = good_versions();
            r.api_keys.retain(|k| k.api_key != ApiKey::Produce as i16);
            frame(c, &api_versions_body(&r, 3))
        },
        || Step::Hold,
    )
    .await;
    let (e, _) = connect_err(&fake.addr, &options(TIMEOUT)).await;
    assert!(
        matches!(
            &e,
            Error::Protocol {
                source: ProtocolError::UnsupportedVersion { api: "Produce", broker, .. },
                ..
            } if broker == "none"
        ),
        "{e:?}"
    );
}

// --- the producer API ---------------------------------------------------------------------------

fn producer_unknown_topic_after_max_block(bootstrap: &str) {
    let producer =
        Producer::from_properties([("bootstrap.servers", bootstrap), ("max.block.ms", "1000")])
            .expect("producer");
    let start = Instant::now();
    let res = producer
        .send(Record::new("t").value("v"))
        .map_err(Error::from);
    let elapsed = start.elapsed();
    match res {
        Err(e @ Error::UnknownTopic { .. }) => {
            let Error::UnknownTopic {
                topic,
                after,
                cause,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(topic, "t");
            assert_eq!(*after, Duration::from_millis(1000));
            // The real cause (no broker reachable) is carried, not only logged.
            let cause = cause
                .as_deref()
                .unwrap_or_else(|| panic!("no cause in {e}"));
            assert!(
                matches!(cause, Error::Network { .. } | Error::Bootstrap { .. }),
                "{cause:?}"
            );
            assert!(e.to_string().contains("last connection error"), "{e}");
            assert!(std::error::Error::source(&e).is_some());
        }
        Err(other) => panic!("expected UnknownTopic, got {other:?}"),
        Ok(_) => panic!("send to {bootstrap} was accepted"),
    }
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed <= Duration::from_secs(5),
        "send failed after {elapsed:?}, want about max.block.ms (1 s)"
    );
    let start = Instant::now();
    producer.close().expect("close");
    let closed = start.elapsed();
    assert!(closed < Duration::from_secs(3), "close took {closed:?}");
    eprintln!("{bootstrap}: send failed after {elapsed:?}; close took {closed:?}");
}

// Pins: with an unreachable bootstrap server, Producer::send fails with UnknownTopic after about
// max.block.ms (not before, not much later), and close then returns promptly.
#[test]
fn producer_send_with_unreachable_bootstrap() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    producer_unknown_topic_after_max_block(&format!("127.0.0.1:{port}"));
}

// Pins: the same with a bootstrap host name that does not resolve.
#[test]
fn producer_send_with_unresolvable_bootstrap() {
    producer_unknown_topic_after_max_block("no-such-host.invalid:9092");
}
