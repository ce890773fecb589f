//! The closed clock loop through a real kernel sequencer: two instances of
//! the **bundled** plugin in one paced test host (`tests/support/common/paced.rs`:
//! 48 kHz, blocks of 512, both instances processed in each call, as two
//! tracks of one DAW). Instance A has MIDI clock out on and plays a
//! scripted transport; its `MIDI out` port is connected (`aconnect`) to
//! instance B's `MIDI in`; B follows with "Phasor source" = external and a
//! period of 4 bars (16 beats from the sender's song position 0).
//!
//! The script: Start at beat 0 at 120 BPM, a ramp to 140 BPM over 4 s,
//! 140 BPM, a loop of 2 beats wrapping several times, a locate while
//! playing, Stop, Continue from where it stopped, Stop; the host hiccups
//! (a call 1, 2, then 3 periods late, then the blocks it owes back to back)
//! every 2 s throughout.
//!
//! B exposes no song position, only its phasor and read-only parameters, so
//! its song position is compared modulo the phasor's 16 beats. What reaches
//! B lags A by one constant: A's scheduling delay plus B's input latency.
//! It is fitted from the recording (the delay that puts B's phase closest
//! to A's position over the whole run, bounded) and removed.
//!
//! The test host's own xruns (a call more than a period late: the "card"
//! drops the periods it missed, and the song, tied to the samples, is late
//! by the stall) are not what is tested: nothing is judged from
//! [`XRUN_LEAD_BLOCKS`] before one to [`XRUN_SHADOW_S`] after it. A's clock then pauses for the
//! stall, as the song did, and B's follower, which takes a gap in the clock
//! for lost ticks (its documented design: "the sender is taken to have
//! played on"), runs ahead of A's song position by the stall until the next
//! relocation re-anchors it (seen in the VM: 2 to 3 ticks per xrun, for
//! good). So B's phase is judged only where no xrun came since the last
//! relocation. Host hiccups (late calls the host catches up on, no samples
//! dropped) are what is tested: A schedules its clock 150 ms ahead, so no
//! gap reaches B.
//!
//! Asserted, outside [`SETTLE_S`] after each relocation (Start, wrap,
//! locate, Continue, Stop) and away from the test host's own xruns: B's
//! phase within one tick (1/24 beat) of A's song position (except in the
//! blocks the host calls back to back after a hiccup longer than B's
//! latency: a tick reaching B then can be placed after its sample, which B
//! counts and logs; seen under load, 1.5 ticks for two blocks); B's "External
//! clock running" equal to A's transport; B's "External clock lock" locked
//! whenever A plays, from [`LOCK_SETTLE_S`] after a relocation or a change
//! of tempo (through every hiccup; searching again for at most
//! [`LOCK_SETTLE_S`] only after a clock B counted as disturbed, once per
//! disturbance: under load the VM holds a tick back); B's "External tempo" within
//! [`TEMPO_TOLERANCE`] of A's tempo (at the median) outside [`TEMPO_SETTLE_S`] after a
//! relocation or a change of tempo, and within [`RAMP_TOLERANCE`] during the
//! ramp (a tempo estimated from ticks lags a ramp).
//!
//! One play, no retries: a play whose xruns leave less than a sixth of it
//! to judge fails (a loaded shared machine has left a third or more).
//!
//! Needs a kernel sequencer: `cargo xtask test --kernel-only --
//! a_follower_tracks --nocapture`.

use crate::clap_host;
use crate::common::figures::abs_percentiles as percentiles;

use crate::common;
use crate::common::{
    aconnect_addr, logged_input_addr, logged_output_addr, pace_hiccups, require_sequencer,
    try_realtime, Pacing, RATE,
};
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use clack_host::utils::BeatTime;
use phasorsync::plugin::params::{index, PARAMS};

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const FRAMES: u32 = 512;
const F: u64 = FRAMES as u64;
/// 3 s stopped first: both timelines settle.
const PLAY: u64 = 288;
const RAMP: u64 = 750;
/// 375 blocks: 4 s.
const RAMP_END: u64 = 1125;
const LOOP_ON: u64 = 1500;
const LOOP_OFF: u64 = 1920;
const LOCATE_AT: u64 = 2100;
/// Not on a 16th: the clock resumes on the next one.
const LOCATE_TO: f64 = 61.3;
const STOP_AT: u64 = 2500;
const CONTINUE_AT: u64 = 2650;
const STOP2: u64 = 3050;
const BLOCKS: u64 = 3150;
const TEMPO: f64 = 120.0;
const TEMPO2: f64 = 140.0;
const LOOP_BEATS: f64 = 2.0;
/// About 2 s between hiccups.
const HICCUP_EVERY: u64 = 188;
/// The phasor's period: "4 bars", 16 beats without a time signature.
const PERIOD_CHOICE: f64 = 6.0;
const PERIOD_BEATS: f64 = 16.0;
/// After a relocation the sender waits for the next 16th (up to a 16th
/// plus a tick) and B jumps on the first clock after Continue: phase,
/// running state and lock are judged from this long after.
const SETTLE_S: f64 = 0.5;
/// The tempo is an estimate over many ticks: judged this long after a
/// relocation or a change of tempo.
const TEMPO_SETTLE_S: f64 = 1.5;
const TEMPO_TOLERANCE: f64 = 0.005;
const RAMP_TOLERANCE: f64 = 0.01;
/// The follower locks after 24 ticks: lock is judged this long after a
/// relocation.
const LOCK_SETTLE_S: f64 = 1.0;
/// After an xrun of the test host (a call more than a period late: the
/// card's samples move later in time), A's clock jumps by the stall and B's
/// phasor slews back at 0.5 %, which takes up to 4 s for a tick
/// (`kernel_clock_in.rs` leaves out as much): nothing is judged there.
const XRUN_SHADOW_S: f64 = 4.5;
/// Blocks before an xrun also left out: the stall that made the host's call
/// late held the sequencer's and the plugins' MIDI threads before it.
const XRUN_LEAD_BLOCKS: u64 = 10;
/// B's fixed MIDI input latency, in blocks (the choice "2 blocks").
const B_LATENCY_BLOCKS: u64 = 2;
/// Nothing is judged from this long before a relocation: at a wrap or a
/// locate the sender stops after the tick before it, and the slave holds
/// there while the host plays on to the relocation.
const RELOCATION_LEAD_S: f64 = 0.1;
/// The largest constant delay from A's sample to B's accepted: A's
/// scheduling delay (a period plus margins) plus B's input latency (a
/// period plus margins), with room.
const MAX_DELAY_SAMPLES: usize = 4 * FRAMES as usize;
const TICK: f64 = 1.0 / 24.0;

/// The host's transport over one block.
#[derive(Clone, Copy, Debug)]
struct HostBlock {
    playing: bool,
    /// At the block's first sample.
    beats: f64,
    tempo: f64,
    /// BPM per sample (CLAP `tempo_inc`).
    inc: f64,
    looped: Option<(f64, f64)>,
}

impl HostBlock {
    /// The song position `i` samples into the block (`F`: the next block's
    /// start), wrapped at the loop's end as a DAW does.
    fn beats_at(&self, i: f64) -> f64 {
        if !self.playing {
            return self.beats;
        }
        let b = self.beats + (i * self.tempo + self.inc * i * i / 2.0) / (60.0 * RATE);
        match self.looped {
            Some((s, e)) if self.beats < e && b >= e => b - (e - s),
            _ => b,
        }
    }

    fn tempo_at(&self, i: f64) -> f64 {
        self.tempo + self.inc * i
    }

    /// The CLAP transport a DAW gives at the block's start.
    fn transport(&self) -> TransportEvent {
        let mut t = clap_host::transport(0, self.playing, self.beats, self.tempo);
        t.tempo_inc = self.inc;
        if let Some((s, e)) = self.looped {
            t.flags |= TransportFlags::IS_LOOP_ACTIVE;
            t.loop_start_beats = BeatTime::from_float(s);
            t.loop_end_beats = BeatTime::from_float(e);
        }
        t
    }
}

/// The script, block by block, and the samples of its relocations.
fn script() -> (Vec<HostBlock>, Vec<u64>) {
    let f = F as f64;
    let mut blocks = Vec::with_capacity(BLOCKS as usize);
    let mut moves = Vec::new();
    let (mut playing, mut beats, mut tempo) = (false, 0.0, TEMPO);
    let mut loop_start: Option<f64> = None;
    for k in 0..BLOCKS {
        match k {
            PLAY | CONTINUE_AT => playing = true,
            STOP_AT | STOP2 => playing = false,
            LOCATE_AT => beats = LOCATE_TO,
            RAMP_END => tempo = TEMPO2,
            LOOP_ON => loop_start = Some(f64::ceil(beats)),
            LOOP_OFF => loop_start = None,
            _ => {}
        }
        if [PLAY, CONTINUE_AT, STOP_AT, STOP2, LOCATE_AT].contains(&k) {
            moves.push(k * F);
        }
        let inc = if (RAMP..RAMP_END).contains(&k) {
            (TEMPO2 - TEMPO) / ((RAMP_END - RAMP) as f64 * f)
        } else {
            0.0
        };
        let b = HostBlock {
            playing,
            beats,
            tempo,
            inc,
            looped: loop_start.map(|s| (s, s + LOOP_BEATS)),
        };
        if let Some((_, e)) = b.looped.filter(|_| b.playing && b.beats_at(f) < b.beats) {
            // The wrap's sample (no ramp inside the loop).
            let i = (e - b.beats) * 60.0 * RATE / b.tempo;
            moves.push(k * F + i as u64);
        }
        blocks.push(b);
        beats = b.beats_at(f);
        tempo += inc * f;
    }
    (blocks, moves)
}

/// Hiccups of 1, 2, 3 periods in turn, every [`HICCUP_EVERY`] blocks.
fn hiccup_periods(k: u64) -> u32 {
    if k > 0 && k % HICCUP_EVERY == 0 {
        [1, 2, 3][((k / HICCUP_EVERY - 1) % 3) as usize]
    } else {
        0
    }
}

/// What the paced host recorded.
struct Run {
    pacing: Pacing,
    /// B's phasor, channel 0.
    phasor: Vec<f32>,
    /// B's parameter value events: (absolute sample, CLAP id, value).
    params: Vec<(u64, u32, f64)>,
    /// What B counted and logged of a disturbed clock: ticks missing and
    /// messages too late for their sample.
    disturbances: u64,
}

fn log_lines(plugin: &PluginInstance<clap_host::TestHost>) -> Vec<String> {
    clap_host::logs(plugin)
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

fn param_events(values: &[(usize, f64)], into: &mut EventBuffer) {
    for &(i, v) in values {
        into.push(&ParamValueEvent::new(
            0,
            ClapId::new(PARAMS[i].id),
            Pckn::match_all(),
            v,
        ));
    }
}

/// A plays the script with clock out on into B, through the kernel.
fn run(script: &[HostBlock]) -> Run {
    let entry = clap_host::load_entry();
    let mut a = clap_host::instantiate(&entry, ID).expect("instantiate A");
    let mut b = clap_host::instantiate(&entry, ID).expect("instantiate B");
    let pa = clap_host::activate(&mut a, FRAMES);
    let pb = clap_host::activate(&mut b, FRAMES);
    let (la, lb) = (log_lines(&a), log_lines(&b));
    let out = logged_output_addr(la.iter().map(String::as_str))
        .unwrap_or_else(|| panic!("A did not log its sequencer address: {la:?}"));
    let inp = logged_input_addr(lb.iter().map(String::as_str))
        .unwrap_or_else(|| panic!("B did not log its sequencer address: {lb:?}"));
    aconnect_addr(out, inp);
    let frames = FRAMES as usize;
    let (run, pa, pb) = std::thread::scope(|s| {
        s.spawn(|| {
            try_realtime();
            let mut sa = pa.start_processing().expect("start A");
            let mut sb = pb.start_processing().expect("start B");
            let (mut ia, mut oa) = (
                EventBuffer::with_capacity(8),
                EventBuffer::with_capacity(1024),
            );
            let (mut ib, mut ob) = (
                EventBuffer::with_capacity(8),
                EventBuffer::with_capacity(1024),
            );
            let (mut left, mut right) = (vec![0f32; frames], vec![0f32; frames]);
            let mut phasor = Vec::with_capacity(BLOCKS as usize * frames);
            let mut params = Vec::with_capacity(65_536);
            let pacing = pace_hiccups(FRAMES, BLOCKS, hiccup_periods, |k, _| {
                ia.clear();
                oa.clear();
                ib.clear();
                ob.clear();
                if k == 0 {
                    param_events(&[(index::CLOCK_OUT, 1.0)], &mut ia);
                    param_events(
                        &[
                            (index::PHASOR_SOURCE, 2.0),
                            (index::PHASOR_PERIOD, PERIOD_CHOICE),
                            // Fixed: Auto grows B's latency through the
                            // hiccups, and the fit wants one constant delay.
                            (index::LATENCY, B_LATENCY_BLOCKS as f64),
                        ],
                        &mut ib,
                    );
                }
                let t = script[k as usize].transport();
                clap_host::process_block_with(&mut sa, FRAMES, &ia, &mut oa, Some(&t), &mut []);
                left.fill(f32::NAN);
                right.fill(f32::NAN);
                clap_host::process_block_with(
                    &mut sb,
                    FRAMES,
                    &ib,
                    &mut ob,
                    None,
                    &mut [&mut left, &mut right],
                );
                phasor.extend_from_slice(&left);
                for e in ob.iter() {
                    if let Some(CoreEventSpace::ParamValue(v)) = e.as_core_event() {
                        if let Some(id) = v.param_id() {
                            let at = k * F + u64::from(e.header().time());
                            params.push((at, u32::from(id), v.value()));
                        }
                    }
                }
            });
            let run = Run {
                pacing,
                phasor,
                params,
                disturbances: 0,
            };
            (run, sa.stop_processing(), sb.stop_processing())
        })
        .join()
        .expect("the paced audio thread panicked")
    });
    a.deactivate(pa);
    b.deactivate(pb);
    clap_host::run_main_thread_callback(&mut a);
    clap_host::run_main_thread_callback(&mut b);
    println!("A's log: {:?}", log_lines(&a));
    let b_log = log_lines(&b);
    println!("B's log: {b_log:?}");
    let lines = || b_log.iter().map(String::as_str);
    Run {
        disturbances: common::logged_total(lines(), "MIDI clock tick(s) missing")
            + common::logged_total(lines(), "arrived too late for their sample"),
        ..run
    }
}

/// The value of parameter `i` in force at the end of each block.
fn per_block(params: &[(u64, u32, f64)], i: usize) -> Vec<f64> {
    let id = PARAMS[i].id;
    let mut out = Vec::with_capacity(BLOCKS as usize);
    let mut value = PARAMS[i].default;
    let mut ev = params.iter().filter(|p| p.1 == id).peekable();
    for k in 0..BLOCKS {
        while let Some(&&(at, _, v)) = ev.peek() {
            if at >= (k + 1) * F {
                break;
            }
            value = v;
            ev.next();
        }
        out.push(value);
    }
    out
}

/// `x` wrapped into [-0.5, 0.5).
fn wrap(x: f64) -> f64 {
    (x + 0.5).rem_euclid(1.0) - 0.5
}

/// The recording read against the script.
struct Loop<'a> {
    script: &'a [HostBlock],
    moves: &'a [u64],
    run: &'a Run,
    /// Blocks away from the test host's xruns (see [`XRUN_SHADOW_S`]).
    block_judged: Vec<bool>,
    /// For each block, the latest xrun of the test host at or before it.
    latest_xrun: Vec<Option<u64>>,
}

impl<'a> Loop<'a> {
    /// The recording read against the script: which blocks are judged
    /// (away from the test host's xruns: from [`XRUN_LEAD_BLOCKS`] before
    /// one to [`XRUN_SHADOW_S`] after it), and the latest xrun at each.
    fn new(run: &'a Run, script: &'a [HostBlock], moves: &'a [u64]) -> Self {
        let p = &run.pacing;
        let shadow = (XRUN_SHADOW_S * RATE / F as f64).ceil() as u64;
        let block_judged = (0..BLOCKS)
            .map(|k| {
                !p.xrun_blocks
                    .iter()
                    .any(|&x| k + XRUN_LEAD_BLOCKS >= x && k <= x + shadow)
            })
            .collect();
        let latest_xrun = (0..BLOCKS)
            .map(|k| p.xrun_blocks.iter().copied().filter(|&x| x <= k).max())
            .collect();
        Loop {
            script,
            moves,
            run,
            block_judged,
            latest_xrun,
        }
    }

    fn host(&self, m: usize) -> (&HostBlock, f64) {
        (&self.script[m / F as usize], (m % F as usize) as f64)
    }

    /// Whether A plays at its sample `m`, at least `settle` seconds after
    /// every relocation before it and [`RELOCATION_LEAD_S`] before the next.
    fn settled(&self, m: usize, settle: f64) -> bool {
        let (lead, w) = ((RELOCATION_LEAD_S * RATE) as u64, (settle * RATE) as u64);
        let m64 = m as u64;
        self.host(m).0.playing
            && self
                .moves
                .iter()
                .all(|&s| !(s.saturating_sub(lead)..s + w).contains(&m64))
    }

    /// Whether B's sample `n` (A's `n - d`) is judged: both away from the
    /// test host's xruns.
    fn judged(&self, n: usize, d: usize) -> Option<usize> {
        let m = n.checked_sub(d)?;
        let ok = |s: usize| self.block_judged[s / F as usize];
        (ok(n) && ok(m)).then_some(m)
    }

    /// Whether no xrun of the test host came between the relocation that
    /// set the song position A is at in its sample `m` and B's sample `n`.
    /// After an xrun A's clock pauses (the song is late by the stall) and
    /// B's follower takes the pause for lost ticks: it plays on by the
    /// stall until the next relocation (see the module docs).
    fn anchored(&self, m: usize, n: usize) -> bool {
        let last_move = self
            .moves
            .iter()
            .filter(|&&s| s <= m as u64)
            .max()
            .copied()
            .unwrap_or(0);
        self.latest_xrun[n / F as usize].is_none_or(|x| (x + 1) * F <= last_move)
    }

    /// B's phase error at its sample `n` against A's position at `m`, in
    /// beats.
    fn phase_error(&self, n: usize, m: usize) -> f64 {
        let (b, i) = self.host(m);
        let want = b.beats_at(i) / PERIOD_BEATS;
        wrap(f64::from(self.run.phasor[n]) - want) * PERIOD_BEATS
    }

    /// The delay (samples) that puts B's phase closest to A's position:
    /// clipped squared errors, so that the unsettled moments do not decide.
    fn delay(&self) -> usize {
        let n = self.run.phasor.len();
        let score = |d: usize| -> f64 {
            let (sum, count) = (d..n)
                .step_by(256)
                .filter_map(|n| self.judged(n, d).map(|m| (n, m)))
                .filter(|&(n, m)| self.settled(m, SETTLE_S) && self.anchored(m, n))
                .map(|(n, m)| self.phase_error(n, m).abs().min(0.25).powi(2))
                .fold((0.0, 0usize), |(s, c), e| (s + e, c + 1));
            if count == 0 {
                f64::INFINITY
            } else {
                sum / count as f64
            }
        };
        let best = |from: usize, to: usize, step: usize| {
            (from..=to)
                .step_by(step)
                .min_by(|&a, &b| score(a).total_cmp(&score(b)))
                .unwrap()
        };
        let coarse = best(0, MAX_DELAY_SAMPLES, 32);
        best(coarse.saturating_sub(32), coarse + 32, 2)
    }
}

/// Every quarter second of B's recording: A's state and position, B's
/// phase error, tempo, running state and lock, and the hiccups and xruns
/// in it: what a failure is read against.
fn print_timeline(l: &Loop, d: usize, tempo: &[f64], running: &[f64], lock: &[f64]) {
    let p = &l.run.pacing;
    let quarter = (RATE / 4.0) as usize;
    println!("   t s | A: play  beats   bpm | B: phase err ticks (max) bpm  run lock | host");
    for n0 in (d..l.run.phasor.len()).step_by(quarter) {
        let m0 = n0 - d;
        let (b, i) = l.host(m0);
        let worst = (n0..(n0 + quarter).min(l.run.phasor.len()))
            .step_by(32)
            .map(|n| l.phase_error(n, n - d))
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        let k = n0 / F as usize;
        let k_end = (n0 + quarter) as u64 / F;
        let hic = p
            .hiccup_blocks
            .iter()
            .filter(|&&h| (k as u64..k_end).contains(&h))
            .count();
        let xr = p
            .xrun_blocks
            .iter()
            .filter(|&&h| (k as u64..k_end).contains(&h))
            .count();
        println!(
            "{:>6.2} | {:>5} {:>7.3} {:>6.2} | {:>7.3} ({:>6.3}) {:>6.2} {:>3} {:>4} | {}{}",
            n0 as f64 / RATE,
            b.playing,
            b.beats_at(i),
            b.tempo_at(i),
            l.phase_error(n0, m0) * 24.0,
            worst * 24.0,
            tempo[k],
            running[k],
            lock[k],
            if hic > 0 {
                format!("hiccup x{hic} ")
            } else {
                String::new()
            },
            if xr > 0 {
                format!("XRUN x{xr}")
            } else {
                String::new()
            },
        );
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn a_follower_tracks_the_clock_out_of_another_instance_through_the_kernel() {
    require_sequencer();
    let (script, moves) = script();
    let run = run(&script);
    match judge(&run, &script, &moves) {
        Judged::Passed => {}
        Judged::Failed(failures) => panic!("{failures}"),
        Judged::TooFew(why) => panic!("{why}: this run cannot judge the follower"),
    }
}

/// What one run showed.
enum Judged {
    Passed,
    /// Checks failed on what could be judged.
    Failed(String),
    /// The test host's xruns left too little to judge.
    TooFew(String),
}

/// The checks of the module docs on one run.
fn judge(run: &Run, script: &[HostBlock], moves: &[u64]) -> Judged {
    check_recording(run, moves);
    let l = Loop::new(run, script, moves);
    let d = fit_delay(&l);
    let shown = Shown::of(run);
    print_timeline(&l, d, &shown.tempo, &shown.running, &shown.lock);
    let mut points = collect(&l, d, &shown);
    if let Some(why) = too_few(&l, d, &points) {
        return Judged::TooFew(why);
    }
    print_phase(&points);
    // The failures in the order they were always listed: phase, tempo,
    // running state, lock.
    let tempo = judge_tempo(&points, &run.pacing);
    let running_and_lock = judge_running_and_lock(&points, run.disturbances);
    let mut failures = std::mem::take(&mut points.phase_failures);
    failures.extend(tempo);
    failures.extend(running_and_lock);
    verdict(failures)
}

/// What holds of any recording, before anything is fitted: the figures of
/// the run, the length, the phasor in range.
fn check_recording(run: &Run, moves: &[u64]) {
    let p = &run.pacing;
    println!(
        "{} xruns, {} blocks in hiccups, relocations at samples {moves:?}",
        p.xruns(),
        p.hiccup_blocks.len()
    );
    assert_eq!(run.phasor.len(), (BLOCKS * F) as usize);
    let bad = run
        .phasor
        .iter()
        .filter(|x| !(0.0..1.0).contains(*x))
        .count();
    assert_eq!(bad, 0, "phasor samples not finite in [0, 1)");
}

/// The constant delay from A's sample to B's, printed, and bounded.
fn fit_delay(l: &Loop) -> usize {
    let d = l.delay();
    println!(
        "fitted delay from A's sample to B's: {d} samples ({:.2} ms)",
        d as f64 * 1e3 / RATE
    );
    assert!(
        d < MAX_DELAY_SAMPLES,
        "no delay up to {MAX_DELAY_SAMPLES} samples fits B's phase to A's song position"
    );
    d
}

/// B's read-only parameters, the value in force at the end of each block.
struct Shown {
    tempo: Vec<f64>,
    running: Vec<f64>,
    lock: Vec<f64>,
}

impl Shown {
    fn of(run: &Run) -> Self {
        Shown {
            tempo: per_block(&run.params, index::EXT_TEMPO),
            running: per_block(&run.params, index::EXT_RUNNING),
            lock: per_block(&run.params, index::EXT_LOCK),
        }
    }
}

/// What one pass over B's judged samples gathered: the figures and the
/// phase failures (the other checks are judged from these afterwards).
#[derive(Default)]
struct Points {
    /// B's phase errors (beats), where anchored.
    errors: Vec<f64>,
    /// The same in the half second after a hiccup, by its periods (1..=3).
    hiccup_errors: [Vec<f64>; 3],
    /// B's tempo against A's, relative: at a steady tempo and on the ramp.
    steady: Vec<f64>,
    ramp: Vec<f64>,
    /// B's samples where its running state differs from A's transport.
    running_wrong: Vec<usize>,
    /// (B's sample, lock) where B is not locked and should be.
    lock_lost: Vec<(usize, f64)>,
    /// Points not judged for phase (an xrun since the last relocation).
    unanchored: usize,
    /// B's phase more than a tick off A's position.
    phase_failures: Vec<String>,
}

/// Every 32nd sample of B's recording away from the test host's xruns:
/// running state, lock, phase and tempo, each where the module docs judge it.
fn collect(l: &Loop, d: usize, shown: &Shown) -> Points {
    let mut pts = Points::default();
    let tempo_changes = [RAMP * F, RAMP_END * F];
    // The follower restarts its fit at a change of tempo (a kink) and
    // searches until it holds a beat of ticks again.
    let lock_checked = |l: &Loop, m: usize, k: usize| {
        let lw = (LOCK_SETTLE_S * RATE) as u64;
        l.settled(m, LOCK_SETTLE_S)
            && tempo_changes
                .iter()
                .all(|&s| !(s..s + lw).contains(&(m as u64)))
            && shown.lock[k].round() != 1.0
    };
    for n in (d..l.run.phasor.len()).step_by(32) {
        let Some(m) = l.judged(n, d) else { continue };
        let k = n / F as usize;
        let (b, i) = l.host(m);
        // Running: everywhere away from relocations (stopped too).
        let (lead, w) = ((RELOCATION_LEAD_S * RATE) as u64, (SETTLE_S * RATE) as u64);
        if l.moves
            .iter()
            .all(|&s| !(s.saturating_sub(lead)..s + w).contains(&(m as u64)))
            && (shown.running[k] > 0.5) != b.playing
        {
            pts.running_wrong.push(n);
        }
        if !l.settled(m, SETTLE_S) {
            continue;
        }
        if lock_checked(l, m, k) {
            pts.lock_lost.push((n, shown.lock[k]));
        }
        if l.anchored(m, n) {
            pts.phase(l, n, m);
        } else {
            pts.unanchored += 1;
        }
        let tw = (TEMPO_SETTLE_S * RATE) as u64;
        let calm = |s: &u64| !(*s..*s + tw).contains(&(m as u64));
        if l.moves.iter().all(calm) && tempo_changes.iter().all(calm) {
            let want = b.tempo_at(i);
            let rel = (shown.tempo[k] - want) / want;
            if b.inc != 0.0 {
                pts.ramp.push(rel);
            } else {
                pts.steady.push(rel);
            }
        }
    }
    pts
}

impl Points {
    /// B's phase at its sample `n` against A's position at `m` (anchored
    /// and settled): recorded, and a failure beyond a tick.
    fn phase(&mut self, l: &Loop, n: usize, m: usize) {
        let k = n / F as usize;
        let (b, i) = l.host(m);
        let e = l.phase_error(n, m);
        self.errors.push(e);
        // Within half a second after a hiccup: by its length.
        let h0 = k as u64 - k as u64 % HICCUP_EVERY;
        let periods = hiccup_periods(h0);
        if periods > 0 && k as u64 - h0 < 48 {
            self.hiccup_errors[periods as usize - 1].push(e);
        }
        // The blocks a hiccup longer than B's latency makes the host call
        // back to back: a tick that reaches B then can be placed after its
        // sample (B counts and logs it), so B's phasor there is printed
        // above, not judged; from the next block on it is.
        let catching_up =
            u64::from(periods) > B_LATENCY_BLOCKS && k as u64 - h0 <= u64::from(periods);
        if e.abs() > TICK && !catching_up {
            self.phase_failures.push(format!(
                "B's sample {n}: phase {:.4} beats off A's position {:.3}",
                e,
                b.beats_at(i)
            ));
        }
    }
}

/// Why this run judged too little of the phase to say anything (less than
/// a sixth of the points where A plays, settled), if it did.
fn too_few(l: &Loop, d: usize, pts: &Points) -> Option<String> {
    let playing = (d..l.run.phasor.len())
        .step_by(32)
        .filter(|&n| l.settled(n - d, SETTLE_S))
        .count();
    (pts.errors.len() < playing / 6).then(|| {
        format!(
            "only {} of {playing} points judged ({} xruns of the test host, each \
             shadowing {XRUN_SHADOW_S} s)",
            pts.errors.len(),
            l.run.pacing.xruns()
        )
    })
}

/// The phase figures: over the run, and after hiccups by their length.
fn print_phase(pts: &Points) {
    let errors = &pts.errors;
    let (p50, p99, max) = percentiles(errors);
    println!(
        "B's phase vs A's song position, {} points: |error| p50 {:.3} p99 {:.3} max {:.3} ticks",
        errors.len(),
        p50 * 24.0,
        p99 * 24.0,
        max * 24.0
    );
    for (i, errs) in pts
        .hiccup_errors
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_empty())
    {
        let (_, h99, hmax) = percentiles(errs);
        println!(
            "  in the 0.5 s after hiccups of {} period(s) ({} points): p99 {:.3} max {:.3} ticks",
            i + 1,
            errs.len(),
            h99 * 24.0,
            hmax * 24.0
        );
    }
}

/// B's tempo against A's, steady and on the ramp: figures printed, the
/// median judged.
fn judge_tempo(pts: &Points, p: &Pacing) -> Vec<String> {
    let mut failures = Vec::new();
    for (what, rel, bound) in [
        ("steady", &pts.steady, TEMPO_TOLERANCE),
        ("ramp", &pts.ramp, RAMP_TOLERANCE),
    ] {
        if rel.is_empty() {
            // One xrun's shadow (4.5 s) can cover the 4 s ramp: then this
            // run does not judge it (the phase, judged above, still is).
            println!(
                "no {what} tempo judged in this run ({} xruns of the test host)",
                p.xruns()
            );
            continue;
        }
        let (t50, t99, tmax) = percentiles(rel);
        println!(
            "B's tempo vs A's, {what} ({} points): |error| p50 {:.3} % p99 {:.3} % max {:.3} %",
            rel.len(),
            t50 * 100.0,
            t99 * 100.0,
            tmax * 100.0
        );
        // The median: ticks the loaded VM loses (10 in a run seen) pull
        // single estimates past the bound (1.77 % on the ramp seen, p50
        // 0.14 %); a follower that does not track is off throughout.
        if t50 > bound {
            failures.push(format!(
                "{what}: B's tempo {:.3} % off A's at the median (bound {:.1} %)",
                t50 * 100.0,
                bound * 100.0
            ));
        }
    }
    failures
}

/// B's running state and lock: counts printed. Any wrong running state
/// is a failure; so is any loss of lock, except that B may search again
/// after a clock it counted as disturbed (a tick missing, a message too late
/// for its sample: the loaded VM held A's clock back), once per disturbance
/// and for at most [`LOCK_SETTLE_S`], the time it is given to lock after a
/// relocation or a change of tempo.
fn judge_running_and_lock(pts: &Points, disturbances: u64) -> Vec<String> {
    let (running_wrong, lock_lost) = (&pts.running_wrong, &pts.lock_lost);
    let unanchored = pts.unanchored;
    let episodes = lock_episodes(lock_lost);
    println!(
        "running state wrong at {} points, lock lost at {} points in {} episode(s) of {:?} s; \
         B counted {disturbances} disturbance(s) of its clock; {unanchored} points not judged \
         for phase (an xrun since the last relocation)",
        running_wrong.len(),
        lock_lost.len(),
        episodes.len(),
        episodes
            .iter()
            .map(|&(_, len)| (len as f64 / RATE * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    if !running_wrong.is_empty() {
        failures.push(format!(
            "B's running state differs from A's transport at B's samples {:?}…",
            &running_wrong[..running_wrong.len().min(10)]
        ));
    }
    let long = episodes
        .iter()
        .any(|&(_, len)| len as f64 > LOCK_SETTLE_S * RATE);
    if long || episodes.len() as u64 > disturbances {
        failures.push(format!(
            "B not locked while A plays at (sample, lock) {:?}… ({} episode(s), {disturbances} \
             disturbance(s) counted)",
            &lock_lost[..lock_lost.len().min(10)],
            episodes.len()
        ));
    }
    failures
}

/// Runs of lost lock: (first sample, length in samples), points 32 samples
/// apart within a run.
fn lock_episodes(lock_lost: &[(usize, f64)]) -> Vec<(usize, usize)> {
    let mut episodes: Vec<(usize, usize)> = Vec::new();
    for &(n, _) in lock_lost {
        match episodes.last_mut() {
            Some((first, len)) if n <= *first + *len + 32 => *len = n + 32 - *first,
            _ => episodes.push((n, 32)),
        }
    }
    episodes
}

/// Lost lock is told apart in runs.
#[test]
fn lock_episodes_are_runs_of_points() {
    let pts: Vec<(usize, f64)> = [100, 132, 164, 1000, 1032]
        .iter()
        .map(|&n| (n, 0.0))
        .collect();
    assert_eq!(lock_episodes(&pts), [(100, 96), (1000, 64)]);
    assert!(lock_episodes(&[]).is_empty());
}

/// Passed, or the failures (the first 40 shown).
fn verdict(failures: Vec<String>) -> Judged {
    if failures.is_empty() {
        return Judged::Passed;
    }
    let shown = failures.len().min(40);
    Judged::Failed(format!(
        "{} failures: {:#?}",
        failures.len(),
        &failures[..shown]
    ))
}
