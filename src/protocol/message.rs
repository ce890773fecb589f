//! The MIDI 1.0 message type that travels from the sequencer thread to `process()`.
//!
//! A [`MidiMessage`] is `Copy` and fixed-size so that the SPSC ring can move it
//! without allocating. SysEx payloads do not fit in a fixed-size value, so a
//! SysEx message carries only its length; the bytes travel beside it through
//! preallocated storage (see `crate::ring`).

/// One timestamped MIDI 1.0 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidiMessage {
    /// When the message arrived, in nanoseconds on `CLOCK_MONOTONIC`.
    pub time_ns: u64,
    /// The sequencer input port (or other source index) it arrived on.
    pub port: u16,
    /// What the message says.
    pub event: MidiEvent,
}

/// The content of a MIDI 1.0 message. Channels are 0..=15, data values 0..=127.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidiEvent {
    /// Note off (0x8n). A note-on with velocity 0 is also decoded as this.
    NoteOff {
        /// Channel 0..=15.
        channel: u8,
        /// Key 0..=127.
        key: u8,
        /// Release velocity 0..=127.
        velocity: u8,
    },
    /// Note on (0x9n) with a velocity of 1..=127.
    NoteOn {
        /// Channel 0..=15.
        channel: u8,
        /// Key 0..=127.
        key: u8,
        /// Velocity 1..=127.
        velocity: u8,
    },
    /// Polyphonic key pressure (0xAn).
    PolyPressure {
        /// Channel 0..=15.
        channel: u8,
        /// Key 0..=127.
        key: u8,
        /// Pressure 0..=127.
        pressure: u8,
    },
    /// Control change (0xBn).
    ControlChange {
        /// Channel 0..=15.
        channel: u8,
        /// Controller number 0..=127.
        controller: u8,
        /// Value 0..=127.
        value: u8,
    },
    /// Program change (0xCn).
    ProgramChange {
        /// Channel 0..=15.
        channel: u8,
        /// Program 0..=127.
        program: u8,
    },
    /// Channel pressure (0xDn).
    ChannelPressure {
        /// Channel 0..=15.
        channel: u8,
        /// Pressure 0..=127.
        pressure: u8,
    },
    /// Pitch bend (0xEn), 14 bits, 8192 is centre.
    PitchBend {
        /// Channel 0..=15.
        channel: u8,
        /// Value 0..=16383.
        value: u16,
    },
    /// MTC quarter frame (0xF1): the data byte.
    MtcQuarterFrame(u8),
    /// Song position pointer (0xF2), in MIDI beats (16th notes), 14 bits.
    SongPosition(u16),
    /// Song select (0xF3).
    SongSelect(u8),
    /// Tune request (0xF6).
    TuneRequest,
    /// Timing clock (0xF8), 24 per quarter note.
    TimingClock,
    /// Start (0xFA).
    Start,
    /// Continue (0xFB).
    Continue,
    /// Stop (0xFC).
    Stop,
    /// Active sensing (0xFE).
    ActiveSensing,
    /// System reset (0xFF).
    SystemReset,
    /// A complete System Exclusive message. Only its length travels here: the
    /// payload (`len` bytes, starting with 0xF0 and ending with 0xF7) travels
    /// beside the message in preallocated storage, in the same order.
    SysEx {
        /// Length of the payload in bytes, including the 0xF0 and 0xF7 framing bytes.
        len: u32,
    },
}
