//! Randomized deterministic simulation (`sim/random.rs`): a few hundred seeds on every
//! `cargo test`, and the long runs of `scripts/simulate` (an ignored test reading
//! `VOLLEY_SIM_SEEDS`, `VOLLEY_SIM_SEED`, `VOLLEY_SIM_FIRST` and `VOLLEY_SIM_JOBS`).
//!
//! Every seed that ever failed is replayed by name below (`seed_<hex>_<what failed>`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::sim::random::{run, shrink, sticky_choices, End, Fault, Mode, Scenario, Step, Target};

/// `Ok((records sent, acknowledged, refused sends, simulated ms))` or the failure report
/// (seed, violation, scenario, minimal trace).
fn run_seed(seed: u64, shrink_budget: usize) -> Result<(usize, usize, usize, u128), String> {
    let sc = Scenario::generate(seed);
    match run(&sc, None) {
        Ok(o) => Ok((o.sent, o.acked, o.refused, o.simulated.as_millis())),
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

/// The seeds every `cargo test` runs: 200 on two threads (about 10 s in debug here).
#[test]
fn a_few_hundred_random_seeds_keep_every_invariant() {
    let s = sweep(0x5eed_0000, 200, 2, 200, false);
    assert!(s.failures.is_empty(), "{}", s.reports.join("\n"));
}

/// What a sweep over seeds found.
struct Sweep {
    seeds: usize,
    records: usize,
    acked: usize,
    failures: Vec<u64>,
    reports: Vec<String>,
}

/// Runs `count` seeds from `first` on `jobs` threads; a failing seed is shrunk with
/// `shrink_budget` runs. `print`: reports and progress go to stdout as they come.
fn sweep(first: u64, count: u64, jobs: usize, shrink_budget: usize, print: bool) -> Sweep {
    let next = AtomicU64::new(first);
    let done = AtomicUsize::new(0);
    let records = AtomicUsize::new(0);
    let acked = AtomicUsize::new(0);
    let failures = Mutex::new((Vec::new(), Vec::new()));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first.saturating_add(count) {
                    return;
                }
                match run_seed(seed, shrink_budget) {
                    Ok((sent, ok, _, _)) => {
                        records.fetch_add(sent, Ordering::Relaxed);
                        acked.fetch_add(ok, Ordering::Relaxed);
                    }
                    Err(report) => {
                        if print {
                            println!("{report}");
                        }
                        let mut f = failures.lock().expect("lock");
                        f.0.push(seed);
                        f.1.push(report);
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if print && n.is_multiple_of(100_000) {
                    let secs = started.elapsed().as_secs_f64();
                    println!("progress: {n} seeds, {:.0} runs/s", n as f64 / secs);
                }
            });
        }
    });
    let (failures, reports) = failures.into_inner().expect("lock");
    Sweep {
        seeds: done.load(Ordering::Relaxed),
        records: records.load(Ordering::Relaxed),
        acked: acked.load(Ordering::Relaxed),
        failures,
        reports,
    }
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
    let started = Instant::now();
    // Panics inside a run are caught and reported as violations; keep their default output
    // off the console.
    std::panic::set_hook(Box::new(|_| {}));
    let s = sweep(first, count, jobs, budget, true);
    let _ = std::panic::take_hook();
    let secs = started.elapsed().as_secs_f64();
    let failures = s.failures;
    println!(
        "simulate: {} seeds ({first:#x}..{:#x}), {} records ({} acknowledged), {secs:.1} s, \
         {:.0} runs/s, {} failures{}",
        s.seeds,
        first.saturating_add(count),
        s.records,
        s.acked,
        s.seeds as f64 / secs,
        failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(": {failures:#x?}")
        }
    );
    assert!(failures.is_empty(), "failing seeds: {failures:#x?}");
}

// ------------------------------------------------------------------ regressions
//
// Each failing seed found, replayed as its shrunk trace: the scenario the seed drew (the seed
// also seeds the sender's and partitioner's generators) and the steps that still failed. They
// are written out rather than regenerated so that later changes to the generator keep them.

/// An idempotent producer on one broker with the scenario's knobs and `topics`.
fn scenario(seed: u64, brokers: i32, topics: &[&[i32]], steps: Vec<Step>) -> Scenario {
    Scenario {
        seed,
        brokers: (1..=brokers).collect(),
        topics: topics
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("topic{i}"), l.to_vec()))
            .collect(),
        mode: Mode::Idempotent,
        threads: 4,
        linger_ms: 0,
        batch_size: 16384,
        buffer_memory: 1 << 20,
        max_block_ms: 1000,
        retries: 3,
        retry_backoff_ms: 100,
        retry_backoff_max_ms: 1000,
        request_timeout_ms: 1000,
        delivery_timeout_ms: 11_000,
        max_in_flight: 3,
        adaptive: true,
        steps,
    }
}

fn send(thread: u8, topic: u8, target: Target, size: u16) -> Step {
    Step::Send {
        thread,
        topic,
        target,
        size,
    }
}

fn assert_passes(sc: &Scenario) {
    if let Err(v) = run(sc, None) {
        panic!("seed {:#x}: {v}", sc.seed);
    }
}

/// Seed 0x5eed0083: after a close the sender finished but still reported its last poll
/// deadline (in the past), so a driver that looked at it would spin. A finished sender now has
/// no deadline.
#[test]
fn seed_5eed0083_a_finished_sender_has_no_poll_deadline() {
    let mut sc = scenario(
        0x5eed_0083,
        3,
        &[&[3, 2, 3, 1]],
        vec![
            Step::Run(286),
            send(0, 0, Target::Keyless, 106),
            Step::Close(End::ForceAfter(1090)),
        ],
    );
    sc.threads = 1;
    sc.buffer_memory = 49_152;
    sc.max_block_ms = 100;
    sc.linger_ms = 50;
    sc.request_timeout_ms = 30_000;
    sc.delivery_timeout_ms = 150_050;
    sc.retry_backoff_ms = 1000;
    assert_passes(&sc);
}

/// Seed 0x5eed0010: a partition without a leader asks for metadata; with the only broker's
/// one in-flight slot taken by a lost produce request, no node could take the refresh and the
/// sender asked to be polled at the refresh's (past) due time again and again: a busy loop
/// until request.timeout.ms.
#[test]
fn seed_5eed0010_no_busy_loop_while_no_node_can_take_a_metadata_refresh() {
    let mut sc = scenario(
        0x5eed_0010,
        1,
        &[&[1, 1], &[1, 1, 1, 1]],
        vec![
            Step::Fault(Fault::MoveLeader {
                topic: 0,
                partition: 0,
                leader: None,
            }),
            Step::Fault(Fault::LoseProduceRequests { broker: 1, n: 1 }),
            send(2, 0, Target::Keyless, 101),
            send(3, 0, Target::Key(5), 26),
            Step::Close(End::ForceAfter(1305)),
        ],
    );
    sc.linger_ms = 50;
    sc.batch_size = 64;
    sc.buffer_memory = 11_400;
    sc.max_block_ms = 60_000;
    sc.retries = 1;
    sc.request_timeout_ms = 200;
    sc.delivery_timeout_ms = 10_250;
    sc.max_in_flight = 1;
    sc.adaptive = false;
    assert_passes(&sc);
}

/// Seed 0x5eed0097: a batch's request timed out (the broker had appended it, its answer was
/// lost) and it waited for a retry; other batches failed, so the epoch was bumped, and the
/// waiting batch was given new sequences of the new epoch: the broker could not recognise it
/// and appended it again (acknowledged at the second copy). Batches whose last attempt got no
/// answer are now retried as they are before the bump.
#[test]
fn seed_5eed0097_an_epoch_bump_does_not_restamp_a_batch_that_may_be_written() {
    let mut sc = scenario(
        0x5eed_0097,
        1,
        &[&[1, 1, 1], &[1, 1, 1]],
        vec![
            Step::Run(296),
            send(1, 1, Target::Explicit(1), 77),
            Step::Fault(Fault::DropProduceResponses { broker: 1, n: 2 }),
            Step::Fault(Fault::Stall { ms: 9296 }),
            send(0, 0, Target::Key(10), 102),
            send(1, 0, Target::Key(0), 1645),
            send(0, 1, Target::Keyless, 45),
            Step::Close(End::Close),
        ],
    );
    sc.threads = 2;
    sc.buffer_memory = 491_520;
    sc.max_block_ms = 0;
    sc.retries = 1;
    sc.retry_backoff_ms = 1000;
    sc.retry_backoff_max_ms = 5000;
    assert_passes(&sc);
}

/// Seed 0xf493e: a batch's first attempt got no answer (the broker had appended it; the
/// connection went away before the answer was read), its retry was answered
/// UNKNOWN_TOPIC_OR_PARTITION with no retries left, and it failed as if surely unwritten: the
/// epoch was bumped without waiting for the batches behind it, which were also in the log, and
/// they were written again under new sequences. A batch that once got no answer now stays
/// "maybe written" (whatever later attempts are answered) until it is acknowledged or the
/// broker's OUT_OF_ORDER_SEQUENCE_NUMBER shows the sequence is missing.
#[test]
fn seed_f493e_an_answered_retry_does_not_make_a_batch_with_an_unanswered_attempt_unwritten() {
    let mut sc = scenario(
        0xf493e,
        1,
        &[&[1, 1, 1, 1]],
        vec![
            send(1, 0, Target::Key(6), 903),
            Step::Run(57),
            send(1, 0, Target::Key(1), 12),
            Step::Fault(Fault::DropProduceResponses { broker: 1, n: 2 }),
            send(1, 0, Target::Explicit(1), 1410),
            Step::Fault(Fault::RefuseConnections {
                broker: 1,
                ms: 2623,
            }),
            send(1, 0, Target::Key(6), 49),
            Step::Run(2464),
            Step::Fault(Fault::FailProduce {
                topic: 0,
                partition: 1,
                n: 2,
                code: 3,
            }),
            Step::Fault(Fault::Stall { ms: 8926 }),
            Step::Run(196),
            Step::Close(End::HealThenClose),
        ],
    );
    sc.threads = 2;
    sc.linger_ms = 5;
    sc.batch_size = 200;
    sc.buffer_memory = 10_500;
    sc.max_block_ms = 100;
    sc.retries = 1;
    sc.retry_backoff_ms = 10;
    sc.retry_backoff_max_ms = 5000;
    sc.request_timeout_ms = 30_000;
    sc.delivery_timeout_ms = 60_005;
    sc.max_in_flight = 5;
    assert_passes(&sc);
}

/// Seed 0x3603: three batches to the old leader were written but their answers lost; the
/// partition moved and later batches were acknowledged by the new leader. The first two then
/// timed out (one expired); the other's retry, older than the broker's five-batch duplicate
/// window, was answered OUT_OF_ORDER_SEQUENCE_NUMBER and taken for a gap: the epoch bump
/// restamped it and it was written twice. A batch below the acknowledged sequences is in the
/// log: it now fails (acknowledgement lost, records written) and nothing is bumped.
#[test]
fn seed_3603_out_of_order_for_a_batch_below_acknowledged_sequences_is_no_gap() {
    let mut sc = scenario(
        0x3603,
        3,
        &[&[2]],
        vec![
            send(0, 0, Target::Keyless, 1150),
            Step::Run(254),
            Step::Fault(Fault::DropProduceResponses { broker: 2, n: 2 }),
            Step::Fault(Fault::DropProduceResponses { broker: 2, n: 2 }),
            send(0, 0, Target::Key(12), 89),
            send(2, 0, Target::Keyless, 1621),
            send(1, 0, Target::Keyless, 26),
            Step::Run(261),
            send(2, 0, Target::Explicit(0), 105),
            send(0, 0, Target::Explicit(0), 1424),
            Step::Fault(Fault::MoveLeader {
                topic: 0,
                partition: 0,
                leader: None,
            }),
            send(2, 0, Target::Keyless, 24),
            Step::Close(End::HealThenClose),
        ],
    );
    sc.threads = 3;
    sc.batch_size = 512;
    sc.buffer_memory = 19_456;
    sc.max_block_ms = 100;
    sc.retries = i32::MAX as u32;
    sc.retry_backoff_ms = 100;
    sc.retry_backoff_max_ms = 5000;
    sc.request_timeout_ms = 30_000;
    sc.delivery_timeout_ms = 40_000;
    sc.max_in_flight = 3;
    assert_passes(&sc);
}

/// Seed 0x1076b: three batches of a partition were answered REQUEST_TIMED_OUT after the
/// leader appended them and waited for a retry; the batch after them was refused
/// (INVALID_RECORD), a sure gap, and the gap cleared the partition's whole list of batches
/// that may be in the log, the earlier ones included: the epoch bump restamped them and they
/// were written twice. A gap now clears only the batches at or after it.
#[test]
fn seed_1076b_a_gap_does_not_release_earlier_batches_that_may_be_written() {
    let mut sc = scenario(
        0x1076b,
        2,
        &[&[2, 1, 1], &[2]],
        vec![
            send(0, 1, Target::Keyless, 35),
            send(0, 0, Target::Keyless, 112),
            send(0, 1, Target::Key(0), 101),
            send(2, 1, Target::Explicit(0), 54),
            send(0, 1, Target::Key(8), 8),
            send(1, 1, Target::Keyless, 61),
            Step::Fault(Fault::FailProduce {
                topic: 1,
                partition: 0,
                n: 3,
                code: 7,
            }),
            Step::Fault(Fault::FailProduce {
                topic: 1,
                partition: 0,
                n: 2,
                code: 87,
            }),
            Step::Fault(Fault::Delay { broker: 2, ms: 20 }),
            Step::Run(11318),
            Step::Close(End::HealThenClose),
        ],
    );
    sc.threads = 3;
    sc.batch_size = 64;
    sc.buffer_memory = 11_100;
    sc.max_block_ms = 100;
    sc.retries = i32::MAX as u32;
    sc.retry_backoff_ms = 1;
    sc.retry_backoff_max_ms = 5000;
    sc.request_timeout_ms = 30_000;
    sc.delivery_timeout_ms = 31_000;
    sc.max_in_flight = 4;
    assert_passes(&sc);
}

/// Seed 0xc256f: four batches went to a leader that stopped answering, then the leader moved
/// and two more went to the new one (six unacknowledged batches of one partition, over two
/// connections). The broker's log had all of them; the retry of the first, older than the
/// broker's five-batch duplicate window, was answered OUT_OF_ORDER_SEQUENCE_NUMBER, read as a
/// gap: the epoch bump restamped the batches and they were written twice. Now no more than
/// five batches of a partition are stamped from its lowest unacknowledged one on.
#[test]
fn seed_c256f_no_more_batches_in_flight_per_partition_than_the_brokers_duplicate_window() {
    let mut sc = scenario(
        0xc256f,
        2,
        &[&[1]],
        vec![
            send(0, 0, Target::Key(1), 54),
            Step::Run(1578),
            Step::Fault(Fault::Unresponsive {
                broker: 1,
                on: true,
            }),
            send(2, 0, Target::Keyless, 1),
            send(2, 0, Target::Key(1), 1181),
            send(2, 0, Target::Key(14), 3),
            Step::Run(276),
            send(1, 0, Target::Keyless, 110),
            Step::Fault(Fault::DropProduceResponses { broker: 2, n: 1 }),
            Step::Run(4423),
            send(2, 0, Target::Keyless, 119),
            Step::Fault(Fault::MoveLeader {
                topic: 0,
                partition: 0,
                leader: Some(2),
            }),
            send(2, 0, Target::Key(1), 58),
            send(2, 0, Target::Keyless, 98),
            send(2, 0, Target::Keyless, 82),
            send(1, 0, Target::Keyless, 85),
            Step::Flush,
            Step::Close(End::HealThenClose),
        ],
    );
    sc.threads = 3;
    sc.linger_ms = 50;
    sc.batch_size = 512;
    sc.buffer_memory = 18_432;
    sc.max_block_ms = 60_000;
    sc.retries = 3;
    sc.retry_backoff_ms = 1000;
    sc.retry_backoff_max_ms = 100;
    sc.request_timeout_ms = 30_000;
    sc.delivery_timeout_ms = 31_050;
    sc.max_in_flight = 4;
    assert_passes(&sc);
}
