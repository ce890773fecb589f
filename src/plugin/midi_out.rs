//! Host → hardware, on the audio thread: messages for the hardware go into
//! the output ring, stamped with the `CLOCK_MONOTONIC` time they are to
//! leave at (from the block's timeline); the MIDI thread schedules each one
//! on the sequencer queue at that time. The audio thread only pushes.

use super::counters::AudioCounters;
use crate::protocol::{MidiEvent, MidiMessage};
use crate::ring::MidiBufferProducer;

/// The audio thread's end of the output ring.
pub struct MidiOut {
    /// `None` when the engine did not start.
    producer: Option<MidiBufferProducer>,
}

impl MidiOut {
    /// The audio thread's side of `producer`.
    pub fn new(producer: Option<MidiBufferProducer>) -> Self {
        Self { producer }
    }

    /// Queue `event` to leave at `time_ns` (`CLOCK_MONOTONIC`); a SysEx's
    /// bytes are `sysex` (0xF0 … 0xF7). A full ring drops it and counts it.
    /// Returns whether it was queued.
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation: a copy into preallocated, pre-touched storage.
    pub fn send(
        &mut self,
        time_ns: u64,
        event: MidiEvent,
        sysex: &[u8],
        counters: &AudioCounters,
    ) -> bool {
        let Some(producer) = self.producer.as_mut() else {
            return false;
        };
        let queued = if event.is_sysex() {
            producer.try_send_sysex(time_ns, 0, sysex)
        } else {
            producer.try_send(MidiMessage {
                time_ns,
                port: 0,
                event,
            })
        };
        if !queued {
            counters.loss(&counters.output_ring_full);
        }
        queued
    }
}
