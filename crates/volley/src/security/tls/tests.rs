//! Loading trust and key stores, and handshakes against an in-process rustls server. The
//! certificates and keys are made at test time with the `openssl` command, in a temporary
//! directory (none is committed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::stores::StoreFormat;
use super::*;

const STORE_PW: &str = "store-pw";
const TRUST_PW: &str = "trust-pw";
const KEY_PW: &str = "key-pw";

/// The test PKI, made once per test run.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }
}

/// Runs `openssl` with the words of `command` in `dir`.
fn openssl(dir: &Path, command: &str) {
    let args: Vec<&str> = command.split_whitespace().collect();
    let out = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed to make the test certificates");
    assert!(
        out.status.success(),
        "openssl {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// P-256 keys (`-newkey` arguments of `openssl req`).
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// A CA `name` (`name.key`, `name.pem`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {NEW_KEY} -keyout {name}.key -out {name}.pem -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
        ),
    );
}

/// A key `name.key` and certificate `name.pem` signed by `ca` with extensions `ext`.
fn make_leaf(dir: &Path, name: &str, ca: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &format!("req -new {NEW_KEY} -keyout {name}.key -out {name}.csr -subj /CN={name}"),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -days 1 \
             -out {name}.pem -extfile {name}.ext"
        ),
    );
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("volley-tls-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.as_path();
        make_ca(d, "ca");
        make_ca(d, "other-ca");
        make_leaf(
            d,
            "server",
            "ca",
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
        );
        make_leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n");
        let client = "pkcs12 -export -inkey client.key -in client.pem -name volley-client";
        openssl(
            d,
            &format!("{client} -certfile ca.pem -out client.p12 -passout pass:{STORE_PW}"),
        );
        // Legacy PBES1 encryption (3DES) and a SHA-1 MAC, as older tools write.
        openssl(
            d,
            &format!(
                "{client} -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 \
                 -out client-legacy.p12 -passout pass:{STORE_PW}"
            ),
        );
        openssl(
            d,
            &format!("pkcs12 -export -nokeys -in ca.pem -out trust.p12 -passout pass:{TRUST_PW}"),
        );
        openssl(
            d,
            &format!(
                "pkcs8 -topk8 -v2 aes-256-cbc -in client.key -out client.enc.key \
                 -passout pass:{KEY_PW}"
            ),
        );
        let cat = |out: &str, parts: &[&str]| {
            let text: String = parts
                .iter()
                .map(|p| std::fs::read_to_string(d.join(p)).unwrap())
                .collect();
            std::fs::write(d.join(out), text).unwrap();
        };
        cat("keystore.pem", &["client.pem", "client.key"]);
        cat("keystore-enc.pem", &["client.pem", "client.enc.key"]);
        std::fs::write(
            d.join("fake.jks"),
            [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 0],
        )
        .unwrap();
        std::fs::write(d.join("garbage.txt"), "not a store\n").unwrap();
        Pki { dir }
    })
}

fn config(pairs: &[(&str, &str)]) -> ProducerConfig {
    let mut all = vec![
        ("bootstrap.servers", "localhost:9092"),
        ("security.protocol", "SSL"),
    ];
    all.extend_from_slice(pairs);
    ProducerConfig::from_properties(all).unwrap()
}

fn build(pairs: &[(&str, &str)]) -> Result<TlsConnector> {
    TlsConnector::from_config(&config(pairs))
}

/// Builds with `pairs`, which must fail with an `Error::Config` on `key` whose message holds
/// each of `needles` and no password.
#[track_caller]
fn refused(pairs: &[(&str, &str)], key: &str, needles: &[&str]) {
    let message = match build(pairs) {
        Err(Error::Config { key: k, message }) => {
            assert_eq!(k, key, "{message}");
            message
        }
        Err(e) => panic!("expected a config error, got {e}"),
        Ok(_) => panic!("expected a config error for {pairs:?}"),
    };
    for needle in needles {
        assert!(message.contains(needle), "no {needle:?} in {message}");
    }
    for secret in [STORE_PW, TRUST_PW, KEY_PW, "wrong-pw"] {
        assert!(!message.contains(secret), "a password leaked: {message}");
    }
}

#[test]
fn sniffing_finds_the_real_format() {
    let p = pki();
    let sniff = |name: &str| StoreFormat::sniff(&std::fs::read(p.dir.join(name)).unwrap());
    assert_eq!(sniff("ca.pem"), Some(StoreFormat::Pem));
    assert_eq!(sniff("trust.p12"), Some(StoreFormat::Pkcs12));
    assert_eq!(sniff("fake.jks"), Some(StoreFormat::Jks));
    assert_eq!(sniff("garbage.txt"), None);
    assert_eq!(StoreFormat::sniff(b""), None);
}

#[test]
fn pem_trust_store_file() {
    let p = pki();
    let ca = p.path("ca.pem");
    build(&[
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", &ca),
    ])
    .unwrap();
    // The default type (JKS) on a PEM file: read as what it is.
    build(&[("ssl.truststore.location", &ca)]).unwrap();
    // Java: a PEM trust store has no password.
    refused(
        &[
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &ca),
            ("ssl.truststore.password", TRUST_PW),
        ],
        "ssl.truststore.password",
        &["no store password"],
    );
}

#[test]
fn pkcs12_trust_store_with_password() {
    let p = pki();
    let store = p.path("trust.p12");
    for kind in ["PKCS12", "JKS"] {
        build(&[
            ("ssl.truststore.type", kind),
            ("ssl.truststore.location", &store),
            ("ssl.truststore.password", TRUST_PW),
        ])
        .unwrap();
    }
    refused(
        &[
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.truststore.location", &store),
            ("ssl.truststore.password", "wrong-pw"),
        ],
        "ssl.truststore.password",
        &["wrong password or corrupt key store", &store],
    );
}

#[test]
fn inline_trusted_certificates() {
    let p = pki();
    let pem = p.read("ca.pem");
    let inline = ("ssl.truststore.certificates", pem.as_str());
    build(&[("ssl.truststore.type", "PEM"), inline]).unwrap();
    // Java's rules: inline certificates need type PEM, and exclude a location.
    refused(&[inline], inline.0, &["ssl.truststore.type=PEM"]);
    let ca = p.path("ca.pem");
    refused(
        &[
            ("ssl.truststore.type", "PEM"),
            inline,
            ("ssl.truststore.location", &ca),
        ],
        inline.0,
        &["use one"],
    );
    refused(
        &[
            ("ssl.truststore.type", "PEM"),
            (
                inline.0,
                "-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n",
            ),
        ],
        inline.0,
        &["no certificate"],
    );
}

#[test]
fn missing_garbage_and_jks_trust_stores_are_config_errors() {
    let p = pki();
    let location = "ssl.truststore.location";
    let missing = p.path("no-such-file.pem");
    refused(
        &[(location, &missing)],
        location,
        &[&missing, "cannot read"],
    );
    let garbage = p.path("garbage.txt");
    refused(
        &[(location, &garbage)],
        location,
        &["not a PEM, PKCS12 or JKS file"],
    );
    let jks = p.path("fake.jks");
    refused(
        &[(location, &jks), ("ssl.truststore.password", TRUST_PW)],
        location,
        &["keytool -importkeystore", "-deststoretype PKCS12"],
    );
    // A key file is PEM without certificates.
    refused(
        &[(location, &p.path("client.key"))],
        location,
        &["no certificate"],
    );
}

#[test]
fn pkcs12_key_stores() {
    let p = pki();
    for (file, kind) in [
        ("client.p12", "PKCS12"),
        ("client.p12", "JKS"),
        ("client-legacy.p12", "PKCS12"),
    ] {
        let store = p.path(file);
        let c = build(&[
            ("ssl.truststore.location", &p.path("ca.pem")),
            ("ssl.keystore.type", kind),
            ("ssl.keystore.location", &store),
            ("ssl.keystore.password", STORE_PW),
        ])
        .unwrap_or_else(|e| panic!("{file} as {kind}: {e}"));
        assert_eq!(c.client_cert, ClientCert::Configured);
    }
    let store = p.path("client.p12");
    let pkcs12 = [
        ("ssl.keystore.type", "PKCS12"),
        ("ssl.keystore.location", store.as_str()),
    ];
    let with = |extra: (&'static str, &'static str)| [pkcs12[0], pkcs12[1], extra];
    refused(
        &with(("ssl.keystore.password", "wrong-pw")),
        "ssl.keystore.password",
        &["wrong password or corrupt key store"],
    );
    refused(&pkcs12, "ssl.keystore.password", &["is required"]);
    // A trust store given as key store.
    let trust = p.path("trust.p12");
    refused(
        &[
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", &trust),
            ("ssl.keystore.password", TRUST_PW),
        ],
        "ssl.keystore.location",
        &["no private key"],
    );
}

#[test]
fn pem_key_store_files() {
    let p = pki();
    let ca = p.path("ca.pem");
    let plain = p.path("keystore.pem");
    let c = build(&[
        ("ssl.truststore.location", &ca),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", &plain),
    ])
    .unwrap();
    assert_eq!(c.client_cert, ClientCert::Configured);
    let enc = p.path("keystore-enc.pem");
    let enc_store = [
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", enc.as_str()),
    ];
    let with = |extra: (&'static str, &'static str)| [enc_store[0], enc_store[1], extra];
    build(&with(("ssl.key.password", KEY_PW))).unwrap();
    refused(
        &with(("ssl.key.password", "wrong-pw")),
        "ssl.key.password",
        &["wrong password", &enc],
    );
    refused(&enc_store, "ssl.key.password", &["encrypted"]);
    // Java: a PEM key store has no store password.
    refused(
        &with(("ssl.keystore.password", STORE_PW)),
        "ssl.keystore.password",
        &["ssl.key.password"],
    );
}

#[test]
fn inline_key_and_chain() {
    let p = pki();
    let (ca, chain, key) = (
        p.path("ca.pem"),
        p.read("client.pem"),
        p.read("client.enc.key"),
    );
    let inline = [
        ("ssl.truststore.location", ca.as_str()),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.certificate.chain", chain.as_str()),
        ("ssl.keystore.key", key.as_str()),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut all = inline.to_vec();
        all.push(extra);
        all
    };
    build(&with(("ssl.key.password", KEY_PW))).unwrap();
    refused(
        &with(("ssl.key.password", "wrong-pw")),
        "ssl.key.password",
        &["wrong password"],
    );
    refused(
        &[inline[1], inline[3], ("ssl.key.password", KEY_PW)],
        "ssl.keystore.certificate.chain",
        &["not"],
    );
    refused(&[inline[2], inline[3]], "ssl.keystore.key", &["PEM"]);
    // A key that is not the certificate's.
    let other = p.read("server.key");
    refused(
        &[
            inline[0],
            inline[1],
            inline[2],
            ("ssl.keystore.key", &other),
        ],
        "ssl.keystore.key",
        &["unusable client certificate"],
    );
}

#[test]
fn jks_key_store_is_refused_with_the_conversion() {
    let jks = pki().path("fake.jks");
    refused(
        &[
            ("ssl.keystore.location", &jks),
            ("ssl.keystore.password", STORE_PW),
        ],
        "ssl.keystore.location",
        &["keytool -importkeystore"],
    );
}

#[test]
fn cipher_suites_by_iana_name() {
    let ca = pki().path("ca.pem");
    let trust = ("ssl.truststore.location", ca.as_str());
    let suites = "TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
    let c = build(&[trust, ("ssl.cipher.suites", suites)]).unwrap();
    let names: Vec<String> = c
        .config
        .crypto_provider()
        .cipher_suites
        .iter()
        .map(iana_name)
        .collect();
    assert_eq!(names.join(", "), suites);
    refused(
        &[trust, ("ssl.cipher.suites", "TLS_RSA_WITH_RC4_128_MD5")],
        "ssl.cipher.suites",
        &[
            "TLS_RSA_WITH_RC4_128_MD5",
            "supported: ",
            "TLS_AES_256_GCM_SHA384",
        ],
    );
    // Only TLS 1.3 suites with only TLS 1.2 enabled.
    refused(
        &[
            trust,
            ("ssl.protocol", "TLSv1.2"),
            ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256"),
        ],
        "ssl.cipher.suites",
        &["TLSv1.2"],
    );
}

#[test]
fn protocol_versions_follow_java() {
    let both = vec!["TLSv1.2".to_string(), "TLSv1.3".to_string()];
    assert_eq!(protocol_versions("TLSv1.3", &both).unwrap().len(), 2);
    assert_eq!(
        protocol_versions("TLSv1.2", &both).unwrap(),
        [&rustls::version::TLS12]
    );
    assert_eq!(protocol_versions("TLS", &[]).unwrap().len(), 2);
    let only13 = vec!["TLSv1.3".to_string()];
    assert!(matches!(
        protocol_versions("TLSv1.2", &only13),
        Err(Error::Config { key, .. }) if key == "ssl.enabled.protocols"
    ));
}

// --- handshakes against an in-process rustls server ---------------------------------------

fn certs(p: &Pki, name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(p.path(name))
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

/// A TLS server on 127.0.0.1 with the `localhost` certificate, requiring a client certificate
/// signed by the test CA when `mutual`. It answers each connection's first bytes with "ok".
async fn tls_server(mutual: bool) -> String {
    let p = pki();
    let provider = Arc::new(crypto_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if mutual {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs(p, "ca.pem").remove(0)).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::from_pem_file(p.path("server.key")).unwrap();
    let config = builder
        .with_single_cert(certs(p, "server.pem"), key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut s) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 16];
                    if s.read(&mut buf).await.is_ok() {
                        let _ = s.write_all(b"ok").await;
                        let _ = s.flush().await;
                    }
                }
            });
        }
    });
    addr
}

/// Connects with `pairs` to `addr` as `host`, writes a few bytes and reads the answer.
async fn exchange(addr: &str, host: &str, pairs: &[(&str, &str)]) -> Result<()> {
    let connector = build(pairs).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut s = connector.connect(addr, host, tcp).await?;
    s.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 2];
    match s.read_exact(&mut buf).await {
        Ok(_) => {
            assert_eq!(&buf, b"ok");
            Ok(())
        }
        Err(e) => Err(connector
            .stream_error(addr, &e)
            .unwrap_or_else(|| Error::network(addr, e))),
    }
}

#[track_caller]
fn tls_kind(r: Result<()>) -> TlsErrorKind {
    match r {
        Err(Error::Tls { kind, .. }) => kind,
        Err(e) => panic!("expected a TLS error, got {e}"),
        Ok(()) => panic!("expected a TLS error, the exchange succeeded"),
    }
}

#[tokio::test]
async fn handshake_checks_host_name_and_trust() {
    let p = pki();
    let ca = p.path("ca.pem");
    let addr = tls_server(false).await;
    let trust = [("ssl.truststore.location", ca.as_str())];
    exchange(&addr, "localhost", &trust).await.unwrap();
    match exchange(&addr, "127.0.0.1", &trust).await {
        Err(Error::Tls {
            kind: TlsErrorKind::HostnameMismatch,
            message,
            ..
        }) => assert!(message.contains("localhost"), "{message}"),
        other => panic!("expected a host name mismatch, got {other:?}"),
    }
    // Without the name check, the chain is still verified.
    let no_name = [
        ("ssl.truststore.location", ca.as_str()),
        ("ssl.endpoint.identification.algorithm", ""),
    ];
    exchange(&addr, "127.0.0.1", &no_name).await.unwrap();
    let other = p.path("other-ca.pem");
    for algorithm in ["https", ""] {
        let untrusted = [
            ("ssl.truststore.location", other.as_str()),
            ("ssl.endpoint.identification.algorithm", algorithm),
        ];
        assert_eq!(
            tls_kind(exchange(&addr, "localhost", &untrusted).await),
            TlsErrorKind::UntrustedCertificate
        );
    }
}

#[tokio::test]
async fn mutual_tls_with_and_without_a_client_certificate() {
    let p = pki();
    let ca = p.path("ca.pem");
    let store = p.path("client.p12");
    let addr = tls_server(true).await;
    exchange(
        &addr,
        "localhost",
        &[
            ("ssl.truststore.location", &ca),
            ("ssl.keystore.location", &store),
            ("ssl.keystore.password", STORE_PW),
        ],
    )
    .await
    .unwrap();
    for version in ["TLSv1.3", "TLSv1.2"] {
        let r = exchange(
            &addr,
            "localhost",
            &[
                ("ssl.truststore.location", &ca),
                ("ssl.enabled.protocols", version),
            ],
        )
        .await;
        assert_eq!(
            tls_kind(r),
            TlsErrorKind::ClientCertificateRejected,
            "{version}"
        );
    }
}

#[tokio::test]
async fn closed_before_answering_is_a_protocol_mismatch() {
    let p = pki();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            // A PLAINTEXT listener: reads the ClientHello as a size prefix and hangs up.
            let mut prefix = [0u8; 4];
            let _ = tcp.read_exact(&mut prefix).await;
            drop(tcp);
        }
    });
    let r = exchange(
        &addr,
        "localhost",
        &[("ssl.truststore.location", &p.path("ca.pem"))],
    )
    .await;
    assert_eq!(tls_kind(r), TlsErrorKind::ProtocolMismatch);
}
