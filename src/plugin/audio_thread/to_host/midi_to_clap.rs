//! MIDI messages turned into CLAP events for the host.
//!
//! Every hardware message that fits in three bytes, notes included, goes out
//! as a CLAP MIDI event (`CLAP_EVENT_MIDI`), the MIDI dialect that the note
//! output prefers. Why not CLAP note events for notes: hardware notes are
//! MIDI, and the MIDI dialect carries them exactly (7-bit velocity, release
//! velocity), while a CLAP note's velocity is a float that hosts convert back
//! by themselves; Qtractor truncates it to an integer, so every note arrived
//! with velocity 1. Hosts that prefer CLAP notes convert MIDI notes
//! themselves (both dialects are declared on the port). SysEx is a CLAP
//! SysEx event whose bytes live in the block's arena.

use crate::protocol::MidiEvent;
use clack_plugin::events::event_types::{MidiEvent as ClapMidiEvent, MidiSysExEvent};
use clack_plugin::events::io::TryPushError;
use clack_plugin::prelude::OutputEvents;

/// Write one non-SysEx message at `time` on output port 0.
///
/// # Errors
/// The host's queue refused it (full).
///
/// # Realtime Safety
/// No allocation: the event is built on the stack and copied by the host.
pub fn push_message(
    output: &mut OutputEvents,
    time: u32,
    event: &MidiEvent,
) -> Result<(), TryPushError> {
    let mut bytes = [0u8; 3];
    event.write_bytes(&mut bytes);
    output.try_push(ClapMidiEvent::new(time, 0, bytes))
}

/// Write a SysEx whose bytes are `payload` at `time` on output port 0.
///
/// # Safety
/// `payload` must stay valid and unchanged until the end of this `process()`
/// call (the host may read it until then).
///
/// # Errors
/// The host's queue refused it (full).
pub unsafe fn push_sysex(
    output: &mut OutputEvents,
    time: u32,
    payload: &[u8],
) -> Result<(), TryPushError> {
    // SAFETY: the caller keeps `payload` alive for the whole process() call,
    // which outlives this push.
    let event = unsafe { MidiSysExEvent::new(time, 0, payload) };
    output.try_push(event)
}
