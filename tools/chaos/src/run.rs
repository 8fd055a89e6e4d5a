//! `volley-chaos run`: an idempotent and a transactional producer sending at once, each send's
//! outcome written to a ledger.
//!
//! Ledger lines (one TAB between fields):
//! ```text
//! I <seq> A <partition> <offset>     idempotent record i-<seq> acknowledged
//! I <seq> F <kind>                   failed after it was accepted (kind: see crate::kind)
//! I <seq> R <kind>                   refused by send itself (never accepted)
//! I <seq> P                          accepted but never resolved (a bug)
//! T <txn> <k> A|F|R|P ...            the same for transactional record t-<txn>-<k>
//! X <txn> <outcome> <records>        committed | aborted (on purpose) | aborted-after-error
//!                                    <kind> | unknown <kind> (the producer failed mid-way:
//!                                    all or nothing may be visible)
//! ```
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volley::{Error, Producer, ProducerConfig, Record};

use crate::{die, kind, opt, split_options};

#[derive(Clone, Debug)]
enum Outcome {
    Pending,
    Acked(i32, i64),
    Failed(String),
    Refused(String),
}

impl Outcome {
    fn ledger(&self) -> String {
        match self {
            Outcome::Pending => "P".into(),
            Outcome::Acked(p, o) => format!("A\t{p}\t{o}"),
            Outcome::Failed(k) => format!("F\t{k}"),
            Outcome::Refused(k) => format!("R\t{k}"),
        }
    }
}

type Slots = Arc<Mutex<Vec<Outcome>>>;

/// Sends `record` with a callback that stores its outcome in `slots[index]`.
fn send_tracked(producer: &Producer, record: Record<'_>, slots: &Slots, index: usize) {
    let s = slots.clone();
    let r = producer.send_with_callback(record, move |result| {
        let o = match result {
            Ok(md) => Outcome::Acked(md.partition, md.offset),
            Err(e) => Outcome::Failed(kind(&e)),
        };
        s.lock().unwrap()[index] = o;
    });
    if let Err(e) = r {
        slots.lock().unwrap()[index] = Outcome::Refused(kind(&e));
    }
}

/// Paces a loop at `rate` per second: how many items are due by now.
struct Pacer {
    start: Instant,
    rate: f64,
}

impl Pacer {
    fn due(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * self.rate) as u64
    }
    /// Waits until item `n` is due.
    fn wait_for(&self, n: u64) {
        while self.due() < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn config(bootstrap: &str, props: &[(String, String)], extra: &[(&str, &str)]) -> ProducerConfig {
    let mut all: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all.extend(props.iter().cloned());
    ProducerConfig::from_properties(all).unwrap_or_else(|e| die(&format!("config: {e}")))
}

/// Closes `producer` after a flush bounded by `bound` (a hang must not hang the run: what is
/// left pending is counted as unresolved).
fn finish(producer: &Producer, bound: Duration, who: &str) {
    if let Err(e) = producer.flush_timeout(bound) {
        eprintln!("chaos: {who}: flush: {e}");
    }
    if let Err(e) = producer.close_timeout(Duration::from_secs(30)) {
        eprintln!("chaos: {who}: close: {e}");
    }
}

fn idempotent(
    bootstrap: &str,
    topic: &str,
    props: &[(String, String)],
    seconds: f64,
    rate: f64,
) -> Vec<Outcome> {
    let producer = Producer::new(config(bootstrap, props, &[]))
        .unwrap_or_else(|e| die(&format!("idempotent producer: {e}")));
    let slots: Slots = Arc::new(Mutex::new(Vec::new()));
    let pacer = Pacer {
        start: Instant::now(),
        rate,
    };
    let mut seq: u64 = 0;
    while pacer.start.elapsed().as_secs_f64() < seconds {
        let due = pacer.due();
        if seq >= due {
            pacer.wait_for(seq + 1);
            continue;
        }
        while seq < due {
            let index = {
                let mut s = slots.lock().unwrap();
                s.push(Outcome::Pending);
                s.len() - 1
            };
            let value = format!("i-{seq}");
            send_tracked(
                &producer,
                Record::new(topic).value(value.as_bytes()),
                &slots,
                index,
            );
            seq += 1;
        }
    }
    finish(&producer, Duration::from_secs(180), "idempotent");
    let out = slots.lock().unwrap().clone();
    out
}

struct TxnLog {
    /// (txn, k) → slot index.
    records: Vec<(u64, u64)>,
    slots: Slots,
    /// txn → (outcome, records).
    outcomes: BTreeMap<u64, (String, u64)>,
}

/// Calls `f` until it returns anything but `Error::Timeout` (the documented way to keep
/// waiting for the same transactional step), at most `tries` times.
fn retry_timeout(tries: u32, mut f: impl FnMut() -> volley::Result<()>) -> volley::Result<()> {
    let mut n = 0;
    loop {
        match f() {
            Err(Error::Timeout { .. }) if n + 1 < tries => n += 1,
            r => return r,
        }
    }
}

fn new_txn_producer(bootstrap: &str, props: &[(String, String)], txn_id: &str) -> Producer {
    for _ in 0..5 {
        let p = Producer::new(config(bootstrap, props, &[("transactional.id", txn_id)]))
            .unwrap_or_else(|e| die(&format!("transactional producer: {e}")));
        match retry_timeout(10, || p.init_transactions()) {
            Ok(()) => return p,
            Err(e) => {
                eprintln!("chaos: init_transactions: {e}; a new producer");
                let _ = p.close_timeout(Duration::from_secs(5));
            }
        }
    }
    die("init_transactions failed 5 times");
}

#[allow(clippy::too_many_arguments)]
fn transactional(
    bootstrap: &str,
    topic: &str,
    props: &[(String, String)],
    seconds: f64,
    rate: f64,
    size: u64,
    abort_every: u64,
    txn_id: &str,
) -> TxnLog {
    let mut producer = new_txn_producer(bootstrap, props, txn_id);
    let mut log = TxnLog {
        records: Vec::new(),
        slots: Arc::new(Mutex::new(Vec::new())),
        outcomes: BTreeMap::new(),
    };
    let pacer = Pacer {
        start: Instant::now(),
        rate,
    };
    let mut sent: u64 = 0;
    let mut txn: u64 = 0;
    while pacer.start.elapsed().as_secs_f64() < seconds {
        if let Err(e) = producer.begin_transaction() {
            eprintln!("chaos: begin_transaction: {e}; a new producer");
            let _ = producer.close_timeout(Duration::from_secs(5));
            producer = new_txn_producer(bootstrap, props, txn_id);
            continue;
        }
        for k in 0..size {
            pacer.wait_for(sent + 1);
            let index = {
                let mut s = log.slots.lock().unwrap();
                s.push(Outcome::Pending);
                s.len() - 1
            };
            log.records.push((txn, k));
            let value = format!("t-{txn}-{k}");
            send_tracked(
                &producer,
                Record::new(topic).value(value.as_bytes()),
                &log.slots,
                index,
            );
            sent += 1;
        }
        let outcome = if abort_every > 0 && txn % abort_every == abort_every - 1 {
            // Written first, so that hiding them is read_committed's work (abort markers), not
            // the records never leaving the producer.
            let _ = producer.flush_timeout(Duration::from_secs(60));
            match retry_timeout(5, || producer.abort_transaction()) {
                Ok(()) => "aborted".to_string(),
                Err(e) => format!("unknown\t{}", kind(&e)),
            }
        } else {
            match retry_timeout(5, || producer.commit_transaction()) {
                Ok(()) => "committed".to_string(),
                Err(e @ Error::Abortable(_)) => {
                    match retry_timeout(5, || producer.abort_transaction()) {
                        Ok(()) => format!("aborted-after-error\t{}", kind(&e)),
                        Err(e2) => format!("unknown\t{}+{}", kind(&e), kind(&e2)),
                    }
                }
                Err(e) => format!("unknown\t{}", kind(&e)),
            }
        };
        if outcome.starts_with("unknown") {
            eprintln!("chaos: transaction {txn}: {outcome}; a new producer");
            finish(&producer, Duration::from_secs(10), "transactional");
            producer = new_txn_producer(bootstrap, props, txn_id);
        }
        log.outcomes.insert(txn, (outcome, size));
        txn += 1;
    }
    finish(&producer, Duration::from_secs(180), "transactional");
    log
}

pub fn main(bootstrap: &str, idem_topic: &str, txn_topic: &str, ledger: &str, args: &[String]) {
    let own = [
        "seconds",
        "rate",
        "txn.rate",
        "txn.size",
        "abort.every",
        "txn.id",
    ];
    let (opts, props) = split_options(args, &own);
    let seconds: f64 = opt(&opts, "seconds", 60.0);
    let rate: f64 = opt(&opts, "rate", 2000.0);
    let txn_rate: f64 = opt(&opts, "txn.rate", 1000.0);
    let size: u64 = opt(&opts, "txn.size", 50);
    let abort_every: u64 = opt(&opts, "abort.every", 5);
    let txn_id: String = opt(&opts, "txn.id", "volley-chaos".to_string());
    let t0 = Instant::now();
    let (b, t, p) = (bootstrap.to_string(), idem_topic.to_string(), props.clone());
    let idem = std::thread::spawn(move || idempotent(&b, &t, &p, seconds, rate));
    let txn = transactional(
        bootstrap,
        txn_topic,
        &props,
        seconds,
        txn_rate,
        size,
        abort_every,
        &txn_id,
    );
    let idem = idem.join().expect("idempotent thread");
    let mut out = String::new();
    for (seq, o) in idem.iter().enumerate() {
        let _ = writeln!(out, "I\t{seq}\t{}", o.ledger());
    }
    let slots = txn.slots.lock().unwrap();
    for ((n, k), o) in txn.records.iter().zip(slots.iter()) {
        let _ = writeln!(out, "T\t{n}\t{k}\t{}", o.ledger());
    }
    for (n, (outcome, size)) in &txn.outcomes {
        let _ = writeln!(out, "X\t{n}\t{outcome}\t{size}");
    }
    std::fs::write(ledger, out).unwrap_or_else(|e| die(&format!("write {ledger}: {e}")));
    eprintln!(
        "chaos: sent {} idempotent and {} transactional records ({} transactions) in {:.1} s; ledger {ledger}",
        idem.len(),
        slots.len(),
        txn.outcomes.len(),
        t0.elapsed().as_secs_f64()
    );
}
