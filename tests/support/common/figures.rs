//! Timing figures of received MIDI clock and notes: inter-tick error and
//! cumulative drift of a clock, error of notes against their ideal times
//! after removing the constant delay. Shared by `tests/kernel/clock_out.rs`
//! and `benches/clock_out.rs`.

use super::paced::Timed;
use super::receiver::Received;

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
    /// Cumulative drift, µs: the rise over the run of the least-squares
    /// line through each kept tick's lateness (arrival − ideal), from the
    /// first kept tick's ideal time to the last's. A clock built as "the
    /// previous tick plus an interval" accumulates its rounding here; one
    /// late tick at either end, which would decide a last − first figure,
    /// moves it by only its share of the fit.
    pub drift_us: f64,
}

impl ClockFigures {
    /// Figures of ticks received at `times_ns` (monotonic) that were due
    /// at `ideal_ns` (one every tick period, as the sender's clock counts
    /// time), over the ticks `keep` marks: the interval error of each pair
    /// of consecutive kept ticks, and the drift ([`ClockFigures::drift_us`])
    /// from the first kept tick to the last.
    ///
    /// # Panics
    /// When the lengths differ or fewer than two ticks are kept.
    pub fn of(times_ns: &[u64], ideal_ns: &[f64], keep: &[bool]) -> Self {
        assert!(times_ns.len() == ideal_ns.len() && times_ns.len() == keep.len());
        let late: Vec<f64> = times_ns
            .iter()
            .zip(ideal_ns)
            .map(|(&t, &i)| (t as f64 - i) / 1e3)
            .collect();
        let errors: Vec<f64> = (1..late.len())
            .filter(|&i| keep[i - 1] && keep[i])
            .map(|i| late[i] - late[i - 1])
            .collect();
        let kept: Vec<(f64, f64)> = ideal_ns
            .iter()
            .zip(&late)
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|((&i, &l), _)| (i / 1e3, l))
            .collect();
        assert!(kept.len() >= 2, "clock figures need two ticks");
        let (p50_us, p99_us, max_us) = abs_percentiles(&errors);
        Self {
            ticks: kept.len(),
            p50_us,
            p99_us,
            max_us,
            drift_us: trend(&kept) * (kept[kept.len() - 1].0 - kept[0].0),
        }
    }
}

/// The slope of the least-squares line through `(x, y)` points; 0 when
/// every `x` is the same.
pub fn trend(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Received events against their ideal times.
#[derive(Clone, Debug, PartialEq)]
pub struct OnTime {
    /// The constant delay: median of arrival − ideal, µs.
    pub delay_us: f64,
    /// Each kept event's arrival − ideal − delay, µs.
    pub errors_us: Vec<f64>,
    /// Events left out (near an xrun).
    pub excluded: usize,
}

impl OnTime {
    /// Pairs arrivals (monotonic ns) with ideal times (ns), in order; only
    /// the events `keep` marks count.
    ///
    /// # Panics
    /// When the counts differ.
    pub fn of(arrivals_ns: &[u64], ideal_ns: &[f64], keep: &[bool]) -> Self {
        assert_eq!(arrivals_ns.len(), ideal_ns.len(), "one arrival per event");
        assert_eq!(arrivals_ns.len(), keep.len());
        let raw: Vec<f64> = arrivals_ns
            .iter()
            .zip(ideal_ns)
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|((&a, &i), _)| (a as f64 - i) / 1e3)
            .collect();
        let delay_us = median(&raw);
        Self {
            delay_us,
            errors_us: raw.iter().map(|r| r - delay_us).collect(),
            excluded: keep.iter().filter(|&&k| !k).count(),
        }
    }

    /// p50, p99, max of |error|, µs.
    pub fn percentiles(&self) -> (f64, f64, f64) {
        abs_percentiles(&self.errors_us)
    }
}

/// The system messages (clock) and note-ons/offs received, in arrival
/// order, with their monotonic times.
pub fn received_stream(r: &Received) -> Vec<(u64, Vec<u8>)> {
    r.arrivals
        .iter()
        .filter(|a| a.bytes[0] > 0xF0 || matches!(a.bytes[0] & 0xF0, 0x80 | 0x90))
        .map(|a| (r.mono_ns(a), a.bytes.clone()))
        .collect()
}

/// Check that `got` holds exactly `want`'s messages, the clock's in order
/// and the notes' in order (between the two streams only time orders them:
/// a naive sender sends a block's clock before its notes), and return their
/// on-time errors against `ideal` (sample → monotonic ns) over the events
/// whose sample `keep` accepts: (clock, notes).
///
/// # Errors
/// What differs, when a stream is not exactly the expected one.
pub fn stream_on_time(
    who: &str,
    got: &[(u64, Vec<u8>)],
    want: &[Timed],
    ideal: impl Fn(f64) -> f64,
    keep: impl Fn(f64) -> bool,
) -> Result<(OnTime, OnTime), String> {
    let stream = |clock: bool| {
        let got: Vec<&(u64, Vec<u8>)> = got
            .iter()
            .filter(|(_, b)| (b[0] >= 0xF0) == clock)
            .collect();
        let want: Vec<&Timed> = want
            .iter()
            .filter(|(_, b)| (b[0] >= 0xF0) == clock)
            .collect();
        let what = if clock { "clock" } else { "notes" };
        let got_bytes: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
        let want_bytes: Vec<&[u8]> = want.iter().map(|(_, b)| b.as_slice()).collect();
        if got_bytes != want_bytes {
            let first = got_bytes
                .iter()
                .zip(&want_bytes)
                .position(|(g, w)| g != w)
                .unwrap_or(got_bytes.len().min(want_bytes.len()));
            // Arrival − ideal (µs) around the difference, to tell a late
            // message from an early one.
            let around: Vec<String> = (first.saturating_sub(2)..(first + 4).min(got.len()))
                .filter_map(|i| {
                    let w = want.get(i)?;
                    Some(format!(
                        "#{i} got {:02X?} at {:+.0} us, want {:02X?} at sample {}",
                        got[i].1,
                        (got[i].0 as f64 - ideal(w.0)) / 1e3,
                        w.1,
                        w.0
                    ))
                })
                .collect();
            return Err(format!(
                "{who}, {what}: {} messages received, {} expected; first difference at #{first}: \
                 got {:02X?}, want {:02X?}; arrival − ideal of the wanted one's slot: {around:#?}",
                got_bytes.len(),
                want_bytes.len(),
                &got_bytes[first..(first + 6).min(got_bytes.len())],
                &want_bytes[first..(first + 6).min(want_bytes.len())],
            ));
        }
        let arrivals: Vec<u64> = got.iter().map(|(t, _)| *t).collect();
        let ideals: Vec<f64> = want.iter().map(|(s, _)| ideal(*s)).collect();
        let kept: Vec<bool> = want.iter().map(|(s, _)| keep(*s)).collect();
        Ok(OnTime::of(&arrivals, &ideals, &kept))
    };
    Ok((stream(true)?, stream(false)?))
}

/// On-time errors with each wanted message matched to the received message
/// with the same bytes and the same occurrence number (the k-th `90 3C 64`
/// to the k-th), so a swapped pair is still timed: for figures of a stream
/// whose order was wrong (which a test reports as such). Only messages whose
/// sample `keep` accepts count. `None` when some message never arrived.
pub fn on_time_by_content(
    got: &[(u64, Vec<u8>)],
    want: &[Timed],
    ideal: impl Fn(f64) -> f64,
    keep: impl Fn(f64) -> bool,
) -> Option<OnTime> {
    use std::collections::HashMap;
    let mut arrivals: HashMap<&[u8], std::collections::VecDeque<u64>> = HashMap::new();
    for (t, b) in got {
        arrivals.entry(b.as_slice()).or_default().push_back(*t);
    }
    let mut a = Vec::with_capacity(want.len());
    let mut i = Vec::with_capacity(want.len());
    let mut k = Vec::with_capacity(want.len());
    for (s, b) in want {
        a.push(arrivals.get_mut(b.as_slice())?.pop_front()?);
        i.push(ideal(*s));
        k.push(keep(*s));
    }
    Some(OnTime::of(&a, &i, &k))
}
