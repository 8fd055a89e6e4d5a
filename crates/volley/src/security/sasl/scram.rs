//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 clients (RFC 5802, RFC 7677; Kafka's KIP-84), as
//! Java's `ScramSaslClient` runs them:
//!
//! 1. client-first `n,,n=<saslname>,r=<client nonce>[,tokenauth=true]`;
//! 2. server-first `r=<client nonce + server nonce>,s=<salt>,i=<iterations>`: the nonce must
//!    extend ours, the iteration count must be at least 4096 (Kafka's minimum for both
//!    mechanisms) and at most [`MAX_ITERATIONS`];
//! 3. client-final `c=biws,r=<nonce>,p=<ClientProof>`;
//! 4. server-final `v=<ServerSignature>`, checked in constant time, or `e=<error>`.
//!
//! No channel binding (`n,,`), no authorization id, and, as in Java, no SASLprep: the user
//! name and password are used as their UTF-8 bytes. Crypto is ring's (PBKDF2, HMAC, SHA-2),
//! the client nonce comes from ring's `SystemRandom` (the OS CSPRNG).

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SecureRandom;
use ring::{digest, hmac, pbkdf2};

use super::{Credentials, Mechanism, SaslSession, Step};

/// Kafka's minimum iteration count for SCRAM-SHA-256 and -512 (`ScramMechanism`); Java's
/// client refuses a server that asks for fewer.
pub(crate) const MIN_ITERATIONS: u32 = 4096;

/// The largest iteration count accepted. Java's client sets no limit; a KRaft controller
/// refuses credentials above 16,384 (`ScramControlManager.MAX_ITERATIONS`), but credentials
/// made under ZooKeeper had no upper limit and survive a migration, so the bound only refuses
/// absurd requests: PBKDF2 runs on the connecting task, and a million rounds is about half a
/// second of CPU.
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// The hash of `m`, if it is a SCRAM mechanism.
    pub(crate) fn of(m: Mechanism) -> Option<ScramHash> {
        match m {
            Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha512 => Some(ScramHash::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        }
    }

    fn len(self) -> usize {
        self.digest().output_len()
    }

    fn mac(self, key: &[u8], data: &[u8]) -> hmac::Tag {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data)
    }
}

enum State {
    /// Nothing sent yet; `nonce` is set by tests only.
    Start {
        nonce: Option<String>,
    },
    /// client-first sent.
    SentFirst {
        client_nonce: String,
        first_bare: String,
    },
    /// client-final sent; the server's signature is HMAC(ServerKey, AuthMessage).
    SentFinal {
        server_key: hmac::Key,
        auth_message: Vec<u8>,
    },
    Done,
}

/// The last SaltedPassword a producer derived, for its (salt, iteration count): PBKDF2 runs
/// on the I/O thread, and a broker that asks for many iterations would otherwise stall every
/// connection at each re-authentication. The password is fixed per producer, so the salt and
/// count are the whole key. Shared by the producer's sessions; never shown.
#[derive(Default)]
pub(crate) struct SaltedCache(parking_lot::Mutex<Option<Salted>>);

/// A salt, an iteration count, and the SaltedPassword derived from them.
type Salted = (Vec<u8>, u32, Vec<u8>);

impl SaltedCache {
    /// The cached value for `salt` and `iterations`, or `derive()`'s, then cached.
    fn get_or_derive(
        &self,
        salt: &[u8],
        iterations: u32,
        derive: impl FnOnce() -> Vec<u8>,
    ) -> Vec<u8> {
        let mut slot = self.0.lock();
        if let Some((s, i, salted)) = slot.as_ref() {
            if s == salt && *i == iterations {
                return salted.clone();
            }
        }
        let salted = derive();
        *slot = Some((salt.to_vec(), iterations, salted.clone()));
        salted
    }
}

impl fmt::Debug for SaltedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SaltedCache([hidden])")
    }
}

/// One SCRAM exchange. `Debug` shows the mechanism and user, never the password.
pub(crate) struct ScramSession {
    hash: ScramHash,
    creds: Credentials,
    salted_cache: std::sync::Arc<SaltedCache>,
    /// SCRAM extensions of client-first (`tokenauth=true` for delegation tokens).
    extensions: Vec<(String, String)>,
    state: State,
}

impl fmt::Debug for ScramSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSession")
            .field("mechanism", &self.hash.name())
            .field("credentials", &self.creds)
            .finish_non_exhaustive()
    }
}

impl ScramSession {
    pub(crate) fn new(
        hash: ScramHash,
        creds: Credentials,
        extensions: Vec<(String, String)>,
        salted_cache: std::sync::Arc<SaltedCache>,
    ) -> ScramSession {
        ScramSession {
            hash,
            creds,
            salted_cache,
            extensions,
            state: State::Start { nonce: None },
        }
    }

    #[cfg(any(test, fuzzing))]
    fn with_nonce(hash: ScramHash, creds: Credentials, nonce: &str) -> ScramSession {
        ScramSession {
            hash,
            creds,
            salted_cache: Default::default(),
            extensions: Vec::new(),
            state: State::Start {
                nonce: Some(nonce.to_string()),
            },
        }
    }

    fn client_first(&mut self, nonce: Option<String>) -> Result<Step, String> {
        let client_nonce = match nonce {
            Some(n) => n,
            None => random_nonce()?,
        };
        let mut first_bare = format!("n={},r={}", sasl_name(&self.creds.username), client_nonce);
        for (k, v) in &self.extensions {
            first_bare.push_str(&format!(",{k}={v}"));
        }
        let msg = format!("n,,{first_bare}").into_bytes();
        self.state = State::SentFirst {
            client_nonce,
            first_bare,
        };
        Ok(Step::Send(msg))
    }

    fn client_final(
        &mut self,
        server_first: &[u8],
        client_nonce: &str,
        first_bare: &str,
    ) -> Result<Step, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "invalid SCRAM server-first message: not UTF-8".to_string())?;
        let sf = ServerFirst::parse(server_first)?;
        if !sf.nonce.starts_with(client_nonce) || sf.nonce.len() <= client_nonce.len() {
            return Err(
                "invalid SCRAM server-first message: the server nonce does not extend \
                        the client nonce"
                    .into(),
            );
        }
        if sf.iterations < MIN_ITERATIONS {
            return Err(format!(
                "the broker asks for {} iterations, less than the minimum {MIN_ITERATIONS} for {}",
                sf.iterations,
                self.hash.name()
            ));
        }
        if sf.iterations > MAX_ITERATIONS {
            return Err(format!(
                "the broker asks for {} iterations, more than the {MAX_ITERATIONS} Volley accepts",
                sf.iterations
            ));
        }
        let h = self.hash;
        let password = self.creds.password.as_bytes();
        let salted = self
            .salted_cache
            .get_or_derive(&sf.salt, sf.iterations, || {
                let mut salted = vec![0u8; h.len()];
                pbkdf2::derive(
                    h.pbkdf2(),
                    std::num::NonZeroU32::new(sf.iterations).expect("at least MIN_ITERATIONS"),
                    &sf.salt,
                    password,
                    &mut salted,
                );
                salted
            });
        let client_key = h.mac(&salted, b"Client Key");
        let stored_key = digest::digest(h.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={}", sf.nonce);
        let auth_message = format!("{first_bare},{server_first},{without_proof}").into_bytes();
        let client_signature = h.mac(stored_key.as_ref(), &auth_message);
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::Key::new(h.hmac(), h.mac(&salted, b"Server Key").as_ref());
        let msg = format!("{without_proof},p={}", STANDARD.encode(&proof)).into_bytes();
        self.state = State::SentFinal {
            server_key,
            auth_message,
        };
        Ok(Step::Send(msg))
    }
}

impl SaslSession for ScramSession {
    fn step(&mut self, challenge: &[u8]) -> Result<Step, String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start { nonce } => {
                if !challenge.is_empty() {
                    return Err("expected an empty challenge before the SCRAM client-first \
                                message"
                        .into());
                }
                self.client_first(nonce)
            }
            State::SentFirst {
                client_nonce,
                first_bare,
            } => self.client_final(challenge, &client_nonce, &first_bare),
            State::SentFinal {
                server_key,
                auth_message,
            } => {
                let signature = parse_server_final(challenge)?;
                hmac::verify(&server_key, &auth_message, &signature).map_err(|_| {
                    "invalid SCRAM server signature: the broker did not prove it knows the \
                     credentials"
                        .to_string()
                })?;
                Ok(Step::Done)
            }
            State::Done => Err("unexpected SCRAM challenge after the exchange completed".into()),
        }
    }
}

/// RFC 5802 `saslname`: `=` as `=3D`, `,` as `=2C` (Java's `ScramFormatter.saslName`).
pub(crate) fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// 18 random bytes from the OS CSPRNG as 24 base64url characters (144 bits; Java's nonce
/// has 130).
fn random_nonce() -> Result<String, String> {
    let mut bytes = [0u8; 18];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random number generator failed".to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `printable` of RFC 5802: %x21-2B / %x2D-7E (no comma).
fn printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b',')
}

struct ServerFirst {
    nonce: String,
    salt: Vec<u8>,
    iterations: u32,
}

impl ServerFirst {
    /// `[m=...,]r=<nonce>,s=<base64>,i=<digits>[,<ext>=<value>]*`; a mandatory extension
    /// (`m=`) is refused, optional extensions are ignored (RFC 5802 §5.1).
    fn parse(msg: &str) -> Result<ServerFirst, String> {
        let bad = |why: &str| format!("invalid SCRAM server-first message: {why}");
        if msg.starts_with("m=") {
            return Err(bad("the broker requires an unsupported extension (m=)"));
        }
        let mut parts = msg.split(',');
        let mut field = |name: &str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .ok_or_else(|| bad(&format!("expected {name}")))
        };
        let nonce = field("r=")?;
        let salt = field("s=")?;
        let iterations = field("i=")?;
        if !printable(nonce) {
            return Err(bad("the nonce is empty or not printable"));
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| bad("the salt is not base64"))?;
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the iteration count is not a number"));
        }
        let iterations: u32 = iterations.parse().unwrap_or(u32::MAX);
        if iterations == 0 {
            return Err(bad("the iteration count is 0"));
        }
        for ext in parts {
            check_extension(ext).map_err(|w| bad(&w))?;
        }
        Ok(ServerFirst {
            nonce: nonce.to_string(),
            salt,
            iterations,
        })
    }
}

/// `<letters>=<value>`, the form of an optional SCRAM extension.
fn check_extension(ext: &str) -> Result<(), String> {
    match ext.split_once('=') {
        Some((k, v))
            if !k.is_empty()
                && k.bytes().all(|b| b.is_ascii_alphabetic())
                && !v.is_empty()
                && v.bytes().all(|b| (0x01..=0x7F).contains(&b)) =>
        {
            Ok(())
        }
        _ => Err("malformed extension".into()),
    }
}

/// `v=<base64>[,ext]*` gives the signature; `e=<error>` is the broker's refusal.
fn parse_server_final(challenge: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("invalid SCRAM server-final message: {why}");
    let msg = std::str::from_utf8(challenge).map_err(|_| bad("not UTF-8"))?;
    if let Some(error) = msg.strip_prefix("e=") {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Err(format!("the broker refused the SCRAM exchange: {error}"));
    }
    let mut parts = msg.split(',');
    let sig = parts
        .next()
        .and_then(|p| p.strip_prefix("v="))
        .ok_or_else(|| bad("expected v= or e="))?;
    for ext in parts {
        check_extension(ext).map_err(|w| bad(&w))?;
    }
    STANDARD
        .decode(sig)
        .map_err(|_| bad("the server signature is not base64"))
}

/// Fuzzing entry (`crate::fuzzing`): a server-first message, parsed.
#[cfg(any(test, fuzzing))]
pub(crate) fn fuzz_server_first(msg: &[u8]) {
    if let Ok(msg) = std::str::from_utf8(msg) {
        let _ = ServerFirst::parse(msg);
    }
}

/// Fuzzing entry (`crate::fuzzing`): a server-final message, parsed.
#[cfg(any(test, fuzzing))]
pub(crate) fn fuzz_server_final(msg: &[u8]) {
    let _ = parse_server_final(msg);
}

/// Fuzzing entry (`crate::fuzzing`): a whole exchange with RFC 5802's client nonce, the
/// server-first and server-final messages separated by the first NUL. An iteration count the
/// session would accept above the minimum is skipped (each would cost a slow PBKDF2 run and
/// reach no new code).
#[cfg(any(test, fuzzing))]
pub(crate) fn fuzz_session(data: &[u8]) {
    let (first, last) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Some(sf) = std::str::from_utf8(first)
        .ok()
        .and_then(|s| ServerFirst::parse(s).ok())
    {
        if sf.iterations > MIN_ITERATIONS && sf.iterations <= MAX_ITERATIONS {
            return;
        }
    }
    let creds = Credentials {
        username: "user".into(),
        password: "pencil".into(),
    };
    let mut session = ScramSession::with_nonce(ScramHash::Sha256, creds, "rOprNGfwEbeRWgbNEkqO");
    let _ = session.step(b"");
    if session.step(first).is_ok() {
        let _ = session.step(last);
        let _ = session.step(b"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials {
            username: user.into(),
            password: password.into(),
        }
    }

    fn send(step: Result<Step, String>) -> String {
        match step {
            Ok(Step::Send(b)) => String::from_utf8(b).unwrap(),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// RFC 7677 §3's example exchange.
    #[test]
    fn rfc7677_sha256_vector() {
        let mut s = ScramSession::with_nonce(
            ScramHash::Sha256,
            creds("user", "pencil"),
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(send(s.step(b"")), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            send(s.step(server_first.as_bytes())),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            s.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(Step::Done)
        );
        assert!(s.step(b"").is_err());
    }

    // Sessions of one producer share the SaltedPassword: a second exchange with the same salt
    // and count reuses it (still giving RFC 7677's proof), another salt derives anew.
    #[test]
    fn the_salted_password_is_derived_once_per_salt_and_count() {
        let cache = std::sync::Arc::new(SaltedCache::default());
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let mut derived = 0;
        for _ in 0..2 {
            let mut s = ScramSession::with_nonce(
                ScramHash::Sha256,
                creds("user", "pencil"),
                "rOprNGfwEbeRWgbNEkqO",
            );
            s.salted_cache = cache.clone();
            send(s.step(b""));
            assert!(send(s.step(server_first.as_bytes())).ends_with(proof));
            let before = cache.0.lock().clone();
            derived += usize::from(before.is_some());
        }
        assert_eq!(
            derived, 2,
            "the cache holds the derived value after each exchange"
        );
        let salted = cache.0.lock().clone().unwrap();
        let calls = std::cell::Cell::new(0);
        let again = cache.get_or_derive(&salted.0, salted.1, || {
            calls.set(calls.get() + 1);
            Vec::new()
        });
        assert_eq!((again, calls.get()), (salted.2.clone(), 0));
        let other = cache.get_or_derive(b"other salt", salted.1, || {
            calls.set(calls.get() + 1);
            vec![1, 2, 3]
        });
        assert_eq!((other, calls.get()), (vec![1, 2, 3], 1));
    }

    /// SCRAM-SHA-512, with values computed independently by Python's hashlib and hmac
    /// (pbkdf2_hmac("sha512", ...), hmac.new(..., "sha512")).
    #[test]
    fn sha512_vector() {
        let mut s = ScramSession::with_nonce(
            ScramHash::Sha512,
            creds("us=er,1", "pencil"),
            "fyko+d2lbbFgONRv9qkxdawL",
        );
        assert_eq!(
            send(s.step(b"")),
            "n,,n=us=3Der=2C1,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        let server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,\
                            s=QSXCR+Q6sek8bf92,i=4096";
        assert_eq!(send(s.step(server_first.as_bytes())), SHA512_CLIENT_FINAL);
        assert_eq!(s.step(SHA512_SERVER_FINAL.as_bytes()), Ok(Step::Done));
    }

    const SHA512_CLIENT_FINAL: &str = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,\
        p=fpHetoPLqz3eU8OnZysKUD+yvZJ4onrN0vLa5HsdsXRb40PPzhP1RYfd/HK2lJWDyzCmG6RUVH1rZYOWHlCrwQ==";
    const SHA512_SERVER_FINAL: &str = "v=mD59qr8QzxZIp2U1nWpzvIf+FHhBjlsR1N1S/VgaPNkJ\
        qGhfbVnQYQ2Q6VsRzCzZLPL5PzsknoWKvXwSepHe6Q==";

    fn after_first(hash: ScramHash) -> ScramSession {
        let mut s = ScramSession::with_nonce(hash, creds("user", "pencil"), "abc");
        send(s.step(b""));
        s
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        for sf in [
            "r=xbc123,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abc,s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            let e = after_first(ScramHash::Sha256)
                .step(sf.as_bytes())
                .unwrap_err();
            assert!(e.contains("nonce"), "{e}");
        }
    }

    #[test]
    fn iteration_bounds() {
        let e = after_first(ScramHash::Sha256)
            .step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=4095")
            .unwrap_err();
        assert!(e.contains("less than the minimum 4096"), "{e}");
        let e = after_first(ScramHash::Sha512)
            .step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=1000001")
            .unwrap_err();
        assert!(e.contains("more than"), "{e}");
        let e = after_first(ScramHash::Sha512)
            .step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=99999999999999999999")
            .unwrap_err();
        assert!(e.contains("more than"), "{e}");
        let e = after_first(ScramHash::Sha512)
            .step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=0")
            .unwrap_err();
        assert!(e.contains("iteration count is 0"), "{e}");
    }

    #[test]
    fn bad_server_signature_and_server_error() {
        let mut s = after_first(ScramHash::Sha256);
        send(s.step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=4096"));
        let e = s
            .step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(e.contains("invalid SCRAM server signature"), "{e}");

        let mut s = after_first(ScramHash::Sha256);
        send(s.step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=4096"));
        let e = s.step(b"e=invalid-proof").unwrap_err();
        assert_eq!(e, "the broker refused the SCRAM exchange: invalid-proof");
    }

    #[test]
    fn malformed_messages() {
        for sf in [
            "",
            "m=ext,r=abc1,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abc1,i=4096,s=QSXCR+Q6sek8bf92",
            "r=abc1,s=not base64!,i=4096",
            "r=abc1,s=QSXCR+Q6sek8bf92,i=4k",
            "r=abc1,s=QSXCR+Q6sek8bf92,i=",
            "r=abc1,s=QSXCR+Q6sek8bf92",
            "r=abc1,s=QSXCR+Q6sek8bf92,i=4096,=x",
            "r=ab c1,s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            let r = after_first(ScramHash::Sha256).step(sf.as_bytes());
            assert!(r.is_err(), "{sf:?} gave {r:?}");
        }
        // Optional extensions after i= are allowed.
        let r = after_first(ScramHash::Sha256).step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=4096,x=y");
        assert!(matches!(r, Ok(Step::Send(_))), "{r:?}");
        assert!(after_first(ScramHash::Sha256)
            .step(&[0xff, 0xfe])
            .unwrap_err()
            .contains("UTF-8"));
        let mut s = after_first(ScramHash::Sha256);
        send(s.step(b"r=abc1,s=QSXCR+Q6sek8bf92,i=4096"));
        assert!(s.step(b"x=1").is_err());
        // A non-empty first challenge is refused.
        let mut s = ScramSession::new(
            ScramHash::Sha256,
            creds("u", "p"),
            vec![],
            Default::default(),
        );
        assert!(s.step(b"r=").is_err());
    }

    #[test]
    fn random_nonces_and_extensions() {
        let mut a = ScramSession::new(
            ScramHash::Sha512,
            creds("u", "p"),
            vec![("tokenauth".into(), "true".into())],
            Default::default(),
        );
        let mut b = ScramSession::new(
            ScramHash::Sha512,
            creds("u", "p"),
            vec![],
            Default::default(),
        );
        let (ma, mb) = (send(a.step(b"")), send(b.step(b"")));
        assert!(
            ma.starts_with("n,,n=u,r=") && ma.ends_with(",tokenauth=true"),
            "{ma}"
        );
        let na = &ma["n,,n=u,r=".len()..ma.len() - ",tokenauth=true".len()];
        let nb = &mb["n,,n=u,r=".len()..];
        assert_eq!(na.len(), 24);
        assert!(printable(na) && printable(nb));
        assert_ne!(na, nb);
    }

    #[test]
    fn debug_hides_the_password() {
        let s = ScramSession::new(
            ScramHash::Sha256,
            creds("alice", "hunter2"),
            vec![],
            Default::default(),
        );
        let shown = format!("{s:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_server_messages_never_panic(
            first in proptest::collection::vec(any::<u8>(), 0..80),
            last in proptest::collection::vec(any::<u8>(), 0..80),
            iterations in 0u64..5000,
            tail in "[a-z=,]{0,8}",
        ) {
            let mut s = after_first(ScramHash::Sha256);
            let _ = s.step(&first);
            let mut s = after_first(ScramHash::Sha256);
            let sf = format!("r=abc1,s=QSXCR+Q6sek8bf92,i={iterations}{tail}");
            if let Ok(Step::Send(_)) = s.step(sf.as_bytes()) {
                let _ = s.step(&last);
            }
        }
    }
}
