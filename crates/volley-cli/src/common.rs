//! What both subcommands share: turning the command line's producer settings into a
//! [`ProducerConfig`], and reporting errors.

use std::path::Path;

use volley::config::parse_properties;
use volley::{Error, ProducerConfig};

const BYTE_ARRAY_SERIALIZER: &str = "org.apache.kafka.common.serialization.ByteArraySerializer";

/// Where the producer's configuration comes from, in increasing precedence: a Java
/// `.properties` file, `key=value` properties, the `--bootstrap-server` option. Like Kafka's
/// tools, `client.id` gets a default when none is given, and the serializers are always the
/// byte-array ones (the tools send bytes).
pub struct ConfigSources<'a> {
    pub file: Option<&'a Path>,
    pub props: Vec<(String, String)>,
    pub bootstrap: Option<&'a str>,
    pub default_client_id: &'a str,
}

/// Reads a Java `.properties` file into ordered `(key, value)` pairs (UTF-8, or ISO-8859-1 when
/// it is not valid UTF-8, as Java reads it). `what` names the file in errors, e.g. "producer
/// config file".
pub fn read_properties_file(path: &Path, what: &str) -> Result<Vec<(String, String)>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    Ok(parse_properties(&text))
}

/// Builds and validates the configuration. Errors are ready to print; a configuration error
/// names the key at fault.
pub fn build_config(src: ConfigSources<'_>) -> Result<ProducerConfig, String> {
    let mut props = match src.file {
        Some(path) => read_properties_file(path, "producer config file")?,
        None => Vec::new(),
    };
    props.extend(src.props);
    if let Some(b) = src.bootstrap {
        props.push(("bootstrap.servers".to_string(), b.to_string()));
    }
    if !props.iter().any(|(k, _)| k.trim() == "client.id") {
        props.push(("client.id".to_string(), src.default_client_id.to_string()));
    }
    props.push((
        "key.serializer".to_string(),
        BYTE_ARRAY_SERIALIZER.to_string(),
    ));
    props.push((
        "value.serializer".to_string(),
        BYTE_ARRAY_SERIALIZER.to_string(),
    ));
    let has_bootstrap = props
        .iter()
        .any(|(k, v)| k.trim() == "bootstrap.servers" && !v.trim().is_empty());
    ProducerConfig::from_properties(props).map_err(|e| match e {
        Error::Config { ref key, .. } if key == "bootstrap.servers" && !has_bootstrap => {
            "no bootstrap servers: give --bootstrap-server HOST:PORT[,HOST:PORT...] \
             or set bootstrap.servers in the producer config"
                .to_string()
        }
        e => e.to_string(),
    })
}

/// Parses `KEY=VALUE` (split at the first `=`; the value may be empty or contain `=`), as
/// Kafka's console tools parse `--command-property`.
pub fn parse_key_value(option: &str, s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("invalid {option} {s:?}: expected KEY=VALUE")),
    }
}

/// Kafka's `CommandLineUtils.parseKeyValueArgs` as the console tools use it: `KEY=VALUE`
/// split at the first `=`, nothing trimmed, and a missing value (`KEY` or `KEY=`) is empty.
pub fn java_key_value(s: &str) -> (String, String) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// Prints `volley <cmd>: error: <message>` on stderr.
pub fn print_error(cmd: &str, message: impl std::fmt::Display) {
    eprintln!("volley {cmd}: error: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_first_equals() {
        assert_eq!(
            parse_key_value("--x", "a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert_eq!(
            parse_key_value("--x", "a=").unwrap(),
            ("a".into(), "".into())
        );
        assert!(parse_key_value("--x", "novalue").is_err());
        assert!(parse_key_value("--x", "=v").is_err());
    }

    #[test]
    fn config_precedence_and_defaults() {
        let cfg = build_config(ConfigSources {
            file: None,
            props: vec![
                ("bootstrap.servers".into(), "127.0.0.1:1".into()),
                ("linger.ms".into(), "7".into()),
            ],
            bootstrap: Some("127.0.0.1:2"),
            default_client_id: "tool",
        })
        .unwrap();
        assert_eq!(cfg.bootstrap_servers, vec!["127.0.0.1:2".to_string()]);
        assert_eq!(cfg.client_id, "tool");
        assert_eq!(cfg.linger, std::time::Duration::from_millis(7));
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = build_config(ConfigSources {
            file: None,
            props: vec![("linger.ms".into(), "abc".into())],
            bootstrap: Some("127.0.0.1:2"),
            default_client_id: "tool",
        })
        .unwrap_err();
        assert!(err.contains("linger.ms"), "{err}");
        let err = build_config(ConfigSources {
            file: None,
            props: vec![],
            bootstrap: None,
            default_client_id: "tool",
        })
        .unwrap_err();
        assert!(err.contains("--bootstrap-server"), "{err}");
    }
}
