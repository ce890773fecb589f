//! Makes losses visible: the audio thread only counts and rings; the main
//! thread turns counter changes into log lines, a *summary*: one line per
//! counter that moved, with its count since the last summary and its total.
//! Every counter is a total over the instance's life and the last reported
//! snapshot is never reset, so each loss is reported exactly once, whatever
//! the activations.

use super::clock_in::lock_value;
use super::counters::{AudioStats, ClockInStats, Diagnostics};
use super::params::{index, PARAMS};
use super::PhasorSyncMainThread;
use crate::counting::{Row, Severity};
use crate::engine::EngineStats;
use crate::midi_clock::follower::Lock;
use clack_extensions::log::LogSeverity;

/// The shortest time between two summaries, ns. 2 s: a flood (a stuck
/// controller, a full queue on every block) writes a line a counter every 2 s
/// instead of one a block, which a host log shows without scrolling the rest
/// away, while a single loss still reads as an answer to what the user just
/// did (a note that did not sound).
pub const SUMMARY_INTERVAL_NS: u64 = 2_000_000_000;
/// [`SUMMARY_INTERVAL_NS`] as a duration.
pub const SUMMARY_INTERVAL: std::time::Duration =
    std::time::Duration::from_nanos(SUMMARY_INTERVAL_NS);

/// What was last reported to the user.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reported {
    /// The counters as last reported.
    last: Diagnostics,
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

impl PhasorSyncMainThread<'_> {
    /// Every counter of this instance, read now without a lock: the audio
    /// thread's, the clock follower's and the engine's (zero without an
    /// engine). For a window, or a test, to show them.
    pub fn diagnostics(&self) -> Diagnostics {
        let engine = self.news().map(|n| n.stats()).unwrap_or_default();
        Diagnostics::read(&self.shared.counters, engine)
    }

    /// Forward the engine's log lines and log what was lost since the last report.
    pub(crate) fn report(&self) {
        self.forward_engine_log();
        self.summarise();
    }

    fn summarise(&self) {
        let new = self.diagnostics();
        let reported = self.reported.get();
        let old = reported.last;
        let lock_changes = new.clock_in.lock_changes - old.clock_in.lock_changes;
        let mut source = String::new();
        let followed = self.shared.settings.params.get(index::EXT_SOURCE);
        let _ = PARAMS[index::EXT_SOURCE].format(followed, &mut source);
        let lines = summary(&old, &new, &source);
        if lines.is_empty() && lock_changes == 0 {
            return;
        }
        self.reported.set(Reported { last: new });
        for (severity, line) in lines {
            self.shared.log(severity, &line);
        }
        if lock_changes > 0 {
            let params = &self.shared.settings.params;
            let (severity, line) = lock_line(lock_changes, &source, |i| params.get(i));
            self.shared.log(severity, &line);
        }
    }
}
