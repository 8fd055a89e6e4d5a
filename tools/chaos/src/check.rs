//! `volley-chaos check`: the ledger of `run` against what Kafka's console consumer read back.
//!
//! The logs are `scripts/kafka consume` output: one line per record,
//! `<ts>\tPartition:<p>\tOffset:<o>\t<headers>\t<key>\t<value>`.
use std::collections::{BTreeMap, HashMap};

use crate::die;

/// One record as read back: partition, offset, value.
struct Read {
    partition: i32,
    offset: i64,
    value: String,
}

fn read_log(path: &str) -> Vec<Read> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| die(&format!("read {path}: {e}")));
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 6 {
            continue;
        }
        let (Some(p), Some(o)) = (
            f[1].strip_prefix("Partition:"),
            f[2].strip_prefix("Offset:"),
        ) else {
            continue;
        };
        match (p.parse(), o.parse()) {
            (Ok(partition), Ok(offset)) => out.push(Read {
                partition,
                offset,
                value: f[f.len() - 1].to_string(),
            }),
            _ => die(&format!("{path}: bad line {line:?}")),
        }
    }
    // Per partition in offset order (the consumer interleaves partitions).
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// Where each record of `log` (in partition and offset order) was read, by the id `id_of`
/// finds in its value; with the count of values that name no send of the ledger, and the count
/// of order violations (an id not above the one before it in the same partition).
#[allow(clippy::type_complexity)]
fn index_log<T: Copy + Ord + std::hash::Hash>(
    log: &[Read],
    id_of: impl Fn(&str) -> Option<T>,
) -> (HashMap<T, Vec<(i32, i64)>>, u64, u64) {
    let mut at: HashMap<T, Vec<(i32, i64)>> = HashMap::new();
    let (mut foreign, mut reorders) = (0u64, 0u64);
    let mut last: HashMap<i32, T> = HashMap::new();
    for r in log {
        let Some(id) = id_of(&r.value) else {
            foreign += 1;
            continue;
        };
        at.entry(id).or_default().push((r.partition, r.offset));
        if let Some(prev) = last.insert(r.partition, id) {
            if id <= prev {
                reorders += 1;
            }
        }
    }
    (at, foreign, reorders)
}

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Acked(i32, i64),
    Failed(String),
    Refused(String),
    Pending,
}

fn outcome(f: &[&str]) -> Outcome {
    match f.first().copied() {
        Some("A") if f.len() >= 3 => Outcome::Acked(
            f[1].parse().unwrap_or_else(|_| die("bad ledger partition")),
            f[2].parse().unwrap_or_else(|_| die("bad ledger offset")),
        ),
        Some("F") if f.len() >= 2 => Outcome::Failed(f[1].to_string()),
        Some("R") if f.len() >= 2 => Outcome::Refused(f[1].to_string()),
        Some("P") => Outcome::Pending,
        _ => die(&format!("bad ledger outcome {f:?}")),
    }
}

#[derive(Default)]
struct Ledger {
    idem: Vec<Outcome>,
    /// (txn, k) → outcome.
    txn: BTreeMap<(u64, u64), Outcome>,
    /// txn → (outcome word, error kind or "", records).
    txns: BTreeMap<u64, (String, String, u64)>,
}

fn read_ledger(path: &str) -> Ledger {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| die(&format!("read {path}: {e}")));
    let mut l = Ledger::default();
    let num = |s: &str| -> u64 {
        s.parse()
            .unwrap_or_else(|_| die(&format!("bad ledger number {s:?}")))
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "I" => {
                let seq = num(f[1]) as usize;
                if seq != l.idem.len() {
                    die("ledger: idempotent sequence out of order");
                }
                l.idem.push(outcome(&f[2..]));
            }
            "T" => {
                l.txn.insert((num(f[1]), num(f[2])), outcome(&f[3..]));
            }
            "X" => {
                let kind = if f.len() > 4 {
                    f[3].to_string()
                } else {
                    String::new()
                };
                l.txns
                    .insert(num(f[1]), (f[2].to_string(), kind, num(f[f.len() - 1])));
            }
            _ => die(&format!("bad ledger line {line:?}")),
        }
    }
    l
}

fn count_kinds<'a>(
    outcomes: impl Iterator<Item = &'a Outcome>,
) -> (u64, u64, BTreeMap<String, u64>, BTreeMap<String, u64>, u64) {
    let (mut acked, mut failed, mut pending) = (0, 0, 0);
    let mut kinds = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for o in outcomes {
        match o {
            Outcome::Acked(..) => acked += 1,
            Outcome::Failed(k) => {
                failed += 1;
                *kinds.entry(k.clone()).or_insert(0) += 1;
            }
            Outcome::Refused(k) => *refused.entry(k.clone()).or_insert(0) += 1,
            Outcome::Pending => pending += 1,
        }
    }
    (acked, failed, kinds, refused, pending)
}

fn print_kinds(label: &str, kinds: &BTreeMap<String, u64>) {
    for (k, n) in kinds {
        println!("  {label} {k}: {n}");
    }
}

/// Prints the send figures of one producer; returns the count of unresolved sends.
fn print_sends(outcomes: &[Outcome]) -> u64 {
    let (acked, failed, kinds, refused, pending) = count_kinds(outcomes.iter());
    let sent = outcomes.len() as u64 - refused.values().sum::<u64>();
    println!("  records sent (accepted): {sent}");
    println!("  acknowledged: {acked}");
    println!("  failed: {failed}");
    print_kinds("failed", &kinds);
    print_kinds("refused by send", &refused);
    println!("  unresolved sends: {pending}");
    pending
}

/// Prints the figures; true when nothing is wrong.
pub fn main(
    ledger: &str,
    idem_log: &str,
    txn_committed_log: &str,
    txn_uncommitted_log: &str,
) -> bool {
    let l = read_ledger(ledger);
    let mut bad: Vec<String> = Vec::new();
    let mut fail = |what: &str, n: u64| {
        if n > 0 {
            bad.push(format!("{what}: {n}"));
        }
    };

    // The idempotent producer.
    let log = read_log(idem_log);
    println!("idempotent producer:");
    fail("idempotent unresolved sends", print_sends(&l.idem));
    let (seen, mut foreign, reorders) = index_log(&log, |v| {
        v.strip_prefix("i-")
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|seq| (*seq as usize) < l.idem.len())
    });
    let (mut lost, mut moved, mut failed_written, mut dups) = (0u64, 0u64, 0u64, 0u64);
    for (seq, o) in l.idem.iter().enumerate() {
        let at = seen.get(&(seq as u64));
        if let Some(at) = at {
            dups += at.len() as u64 - 1;
        }
        match (o, at) {
            (Outcome::Acked(..), None) => lost += 1,
            (Outcome::Acked(p, off), Some(at)) if !at.contains(&(*p, *off)) => moved += 1,
            (Outcome::Failed(_), Some(_)) => failed_written += 1,
            (Outcome::Refused(_), Some(_)) => foreign += 1,
            _ => {}
        }
    }
    println!("  read back (read_uncommitted): {}", log.len());
    println!("  acknowledged but lost: {lost}");
    println!("  acknowledged at another partition/offset than read back: {moved}");
    println!("  duplicates: {dups}");
    println!("  per-partition order violations: {reorders}");
    println!(
        "  failed but written (allowed: a failed send may or may not be written): {failed_written}"
    );
    println!("  read back but never sent: {foreign}");
    fail("idempotent acknowledged but lost", lost);
    fail("idempotent acknowledged at another offset", moved);
    fail("idempotent duplicates", dups);
    fail("idempotent order violations", reorders);
    fail("idempotent records read back but never sent", foreign);

    // The transactional producer.
    let committed_log = read_log(txn_committed_log);
    let all_log = read_log(txn_uncommitted_log);
    println!("transactional producer:");
    let outcomes: Vec<Outcome> = l.txn.values().cloned().collect();
    fail("transactional unresolved sends", print_sends(&outcomes));
    let parse = |v: &str| -> Option<(u64, u64)> {
        let rest = v.strip_prefix("t-")?;
        let (n, k) = rest.split_once('-')?;
        Some((n.parse().ok()?, k.parse().ok()?))
    };
    let (visible, foreign, reorders) = index_log(&committed_log, |v| {
        parse(v).filter(|id| l.txn.contains_key(id))
    });
    let mut written: HashMap<u64, u64> = HashMap::new();
    for r in &all_log {
        if let Some((n, _)) = parse(&r.value) {
            *written.entry(n).or_insert(0) += 1;
        }
    }
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    let (mut exact, mut hidden, mut hidden_written) = (0u64, 0u64, 0u64);
    let (mut partial, mut aborted_visible, mut dups, mut moved, mut committed_failed) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut unknown_all, mut unknown_none) = (0u64, 0u64);
    for (n, (word, kind, size)) in &l.txns {
        let label = if kind.is_empty() {
            word.clone()
        } else {
            format!("{word} ({kind})")
        };
        *by_outcome.entry(label).or_insert(0) += 1;
        let mut shown = 0u64;
        for k in 0..*size {
            let at = visible.get(&(*n, k));
            if let Some(at) = at {
                shown += 1;
                dups += at.len() as u64 - 1;
            }
            match (l.txn.get(&(*n, k)), at) {
                (Some(Outcome::Acked(p, o)), Some(at)) if !at.contains(&(*p, *o)) => moved += 1,
                (Some(Outcome::Acked(..)), _) | (None, _) => {}
                (Some(_), _) if word == "committed" => committed_failed += 1,
                _ => {}
            }
        }
        match word.as_str() {
            "committed" if shown == *size => exact += 1,
            "committed" => partial += 1,
            "aborted" | "aborted-after-error" if shown == 0 => {
                hidden += 1;
                if written.get(n).copied().unwrap_or(0) > 0 {
                    hidden_written += 1;
                }
            }
            "aborted" | "aborted-after-error" => aborted_visible += 1,
            _ if shown == *size => unknown_all += 1,
            _ if shown == 0 => unknown_none += 1,
            _ => partial += 1,
        }
    }
    println!("  transactions: {}", l.txns.len());
    for (o, c) in &by_outcome {
        println!("  transactions {o}: {c}");
    }
    println!(
        "  read back (read_committed): {}, (read_uncommitted): {}",
        committed_log.len(),
        all_log.len()
    );
    println!("  committed transactions visible exactly (every record, once): {exact}");
    println!(
        "  aborted transactions hidden: {hidden} (of which written to the log: {hidden_written})"
    );
    println!(
        "  transactions of unknown outcome: all visible {unknown_all}, none visible {unknown_none}"
    );
    println!(
        "  committed transactions not fully visible, or any transaction partly visible: {partial}"
    );
    println!("  aborted transactions visible: {aborted_visible}");
    println!("  duplicates (read_committed): {dups}");
    println!("  acknowledged at another partition/offset than read back: {moved}");
    println!("  records of committed transactions not acknowledged: {committed_failed}");
    println!("  per-partition order violations (read_committed): {reorders}");
    println!("  read back but never sent: {foreign}");
    fail("transactions partly visible", partial);
    fail("aborted transactions visible", aborted_visible);
    fail("transactional duplicates", dups);
    fail(
        "transactional records acknowledged at another offset",
        moved,
    );
    fail(
        "records of committed transactions not acknowledged",
        committed_failed,
    );
    fail("transactional order violations", reorders);
    fail("transactional records read back but never sent", foreign);
    if bad.is_empty() {
        println!("verdict: OK (no loss, duplicate, reorder, unresolved send or torn transaction)");
        true
    } else {
        println!("verdict: FAILED: {}", bad.join("; "));
        false
    }
}

#[cfg(test)]
mod tests {
    //! The checker against hand-made ledgers and logs: a clean run passes, and each kind of
    //! damage it must catch fails it.

    /// A clean run: idempotent records 0..4 on partition 0 at offsets 0..4; transaction 0
    /// (two records) committed, transaction 1 (two records) aborted but written.
    fn clean() -> (String, String, String, String) {
        let mut ledger = String::new();
        let mut idem = String::new();
        for seq in 0..4 {
            ledger += &format!("I\t{seq}\tA\t0\t{seq}\n");
            idem +=
                &format!("CreateTime:1\tPartition:0\tOffset:{seq}\tNO_HEADERS\tnull\ti-{seq}\n");
        }
        ledger += "T\t0\t0\tA\t1\t0\nT\t0\t1\tA\t1\t1\nT\t1\t0\tA\t1\t3\nT\t1\t1\tA\t1\t4\n";
        ledger += "X\t0\tcommitted\t2\nX\t1\taborted\t2\n";
        let line = |o: u64, v: &str| {
            format!("CreateTime:1\tPartition:1\tOffset:{o}\tNO_HEADERS\tnull\t{v}\n")
        };
        let committed = line(0, "t-0-0") + &line(1, "t-0-1");
        let all = committed.clone() + &line(3, "t-1-0") + &line(4, "t-1-1");
        (ledger, idem, committed, all)
    }

    /// `log` without the record of value `value`.
    fn without(log: &str, value: &str) -> String {
        log.lines()
            .filter(|x| !x.ends_with(&format!("\t{value}")))
            .map(|x| format!("{x}\n"))
            .collect()
    }

    fn run(files: (String, String, String, String)) -> bool {
        let dir = std::env::temp_dir().join(format!(
            "volley-chaos-check-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let names = ["ledger", "idem", "committed", "all"];
        let texts = [files.0, files.1, files.2, files.3];
        let paths: Vec<String> = names
            .iter()
            .zip(texts.iter())
            .map(|(n, t)| {
                let p = dir.join(n);
                std::fs::write(&p, t).unwrap();
                p.to_string_lossy().into_owned()
            })
            .collect();
        let ok = super::main(&paths[0], &paths[1], &paths[2], &paths[3]);
        std::fs::remove_dir_all(&dir).unwrap();
        ok
    }

    #[test]
    fn a_clean_run_passes() {
        assert!(run(clean()));
    }

    #[test]
    fn a_lost_record_fails() {
        let (l, idem, c, a) = clean();
        let idem = without(&idem, "i-2");
        assert!(!run((l, idem, c, a)));
    }

    #[test]
    fn a_duplicate_fails() {
        let (l, idem, c, a) = clean();
        let idem = idem + "CreateTime:1\tPartition:0\tOffset:4\tNO_HEADERS\tnull\ti-3\n";
        assert!(!run((l, idem, c, a)));
    }

    #[test]
    fn a_reorder_fails() {
        let (l, idem, c, a) = clean();
        // i-1 written after i-2 (and acknowledged so: only the order is wrong).
        let l = l
            .replace("I\t1\tA\t0\t1", "I\t1\tA\t0\t2")
            .replace("I\t2\tA\t0\t2", "I\t2\tA\t0\t1");
        let idem = idem
            .replace(
                "Offset:1\tNO_HEADERS\tnull\ti-1",
                "Offset:1\tNO_HEADERS\tnull\tX",
            )
            .replace(
                "Offset:2\tNO_HEADERS\tnull\ti-2",
                "Offset:2\tNO_HEADERS\tnull\ti-1",
            )
            .replace(
                "Offset:1\tNO_HEADERS\tnull\tX",
                "Offset:1\tNO_HEADERS\tnull\ti-2",
            );
        assert!(!run((l, idem, c, a)));
    }

    #[test]
    fn an_unresolved_send_fails() {
        let (l, idem, c, a) = clean();
        let l = l.replace("I\t3\tA\t0\t3", "I\t3\tP");
        let idem = without(&idem, "i-3");
        assert!(!run((l, idem, c, a)));
    }

    #[test]
    fn a_failed_record_may_be_written() {
        let (l, idem, c, a) = clean();
        let l = l.replace("I\t3\tA\t0\t3", "I\t3\tF\tDeliveryTimeout");
        assert!(run((l, idem, c, a)));
    }

    #[test]
    fn a_visible_aborted_transaction_fails() {
        let (l, idem, _, a) = clean();
        assert!(!run((l, idem, a.clone(), a)));
    }

    #[test]
    fn a_torn_committed_transaction_fails() {
        let (l, idem, c, a) = clean();
        let c: String = c.lines().take(1).map(|x| format!("{x}\n")).collect();
        assert!(!run((l, idem, c, a)));
    }

    #[test]
    fn an_unknown_transaction_may_be_all_or_nothing_but_not_part() {
        let (l, idem, c, a) = clean();
        let l = l.replace("X\t1\taborted\t2", "X\t1\tunknown\tFatal(x)\t2");
        assert!(run((l.clone(), idem.clone(), c.clone(), a.clone())));
        assert!(run((l.clone(), idem.clone(), a.clone(), a.clone())));
        let part = c + "CreateTime:1\tPartition:1\tOffset:3\tNO_HEADERS\tnull\tt-1-0\n";
        assert!(!run((l, idem, part, a)));
    }
}
