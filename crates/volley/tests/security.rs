//! Security against the real broker's secure listeners (`scripts/kafka secure`): KIP-368
//! re-authentication under load, authentication failures that end sends at once, and ACLs that
//! refuse a topic or a transactional id to one user. TLS trust/key stores and each SASL
//! mechanism have their own files (`tls.rs`, `sasl.rs`).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use volley::{Error, KafkaCode, Producer, Record};

fn producer(props: Vec<(String, String)>, extra: &[(&str, &str)]) -> volley::Result<Producer> {
    let mut props = props;
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Producer::from_properties(props)
}

/// Whether `e` is, or is caused by, an authentication error.
fn is_auth(e: &Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(v) = c.downcast_ref::<Error>() {
            if matches!(v, Error::Authentication { .. }) {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

// A producer that sends without a pause for more than three session lifetimes of the
// re-authenticating listener keeps one connection per broker (no reconnect), re-authenticates
// on it, and loses, duplicates and reorders nothing: Kafka's console consumer reads every
// record once, each key's values in send order.
fn reauthentication_keeps_every_record_on_the_same_connections(mechanism: &str) {
    let topic = unique_topic(&format!("volley-reauth-{}", mechanism.to_ascii_lowercase()));
    create_topic(&topic, 3, &[]);
    let lifetime = Duration::from_millis(secure_value("reauth.ms").parse().unwrap());
    let p = producer(
        sasl_props("reauth", mechanism, "admin"),
        &[("linger.ms", "5"), ("enable.idempotence", "true")],
    )
    .unwrap();
    p.send(Record::new(&topic).key("k0").value("0"))
        .unwrap()
        .wait()
        .unwrap();
    let before = p.metrics();
    let keys = 6;
    let mut futures = Vec::new();
    let start = Instant::now();
    let mut i = 1usize;
    while start.elapsed() < lifetime * 3 + Duration::from_millis(1500) {
        for _ in 0..10 {
            let key = format!("k{}", i % keys);
            futures.push(
                p.send(Record::new(&topic).key(key).value(i.to_string()))
                    .unwrap(),
            );
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for f in futures {
        f.wait().expect("every record is acknowledged");
    }
    let after = p.metrics();
    p.close().unwrap();
    assert!(
        after.successful_reauthentication_total >= 3,
        "re-authentications: {}",
        after.successful_reauthentication_total
    );
    assert_eq!(
        after.connection_creation_total, before.connection_creation_total,
        "a new connection was opened while sending"
    );
    assert_eq!(after.record_error_total, 0);
    let lower = mechanism.to_ascii_lowercase();
    let got = consume_secure(&topic, i, "reauth", Some(&lower), "read_uncommitted");
    assert_eq!(got.len(), i, "records read back");
    let values: HashSet<usize> = got
        .iter()
        .map(|c| c.value.as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.len(), i, "a record was duplicated");
    assert_eq!(values, (0..i).collect::<HashSet<_>>());
    let mut by_key: BTreeMap<String, Vec<(i32, i64, usize)>> = BTreeMap::new();
    for c in &got {
        by_key.entry(c.key.clone().unwrap()).or_default().push((
            c.partition,
            c.offset,
            c.value.as_deref().unwrap().parse().unwrap(),
        ));
    }
    for (key, mut recs) in by_key {
        recs.sort();
        assert!(
            recs.windows(2).all(|w| w[0].2 < w[1].2),
            "key {key}: values out of send order"
        );
    }
}

#[test]
fn reauthentication_with_plain() {
    reauthentication_keeps_every_record_on_the_same_connections("PLAIN");
}

#[test]
fn reauthentication_with_scram_sha_512() {
    reauthentication_keeps_every_record_on_the_same_connections("SCRAM-SHA-512");
}

// Kafka's unsecured tokens last an hour: each re-authentication reuses the cached token.
#[test]
fn reauthentication_with_oauthbearer() {
    reauthentication_keeps_every_record_on_the_same_connections("OAUTHBEARER");
}

// A mechanism the listener does not enable (the re-authenticating listener leaves
// SCRAM-SHA-256 out) is an authentication error that names what the broker enables.
#[test]
fn a_mechanism_the_listener_does_not_enable() {
    let enabled = secure_value("reauth.mechanisms");
    assert!(
        !enabled.split(',').any(|m| m == "SCRAM-SHA-256"),
        "{enabled}"
    );
    let p = producer(
        sasl_props("reauth", "SCRAM-SHA-256", "admin"),
        &[("max.block.ms", "20000")],
    )
    .unwrap();
    let t0 = Instant::now();
    let Err(e) = p.send(Record::new("volley-any-topic").value("x")) else {
        panic!("the send was accepted");
    };
    let e = e.into_error();
    match &e {
        Error::Authentication {
            mechanism, message, ..
        } => {
            assert_eq!(mechanism, "SCRAM-SHA-256");
            assert!(message.contains("does not enable"), "{message}");
            for m in enabled.split(',') {
                assert!(message.contains(m), "{message} should name {m}");
            }
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    p.close().unwrap();
}

// Wrong credentials end the send at once with a typed authentication error (not after
// max.block.ms), for a wrong password and for an unknown user; the same for
// init_transactions.
#[test]
fn wrong_credentials_fail_fast_with_an_authentication_error() {
    let topic = unique_topic("volley-authfail");
    create_topic(&topic, 1, &[]);
    for (user, pass) in [("admin", "not-the-password"), ("nobody", "whatever")] {
        let mut props = sasl_plain_props("sasl_plaintext", "admin");
        for (k, v) in props.iter_mut() {
            match k.as_str() {
                "sasl.username" => *v = user.into(),
                "sasl.password" => *v = pass.into(),
                _ => {}
            }
        }
        let p = producer(props.clone(), &[("max.block.ms", "30000")]).unwrap();
        let t0 = Instant::now();
        let Err(e) = p.send(Record::new(&topic).value("x")) else {
            panic!("{user}: the send was accepted");
        };
        let e = e.into_error();
        assert!(matches!(e, Error::Authentication { .. }), "{user}: {e:?}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        let text = format!("{e} {e:?}");
        assert!(!text.contains(pass), "the password leaked: {text}");
        p.close().unwrap();

        let tx = producer(
            props,
            &[
                ("max.block.ms", "30000"),
                ("transactional.id", &unique_topic("volley-auth-tx")),
            ],
        )
        .unwrap();
        let t0 = Instant::now();
        let e = tx.init_transactions().expect_err("init fails");
        assert!(is_auth(&e), "{user}: {e:?}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        tx.close().unwrap();
    }
}

// ACLs on the SASL listeners deny bob every topic and transactional id starting with the
// denied prefix: his records to such a topic fail with a typed authorization error, his
// records to other topics (from the same producer, before and after) are delivered, and
// a transactional producer with a denied id fails init with TRANSACTIONAL_ID_AUTHORIZATION.
#[test]
fn acls_refuse_a_topic_and_a_transactional_id_to_one_user() {
    let prefix = secure_value("denied.prefix");
    let denied = unique_topic(&prefix);
    let allowed = unique_topic("volley-allowed");
    create_topic(&denied, 1, &[]);
    create_topic(&allowed, 1, &[]);
    let p = producer(
        sasl_plain_props("sasl_plaintext", "bob"),
        &[("max.block.ms", "15000")],
    )
    .unwrap();
    p.send(Record::new(&allowed).value("a1"))
        .unwrap()
        .wait()
        .unwrap();
    let e = match p.send(Record::new(&denied).value("d")) {
        Err(e) => e.into_error(),
        Ok(f) => f
            .wait()
            .expect_err("the denied topic refuses the record")
            .into_error(),
    };
    assert!(
        matches!(
            &e,
            Error::Authorization { code, .. } if *code == KafkaCode::TOPIC_AUTHORIZATION_FAILED
        ),
        "{e:?}"
    );
    p.send(Record::new(&allowed).value("a2"))
        .unwrap()
        .wait()
        .unwrap();
    p.close().unwrap();
    let got = consume(&allowed, 2);
    let values: Vec<_> = got.iter().map(|c| c.value.clone().unwrap()).collect();
    assert_eq!(values, ["a1", "a2"]);

    let tx = producer(
        sasl_plain_props("sasl_plaintext", "bob"),
        &[
            ("max.block.ms", "15000"),
            ("transactional.id", &unique_topic(&prefix)),
        ],
    )
    .unwrap();
    let e = tx.init_transactions().expect_err("the id is denied");
    assert_eq!(
        e.code(),
        Some(KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        "{e:?}"
    );
    let inner = match &e {
        Error::Fatal(inner) => inner.as_ref(),
        other => other,
    };
    assert!(matches!(inner, Error::Authorization { .. }), "{e:?}");
    tx.close().unwrap();
}

/// SCRAM-SHA-512 over SASL_SSL as `user`, credentials in a JAAS line as Java takes them.
fn scram_sasl_ssl(user: &str, password: &str) -> Vec<(String, String)> {
    let mut p = sasl_listener_props("sasl_ssl", "SCRAM-SHA-512");
    p.push((
        "sasl.jaas.config".into(),
        jaas("SCRAM-SHA-512", user, password),
    ));
    p
}

// An idempotent producer and a transactional one (a commit, an abort, a commit) over SASL_SSL
// with SCRAM-SHA-512: a read_committed consumer on the same kind of listener reads exactly the
// idempotent records and the committed ones.
#[test]
fn idempotent_and_transactional_over_sasl_ssl_scram_sha_512() {
    let topic = unique_topic("volley-scram-eos");
    create_topic(&topic, 2, &[]);
    let alice = password("alice");
    let p = producer(
        scram_sasl_ssl("alice", &alice),
        &[("enable.idempotence", "true")],
    )
    .unwrap();
    let futures: Vec<_> = (0..50)
        .map(|i| {
            p.send(
                Record::new(&topic)
                    .key(format!("k{i}"))
                    .value(format!("idem-{i}")),
            )
            .unwrap()
        })
        .collect();
    for f in futures {
        f.wait().unwrap();
    }
    p.close().unwrap();

    let tx = producer(
        scram_sasl_ssl("alice", &alice),
        &[("transactional.id", &unique_topic("volley-scram-tx"))],
    )
    .unwrap();
    tx.init_transactions().unwrap();
    for (prefix, commit) in [("c1", true), ("ab", false), ("c2", true)] {
        tx.begin_transaction().unwrap();
        let futures: Vec<_> = (0..10)
            .map(|i| {
                tx.send(
                    Record::new(&topic)
                        .key(format!("t{i}"))
                        .value(format!("{prefix}-{i}")),
                )
                .unwrap()
            })
            .collect();
        if commit {
            tx.commit_transaction().unwrap();
            for f in futures {
                f.wait().expect("a committed record is acknowledged");
            }
        } else {
            tx.abort_transaction().unwrap();
        }
    }
    tx.close().unwrap();
    let got = consume_secure(
        &topic,
        70,
        "sasl_ssl",
        Some("scram-sha-512"),
        "read_committed",
    );
    let mut values: Vec<String> = got.iter().map(|c| c.value.clone().unwrap()).collect();
    values.sort();
    let mut expected: Vec<String> = (0..50)
        .map(|i| format!("idem-{i}"))
        .chain((0..10).map(|i| format!("c1-{i}")))
        .chain((0..10).map(|i| format!("c2-{i}")))
        .collect();
    expected.sort();
    assert_eq!(values, expected);
}

// A user whose password the producer does not have fails with an authentication error; once
// the broker's credentials are changed to the producer's (Kafka's config tool), the same
// producer delivers, as Java's does.
#[test]
fn the_same_producer_works_once_the_credentials_are_fixed() {
    let user = unique_topic("carol").replace('-', "_");
    let set_password = |pw: &str| {
        kafka(&[
            "tool",
            "org.apache.kafka.tools.ConfigCommand",
            "--bootstrap-server",
            &bootstrap(),
            "--alter",
            "--add-config",
            &format!("SCRAM-SHA-512=[iterations=4096,password={pw}]"),
            "--entity-type",
            "users",
            "--entity-name",
            &user,
        ]);
    };
    set_password("old-secret");
    let topic = unique_topic("volley-fixed-creds");
    create_topic(&topic, 1, &[]);
    let p = producer(
        scram_sasl_ssl(&user, "new-secret"),
        &[
            ("max.block.ms", "20000"),
            ("reconnect.backoff.max.ms", "500"),
        ],
    )
    .unwrap();
    let Err(e) = p.send(Record::new(&topic).value("refused")) else {
        panic!("the send was accepted with the wrong password");
    };
    let e = e.into_error();
    assert!(matches!(e, Error::Authentication { .. }), "{e:?}");
    set_password("new-secret");
    let delivered = eventually(Duration::from_secs(30), || {
        p.send(Record::new(&topic).value("accepted"))
            .ok()
            .and_then(|f| f.wait().ok())
    });
    assert!(delivered.is_some(), "the producer never recovered");
    p.close().unwrap();
    let got = consume(&topic, 1);
    assert_eq!(got[0].value.as_deref(), Some("accepted"));
}
