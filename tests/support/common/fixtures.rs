//! Example messages shared by several tests: every MIDI 1.0 kind (the parser
//! tests and the kernel input test check the same cases), and a timestamped
//! message for the ring and engine tests.

use phasorsync::protocol::{MidiEvent, MidiMessage};

/// A timing-clock message stamped `t` ns, from port 0.
pub fn clock(t: u64) -> MidiMessage {
    MidiMessage {
        time_ns: t,
        port: 0,
        event: MidiEvent::TimingClock,
    }
}

/// One example: the raw bytes and the event they decode to.
type Example = (Vec<u8>, MidiEvent);

/// One raw example (or more) of every kind, with the event it must decode
/// to: every channel-message kind on several channels and values, every
/// system common and realtime message, SysEx whole (`F0 ... F7`). A note-on
/// with velocity 0 decodes to a note-off, so its bytes are not the ones that
/// event encodes back to.
pub fn every_kind() -> Vec<Example> {
    // Built by message family, concatenated in this order.
    [
        notes(),
        pressures_controllers_and_programs(),
        pitch_bends(),
        system_common(),
        realtime(),
        sysex_whole(),
        channel_after_system(),
    ]
    .concat()
}

/// Note-offs and note-ons, on the first and last channels and others.
fn notes() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        (
            vec![0x80, 60, 64],
            E::NoteOff {
                channel: 0,
                key: 60,
                velocity: 64,
            },
        ),
        (
            vec![0x90, 60, 100],
            E::NoteOn {
                channel: 0,
                key: 60,
                velocity: 100,
            },
        ),
        (
            vec![0x9F, 127, 1],
            E::NoteOn {
                channel: 15,
                key: 127,
                velocity: 1,
            },
        ),
        (
            vec![0x85, 61, 64],
            E::NoteOff {
                channel: 5,
                key: 61,
                velocity: 64,
            },
        ),
        // A note-on with velocity 0 is a note-off.
        (
            vec![0x9F, 62, 0],
            E::NoteOff {
                channel: 15,
                key: 62,
                velocity: 0,
            },
        ),
    ]
}

/// Poly pressure, control change, program change and channel pressure,
/// each on two channels.
fn pressures_controllers_and_programs() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        (
            vec![0xA1, 63, 33],
            E::PolyPressure {
                channel: 1,
                key: 63,
                pressure: 33,
            },
        ),
        (
            vec![0xA3, 10, 99],
            E::PolyPressure {
                channel: 3,
                key: 10,
                pressure: 99,
            },
        ),
        (
            vec![0xB2, 7, 127],
            E::ControlChange {
                channel: 2,
                controller: 7,
                value: 127,
            },
        ),
        (
            vec![0xB4, 7, 0],
            E::ControlChange {
                channel: 4,
                controller: 7,
                value: 0,
            },
        ),
        (
            vec![0xC3, 42],
            E::ProgramChange {
                channel: 3,
                program: 42,
            },
        ),
        (
            vec![0xC5, 42],
            E::ProgramChange {
                channel: 5,
                program: 42,
            },
        ),
        (
            vec![0xD4, 99],
            E::ChannelPressure {
                channel: 4,
                pressure: 99,
            },
        ),
        (
            vec![0xD6, 77],
            E::ChannelPressure {
                channel: 6,
                pressure: 77,
            },
        ),
    ]
}

/// Pitch bends: centre, top and bottom of the range, and the smallest step,
/// the 14-bit value least significant byte first.
fn pitch_bends() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        (
            vec![0xE5, 0x00, 0x40],
            E::PitchBend {
                channel: 5,
                value: 8192,
            },
        ),
        (
            vec![0xE7, 0x00, 0x40],
            E::PitchBend {
                channel: 7,
                value: 8192,
            },
        ),
        (
            vec![0xE6, 0x7F, 0x7F],
            E::PitchBend {
                channel: 6,
                value: 16383,
            },
        ),
        (
            vec![0xE8, 0x7F, 0x7F],
            E::PitchBend {
                channel: 8,
                value: 16383,
            },
        ),
        (
            vec![0xE7, 0x00, 0x00],
            E::PitchBend {
                channel: 7,
                value: 0,
            },
        ),
        (
            vec![0xE9, 0x01, 0x00],
            E::PitchBend {
                channel: 9,
                value: 1,
            },
        ),
    ]
}

/// Every system common message (SysEx apart).
fn system_common() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        (vec![0xF1, 0x35], E::MtcQuarterFrame(0x35)),
        (vec![0xF2, 0x10, 0x20], E::SongPosition(0x10 | (0x20 << 7))),
        (vec![0xF2, 0x10, 0x02], E::SongPosition(0x10 | (0x02 << 7))),
        (vec![0xF3, 9], E::SongSelect(9)),
        (vec![0xF6], E::TuneRequest),
    ]
}

/// Every system realtime message.
fn realtime() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        (vec![0xF8], E::TimingClock),
        (vec![0xFA], E::Start),
        (vec![0xFB], E::Continue),
        (vec![0xFC], E::Stop),
        (vec![0xFE], E::ActiveSensing),
        (vec![0xFF], E::SystemReset),
    ]
}

/// SysEx whole, empty and with data.
fn sysex_whole() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        (vec![0xF0, 0xF7], E::SysEx { len: 2 }),
        (
            vec![0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7],
            E::SysEx { len: 6 },
        ),
    ]
}

/// Last, back to a channel message.
fn channel_after_system() -> Vec<Example> {
    use MidiEvent as E;
    vec![
        // A channel message again after system ones.
        (
            vec![0xB0, 64, 0],
            E::ControlChange {
                channel: 0,
                controller: 64,
                value: 0,
            },
        ),
    ]
}

/// A SysEx of `len` bytes (at least 2), framing included, its data bytes
/// counting up from `seed`.
pub fn sysex(len: usize, seed: u8) -> Vec<u8> {
    let mut sx = vec![0xF0];
    sx.extend((0..len - 2).map(|i| ((i as u8).wrapping_add(seed)) % 0x80));
    sx.push(0xF7);
    sx
}
