//! The audio thread's side of hardware MIDI input: drain the ring, place each
//! message on its sample through the clock map, and merge it with the host's
//! own events into one time-ordered output.

use super::emit::{self, NoteDialect};
use super::report::Counters;
use crate::ring::MidiBufferConsumer;
use crate::timeline::{BlockMap, Placement, Timeline};
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::{InputEvents, OutputEvents};

/// Where events go: the host's output queue, and the counters for what it refuses.
pub struct Out<'o, 'e> {
    /// The host's output event queue.
    pub events: &'o mut OutputEvents<'e>,
    /// Traffic and loss counters.
    pub counters: &'o Counters,
    /// Asks the host for a main-thread callback (to report a loss).
    pub request_report: &'o dyn Fn(),
}

impl Out<'_, '_> {
    fn delivered(&mut self, pushed: Result<(), clack_plugin::events::io::TryPushError>) {
        match pushed {
            Ok(()) => self.counters.event_out(),
            Err(_) => self.counters.output_full(self.request_report),
        }
    }
}

/// Everything `process()` needs to bring hardware MIDI in. Built on the main
/// thread at activation (where it may allocate), used on the audio thread.
pub struct MidiIn {
    /// The ring from the sequencer thread; `None` when the engine did not start.
    consumer: Option<MidiBufferConsumer>,
    clock: Timeline,
    /// Added latency between an event's time and its place, in periods (see
    /// [`BlockMap::latency_frames`]).
    latency_blocks: u32,
    /// SysEx payloads of the current block. The host may read them until
    /// `process()` returns, so they are copied here and the space is reused
    /// only in the next block. Never grows: its length is fixed at activation.
    arena: Box<[u8]>,
    arena_used: usize,
    dialect: NoteDialect,
    /// Offset of the last ring event emitted in this block: output stays ordered
    /// even if timestamps from two sources cross.
    last_offset: u32,
    /// The ring's notice count when last looked at (see [`Self::needs_report`]).
    notices_seen: u64,
}

impl MidiIn {
    /// Prepare for a block size of at most `max_frames` at `sample_rate`,
    /// with the default latency of one block.
    pub fn new(consumer: Option<MidiBufferConsumer>, sample_rate: f64, max_frames: u32) -> Self {
        let arena_len = consumer.as_ref().map_or(0, |c| c.sysex_capacity());
        Self {
            consumer,
            clock: Timeline::new(sample_rate, max_frames),
            latency_blocks: crate::plugin::settings::DEFAULT_LATENCY_BLOCKS,
            arena: vec![0; arena_len].into_boxed_slice(),
            arena_used: 0,
            dialect: NoteDialect::default(),
            last_offset: 0,
            notices_seen: 0,
        }
    }

    /// `true` when the MIDI side has news for the main thread (a loss below
    /// the seam, a log line) since the last call.
    ///
    /// # Realtime Safety
    /// One atomic load.
    pub fn needs_report(&mut self) -> bool {
        let Some(consumer) = self.consumer.as_ref() else {
            return false;
        };
        let notices = consumer.notices();
        let news = notices != self.notices_seen;
        self.notices_seen = notices;
        news
    }

    /// Set the latency, in blocks of the host's largest size (see
    /// [`crate::timeline`]: one block makes every event that reached the ring in
    /// time land on its own sample).
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn set_latency_blocks(&mut self, blocks: u32) {
        self.latency_blocks = blocks;
    }

    /// Forget the clock mapping (processing restarted, host reset).
    pub fn reset(&mut self) {
        self.clock.reset();
    }

    /// One block: the host's `input` events and the ring's messages, merged in
    /// time order into `output`.
    ///
    /// # Realtime Safety
    /// No allocation, lock or system call: `now_ns` is read by the caller.
    pub fn process(
        &mut self,
        now_ns: u64,
        frames: u32,
        steady_time: Option<u64>,
        input: &InputEvents,
        out: &mut Out,
    ) {
        let block = self.clock.begin_block(now_ns, frames, steady_time);
        let latency = block.latency_frames(self.latency_blocks);
        self.arena_used = 0;
        self.last_offset = 0;
        let mut host = input.iter().peekable();
        while let Some(offset) = self.next_offset(&block, latency, frames, out.counters) {
            while let Some(event) = host.next_if(|e| e.header().time() <= offset) {
                self.forward(event, out);
            }
            self.emit_next(offset, out);
        }
        for event in host {
            self.forward(event, out);
        }
    }

    /// Where the ring's next message lands in this block, or `None` when the
    /// ring is empty or its next message belongs to a later block (it stays
    /// queued).
    fn next_offset(
        &mut self,
        block: &BlockMap,
        latency: u32,
        frames: u32,
        counters: &Counters,
    ) -> Option<u32> {
        let msg = self.consumer.as_ref()?.peek()?;
        let offset = match block.place(msg.time_ns, latency) {
            Placement::InBlock(offset) => offset.min(frames.saturating_sub(1)),
            Placement::Late => {
                counters.late();
                0
            }
            Placement::Later => return None,
        };
        self.last_offset = self.last_offset.max(offset);
        Some(self.last_offset)
    }

    /// Pop the ring's next message and write it at `offset`.
    fn emit_next(&mut self, offset: u32, out: &mut Out) {
        let Some(consumer) = self.consumer.as_mut() else {
            return;
        };
        let Some(msg) = consumer.try_pop() else {
            return;
        };
        let pushed = if msg.event.is_sysex() {
            let free = &mut self.arena[self.arena_used..];
            let Some(len) = consumer.pop_sysex_payload(free) else {
                // No room left in this block's arena (the ring counts the discard).
                out.counters.sysex_lost(out.request_report);
                return;
            };
            let start = self.arena_used;
            self.arena_used += len;
            // SAFETY: the arena is not written again before the next process()
            // call (arena_used only grows within a block), so the payload stays
            // valid while the host may read it.
            unsafe { emit::push_sysex(out.events, offset, &self.arena[start..start + len]) }
        } else {
            emit::push_message(out.events, offset, &msg.event, self.dialect)
        };
        out.delivered(pushed);
    }

    /// Pass one of the host's events through (notes, MIDI, SysEx only), and
    /// learn the host's note dialect from it.
    fn forward(&mut self, event: &UnknownEvent, out: &mut Out) {
        self.dialect = self.dialect.observe(event);
        if super::process::is_forwarded(event) {
            let pushed = out.events.try_push(event);
            out.delivered(pushed);
        }
    }
}
