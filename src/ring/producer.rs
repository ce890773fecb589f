//! The MIDI-thread half of the ring.

use std::fmt;

use ringbuf::traits::{Observer, Producer};
use ringbuf::HeapProd;

use super::slots::SlotWriter;
use super::stats::RingCounters;
use crate::protocol::{MidiEvent, MidiMessage};

/// The sending half of a [`super::midi_buffer`], owned by the MIDI thread.
///
/// `Send` but not `Sync`: move it to the one thread that produces.
pub struct MidiBufferProducer {
    messages: SlotWriter<MidiMessage>,
    bytes: HeapProd<u8>,
    stats: RingCounters,
}

impl MidiBufferProducer {
    pub(super) fn new(
        messages: SlotWriter<MidiMessage>,
        bytes: HeapProd<u8>,
        stats: RingCounters,
    ) -> Self {
        Self {
            messages,
            bytes,
            stats,
        }
    }

    /// Queues one message. Returns `false` if it was not queued: the ring was full
    /// (counted in [`super::RingStats::dropped_messages`]), or `msg` is a
    /// [`MidiEvent::SysEx`], whose payload this method cannot carry (counted in
    /// [`super::RingStats::rejected`]; use [`Self::try_send_sysex`]).
    ///
    /// # Realtime Safety
    /// Wait-free, never blocks, never allocates.
    #[inline]
    pub fn try_send(&mut self, msg: MidiMessage) -> bool {
        if matches!(msg.event, MidiEvent::SysEx { .. }) {
            self.stats.counters().rejected();
            return false;
        }
        if self.messages.try_push(msg).is_ok() {
            true
        } else {
            self.stats.counters().message_dropped();
            false
        }
    }

    /// Queues one SysEx message with its payload, all or nothing. `payload` is the
    /// complete message, 0xF0 first and 0xF7 last.
    ///
    /// Returns `false` if nothing was queued: the message ring or the byte storage
    /// lacks room (counted in `dropped_sysex` / `dropped_sysex_bytes`), or the
    /// payload is not framed by 0xF0 … 0xF7, or is larger than the whole byte
    /// storage (counted in `rejected`).
    ///
    /// # Realtime Safety
    /// Wait-free, never blocks, never allocates; copies `payload` once.
    pub fn try_send_sysex(&mut self, time_ns: u64, port: u16, payload: &[u8]) -> bool {
        let framed =
            payload.len() >= 2 && payload.first() == Some(&0xF0) && payload.last() == Some(&0xF7);
        let len = match u32::try_from(payload.len()) {
            Ok(len) if framed && payload.len() <= self.bytes.capacity().get() => len,
            _ => {
                self.stats.counters().rejected();
                return false;
            }
        };
        if self.messages.is_full() || self.bytes.vacant_len() < payload.len() {
            self.stats.counters().sysex_dropped(payload.len());
            return false;
        }
        // Payload first, message second: once the consumer sees the message, its
        // bytes are already published (both index stores are Release, in this order).
        let written = self.bytes.push_slice(payload);
        debug_assert_eq!(written, payload.len());
        let msg = MidiMessage {
            time_ns,
            port,
            event: MidiEvent::SysEx { len },
        };
        // Cannot fail: only this thread fills the message ring and it had room above.
        let pushed = self.messages.try_push(msg).is_ok();
        debug_assert!(pushed);
        pushed
    }

    /// `true` if the message ring has no free slot right now (the consumer may free
    /// one at any moment).
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.messages.is_full()
    }

    /// Free message slots right now (the consumer may free more at any moment).
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation.
    #[inline]
    pub fn vacant_len(&self) -> usize {
        self.messages.vacant_len()
    }

    /// Free SysEx payload bytes right now.
    pub fn sysex_vacant_bytes(&self) -> usize {
        self.bytes.vacant_len()
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.messages.capacity()
    }

    /// How many SysEx payload bytes the ring holds.
    pub fn sysex_capacity(&self) -> usize {
        self.bytes.capacity().get()
    }

    /// `true` once the [`super::MidiBufferConsumer`] has been dropped: nobody will
    /// read what is sent any more, so the MIDI thread may stop.
    pub fn is_abandoned(&self) -> bool {
        self.messages.is_abandoned()
    }

    /// A handle on the loss counters, readable from any thread.
    pub fn stats(&self) -> RingCounters {
        self.stats.clone()
    }
}

impl fmt::Debug for MidiBufferProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MidiBufferProducer")
            .field("capacity", &self.capacity())
            .field("vacant", &self.messages.vacant_len())
            .field("sysex_capacity", &self.sysex_capacity())
            .field("sysex_vacant", &self.bytes.vacant_len())
            .field("counters", &self.stats.snapshot())
            .finish()
    }
}
