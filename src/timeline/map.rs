//! [`Timeline`]: one per plugin instance, driven once per `process()` call.

use super::envelope::{Envelope, Line};
use super::placement::BlockMap;

/// Two discontinuities this close together (ns of `CLOCK_MONOTONIC`) mean the
/// host is not pacing its calls by the sound card: fall back to raw call times.
const UNPACED_GAP_NS: u64 = 1_000_000_000;
/// Leave the unpaced fallback once this much audio has passed without a new
/// discontinuity.
const REPACED_NS: f64 = 1e9;
/// Consecutive blocks of at most half the period before a smaller period is
/// taken as the new one (a host that switched to smaller blocks for good).
const SHRINK_BLOCKS: u32 = 256;
/// Consecutive calls above the shift level before the line is taken to have
/// moved up (the envelope only moves down by itself). The level is at least
/// twice the mean call delay, which one call exceeds with a chance of at most
/// 1/2 whatever the jitter's distribution (Markov's inequality): 24 such
/// calls in a row, at most 2^-24 for independent calls (real jitter is far
/// below Markov's bound). Until then, after a short xrun, every time is off
/// by the shift: 24 periods (0.5 s at 1024 frames) is the recovery time
/// (it was 64, 1.4 s at 1024 frames, which kept MIDI out and the phasor
/// off for that long after each short xrun).
pub const SHIFT_CALLS: u32 = 24;
/// Blocks after a reset during which the stall and early bars use the host's
/// declared max block if it is larger than the period seen so far (a host
/// splitting its device period into varying blocks shows its largest block
/// within a few periods).
const PERIOD_SETTLE_BLOCKS: u64 = 16;
/// Calls the mean call delay averages over (a running mean up to this many
/// calls, then an exponential one with this time constant).
const DELAY_AVG_CALLS: u32 = 64;
/// A call at most this many periods after the line may be a host hiccup
/// (caught up by calls back to back, the line unmoved): the stall it may
/// also be is decided on the next call. Later calls are stalls at once.
const HICCUP_PERIODS: f64 = 4.0;

/// Time the sequencer thread may take to put a stamped event into the ring,
/// added to one period in [`TimelineStats::default_latency_frames`]: 200 µs
/// (10 samples at 48 kHz), well above a `SCHED_FIFO` thread's wake-up.
pub const DELIVERY_MARGIN_NS: u64 = 200_000;

/// Why the map last started over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetCause {
    /// [`Timeline::reset`] (activation, explicit reset) or a new map.
    Explicit,
    /// The host's `steady_time` did not continue from the previous block.
    SteadyTime,
    /// A call came more than two periods later than the clock predicts:
    /// the host stalled or the device had an xrun. The period is the
    /// measured one (the largest block); only in the first 16 blocks after a
    /// reset the host's declared max block counts if larger.
    Stall,
    /// A call came more than one period (measured as for
    /// [`Stall`](Self::Stall)) earlier than the clock allows: a host rendering ahead or in bursts, or a
    /// sample counter that skipped ahead.
    Early,
    /// The last [`SHIFT_CALLS`] calls all came more than 1/8 period, and more than twice
    /// the mean call delay, after the line: the timeline moved later by less
    /// than a stall (a short xrun, a host that changed the point of its
    /// cycle where it calls the plugin).
    Shift,
}

/// Counters of a [`Timeline`]; see [`Timeline::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimelineStats {
    /// Blocks seen (calls of `begin_block`, 0-frame ones included).
    pub blocks: u64,
    /// Explicit resets ([`Timeline::reset`]).
    pub resets_explicit: u64,
    /// Resets because `steady_time` jumped.
    pub resets_steady_time: u64,
    /// Resets because a call came more than two periods late (stall, xrun).
    pub resets_stall: u64,
    /// Resets because a call came more than one period early.
    pub resets_early: u64,
    /// Resets because the calls settled later than the line.
    pub resets_shift: u64,
    /// Changes of the period (block size): a block larger than any since the
    /// reset, or 256 blocks in a row at most half as large. Counted, not a
    /// reset: the line is drawn through block ends whatever their size, so it
    /// stays valid; the default latency follows the new period.
    pub period_changes: u64,
    /// Blocks mapped with the raw call time because the host did not look
    /// paced by real time (two discontinuities within a second).
    pub unpaced_blocks: u64,
    /// Blocks larger than the `max_frames` given to [`Timeline::new`] (a host
    /// breaking its promise; they are still mapped).
    pub oversize_blocks: u64,
    /// Blocks since the last reset.
    pub blocks_since_reset: u64,
    /// Call points in the filter window.
    pub window_points: u32,
    /// The period in frames: the largest block since the reset. A latency of
    /// this many frames is the default "one block".
    pub period_frames: u32,
    /// The recommended default latency: one period plus
    /// [`DELIVERY_MARGIN_NS`] in frames. With it nothing that reached the ring
    /// within the margin after its timestamp is late.
    pub default_latency_frames: u32,
    /// Estimated deviation of the sound card's rate from nominal, in ppm of
    /// `CLOCK_MONOTONIC` (positive: the card runs fast).
    pub skew_ppm: f64,
    /// How late the last call came after the filtered line, in ns (the call's
    /// wake-up jitter; negative when it moved the line down).
    pub last_call_delay_ns: f64,
    /// The mean of the calls' delays after the line, in ns (each clamped to
    /// 0..one period), over about the last 64 calls: the host's measured
    /// wake-up jitter. Twice this is the least a call must be late by to
    /// count towards a [`ResetCause::Shift`]. Kept across resets other than
    /// [`Timeline::reset`]: it is the host's, not the timeline's.
    pub mean_call_delay_ns: f64,
    /// The last reset's cause.
    pub last_reset: Option<ResetCause>,
}

impl TimelineStats {
    /// All resets that were not explicit.
    pub fn discontinuities(&self) -> u64 {
        self.resets_steady_time + self.resets_stall + self.resets_early + self.resets_shift
    }
}

/// Maps `CLOCK_MONOTONIC` to the plugin's sample timeline; see the
/// [module docs](super) for the model.
///
/// [`new`](Self::new) allocates the filter's two hull stacks (128 KiB): build
/// it off the audio thread (in `activate`), then call only [`begin_block`](Self::begin_block),
/// [`reset`](Self::reset) and [`stats`](Self::stats) from `process()`.
#[derive(Clone, Debug)]
pub struct Timeline {
    nominal_ns_per_frame: f64,
    max_frames: u32,
    env: Envelope,
    /// The envelope's line after the last push (the next call is checked
    /// against it; it only changes on a push).
    line: Option<Line>,
    /// `CLOCK_MONOTONIC` of the first call after the reset; times are kept
    /// relative to it.
    anchor_ns: u64,
    /// Whether a block has been seen since the reset.
    started: bool,
    /// Sample index of the next block's first frame, since the reset.
    next_s: i64,
    prev_call_ns: u64,
    prev_steady: Option<u64>,
    prev_frames: u32,
    period: u32,
    /// Consecutive blocks of at most half the period, and their largest size.
    small_run: u32,
    small_max: u32,
    /// Consecutive calls above `shift_level` after the line.
    high_run: u32,
    /// The shift level when the current run of late calls began (the run's
    /// own calls raise the mean delay; they must not raise their own bar).
    shift_level: f64,
    /// Mean call delay after the line (ns) and the calls it averages.
    delay_mean: f64,
    delay_calls: u32,
    /// The delay after the line (ns) of a call late enough for a stall but
    /// not past [`HICCUP_PERIODS`]: a stall or a hiccup, told apart by the
    /// calls that follow (see [`Timeline::discontinuity`]).
    late_pending: Option<f64>,
    /// Time of the last stall/early reset, for the unpaced test.
    last_disc_ns: Option<u64>,
    unpaced: bool,
    stats: TimelineStats,
}

impl Timeline {
    /// A map for `sample_rate` in Hz and the host's maximum block size
    /// `max_frames`.
    ///
    /// A non-finite or non-positive `sample_rate` is taken as 48 kHz rather
    /// than panicking.
    pub fn new(sample_rate: f64, max_frames: u32) -> Self {
        let rate = if sample_rate.is_finite() && sample_rate > 0.0 {
            sample_rate
        } else {
            48_000.0
        };
        let nominal = 1e9 / rate;
        let mut m = Self {
            nominal_ns_per_frame: nominal,
            max_frames,
            env: Envelope::new(nominal),
            line: None,
            anchor_ns: 0,
            started: false,
            next_s: 0,
            prev_call_ns: 0,
            prev_steady: None,
            prev_frames: 0,
            period: 0,
            small_run: 0,
            small_max: 0,
            high_run: 0,
            shift_level: 0.0,
            delay_mean: 0.0,
            delay_calls: 0,
            late_pending: None,
            last_disc_ns: None,
            unpaced: false,
            stats: TimelineStats::default(),
        };
        m.start_over(None);
        m
    }

    /// Forgets everything learnt (activation, explicit reset); counted in
    /// [`TimelineStats::resets_explicit`].
    ///
    /// # Realtime Safety
    /// No allocation, lock or system call.
    pub fn reset(&mut self) {
        self.stats.resets_explicit += 1;
        self.stats.last_reset = Some(ResetCause::Explicit);
        self.last_disc_ns = None;
        self.unpaced = false;
        self.delay_mean = 0.0;
        self.delay_calls = 0;
        self.start_over(None);
    }

    /// Empties the filter; the next block starts a new timeline.
    fn start_over(&mut self, cause: Option<ResetCause>) {
        if let Some(c) = cause {
            let s = &mut self.stats;
            match c {
                ResetCause::Explicit => s.resets_explicit += 1,
                ResetCause::SteadyTime => s.resets_steady_time += 1,
                ResetCause::Stall => s.resets_stall += 1,
                ResetCause::Early => s.resets_early += 1,
                ResetCause::Shift => s.resets_shift += 1,
            }
            s.last_reset = Some(c);
        }
        self.env.clear();
        self.line = None;
        self.started = false;
        self.next_s = 0;
        self.period = 0;
        self.small_run = 0;
        self.high_run = 0;
        self.late_pending = None;
        self.stats.blocks_since_reset = 0;
    }

    /// Called at the start of every `process()`: `now_ns` is
    /// `CLOCK_MONOTONIC` when `process()` began, `frames` this block's frame
    /// count, `steady_time` the host's sample counter of the block's first
    /// frame when it gives one (CLAP's -1 → `None`).
    ///
    /// Detects discontinuities (a `steady_time` that does not continue, a
    /// call more than one period late or early against the filtered line,
    /// calls that have all come late for a while), starts over on them and
    /// counts each kind (and period changes, which need no reset) in
    /// [`stats`](Self::stats). Returns the block's mapping.
    ///
    /// # Realtime Safety
    /// No allocation, lock or system call; amortised constant-time arithmetic
    /// (see `benches/timeline.rs` for the cost).
    pub fn begin_block(&mut self, now_ns: u64, frames: u32, steady_time: Option<u64>) -> BlockMap {
        self.stats.blocks += 1;
        if frames > self.max_frames {
            self.stats.oversize_blocks += 1;
        }
        if self.started {
            if let Some(cause) = self.discontinuity(now_ns, frames, steady_time) {
                if matches!(cause, ResetCause::Stall | ResetCause::Early) {
                    if let Some(prev) = self.last_disc_ns {
                        if now_ns.wrapping_sub(prev) < UNPACED_GAP_NS {
                            self.unpaced = true;
                        }
                    }
                    self.last_disc_ns = Some(now_ns);
                }
                self.start_over(Some(cause));
            }
        }
        if !self.started {
            self.started = true;
            self.anchor_ns = now_ns;
        }
        self.stats.blocks_since_reset += 1;

        let s_start = self.next_s;
        let s_end = s_start + i64::from(frames);
        let t_rel = now_ns.wrapping_sub(self.anchor_ns) as i64;
        self.env.push(s_end, t_rel);
        self.track_period(frames);
        self.line = self.env.line();
        let line = self.line.unwrap_or(Line {
            // Only before the first non-empty block: nothing to fit yet.
            s_ref: s_end,
            t_ref: t_rel as f64,
            ns_per_frame: self.nominal_ns_per_frame,
        });

        if self.unpaced && line.ns_per_frame * (self.env.span_frames() as f64) >= REPACED_NS {
            self.unpaced = false;
        }
        // t0 = the call time of a full period starting at this block's first
        // frame: on the line, or the raw call moved back to that reference.
        let period = f64::from(self.period);
        let (t0, raw, ns_per_frame) = if self.unpaced || self.env.len() < 2 {
            let p = self.nominal_ns_per_frame;
            (t_rel as f64 - p * f64::from(frames) + p * period, true, p)
        } else {
            (
                line.at(s_start) + line.ns_per_frame * period,
                false,
                line.ns_per_frame,
            )
        };
        if self.unpaced {
            self.stats.unpaced_blocks += 1;
        }

        self.stats.window_points = self.env.len() as u32;
        self.stats.period_frames = self.period;
        let margin = (DELIVERY_MARGIN_NS as f64 / self.nominal_ns_per_frame).ceil() as u32;
        self.stats.default_latency_frames = self.period.saturating_add(margin);
        self.stats.skew_ppm = (self.nominal_ns_per_frame / ns_per_frame - 1.0) * 1e6;
        self.stats.last_call_delay_ns = t_rel as f64 - line.at(s_end);
        self.stats.mean_call_delay_ns = self.delay_mean;

        self.next_s = s_end;
        self.prev_call_ns = now_ns;
        self.prev_steady = steady_time;
        self.prev_frames = frames;

        BlockMap {
            anchor_ns: self.anchor_ns,
            t0_ns: t0,
            frames_per_ns: 1.0 / ns_per_frame,
            frames,
            raw,
            period: self.period,
            margin,
        }
    }

    /// The discontinuity this call shows against the state, if any.
    fn discontinuity(
        &mut self,
        now_ns: u64,
        frames: u32,
        steady: Option<u64>,
    ) -> Option<ResetCause> {
        match (self.prev_steady, steady) {
            (Some(prev), Some(cur)) if prev.wrapping_add(u64::from(self.prev_frames)) != cur => {
                return Some(ResetCause::SteadyTime)
            }
            // The host started or stopped giving a sample counter.
            (Some(_), None) | (None, Some(_)) => return Some(ResetCause::SteadyTime),
            _ => {}
        }
        if frames == 0 {
            return None;
        }
        if now_ns < self.prev_call_ns {
            // CLOCK_MONOTONIC does not go back; a caller mixing clocks does.
            return Some(ResetCause::Early);
        }
        let line = self.line?;
        let s_end = self.next_s + i64::from(frames);
        let t_rel = now_ns.wrapping_sub(self.anchor_ns) as i64 as f64;
        let err = t_rel - line.at(s_end);
        // One measured period, not the host's declared max block: hosts
        // declare 4096 and send 64..256, and a stall shorter than two
        // declared blocks would go unseen. Only for the first blocks after a
        // reset, while the largest block may not have come yet, the declared
        // max stands in: a host that splits its device period calls the
        // first of its blocks up to a device period after the block's end.
        let mut span = self.period.max(frames);
        if self.stats.blocks_since_reset < PERIOD_SETTLE_BLOCKS {
            span = span.max(self.max_frames);
        }
        let tolerance = line.ns_per_frame * f64::from(span);
        // A call up to HICCUP_PERIODS late is a stall (the card's clock
        // moved on: the line shifts) or a hiccup (the host catches up with
        // calls back to back, the card's buffer covered it: the line
        // stays). The next calls tell: each catching up by over half a
        // period keeps the line, one back on it ends the hiccup, anything
        // else is the stall, a block late.
        let pending = self.late_pending.take();
        if err > 2.0 * tolerance {
            let catching_up = pending.is_some_and(|prev| err < prev - tolerance / 2.0);
            let first = pending.is_none() && err <= HICCUP_PERIODS * tolerance;
            if catching_up || first {
                self.late_pending = Some(err);
                return None;
            }
            return Some(ResetCause::Stall);
        } else if err < -tolerance {
            return Some(ResetCause::Early);
        }
        let period = line.ns_per_frame * f64::from(self.period.max(frames));
        // 1/8 period alone is below the jitter of a host that calls the
        // plugin late in its cycle and seldom at the floor: most of its calls
        // are that late, and 64 of them in a row are common.
        if self.high_run == 0 {
            self.shift_level = (period / 8.0).max(2.0 * self.delay_mean);
        }
        self.note_delay(err.clamp(0.0, period));
        if err > self.shift_level {
            self.high_run += 1;
            if self.high_run >= SHIFT_CALLS {
                return Some(ResetCause::Shift);
            }
        } else {
            self.high_run = 0;
        }
        None
    }

    /// Adds a call's delay after the line to the mean delay.
    fn note_delay(&mut self, delay_ns: f64) {
        if self.delay_calls < DELAY_AVG_CALLS {
            self.delay_calls += 1;
        }
        self.delay_mean += (delay_ns - self.delay_mean) / f64::from(self.delay_calls);
    }

    /// Follows the period: the largest block since the reset, or a smaller
    /// one once blocks have stayed at most half of it for a while.
    fn track_period(&mut self, frames: u32) {
        if frames == 0 {
            return;
        }
        if self.period == 0 {
            self.period = frames;
            return;
        }
        if frames > self.period {
            self.period = frames;
            self.stats.period_changes += 1;
            self.small_run = 0;
        } else if frames.saturating_mul(2) <= self.period {
            self.small_max = if self.small_run == 0 {
                frames
            } else {
                self.small_max.max(frames)
            };
            self.small_run += 1;
            if self.small_run >= SHRINK_BLOCKS {
                self.period = self.small_max;
                self.stats.period_changes += 1;
                self.small_run = 0;
            }
        } else {
            self.small_run = 0;
        }
    }

    /// Counters: resets by cause, blocks, the current skew and period.
    pub fn stats(&self) -> TimelineStats {
        self.stats
    }
}
