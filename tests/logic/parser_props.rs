//! Property tests of the streaming parser against a reference decoder.
//!
//! The reference below is deliberately naive and written separately from
//! `src/protocol/parser.rs`: one byte at a time, one `match` per byte, its own
//! table of message lengths and its own byte-to-event decoding. For any byte
//! stream, cut into chunks at any points, the parser must emit exactly what
//! the reference emits (events, timestamps, ports, SysEx payloads) and count
//! exactly the same losses.

use phasorsync::protocol::{MidiEvent, MidiMessage, Parser, ParserConfig, ParserStats};
use proptest::prelude::*;

/// Emitted messages with their SysEx payloads.
type Out = Vec<(MidiMessage, Vec<u8>)>;

/// The byte-at-a-time reference decoder.
struct Reference {
    max_sysex: usize,
    running: Option<u8>,
    /// Status and data bytes of the message being assembled.
    msg: Vec<u8>,
    sysex: Option<Vec<u8>>,
    sysex_too_big: bool,
    stats: ParserStats,
    out: Out,
}

/// Data bytes after a status, by the MIDI 1.0 tables.
fn ref_data_len(status: u8) -> usize {
    match status >> 4 {
        0x8 | 0x9 | 0xA | 0xB | 0xE => 2,
        0xC | 0xD => 1,
        _ => match status {
            0xF1 | 0xF3 => 1,
            0xF2 => 2,
            _ => 0,
        },
    }
}

fn ref_decode(m: &[u8]) -> MidiEvent {
    let ch = m[0] & 0x0F;
    let d = |i: usize| m.get(i).copied().unwrap_or(0);
    let bend = || u16::from(d(1)) + 128 * u16::from(d(2));
    match m[0] >> 4 {
        0x8 => MidiEvent::NoteOff {
            channel: ch,
            key: d(1),
            velocity: d(2),
        },
        0x9 if d(2) == 0 => MidiEvent::NoteOff {
            channel: ch,
            key: d(1),
            velocity: 0,
        },
        0x9 => MidiEvent::NoteOn {
            channel: ch,
            key: d(1),
            velocity: d(2),
        },
        0xA => MidiEvent::PolyPressure {
            channel: ch,
            key: d(1),
            pressure: d(2),
        },
        0xB => MidiEvent::ControlChange {
            channel: ch,
            controller: d(1),
            value: d(2),
        },
        0xC => MidiEvent::ProgramChange {
            channel: ch,
            program: d(1),
        },
        0xD => MidiEvent::ChannelPressure {
            channel: ch,
            pressure: d(1),
        },
        0xE => MidiEvent::PitchBend {
            channel: ch,
            value: bend(),
        },
        _ => match m[0] {
            0xF1 => MidiEvent::MtcQuarterFrame(d(1)),
            0xF2 => MidiEvent::SongPosition(bend()),
            0xF3 => MidiEvent::SongSelect(d(1)),
            0xF6 => MidiEvent::TuneRequest,
            other => unreachable!("reference never decodes {other:#x}"),
        },
    }
}

impl Reference {
    fn new(max_sysex: usize) -> Self {
        Self {
            max_sysex: max_sysex.max(2),
            running: None,
            msg: Vec::new(),
            sysex: None,
            sysex_too_big: false,
            stats: ParserStats::default(),
            out: Vec::new(),
        }
    }

    fn emit(&mut self, t: u64, port: u16, ev: MidiEvent, payload: Vec<u8>) {
        self.stats.messages += 1;
        self.out.push((
            MidiMessage {
                time_ns: t,
                port,
                event: ev,
            },
            payload,
        ));
    }

    fn byte(&mut self, b: u8, t: u64, port: u16) {
        self.stats.bytes += 1;
        // Realtime range: anywhere, touches nothing.
        if b >= 0xF8 {
            let ev = match b {
                0xF8 => MidiEvent::TimingClock,
                0xFA => MidiEvent::Start,
                0xFB => MidiEvent::Continue,
                0xFC => MidiEvent::Stop,
                0xFE => MidiEvent::ActiveSensing,
                0xFF => MidiEvent::SystemReset,
                _ => {
                    self.stats.undefined_status_bytes += 1;
                    return;
                }
            };
            self.emit(t, port, ev, Vec::new());
            return;
        }
        // Inside a SysEx.
        if let Some(mut sx) = self.sysex.take() {
            if b < 0x80 {
                if sx.len() + 1 < self.max_sysex {
                    sx.push(b);
                } else {
                    self.sysex_too_big = true;
                }
                self.sysex = Some(sx);
                return;
            }
            if self.sysex_too_big {
                self.stats.sysex_oversize += 1;
            } else if b == 0xF7 {
                sx.push(0xF7);
                self.stats.sysex_messages += 1;
                let len = sx.len() as u32;
                self.emit(t, port, MidiEvent::SysEx { len }, sx);
            } else {
                self.stats.sysex_unterminated += 1;
            }
            self.sysex_too_big = false;
            if b == 0xF7 {
                return;
            }
            // Any other status goes on to start its own message.
        }
        if b >= 0x80 {
            if !self.msg.is_empty() {
                self.stats.truncated_messages += 1;
                self.msg.clear();
            }
            self.running = if b < 0xF0 { Some(b) } else { None };
            match b {
                0xF0 => self.sysex = Some(vec![0xF0]),
                0xF7 => self.stats.stray_sysex_end += 1,
                0xF4 | 0xF5 => self.stats.undefined_status_bytes += 1,
                0xF6 => self.emit(t, port, MidiEvent::TuneRequest, Vec::new()),
                _ => self.msg.push(b),
            }
            return;
        }
        // A data byte.
        if self.msg.is_empty() {
            match self.running {
                Some(s) => self.msg.push(s),
                None => {
                    self.stats.stray_data_bytes += 1;
                    return;
                }
            }
        }
        self.msg.push(b);
        if self.msg.len() == 1 + ref_data_len(self.msg[0]) {
            let ev = ref_decode(&self.msg);
            self.msg.clear();
            self.emit(t, port, ev, Vec::new());
        }
    }
}

/// Bytes weighted towards what makes MIDI streams interesting.
fn midi_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => 0u8..0x80,                              // data
        3 => 0x80u8..0xF0,                           // channel status
        1 => prop::sample::select(vec![0xF0u8, 0xF7]), // SysEx framing
        1 => 0xF1u8..=0xF7,                          // system common, undefined
        2 => 0xF8u8..=0xFF,                          // realtime range
        1 => any::<u8>(),
    ]
}

/// A stream, cut points into it, and a SysEx bound small enough to be hit.
fn case() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, usize)> {
    (
        prop::collection::vec(midi_byte(), 0..400),
        prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        prop_oneof![Just(64 * 1024), 0usize..24],
    )
        .prop_map(|(bytes, cuts, max)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            (bytes, cuts, max)
        })
}

fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        out.push(&bytes[start..c]);
        start = c;
    }
    out
}

fn run_parser(max_sysex: usize, chunks: &[&[u8]]) -> (Out, ParserStats) {
    let mut p = Parser::new(ParserConfig { max_sysex });
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let port = (i % 3) as u16;
        p.feed(c, 100 + i as u64, port, |m, payload| {
            out.push((m, payload.to_vec()))
        });
    }
    (out, p.stats())
}

fn run_reference(max_sysex: usize, chunks: &[&[u8]]) -> (Out, ParserStats) {
    let mut r = Reference::new(max_sysex);
    for (i, c) in chunks.iter().enumerate() {
        for &b in *c {
            r.byte(b, 100 + i as u64, (i % 3) as u16);
        }
    }
    (r.out, r.stats)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any bytes, any cuts: same messages, stamps, payloads and counters as the reference.
    #[test]
    fn parser_matches_reference((bytes, cuts, max) in case()) {
        let ch = chunks(&bytes, &cuts);
        let (got, got_stats) = run_parser(max, &ch);
        let (want, want_stats) = run_reference(max, &ch);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_stats, want_stats);
    }

    /// Fully arbitrary bytes (no weighting) fed one at a time and all at once agree.
    #[test]
    fn chunking_does_not_change_events(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let whole = run_parser(64, &[&bytes]);
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        let split = run_parser(64, &singles);
        let strip = |o: &Out| o.iter().map(|(m, p)| (m.event, p.clone())).collect::<Vec<_>>();
        prop_assert_eq!(strip(&whole.0), strip(&split.0));
        prop_assert_eq!(whole.1, split.1);
        prop_assert_eq!(whole.1, run_reference(64, &[&bytes]).1);
    }

    /// Well-formed messages, written with running status where it applies and
    /// with realtime bytes sprinkled anywhere, come back exactly, losslessly.
    #[test]
    fn encoded_messages_round_trip_through_the_stream(
        events in prop::collection::vec(event(), 0..60),
        realtime in prop::collection::vec((any::<prop::sample::Index>(), 0usize..6), 0..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let rt_bytes = [0xF8u8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF];
        // Encode with running status, remembering where each message starts.
        let mut bytes = Vec::new();
        let mut running = None;
        for ev in &events {
            let mut raw = [0u8; 3];
            let n = ev.write_bytes(&mut raw);
            let s = raw[0];
            let skip = usize::from(running == Some(s) && ev.is_channel());
            bytes.extend_from_slice(&raw[skip..n]);
            running = if ev.is_channel() { Some(s) } else { None };
        }
        // Insert realtime bytes at arbitrary byte positions (after all, a
        // realtime byte may come between any two bytes).
        let mut with_rt = bytes.clone();
        let mut inserted: Vec<(usize, u8)> = realtime
            .iter()
            .map(|(at, k)| (at.index(bytes.len() + 1), rt_bytes[*k]))
            .collect();
        inserted.sort_by_key(|(at, _)| *at);
        for (shift, (at, b)) in inserted.iter().enumerate() {
            with_rt.insert(at + shift, *b);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(with_rt.len() + 1)).collect();
        cuts.sort_unstable();
        let (out, stats) = run_parser(64 * 1024, &chunks(&with_rt, &cuts));
        let got: Vec<MidiEvent> = out.iter().map(|(m, _)| m.event).filter(|e| !e.is_realtime()).collect();
        let want: Vec<MidiEvent> = events.iter().copied().filter(|e| !e.is_realtime()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(stats.dropped(), 0);
        let n_rt = out.iter().filter(|(m, _)| m.event.is_realtime()).count();
        prop_assert_eq!(n_rt, inserted.len() + events.iter().filter(|e| e.is_realtime()).count());
    }
}

/// Any well-formed non-SysEx event, as the parser would decode it.
fn event() -> impl Strategy<Value = MidiEvent> {
    (0x80u8..=0xFF, 0u8..128, 0u8..128).prop_filter_map(
        "fixed-length statuses only",
        |(s, a, b)| {
            MidiEvent::from_bytes(&[s, a, b])
                .or_else(|_| MidiEvent::from_bytes(&[s, a]))
                .or_else(|_| MidiEvent::from_bytes(&[s]))
                .ok()
        },
    )
}
