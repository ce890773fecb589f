//! MIDI clock in → phasor, end to end through a real kernel sequencer:
//! `aplaymidi` plays a file of MIDI clock (Start, 125 BPM, a change to
//! 113.6 BPM, Stop, Song Position Pointer, Continue at 125 BPM, Stop) into the
//! **bundled** plugin's sequencer port; the plugin runs in the `clack-host`
//! test host whose audio thread calls `process()` paced like a 48 kHz sound
//! card (blocks of 256), with "Phasor source" = external and the period one
//! beat. The phasor recorded from the main audio output is compared, sample by
//! sample, with the sender's schedule (the file's tick times).
//!
//! The sender's grid starts when `aplaymidi` starts its queue, which is a
//! little after the test spawns it, and the plugin adds its latency: one
//! unknown constant. It is estimated from the recording (the offset that puts
//! the phasor closest to the grid over the whole run: three tempo segments and
//! a Song Position jump leave no other fit) and removed; what remains is the
//! phase error.
//!
//! Figures (printed): phase error p50/p99/max in ms per segment once settled,
//! lock time after Start and after Continue, the "External tempo" read-only
//! parameter (from its value events) against the file's tempo.
//!
//! Asserted, in one run with bounds that a loaded shared machine keeps:
//! every sample finite and in [0, 1), both channels equal, the phasor
//! moving, the ramp rising between wraps except at Start, Continue, xruns
//! and stalls; over the whole run the median |phase error| once settled
//! within [`LOCK_MS`]; per segment, unless a stall of the test host (a call
//! more than [`STALL_MS`] late, which moves the sample timeline by more than
//! a tick) hit it or the [`STALL_SHADOW_MS`] before it: the median within
//! [`LOCK_MS`], lock within [`LOCK_LIMIT_TICKS`] ticks of Start and
//! Continue, the ramp's own tempo and the shown tempo within
//! [`TEMPO_LIMIT`]; after a stall, the phase back within [`LOCK_MS`] by
//! 4-4.5 s; "External clock running" on, then off after the last Stop. The
//! p99 is printed, not asserted: on an emulated CPU the sender's own ticks
//! leave milliseconds late at times.
//!
//! Needs a kernel sequencer: run with `cargo xtask test` (natively where
//! `/dev/snd/seq` exists, in the project's qemu VM otherwise); only this test:
//! `cargo xtask test --kernel-only -- external_clock --nocapture`.

use crate::clap_host;
use crate::common;
use crate::common::figures::{abs_percentiles as percentiles, median};

use crate::common::{sleep_until, try_realtime};

use crate::clap_host::{instantiate, load_entry, process_block_with};
use clack_extensions::params::PluginParams;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::timeline::monotonic_ns;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const RATE: f64 = 48_000.0;
const FRAMES: u32 = 256;
/// How long the audio thread runs before `aplaymidi` starts: longer than
/// [`STALL_SHADOW_MS`], so that a stall while the first blocks after
/// activation run (an emulated CPU translating fresh code) is over before
/// the first segment.
const PRE_ROLL: Duration = Duration::from_secs(5);
/// Longest recording kept (the file lasts about 17.5 s).
const MAX_SECONDS: usize = 40;
/// How long after an xrun the phasor is left out of the figures.
const XRUN_SHADOW_MS: f64 = 50.0;
/// A host call this late (more than a tick at 125 BPM) moves the sample
/// timeline by more than a tick: the phasor may jump with it (by design, on
/// an error over one tick) and then slews back at 0.5 %, which takes up to
/// 4 s. The settled figures leave out [`STALL_SHADOW_MS`] after one;
/// what happens there is reported apart, and by its end the phase must be
/// back within [`LOCK_MS`].
const STALL_MS: f64 = 20.0;
/// An error of up to a tick (20 ms) slewed out at 0.5 % takes 4 s.
const STALL_SHADOW_MS: f64 = 4500.0;
/// Ticks after Start or Continue by which the phasor must be locked (the
/// follower's target is 24 on synthetic streams, and it locks within one or
/// two on a quiet machine). Under load a tick placed after its sample (the
/// plugin counts and logs it) moves the phasor by its lateness, which the
/// follower slews out at 0.5 %: 77 ticks after a Continue were seen. A
/// Continue that missed its song position would be a beat or more off,
/// which takes hundreds of beats to slew out: still far beyond this bar.
const LOCK_LIMIT_TICKS: f64 = 96.0;
/// "Locked": phase error within this, held for [`LOCK_HOLD_MS`].
const LOCK_MS: f64 = 2.0;
const LOCK_HOLD_MS: f64 = 1000.0;

/// One part of the sender's schedule where the clock runs at one tempo.
struct Segment {
    name: &'static str,
    /// File time (ms) of its first and last tick.
    from_ms: f64,
    to_ms: f64,
    bpm: f64,
    /// The segment starts with Start or Continue (the phasor may jump).
    restart: bool,
}

/// The sender: every tick's file time (ms) and song position (beats), the
/// file's bytes, the segments.
struct Schedule {
    ticks: Vec<(f64, f64)>,
    segments: Vec<Segment>,
    /// File time (ms) of Stop messages.
    stops: Vec<f64>,
    file: std::path::PathBuf,
}

/// Clock, Start, Continue, Stop, Song Position Pointer: real-time and system
/// common bytes go in a file as escapes (`F7 len bytes`).
const CLOCK: u8 = 0xF8;
const START: u8 = 0xFA;
const CONTINUE: u8 = 0xFB;
const STOP: u8 = 0xFC;

/// 500 ms of silence, Start, 240 ticks at 125 BPM (20 ms, exact in the
/// file's 1 ms ticks), 240 at 113.6 BPM (22 ms: a -9.1 % step, the issue's
/// ±10 %), Stop; 0.7 s later Song
/// Position Pointer to beat 8 (32 sixteenths), Continue, 240 ticks at
/// 125 BPM, Stop.
fn schedule() -> Schedule {
    let mut b = Builder::default();
    b.at(500, &[START]);
    b.t += 10;
    b.ticks(0.0, 240, 20, "125 BPM after Start", true);
    b.t += 22;
    b.ticks(10.0, 240, 22, "113.6 BPM after the change", false);
    b.t += 10;
    b.stop();
    b.t += 700;
    b.at(b.t, &[0xF2, 32, 0]);
    b.t += 500;
    b.at(b.t, &[CONTINUE]);
    b.t += 10;
    b.ticks(8.0, 240, 20, "125 BPM after SPP + Continue", true);
    b.t += 10;
    b.stop();

    let mut smf = common::Smf::new();
    let mut now = 0;
    for (at, bytes) in &b.events {
        smf.escaped(at - now, bytes);
        now = *at;
    }
    Schedule {
        ticks: b.ticks,
        segments: b.segments,
        stops: b.stops,
        file: smf.write_temp(),
    }
}

/// The schedule being written; `t` is the file time (ms) of the next event.
#[derive(Default)]
struct Builder {
    t: u32,
    events: Vec<(u32, Vec<u8>)>,
    ticks: Vec<(f64, f64)>,
    segments: Vec<Segment>,
    stops: Vec<f64>,
}

impl Builder {
    fn at(&mut self, t: u32, bytes: &[u8]) {
        self.t = t;
        self.events.push((t, bytes.to_vec()));
    }

    fn stop(&mut self) {
        self.at(self.t, &[STOP]);
        self.stops.push(f64::from(self.t));
    }

    /// `n` ticks `period` ms apart from `t`, the first at song position
    /// `first_beat`; `t` ends at the last.
    fn ticks(&mut self, first_beat: f64, n: usize, period: u32, name: &'static str, restart: bool) {
        let from = self.t;
        for i in 0..n {
            if i > 0 {
                self.t += period;
            }
            self.at(self.t, &[CLOCK]);
            self.ticks
                .push((f64::from(self.t), first_beat + i as f64 / 24.0));
        }
        self.segments.push(Segment {
            name,
            from_ms: f64::from(from),
            to_ms: f64::from(self.t),
            bpm: 60_000.0 / (24.0 * f64::from(period)),
            restart,
        });
    }
}

impl Schedule {
    /// The sender's song position at file time `ms` while its clock runs
    /// (between the first and last tick of a segment), else `None`.
    fn beat_at(&self, ms: f64) -> Option<(f64, f64)> {
        let seg = self
            .segments
            .iter()
            .find(|s| (s.from_ms..s.to_ms).contains(&ms))?;
        let i = self.ticks.partition_point(|&(t, _)| t <= ms) - 1;
        let ((t0, b0), (t1, b1)) = (self.ticks[i], self.ticks[i + 1]);
        Some((b0 + (ms - t0) / (t1 - t0) * (b1 - b0), seg.bpm))
    }
}

/// Set parameters (CLAP id, value) before activation, as a user would.
fn set_params(plugin: &mut PluginInstance<clap_host::TestHost>, values: &[(usize, f64)]) {
    let mut handle = plugin.inactive_plugin_handle().expect("inactive");
    let params = handle.get_extension::<PluginParams>().expect("params");
    let mut input = EventBuffer::with_capacity(values.len());
    for &(i, v) in values {
        input.push(&ParamValueEvent::new(
            0,
            ClapId::new(PARAMS[i].id),
            Pckn::match_all(),
            v,
        ));
    }
    params.flush(
        &mut handle,
        &input.as_input(),
        &mut EventBuffer::new().as_output(),
    );
}

/// What the paced audio thread saw.
struct Run {
    /// Block k was due at `t0 + k * FRAMES / RATE`.
    t0: u64,
    /// Actual call time of each block.
    calls: Vec<u64>,
    /// The phasor, channel 0.
    phasor: Vec<f32>,
    /// Samples where channel 1 differed from channel 0.
    channel_mismatch: usize,
    /// Parameter value events out: (absolute sample, CLAP id, value).
    params: Vec<(u64, u32, f64)>,
    /// CLOCK_MONOTONIC just before `aplaymidi` was spawned.
    spawned: u64,
}

fn run(schedule: &Schedule) -> Run {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    // External clock, one beat per ramp; a fixed latency of two blocks (a
    // change of the latency in use, as Auto makes, moves the phasor by the
    // change: one constant is what the analysis removes).
    set_params(
        &mut plugin,
        &[
            (index::PHASOR_SOURCE, 2.0),
            (index::PHASOR_PERIOD, 2.0),
            (index::LATENCY, 2.0),
        ],
    );
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let input = clap_host::plugin_input(&plugin);
    let done = AtomicBool::new(false);
    let (mut run, processor) = std::thread::scope(|s| {
        let audio = s.spawn(|| {
            try_realtime();
            let mut p = processor.start_processing().unwrap();
            let frames = FRAMES as usize;
            let period_ns = f64::from(FRAMES) * 1e9 / RATE;
            let max_blocks = MAX_SECONDS * RATE as usize / frames;
            let mut calls = Vec::with_capacity(max_blocks);
            let mut phasor = Vec::with_capacity(max_blocks * frames);
            let mut params = Vec::with_capacity(4096);
            let (mut left, mut right) = (vec![0f32; frames], vec![0f32; frames]);
            let mut mismatch = 0;
            let mut output = EventBuffer::with_capacity(1024);
            let input = EventBuffer::with_capacity(0);
            let t0 = monotonic_ns() + 20_000_000;
            let mut k = 0u64;
            while !done.load(Ordering::Acquire) && calls.len() < max_blocks {
                sleep_until(t0 + (k as f64 * period_ns) as u64);
                calls.push(monotonic_ns());
                output.clear();
                left.fill(f32::NAN);
                right.fill(f32::NAN);
                process_block_with(
                    &mut p,
                    FRAMES,
                    &input,
                    &mut output,
                    None,
                    &mut [&mut left, &mut right],
                );
                phasor.extend_from_slice(&left);
                mismatch += left
                    .iter()
                    .zip(&right)
                    .filter(|(l, r)| l.to_bits() != r.to_bits())
                    .count();
                for e in output.iter() {
                    if let Some(CoreEventSpace::ParamValue(v)) = e.as_core_event() {
                        if let Some(id) = v.param_id() {
                            let at = k * u64::from(FRAMES) + u64::from(e.header().time());
                            params.push((at, u32::from(id), v.value()));
                        }
                    }
                }
                k += 1;
            }
            let run = Run {
                t0,
                calls,
                phasor,
                channel_mismatch: mismatch,
                params,
                spawned: 0,
            };
            (run, p.stop_processing())
        });
        std::thread::sleep(PRE_ROLL);
        let spawned = monotonic_ns();
        common::aplaymidi(&input, &schedule.file, Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(300));
        done.store(true, Ordering::Release);
        let (mut run, p) = audio.join().expect("audio thread");
        run.spawned = spawned;
        (run, p)
    });
    plugin.deactivate(processor);
    run.phasor.shrink_to_fit();
    run
}

/// Least-squares slope of y over x (0 with fewer than two points).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

/// The recording read against the schedule.
struct Analysis<'a> {
    run: &'a Run,
    schedule: &'a Schedule,
    /// Samples usable for figures (not just after an xrun).
    usable: Vec<bool>,
}

impl Analysis<'_> {
    /// Milliseconds after `aplaymidi` was spawned at which sample `n` plays
    /// on the paced "card".
    fn card_ms(&self, n: usize) -> f64 {
        let t = self.run.t0 as f64 + n as f64 * 1e9 / RATE;
        (t - self.run.spawned as f64) / 1e6
    }

    /// Phase error (ms, at the segment's tempo) of sample `n` if the
    /// sender's file time is the card's time minus `offset_ms`; `None` where
    /// the sender's clock is not running.
    fn error_ms(&self, n: usize, offset_ms: f64) -> Option<f64> {
        let (beat, bpm) = self.schedule.beat_at(self.card_ms(n) - offset_ms)?;
        let want = beat.rem_euclid(1.0);
        let got = f64::from(self.run.phasor[n]);
        let e = (got - want + 0.5).rem_euclid(1.0) - 0.5;
        Some(e * 60_000.0 / bpm)
    }

    /// The offset (ms) that puts the phasor closest to the grid: a coarse
    /// search over 0…1 s (the sender's start after the spawn, plus the
    /// plugin's latency), scored by a clipped squared error so that the
    /// unlocked first ticks do not decide, then refined by the median error.
    fn offset_ms(&self) -> f64 {
        let points: Vec<usize> = (0..self.run.phasor.len())
            .step_by(FRAMES as usize)
            .filter(|&n| self.usable[n])
            .collect();
        // Mean clipped squared error over the points where the sender runs.
        let score = |off: f64| -> f64 {
            let (sum, count) = points
                .iter()
                .filter_map(|&n| self.error_ms(n, off))
                .fold((0.0, 0usize), |(s, c), e| {
                    (s + e.abs().min(5.0).powi(2), c + 1)
                });
            if count < points.len() / 4 {
                f64::INFINITY
            } else {
                sum / count as f64
            }
        };
        let best = |from: f64, to: f64, step: f64| -> f64 {
            let n = ((to - from) / step) as usize;
            (0..=n)
                .map(|i| from + i as f64 * step)
                .min_by(|&a, &b| score(a).total_cmp(&score(b)))
                .unwrap()
        };
        let coarse = best(0.0, 1000.0, 1.0);
        let fine = best(coarse - 1.0, coarse + 1.0, 0.05);
        // A constant error left at `fine` (finer than its step) is offset
        // too: an error of +d ms is the grid d ms earlier.
        let errs: Vec<f64> = points
            .iter()
            .filter_map(|&n| self.error_ms(n, fine))
            .filter(|e| e.abs() < 5.0)
            .collect();
        assert!(
            errs.len() > points.len() / 4,
            "the phasor fits the sender's grid at no offset within 1 s ({} of {} points within 5 ms at the best, {fine:.2} ms)",
            errs.len(),
            points.len()
        );
        fine - median(&errs)
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn external_clock_drives_the_phasor_on_the_senders_grid() {
    common::require_sequencer();
    let schedule = schedule();
    let run = run(&schedule);
    let failures = judge(&run, &schedule);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// How punctually the test host's "card" was served in a run.
struct Conditions {
    /// Per block: called more than a period late.
    xrun: Vec<bool>,
    /// Per sample: not within [`XRUN_SHADOW_MS`] after an xrun.
    usable: Vec<bool>,
    /// Blocks called more than [`STALL_MS`] late, in order.
    stall_blocks: Vec<usize>,
    /// Per block: ms since the last stall (a stall moves the plugin's
    /// sample timeline, which outlives Start and Continue: every stall
    /// counts for every segment after it).
    since_stall: Vec<f64>,
    /// Per block: µs after its deadline.
    wake_us: Vec<f64>,
}

impl Conditions {
    fn of(run: &Run) -> Self {
        let period_ns = f64::from(FRAMES) * 1e9 / RATE;
        let wake_us: Vec<f64> = run
            .calls
            .iter()
            .enumerate()
            .map(|(k, &c)| (c as f64 - (run.t0 as f64 + k as f64 * period_ns)) / 1e3)
            .collect();
        let xrun: Vec<bool> = wake_us.iter().map(|&w| w * 1e3 > period_ns).collect();
        let shadow = ((XRUN_SHADOW_MS * 1e6 / period_ns).ceil() as usize).max(8);
        let usable = (0..run.phasor.len())
            .map(|s| {
                let k = s / FRAMES as usize;
                !xrun[k.saturating_sub(shadow)..=k].iter().any(|&x| x)
            })
            .collect();
        let mut stall_blocks: Vec<usize> = Vec::new();
        let mut since_stall = vec![f64::INFINITY; wake_us.len()];
        for (k, &w) in wake_us.iter().enumerate() {
            if w > STALL_MS * 1e3 {
                stall_blocks.push(k);
            }
            if let Some(&j) = stall_blocks.last() {
                since_stall[k] = (k - j) as f64 * period_ns / 1e6;
            }
        }
        Conditions {
            xrun,
            usable,
            stall_blocks,
            since_stall,
            wake_us,
        }
    }

    fn print(&self, n: usize) {
        let (w50, w99, wmax) = percentiles(&self.wake_us);
        let xruns = self.xrun.iter().filter(|&&x| x).count();
        println!(
            "external MIDI clock → phasor, {n} samples at 48 kHz in blocks of {FRAMES}; audio \
             thread woke p50 {w50:.0} us, p99 {w99:.0} us, max {wmax:.0} us after its deadline; \
             {xruns} xruns ({:.1} % of samples left out, {XRUN_SHADOW_MS} ms after each); {} host \
             calls more than {STALL_MS} ms late",
            100.0 * self.usable.iter().filter(|&&u| !u).count() as f64 / n as f64,
            self.stall_blocks.len()
        );
    }
}

/// The checks of the module docs on one run: the failures. One run, no
/// retries: what a stall of the test host (the shared machine's doing, not
/// the plugin's) hides is printed as not judged, and what stays is judged
/// with bounds a loaded machine keeps.
fn judge(run: &Run, schedule: &Schedule) -> Vec<String> {
    let n = run.phasor.len();
    assert!(n > 0, "no audio recorded");
    let c = Conditions::of(run);
    c.print(n);
    // Always: finite, in [0, 1), both channels alike, moving.
    let bad: Vec<(usize, f32)> = run
        .phasor
        .iter()
        .enumerate()
        .filter(|(_, &x)| !(x.is_finite() && (0.0..1.0).contains(&x)))
        .map(|(i, &x)| (i, x))
        .take(10)
        .collect();
    assert!(bad.is_empty(), "phasor samples outside [0, 1): {bad:?}");
    assert_eq!(run.channel_mismatch, 0, "channels 0 and 1 differ");
    let moving = run.phasor.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        moving > n / 2,
        "the phasor hardly moves ({moving} of {n} samples): is the clock reaching the plugin?"
    );
    let a = Analysis {
        run,
        schedule,
        usable: c.usable.clone(),
    };
    let offset = a.offset_ms();
    println!(
        "sender's grid: {offset:.2} ms after aplaymidi was spawned, plugin latency included \
         (one constant, estimated from the recording)"
    );
    let mut failures = Vec::new();
    let mut settled_all = Vec::new();
    let (mut stall_errors, mut recovered) = (Vec::new(), Vec::new());
    for seg in &schedule.segments {
        let s = judge_segment(&a, &c, seg, offset);
        settled_all.extend(s.settled);
        stall_errors.extend(s.stall_errors);
        recovered.extend(s.recovered);
        failures.extend(s.failures);
    }
    // Over the whole run: the phasor sits on the sender's grid.
    let whole = median(&settled_all.iter().map(|e| e.abs()).collect::<Vec<_>>());
    println!(
        "the whole run: median |phase error| once settled {whole:.2} ms ({} points)",
        settled_all.len()
    );
    if settled_all.is_empty() || whole > LOCK_MS {
        failures.push(format!(
            "the whole run: median |phase error| once settled {whole:.2} ms > {LOCK_MS} ms \
             ({} points)",
            settled_all.len()
        ));
    }
    failures.extend(judge_stalls(&c, &stall_errors, &recovered));
    failures.extend(judge_steps_back(&a, &c, offset));
    failures.extend(judge_running(&a, offset));
    failures
}

/// What one segment showed.
struct SegmentOutcome {
    failures: Vec<String>,
    /// Signed phase errors once settled, away from xruns and stalls.
    settled: Vec<f64>,
    /// Errors within [`STALL_SHADOW_MS`] after a stall.
    stall_errors: Vec<f64>,
    /// Errors in the last 500 ms of that shadow.
    recovered: Vec<f64>,
}

/// One segment: figures printed; the median |error| once settled, the lock
/// after Start and Continue, the ramp's tempo and the shown tempo judged
/// unless a stall hit it or xruns left too little of it.
fn judge_segment(a: &Analysis, c: &Conditions, seg: &Segment, offset: f64) -> SegmentOutcome {
    let pts = SegmentPoints::of(a, c, seg, offset);
    // A stall in the segment, or in the shadow before it, or xruns over
    // half of it: this run cannot judge the segment.
    let stalled = c.stall_blocks.iter().any(|&j| {
        let ms = a.card_ms(j * FRAMES as usize) - offset;
        ms >= seg.from_ms - STALL_SHADOW_MS && ms < seg.to_ms
    });
    let thin = pts.usable <= pts.samples / 2;
    let s = Settling::of(seg, &pts.errors);
    let figures = segment_figures(a, seg, offset, &pts.errors, &s.points, s.lock_ms);
    let failures = if stalled || thin || s.settled.is_empty() {
        println!(
            "{:<32} not judged in this run: {}",
            "",
            if stalled {
                "a host stall hit it (or the 4.5 s before it)"
            } else {
                "xruns left too few samples"
            }
        );
        Vec::new()
    } else {
        segment_failures(seg, &s, figures)
    };
    SegmentOutcome {
        failures,
        settled: if stalled || thin {
            Vec::new()
        } else {
            s.settled
        },
        stall_errors: pts.stall_errors,
        recovered: pts.recovered,
    }
}

/// A segment's points (every 8th sample of it), sorted by the test host's
/// punctuality: usable and away from stalls, in a stall's shadow, at the
/// shadow's end.
struct SegmentPoints {
    /// How many points the segment has, and how many are usable.
    samples: usize,
    usable: usize,
    /// (ms into the segment, error) away from stalls, in time order.
    errors: Vec<(f64, f64)>,
    /// Errors within [`STALL_SHADOW_MS`] after a stall.
    stall_errors: Vec<f64>,
    /// Errors in the last 500 ms of that shadow.
    recovered: Vec<f64>,
}

impl SegmentPoints {
    fn of(a: &Analysis, c: &Conditions, seg: &Segment, offset: f64) -> Self {
        let frames = FRAMES as usize;
        let in_seg = |n: usize| (seg.from_ms..seg.to_ms).contains(&(a.card_ms(n) - offset));
        let step = 8; // every 8th sample: 32 points a block
        let samples: Vec<usize> = (0..a.run.phasor.len())
            .step_by(step)
            .filter(|&s| in_seg(s))
            .collect();
        // (ms into the segment, error, ms since the last stall)
        let all_usable: Vec<(f64, f64, f64)> = samples
            .iter()
            .filter(|&&s| a.usable[s])
            .filter_map(|&s| {
                Some((
                    a.card_ms(s) - offset - seg.from_ms,
                    a.error_ms(s, offset)?,
                    c.since_stall[s / frames],
                ))
            })
            .collect();
        let errors: Vec<(f64, f64)> = all_usable
            .iter()
            .filter(|p| p.2 >= STALL_SHADOW_MS)
            .map(|p| (p.0, p.1))
            .collect();
        let stall_errors = all_usable
            .iter()
            .filter(|p| p.2 < STALL_SHADOW_MS)
            .map(|p| p.1)
            .collect();
        let recovered = all_usable
            .iter()
            .filter(|p| p.2 >= STALL_SHADOW_MS - 500.0 && p.2 < STALL_SHADOW_MS)
            .map(|p| p.1)
            .collect();
        SegmentPoints {
            samples: samples.len(),
            usable: all_usable.len(),
            errors,
            stall_errors,
            recovered,
        }
    }
}

/// When a segment's phasor counts as settled, and its points from then.
struct Settling {
    tick_ms: f64,
    lock_ms: Option<f64>,
    /// (ms into the segment, error) once settled.
    points: Vec<(f64, f64)>,
    /// Their errors.
    settled: Vec<f64>,
}

impl Settling {
    fn of(seg: &Segment, errors: &[(f64, f64)]) -> Self {
        let tick_ms = 60_000.0 / (24.0 * seg.bpm);
        let lock_ms = lock_time(errors);
        // Settled: one beat after the segment's start (two after a tempo
        // change, which the phasor follows by slewing), or lock if later.
        let settle_ms = match (seg.restart, lock_ms) {
            (true, Some(l)) => l.max(24.0 * tick_ms),
            (true, None) => 24.0 * tick_ms,
            (false, _) => 48.0 * tick_ms,
        };
        let points: Vec<(f64, f64)> = errors
            .iter()
            .filter(|&&(t, _)| t >= settle_ms)
            .copied()
            .collect();
        let settled: Vec<f64> = points.iter().map(|&(_, e)| e).collect();
        Settling {
            tick_ms,
            lock_ms,
            points,
            settled,
        }
    }
}

/// A judged segment's failures: the median |error| once settled, the
/// ramp's tempo, the lock after Start or Continue, the shown tempo.
fn segment_failures(seg: &Segment, s: &Settling, figures: SegmentFigures) -> Vec<String> {
    let (settled, tick_ms, lock_ms) = (&s.settled, s.tick_ms, s.lock_ms);
    let mut failures = Vec::new();
    let m = median(&settled.iter().map(|e| e.abs()).collect::<Vec<_>>());
    if m > LOCK_MS {
        failures.push(format!(
            "{}: median |phase error| once settled {m:.2} ms > {LOCK_MS} ms",
            seg.name
        ));
    }
    if s.points.len() > 100 && figures.tempo_err.abs() > TEMPO_LIMIT {
        failures.push(format!(
            "{}: the phasor ran at {:.3} BPM, sender {:.1}",
            seg.name,
            seg.bpm * (1.0 + figures.tempo_err),
            seg.bpm
        ));
    }
    if seg.restart && !lock_ms.is_some_and(|l| l / tick_ms <= LOCK_LIMIT_TICKS) {
        failures.push(format!(
            "{}: not locked within {LOCK_LIMIT_TICKS} ticks ({})",
            seg.name, figures.lock_text
        ));
    }
    if let Some(f) = figures.shown_tempo_failure {
        failures.push(f);
    }
    failures
}

/// Largest error of the ramp's own tempo, and of the shown tempo, against
/// the sender's (the follower's target on a steady clock is far inside).
const TEMPO_LIMIT: f64 = 0.005;

/// When the phasor locked: the first point after which |error| stays
/// within [`LOCK_MS`] for [`LOCK_HOLD_MS`], with at least a quarter of that
/// window's points usable; `errors` (ms into the segment, error) in time
/// order.
fn lock_time(errors: &[(f64, f64)]) -> Option<f64> {
    let step = 8.0;
    let needed = (LOCK_HOLD_MS * 1e-3 * RATE / step / 4.0) as usize;
    // Linear: prefix counts of bad points, the window's end by two pointers.
    let mut bad_before = vec![0usize; errors.len() + 1];
    for (i, &(_, e)) in errors.iter().enumerate() {
        bad_before[i + 1] = bad_before[i] + usize::from(e.abs() > LOCK_MS);
    }
    let mut end = 0;
    (0..errors.len())
        .find(|&i| {
            while end < errors.len() && errors[end].0 < errors[i].0 + LOCK_HOLD_MS {
                end += 1;
            }
            end - i >= needed && bad_before[end] == bad_before[i]
        })
        .map(|i| errors[i].0)
}

/// A segment's printed figures and the two tempo readings.
struct SegmentFigures {
    /// The ramp's own tempo against the sender's, relative.
    tempo_err: f64,
    lock_text: String,
    /// The shown tempo's failure, if it was off at the segment's end.
    shown_tempo_failure: Option<String>,
}

fn segment_figures(
    a: &Analysis,
    seg: &Segment,
    offset: f64,
    errors: &[(f64, f64)],
    settled_points: &[(f64, f64)],
    lock_ms: Option<f64>,
) -> SegmentFigures {
    let tick_ms = 60_000.0 / (24.0 * seg.bpm);
    let settled: Vec<f64> = settled_points.iter().map(|&(_, e)| e).collect();
    let all: Vec<f64> = errors.iter().map(|&(_, e)| e).collect();
    let (p50, p99, max) = percentiles(&settled);
    let (_, a99, amax) = percentiles(&all);
    // An error growing by x ms per ms is a ramp at 1 + x times the tempo.
    let tempo_err = slope(settled_points);
    let lock_text = lock_ms.map_or("never".into(), |l| {
        format!("{l:.0} ms = {:.1} ticks", l / tick_ms)
    });
    println!(
        "{:<32} |phase error| once settled ({} points) p50 {p50:.2} p99 {p99:.2} max {max:.2} \
         ms, median signed {:+.2} ms; whole segment p99 {a99:.2} max {amax:.2} ms; locked \
         ({LOCK_MS} ms held {LOCK_HOLD_MS} ms) after {lock_text}; the ramp's tempo {:.3} BPM \
         ({:+.3} %)",
        seg.name,
        settled.len(),
        median(&settled),
        seg.bpm * (1.0 + tempo_err),
        100.0 * tempo_err
    );
    // The shown tempo (read-only parameter, 0.1 BPM steps): its last value
    // in the segment.
    let tempo_id = PARAMS[index::EXT_TEMPO].id;
    let last = a
        .run
        .params
        .iter()
        .filter(|&&(_, id, _)| id == tempo_id)
        .map(|&(s, _, v)| (a.card_ms(s as usize) - offset - seg.from_ms, v))
        .rfind(|&(t, _)| t <= seg.to_ms - seg.from_ms)
        .map(|(_, v)| v);
    let shown_tempo_failure = match last {
        Some(v) if (v - seg.bpm).abs() <= TEMPO_LIMIT * seg.bpm => {
            println!(
                "{:<32} shown tempo {v:.1} BPM (sender {:.1}, error {:+.2} %)",
                "",
                seg.bpm,
                100.0 * (v - seg.bpm) / seg.bpm
            );
            None
        }
        other => Some(format!(
            "{}: shown tempo {other:?} at the segment's end, sender {:.1} BPM",
            seg.name, seg.bpm
        )),
    };
    SegmentFigures {
        tempo_err,
        lock_text,
        shown_tempo_failure,
    }
}

/// After the host's stalls: what the phasor did, and that it came back
/// (the median of the shadow's last 500 ms within [`LOCK_MS`]).
fn judge_stalls(c: &Conditions, stall_errors: &[f64], recovered: &[f64]) -> Vec<String> {
    let stalls = c.stall_blocks.len();
    if stall_errors.is_empty() {
        println!("host calls more than {STALL_MS} ms late: {stalls}; no sample after one in the segments");
        return Vec::new();
    }
    let (_, s99, smax) = percentiles(stall_errors);
    let back = median(&recovered.iter().map(|e| e.abs()).collect::<Vec<_>>());
    println!(
        "host calls more than {STALL_MS} ms late: {stalls}; within {STALL_SHADOW_MS} ms after \
         one ({} points, left out above): |phase error| p99 {s99:.2} max {smax:.2} ms; in the \
         last 500 ms of that window ({} points) median {back:.2} ms",
        stall_errors.len(),
        recovered.len()
    );
    if back > LOCK_MS {
        vec![format!(
            "the phase was {back:.2} ms off (median) {} ms after a host stall (> {LOCK_MS} ms)",
            STALL_SHADOW_MS - 500.0
        )]
    } else {
        Vec::new()
    }
}

/// Rising between wraps, except where the sender restarts (Start, SPP +
/// Continue: a jump to the new position), after an xrun (the sample
/// timeline broke: a jump back to the grid is right) and within a second
/// after a stall (likewise, once the timeline has re-anchored).
fn judge_steps_back(a: &Analysis, c: &Conditions, offset: f64) -> Vec<String> {
    let restart_ms: Vec<f64> = a
        .schedule
        .segments
        .iter()
        .filter(|s| s.restart)
        .map(|s| s.from_ms)
        .collect();
    let frames = FRAMES as usize;
    let (backwards, excused): (Vec<_>, Vec<_>) = a
        .run
        .phasor
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] < w[0] && w[0] - w[1] < 0.5)
        .map(|(i, w)| (i + 1, a.card_ms(i + 1) - offset, w[0], w[1]))
        .filter(|&(_, ms, _, _)| {
            !restart_ms
                .iter()
                .any(|&r| (r - 30.0..r + 60.0).contains(&ms))
        })
        .partition(|&(i, _, _, _)| a.usable[i] && c.since_stall[i / frames] >= 1000.0);
    println!(
        "phasor steps back {} times outside Start/Continue, xruns and stalls, {} times after \
         an xrun or stall",
        backwards.len(),
        excused.len()
    );
    if backwards.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the phasor stepped back {} times (sample, sender ms, from, to): {:?}",
        backwards.len(),
        &backwards[..backwards.len().min(8)]
    )]
}

/// "External clock running": on during the segments, off after the last
/// Stop. Off while the sender runs (ticks reached the plugin more than 3.5
/// periods apart: the machine stalled) is printed, not judged.
fn judge_running(a: &Analysis, offset: f64) -> Vec<String> {
    let running_id = PARAMS[index::EXT_RUNNING].id;
    let running: Vec<(f64, f64)> = a
        .run
        .params
        .iter()
        .filter(|&&(_, id, _)| id == running_id)
        .map(|&(s, _, v)| (a.card_ms(s as usize) - offset, v))
        .collect();
    println!("\"External clock running\" changes (sender ms, value): {running:?}");
    let dropouts = running
        .iter()
        .filter(|&&(ms, v)| {
            v == 0.0
                && a.schedule
                    .segments
                    .iter()
                    .any(|s| (s.from_ms + 50.0..s.to_ms - 10.0).contains(&ms))
        })
        .count();
    println!("clock dropouts seen by the plugin while the sender ran: {dropouts}");
    let last_stop = *a.schedule.stops.last().unwrap();
    let final_running = running.last().map(|&(_, v)| v);
    if final_running != Some(0.0) || running.iter().all(|&(_, v)| v != 1.0) {
        return vec![format!(
            "\"External clock running\" never went on and off again (last Stop at {last_stop} \
             ms): {running:?}"
        )];
    }
    Vec::new()
}

#[test]
fn the_analysis_finds_a_known_offset() {
    let schedule = schedule();
    let spawned = 5_000_000_000u64;
    let t0 = spawned - 2_000_000_000;
    let true_offset = 123.4;
    let n = (21.0 * RATE) as usize;
    let card_ms = |s: usize| (t0 as f64 + s as f64 * 1e9 / RATE - spawned as f64) / 1e6;
    let phasor: Vec<f32> = (0..n)
        .map(|s| {
            schedule
                .beat_at(card_ms(s) - true_offset)
                .map_or(0.0, |(b, _)| b.rem_euclid(1.0) as f32)
        })
        .collect();
    let run = Run {
        t0,
        calls: vec![],
        phasor,
        channel_mismatch: 0,
        params: vec![],
        spawned,
    };
    let a = Analysis {
        run: &run,
        schedule: &schedule,
        usable: vec![true; n],
    };
    let found = a.offset_ms();
    assert!((found - true_offset).abs() < 0.05, "offset {found} ms");
    let worst = (0..n)
        .step_by(97)
        .filter_map(|s| a.error_ms(s, found))
        .fold(0.0f64, |m, e| m.max(e.abs()));
    // f32 samples: 1e-7 of a beat is well under a microsecond.
    assert!(worst < 0.05, "worst error {worst} ms on a perfect phasor");
}
