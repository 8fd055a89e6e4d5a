use std::time::Duration;

use super::*;

fn base() -> ProducerConfig {
    let mut c = ProducerConfig::default();
    c.set("bootstrap.servers", "localhost:9092").unwrap();
    c
}

fn load(pairs: &[(&str, &str)]) -> Result<ProducerConfig> {
    let mut all = vec![("bootstrap.servers", "localhost:9092")];
    all.extend_from_slice(pairs);
    ProducerConfig::from_properties(all)
}

/// The error's key and its full display text.
fn err(r: Result<ProducerConfig>) -> (String, String) {
    match r {
        Err(e @ Error::Config { .. }) => {
            let Error::Config { key, .. } = &e else {
                unreachable!()
            };
            (key.clone(), e.to_string())
        }
        Err(e) => panic!("expected a config error, got {e}"),
        Ok(c) => panic!("expected an error, got {c:?}"),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn defaults_match_java() {
    let c = ProducerConfig::default();
    assert!(c.bootstrap_servers.is_empty());
    assert_eq!(c.client_id, "");
    assert_eq!(c.acks, Acks::All);
    assert_eq!(c.acks.as_i16(), -1);
    assert_eq!(c.linger, ms(5));
    assert_eq!(c.batch_size, 16384);
    assert_eq!(c.buffer_memory, 33554432);
    assert_eq!(c.max_block, ms(60000));
    assert_eq!(c.delivery_timeout, ms(120000));
    assert_eq!(c.request_timeout, ms(30000));
    assert_eq!(c.retries, 2147483647);
    assert_eq!(c.retry_backoff, ms(100));
    assert_eq!(c.retry_backoff_max, ms(1000));
    assert_eq!(c.reconnect_backoff, ms(50));
    assert_eq!(c.reconnect_backoff_max, ms(1000));
    assert_eq!(c.max_in_flight, 5);
    assert_eq!(c.max_request_size, 1048576);
    assert_eq!(c.compression_type, CompressionType::None);
    assert_eq!(c.compression_gzip_level, -1);
    assert_eq!(c.compression_lz4_level, 9);
    assert_eq!(c.compression_zstd_level, 3);
    assert_eq!(c.enable_idempotence, None);
    assert!(c.effective_idempotence());
    assert_eq!(c.transactional_id, None);
    assert_eq!(c.transaction_timeout, ms(60000));
    assert_eq!(c.partitioner, PartitionerClass::BuiltIn);
    assert!(c.partitioner_adaptive_partitioning);
    assert_eq!(c.partitioner_availability_timeout, Duration::ZERO);
    assert!(!c.partitioner_ignore_keys);
    assert_eq!(c.metadata_max_age, ms(300000));
    assert_eq!(c.metadata_max_idle, ms(300000));
    assert_eq!(c.connections_max_idle, Some(ms(540000)));
    assert_eq!(c.socket_connection_setup_timeout, ms(10000));
    assert_eq!(c.socket_connection_setup_timeout_max, ms(30000));
    assert_eq!(c.send_buffer_bytes, Some(131072));
    assert_eq!(c.receive_buffer_bytes, Some(32768));
    assert!(c.allow_auto_create_topics);
    assert_eq!(c.key_serializer, None);
    assert_eq!(c.value_serializer, None);
    assert_eq!(c.security_protocol, SecurityProtocol::Plaintext);
    assert_eq!(c.receive_message_max_bytes, 100_000_000);
    assert_eq!(c.compression_level(), None);
}

#[test]
fn keys_table_matches_defaults_and_to_properties() {
    let props = ProducerConfig::default().to_properties();
    assert_eq!(props.len(), KEYS.len());
    for (k, (name, value)) in KEYS.iter().zip(&props) {
        assert_eq!(k.name, name);
        assert_eq!(k.default, value, "default of {name}");
        assert!(!k.doc.is_empty());
    }
    let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), KEYS.len(), "duplicate key in KEYS");
    assert!(!KEYS.iter().any(|k| is_ignored(k.name)));
    assert_eq!(ProducerConfig::default().get("no.such.key"), None);
}

#[test]
fn every_key_round_trips() {
    // A non-default value, in canonical form, for every key.
    let values = [
        ("bootstrap.servers", "a:9092,b:9093"),
        ("client.id", "my-client"),
        ("acks", "1"),
        ("linger.ms", "20"),
        ("batch.size", "0"),
        ("buffer.memory", "1000000"),
        ("max.block.ms", "9223372036854775807"),
        ("delivery.timeout.ms", "200000"),
        ("request.timeout.ms", "40000"),
        ("retries", "3"),
        ("retry.backoff.ms", "200"),
        ("retry.backoff.max.ms", "2000"),
        ("reconnect.backoff.ms", "100"),
        ("reconnect.backoff.max.ms", "5000"),
        ("max.in.flight.requests.per.connection", "10"),
        ("max.request.size", "2097152"),
        ("compression.type", "zstd"),
        ("compression.gzip.level", "9"),
        ("compression.lz4.level", "17"),
        ("compression.zstd.level", "-5"),
        ("enable.idempotence", "false"),
        ("transactional.id", ""),
        ("transaction.timeout.ms", "90000"),
        ("partitioner.class", ROUND_ROBIN_CLASS),
        ("partitioner.adaptive.partitioning.enable", "false"),
        ("partitioner.availability.timeout.ms", "500"),
        ("partitioner.ignore.keys", "true"),
        ("metadata.max.age.ms", "1000"),
        ("metadata.max.idle.ms", "5000"),
        ("metadata.recovery.strategy", "none"),
        ("metadata.recovery.rebootstrap.trigger.ms", "60000"),
        ("connections.max.idle.ms", "-1"),
        ("socket.connection.setup.timeout.ms", "1000"),
        ("socket.connection.setup.timeout.max.ms", "2000"),
        ("send.buffer.bytes", "-1"),
        ("receive.buffer.bytes", "65536"),
        ("allow.auto.create.topics", "false"),
        (
            "key.serializer",
            "org.apache.kafka.common.serialization.StringSerializer",
        ),
        (
            "value.serializer",
            "org.apache.kafka.common.serialization.ByteArraySerializer",
        ),
        ("security.protocol", "SASL_SSL"),
        ("ssl.protocol", "TLSv1.2"),
        ("ssl.enabled.protocols", "TLSv1.2"),
        ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256"),
        ("ssl.endpoint.identification.algorithm", ""),
        ("ssl.truststore.location", "/etc/ca.p12"),
        ("ssl.truststore.type", "PKCS12"),
        ("ssl.truststore.password", "[hidden]"),
        ("ssl.truststore.certificates", "[hidden]"),
        ("ssl.keystore.location", "/etc/client.p12"),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.password", "[hidden]"),
        ("ssl.key.password", "[hidden]"),
        ("ssl.keystore.certificate.chain", "[hidden]"),
        ("ssl.keystore.key", "[hidden]"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.jaas.config", "[hidden]"),
        ("sasl.username", "alice"),
        ("sasl.password", "[hidden]"),
        (
            "sasl.login.callback.handler.class",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
        ),
        ("sasl.oauthbearer.token.endpoint.url", "https://idp/token"),
        ("sasl.oauthbearer.client.credentials.client.id", "volley"),
        (
            "sasl.oauthbearer.client.credentials.client.secret",
            "[hidden]",
        ),
        ("sasl.oauthbearer.scope", "kafka"),
        ("sasl.oauthbearer.header.urlencode", "true"),
        ("sasl.oauthbearer.scope.claim.name", "scp"),
        ("sasl.oauthbearer.sub.claim.name", "client_id"),
        ("sasl.login.refresh.window.factor", "0.9"),
        ("sasl.login.refresh.window.jitter", "0.1"),
        ("sasl.login.refresh.min.period.seconds", "30"),
        ("sasl.login.refresh.buffer.seconds", "60"),
        ("sasl.login.connect.timeout.ms", "5000"),
        ("sasl.login.read.timeout.ms", "6000"),
        ("sasl.login.retry.backoff.ms", "200"),
        ("sasl.login.retry.backoff.max.ms", "20000"),
        ("receive.message.max.bytes", "1000"),
        ("enable.metrics.push", "false"),
    ];
    let mut names: Vec<&str> = values.iter().map(|v| v.0).collect();
    let mut expected: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    names.sort_unstable();
    expected.sort_unstable();
    assert_eq!(names, expected, "the table covers every key");

    let c = ProducerConfig::from_properties(values).unwrap();
    let props = c.to_properties();
    for (key, value) in values {
        let got = &props.iter().find(|p| p.0 == key).unwrap().1;
        assert_eq!(got, value, "{key}");
    }
    assert_eq!(c.key_serializer, Some(JavaSerializer::String));
    assert_eq!(c.value_serializer, Some(JavaSerializer::ByteArray));
    assert_eq!(c.compression_level(), Some(-5));
    // And back again, from the listing.
    let again = ProducerConfig::from_properties(props.clone()).unwrap();
    assert_eq!(again.to_properties(), props);
    // Transactional settings (incompatible with the table's enable.idempotence=false).
    let t = load(&[("transactional.id", "tx-1")]).unwrap();
    assert_eq!(t.get("transactional.id").unwrap(), "tx-1");
    let t2 = ProducerConfig::from_properties(t.to_properties()).unwrap();
    assert_eq!(t2.transactional_id.as_deref(), Some("tx-1"));
    // Every default, fed back, is accepted.
    let mut d = base();
    for k in KEYS.iter().filter(|k| k.name != "bootstrap.servers") {
        d.set(k.name, k.default).unwrap();
    }
    d.validate().unwrap();
}

const SAMPLE: &str = r#"
# Java producer configuration, as pasted from a real deployment
! bang comments too
bootstrap.servers = broker1:9092,\
                    broker2:9092 , \
    PLAINTEXT://broker3:9092
client.id:orders-producer
acks all
key.serializer=org.apache.kafka.common.serialization.StringSerializer
value.serializer=org.apache.kafka.common.serialization.ByteArraySerializer
compression.type=lz4
compression.lz4.level=4
linger.ms=\
  25
batch.size=65536
retries=10
max.block.ms=9223372036854775807
ENABLE_METRICS = ignored-by-being-a-comment-continuation? \
   no, this is a continuation of an unknown key
"#;

#[test]
fn sample_java_properties_file_loads() {
    // The sample's last key is unknown on purpose: check the error, then load without it.
    let bad = ProducerConfig::from_properties(parse_properties(SAMPLE));
    assert_eq!(err(bad).0, "ENABLE_METRICS");

    let text = format!(
        "{}\n{}",
        SAMPLE.rsplit_once("ENABLE_METRICS").unwrap().0,
        "metric.reporters=\nmetrics.recording.level=INFO\ninterceptor.classes=\n\
         ssl.endpoint.identification.algorithm=https\nsasl.mechanism=PLAIN\n\
         client.dns.lookup=use_all_dns_ips\n\
         transactional.id=orders\\u002d1\\\n  \n\
         partitioner.class=org.apache.kafka.clients.producer.internals.DefaultPartitioner\r\n"
    );
    let path =
        std::env::temp_dir().join(format!("volley-config-{}.properties", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let c = ProducerConfig::from_properties_file(&path);
    std::fs::remove_file(&path).unwrap();
    let c = c.unwrap();
    assert_eq!(
        c.bootstrap_servers,
        ["broker1:9092", "broker2:9092", "broker3:9092"]
    );
    assert_eq!(c.client_id, "orders-producer");
    assert_eq!(c.acks, Acks::All);
    assert_eq!(c.key_serializer, Some(JavaSerializer::String));
    assert_eq!(c.value_serializer, Some(JavaSerializer::ByteArray));
    assert_eq!(c.compression_type, CompressionType::Lz4);
    assert_eq!(c.compression_level(), Some(4));
    assert_eq!(c.linger, ms(25));
    assert_eq!(c.batch_size, 65536);
    assert_eq!(c.retries, 10);
    assert_eq!(c.max_block, ms(i64::MAX as u64));
    assert_eq!(c.transactional_id.as_deref(), Some("orders-1"));
    assert_eq!(c.partitioner, PartitionerClass::BuiltIn);
    assert!(c.effective_idempotence());

    let missing = ProducerConfig::from_properties_file("/nonexistent/volley.properties");
    assert!(err(missing).1.contains("cannot read properties file"));
}

#[test]
fn properties_parser_details() {
    let p = parse_properties(
        "a=1\n  b : 2 \n c\t3\nd\ne=\nf = x=y:z\n# c=9\ng=\\#not\\ comment\\ \n\
         h\\ key=\\t\\u0041\\\\\ni=one \\\n   two\\\\\nj=last\\",
    );
    let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        p,
        [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", ""),
            ("e", ""),
            ("f", "x=y:z"),
            ("g", "#not comment "),
            ("h key", "\tA\\"),
            ("i", "one two\\"),
            ("j", "last"),
        ]
    );
}

#[test]
fn bad_values_name_the_key() {
    let (key, text) = err(load(&[("linger.ms", "abc")]));
    assert_eq!(key, "linger.ms");
    assert_eq!(
        text,
        "invalid configuration for `linger.ms`: expected a non-negative integer, got \"abc\""
    );
    let (key, text) = err(load(&[("no.such.key", "1")]));
    assert_eq!(key, "no.such.key");
    assert!(text.contains("unknown configuration key"), "{text}");

    let cases = [
        ("acks", "2"),
        ("linger.ms", "-1"),
        ("delivery.timeout.ms", "2147483648"),
        ("batch.size", "1.5"),
        ("buffer.memory", "0"),
        ("max.in.flight.requests.per.connection", "0"),
        ("max.request.size", "-1"),
        ("batch.size", "2147483648"),
        ("retries", "-1"),
        ("compression.type", "brotli"),
        ("compression.gzip.level", "0"),
        ("compression.lz4.level", "18"),
        ("compression.zstd.level", "23"),
        ("enable.idempotence", "yes"),
        ("transaction.timeout.ms", "0"),
        ("metadata.max.idle.ms", "4999"),
        ("metadata.recovery.strategy", "retry"),
        ("metadata.recovery.rebootstrap.trigger.ms", "-1"),
        ("send.buffer.bytes", "0"),
        ("receive.buffer.bytes", "-2"),
        ("connections.max.idle.ms", "-5"),
        ("partitioner.class", "com.example.MyPartitioner"),
        (
            "key.serializer",
            "io.confluent.kafka.serializers.KafkaAvroSerializer",
        ),
        ("security.protocol", "TLS"),
        ("ssl.enabled.protocols", "TLSv1.1"),
        ("ssl.truststore.type", "BKS"),
        ("sasl.mechanism", "DIGEST-MD5"),
        ("sasl.login.callback.handler.class", "com.example.Handler"),
        ("sasl.login.refresh.window.factor", "0.2"),
        ("sasl.login.refresh.window.jitter", "NaN"),
        ("receive.message.max.bytes", "999"),
        ("interceptor.classes", "com.example.Interceptor"),
        ("transaction.two.phase.commit.enable", "true"),
        ("bootstrap.servers", "localhost"),
        ("bootstrap.servers", "localhost:0"),
        ("bootstrap.servers", "a:1,a:1"),
        ("bootstrap.servers", " , "),
    ];
    for (k, v) in cases {
        let (key, text) = err(load(&[(k, v)]));
        assert_eq!(key, k, "{k}={v}: {text}");
    }
    let (_, text) = err(load(&[("ssl.enabled.protocols", "TLSv1.2,TLSv1")]));
    assert!(text.contains("rustls"), "{text}");
    let (_, text) = err(load(&[("partitioner.class", "com.example.P")]));
    assert!(text.contains("builder"), "{text}");
    // Booleans in any case; neutral values of conditionally ignored keys.
    let c = load(&[
        ("allow.auto.create.topics", "FALSE"),
        ("enable.idempotence", "True"),
        ("transaction.two.phase.commit.enable", "false"),
        ("ssl.keymanager.algorithm", "SunX509"),
        ("sasl.kerberos.service.name", "kafka"),
        ("acks", "ALL"),
        ("metadata.recovery.strategy", "NONE"),
    ])
    .unwrap();
    assert!(!c.allow_auto_create_topics);
    assert_eq!(c.metadata_recovery_strategy, MetadataRecoveryStrategy::None);
    assert_eq!(
        ProducerConfig::default().metadata_recovery_strategy,
        MetadataRecoveryStrategy::Rebootstrap,
        "Java 4.x's default"
    );
    assert_eq!(c.enable_idempotence, Some(true));
}

#[test]
fn idempotence_rules() {
    // Explicitly on + conflicts: errors naming the keys.
    let (key, _) = err(load(&[("enable.idempotence", "true"), ("acks", "1")]));
    assert_eq!(key, "enable.idempotence, acks");
    let (key, _) = err(load(&[("enable.idempotence", "true"), ("retries", "0")]));
    assert_eq!(key, "enable.idempotence, retries");
    let (key, _) = err(load(&[
        ("enable.idempotence", "true"),
        ("max.in.flight.requests.per.connection", "6"),
        ("acks", "0"),
    ]));
    assert_eq!(
        key,
        "enable.idempotence, acks, max.in.flight.requests.per.connection"
    );
    // Default + conflicting acks or retries: turned off.
    let c = load(&[("acks", "1")]).unwrap();
    assert!(!c.effective_idempotence());
    assert_eq!(c.get("enable.idempotence").unwrap(), "false");
    let c = load(&[("retries", "0")]).unwrap();
    assert!(!c.effective_idempotence());
    // Default + more than 5 in flight: an error, as in Java 4.x ...
    let (key, _) = err(load(&[("max.in.flight.requests.per.connection", "6")]));
    assert_eq!(
        key,
        "max.in.flight.requests.per.connection, enable.idempotence"
    );
    // ... unless idempotence is already off, or turned off.
    load(&[
        ("max.in.flight.requests.per.connection", "6"),
        ("acks", "1"),
    ])
    .unwrap();
    load(&[
        ("max.in.flight.requests.per.connection", "6"),
        ("enable.idempotence", "false"),
    ])
    .unwrap();
    // transactional.id: on by default; with explicit false, or a conflict, an error.
    let c = load(&[("transactional.id", "tx")]).unwrap();
    assert!(c.effective_idempotence());
    let (key, _) = err(load(&[
        ("transactional.id", "tx"),
        ("enable.idempotence", "false"),
    ]));
    assert_eq!(key, "transactional.id, enable.idempotence");
    let (key, _) = err(load(&[("transactional.id", "tx"), ("acks", "1")]));
    assert_eq!(key, "transactional.id, acks");
    // Explicit false is just off.
    assert!(!load(&[("enable.idempotence", "false")])
        .unwrap()
        .effective_idempotence());
}

#[test]
fn delivery_timeout_rules() {
    // Explicit and too small: error naming all three keys.
    let (key, text) = err(load(&[
        ("delivery.timeout.ms", "30000"),
        ("linger.ms", "5"),
    ]));
    assert_eq!(key, "delivery.timeout.ms, linger.ms, request.timeout.ms");
    assert!(text.contains("30005"), "{text}");
    // Explicit and exactly enough: fine.
    let c = load(&[("delivery.timeout.ms", "30005")]).unwrap();
    assert_eq!(c.delivery_timeout, ms(30005));
    // Default and too small: raised.
    let c = load(&[("request.timeout.ms", "200000"), ("linger.ms", "100")]).unwrap();
    assert_eq!(c.delivery_timeout, ms(200100));
    // Explicitly set to the default value still counts as explicit.
    let r = load(&[
        ("delivery.timeout.ms", "120000"),
        ("request.timeout.ms", "200000"),
    ]);
    assert_eq!(
        err(r).0,
        "delivery.timeout.ms, linger.ms, request.timeout.ms"
    );
    // Direct field assignment differing from the default counts as explicit.
    let mut c = base();
    c.delivery_timeout = ms(1000);
    assert!(c.validate().is_err());
}

// Breaker fault 10: a linger.ms above Integer.MAX_VALUE ms (a Long, valid in Java) raised the
// default delivery.timeout.ms past its Int range, so the configuration validated once and the
// producer's own validation then refused it, naming delivery.timeout.ms, a key never set.
// Invariant (Java's configureDeliveryTimeout): linger.ms + request.timeout.ms is capped at
// Integer.MAX_VALUE ms, and validating again changes nothing.
#[test]
fn delivery_timeout_floor_is_capped_at_the_int_range() {
    let max = ms(i32::MAX as u64);
    let mut c = load(&[("linger.ms", "9999999999999")]).unwrap();
    assert_eq!(c.delivery_timeout, max);
    c.validate().expect("validating again");
    assert_eq!(c.delivery_timeout, max);
    // Explicit at the cap: enough, as in Java.
    let c = load(&[
        ("linger.ms", "9999999999999"),
        ("delivery.timeout.ms", "2147483647"),
    ])
    .unwrap();
    assert_eq!(c.delivery_timeout, max);
}

#[test]
fn backoff_and_misc_resolution() {
    // reconnect.backoff.ms alone: static backoff (max follows it), up or down.
    let c = load(&[("reconnect.backoff.ms", "2000")]).unwrap();
    assert_eq!(
        (c.reconnect_backoff, c.reconnect_backoff_max),
        (ms(2000), ms(2000))
    );
    let c = load(&[("reconnect.backoff.ms", "10")]).unwrap();
    assert_eq!(
        (c.reconnect_backoff, c.reconnect_backoff_max),
        (ms(10), ms(10))
    );
    // Both set, initial above max: lowered to the max, not an error.
    let c = load(&[
        ("reconnect.backoff.ms", "3000"),
        ("reconnect.backoff.max.ms", "1000"),
    ])
    .unwrap();
    assert_eq!(
        (c.reconnect_backoff, c.reconnect_backoff_max),
        (ms(1000), ms(1000))
    );
    let c = load(&[("retry.backoff.ms", "5000")]).unwrap();
    assert_eq!((c.retry_backoff, c.retry_backoff_max), (ms(1000), ms(1000)));
    let c = load(&[("socket.connection.setup.timeout.ms", "60000")]).unwrap();
    assert_eq!(c.socket_connection_setup_timeout, ms(30000));
    // UniformStickyPartitioner means the built-in one ignoring keys.
    let c = load(&[(
        "partitioner.class",
        "org.apache.kafka.clients.producer.UniformStickyPartitioner",
    )])
    .unwrap();
    assert_eq!(c.partitioner, PartitionerClass::BuiltIn);
    assert!(c.partitioner_ignore_keys);
    // IPv6 and duplicates; a missing bootstrap.servers.
    let c = load(&[("bootstrap.servers", "[::1]:9092, localhost:9093")]).unwrap();
    assert_eq!(c.bootstrap_servers, ["[::1]:9092", "localhost:9093"]);
    assert_eq!(
        err(ProducerConfig::from_properties([("acks", "1")])).0,
        "bootstrap.servers"
    );
    // Direct assignments are checked by validate.
    let mut c = base();
    c.compression_zstd_level = 40;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("compression.zstd.level"), "{e}");
}

#[test]
fn builder() {
    let c = ProducerConfig::builder()
        .bootstrap_servers(["a:1,b:2", "c:3"])
        .client_id("cli")
        .acks(Acks::Leader)
        .linger(ms(10))
        .batch_size(1000)
        .buffer_memory(1 << 20)
        .max_block(ms(500))
        .request_timeout(ms(1000))
        .delivery_timeout(ms(5000))
        .retries(5)
        .compression(CompressionType::Gzip)
        .max_in_flight(3)
        .max_request_size(4096)
        .property("compression.gzip.level", "5")
        .build()
        .unwrap();
    assert_eq!(c.bootstrap_servers, ["a:1", "b:2", "c:3"]);
    assert_eq!(c.acks, Acks::Leader);
    assert!(!c.effective_idempotence());
    assert_eq!(c.compression_level(), Some(5));
    assert_eq!(c.delivery_timeout, ms(5000));

    let t = ProducerConfig::builder()
        .bootstrap_servers(["a:1"])
        .transactional_id("tx")
        .enable_idempotence(true)
        .build()
        .unwrap();
    assert!(t.effective_idempotence());

    // An explicit delivery timeout below the floor is an error even at the default value.
    let r = ProducerConfig::builder()
        .bootstrap_servers(["a:1"])
        .delivery_timeout(ms(120000))
        .request_timeout(ms(200000))
        .build();
    assert_eq!(
        err(r).0,
        "delivery.timeout.ms, linger.ms, request.timeout.ms"
    );
    // The first bad property is reported.
    let r = ProducerConfig::builder()
        .bootstrap_servers(["a:1"])
        .property("batch.size", "big")
        .property("unknown", "x")
        .build();
    assert_eq!(err(r).0, "batch.size");
    let r = ProducerConfig::builder()
        .bootstrap_servers(["a:1"])
        .enable_idempotence(true)
        .acks(Acks::None)
        .build();
    assert_eq!(err(r).0, "enable.idempotence, acks");
}

/// Every key of Java's producer with its type and default (empty for none), from Kafka 4.4's
/// `ProducerConfig.configDef()`.
const JAVA_PRODUCER_KEYS: &[(&str, &str, &str)] = &[
    ("acks", "string", "all"),
    ("batch.size", "int", "16384"),
    ("bootstrap.resolve.timeout.ms", "long", "0"),
    ("bootstrap.servers", "list", ""),
    ("buffer.memory", "long", "33554432"),
    ("buffer.memory.allocation.strategy", "string", "full"),
    ("client.dns.lookup", "string", "use_all_dns_ips"),
    ("client.id", "string", ""),
    ("client.rack", "string", ""),
    ("compression.gzip.level", "int", "-1"),
    ("compression.lz4.level", "int", "9"),
    ("compression.type", "string", "none"),
    ("compression.zstd.level", "int", "3"),
    ("config.providers", "list", ""),
    ("connections.max.idle.ms", "long", "540000"),
    ("delivery.timeout.ms", "int", "120000"),
    ("enable.idempotence", "boolean", "true"),
    ("enable.metrics.push", "boolean", "true"),
    ("interceptor.classes", "list", ""),
    ("key.serializer", "class", ""),
    ("linger.ms", "long", "5"),
    ("max.block.ms", "long", "60000"),
    ("max.in.flight.requests.per.connection", "int", "5"),
    ("max.request.size", "int", "1048576"),
    ("metadata.cluster.check.enable", "boolean", "true"),
    ("metadata.max.age.ms", "long", "300000"),
    ("metadata.max.idle.ms", "long", "300000"),
    ("metadata.recovery.rebootstrap.trigger.ms", "long", "300000"),
    ("metadata.recovery.strategy", "string", "rebootstrap"),
    (
        "metric.reporters",
        "list",
        "org.apache.kafka.common.metrics.JmxReporter",
    ),
    ("metrics.num.samples", "int", "2"),
    ("metrics.recording.level", "string", "INFO"),
    ("metrics.sample.window.ms", "long", "30000"),
    (
        "partitioner.adaptive.partitioning.enable",
        "boolean",
        "true",
    ),
    ("partitioner.availability.timeout.ms", "long", "0"),
    ("partitioner.class", "class", ""),
    ("partitioner.ignore.keys", "boolean", "false"),
    ("partitioner.rack.aware", "boolean", "false"),
    ("receive.buffer.bytes", "int", "32768"),
    ("reconnect.backoff.max.ms", "long", "1000"),
    ("reconnect.backoff.ms", "long", "50"),
    ("request.timeout.ms", "int", "30000"),
    ("retries", "int", "2147483647"),
    ("retry.backoff.max.ms", "long", "1000"),
    ("retry.backoff.ms", "long", "100"),
    ("sasl.client.callback.handler.class", "class", ""),
    ("sasl.jaas.config", "password", ""),
    ("sasl.kerberos.kinit.cmd", "string", "/usr/bin/kinit"),
    ("sasl.kerberos.min.time.before.relogin", "long", "60000"),
    ("sasl.kerberos.service.name", "string", ""),
    ("sasl.kerberos.ticket.renew.jitter", "double", "0.05"),
    ("sasl.kerberos.ticket.renew.window.factor", "double", "0.8"),
    ("sasl.login.callback.handler.class", "class", ""),
    ("sasl.login.class", "class", ""),
    ("sasl.login.connect.timeout.ms", "int", ""),
    ("sasl.login.read.timeout.ms", "int", ""),
    ("sasl.login.refresh.buffer.seconds", "short", "300"),
    ("sasl.login.refresh.min.period.seconds", "short", "60"),
    ("sasl.login.refresh.window.factor", "double", "0.8"),
    ("sasl.login.refresh.window.jitter", "double", "0.05"),
    ("sasl.login.retry.backoff.max.ms", "long", "10000"),
    ("sasl.login.retry.backoff.ms", "long", "100"),
    ("sasl.mechanism", "string", "GSSAPI"),
    (
        "sasl.oauthbearer.allow.unverified.audience",
        "boolean",
        "false",
    ),
    (
        "sasl.oauthbearer.allow.unverified.issuer",
        "boolean",
        "false",
    ),
    ("sasl.oauthbearer.assertion.algorithm", "string", "RS256"),
    ("sasl.oauthbearer.assertion.claim.aud", "string", ""),
    ("sasl.oauthbearer.assertion.claim.exp.seconds", "int", "300"),
    ("sasl.oauthbearer.assertion.claim.iss", "string", ""),
    (
        "sasl.oauthbearer.assertion.claim.jti.include",
        "boolean",
        "false",
    ),
    ("sasl.oauthbearer.assertion.claim.nbf.seconds", "int", "60"),
    ("sasl.oauthbearer.assertion.claim.sub", "string", ""),
    ("sasl.oauthbearer.assertion.file", "string", ""),
    ("sasl.oauthbearer.assertion.private.key.file", "string", ""),
    (
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "password",
        "",
    ),
    ("sasl.oauthbearer.assertion.template.file", "string", ""),
    (
        "sasl.oauthbearer.client.credentials.client.id",
        "string",
        "",
    ),
    (
        "sasl.oauthbearer.client.credentials.client.secret",
        "password",
        "",
    ),
    ("sasl.oauthbearer.clock.skew.seconds", "int", "30"),
    ("sasl.oauthbearer.expected.audience", "list", ""),
    ("sasl.oauthbearer.expected.issuer", "string", ""),
    ("sasl.oauthbearer.header.urlencode", "boolean", "false"),
    (
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        "long",
        "3600000",
    ),
    (
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        "long",
        "10000",
    ),
    (
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        "long",
        "100",
    ),
    ("sasl.oauthbearer.jwks.endpoint.url", "string", ""),
    (
        "sasl.oauthbearer.jwt.retriever.class",
        "class",
        "org.apache.kafka.common.security.oauthbearer.DefaultJwtRetriever",
    ),
    (
        "sasl.oauthbearer.jwt.validator.class",
        "class",
        "org.apache.kafka.common.security.oauthbearer.DefaultJwtValidator",
    ),
    ("sasl.oauthbearer.scope", "string", ""),
    ("sasl.oauthbearer.scope.claim.name", "string", "scope"),
    ("sasl.oauthbearer.sub.claim.name", "string", "sub"),
    ("sasl.oauthbearer.token.endpoint.url", "string", ""),
    ("security.protocol", "string", "PLAINTEXT"),
    ("security.providers", "string", ""),
    ("send.buffer.bytes", "int", "131072"),
    ("socket.connection.setup.timeout.max.ms", "long", "30000"),
    ("socket.connection.setup.timeout.ms", "long", "10000"),
    ("ssl.cipher.suites", "list", ""),
    ("ssl.enabled.protocols", "list", "TLSv1.2,TLSv1.3"),
    ("ssl.endpoint.identification.algorithm", "string", "https"),
    ("ssl.engine.factory.class", "class", ""),
    ("ssl.key.password", "password", ""),
    ("ssl.keymanager.algorithm", "string", "SunX509"),
    ("ssl.keystore.certificate.chain", "password", ""),
    ("ssl.keystore.key", "password", ""),
    ("ssl.keystore.location", "string", ""),
    ("ssl.keystore.password", "password", ""),
    ("ssl.keystore.type", "string", "JKS"),
    ("ssl.protocol", "string", "TLSv1.3"),
    ("ssl.provider", "string", ""),
    ("ssl.secure.random.implementation", "string", ""),
    ("ssl.trustmanager.algorithm", "string", "PKIX"),
    ("ssl.truststore.certificates", "password", ""),
    ("ssl.truststore.location", "string", ""),
    ("ssl.truststore.password", "password", ""),
    ("ssl.truststore.type", "string", "JKS"),
    ("transaction.timeout.ms", "int", "60000"),
    ("transaction.two.phase.commit.enable", "boolean", "false"),
    ("transactional.id", "string", ""),
    ("value.serializer", "class", ""),
];

#[test]
fn every_java_producer_key_is_supported_with_its_type_and_default_ignored_or_refused() {
    for (key, _, _) in JAVA_PRODUCER_KEYS {
        let supported = KEYS.iter().any(|k| k.name == *key);
        let ignored = is_ignored(key);
        let refused = UNSUPPORTED_KEYS
            .iter()
            .any(|(k, _)| unknown::key_matches(key, k));
        assert_eq!(
            [supported, ignored, refused].iter().filter(|b| **b).count(),
            1,
            "{key}: supported {supported}, ignored {ignored}, refused {refused}"
        );
    }
    // The lists name only Java keys.
    for (entry, _) in UNSUPPORTED_KEYS {
        assert!(
            JAVA_PRODUCER_KEYS
                .iter()
                .any(|(k, _, _)| unknown::key_matches(k, entry)),
            "{entry}"
        );
    }
    // A supported key has Java's type and default (the README's table shows both); Java's
    // null login timeouts are -1 here.
    for (key, java_type, java_default) in JAVA_PRODUCER_KEYS {
        let Some(k) = KEYS.iter().find(|k| k.name == *key) else {
            continue;
        };
        assert_eq!(k.kind.name(), *java_type, "type of {key}");
        let default = match *key {
            "sasl.login.connect.timeout.ms" | "sasl.login.read.timeout.ms" => "-1",
            _ => java_default,
        };
        assert_eq!(k.default, default, "default of {key}");
    }
}

#[test]
fn unknown_keys_say_what_to_set_instead() {
    let message = |key: &str| {
        let (k, text) = err(load(&[(key, "1")]));
        assert_eq!(k, key);
        text
    };
    let text = message("client.rack");
    assert!(
        text.contains("Java producer key that Volley does not support")
            && text.contains("rack-aware"),
        "{text}"
    );
    let text = message("sasl.oauthbearer.assertion.file");
    assert!(text.contains("token_provider"), "{text}");
    let text = message("queue.buffering.max.ms");
    assert!(
        text.contains("librdkafka") && text.contains("set linger.ms instead"),
        "{text}"
    );
    let text = message("linger_ms");
    assert!(text.ends_with("did you mean linger.ms?"), "{text}");
    let text = message("Batch.Size");
    assert!(text.ends_with("did you mean batch.size?"), "{text}");
    // A broker-side OAuth validation key is ignored, as the others are.
    let mut c = ProducerConfig::default();
    c.set("sasl.oauthbearer.allow.unverified.audience", "true")
        .unwrap();
    // Java's interceptor classes: what to do instead.
    let (_, text) = err(load(&[("interceptor.classes", "com.example.Audit")]));
    assert!(text.contains(".interceptor(..)"), "{text}");
}
