//! The kernel's scheduled floor: `aplaymidi` plays a file of a stream (see
//! [`super::smf::smf_at_48k`]) into a fresh [`Receiver`], on `aplaymidi`'s
//! own queue. Whatever a scheduling sender does, it cannot beat this.

use std::time::Duration;

use alsa::seq::Addr;

use super::aplaymidi::aplaymidi;
use super::figures::{received_stream, stream_on_time, OnTime};
use super::paced::{Timed, RATE};
use super::receiver::{Received, Receiver};
use super::smf::{file_sample, smf_at_48k};

/// `aplaymidi` plays `want` (samples at 48 kHz, to the file's 10-sample ticks) into a fresh
/// receiver: what arrived, and the on-time errors (clock, notes) against
/// the file's schedule, measured from the first arrival (so the constant
/// delay is ~0), or what was wrong with the sequence.
///
/// # Panics
/// When `want` is empty or `aplaymidi` fails.
pub fn aplaymidi_floor(want: &[Timed]) -> (Received, Result<(OnTime, OnTime), String>) {
    let file = smf_at_48k(want).write_temp();
    let rx = Receiver::start("floor-rx", &[]);
    let secs = (want.last().expect("a stream").0 - want[0].0) / RATE;
    aplaymidi(&rx.addr_str(), &file, Duration::from_secs_f64(secs + 30.0));
    rx.wait_count(want.len(), Duration::from_secs(2));
    let r = rx.stop();
    let _ = std::fs::remove_file(&file);
    let first = file_sample(want[0].0);
    let t0 = r.arrivals.first().map_or(0, |a| r.mono_ns(a)) as f64;
    let times = stream_on_time(
        "aplaymidi",
        &received_stream(&r),
        want,
        |s| t0 + (file_sample(s) - first) * 1e9 / RATE,
        |_| true,
    );
    (r, times)
}

/// The plugin's `MIDI out` address, from its log line
/// `ALSA sequencer client N "NAME": MIDI in N:P, MIDI out N:P`.
pub fn logged_output_addr<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Addr> {
    logged_addr(lines, "MIDI out ")
}

/// The plugin's `MIDI in` address, from the same log line.
pub fn logged_input_addr<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Addr> {
    logged_addr(lines, "MIDI in ")
}

/// The address after `label` in the plugin's address log line.
fn logged_addr<'a>(lines: impl IntoIterator<Item = &'a str>, label: &str) -> Option<Addr> {
    lines.into_iter().find_map(|line| {
        let rest = line.split(label).nth(1)?;
        let (c, p) = rest.split([',', ' ']).next()?.trim().split_once(':')?;
        Some(Addr {
            client: c.parse().ok()?,
            port: p.parse().ok()?,
        })
    })
}

/// The plugin's running total of a counted loss, from its log lines
/// `"N {what} (TOTAL in all)"` (the newest total; 0 when never logged).
pub fn logged_total<'a>(lines: impl IntoIterator<Item = &'a str>, what: &str) -> u64 {
    lines
        .into_iter()
        .filter(|line| line.contains(what))
        .filter_map(|line| {
            let total = line.rsplit_once(" (")?.1.strip_suffix(" in all)")?;
            total.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}
