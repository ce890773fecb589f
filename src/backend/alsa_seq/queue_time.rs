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
//! the offset jumps straight to the median, then once a second). The offset
//! is a line, not a constant: a queue timer slaved to a sound card's clock
//! runs at its own rate (tens to hundreds of ppm off), which bounded steps of
//! the offset alone cannot follow. So each correction
//! - measures the rate: the median slope of the pairs of recent readings at
//!   least [`MIN_RATE_SPAN_NS`] apart (Theil–Sen; late outliers do not move it),
//! - carries the last [`HISTORY`] readings to now along that rate and steers
//!   the offset towards their *median*, by at most [`MAX_SLEW_NS`] per step
//!   beyond what the rate predicts.
//!
//! Our queue normally runs on the high-resolution timer or the system tick,
//! both on the kernel's own clock: then no rate is measured
//! ([`QueueTime::on_kernel_clock`]), since the only rate the readings could
//! show is their lag changing when the machine starts or stops delaying
//! interrupts (the likely cause of a schedule that walked 12 ms in 20 s in
//! the VM while the hypervisor took CPU).
//!
//! A poor first anchor is replaced within seconds, single late readings
//! (outliers of several hundred µs under emulation) are ignored rather than
//! copied into the timestamps, and a rate difference is followed, so no error
//! accumulates over a long run. No allocation: the history is an array.

use std::time::Duration;

use crate::timeline::monotonic_ns;

/// Largest change of the offset applied by one [`QueueTime::correct`] call.
pub const MAX_SLEW_NS: i64 = 50_000;

/// Readings kept: the offset follows their median, the rate their slopes
/// (about 15 s of history once settled).
pub const HISTORY: usize = 16;

/// Attempts per anchor measurement; the tightest bracket wins.
pub const ANCHOR_TRIES: usize = 16;

/// Attempts per periodic correction: fewer, the thread is live then and the
/// tolerance absorbs a wider bracket.
pub const CORRECTION_TRIES: usize = 4;

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

/// The mapping between our queue's real time and `CLOCK_MONOTONIC`:
/// `monotonic = queue + offset(t)`, with `offset(t)` a line (offset at a
/// reference time plus a measured rate), so a queue timer that runs at its
/// own speed (a PCM-slaved timer drifts by tens to hundreds of ppm) is
/// followed, not chased by bounded steps that it outruns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueueTime {
    /// `monotonic_ns - queue_ns` at `ref_mono`.
    offset_ns: i64,
    /// Monotonic time of the last correction, ns.
    ref_mono: u64,
    /// How fast the offset moves: ns per ns of monotonic time (−300e-6 for
    /// a queue 300 ppm fast).
    rate: f64,
    /// Recent readings, `(mono_ns, offset_ns)` (a ring), `filled` of them valid.
    history: [(u64, i64); HISTORY],
    filled: usize,
    next: usize,
    /// Whether the rate is measured (a timer with its own clock) or held at
    /// zero (see [`QueueTime::on_kernel_clock`]).
    tracks_rate: bool,
}

/// Readings must span this long before a rate is measured: with readings
/// scattered by ±100 µs, a 2 s baseline already bounds a pair's error to ±100 ppm
/// and the median of many pairs to much less.
pub const MIN_RATE_SPAN_NS: u64 = 2_000_000_000;

/// Largest rate believed (ppm): far beyond any real timer, so only absurd
/// estimates (a suspended machine, a queue stopped) are cut.
pub const MAX_RATE_PPM: f64 = 2_000.0;

/// Pairs of readings (i < j) in the history.
const PAIRS: usize = HISTORY * (HISTORY - 1) / 2;

impl QueueTime {
    /// A clock anchored on one measurement (taken right after the queue started).
    pub fn anchor(sample: Sample) -> Self {
        let mut history = [(0, 0); HISTORY];
        history[0] = (sample.mono_ns, sample.offset());
        Self {
            offset_ns: sample.offset(),
            ref_mono: sample.mono_ns,
            rate: 0.0,
            history,
            filled: 1,
            next: 1 % HISTORY,
            tracks_rate: true,
        }
    }

    /// A clock for a queue whose timer runs on the kernel's own clock (the
    /// high-resolution timer or the system tick): its rate against
    /// `CLOCK_MONOTONIC` is zero by construction, so none is measured. A rate
    /// measured there could only come from the readings' lag, which changes
    /// when the machine starts or stops delaying interrupts, and would carry
    /// the offset away by hundreds of ppm.
    pub fn on_kernel_clock(sample: Sample) -> Self {
        Self {
            tracks_rate: false,
            ..Self::anchor(sample)
        }
    }

    /// The offset, `monotonic - queue`, in ns, at the last correction.
    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }

    /// The measured rate of the queue against monotonic, in ppm (positive:
    /// the queue runs slow).
    pub fn rate_ppm(&self) -> f64 {
        self.rate * 1e6
    }

    /// The offset at monotonic time `mono`.
    fn offset_at(&self, mono: u64) -> i64 {
        let dt = mono as i64 - self.ref_mono as i64;
        self.offset_ns + (self.rate * dt as f64) as i64
    }

    /// Monotonic ns of a queue time.
    pub fn to_monotonic(&self, queue: Duration) -> u64 {
        let q = queue.as_nanos() as i64;
        // The offset at the (nearly exact) first guess: the rate is tiny,
        // so the error of guessing is rate² × distance.
        let guess = (q + self.offset_ns).max(0) as u64;
        (q + self.offset_at(guess)).max(0) as u64
    }

    /// Queue time of a monotonic time; `None` if it falls before the queue started.
    pub fn to_queue(&self, mono_ns: u64) -> Option<Duration> {
        let q = mono_ns as i64 - self.offset_at(mono_ns);
        (q >= 0).then(|| Duration::from_nanos(q as u64))
    }

    /// Adds a fresh measurement, re-measures the rate, and moves the offset
    /// towards the median of the recent readings (each carried to now along
    /// the rate), by at most [`MAX_SLEW_NS`] beyond what the rate predicts.
    /// Returns the error of this reading (measured − predicted), in ns.
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
        let now = sample.mono_ns;
        let predicted = self.offset_at(now);
        let err = sample.offset() - predicted;
        self.history[self.next] = (now, sample.offset());
        self.next = (self.next + 1) % HISTORY;
        self.filled = (self.filled + 1).min(HISTORY);
        if let Some(rate) = self.measured_rate() {
            self.rate = rate;
        }
        // Every reading carried to now along the rate.
        let mut recent = [0i64; HISTORY];
        for (r, &(mono, off)) in recent.iter_mut().zip(&self.history[..self.filled]) {
            let dt = now as i64 - mono as i64;
            *r = off + (self.rate * dt as f64) as i64;
        }
        let recent = &mut recent[..self.filled];
        recent.sort_unstable();
        // Lower median: late readings (larger offsets) are the outliers.
        let median = recent[(recent.len() - 1) / 2];
        self.offset_ns = predicted + (median - predicted).clamp(-limit, limit);
        self.ref_mono = now;
        err
    }

    /// Theil–Sen: the median slope of the pairs of readings at least
    /// [`MIN_RATE_SPAN_NS`] apart (robust to the late outliers). `None`
    /// until there are enough such pairs.
    fn measured_rate(&self) -> Option<f64> {
        if !self.tracks_rate {
            return None;
        }
        let mut slopes = [0f64; PAIRS];
        let mut n = 0;
        let h = &self.history[..self.filled];
        for (i, a) in h.iter().enumerate() {
            for b in &h[i + 1..] {
                let (early, late) = if a.0 <= b.0 { (a, b) } else { (b, a) };
                let dt = late.0 - early.0;
                if dt >= MIN_RATE_SPAN_NS {
                    slopes[n] = (late.1 - early.1) as f64 / dt as f64;
                    n += 1;
                }
            }
        }
        if n < HISTORY / 2 {
            return None;
        }
        let slopes = &mut slopes[..n];
        let mid = n / 2;
        let (_, m, _) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
        Some(m.clamp(-MAX_RATE_PPM * 1e-6, MAX_RATE_PPM * 1e-6))
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

    /// A queue whose timer runs `ppm` fast against monotonic (a PCM-slaved
    /// timer), read once a second like the thread does (ten times a second
    /// at first), each reading late by a pseudo-random 0..200 us and now and
    /// then by 600 us. Returns the worst conversion error (ns) over the last
    /// `tail_s` seconds of `secs`.
    fn drifting_queue_error(ppm: f64, secs: u64, tail_s: u64) -> i64 {
        let start_mono = 5_000_000_000u64;
        let queue_at =
            |mono: u64| (mono.saturating_sub(start_mono) as f64 * (1.0 + ppm * 1e-6)) as u64;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut late = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng % 17 == 0 {
                600_000
            } else {
                rng % 200_000
            }
        };
        // A reading: the queue is read `lag` after the bracket's middle,
        // so it looks earlier than it is (the kernel's interrupt lag).
        let mut read = |mono: u64| {
            let lag = late();
            sample(queue_at(mono.saturating_sub(lag)), mono, 2_000)
        };
        let mut c = QueueTime::anchor(read(start_mono));
        let mut worst = 0i64;
        let mut mono = start_mono;
        for step in 1..=(10 + secs) {
            mono += if step <= 10 {
                100_000_000
            } else {
                1_000_000_000
            };
            let s = read(mono);
            if step <= 10 {
                c.settle(s);
            } else {
                c.correct(s);
            }
            // Conversion of an event stamped now, half a second later.
            let ev = mono + 500_000_000;
            let err = c.to_monotonic(Duration::from_nanos(queue_at(ev))) as i64 - ev as i64;
            if step > 10 + secs - tail_s {
                worst = worst.max(err.abs());
            }
        }
        worst
    }

    #[test]
    fn a_drifting_queue_is_followed() {
        for ppm in [0.0, 30.0, -120.0, 300.0, -300.0, 1000.0] {
            let worst = drifting_queue_error(ppm, 300, 200);
            eprintln!("queue drifting {ppm} ppm: worst error {} us", worst / 1000);
            assert!(
                worst < 400_000,
                "{ppm} ppm: conversion off by up to {} us",
                worst / 1000
            );
        }
    }

    /// A queue on the kernel's clock (high-resolution timer), read like
    /// [`drifting_queue_error`] does, while the machine delays the queue's
    /// timer interrupts for 10 s (each reading lags 0..6 ms, as under a
    /// hypervisor taking CPU) between two quiet stretches (0..200 us).
    /// Returns the conversion errors (ns) after each reading.
    fn kernel_clock_queue_errors() -> Vec<i64> {
        let start_mono = 5_000_000_000u64;
        let queue_at = |mono: u64| mono.saturating_sub(start_mono);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut c = QueueTime::on_kernel_clock(sample(queue_at(start_mono), start_mono, 2_000));
        let mut errors = Vec::new();
        let mut mono = start_mono;
        for step in 1..=50u64 {
            mono += if step <= 10 {
                100_000_000
            } else {
                1_000_000_000
            };
            let secs = (mono - start_mono) / 1_000_000_000;
            let lag = if (10..20).contains(&secs) {
                next() % 6_000_000
            } else {
                next() % 200_000
            };
            let s = sample(queue_at(mono - lag), mono, 2_000);
            if step <= 10 {
                c.settle(s);
            } else {
                c.correct(s);
            }
            let ev = mono + 500_000_000;
            errors.push(c.to_monotonic(Duration::from_nanos(queue_at(ev))) as i64 - ev as i64);
        }
        errors
    }

    #[test]
    fn a_kernel_clock_queue_does_not_walk_when_its_interrupts_run_late() {
        let errors = kernel_clock_queue_errors();
        let worst = errors.iter().map(|e| e.abs()).max().unwrap();
        let last = errors.last().unwrap().abs();
        eprintln!(
            "worst {} us, last {} us; every 5th: {:?}",
            worst / 1000,
            last / 1000,
            errors
                .iter()
                .step_by(5)
                .map(|e| e / 1000)
                .collect::<Vec<_>>()
        );
        // The offset may follow the lagging readings by bounded steps (the
        // quiet lag, plus one step per reading of the 10 s); a rate read
        // from them would carry it away by their trend instead.
        let bound = 200_000 + 10 * MAX_SLEW_NS;
        assert!(
            worst <= bound,
            "conversion off by up to {} us (bound {} us)",
            worst / 1000,
            bound / 1000
        );
        assert!(
            last <= 250_000,
            "still off by {} us 30 s after",
            last / 1000
        );
    }

    #[test]
    fn measure_keeps_the_tightest_bracket() {
        let s = measure::<()>(|| Ok(Duration::from_millis(3))).unwrap();
        assert_eq!(s.queue_ns, 3_000_000);
        assert!(s.mono_ns > 0);
    }
}
