//! Makes losses visible: the audio thread only counts and asks the host for a
//! main-thread callback; the main thread turns counter changes into log lines.

use super::PhasorSyncMainThread;
use clack_extensions::log::LogSeverity;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Traffic and losses seen by the audio thread, readable from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events handed to the host's output queue.
    pub events_out: AtomicU64,
    /// Events the host's output queue refused (queue full).
    pub output_full: AtomicU64,
    /// Hardware messages that arrived too late for their sample and were put
    /// at the start of the block.
    pub late: AtomicU64,
    /// SysEx payloads that did not fit in the block's SysEx storage.
    pub sysex_lost: AtomicU64,
    /// Set by the audio thread when a loss counter moved; cleared by the main
    /// thread when it has reported.
    report_pending: AtomicBool,
}

/// Loss counters as last reported to the user.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    output_full: u64,
    late: u64,
    sysex_lost: u64,
    /// Losses counted below the engine seam (parser, ring, sequencer).
    engine: crate::engine::EngineStats,
}

impl Counters {
    /// Count one event delivered.
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn event_out(&self) {
        self.events_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one event the host refused.
    ///
    /// # Realtime Safety
    /// Atomics, and `request_report` on the first loss since the last report.
    #[inline]
    pub fn output_full(&self, request_report: &dyn Fn()) {
        self.output_full.fetch_add(1, Ordering::Relaxed);
        self.ask(request_report);
    }

    /// Count one SysEx that did not fit.
    ///
    /// # Realtime Safety
    /// As [`Self::output_full`].
    #[inline]
    pub fn sysex_lost(&self, request_report: &dyn Fn()) {
        self.sysex_lost.fetch_add(1, Ordering::Relaxed);
        self.ask(request_report);
    }

    /// Count one late message. Not a loss (the message is delivered, at offset
    /// 0), so it is reported with the next report rather than asking for one.
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn late(&self) {
        self.late.fetch_add(1, Ordering::Relaxed);
    }

    /// Ask for a main-thread report unless one is already pending.
    ///
    /// # Realtime Safety
    /// One atomic swap; `request_report` is a thread-safe host call.
    #[inline]
    pub fn ask(&self, request_report: &dyn Fn()) {
        if !self.report_pending.swap(true, Ordering::AcqRel) {
            request_report();
        }
    }

    fn snapshot(&self, engine: crate::engine::EngineStats) -> Snapshot {
        Snapshot {
            output_full: self.output_full.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            sysex_lost: self.sysex_lost.load(Ordering::Relaxed),
            engine,
        }
    }
}

/// One line per counter that moved: `(what, new since last report, total)`.
fn changes(old: &Snapshot, new: &Snapshot) -> Vec<(&'static str, u64, u64)> {
    let (o, n) = (&old.engine, &new.engine);
    [
        (
            "event(s) dropped: the host's output event queue was full",
            old.output_full,
            new.output_full,
        ),
        (
            "SysEx dropped: no room left in the block's SysEx storage",
            old.sysex_lost,
            new.sysex_lost,
        ),
        (
            "message(s) arrived too late for their sample and were placed at the block start",
            old.late,
            new.late,
        ),
        (
            "message(s) dropped: the MIDI input ring was full",
            o.ring_drops,
            n.ring_drops,
        ),
        (
            "malformed MIDI byte(s) or message(s) skipped",
            o.parse_errors,
            n.parse_errors,
        ),
        (
            "SysEx dropped: too large or unterminated",
            o.sysex_dropped,
            n.sysex_dropped,
        ),
        (
            "sequencer input overrun(s): the kernel dropped events",
            o.overruns,
            n.overruns,
        ),
        (
            "output message(s) dropped: the output queue was full",
            o.output_drops,
            n.output_drops,
        ),
    ]
    .into_iter()
    .filter(|&(_, before, now)| now > before)
    .map(|(what, before, now)| (what, now - before, now))
    .collect()
}

impl PhasorSyncMainThread<'_> {
    /// Forward the engine's log lines and log what was lost since the last report.
    pub(crate) fn report(&self) {
        let counters = &self.shared.counters;
        counters.report_pending.store(false, Ordering::Release);
        let engine = self.engine_stats();
        self.forward_engine_log();
        let now = counters.snapshot(engine);
        let before = self.reported.replace(now);
        for (what, new, total) in changes(&before, &now) {
            self.shared.log(
                LogSeverity::Warning,
                &format!("{new} {what} ({total} in all)"),
            );
        }
    }

    /// Start counting afresh (a new activation starts new counters below the seam).
    pub(crate) fn reset_reported(&self) {
        let counters = &self.shared.counters;
        self.reported
            .set(counters.snapshot(crate::engine::EngineStats::default()));
    }
}
