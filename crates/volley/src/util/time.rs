//! Deadlines from durations that users and configs pass in.
//!
//! Durations come from method arguments (`flush_timeout(Duration::MAX)`) and from config values
//! as large as Java allows (`max.block.ms=9223372036854775807`, `metadata.max.age.ms`, backoffs).
//! `Instant + Duration` panics on overflow, so every deadline Volley computes from such a value
//! goes through [`deadline`], which saturates: a wait longer than [`FOREVER`] is a wait of
//! [`FOREVER`], which no process outlives.

use std::time::{Duration, Instant};

/// The longest wait a deadline stands for: 100 years.
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `now + after`, saturating at `now + FOREVER` instead of overflowing.
pub(crate) fn deadline(now: Instant, after: Duration) -> Instant {
    let after = after.min(FOREVER);
    now.checked_add(after)
        // Only on a platform whose `Instant` cannot reach 100 years ahead.
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_millis(5)),
            now + Duration::from_millis(5)
        );
        assert_eq!(deadline(now, Duration::MAX), now + FOREVER);
        assert_eq!(
            deadline(now, Duration::from_millis(i64::MAX as u64)),
            now + FOREVER
        );
        assert!(deadline(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365 * 50));
    }
}
