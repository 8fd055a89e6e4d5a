//! `volley produce`: Kafka's `kafka-console-producer` (`org.apache.kafka.tools.ConsoleProducer`
//! of Kafka 4.4) on the Volley producer: the same options with the same defaults, and the same
//! reader (`LineMessageReader`, see [`crate::line_reader`]) with the same properties, the same
//! records and the same errors. A few options are Volley's own additions (`--file`,
//! `--key-separator`, `--header`, `--partition`, `--quiet`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use volley::{Error, Header, Payload, Producer, Record, RecordMetadata};

use crate::common::{
    build_config, java_key_value, parse_key_value, print_error, read_properties_file, ConfigSources,
};
use crate::line_reader::{JavaLines, ReaderConfig, LINE_MESSAGE_READER};

/// How many failed records are printed individually.
const MAX_ERRORS_SHOWN: u64 = 5;
/// How often progress is printed on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Args, Debug)]
#[command(
    about = "Send lines from stdin (or a file) to a topic, like kafka-console-producer",
    long_about = "This tool helps to read data from standard input and publish it to Kafka: Kafka's \
                  kafka-console-producer (ConsoleProducer of Kafka 4.4) on the Volley producer, with \
                  the same options, defaults and reader properties.\n\n\
                  Each line is one record. Lines end at '\\n', '\\r' or '\\r\\n' and are read as UTF-8 \
                  (invalid bytes become U+FFFD), as Java reads them. By default the whole line is the \
                  value; the reader properties (--reader-property) parse keys, headers and nulls:\n  \
                  parse.key=false          key.separator=\\t\n  \
                  parse.headers=false      headers.delimiter=\\t\n  \
                  headers.separator=,      (a regular expression)\n  \
                  headers.key.separator=:  ignore.error=false\n  \
                  null.marker=             when set, a key, value or header value equal to it is null\n\
                  With parse.headers=true and parse.key=true a line is \"h1:v1,h2:v2...\\tkey\\tvalue\"; \
                  with parse.key=true \"key\\tvalue\"; with parse.headers=true \"h1:v1,h2:v2...\\tvalue\". \
                  A line that cannot be parsed stops the run (exit code 1) unless ignore.error=true; \
                  the records before it are still delivered.\n\n\
                  As in Kafka's tool, the producer settings default to linger.ms=1000 (--timeout), \
                  acks=-1, request.timeout.ms=1500, retries=3 and send.buffer.bytes=102400 unless \
                  given, and compression.type is always the one of --compression-codec (none without \
                  it). Unlike Kafka's tool, the run fails (exit code 1) if any record was not \
                  acknowledged.",
    after_help = "Examples:\n  \
                  seq 1000 | volley produce --bootstrap-server localhost:9092 --topic numbers\n  \
                  volley produce --bootstrap-server localhost:9092 --topic users \\\n      \
                  --reader-property parse.key=true --reader-property key.separator=: \\\n      \
                  --command-property acks=1 --file users.txt",
    infer_long_args = true
)]
pub struct ProduceArgs {
    /// REQUIRED: The topic name to produce messages to.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,

    /// REQUIRED: The server(s) to connect to, HOST1:PORT1,HOST2:PORT2. (Volley also takes
    /// bootstrap.servers from the producer config instead.)
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT[,...]")]
    pub bootstrap_server: Option<String>,

    /// Send each record synchronously: wait for its acknowledgement before reading the next
    /// line; the run stops at the first record that fails.
    #[arg(long)]
    pub sync: bool,

    /// The compression codec: none, gzip, snappy, lz4 or zstd; gzip if given without a value.
    /// Sets compression.type (to none when not given).
    #[arg(
        long = "compression-codec",
        value_name = "CODEC",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub compression_codec: Option<String>,

    /// batch.size, the buffer size in bytes per partition. (default: 16384)
    #[arg(
        long = "batch-size",
        value_name = "SIZE",
        allow_negative_numbers = true
    )]
    pub batch_size: Option<i32>,

    /// (Deprecated in Kafka; use --batch-size) batch.size; wins over --batch-size.
    #[arg(
        long = "max-partition-memory-bytes",
        value_name = "BYTES",
        allow_negative_numbers = true
    )]
    pub max_partition_memory_bytes: Option<i32>,

    /// retries, the number of retries before a record fails. (default: 3)
    #[arg(
        long = "message-send-max-retries",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub message_send_max_retries: Option<i32>,

    /// retry.backoff.ms, the wait before a retry. (default: 100)
    #[arg(
        long = "retry-backoff-ms",
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub retry_backoff_ms: Option<i64>,

    /// linger.ms, how long a record may wait for its batch to fill. (default: 1000)
    #[arg(long, value_name = "TIMEOUT_MS", allow_negative_numbers = true)]
    pub timeout: Option<i64>,

    /// acks, the acknowledgements required: all/-1, 1 or 0. (default: -1)
    #[arg(
        long = "request-required-acks",
        value_name = "ACKS",
        allow_hyphen_values = true
    )]
    pub request_required_acks: Option<String>,

    /// request.timeout.ms, the ack timeout of the producer requests. (default: 1500)
    #[arg(
        long = "request-timeout-ms",
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub request_timeout_ms: Option<i32>,

    /// metadata.max.age.ms, the period after which metadata is refreshed anyway.
    /// (default: 300000)
    #[arg(
        long = "metadata-expiry-ms",
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub metadata_expiry_ms: Option<i64>,

    /// max.block.ms, the longest a send waits for metadata or buffer space. (default: 60000)
    #[arg(
        long = "max-block-ms",
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub max_block_ms: Option<i64>,

    /// buffer.memory, the bytes of records that may wait to be sent. (default: 33554432)
    #[arg(
        long = "max-memory-bytes",
        value_name = "BYTES",
        allow_negative_numbers = true
    )]
    pub max_memory_bytes: Option<i64>,

    /// send.buffer.bytes, the TCP send buffer size. (default: 102400)
    #[arg(
        long = "socket-buffer-size",
        value_name = "SIZE",
        allow_negative_numbers = true
    )]
    pub socket_buffer_size: Option<i32>,

    /// The reader class. Only Kafka's default, org.apache.kafka.tools.LineMessageReader, is
    /// available (Volley cannot load Java classes).
    #[arg(long = "line-reader", value_name = "READER_CLASS")]
    pub line_reader: Option<String>,

    /// A reader property KEY=VALUE, e.g. parse.key=true (repeatable; see above). Takes
    /// precedence over --reader-config.
    #[arg(long = "reader-property", value_name = "KEY=VALUE")]
    pub reader_property: Vec<String>,

    /// (Deprecated in Kafka; use --reader-property) A reader property KEY=VALUE.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub property: Vec<String>,

    /// A Java .properties file with reader properties.
    #[arg(long = "reader-config", value_name = "FILE")]
    pub reader_config: Option<PathBuf>,

    /// A producer configuration property with its Java name, e.g. acks=1 (repeatable). Takes
    /// precedence over --command-config.
    #[arg(long = "command-property", value_name = "KEY=VALUE")]
    pub command_property: Vec<String>,

    /// (Deprecated in Kafka; use --command-property) A producer configuration property.
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    pub producer_property: Vec<String>,

    /// A Java .properties file with the producer configuration.
    #[arg(long = "command-config", value_name = "FILE")]
    pub command_config: Option<PathBuf>,

    /// (Deprecated in Kafka; use --command-config) A producer configuration file.
    #[arg(long = "producer.config", value_name = "FILE")]
    pub producer_config: Option<PathBuf>,

    /// Volley: read lines from this file instead of stdin.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Volley: shorthand for --reader-property parse.key=true --reader-property
    /// key.separator=SEP (reader properties given explicitly win).
    #[arg(long = "key-separator", value_name = "SEP")]
    pub key_separator: Option<String>,

    /// Volley: add this header to every record, after the parsed ones (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,

    /// Volley: send every record to this partition instead of letting the partitioner choose.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,

    /// Volley: print no progress or summary on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Delivery outcomes, updated from the producer's I/O thread.
struct Tally {
    acked: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn on_result(&self, line: u64, result: volley::Result<RecordMetadata>) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.on_failure(line, "delivery failed", &e),
        }
    }

    fn on_failure(&self, line: u64, what: &str, e: &Error) {
        let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= MAX_ERRORS_SHOWN {
            eprintln!("volley produce: line {line}: {what}: {e}");
        }
    }
}

/// Kafka's checks of the options (`ConsoleProducerOptions.checkArgs`) and its deprecation
/// warnings, which it prints on stdout.
fn check_options(args: &ProduceArgs) -> Result<(), String> {
    if args.command_config.is_some() && args.producer_config.is_some() {
        return Err(
            "Options --command-config and --producer.config cannot be specified together.".into(),
        );
    }
    if !args.command_property.is_empty() && !args.producer_property.is_empty() {
        return Err(
            "Options --command-property and --producer-property cannot be specified together."
                .into(),
        );
    }
    if !args.reader_property.is_empty() && !args.property.is_empty() {
        return Err(
            "Options --reader-property and --property cannot be specified together.".into(),
        );
    }
    if !args.producer_property.is_empty() {
        println!("Warning: --producer-property is deprecated and will be removed in a future version. Use --command-property instead.");
    }
    if args.producer_config.is_some() {
        println!("Warning: --producer.config is deprecated and will be removed in a future version. Use --command-config instead.");
    }
    if !args.property.is_empty() {
        println!("Warning: --property is deprecated and will be removed in a future version. Use --reader-property instead.");
    }
    if args.max_partition_memory_bytes.is_some() {
        println!("Warning: --max-partition-memory-bytes is deprecated and will be removed in Apache Kafka 5.0. Use --batch-size instead.");
    }
    Ok(())
}

/// `ConsoleProducerOptions.readerProps`: the --reader-config file, then the topic, then the
/// --reader-property (or --property) values.
fn reader_config(args: &ProduceArgs) -> Result<ReaderConfig, String> {
    if let Some(class) = args.line_reader.as_deref() {
        if class != LINE_MESSAGE_READER {
            return Err(format!(
                "cannot use the reader class {class}: Volley cannot load Java classes; only the \
                 built-in {LINE_MESSAGE_READER} (the default) is available"
            ));
        }
    }
    let mut props: HashMap<String, String> = HashMap::new();
    if let Some(path) = &args.reader_config {
        props.extend(read_properties_file(path, "reader config file")?);
    }
    props.insert("topic".into(), args.topic.clone());
    if let Some(sep) = &args.key_separator {
        props.insert("parse.key".into(), "true".into());
        props.insert("key.separator".into(), sep.clone());
    }
    let given = if args.property.is_empty() {
        &args.reader_property
    } else {
        &args.property
    };
    props.extend(given.iter().map(|p| java_key_value(p)));
    ReaderConfig::from_properties(&props)
}

/// `ConsoleProducerOptions.producerProps`: the config file, the properties, then the tool's
/// own settings. An option given explicitly wins; otherwise its default applies only when the
/// properties do not set its key (Kafka's `CommandLineUtils.maybeMergeOptions`).
fn producer_props(args: &ProduceArgs) -> Result<Vec<(String, String)>, String> {
    let mut props = match args
        .command_config
        .as_ref()
        .or(args.producer_config.as_ref())
    {
        Some(path) => read_properties_file(path, "producer config file")?,
        None => Vec::new(),
    };
    let (option, given) = if args.producer_property.is_empty() {
        ("--command-property", &args.command_property)
    } else {
        ("--producer-property", &args.producer_property)
    };
    for p in given {
        props.push(parse_key_value(option, p)?);
    }
    fn set(props: &mut Vec<(String, String)>, key: &str, value: String) {
        props.retain(|(k, _)| k != key);
        props.push((key.to_string(), value));
    }
    let codec = match args.compression_codec.as_deref() {
        None => "none",
        Some("") => "gzip",
        Some(c) => c,
    };
    set(&mut props, "compression.type", codec.to_string());
    let s = |v: Option<i64>| v.map(|v| v.to_string());
    let merges: [(&str, Option<String>, &str); 11] = [
        ("linger.ms", s(args.timeout), "1000"),
        ("acks", args.request_required_acks.clone(), "-1"),
        (
            "request.timeout.ms",
            s(args.request_timeout_ms.map(i64::from)),
            "1500",
        ),
        (
            "retries",
            s(args.message_send_max_retries.map(i64::from)),
            "3",
        ),
        ("retry.backoff.ms", s(args.retry_backoff_ms), "100"),
        (
            "send.buffer.bytes",
            s(args.socket_buffer_size.map(i64::from)),
            "102400",
        ),
        ("buffer.memory", s(args.max_memory_bytes), "33554432"),
        ("batch.size", s(args.batch_size.map(i64::from)), "16384"),
        (
            "batch.size",
            s(args.max_partition_memory_bytes.map(i64::from)),
            "16384",
        ),
        ("metadata.max.age.ms", s(args.metadata_expiry_ms), "300000"),
        ("max.block.ms", s(args.max_block_ms), "60000"),
    ];
    for (key, given, default) in merges {
        match given {
            Some(v) => set(&mut props, key, v),
            None if !props.iter().any(|(k, _)| k == key) => {
                set(&mut props, key, default.to_string())
            }
            None => {}
        }
    }
    Ok(props)
}

pub fn run(args: ProduceArgs) -> i32 {
    match run_inner(&args) {
        Ok(code) => code,
        Err(message) => {
            print_error("produce", message);
            1
        }
    }
}

fn run_inner(args: &ProduceArgs) -> Result<i32, String> {
    check_options(args)?;
    let reader = reader_config(args)?;
    let mut extra_headers: Vec<Header<'_>> = Vec::with_capacity(args.headers.len());
    for h in &args.headers {
        let (k, v) = parse_key_value("--header", h)?;
        extra_headers.push(Header::new(k, v.into_bytes()));
    }
    let config = build_config(ConfigSources {
        file: None,
        props: producer_props(args)?,
        bootstrap: args.bootstrap_server.as_deref(),
        default_client_id: "console-producer",
    })?;
    // Java prints a prompt before each line when it runs on a terminal (System.console()).
    let prompt =
        args.file.is_none() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::with_capacity(
            1 << 16,
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = JavaLines::new(input);
    let producer = Producer::new(config).map_err(|e| format!("cannot create the producer: {e}"))?;

    // Callbacks need 'static data; one small leak per run spares an Arc per record.
    let tally: &'static Tally = Box::leak(Box::new(Tally {
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    }));
    let start = Instant::now();
    let mut last_progress = start;
    let mut sent: u64 = 0;
    let mut rejected: u64 = 0;
    let mut line_no: u64 = 0;
    let mut stop: Option<String> = None;
    loop {
        if prompt {
            print!(">");
            let _ = std::io::stdout().flush();
        }
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                stop = Some(format!("cannot read input after line {line_no}: {e}"));
                break;
            }
        };
        line_no += 1;
        let parsed = match reader.parse(&line, line_no) {
            Ok(p) => p,
            Err(e) => {
                stop = Some(e);
                break;
            }
        };
        let mut headers: Vec<Header<'_>> = parsed
            .headers
            .iter()
            .map(|&(k, v)| Header {
                key: Cow::Borrowed(k),
                value: v.map(|v| Payload(Cow::Borrowed(v.as_bytes()))),
            })
            .collect();
        headers.extend(extra_headers.iter().cloned());
        let record = Record {
            topic: Cow::Borrowed(reader.topic.as_str()),
            partition: args.partition,
            key: parsed.key.map(|k| Payload(Cow::Borrowed(k.as_bytes()))),
            value: parsed.value.map(|v| Payload(Cow::Borrowed(v.as_bytes()))),
            headers,
            timestamp: None,
        };
        let n = line_no;
        let result = if args.sync {
            match producer.send(record) {
                Ok(future) => {
                    sent += 1;
                    match future.wait() {
                        Ok(_) => {
                            tally.acked.fetch_add(1, Ordering::Relaxed);
                            Ok(())
                        }
                        Err(e) => {
                            tally.on_failure(n, "delivery failed", &e);
                            stop = Some(format!(
                                "stopped at line {n}: its record was not acknowledged (--sync)"
                            ));
                            break;
                        }
                    }
                }
                Err(e) => Err(e),
            }
        } else {
            producer
                .send_with_callback(record, move |r| tally.on_result(n, r.map_err(Error::from)))
                .map(|()| sent += 1)
        };
        if let Err(e) = result {
            // A record too large fails alone; anything else (unknown topic, closed or failed
            // producer, bad partition) would fail every following record too.
            if matches!(e.error(), Error::RecordTooLarge { .. }) {
                rejected += 1;
                tally.on_failure(n, "not sent", &e);
            } else {
                stop = Some(format!("line {n}: not sent: {e}"));
                break;
            }
        }
        if !args.quiet && last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            eprintln!(
                "{sent} records sent, {} acknowledged",
                tally.acked.load(Ordering::Relaxed)
            );
        }
    }
    drop(lines);

    let closed = producer.close();
    let acked = tally.acked.load(Ordering::Relaxed);
    // Records that `send` refused plus records whose delivery failed.
    let failed = tally.failed.load(Ordering::Relaxed);
    let unresolved = sent.saturating_sub(acked + (failed - rejected));
    if !args.quiet {
        eprintln!(
            "{sent} records sent, {acked} acknowledged, {failed} failed ({} lines read in {:.1} s)",
            line_no,
            start.elapsed().as_secs_f64()
        );
    }
    let mut ok = true;
    if failed > MAX_ERRORS_SHOWN {
        eprintln!(
            "volley produce: ({} more failed records not shown)",
            failed - MAX_ERRORS_SHOWN
        );
    }
    if let Err(e) = closed {
        print_error("produce", format!("close: {e}"));
        ok = false;
    }
    if let Some(msg) = stop {
        print_error("produce", msg);
        ok = false;
    }
    if failed > 0 {
        print_error(
            "produce",
            format!("{failed} record(s) failed; the first errors are shown above"),
        );
        ok = false;
    }
    if unresolved > 0 {
        print_error(
            "produce",
            format!("{unresolved} record(s) were not resolved at close"),
        );
        ok = false;
    }
    Ok(if ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProduceArgs,
    }

    fn parse(extra: &[&str]) -> ProduceArgs {
        let mut argv = vec!["produce", "--topic", "t", "--bootstrap-server", "h:1"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    fn get<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
        props
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn producer_defaults_like_the_java_tool() {
        let props = producer_props(&parse(&[])).unwrap();
        for (k, v) in [
            ("linger.ms", "1000"),
            ("acks", "-1"),
            ("request.timeout.ms", "1500"),
            ("retries", "3"),
            ("retry.backoff.ms", "100"),
            ("send.buffer.bytes", "102400"),
            ("buffer.memory", "33554432"),
            ("batch.size", "16384"),
            ("metadata.max.age.ms", "300000"),
            ("max.block.ms", "60000"),
            ("compression.type", "none"),
        ] {
            assert_eq!(get(&props, k), Some(v), "{k}");
        }
    }

    #[test]
    fn options_win_then_properties_then_defaults() {
        let props = producer_props(&parse(&[
            "--command-property",
            "linger.ms=7",
            "--command-property",
            "acks=1",
            "--command-property",
            "compression.type=lz4",
            "--request-required-acks",
            "0",
            "--batch-size",
            "100",
            "--max-partition-memory-bytes",
            "200",
            "--compression-codec",
        ]))
        .unwrap();
        assert_eq!(get(&props, "linger.ms"), Some("7"));
        assert_eq!(get(&props, "acks"), Some("0"));
        assert_eq!(get(&props, "batch.size"), Some("200"));
        assert_eq!(get(&props, "compression.type"), Some("gzip"));
        let props = producer_props(&parse(&["--compression-codec", "zstd"])).unwrap();
        assert_eq!(get(&props, "compression.type"), Some("zstd"));
        let props = producer_props(&parse(&["--request-required-acks", "-1"])).unwrap();
        assert_eq!(get(&props, "acks"), Some("-1"));
    }

    #[test]
    fn reader_properties_and_their_aliases() {
        let r = reader_config(&parse(&[
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ]))
        .unwrap();
        assert!(r.parse_key);
        assert_eq!(r.key_separator, ":");
        let r = reader_config(&parse(&[
            "--key-separator",
            "=",
            "--reader-property",
            "key.separator=::",
        ]))
        .unwrap();
        assert!(r.parse_key);
        assert_eq!(r.key_separator, "::");
        // A reader property can even change the topic, as in Java.
        let r = reader_config(&parse(&["--reader-property", "topic=other"])).unwrap();
        assert_eq!(r.topic, "other");
        let e = reader_config(&parse(&["--line-reader", "com.example.MyReader"])).unwrap_err();
        assert!(e.contains("com.example.MyReader"), "{e}");
        assert!(reader_config(&parse(&["--line-reader", LINE_MESSAGE_READER])).is_ok());
    }

    #[test]
    fn deprecated_and_new_options_conflict() {
        for (a, b) in [
            (["--command-config", "x"], ["--producer.config", "y"]),
            (
                ["--command-property", "a=1"],
                ["--producer-property", "b=2"],
            ),
            (["--reader-property", "a=1"], ["--property", "b=2"]),
        ] {
            let args = parse(&[a[0], a[1], b[0], b[1]]);
            let e = check_options(&args).unwrap_err();
            assert!(e.contains("cannot be specified together"), "{e}");
        }
    }
}
