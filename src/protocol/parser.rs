//! Streaming MIDI 1.0 byte parser: bytes in arbitrary chunks → [`MidiMessage`]s.
//!
//! The per-message grammar is written with `nom` (see [`grammar`]); the
//! [`Parser`] around it keeps the state that spans chunks: running status, a
//! message cut by a chunk boundary or by interleaved realtime bytes, and a
//! SysEx being reassembled into storage preallocated at construction.
//!
//! Stream rules (MIDI 1.0):
//! - Running status: after a channel voice message, data bytes alone repeat
//!   its status. Any status byte 0xF0..=0xF7 (system common, SysEx, including
//!   the undefined 0xF4/0xF5) cancels it; realtime-range bytes do not.
//! - Bytes 0xF8..=0xFF may appear anywhere, also inside another message or a
//!   SysEx; they are emitted at once and disturb nothing. The undefined ones
//!   (0xF9, 0xFD) are skipped and counted.
//! - Data bytes with no status to belong to are skipped and counted; so are
//!   undefined status bytes and a lone 0xF7. A message whose data bytes are cut
//!   short by a non-realtime status byte is dropped and counted; the status
//!   byte then starts its own message.
//! - A SysEx larger than [`ParserConfig::max_sysex`] is dropped and counted as
//!   oversize; one ended by a non-realtime status byte instead of 0xF7 is
//!   dropped and counted as unterminated, and that status byte starts its own
//!   message. Each dropped SysEx is counted once (oversize wins).
//!
//! Timestamps: a message is stamped with the `time_ns` of the chunk whose
//! bytes completed it. For a message split across chunks (most often a long
//! SysEx) that is the arrival time of its last byte, which is when it could
//! first have been acted on; the start time of a multi-chunk SysEx is not kept.

use bytes::BytesMut;

use super::message::{status, MidiEvent, MidiMessage};

/// Default bound on one SysEx message, framing bytes included: 64 KiB.
pub const DEFAULT_MAX_SYSEX: usize = 64 * 1024;

/// Construction-time settings of a [`Parser`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParserConfig {
    /// Largest SysEx kept, in bytes including 0xF0 and 0xF7 (at least 2 and at
    /// most `u32::MAX`; values outside are clamped). This much storage is
    /// allocated once, in [`Parser::new`].
    pub max_sysex: usize,
}

impl Default for ParserConfig {
    fn default() -> Self {
        Self {
            max_sysex: DEFAULT_MAX_SYSEX,
        }
    }
}

/// What a [`Parser`] has seen since it was made (or since [`Parser::reset_stats`]).
/// Every byte that did not end up in an emitted message is counted in one of
/// the loss counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParserStats {
    /// Bytes fed.
    pub bytes: u64,
    /// Messages emitted, SysEx and realtime included.
    pub messages: u64,
    /// SysEx messages emitted (also counted in `messages`).
    pub sysex_messages: u64,
    /// Data bytes skipped because no status applied to them.
    pub stray_data_bytes: u64,
    /// Undefined status bytes (0xF4, 0xF5, 0xF9, 0xFD) skipped.
    pub undefined_status_bytes: u64,
    /// 0xF7 (end of exclusive) seen outside a SysEx, skipped.
    pub stray_sysex_end: u64,
    /// Messages dropped because a non-realtime status byte arrived before all
    /// their data bytes.
    pub truncated_messages: u64,
    /// SysEx messages dropped because they exceeded `max_sysex`.
    pub sysex_oversize: u64,
    /// SysEx messages dropped because a non-realtime status byte came before 0xF7.
    pub sysex_unterminated: u64,
}

impl ParserStats {
    /// Total of the loss counters: messages or bytes that were dropped.
    pub fn dropped(&self) -> u64 {
        self.stray_data_bytes
            + self.undefined_status_bytes
            + self.stray_sysex_end
            + self.truncated_messages
            + self.sysex_oversize
            + self.sysex_unterminated
    }
}

/// The per-message grammar, in `nom`. Each parser works on one contiguous
/// slice; the [`Parser`] decides what to do when a message does not complete
/// inside it.
pub mod grammar {
    use nom::branch::alt;
    use nom::bytes::{complete, streaming};
    use nom::combinator::{map, map_opt, verify};
    use nom::number::streaming::u8 as byte;
    use nom::{IResult, Parser};

    use super::super::message::{status, MidiEvent};

    /// Input of the grammar.
    pub type Input<'a> = &'a [u8];
    /// Result of the grammar. The error carries nothing: the driver only needs
    /// to know that the message does not complete here, not why.
    pub type Res<'a, O> = IResult<Input<'a>, O, ()>;

    /// One unit the stream parser acts on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Item {
        /// A complete fixed-length message.
        Event(MidiEvent),
        /// 0xF0: a SysEx begins.
        SysExStart,
        /// 0xF7 outside a SysEx.
        StraySysExEnd,
        /// An undefined status byte.
        Undefined(u8),
        /// This many data bytes with no status to belong to.
        Stray(usize),
    }

    /// A byte in the realtime range, as an event or as undefined (0xF9, 0xFD).
    pub fn realtime(i: Input<'_>) -> Res<'_, Item> {
        map(
            verify(byte, |&b| status::is_realtime(b)),
            |b| match MidiEvent::from_status_and_data(b, &[]) {
                Some(ev) => Item::Event(ev),
                None => Item::Undefined(b),
            },
        )
        .parse(i)
    }

    /// The `n` data bytes of a message: `Incomplete` if fewer than `n` bytes
    /// remain, an error if one of the `n` is a status byte. (Not
    /// `streaming::take_while_m_n`: it asks for a byte beyond the `n`th.)
    fn data(n: usize, i: Input<'_>) -> Res<'_, Input<'_>> {
        verify(streaming::take(n), |d: &[u8]| {
            d.iter().all(|&b| status::is_data(b))
        })
        .parse(i)
    }

    /// A fixed-length message with its status byte: channel voice, MTC quarter
    /// frame, song position, song select, tune request (and realtime).
    pub fn explicit(i: Input<'_>) -> Res<'_, MidiEvent> {
        let (i, s) = verify(byte, |&s| status::data_len(s).is_some()).parse(i)?;
        let n = status::data_len(s).unwrap_or(0);
        map_opt(
            move |i| data(n, i),
            move |d| MidiEvent::from_status_and_data(s, d),
        )
        .parse(i)
    }

    /// A channel voice message without its status byte, under running status `rs`.
    pub fn running(rs: u8, i: Input<'_>) -> Res<'_, MidiEvent> {
        let n = status::data_len(rs).unwrap_or(0);
        // Running status needs at least one data byte to start.
        let (_, _) = verify(byte, |&b| status::is_data(b)).parse(i)?;
        map_opt(
            move |i| data(n, i),
            move |d| MidiEvent::from_status_and_data(rs, d),
        )
        .parse(i)
    }

    /// One item at the start of `i`, given the running status in force.
    ///
    /// `Incomplete` or an error means a message starts at `i[0]` (a status
    /// with data bytes, or a data byte under running status) and does not
    /// complete contiguously in `i`: the input ends, or another status byte
    /// (perhaps realtime) interrupts it.
    pub fn item(rs: Option<u8>, i: Input<'_>) -> Res<'_, Item> {
        // The branches are disjoint by first byte; most frequent first.
        alt((
            |i| match rs {
                Some(s) => map(|i| running(s, i), Item::Event).parse(i),
                None => stray(i),
            },
            map(explicit, Item::Event),
            realtime,
            map(verify(byte, |&b| b == status::SYSEX_START), |_| {
                Item::SysExStart
            }),
            map(verify(byte, |&b| b == status::SYSEX_END), |_| {
                Item::StraySysExEnd
            }),
            map(verify(byte, |&b| status::is_undefined(b)), Item::Undefined),
        ))
        .parse(i)
    }

    /// A run of data bytes while no running status is in force.
    pub fn stray(i: Input<'_>) -> Res<'_, Item> {
        map(complete::take_while1(status::is_data), |d: Input<'_>| {
            Item::Stray(d.len())
        })
        .parse(i)
    }

    /// The data bytes at the start of a SysEx body (never fails).
    pub fn sysex_data(i: Input<'_>) -> Res<'_, Input<'_>> {
        complete::take_while(status::is_data)(i)
    }
}

/// A streaming MIDI 1.0 parser for one byte stream (one source port).
///
/// Allocates once, in [`Parser::new`] (the SysEx storage); [`Parser::feed`]
/// never allocates, locks or blocks, and never panics on any input.
///
/// Keep one `Parser` per byte stream: its state (running status, a partial
/// message) belongs to the stream the bytes came from.
///
/// # Example
/// ```
/// use phasorsync::protocol::{MidiEvent, Parser, ParserConfig};
///
/// let mut parser = Parser::new(ParserConfig::default());
/// let mut got = Vec::new();
/// // A note-on cut between two reads with a clock inside it, then a note-off
/// // by running status (note-on, velocity 0), then a SysEx.
/// parser.feed(&[0x90, 60], 1_000, 0, |m, _| got.push((m.time_ns, m.event)));
/// parser.feed(&[0xF8, 100, 60, 0], 2_000, 0, |m, _| got.push((m.time_ns, m.event)));
/// parser.feed(&[0xF0, 0x7E, 0xF7], 3_000, 0, |m, payload| {
///     assert_eq!(payload, [0xF0, 0x7E, 0xF7]);
///     got.push((m.time_ns, m.event));
/// });
/// assert_eq!(
///     got,
///     [
///         (2_000, MidiEvent::TimingClock),
///         (2_000, MidiEvent::NoteOn { channel: 0, key: 60, velocity: 100 }),
///         (2_000, MidiEvent::NoteOff { channel: 0, key: 60, velocity: 0 }),
///         (3_000, MidiEvent::SysEx { len: 3 }),
///     ]
/// );
/// assert_eq!(parser.stats().messages, 4);
/// assert_eq!(parser.stats().dropped(), 0);
/// ```
#[derive(Debug)]
pub struct Parser {
    /// Channel voice status for running status, if in force.
    running: Option<u8>,
    /// A message started but not complete: its status byte (also when it came
    /// from running status) and the data bytes so far.
    pending: [u8; 3],
    pending_len: usize,
    /// SysEx being reassembled, 0xF0 included. Capacity `max_sysex`, never grown.
    sysex: BytesMut,
    in_sysex: bool,
    /// The SysEx in progress outgrew `max_sysex`: discard until it ends.
    sysex_oversize: bool,
    max_sysex: usize,
    stats: ParserStats,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(ParserConfig::default())
    }
}

impl Parser {
    /// A parser with its SysEx storage allocated (`config.max_sysex` bytes).
    pub fn new(config: ParserConfig) -> Self {
        let max_sysex = config.max_sysex.clamp(2, u32::MAX as usize);
        Self {
            running: None,
            pending: [0; 3],
            pending_len: 0,
            sysex: BytesMut::with_capacity(max_sysex),
            in_sysex: false,
            sysex_oversize: false,
            max_sysex,
            stats: ParserStats::default(),
        }
    }

    /// The SysEx bound in force (after clamping), framing bytes included.
    pub fn max_sysex(&self) -> usize {
        self.max_sysex
    }

    /// Counters since construction or the last [`Parser::reset_stats`].
    pub fn stats(&self) -> ParserStats {
        self.stats
    }

    /// Zeroes the counters.
    pub fn reset_stats(&mut self) {
        self.stats = ParserStats::default();
    }

    /// Forgets the stream state: running status, a partial message, a SysEx in
    /// progress (which is dropped silently: use it when the stream restarts,
    /// e.g. the source reconnected). Counters are kept.
    ///
    /// # Realtime Safety
    /// Does not allocate, lock or block.
    pub fn reset(&mut self) {
        self.running = None;
        self.pending_len = 0;
        self.sysex.clear();
        self.in_sysex = false;
        self.sysex_oversize = false;
    }

    /// Parses the next chunk of the stream, which arrived at `time_ns`
    /// (nanoseconds, `CLOCK_MONOTONIC`) on `port`, and calls `emit` for each
    /// message it completes, in stream order. For a SysEx the slice is the
    /// complete payload (0xF0 … 0xF7, `len` bytes); for every other message it is empty.
    /// The slice is valid only during the call.
    ///
    /// Messages are stamped with the `time_ns` of the chunk that completed
    /// them (see the module docs). Bad bytes are skipped and counted in
    /// [`Parser::stats`].
    ///
    /// # Realtime Safety
    /// Does not allocate, lock or block (beyond what `emit` does); the SysEx
    /// storage is preallocated and never grows. Time is linear in `bytes.len()`.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        time_ns: u64,
        port: u16,
        mut emit: impl FnMut(MidiMessage, &[u8]),
    ) {
        self.stats.bytes += bytes.len() as u64;
        let mut out = |stats: &mut ParserStats, event: MidiEvent, payload: &[u8]| {
            stats.messages += 1;
            emit(MidiMessage::new(time_ns, port, event), payload);
        };
        let mut input = bytes;
        while let Some(&first) = input.first() {
            if self.in_sysex {
                input = self.sysex_segment(input, &mut out);
            } else if self.pending_len > 0 {
                input = self.pending_step(input, &mut out);
            } else {
                match grammar::item(self.running, input) {
                    Ok((rest, item)) => {
                        self.note_status(first);
                        self.apply(item, &mut out);
                        input = rest;
                    }
                    Err(_) => {
                        // A message starts here but does not complete in this
                        // contiguous run: assemble it byte by byte.
                        self.note_status(first);
                        self.pending_len = match (status::is_data(first), self.running) {
                            (true, Some(rs)) => {
                                self.pending[0] = rs;
                                self.pending[1] = first;
                                2
                            }
                            _ => {
                                self.pending[0] = first;
                                1
                            }
                        };
                        input = &input[1..];
                    }
                }
            }
        }
    }

    /// Running status follows non-realtime status bytes: a channel status sets
    /// it, anything in 0xF0..=0xF7 cancels it.
    #[inline]
    fn note_status(&mut self, b: u8) {
        if status::is_status(b) && !status::is_realtime(b) {
            self.running = status::is_channel(b).then_some(b);
        }
    }

    #[inline]
    fn apply(
        &mut self,
        item: grammar::Item,
        out: &mut impl FnMut(&mut ParserStats, MidiEvent, &[u8]),
    ) {
        use grammar::Item;
        match item {
            Item::Event(ev) => out(&mut self.stats, ev, &[]),
            Item::SysExStart => {
                self.in_sysex = true;
                self.sysex_oversize = false;
                self.sysex.clear();
                self.sysex.extend_from_slice(&[status::SYSEX_START]);
            }
            Item::StraySysExEnd => self.stats.stray_sysex_end += 1,
            Item::Undefined(_) => self.stats.undefined_status_bytes += 1,
            Item::Stray(n) => self.stats.stray_data_bytes += n as u64,
        }
    }

    /// Consumes SysEx body bytes up to and including the next status byte that
    /// matters; returns the rest of the input.
    fn sysex_segment<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut impl FnMut(&mut ParserStats, MidiEvent, &[u8]),
    ) -> &'a [u8] {
        let Ok((rest, body)) = grammar::sysex_data(input) else {
            return &[]; // unreachable: sysex_data never fails
        };
        if !self.sysex_oversize {
            // Room must remain for the closing 0xF7.
            if self.sysex.len() + body.len() < self.max_sysex {
                self.sysex.extend_from_slice(body);
            } else {
                self.sysex_oversize = true;
                self.sysex.clear();
            }
        }
        let Some(&b) = rest.first() else {
            return rest;
        };
        if b == status::SYSEX_END {
            if self.sysex_oversize {
                self.stats.sysex_oversize += 1;
            } else {
                self.sysex.extend_from_slice(&[status::SYSEX_END]);
                let len = self.sysex.len() as u32; // <= max_sysex <= u32::MAX
                self.stats.sysex_messages += 1;
                out(&mut self.stats, MidiEvent::SysEx { len }, &self.sysex);
            }
            self.end_sysex();
            return &rest[1..];
        }
        if status::is_realtime(b) {
            // Realtime bytes pass through a SysEx without ending it.
            if let Ok((_, item)) = grammar::realtime(&rest[..1]) {
                self.apply(item, out);
            }
            return &rest[1..];
        }
        // Any other status ends the SysEx unterminated; it starts its own message.
        if self.sysex_oversize {
            self.stats.sysex_oversize += 1;
        } else {
            self.stats.sysex_unterminated += 1;
        }
        self.end_sysex();
        rest
    }

    fn end_sysex(&mut self) {
        self.in_sysex = false;
        self.sysex_oversize = false;
        self.sysex.clear();
    }

    /// Feeds one byte to the message in `pending`; returns the rest of the input.
    fn pending_step<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut impl FnMut(&mut ParserStats, MidiEvent, &[u8]),
    ) -> &'a [u8] {
        let b = input[0];
        if status::is_realtime(b) {
            if let Ok((_, item)) = grammar::realtime(&input[..1]) {
                self.apply(item, out);
            }
            return &input[1..];
        }
        if status::is_status(b) {
            // Cut short: drop it; `b` starts its own message.
            self.stats.truncated_messages += 1;
            self.pending_len = 0;
            return input;
        }
        self.pending[self.pending_len] = b;
        self.pending_len += 1;
        if let Ok((_, ev)) = grammar::explicit(&self.pending[..self.pending_len]) {
            self.pending_len = 0;
            out(&mut self.stats, ev, &[]);
        }
        // A message has at most 2 data bytes, so with 3 bytes `explicit` has
        // completed and `pending` cannot overflow; guard anyway, never panic.
        debug_assert!(self.pending_len < self.pending.len());
        if self.pending_len >= self.pending.len() {
            self.pending_len = 0;
        }
        &input[1..]
    }
}
