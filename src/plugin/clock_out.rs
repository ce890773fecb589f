//! MIDI clock out, on the audio thread: the host's transport, stretch by
//! stretch ([`super::transport::stretches`]), through the pure
//! [`TickScheduler`]; each clock message is stamped with the time of its
//! fractional sample through the block's timeline
//! ([`OutTimes::at`], the same `D` as the host's notes) and pushed to the
//! output ring. Never snapped to a sample, never a previous tick plus an
//! interval.
//!
//! The clock offset parameter is added in ns to the stamp, not given to the
//! scheduler as `offset_samples`: it is a time (the slave's own delay), so
//! it stays exact whatever the sample rate and the timeline's rate
//! estimate, and the scheduler's positions stay inside their stretch.
//!
//! When processing stops (`stop_processing`, `deactivate`) with the slave
//! running, a Stop goes out at "now + `D`" (never before the last clock
//! already queued), so the hardware does not play on by itself; the next
//! block that plays starts it again (Start at the song start, else SPP +
//! Continue).

use super::counters::AudioCounters;
use super::midi_out::{ms_to_ns, MidiOut, OutTimes};
use super::params::{index, ParamValues};
use super::transport::{stretches, Stretch};
use crate::midi_clock::ticks::{ClockEvent, ClockKind, ClockOptions, TickScheduler};
use crate::protocol::MidiEvent;
use clack_plugin::events::event_types::TransportEvent;
use clack_plugin::prelude::InputEvents;

/// Clock messages one stretch can produce before the rest are dropped and
/// counted: 1024 ticks is over a second at the scheduler's maximum tempo
/// (2000 bpm), far more than any real block. 16 KiB of stack.
const EVENTS_PER_STRETCH: usize = 1024;

/// The clock's state between blocks.
pub struct ClockOut {
    /// `None` if the host gave a sample rate the scheduler refuses.
    scheduler: Option<TickScheduler>,
    /// The scheduler's drop count already counted as a loss.
    dropped_seen: u64,
}

impl ClockOut {
    /// The clock for a host running at `sample_rate` (at activation).
    pub fn new(sample_rate: f64) -> Self {
        Self {
            scheduler: TickScheduler::new(
                sample_rate,
                ClockOptions {
                    enabled: false,
                    ..ClockOptions::default()
                },
            ),
            dropped_seen: 0,
        }
    }

    /// The clock for one block of `frames` samples: `first` is the block's
    /// transport (`None`: the host gave none), `events` the host's events
    /// (its transport events cut the block into stretches).
    ///
    /// # Realtime Safety
    /// No allocation: a fixed stack buffer, bounded work per stretch.
    #[allow(clippy::too_many_arguments)]
    pub fn block(
        &mut self,
        first: Option<&TransportEvent>,
        events: &InputEvents,
        frames: u32,
        times: &OutTimes,
        params: &ParamValues,
        out: &mut MidiOut,
        counters: &AudioCounters,
    ) {
        let Some(scheduler) = self.scheduler.as_mut() else {
            return;
        };
        scheduler.set_options(ClockOptions {
            enabled: params.get(index::CLOCK_OUT) >= 0.5,
            clock_while_stopped: params.get(index::CLOCK_WHILE_STOPPED) >= 0.5,
            offset_samples: 0.0,
        });
        let offset_ns = ms_to_ns(params.get(index::CLOCK_OFFSET));
        for stretch in stretches(first, events, frames) {
            self.stretch(&stretch, times, offset_ns, out, counters);
        }
    }

    /// One stretch through the scheduler, its events to the ring.
    fn stretch(
        &mut self,
        stretch: &Stretch,
        times: &OutTimes,
        offset_ns: i64,
        out: &mut MidiOut,
        counters: &AudioCounters,
    ) {
        let Some(scheduler) = self.scheduler.as_mut() else {
            return;
        };
        let mut buf = [ClockEvent::default(); EVENTS_PER_STRETCH];
        let song = stretch.transport.map(|t| t.song);
        let r = scheduler.process(song.as_ref(), stretch.frames(), &mut buf);
        let start = f64::from(stretch.start);
        for e in &buf[..r.written] {
            let t = times.at(start + e.at, offset_ns);
            out.send(t, midi(e.kind), &[], counters);
        }
        self.count_drops(counters);
    }

    /// Processing stops: a Stop at `now_ns + D` + the clock offset, not
    /// before the last clock queued, if the slave runs.
    ///
    /// # Realtime Safety
    /// No allocation (one scheduler call with a small stack buffer).
    pub fn stop_now(
        &mut self,
        now_ns: u64,
        params: &ParamValues,
        out: &mut MidiOut,
        counters: &AudioCounters,
    ) {
        let Some(scheduler) = self.scheduler.as_mut() else {
            return;
        };
        // No transport: the scheduler stops the slave (if it runs) and
        // forgets the song, so the next block that plays re-locates.
        let mut buf = [ClockEvent::default(); 4];
        let r = scheduler.process(None, 0, &mut buf);
        let t = out.stamp_after_now(now_ns, ms_to_ns(params.get(index::CLOCK_OFFSET)));
        for e in &buf[..r.written] {
            out.send(t, midi(e.kind), &[], counters);
        }
        self.count_drops(counters);
    }

    /// The scheduler's drops since the last look, as counted losses.
    fn count_drops(&mut self, counters: &AudioCounters) {
        let total = self.scheduler.map_or(0, |s| s.dropped_total());
        counters.losses_n(
            &counters.clock_dropped,
            total.saturating_sub(self.dropped_seen),
        );
        self.dropped_seen = total;
    }
}

/// A clock message as the output ring carries it.
fn midi(kind: ClockKind) -> MidiEvent {
    match kind {
        ClockKind::Clock => MidiEvent::TimingClock,
        ClockKind::Start => MidiEvent::Start,
        ClockKind::Continue => MidiEvent::Continue,
        ClockKind::Stop => MidiEvent::Stop,
        ClockKind::SongPosition(p) => MidiEvent::SongPosition(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clock_kind_maps_to_the_same_bytes() {
        for kind in [
            ClockKind::Clock,
            ClockKind::Start,
            ClockKind::Continue,
            ClockKind::Stop,
            ClockKind::SongPosition(0),
            ClockKind::SongPosition(300),
            ClockKind::SongPosition(16383),
        ] {
            let (want, n) = kind.to_bytes();
            let mut got = [0u8; 3];
            assert_eq!(midi(kind).write_bytes(&mut got), n, "{kind:?}");
            assert_eq!(got[..n], want[..n], "{kind:?}");
        }
    }
}
