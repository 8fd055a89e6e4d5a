//! `volley-chaos soak`: fixed-rate sending with the process's resource figures sampled every
//! interval, and a verdict on whether any of them grew without bound.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use volley::{Producer, ProducerConfig, Record};

use crate::{die, opt, split_options};

/// One sample of the figures that must stay bounded.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: u64,
    fds: u64,
    threads: u64,
    /// `buffer.memory` minus the pool's free bytes: what queued and in-flight records hold.
    buffer_used: u64,
}

/// A figure's name, how to read it from a sample, and its absolute slack.
type Figure = (&'static str, fn(&Sample) -> u64, u64);

const FIGURES: [Figure; 4] = [
    // name, accessor, absolute slack (growth below it is noise, not a trend)
    ("rss_kib", |s| s.rss_kib, 8 * 1024),
    ("fds", |s| s.fds, 4),
    ("threads", |s| s.threads, 2),
    ("buffer_used_bytes", |s| s.buffer_used, 1 << 20),
];

fn proc_status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn sample(producer: &Producer) -> Sample {
    let m = producer.metrics();
    Sample {
        rss_kib: proc_status("VmRSS:"),
        fds: std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0),
        threads: proc_status("Threads:"),
        buffer_used: m
            .buffer_total_bytes
            .saturating_sub(m.buffer_available_bytes),
    }
}

/// Growth verdict over the samples: for each figure, the mean of the last third against the
/// mean of the middle third (the first third is warm-up). A figure "grew" when the last third
/// is above the middle third by more than 10% and by more than the figure's absolute slack.
fn verdict(samples: &[Sample]) -> bool {
    let n = samples.len();
    if n < 3 {
        println!("verdict: too few samples ({n}) to judge growth (need 3 or more)");
        return true;
    }
    let third = n / 3;
    let middle = &samples[n - 2 * third..n - third];
    let last = &samples[n - third..];
    let mean = |xs: &[Sample], f: fn(&Sample) -> u64| {
        xs.iter().map(f).sum::<u64>() as f64 / xs.len() as f64
    };
    let mut ok = true;
    for (name, f, slack) in FIGURES {
        let (m, l) = (mean(middle, f), mean(last, f));
        let grew = l > m * 1.10 && l - m > slack as f64;
        println!(
            "verdict: {name}: middle third mean {m:.0}, last third mean {l:.0}, max {}: {}",
            samples.iter().map(f).max().unwrap_or(0),
            if grew { "GREW" } else { "bounded" }
        );
        ok &= !grew;
    }
    println!(
        "verdict: {}",
        if ok {
            "OK (nothing grew without bound)"
        } else {
            "FAILED (a figure grew)"
        }
    );
    ok
}

/// Takes a sample and prints its line.
fn record_sample(
    producer: &Producer,
    samples: &mut Vec<Sample>,
    start: &Instant,
    (sent, refused): (u64, u64),
    (acked, failed): (&AtomicU64, &AtomicU64),
) {
    let s = sample(producer);
    samples.push(s);
    println!(
        "{}\t{:.0}\t{}\t{}\t{}\t{}\t{}\t{sent}\t{}\t{}\t{refused}",
        samples.len(),
        start.elapsed().as_secs_f64(),
        s.rss_kib,
        s.fds,
        s.threads,
        s.buffer_used,
        producer.metrics().buffer_available_bytes,
        acked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}

pub fn main(bootstrap: &str, topic: &str, args: &[String]) -> bool {
    let (opts, props) = split_options(
        args,
        &["minutes", "rate", "interval.s", "restart.cmd", "restarts"],
    );
    let minutes: f64 = opt(&opts, "minutes", 30.0);
    let rate: f64 = opt(&opts, "rate", 1000.0);
    let interval = Duration::from_secs_f64(opt(&opts, "interval.s", 60.0));
    let restart_cmd: String = opt(&opts, "restart.cmd", String::new());
    let restarts: u32 = opt(&opts, "restarts", 1);
    let mut all: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    all.extend(props);
    let config =
        ProducerConfig::from_properties(all).unwrap_or_else(|e| die(&format!("config: {e}")));
    let producer = Producer::new(config).unwrap_or_else(|e| die(&format!("producer: {e}")));
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut sent = 0u64;
    let mut refused = 0u64;
    let value = vec![b's'; 100];
    let start = Instant::now();
    let end = Duration::from_secs_f64(minutes * 60.0);
    let mut next_sample = interval;
    let mut samples: Vec<Sample> = Vec::new();
    // Restart k (1..=restarts) runs at k/(restarts+1) of the run, one at a time.
    let mut restarter: Option<std::thread::JoinHandle<()>> = None;
    let mut restarted = 0u32;
    println!("soak: {minutes} min at {rate} records/s to {topic}; a sample every {interval:?}; {restarts} restart(s), the first at {:?}", end / (restarts + 1));
    println!("sample\telapsed_s\trss_kib\tfds\tthreads\tbuffer_used_bytes\tbuffer_available_bytes\tsent\tacked\tfailed\trefused");
    loop {
        let elapsed = start.elapsed();
        // The last interval ends with the run: it is sampled too.
        let finished = elapsed >= end;
        if (finished && next_sample <= end) || (!finished && elapsed >= next_sample) {
            record_sample(
                &producer,
                &mut samples,
                &start,
                (sent, refused),
                (&acked, &failed),
            );
            next_sample += interval;
        }
        if finished {
            break;
        }
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let (a, f) = (acked.clone(), failed.clone());
            let r =
                producer.send_with_callback(Record::new(topic).value(value.as_slice()), move |r| {
                    if r.is_ok() {
                        a.fetch_add(1, Ordering::Relaxed)
                    } else {
                        f.fetch_add(1, Ordering::Relaxed)
                    };
                });
            if r.is_err() {
                refused += 1;
            }
            sent += 1;
        }
        let due = end * (restarted + 1) / (restarts + 1);
        let idle = restarter.as_ref().is_none_or(|r| r.is_finished());
        if restarted < restarts && !restart_cmd.is_empty() && idle && start.elapsed() >= due {
            restarted += 1;
            let cmd = restart_cmd.clone();
            println!(
                "soak: +{:.0} s: restart {restarted}: running {cmd:?}",
                start.elapsed().as_secs_f64()
            );
            restarter = Some(std::thread::spawn(
                move || match std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .status()
                {
                    Ok(s) if s.success() => println!("soak: restart command done"),
                    other => eprintln!("soak: restart command failed: {other:?}"),
                },
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Err(e) = producer.flush_timeout(Duration::from_secs(180)) {
        eprintln!("soak: flush: {e}");
    }
    if let Some(r) = restarter {
        let _ = r.join();
    }
    let _ = producer.close_timeout(Duration::from_secs(30));
    let (a, f) = (
        acked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let unresolved = sent - refused - a - f;
    println!("soak: sent {sent}, acknowledged {a}, failed {f}, refused by send {refused}, unresolved {unresolved}");
    let ok = verdict(&samples);
    ok && unresolved == 0
}
