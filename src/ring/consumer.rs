//! The audio-thread half of the ring.

use std::fmt;

use ringbuf::traits::{Consumer, Observer};
use ringbuf::HeapCons;

use super::slots::SlotReader;
use super::stats::RingCounters;
use crate::protocol::{MidiEvent, MidiMessage};

/// The receiving half of a [`super::midi_buffer`], owned by the audio thread.
///
/// `Send` but not `Sync`: move it to the one thread that consumes. Every method
/// except [`Self::drain_into`] is wait-free and allocation-free.
pub struct MidiBufferConsumer {
    messages: SlotReader<MidiMessage>,
    bytes: HeapCons<u8>,
    /// Payload length of the last popped SysEx whose bytes are still in `bytes`.
    pending_sysex: usize,
    stats: RingCounters,
}

impl MidiBufferConsumer {
    pub(super) fn new(
        messages: SlotReader<MidiMessage>,
        bytes: HeapCons<u8>,
        stats: RingCounters,
    ) -> Self {
        Self {
            messages,
            bytes,
            pending_sysex: 0,
            stats,
        }
    }

    /// Pops the oldest message, or `None` if the ring is empty.
    ///
    /// After a [`MidiEvent::SysEx`] is popped its payload waits for
    /// [`Self::pop_sysex_payload`]; if another message is popped first, the payload is
    /// skipped and counted in `discarded_sysex`.
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation, no syscall.
    #[inline]
    pub fn try_pop(&mut self) -> Option<MidiMessage> {
        let msg = self.messages.try_pop()?;
        self.popped(&msg);
        Some(msg)
    }

    /// Pops the oldest message only if `take` accepts it, e.g.
    /// `|m| m.time_ns < block_end_ns`; otherwise leaves it queued for a later block.
    /// Same as [`Self::peek`] then [`Self::try_pop`], with one look at the ring.
    ///
    /// # Realtime Safety
    /// Wait-free (plus whatever `take` does), no allocation, no syscall.
    #[inline]
    pub fn try_pop_if(&mut self, take: impl FnOnce(&MidiMessage) -> bool) -> Option<MidiMessage> {
        let msg = self.messages.pop_if(take)?;
        self.popped(&msg);
        Some(msg)
    }

    /// Keeps the byte ring in step after popping `msg`.
    #[inline(always)]
    fn popped(&mut self, msg: &MidiMessage) {
        if self.pending_sysex != 0 {
            self.discard_pending();
        }
        if let MidiEvent::SysEx { len } = msg.event {
            self.pending_sysex = usize::try_from(len).unwrap_or(usize::MAX);
        }
    }

    /// The oldest message, left in the ring (for a message that belongs to a later
    /// block), or `None` if the ring is empty.
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation, no syscall.
    #[inline]
    pub fn peek(&self) -> Option<&MidiMessage> {
        self.messages.peek()
    }

    /// Copies the payload of the SysEx just popped by [`Self::try_pop`] into the
    /// front of `dst` and returns its length (0xF0 … 0xF7 included).
    ///
    /// Returns `None` if there is no such payload (the last pop was not a SysEx, or
    /// its payload was already taken), or if `dst` is shorter than the payload: then
    /// the payload is skipped, counted in `discarded_sysex` / `discarded_sysex_bytes`,
    /// and the ring stays in step. Never panics.
    ///
    /// # Realtime Safety
    /// Wait-free (one `memcpy` of at most the payload), no allocation, no syscall.
    pub fn pop_sysex_payload(&mut self, dst: &mut [u8]) -> Option<usize> {
        let len = self.pending_sysex;
        if len == 0 {
            return None;
        }
        let Some(dst) = dst.get_mut(..len) else {
            self.discard_pending();
            return None;
        };
        self.pending_sysex = 0;
        let copied = self.bytes.pop_slice(dst);
        // The producer publishes the bytes before the message, so they are all here.
        debug_assert_eq!(copied, len);
        (copied == len).then_some(len)
    }

    /// Length of the payload [`Self::pop_sysex_payload`] would copy now (0 if none).
    #[inline]
    pub fn pending_sysex_len(&self) -> usize {
        self.pending_sysex
    }

    /// `true` if no message is queued right now.
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Number of messages queued right now.
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation.
    #[inline]
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Pops every queued message onto the end of `out` and returns how many.
    ///
    /// SysEx payloads cannot go into `out`: each one is skipped and counted in
    /// `discarded_sysex` (use [`Self::try_pop`] and [`Self::pop_sysex_payload`] to keep
    /// them).
    ///
    /// # Realtime Safety
    /// **May allocate** (`Vec::push` grows `out` when it is full). On the audio thread
    /// give `out` enough capacity first, or use [`Self::try_pop`] in a loop.
    pub fn drain_into(&mut self, out: &mut Vec<MidiMessage>) -> usize {
        let mut count = 0;
        while let Some(msg) = self.try_pop() {
            out.push(msg);
            count += 1;
        }
        if self.pending_sysex != 0 {
            self.discard_pending();
        }
        count
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.messages.capacity()
    }

    /// How many SysEx payload bytes the ring holds.
    pub fn sysex_capacity(&self) -> usize {
        self.bytes.capacity().get()
    }

    /// `true` once the [`super::MidiBufferProducer`] has been dropped (messages still
    /// queued can be popped).
    pub fn is_abandoned(&self) -> bool {
        self.messages.is_abandoned()
    }

    /// A handle on the loss counters, readable from any thread.
    pub fn stats(&self) -> RingCounters {
        self.stats.clone()
    }

    /// Skips the payload of the last popped SysEx and counts it as discarded.
    #[cold]
    fn discard_pending(&mut self) {
        let len = self.pending_sysex;
        self.pending_sysex = 0;
        let skipped = self.bytes.skip(len);
        debug_assert_eq!(skipped, len);
        self.stats.counters().sysex_discarded(len);
    }
}

impl fmt::Debug for MidiBufferConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MidiBufferConsumer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("sysex_capacity", &self.sysex_capacity())
            .field("pending_sysex", &self.pending_sysex)
            .field("counters", &self.stats.snapshot())
            .finish()
    }
}
