//! Queue time → `CLOCK_MONOTONIC` nanoseconds, and back.
//!
//! The input port stamps events with the real time of our own sequencer queue
//! (nanoseconds since the queue started). The queue starts once, when the
//! client is created; right after, [`QueueTime::anchor`] records the queue's
//! time against `CLOCK_MONOTONIC`: it reads the queue status between two
//! `clock_gettime` calls, keeps the tightest of a few such brackets, and takes
//! its midpoint. From then on `monotonic = queue_time + offset`.
//!
//! Drift and noise: the kernel advances the queue on its timer interrupt
//! (hrtimer, which runs on `CLOCK_MONOTONIC`, or the system tick) and
//! interpolates between interrupts with the monotonic clock, so the queue
//! time lags true time by however late the last interrupt ran. The event
//! timestamps and the status readings share that lag, so the right offset is
//! its *average*, not any one reading: measured in the project VM, single
//! readings scatter by ±100 µs around a constant (`examples/alsa_clock_drift.rs`).
//! The thread therefore re-measures (every 100 ms for the first second, when
//! the offset jumps straight to the median, then once a second) and steers the
//! offset towards the *median* of the last [`HISTORY`] readings (the anchor
//! included), by at most [`MAX_SLEW_NS`] per step: a poor first anchor is
//! replaced within seconds, single late readings (outliers of several hundred
//! µs under emulation) are ignored rather than copied into the timestamps,
//! and a real rate difference is followed with a few seconds' delay, so no
//! error accumulates over a long run. No allocation: the history is an array.

use std::time::Duration;

/// Largest change of the offset applied by one [`QueueTime::correct`] call.
pub const MAX_SLEW_NS: i64 = 50_000;

/// Readings whose median the offset follows.
pub const HISTORY: usize = 9;

/// Attempts per anchor measurement; the tightest bracket wins.
pub const ANCHOR_TRIES: usize = 16;

/// Attempts per periodic correction: fewer, the thread is live then and the
/// tolerance absorbs a wider bracket.
pub const CORRECTION_TRIES: usize = 4;

pub use crate::timeline::monotonic_ns;

/// One bracketed reading: queue time read between two monotonic readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Queue real time, ns.
    pub queue_ns: u64,
    /// Monotonic time at the middle of the bracket, ns.
    pub mono_ns: u64,
    /// Width of the bracket, ns: the uncertainty of this sample.
    pub window_ns: u64,
}

impl Sample {
    /// `mono - queue` for this sample.
    pub fn offset(&self) -> i64 {
        self.mono_ns as i64 - self.queue_ns as i64
    }
}

/// Takes the tightest of [`ANCHOR_TRIES`] bracketed readings of the queue
/// time. `read_queue` returns the queue's current real time.
///
/// # Errors
/// Whatever `read_queue` returns.
pub fn measure<E>(read_queue: impl FnMut() -> Result<Duration, E>) -> Result<Sample, E> {
    measure_n(ANCHOR_TRIES, read_queue)
}

/// [`measure`] with `tries` readings (at least one).
///
/// # Errors
/// Whatever `read_queue` returns.
pub fn measure_n<E>(
    tries: usize,
    mut read_queue: impl FnMut() -> Result<Duration, E>,
) -> Result<Sample, E> {
    let mut best: Option<Sample> = None;
    for _ in 0..tries.max(1) {
        let t0 = monotonic_ns();
        let q = read_queue()?;
        let t1 = monotonic_ns();
        let s = Sample {
            queue_ns: q.as_nanos() as u64,
            mono_ns: t0 + (t1 - t0) / 2,
            window_ns: t1 - t0,
        };
        if best.is_none_or(|b| s.window_ns < b.window_ns) {
            best = Some(s);
        }
    }
    // PANIC: the loop runs at least once and sets `best`.
    Ok(best.expect("at least one sample"))
}

/// The mapping between our queue's real time and `CLOCK_MONOTONIC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueTime {
    /// `monotonic_ns - queue_ns`.
    offset_ns: i64,
    /// Recent measured offsets (a ring), `filled` of them valid.
    history: [i64; HISTORY],
    filled: usize,
    next: usize,
}

impl QueueTime {
    /// A clock anchored on one measurement (taken right after the queue started).
    pub fn anchor(sample: Sample) -> Self {
        let mut history = [0; HISTORY];
        history[0] = sample.offset();
        Self {
            offset_ns: sample.offset(),
            history,
            filled: 1,
            next: 1 % HISTORY,
        }
    }

    /// The current offset, `monotonic - queue`, in ns.
    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }

    /// Monotonic ns of a queue time.
    pub fn to_monotonic(&self, queue: Duration) -> u64 {
        (queue.as_nanos() as i64 + self.offset_ns).max(0) as u64
    }

    /// Queue time of a monotonic time; `None` if it falls before the queue started.
    pub fn to_queue(&self, mono_ns: u64) -> Option<Duration> {
        let q = mono_ns as i64 - self.offset_ns;
        (q >= 0).then(|| Duration::from_nanos(q as u64))
    }

    /// Adds a fresh measurement and moves the offset towards the median of
    /// the recent ones, by at most [`MAX_SLEW_NS`]. Returns the error of this
    /// reading (measured − offset before the step), in ns.
    pub fn correct(&mut self, sample: Sample) -> i64 {
        self.correct_with_limit(sample, MAX_SLEW_NS)
    }

    /// [`Self::correct`] without the slew limit: the offset becomes the median
    /// at once. For the first readings after start, when the anchor may be
    /// off by more than a slewed correction could fix quickly.
    pub fn settle(&mut self, sample: Sample) -> i64 {
        self.correct_with_limit(sample, i64::MAX)
    }

    fn correct_with_limit(&mut self, sample: Sample, limit: i64) -> i64 {
        let err = sample.offset() - self.offset_ns;
        self.history[self.next] = sample.offset();
        self.next = (self.next + 1) % HISTORY;
        self.filled = (self.filled + 1).min(HISTORY);
        let mut recent = self.history;
        let recent = &mut recent[..self.filled];
        recent.sort_unstable();
        // Lower median: late readings (larger offsets) are the outliers.
        let median = recent[(recent.len() - 1) / 2];
        self.offset_ns += (median - self.offset_ns).clamp(-limit, limit);
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(queue_ns: u64, mono_ns: u64, window_ns: u64) -> Sample {
        Sample {
            queue_ns,
            mono_ns,
            window_ns,
        }
    }

    #[test]
    fn converts_both_ways() {
        let c = QueueTime::anchor(sample(1_000, 5_000_000, 10));
        assert_eq!(c.to_monotonic(Duration::from_nanos(2_000)), 5_001_000);
        assert_eq!(c.to_queue(5_001_000), Some(Duration::from_nanos(2_000)));
        assert_eq!(c.to_queue(10), None);
    }

    #[test]
    fn outliers_are_ignored_and_noise_is_not_copied() {
        let mut c = QueueTime::anchor(sample(0, 1_000_000, 10));
        // One late reading (+450 us) does not move the offset.
        c.correct(sample(0, 1_450_000, 10));
        assert_eq!(c.offset_ns(), 1_000_000);
        // Readings scattered around 1 ms keep it at the middle.
        for off in [1_080_000, 920_000, 1_010_000, 990_000, 1_400_000, 1_000_000] {
            c.correct(sample(0, off, 10));
        }
        assert!(
            (c.offset_ns() - 1_000_000).abs() <= 10_000,
            "{}",
            c.offset_ns()
        );
    }

    #[test]
    fn a_real_change_is_followed_by_bounded_steps() {
        let mut c = QueueTime::anchor(sample(0, 1_000_000, 0));
        let target = 1_000_000 + 4 * MAX_SLEW_NS;
        let mut last = c.offset_ns();
        for _ in 0..HISTORY + 8 {
            c.correct(sample(0, target as u64, 0));
            assert!((c.offset_ns() - last).abs() <= MAX_SLEW_NS);
            last = c.offset_ns();
        }
        assert_eq!(c.offset_ns(), target);
    }

    #[test]
    fn settle_jumps_to_the_lower_median() {
        let mut c = QueueTime::anchor(sample(0, 3_500_000, 10));
        c.settle(sample(0, 1_000_000, 10));
        assert_eq!(c.offset_ns(), 1_000_000);
        c.settle(sample(0, 1_100_000, 10));
        assert_eq!(c.offset_ns(), 1_100_000);
    }

    #[test]
    fn measure_keeps_the_tightest_bracket() {
        let s = measure::<()>(|| Ok(Duration::from_millis(3))).unwrap();
        assert_eq!(s.queue_ns, 3_000_000);
        assert!(s.mono_ns > 0);
    }
}
