//! Hardware MIDI clock in, on the audio thread: the input side feeds every
//! Clock, Start, Continue, Stop and Song Position Pointer to the
//! [`Follower`] as it is popped from the input ring (with its kernel
//! timestamp and source), so when the phasor renders sample `s` the follower
//! has seen exactly the messages placed before `s`. The messages themselves
//! still go to the host's note output, unless "Clock messages to the DAW" is
//! off.
//!
//! Once per block it publishes the read-only parameters (external tempo,
//! running, source, lock state, input jitter, phase error) and, when one
//! changes, tells the host with a parameter value output event (CLAP allows
//! these for read-only parameters), and it moves the follower's notes (a
//! second source, dropouts, missing ticks, lock state changes) onto the
//! counters the main thread reports.

use super::host_queue::HostOut;
use crate::midi_clock::follower::{
    ClockMessage, Follower, FollowerStats, Lock, MAX_PERIOD_NS, TICKS_PER_BEAT, TIMEOUT_PERIODS,
};
use crate::plugin::audio_thread::counters::{AudioCounters, ClockInCounters};
use crate::plugin::params::{index, ParamValues, PARAMS};
use crate::protocol::MidiMessage;
use clack_plugin::events::event_types::ParamValueEvent;
use clack_plugin::events::Pckn;
use clack_plugin::prelude::ClapId;
use std::sync::atomic::AtomicU64;

/// The displayed tempo moves in steps of this many BPM.
pub const TEMPO_STEP_BPM: f64 = 0.1;
/// The displayed jitter moves in steps of this many ms (it is an RMS over
/// 128 ticks, so it wanders by a hundredth of itself per tick).
pub const JITTER_STEP_MS: f64 = 0.1;
/// The displayed phase error moves in steps of this many ms.
pub const PHASE_ERROR_STEP_MS: f64 = 0.01;

/// The read-only parameters, in the order published.
const SHOWN: [usize; 6] = [
    index::EXT_TEMPO,
    index::EXT_RUNNING,
    index::EXT_SOURCE,
    index::EXT_LOCK,
    index::EXT_JITTER,
    index::EXT_PHASE_ERROR,
];
/// Where the lock state is in [`SHOWN`].
const SHOWN_LOCK: usize = 3;

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
    shown: [f64; SHOWN.len()],
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
        let Some(kind) = ClockMessage::from_event(&msg.event) else {
            return true;
        };
        self.follower.event(msg.time_ns, msg.port, kind);
        if kind == ClockMessage::Clock && self.follower.state(msg.time_ns).source == Some(msg.port)
        {
            self.last_tick_ns = Some(self.last_tick_ns.unwrap_or(0).max(msg.time_ns));
        }
        self.pass
    }

    /// Whether there is a clock at `now_ns`: ticks coming in, or the
    /// follower free-running through a dropout.
    fn clock_now(&self, now_ns: u64, lock: Lock) -> bool {
        let Some(tempo) = self.follower.tempo_bpm() else {
            return false;
        };
        let period = 60e9 / (tempo * TICKS_PER_BEAT as f64);
        let alive = (period.min(MAX_PERIOD_NS) * TIMEOUT_PERIODS) as u64;
        let arriving = self
            .last_tick_ns
            .is_some_and(|last| now_ns.saturating_sub(last) <= alive);
        arriving || lock == Lock::FreeRunning
    }

    /// End of block: publish the read-only parameters as of `now_ns` (the
    /// time of the block's end), telling the host at sample `time` of what
    /// changed, and move the follower's new notes onto the counters.
    ///
    /// # Realtime Safety
    /// Atomic stores and adds; events pushed to the host's queue.
    pub fn publish(&mut self, now_ns: u64, time: u32, params: &ParamValues, out: &mut HostOut) {
        let state = self.follower.state(now_ns);
        // A measurement of the clock is shown while there is one.
        let clock = self.clock_now(now_ns, state.lock);
        let measured = |m: Option<f64>| m.filter(|_| clock);
        let values = [
            shown_tempo(self.shown[0], measured(self.follower.tempo_bpm())),
            f64::from(u8::from(state.running)),
            state.source.map_or(0.0, |s| 1.0 + f64::from(s)),
            lock_value(state.lock),
            shown_step(self.shown[4], measured(state.jitter_ms), JITTER_STEP_MS),
            shown_step(
                self.shown[5],
                measured(state.phase_error_ms),
                PHASE_ERROR_STEP_MS,
            ),
        ];
        for (n, ((&i, shown), v)) in SHOWN
            .iter()
            .zip(self.shown.iter_mut())
            .zip(values)
            .enumerate()
        {
            let v = PARAMS[i].clamp(v);
            if v.to_bits() == shown.to_bits() {
                continue;
            }
            *shown = v;
            params.set(i, v);
            if n == SHOWN_LOCK {
                // For the main thread's log line (and its doorbell).
                let counters = out.counters();
                AudioCounters::count(counters, &counters.clock_in.lock_changes, 1);
            }
            let event = ParamValueEvent::new(time, ClapId::new(PARAMS[i].id), Pckn::match_all(), v);
            out.forward(event.as_ref());
        }
        let stats = self.follower.stats();
        if stats != self.seen {
            let counters = out.counters();
            for (stat, counter) in MOVED {
                let n = stat(&stats).saturating_sub(stat(&self.seen));
                AudioCounters::count(counters, counter(&counters.clock_in), n);
            }
            self.seen = stats;
        }
    }
}

/// The "External clock lock" parameter's value for `lock`.
pub fn lock_value(lock: Lock) -> f64 {
    match lock {
        Lock::Searching => 0.0,
        Lock::Locked => 1.0,
        Lock::FreeRunning => 2.0,
    }
}

/// The tempo to display: `shown` while the estimate stays within 0.06 BPM
/// of it, else the estimate to [`TEMPO_STEP_BPM`]; 0 without one.
pub fn shown_tempo(shown: f64, estimate: Option<f64>) -> f64 {
    shown_step(shown, estimate, TEMPO_STEP_BPM)
}

/// A measurement to display in steps of `step` (1 over a whole number):
/// `shown` while the estimate stays within 0.6 step of it (a little more
/// than half a step, so an estimate wobbling around a step's edge does not
/// flicker), else the estimate to the nearest step; 0 without a positive one.
pub fn shown_step(shown: f64, estimate: Option<f64>, step: f64) -> f64 {
    match estimate {
        Some(e) if e.is_finite() && e > 0.0 => {
            // (Slack of 1e-8 step: 120.06 − 120.0 is a hair over 0.06 in binary.)
            if shown > 0.0 && (e - shown).abs() <= step * (0.6 + 1e-8) {
                shown
            } else {
                // Divided by the whole number, so 1200 steps of 0.1 is 120.0 exactly.
                let per = (1.0 / step).round();
                (e * per).round() / per
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

    #[test]
    fn a_measurement_moves_in_its_own_steps() {
        let step = PHASE_ERROR_STEP_MS;
        assert_eq!(shown_step(0.0, Some(0.184), step), 0.18);
        assert_eq!(shown_step(0.18, Some(0.1855), step), 0.18);
        assert_eq!(shown_step(0.18, Some(0.1865), step), 0.19);
        assert_eq!(shown_step(0.18, None, step), 0.0);
        assert_eq!(shown_step(0.0, Some(1.26), JITTER_STEP_MS), 1.3);
    }

    #[test]
    fn lock_states_are_the_parameters_choices() {
        let lock = &PARAMS[index::EXT_LOCK];
        for (state, text) in [
            (Lock::Searching, "searching"),
            (Lock::Locked, "locked"),
            (Lock::FreeRunning, "free-running"),
        ] {
            let mut s = String::new();
            lock.format(lock_value(state), &mut s).unwrap();
            assert_eq!(s, text);
        }
    }
}
