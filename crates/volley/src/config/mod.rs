//! Producer configuration, with the Java client's key names and defaults.
//!
//! A [`ProducerConfig`] can be made three ways, all ending in [`ProducerConfig::validate`]:
//! * from `(key, value)` string pairs: [`ProducerConfig::from_properties`];
//! * from a Java `producer.properties` file: [`ProducerConfig::from_properties_file`];
//! * in code: [`ProducerConfig::builder`].
//!
//! Each key is declared once, in `config/keys.rs` ([`KEYS`] lists the declarations): its field,
//! Java name and type, default, validator, importance and documentation. Setting from
//! properties, the builder's methods, [`ProducerConfig::get`], the defaults, the per-key part of
//! validation and the README's configuration table all come from that declaration.
//!
//! Keys, defaults and the cross-key rules follow Java's `ProducerConfig` (Kafka 4.x). Keys that
//! Java accepts but that mean nothing to Volley (metrics reporters, JCE providers, Kerberos,
//! the broker-side OAuth validation keys, ...) are accepted with a warning; see
//! [`IGNORED_KEYS`]. Any other unknown key is an error, unlike Java, which only logs it: the
//! Java keys Volley does not support ([`UNSUPPORTED_KEYS`]) say why, and librdkafka's names say
//! which Java key to set.
//!
//! Every error is [`Error::Config`] naming the key (or keys, comma separated) at fault.
//!
//! Millisecond values may be as large as Java allows (`max.block.ms=9223372036854775807` is a
//! common way to say "forever"): code that adds them to an `Instant` must use checked arithmetic.

mod builder;
mod keys;
mod properties;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod tests;
mod unknown;
mod value;

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

pub use builder::ProducerConfigBuilder;
pub use keys::{ProducerConfig, KEYS};
pub use properties::parse_properties;
pub use unknown::UNSUPPORTED_KEYS;
use value::ConfigValue;
pub use value::{Importance, IntoConfig, Kind, Password, Validator, I32_MAX, I64_MAX};

use keys::{KeyIndex, KEY_COUNT};
use value::Invalid;

/// `max.in.flight.requests.per.connection` allowed with idempotence (Java's
/// `MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION_FOR_IDEMPOTENCE`).
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

/// `acks`: how many replicas must have a record before the broker acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acks {
    /// `acks=0`: the producer does not wait for any acknowledgement.
    None = 0,
    /// `acks=1`: the partition leader has written the record.
    Leader = 1,
    /// `acks=all` (or `-1`): every in-sync replica has the record.
    All = -1,
}

impl Acks {
    /// The value sent in a Produce request (`0`, `1` or `-1`).
    pub fn as_i16(self) -> i16 {
        self as i16
    }

    fn from_name(v: &str) -> Option<Acks> {
        match v {
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            "-1" => Some(Acks::All),
            _ if v.eq_ignore_ascii_case("all") => Some(Acks::All),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// `compression.type`: the codec of produced record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// `none`.
    None,
    /// `gzip` (level: `compression.gzip.level`).
    Gzip,
    /// `snappy` (no levels).
    Snappy,
    /// `lz4` (level: `compression.lz4.level`).
    Lz4,
    /// `zstd` (level: `compression.zstd.level`).
    Zstd,
}

impl CompressionType {
    /// The Java name: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::None => "none",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    fn from_name(v: &str) -> Option<CompressionType> {
        [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(v))
    }
}

const ROUND_ROBIN_CLASS: &str = "org.apache.kafka.clients.producer.RoundRobinPartitioner";
const DEFAULT_PARTITIONER_CLASS: &str =
    "org.apache.kafka.clients.producer.internals.DefaultPartitioner";
const UNIFORM_STICKY_CLASS: &str = "org.apache.kafka.clients.producer.UniformStickyPartitioner";

/// `partitioner.class`, as far as it can be given by name. A custom partitioner is set in code
/// on the producer builder, not in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PartitionerClass {
    /// No `partitioner.class` (Java's default): murmur2 hash of the key for keyed records
    /// (unless `partitioner.ignore.keys`), otherwise the sticky partition that switches after
    /// `batch.size` bytes (adaptive per `partitioner.adaptive.partitioning.enable`).
    #[default]
    BuiltIn,
    /// `org.apache.kafka.clients.producer.RoundRobinPartitioner`: each record goes to the next
    /// partition in turn, key or not.
    RoundRobin,
}

const SERIALIZERS: [(&str, JavaSerializer); 4] = [
    (
        "org.apache.kafka.common.serialization.ByteArraySerializer",
        JavaSerializer::ByteArray,
    ),
    (
        "org.apache.kafka.common.serialization.StringSerializer",
        JavaSerializer::String,
    ),
    (
        "org.apache.kafka.common.serialization.BytesSerializer",
        JavaSerializer::Bytes,
    ),
    (
        "org.apache.kafka.common.serialization.ByteBufferSerializer",
        JavaSerializer::ByteBuffer,
    ),
];

/// A Java serializer class named in `key.serializer` / `value.serializer`.
///
/// Volley records which one was named but does not act on it: keys and values are serialized by
/// the Rust types passed to the producer. These four are accepted because each writes the bytes
/// it is given (strings as UTF-8), which is what Volley's byte and string types do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JavaSerializer {
    /// `org.apache.kafka.common.serialization.ByteArraySerializer`.
    ByteArray,
    /// `org.apache.kafka.common.serialization.StringSerializer`.
    String,
    /// `org.apache.kafka.common.serialization.BytesSerializer`.
    Bytes,
    /// `org.apache.kafka.common.serialization.ByteBufferSerializer`.
    ByteBuffer,
}

impl JavaSerializer {
    /// The fully qualified Java class name.
    pub fn class_name(self) -> &'static str {
        SERIALIZERS
            .iter()
            .find(|(_, s)| *s == self)
            .expect("listed")
            .0
    }
}

/// `security.protocol`: how the producer reaches brokers (Java's `SecurityProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: unauthenticated, unencrypted TCP.
    #[default]
    Plaintext,
    /// `SSL`: TLS (`ssl.*` keys), with a client certificate for mutual TLS if a keystore is set.
    Ssl,
    /// `SASL_PLAINTEXT`: SASL authentication (`sasl.*` keys) over unencrypted TCP.
    SaslPlaintext,
    /// `SASL_SSL`: SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The Java name: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections are wrapped in TLS (`SSL`, `SASL_SSL`).
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL (`SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// `metadata.recovery.strategy` (KIP-899): what the producer does when it cannot get metadata
/// from the brokers it knows (Java's `MetadataRecoveryStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MetadataRecoveryStrategy {
    /// `none`: never go back to `bootstrap.servers`; the producer keeps retrying the brokers
    /// of its last metadata.
    None,
    /// `rebootstrap` (Java 4.x's default): forget the known brokers and bootstrap again from
    /// `bootstrap.servers` when none of them is reachable, when no metadata came for
    /// `metadata.recovery.rebootstrap.trigger.ms`, or when a broker answers
    /// REBOOTSTRAP_REQUIRED (KIP-1102).
    #[default]
    Rebootstrap,
}

impl MetadataRecoveryStrategy {
    /// The Java name: `none` or `rebootstrap`.
    pub fn name(self) -> &'static str {
        match self {
            MetadataRecoveryStrategy::None => "none",
            MetadataRecoveryStrategy::Rebootstrap => "rebootstrap",
        }
    }
}

/// Case-insensitive, as Java's `CaseInsensitiveValidString`.
impl ConfigValue for MetadataRecoveryStrategy {
    fn parse(text: &str) -> std::result::Result<Self, Invalid> {
        use MetadataRecoveryStrategy::*;
        [None, Rebootstrap]
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(text))
            .ok_or(Invalid::Expected)
    }
    fn render(&self) -> String {
        self.name().into()
    }
}

impl ConfigValue for Acks {
    fn parse(text: &str) -> std::result::Result<Self, Invalid> {
        Acks::from_name(text).ok_or(Invalid::Expected)
    }
    fn render(&self) -> String {
        self.as_str().into()
    }
}

impl ConfigValue for CompressionType {
    fn parse(text: &str) -> std::result::Result<Self, Invalid> {
        CompressionType::from_name(text).ok_or(Invalid::Expected)
    }
    fn render(&self) -> String {
        self.name().into()
    }
}

/// Empty, Java's `DefaultPartitioner` and `UniformStickyPartitioner` are
/// [`PartitionerClass::BuiltIn`] (the last also sets `partitioner.ignore.keys`, see the key).
impl ConfigValue for PartitionerClass {
    fn parse(text: &str) -> std::result::Result<Self, Invalid> {
        match text {
            "" | DEFAULT_PARTITIONER_CLASS | UNIFORM_STICKY_CLASS => Ok(PartitionerClass::BuiltIn),
            ROUND_ROBIN_CLASS => Ok(PartitionerClass::RoundRobin),
            _ => Err(Invalid::Because(format!(
                "cannot load partitioner class {text:?}: custom partitioners are set in code \
                 with the producer builder; by name only {ROUND_ROBIN_CLASS} (and Java's \
                 DefaultPartitioner / UniformStickyPartitioner, meaning the built-in one) \
                 are accepted"
            ))),
        }
    }
    fn render(&self) -> String {
        match self {
            PartitionerClass::BuiltIn => String::new(),
            PartitionerClass::RoundRobin => ROUND_ROBIN_CLASS.into(),
        }
    }
}

/// Empty means not set.
impl ConfigValue for Option<JavaSerializer> {
    fn parse(text: &str) -> std::result::Result<Self, Invalid> {
        if text.is_empty() {
            return Ok(None);
        }
        match SERIALIZERS.iter().find(|(name, _)| *name == text) {
            Some((_, s)) => Ok(Some(*s)),
            None => Err(Invalid::Because(format!(
                "unsupported serializer class {text:?}: Volley serializes keys and values with \
                 Rust types; only the byte-preserving Java classes ByteArraySerializer, \
                 StringSerializer, BytesSerializer and ByteBufferSerializer \
                 (org.apache.kafka.common.serialization) are accepted"
            ))),
        }
    }
    fn render(&self) -> String {
        self.map_or(String::new(), |s| s.class_name().into())
    }
}

impl ConfigValue for SecurityProtocol {
    fn parse(text: &str) -> std::result::Result<Self, Invalid> {
        use SecurityProtocol::*;
        [Plaintext, Ssl, SaslPlaintext, SaslSsl]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text))
            .ok_or(Invalid::Expected)
    }
    fn render(&self) -> String {
        self.name().into()
    }
}

/// One configuration key, as declared once in `config/keys.rs` (Java's
/// `ConfigDef.define(name, type, default, validator, importance, doc)`): what
/// [`ProducerConfig::set`], [`ProducerConfig::get`], the builder, the defaults, validation and
/// the README's configuration table are all made from.
#[derive(Clone, Copy)]
pub struct ConfigKey {
    /// The key, e.g. `linger.ms`.
    pub name: &'static str,
    /// Java's type of the value.
    pub kind: Kind,
    /// The default in string form, as [`ProducerConfig::get`] shows it on a default config
    /// (empty: none).
    pub default: &'static str,
    /// What values are accepted, as declared (see [`ConfigKey::validator`] for the bound the
    /// key's [`Kind`] adds).
    pub validator: Validator,
    /// Java's importance of the key.
    pub importance: Importance,
    /// What it does, in one line.
    pub doc: &'static str,
    ops: KeyOps,
}

/// A key's access to its `ProducerConfig` field, generated with its declaration.
#[derive(Clone, Copy)]
struct KeyOps {
    /// Parses, validates and assigns a string value.
    set: fn(&mut ProducerConfig, &str) -> Result<()>,
    /// The effective value in string form.
    get: fn(&ProducerConfig) -> String,
    /// The field's own string form (differs from `get` for `enable.idempotence`).
    raw: fn(&ProducerConfig) -> String,
    /// Runs the key's validator on the field as it is.
    check: fn(&ProducerConfig) -> Result<()>,
}

impl fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigKey")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("default", &self.default)
            .field("validator", &self.validator)
            .field("importance", &self.importance)
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ConfigKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ConfigKey {}

/// The former name of [`ConfigKey`].
pub type KeyDoc = ConfigKey;

impl ConfigKey {
    /// The validator actually applied: the declared one, with a numeric range further bounded
    /// by the key's [`Kind`] (Java's `short`, `int` or `long`), as Java's type parsing bounds it.
    pub fn validator(&self) -> Validator {
        let (lo, hi) = match self.kind {
            Kind::Short => (i64::from(i16::MIN), i64::from(i16::MAX)),
            Kind::Int => (i64::from(i32::MIN), I32_MAX),
            _ => (i64::MIN, I64_MAX),
        };
        match self.validator {
            Validator::Range { min, max } => Validator::Range {
                min: min.max(lo),
                max: max.min(hi),
            },
            Validator::RangeOr {
                special,
                meaning,
                min,
                max,
            } => Validator::RangeOr {
                special,
                meaning,
                min: min.max(lo),
                max: max.min(hi),
            },
            other => other,
        }
    }

    /// Reads `text` as this key's value (without running the validator).
    fn parse<T: ConfigValue>(&self, text: &str) -> Result<T> {
        T::parse(text).map_err(|e| match e {
            Invalid::Expected => {
                Error::config(self.name, self.validator().expected(self.shown(text)))
            }
            Invalid::Because(why) => Error::config(self.name, why),
        })
    }

    /// `text` as an error message may show it: a password never is.
    fn shown<'a>(&self, text: &'a str) -> &'a str {
        match self.kind {
            Kind::Password => Password::HIDDEN,
            _ => text,
        }
    }

    /// Runs this key's validator on a field value (whose string form hides passwords).
    fn check<T: ConfigValue>(&self, value: &T) -> Result<()> {
        self.validator()
            .check(value.number(), &value.render())
            .map_err(|why| Error::config(self.name, why))
    }
}

/// A set of keys, by their index in [`KEYS`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeySet([u64; KEY_COUNT.div_ceil(64)]);

impl KeySet {
    fn insert(&mut self, index: usize) {
        self.0[index / 64] |= 1 << (index % 64);
    }

    fn contains(&self, index: usize) -> bool {
        self.0[index / 64] & (1 << (index % 64)) != 0
    }
}

/// Keys of the Java producer that Volley accepts but ignores, logging a warning. An entry ending
/// in `.*` covers every key with that prefix.
///
/// Two are accepted only with their neutral value: `interceptor.classes` must be empty, and
/// `transaction.two.phase.commit.enable` must be `false`. Of the `ssl.*` and `sasl.*` keys,
/// those naming Java-only machinery (key manager algorithms, JCE providers, Kerberos) and the
/// broker-side OAuth validation keys are ignored; the rest are supported, but for those of
/// [`UNSUPPORTED_KEYS`].
pub const IGNORED_KEYS: &[&str] = &[
    "auto.include.jmx.reporter",
    "client.dns.lookup",
    "config.providers",
    "interceptor.classes",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.recording.level",
    "metrics.sample.window.ms",
    "security.providers",
    "transaction.two.phase.commit.enable",
    "sasl.kerberos.*",
    "sasl.login.class",
    "sasl.oauthbearer.allow.unverified.*",
    "sasl.oauthbearer.clock.skew.seconds",
    "sasl.oauthbearer.expected.*",
    "sasl.oauthbearer.jwks.endpoint.*",
    "ssl.keymanager.algorithm",
    "ssl.provider",
    "ssl.secure.random.implementation",
    "ssl.trustmanager.algorithm",
];

fn is_ignored(key: &str) -> bool {
    IGNORED_KEYS.iter().any(|k| unknown::key_matches(key, k))
}

/// The validator of `bootstrap.servers`: every entry `host:port`, none twice.
fn check_bootstrap_servers(list: &str) -> std::result::Result<(), String> {
    let mut seen: Vec<String> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let s = bootstrap_entry(entry).map_err(|e| match e {
            Error::Config { message, .. } => message,
            other => other.to_string(),
        })?;
        if seen.contains(&s) {
            return Err(format!("duplicate entry {s:?}"));
        }
        seen.push(s);
    }
    Ok(())
}

/// The validator of `key.serializer` and `value.serializer`.
fn check_serializer(name: &str) -> std::result::Result<(), String> {
    match Option::<JavaSerializer>::parse(name) {
        Ok(_) => Ok(()),
        Err(Invalid::Because(why)) => Err(why),
        Err(Invalid::Expected) => Err(format!("unsupported serializer class {name:?}")),
    }
}

/// Checks one `bootstrap.servers` entry and strips a `SCHEME://` prefix.
fn bootstrap_entry(entry: &str) -> Result<String> {
    let bad = |why: &str| Error::config("bootstrap.servers", format!("{entry:?}: {why}"));
    let s = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:")
            .ok_or_else(|| bad("expected [host]:port"))?
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| bad("expected host:port"))?
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(bad("invalid host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_string()),
        _ => Err(bad("invalid port")),
    }
}

impl ProducerConfig {
    /// A builder for configuring in code: one method per key, named after its field, taking the
    /// field's type (durations as [`Duration`](std::time::Duration), whole milliseconds), and
    /// [`property`](ProducerConfigBuilder::property) for any key by its Java name.
    ///
    /// ```
    /// use std::time::Duration;
    /// use volley::{Acks, CompressionType, ProducerConfig};
    ///
    /// let config = ProducerConfig::builder()
    ///     .bootstrap_servers(["broker1:9092", "broker2:9092"])
    ///     .acks(Acks::All)
    ///     .linger(Duration::from_millis(10))
    ///     .compression_type(CompressionType::Lz4)
    ///     .property("client.id", "orders-service")
    ///     .build()?;
    /// assert_eq!(config.get("linger.ms").as_deref(), Some("10"));
    ///
    /// // A bad value is reported by `build`, naming the key.
    /// let e = ProducerConfig::builder().property("acks", "2").build().unwrap_err();
    /// assert!(matches!(e, volley::Error::Config { key, .. } if key == "acks"));
    /// # Ok::<(), volley::Error>(())
    /// ```
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// Builds a configuration from `(key, value)` pairs (for example a parsed Java
    /// `producer.properties`), applying each with [`set`](Self::set) in order (a later duplicate
    /// wins), then [`validate`](Self::validate)s it.
    pub fn from_properties<I, K, V>(props: I) -> Result<ProducerConfig>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = ProducerConfig::default();
        for (k, v) in props {
            config.set(k.as_ref(), v.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads a Java `.properties` file (see [`parse_properties`]; UTF-8, or ISO-8859-1 as Java
    /// reads it if not valid UTF-8) and builds the configuration with
    /// [`from_properties`](Self::from_properties). A file that cannot be read is an
    /// [`Error::Config`] whose key is the path.
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<ProducerConfig> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::config(
                path.display().to_string(),
                format!("cannot read properties file: {e}"),
            )
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
        };
        Self::from_properties(parse_properties(&text))
    }

    /// Sets one key from its string form (surrounding whitespace is ignored), checking the value
    /// alone; combinations are checked by [`validate`](Self::validate). Booleans are `true` or
    /// `false` in any case, lists are comma separated, empty values of optional keys
    /// (`transactional.id`, `partitioner.class`, serializers) mean "not set". Keys in
    /// [`IGNORED_KEYS`] are accepted with a warning; any other unknown key is an error (for the
    /// Java keys of [`UNSUPPORTED_KEYS`] it says why, for a librdkafka name it names Java's).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key.trim();
        let v = value.trim();
        if let Some(k) = KEYS.iter().find(|k| k.name == key) {
            return (k.ops.set)(self, v);
        }
        match key {
            "interceptor.classes" if !v.is_empty() => Err(Error::config(
                key,
                "Java interceptor classes cannot be loaded: leave this empty and add a \
                 volley::Interceptor with Producer::builder(config).interceptor(..)",
            )),
            "transaction.two.phase.commit.enable" if bool::parse(v) == Ok(true) => Err(
                Error::config(key, "two-phase commit transactions are not supported yet"),
            ),
            "transaction.two.phase.commit.enable" if bool::parse(v).is_err() => Err(Error::config(
                key,
                format!("expected true or false, got {v:?}"),
            )),
            _ if is_ignored(key) => {
                // The value is not logged: `sasl.jaas.config` and `ssl.*` values hold secrets.
                tracing::warn!(key, "configuration key has no effect in Volley; ignored");
                Ok(())
            }
            _ => Err(Error::config(key, unknown::unknown_key_message(key))),
        }
    }

    /// Sets the field of key `index` to `value` if the key's validator accepts it, and records
    /// the key as set. Both [`set`](Self::set) (after parsing) and every builder method end
    /// here, so the two cannot disagree.
    pub(crate) fn assign<T: ConfigValue>(
        &mut self,
        index: usize,
        value: T,
        field: fn(&mut ProducerConfig) -> &mut T,
    ) -> Result<()> {
        KEYS[index].check(&value)?;
        *field(self) = value;
        self.explicit.insert(index);
        Ok(())
    }

    /// Whether key `index` was set through [`set`](Self::set) or the builder, or its field was
    /// assigned a value other than the default.
    fn is_set(&self, index: KeyIndex) -> bool {
        let key = &KEYS[index as usize];
        self.explicit.contains(index as usize) || (key.ops.raw)(self) != key.default
    }

    /// The effective value of a supported key as a string, as [`set`](Self::set) accepts it
    /// (`enable.idempotence` shows [`effective_idempotence`](Self::effective_idempotence); unset
    /// optional keys show as empty; a set [`Password`] shows as `[hidden]`). `None` for keys not
    /// in [`KEYS`].
    pub fn get(&self, key: &str) -> Option<String> {
        KEYS.iter()
            .find(|k| k.name == key)
            .map(|k| (k.ops.get)(self))
    }

    /// Every supported key (in [`KEYS`] order) with its effective value; feeding the result to
    /// [`from_properties`](Self::from_properties) gives back an equivalent configuration.
    pub fn to_properties(&self) -> Vec<(String, String)> {
        KEYS.iter()
            .map(|k| (k.name.to_string(), (k.ops.get)(self)))
            .collect()
    }

    /// Whether the producer is idempotent: `enable.idempotence` if set explicitly, otherwise on
    /// unless `acks` is not `all` or `retries` is 0. A `transactional.id` requires it (checked by
    /// [`validate`](Self::validate), after which this is the value to act on).
    pub fn effective_idempotence(&self) -> bool {
        self.enable_idempotence
            .unwrap_or(self.acks == Acks::All && self.retries > 0)
    }

    /// The level for the configured `compression.type`: `Some` for gzip (-1 = codec default),
    /// lz4 and zstd; `None` for none and snappy.
    pub fn compression_level(&self) -> Option<i32> {
        match self.compression_type {
            CompressionType::Gzip => Some(self.compression_gzip_level),
            CompressionType::Lz4 => Some(self.compression_lz4_level),
            CompressionType::Zstd => Some(self.compression_zstd_level),
            CompressionType::None | CompressionType::Snappy => None,
        }
    }

    /// Checks the configuration as a whole, following Java's `ProducerConfig` and
    /// `KafkaProducer` rules, and resolves derived values. Run by
    /// [`from_properties`](Self::from_properties) and [`ProducerConfigBuilder::build`]; run it
    /// again after assigning fields directly. Errors name the key(s) at fault.
    ///
    /// * Every key's own validator (the one [`set`](Self::set) and the builder apply; see
    ///   [`KEYS`] and [`ConfigKey::validator`]) on the fields as they are, in [`KEYS`] order.
    /// * `bootstrap.servers` must be non-empty; a `SCHEME://` prefix of an entry is stripped.
    /// * Backoffs (as Java, not errors): if `reconnect.backoff.ms` was set and
    ///   `reconnect.backoff.max.ms` was not, the max becomes the backoff; then any initial value
    ///   above its max (retry and reconnect backoff, connection setup timeout) is lowered to the
    ///   max, with a warning.
    /// * `delivery.timeout.ms` ≥ `linger.ms` + `request.timeout.ms`: an error if it was set
    ///   explicitly, otherwise it is raised to that sum with a warning (the sum capped at
    ///   2147483647 ms, as Java's).
    /// * Idempotence, see [`enable_idempotence`](Self::enable_idempotence): explicitly `true`
    ///   with `acks` ≠ all, `retries` = 0 or more than 5 in flight is an error; by default those
    ///   first two turn it off (logged), the third is an error; a `transactional.id` without
    ///   idempotence is an error.
    pub fn validate(&mut self) -> Result<()> {
        for key in KEYS {
            (key.ops.check)(self)?;
        }
        self.resolve_servers()?;
        if self.transactional_id.as_deref() == Some("") {
            self.transactional_id = None;
        }
        self.resolve_backoffs();
        self.resolve_delivery_timeout()?;
        self.validate_idempotence()
    }

    /// `bootstrap.servers` is required; each entry loses its `SCHEME://` prefix (the entries
    /// themselves were checked by the key's validator).
    fn resolve_servers(&mut self) -> Result<()> {
        if self.bootstrap_servers.is_empty() {
            return Err(Error::config(
                "bootstrap.servers",
                "required: at least one host:port",
            ));
        }
        for entry in &mut self.bootstrap_servers {
            *entry = bootstrap_entry(entry.trim())?;
        }
        Ok(())
    }

    fn resolve_backoffs(&mut self) {
        let backoff_set = self.is_set(KeyIndex::reconnect_backoff);
        let max_set = self.is_set(KeyIndex::reconnect_backoff_max);
        if backoff_set && !max_set && self.reconnect_backoff_max != self.reconnect_backoff {
            tracing::debug!(
                "reconnect.backoff.ms is set but reconnect.backoff.max.ms is not: \
                 using a static reconnect backoff"
            );
            self.reconnect_backoff_max = self.reconnect_backoff;
        }
        for (initial, max, initial_key, max_key) in [
            (
                &mut self.retry_backoff,
                self.retry_backoff_max,
                "retry.backoff.ms",
                "retry.backoff.max.ms",
            ),
            (
                &mut self.reconnect_backoff,
                self.reconnect_backoff_max,
                "reconnect.backoff.ms",
                "reconnect.backoff.max.ms",
            ),
            (
                &mut self.socket_connection_setup_timeout,
                self.socket_connection_setup_timeout_max,
                "socket.connection.setup.timeout.ms",
                "socket.connection.setup.timeout.max.ms",
            ),
        ] {
            if *initial > max {
                tracing::warn!(
                    "{initial_key} ({} ms) is greater than {max_key} ({} ms): a static value of \
                     {} ms will be applied",
                    initial.as_millis(),
                    max.as_millis(),
                    max.as_millis()
                );
                *initial = max;
            }
        }
    }

    fn resolve_delivery_timeout(&mut self) -> Result<()> {
        // Capped at Integer.MAX_VALUE ms as Java's (an Int key; linger.ms is a Long).
        let floor = self
            .linger
            .saturating_add(self.request_timeout)
            .min(std::time::Duration::from_millis(value::I32_MAX as u64));
        if self.delivery_timeout >= floor {
            return Ok(());
        }
        if self.is_set(KeyIndex::delivery_timeout) {
            return Err(Error::config(
                "delivery.timeout.ms, linger.ms, request.timeout.ms",
                format!(
                    "delivery.timeout.ms ({} ms) must be at least linger.ms + request.timeout.ms \
                     ({} ms)",
                    self.delivery_timeout.as_millis(),
                    floor.as_millis()
                ),
            ));
        }
        tracing::warn!(
            "delivery.timeout.ms should be at least linger.ms + request.timeout.ms; \
             setting it to {} ms",
            floor.as_millis()
        );
        self.delivery_timeout = floor;
        Ok(())
    }

    fn validate_idempotence(&self) -> Result<()> {
        let mut conflicts: Vec<(&str, String)> = Vec::new();
        if self.acks != Acks::All {
            conflicts.push((
                "acks",
                format!("acks must be all, not {}", self.acks.as_str()),
            ));
        }
        if self.retries == 0 {
            conflicts.push(("retries", "retries must not be 0".into()));
        }
        let in_flight_conflict = self.max_in_flight > MAX_IN_FLIGHT_FOR_IDEMPOTENCE;
        let in_flight_msg = || {
            format!(
                "max.in.flight.requests.per.connection must be at most \
                 {MAX_IN_FLIGHT_FOR_IDEMPOTENCE}, not {}",
                self.max_in_flight
            )
        };
        match self.enable_idempotence {
            Some(true) => {
                if in_flight_conflict {
                    conflicts.push(("max.in.flight.requests.per.connection", in_flight_msg()));
                }
                if !conflicts.is_empty() {
                    let keys: Vec<&str> = conflicts.iter().map(|c| c.0).collect();
                    let why: Vec<String> = conflicts.into_iter().map(|c| c.1).collect();
                    return Err(Error::config(
                        format!("enable.idempotence, {}", keys.join(", ")),
                        format!("the idempotent producer requires: {}", why.join("; ")),
                    ));
                }
            }
            None if !conflicts.is_empty() => {
                for (key, why) in &conflicts {
                    tracing::info!(key, "idempotence will be disabled: {why}");
                }
            }
            None if in_flight_conflict => {
                return Err(Error::config(
                    "max.in.flight.requests.per.connection, enable.idempotence",
                    format!(
                        "{} for the idempotent producer, which is on by default; set \
                         enable.idempotence=false to allow more",
                        in_flight_msg()
                    ),
                ));
            }
            _ => {}
        }
        if self.transactional_id.is_some() && !self.effective_idempotence() {
            let mut keys = vec!["transactional.id"];
            if self.enable_idempotence == Some(false) {
                keys.push("enable.idempotence");
            } else {
                keys.extend(conflicts.iter().map(|c| c.0));
            }
            return Err(Error::config(
                keys.join(", "),
                "a transactional.id requires idempotence, which is disabled",
            ));
        }
        Ok(())
    }
}
