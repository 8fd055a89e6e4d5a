//! TLS against the real broker's secure listeners (`scripts/kafka secure`): produce with each
//! trust and key store form and read back with Kafka's console consumer over the same kind of
//! listener; and every bad setup ends in a typed error, promptly, with no panic or hang.

mod common;

use std::time::{Duration, Instant};

use common::*;
use volley::{Error, Producer, Record, TlsErrorKind};

/// `max.block.ms` of the producers that must fail.
const MAX_BLOCK: Duration = Duration::from_millis(5000);

/// Sends `n` records keyed `{tag}-k{i}` with values `{tag}-v{i}` to `topic` through a producer
/// built from `props`, and waits for each acknowledgement.
fn produce(props: &[(&str, &str)], topic: &str, tag: &str, n: usize) {
    let p = Producer::from_properties(props.iter().copied())
        .unwrap_or_else(|e| panic!("{tag}: producer: {e}"));
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let (k, v) = (format!("{tag}-k{i}"), format!("{tag}-v{i}"));
            p.send(Record::new(topic).key(k.as_str()).value(v.as_str()))
                .unwrap_or_else(|e| panic!("{tag}: send: {e}"))
        })
        .collect();
    for f in futures {
        f.wait().unwrap_or_else(|e| panic!("{tag}: delivery: {e}"));
    }
    p.close().unwrap();
}

/// The records `produce` sent for each tag, in order.
fn expected(tags: &[&str], n: usize) -> Vec<(String, String)> {
    tags.iter()
        .flat_map(|t| (0..n).map(move |i| (format!("{t}-k{i}"), format!("{t}-v{i}"))))
        .collect()
}

fn read_back(listener: &str, topic: &str, count: usize) -> Vec<(String, String)> {
    consume_via(listener, topic, count)
        .into_iter()
        .map(|r| (r.key.unwrap_or_default(), r.value.unwrap_or_default()))
        .collect()
}

/// `base` followed by `extra`.
fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = base.to_vec();
    all.extend_from_slice(extra);
    all
}

/// Produces `n` records to `topic` with each of `forms` (a tag, and the keys added to `base`),
/// then reads them all back with Kafka's console consumer over `listener`: exactly those, in
/// that order.
fn produce_each_and_read_back(
    listener: &str,
    topic: &str,
    base: &[(&str, &str)],
    forms: &[(&str, Vec<(&str, &str)>)],
    n: usize,
) {
    for (tag, props) in forms {
        produce(&with(base, props), topic, tag, n);
    }
    let tags: Vec<&str> = forms.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        read_back(listener, topic, tags.len() * n),
        expected(&tags, n)
    );
}

/// The `Error::Tls` in `e` or in its chain of causes.
fn tls_in(e: &Error) -> Option<&Error> {
    match e {
        Error::Tls { .. } => Some(e),
        Error::Timeout { cause, .. } | Error::UnknownTopic { cause, .. } => {
            cause.as_deref().and_then(tls_in)
        }
        Error::DeliveryTimeout { last_error, .. } => last_error.as_deref().and_then(tls_in),
        Error::Fatal(inner) | Error::Abortable(inner) => tls_in(inner),
        _ => None,
    }
}

/// Sends one record through a producer built from `props` (with `max.block.ms` = 5 s), which
/// must fail: returns the TLS error in the failure's chain of causes, after checking that the
/// failure came within the bounds and that close returns promptly.
fn tls_failure(props: &[(&str, &str)], topic: &str) -> (TlsErrorKind, String) {
    let block = MAX_BLOCK.as_millis().to_string();
    let mut all = props.to_vec();
    all.push(("max.block.ms", &block));
    all.push(("delivery.timeout.ms", "8000"));
    all.push(("request.timeout.ms", "3000"));
    let p = Producer::from_properties(all).expect("the producer builds");
    let start = Instant::now();
    let err = match p.send(Record::new(topic).value("v")) {
        Err(e) => e,
        Ok(f) => match f.wait_timeout(Duration::from_secs(20)) {
            Ok(Err(e)) => e,
            Ok(Ok(m)) => panic!("the record was delivered: {m:?}"),
            Err(_) => panic!("the record's future did not resolve within 20 s"),
        },
    };
    let elapsed = start.elapsed();
    assert!(
        elapsed < MAX_BLOCK + Duration::from_secs(10),
        "the send failed only after {elapsed:?}"
    );
    let start = Instant::now();
    p.close_timeout(Duration::from_secs(5)).expect("close");
    assert!(start.elapsed() < Duration::from_secs(8), "close hung");
    match tls_in(&err) {
        Some(Error::Tls {
            kind,
            message,
            broker,
        }) => {
            assert!(!broker.is_empty());
            eprintln!("{topic}: {err}");
            (*kind, message.clone())
        }
        _ => panic!("no TLS error in the causes of {err:?}"),
    }
}

/// Building a producer from `props` must fail with an `Error::Config` on `key` whose message
/// holds each of `needles` and none of the test bed's passwords.
#[track_caller]
fn refused(s: &Secure, props: &[(&str, &str)], key: &str, needles: &[&str]) {
    let message = match Producer::from_properties(props.iter().copied()) {
        Err(Error::Config { key: k, message }) => {
            assert_eq!(k, key, "{message}");
            message
        }
        Err(e) => panic!("expected a config error, got {e:?}"),
        Ok(_) => panic!("expected a config error, the producer was built"),
    };
    for needle in needles {
        assert!(message.contains(needle), "no {needle:?} in {message}");
    }
    for password in ["truststore.password", "keystore.password", "key.password"] {
        assert!(
            !message.contains(s.get(password)),
            "{password} leaked: {message}"
        );
    }
}

// Produces over the SSL listener trusting the test CA in each form the ssl.truststore.* keys
// take (PEM file, PKCS12 with password as PKCS12 and through the default JKS type, inline PEM)
// and reads the records back, exactly, with Kafka's console consumer over the SSL listener. A
// JKS trust store is refused with the keytool conversion.
#[test]
fn ssl_with_each_trust_form_read_back_by_kafka() {
    let s = secure();
    let topic = unique_topic("tls-trust");
    create_topic(&topic, 1, &[]);
    let ca_pem = std::fs::read_to_string(s.get("ca.pem")).unwrap();
    let base = [
        ("bootstrap.servers", s.get("ssl")),
        ("security.protocol", "SSL"),
    ];
    let forms: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "pem-file",
            vec![
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", s.get("ca.pem")),
            ],
        ),
        (
            "pkcs12",
            vec![
                ("ssl.truststore.type", "PKCS12"),
                ("ssl.truststore.location", s.get("truststore.p12")),
                ("ssl.truststore.password", s.get("truststore.password")),
            ],
        ),
        (
            "pkcs12-as-jks-type",
            vec![
                ("ssl.truststore.location", s.get("truststore.p12")),
                ("ssl.truststore.password", s.get("truststore.password")),
            ],
        ),
        (
            "inline",
            vec![
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.certificates", ca_pem.as_str()),
            ],
        ),
    ];
    const N: usize = 3;
    produce_each_and_read_back("ssl", &topic, &base, &forms, N);

    let jks = with(
        &base,
        &[
            ("ssl.truststore.type", "JKS"),
            ("ssl.truststore.location", s.get("truststore.jks")),
            ("ssl.truststore.password", s.get("truststore.password")),
        ],
    );
    refused(
        s,
        &jks,
        "ssl.truststore.location",
        &["keytool -importkeystore", s.get("truststore.jks")],
    );
}

// Mutual TLS over the MTLS listener (client certificate required) with each key store form:
// PKCS12, a PEM file (chain and unencrypted key), a PEM file with the encrypted PKCS#8 key and
// ssl.key.password, inline chain and key, inline chain and encrypted key. Read back over MTLS.
// A JKS key store is refused with the keytool conversion.
#[test]
fn mtls_with_each_key_store_form_read_back_by_kafka() {
    let s = secure();
    let topic = unique_topic("tls-mtls");
    create_topic(&topic, 1, &[]);
    let dir = temp_dir("volley-mtls");
    let chain = std::fs::read_to_string(s.get("client.cert.pem")).unwrap();
    let key = std::fs::read_to_string(s.get("client.key.pem")).unwrap();
    let encrypted = std::fs::read_to_string(s.get("client.key.encrypted.pem")).unwrap();
    let plain_file = dir.join("keystore.pem").to_string_lossy().into_owned();
    let encrypted_file = dir.join("keystore-enc.pem").to_string_lossy().into_owned();
    std::fs::write(&plain_file, format!("{chain}{key}")).unwrap();
    std::fs::write(&encrypted_file, format!("{chain}{encrypted}")).unwrap();
    let base = [
        ("bootstrap.servers", s.get("mtls")),
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", s.get("ca.pem")),
    ];
    let forms: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "pkcs12",
            vec![
                ("ssl.keystore.type", "PKCS12"),
                ("ssl.keystore.location", s.get("client.p12")),
                ("ssl.keystore.password", s.get("keystore.password")),
                ("ssl.key.password", s.get("keystore.password")),
            ],
        ),
        (
            "pem-file",
            vec![
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.location", plain_file.as_str()),
            ],
        ),
        (
            "pem-file-encrypted",
            vec![
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.location", encrypted_file.as_str()),
                ("ssl.key.password", s.get("key.password")),
            ],
        ),
        (
            "inline",
            vec![
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.certificate.chain", chain.as_str()),
                ("ssl.keystore.key", key.as_str()),
            ],
        ),
        (
            "inline-encrypted",
            vec![
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.certificate.chain", chain.as_str()),
                ("ssl.keystore.key", encrypted.as_str()),
                ("ssl.key.password", s.get("key.password")),
            ],
        ),
    ];
    const N: usize = 2;
    produce_each_and_read_back("mtls", &topic, &base, &forms, N);

    let jks = with(
        &base,
        &[
            ("ssl.keystore.type", "JKS"),
            ("ssl.keystore.location", s.get("client.jks")),
            ("ssl.keystore.password", s.get("keystore.password")),
        ],
    );
    refused(
        s,
        &jks,
        "ssl.keystore.location",
        &["keytool -importkeystore"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// A broker certificate from a CA the producer does not trust: UntrustedCertificate, whether
// or not host names are checked.
#[test]
fn untrusted_ca_is_an_untrusted_certificate() {
    let s = secure();
    let dir = temp_dir("volley-untrusted");
    let other = fresh_ca(&dir);
    for algorithm in ["https", ""] {
        let (kind, message) = tls_failure(
            &[
                ("bootstrap.servers", s.get("ssl")),
                ("security.protocol", "SSL"),
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", &other),
                ("ssl.endpoint.identification.algorithm", algorithm),
            ],
            &unique_topic("tls-untrusted"),
        );
        assert_eq!(kind, TlsErrorKind::UntrustedCertificate, "{message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// The WRONGHOST listener's certificate is for wrong.invalid only: HostnameMismatch naming it;
// with ssl.endpoint.identification.algorithm empty the same listener is accepted (the chain
// is still verified) and the record is read back over the SSL listener.
#[test]
fn host_name_mismatch_and_the_check_turned_off() {
    let s = secure();
    let trust = [
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", s.get("ca.pem")),
    ];
    let mut props = trust.to_vec();
    props.push(("bootstrap.servers", s.get("wronghost")));
    let (kind, message) = tls_failure(&props, &unique_topic("tls-wronghost"));
    assert_eq!(kind, TlsErrorKind::HostnameMismatch, "{message}");
    assert!(
        message.contains("wrong.invalid") && message.contains("127.0.0.1"),
        "{message}"
    );

    let topic = unique_topic("tls-noname");
    create_topic(&topic, 1, &[]);
    props.push(("ssl.endpoint.identification.algorithm", ""));
    produce(&props, &topic, "noname", 1);
    assert_eq!(read_back("ssl", &topic, 1), expected(&["noname"], 1));
}

// The EXPIRED listener's certificate ended a day ago: ExpiredCertificate.
#[test]
fn expired_certificate() {
    let s = secure();
    let (kind, message) = tls_failure(
        &[
            ("bootstrap.servers", s.get("expired")),
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", s.get("ca.pem")),
        ],
        &unique_topic("tls-expired"),
    );
    assert_eq!(kind, TlsErrorKind::ExpiredCertificate, "{message}");
}

// TLS to the PLAINTEXT port, and PLAINTEXT to the TLS port: both ProtocolMismatch (not a
// frame-length error), the first with the hint that the listener is PLAINTEXT.
#[test]
fn protocol_mismatch_both_ways() {
    let s = secure();
    let plaintext = bootstrap();
    let (kind, message) = tls_failure(
        &[
            ("bootstrap.servers", plaintext.as_str()),
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", s.get("ca.pem")),
        ],
        &unique_topic("tls-on-plain"),
    );
    assert_eq!(kind, TlsErrorKind::ProtocolMismatch, "{message}");
    assert!(message.contains("PLAINTEXT listener"), "{message}");

    let (kind, message) = tls_failure(
        &[("bootstrap.servers", s.get("ssl"))],
        &unique_topic("plain-on-tls"),
    );
    assert_eq!(kind, TlsErrorKind::ProtocolMismatch, "{message}");
}

// The MTLS listener requires a client certificate: without one, ClientCertificateRejected
// (under TLS 1.3 the broker's alert arrives at the first read after the handshake), with both
// TLS versions.
#[test]
fn mutual_tls_without_a_client_certificate_is_rejected() {
    let s = secure();
    for version in ["TLSv1.3", "TLSv1.2"] {
        let (kind, message) = tls_failure(
            &[
                ("bootstrap.servers", s.get("mtls")),
                ("security.protocol", "SSL"),
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", s.get("ca.pem")),
                ("ssl.enabled.protocols", version),
            ],
            &unique_topic("tls-nocert"),
        );
        assert_eq!(
            kind,
            TlsErrorKind::ClientCertificateRejected,
            "{version}: {message}"
        );
        assert!(message.contains("none is configured"), "{message}");
    }
}

// Trust stores that cannot be used fail the producer's build with a Config error naming the
// key and the file: missing, unreadable (chmod 000; as root, which reads anyway, a directory
// stands in), not a store at all, and a PKCS12 store with a wrong password (the password is
// never shown). A wrong key store password too.
#[test]
fn unusable_stores_are_config_errors() {
    let s = secure();
    let dir = temp_dir("volley-badstores");
    let ssl = [
        ("bootstrap.servers", s.get("ssl")),
        ("security.protocol", "SSL"),
    ];
    let refused_with = |extra: &[(&str, &str)], key: &str, needles: &[&str]| {
        refused(s, &with(&ssl, extra), key, needles);
    };
    let trust = "ssl.truststore.location";

    let missing = dir.join("missing.pem").to_string_lossy().into_owned();
    refused_with(&[(trust, &missing)], trust, &["cannot read", &missing]);

    let locked = dir.join("locked.pem");
    std::fs::copy(s.get("ca.pem"), &locked).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let unreadable = if std::fs::read(&locked).is_ok() {
        // Root reads a chmod 000 file: a directory cannot be read as a file by anyone.
        dir.to_string_lossy().into_owned()
    } else {
        locked.to_string_lossy().into_owned()
    };
    refused_with(
        &[(trust, &unreadable)],
        trust,
        &["cannot read", &unreadable],
    );

    let garbage = dir.join("garbage.p12");
    std::fs::write(&garbage, "this is not a trust store\n").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    refused_with(
        &[("ssl.truststore.type", "PKCS12"), (trust, &garbage)],
        trust,
        &["not a PEM, PKCS12 or JKS file"],
    );

    let wrong = "wrong password or corrupt key store";
    refused_with(
        &[
            ("ssl.truststore.type", "PKCS12"),
            (trust, s.get("truststore.p12")),
            ("ssl.truststore.password", "not-the-password"),
        ],
        "ssl.truststore.password",
        &[wrong],
    );

    let pem_trust = [("ssl.truststore.type", "PEM"), (trust, s.get("ca.pem"))];
    refused_with(
        &[
            pem_trust[0],
            pem_trust[1],
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", s.get("client.p12")),
            ("ssl.keystore.password", "not-the-password"),
        ],
        "ssl.keystore.password",
        &[wrong],
    );

    let chain = std::fs::read_to_string(s.get("client.cert.pem")).unwrap();
    let encrypted = std::fs::read_to_string(s.get("client.key.encrypted.pem")).unwrap();
    refused_with(
        &[
            pem_trust[0],
            pem_trust[1],
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.certificate.chain", &chain),
            ("ssl.keystore.key", &encrypted),
            ("ssl.key.password", "not-the-password"),
        ],
        "ssl.key.password",
        &["wrong password"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
