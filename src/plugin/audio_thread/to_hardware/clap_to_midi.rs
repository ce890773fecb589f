//! The host's events as MIDI 1.0 for the hardware: CLAP notes (note on,
//! off, choke) and CLAP MIDI events become [`MidiEvent`]s, a CLAP SysEx
//! event its bytes. Pure: `output_ring.rs` stamps and queues what comes out.

use crate::protocol::MidiEvent;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::{Match, Pckn, UnknownEvent};

/// What one host event is for the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForHardware<'a> {
    /// A message of up to three bytes.
    Message(MidiEvent),
    /// A whole SysEx (0xF0 … 0xF7), the host's bytes.
    SysEx(&'a [u8]),
    /// Meant as MIDI but with no MIDI 1.0 form: a MIDI 2.0 event, a CLAP
    /// note with a wildcard (-1) or out-of-range channel or key, a MIDI
    /// event that is not one complete message, a malformed SysEx. Dropped
    /// and counted.
    Unmappable,
    /// Not a message for the hardware (transport, parameters, note
    /// expressions, note end): ignored, not a loss.
    None,
}

/// Converts `event`.
///
/// CLAP velocities (0…1) become 7-bit by rounding; a note-on is at least
/// velocity 1, since a MIDI note-on of velocity 0 is a note-off. A choke
/// is a note-off of velocity 0 (MIDI has no choke).
///
/// # Realtime Safety
/// Pure: no allocation; the SysEx bytes are borrowed, not copied.
pub fn for_hardware(event: &UnknownEvent) -> ForHardware<'_> {
    let note = |pckn: Pckn, velocity: Option<f64>, on: bool| {
        let (Match::Specific(channel), Match::Specific(key)) = (pckn.channel, pckn.key) else {
            return ForHardware::Unmappable;
        };
        let (Ok(channel @ 0..=15), Ok(key @ 0..=127)) = (u8::try_from(channel), u8::try_from(key))
        else {
            return ForHardware::Unmappable;
        };
        let velocity = velocity.map_or(0, seven_bit);
        ForHardware::Message(if on {
            MidiEvent::NoteOn {
                channel,
                key,
                velocity: velocity.max(1),
            }
        } else {
            MidiEvent::NoteOff {
                channel,
                key,
                velocity,
            }
        })
    };
    match event.as_core_event() {
        Some(CoreEventSpace::NoteOn(e)) => note(e.pckn(), Some(e.velocity()), true),
        Some(CoreEventSpace::NoteOff(e)) => note(e.pckn(), Some(e.velocity()), false),
        Some(CoreEventSpace::NoteChoke(e)) => note(e.pckn(), None, false),
        Some(CoreEventSpace::Midi(e)) => {
            let data = e.data();
            let len = crate::protocol::status::data_len(data[0]).map_or(0, |n| n + 1);
            match MidiEvent::from_bytes(&data[..len.max(1)]) {
                Ok(m) => ForHardware::Message(m),
                Err(_) => ForHardware::Unmappable,
            }
        }
        Some(CoreEventSpace::MidiSysEx(e)) => {
            // SAFETY: a host's input events and the buffers they point to
            // stay valid for the whole process() call, which outlives the
            // borrow (it ends when the event's does).
            let data = unsafe { e.data() };
            match MidiEvent::from_bytes(data) {
                Ok(MidiEvent::SysEx { .. }) => ForHardware::SysEx(data),
                _ => ForHardware::Unmappable,
            }
        }
        Some(CoreEventSpace::Midi2(_)) => ForHardware::Unmappable,
        _ => ForHardware::None,
    }
}

/// A CLAP velocity (0…1, anything else clamped; NaN is 0) as 7 bits.
fn seven_bit(v: f64) -> u8 {
    // `as` saturates and maps NaN to 0.
    (v.clamp(0.0, 1.0) * 127.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use clack_plugin::events::event_types::{
        Midi2Event, MidiEvent as ClapMidi, MidiSysExEvent, NoteChokeEvent, NoteOffEvent,
        NoteOnEvent, ParamValueEvent,
    };
    use clack_plugin::events::io::EventBuffer;
    use clack_plugin::utils::ClapId;

    fn convert(push: impl FnOnce(&mut EventBuffer)) -> Vec<String> {
        let mut b = EventBuffer::new();
        push(&mut b);
        b.iter().map(|e| format!("{:?}", for_hardware(e))).collect()
    }

    fn pckn(channel: i16, key: i16) -> Pckn {
        Pckn::from_raw(0, channel, key, -1)
    }

    #[test]
    fn clap_notes_become_midi_notes() {
        let got = convert(|b| {
            b.push(&NoteOnEvent::new(0, pckn(3, 60), 1.0));
            b.push(&NoteOnEvent::new(0, pckn(3, 61), 0.0));
            b.push(&NoteOnEvent::new(0, pckn(3, 62), 0.5));
            b.push(&NoteOffEvent::new(0, pckn(15, 127), 0.25));
            b.push(&NoteChokeEvent::new(0, pckn(0, 0)));
        });
        let want = [
            MidiEvent::NoteOn {
                channel: 3,
                key: 60,
                velocity: 127,
            },
            // Velocity 0 would be a note-off.
            MidiEvent::NoteOn {
                channel: 3,
                key: 61,
                velocity: 1,
            },
            MidiEvent::NoteOn {
                channel: 3,
                key: 62,
                velocity: 64,
            },
            MidiEvent::NoteOff {
                channel: 15,
                key: 127,
                velocity: 32,
            },
            MidiEvent::NoteOff {
                channel: 0,
                key: 0,
                velocity: 0,
            },
        ]
        .map(|m| format!("{:?}", ForHardware::Message(m)));
        assert_eq!(got, want);
    }

    #[test]
    fn wildcards_and_out_of_range_notes_are_unmappable() {
        let got = convert(|b| {
            b.push(&NoteOnEvent::new(0, pckn(-1, 60), 1.0));
            b.push(&NoteOffEvent::new(0, pckn(0, -1), 1.0));
            b.push(&NoteChokeEvent::new(0, pckn(-1, -1)));
            b.push(&NoteOnEvent::new(0, pckn(16, 60), 1.0));
            b.push(&NoteOnEvent::new(0, pckn(0, 128), 1.0));
            b.push(&Midi2Event::new(0, 0, [0x4090_3C00, 0xFFFF_0000, 0, 0]));
        });
        assert_eq!(got, vec![format!("{:?}", ForHardware::Unmappable); 6]);
    }

    #[test]
    fn midi_events_take_their_length_from_the_status() {
        static SYSEX: [u8; 5] = [0xF0, 0x7E, 0x01, 0x02, 0xF7];
        static BAD_SYSEX: [u8; 3] = [0xF0, 0x01, 0x02];
        let got = convert(|b| {
            b.push(&ClapMidi::new(0, 0, [0xB2, 7, 100]));
            b.push(&ClapMidi::new(0, 0, [0xC1, 5, 99])); // third byte unused
            b.push(&ClapMidi::new(0, 0, [0xF8, 1, 2]));
            b.push(&ClapMidi::new(0, 0, [0x40, 1, 2])); // no status
            b.push(&ClapMidi::new(0, 0, [0xF0, 1, 2])); // SysEx start alone
                                                        // SAFETY: the statics outlive the events.
            b.push(&unsafe { MidiSysExEvent::new(0, 0, &SYSEX) });
            // SAFETY: as above.
            b.push(&unsafe { MidiSysExEvent::new(0, 0, &BAD_SYSEX) });
            b.push(&ParamValueEvent::new(
                0,
                ClapId::new(1),
                Pckn::match_all(),
                1.0,
            ));
        });
        let want = [
            ForHardware::Message(MidiEvent::ControlChange {
                channel: 2,
                controller: 7,
                value: 100,
            }),
            ForHardware::Message(MidiEvent::ProgramChange {
                channel: 1,
                program: 5,
            }),
            ForHardware::Message(MidiEvent::TimingClock),
            ForHardware::Unmappable,
            ForHardware::Unmappable,
            ForHardware::SysEx(&SYSEX),
            ForHardware::Unmappable,
            ForHardware::None,
        ]
        .map(|m| format!("{m:?}"));
        assert_eq!(got, want);
    }

    #[test]
    fn velocities_round_and_clamp() {
        assert_eq!(seven_bit(f64::NAN), 0);
        assert_eq!(seven_bit(-1.0), 0);
        assert_eq!(seven_bit(2.0), 127);
        assert_eq!(seven_bit(100.0 / 127.0), 100);
    }
}
