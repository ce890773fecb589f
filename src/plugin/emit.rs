//! MIDI messages from the hardware, turned into CLAP events.
//!
//! Notes go out in the dialect the host speaks to us: CLAP note events by
//! default, MIDI events once the host has sent us notes as MIDI (a host that
//! speaks MIDI on our input expects MIDI back). Everything else that fits in
//! three bytes is a CLAP MIDI event; SysEx is a CLAP SysEx event.

use crate::protocol::MidiEvent;
use clack_plugin::events::event_types::{
    MidiEvent as ClapMidiEvent, MidiSysExEvent, NoteOffEvent, NoteOnEvent,
};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::{Match, Pckn, UnknownEvent};
use clack_plugin::prelude::OutputEvents;

/// How notes are written to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NoteDialect {
    /// `CLAP_EVENT_NOTE_ON` / `CLAP_EVENT_NOTE_OFF`.
    #[default]
    Clap,
    /// `CLAP_EVENT_MIDI` with 0x9n / 0x8n.
    Midi,
}

impl NoteDialect {
    /// Learn the host's dialect from one of its input events: notes as CLAP
    /// events mean CLAP, notes as MIDI events mean MIDI; anything else says
    /// nothing.
    ///
    /// # Realtime Safety
    /// Pure.
    pub fn observe(self, event: &UnknownEvent) -> Self {
        match event.as_core_event() {
            Some(CoreEventSpace::NoteOn(_) | CoreEventSpace::NoteOff(_)) => Self::Clap,
            Some(CoreEventSpace::Midi(e)) if matches!(e.data()[0] & 0xF0, 0x80 | 0x90) => {
                Self::Midi
            }
            _ => self,
        }
    }
}

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
    dialect: NoteDialect,
) -> Result<(), clack_plugin::events::io::TryPushError> {
    match (*event, dialect) {
        (
            MidiEvent::NoteOn {
                channel,
                key,
                velocity,
            },
            NoteDialect::Clap,
        ) => output.try_push(NoteOnEvent::new(
            time,
            note_pckn(channel, key),
            velocity_f64(velocity),
        )),
        (
            MidiEvent::NoteOff {
                channel,
                key,
                velocity,
            },
            NoteDialect::Clap,
        ) => output.try_push(NoteOffEvent::new(
            time,
            note_pckn(channel, key),
            velocity_f64(velocity),
        )),
        _ => {
            let mut bytes = [0u8; 3];
            event.write_bytes(&mut bytes);
            output.try_push(ClapMidiEvent::new(time, 0, bytes))
        }
    }
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
) -> Result<(), clack_plugin::events::io::TryPushError> {
    // SAFETY: the caller keeps `payload` alive for the whole process() call,
    // which outlives this push.
    let event = unsafe { MidiSysExEvent::new(time, 0, payload) };
    output.try_push(event)
}

/// Port 0, the message's channel and key, no note id (-1: hardware notes have none).
fn note_pckn(channel: u8, key: u8) -> Pckn {
    Pckn::new(0u16, u16::from(channel), u16::from(key), Match::<u32>::All)
}

/// MIDI velocity 0..=127 to CLAP's 0.0..=1.0.
fn velocity_f64(velocity: u8) -> f64 {
    f64::from(velocity) / 127.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_scale_ends() {
        assert_eq!(velocity_f64(0), 0.0);
        assert_eq!(velocity_f64(127), 1.0);
        assert!((velocity_f64(64) - 64.0 / 127.0).abs() < 1e-12);
    }

    #[test]
    fn dialect_follows_host_notes() {
        let midi_note = ClapMidiEvent::new(0, 0, [0x91, 60, 100]);
        let midi_cc = ClapMidiEvent::new(0, 0, [0xB0, 1, 2]);
        let clap_note = NoteOnEvent::new(0, note_pckn(0, 60), 1.0);
        let d = NoteDialect::default();
        assert_eq!(d, NoteDialect::Clap);
        let d = d.observe(midi_cc.as_ref());
        assert_eq!(d, NoteDialect::Clap, "a CC says nothing about notes");
        let d = d.observe(midi_note.as_ref());
        assert_eq!(d, NoteDialect::Midi);
        let d = d.observe(midi_cc.as_ref());
        assert_eq!(d, NoteDialect::Midi);
        assert_eq!(d.observe(clap_note.as_ref()), NoteDialect::Clap);
    }
}
