//! Timing figures of received MIDI clock and notes: inter-tick error and
//! cumulative drift of a clock, error of notes against their ideal times
//! after removing the constant delay. Shared by `tests/kernel_clock_out.rs`
//! and `benches/clock_out.rs`.

/// p50, p99 and max of `|x|` (nearest rank); zeros when empty.
pub fn abs_percentiles(xs: &[f64]) -> (f64, f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut a: Vec<f64> = xs.iter().map(|x| x.abs()).collect();
    a.sort_by(f64::total_cmp);
    let at = |q: f64| a[((a.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), a[a.len() - 1])
}

/// The median (upper median for an even count); 0 when empty.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut a = xs.to_vec();
    a.sort_by(f64::total_cmp);
    a[a.len() / 2]
}

/// A received clock, against its nominal tick period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockFigures {
    /// Ticks received.
    pub ticks: usize,
    /// |interval − period|, µs: p50, p99, max.
    pub p50_us: f64,
    /// See `p50_us`.
    pub p99_us: f64,
    /// See `p50_us`.
    pub max_us: f64,
    /// Cumulative drift: last − first − (ticks − 1)·period, µs.
    pub drift_us: f64,
}

impl ClockFigures {
    /// Figures of consecutive ticks received at `times_ns` (monotonic), one
    /// every `period_ns` nominally. Needs at least two ticks.
    ///
    /// # Panics
    /// With fewer than two ticks.
    pub fn of(times_ns: &[u64], period_ns: f64) -> Self {
        assert!(times_ns.len() >= 2, "clock figures need two ticks");
        let errors: Vec<f64> = times_ns
            .windows(2)
            .map(|w| ((w[1] as f64 - w[0] as f64) - period_ns) / 1e3)
            .collect();
        let (p50_us, p99_us, max_us) = abs_percentiles(&errors);
        let span = times_ns[times_ns.len() - 1] as f64 - times_ns[0] as f64;
        Self {
            ticks: times_ns.len(),
            p50_us,
            p99_us,
            max_us,
            drift_us: (span - (times_ns.len() - 1) as f64 * period_ns) / 1e3,
        }
    }
}

/// Received events against their ideal times.
#[derive(Clone, Debug, PartialEq)]
pub struct OnTime {
    /// The constant delay: median of arrival − ideal, µs.
    pub delay_us: f64,
    /// Each event's arrival − ideal − delay, µs.
    pub errors_us: Vec<f64>,
}

impl OnTime {
    /// Pairs arrivals (monotonic ns) with ideal times (ns), in order.
    ///
    /// # Panics
    /// When the counts differ.
    pub fn of(arrivals_ns: &[u64], ideal_ns: &[f64]) -> Self {
        assert_eq!(arrivals_ns.len(), ideal_ns.len(), "one arrival per event");
        let raw: Vec<f64> = arrivals_ns
            .iter()
            .zip(ideal_ns)
            .map(|(&a, &i)| (a as f64 - i) / 1e3)
            .collect();
        let delay_us = median(&raw);
        Self {
            delay_us,
            errors_us: raw.iter().map(|r| r - delay_us).collect(),
        }
    }

    /// p50, p99, max of |error|, µs.
    pub fn percentiles(&self) -> (f64, f64, f64) {
        abs_percentiles(&self.errors_us)
    }
}
