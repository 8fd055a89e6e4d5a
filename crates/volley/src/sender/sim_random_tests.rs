//! Randomized deterministic simulation (`sim/random.rs`): a few hundred seeds on every
//! `cargo test`, and the long runs of `scripts/simulate` (an ignored test reading
//! `VOLLEY_SIM_SEEDS`, `VOLLEY_SIM_SEED`, `VOLLEY_SIM_FIRST` and `VOLLEY_SIM_JOBS`).
//!
//! Every seed that ever failed is replayed by name below (`seed_<hex>_<what failed>`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::sim::random::{run, shrink, sticky_choices, Scenario};

/// Runs one seed; on failure, shrinks it and panics with the seed, the violation and the
/// minimal step list that still fails.
fn check_seed(seed: u64) {
    if let Err(report) = run_seed(seed, 400) {
        panic!("{report}");
    }
}

/// `Ok(steps, simulated ms)` or the failure report (seed, violation, minimal trace).
fn run_seed(seed: u64, shrink_budget: usize) -> Result<(usize, u128), String> {
    let sc = Scenario::generate(seed);
    match run(&sc, None) {
        Ok(o) => Ok((o.sent, o.simulated.as_millis())),
        Err(v) => {
            let keep = shrink(&sc, shrink_budget);
            let minimal = run(&sc, Some(&keep)).err();
            let mut report = format!(
                "seed {seed:#x} failed: {v}\n  replay: scripts/simulate --seed {seed:#x}\n  \
                 scenario: brokers {:?}, topics {:?}, mode {:?}, threads {}, linger {} ms, \
                 batch.size {}, buffer.memory {}, max.block {} ms, retries {}, backoff {}..{} ms, \
                 request.timeout {} ms, delivery.timeout {} ms, max.in.flight {}, adaptive {}\n  \
                 minimal trace ({} of {} steps):",
                sc.brokers,
                sc.topics,
                sc.mode,
                sc.threads,
                sc.linger_ms,
                sc.batch_size,
                sc.buffer_memory,
                sc.max_block_ms,
                sc.retries,
                sc.retry_backoff_ms,
                sc.retry_backoff_max_ms,
                sc.request_timeout_ms,
                sc.delivery_timeout_ms,
                sc.max_in_flight,
                sc.adaptive,
                keep.len(),
                sc.steps.len(),
            );
            for i in &keep {
                report.push_str(&format!("\n    [{i}] {:?}", sc.steps[*i]));
            }
            if let Some(m) = minimal {
                report.push_str(&format!("\n  minimal trace fails with: {m}"));
            }
            Err(report)
        }
    }
}

/// The seeds every `cargo test` runs (a few hundred, a few seconds in debug).
#[test]
fn a_few_hundred_random_seeds_keep_every_invariant() {
    let failures: Vec<String> = (0..300u64)
        .filter_map(|i| run_seed(0x5eed_0000 + i, 200).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same seed gives the same run: the same records, outcomes and simulated time.
#[test]
fn a_seed_replays_exactly() {
    for seed in [1u64, 2, 3, 0xdead_beef] {
        let a = run_seed(seed, 0);
        let b = run_seed(seed, 0);
        assert_eq!(a, b, "seed {seed:#x}");
    }
}

/// The sticky partitioner draws from the run's generator: same seed, same choices; other
/// seeds, other choices (no global generator involved).
#[test]
fn sticky_partitioner_choices_follow_the_seed() {
    let seeds = (0..64u64).find(|&s| {
        let sc = Scenario::generate(s);
        sc.topics[0].1.len() >= 3
    });
    let seed = seeds.expect("a scenario with 3+ partitions");
    assert_eq!(sticky_choices(seed), sticky_choices(seed));
}

/// `scripts/simulate`: `VOLLEY_SIM_SEEDS` seeds from `VOLLEY_SIM_FIRST` (default 0), or the one
/// seed `VOLLEY_SIM_SEED`, on `VOLLEY_SIM_JOBS` threads; prints a one-line summary and, per
/// failure, the seed and its minimal trace.
#[test]
#[ignore = "long: run by scripts/simulate"]
fn simulate() {
    let parse = |name: &str| {
        std::env::var(name).ok().map(|v| {
            let v = v.trim().to_string();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).expect("hex seed"),
                None => v.parse::<u64>().expect("number"),
            }
        })
    };
    let (first, count) = match parse("VOLLEY_SIM_SEED") {
        Some(s) => (s, 1),
        None => (
            parse("VOLLEY_SIM_FIRST").unwrap_or(0),
            parse("VOLLEY_SIM_SEEDS").unwrap_or(10_000),
        ),
    };
    let jobs = parse("VOLLEY_SIM_JOBS").unwrap_or(2).max(1) as usize;
    let budget = parse("VOLLEY_SIM_SHRINK").unwrap_or(2000) as usize;
    let next = AtomicU64::new(first);
    let done = AtomicUsize::new(0);
    let records = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    // Panics inside a run are caught and reported as violations; keep their default output
    // off the console.
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + count {
                    return;
                }
                match run_seed(seed, budget) {
                    Ok((sent, _)) => {
                        records.fetch_add(sent, Ordering::Relaxed);
                    }
                    Err(report) => {
                        println!("{report}");
                        failures.lock().expect("lock").push(seed);
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 100_000 == 0 {
                    let secs = started.elapsed().as_secs_f64();
                    println!("progress: {n} seeds, {:.0} runs/s", n as f64 / secs);
                }
            });
        }
    });
    let _ = std::panic::take_hook();
    let secs = started.elapsed().as_secs_f64();
    let failures = failures.into_inner().expect("lock");
    let n = done.load(Ordering::Relaxed);
    println!(
        "simulate: {n} seeds ({first:#x}..{:#x}), {} records, {secs:.1} s, {:.0} runs/s, {} failures{}",
        first + count,
        records.load(Ordering::Relaxed),
        n as f64 / secs,
        failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(": {:#x?}", failures)
        }
    );
    assert!(failures.is_empty(), "failing seeds: {failures:#x?}");
}

#[allow(dead_code)]
fn replay(seed: u64) {
    check_seed(seed);
}

#[test]
#[ignore = "debug"]
fn debug_seed() {
    use super::sim::random::Step;
    let seed =
        u64::from_str_radix(std::env::var("S").unwrap().trim_start_matches("0x"), 16).unwrap();
    let keep: Vec<usize> = std::env::var("K")
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let sc = Scenario::generate(seed);
    let _ = Step::Flush;
    super::sim::random::debug_run(&sc, &keep);
}
