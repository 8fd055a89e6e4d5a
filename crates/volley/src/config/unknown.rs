//! What the error for a key Volley does not take says: a Java producer key Volley does not
//! support says why ([`UNSUPPORTED_KEYS`]), a librdkafka name gives the Java name to use, and a
//! near miss of a supported key (`linger_ms`, `Linger.Ms`) names that key.

use super::KEYS;

/// Keys of the Java producer (Kafka 4.4's `ProducerConfig`) that Volley refuses, with why:
/// setting one (which Java would apply) is an `Error::Config` naming the key and giving that
/// reason. Keys Java has that Volley accepts and ignores are in
/// [`IGNORED_KEYS`](super::IGNORED_KEYS); every other Java producer key is in
/// [`KEYS`](super::KEYS).
pub const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    (
        "bootstrap.resolve.timeout.ms",
        "asynchronous bootstrap DNS resolution is not supported: Volley resolves \
         bootstrap.servers at each connection attempt, retried with reconnect.backoff.ms",
    ),
    (
        "buffer.memory.allocation.strategy",
        "not supported: Volley's buffer pool hands out batch.size buffers (Java's `full`)",
    ),
    (
        "client.rack",
        "rack-aware partitioning is not supported (nor is partitioner.rack.aware)",
    ),
    (
        "metadata.cluster.check.enable",
        "the connection-time cluster check (KIP-1242) is not supported yet; the cluster id of \
         every metadata answer is checked instead",
    ),
    (
        "partitioner.rack.aware",
        "rack-aware partitioning is not supported",
    ),
    (
        "sasl.client.callback.handler.class",
        "Java classes cannot be loaded: give PLAIN and SCRAM credentials in sasl.jaas.config \
         (or sasl.username and sasl.password), OAUTHBEARER tokens with \
         Producer::builder(config).token_provider(..)",
    ),
    (
        "sasl.oauthbearer.assertion.*",
        "the JWT-bearer assertion grant is not supported: use the client-credentials grant \
         (feature oauth-oidc) or a TokenProvider (Producer::builder(config).token_provider(..))",
    ),
    (
        "sasl.oauthbearer.jwt.retriever.class",
        "Java classes cannot be loaded: tokens come from the client-credentials login \
         (sasl.login.callback.handler.class) or a TokenProvider \
         (Producer::builder(config).token_provider(..))",
    ),
    (
        "sasl.oauthbearer.jwt.validator.class",
        "Java classes cannot be loaded: Volley reads the token's expiry and principal \
         (sasl.oauthbearer.sub.claim.name) and leaves its validation to the broker",
    ),
    (
        "ssl.engine.factory.class",
        "Java classes cannot be loaded: TLS is rustls, configured by the ssl.* keys",
    ),
];

/// Common librdkafka producer names, with what to set instead.
const LIBRDKAFKA_NAMES: &[(&str, &str)] = &[
    ("metadata.broker.list", "bootstrap.servers"),
    ("queue.buffering.max.ms", "linger.ms"),
    (
        "queue.buffering.max.kbytes",
        "buffer.memory (in bytes, not kilobytes)",
    ),
    (
        "queue.buffering.max.messages",
        "buffer.memory (Volley bounds the queue in bytes)",
    ),
    (
        "batch.num.messages",
        "batch.size (Volley bounds a batch in bytes)",
    ),
    ("message.max.bytes", "max.request.size"),
    ("compression.codec", "compression.type"),
    ("compression.level", "compression.gzip.level, compression.lz4.level or compression.zstd.level"),
    ("message.timeout.ms", "delivery.timeout.ms"),
    ("request.required.acks", "acks"),
    ("message.send.max.retries", "retries"),
    ("max.in.flight", "max.in.flight.requests.per.connection"),
    ("topic.metadata.refresh.interval.ms", "metadata.max.age.ms"),
    ("sasl.mechanisms", "sasl.mechanism"),
    (
        "ssl.ca.location",
        "ssl.truststore.location with ssl.truststore.type=PEM",
    ),
    (
        "ssl.certificate.location",
        "ssl.keystore.location with ssl.keystore.type=PEM (one file with the certificate chain and the key)",
    ),
    (
        "ssl.key.location",
        "ssl.keystore.location with ssl.keystore.type=PEM (one file with the certificate chain and the key)",
    ),
];

/// Whether `key` is `entry`, or has its prefix when `entry` ends in `*`.
pub(super) fn key_matches(key: &str, entry: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == entry,
    }
}

/// The message of the error for a key that is neither supported nor ignored.
pub(super) fn unknown_key_message(key: &str) -> String {
    if let Some((_, why)) = UNSUPPORTED_KEYS.iter().find(|(k, _)| key_matches(key, k)) {
        return format!("a Java producer key that Volley does not support: {why}");
    }
    if let Some((_, java)) = LIBRDKAFKA_NAMES.iter().find(|(k, _)| *k == key) {
        return format!("librdkafka's name, not Java's: set {java} instead");
    }
    let folded = key.to_ascii_lowercase().replace(['_', '-'], ".");
    if let Some(k) = KEYS.iter().find(|k| k.name == folded) {
        return format!("unknown configuration key; did you mean {}?", k.name);
    }
    "unknown configuration key (Volley takes the Java producer's keys: see the README's \
     configuration table, or volley::config::KEYS)"
        .to_string()
}
