//! Synthetic MIDI clock streams and the figures taken on them, shared by the
//! follower's tests (`tests/logic/clock_follower.rs`), its accuracy benchmark
//! against the naive and DLL followers (`benches/follower_accuracy.rs`, which
//! includes this file with `#[path]`) and the kernel clock-in test.
//!
//! A stream is a sender's true grid (a tempo profile, the sender's clock fast
//! or slow by some ppm) seen through gaussian timestamp jitter. A trace is
//! what a follower made of it: per tick received, its tempo error and its
//! phase error at the true time of the next tick.
// Each user takes its own subset.
#![allow(dead_code)]

use phasorsync::midi_clock::follower::{ClockMessage, Follower};

/// The source id the synthetic sender uses.
pub const SRC: u16 = 7;
/// Receiver time of a stream's first tick, ns.
pub const T0: f64 = 1e9;
/// The drifts of the targets.
pub const DRIFTS: [f64; 2] = [-200.0, 200.0];

/// xorshift64* with Box–Muller: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal.
    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// A sender's ticks as the receiver sees them.
pub struct Stream {
    /// True (jitter-free) receiver time of tick i, ns.
    pub truth: Vec<f64>,
    /// Receiver-clock tempo of the interval from tick i to i + 1.
    pub bpm: Vec<f64>,
    /// Jittered kernel timestamps.
    pub seen: Vec<u64>,
}

/// `n` ticks at nominal tempo `tempo(i)` (for interval i → i+1), sender clock
/// fast by `drift_ppm`, timestamps with `jitter_ms` RMS gaussian jitter.
pub fn stream(
    n: usize,
    seed: u64,
    jitter_ms: f64,
    drift_ppm: f64,
    tempo: impl Fn(usize) -> f64,
) -> Stream {
    let mut rng = Rng::new(seed);
    let rate = 1.0 + drift_ppm * 1e-6;
    let (mut truth, mut bpm, mut seen) = (Vec::new(), Vec::new(), Vec::new());
    let mut t = T0;
    for i in 0..n {
        truth.push(t);
        seen.push((t + jitter_ms * 1e6 * rng.gauss()).round() as u64);
        let b = tempo(i) * rate;
        bpm.push(b);
        t += 60e9 / (24.0 * b);
    }
    Stream { truth, bpm, seen }
}

/// What the figures need of a follower: fed Start then ticks, asked for its
/// tempo and its beat position at a time.
pub trait ClockFollower {
    /// Start (play from beat 0 on the next tick), stamped `t` ns.
    fn start(&mut self, t: u64);
    /// A clock tick stamped `t` ns.
    fn tick(&mut self, t: u64);
    /// The tempo estimate (BPM), once there is one.
    fn tempo_bpm(&self) -> Option<f64>;
    /// The beat position at `t` (beat 0 = the first tick after Start).
    fn beat_at(&self, t: u64) -> Option<f64>;
}

impl ClockFollower for Follower {
    fn start(&mut self, t: u64) {
        self.event(t, SRC, ClockMessage::Start);
    }
    fn tick(&mut self, t: u64) {
        self.event(t, SRC, ClockMessage::Clock);
    }
    fn tempo_bpm(&self) -> Option<f64> {
        Follower::tempo_bpm(self)
    }
    fn beat_at(&self, t: u64) -> Option<f64> {
        Follower::beat_at(self, t)
    }
}

/// Per tick received (index j = ticks received − 1): tempo error (BPM) and
/// phase error (ms) at the true time of the next tick.
pub struct Trace {
    /// Estimate minus true tempo, BPM (NaN before an estimate).
    pub tempo_err: Vec<f64>,
    /// Beat position error at the next tick's true time, in ms at the true
    /// tempo (NaN before an estimate).
    pub phase_ms: Vec<f64>,
    /// The true tempo of the interval after tick j.
    pub true_bpm: Vec<f64>,
}

/// PhasorSync's follower: Start just before tick 0, then every tick except
/// those in `drop`.
pub fn follow(s: &Stream, drop: &[usize]) -> (Follower, Trace) {
    follow_with(Follower::new(), s, drop)
}

/// Any follower, as [`follow`].
pub fn follow_with<F: ClockFollower>(mut f: F, s: &Stream, drop: &[usize]) -> (F, Trace) {
    f.start(s.seen[0] - 1_000_000);
    let mut tr = Trace {
        tempo_err: vec![],
        phase_ms: vec![],
        true_bpm: vec![],
    };
    for j in 0..s.seen.len() - 1 {
        if !drop.contains(&j) {
            f.tick(s.seen[j]);
        }
        let next = s.truth[j + 1] as u64;
        let tb = s.bpm[j];
        tr.true_bpm.push(tb);
        tr.tempo_err
            .push(f.tempo_bpm().map_or(f64::NAN, |b| b - tb));
        let beat = f.beat_at(next).unwrap_or(f64::NAN);
        tr.phase_ms
            .push((beat - (j + 1) as f64 / 24.0) * 60_000.0 / tb);
    }
    (f, tr)
}

/// The lock criterion at tick j: tempo within 0.5 %, phase within 2 ms.
pub fn locked(tr: &Trace, j: usize) -> bool {
    let e = tr.tempo_err[j];
    e.abs() <= 0.005 * tr.true_bpm[j] && tr.phase_ms[j].abs() <= 2.0
}

/// Ticks received from `from` until the estimate is locked and stays locked
/// for the next 96 ticks (or the end); the trace's length + 1 − `from` if
/// never.
pub fn lock_ticks(tr: &Trace, from: usize) -> usize {
    lock_ticks_by(tr, from, |j| locked(tr, j))
}

/// As [`lock_ticks`], with any per-tick criterion.
pub fn lock_ticks_by(tr: &Trace, from: usize, ok: impl Fn(usize) -> bool) -> usize {
    let n = tr.tempo_err.len();
    let i = (from..n)
        .find(|&i| (i..(i + 96).min(n)).all(&ok))
        .unwrap_or(n);
    i + 1 - from
}

/// Root mean square.
pub fn rms(v: &[f64]) -> f64 {
    (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
}

/// Arithmetic mean.
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Population standard deviation.
pub fn std_dev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

/// The `p` quantile (nearest rank) of `v`, which it sorts.
pub fn percentile(v: &mut [usize], p: f64) -> usize {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}
