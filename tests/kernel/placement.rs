//! End to end, as a musician uses it: `aplaymidi` plays a file whose note
//! times are irregular (and not multiples of any block) into the sequencer
//! port of the **bundled** plugin, loaded by a `clack-host` test host whose
//! audio thread calls `process()` paced like a 48 kHz audio device. The notes
//! that come out are compared, sample by sample, with the kernel timestamps
//! of the same events seen by a second client ("probe") subscribed to the same
//! sender, and with the file's own schedule.
//!
//! Figures (printed; quoted in docs/benchmarks/placement.md): |placement error| in samples
//! against the kernel timestamp, p50/p99/max, for PhasorSync and for the same
//! stream snapped to the start of the block in which it was first available
//! (what a timestamp-less buffer does), for blocks of 64, 256 and 1024 frames;
//! and the inter-onset error against the sender's schedule; and the floor
//! those figures cannot go below here: the same notes' times at two probes,
//! each with its own engine, queue and clock mapping (what the kernel
//! timestamps themselves carry of this machine's timer noise). Under the
//! latency "Auto" (the default) the notes are placed against the latency in
//! use when each was placed (from the plugin's "Latency in use" events),
//! after a warm-up of notes that lets it learn the machine's delays.
//! Each row runs with one backend: the ALSA sequencer's (the plugin's own
//! port), or raw MIDI (the plugin reads a virmidi device that Midi Through
//! plays into).
//!
//! Asserted, with bounds that hold on a loaded shared machine (one run, no
//! retries): every note delivered once and in order; away from xruns, placed
//! notes jitter under a quarter of what snapping gives; under Auto, at most
//! [`AUTO_LATE_SHARE`] of the measured notes placed late; the 1024-frame
//! rows judgeable. Rows whose period the emulated CPU could not keep are
//! printed as such.
//!
//! Needs a kernel sequencer: run with `cargo xtask test` (natively where
//! `/dev/snd/seq` exists, in the project's qemu VM otherwise).

use crate::clap_host;
use crate::common;
use crate::common::figures::{abs_percentiles as percentiles, median};

use crate::common::{
    placement_file as midi_file, placement_key as key, placement_schedule as schedule,
};
use crate::common::{sleep_until, try_realtime};

use crate::clap_host::{instantiate, load_entry, logs, Recorded};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use phasorsync::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use phasorsync::engine::{Backend, MidiEngine};
use phasorsync::protocol::MidiEvent;
use phasorsync::ring::{midi_buffer_with_config, MidiBufferConsumer, RingConfig};
use phasorsync::timeline::monotonic_ns;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const RATE: f64 = 48_000.0;
const NOTES: usize = common::PLACEMENT_NOTES;
/// How long the audio thread runs before the first note.
const PRE_ROLL: Duration = Duration::from_secs(3);
/// How long after an xrun notes are left out of the figures.
const XRUN_SHADOW_MS: f64 = 50.0;
/// snd-seq-dummy's "Midi Through" port.
const THROUGH: &str = "14:0";
/// Notes played before the measured ones under Auto: what a musician plays
/// in the first seconds, from which Auto learns this machine's delays.
const WARM_UP: usize = 60;
/// The "Latency in use" parameter (ms, read-only).
const LATENCY_IN_USE: ClapId = ClapId::new(17);
/// The "Auto" choice of the latency.
const AUTO: f64 = phasorsync::plugin::params::table::LATENCY_AUTO;

/// The latency setting of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Setting {
    /// A fixed number of blocks.
    Blocks(u32),
    /// Auto.
    Auto,
}

/// What the paced audio thread saw.
struct Run {
    /// Monotonic time the pacing schedule starts from: block k is due at
    /// `t0 + k * frames / RATE`.
    t0: u64,
    /// Actual call time of each block.
    calls: Vec<u64>,
    /// Note-ons out of the plugin: (absolute sample, key).
    notes: Vec<(u64, u8)>,
    /// Changes of "Latency in use": (first sample of the block it applies
    /// from, latency in samples).
    latency: Vec<(u64, f64)>,
}

/// A listener with its own engine (own queue and clock mapping), as the
/// plugin's: the kernel timestamps of what it hears, on `CLOCK_MONOTONIC`.
struct Probe {
    engine: AlsaEngine,
    consumer: MidiBufferConsumer,
    /// Its input port, `client:port`.
    addr: String,
}

impl Probe {
    fn start(name: &str) -> Self {
        let (engine, consumer) = probe(name);
        let addr = format!("{}:{}", probe_engine_client(&engine), probe_port(&engine));
        Probe {
            engine,
            consumer,
            addr,
        }
    }

    /// The note-ons heard: (monotonic time, key).
    fn note_ons(mut self) -> Vec<(u64, u8)> {
        let mut seen = Vec::new();
        while let Some(m) = self.consumer.try_pop() {
            if let MidiEvent::NoteOn { key, .. } = m.event {
                seen.push((m.time_ns, key));
            }
        }
        self.engine.stop();
        seen
    }
}

fn probe(name: &str) -> (AlsaEngine, MidiBufferConsumer) {
    let (producer, consumer) = midi_buffer_with_config(RingConfig {
        capacity: 4096,
        sysex_bytes: 4096,
    });
    let mut engine = AlsaEngine::new(AlsaConfig {
        client_name: name.into(),
        patterns_from_environment: false,
        ..AlsaConfig::default()
    })
    .expect("probe engine");
    engine
        .start(phasorsync::engine::EngineIo::input_only(producer))
        .expect("probe start");
    (engine, consumer)
}

/// What the probes heard: the kernel timestamps of the notes.
struct Heard {
    /// The probe's note-ons: (monotonic time, key).
    seen: Vec<(u64, u8)>,
    /// A second probe's, the same notes: the two differ by what the
    /// timestamps themselves carry of this machine's timer noise.
    seen_again: Vec<(u64, u8)>,
}

impl Heard {
    /// The first probe's notes, and the floor: each note's two kernel
    /// timestamps (mapped by two engines) apart, samples.
    fn with_floor(self) -> (Vec<(u64, u8)>, Vec<f64>) {
        assert_eq!(self.seen.len(), NOTES, "the probe did not see every note");
        assert_eq!(
            self.seen_again.len(),
            NOTES,
            "the second probe did not see every note"
        );
        assert!(
            self.seen
                .iter()
                .zip(&self.seen_again)
                .all(|(a, b)| a.1 == b.1),
            "the probes heard the notes in different orders"
        );
        let floor = self
            .seen
            .iter()
            .zip(&self.seen_again)
            .map(|(&(a, _), &(b, _))| (a as f64 - b as f64) * RATE / 1e9)
            .collect();
        (self.seen, floor)
    }
}

/// Play the file into the plugin (paced at `frames` per block) and two
/// probes; how many messages the plugin logged too late for their sample.
fn run(frames: u32, setting: Setting, times: &[u32], backend: Backend) -> (Run, Heard, u64) {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let (processor, virmidi, input) = activate(&mut plugin, frames, setting, backend);
    let probes = [
        Probe::start("PhasorSync-probe"),
        Probe::start("PhasorSync-probe-2"),
    ];
    let file = midi_file(times);
    let warm_up = (setting == Setting::Auto).then(|| midi_file(&times[..WARM_UP]));
    let play = Play {
        input: &input,
        probe_addrs: [&probes[0].addr, &probes[1].addr],
        file: &file,
        warm_up: warm_up.as_deref(),
        raw: virmidi.is_some(),
    };

    let done = AtomicBool::new(false);
    let (run, processor) = std::thread::scope(|s| {
        let audio = s.spawn(|| paced_audio(processor, frames, &done));
        play_into_both(&play);
        done.store(true, Ordering::Release);
        audio.join().expect("audio thread")
    });
    plugin.deactivate(processor);
    // The plugin reports late messages on the main thread, with their count.
    let lines = logs(&plugin);
    let late = common::logged_total(
        lines.iter().map(|(_, l)| l.as_str()),
        "arrived too late for their sample",
    );

    let [first, second] = probes;
    let heard = Heard {
        seen: first.note_ons(),
        seen_again: second.note_ons(),
    };
    (run, heard, late)
}

/// The plugin set to `setting` on `backend` and activated: its processor,
/// the virmidi device it reads (raw MIDI), and the address the notes go to.
fn activate(
    plugin: &mut PluginInstance<clap_host::TestHost>,
    frames: u32,
    setting: Setting,
    backend: Backend,
) -> (
    StoppedPluginAudioProcessor<clap_host::TestHost>,
    Option<common::Virmidi>,
    String,
) {
    set_latency(plugin, setting);
    // The raw backend reads the first virmidi device, whose sequencer port
    // Midi Through then plays into: the same kernel dispatch as the probe's.
    let virmidi = (backend == Backend::RawMidi).then(|| common::require_virmidi(1).remove(0));
    if let Some(v) = &virmidi {
        std::env::set_var("PHASORSYNC_CONNECT", format!("raw:{}", v.raw()));
        set_param(plugin, phasorsync::plugin::params::index::MIDI_BACKEND, 1.0);
    }
    let processor = clap_host::activate(plugin, frames);
    std::env::remove_var("PHASORSYNC_CONNECT");
    let input = match &virmidi {
        Some(v) => v.addr(),
        None => clap_host::plugin_input(plugin),
    };
    (processor, virmidi, input)
}

/// The audio thread: `process()` called every `frames` samples of a 48 kHz
/// card until `done`, recording the call times, the note-ons out and the
/// latency in use.
fn paced_audio(
    processor: StoppedPluginAudioProcessor<clap_host::TestHost>,
    frames: u32,
    done: &AtomicBool,
) -> (Run, StoppedPluginAudioProcessor<clap_host::TestHost>) {
    try_realtime();
    let mut p = processor.start_processing().unwrap();
    let period_ns = f64::from(frames) * 1e9 / RATE;
    let t0 = monotonic_ns() + 20_000_000;
    let mut calls = Vec::with_capacity(100_000);
    let mut notes = Vec::with_capacity(NOTES + WARM_UP);
    let mut latency = Vec::new();
    let mut output = EventBuffer::with_capacity(1024);
    let input = EventBuffer::with_capacity(0);
    // SAFETY: no audio buffers are given, so none can be shorter than `frames`.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], frames) };
    let mut k = 0u64;
    while !done.load(Ordering::Acquire) {
        sleep_until(t0 + (k as f64 * period_ns) as u64);
        calls.push(monotonic_ns());
        output.clear();
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], frames) };
        p.process(
            &ins,
            &mut outs,
            &input.as_input(),
            &mut output.as_output(),
            Some(k * u64::from(frames)),
            None,
        )
        .expect("process");
        for e in output.iter() {
            if let Some(v) = e.as_event::<ParamValueEvent>() {
                if v.param_id() == Some(LATENCY_IN_USE) {
                    latency.push((k * u64::from(frames), v.value() * RATE / 1e3));
                }
            }
            // Hardware notes come out in the MIDI dialect.
            if let Recorded::Midi { time, data, .. } = clap_host::record(e) {
                if data[0] & 0xF0 == 0x90 && data[2] > 0 {
                    notes.push((k * u64::from(frames) + u64::from(time), data[1]));
                }
            }
        }
        k += 1;
    }
    let run = Run {
        t0,
        calls,
        notes,
        latency,
    };
    (run, p.stop_processing())
}

/// What the main thread plays, and where, while the audio thread runs.
struct Play<'a> {
    /// The plugin's input (its own port, or the virmidi device's).
    input: &'a str,
    /// The two probes' inputs.
    probe_addrs: [&'a str; 2],
    file: &'a std::path::Path,
    /// The warm-up notes, under Auto.
    warm_up: Option<&'a std::path::Path>,
    /// The plugin reads a virmidi device (raw MIDI).
    raw: bool,
}

/// After the pre-roll, the warm-up (to the plugin only) and the file (to
/// the plugin and the probe) through Midi Through.
fn play_into_both(play: &Play) {
    // A session has been running for a while before anyone plays: let
    // the clock map see PRE_ROLL of calls first (it settles within 0.2 s
    // at 64 frames and 1-3 s at 1024 with this much jitter).
    std::thread::sleep(PRE_ROLL);
    // One source, two listeners, as with a keyboard patched to two
    // programs: aplaymidi plays into the kernel's "Midi Through" port,
    // which both the plugin and the probe are subscribed to, so both get
    // each event from the same kernel dispatch.
    common::aconnect(THROUGH, play.input);
    if let Some(warm_up) = play.warm_up {
        // The probe is not listening yet: only the plugin hears these.
        common::aplaymidi(THROUGH, warm_up, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(300));
    }
    for addr in play.probe_addrs {
        common::aconnect(THROUGH, addr);
    }
    common::aplaymidi(THROUGH, play.file, Duration::from_secs(60));
    // Let the last notes through the one-block latency and the ring.
    std::thread::sleep(Duration::from_millis(300));
    // The virmidi port outlives the run (the plugin's own port does not).
    if play.raw {
        common::aconnect_disconnect(THROUGH, play.input);
    }
}

fn probe_engine_client(e: &AlsaEngine) -> i32 {
    e.client().expect("probe running").client
}

fn probe_port(e: &AlsaEngine) -> i32 {
    e.client().expect("probe running").in_port
}

struct Figures {
    /// PhasorSync: position minus (kernel time mapped by the pacing schedule + one block).
    ours: Vec<f64>,
    /// The same notes' times at the two probes, first minus second, samples.
    floor: Vec<f64>,
    /// Snapped to the start of the first block called after the kernel timestamp,
    /// minus the kernel time mapped by the pacing schedule.
    snapped: Vec<f64>,
    /// PhasorSync: inter-onset interval minus the file's, in samples.
    ioi: Vec<f64>,
    /// Messages the plugin reported as too late for their sample.
    late: u64,
    /// How long after its deadline each process() call came, in µs.
    wake_us: Vec<f64>,
    /// Notes left out of the figures for being placed just after an xrun.
    excluded: usize,
    /// Blocks called more than a period late.
    xruns: usize,
    /// The latency in use at the end, samples.
    latency_end: f64,
    /// Changes of "Latency in use" in the run (warm-up included).
    latency_changes: usize,
    /// Measured notes placed at the start of their block because they came
    /// too late for their sample.
    placed_late: usize,
}

/// Set the "MIDI input latency" parameter, as a user would before playing.
fn set_latency(plugin: &mut PluginInstance<clap_host::TestHost>, setting: Setting) {
    let value = match setting {
        Setting::Blocks(b) => f64::from(b),
        Setting::Auto => AUTO,
    };
    set_param(plugin, phasorsync::plugin::params::index::LATENCY, value);
}

/// Set the parameter of table row `index` before activation.
fn set_param(plugin: &mut PluginInstance<clap_host::TestHost>, index: usize, value: f64) {
    use clack_extensions::params::PluginParams;

    let mut handle = plugin.inactive_plugin_handle().expect("inactive");
    let params = handle.get_extension::<PluginParams>().expect("params");
    let mut input = EventBuffer::with_capacity(1);
    input.push(&ParamValueEvent::new(
        0,
        ClapId::new(phasorsync::plugin::params::PARAMS[index].id),
        Pckn::match_all(),
        value,
    ));
    params.flush(
        &mut handle,
        &input.as_input(),
        &mut EventBuffer::new().as_output(),
    );
}

fn measure(frames: u32, setting: Setting, times: &[u32], backend: Backend) -> Figures {
    let (mut run, heard, late) = run(frames, setting, times, backend);
    let (seen, floor) = heard.with_floor();
    let warm_up = if setting == Setting::Auto { WARM_UP } else { 0 };
    assert_eq!(
        run.notes.len(),
        NOTES + warm_up,
        "the plugin did not deliver every note exactly once"
    );
    run.notes.drain(..warm_up);
    // The latency each note was placed with: one block plus the delivery
    // margin (the fixed choice of one block, and where Auto starts), times
    // the blocks of a fixed choice, or the latest "Latency in use" under Auto.
    let margin = (phasorsync::timeline::DELIVERY_MARGIN_NS as f64 * RATE / 1e9).ceil();
    let latency_at = |pos: u64| match setting {
        Setting::Blocks(b) => f64::from(frames * b) + margin,
        Setting::Auto => run
            .latency
            .iter()
            .rev()
            .find(|&&(from, _)| from <= pos)
            .map_or(f64::from(frames) + margin, |&(_, l)| l.round()),
    };
    let latency_end = latency_at(u64::MAX);
    let ns_to_samples = RATE / 1e9;
    let period_ns = f64::from(frames) * 1e9 / RATE;
    let wake_us: Vec<f64> = run
        .calls
        .iter()
        .enumerate()
        .map(|(k, &c)| (c as f64 - (run.t0 as f64 + k as f64 * period_ns)) / 1e3)
        .collect();
    // A call more than a period after its deadline is what a sound card
    // calls an xrun: the audio dropped out and the timeline broke. Notes
    // placed within XRUN_SHADOW_MS after one are left out of the figures (and
    // counted): no placement is right across a dropout, for any method.
    let shadow_blocks = ((XRUN_SHADOW_MS * 1e6 / period_ns).ceil() as usize).max(8);
    let xrun: Vec<bool> = wake_us.iter().map(|&w| w * 1e3 > period_ns).collect();
    let near_xrun = |k: usize| {
        let k = k.min(xrun.len() - 1);
        xrun[k.saturating_sub(shadow_blocks)..=k].iter().any(|&x| x)
    };
    let mut excluded = 0;
    let mut at_block_start = Vec::new();
    let mut ours = Vec::new();
    let mut snapped = Vec::new();
    let mut ioi = Vec::new();
    for (i, (&(pos, key_out), &(t_kernel, key_probe))) in run.notes.iter().zip(&seen).enumerate() {
        assert_eq!(key_out, key(i), "note {i} out of order");
        assert_eq!(key_probe, key(i), "probe note {i} out of order");
        let ideal = (t_kernel as f64 - run.t0 as f64) * ns_to_samples;
        if near_xrun((pos / u64::from(frames)) as usize) {
            excluded += 1;
            continue;
        }
        ours.push(pos as f64 - (ideal + latency_at(pos)));
        at_block_start.push(pos % u64::from(frames) == 0);
        // The block that would have drained it without a timestamp.
        let k = run
            .calls
            .iter()
            .position(|&c| c >= t_kernel)
            .unwrap_or(run.calls.len());
        snapped.push((k as u64 * u64::from(frames)) as f64 - ideal);
        if i > 0 && !near_xrun((run.notes[i - 1].0 / u64::from(frames)) as usize) {
            let want = f64::from(times[i] - times[i - 1]) * 1e-3 * RATE;
            ioi.push((pos - run.notes[i - 1].0) as f64 - want);
        }
    }
    let xruns = xrun.iter().filter(|&&x| x).count();
    // Late for its sample: put at the start of its block, after where it
    // belonged (beyond the clock map's constant offset, the median).
    let offset = if ours.is_empty() { 0.0 } else { median(&ours) };
    let placed_late = ours
        .iter()
        .zip(&at_block_start)
        .filter(|&(&e, &start)| start && e - offset > 1.0)
        .count();
    Figures {
        ours,
        floor,
        snapped,
        ioi,
        late,
        wake_us,
        excluded,
        xruns,
        latency_end,
        latency_changes: run.latency.len(),
        placed_late,
    }
}

/// Fewest notes away from xruns that make a row judgeable (a sixth of
/// them): below that the row measured the machine's stalls, not the plugin.
/// Nor is a row whose xruns left out more than half the notes: the rest
/// sit between stalls that close together (1 172 xruns in a 64-frame row
/// under load, 100 of 120 notes left out: the 20 others jittered 4.88
/// samples against 14.48 snapped, a third, not the quarter judged).
const MIN_JUDGED: usize = NOTES / 6;

/// Largest share of the measured notes Auto may place late: Auto keeps the
/// latency that would have placed 99.9 % of its window's messages, so it
/// grows after, not before, a delay longer than any it has seen; a loaded
/// machine brings a few such delays in a run (2 of 118 seen 6 Dec 2026 at
/// 64 frames with 27 xruns), a latency that never grows brings many.
const AUTO_LATE_SHARE: f64 = 0.05;

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn hardware_notes_land_on_their_sample_at_every_block_size() {
    common::require_sequencer();
    let times = schedule();
    println!(
        "placement at 48 kHz, {NOTES} notes from aplaymidi; error in samples against the kernel \
         timestamp: delay = median, jitter = |error - median| p50 / p99 / max; \
         block N: latency one block, N*2: two blocks, N auto: Auto after {WARM_UP} notes of \
         warm-up; seq: the ALSA sequencer backend, raw: the raw MIDI backend reading a virmidi \
         device Midi Through plays into"
    );
    println!(
        "{:>13} | {:>30} | {:>30} | {:>21} | late",
        "block", "PhasorSync: delay, jitter", "snapped: delay, jitter", "inter-onset |error|"
    );
    // Every block size at a fixed latency of one block, 256 frames again at
    // two blocks, which absorbs wake-ups up to a period late, and every block
    // size under Auto, the default; the raw MIDI backend at one block each.
    let seq = (Backend::Sequencer, "seq");
    let raw = (Backend::RawMidi, "raw");
    let runs = [
        (64u32, Setting::Blocks(1), seq),
        (256, Setting::Blocks(1), seq),
        (1024, Setting::Blocks(1), seq),
        (256, Setting::Blocks(2), seq),
        (64, Setting::Auto, seq),
        (256, Setting::Auto, seq),
        (1024, Setting::Auto, seq),
        (64, Setting::Blocks(1), raw),
        (256, Setting::Blocks(1), raw),
        (1024, Setting::Blocks(1), raw),
    ];
    let mut failures = Vec::new();
    for (frames, setting, (backend, which)) in runs {
        let label = match setting {
            Setting::Blocks(1) => format!("{frames} {which}"),
            Setting::Blocks(b) => format!("{frames}*{b} {which}"),
            Setting::Auto => format!("{frames} auto {which}"),
        };
        // Every note delivered once and in order: asserted inside.
        let f = measure(frames, setting, &times, backend);
        failures.extend(judge(&label, frames, setting, &f));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// One row's figures printed, and what must hold on any machine of this
/// kind, loaded or not: the failures. The precise figures (the goal of
/// p99 <= 1 sample) are printed, not asserted: an emulated CPU on a shared
/// machine moves them by milliseconds (`cargo xtask bench` reports them).
fn judge(label: &str, frames: u32, setting: Setting, f: &Figures) -> Vec<String> {
    let (w50, w99, wmax) = percentiles(&f.wake_us);
    let conditions = format!(
        "audio thread wake-up after deadline p50 {w50:.0} us, p99 {w99:.0} us, max {wmax:.0} \
         us; {} xruns; {} of {NOTES} notes left out (within {XRUN_SHADOW_MS} ms after an xrun)",
        f.xruns, f.excluded
    );
    if f.ours.len() < MIN_JUDGED || f.excluded * 2 > NOTES {
        // An emulated CPU on a loaded machine cannot always keep a 1.3 ms
        // period: then there is nothing to judge at this block size. A
        // 21 ms period it keeps (no xrun at 1024 frames in any run on
        // record): those rows must be judgeable.
        println!(
            "{label:>13} | not measurable in this run, too few notes away from xruns; {conditions}"
        );
        return if frames >= 1024 {
            vec![format!(
                "block {label}: the run was mostly xruns: {conditions}"
            )]
        } else {
            Vec::new()
        };
    }
    let (od, o50, o99, omax) = delay_jitter(&f.ours);
    let (sd, s50, s99, smax) = delay_jitter(&f.snapped);
    let (i50, i99, imax) = percentiles(&f.ioi);
    println!(
        "{label:>13} | {od:>6.1}, {o50:>5.2} {o99:>7.2} {omax:>7.2} | {sd:>6.1}, {s50:>5.2} \
         {s99:>7.2} {smax:>7.2} | {i50:>5.2} {i99:>7.2} {imax:>7.2} | {}",
        f.late
    );
    println!("      {conditions}");
    let (fd, f50, f99, fmax) = delay_jitter(&f.floor);
    println!(
        "      floor: two probes' kernel timestamps of the same notes differ by {fd:.1}, \
         jitter {f50:.2} {f99:.2} {fmax:.2} samples"
    );
    let (r50, r99, rmax) = percentiles(&f.ours);
    let met = r99 <= 1.0 && rmax <= 4.0;
    println!(
        "      PhasorSync |error| against the kernel timestamp p50 {r50:.2}, p99 {r99:.2}, max \
         {rmax:.2} (goal p99 <= 1, max <= 4: {}); {} of {} measured note(s) placed late; \
         latency in use at the end {:.0} samples ({:.2} ms), {} change(s)",
        if met { "met" } else { "not met in this run" },
        f.placed_late,
        f.ours.len(),
        f.latency_end,
        f.latency_end * 1e3 / RATE,
        f.latency_changes
    );
    let mut failures = Vec::new();
    // What Auto promises whatever the machine's noise: after the warm-up,
    // almost every note away from an xrun comes in time for its sample.
    if setting == Setting::Auto && f.placed_late as f64 > AUTO_LATE_SHARE * f.ours.len() as f64 {
        failures.push(format!(
            "block {label}: {} of {} measured notes placed late at a latency of {:.0} samples \
             (more than {:.0} %); {conditions}",
            f.placed_late,
            f.ours.len(),
            f.latency_end,
            100.0 * AUTO_LATE_SHARE
        ));
    }
    // The timestamp is used: away from xruns, placed notes jitter far less
    // than the same notes snapped to the block in which they became
    // available (a quarter: seen 1/20 to 1/600 under load; a plugin that
    // puts events at the block start jitters as much as snapping does).
    if 4.0 * o50 >= s50 {
        failures.push(format!(
            "block {label}: placed notes jitter (p50 {o50:.2}) not under a quarter of snapped \
             ones (p50 {s50:.2}); {conditions}"
        ));
    }
    failures
}

/// Median, then p50/p99/max of the distance from it.
fn delay_jitter(errors: &[f64]) -> (f64, f64, f64, f64) {
    let m = median(errors);
    let centred: Vec<f64> = errors.iter().map(|e| e - m).collect();
    let (p50, p99, max) = percentiles(&centred);
    (m, p50, p99, max)
}
