//! volley-chaos: the driver behind `scripts/chaos` and `scripts/soak`.
//!
//! ```text
//! volley-chaos run   BOOTSTRAP IDEM_TOPIC TXN_TOPIC LEDGER [k=v ...]
//! volley-chaos check LEDGER IDEM_LOG TXN_COMMITTED_LOG TXN_UNCOMMITTED_LOG [--strict]
//! volley-chaos soak  BOOTSTRAP TOPIC [k=v ...]
//! ```
//!
//! `run` sends from two producers at once, each record's value unique and checkable: an
//! idempotent producer (`acks=all`, idempotence on: Volley's defaults) sends `i-<seq>` to
//! IDEM_TOPIC, and a transactional producer sends `t-<txn>-<k>` to TXN_TOPIC in transactions
//! of `txn.size` records, aborting every `abort.every`-th one on purpose. Every send's outcome
//! (acknowledged with partition and offset, failed with its error kind, or never resolved) and
//! every transaction's outcome is written to the LEDGER file at the end. Options (`k=v`):
//! `seconds` (default 60), `rate` (idempotent records per second, default 2000), `txn.rate`
//! (default 1000), `txn.size` (default 50), `abort.every` (default 5), `txn.id` (default
//! `volley-chaos`); any other `k=v` is a producer property for both producers.
//!
//! `check` reads the ledger and what Kafka's console consumer printed (scripts/kafka consume:
//! IDEM_TOPIC read_uncommitted, TXN_TOPIC read_committed and read_uncommitted) and prints the
//! figures; with `--strict` it exits 1 on any loss, duplicate, reorder, unresolved send or
//! transaction seen partly or wrongly.
//!
//! `soak` sends 100-byte records at a fixed rate and prints, every interval, the process's
//! RSS, open file descriptors and threads (from /proc/self) and the producer's buffer
//! accounting; half-way it runs a command (scripts/soak restarts the broker). At the end it
//! says whether any figure grew without bound, comparing the last third of the samples with
//! the middle third, and exits 1 if one did. Options: `minutes` (default 30), `rate` (default
//! 1000), `interval.s` (default 60), `restart.cmd` (default none), `restarts` (how many times
//! to run it, evenly spread over the run; default 1); other `k=v` are producer properties.

mod check;
mod run;
mod soak;

use std::collections::BTreeMap;

/// Splits `k=v` arguments into the tool's own options (those named in `own`) and producer
/// properties.
pub(crate) fn split_options(
    args: &[String],
    own: &[&str],
) -> (BTreeMap<String, String>, Vec<(String, String)>) {
    let mut opts = BTreeMap::new();
    let mut props = Vec::new();
    for kv in args {
        let Some((k, v)) = kv.split_once('=') else {
            die(&format!("expected k=v, got {kv:?}"));
        };
        if own.contains(&k) {
            opts.insert(k.to_string(), v.to_string());
        } else {
            props.push((k.to_string(), v.to_string()));
        }
    }
    (opts, props)
}

/// The option `k` parsed, or `default`.
pub(crate) fn opt<T: std::str::FromStr>(opts: &BTreeMap<String, String>, k: &str, default: T) -> T {
    match opts.get(k) {
        None => default,
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| die(&format!("bad value {v:?} for {k}"))),
    }
}

/// The name of an error's kind: its variant, with the cause's for `Fatal` and `Abortable`
/// (e.g. `Fatal(Broker)`), and the broker error code's name for `Broker`.
pub(crate) fn kind(e: &volley::Error) -> String {
    let debug = format!("{e:?}");
    let variant: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    match e {
        volley::Error::Fatal(inner) | volley::Error::Abortable(inner) => {
            format!("{variant}({})", kind(inner))
        }
        volley::Error::Broker { code, .. } => format!("Broker({code:?})"),
        volley::Error::Request { api, code, .. } => format!("Request({api} {code:?})"),
        volley::Error::DeliveryTimeout {
            last_error: Some(last),
            ..
        } => format!("DeliveryTimeout(last {})", kind(last)),
        _ => variant,
    }
}

pub(crate) fn die(msg: &str) -> ! {
    eprintln!("volley-chaos: {msg}");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: volley-chaos run BOOTSTRAP IDEM_TOPIC TXN_TOPIC LEDGER [k=v ...]\n       \
                 volley-chaos check LEDGER IDEM_LOG TXN_COMMITTED_LOG TXN_UNCOMMITTED_LOG [--strict]\n       \
                 volley-chaos soak BOOTSTRAP TOPIC [k=v ...]";
    match args.get(1).map(String::as_str) {
        Some("run") if args.len() >= 6 => {
            run::main(&args[2], &args[3], &args[4], &args[5], &args[6..])
        }
        Some("check") if args.len() >= 6 => {
            let strict = args[6..].iter().any(|a| a == "--strict");
            let ok = check::main(&args[2], &args[3], &args[4], &args[5]);
            if strict && !ok {
                std::process::exit(1);
            }
        }
        Some("soak") if args.len() >= 4 => {
            if !soak::main(&args[2], &args[3], &args[4..]) {
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
