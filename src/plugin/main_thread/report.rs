//! Makes losses visible: the audio thread only counts and rings; the main
//! thread turns counter changes into log lines. Every counter is a total
//! over the instance's life and the last reported snapshot is never reset,
//! so each loss is reported exactly once, whatever the activations.

use crate::engine::EngineStats;
use crate::midi_clock::follower::Lock;
use crate::plugin::audio_thread::counters::{AudioCounters, ClockInCounters};
use crate::plugin::audio_thread::to_host::clock_in::lock_value;
use crate::plugin::params::{index, table::LATENCY_AUTO, PARAMS};
use crate::plugin::PhasorSyncMainThread;
use clack_extensions::log::LogSeverity;
use std::sync::atomic::AtomicU64;

/// Loss counters as last reported to the user.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    audio: [u64; AUDIO_LOSSES.len()],
    engine: EngineStats,
    clock_in: [u64; CLOCK_IN.len()],
    lock_changes: u64,
    latency_changes: u64,
}

/// A loss the audio thread counts: what the user reads, and its counter.
type AudioLoss = (&'static str, fn(&AudioCounters) -> &AtomicU64);
/// A loss counted below the seam: what the user reads, and its count.
type EngineLoss = (&'static str, fn(&EngineStats) -> u64);

/// The audio thread's losses.
const AUDIO_LOSSES: [AudioLoss; 10] = [
    (
        "event(s) dropped: the host's output event queue was full",
        |c| &c.output_full,
    ),
    (
        "SysEx dropped: no room left in the block's SysEx storage",
        |c| &c.sysex_lost,
    ),
    (
        "message(s) arrived too late for their sample and were placed at the block start",
        |c| &c.late,
    ),
    (
        "message(s) that queued up while the host was not processing were older than the \
         latency and were discarded",
        |c| &c.stale,
    ),
    (
        "held note(s) released after messages were discarded or lost",
        |c| &c.notes_released,
    ),
    (
        "MIDI 2.0 event(s) from the host dropped: the note output speaks MIDI 1.0",
        |c| &c.unsupported,
    ),
    (
        "message(s) for the hardware dropped: the output ring was full",
        |c| &c.output_ring_full,
    ),
    (
        "SysEx for the hardware dropped: larger than the output ring's SysEx storage",
        |c| &c.output_sysex_oversize,
    ),
    (
        "host event(s) not sent to the hardware: no MIDI 1.0 form (MIDI 2.0, a note \
         without a channel or key, or a malformed MIDI event or SysEx)",
        |c| &c.output_unmappable,
    ),
    (
        "MIDI clock message(s) dropped: more than one block's clock buffer holds",
        |c| &c.clock_dropped,
    ),
];

/// Losses below the seam.
const ENGINE_LOSSES: [EngineLoss; 10] = [
    ("message(s) dropped: the MIDI input ring was full", |s| {
        s.ring_full
    }),
    ("malformed MIDI byte(s) or message(s) skipped", |s| {
        s.parse_errors
    }),
    ("SysEx dropped: larger than the limit", |s| s.sysex_oversize),
    (
        "SysEx dropped: cut off (unterminated, or interrupted by an overrun)",
        |s| s.sysex_cut,
    ),
    (
        "event(s) lost in sequencer input overruns (the kernel's input queue for PhasorSync \
         was full)",
        |s| s.overrun_events,
    ),
    ("MIDI event(s) could not be read or decoded", |s| {
        s.event_errors
    }),
    (
        "held note(s) released for a device that went away or lost events",
        |s| s.notes_released,
    ),
    ("output message(s) were late and sent at once", |s| {
        s.output_late
    }),
    ("output message(s) dropped by the sequencer", |s| {
        s.output_dropped
    }),
    (
        "SysEx for the hardware cut off part way (a receiver refused the rest)",
        |s| s.output_sysex_cut,
    ),
];

/// What the MIDI clock follower noticed: its severity, what the user reads
/// (`{source}`: the source followed), and its counter.
type ClockNote = (
    LogSeverity,
    &'static str,
    fn(&ClockInCounters) -> &AtomicU64,
);

/// The clock follower's notes.
const CLOCK_IN: [ClockNote; 4] = [
    (
        LogSeverity::Warning,
        "MIDI clock message(s) from a second source ignored: two sources at once, \
         following {source}",
        |c| &c.foreign,
    ),
    (
        LogSeverity::Info,
        "change(s) of the MIDI clock source (the one followed was silent for a second): \
         now following {source}",
        |c| &c.source_changes,
    ),
    (
        LogSeverity::Info,
        "dropout(s) of the external MIDI clock: no tick for 3.5 tick periods",
        |c| &c.timeouts,
    ),
    (
        LogSeverity::Warning,
        "MIDI clock tick(s) missing from {source}",
        |c| &c.missing_ticks,
    ),
];

fn snapshot(audio: &AudioCounters, engine: EngineStats) -> Snapshot {
    Snapshot {
        audio: AUDIO_LOSSES.map(|(_, c)| AudioCounters::get(c(audio))),
        engine,
        clock_in: CLOCK_IN.map(|(_, _, c)| AudioCounters::get(c(&audio.clock_in))),
        lock_changes: AudioCounters::get(&audio.clock_in.lock_changes),
        latency_changes: AudioCounters::get(&audio.latency_changes),
    }
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

/// The clock follower's lines since `old`, with `{source}` filled in.
fn clock_in_changes(old: &Snapshot, new: &Snapshot, source: &str) -> Vec<(LogSeverity, String)> {
    CLOCK_IN
        .iter()
        .zip(old.clock_in.iter().zip(new.clock_in.iter()))
        .filter(|(_, (before, now))| now > before)
        .map(|((severity, what, _), (&before, &now))| {
            let what = what.replace("{source}", source);
            (*severity, format!("{} {what} ({now} in all)", now - before))
        })
        .collect()
}

/// One line per counter that moved: `(what, new since last report, total)`.
fn changes(old: &Snapshot, new: &Snapshot) -> Vec<(&'static str, u64, u64)> {
    let audio = AUDIO_LOSSES
        .iter()
        .zip(old.audio.iter().zip(new.audio.iter()))
        .map(|((what, _), (&before, &now))| (*what, before, now));
    let engine = ENGINE_LOSSES
        .iter()
        .map(|(what, c)| (*what, c(&old.engine), c(&new.engine)));
    audio
        .chain(engine)
        .filter(|&(_, before, now)| now > before)
        .map(|(what, before, now)| (what, now - before, now))
        .collect()
}

impl PhasorSyncMainThread<'_> {
    /// Forward the engine's log lines and log what was lost since the last report.
    pub(crate) fn report(&self) {
        self.forward_engine_log();
        let engine = self.news().map(|n| n.stats()).unwrap_or_default();
        let now = snapshot(&self.shared.counters, engine);

        let before = self.reported.replace(now);
        for (what, new, total) in changes(&before, &now) {
            self.shared.log(
                LogSeverity::Warning,
                &format!("{new} {what} ({total} in all)"),
            );
        }
        let mut source = String::new();
        let followed = self.shared.settings.params.get(index::EXT_SOURCE);
        let _ = PARAMS[index::EXT_SOURCE].format(followed, &mut source);
        for (severity, line) in clock_in_changes(&before, &now, &source) {
            self.shared.log(severity, &line);
        }
        let changes = now.lock_changes - before.lock_changes;
        if changes > 0 {
            let params = &self.shared.settings.params;
            let (severity, line) = lock_line(changes, &source, |i| params.get(i));
            self.shared.log(severity, &line);
        }
        let changes = now.latency_changes - before.latency_changes;
        if changes > 0 {
            let params = &self.shared.settings.params;
            let line = latency_line(changes, |i| params.get(i));
            self.shared.log(LogSeverity::Info, &line);
        }
    }
}
