//! What the audio thread counts: its traffic and its own losses. Losses below
//! the engine seam are counted in [`crate::engine::News`] instead; each loss
//! has one cause and one counter.

use super::histogram::Timing;
use crate::counting::counter_set;
use crate::engine::EngineStats;
use std::sync::atomic::{AtomicU64, Ordering};

counter_set! {
    /// Counters written by the audio thread, readable from any thread.
    pub struct AudioCounters => AudioStats {
        /// Events handed to the host's output queue.
        events_out: u64,
        /// Events the host's output queue refused (queue full).
        output_full: u64 => Warning
            "event(s) dropped: the host's output event queue was full",
        /// SysEx (hardware or the host's) that did not fit in the block's SysEx storage.
        sysex_lost: u64 => Warning
            "SysEx dropped: no room left in the block's SysEx storage",
        /// Hardware messages that arrived too late for their sample and were put
        /// at the start of the block.
        late: u64 => Warning
            "message(s) arrived too late for their sample and were placed at the block start",
        /// Hardware messages older than the latency when processing resumed,
        /// discarded instead of played in a burst.
        stale: u64 => Warning
            "message(s) that queued up while the host was not processing were older than \
             the latency and were discarded",
        /// Note-offs sent to the host for notes left hanging by discarded or
        /// lost messages.
        notes_released: u64 => Warning
            "held note(s) released after messages were discarded or lost",
        /// Host events of a kind the note output does not declare (MIDI 2.0), dropped.
        unsupported: u64 => Warning
            "MIDI 2.0 event(s) from the host dropped: the note output speaks MIDI 1.0",
        /// Messages for the hardware refused by the full output ring.
        output_ring_full: u64 => Warning
            "message(s) for the hardware dropped: the output ring was full",
        /// Messages queued for the hardware (host events and MIDI clock).
        to_hardware: u64,
        /// Host SysEx for the hardware larger than the output ring's SysEx
        /// storage: it can never be carried.
        output_sysex_oversize: u64 => Warning
            "SysEx for the hardware dropped: larger than the output ring's SysEx storage",
        /// Host events for the hardware with no MIDI 1.0 form (MIDI 2.0, a CLAP
        /// note with a wildcard channel or key, a malformed MIDI event or SysEx).
        output_unmappable: u64 => Warning
            "host event(s) not sent to the hardware: no MIDI 1.0 form (MIDI 2.0, a note \
             without a channel or key, or a malformed MIDI event or SysEx)",
        /// MIDI clock messages that did not fit in one block's clock buffer.
        clock_dropped: u64 => Warning
            "MIDI clock message(s) dropped: more than one block's clock buffer holds",
        /// Changes of the MIDI input latency in use (`audio_thread/latency.rs`):
        /// not a loss, counted like one so the main thread logs the new value.
        latency_changes: u64,
    }
    extra {
        /// What the MIDI clock follower ignored or noticed (`to_host/clock_in.rs`).
        pub clock_in: ClockInCounters,
        /// Bumped with every loss: the audio thread compares it once per block
        /// and asks for a main-thread report when it moved.
        losses: AtomicU64,
        /// Placement error and delivery delay of hardware messages
        /// (`to_host/hardware_midi.rs`), for the plugin window.
        pub timing: Timing,
        /// The phasor's value at the end of the last block, as `f64` bits (the
        /// plugin window draws it).
        pub phase: AtomicU64,
    }
}

impl AudioCounters {
    /// Add `n` to a statistic that is not news by itself (traffic; no bell),
    /// as [`crate::engine::News::tally`].
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn tally(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Count `n` losses (or late deliveries) on `counter` (one of these) and
    /// ring the bell, to be reported; nothing when `n` is 0. As
    /// [`crate::engine::News::count`].
    ///
    /// # Realtime Safety
    /// Two relaxed atomic adds.
    #[inline]
    pub fn count(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
            self.losses.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The bell: how many losses were counted so far; compare with the last
    /// value seen. As [`crate::engine::News::bell`].
    ///
    /// # Realtime Safety
    /// One relaxed atomic load.
    #[inline]
    pub fn bell(&self) -> u64 {
        self.losses.load(Ordering::Relaxed)
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

counter_set! {
    /// The MIDI clock follower's notes for the user (totals over the instance's
    /// life, like every counter here). `{source}` in a row: the source followed.
    pub struct ClockInCounters => ClockInStats {
        /// Clock messages from a second source, ignored.
        foreign: u64 => Warning
            "MIDI clock message(s) from a second source ignored: two sources at once, \
             following {source}",
        /// Times the followed source changed.
        source_changes: u64 => Info
            "change(s) of the MIDI clock source (the one followed was silent for a \
             second): now following {source}",
        /// Dropouts of the external clock: no tick for 3.5 periods while running.
        timeouts: u64 => Info
            "dropout(s) of the external MIDI clock: no tick for 3.5 tick periods",
        /// Clock ticks that were missing from the stream.
        missing_ticks: u64 => Warning "MIDI clock tick(s) missing from {source}",
        /// Changes of the follower's lock state (searching, locked, free-running):
        /// reported with the state now, not as a count.
        lock_changes: u64,
    }
}

/// Every counter of one instance at one moment, for the report and for a
/// window that shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// The audio thread's traffic and losses.
    pub audio: AudioStats,
    /// The MIDI clock follower's notes.
    pub clock_in: ClockInStats,
    /// Below the engine seam (zero without an engine).
    pub engine: EngineStats,
}

impl Diagnostics {
    /// Reads the audio thread's counters now, with the engine's `engine`.
    pub fn read(audio: &AudioCounters, engine: EngineStats) -> Self {
        Self {
            audio: audio.snapshot(),
            clock_in: audio.clock_in.snapshot(),
            engine,
        }
    }
}
