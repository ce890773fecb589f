//! The MIDI 1.0 message type that travels from the sequencer thread to `process()`.
//!
//! A [`MidiMessage`] is `Copy` and fixed-size so that the SPSC ring can move it
//! without allocating. SysEx payloads do not fit in a fixed-size value, so a
//! SysEx message carries only its length; the bytes travel beside it through
//! preallocated storage (see `crate::ring`).

/// One timestamped MIDI 1.0 message.
///
/// The same type travels both ways, and two fields mean different things
/// in each direction:
///
/// | field | input ring (hardware → `process()`) | output ring (`process()` → hardware) |
/// |---|---|---|
/// | [`time_ns`](Self::time_ns) | when it arrived | when it is to leave |
/// | [`port`](Self::port) | the source it came from | the output stream it belongs to |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidiMessage {
    /// A time in nanoseconds on `CLOCK_MONOTONIC`
    /// ([`crate::timeline::monotonic_ns`]).
    ///
    /// - Input: when the message arrived (the kernel's timestamp, or the
    ///   time the engine read it when the kernel gives none).
    /// - Output: its departure time, when it is to leave for the hardware
    ///   (an engine may send it later, never earlier, to keep its stream in
    ///   order; see [`crate::engine::stream`]). For a
    ///   [`RETRACT_CLOCK`](crate::engine::stream::RETRACT_CLOCK) message, the
    ///   time from which scheduled clock is taken back.
    pub time_ns: u64,
    /// Not always a port: an id whose meaning depends on the direction.
    ///
    /// - Input: the source the message came from, packed by
    ///   [`crate::engine::sink::source_id`] (sequencer client and port, or
    ///   raw MIDI card and device, one byte each). Messages of one source
    ///   share it; the MIDI clock follower tells sources apart by it.
    /// - Output: the output stream it belongs to, one of
    ///   [`crate::engine::stream`]'s `HOST` or `CLOCK`, or the control
    ///   message `RETRACT_CLOCK`. Not a port: every stream goes out of the
    ///   one `MIDI out` port (or raw MIDI device).
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

// The ring copies these by value on the realtime path: keep them small.
const _: () = assert!(core::mem::size_of::<MidiMessage>() <= 24);
const _: () = assert!(core::mem::size_of::<MidiEvent>() <= 8);

/// Why a byte slice is not one complete, well-formed MIDI 1.0 message
/// (see [`MidiEvent::from_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The slice is empty.
    Empty,
    /// The first byte is a data byte (< 0x80); running status is a stream
    /// property and does not apply to a single message.
    MissingStatus(u8),
    /// The status byte is undefined in MIDI 1.0 (0xF4, 0xF5, 0xF9, 0xFD),
    /// or is 0xF7 (end of exclusive) without a SysEx before it.
    UndefinedStatus(u8),
    /// The slice is longer or shorter than the status byte requires.
    WrongLength {
        /// Bytes the status requires (including the status byte).
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A byte that must be a data byte (< 0x80) is not.
    NotData {
        /// Index of the offending byte in the slice.
        index: usize,
        /// Its value.
        byte: u8,
    },
    /// A SysEx does not end with 0xF7.
    UnterminatedSysEx,
    /// A SysEx longer than `u32::MAX` bytes.
    SysExTooLong,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Empty => f.write_str("empty MIDI message"),
            Self::MissingStatus(b) => write!(f, "MIDI message starts with data byte {b:#04x}"),
            Self::UndefinedStatus(b) => write!(f, "undefined MIDI status byte {b:#04x}"),
            Self::WrongLength { expected, actual } => {
                write!(
                    f,
                    "MIDI message has {actual} bytes, its status needs {expected}"
                )
            }
            Self::NotData { index, byte } => {
                write!(
                    f,
                    "byte {index} of MIDI message is {byte:#04x}, not a data byte"
                )
            }
            Self::UnterminatedSysEx => f.write_str("SysEx does not end with 0xF7"),
            Self::SysExTooLong => f.write_str("SysEx longer than 4 GiB"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Status byte values that [`MidiEvent`] and the parser use.
pub mod status {
    /// Start of System Exclusive.
    pub const SYSEX_START: u8 = 0xF0;
    /// End of System Exclusive.
    pub const SYSEX_END: u8 = 0xF7;
    /// First system realtime status byte; 0xF8..=0xFF are all realtime.
    pub const REALTIME_FIRST: u8 = 0xF8;

    /// Whether `b` is a data byte (0x00..=0x7F).
    #[inline]
    pub const fn is_data(b: u8) -> bool {
        b < 0x80
    }

    /// Whether `b` is a status byte (0x80..=0xFF).
    #[inline]
    pub const fn is_status(b: u8) -> bool {
        b >= 0x80
    }

    /// Whether `b` is a channel voice status (0x80..=0xEF).
    #[inline]
    pub const fn is_channel(b: u8) -> bool {
        matches!(b, 0x80..=0xEF)
    }

    /// Whether `b` lies in the system realtime range (0xF8..=0xFF), defined
    /// or not. Bytes in this range may appear anywhere in a stream.
    #[inline]
    pub const fn is_realtime(b: u8) -> bool {
        b >= REALTIME_FIRST
    }

    /// Whether `b` is one of the status bytes MIDI 1.0 leaves undefined:
    /// 0xF4, 0xF5 (system common range), 0xF9, 0xFD (realtime range).
    #[inline]
    pub const fn is_undefined(b: u8) -> bool {
        matches!(b, 0xF4 | 0xF5 | 0xF9 | 0xFD)
    }

    /// Number of data bytes that follow status `b`, for the statuses whose
    /// messages have a fixed length; `None` for data bytes, SysEx start/end
    /// and undefined statuses.
    #[inline]
    pub const fn data_len(b: u8) -> Option<usize> {
        match b {
            0x80..=0xBF | 0xE0..=0xEF | 0xF2 => Some(2),
            0xC0..=0xDF | 0xF1 | 0xF3 => Some(1),
            0xF6 | 0xF8 | 0xFA | 0xFB | 0xFC | 0xFE | 0xFF => Some(0),
            _ => None,
        }
    }
}

impl MidiMessage {
    /// A message from its parts.
    #[inline]
    pub const fn new(time_ns: u64, port: u16, event: MidiEvent) -> Self {
        Self {
            time_ns,
            port,
            event,
        }
    }
}

impl MidiEvent {
    /// The status byte of this message, with the channel in the low nibble for
    /// channel messages; 0xF0 for SysEx.
    pub const fn status(&self) -> u8 {
        match *self {
            Self::NoteOff { channel, .. } => 0x80 | (channel & 0x0F),
            Self::NoteOn { channel, .. } => 0x90 | (channel & 0x0F),
            Self::PolyPressure { channel, .. } => 0xA0 | (channel & 0x0F),
            Self::ControlChange { channel, .. } => 0xB0 | (channel & 0x0F),
            Self::ProgramChange { channel, .. } => 0xC0 | (channel & 0x0F),
            Self::ChannelPressure { channel, .. } => 0xD0 | (channel & 0x0F),
            Self::PitchBend { channel, .. } => 0xE0 | (channel & 0x0F),
            Self::SysEx { .. } => 0xF0,
            Self::MtcQuarterFrame(_) => 0xF1,
            Self::SongPosition(_) => 0xF2,
            Self::SongSelect(_) => 0xF3,
            Self::TuneRequest => 0xF6,
            Self::TimingClock => 0xF8,
            Self::Start => 0xFA,
            Self::Continue => 0xFB,
            Self::Stop => 0xFC,
            Self::ActiveSensing => 0xFE,
            Self::SystemReset => 0xFF,
        }
    }

    /// The channel (0..=15) of a channel voice message, `None` for system messages.
    pub const fn channel(&self) -> Option<u8> {
        match *self {
            Self::NoteOff { channel, .. }
            | Self::NoteOn { channel, .. }
            | Self::PolyPressure { channel, .. }
            | Self::ControlChange { channel, .. }
            | Self::ProgramChange { channel, .. }
            | Self::ChannelPressure { channel, .. }
            | Self::PitchBend { channel, .. } => Some(channel & 0x0F),
            _ => None,
        }
    }

    /// Whether this is a channel voice message (status 0x80..=0xEF).
    pub const fn is_channel(&self) -> bool {
        self.channel().is_some()
    }

    /// Whether this is a system realtime message (status 0xF8..=0xFF).
    pub const fn is_realtime(&self) -> bool {
        status::is_realtime(self.status())
    }

    /// Whether this is a SysEx (its payload travels separately).
    pub const fn is_sysex(&self) -> bool {
        matches!(self, Self::SysEx { .. })
    }

    /// Length of the raw message in bytes: 1..=3, or the payload length for SysEx.
    pub const fn byte_len(&self) -> usize {
        match *self {
            Self::SysEx { len } => len as usize,
            _ => match status::data_len(self.status()) {
                Some(n) => n + 1,
                None => 0, // unreachable: every non-SysEx status has a fixed length
            },
        }
    }

    /// Writes the raw bytes of a non-SysEx message into `out` and returns how
    /// many were written (1..=3). For a SysEx it writes nothing and returns 0:
    /// its raw bytes are the payload that travels beside the message.
    ///
    /// Out-of-range fields are masked to their bit width (channel to 4 bits,
    /// data to 7, pitch bend and song position to 14), so the output is always
    /// well-formed MIDI. Note-on with velocity 0 is written as such (0x9n kk 00).
    ///
    /// # Realtime Safety
    /// Does not allocate, lock or block.
    pub fn write_bytes(&self, out: &mut [u8; 3]) -> usize {
        let s = self.status();
        let (d1, d2) = match *self {
            Self::NoteOff { key, velocity, .. } | Self::NoteOn { key, velocity, .. } => {
                (key, velocity)
            }
            Self::PolyPressure { key, pressure, .. } => (key, pressure),
            Self::ControlChange {
                controller, value, ..
            } => (controller, value),
            Self::ProgramChange { program, .. } => (program, 0),
            Self::ChannelPressure { pressure, .. } => (pressure, 0),
            Self::PitchBend { value, .. } | Self::SongPosition(value) => {
                ((value & 0x7F) as u8, ((value >> 7) & 0x7F) as u8)
            }
            Self::MtcQuarterFrame(v) | Self::SongSelect(v) => (v, 0),
            Self::SysEx { .. } => return 0,
            _ => (0, 0),
        };
        out[0] = s;
        out[1] = d1 & 0x7F;
        out[2] = d2 & 0x7F;
        self.byte_len()
    }

    /// Builds a fixed-length message from its status byte and data bytes.
    /// `data` must hold at least [`status::data_len`]`(status)` bytes, each < 0x80
    /// (extra bytes are ignored). Returns `None` for statuses without a
    /// fixed length (SysEx start/end, undefined, data bytes) or too little data.
    ///
    /// This is the one place that maps bytes to variants; the stream parser uses it too.
    #[inline]
    pub fn from_status_and_data(status: u8, data: &[u8]) -> Option<Self> {
        let n = status::data_len(status)?;
        if data.len() < n {
            return None;
        }
        let d1 = if n > 0 { data[0] & 0x7F } else { 0 };
        let d2 = if n > 1 { data[1] & 0x7F } else { 0 };
        let channel = status & 0x0F;
        let word = u16::from(d1) | (u16::from(d2) << 7);
        Some(match status {
            0x80..=0x8F => Self::NoteOff {
                channel,
                key: d1,
                velocity: d2,
            },
            // Note-on with velocity 0 means note-off (MIDI 1.0, running-status idiom).
            0x90..=0x9F if d2 == 0 => Self::NoteOff {
                channel,
                key: d1,
                velocity: 0,
            },
            0x90..=0x9F => Self::NoteOn {
                channel,
                key: d1,
                velocity: d2,
            },
            0xA0..=0xAF => Self::PolyPressure {
                channel,
                key: d1,
                pressure: d2,
            },
            0xB0..=0xBF => Self::ControlChange {
                channel,
                controller: d1,
                value: d2,
            },
            0xC0..=0xCF => Self::ProgramChange {
                channel,
                program: d1,
            },
            0xD0..=0xDF => Self::ChannelPressure {
                channel,
                pressure: d1,
            },
            0xE0..=0xEF => Self::PitchBend {
                channel,
                value: word,
            },
            0xF1 => Self::MtcQuarterFrame(d1),
            0xF2 => Self::SongPosition(word),
            0xF3 => Self::SongSelect(d1),
            0xF6 => Self::TuneRequest,
            0xF8 => Self::TimingClock,
            0xFA => Self::Start,
            0xFB => Self::Continue,
            0xFC => Self::Stop,
            0xFE => Self::ActiveSensing,
            0xFF => Self::SystemReset,
            _ => return None,
        })
    }

    /// Decodes one complete raw message: a status byte and exactly the data
    /// bytes it requires, or a whole SysEx (0xF0, data bytes, 0xF7), which
    /// decodes to [`MidiEvent::SysEx`] with `len = bytes.len()`.
    ///
    /// Note-on with velocity 0 decodes to [`MidiEvent::NoteOff`]. For streams
    /// (running status, interleaved realtime bytes, chunks) use
    /// [`crate::protocol::Parser`].
    ///
    /// # Errors
    /// A [`DecodeError`] saying why `bytes` is not exactly one well-formed message.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&s, data) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if status::is_data(s) {
            return Err(DecodeError::MissingStatus(s));
        }
        if let Some(index) = data.iter().position(|&b| !status::is_data(b)) {
            let last_of_sysex = s == status::SYSEX_START && index + 1 == data.len();
            if !(last_of_sysex && data[index] == status::SYSEX_END) {
                return Err(DecodeError::NotData {
                    index: index + 1,
                    byte: data[index],
                });
            }
        }
        if s == status::SYSEX_START {
            if data.last() != Some(&status::SYSEX_END) {
                return Err(DecodeError::UnterminatedSysEx);
            }
            let len = u32::try_from(bytes.len()).map_err(|_| DecodeError::SysExTooLong)?;
            return Ok(Self::SysEx { len });
        }
        let n = status::data_len(s).ok_or(DecodeError::UndefinedStatus(s))?;
        if data.len() != n {
            return Err(DecodeError::WrongLength {
                expected: n + 1,
                actual: bytes.len(),
            });
        }
        Self::from_status_and_data(s, data).ok_or(DecodeError::UndefinedStatus(s))
    }
}
