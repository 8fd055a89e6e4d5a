//! Tests of the key declarations as a whole: the README's table is rendered from them, and for
//! every key the properties path and the builder path accept and reject the same values.

use std::time::Duration;

use super::keys::BUILDER_SETTERS;
use super::*;

const README: &str = include_str!("../../../../README.md");
const TABLE_START: &str = "<!-- config-table";
const TABLE_END: &str = "<!-- end config-table -->";

/// A table cell: `|` escaped, and `<`, `>` outside code spans.
fn cell(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            0 => part.replace('<', "\\<").replace('>', "\\>"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("`")
        .replace('|', "\\|")
}

/// The README's configuration table, rendered from [`KEYS`].
fn render_table() -> String {
    let mut out = String::from(
        "| key | default | type | valid values | importance | meaning |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for key in KEYS {
        let default = match key.default {
            "" => "(empty)".to_string(),
            d => format!("`{d}`"),
        };
        let valid = match (key.validator().notation().as_str(), key.kind) {
            ("", Kind::Boolean) => "true, false".to_string(),
            ("", _) => "any".to_string(),
            (v, _) => v.to_string(),
        };
        let importance = format!("{:?}", key.importance).to_lowercase();
        out.push_str(&format!(
            "| `{}` | {default} | {} | {} | {importance} | {} |\n",
            key.name,
            key.kind.name(),
            cell(&valid),
            cell(key.doc)
        ));
    }
    out
}

/// The README's table as it is (the lines between the markers).
fn readme_table() -> &'static str {
    let start = README.find(TABLE_START).expect("table start marker");
    let start = start + README[start..].find('\n').expect("marker line") + 1;
    let end = README.find(TABLE_END).expect("table end marker");
    &README[start..end]
}

#[test]
fn readme_table_is_generated_from_the_declarations() {
    let expected = render_table();
    if readme_table() != expected {
        if std::env::var_os("VOLLEY_UPDATE_README").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
            let start = README.len() - README[README.find(TABLE_START).unwrap()..].len();
            let start = start + README[start..].find('\n').unwrap() + 1;
            let end = README.find(TABLE_END).unwrap();
            let updated = format!("{}{expected}{}", &README[..start], &README[end..]);
            std::fs::write(path, updated).expect("write README.md");
        }
        panic!(
            "README.md's configuration table differs from config::KEYS; it should read \
             (between the config-table markers; VOLLEY_UPDATE_README=1 writes it):\n\n{expected}"
        );
    }
}

/// How a Rust caller writes a value of a field type for its builder method, from the Java
/// string form; written independently of the configuration's own parser.
pub(crate) trait BuilderSample: Sized {
    /// What the builder method is given.
    type Arg: IntoConfig<Self>;
    /// `None` if no value of the Rust type means `text`.
    fn sample(text: &str) -> Option<Self::Arg>;
}

fn integer(text: &str) -> Option<i128> {
    text.parse().ok()
}

fn whole_ms(n: i128) -> Option<Duration> {
    u64::try_from(n).ok().map(Duration::from_millis)
}

impl BuilderSample for Duration {
    type Arg = Duration;
    fn sample(text: &str) -> Option<Duration> {
        integer(text).and_then(whole_ms)
    }
}

impl BuilderSample for Option<Duration> {
    type Arg = Option<Duration>;
    fn sample(text: &str) -> Option<Option<Duration>> {
        match integer(text)? {
            -1 => Some(None),
            n => whole_ms(n).map(Some),
        }
    }
}

macro_rules! integer_sample {
    ($($t:ty),*) => {$(
        impl BuilderSample for $t {
            type Arg = $t;
            fn sample(text: &str) -> Option<$t> {
                integer(text).and_then(|n| <$t>::try_from(n).ok())
            }
        }
    )*};
}
integer_sample!(usize, u32, i32);

impl BuilderSample for Option<usize> {
    type Arg = Option<usize>;
    fn sample(text: &str) -> Option<Option<usize>> {
        match integer(text)? {
            -1 => Some(None),
            n => usize::try_from(n).ok().map(Some),
        }
    }
}

fn java_bool(text: &str) -> Option<bool> {
    ["false", "true"]
        .iter()
        .position(|b| b.eq_ignore_ascii_case(text))
        .map(|i| i == 1)
}

impl BuilderSample for bool {
    type Arg = bool;
    fn sample(text: &str) -> Option<bool> {
        java_bool(text)
    }
}

impl BuilderSample for Option<bool> {
    type Arg = bool;
    fn sample(text: &str) -> Option<bool> {
        java_bool(text)
    }
}

impl BuilderSample for String {
    type Arg = String;
    fn sample(text: &str) -> Option<String> {
        Some(text.into())
    }
}

impl BuilderSample for Option<String> {
    type Arg = String;
    fn sample(text: &str) -> Option<String> {
        Some(text.into())
    }
}

impl BuilderSample for Vec<String> {
    type Arg = Vec<String>;
    fn sample(text: &str) -> Option<Vec<String>> {
        Some(vec![text.into()])
    }
}

impl BuilderSample for Acks {
    type Arg = Acks;
    fn sample(text: &str) -> Option<Acks> {
        match text.to_ascii_lowercase().as_str() {
            "all" | "-1" => Some(Acks::All),
            "1" => Some(Acks::Leader),
            "0" => Some(Acks::None),
            _ => None,
        }
    }
}

impl BuilderSample for CompressionType {
    type Arg = CompressionType;
    fn sample(text: &str) -> Option<CompressionType> {
        use CompressionType::*;
        [None, Gzip, Snappy, Lz4, Zstd]
            .into_iter()
            .find(|c| format!("{c:?}").eq_ignore_ascii_case(text))
    }
}

impl BuilderSample for PartitionerClass {
    type Arg = PartitionerClass;
    fn sample(text: &str) -> Option<PartitionerClass> {
        match text {
            "" => Some(PartitionerClass::BuiltIn),
            ROUND_ROBIN_CLASS => Some(PartitionerClass::RoundRobin),
            _ => None,
        }
    }
}

impl BuilderSample for Option<JavaSerializer> {
    type Arg = Option<JavaSerializer>;
    fn sample(text: &str) -> Option<Option<JavaSerializer>> {
        use JavaSerializer::*;
        if text.is_empty() {
            return Some(None);
        }
        [ByteArray, String, Bytes, ByteBuffer]
            .into_iter()
            .find(|s| s.class_name() == text)
            .map(Some)
    }
}

impl BuilderSample for SecurityProtocol {
    type Arg = SecurityProtocol;
    fn sample(text: &str) -> Option<SecurityProtocol> {
        use SecurityProtocol::*;
        [
            (Plaintext, "PLAINTEXT"),
            (Ssl, "SSL"),
            (SaslPlaintext, "SASL_PLAINTEXT"),
            (SaslSsl, "SASL_SSL"),
        ]
        .into_iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(text))
        .map(|(p, _)| p)
    }
}

impl BuilderSample for MetadataRecoveryStrategy {
    type Arg = MetadataRecoveryStrategy;
    fn sample(text: &str) -> Option<MetadataRecoveryStrategy> {
        use MetadataRecoveryStrategy::*;
        [(None, "none"), (Rebootstrap, "rebootstrap")]
            .into_iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text))
            .map(|(s, _)| s)
    }
}

impl BuilderSample for f64 {
    type Arg = f64;
    fn sample(text: &str) -> Option<f64> {
        text.parse::<f64>().ok().filter(|v| v.is_finite())
    }
}

impl BuilderSample for Option<Password> {
    type Arg = String;
    fn sample(text: &str) -> Option<String> {
        Some(text.into())
    }
}

/// In-range, boundary and out-of-range values for a key, from its declaration.
fn candidates(key: &ConfigKey) -> Vec<String> {
    let mut out = vec![key.default.to_string(), String::new(), "bogus".into()];
    let mut numbers: Vec<i128> = vec![0, 1, -1, -2, i64::MAX.into(), i64::MIN.into()];
    numbers.extend([i128::from(i64::MAX) + 1, u64::MAX.into()]);
    match key.validator() {
        Validator::Range { min, max } => {
            let (min, max) = (i128::from(min), i128::from(max));
            numbers.extend([min - 1, min, min + 1, max - 1, max, max + 1]);
        }
        Validator::RangeOr {
            special, min, max, ..
        } => {
            let (special, min, max) = (i128::from(special), i128::from(min), i128::from(max));
            numbers.extend([
                special - 1,
                special,
                special + 1,
                min - 1,
                min,
                max,
                max + 1,
            ]);
        }
        Validator::OneOf(names) => {
            for name in names {
                out.extend([name.to_string(), name.to_ascii_uppercase()]);
            }
            out.push("SSL".into());
        }
        Validator::Any | Validator::Custom { .. } => {}
    }
    out.extend(numbers.iter().map(i128::to_string));
    out.extend(
        [
            "true",
            "FALSE",
            "yes",
            "h:1",
            "a:1,b:2",
            "a:1,a:1",
            "localhost",
            "PLAINTEXT://h:9092",
            "h:0",
            ROUND_ROBIN_CLASS,
            "com.example.Partitioner",
            "org.apache.kafka.common.serialization.StringSerializer",
            "io.confluent.kafka.serializers.KafkaAvroSerializer",
            "tx-1",
        ]
        .map(String::from),
    );
    out
}

/// The key named in a configuration error, split at `, ` (cross-key errors name several).
fn error_keys(e: &Error) -> Vec<String> {
    match e {
        Error::Config { key, .. } => key.split(", ").map(String::from).collect(),
        other => panic!("expected Error::Config, got {other}"),
    }
}

#[test]
fn properties_and_builder_agree_for_every_key() {
    assert_eq!(BUILDER_SETTERS.len(), KEYS.len());
    let base = "localhost:9092";
    for (key, set_in_builder) in KEYS.iter().zip(BUILDER_SETTERS) {
        // Accepted by both; rejected by both; not writable in Rust (and rejected from properties).
        let (mut accepted, mut rejected, mut unwritable) = (0, 0, 0);
        for text in candidates(key) {
            let via_properties =
                ProducerConfig::from_properties([("bootstrap.servers", base), (key.name, &text)]);
            let builder = ProducerConfig::builder().bootstrap_servers([base]);
            let Some(builder) = set_in_builder(builder, &text) else {
                // No Rust value means this: the properties path must not accept it either.
                let e = via_properties.expect_err(&format!(
                    "{}={text:?} is accepted from properties but cannot be built",
                    key.name
                ));
                assert_eq!(error_keys(&e), [key.name], "{}={text:?}: {e}", key.name);
                unwritable += 1;
                continue;
            };
            let via_builder = builder.build();
            match (via_properties, via_builder) {
                (Ok(p), Ok(b)) => {
                    assert_eq!(
                        p.to_properties(),
                        b.to_properties(),
                        "{}={text:?}",
                        key.name
                    );
                    accepted += 1;
                }
                (Err(p), Err(b)) => {
                    assert_eq!(p.to_string(), b.to_string(), "{}={text:?}", key.name);
                    assert!(
                        error_keys(&p).iter().any(|k| k == key.name),
                        "{}={text:?}: {p}",
                        key.name
                    );
                    rejected += 1;
                }
                (p, b) => panic!(
                    "{}={text:?}: properties gave {p:?}, the builder {b:?}",
                    key.name
                ),
            }
        }
        assert!(accepted > 0, "{}: no accepted candidate", key.name);
        match key.validator() {
            Validator::Any => {}
            Validator::Range { .. } | Validator::RangeOr { .. } => {
                // Out of range yet of the Rust type: both paths must refuse it.
                assert!(rejected > 0, "{}: no value rejected by both", key.name);
            }
            _ => assert!(rejected + unwritable > 0, "{}: nothing rejected", key.name),
        }
    }
}

#[test]
fn batch_size_and_max_request_size_follow_java() {
    // Java: both `int`, atLeast(0).
    for name in ["batch.size", "max.request.size"] {
        for (text, ok) in [
            ("-1", false),
            ("0", true),
            ("1", true),
            ("2147483647", true),
            ("2147483648", false),
        ] {
            let via_properties =
                ProducerConfig::from_properties([("bootstrap.servers", "h:1"), (name, text)]);
            let n: i64 = text.parse().unwrap();
            let builder = ProducerConfig::builder().bootstrap_servers(["h:1"]);
            let via_builder = usize::try_from(n).ok().map(|n| match name {
                "batch.size" => builder.batch_size(n).build(),
                _ => builder.max_request_size(n).build(),
            });
            assert_eq!(via_properties.is_ok(), ok, "{name}={text}");
            match via_builder {
                Some(b) => assert_eq!(b.is_ok(), ok, "{name}={text} (builder)"),
                None => assert!(!ok),
            }
            if let Err(e) = via_properties {
                assert_eq!(error_keys(&e), [name]);
                assert_eq!(
                    e.to_string(),
                    format!(
                        "invalid configuration for `{name}`: expected a non-negative integer \
                         (at most 2147483647), got \"{text}\""
                    )
                );
            }
        }
    }
    // Direct assignment is checked by validate with the same validator.
    let mut c = ProducerConfig::from_properties([("bootstrap.servers", "h:1")]).unwrap();
    c.batch_size = 1 << 31;
    assert_eq!(error_keys(&c.validate().unwrap_err()), ["batch.size"]);
}

#[test]
fn declared_defaults_are_valid_and_are_the_defaults() {
    let c = ProducerConfig::default();
    for key in KEYS {
        assert_eq!(
            c.get(key.name).as_deref(),
            Some(key.default),
            "{}",
            key.name
        );
        if key.name != "bootstrap.servers" {
            (key.ops.check)(&c).unwrap();
        }
        assert!(
            !key.doc.is_empty() && key.doc.ends_with('.'),
            "{}",
            key.name
        );
    }
}

#[test]
fn millisecond_values_up_to_java_long() {
    let max = "9223372036854775807";
    for key in KEYS.iter().filter(|k| k.name.ends_with(".ms")) {
        let max_allowed = match key.validator() {
            Validator::Range { max, .. } | Validator::RangeOr { max, .. } => max,
            other => panic!("{}: {other:?}", key.name),
        };
        let mut c = ProducerConfig::default();
        let r = c.set(key.name, max);
        assert_eq!(r.is_ok(), max_allowed == I64_MAX, "{}", key.name);
        if r.is_ok() {
            assert_eq!(c.get(key.name).unwrap(), max, "{}", key.name);
        }
        assert!(c.set(key.name, "9223372036854775808").is_err());
    }
    // The builder: the largest Duration is more than Java's long, and rejected, not wrapped.
    let r = ProducerConfig::builder()
        .bootstrap_servers(["h:1"])
        .max_block(Duration::MAX)
        .build();
    assert_eq!(error_keys(&r.unwrap_err()), ["max.block.ms"]);
    let c = ProducerConfig::builder()
        .bootstrap_servers(["h:1"])
        .max_block(Duration::from_millis(i64::MAX as u64))
        .linger(Duration::from_micros(2500))
        .build()
        .unwrap();
    assert_eq!(c.get("max.block.ms").unwrap(), max);
    // Sub-millisecond parts are dropped, as a properties string cannot say them.
    assert_eq!(c.linger, Duration::from_millis(2));
}

#[test]
fn passwords_are_never_shown() {
    let p = Password::new("s3cret");
    assert_eq!(format!("{p}"), "[hidden]");
    assert_eq!(format!("{p:?}"), "[hidden]");
    assert_eq!(format!("{:?}", Some(p.clone())), "Some([hidden])");
    assert_eq!(p.value(), "s3cret");
    let set: Option<Password> = ConfigValue::parse("s3cret").unwrap();
    assert_eq!(set.render(), "[hidden]");
    assert_eq!(set.as_ref().map(Password::value), Some("s3cret"));
    let unset: Option<Password> = ConfigValue::parse("").unwrap();
    assert_eq!(unset, None);
    assert_eq!(unset.render(), "");
    let from_builder: Option<Password> = "s3cret".into_config();
    assert_eq!(from_builder, set);
}

#[test]
fn errors_of_password_keys_do_not_show_the_value() {
    let mut key = KEYS[0];
    key.kind = Kind::Password;
    key.validator = Validator::Range { min: 0, max: 9 };
    let e = key.parse::<usize>("s3cret").unwrap_err().to_string();
    assert!(!e.contains("s3cret") && e.contains("[hidden]"), "{e}");
    let e = key
        .check(&Some(Password::new("s3cret")))
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret"), "{e}");
}
