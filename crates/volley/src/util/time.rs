//! Deadlines from durations that users and configs pass in.
//!
//! Durations come from method arguments (`flush_timeout(Duration::MAX)`) and from config values
//! as large as Java allows (`max.block.ms=9223372036854775807`, `metadata.max.age.ms`, backoffs).
//! `Instant + Duration` panics on overflow, so every deadline Volley computes from such a value
//! goes through [`deadline`], which saturates: a wait longer than [`FOREVER`] is a wait of
//! [`FOREVER`], which no process outlives.
//!
//! It is also the home of the wall clock that record timestamps come from, [`wall_clock_ms`].

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

/// The wall clock in milliseconds since the Unix epoch (Java's `System.currentTimeMillis()`):
/// a record's default timestamp (`CreateTime`). Negative before the epoch.
///
/// On the send path of every record without a timestamp, so on Unix it reads
/// `clock_gettime(CLOCK_REALTIME)` itself: through `SystemTime::duration_since` and
/// `Duration::as_millis` (a 128-bit division) the same read cost about 60 more instructions.
#[cfg(unix)]
pub fn wall_clock_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec`, and CLOCK_REALTIME is a clock every Unix
    // has; the call writes nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
        return std_wall_clock_ms();
    }
    // tv_nsec is in 0..1e9 also before the epoch (tv_sec then negative): this floors. The
    // fields are i32 on some 32-bit targets, hence the conversions.
    #[allow(clippy::useless_conversion)]
    let ms = i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000;
    ms
}

/// [`wall_clock_ms`] elsewhere.
#[cfg(not(unix))]
pub fn wall_clock_ms() -> i64 {
    std_wall_clock_ms()
}

/// [`wall_clock_ms`] through `std`.
fn std_wall_clock_ms() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
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

    #[test]
    fn the_wall_clock_agrees_with_std() {
        let before = std_wall_clock_ms();
        let ms = wall_clock_ms();
        let after = std_wall_clock_ms();
        assert!(before <= ms && ms <= after, "{before} <= {ms} <= {after}");
        // After 2020-01-01 and before 2100: milliseconds, not seconds or nanoseconds.
        assert!((1_577_836_800_000..4_102_444_800_000).contains(&ms), "{ms}");
    }
}
