//! The host's output queue for one block: every event `process()` gives the
//! host goes through here, so refusals are counted in one place and SysEx
//! bytes are always the arena's, never a pointer the host may invalidate.

use super::midi_to_clap;
use crate::plugin::audio_thread::arena::Arena;
use crate::plugin::audio_thread::counters::AudioCounters;
use crate::protocol::MidiEvent;
use clack_plugin::events::io::TryPushError;
use clack_plugin::events::{Event as _, UnknownEvent};
use clack_plugin::prelude::OutputEvents;

/// See the module docs. Lives on the stack of one `process()` call.
pub struct HostOut<'o, 'e> {
    events: &'o mut OutputEvents<'e>,
    counters: &'o AudioCounters,
    arena: &'o mut Arena,
}

impl<'o, 'e> HostOut<'o, 'e> {
    /// The block's output: the host's queue, the counters, the SysEx arena
    /// (cleared here: a new block).
    pub fn new(
        events: &'o mut OutputEvents<'e>,
        counters: &'o AudioCounters,
        arena: &'o mut Arena,
    ) -> Self {
        arena.clear();
        Self {
            events,
            counters,
            arena,
        }
    }

    /// The counters.
    pub fn counters(&self) -> &AudioCounters {
        self.counters
    }

    /// The arena, to pop a SysEx payload into (then [`Self::sysex`] with the
    /// length written).
    pub fn arena(&mut self) -> &mut Arena {
        self.arena
    }

    fn delivered(&mut self, pushed: Result<(), TryPushError>) {
        match pushed {
            Ok(()) => AudioCounters::tally(&self.counters.events_out, 1),
            Err(_) => self.counters.count(&self.counters.output_full, 1),
        }
    }

    /// A non-SysEx message at `offset`.
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn message(&mut self, offset: u32, event: &MidiEvent) {
        let pushed = midi_to_clap::push_message(self.events, offset, event);
        self.delivered(pushed);
    }

    /// The SysEx whose `len` bytes were just written to the arena's free
    /// space, at `offset`.
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn sysex(&mut self, offset: u32, len: usize) {
        let payload = self.arena.claim(len);
        // SAFETY: the arena is not written again before the next process()
        // call (claimed bytes stay until `clear`, at the next block), so the
        // payload stays valid while the host may read it.
        let pushed = unsafe { midi_to_clap::push_sysex(self.events, offset, payload) };
        self.delivered(pushed);
    }

    /// One of the host's own events, unchanged except that a SysEx's bytes
    /// are copied into the arena (the host's input buffer is only valid
    /// during this call, and the host may read our output after it).
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn forward(&mut self, event: &UnknownEvent) {
        use clack_plugin::events::spaces::CoreEventSpace;
        let pushed = match event.as_core_event() {
            Some(CoreEventSpace::MidiSysEx(e)) => {
                let time = e.header().time();
                // SAFETY: a host's input buffers live for the whole process()
                // call, and the bytes are copied out before it returns.
                let data = unsafe { e.data() };
                let Some(copy) = self.arena.copy(data) else {
                    self.counters.count(&self.counters.sysex_lost, 1);
                    return;
                };
                // SAFETY: as in `sysex`: arena bytes live until the next block.
                unsafe { midi_to_clap::push_sysex(self.events, time, copy) }
            }
            _ => self.events.try_push(event),
        };
        self.delivered(pushed);
    }
}
