//! failover-probe: a fixed-rate producer that moves a partition's leader in the middle of its
//! run (by running a shell command) and reports what the move cost.
//!
//! Usage: failover-probe BOOTSTRAP TOPIC PARTITIONS RATE SECONDS MOVE_AT_SECONDS MOVE_COMMAND [k=v ...]
//!
//! Records of 100 bytes go to partitions 0..PARTITIONS in turn, RATE per second in all, for
//! SECONDS. At MOVE_AT_SECONDS the probe runs MOVE_COMMAND with `sh -c` (in a thread, so that
//! sending goes on) and notes the instant. At the end it prints, for the partitions whose
//! acknowledgements stopped after the move:
//!   stall_ms      per partition, the longest gap between two consecutive acknowledgements
//!                 after the move command started (how long records stopped flowing); the
//!                 partition with the longest one is the moved partition;
//! and for every record sent from 1 s before that stall to 5 s after it: p50, p99, p99.9 and
//! max latency (send to acknowledgement), plus the count of failed records by error.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volley::{Producer, ProducerConfig, Record};

struct Ack {
    partition: i32,
    sent: Instant,
    acked: Instant,
    error: Option<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 8 {
        eprintln!("usage: failover-probe BOOTSTRAP TOPIC PARTITIONS RATE SECONDS MOVE_AT_SECONDS MOVE_COMMAND [k=v ...]");
        std::process::exit(2);
    }
    let bootstrap = args[1].clone();
    let topic = args[2].clone();
    let partitions: i32 = args[3].parse().expect("PARTITIONS");
    let rate: u64 = args[4].parse().expect("RATE");
    let seconds: f64 = args[5].parse().expect("SECONDS");
    let move_at: f64 = args[6].parse().expect("MOVE_AT_SECONDS");
    let move_cmd = args[7].clone();
    let mut props: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap)];
    for kv in &args[8..] {
        let (k, v) = kv.split_once('=').expect("k=v");
        props.push((k.into(), v.into()));
    }
    let config = ProducerConfig::from_properties(props).expect("config");
    let producer = Producer::new(config).expect("producer");
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::new(Mutex::new(Vec::with_capacity(
        (rate as f64 * seconds) as usize + 16,
    )));
    let value = vec![b'x'; 100];
    let start = Instant::now();
    let total = (rate as f64 * seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut moved: Option<Instant> = None;
    let mut mover = None;
    for i in 0..total {
        let due = start + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if moved.is_none() && start.elapsed().as_secs_f64() >= move_at {
            let cmd = move_cmd.clone();
            moved = Some(Instant::now());
            mover = Some(std::thread::spawn(move || {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .output()
                    .expect("run the move command");
                if !out.status.success() {
                    eprintln!(
                        "move command failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }));
        }
        let partition = (i % partitions as u64) as i32;
        let sent = Instant::now();
        let acks2 = acks.clone();
        let r = producer.send_with_callback(
            Record::new(topic.as_str())
                .partition(partition)
                .value(value.as_slice()),
            move |result| {
                let acked = Instant::now();
                acks2.lock().unwrap().push(Ack {
                    partition,
                    sent,
                    acked,
                    error: result.err().map(|e| e.to_string()),
                });
            },
        );
        if let Err(e) = r {
            eprintln!("send failed: {e}");
        }
    }
    producer.flush().expect("flush");
    producer.close().expect("close");
    if let Some(m) = mover {
        let _ = m.join();
    }
    let moved = moved.expect("the run reached the move");
    let acks = acks.lock().unwrap();
    report(&acks, moved, partitions);
}

fn report(acks: &[Ack], moved: Instant, partitions: i32) {
    // Each partition's longest gap between consecutive acknowledgements after the move command
    // started: (gap start, gap end). The moved partition is the one with the longest gap.
    let mut worst: Option<(i32, Instant, Instant)> = None;
    for p in 0..partitions {
        let mut times: Vec<Instant> = acks
            .iter()
            .filter(|a| a.partition == p && a.error.is_none())
            .map(|a| a.acked)
            .collect();
        times.sort();
        let mut prev = times.iter().rev().find(|t| **t <= moved).copied().unwrap_or(moved);
        let mut gap: Option<(Instant, Instant)> = None;
        for &t in times.iter().filter(|t| **t > moved) {
            if gap.is_none_or(|(s, e)| t - prev > e - s) {
                gap = Some((prev, t));
            }
            prev = t;
        }
        if let Some((s, e)) = gap {
            println!(
                "partition {p}: stall_ms {:.1} (from +{:.1} s after the move command started)",
                ms(e - s),
                (s - moved).as_secs_f64()
            );
            if worst.is_none_or(|(_, ws, we)| e - s > we - ws) {
                worst = Some((p, s, e));
            }
        }
    }
    let Some((moved_partition, stall_start, stall_end)) = worst else {
        println!("summary: no acknowledgement after the move");
        return;
    };
    // Latency of every record sent from 1 s before the stall to 5 s after it, all partitions.
    let from = stall_start - Duration::from_secs(1);
    let to = stall_end + Duration::from_secs(5);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut lat: Vec<f64> = Vec::new();
    for a in acks {
        if let Some(e) = &a.error {
            *errors.entry(e.clone()).or_default() += 1;
        } else if a.sent >= from && a.sent <= to {
            lat.push(ms(a.acked - a.sent));
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pick = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "summary: partition {moved_partition} stall_ms {:.1} records_in_window {} p50_ms {:.1} p99_ms {:.1} p99.9_ms {:.1} max_ms {:.1} failed {}",
        ms(stall_end - stall_start),
        lat.len(),
        pick(0.5),
        pick(0.99),
        pick(0.999),
        lat.last().copied().unwrap_or(f64::NAN),
        errors.values().sum::<u64>()
    );
    for (e, n) in errors {
        println!("error x{n}: {e}");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
