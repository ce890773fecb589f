//! Host → hardware, on the audio thread: messages for the hardware go into
//! the output ring, stamped with the `CLOCK_MONOTONIC` time they are to
//! leave at (from the block's timeline); the MIDI thread schedules each one
//! on the sequencer queue at that time. The audio thread only pushes.
//!
//! # The output delay
//!
//! A message the host puts at sample `s` of a block leaves at
//!
//! ```text
//! time_at(s + L, 0) + OUTPUT_POLL_NS + user offset
//! ```
//!
//! where `time_at(s, 0)` is the sample's time on the block's timeline (the
//! earliest time `process()` can have been called for it, plus `s` samples)
//! and `L` is the input latency's idea: the measured period plus the
//! delivery margin, [`BlockMap::latency_frames`]`(max(1, latency blocks))`,
//! or under latency Auto the latency in use, taken only when no note is held
//! and no clock is being sent (see `latency.rs`).
//! `L` covers the call's delay after the block's reference time and the
//! block's own processing, so every message is in the ring before its
//! block's reference time plus one period; [`OUTPUT_POLL_NS`] covers the
//! engine's polling of the ring. The sum, `D`, is constant while the
//! period is, so the spacing of messages is their samples' spacing, and
//! none is in the past when the engine schedules it. The user's offset
//! (−50…+50 ms) moves the hardware against the DAW's audio; a negative one
//! eats into `D`, and a message the engine gets too late is sent at once
//! and counted by it.

use super::clap_to_midi::{for_hardware, ForHardware};
use crate::engine::{stream, OUTPUT_POLL_NS};
use crate::plugin::audio_thread::counters::AudioCounters;
use crate::plugin::params::{index, ParamValues};
use crate::protocol::{HeldNotes, MidiEvent, MidiMessage};
use crate::ring::MidiBufferProducer;
use crate::timeline::BlockMap;
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::InputEvents;

/// A block's sample positions as the times messages leave at (see the
/// module docs for `D`).
#[derive(Clone, Copy, Debug)]
pub struct OutTimes {
    block: BlockMap,
    /// `L`, in samples.
    delay_frames: f64,
}

impl OutTimes {
    /// The times for `block` with the user's input latency of
    /// `latency_blocks` (0 counts as 1: output always needs the room).
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn new(block: &BlockMap, latency_blocks: u32) -> Self {
        Self::with_latency(block, block.latency_frames(latency_blocks.max(1)))
    }

    /// The times for `block` with `L` of `latency_frames` (the latency in
    /// use, see `latency.rs`).
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn with_latency(block: &BlockMap, latency_frames: u32) -> Self {
        Self {
            block: *block,
            delay_frames: f64::from(latency_frames),
        }
    }

    /// When a message at fractional sample `offset` of the block leaves,
    /// moved by `offset_ns`: `time_at(offset + L, 0) + OUTPUT_POLL_NS +
    /// offset_ns`, each position mapped through the timeline on its own.
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    #[inline]
    pub fn at(&self, offset: f64, offset_ns: i64) -> u64 {
        self.block
            .time_at(offset + self.delay_frames, 0)
            .wrapping_add(OUTPUT_POLL_NS)
            .saturating_add_signed(offset_ns)
    }

    /// Whether the block's times come from the raw call time (after the
    /// timeline's reset, or a host whose calls are not paced) rather than
    /// its filtered line: then they say nothing about later blocks.
    pub fn is_raw(&self) -> bool {
        self.block.is_raw()
    }

    /// `D`, in ns: what is added to a sample's time.
    pub fn delay_ns(&self) -> u64 {
        (self.delay_frames * 1e9 / self.block.rate_hz()).round() as u64 + OUTPUT_POLL_NS
    }
}

/// Whether `event` moves a clock slave's transport (Start, Continue, Stop,
/// Song Position): never dropped for room.
pub fn is_transport(event: &MidiEvent) -> bool {
    matches!(
        event,
        MidiEvent::Start | MidiEvent::Continue | MidiEvent::Stop | MidiEvent::SongPosition(_)
    )
}

/// Whether `event` ends notes (a note-off, a note-on of velocity 0, All
/// Sound Off, All Notes Off): never dropped for room.
pub fn is_release(event: &MidiEvent) -> bool {
    matches!(
        event,
        MidiEvent::NoteOff { .. }
            | MidiEvent::NoteOn { velocity: 0, .. }
            | MidiEvent::ControlChange {
                controller: 120 | 123,
                ..
            }
    )
}

/// A parameter in ms as ns (the table keeps it within ±50 ms).
pub fn ms_to_ns(ms: f64) -> i64 {
    (ms * 1e6).round() as i64
}

/// The output parameters, read once a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputOptions {
    /// "Host events to hardware".
    pub to_hardware: bool,
    /// "Host events to the DAW" (gates `to_host/thru.rs`).
    pub to_daw: bool,
    /// "Output offset", in ns.
    pub offset_ns: i64,
}

impl OutputOptions {
    /// The current values.
    ///
    /// # Realtime Safety
    /// Three relaxed atomic loads.
    pub fn read(params: &ParamValues) -> Self {
        Self {
            to_hardware: params.get(index::HARDWARE_OUT) >= 0.5,
            to_daw: params.get(index::TO_DAW) >= 0.5,
            offset_ns: ms_to_ns(params.get(index::OUTPUT_OFFSET)),
        }
    }
}

/// Share of the output ring kept for what must never be dropped (see
/// [`MidiOut::send_priority`]): a block of dense automation fills the rest
/// and is counted as `output_ring_full`, a Stop or a release still fits.
/// A quarter of the ring (64 of 256 slots): more than a block's transport
/// messages and the releases of the notes commonly held.
pub const RESERVED_SHARE: usize = 4;

/// The audio thread's end of the output ring.
pub struct MidiOut {
    /// `None` when the engine did not start.
    producer: Option<MidiBufferProducer>,
    /// Notes the host sent to the hardware and has not released: released
    /// when hardware output is switched off and when processing stops, so
    /// no note hangs on the hardware.
    held: HeldNotes,
    /// Whether host events went to the hardware in the last block.
    was_on: bool,
    /// The last block's `D` and user offset, for messages sent between
    /// blocks (stop).
    delay_ns: u64,
    offset_ns: i64,
    /// The latest stamp queued, per stream: what is sent between blocks
    /// goes no earlier, so a release or a Stop never overtakes what it ends.
    last_stamp: [u64; stream::COUNT],
    /// Slots ordinary messages leave free (see [`RESERVED_SHARE`]).
    reserved: usize,
    /// Some releases did not fit: they are tried again at the next block.
    release_pending: bool,
}

impl MidiOut {
    /// The audio thread's side of `producer`.
    pub fn new(producer: Option<MidiBufferProducer>) -> Self {
        let reserved = producer
            .as_ref()
            .map_or(0, |p| p.capacity() / RESERVED_SHARE);
        Self {
            reserved,
            release_pending: false,
            producer,
            held: HeldNotes::default(),
            was_on: false,
            delay_ns: OUTPUT_POLL_NS,
            offset_ns: 0,
            last_stamp: [0; stream::COUNT],
        }
    }

    /// Whether a note the host sent to the hardware is held.
    pub fn holds_notes(&self) -> bool {
        !self.held.is_empty()
    }

    /// Queue `event` of output stream `stream` (see [`stream`]) to leave at
    /// `time_ns` (`CLOCK_MONOTONIC`); a SysEx's
    /// bytes are `sysex` (0xF0 … 0xF7). A full ring drops it and counts it;
    /// a SysEx larger than the ring's SysEx storage is counted as oversize.
    /// Transport messages and note-offs may use the ring's reserved room
    /// (as [`Self::send_priority`]); anything else finds the ring full when
    /// only that room is left. Returns whether it was queued.
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation: a copy into preallocated, pre-touched storage.
    pub fn send(
        &mut self,
        time_ns: u64,
        stream: u16,
        event: MidiEvent,
        sysex: &[u8],
        counters: &AudioCounters,
    ) -> bool {
        let priority = is_transport(&event) || is_release(&event);
        self.push(time_ns, stream, event, sysex, priority, counters)
    }

    /// As [`Self::send`], for a message that must not be dropped (a
    /// transport message, a release): it may use the ring's last
    /// [`RESERVED_SHARE`]th, which ordinary messages leave free. Only a
    /// ring full to the last slot refuses it (counted).
    ///
    /// # Realtime Safety
    /// As [`Self::send`].
    pub fn send_priority(
        &mut self,
        time_ns: u64,
        stream: u16,
        event: MidiEvent,
        sysex: &[u8],
        counters: &AudioCounters,
    ) -> bool {
        self.push(time_ns, stream, event, sysex, true, counters)
    }

    fn push(
        &mut self,
        time_ns: u64,
        stream: u16,
        event: MidiEvent,
        sysex: &[u8],
        priority: bool,
        counters: &AudioCounters,
    ) -> bool {
        let Some(producer) = self.producer.as_mut() else {
            return false;
        };
        // The reader only frees slots meanwhile: the check cannot go stale
        // the wrong way.
        let queued = if !priority && producer.vacant_len() <= self.reserved {
            false
        } else if event.is_sysex() {
            if sysex.len() > producer.sysex_capacity() {
                counters.count(&counters.output_sysex_oversize, 1);
                return false;
            }
            producer.try_send_sysex(time_ns, stream, sysex)
        } else {
            producer.try_send(MidiMessage {
                time_ns,
                port: stream,
                event,
            })
        };
        if queued {
            AudioCounters::tally(&counters.to_hardware, 1);
            if let Some(last) = self.last_stamp.get_mut(usize::from(stream)) {
                *last = (*last).max(time_ns);
            }
        } else {
            counters.count(&counters.output_ring_full, 1);
        }
        queued
    }

    /// The host's events of one block to the hardware, each at its sample's
    /// time (see the module docs); when hardware output was just switched
    /// off, note-offs for the notes it left held, at the block's start.
    ///
    /// # Realtime Safety
    /// No allocation: bounded work per event, copies into the ring.
    pub fn host_block(
        &mut self,
        events: &InputEvents,
        times: &OutTimes,
        opts: &OutputOptions,
        counters: &AudioCounters,
    ) {
        self.delay_ns = times.delay_ns();
        self.offset_ns = opts.offset_ns;
        if (self.was_on && !opts.to_hardware) || self.release_pending {
            self.release_held(times.at(0.0, opts.offset_ns), counters);
        }
        self.was_on = opts.to_hardware;
        if !opts.to_hardware || self.producer.is_none() {
            return;
        }
        for event in events {
            self.host_event(event, times, opts.offset_ns, counters);
        }
    }

    /// One host event to the hardware.
    fn host_event(
        &mut self,
        event: &UnknownEvent,
        times: &OutTimes,
        offset_ns: i64,
        counters: &AudioCounters,
    ) {
        let at = || times.at(f64::from(event.header().time()), offset_ns);
        match for_hardware(event) {
            ForHardware::Message(m) => {
                if self.send(at(), stream::HOST, m, &[], counters) {
                    self.held.track(&m);
                }
            }
            ForHardware::SysEx(bytes) => {
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                self.send(
                    at(),
                    stream::HOST,
                    MidiEvent::SysEx { len },
                    bytes,
                    counters,
                );
            }
            ForHardware::Unmappable => counters.count(&counters.output_unmappable, 1),
            ForHardware::None => {}
        }
    }

    /// Note-offs, at `time_ns`, for every note the host sent to the
    /// hardware and has not released.
    ///
    /// # Realtime Safety
    /// No allocation: at most 2048 copies into the ring.
    pub fn release_held(&mut self, time_ns: u64, counters: &AudioCounters) {
        let mut held = std::mem::take(&mut self.held);
        held.release(|channel, key| {
            let off = MidiEvent::NoteOff {
                channel,
                key,
                velocity: 0,
            };
            if !self.send_priority(time_ns, stream::HOST, off, &[], counters) {
                // Still held: try again at the next block or release.
                self.held.track(&MidiEvent::NoteOn {
                    channel,
                    key,
                    velocity: 1,
                });
            }
        });
        self.release_pending = !self.held.is_empty();
    }

    /// Between blocks (processing stops): note-offs for the held notes at
    /// `now_ns` plus the last block's `D` and user offset.
    ///
    /// # Realtime Safety
    /// As [`Self::release_held`].
    pub fn release_held_now(&mut self, now_ns: u64, counters: &AudioCounters) {
        let t = self.stamp_after_now(now_ns, self.offset_ns, stream::HOST);
        self.release_held(t, counters);
    }

    /// For a message of `stream` sent between blocks: `now_ns` plus the
    /// last block's `D` (the earliest time a message pushed now is sure to
    /// reach the engine in time) plus `offset_ns`, and not before anything
    /// of that stream queued.
    pub fn stamp_after_now(&self, now_ns: u64, offset_ns: i64, stream: u16) -> u64 {
        let last = self
            .last_stamp
            .get(usize::from(stream))
            .copied()
            .unwrap_or(0);
        now_ns
            .wrapping_add(self.delay_ns)
            .saturating_add_signed(offset_ns)
            .max(last)
    }

    /// Takes back the clock's messages from `from_ns` on
    /// ([`stream::RETRACT_CLOCK`]); its last stamp is then `kept_ns`, the
    /// latest of those that stay. Returns whether the request was queued
    /// (a full ring is counted as a loss).
    ///
    /// # Realtime Safety
    /// As [`Self::send`].
    pub fn retract_clock(&mut self, from_ns: u64, kept_ns: u64, counters: &AudioCounters) -> bool {
        let Some(producer) = self.producer.as_mut() else {
            return false;
        };
        let queued = producer.try_send(MidiMessage {
            time_ns: from_ns,
            port: stream::RETRACT_CLOCK,
            event: MidiEvent::Stop,
        });
        if queued {
            self.last_stamp[usize::from(stream::CLOCK)] = kept_ns;
        } else {
            counters.count(&counters.output_ring_full, 1);
        }
        queued
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::timeline::Timeline;
    use clack_plugin::events::event_types::MidiEvent as ClapMidi;
    use clack_plugin::events::io::EventBuffer;

    /// The timeline can move a block's times earlier than the last block's
    /// (the host's calls were late for a while, then come on time, and the
    /// line follows the earliest calls). A note-off stamped by the new line
    /// must still not leave before its note-on stamped by the old one: the
    /// queue sorts by time, and a note-off first leaves the note hanging.
    /// The engine keeps the host's stream in order (`StreamOrder`).
    #[test]
    fn host_events_keep_their_order_when_the_timeline_moves_back() {
        const FRAMES: u32 = 256;
        let period_ns = 256.0 / 48_000.0 * 1e9;
        let (producer, mut consumer) = crate::ring::midi_buffer(1024);
        let mut out = MidiOut::new(Some(producer));
        let mut timeline = Timeline::new(48_000.0, FRAMES);
        let counters = AudioCounters::default();
        let opts = OutputOptions {
            to_hardware: true,
            to_daw: true,
            offset_ns: 0,
        };
        let base = 1_000_000_000_000u64;
        for k in 0..200u32 {
            // 20 ms late for the first 100 calls, then on time.
            let late = if k < 100 { 20_000_000 } else { 0 };
            let now = base + (f64::from(k) * period_ns) as u64 + late;
            let block = timeline.begin_block(now, FRAMES, None);
            let mut events = EventBuffer::new();
            // A short note across each block boundary: on at the end of
            // one block, off at the start of the next.
            events.push(&ClapMidi::new(0, 0, [0x80, 60, 0]));
            events.push(&ClapMidi::new(250, 0, [0x90, 60, 100]));
            let times = OutTimes::new(&block, 1);
            out.host_block(&InputEvents::from_buffer(&events), &times, &opts, &counters);
        }
        let sent: Vec<_> = std::iter::from_fn(|| consumer.try_pop()).collect();
        assert_eq!(sent.len(), 400);
        assert!(sent.iter().all(|m| m.port == stream::HOST));
        let back = sent
            .windows(2)
            .filter(|w| w[1].time_ns < w[0].time_ns)
            .count();
        assert!(
            back > 0,
            "the timeline never moved back: the test shows nothing"
        );
        assert_in_order_through_the_engine(&sent);
    }

    /// A large block of dense automation fills the output ring; what must
    /// never be dropped still gets through: the host's note-off of a held
    /// note, a clock Start and Stop, the releases of the notes left held.
    #[test]
    fn transport_and_releases_get_through_a_ring_full_of_host_events() {
        let capacity = crate::ring::RingConfig::default().capacity;
        let (producer, mut consumer) = crate::ring::midi_buffer(capacity);
        let mut out = MidiOut::new(Some(producer));
        let counters = AudioCounters::default();
        let opts = OutputOptions {
            to_hardware: true,
            to_daw: true,
            offset_ns: 0,
        };
        let mut timeline = Timeline::new(48_000.0, 8192);
        let times = OutTimes::new(&timeline.begin_block(1_000_000_000, 8192, None), 1);
        let mut events = EventBuffer::new();
        events.push(&ClapMidi::new(0, 0, [0x90, 60, 100]));
        events.push(&ClapMidi::new(0, 0, [0x90, 62, 100]));
        for i in 0..2 * capacity as u32 {
            events.push(&ClapMidi::new(i % 8000, 0, [0xB0, 1, (i % 128) as u8]));
        }
        events.push(&ClapMidi::new(8100, 0, [0x80, 60, 0]));
        out.host_block(&InputEvents::from_buffer(&events), &times, &opts, &counters);
        let t = times.at(8191.0, 0);
        for transport in [MidiEvent::Start, MidiEvent::Stop] {
            out.send(t, stream::CLOCK, transport, &[], &counters);
        }
        out.release_held_now(t, &counters);

        let sent: Vec<_> = std::iter::from_fn(|| consumer.try_pop())
            .map(|m| m.event)
            .collect();
        let dropped = AudioCounters::get(&counters.output_ring_full);
        assert!(dropped > 0, "the ring never filled: the test shows nothing");
        let off = |key| MidiEvent::NoteOff {
            channel: 0,
            key,
            velocity: 0,
        };
        for must in [off(60), MidiEvent::Start, MidiEvent::Stop, off(62)] {
            assert!(sent.contains(&must), "{must:?} was dropped");
        }
        // The automation, two note-ons and the note-off, Start and Stop, one release.
        assert_eq!(
            sent.len() as u64 + dropped,
            2 * capacity as u64 + 6,
            "every message is queued or counted"
        );
    }

    /// The sequencer queue as the engine feeds it, for tests: each stream
    /// kept in order ([`StreamOrder`]), retractions of the clock honoured,
    /// and events delivered in time order once their time has come.
    ///
    /// [`StreamOrder`]: stream::StreamOrder
    #[derive(Default)]
    pub(crate) struct QueueModel {
        order: stream::StreamOrder,
        queued: Vec<MidiMessage>,
        /// What left, in order, at its time.
        pub(crate) delivered: Vec<MidiMessage>,
        /// How far time has passed.
        now_ns: u64,
    }

    impl QueueModel {
        /// The engine takes `m` from the ring.
        pub(crate) fn take(&mut self, mut m: MidiMessage) {
            if m.port == stream::RETRACT_CLOCK {
                self.order.restart(stream::CLOCK, m.time_ns);
                self.queued
                    .retain(|q| q.port != stream::CLOCK || q.time_ns < m.time_ns);
                return;
            }
            // A message whose time has passed leaves at once.
            m.time_ns = self.order.keep(m.port, m.time_ns).max(self.now_ns);
            self.queued.push(m);
        }

        /// Time passes to `now_ns`: what is due leaves.
        pub(crate) fn run_until(&mut self, now_ns: u64) {
            self.now_ns = self.now_ns.max(now_ns);
            self.queued.sort_by_key(|m| m.time_ns);
            let due = self.queued.partition_point(|m| m.time_ns <= now_ns);
            self.delivered.extend(self.queued.drain(..due));
        }

        /// The stamps of the Timing Clocks delivered.
        pub(crate) fn clock_times(&self) -> Vec<u64> {
            self.delivered
                .iter()
                .filter(|m| m.event == MidiEvent::TimingClock)
                .map(|m| m.time_ns)
                .collect()
        }
    }

    /// What the engine makes of `sent`: each stream kept in order.
    pub(crate) fn assert_in_order_through_the_engine(sent: &[MidiMessage]) {
        let mut order = stream::StreamOrder::default();
        let mut last = [0u64; stream::COUNT];
        for (n, m) in sent.iter().enumerate() {
            let t = order.keep(m.port, m.time_ns);
            let prev = &mut last[usize::from(m.port)];
            assert!(
                t >= *prev,
                "message {n} ({:?}) leaves before the one before it",
                m.event
            );
            *prev = t;
        }
    }
}
