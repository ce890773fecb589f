//! Makes losses visible: the audio thread only counts and rings; the main
//! thread turns counter changes into log lines, a *summary*: one line per
//! counter that moved, with its count since the last summary and its total.
//! Every counter is a total over the instance's life and the last reported
//! snapshot is never reset, so each loss is reported exactly once, whatever
//! the activations.
//!
//! A flood of losses makes at most one summary per [`SUMMARY_INTERVAL`]. A
//! change that comes sooner waits, and is not lost: the main thread leaves
//! the time it may report again in [`SummaryDue`], the audio thread asks the
//! host for a main-thread callback once that time has come, and the timer
//! (when the host offers timer support) calls the report too, so a change is
//! reported even when the host is not processing. Stopping the engine
//! reports at once: nothing calls back after it.

use crate::counting::{Row, Severity};
use crate::engine::EngineStats;
use crate::midi_clock::follower::Lock;
use crate::plugin::audio_thread::counters::{AudioStats, ClockInStats, Diagnostics};
use crate::plugin::audio_thread::to_host::clock_in::lock_value;
use crate::plugin::params::{index, table::LATENCY_AUTO, PARAMS};
use crate::plugin::PhasorSyncMainThread;
use crate::timeline::monotonic_ns;
use clack_extensions::log::LogSeverity;
use std::sync::atomic::{AtomicU64, Ordering};

/// The shortest time between two summaries, ns. 2 s: a flood (a stuck
/// controller, a full queue on every block) writes a line a counter every 2 s
/// instead of one a block, which a host log shows without scrolling the rest
/// away, while a single loss still reads as an answer to what the user just
/// did (a note that did not sound).
pub const SUMMARY_INTERVAL_NS: u64 = 2_000_000_000;
/// [`SUMMARY_INTERVAL_NS`] as a duration.
pub const SUMMARY_INTERVAL: std::time::Duration =
    std::time::Duration::from_nanos(SUMMARY_INTERVAL_NS);
/// The period of the host timer that calls the report (when the host has
/// timer support): how late after its time a waiting summary may come.
pub const TIMER_PERIOD_MS: u32 = 250;

/// When the audio thread should ask for a main-thread callback so a waiting
/// summary is made: a `CLOCK_MONOTONIC` time in ns, 0 when none waits.
/// Written by the main thread, taken by the audio thread.
#[derive(Debug, Default)]
pub struct SummaryDue(AtomicU64);

impl SummaryDue {
    /// True once, when a summary waits and its time has come by `now_ns`.
    ///
    /// # Realtime Safety
    /// One atomic load, and a compare-exchange when due.
    #[inline]
    pub fn take(&self, now_ns: u64) -> bool {
        let due = self.0.load(Ordering::Acquire);
        due != 0
            && now_ns >= due
            && self
                .0
                .compare_exchange(due, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    fn set(&self, at_ns: u64) {
        self.0.store(at_ns.max(1), Ordering::Release);
    }

    fn clear(&self) {
        self.0.store(0, Ordering::Release);
    }
}

/// What was last reported to the user, and when.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reported {
    /// The counters as last reported.
    last: Diagnostics,
    /// When (`CLOCK_MONOTONIC` ns); `None` before the first summary.
    at_ns: Option<u64>,
}

/// Whether a summary may be made at `now_ns` after one at `last_ns`.
fn may_summarise(last_ns: Option<u64>, now_ns: u64) -> bool {
    last_ns.is_none_or(|t| now_ns.saturating_sub(t) >= SUMMARY_INTERVAL_NS)
}

/// Adds to `lines` one line per counter of `rows` that moved from `old` to
/// `new`, with `{source}` filled in: `"{new since} {what} ({total} in all)"`.
fn rows_moved<S>(
    rows: &[Row<S>],
    (old, new): (&S, &S),
    source: &str,
    lines: &mut Vec<(LogSeverity, String)>,
) {
    for row in rows {
        let (before, now) = ((row.read)(old), (row.read)(new));
        if now <= before {
            continue;
        }
        let severity = match row.severity {
            Severity::Info => LogSeverity::Info,
            Severity::Warning => LogSeverity::Warning,
        };
        let what = row.what.replace("{source}", source);
        lines.push((severity, format!("{} {what} ({now} in all)", now - before)));
    }
}

/// The summary's lines from `old` to `new`: the audio thread's losses, those
/// below the seam, then the clock follower's notes (not the lock line).
fn summary(old: &Diagnostics, new: &Diagnostics, source: &str) -> Vec<(LogSeverity, String)> {
    let mut lines = Vec::new();
    rows_moved(
        AudioStats::ROWS,
        (&old.audio, &new.audio),
        source,
        &mut lines,
    );
    rows_moved(
        EngineStats::ROWS,
        (&old.engine, &new.engine),
        source,
        &mut lines,
    );
    let clock_in = (&old.clock_in, &new.clock_in);
    rows_moved(ClockInStats::ROWS, clock_in, source, &mut lines);
    lines
}

/// The line for a change of the follower's lock state (`changes` since the
/// last report): the state now, with the input's jitter and the phase error,
/// as the read-only parameters show them. A dropout is a warning.
fn lock_line(changes: u64, source: &str, read: impl Fn(usize) -> f64) -> (LogSeverity, String) {
    let text = |i: usize| {
        let mut s = String::new();
        let _ = PARAMS[i].format(read(i), &mut s);
        s
    };
    let lock = read(index::EXT_LOCK);
    let severity = if lock == lock_value(Lock::FreeRunning) {
        LogSeverity::Warning
    } else {
        LogSeverity::Info
    };
    let mut line = format!(
        "external MIDI clock from {source}: {} (jitter {} RMS, phase error {})",
        text(index::EXT_LOCK),
        text(index::EXT_JITTER),
        text(index::EXT_PHASE_ERROR)
    );
    if changes > 1 {
        line.push_str(&format!(", {changes} changes since the last report"));
    }
    (severity, line)
}

/// The line for a change of the MIDI input latency in use (`changes` since
/// the last report): the value now, as "Latency in use" shows it, and whether
/// Auto chose it.
fn latency_line(changes: u64, read: impl Fn(usize) -> f64) -> String {
    let mut ms = String::new();
    let _ = PARAMS[index::LATENCY_IN_USE].format(read(index::LATENCY_IN_USE), &mut ms);
    let how = if read(index::LATENCY) >= LATENCY_AUTO {
        "set by Auto from the delays measured"
    } else {
        "the fixed choice"
    };
    let mut line = format!("MIDI input latency in use: {ms} ({how})");
    if changes > 1 {
        line.push_str(&format!(", {changes} changes since the last report"));
    }
    line
}

impl PhasorSyncMainThread<'_> {
    /// Every counter of this instance, read now without a lock: the audio
    /// thread's, the clock follower's and the engine's (zero without an
    /// engine). For a window, or a test, to show them.
    pub fn diagnostics(&self) -> Diagnostics {
        let engine = self.news().map(|n| n.stats()).unwrap_or_default();
        Diagnostics::read(&self.shared.counters, engine)
    }

    /// Forward the engine's log lines, and summarise what was lost since the
    /// last summary if the interval has passed (else leave it due).
    pub(crate) fn report(&self) {
        self.forward_engine_log();
        self.summarise(false);
    }

    /// Forward the engine's log lines and summarise now, whatever the
    /// interval: nothing will call back to report it later.
    pub(crate) fn report_now(&self) {
        self.forward_engine_log();
        self.summarise(true);
    }

    fn summarise(&self, now_or_never: bool) {
        let new = self.diagnostics();
        let reported = self.reported.get();
        let old = reported.last;
        let lock_changes = new.clock_in.lock_changes - old.clock_in.lock_changes;
        let latency_changes = new.audio.latency_changes - old.audio.latency_changes;
        let mut source = String::new();
        let followed = self.shared.settings.params.get(index::EXT_SOURCE);
        let _ = PARAMS[index::EXT_SOURCE].format(followed, &mut source);
        let lines = summary(&old, &new, &source);
        if lines.is_empty() && lock_changes == 0 && latency_changes == 0 {
            return;
        }
        let now_ns = monotonic_ns();
        if !now_or_never && !may_summarise(reported.at_ns, now_ns) {
            let at = reported.at_ns.unwrap_or(now_ns) + SUMMARY_INTERVAL_NS;
            self.shared.summary_due.set(at);
            return;
        }
        self.shared.summary_due.clear();
        self.reported.set(Reported {
            last: new,
            at_ns: Some(now_ns),
        });
        for (severity, line) in lines {
            self.shared.log(severity, &line);
        }
        if lock_changes > 0 {
            let params = &self.shared.settings.params;
            let (severity, line) = lock_line(lock_changes, &source, |i| params.get(i));
            self.shared.log(severity, &line);
        }
        if latency_changes > 0 {
            let params = &self.shared.settings.params;
            let line = latency_line(latency_changes, |i| params.get(i));
            self.shared.log(LogSeverity::Info, &line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::audio_thread::counters::AudioCounters;

    /// Moves every reported counter by a different amount through the live
    /// atomics, by name, as the code that counts does.
    fn every_counter_moved() -> (Diagnostics, Vec<(&'static str, u64)>) {
        let audio = AudioCounters::default();
        let engine = crate::engine::News::default();
        let mut moved = Vec::new();
        let mut n = 0;
        let mut bump = |counter: Option<&AtomicU64>, row: &'static str| {
            n += 1;
            counter
                .expect("every row is a counter")
                .fetch_add(n, Ordering::Relaxed);
            moved.push((row, n));
        };
        for row in AudioStats::ROWS {
            bump(audio.counter(row.name), row.what);
        }
        for row in EngineStats::ROWS {
            bump(engine.counters.counter(row.name), row.what);
        }
        for row in ClockInStats::ROWS {
            bump(audio.clock_in.counter(row.name), row.what);
        }
        (Diagnostics::read(&audio, engine.stats()), moved)
    }

    #[test]
    fn every_reported_counter_that_moves_has_its_line_in_the_summary() {
        let (new, moved) = every_counter_moved();
        let lines = summary(&Diagnostics::default(), &new, "Src");
        assert_eq!(lines.len(), moved.len(), "{lines:?}");
        for ((_, line), (what, n)) in lines.iter().zip(&moved) {
            let what = what.replace("{source}", "Src");
            assert_eq!(line, &format!("{n} {what} ({n} in all)"));
        }
        assert!(summary(&new, &new, "Src").is_empty(), "nothing moved since");
        // The losses the user must see, each with a row.
        for name in [
            "ring_full",
            "parse_errors",
            "sysex_oversize",
            "overrun_events",
        ] {
            assert!(EngineStats::ROWS.iter().any(|r| r.name == name), "{name}");
        }
        for name in ["late", "output_full", "output_ring_full"] {
            assert!(AudioStats::ROWS.iter().any(|r| r.name == name), "{name}");
        }
        assert!(ClockInStats::ROWS.iter().any(|r| r.name == "timeouts"));
    }

    #[test]
    fn a_summary_waits_for_the_interval_after_the_last_one() {
        assert!(may_summarise(None, 0), "the first comes at once");
        assert!(!may_summarise(Some(10), 10 + SUMMARY_INTERVAL_NS - 1));
        assert!(may_summarise(Some(10), 10 + SUMMARY_INTERVAL_NS));
        assert!(!may_summarise(Some(10), 5), "a clock read before the last");
    }

    #[test]
    fn a_due_summary_is_asked_for_once_and_only_when_due() {
        let due = SummaryDue::default();
        assert!(!due.take(u64::MAX), "nothing waits");
        due.set(100);
        assert!(!due.take(99));
        assert!(due.take(100));
        assert!(!due.take(200), "asked for once");
        due.set(100);
        due.clear();
        assert!(!due.take(200));
    }
}
