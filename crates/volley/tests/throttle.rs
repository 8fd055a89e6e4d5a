//! KIP-219 against the real broker: a client quota (`producer_byte_rate`, set with Kafka's
//! config tool for this test's own `client.id`) makes the broker answer with a throttle time;
//! the producer holds back, stays under the quota, reports the throttle, and fails nothing.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::*;
use volley::{Producer, Record};

/// The quota, in bytes per second.
const QUOTA: usize = 256 * 1024;
/// Records of `VALUE` bytes: 16 quota-seconds of data. The broker measures its rate over its
/// last `quota.window.num` (11) one-second samples, padded to ten seconds at the start, so about
/// ten quota-seconds pass before it throttles at all (the whole run's rate is about 1.3x the
/// quota, by the broker's rule). The rate is measured from the
/// first throttled response on, where the quota sets the pace.
const RECORDS: usize = 4096;
const VALUE: usize = 1024;

fn quota(client_id: &str, op: &str, config: &str) {
    alter_config("clients", client_id, &[op, config]);
}

/// Removes the quota even if the test fails.
struct QuotaGuard(String);

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        quota(&self.0, "--delete-config", "producer_byte_rate");
    }
}

#[test]
fn client_quota_throttles_the_producer_which_stays_under_it_and_fails_nothing() {
    let topic = unique_topic("throttle");
    create_topic(&topic, 1, &[]);
    let client_id = unique_topic("volley-throttle");
    quota(
        &client_id,
        "--add-config",
        &format!("producer_byte_rate={QUOTA}"),
    );
    let _guard = QuotaGuard(client_id.clone());
    // Quotas reach the broker's quota manager asynchronously: give it a moment.
    std::thread::sleep(std::time::Duration::from_secs(2));

    let bs = bootstrap();
    let p = Producer::from_properties([
        ("bootstrap.servers", bs.as_str()),
        ("client.id", client_id.as_str()),
        ("acks", "all"),
        ("linger.ms", "5"),
    ])
    .expect("producer");
    let failed = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for i in 0..RECORDS {
        let mut value = format!("{i:06}:").into_bytes();
        value.resize(VALUE, b'x');
        let (f, a) = (failed.clone(), acked.clone());
        p.send_with_callback(Record::new(topic.as_str()).value(value), move |r| {
            if let Err(e) = r {
                eprintln!("delivery failed: {e}");
                f.fetch_add(1, Ordering::Relaxed);
            }
            a.fetch_add(1, Ordering::Relaxed);
        })
        .expect("send");
    }
    // Sending does not block (4 MB fit in buffer.memory): wait for the first throttle.
    let (throttled_at, acked_then) = eventually(std::time::Duration::from_secs(30), || {
        let a = acked.load(Ordering::Relaxed);
        (p.metrics().produce_throttle_time_max > 0).then(|| (Instant::now(), a))
    })
    .expect("the broker throttles the producer");
    p.flush().expect("flush");
    let elapsed = start.elapsed();
    let throttled_rate =
        ((RECORDS - acked_then) * VALUE) as f64 / throttled_at.elapsed().as_secs_f64();
    let m = p.metrics();
    p.close().expect("close");

    let rate = (RECORDS * VALUE) as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{} bytes in {elapsed:?}: {:.0} B/s ({:.2} x quota), {:.0} B/s ({:.2} x quota) for the \
         {} records after the first throttle; produce-throttle-time-avg {:.1} ms, -max {} ms over {} responses",
        RECORDS * VALUE,
        rate,
        rate / QUOTA as f64,
        throttled_rate,
        throttled_rate / QUOTA as f64,
        RECORDS - acked_then,
        m.produce_throttle_time_avg(),
        m.produce_throttle_time_max,
        m.produce_throttle_time_count
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no record fails");
    assert_eq!(m.record_send_total, RECORDS as u64);
    assert_eq!(m.record_error_total, 0);
    assert!(
        RECORDS - acked_then >= RECORDS / 8,
        "throttled only after {acked_then} records"
    );
    assert!(
        throttled_rate < 1.3 * QUOTA as f64,
        "rate {throttled_rate:.0} B/s over quota {QUOTA} once throttled"
    );
    assert!(m.produce_throttle_time_max > 0, "{m:?}");
    assert!(m.produce_throttle_time_avg() > 0.0, "{m:?}");

    let consumed = consume(&topic, RECORDS);
    assert_eq!(consumed.len(), RECORDS);
    let seen: HashSet<usize> = consumed
        .iter()
        .map(|c| {
            let v = c.value.as_deref().expect("value");
            assert_eq!(v.len(), VALUE);
            v[..6].parse().expect("index")
        })
        .collect();
    assert_eq!(seen.len(), RECORDS, "every record once");
}
