//! The message type: bytes → message → bytes for every MIDI 1.0 kind, the
//! note-on-velocity-0 rule, decode errors, status/channel helpers.

use crate::common::every_kind;
use phasorsync::protocol::{status, DecodeError, MidiEvent, MidiMessage};

#[test]
fn every_kind_round_trips_bytes_message_bytes() {
    let mut kinds = std::collections::HashSet::new();
    for (raw, want) in every_kind() {
        let ev = MidiEvent::from_bytes(&raw).unwrap_or_else(|e| panic!("{raw:02X?}: {e}"));
        assert_eq!(ev, want, "decode {raw:02X?}");
        // A note-on with velocity 0 is the note-off it decodes to.
        let canonical = if raw[0] & 0xF0 == 0x90 && raw[2] == 0 {
            vec![0x80 | (raw[0] & 0x0F), raw[1], 0]
        } else {
            raw.clone()
        };
        assert_eq!(ev.status(), canonical[0], "status of {ev:?}");
        assert_eq!(ev.byte_len(), canonical.len(), "byte_len of {ev:?}");
        let mut out = [0xAA; 3];
        let n = ev.write_bytes(&mut out);
        if ev.is_sysex() {
            // The payload is the SysEx's bytes; nothing to write.
            assert_eq!(n, 0);
            assert_eq!(out, [0xAA; 3]);
        } else {
            assert_eq!(&out[..n], &canonical[..], "encode {ev:?}");
        }
        kinds.insert(core::mem::discriminant(&ev));
    }
    // NoteOff..SysEx: every variant of the enum is covered.
    assert_eq!(kinds.len(), 18);
}

#[test]
fn every_channel_and_data_value_round_trips() {
    for s in 0x80u8..=0xEF {
        let n = status::data_len(s).unwrap();
        for d in [0u8, 1, 63, 64, 126, 127] {
            let raw = [s, d, 127 - d];
            let ev = MidiEvent::from_bytes(&raw[..=n]).unwrap();
            assert_eq!(ev.channel(), Some(s & 0x0F));
            assert!(ev.is_channel() && !ev.is_realtime() && !ev.is_sysex());
            let mut out = [0; 3];
            let len = ev.write_bytes(&mut out);
            if s & 0xF0 == 0x90 && n == 2 && raw[2] == 0 {
                // Note-on velocity 0 comes back as a note-off.
                assert_eq!(&out[..len], &[0x80 | (s & 0x0F), d, 0]);
            } else {
                assert_eq!(&out[..len], &raw[..=n]);
            }
        }
    }
}

#[test]
fn note_on_velocity_zero_is_note_off() {
    for ch in 0..16 {
        let ev = MidiEvent::from_bytes(&[0x90 | ch, 64, 0]).unwrap();
        assert_eq!(
            ev,
            MidiEvent::NoteOff {
                channel: ch,
                key: 64,
                velocity: 0
            }
        );
    }
}

#[test]
fn helpers_classify_system_messages() {
    assert_eq!(MidiEvent::TimingClock.channel(), None);
    assert!(MidiEvent::TimingClock.is_realtime());
    assert!(MidiEvent::SystemReset.is_realtime());
    assert!(!MidiEvent::TuneRequest.is_realtime());
    assert!(!MidiEvent::SongPosition(0).is_channel());
    assert!(MidiEvent::SysEx { len: 2 }.is_sysex());
    assert_eq!(MidiEvent::SysEx { len: 9 }.byte_len(), 9);
    for b in 0u8..=255 {
        assert_eq!(status::is_data(b), b < 0x80);
        assert_eq!(status::is_realtime(b), b >= 0xF8);
        assert_eq!(status::is_channel(b), (0x80..0xF0).contains(&b));
    }
    assert!([0xF4, 0xF5, 0xF9, 0xFD]
        .iter()
        .all(|&b| status::is_undefined(b)));
    assert_eq!((0u8..=255).filter(|&b| status::is_undefined(b)).count(), 4);
}

#[test]
fn encoding_masks_out_of_range_fields() {
    let mut out = [0; 3];
    let ev = MidiEvent::PitchBend {
        channel: 0x13,
        value: 0xFFFF,
    };
    assert_eq!(ev.write_bytes(&mut out), 3);
    assert_eq!(out, [0xE3, 0x7F, 0x7F]);
    let ev = MidiEvent::NoteOn {
        channel: 2,
        key: 0xFF,
        velocity: 0x80,
    };
    assert_eq!(ev.write_bytes(&mut out), 3);
    assert_eq!(out, [0x92, 0x7F, 0x00]);
}

#[test]
fn decode_rejects_what_is_not_one_message() {
    use DecodeError::*;
    let cases: &[(&[u8], DecodeError)] = &[
        (&[], Empty),
        (&[0x40, 0x40], MissingStatus(0x40)),
        (&[0xF4], UndefinedStatus(0xF4)),
        (&[0xF5, 1], UndefinedStatus(0xF5)),
        (&[0xF9], UndefinedStatus(0xF9)),
        (&[0xFD], UndefinedStatus(0xFD)),
        (&[0xF7], UndefinedStatus(0xF7)),
        (
            &[0x90, 60],
            WrongLength {
                expected: 3,
                actual: 2,
            },
        ),
        (
            &[0xC0, 1, 2],
            WrongLength {
                expected: 2,
                actual: 3,
            },
        ),
        (
            &[0xF8, 0],
            WrongLength {
                expected: 1,
                actual: 2,
            },
        ),
        (
            &[0x90, 60, 0x80],
            NotData {
                index: 2,
                byte: 0x80,
            },
        ),
        (
            &[0x90, 0xF8, 1],
            NotData {
                index: 1,
                byte: 0xF8,
            },
        ),
        (&[0xF0, 1, 2], UnterminatedSysEx),
        (&[0xF0], UnterminatedSysEx),
        (
            &[0xF0, 1, 0xF7, 2],
            NotData {
                index: 2,
                byte: 0xF7,
            },
        ),
        (
            &[0xF0, 0xF8, 0xF7],
            NotData {
                index: 1,
                byte: 0xF8,
            },
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(MidiEvent::from_bytes(raw), Err(*want), "{raw:02X?}");
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn decode_never_panics_on_any_short_input() {
    // Exhaustive over every 1- and 2-byte input, and 3-byte inputs for a
    // sample of first bytes: any result is fine, a panic is not.
    for a in 0u8..=255 {
        let _ = MidiEvent::from_bytes(&[a]);
        for b in 0u8..=255 {
            let _ = MidiEvent::from_bytes(&[a, b]);
            let _ = MidiEvent::from_bytes(&[a, b, 0x7F]);
            let _ = MidiEvent::from_bytes(&[a, b, 0xF7]);
        }
    }
}

#[test]
fn message_is_small_and_copy() {
    assert!(core::mem::size_of::<MidiMessage>() <= 24);
    let m = MidiMessage::new(5, 1, MidiEvent::Start);
    let n = m; // Copy
    assert_eq!(m, n);
    assert_eq!((m.time_ns, m.port, m.event), (5, 1, MidiEvent::Start));
}
