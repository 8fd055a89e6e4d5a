//! Windowed statistics with the semantics of Java's `SampledStat` (`Avg`, `Max`, `Rate`) under
//! Java's default `MetricConfig`: [`SAMPLES`] samples of [`SAMPLE_WINDOW`] each
//! (`metrics.num.samples=2`, `metrics.sample.window.ms=30000`), so values cover the last 30 to
//! 60 seconds. Time is passed in: the sender records with its `now`, a reader measures with its
//! own.

use std::time::{Duration, Instant};

/// Java's `metrics.sample.window.ms` default.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(30);
/// Java's `metrics.num.samples` default.
pub const SAMPLES: usize = 2;

#[derive(Debug, Clone, Copy)]
struct Sample {
    start: Instant,
    last_event: Instant,
    events: u64,
    total: f64,
    max: f64,
}

impl Sample {
    fn new(now: Instant) -> Sample {
        Sample {
            start: now,
            last_event: now,
            events: 0,
            total: 0.0,
            max: f64::NEG_INFINITY,
        }
    }
}

/// One sensor's samples: the count, sum and maximum of the values recorded in each window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sampled {
    samples: Vec<Sample>,
    current: usize,
}

impl Sampled {
    /// Records `value` at `now` (Java's `SampledStat.record`: a sample older than the window
    /// is complete and the next one, reset, takes its place).
    pub(crate) fn record(&mut self, now: Instant, value: f64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
        }
        if now.saturating_duration_since(self.samples[self.current].start) >= SAMPLE_WINDOW {
            self.current = (self.current + 1) % SAMPLES;
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now));
            } else {
                self.samples[self.current] = Sample::new(now);
            }
        }
        let s = &mut self.samples[self.current];
        s.events += 1;
        s.total += value;
        s.max = s.max.max(value);
        s.last_event = now;
    }

    /// The samples still inside the monitored window at `now` (Java's
    /// `purgeObsoleteSamples`: a sample whose last event is `SAMPLES` windows old no longer
    /// counts).
    fn live(&self, now: Instant) -> impl Iterator<Item = &Sample> {
        let expire = SAMPLE_WINDOW * SAMPLES as u32;
        self.samples
            .iter()
            .filter(move |s| now.saturating_duration_since(s.last_event) < expire)
    }

    fn count_and_total(&self, now: Instant) -> (u64, f64) {
        self.live(now)
            .fold((0, 0.0), |(c, t), s| (c + s.events, t + s.total))
    }

    /// Java's `Avg`: the mean of the values in the window, `NaN` when there is none.
    pub(crate) fn avg(&self, now: Instant) -> f64 {
        match self.count_and_total(now) {
            (0, _) => f64::NAN,
            (c, t) => t / c as f64,
        }
    }

    /// Java's `Max`: the largest value in the window, `NaN` when there is none.
    pub(crate) fn max(&self, now: Instant) -> f64 {
        let (mut any, mut max) = (false, f64::NEG_INFINITY);
        for s in self.live(now).filter(|s| s.events > 0) {
            any = true;
            max = max.max(s.max);
        }
        if any {
            max
        } else {
            f64::NAN
        }
    }

    /// Java's `Rate` (of a `SampledTotal`, in seconds): the sum of the values in the window
    /// divided by the window's length, counted as at least `SAMPLES - 1` full windows plus the
    /// elapsed part of the last, so that a young producer does not report a burst as a rate.
    pub(crate) fn rate(&self, now: Instant) -> f64 {
        self.count_and_total(now).1 / self.window_secs(now)
    }

    /// Java's `Rate` of a `WindowedCount`: events (not their values) per second.
    pub(crate) fn event_rate(&self, now: Instant) -> f64 {
        self.count_and_total(now).0 as f64 / self.window_secs(now)
    }

    /// Java's `Rate.windowSize`, in seconds (at least 1 ms).
    fn window_secs(&self, now: Instant) -> f64 {
        let oldest = self.live(now).map(|s| s.start).min().unwrap_or(now);
        let mut elapsed = now.saturating_duration_since(oldest);
        let full = (elapsed.as_nanos() / SAMPLE_WINDOW.as_nanos()) as usize;
        if full < SAMPLES - 1 {
            elapsed += SAMPLE_WINDOW * (SAMPLES - 1 - full) as u32;
        }
        elapsed.as_secs_f64().max(0.001)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn empty_window_is_nan_and_zero_rate() {
        let s = Sampled::default();
        let now = Instant::now();
        assert!(s.avg(now).is_nan());
        assert!(s.max(now).is_nan());
        assert_eq!(s.rate(now), 0.0);
    }

    #[test]
    fn avg_max_and_rate_follow_java() {
        let t0 = Instant::now();
        let mut s = Sampled::default();
        s.record(t0, 10.0);
        s.record(at(t0, 10), 30.0);
        assert_eq!(s.avg(at(t0, 10)), 20.0);
        assert_eq!(s.max(at(t0, 10)), 30.0);
        // 10 s elapsed, fewer than SAMPLES - 1 full windows: one window is added (40 s).
        assert_eq!(s.rate(at(t0, 10)), 40.0 / 40.0);
        assert_eq!(s.event_rate(at(t0, 10)), 2.0 / 40.0);
        // A second sample starts after the window; the first still counts.
        s.record(at(t0, 35), 2.0);
        assert_eq!(s.avg(at(t0, 35)), 14.0);
        assert_eq!(s.rate(at(t0, 35)), 42.0 / 35.0);
        // The first sample (last event at 10 s) is obsolete at 70 s.
        assert_eq!(s.avg(at(t0, 70)), 2.0);
        assert_eq!(s.max(at(t0, 70)), 2.0);
        // The third window reuses the first sample's slot.
        s.record(at(t0, 66), 5.0);
        assert_eq!(s.max(at(t0, 66)), 5.0);
        assert_eq!(s.avg(at(t0, 66)), 3.5);
        // Everything is obsolete two windows after the last event.
        assert!(s.avg(at(t0, 200)).is_nan());
        assert_eq!(s.rate(at(t0, 200)), 0.0);
    }
}
