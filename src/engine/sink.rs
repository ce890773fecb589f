//! Decoded bytes → protocol parser → SPSC ring, one stream per source.
//!
//! One [`Parser`] per source port: two devices sending SysEx at once arrive as
//! interleaved kernel chunks, and each stream must be reassembled on its own.
//! A parser is created (allocating its SysEx storage) the first time a source
//! sends, on the sequencer thread, and dropped when the source goes away.
//! Messages carry `port = client << 8 | port` of the source.
//!
//! Held notes: each source keeps a fixed 16×128 bitmap of the notes it has
//! sounding (no allocation per note). When the stream breaks — the source's
//! port or client goes away (a device unplugged), or a kernel overrun threw
//! away events that may have held note-offs — every held note gets a
//! note-off (velocity 0) from that source, stamped with the time given (the
//! thread's now), so nothing hangs in the instrument. The stream state is
//! flushed too: a SysEx in progress can never be completed correctly (its
//! middle may be gone), so it is dropped and counted, never spliced to a
//! later piece.

use std::sync::Arc;

use super::news::{EngineCounters, News};
use crate::protocol::{HeldNotes, MidiEvent, MidiMessage, Parser, ParserConfig, ParserStats};
use crate::ring::MidiBufferProducer;

/// The source address packed into `MidiMessage::port`.
pub fn source_id(client: i32, port: i32) -> u16 {
    (((client & 0xFF) as u16) << 8) | (port & 0xFF) as u16
}

/// An undefined status byte: ends a SysEx in progress as unterminated (the
/// parser drops and counts it, once) and is itself skipped.
const BREAK: u8 = 0xF4;

#[derive(Debug)]
struct Source {
    id: u16,
    parser: Parser,
    held: HeldNotes,
}

/// Feeds per-source parsers and pushes what they emit into the ring.
#[derive(Debug)]
pub struct Sink {
    producer: MidiBufferProducer,
    /// A handful of sources at most, so a linear scan beats hashing.
    sources: Vec<Source>,
    config: ParserConfig,
    news: Arc<News>,
}

impl Sink {
    /// A sink writing into `producer`, with SysEx bounded by `max_sysex`.
    pub fn new(producer: MidiBufferProducer, max_sysex: usize, news: Arc<News>) -> Self {
        Self {
            producer,
            sources: Vec::new(),
            config: ParserConfig { max_sysex },
            news,
        }
    }

    /// Bytes from `source`, stamped `time_ns`.
    pub fn feed(&mut self, time_ns: u64, source: u16, bytes: &[u8]) {
        let i = match self.sources.iter().position(|s| s.id == source) {
            Some(i) => i,
            None => {
                self.sources.push(Source {
                    id: source,
                    parser: Parser::new(self.config),
                    held: HeldNotes::default(),
                });
                self.sources.len() - 1
            }
        };
        let Source { parser, held, .. } = &mut self.sources[i];
        let before = parser.stats();
        let producer = &mut self.producer;
        let mut refused = 0;
        parser.feed(bytes, time_ns, source, |msg, payload| {
            held.track(&msg.event);
            let sent = match msg.event {
                MidiEvent::SysEx { .. } => producer.try_send_sysex(msg.time_ns, msg.port, payload),
                _ => producer.try_send(msg),
            };
            refused += u64::from(!sent);
        });
        let after = parser.stats();
        publish(&self.news, before, after);
        self.news.count(&self.news.counters.ring_full, refused);
    }

    /// A source port went away: its held notes are released at `now_ns`,
    /// a partial SysEx is counted as dropped, its stream state is forgotten.
    pub fn source_gone(&mut self, source: u16, now_ns: u64) {
        self.remove_where(now_ns, |s| s == source);
    }

    /// A client went away: the same for all its ports.
    pub fn client_gone(&mut self, client: i32, now_ns: u64) {
        let hi = source_id(client, 0) & 0xFF00;
        self.remove_where(now_ns, |s| s & 0xFF00 == hi);
    }

    /// The kernel overran and dropped events of unknown sources: every
    /// stream is broken. Held notes are released at `now_ns`, SysEx in
    /// progress dropped and counted, parsers reset (kept, with their storage).
    pub fn break_all_streams(&mut self, now_ns: u64) {
        for i in 0..self.sources.len() {
            self.break_stream(i, now_ns);
        }
    }

    fn remove_where(&mut self, now_ns: u64, gone: impl Fn(u16) -> bool) {
        let mut i = 0;
        while i < self.sources.len() {
            if gone(self.sources[i].id) {
                self.break_stream(i, now_ns);
                self.sources.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Ends source `i`'s stream: a SysEx or message in progress is dropped
    /// and counted by the parser, held notes get their note-offs.
    fn break_stream(&mut self, i: usize, now_ns: u64) {
        let Source { id, parser, held } = &mut self.sources[i];
        let before = parser.stats();
        parser.feed(&[BREAK], now_ns, *id, |_, _| {});
        parser.reset();
        let mut after = parser.stats();
        // BREAK itself is ours, not the source's.
        after.bytes = after.bytes.saturating_sub(1);
        after.undefined_status_bytes = after.undefined_status_bytes.saturating_sub(1);
        let (mut released, mut refused) = (0u64, 0u64);
        let producer = &mut self.producer;
        let port = *id;
        held.release(|channel, key| {
            released += 1;
            refused += u64::from(!producer.try_send(MidiMessage {
                time_ns: now_ns,
                port,
                event: MidiEvent::NoteOff {
                    channel,
                    key,
                    velocity: 0,
                },
            }));
        });
        self.news
            .count(&self.news.counters.notes_released, released);
        self.news.count(&self.news.counters.ring_full, refused);
        // Deltas only: the parser's own totals may keep BREAK.
        publish(&self.news, before, after);
    }
}

/// Adds the parser's counters moved between `a` and `b` to the shared ones,
/// and tells the plugin when something was lost.
fn publish(news: &News, a: ParserStats, b: ParserStats) {
    let c: &EngineCounters = &news.counters;
    News::tally(&c.received_bytes, b.bytes - a.bytes);
    News::tally(&c.received_messages, b.messages - a.messages);
    News::tally(
        &c.parse_errors,
        (b.stray_data_bytes + b.undefined_status_bytes + b.stray_sysex_end + b.truncated_messages)
            .saturating_sub(
                a.stray_data_bytes
                    + a.undefined_status_bytes
                    + a.stray_sysex_end
                    + a.truncated_messages,
            ),
    );
    News::tally(&c.sysex_oversize, b.sysex_oversize - a.sysex_oversize);
    News::tally(&c.sysex_cut, b.sysex_unterminated - a.sysex_unterminated);
    if b.dropped() > a.dropped() {
        news.ring();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{midi_buffer_with_config, MidiBufferConsumer, RingConfig};
    use std::sync::atomic::Ordering;

    fn sink() -> (Sink, MidiBufferConsumer, Arc<News>) {
        let (p, c) = midi_buffer_with_config(RingConfig {
            capacity: 64,
            sysex_bytes: 4096,
        });
        let news = Arc::new(News::default());
        (Sink::new(p, 1024, Arc::clone(&news)), c, news)
    }

    fn drain(c: &mut MidiBufferConsumer) -> Vec<MidiMessage> {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        while let Some(m) = c.try_pop() {
            if let MidiEvent::SysEx { .. } = m.event {
                c.pop_sysex_payload(&mut buf);
            }
            out.push(m);
        }
        out
    }

    fn off(time_ns: u64, port: u16, channel: u8, key: u8) -> MidiMessage {
        MidiMessage {
            time_ns,
            port,
            event: MidiEvent::NoteOff {
                channel,
                key,
                velocity: 0,
            },
        }
    }

    #[test]
    fn held_notes_are_released_when_the_source_goes() {
        let (mut s, mut c, shared) = sink();
        let (a, b) = (source_id(20, 0), source_id(20, 1));
        s.feed(1, a, &[0x90, 60, 1, 0x90, 61, 1, 0x9F, 127, 1, 0x80, 61, 0]);
        s.feed(2, b, &[0x91, 0, 1, 0x91, 1, 1, 0xB1, 123, 0]);
        s.feed(3, source_id(21, 0), &[0x90, 5, 5]);
        assert_eq!(drain(&mut c).len(), 8);
        s.source_gone(a, 100);
        assert_eq!(drain(&mut c), [off(100, a, 0, 60), off(100, a, 15, 127)]);
        // All Notes Off already silenced b's channel 1.
        s.client_gone(20, 200);
        assert!(drain(&mut c).is_empty());
        s.break_all_streams(300);
        assert_eq!(drain(&mut c), [off(300, source_id(21, 0), 0, 5)]);
        assert_eq!(shared.counters.notes_released.load(Ordering::Relaxed), 3);
        // Released means forgotten.
        s.break_all_streams(400);
        assert!(drain(&mut c).is_empty());
        assert_eq!(shared.counters.parse_errors.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_broken_stream_never_splices_sysex_pieces() {
        let (mut s, mut c, shared) = sink();
        let a = source_id(30, 0);
        s.feed(1, a, &[0xF0, 0x7D, 1, 2]);
        s.break_all_streams(2);
        s.feed(3, a, &[7, 8, 0xF7]);
        s.feed(4, a, &[0xF0, 0x7D, 9, 0xF7]);
        let got = drain(&mut c);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].event, MidiEvent::SysEx { len: 4 });
        let n = &shared.counters;
        assert_eq!(n.sysex_cut.load(Ordering::Relaxed), 1);
        assert_eq!(n.sysex_oversize.load(Ordering::Relaxed), 0);
        // The tail is stray data (counted), the break byte is not input.
        assert_eq!(n.parse_errors.load(Ordering::Relaxed), 3);
        assert_eq!(n.received_bytes.load(Ordering::Relaxed), 4 + 3 + 4);
    }
}
