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
//! parameter (from its value events) against the file's tempo. Asserted:
//! every sample finite and in [0, 1), both channels equal, the ramp rising
//! between wraps except at Start and Continue, p99 phase error within
//! [`P99_LIMIT_MS`] once settled, lock within [`LOCK_LIMIT_TICKS`] ticks of
//! Start, the shown tempo and the ramp's own tempo within 0.5 %, and the
//! phase back within 2 ms by 4-4.5 s after a stall of the test host (a call
//! more than [`STALL_MS`] late, which moves the sample timeline by more than
//! a tick: the seconds after one are reported apart, not in the settled
//! figures). Checks that fail where such a stall hit are measured again in
//! another run, up to [`ATTEMPTS`] runs; where no stall hit, they must pass
//! as they are.
//!
//! Needs a kernel sequencer: run with `cargo xtask test` (natively where
//! `/dev/snd/seq` exists, in the project's qemu VM otherwise); only this test:
//! `cargo xtask test --kernel-only -- external_clock --nocapture`.

mod clap_host;
mod common;
use common::figures::{abs_percentiles as percentiles, median};

use common::{sleep_until, try_realtime};

use clack_extensions::params::PluginParams;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use clap_host::{instantiate, load_entry, logs, process_block_with};
use phasorsync::backend::alsa_seq::queue_time::monotonic_ns;
use phasorsync::plugin::params::{index, PARAMS};
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
/// Settled p99 phase error allowed in the VM (the target on hardware is
/// 2 ms at lock; an emulated CPU delivers ticks milliseconds late at times).
const P99_LIMIT_MS: f64 = 5.0;
/// Ticks after Start by which the phasor must be locked (the follower's
/// target is 24 on synthetic streams).
const LOCK_LIMIT_TICKS: f64 = 48.0;
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

/// `client:port` of the plugin instance's input, from its own log line
/// `ALSA sequencer client N "NAME": MIDI in N:P, …`.
fn plugin_input(plugin: &PluginInstance<clap_host::TestHost>) -> String {
    for (_, line) in logs(plugin) {
        if let Some(rest) = line.split("MIDI in ").nth(1) {
            return rest.split(',').next().unwrap().trim().to_string();
        }
    }
    panic!(
        "the plugin did not log its sequencer address: {:?}",
        logs(plugin)
    );
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
    // External clock, one beat per ramp.
    set_params(
        &mut plugin,
        &[(index::PHASOR_SOURCE, 2.0), (index::PHASOR_PERIOD, 2.0)],
    );
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let input = plugin_input(&plugin);
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

/// Attempts of the run. The checks fall into scopes: each segment of the
/// schedule, and the whole run. A scope that fails in a run where the
/// emulated machine stalled the test host's audio thread in it (a call more
/// than [`STALL_MS`] late, which moves the sample timeline by more than a
/// tick) or left too few samples to measure is measured again in the next
/// run; a scope that fails without that fails the test at once, and so does
/// one that never passes within this many runs. Every scope must pass in
/// one run; not all in the same run (on a shared machine whose hypervisor
/// steals a quarter of the CPU, seen 1 Dec 2026, few runs of 20 s are free
/// of stalls from end to end).
const ATTEMPTS: usize = 8;

/// The scope of the checks that are not a segment's.
const WHOLE_RUN: &str = "the whole run";

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn external_clock_drives_the_phasor_on_the_senders_grid() {
    common::require_sequencer();
    let schedule = schedule();
    let scopes: Vec<&str> = schedule
        .segments
        .iter()
        .map(|s| s.name)
        .chain([WHOLE_RUN])
        .collect();
    // A failure's scope: the segment its text starts with, else the run.
    let scope_of = |f: &str| {
        scopes
            .iter()
            .copied()
            .find(|&n| n != WHOLE_RUN && f.starts_with(&format!("{n}:")))
            .unwrap_or(WHOLE_RUN)
    };
    let mut passed: Vec<&str> = Vec::new();
    let mut all = Vec::new();
    for attempt in 1..=ATTEMPTS {
        println!("== attempt {attempt} of at most {ATTEMPTS}");
        let outcome = attempt_run(&schedule);
        for &scope in &scopes {
            let failures: Vec<&String> = outcome
                .failures
                .iter()
                .filter(|f| scope_of(f) == scope)
                .collect();
            if failures.is_empty() {
                if !passed.contains(&scope) {
                    passed.push(scope);
                }
                continue;
            }
            let excused = if scope == WHOLE_RUN {
                outcome.stalls > 0
            } else {
                outcome.unmeasured.contains(&scope)
            };
            all.push(format!(
                "attempt {attempt}, {scope} ({}): {failures:#?}",
                if excused {
                    "the machine stalled the host in it"
                } else {
                    "no host stall in it"
                }
            ));
            assert!(
                excused,
                "{scope} failed in a run where the machine did not stall the host in it, \
                 so not the machine's doing: {all:#?}"
            );
        }
        let pending: Vec<&str> = scopes
            .iter()
            .copied()
            .filter(|s| !passed.contains(s))
            .collect();
        println!("== passed so far: {passed:?}; still to pass: {pending:?}");
        if pending.is_empty() {
            return;
        }
    }
    panic!(
        "some checks did not pass in {ATTEMPTS} runs, each failing where the machine stalled \
         the host: {all:#?}"
    );
}

/// What one run showed.
struct Outcome {
    failures: Vec<String>,
    /// How many host calls came more than [`STALL_MS`] late.
    stalls: usize,
    /// The segments this run could not judge: a stall moved their phase, or
    /// xruns left too few samples.
    unmeasured: Vec<&'static str>,
}

/// One run and its analysis.
fn attempt_run(schedule: &Schedule) -> Outcome {
    let run = run(schedule);
    let n = run.phasor.len();
    let frames = FRAMES as usize;
    let period_ns = f64::from(FRAMES) * 1e9 / RATE;
    assert!(n > 0, "no audio recorded");

    // Conditions: how punctually the "card" was served.
    let wake_us: Vec<f64> = run
        .calls
        .iter()
        .enumerate()
        .map(|(k, &c)| (c as f64 - (run.t0 as f64 + k as f64 * period_ns)) / 1e3)
        .collect();
    let xrun: Vec<bool> = wake_us.iter().map(|&w| w * 1e3 > period_ns).collect();
    let shadow = ((XRUN_SHADOW_MS * 1e6 / period_ns).ceil() as usize).max(8);
    let usable: Vec<bool> = (0..n)
        .map(|s| {
            let k = s / frames;
            !xrun[k.saturating_sub(shadow)..=k].iter().any(|&x| x)
        })
        .collect();
    // The blocks whose call came more than STALL_MS late, in order, and
    // per block the ms since the last of them (a stall moves the plugin's
    // sample timeline, which outlives Start and Continue: every stall
    // counts, for every segment after it).
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
    let stalls = stall_blocks.len();
    let (w50, w99, wmax) = percentiles(&wake_us);
    let xruns = xrun.iter().filter(|&&x| x).count();
    println!(
        "external MIDI clock → phasor, {n} samples at 48 kHz in blocks of {FRAMES}; audio thread \
         woke p50 {w50:.0} us, p99 {w99:.0} us, max {wmax:.0} us after its deadline; {xruns} \
         xruns ({:.1} % of samples left out, {XRUN_SHADOW_MS} ms after each)",
        100.0 * usable.iter().filter(|&&u| !u).count() as f64 / n as f64
    );

    // Always: finite, in [0, 1), both channels alike.
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
        run: &run,
        schedule,
        usable,
    };
    let offset = a.offset_ms();
    println!(
        "sender's grid: {offset:.2} ms after aplaymidi was spawned, plugin latency included \
         (one constant, estimated from the recording)"
    );

    // Per segment: errors once settled; lock after Start and Continue.
    let mut failures = Vec::new();
    let mut unmeasured = Vec::new();
    let step = 8; // every 8th sample: 32 points a block
    let (mut stall_errors, mut recovered) = (Vec::new(), Vec::new());
    for seg in &schedule.segments {
        let in_seg = |n: usize| {
            let ms = a.card_ms(n) - offset;
            (seg.from_ms..seg.to_ms).contains(&ms)
        };
        let samples: Vec<usize> = (0..n).step_by(step).filter(|&s| in_seg(s)).collect();
        // A stall in the segment, or in the shadow before it, leaves it
        // unmeasured in this run.
        if stall_blocks.iter().any(|&j| {
            let ms = a.card_ms(j * frames) - offset;
            ms >= seg.from_ms - STALL_SHADOW_MS && ms < seg.to_ms
        }) {
            unmeasured.push(seg.name);
        }
        let measured = |s: usize| {
            Some((
                a.card_ms(s) - offset - seg.from_ms,
                a.error_ms(s, offset)?,
                since_stall[s / frames],
            ))
        };
        let all_usable: Vec<(f64, f64, f64)> = samples
            .iter()
            .filter(|&&s| a.usable[s])
            .filter_map(|&s| measured(s))
            .collect();
        let errors: Vec<(f64, f64)> = all_usable
            .iter()
            .filter(|p| p.2 >= STALL_SHADOW_MS)
            .map(|p| (p.0, p.1))
            .collect();
        stall_errors.extend(
            all_usable
                .iter()
                .filter(|p| p.2 < STALL_SHADOW_MS)
                .map(|p| p.1),
        );
        recovered.extend(
            all_usable
                .iter()
                .filter(|p| p.2 >= STALL_SHADOW_MS - 500.0 && p.2 < STALL_SHADOW_MS)
                .map(|p| p.1),
        );
        if all_usable.len() <= samples.len() / 2 {
            // An emulated CPU on a loaded machine cannot always keep a
            // 5.3 ms period: then this run cannot measure the segment.
            unmeasured.push(seg.name);
            failures.push(format!(
                "{}: not measurable, only {} of {} samples away from xruns",
                seg.name,
                all_usable.len(),
                samples.len()
            ));
        }
        if errors.is_empty() {
            failures.push(format!(
                "{}: no usable sample away from xruns and host stalls",
                seg.name
            ));
            continue;
        }
        // Locked from the first point after which |error| stays within
        // LOCK_MS for LOCK_HOLD_MS, of which at least a quarter usable.
        let needed = (LOCK_HOLD_MS * 1e-3 * RATE / step as f64 / 4.0) as usize;
        // (Linear: prefix counts of bad points, and the window's end by
        // two pointers; `errors` is in time order.)
        let mut bad_before = vec![0usize; errors.len() + 1];
        for (i, &(_, e)) in errors.iter().enumerate() {
            bad_before[i + 1] = bad_before[i] + usize::from(e.abs() > LOCK_MS);
        }
        let mut end = 0;
        let lock_ms = (0..errors.len())
            .find(|&i| {
                while end < errors.len() && errors[end].0 < errors[i].0 + LOCK_HOLD_MS {
                    end += 1;
                }
                end - i >= needed && bad_before[end] == bad_before[i]
            })
            .map(|i| errors[i].0);
        let tick_ms = 60_000.0 / (24.0 * seg.bpm);
        // Settled: from one beat after the segment's start (two after a
        // tempo change, which the phasor follows by slewing), or from lock.
        let settle_ms = match (seg.restart, lock_ms) {
            (true, Some(l)) => l.max(24.0 * tick_ms),
            (true, None) => 24.0 * tick_ms,
            (false, _) => 48.0 * tick_ms,
        };
        let mut settled: Vec<f64> = errors
            .iter()
            .filter(|&&(t, _)| t >= settle_ms)
            .map(|&(_, e)| e)
            .collect();
        if settled.is_empty() {
            failures.push(format!("{}: no usable sample once settled", seg.name));
            settled.push(f64::NAN);
        }
        let all: Vec<f64> = errors.iter().map(|&(_, e)| e).collect();
        let (p50, p99, max) = percentiles(&settled);
        let bias = median(&settled);
        // The ramp's own tempo once settled: an error growing by x ms per ms
        // is a phasor running 1 + x times the sender's tempo.
        let settled_points: Vec<(f64, f64)> = errors
            .iter()
            .filter(|&&(t, _)| t >= settle_ms)
            .copied()
            .collect();
        let phasor_bpm = seg.bpm * (1.0 + slope(&settled_points));
        let phasor_tempo_err = (phasor_bpm - seg.bpm) / seg.bpm;
        if settled_points.len() > 100 && phasor_tempo_err.abs() > 0.005 {
            failures.push(format!(
                "{}: the phasor ran at {phasor_bpm:.3} BPM, sender {:.1}",
                seg.name, seg.bpm
            ));
        }
        let (_, a99, amax) = percentiles(&all);
        let worst_at = errors
            .iter()
            .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
            .map_or(f64::NAN, |&(t, _)| t);
        let lock_text = lock_ms.map_or("never".into(), |l| {
            format!("{l:.0} ms = {:.1} ticks", l / tick_ms)
        });
        println!(
            "{:<32} |phase error| once settled (from {settle_ms:.0} ms, {} points) p50 {p50:.2} \
             p99 {p99:.2} max {max:.2} ms, median signed error {bias:+.2} ms; whole segment p99 \
             {a99:.2} max {amax:.2} ms ({worst_at:.0} ms after its first tick); locked \
             ({LOCK_MS} ms held {LOCK_HOLD_MS} ms) after {lock_text}",
            seg.name,
            settled.len()
        );
        println!(
            "{:<32} the phasor's tempo once settled {phasor_bpm:.3} BPM ({:+.3} %)",
            "",
            100.0 * phasor_tempo_err
        );
        if p99 > P99_LIMIT_MS {
            // What came before the worst point: the test host's late calls
            // (sender ms, ms late) in the second before it, and the error
            // every 100 ms around it.
            let at = worst_at + seg.from_ms + offset;
            let late: Vec<(f64, f64)> = (0..run.calls.len())
                .filter(|&k| xrun[k])
                .map(|k| (a.card_ms(k * frames) - offset, wake_us[k] / 1e3))
                .filter(|&(ms, _)| ms > at - offset - 1000.0 && ms <= at - offset)
                .map(|(ms, l)| ((ms * 10.0).round() / 10.0, (l * 10.0).round() / 10.0))
                .collect();
            let trace: Vec<(f64, f64)> = errors
                .iter()
                .filter(|&&(t, _)| (t - worst_at).abs() <= 1000.0)
                .step_by((0.1 * RATE / step as f64) as usize)
                .map(|&(t, e)| (t.round(), (e * 100.0).round() / 100.0))
                .collect();
            println!(
                "{:<32} xruns (sender ms, late ms) in the second before the worst point: {late:?}; \
                 error (segment ms, ms) around it: {trace:?}",
                ""
            );
        }
        if p99 > P99_LIMIT_MS {
            failures.push(format!(
                "{}: settled p99 phase error {p99:.2} ms > {P99_LIMIT_MS} ms",
                seg.name
            ));
        }
        if seg.restart {
            match lock_ms {
                Some(l) if l / tick_ms <= LOCK_LIMIT_TICKS => {}
                _ => failures.push(format!(
                    "{}: not locked within {LOCK_LIMIT_TICKS} ticks ({lock_text})",
                    seg.name
                )),
            }
        }
        // The shown tempo (read-only parameter, 0.1 BPM steps): its last
        // value in the segment, and when it first came within 0.5 %.
        let tempo_id = PARAMS[index::EXT_TEMPO].id;
        let shown: Vec<(f64, f64)> = run
            .params
            .iter()
            .filter(|&&(_, id, _)| id == tempo_id)
            .map(|&(s, _, v)| (a.card_ms(s as usize) - offset - seg.from_ms, v))
            .collect();
        let last = shown
            .iter()
            .rev()
            .find(|&&(t, _)| t <= seg.to_ms - seg.from_ms)
            .map(|&(_, v)| v);
        let first_ok = shown
            .iter()
            .filter(|&&(t, _)| t >= 0.0 && t <= seg.to_ms - seg.from_ms)
            .find(|&&(_, v)| (v - seg.bpm).abs() <= 0.005 * seg.bpm)
            .map(|&(t, _)| t);
        match last {
            Some(v) if (v - seg.bpm).abs() <= 0.005 * seg.bpm => println!(
                "{:<32} shown tempo {v:.1} BPM (sender {:.1}, error {:+.2} %), within 0.5 % \
                 {} ms after the segment's first tick",
                "",
                seg.bpm,
                100.0 * (v - seg.bpm) / seg.bpm,
                first_ok.map_or("?".into(), |t| format!("{t:.0}"))
            ),
            other => failures.push(format!(
                "{}: shown tempo {other:?} at the segment's end, sender {:.1} BPM",
                seg.name, seg.bpm
            )),
        }
    }

    // After the host's stalls: what the phasor did, and that it came back.
    if stall_errors.is_empty() {
        println!("host calls more than {STALL_MS} ms late: {stalls}; no sample after one in the segments");
    } else {
        let (_, s99, smax) = percentiles(&stall_errors);
        let back = recovered.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        println!(
            "host calls more than {STALL_MS} ms late: {stalls}; within {STALL_SHADOW_MS} ms after \
             one ({} points, left out above): |phase error| p99 {s99:.2} max {smax:.2} ms; in the \
             last 500 ms of that window ({} points) max {back:.2} ms",
            stall_errors.len(),
            recovered.len()
        );
        if back > LOCK_MS {
            failures.push(format!(
                "the phase was {back:.2} ms off {} ms after a host stall (> {LOCK_MS} ms)",
                STALL_SHADOW_MS - 500.0
            ));
        }
    }

    // Rising between wraps, except where the sender restarts (Start, SPP +
    // Continue: a jump to the new position) and while it is stopped.
    let restart_ms: Vec<f64> = schedule
        .segments
        .iter()
        .filter(|s| s.restart)
        .map(|s| s.from_ms)
        .collect();
    let (backwards, after_xrun): (Vec<_>, Vec<_>) = run
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
        // After a dropout the sample timeline is broken and a jump back to
        // the grid is right.
        .partition(|&(i, _, _, _)| a.usable[i]);
    println!(
        "phasor steps back {} times outside Start/Continue and xruns, {} times within \
         {XRUN_SHADOW_MS} ms after an xrun",
        backwards.len(),
        after_xrun.len()
    );
    if !backwards.is_empty() {
        failures.push(format!(
            "the phasor stepped back {} times (sample, sender ms, from, to): {:?}",
            backwards.len(),
            &backwards[..backwards.len().min(8)]
        ));
    }

    // Running: on during the segments, off after the last Stop.
    let running_id = PARAMS[index::EXT_RUNNING].id;
    let running: Vec<(f64, f64)> = run
        .params
        .iter()
        .filter(|&&(_, id, _)| id == running_id)
        .map(|&(s, _, v)| (a.card_ms(s as usize) - offset, v))
        .collect();
    println!("\"External clock running\" changes (sender ms, value): {running:?}");
    // Off while the sender's clock runs: ticks reached the plugin more than
    // 3.5 periods apart (the emulated machine stalled). A condition of the
    // run, not asserted: the phase figures above include what follows.
    let dropouts = running
        .iter()
        .filter(|&&(ms, v)| {
            v == 0.0
                && schedule
                    .segments
                    .iter()
                    .any(|s| (s.from_ms + 50.0..s.to_ms - 10.0).contains(&ms))
        })
        .count();
    println!("clock dropouts seen by the plugin while the sender ran: {dropouts}");
    let last_stop = *schedule.stops.last().unwrap();
    let final_running = running.last().map(|&(_, v)| v);
    if final_running != Some(0.0) || running.iter().all(|&(_, v)| v != 1.0) {
        failures.push(format!(
            "\"External clock running\" never went on and off again (last Stop at {last_stop} ms): {running:?}"
        ));
    }
    Outcome {
        failures,
        stalls,
        unmeasured,
    }
}

/// The analysis itself, on a synthetic recording of a perfect phasor
/// delayed by a known constant: it must find the constant and no error.
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
