//! Property test: random single-thread operation sequences on small rings agree with
//! a plain `VecDeque` model in every result and every counter, including wrap-around
//! at all small capacities, full rings, refused and discarded SysEx.

use std::collections::VecDeque;

use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{midi_buffer_with_config, RingConfig, RingStats};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Note,
    SysEx { len: usize, framed: bool },
    Pop,
    PopIf(bool),
    Peek,
    Payload { dst: usize },
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Note),
        3 => (2usize..48, prop::bool::weighted(0.9)).prop_map(|(len, framed)| Op::SysEx { len, framed }),
        4 => Just(Op::Pop),
        2 => any::<bool>().prop_map(Op::PopIf),
        2 => Just(Op::Peek),
        3 => (0usize..50).prop_map(|dst| Op::Payload { dst }),
        1 => Just(Op::Drain),
    ]
}

/// The reference: what the ring should hold and count.
#[derive(Default)]
struct Model {
    queue: VecDeque<(MidiMessage, Option<Vec<u8>>)>,
    pending: Option<Vec<u8>>,
    bytes_used: usize,
    c: RingStats,
}

impl Model {
    fn discard_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.c.discarded_sysex += 1;
            self.c.discarded_sysex_bytes += p.len() as u64;
            self.bytes_used -= p.len();
        }
    }
    fn pop(&mut self) -> Option<MidiMessage> {
        let (m, payload) = self.queue.pop_front()?;
        self.discard_pending();
        self.pending = payload;
        Some(m)
    }
}

fn payload(len: usize, framed: bool, seed: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| ((seed as usize + i) % 128) as u8)
        .collect();
    v[0] = 0xF0;
    if framed {
        v[len - 1] = 0xF7;
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn ring_matches_model(
        cap in 1usize..9,
        sysex_cap in 1usize..96,
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let (mut p, mut c) = midi_buffer_with_config(RingConfig { capacity: cap, sysex_bytes: sysex_cap });
        let mut m = Model::default();
        let mut dst = [0u8; 64];
        for (seq, op) in ops.into_iter().enumerate() {
            let seq = seq as u64;
            match op {
                Op::Note => {
                    let msg = MidiMessage { time_ns: seq, port: 0, event: MidiEvent::Start };
                    let want = m.queue.len() < cap;
                    if want { m.queue.push_back((msg, None)) } else { m.c.dropped_messages += 1 }
                    prop_assert_eq!(p.try_send(msg), want);
                }
                Op::SysEx { len, framed } => {
                    let bytes = payload(len, framed, seq);
                    let want = if !framed || len > sysex_cap {
                        m.c.rejected += 1;
                        false
                    } else if m.queue.len() == cap || m.bytes_used + len > sysex_cap {
                        m.c.dropped_sysex += 1;
                        m.c.dropped_sysex_bytes += len as u64;
                        false
                    } else {
                        let msg = MidiMessage { time_ns: seq, port: 1, event: MidiEvent::SysEx { len: len as u32 } };
                        m.queue.push_back((msg, Some(bytes.clone())));
                        m.bytes_used += len;
                        true
                    };
                    prop_assert_eq!(p.try_send_sysex(seq, 1, &bytes), want);
                }
                Op::Pop => prop_assert_eq!(c.try_pop(), m.pop()),
                Op::PopIf(accept) => {
                    let want = if accept { m.pop() } else { None };
                    prop_assert_eq!(c.try_pop_if(|_| accept), want);
                }
                Op::Peek => prop_assert_eq!(c.peek().copied(), m.queue.front().map(|e| e.0)),
                Op::Payload { dst: n } => {
                    let want = match m.pending.take() {
                        Some(pl) if pl.len() <= n => {
                            m.bytes_used -= pl.len();
                            Some(pl)
                        }
                        Some(pl) => {
                            m.pending = Some(pl);
                            m.discard_pending();
                            None
                        }
                        None => None,
                    };
                    let got = c.pop_sysex_payload(&mut dst[..n]);
                    prop_assert_eq!(got, want.as_ref().map(Vec::len));
                    if let Some(pl) = want {
                        prop_assert_eq!(&dst[..pl.len()], &pl[..]);
                    }
                }
                Op::Drain => {
                    let mut want = Vec::new();
                    while let Some(x) = m.pop() { want.push(x) }
                    m.discard_pending();
                    let mut got = Vec::new();
                    prop_assert_eq!(c.drain_into(&mut got), want.len());
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(c.len(), m.queue.len());
            prop_assert_eq!(c.is_empty(), m.queue.is_empty());
            prop_assert_eq!(p.is_full(), m.queue.len() == cap);
            prop_assert_eq!(p.sysex_vacant_bytes(), sysex_cap - m.bytes_used);
            prop_assert_eq!(c.pending_sysex_len(), m.pending.as_ref().map_or(0, Vec::len));
            prop_assert_eq!(c.stats().snapshot(), m.c);
        }
    }
}
