//! Decoded bytes → protocol parser → SPSC ring.
//!
//! One [`Parser`] per source port: two devices sending SysEx at once arrive as
//! interleaved kernel chunks, and each stream must be reassembled on its own.
//! A parser is created (allocating its SysEx storage) the first time a source
//! sends, on the sequencer thread, and dropped when the source goes away.
//! Messages carry `port = client << 8 | port` of the source.

use std::sync::Arc;

use crate::backend::alsa_seq::shared::{Counters, Shared};
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
    shared: Arc<Shared>,
}

impl Sink {
    /// A sink writing into `producer`, with SysEx bounded by `max_sysex`.
    pub fn new(producer: MidiBufferProducer, max_sysex: usize, shared: Arc<Shared>) -> Self {
        Self {
            producer,
            parsers: Vec::new(),
            config: ParserConfig { max_sysex },
            shared,
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
        parser.feed(bytes, time_ns, source, |msg, payload| {
            // A refusal is counted by the ring itself (RingStats).
            let _ = match msg.event {
                MidiEvent::SysEx { .. } => producer.try_send_sysex(msg.time_ns, msg.port, payload),
                _ => producer.try_send(msg),
            };
        });
        let after = parser.stats();
        publish(&self.shared.counters, before, after);
        if after.dropped() > before.dropped() {
            self.shared.log.notify();
        }
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

fn publish(c: &Counters, a: ParserStats, b: ParserStats) {
    Counters::add(&c.received_bytes, b.bytes - a.bytes);
    Counters::add(&c.received_messages, b.messages - a.messages);
    Counters::add(
        &c.parse_errors,
        (b.stray_data_bytes + b.undefined_status_bytes + b.stray_sysex_end + b.truncated_messages)
            - (a.stray_data_bytes
                + a.undefined_status_bytes
                + a.stray_sysex_end
                + a.truncated_messages),
    );
    Counters::add(
        &c.sysex_dropped,
        (b.sysex_oversize + b.sysex_unterminated) - (a.sysex_oversize + a.sysex_unterminated),
    );
    Counters::add(&c.sysex_oversize, b.sysex_oversize - a.sysex_oversize);
}
