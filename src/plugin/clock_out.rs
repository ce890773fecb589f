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
use crate::engine::stream;
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
            out.send(t, stream::CLOCK, midi(e.kind), &[], counters);
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
            out.send(t, stream::CLOCK, midi(e.kind), &[], counters);
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
    use crate::timeline::Timeline;
    use clack_plugin::events::event_types::TransportFlags;
    use clack_plugin::events::io::EventBuffer;

    const RATE: f64 = 48_000.0;

    fn playing(time: u32, beats: f64, tempo: f64) -> TransportEvent {
        let flags = TransportFlags::HAS_TEMPO
            | TransportFlags::HAS_BEATS_TIMELINE
            | TransportFlags::IS_PLAYING;
        crate::plugin::transport::tests::transport(time, beats, tempo, flags)
    }

    /// A song at `tempo` from beat 0, `samples` long, in blocks of
    /// `frames` called exactly on time (a fake paced sound card), with the
    /// host also sending its transport at the block offsets in `cuts`.
    /// Returns the clock messages and their stamps, in ring order.
    fn run(frames: u32, cuts: &[u32], tempo: f64, samples: u32) -> Vec<(MidiEvent, u64)> {
        let (producer, mut consumer) = crate::ring::midi_buffer(8192);
        let mut out = MidiOut::new(Some(producer));
        let mut clock = ClockOut::new(RATE);
        let params = ParamValues::default();
        params.set(index::CLOCK_OUT, 1.0);
        let counters = AudioCounters::default();
        let mut timeline = Timeline::new(RATE, frames);
        let beat_at = |s: u32| f64::from(s) * tempo / 60.0 / RATE;
        for k in 0..samples.div_ceil(frames) {
            let s0 = k * frames;
            let now = 1_000_000_000 + (f64::from(s0 + frames) * 1e9 / RATE).round() as u64;
            let block = timeline.begin_block(now, frames, Some(u64::from(s0)));
            let times = OutTimes::new(&block, 1);
            let mut events = EventBuffer::new();
            for &c in cuts.iter().filter(|&&c| c < frames) {
                events.push(&playing(c, beat_at(s0 + c), tempo));
            }
            events.sort();
            let first = playing(0, beat_at(s0), tempo);
            clock.block(
                Some(&first),
                &InputEvents::from_buffer(&events),
                frames,
                &times,
                &params,
                &mut out,
                &counters,
            );
        }
        assert_eq!(AudioCounters::get(&counters.output_ring_full), 0);
        std::iter::from_fn(|| consumer.try_pop())
            .map(|m| (m.event, m.time_ns))
            .collect()
    }

    /// When the timeline moves a block's times earlier than the last
    /// block's (late calls, then punctual ones), the clock must still not
    /// go out of order: the queue sorts by time, and a tick stamped before
    /// the previous one would reorder the clock (or a Stop). The engine
    /// keeps the clock's stream in order (`StreamOrder`).
    #[test]
    fn the_clock_keeps_its_order_when_the_timeline_moves_back() {
        const FRAMES: u32 = 256;
        let (producer, mut consumer) = crate::ring::midi_buffer(8192);
        let mut out = MidiOut::new(Some(producer));
        let mut clock = ClockOut::new(RATE);
        let params = ParamValues::default();
        params.set(index::CLOCK_OUT, 1.0);
        let counters = AudioCounters::default();
        let mut timeline = Timeline::new(RATE, FRAMES);
        let tempo = 300.0;
        for k in 0..200u32 {
            let s0 = k * FRAMES;
            // 20 ms late for the first 100 calls, then on time.
            let late = if k < 100 { 20_000_000 } else { 0 };
            let now = 1_000_000_000 + (f64::from(s0 + FRAMES) * 1e9 / RATE) as u64 + late;
            let block = timeline.begin_block(now, FRAMES, None);
            let times = OutTimes::new(&block, 1);
            let first = playing(0, f64::from(s0) * tempo / 60.0 / RATE, tempo);
            clock.block(
                Some(&first),
                &InputEvents::empty(),
                FRAMES,
                &times,
                &params,
                &mut out,
                &counters,
            );
        }
        let sent: Vec<_> = std::iter::from_fn(|| consumer.try_pop()).collect();
        // 200 blocks of 256 at 300 bpm: 128 ticks, plus Start.
        assert_eq!(sent.len(), 129);
        assert!(sent.iter().all(|m| m.port == stream::CLOCK));
        let back = sent
            .windows(2)
            .filter(|w| w[1].time_ns < w[0].time_ns)
            .count();
        assert!(
            back > 0,
            "the timeline never moved back: the test shows nothing"
        );
        crate::plugin::midi_out::tests::assert_in_order_through_the_engine(&sent);
    }

    /// When the timeline moves a block's times earlier than the last
    /// block's (20 ms of late calls, then punctual ones), ticks already on
    /// the queue stay where they are, and the ticks after them must not
    /// pile up behind them: no interval between two Timing Clocks that
    /// leave the queue may be shorter than half a tick.
    #[test]
    fn the_clock_has_no_bursts_when_the_timeline_moves_back() {
        const FRAMES: u32 = 256;
        let (producer, mut consumer) = crate::ring::midi_buffer(8192);
        let mut out = MidiOut::new(Some(producer));
        let mut clock = ClockOut::new(RATE);
        let params = ParamValues::default();
        params.set(index::CLOCK_OUT, 1.0);
        let counters = AudioCounters::default();
        let mut timeline = Timeline::new(RATE, FRAMES);
        let mut queue = crate::plugin::midi_out::tests::QueueModel::default();
        let tempo = 300.0;
        let mut now = 0;
        for k in 0..200u32 {
            let s0 = k * FRAMES;
            let late = if k < 100 { 20_000_000 } else { 0 };
            now = 1_000_000_000 + (f64::from(s0 + FRAMES) * 1e9 / RATE) as u64 + late;
            queue.run_until(now);
            let block = timeline.begin_block(now, FRAMES, None);
            let times = OutTimes::new(&block, 1);
            let first = playing(0, f64::from(s0) * tempo / 60.0 / RATE, tempo);
            clock.block(
                Some(&first),
                &InputEvents::empty(),
                FRAMES,
                &times,
                &params,
                &mut out,
                &counters,
            );
            queue.take_all(&mut consumer);
        }
        queue.run_until(now);
        let ticks = queue.clock_times();
        let tick_ns = 60e9 / tempo / 24.0;
        // 200 blocks of 256 at 300 bpm: 107 ticks, all delivered by the last call.
        assert!(ticks.len() >= 100, "{} ticks", ticks.len());
        let shortest = ticks.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(
            shortest as f64 >= tick_ns / 2.0 - 1_000.0,
            "two ticks {shortest} ns apart (a tick is {tick_ns:.0} ns)"
        );
    }

    proptest::proptest! {
        /// Tick N is scheduled at the time of its song sample
        /// (N/24 beat), on a paced timeline, whatever the block size and
        /// wherever the host's transport events cut the blocks: every
        /// stamp is within 10 ns of tick 0's plus the samples between
        /// (the paced timeline's own rounding: ~2 ns seen).
        #[test]
        fn tick_times_do_not_depend_on_the_cutting(
            tempo in 40.0f64..300.0,
            frames in proptest::sample::select(vec![64u32, 100, 256, 1000, 4096]),
            cuts in proptest::collection::vec(1u32..4096, 0..4),
        ) {
            let samples = 96_000;
            let got = run(frames, &cuts, tempo, samples);
            proptest::prop_assert_eq!(got.first().map(|g| g.0), Some(MidiEvent::Start));
            let clocks: Vec<u64> = got
                .iter()
                .filter(|g| g.0 == MidiEvent::TimingClock)
                .map(|g| g.1)
                .collect();
            let per_tick = 60.0 * RATE / tempo / 24.0;
            let covered = samples.div_ceil(frames) * frames;
            let n = (f64::from(covered) / per_tick).ceil() as usize;
            // A tick on the very last sample boundary may fall either side.
            proptest::prop_assert!(clocks.len() == n || clocks.len() + 1 == n);
            for (k, &t) in clocks.iter().enumerate() {
                let want = k as f64 * per_tick * 1e9 / RATE;
                let err = (t - clocks[0]) as f64 - want;
                proptest::prop_assert!(err.abs() < 10.0, "tick {}: {} ns off", k, err);
            }
        }
    }

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
