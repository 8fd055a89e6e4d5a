//! Publishing the metrics through the [`metrics`](https://docs.rs/metrics) facade (cargo
//! feature `metrics-exporter`), so that any recorder installed by the application (a Prometheus
//! or StatsD exporter, for instance) receives them.
//!
//! Each [`MetricEntry`] becomes one facade metric named `<group>.<name>` (e.g.
//! `producer-metrics.record-send-rate`, `producer-topic-metrics.byte-total`), labelled with
//! its tags (`client-id`, and `topic` or `node-id`): `*-total` metrics as counters (set to
//! their absolute value), everything else as gauges (rates, averages, maxima: Java's values
//! over its 30-to-60-second window; `NaN` while a window is empty, as Java). Descriptions are
//! Java's. A recorder that panics is caught and logged, like an interceptor: the producer and
//! the publishing thread go on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use ::metrics::Label;

use super::{list_of, MetricEntry, MetricKind};
use crate::producer::Producer;
use crate::shared::Shared;

fn key(e: &MetricEntry) -> String {
    format!("{}.{}", e.group, e.name)
}

fn publish_one(e: &MetricEntry, describe: bool) {
    let labels: Vec<Label> = e
        .tags
        .iter()
        .map(|(k, v)| Label::new(*k, v.clone()))
        .collect();
    let name = key(e);
    match e.kind {
        MetricKind::Counter => {
            if describe {
                ::metrics::describe_counter!(name.clone(), e.description);
            }
            ::metrics::counter!(name, labels).absolute(e.value as u64);
        }
        MetricKind::Gauge => {
            if describe {
                ::metrics::describe_gauge!(name.clone(), e.description);
            }
            ::metrics::gauge!(name, labels).set(e.value);
        }
    }
}

/// Publishes `list` (from [`Producer::metric_list`]) to the installed `metrics` recorder, once.
/// Returns `false` if the recorder panicked (caught and logged; the rest of the list is then
/// skipped).
pub fn publish(list: &[MetricEntry]) -> bool {
    publish_list(list, true)
}

fn publish_list(list: &[MetricEntry], describe: bool) -> bool {
    let r = catch_unwind(AssertUnwindSafe(|| {
        for e in list {
            publish_one(e, describe);
        }
    }));
    if r.is_err() {
        tracing::warn!("the metrics recorder panicked while publishing producer metrics");
    }
    r.is_ok()
}

/// A thread that publishes a producer's metrics every `interval` (see the module docs) until
/// it is stopped or dropped, or the producer has closed. It holds no handle that keeps the
/// producer open.
#[derive(Debug)]
pub struct MetricsPublisher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsPublisher {
    /// Starts publishing `producer`'s metrics now and then every `interval` (at least 10 ms).
    /// Fails only if the thread cannot be spawned.
    pub fn start(producer: &Producer, interval: Duration) -> std::io::Result<MetricsPublisher> {
        let (source, client_id) = producer.metrics_source();
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = stop.clone();
        let interval = interval.max(Duration::from_millis(10));
        let thread = std::thread::Builder::new()
            .name(format!("volley-metrics-{client_id}"))
            .spawn(move || run(&source, &client_id, interval, &stop2))?;
        Ok(MetricsPublisher {
            stop,
            thread: Some(thread),
        })
    }

    /// Publishes once more and stops the thread, waiting for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let (flag, cv) = &*self.stop;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsPublisher {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(source: &Weak<Shared>, client_id: &str, interval: Duration, stop: &(Mutex<bool>, Condvar)) {
    let mut first = true;
    loop {
        let Some(shared) = source.upgrade() else {
            return;
        };
        let list = list_of(&shared, client_id);
        drop(shared);
        publish_list(&list, first);
        first = false;
        let (flag, cv) = stop;
        let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
        if *guard {
            return;
        }
        let (guard, _) = cv
            .wait_timeout_while(guard, interval, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        if *guard {
            // One last publication with the final values.
            drop(guard);
            if let Some(shared) = source.upgrade() {
                publish_list(&list_of(&shared, client_id), false);
            }
            return;
        }
    }
}
