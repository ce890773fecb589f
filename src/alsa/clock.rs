//! Queue time → `CLOCK_MONOTONIC` nanoseconds, and back.
//!
//! The input port stamps events with the real time of our own sequencer queue
//! (nanoseconds since the queue started). The queue starts once, when the
//! client is created; right after, [`QueueClock::anchor`] records the queue's
//! time against `CLOCK_MONOTONIC`: it reads the queue status between two
//! `clock_gettime` calls, keeps the tightest of a few such brackets, and takes
//! its midpoint. From then on `monotonic = queue_time + offset`.
//!
//! Drift: the kernel advances the queue with its timer (hrtimer, which runs on
//! `CLOCK_MONOTONIC`, or the system tick); the offset should therefore stay
//! constant, but a tick-driven queue can slip. The sequencer thread re-measures
//! the offset about once a second ([`QueueClock::correct`]) and slews towards
//! the measurement by at most [`MAX_SLEW_NS`] per correction, ignoring errors
//! smaller than the measurement's own uncertainty. Bounded slewing keeps
//! successive timestamps monotonic-ish (never a jump larger than the slew) while
//! no error can accumulate: the conversion is drift-free over any run length.

use std::time::Duration;

/// Largest change of the offset applied by one [`QueueClock::correct`] call.
pub const MAX_SLEW_NS: i64 = 50_000;

/// Attempts per anchor measurement; the tightest bracket wins.
pub const ANCHOR_TRIES: usize = 16;

/// Attempts per periodic correction: fewer, the thread is live then and the
/// tolerance absorbs a wider bracket.
pub const CORRECTION_TRIES: usize = 4;

/// `CLOCK_MONOTONIC` now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

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
pub struct QueueClock {
    /// `monotonic_ns - queue_ns`.
    offset_ns: i64,
}

impl QueueClock {
    /// A clock anchored on one measurement (taken right after the queue started).
    pub fn anchor(sample: Sample) -> Self {
        Self {
            offset_ns: sample.offset(),
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

    /// Moves the offset towards a fresh measurement, by at most [`MAX_SLEW_NS`];
    /// errors within the sample's uncertainty are ignored. Returns the error
    /// seen (measured − current offset), in ns.
    pub fn correct(&mut self, sample: Sample) -> i64 {
        let err = sample.offset() - self.offset_ns;
        let tolerance = (sample.window_ns / 2) as i64;
        if err.abs() > tolerance {
            let beyond = err - err.signum() * tolerance;
            self.offset_ns += beyond.clamp(-MAX_SLEW_NS, MAX_SLEW_NS);
        }
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
        let c = QueueClock::anchor(sample(1_000, 5_000_000, 10));
        assert_eq!(c.to_monotonic(Duration::from_nanos(2_000)), 5_001_000);
        assert_eq!(c.to_queue(5_001_000), Some(Duration::from_nanos(2_000)));
        assert_eq!(c.to_queue(10), None);
    }

    #[test]
    fn small_errors_within_the_window_are_ignored() {
        let mut c = QueueClock::anchor(sample(0, 1_000_000, 10));
        assert_eq!(c.correct(sample(0, 1_000_004, 10)), 4);
        assert_eq!(c.offset_ns(), 1_000_000);
    }

    #[test]
    fn large_errors_are_slewed_not_jumped() {
        let mut c = QueueClock::anchor(sample(0, 1_000_000, 0));
        c.correct(sample(0, 1_000_000 + 10 * MAX_SLEW_NS as u64, 0));
        assert_eq!(c.offset_ns(), 1_000_000 + MAX_SLEW_NS);
        for _ in 0..20 {
            c.correct(sample(0, 1_000_000 + 10 * MAX_SLEW_NS as u64, 0));
        }
        // Converged: a constant drift does not accumulate.
        assert_eq!(c.offset_ns(), 1_000_000 + 10 * MAX_SLEW_NS);
    }

    #[test]
    fn measure_keeps_the_tightest_bracket() {
        let s = measure::<()>(|| Ok(Duration::from_millis(3))).unwrap();
        assert_eq!(s.queue_ns, 3_000_000);
        assert!(s.mono_ns > 0);
    }
}
