//! Producer configuration, with the Java client's key names and defaults.
//!
//! A [`ProducerConfig`] can be made three ways, all ending in [`ProducerConfig::validate`]:
//! * from `(key, value)` string pairs: [`ProducerConfig::from_properties`];
//! * from a Java `producer.properties` file: [`ProducerConfig::from_properties_file`];
//! * in code: [`ProducerConfig::builder`].
//!
//! Keys, defaults and the cross-key rules follow Java's `ProducerConfig` (Kafka 4.x). Keys that
//! Java accepts but that mean nothing to Volley (metrics, JMX, `ssl.*`/`sasl.*` while only
//! `PLAINTEXT` is supported, ...) are accepted with a warning; see [`IGNORED_KEYS`]. Any other
//! unknown key is an error, unlike Java, which only logs it.
//!
//! Every error is [`Error::Config`] naming the key (or keys, comma separated) at fault.
//!
//! Millisecond values may be as large as Java allows (`max.block.ms=9223372036854775807` is a
//! common way to say "forever"): code that adds them to an `Instant` must use checked arithmetic.

mod builder;
mod properties;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

pub use builder::ProducerConfigBuilder;
pub use properties::parse_properties;

/// `max.in.flight.requests.per.connection` allowed with idempotence (Java's
/// `MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION_FOR_IDEMPOTENCE`).
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

const I32: i64 = i32::MAX as i64;
const I64: i64 = i64::MAX;

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

    fn parse(v: &str) -> Option<Acks> {
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

    fn parse(v: &str) -> Option<CompressionType> {
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

/// `security.protocol`. Only `PLAINTEXT` is supported so far; `SSL`, `SASL_PLAINTEXT` and
/// `SASL_SSL` are rejected with a "not supported yet" error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: unauthenticated, unencrypted TCP.
    #[default]
    Plaintext,
}

/// One supported configuration key: its name, its default as [`ProducerConfig::to_properties`]
/// shows it, and a one-line description (the README's configuration table lists exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// The key, e.g. `linger.ms`.
    pub name: &'static str,
    /// The default value (empty: none).
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

const fn key(name: &'static str, default: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { name, default, doc }
}

/// Every supported key, in the order of [`ProducerConfig::to_properties`].
pub const KEYS: &[KeyDoc] = &[
    key("bootstrap.servers", "", "Required. Comma-separated host:port list of brokers to bootstrap from."),
    key("client.id", "", "Client name sent to brokers; empty: producer-<transactional.id> or producer-<n>."),
    key("acks", "all", "Acknowledgements required: all (-1), 1 (leader only) or 0 (none)."),
    key("linger.ms", "5", "How long a batch may wait for more records before it is sent."),
    key("batch.size", "16384", "Target batch size in bytes per partition; 0 disables batching."),
    key("buffer.memory", "33554432", "Bytes of records that may wait to be sent before send() blocks."),
    key("max.block.ms", "60000", "Bound on how long send() waits for metadata or buffer space."),
    key("delivery.timeout.ms", "120000", "Bound on the time from send() to success or failure, retries included."),
    key("request.timeout.ms", "30000", "How long to wait for a broker's response to a request."),
    key("retries", "2147483647", "How many times a failed batch is retried (within delivery.timeout.ms)."),
    key("retry.backoff.ms", "100", "Initial wait before retrying a failed request."),
    key("retry.backoff.max.ms", "1000", "Upper bound of the exponential retry backoff."),
    key("reconnect.backoff.ms", "50", "Initial wait before reconnecting to a broker."),
    key("reconnect.backoff.max.ms", "1000", "Upper bound of the exponential reconnect backoff."),
    key("max.in.flight.requests.per.connection", "5", "Unacknowledged requests allowed per broker connection."),
    key("max.request.size", "1048576", "Largest Produce request, and so the largest record, in bytes."),
    key("compression.type", "none", "Batch compression: none, gzip, snappy, lz4 or zstd."),
    key("compression.gzip.level", "-1", "gzip level: 1..9, or -1 for the codec default."),
    key("compression.lz4.level", "9", "lz4 level: 1..17."),
    key("compression.zstd.level", "3", "zstd level: -131072..22."),
    key("enable.idempotence", "true", "Exactly one copy of each record per partition; turned off by acks != all or retries=0 unless set explicitly."),
    key("transactional.id", "", "Enables transactions under this id (implies idempotence)."),
    key("transaction.timeout.ms", "60000", "How long a transaction may stay open before the coordinator aborts it."),
    key("partitioner.class", "", "Empty for the built-in partitioner, or org.apache.kafka.clients.producer.RoundRobinPartitioner."),
    key("partitioner.adaptive.partitioning.enable", "true", "Sticky partitioning favours faster brokers."),
    key("partitioner.availability.timeout.ms", "0", "Skip partitions whose leader has not accepted a batch for this long; 0 disables."),
    key("partitioner.ignore.keys", "false", "Partition keyed records like unkeyed ones (sticky) instead of by key hash."),
    key("metadata.max.age.ms", "300000", "Refresh metadata at least this often."),
    key("metadata.max.idle.ms", "300000", "Forget a topic's metadata after it has not been produced to for this long."),
    key("connections.max.idle.ms", "540000", "Close connections idle for this long; -1 never."),
    key("socket.connection.setup.timeout.ms", "10000", "Initial bound on establishing a connection."),
    key("socket.connection.setup.timeout.max.ms", "30000", "Upper bound of the exponentially growing connection setup timeout."),
    key("send.buffer.bytes", "131072", "TCP send buffer (SO_SNDBUF); -1 for the OS default."),
    key("receive.buffer.bytes", "32768", "TCP receive buffer (SO_RCVBUF); -1 for the OS default."),
    key("allow.auto.create.topics", "true", "Let brokers auto-create a topic on metadata request (if they allow it)."),
    key("key.serializer", "", "Accepted Java serializer class name, recorded only; Rust types serialize keys."),
    key("value.serializer", "", "Accepted Java serializer class name, recorded only; Rust types serialize values."),
    key("security.protocol", "PLAINTEXT", "Only PLAINTEXT is supported so far."),
    key("receive.message.max.bytes", "100000000", "Volley extension (librdkafka's name): largest response frame accepted."),
];

/// Keys of the Java producer that Volley accepts but ignores, logging a warning. An entry ending
/// in `.*` covers every key with that prefix.
///
/// Two are accepted only with their neutral value: `interceptor.classes` must be empty, and
/// `transaction.two.phase.commit.enable` must be `false`. `ssl.*` and `sasl.*` are ignored
/// because `security.protocol` can only be `PLAINTEXT`, under which Java ignores them too.
pub const IGNORED_KEYS: &[&str] = &[
    "auto.include.jmx.reporter",
    "client.dns.lookup",
    "config.providers",
    "enable.metrics.push",
    "interceptor.classes",
    "metadata.recovery.rebootstrap.trigger.ms",
    "metadata.recovery.strategy",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.recording.level",
    "metrics.sample.window.ms",
    "security.providers",
    "transaction.two.phase.commit.enable",
    "sasl.*",
    "ssl.*",
];

fn is_ignored(key: &str) -> bool {
    IGNORED_KEYS.iter().any(|k| match k.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *k,
    })
}

/// Which keys whose effect depends on "was it set?" were set through [`ProducerConfig::set`] or
/// the builder. (Assigning a field directly counts as setting it when the value differs from the
/// default.)
#[derive(Debug, Clone, Copy, Default)]
struct Explicit {
    delivery_timeout: bool,
    reconnect_backoff: bool,
    reconnect_backoff_max: bool,
}

/// The producer's configuration. `Default` gives Java 4.x's defaults (with no
/// `bootstrap.servers`, which is required, so a default config does not validate).
///
/// Fields may be read and assigned directly; [`ProducerConfig::validate`] checks the result.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers` (required): `host:port` (or `[ipv6]:port`) entries to fetch the first
    /// metadata from. A `PLAINTEXT://` style prefix is stripped by `validate`, as Java tolerates it.
    pub bootstrap_servers: Vec<String>,
    /// `client.id` (default empty): sent in every request header. Empty means the producer names
    /// itself, as Java does: `producer-<transactional.id>`, or `producer-<n>`.
    pub client_id: String,
    /// `acks` (default `all`). Anything but [`Acks::All`] conflicts with `enable.idempotence`.
    pub acks: Acks,
    /// `linger.ms` (default 5 ms): how long a batch waits for more records before it is sendable.
    /// `linger.ms + request.timeout.ms` must not exceed `delivery.timeout.ms`.
    pub linger: Duration,
    /// `batch.size` (default 16384): the size a partition's batch is allowed to reach before it is
    /// sent (a larger single record still gets a batch of its own). `0` disables batching: every
    /// batch holds one record.
    pub batch_size: usize,
    /// `buffer.memory` (default 33554432, at least 1): bytes of records waiting to be sent before
    /// `send` blocks (up to `max.block.ms`). A record larger than this can never be sent; that is
    /// reported by `send`.
    pub buffer_memory: usize,
    /// `max.block.ms` (default 60000): bound on how long `send` (metadata, buffer space), `flush`
    /// waits and transactional calls block.
    pub max_block: Duration,
    /// `delivery.timeout.ms` (default 120000): bound on the time between `send` returning and the
    /// record's success or failure, retries included. If set explicitly it must be at least
    /// `linger.ms + request.timeout.ms`; if left at the default, `validate` raises it to that sum.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms` (default 30000): how long to wait for a response before the request
    /// fails (and its batches are retried).
    pub request_timeout: Duration,
    /// `retries` (default 2147483647, at most that): how many times a failed batch is retried;
    /// `delivery.timeout.ms` usually ends retrying first. `0` conflicts with idempotence.
    pub retries: u32,
    /// `retry.backoff.ms` (default 100): the first wait before a retry, doubling up to
    /// `retry.backoff.max.ms`. If larger than the max, `validate` lowers it to the max (Java then
    /// applies a static backoff of `retry.backoff.max.ms`).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1000): upper bound of the retry backoff.
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms` (default 50): the first wait before reconnecting to a broker,
    /// doubling up to `reconnect.backoff.max.ms`. If this is set and the max is not, the max is set
    /// to this value (a static backoff, as in Java); if larger than the max, it is lowered to it.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1000): upper bound of the reconnect backoff.
    pub reconnect_backoff_max: Duration,
    /// `max.in.flight.requests.per.connection` (default 5, at least 1): unacknowledged requests per
    /// broker connection. More than 5 conflicts with idempotence.
    pub max_in_flight: usize,
    /// `max.request.size` (default 1048576, at least 1): the largest Produce request; a record
    /// larger than this is rejected by `send`.
    pub max_request_size: usize,
    /// `compression.type` (default `none`).
    pub compression_type: CompressionType,
    /// `compression.gzip.level` (default -1 = the codec default; else 1..=9).
    pub compression_gzip_level: i32,
    /// `compression.lz4.level` (default 9; 1..=17).
    pub compression_lz4_level: i32,
    /// `compression.zstd.level` (default 3; -131072..=22).
    pub compression_zstd_level: i32,
    /// `enable.idempotence` (default: not set, which means on unless `acks` is not `all` or
    /// `retries` is 0, in which case it is turned off with a log line). Set explicitly to `true`,
    /// those settings, and `max.in.flight.requests.per.connection` > 5, are errors. With the
    /// default, `max.in.flight.requests.per.connection` > 5 is an error as in Java 4.x (set this
    /// to `false` to allow it). `Some(false)` with a `transactional.id` is an error. See
    /// [`ProducerConfig::effective_idempotence`].
    pub enable_idempotence: Option<bool>,
    /// `transactional.id` (default none; an empty value means none): enables transactions, and
    /// requires idempotence.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60000, at least 1): how long a transaction may stay open
    /// before the coordinator aborts it (the broker caps it with `transaction.max.timeout.ms`).
    pub transaction_timeout: Duration,
    /// `partitioner.class` (default none = [`PartitionerClass::BuiltIn`]). Java's
    /// `DefaultPartitioner` maps to `BuiltIn`; `UniformStickyPartitioner` maps to `BuiltIn` and
    /// sets `partitioner.ignore.keys=true` (a later `partitioner.ignore.keys` overrides it).
    /// Other class names are errors: custom partitioners are given in code to the producer builder.
    pub partitioner: PartitionerClass,
    /// `partitioner.adaptive.partitioning.enable` (default true): the built-in sticky partitioner
    /// switches less often to partitions whose brokers are slow.
    pub partitioner_adaptive_partitioning: bool,
    /// `partitioner.availability.timeout.ms` (default 0 = off): with adaptive partitioning, a
    /// partition whose leader has had a batch ready but unsent for this long is skipped.
    pub partitioner_availability_timeout: Duration,
    /// `partitioner.ignore.keys` (default false): the built-in partitioner treats keyed records
    /// like unkeyed ones instead of hashing the key.
    pub partitioner_ignore_keys: bool,
    /// `metadata.max.age.ms` (default 300000): metadata is refreshed at least this often.
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms` (default 300000, at least 5000): a topic not produced to for this
    /// long is dropped from the metadata the producer fetches.
    pub metadata_max_idle: Duration,
    /// `connections.max.idle.ms` (default 540000; `-1` = `None` = never): idle connections are
    /// closed after this long.
    pub connections_max_idle: Option<Duration>,
    /// `socket.connection.setup.timeout.ms` (default 10000): bound on establishing a connection,
    /// doubling per consecutive failure up to the max. If larger than the max, lowered to it.
    pub socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms` (default 30000).
    pub socket_connection_setup_timeout_max: Duration,
    /// `send.buffer.bytes` (default 131072; `-1` = `None` = the OS default): SO_SNDBUF.
    pub send_buffer_bytes: Option<usize>,
    /// `receive.buffer.bytes` (default 32768; `-1` = `None` = the OS default): SO_RCVBUF.
    pub receive_buffer_bytes: Option<usize>,
    /// `allow.auto.create.topics` (default true): ask brokers to auto-create unknown topics when
    /// fetching metadata (the broker's `auto.create.topics.enable` must also allow it).
    pub allow_auto_create_topics: bool,
    /// `key.serializer` (default none): recorded only; see [`JavaSerializer`].
    pub key_serializer: Option<JavaSerializer>,
    /// `value.serializer` (default none): recorded only; see [`JavaSerializer`].
    pub value_serializer: Option<JavaSerializer>,
    /// `security.protocol` (default `PLAINTEXT`, the only one supported so far).
    pub security_protocol: SecurityProtocol,
    /// `receive.message.max.bytes` (Volley extension, librdkafka's name; default 100000000,
    /// 1000..=2147483647): the largest response frame accepted from a broker.
    pub receive_message_max_bytes: usize,
    explicit: Explicit,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16384,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_millis(60_000),
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            request_timeout: Duration::from_millis(30_000),
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            reconnect_backoff: DEFAULT_RECONNECT_BACKOFF,
            reconnect_backoff_max: DEFAULT_RECONNECT_BACKOFF_MAX,
            max_in_flight: 5,
            max_request_size: 1024 * 1024,
            compression_type: CompressionType::None,
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            enable_idempotence: None,
            transactional_id: None,
            transaction_timeout: Duration::from_millis(60_000),
            partitioner: PartitionerClass::BuiltIn,
            partitioner_adaptive_partitioning: true,
            partitioner_availability_timeout: Duration::ZERO,
            partitioner_ignore_keys: false,
            metadata_max_age: Duration::from_millis(300_000),
            metadata_max_idle: Duration::from_millis(300_000),
            connections_max_idle: Some(Duration::from_millis(540_000)),
            socket_connection_setup_timeout: Duration::from_millis(10_000),
            socket_connection_setup_timeout_max: Duration::from_millis(30_000),
            send_buffer_bytes: Some(128 * 1024),
            receive_buffer_bytes: Some(32 * 1024),
            allow_auto_create_topics: true,
            key_serializer: None,
            value_serializer: None,
            security_protocol: SecurityProtocol::Plaintext,
            receive_message_max_bytes: 100_000_000,
            explicit: Explicit::default(),
        }
    }
}

const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_millis(120_000);
const DEFAULT_RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
const DEFAULT_RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(1000);

fn describe(min: i64, max: i64) -> String {
    match (min, max) {
        (0, I64) => "a non-negative integer".into(),
        (0, _) => format!("a non-negative integer (at most {max})"),
        (_, I64) => format!("an integer of at least {min}"),
        _ => format!("an integer between {min} and {max}"),
    }
}

fn int(key: &str, v: &str, min: i64, max: i64) -> Result<i64> {
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::config(
            key,
            format!("expected {}, got {v:?}", describe(min, max)),
        )),
    }
}

fn ms(key: &str, v: &str, min: i64, max: i64) -> Result<Duration> {
    int(key, v, min, max).map(|n| Duration::from_millis(n as u64))
}

fn size(key: &str, v: &str, min: i64, max: i64) -> Result<usize> {
    let n = int(key, v, min, max)?;
    usize::try_from(n).map_err(|_| Error::config(key, format!("{n} is too large")))
}

fn boolean(key: &str, v: &str) -> Result<bool> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Error::config(
            key,
            format!("expected true or false, got {v:?}"),
        ))
    }
}

/// `-1` → `None` (OS default), else a positive byte count.
fn socket_buffer(key: &str, v: &str) -> Result<Option<usize>> {
    match v.parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if (1..=I32).contains(&n) => Ok(Some(n as usize)),
        _ => Err(Error::config(
            key,
            format!("expected -1 (the OS default) or a positive integer, got {v:?}"),
        )),
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn serializer(key: &str, v: &str) -> Result<Option<JavaSerializer>> {
    if v.is_empty() {
        return Ok(None);
    }
    match SERIALIZERS.iter().find(|(name, _)| *name == v) {
        Some((_, s)) => Ok(Some(*s)),
        None => Err(Error::config(
            key,
            format!(
                "unsupported serializer class {v:?}: Volley serializes keys and values with Rust \
                 types; only the byte-preserving Java classes ByteArraySerializer, \
                 StringSerializer, BytesSerializer and ByteBufferSerializer \
                 (org.apache.kafka.common.serialization) are accepted"
            ),
        )),
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
    /// A builder for configuring in code.
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
    /// [`IGNORED_KEYS`] are accepted with a warning; any other unknown key is an error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key.trim();
        let v = value.trim();
        match key {
            "bootstrap.servers" => {
                self.bootstrap_servers = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            }
            "client.id" => self.client_id = v.to_string(),
            "acks" => {
                self.acks = Acks::parse(v).ok_or_else(|| {
                    Error::config(key, format!("expected all, -1, 0 or 1, got {v:?}"))
                })?
            }
            "linger.ms" => self.linger = ms(key, v, 0, I64)?,
            "batch.size" => self.batch_size = size(key, v, 0, I32)?,
            "buffer.memory" => self.buffer_memory = size(key, v, 1, I64)?,
            "max.block.ms" => self.max_block = ms(key, v, 0, I64)?,
            "delivery.timeout.ms" => {
                self.delivery_timeout = ms(key, v, 0, I32)?;
                self.explicit.delivery_timeout = true;
            }
            "request.timeout.ms" => self.request_timeout = ms(key, v, 0, I32)?,
            "retries" => self.retries = int(key, v, 0, I32)? as u32,
            "retry.backoff.ms" => self.retry_backoff = ms(key, v, 0, I64)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = ms(key, v, 0, I64)?,
            "reconnect.backoff.ms" => {
                self.reconnect_backoff = ms(key, v, 0, I64)?;
                self.explicit.reconnect_backoff = true;
            }
            "reconnect.backoff.max.ms" => {
                self.reconnect_backoff_max = ms(key, v, 0, I64)?;
                self.explicit.reconnect_backoff_max = true;
            }
            "max.in.flight.requests.per.connection" => self.max_in_flight = size(key, v, 1, I32)?,
            "max.request.size" => self.max_request_size = size(key, v, 1, I32)?,
            "compression.type" => {
                self.compression_type = CompressionType::parse(v).ok_or_else(|| {
                    Error::config(
                        key,
                        format!("expected none, gzip, snappy, lz4 or zstd, got {v:?}"),
                    )
                })?
            }
            "compression.gzip.level" => match v.parse::<i32>() {
                Ok(n) if n == -1 || (1..=9).contains(&n) => self.compression_gzip_level = n,
                _ => {
                    return Err(Error::config(
                        key,
                        format!(
                            "expected -1 (the default) or an integer between 1 and 9, got {v:?}"
                        ),
                    ))
                }
            },
            "compression.lz4.level" => self.compression_lz4_level = int(key, v, 1, 17)? as i32,
            "compression.zstd.level" => {
                self.compression_zstd_level = int(key, v, -131072, 22)? as i32
            }
            "enable.idempotence" => self.enable_idempotence = Some(boolean(key, v)?),
            "transactional.id" => {
                self.transactional_id = (!v.is_empty()).then(|| v.to_string());
            }
            "transaction.timeout.ms" => self.transaction_timeout = ms(key, v, 1, I32)?,
            "partitioner.class" => self.set_partitioner_class(v)?,
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive_partitioning = boolean(key, v)?
            }
            "partitioner.availability.timeout.ms" => {
                self.partitioner_availability_timeout = ms(key, v, 0, I64)?
            }
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = boolean(key, v)?,
            "metadata.max.age.ms" => self.metadata_max_age = ms(key, v, 0, I64)?,
            "metadata.max.idle.ms" => self.metadata_max_idle = ms(key, v, 5000, I64)?,
            "connections.max.idle.ms" => {
                self.connections_max_idle = match v {
                    "-1" => None,
                    _ => Some(ms(key, v, 0, I64).map_err(|_| {
                        Error::config(
                            key,
                            format!("expected -1 (never) or a non-negative integer, got {v:?}"),
                        )
                    })?),
                }
            }
            "socket.connection.setup.timeout.ms" => {
                self.socket_connection_setup_timeout = ms(key, v, 0, I64)?
            }
            "socket.connection.setup.timeout.max.ms" => {
                self.socket_connection_setup_timeout_max = ms(key, v, 0, I64)?
            }
            "send.buffer.bytes" => self.send_buffer_bytes = socket_buffer(key, v)?,
            "receive.buffer.bytes" => self.receive_buffer_bytes = socket_buffer(key, v)?,
            "allow.auto.create.topics" => self.allow_auto_create_topics = boolean(key, v)?,
            "key.serializer" => self.key_serializer = serializer(key, v)?,
            "value.serializer" => self.value_serializer = serializer(key, v)?,
            "security.protocol" => {
                if v.eq_ignore_ascii_case("PLAINTEXT") {
                    self.security_protocol = SecurityProtocol::Plaintext;
                } else if ["SSL", "SASL_PLAINTEXT", "SASL_SSL"]
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(v))
                {
                    return Err(Error::config(
                        key,
                        format!("{v} is not supported yet; only PLAINTEXT is"),
                    ));
                } else {
                    return Err(Error::config(
                        key,
                        format!("expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got {v:?}"),
                    ));
                }
            }
            "receive.message.max.bytes" => {
                self.receive_message_max_bytes = size(key, v, 1000, I32)?
            }
            "interceptor.classes" if !v.is_empty() => {
                return Err(Error::config(
                    key,
                    "producer interceptors are not supported; leave this empty",
                ))
            }
            "transaction.two.phase.commit.enable" if boolean(key, v)? => {
                return Err(Error::config(
                    key,
                    "two-phase commit transactions are not supported yet",
                ))
            }
            _ if is_ignored(key) => {
                // The value is not logged: `sasl.jaas.config` and `ssl.*` values hold secrets.
                tracing::warn!(key, "configuration key has no effect in Volley; ignored");
            }
            _ => return Err(Error::config(key, "unknown configuration key")),
        }
        Ok(())
    }

    fn set_partitioner_class(&mut self, v: &str) -> Result<()> {
        match v {
            "" | DEFAULT_PARTITIONER_CLASS => self.partitioner = PartitionerClass::BuiltIn,
            UNIFORM_STICKY_CLASS => {
                tracing::info!(
                    "partitioner.class UniformStickyPartitioner: using the built-in partitioner \
                     with partitioner.ignore.keys=true"
                );
                self.partitioner = PartitionerClass::BuiltIn;
                self.partitioner_ignore_keys = true;
            }
            ROUND_ROBIN_CLASS => self.partitioner = PartitionerClass::RoundRobin,
            _ => {
                return Err(Error::config(
                    "partitioner.class",
                    format!(
                        "cannot load partitioner class {v:?}: custom partitioners are set in code \
                         with the producer builder; by name only {ROUND_ROBIN_CLASS} (and Java's \
                         DefaultPartitioner / UniformStickyPartitioner, meaning the built-in one) \
                         are accepted"
                    ),
                ))
            }
        }
        Ok(())
    }

    /// The effective value of a supported key as a string, as [`set`](Self::set) accepts it
    /// (`enable.idempotence` shows [`effective_idempotence`](Self::effective_idempotence); unset
    /// optional keys show as empty). `None` for keys not in [`KEYS`].
    pub fn get(&self, key: &str) -> Option<String> {
        let opt = |o: Option<&str>| o.unwrap_or_default().to_string();
        let buffer = |b: Option<usize>| b.map_or("-1".into(), |n| n.to_string());
        Some(match key {
            "bootstrap.servers" => self.bootstrap_servers.join(","),
            "client.id" => self.client_id.clone(),
            "acks" => self.acks.as_str().into(),
            "linger.ms" => millis(self.linger),
            "batch.size" => self.batch_size.to_string(),
            "buffer.memory" => self.buffer_memory.to_string(),
            "max.block.ms" => millis(self.max_block),
            "delivery.timeout.ms" => millis(self.delivery_timeout),
            "request.timeout.ms" => millis(self.request_timeout),
            "retries" => self.retries.to_string(),
            "retry.backoff.ms" => millis(self.retry_backoff),
            "retry.backoff.max.ms" => millis(self.retry_backoff_max),
            "reconnect.backoff.ms" => millis(self.reconnect_backoff),
            "reconnect.backoff.max.ms" => millis(self.reconnect_backoff_max),
            "max.in.flight.requests.per.connection" => self.max_in_flight.to_string(),
            "max.request.size" => self.max_request_size.to_string(),
            "compression.type" => self.compression_type.name().into(),
            "compression.gzip.level" => self.compression_gzip_level.to_string(),
            "compression.lz4.level" => self.compression_lz4_level.to_string(),
            "compression.zstd.level" => self.compression_zstd_level.to_string(),
            "enable.idempotence" => self.effective_idempotence().to_string(),
            "transactional.id" => opt(self.transactional_id.as_deref()),
            "transaction.timeout.ms" => millis(self.transaction_timeout),
            "partitioner.class" => match self.partitioner {
                PartitionerClass::BuiltIn => String::new(),
                PartitionerClass::RoundRobin => ROUND_ROBIN_CLASS.into(),
            },
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive_partitioning.to_string()
            }
            "partitioner.availability.timeout.ms" => millis(self.partitioner_availability_timeout),
            "partitioner.ignore.keys" => self.partitioner_ignore_keys.to_string(),
            "metadata.max.age.ms" => millis(self.metadata_max_age),
            "metadata.max.idle.ms" => millis(self.metadata_max_idle),
            "connections.max.idle.ms" => self.connections_max_idle.map_or("-1".into(), millis),
            "socket.connection.setup.timeout.ms" => millis(self.socket_connection_setup_timeout),
            "socket.connection.setup.timeout.max.ms" => {
                millis(self.socket_connection_setup_timeout_max)
            }
            "send.buffer.bytes" => buffer(self.send_buffer_bytes),
            "receive.buffer.bytes" => buffer(self.receive_buffer_bytes),
            "allow.auto.create.topics" => self.allow_auto_create_topics.to_string(),
            "key.serializer" => opt(self.key_serializer.map(JavaSerializer::class_name)),
            "value.serializer" => opt(self.value_serializer.map(JavaSerializer::class_name)),
            "security.protocol" => "PLAINTEXT".into(),
            "receive.message.max.bytes" => self.receive_message_max_bytes.to_string(),
            _ => return None,
        })
    }

    /// Every supported key (in [`KEYS`] order) with its effective value; feeding the result to
    /// [`from_properties`](Self::from_properties) gives back an equivalent configuration.
    pub fn to_properties(&self) -> Vec<(String, String)> {
        KEYS.iter()
            .map(|k| {
                (
                    k.name.to_string(),
                    self.get(k.name).expect("every key has a value"),
                )
            })
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
    /// * `bootstrap.servers` must be non-empty, without duplicates, each `host:port` (a
    ///   `SCHEME://` prefix is stripped).
    /// * Ranges: `max.in.flight.requests.per.connection` ≥ 1, `buffer.memory` ≥ 1,
    ///   `max.request.size` ≥ 1, `transaction.timeout.ms` ≥ 1 ms, `metadata.max.idle.ms` ≥ 5000,
    ///   `receive.message.max.bytes` ≥ 1000, `retries` ≤ 2147483647, socket buffers ≠ 0,
    ///   compression levels in range. (`batch.size` 0 is allowed: one record per batch.)
    /// * Backoffs (as Java, not errors): if `reconnect.backoff.ms` was set and
    ///   `reconnect.backoff.max.ms` was not, the max becomes the backoff; then any initial value
    ///   above its max (retry and reconnect backoff, connection setup timeout) is lowered to the
    ///   max, with a warning.
    /// * `delivery.timeout.ms` ≥ `linger.ms` + `request.timeout.ms`: an error if it was set
    ///   explicitly, otherwise it is raised to that sum with a warning.
    /// * Idempotence, see [`enable_idempotence`](Self::enable_idempotence): explicitly `true`
    ///   with `acks` ≠ all, `retries` = 0 or more than 5 in flight is an error; by default those
    ///   first two turn it off (logged), the third is an error; a `transactional.id` without
    ///   idempotence is an error.
    pub fn validate(&mut self) -> Result<()> {
        self.validate_servers()?;
        self.validate_ranges()?;
        self.resolve_backoffs();
        self.resolve_delivery_timeout()?;
        self.validate_idempotence()
    }

    fn validate_servers(&mut self) -> Result<()> {
        if self.bootstrap_servers.is_empty() {
            return Err(Error::config(
                "bootstrap.servers",
                "required: at least one host:port",
            ));
        }
        let mut servers: Vec<String> = Vec::with_capacity(self.bootstrap_servers.len());
        for entry in &self.bootstrap_servers {
            let s = bootstrap_entry(entry.trim())?;
            if servers.contains(&s) {
                return Err(Error::config(
                    "bootstrap.servers",
                    format!("duplicate entry {s:?}"),
                ));
            }
            servers.push(s);
        }
        self.bootstrap_servers = servers;
        Ok(())
    }

    fn validate_ranges(&mut self) -> Result<()> {
        let in_range = |key: &str, got: i128, min: i128, max: i128| {
            if (min..=max).contains(&got) {
                Ok(())
            } else if max == i128::MAX {
                Err(Error::config(
                    key,
                    format!("must be at least {min}, got {got}"),
                ))
            } else {
                Err(Error::config(
                    key,
                    format!("must be between {min} and {max}, got {got}"),
                ))
            }
        };
        let (n, ms, max) = (
            |n: usize| n as i128,
            |d: Duration| d.as_millis() as i128,
            i128::MAX,
        );
        in_range(
            "max.in.flight.requests.per.connection",
            n(self.max_in_flight),
            1,
            max,
        )?;
        in_range("buffer.memory", n(self.buffer_memory), 1, max)?;
        in_range("max.request.size", n(self.max_request_size), 1, max)?;
        in_range("retries", self.retries.into(), 0, I32.into())?;
        in_range(
            "transaction.timeout.ms",
            ms(self.transaction_timeout),
            1,
            max,
        )?;
        in_range(
            "metadata.max.idle.ms",
            ms(self.metadata_max_idle),
            5000,
            max,
        )?;
        in_range(
            "receive.message.max.bytes",
            n(self.receive_message_max_bytes),
            1000,
            max,
        )?;
        in_range(
            "send.buffer.bytes",
            n(self.send_buffer_bytes.unwrap_or(1)),
            1,
            max,
        )?;
        in_range(
            "receive.buffer.bytes",
            n(self.receive_buffer_bytes.unwrap_or(1)),
            1,
            max,
        )?;
        if self.compression_gzip_level != -1 {
            in_range(
                "compression.gzip.level",
                self.compression_gzip_level.into(),
                1,
                9,
            )?;
        }
        in_range(
            "compression.lz4.level",
            self.compression_lz4_level.into(),
            1,
            17,
        )?;
        in_range(
            "compression.zstd.level",
            self.compression_zstd_level.into(),
            -131072,
            22,
        )?;
        if self.transactional_id.as_deref() == Some("") {
            self.transactional_id = None;
        }
        Ok(())
    }

    fn resolve_backoffs(&mut self) {
        let backoff_set =
            self.explicit.reconnect_backoff || self.reconnect_backoff != DEFAULT_RECONNECT_BACKOFF;
        let max_set = self.explicit.reconnect_backoff_max
            || self.reconnect_backoff_max != DEFAULT_RECONNECT_BACKOFF_MAX;
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
        let floor = self.linger.saturating_add(self.request_timeout);
        if self.delivery_timeout >= floor {
            return Ok(());
        }
        if self.explicit.delivery_timeout || self.delivery_timeout != DEFAULT_DELIVERY_TIMEOUT {
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
