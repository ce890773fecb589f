//! Follower accuracy, side by side: PhasorSync's MIDI clock follower
//! (`src/midi_clock/follower.rs`), the naive follower (tempo from the mean of
//! the last 24 tick intervals, phase from the newest tick) and a second-order
//! DLL tuned as Ardour's MIDI clock transport master is, on the same
//! synthetic streams (`tests/support/clock_streams/`): 120 BPM, 1 ms RMS gaussian
//! timestamp jitter, sender clock ±200 ppm, and a ±10 % tempo step.
//!
//! An accuracy figure, not a timing: `cargo bench --bench follower_accuracy`
//! (or `cargo xtask bench`) prints a Markdown table and fails if PhasorSync
//! is not the most accurate on steady-state tempo and phase.
//!
//! # The baselines (bench code, not product code)
//!
//! **Ardour's DLL** (`libs/ardour/midi_clock_slave.cc`,
//! `MIDIClock_TransportMaster`, Ardour 8): the first tick arms; the second
//! sets `e2` (the period) to the first interval, `t0` to its time and
//! `t1 = t0 + e2`, with coefficients from `calculate_filter_coefficients
//! (500.0)` ("do not rely on initial bpm, but assume a realistic BW"):
//! `omega = 2π·(60/500)/24`, `b = √2·omega`, `c = omega²`; each later tick
//! `e = t − t1; t0 = t1; t1 += b·e + e2; e2 += c·e`, tempo
//! `60 / (24·(t1 − t0))`. That is Fons Adriaensen's "Using a DLL to filter
//! time" loop at about 0.24 Hz bandwidth for 120 BPM clock. Its phase is read
//! two ways: from the loop (the line through `t0` at the current tick and
//! `t1` at the next, the best a DLL offers) and as Ardour's transport does
//! (the newest raw timestamp plus elapsed time at the loop's tempo).
//!
//! **Moving average:** tempo from the mean of the last (up to) 24 intervals,
//! phase from the newest raw timestamp at that tempo.
//!
//! # Metrics
//! Phase is measured at the true time of the next tick, against the sender's
//! jitter-free grid as the receiver sees it (see `tests/support/clock_streams/`);
//! "locked" is the criterion (tempo within 0.5 %, phase within 2 ms)
//! held for the next 96 ticks.

#[path = "../tests/support/clock_streams/mod.rs"]
mod clock_streams;

use clock_streams::{
    follow_with, lock_ticks, lock_ticks_by, mean, percentile, rms, std_dev, stream, ClockFollower,
    Trace, DRIFTS,
};
use phasorsync::midi_clock::follower::Follower;

const TICKS_PER_BEAT: f64 = 24.0;
const JITTER_MS: f64 = 1.0;
/// Steady state: ticks left out at the start of each long run.
const SETTLE: usize = 256;
/// Long runs for the steady-state figures, and their length.
const STEADY_SEEDS: u64 = 4;
const STEADY_TICKS: usize = 12_000;
/// Short runs from Start (lock and the 2-beat figure).
const START_TRIALS: u64 = 100;
/// Tempo-step runs per direction; the step comes after tick `STEP_AT`.
const STEP_TRIALS: u64 = 100;
const STEP_AT: usize = 300;
const STEP_TICKS: usize = 700;

/// The naive follower: the mean of the last 24 intervals.
#[derive(Default)]
struct MovingAverage {
    /// The newest 25 tick times (24 intervals), oldest first.
    times: Vec<u64>,
    /// Ticks since Start, minus one: the beat index of the newest tick × 24.
    k: i64,
}

impl MovingAverage {
    fn period(&self) -> Option<f64> {
        let n = self.times.len();
        (n >= 2).then(|| (self.times[n - 1] - self.times[0]) as f64 / (n - 1) as f64)
    }
}

impl ClockFollower for MovingAverage {
    fn start(&mut self, _t: u64) {
        self.times.clear();
        self.k = -1;
    }
    fn tick(&mut self, t: u64) {
        if self.times.len() == 25 {
            self.times.remove(0);
        }
        self.times.push(t);
        self.k += 1;
    }
    fn tempo_bpm(&self) -> Option<f64> {
        self.period().map(|p| 60e9 / (TICKS_PER_BEAT * p))
    }
    fn beat_at(&self, t: u64) -> Option<f64> {
        let p = self.period()?;
        let last = *self.times.last()?;
        Some((self.k as f64 + (t as f64 - last as f64) / p) / TICKS_PER_BEAT)
    }
}

/// Ardour's MIDI clock DLL; see the module docs.
struct ArdourDll {
    /// Phase from the raw newest timestamp (Ardour's transport) instead of
    /// the loop's own line.
    phase_from_timestamp: bool,
    count: u32,
    last_t: u64,
    t0: f64,
    t1: f64,
    e2: f64,
    b: f64,
    c: f64,
    /// Index of the newest tick since Start.
    k: i64,
}

impl ArdourDll {
    fn new(phase_from_timestamp: bool) -> Self {
        // Ardour: calculate_filter_coefficients (500.0).
        let omega = 2.0 * std::f64::consts::PI * (60.0 / 500.0) / 24.0;
        ArdourDll {
            phase_from_timestamp,
            count: 0,
            last_t: 0,
            t0: 0.0,
            t1: 0.0,
            e2: 0.0,
            b: std::f64::consts::SQRT_2 * omega,
            c: omega * omega,
            k: -1,
        }
    }
}

impl ClockFollower for ArdourDll {
    fn start(&mut self, _t: u64) {
        self.count = 0;
        self.k = -1;
    }
    fn tick(&mut self, t: u64) {
        self.k += 1;
        let tf = t as f64;
        match self.count {
            0 => {}
            1 => {
                self.e2 = tf - self.last_t as f64;
                self.t0 = tf;
                self.t1 = tf + self.e2;
            }
            _ => {
                let e = tf - self.t1;
                self.t0 = self.t1;
                self.t1 += self.b * e + self.e2;
                self.e2 += self.c * e;
            }
        }
        self.count += 1;
        self.last_t = t;
    }
    fn tempo_bpm(&self) -> Option<f64> {
        (self.count >= 2).then(|| 60e9 / (TICKS_PER_BEAT * (self.t1 - self.t0)))
    }
    fn beat_at(&self, t: u64) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let period = self.t1 - self.t0;
        let from = if self.phase_from_timestamp {
            self.last_t as f64
        } else {
            self.t0
        };
        Some((self.k as f64 + (t as f64 - from) / period) / TICKS_PER_BEAT)
    }
}

/// The followers compared, by name.
#[derive(Clone, Copy)]
enum Kind {
    PhasorSync,
    MovingAverage,
    Dll,
    DllTimestamp,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::PhasorSync,
        Kind::MovingAverage,
        Kind::Dll,
        Kind::DllTimestamp,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::PhasorSync => "PhasorSync (least squares, 128 ticks)",
            Kind::MovingAverage => "moving average of 24 intervals",
            Kind::Dll => "DLL as Ardour's, phase from the loop",
            Kind::DllTimestamp => "DLL as Ardour's, phase as Ardour's transport reads it",
        }
    }

    fn trace(self, s: &clock_streams::Stream) -> Trace {
        match self {
            Kind::PhasorSync => follow_with(Follower::new(), s, &[]).1,
            Kind::MovingAverage => follow_with(MovingAverage::default(), s, &[]).1,
            Kind::Dll => follow_with(ArdourDll::new(false), s, &[]).1,
            Kind::DllTimestamp => follow_with(ArdourDll::new(true), s, &[]).1,
        }
    }
}

/// One follower's figures.
struct Row {
    /// |tempo error| after 48 ticks (2 beats) from Start: RMS and max, BPM.
    two_beats_rms: f64,
    two_beats_max: f64,
    /// Steady state: tempo error σ and mean (BPM), phase RMS and max (ms).
    tempo_sigma: f64,
    tempo_bias: f64,
    phase_rms: f64,
    phase_max: f64,
    /// Steady state: share of ticks outside the lock criterion, %.
    unlocked_pct: f64,
    /// Ticks from Start to locked: median, max, trials never locked.
    lock: (usize, usize, usize),
    /// Ticks after the step to locked again (tempo and phase), and to the
    /// tempo alone within 0.5 %: median, max, trials never.
    relock: (usize, usize, usize),
    relock_tempo: (usize, usize, usize),
}

/// Median, max and how many are beyond `last`, the latest lock a trace can
/// still hold for 96 ticks.
fn summary(mut v: Vec<usize>, last: usize) -> (usize, usize, usize) {
    let missed = v.iter().filter(|&&x| x > last).count();
    let p50 = percentile(&mut v, 0.5);
    (p50, *v.iter().max().unwrap(), missed)
}

fn measure(kind: Kind) -> Row {
    let mut two_beats = vec![];
    let mut lock = vec![];
    for seed in 0..START_TRIALS {
        for (i, d) in DRIFTS.into_iter().enumerate() {
            let s = stream(300, 1000 + seed * 2 + i as u64, JITTER_MS, d, |_| 120.0);
            let tr = kind.trace(&s);
            two_beats.push(tr.tempo_err[47]);
            lock.push(lock_ticks(&tr, 0));
        }
    }
    let (mut tempo, mut phase, mut unlocked) = (vec![], vec![], 0usize);
    for seed in 0..STEADY_SEEDS {
        for d in DRIFTS {
            let s = stream(STEADY_TICKS, 2000 + seed, JITTER_MS, d, |_| 120.0);
            let tr = kind.trace(&s);
            tempo.extend_from_slice(&tr.tempo_err[SETTLE..]);
            phase.extend_from_slice(&tr.phase_ms[SETTLE..]);
            unlocked += (SETTLE..tr.phase_ms.len())
                .filter(|&j| !clock_streams::locked(&tr, j))
                .count();
        }
    }
    let (mut relock, mut relock_tempo) = (vec![], vec![]);
    for step in [1.1, 0.9] {
        for seed in 0..STEP_TRIALS {
            let d = DRIFTS[seed as usize % 2];
            let s = stream(STEP_TICKS, 3000 + seed, JITTER_MS, d, |i| {
                if i < STEP_AT {
                    120.0
                } else {
                    120.0 * step
                }
            });
            let tr = kind.trace(&s);
            // Tick STEP_AT + 1 is the first at the new tempo.
            relock.push(lock_ticks(&tr, STEP_AT + 1));
            relock_tempo.push(lock_ticks_by(&tr, STEP_AT + 1, |j| {
                tr.tempo_err[j].abs() <= 0.005 * tr.true_bpm[j]
            }));
        }
    }
    let all_nan = |v: &[f64]| v.iter().any(|x| x.is_nan());
    assert!(
        !all_nan(&tempo) && !all_nan(&phase) && !all_nan(&two_beats),
        "{}: no estimate where one is due",
        kind.name()
    );
    // Traces are one tick shorter than their stream (see `follow_with`).
    let never_start = 300 - 1 - 95;
    let never_step = STEP_TICKS - 1 - 95 - (STEP_AT + 1);
    Row {
        two_beats_rms: rms(&two_beats),
        two_beats_max: two_beats.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
        tempo_sigma: std_dev(&tempo),
        tempo_bias: mean(&tempo),
        phase_rms: rms(&phase),
        phase_max: phase.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
        unlocked_pct: 100.0 * unlocked as f64 / phase.len() as f64,
        lock: summary(lock, never_start),
        relock: summary(relock, never_step),
        relock_tempo: summary(relock_tempo, never_step),
    }
}

/// `median / max` ticks, or how many trials never got there.
fn ticks((p50, max, never): (usize, usize, usize), trials: u64) -> String {
    if never == 0 {
        format!("{p50} / {max}")
    } else if never as u64 * 2 >= trials {
        format!("never in {never} of {trials}")
    } else {
        format!("{p50} / never in {never} of {trials}")
    }
}

fn main() {
    // Arguments (`cargo bench` passes `--bench`) are ignored: one table.
    println!(
        "follower accuracy: 120 BPM, {JITTER_MS} ms RMS gaussian jitter, sender drift ±200 ppm; \
         2 beats and lock: {} runs from Start; steady state: {} runs of {STEADY_TICKS} ticks \
         (first {SETTLE} left out); step ×1.1 and ×0.9 after tick {STEP_AT}: {} runs each; \
         phase at the true time of the next tick; locked = tempo within 0.5 % and phase within \
         2 ms, held 96 ticks\n",
        START_TRIALS * 2,
        STEADY_SEEDS * 2,
        STEP_TRIALS
    );
    println!(
        "| follower | tempo error after 2 beats, RMS / max (BPM) | steady tempo σ (BPM) | \
         steady phase RMS / max (ms) | steady ticks out of lock | lock after Start, median / max (ticks) | \
         re-lock after ±10 % step, median / max (ticks) | tempo within 0.5 % after the step \
         (ticks) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let rows: Vec<(Kind, Row)> = Kind::ALL.iter().map(|&k| (k, measure(k))).collect();
    for (k, r) in &rows {
        println!(
            "| {} | {:.3} / {:.3} | {:.4} | {:.3} / {:.2} | {:.2} % | {} | {} | {} |",
            k.name(),
            r.two_beats_rms,
            r.two_beats_max,
            r.tempo_sigma,
            r.phase_rms,
            r.phase_max,
            r.unlocked_pct,
            ticks(r.lock, START_TRIALS * 2),
            ticks(r.relock, STEP_TRIALS * 2),
            ticks(r.relock_tempo, STEP_TRIALS * 2),
        );
    }
    println!();
    for (k, r) in &rows {
        println!(
            "{}: steady tempo error mean {:+.4} BPM",
            k.name(),
            r.tempo_bias
        );
    }
    // What docs/benchmarks/host-side.md claims: PhasorSync has the steadiest tempo, locks
    // and re-locks first, and its phase is at least as close to the grid as
    // the best baseline's (the DLL's loop is about as good at steady state;
    // 10 % margin). Fails (and with it `cargo xtask bench`) if not.
    let ours = &rows[0].1;
    for (k, r) in &rows[1..] {
        assert!(
            ours.tempo_sigma < r.tempo_sigma
                && ours.phase_rms < 1.1 * r.phase_rms
                && ours.lock.0 < r.lock.0
                && ours.relock.0 < r.relock.0,
            "PhasorSync (σ {:.4} BPM, phase {:.3} ms, lock {:?}, re-lock {:?}) is not ahead of \
             {} (σ {:.4}, phase {:.3}, lock {:?}, re-lock {:?})",
            ours.tempo_sigma,
            ours.phase_rms,
            ours.lock,
            ours.relock,
            k.name(),
            r.tempo_sigma,
            r.phase_rms,
            r.lock,
            r.relock
        );
    }
}
