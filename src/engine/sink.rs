//! Decoded bytes → protocol parser → SPSC ring.
//!
//! One [`Parser`] per source port: two devices sending SysEx at once arrive as
//! interleaved kernel chunks, and each stream must be reassembled on its own.
//! A parser is created (allocating its SysEx storage) the first time a source
//! sends, on the sequencer thread, and dropped when the source goes away.
//! Messages carry `port = client << 8 | port` of the source.

use std::sync::Arc;

use super::news::{EngineCounters, News};
use crate::protocol::{MidiEvent, Parser, ParserConfig, ParserStats};
use crate::ring::MidiBufferProducer;

/// The source address packed into `MidiMessage::port`.
pub fn source_id(client: i32, port: i32) -> u16 {
    (((client & 0xFF) as u16) << 8) | (port & 0xFF) as u16
}

/// Feeds per-source parsers and pushes what they emit into the ring.
#[derive(Debug)]
pub struct Sink {
    producer: MidiBufferProducer,
    /// (source, parser); a handful of sources at most, so a linear scan
    /// beats hashing.
    parsers: Vec<(u16, Parser)>,
    config: ParserConfig,
    news: Arc<News>,
}

impl Sink {
    /// A sink writing into `producer`, with SysEx bounded by `max_sysex`.
    pub fn new(producer: MidiBufferProducer, max_sysex: usize, news: Arc<News>) -> Self {
        Self {
            producer,
            parsers: Vec::new(),
            config: ParserConfig { max_sysex },
            news,
        }
    }

    /// Bytes from `source`, stamped `time_ns`.
    pub fn feed(&mut self, time_ns: u64, source: u16, bytes: &[u8]) {
        let i = match self.parsers.iter().position(|(s, _)| *s == source) {
            Some(i) => i,
            None => {
                self.parsers.push((source, Parser::new(self.config)));
                self.parsers.len() - 1
            }
        };
        let parser = &mut self.parsers[i].1;
        let before = parser.stats();
        let producer = &mut self.producer;
        let mut refused = 0;
        parser.feed(bytes, time_ns, source, |msg, payload| {
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

    /// A source went away: forget its stream state.
    pub fn source_gone(&mut self, source: u16) {
        self.parsers.retain(|(s, _)| *s != source);
    }

    /// A client went away: forget all its ports.
    pub fn client_gone(&mut self, client: i32) {
        let hi = source_id(client, 0) & 0xFF00;
        self.parsers.retain(|(s, _)| s & 0xFF00 != hi);
    }
}

fn publish(news: &News, a: ParserStats, b: ParserStats) {
    let c: &EngineCounters = &news.counters;
    News::tally(&c.received_bytes, b.bytes - a.bytes);
    News::tally(&c.received_messages, b.messages - a.messages);
    news.count(
        &c.parse_errors,
        (b.stray_data_bytes + b.undefined_status_bytes + b.stray_sysex_end + b.truncated_messages)
            - (a.stray_data_bytes
                + a.undefined_status_bytes
                + a.stray_sysex_end
                + a.truncated_messages),
    );
    news.count(&c.sysex_oversize, b.sysex_oversize - a.sysex_oversize);
    news.count(&c.sysex_cut, b.sysex_unterminated - a.sysex_unterminated);
}
