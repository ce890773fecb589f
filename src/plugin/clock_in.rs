//! Hardware MIDI clock in, on the audio thread: the input side feeds every
//! Clock, Start, Continue, Stop and Song Position Pointer to the
//! [`Follower`] as it is popped from the input ring (with its kernel
//! timestamp and source), so when the phasor renders sample `s` the follower
//! has seen exactly the messages placed before `s`. The messages themselves
//! still go to the host's note output, unless "Clock messages to the DAW" is
//! off.
//!
//! Once per block it publishes the read-only parameters (external tempo,
//! running, source) and, when one changes, tells the host with a parameter
//! value output event (CLAP allows these for read-only parameters), and it
//! moves the follower's notes (a second source, timeouts, missing ticks)
//! onto the counters the main thread reports.

use super::counters::{AudioCounters, ClockInCounters};
use super::host_out::HostOut;
use super::params::{index, ParamValues, PARAMS};
use crate::midi_clock::follower::{
    ClockIn as Clock, Follower, FollowerStats, MAX_PERIOD_NS, TICKS_PER_BEAT, TIMEOUT_PERIODS,
};
use crate::protocol::{MidiEvent, MidiMessage};
use clack_plugin::events::event_types::ParamValueEvent;
use clack_plugin::events::Pckn;
use clack_plugin::prelude::ClapId;
use std::sync::atomic::AtomicU64;

/// The displayed tempo moves (to the nearest 0.1 BPM) only when the
/// estimate is further than this from it: a little more than half a step,
/// so an estimate wobbling around a step's edge does not flicker.
pub const TEMPO_HYSTERESIS_BPM: f64 = 0.06;

/// The read-only parameters, in the order published.
const SHOWN: [usize; 3] = [index::EXT_TEMPO, index::EXT_RUNNING, index::EXT_SOURCE];

/// A follower statistic, and the counter it is moved onto.
type Moved = (
    fn(&FollowerStats) -> u64,
    fn(&ClockInCounters) -> &AtomicU64,
);

/// The follower's statistics the user is told about.
const MOVED: [Moved; 4] = [
    (|s| s.foreign, |c| &c.foreign),
    (|s| s.source_changes, |c| &c.source_changes),
    (|s| s.timeouts, |c| &c.timeouts),
    (|s| s.missing_ticks, |c| &c.missing_ticks),
];

/// See the module docs. Built at activation, used on the audio thread.
#[derive(Debug)]
pub struct ClockIn {
    follower: Follower,
    /// Clock messages go on to the host (the parameter, read per block).
    pass: bool,
    /// The newest tick from the followed source: no tick for the timeout
    /// means no clock, and no tempo to show.
    last_tick_ns: Option<u64>,
    /// The values last published, as in [`SHOWN`].
    shown: [f64; 3],
    /// The follower's stats as last moved onto the counters.
    seen: FollowerStats,
}

impl ClockIn {
    /// A follower that has seen nothing; `params` holds what the host was
    /// last shown (published again as soon as it differs).
    pub fn new(params: &ParamValues) -> Self {
        Self {
            follower: Follower::new(),
            pass: true,
            last_tick_ns: None,
            shown: SHOWN.map(|i| params.get(i)),
            seen: FollowerStats::default(),
        }
    }

    /// The follower, for the phasor.
    pub fn follower(&self) -> &Follower {
        &self.follower
    }

    /// Start a block: read whether clock messages pass to the host.
    ///
    /// # Realtime Safety
    /// One atomic load.
    pub fn begin_block(&mut self, params: &ParamValues) {
        self.pass = params.get(index::CLOCK_TO_HOST) >= 0.5;
    }

    /// Take a message popped from the input ring: a clock message feeds the
    /// follower. Returns whether the message goes on to the host.
    ///
    /// # Realtime Safety
    /// The follower's arithmetic (a fit over at most 128 ticks per Clock).
    pub fn take(&mut self, msg: &MidiMessage) -> bool {
        let kind = match msg.event {
            MidiEvent::TimingClock => Clock::Clock,
            MidiEvent::Start => Clock::Start,
            MidiEvent::Continue => Clock::Continue,
            MidiEvent::Stop => Clock::Stop,
            MidiEvent::SongPosition(p) => Clock::SongPosition(p),
            _ => return true,
        };
        self.follower.event(msg.time_ns, msg.port, kind);
        if kind == Clock::Clock && self.follower.state(msg.time_ns).source == Some(msg.port) {
            self.last_tick_ns = Some(self.last_tick_ns.unwrap_or(0).max(msg.time_ns));
        }
        self.pass
    }

    /// The tempo to show at `now_ns`: the estimate while ticks come in,
    /// else none.
    fn tempo_now(&self, now_ns: u64) -> Option<f64> {
        let tempo = self.follower.tempo_bpm()?;
        let period = 60e9 / (tempo * TICKS_PER_BEAT as f64);
        let alive = (period.min(MAX_PERIOD_NS) * TIMEOUT_PERIODS) as u64;
        let last = self.last_tick_ns?;
        (now_ns.saturating_sub(last) <= alive).then_some(tempo)
    }

    /// End of block: publish the read-only parameters as of `now_ns` (the
    /// time of the block's end), telling the host at sample `time` of what
    /// changed, and move the follower's new notes onto the counters.
    ///
    /// # Realtime Safety
    /// Atomic stores and adds; events pushed to the host's queue.
    pub fn publish(&mut self, now_ns: u64, time: u32, params: &ParamValues, out: &mut HostOut) {
        let state = self.follower.state(now_ns);
        let values = [
            shown_tempo(self.shown[0], self.tempo_now(now_ns)),
            f64::from(u8::from(state.running)),
            state.source.map_or(0.0, |s| 1.0 + f64::from(s)),
        ];
        for ((&i, shown), v) in SHOWN.iter().zip(self.shown.iter_mut()).zip(values) {
            let v = PARAMS[i].clamp(v);
            if v.to_bits() == shown.to_bits() {
                continue;
            }
            *shown = v;
            params.set(i, v);
            let event = ParamValueEvent::new(time, ClapId::new(PARAMS[i].id), Pckn::match_all(), v);
            out.forward(event.as_ref());
        }
        let stats = self.follower.stats();
        if stats != self.seen {
            let counters = out.counters();
            for (stat, counter) in MOVED {
                let n = stat(&stats).saturating_sub(stat(&self.seen));
                AudioCounters::losses_n(counters, counter(&counters.clock_in), n);
            }
            self.seen = stats;
        }
    }
}

/// The tempo to display: `shown` while the estimate stays within
/// [`TEMPO_HYSTERESIS_BPM`] of it, else the estimate to 0.1 BPM; 0 without one.
pub fn shown_tempo(shown: f64, estimate: Option<f64>) -> f64 {
    match estimate {
        Some(e) if e.is_finite() && e > 0.0 => {
            // (A nano-BPM of slack: 120.06 − 120.0 is a hair over 0.06 in binary.)
            if shown > 0.0 && (e - shown).abs() <= TEMPO_HYSTERESIS_BPM + 1e-9 {
                shown
            } else {
                (e * 10.0).round() / 10.0
            }
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_tempo_moves_in_steps_with_hysteresis() {
        assert_eq!(shown_tempo(0.0, None), 0.0);
        assert_eq!(shown_tempo(120.0, None), 0.0);
        assert_eq!(shown_tempo(0.0, Some(119.96)), 120.0);
        // A wobble around 120.05 does not flicker...
        let mut shown = 120.0;
        for e in [120.04, 120.06, 120.049, 120.051, 120.03, 120.06] {
            shown = shown_tempo(shown, Some(e));
            assert_eq!(shown, 120.0, "{e}");
        }
        // ...a real move does.
        assert_eq!(shown_tempo(shown, Some(120.07)), 120.1);
        assert_eq!(shown_tempo(120.1, Some(120.045)), 120.1);
        assert_eq!(shown_tempo(120.1, Some(120.03)), 120.0);
        assert_eq!(shown_tempo(120.0, Some(f64::NAN)), 0.0);
    }
}
