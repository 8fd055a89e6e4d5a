//! The send path in instructions per record, for `valgrind --tool=callgrind`, which counts
//! instructions repeatably whatever else the machine is doing (wall-clock benchmarks on a shared
//! 2-core machine vary by 2x between runs).
//!
//! Usage: `instructions <scenario> <records>`, scenario `keyed` or `keyless`. Run it twice, with
//! N and 2N records, and divide the difference of the two totals by N: setup costs cancel out.
//! `scripts/bench-instructions` does that.

mod common;

use std::hint::black_box;

use common::{keys, value, CHUNK, TOPIC};
use volley::Record;

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "keyed".into());
    // `cargo bench` passes `--bench`: run a short smoke pass then.
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let h = common::harness();
    let keys = keys();
    let value = value();
    for i in 0..n {
        let mut r = Record::new(TOPIC).value(value.as_slice());
        if scenario == "keyed" {
            r = r.key(&keys[i as usize % keys.len()][..]);
        }
        drop(black_box(h.send(r).expect("send")));
        if i % CHUNK == CHUNK - 1 {
            h.recycle(false);
        }
    }
    h.recycle(true);
}
