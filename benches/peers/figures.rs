//! From what the JACK client recorded to a row: frames mapped to
//! `CLOCK_MONOTONIC`, notes paired with the kernel's by key, the figures.

use super::common::{abs_percentiles, median, placement_key, PLACEMENT_NOTES};
use super::{Peer, Row, RATE};

/// Half the window of cycles an anchor is taken from, s.
const ANCHOR_WINDOW_S: f64 = 0.5;
/// A note is paired with one of the same key placed from this long before
/// its kernel time to [`PAIR_AFTER_S`] after: 1.8 s in all, less than the
/// 1.875 s between the closest two notes of the same key in the file.
const PAIR_BEFORE_S: f64 = 0.5;
/// See [`PAIR_BEFORE_S`].
const PAIR_AFTER_S: f64 = 1.3;
/// Notes placed this long after a peer's xrun are left out of its figures
/// (and counted), as `tests/kernel/placement.rs` leaves out PhasorSync's.
const XRUN_SHADOW_MS: f64 = 50.0;
/// What the JACK client recorded: cycles `(frame, wake ns)` and note-ons
/// `(frame, key)`, frames counted from the first cycle's.
pub(super) struct PeerLog {
    /// Frames per second of CLOCK_MONOTONIC over the whole run (a
    /// least-squares line through the wake-ups), for the record.
    rate: f64,
    /// The rate the client was told.
    nominal_rate: f64,
    cycles: Vec<(i64, u64)>,
    notes: Vec<(i64, u8)>,
    /// Cycles and events the client had no room for.
    pub(super) overflow: u64,
}

/// Read the JACK client's record (see `xtask/jack/peer_client.c`).
pub(super) fn parse_log(text: &str) -> Result<PeerLog, String> {
    let mut log = PeerLog {
        rate: 0.0,
        nominal_rate: 0.0,
        cycles: Vec::new(),
        notes: Vec::new(),
        overflow: 0,
    };
    let mut first: Option<u32> = None;
    // Frame times are 32-bit and wrap: count them from the first cycle's.
    let mut rel = |f: u32| i64::from(f.wrapping_sub(*first.get_or_insert(f)) as i32);
    for line in text.lines() {
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().map_err(|_| format!("bad record line {line:?}")))
            .collect::<Result<_, _>>()?;
        match (line.split_whitespace().next(), fields.as_slice()) {
            (Some("r"), [rate]) => log.nominal_rate = *rate as f64,
            (Some("c"), [frame, _, wake]) => log.cycles.push((rel(*frame as u32), *wake)),
            (Some("e"), [frame, status, key, vel]) => {
                if status & 0xF0 == 0x90 && *vel > 0 {
                    log.notes.push((rel(*frame as u32), *key as u8));
                }
            }
            (Some("lost"), [c, e]) => log.overflow = c + e,
            _ => return Err(format!("bad record line {line:?}")),
        }
    }
    if log.nominal_rate <= 0.0 || log.cycles.len() < 2 {
        return Err("the client recorded no cycles".into());
    }
    log.rate = fitted_rate(&log.cycles);
    Ok(log)
}

/// Frames per second of a least-squares line through `(frame, wake ns)`.
fn fitted_rate(cycles: &[(i64, u64)]) -> f64 {
    let n = cycles.len() as f64;
    let (f0, w0) = (cycles[0].0 as f64, cycles[0].1 as f64);
    let pts = cycles.iter().map(|&(f, w)| (f as f64 - f0, w as f64 - w0));
    let (mf, mw) = pts
        .clone()
        .fold((0.0, 0.0), |(a, b), (f, w)| (a + f / n, b + w / n));
    let (sfw, sff) = pts.fold((0.0, 0.0), |(a, b), (f, w)| {
        (a + (f - mf) * (w - mw), b + (f - mf) * (f - mf))
    });
    // ns per frame → frames per second.
    1e9 * sff / sfw
}

/// The driver's schedule near `frame`, as `(anchor ns, frames per second)`:
/// the cycles within [`ANCHOR_WINDOW_S`] of it give the rate (a
/// least-squares line through their wake-ups: a dummy driver need not keep
/// its nominal rate, JACK's sleeps a period *after* processing), and the
/// earliest `wake − frame/rate` among them the anchor (wake-ups are only
/// ever late).
fn schedule_near(log: &PeerLog, frame: i64) -> (f64, f64) {
    let half = (ANCHOR_WINDOW_S * log.nominal_rate) as i64;
    let from = log.cycles.partition_point(|c| c.0 < frame - half);
    let to = log.cycles.partition_point(|c| c.0 <= frame + half);
    let window = if to >= from + 2 {
        &log.cycles[from..to]
    } else {
        &log.cycles[..]
    };
    let rate = fitted_rate(window);
    let anchor = window
        .iter()
        .map(|&(f, wake)| wake as f64 - f as f64 * 1e9 / rate)
        .fold(f64::INFINITY, f64::min);
    (anchor, rate)
}

/// A frame on `CLOCK_MONOTONIC`, ns.
fn mapped_ns(log: &PeerLog, frame: i64) -> f64 {
    let (anchor, rate) = schedule_near(log, frame);
    anchor + frame as f64 * 1e9 / rate
}

/// What [`pair`] found.
struct Pairing {
    /// (index of the peer's note, its error in ns) per paired note.
    errors: Vec<(usize, f64)>,
    /// Probe notes without a partner.
    lost: usize,
    /// The first few of them, (index, key).
    first_lost: Vec<(usize, u8)>,
}

/// Pair each probe note with the peer's first unused note of the same key
/// from [`PAIR_BEFORE_S`] before to [`PAIR_AFTER_S`] after it.
fn pair(probe: &[(u64, u8)], peer: &[(f64, u8)]) -> Pairing {
    let mut used = vec![false; peer.len()];
    let mut errors = Vec::new();
    let mut lost = 0;
    let mut lost_keys = Vec::new();
    for (i, &(t, key)) in probe.iter().enumerate() {
        let t = t as f64;
        let found = peer.iter().enumerate().position(|(j, &(m, k))| {
            !used[j] && k == key && m >= t - PAIR_BEFORE_S * 1e9 && m <= t + PAIR_AFTER_S * 1e9
        });
        match found {
            Some(j) => {
                used[j] = true;
                errors.push((j, peer[j].0 - t));
            }
            None => {
                lost += 1;
                if lost_keys.len() < 5 {
                    lost_keys.push((i, key));
                }
            }
        }
    }
    Pairing {
        errors,
        lost,
        first_lost: lost_keys,
    }
}

/// Median removed, |x − median| p50/p99/max of `xs` (ns) in samples; the median.
fn jitter_samples(xs: &[f64]) -> ((f64, f64, f64), f64) {
    let m = median(xs);
    let centred: Vec<f64> = xs.iter().map(|x| (x - m) * RATE / 1e9).collect();
    (abs_percentiles(&centred), m)
}

pub(super) fn row(
    peer: Peer,
    frames: u32,
    times: &[u32],
    probe: &[(u64, u8)],
    log: &PeerLog,
) -> Row {
    // The floor: kernel times against the file, paired by key in order.
    let file: Vec<(u64, u8)> = times
        .iter()
        .enumerate()
        .map(|(i, &ms)| (u64::from(ms - times[0]) * 1_000_000, placement_key(i)))
        .collect();
    let offset = probe.first().map_or(0.0, |p| p.0 as f64);
    let shifted: Vec<(f64, u8)> = probe.iter().map(|&(t, k)| (t as f64 - offset, k)).collect();
    let floor_err: Vec<f64> = pair(&file, &shifted)
        .errors
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let (floor, _) = jitter_samples(&floor_err);

    // The peer's xruns: cycles woken more than a period after its schedule.
    let period_ns = f64::from(frames) * 1e9 / log.nominal_rate;
    let wake_ns: Vec<f64> = log
        .cycles
        .iter()
        .map(|&(f, w)| w as f64 - mapped_ns(log, f))
        .collect();
    let xruns: Vec<i64> = log
        .cycles
        .iter()
        .zip(&wake_ns)
        .filter(|(_, &w)| w > period_ns)
        .map(|(c, _)| c.0)
        .collect();
    // As tests/kernel/placement.rs does for PhasorSync's host: notes placed
    // within XRUN_SHADOW_MS (at least 8 blocks) after one are left out.
    let shadow = ((XRUN_SHADOW_MS * 1e-3 * log.nominal_rate) as i64).max(8 * i64::from(frames));
    let near_xrun = |f: i64| xruns.iter().any(|&x| x <= f && f - x <= shadow);

    let mapped: Vec<(f64, u8)> = log
        .notes
        .iter()
        .map(|&(f, k)| (mapped_ns(log, f), k))
        .collect();
    let Pairing {
        errors: paired,
        lost,
        first_lost: lost_keys,
    } = pair(probe, &mapped);
    let all: Vec<f64> = paired.iter().map(|&(_, e)| e).collect();
    let kept: Vec<f64> = paired
        .iter()
        .filter(|&&(j, _)| !near_xrun(log.notes[j].0))
        .map(|&(_, e)| e)
        .collect();
    let (jitter, delay) = jitter_samples(&kept);
    let jitter = (!kept.is_empty()).then_some(jitter);
    let (all_jitter, _) = jitter_samples(&all);
    let lost = lost + PLACEMENT_NOTES.saturating_sub(probe.len());
    let (w50, w99, wmax) = abs_percentiles(&wake_ns);
    Row {
        peer: peer.name(),
        block: frames,
        delay_ms: delay / 1e6,
        jitter,
        lost,
        extra: mapped.len().saturating_sub(paired.len()),
        floor,
        wake: (w50 / 1e3, w99 / 1e3, wmax / 1e3),
        late_cycles: xruns.len(),
        detail: format!(
            "{} of {} paired notes left out (within {XRUN_SHADOW_MS} ms after a cycle a period \
             late; with them: p50 {:.2}, p99 {:.2}, max {:.2}); kernel saw {} notes, the peer \
             gave {}; {} cycles at {:.1} frames/s of CLOCK_MONOTONIC (nominal {}); first lost \
             (index, key): {lost_keys:?}",
            all.len() - kept.len(),
            all.len(),
            all_jitter.0,
            all_jitter.1,
            all_jitter.2,
            probe.len(),
            mapped.len(),
            log.cycles.len(),
            log.rate,
            log.nominal_rate
        ),
    }
}
