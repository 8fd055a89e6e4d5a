//! A secure connection configured from Java-style properties: TLS (SASL_SSL) with a private
//! CA, and SASL/SCRAM-SHA-512 credentials.
//!
//! With an argument, the properties come from that file (a Java client's
//! `client.properties`, as Kafka's tools take with `--command-config`); without one, from
//! these variables:
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `VOLLEY_BOOTSTRAP` | a SASL_SSL listener | `127.0.0.1:9092` |
//! | `VOLLEY_CA_PEM` | PEM file of the CA that signed the brokers' certificates | the system's roots |
//! | `VOLLEY_SASL_USERNAME`, `VOLLEY_SASL_PASSWORD` | SCRAM credentials | `alice`, (none) |
//!
//! Against Volley's test bed (`scripts/kafka start --brokers 1`), whose `scripts/kafka secure`
//! names the directory of its generated client files:
//!
//! ```sh
//! cargo run -p volley-kafka --example secure_connection -- \
//!     "$(scripts/kafka secure)/client-sasl_ssl-scram-sha-512.properties"
//! ```
//!
//! The topic is `volley-example-secure` (create it first on the test bed). Wrong credentials end the send with `Error::Authentication`, an untrusted certificate with
//! `Error::Tls`; a missing trust store file or a wrong store password is an `Error::Config`
//! naming the key, when the producer is built.

use volley::{Producer, ProducerConfig, Record};

fn config() -> volley::Result<ProducerConfig> {
    if let Some(path) = std::env::args().nth(1) {
        return ProducerConfig::from_properties_file(path);
    }
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let username = var("VOLLEY_SASL_USERNAME", "alice");
    let password = var("VOLLEY_SASL_PASSWORD", "");
    // The same lines a Java client's properties file would hold.
    let mut props = vec![
        (
            "bootstrap.servers".to_string(),
            var("VOLLEY_BOOTSTRAP", "127.0.0.1:9092"),
        ),
        ("security.protocol".into(), "SASL_SSL".into()),
        ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
        (
            "sasl.jaas.config".into(),
            format!(
                "org.apache.kafka.common.security.scram.ScramLoginModule required \
                 username=\"{username}\" password=\"{password}\";"
            ),
        ),
    ];
    if let Ok(ca) = std::env::var("VOLLEY_CA_PEM") {
        props.push(("ssl.truststore.type".into(), "PEM".into()));
        props.push(("ssl.truststore.location".into(), ca));
    }
    ProducerConfig::from_properties(props)
}

fn main() -> volley::Result<()> {
    let config = config()?;
    // Trust and key stores are read here, once; secrets never appear in Debug output or logs.
    let producer = Producer::new(config)?;
    let metadata = producer
        .send(Record::new("volley-example-secure").value("over TLS, as alice"))?
        .wait()?;
    println!(
        "stored at {}-{}@{} over {}",
        metadata.topic,
        metadata.partition,
        metadata.offset,
        producer.config().security_protocol.name()
    );
    producer.close()
}
