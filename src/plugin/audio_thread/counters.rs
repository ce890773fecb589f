//! What the audio thread counts: its traffic and its own losses. Losses below
//! the engine seam are counted in [`crate::engine::News`] instead; each loss
//! has one cause and one counter.

use super::histogram::Timing;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters written by the audio thread, readable from any thread.
#[derive(Debug, Default)]
pub struct AudioCounters {
    /// Events handed to the host's output queue.
    pub events_out: AtomicU64,
    /// Events the host's output queue refused (queue full).
    pub output_full: AtomicU64,
    /// Hardware messages that arrived too late for their sample and were put
    /// at the start of the block.
    pub late: AtomicU64,
    /// Hardware messages older than the latency when processing resumed,
    /// discarded instead of played in a burst.
    pub stale: AtomicU64,
    /// Note-offs sent to the host for notes left hanging by discarded or
    /// lost messages.
    pub notes_released: AtomicU64,
    /// SysEx (hardware or the host's) that did not fit in the block's SysEx storage.
    pub sysex_lost: AtomicU64,
    /// Host events of a kind the note output does not declare (MIDI 2.0), dropped.
    pub unsupported: AtomicU64,
    /// Messages for the hardware refused by the full output ring.
    pub output_ring_full: AtomicU64,
    /// Messages queued for the hardware (host events and MIDI clock).
    pub to_hardware: AtomicU64,
    /// Host SysEx for the hardware larger than the output ring's SysEx
    /// storage: it can never be carried.
    pub output_sysex_oversize: AtomicU64,
    /// Host events for the hardware with no MIDI 1.0 form (MIDI 2.0, a CLAP
    /// note with a wildcard channel or key, a malformed MIDI event or SysEx).
    pub output_unmappable: AtomicU64,
    /// MIDI clock messages that did not fit in one block's clock buffer.
    pub clock_dropped: AtomicU64,
    /// Changes of the MIDI input latency in use (`audio_thread/latency.rs`): not a loss,
    /// counted like one so the main thread logs the new value.
    pub latency_changes: AtomicU64,
    /// What the MIDI clock follower ignored or noticed (`to_host/clock_in.rs`).
    pub clock_in: ClockInCounters,
    /// Placement error and delivery delay of hardware messages (`midi_in.rs`).
    pub timing: Timing,
    /// The phasor's value at the end of the last block, as `f64` bits (the
    /// plugin window draws it).
    pub phase: AtomicU64,
    /// Bumped with every loss: the audio thread compares it once per block
    /// and asks for a main-thread report when it moved.
    losses: AtomicU64,
}

impl AudioCounters {
    /// Count `n` on a traffic counter (not a loss).
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn traffic(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Count one loss (or late delivery) on `counter`, to be reported.
    ///
    /// # Realtime Safety
    /// Two relaxed atomic adds.
    #[inline]
    pub fn loss(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.losses.fetch_add(1, Ordering::Relaxed);
    }

    /// Count `n` losses on `counter` at once (nothing when `n` is 0).
    ///
    /// # Realtime Safety
    /// Two relaxed atomic adds.
    #[inline]
    pub fn losses_n(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
            self.losses.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// How many losses were counted so far; compare with the last value seen.
    ///
    /// # Realtime Safety
    /// One relaxed atomic load.
    #[inline]
    pub fn losses(&self) -> u64 {
        self.losses.load(Ordering::Relaxed)
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The MIDI clock follower's notes for the user (totals over the instance's
/// life, like every counter here).
#[derive(Debug, Default)]
pub struct ClockInCounters {
    /// Clock messages from a second source, ignored.
    pub foreign: AtomicU64,
    /// Times the followed source changed.
    pub source_changes: AtomicU64,
    /// Dropouts of the external clock: no tick for 3.5 periods while running.
    pub timeouts: AtomicU64,
    /// Clock ticks that were missing from the stream.
    pub missing_ticks: AtomicU64,
    /// Changes of the follower's lock state (searching, locked, free-running).
    pub lock_changes: AtomicU64,
}
