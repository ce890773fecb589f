//! Hardware → host, on the audio thread: drain the input ring, place each
//! message on its sample through the block's timeline, and give it to the
//! host. The processor merges it with the host's own events in time order.

use super::clock_in::ClockIn;
use super::host_queue::HostOut;
use crate::counting::Since;
use crate::plugin::audio_thread::arrivals::Arrivals;
use crate::protocol::{HeldNotes, MidiEvent};
use crate::ring::{MidiBufferConsumer, RingCounters};
use crate::timeline::auto_latency::AutoLatency;
use crate::timeline::{BlockMap, Placement};

/// The audio thread's end of the input ring, and what it remembers between
/// blocks. Built on the main thread at activation, used on the audio thread.
pub struct MidiIn {
    /// The ring from the MIDI thread; `None` when the engine did not start.
    consumer: Option<MidiBufferConsumer>,
    stats: Option<RingCounters>,
    /// Offset of the last ring event emitted in this block: output stays ordered
    /// even if timestamps from two sources cross.
    last_offset: u32,
    /// Notes given to the host and not yet released.
    held: HeldNotes,
    /// Processing (re)started: the next block discards stale messages.
    resumed: bool,
    /// The ring's dropped-message count at the last block.
    dropped: Since,
    /// The block each queued message was first seen in.
    arrivals: Arrivals,
    /// What each message needed, for the latency "Auto" (measured
    /// whatever the setting, so switching to Auto starts from experience).
    auto: AutoLatency,
}

impl MidiIn {
    /// The audio thread's side of `consumer`.
    pub fn new(consumer: Option<MidiBufferConsumer>) -> Self {
        let stats = consumer.as_ref().map(MidiBufferConsumer::stats);
        let dropped = Since::at(stats.as_ref().map_or(0, RingCounters::dropped_messages));
        Self {
            consumer,
            stats,
            last_offset: 0,
            held: HeldNotes::default(),
            resumed: true,
            dropped,
            arrivals: Arrivals::default(),
            // Nothing measured yet: the caller's floor (one block) is used
            // until the first message says more is needed.
            auto: AutoLatency::new(0),
        }
    }

    /// Latency "Auto" at `now_ns`, once per block before the ring is
    /// drained: the latency in use, ns, after any change it may make now
    /// (none while notes given to the host are held).
    ///
    /// # Realtime Safety
    /// Arithmetic; at most one pass over fixed histograms.
    pub fn auto_latency_ns(&mut self, now_ns: u64) -> u64 {
        self.auto.update(now_ns, !self.held.is_empty());
        self.auto.in_use_ns()
    }

    /// Processing (re)starts: whatever the MIDI thread queued meanwhile is
    /// looked at in the next block.
    pub fn resume(&mut self) {
        self.resumed = true;
    }

    /// Start a block. In the first block after [`Self::resume`], messages
    /// older than the latency are discarded and counted (played now they
    /// would come out in one burst at the block start); a discarded note-off
    /// of a note the host holds is still given to the host, and if the ring
    /// dropped messages meanwhile (their note-offs may be among them) every
    /// held note is released. A discarded clock message still feeds `clock`
    /// (the follower wants every tick, at its own time).
    ///
    /// # Realtime Safety
    /// No allocation, lock or system call.
    pub fn begin_block(
        &mut self,
        block: &BlockMap,
        latency: u32,
        out: &mut HostOut,
        clock: &mut ClockIn,
    ) {
        self.last_offset = 0;
        let (Some(consumer), Some(stats)) = (self.consumer.as_mut(), self.stats.as_ref()) else {
            return;
        };
        let lost_meanwhile = self.dropped.take(stats.dropped_messages()) > 0;
        // What queued while the host was not processing says nothing about
        // delivery: not measured.
        self.arrivals
            .block(consumer.len(), block.call_time_ns(), !self.resumed);
        if !std::mem::take(&mut self.resumed) {
            return;
        }
        while let Some(msg) =
            consumer.try_pop_if(|m| block.place(m.time_ns, latency) == Placement::Late)
        {
            // Discarded, not placed: it leaves the ring unmeasured.
            self.arrivals.pop();
            out.counters().count(&out.counters().stale, 1);
            clock.take(&msg);
            if msg.event.is_sysex() {
                // Taken so the ring does not count it again as discarded.
                let _ = consumer.pop_sysex_payload(out.arena().free());
            } else if self.held.releases_held(&msg.event) {
                self.held.track(&msg.event);
                out.message(0, &msg.event);
                out.counters().count(&out.counters().notes_released, 1);
            }
        }
        if lost_meanwhile {
            self.held.release(|channel, key| {
                let off = MidiEvent::NoteOff {
                    channel,
                    key,
                    velocity: 0,
                };
                out.message(0, &off);
                out.counters().count(&out.counters().notes_released, 1);
            });
        }
    }

    /// Where the ring's next message lands in this block, or `None` when the
    /// ring is empty or its next message belongs to a later block (it stays
    /// queued). A late message lands at 0 and is counted when `count_late`
    /// (with no added latency, landing at the block start is the design,
    /// not lateness).
    ///
    /// # Realtime Safety
    /// Arithmetic and atomic loads.
    pub fn next_offset(
        &mut self,
        block: &BlockMap,
        latency: u32,
        count_late: bool,
        out: &HostOut,
    ) -> Option<u32> {
        let msg = self.consumer.as_ref()?.peek()?;
        let offset = match block.place(msg.time_ns, latency) {
            Placement::InBlock(offset) => offset.min(block.frames().saturating_sub(1)),
            Placement::Late => {
                if count_late {
                    out.counters().count(&out.counters().late, 1);
                }
                0
            }
            Placement::Later => return None,
        };
        self.last_offset = self.last_offset.max(offset);
        // What the plugin window shows.
        out.counters()
            .timing
            .placed(block, msg.time_ns, latency, self.last_offset);
        Some(self.last_offset)
    }

    /// Pop the ring's next message and give it to the host at `offset`; a
    /// clock message feeds `clock` first, and goes to the host only if
    /// `clock` says so.
    ///
    /// # Realtime Safety
    /// No allocation: SysEx bytes are copied into the block's arena.
    pub fn emit_next(&mut self, offset: u32, out: &mut HostOut, clock: &mut ClockIn) {
        let Some(consumer) = self.consumer.as_mut() else {
            return;
        };
        let Some(msg) = consumer.try_pop() else {
            return;
        };
        if let Some(t0) = self.arrivals.pop() {
            self.auto.observe(need_ns(t0, msg.time_ns));
        }
        if msg.event.is_sysex() {
            match consumer.pop_sysex_payload(out.arena().free()) {
                Some(len) => out.sysex(offset, len),
                // No room left in this block's arena (one cause, one count:
                // the ring does not count a payload the caller asked for).
                None => out.counters().count(&out.counters().sysex_lost, 1),
            }
        } else if clock.take(&msg) {
            self.held.track(&msg.event);
            out.message(offset, &msg.event);
        }
    }
}

/// The latency a message stamped `time_ns` needed to land on its sample,
/// first seen in the block of reference time `t0_ns` (negative: none).
fn need_ns(t0_ns: u64, time_ns: u64) -> i64 {
    t0_ns.wrapping_sub(time_ns) as i64
}
