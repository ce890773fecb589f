//! The transport-to-tick scheduler: the host's transport in, MIDI clock
//! messages out, each on its exact fractional sample. Pure: no I/O, no
//! allocation, no system call; the state is a small `Copy` struct.
//!
//! ```
//! use phasorsync::midi_clock::ticks::{ClockEvent, ClockKind, ClockOptions, TickScheduler, Transport};
//!
//! let mut clock = TickScheduler::new(48_000.0, ClockOptions::default()).unwrap();
//! let mut out = [ClockEvent::default(); 64];
//! // 120 bpm from the song start: Start, then a Clock every 1000 samples.
//! let t = Transport { playing: true, song_pos_beats: 0.0, tempo_bpm: 120.0, tempo_inc: 0.0, loop_beats: None };
//! let r = clock.process(Some(&t), 2048, &mut out);
//! let kinds: Vec<_> = out[..r.written].iter().map(|e| (e.at, e.kind)).collect();
//! assert_eq!(kinds, [(0.0, ClockKind::Start), (0.0, ClockKind::Clock),
//!                    (1000.0, ClockKind::Clock), (2000.0, ClockKind::Clock)]);
//! ```
//!
//! # Ticks from the timeline, never from the previous tick
//!
//! MIDI clock is 24 pulses per quarter note: tick `N` is due when the song
//! reaches beat `N / 24`. Within a block the host gives the song position
//! `b₀` (beats) and tempo `T₀` (bpm) at the block's first sample, and
//! `k = tempo_inc`, the tempo's change per sample (CLAP's meaning: the tempo
//! at sample `s` is `T₀ + k·s`). With `R` the sample rate, a beat lasts
//! `60·R / T` samples, so the position at sample `s` is the integral
//!
//! ```text
//! b(s) = b₀ + (T₀·s + k·s²/2) / (60·R)
//! ```
//!
//! and tick `N` is at the first `s ≥ 0` where `b(s) = N/24`: with
//! `c = (N/24 − b₀)·60·R ≥ 0`, the smaller root of `k/2·s² + T₀·s − c = 0`,
//!
//! ```text
//! s = 2c / (T₀ + √(T₀² + 2·k·c))
//! ```
//!
//! (this form has no cancellation when `k → 0`, where it becomes `c / T₀`).
//! A negative discriminant means a falling tempo reaches zero before the
//! tick: no tick in this block. Every tick is solved from the block's own
//! transport, so there is no accumulated error, and hosts that send the
//! transport only at block start (most do) are corrected at every block. The
//! result does not depend on how the song is cut into blocks (the property
//! test in `tests/logic/clock_ticks.rs` checks this to 1e-6 sample).
//! Positions are `f64` samples relative to the block's first sample: the
//! caller maps them to `CLOCK_MONOTONIC` without snapping to a sample.
//!
//! A host that changes tempo inside a block sends a transport event there;
//! the caller then calls [`TickScheduler::process`] once per sub-block, each
//! with the transport that starts it, and adds the sub-block's offset.
//!
//! # Transport states
//!
//! - **Continuity.** After each block the scheduler predicts the song
//!   position at the next block's start. A position within
//!   [`JUMP_TOLERANCE_TICKS`] of the prediction continues the same grid (the
//!   host's value is used, so small disagreements are corrected); anything
//!   else is a jump (locate, loop, a position jump of any size).
//! - **Start** (playback starts within half a tick of beat 0, or before it
//!   in a count-in): `Start` then the `Clock` of tick 0, both at tick 0's time
//!   and in that order. A slave starts playing on the first clock after Start.
//! - **Start elsewhere**: Song Position Pointer then Continue. The SPP goes
//!   out at once (at the start's sample); Continue goes out at the first
//!   16th-note boundary (tick `C`, a multiple of 6) at least one tick after
//!   the position, immediately followed by that boundary's `Clock`. The SPP
//!   carries `C / 6` sixteenths, so the slave lands on exactly the beat the
//!   host is at. The one tick of room gives the slave time to locate before
//!   Continue (a 3-byte SPP alone takes ~1 ms on the wire). A stopped slave
//!   gets the clocks before Continue only with
//!   [`ClockOptions::clock_while_stopped`].
//! - **Locate, jump while playing**: Stop, then SPP and Continue as above.
//!   The MIDI 1.0 rule is that a slave takes SPP only while stopped (and
//!   PhasorSync's own follower ignores SPP and Continue while running), so
//!   the slave is stopped first. The clock goes on between Stop and Continue
//!   (a *hold*): a slave counts no position while stopped, and a gap of up to
//!   seven ticks would be longer than a slave's dropout window.
//! - **Loops.** With a loop `(start, end)` of at least one tick, the
//!   scheduler follows the wrap inside the block (no tick is sent past the
//!   loop end) and relocates *ahead*: right after the last Clock before the
//!   loop end, it sends Stop and the SPP for the first 16th boundary at
//!   least one tick (counted from that Clock) into the loop. For a loop
//!   starting on a 16th note whose end is on a tick, that is the loop start
//!   itself, and Continue goes out exactly on the loop start; otherwise the
//!   clock goes on in a hold until the boundary. If the host then does not
//!   wrap, the next block is a jump and gets its own SPP (the slave is
//!   already stopped).
//! - **Stop**: `Stop` at the first sample of the first block that is not
//!   playing (or has no transport), i.e. at the host's stop point: all ticks
//!   before it went out in earlier blocks. Sent only if the slave was running
//!   (in a hold it is stopped already).
//! - **Clock while stopped**: when not playing, clocks run on at the last
//!   valid tempo (no Start, no position), continuing the phase the song had
//!   when it stopped. When playback starts the song's grid takes over, so one
//!   interval at that seam can be short.
//!
//! # Faults
//!
//! No transport (`None`) is "stopped at an unknown position". A tempo that is
//! zero, negative or not finite, or a position that is not finite or beyond
//! ±[`MAX_ABS_BEATS`], gives no ticks for that block (a running slave is
//! stopped, as for a locate); the next valid block re-locates (SPP +
//! Continue, the clock going on in between). A non-finite `tempo_inc` counts as 0; tempo
//! is clamped to [`MAX_TEMPO_BPM`], and `tempo_inc` so that a block's ramp
//! spans at most that much. A loop shorter than one tick, or not
//! finite, is ignored. A jump of any size is a relocate. SPP is 14 bits: a
//! boundary beyond 16383 sixteenths (1024 bars of 4/4) is sent as 16383.
//! Events that do not fit in the caller's buffer are dropped and counted.
//!
//! # Clock offset
//!
//! [`ClockOptions::offset_samples`] is added to every event's position: a
//! positive offset delays the clock (for a slave that runs early), a negative
//! one sends it early, so positions can be negative; the caller's output
//! latency must cover that.

/// Timing Clock pulses per quarter note.
pub const PPQN: f64 = 24.0;

/// How far (in ticks) a block's song position may be from where the previous
/// block predicted it before it counts as a jump. Half a tick: any locate
/// that could move a slave by a tick is seen, and a host that computes
/// positions a little differently (rounding, ramps without `tempo_inc`) is
/// followed without a relocate.
pub const JUMP_TOLERANCE_TICKS: f64 = 0.5;

/// Positions (in beats) beyond this magnitude are treated as invalid: far
/// beyond any song, and it keeps tick indices exact in `f64`.
pub const MAX_ABS_BEATS: f64 = 1.0e9;

/// The highest tempo honoured; a higher one is clamped to it.
pub const MAX_TEMPO_BPM: f64 = 2000.0;

/// Ticks per 16th note (the SPP unit).
const TICKS_PER_SIXTEENTH: i64 = 6;
/// The largest Song Position Pointer value (14 bits).
const MAX_SPP: i64 = 0x3FFF;
/// Slack for float error on the tick grid, in ticks.
const GRID_EPS: f64 = 1e-9;
/// Loop wraps followed within one block (a loop of a tick at a high tempo in
/// a long block could wrap many times; the rest is left to jump detection).
const MAX_WRAPS_PER_BLOCK: u32 = 8;
/// Ticks handled per segment at most: a bound on work whatever the input.
const MAX_TICKS_PER_SEGMENT: u32 = 4096;

/// The host's transport at the first sample of a block (or sub-block).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transport {
    /// Whether the host is playing.
    pub playing: bool,
    /// Song position in quarter-note beats at the block's first sample.
    pub song_pos_beats: f64,
    /// Tempo in beats per minute at the block's first sample.
    pub tempo_bpm: f64,
    /// Tempo change per sample (bpm per sample), until the next transport.
    pub tempo_inc: f64,
    /// The active loop, `(start, end)` in beats, if looping is on.
    pub loop_beats: Option<(f64, f64)>,
}

/// One MIDI real-time or system-common message of the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockKind {
    /// Timing Clock, `0xF8`.
    #[default]
    Clock,
    /// Start, `0xFA`: play from the song start on the next Clock.
    Start,
    /// Continue, `0xFB`: play from the song position on the next Clock.
    Continue,
    /// Stop, `0xFC`.
    Stop,
    /// Song Position Pointer, `0xF2`, in 16th notes from the song start.
    SongPosition(u16),
}

impl ClockKind {
    /// The message's MIDI bytes and how many of them are used.
    pub fn to_bytes(self) -> ([u8; 3], usize) {
        match self {
            Self::Clock => ([0xF8, 0, 0], 1),
            Self::Start => ([0xFA, 0, 0], 1),
            Self::Continue => ([0xFB, 0, 0], 1),
            Self::Stop => ([0xFC, 0, 0], 1),
            Self::SongPosition(p) => {
                let p = p.min(MAX_SPP as u16);
                ([0xF2, (p & 0x7F) as u8, (p >> 7) as u8], 3)
            }
        }
    }
}

/// A clock message on its sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockEvent {
    /// Fractional sample relative to the block's first sample, offset
    /// included (may be negative with a negative offset).
    pub at: f64,
    /// The message.
    pub kind: ClockKind,
}

/// The clock's user options (plugin parameters).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockOptions {
    /// Clock out on or off. Turning it off while running sends Stop.
    pub enabled: bool,
    /// Keep sending Timing Clock at the tempo while the host is stopped.
    pub clock_while_stopped: bool,
    /// Added to every event's position, in samples.
    pub offset_samples: f64,
}

impl Default for ClockOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            clock_while_stopped: false,
            offset_samples: 0.0,
        }
    }
}

/// What one [`TickScheduler::process`] call produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockOutput {
    /// Events written to the front of the buffer, in time order.
    pub written: usize,
    /// Events that did not fit (also added to
    /// [`TickScheduler::dropped_total`]).
    pub dropped: u32,
}

/// What the next block is predicted to be (see [`TickScheduler::predicted`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ahead {
    /// Playing on, with this transport at its first sample.
    Playing(Transport),
    /// Stopped (the clock runs on only with
    /// [`ClockOptions::clock_while_stopped`]).
    Stopped,
    /// Playing, but nothing to predict with (no valid tempo or position).
    Unknown,
}

/// A message waiting for its tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    /// Start before tick 0.
    Start,
    /// Continue before tick `C` (a 16th boundary; its SPP went out).
    Continue(i64),
}

/// A stretch of the block with one linear tempo ramp.
#[derive(Clone, Copy, Debug)]
struct Ramp {
    /// First sample, relative to the block.
    s0: f64,
    /// Beat at `s0`.
    b0: f64,
    /// Tempo at `s0` (bpm).
    t0: f64,
    /// Tempo change per sample.
    k: f64,
    /// Samples per minute (`60·R`).
    spm: f64,
}

impl Ramp {
    /// The first sample at which the song reaches `beat` (the closed form in
    /// the module docs); `s0` if it is already there, `None` if it never is.
    fn sample_of(&self, beat: f64) -> Option<f64> {
        let db = beat - self.b0;
        if db <= 0.0 {
            return Some(self.s0);
        }
        let c = db * self.spm;
        let disc = self.t0 * self.t0 + 2.0 * self.k * c;
        if disc < 0.0 {
            return None;
        }
        let den = self.t0 + disc.sqrt();
        let s = 2.0 * c / den;
        (den > 0.0 && s.is_finite()).then_some(self.s0 + s)
    }

    /// The beat at sample `s` (block-relative); a falling tempo stops at 0.
    fn beat_at(&self, s: f64) -> f64 {
        let mut ds = s - self.s0;
        if self.k < 0.0 {
            ds = ds.min(-self.t0 / self.k);
        }
        self.b0 + (self.t0 * ds + 0.5 * self.k * ds * ds) / self.spm
    }

    /// The tempo at sample `s` (block-relative).
    fn tempo_at(&self, s: f64) -> f64 {
        self.t0 + self.k * (s - self.s0)
    }
}

/// The caller's buffer, filled from the front; overflow is counted.
struct Out<'a> {
    buf: &'a mut [ClockEvent],
    n: usize,
    dropped: u32,
    offset: f64,
}

impl Out<'_> {
    fn push(&mut self, at: f64, kind: ClockKind) {
        if let Some(slot) = self.buf.get_mut(self.n) {
            *slot = ClockEvent {
                at: at + self.offset,
                kind,
            };
            self.n += 1;
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}

/// A valid loop: finite, at least one tick long.
fn valid_loop(l: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let (ls, le) = l?;
    let ok = ls.is_finite()
        && le.is_finite()
        && ls.abs() <= MAX_ABS_BEATS
        && le.abs() <= MAX_ABS_BEATS
        && (le - ls) * PPQN >= 1.0;
    ok.then_some((ls, le))
}

/// The smallest 16th boundary (tick index) at or after `ticks`, not before 0.
fn boundary_at_or_after(ticks: f64) -> i64 {
    let sixteenths = (ticks / TICKS_PER_SIXTEENTH as f64 - GRID_EPS).ceil();
    (sixteenths as i64).max(0) * TICKS_PER_SIXTEENTH
}

/// The SPP message for boundary tick `c`.
fn spp(c: i64) -> ClockKind {
    ClockKind::SongPosition((c / TICKS_PER_SIXTEENTH).clamp(0, MAX_SPP) as u16)
}

/// The first tick index at or after `beat`.
fn first_tick_from(beat: f64) -> i64 {
    (beat * PPQN - GRID_EPS).ceil() as i64
}

/// Turns the host transport into MIDI clock events, one block at a time.
/// Small and `Copy`; see the module docs for the rules.
#[derive(Clone, Copy, Debug)]
pub struct TickScheduler {
    spm: f64,
    opts: ClockOptions,
    /// The slave was sent Start/Continue and no Stop since.
    running: bool,
    /// A hold: the slave was stopped for a relocation while the host plays,
    /// so the clock goes on until Continue.
    held: bool,
    /// The host was playing in the previous block.
    host_playing: bool,
    /// Predicted song position at the next block's start (valid grid only).
    expected: Option<f64>,
    /// The tempo and ramp at the end of the last playing block, and its loop:
    /// with `expected`, what [`Self::predicted`] gives.
    end_tempo: f64,
    end_inc: f64,
    end_loop: Option<(f64, f64)>,
    /// Next tick index on the song grid.
    next_tick: i64,
    pending: Pending,
    /// SPP for the loop wrap already sent: (Continue boundary, loop).
    armed: Option<(i64, (f64, f64))>,
    /// Stopped clock: virtual beat at the next block's start, next tick.
    free_beat: f64,
    free_next: i64,
    /// Last valid tempo (bpm), 0 before any.
    last_tempo: f64,
    dropped_total: u64,
}

impl TickScheduler {
    /// A scheduler for `sample_rate` Hz; `None` if the rate is not a
    /// positive finite number.
    pub fn new(sample_rate: f64, opts: ClockOptions) -> Option<Self> {
        (sample_rate.is_finite() && sample_rate > 0.0).then_some(Self {
            spm: 60.0 * sample_rate,
            opts,
            running: false,
            held: false,
            host_playing: false,
            expected: None,
            end_tempo: 0.0,
            end_inc: 0.0,
            end_loop: None,
            next_tick: 0,
            pending: Pending::None,
            armed: None,
            free_beat: 0.0,
            free_next: 0,
            last_tempo: 0.0,
            dropped_total: 0,
        })
    }

    /// Changes the options; takes effect at the next block.
    pub fn set_options(&mut self, opts: ClockOptions) {
        self.opts = opts;
    }

    /// The current options.
    pub fn options(&self) -> ClockOptions {
        self.opts
    }

    /// Whether the slave has been started (Start/Continue) and not stopped.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Events dropped for lack of room since creation.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// The transport the next block has if the host goes on as the last
    /// block said: playing from the predicted position, at the tempo the
    /// ramp reached, on the same ramp and loop (a position at the loop's
    /// end is the loop's start, as a host wraps it); or stopped.
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn predicted(&self) -> Ahead {
        if !self.host_playing {
            return Ahead::Stopped;
        }
        let Some(mut pos) = self.expected else {
            return Ahead::Unknown;
        };
        if let Some((ls, le)) = self.end_loop {
            if ((pos - le) * PPQN).abs() <= JUMP_TOLERANCE_TICKS {
                pos = ls + (pos - le).max(0.0);
            }
        }
        let tempo = self.end_tempo.min(MAX_TEMPO_BPM);
        if !(tempo.is_finite() && tempo > 0.0) {
            return Ahead::Unknown;
        }
        Ahead::Playing(Transport {
            playing: true,
            song_pos_beats: pos,
            tempo_bpm: tempo,
            tempo_inc: self.end_inc,
            loop_beats: self.end_loop,
        })
    }

    /// Schedules the clock for one block of `frames` samples whose first
    /// sample has transport `transport` (`None`: the host gave none). Writes
    /// the events, in time order, to the front of `out`.
    ///
    /// # Realtime Safety
    /// Pure arithmetic on `self` and `out`: no allocation, no lock, no
    /// system call; bounded work whatever the input.
    pub fn process(
        &mut self,
        transport: Option<&Transport>,
        frames: u32,
        out: &mut [ClockEvent],
    ) -> BlockOutput {
        let mut out = Out {
            buf: out,
            n: 0,
            dropped: 0,
            offset: if self.opts.offset_samples.is_finite() {
                self.opts.offset_samples
            } else {
                0.0
            },
        };
        let frames = f64::from(frames);
        let tempo = transport
            .map(|t| t.tempo_bpm)
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| t.min(MAX_TEMPO_BPM));
        if let Some(t) = tempo {
            self.last_tempo = t;
        }
        if !self.opts.enabled {
            self.stop(&mut out);
            self.reset_grid();
        } else {
            match transport {
                Some(t) if t.playing => {
                    let pos = t.song_pos_beats;
                    match tempo {
                        Some(t0) if pos.is_finite() && pos.abs() <= MAX_ABS_BEATS => {
                            // A ramp may not take the tempo beyond the
                            // clamp within the block: bounds the work and
                            // keeps every position in range.
                            let k_max = MAX_TEMPO_BPM / frames.max(1.0);
                            let k = if t.tempo_inc.is_finite() {
                                t.tempo_inc.clamp(-k_max, k_max)
                            } else {
                                0.0
                            };
                            let ramp = Ramp {
                                s0: 0.0,
                                b0: pos,
                                t0,
                                k,
                                spm: self.spm,
                            };
                            self.play(ramp, valid_loop(t.loop_beats), frames, &mut out);
                        }
                        _ => {
                            // Playing, but nothing to place ticks with: none
                            // this block, so a running slave is stopped (it
                            // would drop out), and the next valid block
                            // re-locates.
                            self.hold(0.0, &mut out);
                            self.host_playing = true;
                            self.expected = None;
                        }
                    }
                }
                _ => {
                    if self.host_playing {
                        if let Some(e) = self.expected {
                            // The stopped clock carries on the song's phase.
                            self.set_free_phase(e, self.next_tick);
                        }
                    }
                    self.stop(&mut out);
                    self.reset_grid();
                    if self.opts.clock_while_stopped && self.last_tempo > 0.0 {
                        self.free_run(frames, &mut out);
                    }
                }
            }
        }
        self.dropped_total += u64::from(out.dropped);
        BlockOutput {
            written: out.n,
            dropped: out.dropped,
        }
    }

    /// Stop at the block's first sample if the slave runs.
    fn stop(&mut self, out: &mut Out<'_>) {
        if self.running {
            out.push(0.0, ClockKind::Stop);
        }
        self.running = false;
        self.held = false;
        self.pending = Pending::None;
        self.armed = None;
    }

    fn reset_grid(&mut self) {
        self.host_playing = false;
        self.expected = None;
    }

    /// One playing block with a valid tempo and position.
    fn play(&mut self, ramp: Ramp, lp: Option<(f64, f64)>, frames: f64, out: &mut Out<'_>) {
        let b0 = ramp.b0;
        let near = |a: f64, b: f64| ((a - b) * PPQN).abs() <= JUMP_TOLERANCE_TICKS;
        let continuous = self.host_playing && self.expected.is_some_and(|e| near(b0, e));
        // An armed SPP is for one loop: if the loop changed, it is void.
        if self.armed.is_some_and(|(_, l)| Some(l) != lp) {
            self.armed = None;
            if continuous && (self.running || self.held) {
                // The slave may have taken the SPP: tell it where we are.
                self.relocate(b0, 0.0, out);
            }
        }
        // The host wrapped the loop exactly at the block boundary.
        let boundary_wrap = self.host_playing
            && lp
                .is_some_and(|(ls, le)| self.expected.is_some_and(|e| near(e, le)) && near(b0, ls));
        if continuous {
            // Same grid; the host's position is used from here on.
        } else if let (true, Some((ls, _))) = (boundary_wrap, lp) {
            self.wrap(ls, 0.0, out);
        } else if !self.host_playing && !self.running && b0 * PPQN < JUMP_TOLERANCE_TICKS {
            self.pending = Pending::Start;
            self.armed = None;
            self.next_tick = first_tick_from(b0).min(0);
        } else {
            self.relocate(b0, 0.0, out);
        }
        self.host_playing = true;

        let mut seg = ramp;
        let mut wraps = 0;
        loop {
            let wrap_at = match lp {
                Some((_, le)) if seg.b0 < le && wraps < MAX_WRAPS_PER_BLOCK => {
                    seg.sample_of(le).filter(|s| *s < frames)
                }
                _ => None,
            };
            self.emit_grid(&seg, wrap_at.unwrap_or(frames), lp, out);
            match (wrap_at, lp) {
                (Some(s), Some((ls, _))) => {
                    let t = seg.tempo_at(s);
                    self.wrap(ls, s, out);
                    seg = Ramp {
                        s0: s,
                        b0: ls,
                        t0: t,
                        ..seg
                    };
                    wraps += 1;
                }
                _ => break,
            }
        }
        self.expected = Some(seg.beat_at(frames));
        self.end_tempo = seg.tempo_at(frames);
        self.end_inc = seg.k;
        self.end_loop = lp;
    }

    /// SPP now (at `at`), Continue on the first 16th boundary at least one
    /// tick after `beat`; a running slave is stopped first and held.
    fn relocate(&mut self, beat: f64, at: f64, out: &mut Out<'_>) {
        let c = boundary_at_or_after(beat * PPQN + 1.0);
        self.hold(at, out);
        out.push(at, spp(c));
        self.pending = Pending::Continue(c);
        self.armed = None;
        self.next_tick = first_tick_from(beat);
    }

    /// A running slave is stopped at `at` and held (the clock goes on) until
    /// the next Continue; one already held stays so.
    fn hold(&mut self, at: f64, out: &mut Out<'_>) {
        if self.running {
            out.push(at, ClockKind::Stop);
            self.running = false;
            self.held = true;
        }
    }

    /// The song wraps to loop start `ls` at sample `at`.
    fn wrap(&mut self, ls: f64, at: f64, out: &mut Out<'_>) {
        match self.armed.take() {
            Some((c, _)) => {
                self.pending = Pending::Continue(c);
                self.next_tick = first_tick_from(ls);
            }
            None => self.relocate(ls, at, out),
        }
    }

    /// The song grid's ticks in `[seg.s0, end)`, with the pending Start or
    /// Continue and the loop's early SPP.
    fn emit_grid(&mut self, seg: &Ramp, end: f64, lp: Option<(f64, f64)>, out: &mut Out<'_>) {
        for _ in 0..MAX_TICKS_PER_SEGMENT {
            let n = self.next_tick;
            let Some(s) = seg.sample_of(n as f64 / PPQN).filter(|s| *s < end) else {
                return;
            };
            let mut send = true;
            match self.pending {
                Pending::Start if n >= 0 => {
                    out.push(s, ClockKind::Start);
                    self.pending = Pending::None;
                    self.running = true;
                }
                Pending::Start => send = self.opts.clock_while_stopped,
                Pending::Continue(c) if n >= c => {
                    out.push(s, ClockKind::Continue);
                    self.pending = Pending::None;
                    self.running = true;
                    self.held = false;
                }
                Pending::Continue(_) => send = self.held || self.opts.clock_while_stopped,
                Pending::None => {}
            }
            if send {
                out.push(s, ClockKind::Clock);
            }
            self.next_tick = n.saturating_add(1);
            // The last Clock before the loop end: relocate ahead.
            if let Some((ls, le)) = lp {
                let le_t = le * PPQN;
                let n_f = n as f64;
                if self.armed.is_none()
                    && self.pending == Pending::None
                    && n_f < le_t - GRID_EPS
                    && n_f + 1.0 >= le_t - GRID_EPS
                {
                    let lead = le_t - n_f;
                    let ls_t = ls * PPQN;
                    let c = boundary_at_or_after((ls_t + 1.0 - lead).max(ls_t));
                    self.hold(s, out);
                    out.push(s, spp(c));
                    self.armed = Some((c, (ls, le)));
                }
            }
        }
        // Work bound hit (absurd tempo for the block): skip what is left.
        let last = first_tick_from(seg.beat_at(end));
        let skipped = last.saturating_sub(self.next_tick).max(0);
        out.dropped = out
            .dropped
            .saturating_add(u32::try_from(skipped).unwrap_or(u32::MAX));
        self.next_tick = self.next_tick.max(last);
    }

    /// Clock while stopped: ticks at the last valid tempo, carrying the
    /// phase across blocks.
    fn free_run(&mut self, frames: f64, out: &mut Out<'_>) {
        let seg = Ramp {
            s0: 0.0,
            b0: self.free_beat,
            t0: self.last_tempo,
            k: 0.0,
            spm: self.spm,
        };
        for _ in 0..MAX_TICKS_PER_SEGMENT {
            let Some(s) = seg
                .sample_of(self.free_next as f64 / PPQN)
                .filter(|s| *s < frames)
            else {
                break;
            };
            out.push(s, ClockKind::Clock);
            self.free_next = self.free_next.saturating_add(1);
        }
        self.set_free_phase(seg.beat_at(frames), self.free_next);
    }

    /// Sets the stopped clock's phase from a beat and the next tick index on
    /// that beat's grid, keeping only the phase within the beat so its
    /// precision never degrades (and no value can overflow).
    fn set_free_phase(&mut self, beat: f64, next: i64) {
        if !beat.is_finite() {
            self.free_beat = 0.0;
            self.free_next = 0;
            return;
        }
        let whole = beat.floor();
        self.free_beat = beat - whole;
        // Float-to-int casts saturate; the clamp keeps the next tick within
        // the beat's first tick and one beat later whatever came in.
        let first = first_tick_from(self.free_beat);
        self.free_next = next
            .saturating_sub((whole * PPQN) as i64)
            .clamp(first, first + PPQN as i64);
    }
}
