//! `volley produce`: lines from stdin or a file to a topic, like `kafka-console-producer` and
//! `kcat -P`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use volley::{Error, Header, Payload, Producer, Record, RecordMetadata};

use crate::common::{build_config, parse_key_value, print_error, ConfigSources};

/// How many failed records are printed individually.
const MAX_ERRORS_SHOWN: u64 = 5;
/// How often progress is printed on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Args, Debug)]
#[command(
    about = "Send lines from stdin (or a file) to a topic, one record per line",
    long_about = "Send lines from stdin (or --file) to a topic, one record per line, like \
                  kafka-console-producer and kcat -P.\n\n\
                  Lines end at '\\n' (a trailing '\\r' is removed); an empty line is a record with an \
                  empty value. Values are sent as raw bytes, so input need not be UTF-8. Records are \
                  pipelined; at the end the producer is flushed and closed, and the run fails (exit \
                  code 1) if any record was not acknowledged.",
    after_help = "Examples:\n  \
                  seq 1000 | volley produce --bootstrap-server localhost:9092 --topic numbers\n  \
                  volley produce --bootstrap-server localhost:9092 --topic users --key-separator : \\\n      \
                  --header source=import --producer-property acks=1 --file users.txt"
)]
pub struct ProduceArgs {
    /// Topic to produce to.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,

    /// Brokers to bootstrap from. Required unless bootstrap.servers is in the producer config;
    /// takes precedence over it.
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT[,...]")]
    pub bootstrap_server: Option<String>,

    /// Read lines from this file instead of stdin.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Split each line at the first SEP into key and value (Kafka's parse.key with
    /// key.separator). A line without SEP fails the run, naming its line number. For a tab,
    /// pass a real tab (in bash: --key-separator $'\t').
    #[arg(long = "key-separator", value_name = "SEP")]
    pub key_separator: Option<String>,

    /// Add this header to every record (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,

    /// Send every record to this partition instead of letting the partitioner choose.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,

    /// A producer configuration property with its Java name, e.g. acks=1 or linger.ms=10
    /// (repeatable; takes precedence over --producer.config).
    #[arg(
        long = "producer-property",
        visible_alias = "command-property",
        value_name = "KEY=VALUE"
    )]
    pub producer_properties: Vec<String>,

    /// A Java .properties file with the producer configuration.
    #[arg(
        long = "producer.config",
        visible_alias = "command-config",
        value_name = "FILE"
    )]
    pub producer_config: Option<PathBuf>,

    /// Wait for each record to be acknowledged before reading the next line (slow); the run
    /// stops at the first record that fails.
    #[arg(long)]
    pub sync: bool,

    /// Print no progress or summary (errors are still printed).
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

/// Finds the first occurrence of `needle` (non-empty) in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn show_line(line: &[u8]) -> String {
    const MAX: usize = 200;
    let s = String::from_utf8_lossy(line);
    if s.chars().count() > MAX {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    } else {
        s.into_owned()
    }
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
    let separator = match &args.key_separator {
        Some(s) if s.is_empty() => return Err("--key-separator must not be empty".into()),
        Some(s) => Some(s.as_bytes()),
        None => None,
    };
    let mut headers: Vec<Header<'_>> = Vec::with_capacity(args.headers.len());
    for h in &args.headers {
        let (k, v) = parse_key_value("--header", h)?;
        headers.push(Header::new(k, v.into_bytes()));
    }
    let props = args
        .producer_properties
        .iter()
        .map(|p| parse_key_value("--producer-property", p))
        .collect::<Result<Vec<_>, _>>()?;
    let config = build_config(ConfigSources {
        file: args.producer_config.as_deref(),
        props,
        bootstrap: args.bootstrap_server.as_deref(),
        default_client_id: "console-producer",
    })?;
    let mut input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::with_capacity(
            1 << 16,
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
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
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                stop = Some(format!("cannot read input after line {line_no}: {e}"));
                break;
            }
        }
        line_no += 1;
        let mut line = buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        let (key, value) = match separator {
            None => (None, line),
            Some(sep) => match find(line, sep) {
                Some(i) => (Some(&line[..i]), &line[i + sep.len()..]),
                None => {
                    stop = Some(format!(
                        "No key separator found on line number {line_no}: '{}'",
                        show_line(line)
                    ));
                    break;
                }
            },
        };
        let record = Record {
            topic: Cow::Borrowed(args.topic.as_str()),
            partition: args.partition,
            key: key.map(|k| Payload(Cow::Borrowed(k))),
            value: Some(Payload(Cow::Borrowed(value))),
            headers: headers.clone(),
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
                .send_with_callback(record, move |r| tally.on_result(n, r))
                .map(|()| sent += 1)
        };
        if let Err(e) = result {
            // A record too large fails alone; anything else (unknown topic, closed or failed
            // producer, bad partition) would fail every following record too.
            if matches!(e, Error::RecordTooLarge { .. }) {
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
    drop(input);

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

    #[test]
    fn find_separator() {
        assert_eq!(find(b"k:v", b":"), Some(1));
        assert_eq!(find(b"k::v::", b"::"), Some(1));
        assert_eq!(find(b"kv", b"::"), None);
        assert_eq!(find(b"", b":"), None);
        assert_eq!(find(b":", b"::"), None);
    }
}
