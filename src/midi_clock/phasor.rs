//! The phasor: an audio-rate ramp from 0 to 1 per period (a note length or
//! 1, 2 or 4 bars), following the host's transport or the external MIDI
//! clock, for modulators that take audio (Bitwig's Grid, REAPER's parameter
//! modulation).
//!
//! The block is rendered in chunks: [`BlockRun::render_to`] writes the
//! samples up to an offset; the processor calls it before each hardware
//! message (so at sample `s` the follower has seen exactly the clock stamped
//! up to the time of `s`) and at the block's end. Within a chunk the phase is
//! a closed form, `x(j) = x0 + a·j + c·j²` (wrapped into `[0, 1)`), so
//! nothing accumulates sample by sample.
//!
//! **Host.** Per [`Stretch`] (a block cut at the host's transport events),
//! the song position at stretch sample `j` is
//! `beat(j) = b0 + (T0·j + k·j²/2) / (60·R)`: `b0` the transport's
//! `song_pos_beats`, `T0` its tempo, `k` its `tempo_inc` (BPM per sample)
//! and `R` the declared sample rate. So the phase at every block start is
//! the transport's song position exactly and a wrap falls on the sample where
//! the beat crosses a period boundary, tempo ramps included. Stopped (or no
//! valid tempo): the phase holds at the song position. No transport at all:
//! the last value holds.
//!
//! **Alignment.** Note-length periods count from song position 0. Bar
//! periods count from the bar line (`bar_start_beats`, `beats_per_bar`); a
//! period of N bars starts on the bars whose number (`bar_start_beats /
//! beats_per_bar`, rounded: bar 0 at song position 0) is a multiple of N,
//! i.e. on multiples of N bars from song position 0 while the time signature
//! stays. The external clock has no bars: its bar periods are multiples of
//! the host's bar length (4 beats without one) from the sender's song
//! position 0.
//!
//! **External.** The target at sample `s` is the follower's beat at the
//! sample's `CLOCK_MONOTONIC` time (through the timeline, with the MIDI input
//! latency, so the phasor lines up with the hardware notes). The output runs
//! at the follower's tempo and corrects its error by changing its rate, at
//! most [`MAX_SLEW`] (0.5 %), with a time constant of [`SLEW_SECONDS`]; it
//! jumps to the target only when it starts following (Start, Continue after
//! a Song Position Pointer: the clock starts running) or when the error
//! exceeds one clock tick (1/24 beat). While the clock does not run it holds.
//! The clock runs after Start or Continue, through a dropout while the
//! follower free-runs, and from its first tick for a source that sends only
//! clock (no Start): the follower decides, the phasor reads its beat.
//!
//! **Auto** follows the external clock while it runs (the follower has a
//! beat for the chunk's first sample), else the host.
//!
//! Every value written is finite and in `[0, 1)`, whatever the host sends.
//! No allocation, no lock, no system call.

use super::transport::Stretch;
use crate::midi_clock::follower::Follower;

/// One MIDI clock tick, in beats: an external error beyond it is a jump.
pub const TICK_BEATS: f64 = 1.0 / 24.0;
/// The most the external phasor's rate departs from the clock's tempo while
/// it corrects its phase.
pub const MAX_SLEW: f64 = 0.005;
/// Time constant of the external phase correction: the rate departs from the
/// tempo by `error / SLEW_SECONDS` (bounded by [`MAX_SLEW`]), so a typical
/// 0.2 ms step of the follower's line costs about 0.1 % of rate for a moment.
pub const SLEW_SECONDS: f64 = 0.25;
/// The largest `f32` below 1: an `f64` just under 1 rounds up to 1.0 as `f32`.
const BELOW_ONE_F32: f32 = 1.0 - f32::EPSILON / 2.0;

/// What the phasor follows (the "Phasor source" parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The external clock while it runs, else the host.
    Auto,
    /// The host's transport.
    Host,
    /// The external MIDI clock.
    External,
}

/// The phasor's period: a note length in beats, or a number of bars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Period {
    /// This many beats (quarter notes).
    Beats(f64),
    /// This many bars.
    Bars(u32),
}

/// The periods of the "Phasor period" parameter, in its order.
pub const PERIODS: [Period; 7] = [
    Period::Beats(0.25),
    Period::Beats(0.5),
    Period::Beats(1.0),
    Period::Beats(2.0),
    Period::Bars(1),
    Period::Bars(2),
    Period::Bars(4),
];

/// The parameters, read once per block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setup {
    /// The period.
    pub period: Period,
    /// What to follow.
    pub source: Source,
}

impl Setup {
    /// From the parameters' values (indices into [`PERIODS`] and
    /// auto/host/external); anything out of range is the nearest valid one.
    pub fn from_params(period: f64, source: f64) -> Self {
        let i = if period.is_finite() {
            period.round().clamp(0.0, (PERIODS.len() - 1) as f64) as usize
        } else {
            2
        };
        let s = source.round();
        let source = if s == 1.0 {
            Source::Host
        } else if s == 2.0 {
            Source::External
        } else {
            Source::Auto
        };
        Setup {
            period: PERIODS[i],
            source,
        }
    }
}

/// Sample → `CLOCK_MONOTONIC` for one block (the block's timeline with the
/// MIDI input latency), as the external mode needs it.
pub trait SampleClock {
    /// The time (ns) of the sample at `offset` of the block.
    fn time_of(&self, offset: u32) -> u64;
    /// Samples per second of `CLOCK_MONOTONIC`.
    fn rate_hz(&self) -> f64;
}

/// The block's timeline and the input latency in frames.
impl SampleClock for (crate::timeline::BlockMap, u32) {
    #[inline]
    fn time_of(&self, offset: u32) -> u64 {
        self.0.time_of(offset, self.1)
    }
    #[inline]
    fn rate_hz(&self) -> f64 {
        self.0.rate_hz()
    }
}

/// The external clock, as the phasor reads it.
pub trait BeatSource {
    /// The song position in beats at `time_ns`, while the clock runs.
    fn beat_at(&self, time_ns: u64) -> Option<f64>;
    /// The tempo in BPM, once known.
    fn tempo_bpm(&self) -> Option<f64>;
}

impl BeatSource for Follower {
    #[inline]
    fn beat_at(&self, time_ns: u64) -> Option<f64> {
        Follower::beat_at(self, time_ns)
    }
    #[inline]
    fn tempo_bpm(&self) -> Option<f64> {
        Follower::tempo_bpm(self)
    }
}

/// No external clock.
impl BeatSource for () {
    fn beat_at(&self, _: u64) -> Option<f64> {
        None
    }
    fn tempo_bpm(&self) -> Option<f64> {
        None
    }
}

/// One chunk's phase: `x(j) = x0 + a·j + c·j²` at chunk sample `j`, in
/// periods; the value written is its fractional part.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ramp {
    /// Phase at the chunk's first sample.
    pub x0: f64,
    /// Periods per sample.
    pub a: f64,
    /// Half the change of `a` per sample (a tempo ramp).
    pub c: f64,
}

impl Ramp {
    /// A constant `value`.
    pub fn hold(value: f64) -> Self {
        Ramp {
            x0: value,
            a: 0.0,
            c: 0.0,
        }
    }

    /// The value at chunk sample `j`: in `[0, 1)`, never NaN.
    #[inline]
    pub fn value(&self, j: f64) -> f64 {
        wrap(self.x0 + j * (self.a + j * self.c))
    }

    /// Write the chunk's values into `out` (its first element is sample 0).
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    #[inline]
    pub fn fill_f32(&self, out: &mut [f32]) {
        // The sample index converted per sample (not a float counter, no
        // loop-carried chain), from i32 (a packed conversion): the loop
        // vectorises. Blocks are far shorter than 2^31 samples.
        for (i, o) in out.iter_mut().enumerate() {
            let v = self.value(f64::from(i as i32)) as f32;
            *o = if v < 1.0 { v } else { BELOW_ONE_F32 };
        }
    }

    /// As [`Self::fill_f32`], for 64-bit buffers.
    #[inline]
    pub fn fill_f64(&self, out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.value(f64::from(i as i32));
        }
    }
}

/// The fractional part of `x` in `[0, 1)`; 0 for a non-finite `x` or one
/// of 2^50 or more in size (no phase is meaningful there).
///
/// # Realtime Safety
/// Adds and compares only: no libm call (`floor` is one on baseline x86-64)
/// and no float ↔ integer conversion, so a loop of it vectorises.
#[inline]
pub fn wrap(x: f64) -> f64 {
    // Adding and subtracting 1.5 · 2^52 rounds to the nearest integer
    // (exactly, for |x| < 2^51); the difference is then exact.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let t = x - ((x + ROUND) - ROUND);
    let t = if t < 0.0 { t + 1.0 } else { t };
    if (0.0..1.0).contains(&t) && x.abs() < 1_125_899_906_842_624.0 {
        t
    } else {
        0.0
    }
}

/// Where the phasor's samples go: `start..end` of the block get `ramp`
/// (chunk sample 0 at `start`).
pub trait PhasorSink {
    /// Write one chunk. Samples past the buffer's end are not written.
    fn ramp(&mut self, start: u32, end: u32, ramp: &Ramp);
}

impl PhasorSink for [f32] {
    fn ramp(&mut self, start: u32, end: u32, ramp: &Ramp) {
        if let Some(out) = self.get_mut(start as usize..end as usize) {
            ramp.fill_f32(out);
        }
    }
}

impl PhasorSink for [f64] {
    fn ramp(&mut self, start: u32, end: u32, ramp: &Ramp) {
        if let Some(out) = self.get_mut(start as usize..end as usize) {
            ramp.fill_f64(out);
        }
    }
}

/// No audio buffer: the phase still advances.
impl PhasorSink for () {
    fn ramp(&mut self, _: u32, _: u32, _: &Ramp) {}
}

/// The phasor's state between blocks. See the module docs.
#[derive(Clone, Debug)]
pub struct Phasor {
    /// The declared sample rate: the host's transport is in its samples.
    sample_rate: f64,
    /// The last value written, held when there is nothing to follow.
    value: f64,
    /// While following the external clock: the output's beat at the next sample.
    ext_beat: Option<f64>,
    /// The host's last valid bar length, for the external clock's bars.
    beats_per_bar: f64,
    /// Times the external output jumped to its target.
    jumps: u64,
}

impl Phasor {
    /// A phasor at 0 for a host running at `sample_rate`.
    pub fn new(sample_rate: f64) -> Self {
        Phasor {
            sample_rate: if sample_rate.is_finite() && sample_rate > 0.0 {
                sample_rate
            } else {
                48_000.0
            },
            value: 0.0,
            ext_beat: None,
            beats_per_bar: 4.0,
            jumps: 0,
        }
    }

    /// Processing restarts after a pause: the external phase is taken afresh.
    pub fn reset(&mut self) {
        self.ext_beat = None;
    }

    /// The last value written.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Times the external output jumped to the clock's position (the first
    /// of each run included).
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    /// Start a block: `stretches` cut it at the host's transport events
    /// (the plugin cuts them at the host's transport events), `clock` maps its samples to
    /// time.
    pub fn block<I, C>(&mut self, setup: Setup, stretches: I, clock: C) -> BlockRun<'_, I, C>
    where
        I: Iterator<Item = Stretch>,
        C: SampleClock,
    {
        BlockRun {
            phasor: self,
            setup,
            stretches,
            current: None,
            pos: 0,
            clock,
        }
    }

    /// Chunk `s0..s0 + n` from the host's transport in `stretch`.
    fn host(&mut self, setup: &Setup, stretch: &Stretch, s0: u32) -> Ramp {
        let Some(t) = stretch.transport else {
            return Ramp::hold(self.value);
        };
        let b0 = t.song.song_pos_beats;
        if !b0.is_finite() {
            return Ramp::hold(self.value);
        }
        // x = (beat − origin) / period + offset, in periods.
        let (period, origin, offset) = match setup.period {
            Period::Beats(p) => (p, 0.0, 0.0),
            Period::Bars(n) => {
                let bar = t.beats_per_bar;
                let start = if t.bar_start_beats.is_finite() {
                    t.bar_start_beats
                } else {
                    0.0
                };
                let number = (start / bar).round() as i64;
                let offset = number.rem_euclid(i64::from(n)) as f64 / f64::from(n);
                (bar * f64::from(n), start, offset)
            }
        };
        let tempo = t.song.tempo_bpm;
        let (v, q) = if t.song.playing && tempo.is_finite() && tempo > 0.0 {
            let inc = if t.song.tempo_inc.is_finite() {
                t.song.tempo_inc
            } else {
                0.0
            };
            (
                tempo / (60.0 * self.sample_rate),
                inc / (120.0 * self.sample_rate),
            )
        } else {
            (0.0, 0.0)
        };
        // beat(j) = b0 + v·j + q·j², j counted from the stretch's start.
        let j0 = f64::from(s0.saturating_sub(stretch.start));
        let beat0 = b0 + j0 * (v + j0 * q);
        Ramp {
            x0: (beat0 - origin) / period + offset,
            a: (v + 2.0 * q * j0) / period,
            c: q / period,
        }
    }

    /// Chunk `s0..s0 + n` from the external clock.
    fn external<C: SampleClock, B: BeatSource>(
        &mut self,
        setup: &Setup,
        s0: u32,
        n: u32,
        clock: &C,
        beats: &B,
    ) -> Ramp {
        let rate_hz = clock.rate_hz();
        let target = beats.beat_at(clock.time_of(s0));
        let nominal = beats.tempo_bpm().map(|t| t / (60.0 * rate_hz));
        let (Some(target), Some(nominal)) = (target, nominal) else {
            self.ext_beat = None;
            return Ramp::hold(self.value);
        };
        if !(target.is_finite() && nominal.is_finite() && nominal > 0.0) {
            self.ext_beat = None;
            return Ramp::hold(self.value);
        }
        let beat = match self.ext_beat {
            Some(b) if (target - b).abs() <= TICK_BEATS => b,
            _ => {
                self.jumps += 1;
                target
            }
        };
        // First-order correction over SLEW_SECONDS, never past the target
        // within this chunk, never more than MAX_SLEW.
        let horizon = (SLEW_SECONDS * rate_hz).max(f64::from(n));
        let slew = ((target - beat) / (nominal * horizon)).clamp(-MAX_SLEW, MAX_SLEW);
        let rate = nominal * (1.0 + slew);
        self.ext_beat = Some(beat + rate * f64::from(n));
        let period = match setup.period {
            Period::Beats(p) => p,
            Period::Bars(n) => self.beats_per_bar * f64::from(n),
        };
        Ramp {
            x0: beat / period,
            a: rate / period,
            c: 0.0,
        }
    }
}

/// One block being rendered; see [`Phasor::block`].
pub struct BlockRun<'p, I, C> {
    phasor: &'p mut Phasor,
    setup: Setup,
    stretches: I,
    current: Option<Stretch>,
    /// The next sample to write.
    pos: u32,
    clock: C,
}

impl<I: Iterator<Item = Stretch>, C: SampleClock> BlockRun<'_, I, C> {
    /// Write the samples from where the last call stopped up to `end`
    /// (exclusive), with the external clock as `beats` knows it now.
    ///
    /// # Realtime Safety
    /// Arithmetic, and `beats`' queries (the follower's are pure).
    pub fn render_to<B: BeatSource, O: PhasorSink + ?Sized>(
        &mut self,
        end: u32,
        beats: &B,
        out: &mut O,
    ) {
        while self.pos < end {
            let stretch = match self.current {
                Some(s) if s.end > self.pos => s,
                _ => match self.stretches.next() {
                    Some(s) => {
                        if let Some(t) = s.transport {
                            if t.beats_per_bar.is_finite() && t.beats_per_bar > 0.0 {
                                self.phasor.beats_per_bar = t.beats_per_bar;
                            }
                        }
                        self.current = Some(s);
                        s
                    }
                    // Stretches cover the block; past them, nothing to follow.
                    None => Stretch {
                        start: self.pos,
                        end,
                        transport: None,
                    },
                },
            };
            let s0 = self.pos;
            let s1 = end.min(stretch.end.max(s0 + 1));
            let n = s1 - s0;
            let p = &mut *self.phasor;
            let external = match self.setup.source {
                Source::Host => false,
                Source::External => true,
                Source::Auto => beats.beat_at(self.clock.time_of(s0)).is_some(),
            };
            let ramp = if external {
                p.external(&self.setup, s0, n, &self.clock, beats)
            } else {
                p.ext_beat = None;
                p.host(&self.setup, &stretch, s0)
            };
            out.ramp(s0, s1, &ramp);
            p.value = ramp.value(f64::from(n - 1));
            self.pos = s1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi_clock::ticks::Transport;
    use crate::midi_clock::transport::HostTransport;

    fn playing(beats: f64, tempo: f64, inc: f64) -> HostTransport {
        HostTransport {
            song: Transport {
                playing: true,
                song_pos_beats: beats,
                tempo_bpm: tempo,
                tempo_inc: inc,
                loop_beats: None,
            },
            bar_start_beats: (beats / 4.0).floor() * 4.0,
            beats_per_bar: 4.0,
        }
    }

    struct Linear;
    impl SampleClock for Linear {
        fn time_of(&self, offset: u32) -> u64 {
            u64::from(offset) * 1_000_000_000 / 48_000
        }
        fn rate_hz(&self) -> f64 {
            48_000.0
        }
    }

    #[test]
    fn wrap_is_always_in_range() {
        for x in [
            0.0,
            0.5,
            1.0,
            -0.25,
            -1e-300,
            1e300,
            -1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0 - 1e-17,
        ] {
            let w = wrap(x);
            assert!((0.0..1.0).contains(&w), "{x} -> {w}");
        }
        assert_eq!(wrap(2.75), 0.75);
        assert_eq!(wrap(-0.25), 0.75);
        let mut out = [0f32; 1];
        Ramp::hold(1.0 - 1e-12).fill_f32(&mut out);
        assert!(out[0] < 1.0);
    }

    #[test]
    fn setup_reads_every_choice_and_clamps() {
        assert_eq!(Setup::from_params(2.0, 0.0).period, Period::Beats(1.0));
        assert_eq!(Setup::from_params(6.0, 2.0).period, Period::Bars(4));
        assert_eq!(Setup::from_params(99.0, 1.0).source, Source::Host);
        assert_eq!(Setup::from_params(f64::NAN, f64::NAN).source, Source::Auto);
        assert_eq!(Setup::from_params(-3.0, 2.0).source, Source::External);
    }

    #[test]
    fn a_stretch_is_the_song_position_to_the_sample() {
        let mut p = Phasor::new(48_000.0);
        let setup = Setup::from_params(2.0, 1.0);
        let s = [Stretch {
            start: 0,
            end: 48_000,
            transport: Some(playing(0.5, 120.0, 0.0)),
        }];
        let mut out = vec![0f64; 48_000];
        let mut run = p.block(setup, s.into_iter(), Linear);
        run.render_to(48_000, &(), &mut out[..]);
        // 120 BPM at 48 kHz: 2 beats a second, so a wrap every 24 000
        // samples, the first at 12 000 (beat 1.0).
        assert_eq!(out[0], 0.5);
        assert!(out[11_999] > 0.99 && out[12_000] == 0.0);
        assert!((out[36_000] - 0.0).abs() < 1e-12);
    }

    #[test]
    fn bars_of_two_and_four_start_on_their_multiples() {
        let mut p = Phasor::new(48_000.0);
        for (period, bar_start, want) in [
            (5.0, 4.0, 0.5), // 2 bars, in bar 1 (the second): halfway
            (5.0, 8.0, 0.0), // bar 2 starts a 2-bar period
            (6.0, 12.0, 0.75),
            (4.0, 12.0, 0.0),
        ] {
            let mut t = playing(bar_start, 120.0, 0.0);
            t.bar_start_beats = bar_start;
            let s = [Stretch {
                start: 0,
                end: 1,
                transport: Some(t),
            }];
            let mut out = [0f64; 1];
            let mut run = p.block(Setup::from_params(period, 1.0), s.into_iter(), Linear);
            run.render_to(1, &(), &mut out[..]);
            assert!(
                (out[0] - want).abs() < 1e-12,
                "{period} {bar_start}: {}",
                out[0]
            );
        }
    }
}
