//! Trust and key material: PEM (files or inline values), PKCS12, and JKS (refused with the
//! `keytool` command that converts it).
//!
//! A store file is read as what its content is (PEM text, PKCS12 DER, or the JKS magic number),
//! whatever `ssl.*store.type` says: Java 9+ reads a PKCS12 file through the default `JKS` type,
//! and many configurations rely on that. A type that disagrees with the content is logged.
//!
//! Errors are `Error::Config` naming the key at fault; messages name the file and the cause,
//! never a password.

use p12_keystore::{KeyStore, Pkcs12Archive, Pkcs12ImportPolicy};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::RootCertStore;

use crate::config::{Password, ProducerConfig};
use crate::error::{Error, Result};

/// The first bytes of a Java KeyStore (JKS) file.
const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];
/// The first bytes of a JCEKS file (Java's other proprietary format).
const JCEKS_MAGIC: [u8; 4] = [0xCE, 0xCE, 0xCE, 0xCE];

const ENCRYPTED_KEY_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The format of a trust or key store (`ssl.truststore.type`, `ssl.keystore.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreFormat {
    /// PEM text: certificates, and for a key store a PKCS#8 private key.
    Pem,
    /// PKCS#12 (DER), as keytool and `openssl pkcs12` write it.
    Pkcs12,
    /// A Java KeyStore (or JCEKS): not readable here.
    Jks,
}

impl StoreFormat {
    /// The format a `*.type` value names (the validator admits only these three).
    pub(crate) fn from_type(value: &str) -> StoreFormat {
        match value.trim().to_ascii_uppercase().as_str() {
            "PEM" => StoreFormat::Pem,
            "PKCS12" => StoreFormat::Pkcs12,
            _ => StoreFormat::Jks,
        }
    }

    /// The Java type name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreFormat::Pem => "PEM",
            StoreFormat::Pkcs12 => "PKCS12",
            StoreFormat::Jks => "JKS",
        }
    }

    /// What `bytes` hold: JKS or JCEKS (by their magic numbers), PKCS12 (a DER SEQUENCE), PEM
    /// (a `-----BEGIN` line), or none of them.
    pub(crate) fn sniff(bytes: &[u8]) -> Option<StoreFormat> {
        if bytes.starts_with(&JKS_MAGIC) || bytes.starts_with(&JCEKS_MAGIC) {
            Some(StoreFormat::Jks)
        } else if bytes.len() > 4 && bytes[0] == 0x30 {
            Some(StoreFormat::Pkcs12)
        } else if contains(bytes, b"-----BEGIN ") {
            Some(StoreFormat::Pem)
        } else {
            None
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The keys of one store (for errors and logs).
#[derive(Clone, Copy)]
struct StoreKeys {
    location: &'static str,
    kind: &'static str,
    password: &'static str,
    /// What else to say when a PEM store is given a store password.
    pem_password_hint: &'static str,
}

const TRUST: StoreKeys = StoreKeys {
    location: "ssl.truststore.location",
    kind: "ssl.truststore.type",
    password: "ssl.truststore.password",
    pem_password_hint: "",
};

const KEYS: StoreKeys = StoreKeys {
    location: "ssl.keystore.location",
    kind: "ssl.keystore.type",
    password: "ssl.keystore.password",
    pem_password_hint: " (an encrypted key's password is ssl.key.password)",
};

impl StoreKeys {
    /// Java's rules for the store given inline by `inline_key`: type PEM, and no file too.
    fn check_inline(
        self,
        inline_key: &str,
        declared: StoreFormat,
        location: Option<&str>,
    ) -> Result<()> {
        if declared != StoreFormat::Pem {
            return Err(Error::config(
                inline_key,
                format!(
                    "an inline value needs {}=PEM (it is {})",
                    self.kind,
                    declared.name()
                ),
            ));
        }
        if location.is_some() {
            return Err(Error::config(
                inline_key,
                format!("both {} and {inline_key} are set: use one", self.location),
            ));
        }
        Ok(())
    }

    /// Java's rule that a store declared PEM has no store password.
    fn check_pem_password(self, declared: StoreFormat, password: Option<&Password>) -> Result<()> {
        if declared == StoreFormat::Pem && password.is_some() {
            return Err(Error::config(
                self.password,
                format!(
                    "a PEM store has no store password: unset {}{}",
                    self.password, self.pem_password_hint
                ),
            ));
        }
        Ok(())
    }
}

/// Reads the store file at `path` and decides its format from its content; a content that
/// differs from `declared` is logged, not refused. JKS is refused with the conversion command.
fn read_store(
    keys: StoreKeys,
    path: &str,
    declared: StoreFormat,
) -> Result<(Vec<u8>, StoreFormat)> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::config(keys.location, format!("cannot read {path}: {e}")))?;
    let Some(actual) = StoreFormat::sniff(&bytes) else {
        let what = if bytes.is_empty() {
            "is empty"
        } else {
            "holds none of them"
        };
        return Err(Error::config(
            keys.location,
            format!(
                "{path} is not a PEM, PKCS12 or JKS file ({} is {}): it {what}",
                keys.kind,
                declared.name()
            ),
        ));
    };
    if actual == StoreFormat::Jks {
        return Err(Error::config(keys.location, jks_refusal(path)));
    }
    if actual != declared {
        if declared == StoreFormat::Jks && actual == StoreFormat::Pkcs12 {
            // Java 9+ does the same (keystore.type.compat): not worth a warning.
            tracing::info!(
                file = path,
                "{} is JKS but the file is PKCS12: reading it as PKCS12",
                keys.kind
            );
        } else {
            tracing::warn!(
                file = path,
                "{} is {} but the file is {}: reading it as {}",
                keys.kind,
                declared.name(),
                actual.name(),
                actual.name()
            );
        }
    }
    Ok((bytes, actual))
}

/// The error for a JKS (or JCEKS) file: no well-kept pure-Rust reader exists, so the user
/// converts it once with keytool.
fn jks_refusal(path: &str) -> String {
    format!(
        "{path} is a Java KeyStore (JKS), which Volley cannot read: convert it to PKCS12 with \
         `keytool -importkeystore -srckeystore {path} -destkeystore {path}.p12 \
         -deststoretype PKCS12` and point the location there (with type PKCS12), or use PEM"
    )
}

/// Every certificate of PEM `text`; `what` names the source in errors.
fn pem_certs(key: &str, what: &str, text: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(text)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(key, format!("{what}: malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(
            key,
            format!("{what} holds no certificate (-----BEGIN CERTIFICATE-----)"),
        ));
    }
    Ok(certs)
}

/// Whether a PKCS12 error means the password did not open the store (or the store is corrupt)
/// rather than that the file is not PKCS12 at all.
fn is_password_error(e: &p12_keystore::error::Error) -> bool {
    use p12_keystore::error::Error as P;
    matches!(
        e,
        P::MacError(_) | P::UnpadError | P::Pkcs5Error(_) | P::InvalidPrivateKey
    )
}

/// The error for a PKCS12 file that did not open: `password_key` is named when the password
/// is the likely cause.
fn pkcs12_error(keys: StoreKeys, path: &str, e: &p12_keystore::error::Error) -> Error {
    if is_password_error(e) {
        Error::config(
            keys.password,
            format!("cannot open PKCS12 file {path}: wrong password or corrupt key store"),
        )
    } else {
        Error::config(
            keys.location,
            format!("cannot read PKCS12 file {path}: {e} (corrupt file, or wrong password)"),
        )
    }
}

/// The trust anchors the `ssl.truststore.*` keys give (Java's `DefaultSslEngineFactory`
/// rules): inline PEM certificates (type PEM), a store file, or else the system's roots.
pub(crate) fn trust_roots(cfg: &ProducerConfig) -> Result<RootCertStore> {
    let declared = StoreFormat::from_type(&cfg.ssl_truststore_type);
    let location = cfg.ssl_truststore_location.as_deref();
    let password = cfg.ssl_truststore_password.as_ref();
    let certs = if let Some(inline) = &cfg.ssl_truststore_certificates {
        TRUST.check_inline("ssl.truststore.certificates", declared, location)?;
        TRUST.check_pem_password(declared, password)?;
        pem_certs(
            "ssl.truststore.certificates",
            "the inline value",
            inline.value().as_bytes(),
        )?
    } else if let Some(path) = location {
        TRUST.check_pem_password(declared, password)?;
        let (bytes, format) = read_store(TRUST, path, declared)?;
        match format {
            StoreFormat::Pem => pem_certs(TRUST.location, path, &bytes)?,
            _ => pkcs12_trusted(path, &bytes, password)?,
        }
    } else {
        if password.is_some() {
            return Err(Error::config(
                TRUST.password,
                "ssl.truststore.password is set but no trust store is (ssl.truststore.location)",
            ));
        }
        return system_roots();
    };
    let mut roots = RootCertStore::empty();
    let source = location.unwrap_or("the inline value");
    let key = if location.is_some() {
        TRUST.location
    } else {
        "ssl.truststore.certificates"
    };
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            Error::config(
                key,
                format!(
                    "{source}: certificate {} is not usable as a trust anchor: {e}",
                    i + 1
                ),
            )
        })?;
    }
    Ok(roots)
}

/// The trusted certificates of a PKCS12 trust store: the certificate bags that carry Java's
/// trusted-certificate attribute (as keytool and `openssl pkcs12 -jdktrust` write them); for a
/// store without any (older openssl), every certificate not tied to a private key.
fn pkcs12_trusted(
    path: &str,
    bytes: &[u8],
    password: Option<&Password>,
) -> Result<Vec<CertificateDer<'static>>> {
    let archive = Pkcs12Archive::from_pkcs12(bytes, password.map_or("", Password::value))
        .map_err(|e| pkcs12_error(TRUST, path, &e))?;
    let der = |c: &p12_keystore::CertificateBag| CertificateDer::from(c.cert.as_der().to_vec());
    let mut certs: Vec<_> = archive
        .certs
        .iter()
        .filter(|c| c.trusted)
        .map(der)
        .collect();
    if certs.is_empty() {
        certs = archive
            .certs
            .iter()
            .filter(|c| c.local_key_id.is_none())
            .map(der)
            .collect();
        if !certs.is_empty() {
            tracing::debug!(
                file = path,
                "PKCS12 trust store without Java's trusted attribute: trusting its {} \
                 certificate(s) not tied to a key",
                certs.len()
            );
        }
    }
    if certs.is_empty() {
        return Err(Error::config(
            TRUST.location,
            format!("{path} holds no trusted certificate (a key store was given as trust store?)"),
        ));
    }
    Ok(certs)
}

/// The system's root certificates (rustls-native-certs: on Linux the OpenSSL locations,
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`).
fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "while loading the system's root certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "system root certificates");
    if roots.is_empty() {
        let why = match found.errors.first() {
            Some(e) => format!(" ({e})"),
            None => String::new(),
        };
        return Err(Error::config(
            TRUST.location,
            format!(
                "no trust store is configured and no system root certificate was found{why}: \
                 set ssl.truststore.location (or ssl.truststore.certificates with type PEM)"
            ),
        ));
    }
    Ok(roots)
}

/// A client certificate chain and its private key (mutual TLS).
pub(crate) struct Identity {
    /// The end-entity certificate first, then its issuers.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub(crate) key: PrivateKeyDer<'static>,
    /// The key that configured it and its source, for errors: (`ssl.keystore.location`, path).
    pub(crate) source: (&'static str, String),
}

/// The client certificate the `ssl.keystore.*` keys give, if any (Java's
/// `DefaultSslEngineFactory` rules, except that a PEM key store file may hold an unencrypted
/// key without `ssl.key.password`).
pub(crate) fn client_identity(cfg: &ProducerConfig) -> Result<Option<Identity>> {
    let declared = StoreFormat::from_type(&cfg.ssl_keystore_type);
    let location = cfg.ssl_keystore_location.as_deref();
    let store_password = cfg.ssl_keystore_password.as_ref();
    let key_password = cfg.ssl_key_password.as_ref();
    if let Some(key) = &cfg.ssl_keystore_key {
        let Some(chain) = &cfg.ssl_keystore_certificate_chain else {
            return Err(Error::config(
                "ssl.keystore.certificate.chain",
                "ssl.keystore.key is set but the certificate chain is not",
            ));
        };
        KEYS.check_inline("ssl.keystore.key", declared, location)?;
        KEYS.check_pem_password(declared, store_password)?;
        let chain = pem_certs(
            "ssl.keystore.certificate.chain",
            "the inline value",
            chain.value().as_bytes(),
        )?;
        let key = pem_key(
            "ssl.keystore.key",
            "the inline value",
            key.value().as_bytes(),
            key_password,
        )?;
        return Ok(Some(Identity {
            chain,
            key,
            source: ("ssl.keystore.key", "the inline value".into()),
        }));
    }
    if cfg.ssl_keystore_certificate_chain.is_some() {
        return Err(Error::config(
            "ssl.keystore.key",
            "ssl.keystore.certificate.chain is set but the private key is not",
        ));
    }
    let Some(path) = location else {
        if store_password.is_some() {
            return Err(Error::config(
                KEYS.password,
                "ssl.keystore.password is set but no key store is (ssl.keystore.location)",
            ));
        }
        return Ok(None);
    };
    KEYS.check_pem_password(declared, store_password)?;
    let (bytes, format) = read_store(KEYS, path, declared)?;
    let (chain, key) = match format {
        StoreFormat::Pem => (
            pem_certs(KEYS.location, path, &bytes)?,
            pem_key(KEYS.location, path, &bytes, key_password)?,
        ),
        _ => {
            let Some(store_password) = store_password else {
                return Err(Error::config(
                    KEYS.password,
                    format!("{path} is a PKCS12 key store: ssl.keystore.password is required"),
                ));
            };
            pkcs12_identity(path, &bytes, store_password, key_password)?
        }
    };
    Ok(Some(Identity {
        chain,
        key,
        source: (KEYS.location, path.to_string()),
    }))
}

/// The first private key entry of a PKCS12 key store, with its certificate chain.
fn pkcs12_identity(
    path: &str,
    bytes: &[u8],
    store_password: &Password,
    key_password: Option<&Password>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let store = KeyStore::from_pkcs12(bytes, store_password.value(), Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| {
        let differs = key_password.is_some_and(|k| k.value() != store_password.value());
        if differs && !matches!(e, p12_keystore::error::Error::MacError(_)) && is_password_error(&e)
        {
            // The store password opened the store but not its key.
            Error::config(
                "ssl.key.password",
                format!(
                    "cannot decrypt the private key of PKCS12 file {path} with the store \
                         password: a key password that differs from the store password is not \
                         supported for PKCS12 (keytool and openssl write one password for both)"
                ),
            )
        } else {
            pkcs12_error(KEYS, path, &e)
        }
    })?;
    let Some((alias, entry)) = store.private_key_chain() else {
        return Err(Error::config(
            KEYS.location,
            format!("{path} holds no private key entry (a trust store was given as key store?)"),
        ));
    };
    if entry.certs().is_empty() {
        return Err(Error::config(
            KEYS.location,
            format!("{path}: the key entry {alias:?} has no certificate"),
        ));
    }
    let chain = entry
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().as_der().to_vec()));
    Ok((chain, key))
}

/// The private key of PEM `text` (`what` names its source in errors): an `ENCRYPTED PRIVATE
/// KEY` (PKCS#8, PBES2 or legacy PBES1) is decrypted with `password` (`ssl.key.password`); a
/// plain PKCS#8, PKCS#1 or SEC1 key is taken as it is.
fn pem_key(
    key: &str,
    what: &str,
    text: &[u8],
    password: Option<&Password>,
) -> Result<PrivateKeyDer<'static>> {
    if let Some(block) = pem_block(text, ENCRYPTED_KEY_LABEL) {
        let Some(password) = password else {
            return Err(Error::config(
                "ssl.key.password",
                format!("{what}: the private key is encrypted but ssl.key.password is not set"),
            ));
        };
        let (_, der) = pkcs8::der::pem::decode_vec(block)
            .map_err(|e| Error::config(key, format!("{what}: malformed PEM key: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| Error::config(key, format!("{what}: not an encrypted PKCS#8 key: {e}")))?;
        let plain = info.decrypt(password.value()).map_err(|e| {
            Error::config(
                "ssl.key.password",
                format!(
                    "cannot decrypt the private key of {what}: wrong password or corrupt key ({e})"
                ),
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if contains(text, b"Proc-Type: 4,ENCRYPTED") {
        return Err(Error::config(
            key,
            format!(
                "{what}: the private key is encrypted in OpenSSL's legacy format, which Java and \
                 Volley do not read: convert it to PKCS#8 with `openssl pkcs8 -topk8 -v2 \
                 aes-256-cbc -in key.pem -out key-pkcs8.pem`"
            ),
        ));
    }
    match PrivateKeyDer::from_pem_slice(text) {
        Ok(k) => {
            if password.is_some() {
                tracing::debug!(
                    "{what}: the private key is not encrypted; ssl.key.password unused"
                );
            }
            Ok(k)
        }
        Err(pem::Error::NoItemsFound) => Err(Error::config(
            key,
            format!(
                "{what} holds no private key (-----BEGIN PRIVATE KEY----- or -----BEGIN \
                 ENCRYPTED PRIVATE KEY-----)"
            ),
        )),
        Err(e) => Err(Error::config(
            key,
            format!("{what}: malformed PEM key: {e}"),
        )),
    }
}

/// Fuzzing entry (`crate::fuzzing`): `[kind, bytes...]`, store bytes read as the producer reads
/// them: inline PEM trust certificates, an inline PEM chain and key (split at the first NUL), or a
/// PKCS12 trust store and key store (password `changeit`).
#[cfg(any(test, fuzzing))]
pub(crate) fn fuzz_stores(data: &[u8]) {
    let [kind, rest @ ..] = data else {
        return;
    };
    let password = Password::new("changeit");
    let text = String::from_utf8_lossy(rest);
    match kind % 3 {
        0 => {
            let props = [
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.certificates", &text),
            ];
            if let Ok(cfg) = ProducerConfig::from_properties(props) {
                let _ = trust_roots(&cfg);
            }
        }
        1 => {
            let (chain, key) = text.split_once('\0').unwrap_or((&text, ""));
            let props = [
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
            ];
            if let Ok(cfg) = ProducerConfig::from_properties(props) {
                let _ = client_identity(&cfg);
            }
        }
        _ => {
            let _ = pkcs12_trusted("fuzz", rest, Some(&password));
            let _ = pkcs12_identity("fuzz", rest, &password, None);
        }
    }
}

/// The PEM block labelled `label` in `text`, from its BEGIN line to its END line.
fn pem_block<'a>(text: &'a [u8], label: &str) -> Option<&'a [u8]> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .windows(begin.len())
        .position(|w| w == begin.as_bytes())?;
    let len = text[start..]
        .windows(end.len())
        .position(|w| w == end.as_bytes())?;
    Some(&text[start..start + len + end.len()])
}
