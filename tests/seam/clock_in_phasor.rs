//! In-process with the hand-driven engine: MIDI clock pushed into
//! the input ring drives the phasor on the main audio output (it wraps on
//! the sample of every beat's tick), the read-only parameters come out as
//! parameter value events, and the clock messages pass to the host or not
//! per "Clock messages to the DAW". Also: host mode from the transport, and
//! process() with no, fewer, or 64-bit audio buffers.
//! Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use crate::clock_streams;
use clack_extensions::log::LogSeverity;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::MidiBufferProducer;
use phasorsync::timeline::monotonic_ns;
use std::time::Duration;

/// Blocks of 21 ms: a sleeping test host on a busy machine keeps time
/// better at this size than at 5 ms.
const FRAMES: u32 = 1024;
const RATE: f64 = 48_000.0;
/// The clock's source: client 20, port 0.
const SOURCE: u16 = 20 << 8;

type Host = clap_host::TestHost;

fn load() -> (PluginEntry, PluginInstance<Host>) {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-clock-in")
    .unwrap();
    let plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    (entry, plugin)
}

fn param(i: usize, value: f64) -> ParamValueEvent {
    ParamValueEvent::new(0, ClapId::new(PARAMS[i].id), Pckn::match_all(), value)
}

fn send(producer: &mut MidiBufferProducer, time_ns: u64, event: MidiEvent) {
    assert!(producer.try_send(MidiMessage {
        time_ns,
        port: SOURCE,
        event,
    }));
}

/// What one block gave: the clock bytes at their samples, the read-only
/// parameter values at theirs.
#[derive(Default)]
struct Seen {
    /// (absolute sample, status byte) of each MIDI event.
    midi: Vec<(u64, u8)>,
    /// (absolute sample, param id, value).
    params: Vec<(u64, u32, f64)>,
}

fn collect(seen: &mut Seen, at: u64, output: &EventBuffer) {
    for e in output {
        let t = at + u64::from(e.header().time());
        match e.as_core_event() {
            Some(CoreEventSpace::Midi(m)) => seen.midi.push((t, m.data()[0])),
            Some(CoreEventSpace::ParamValue(p)) => {
                seen.params
                    .push((t, p.param_id().map_or(0, |i| i.get()), p.value()))
            }
            _ => {}
        }
    }
}

/// The last value the plugin gave parameter row `i`.
fn last(seen: &Seen, i: usize) -> Option<f64> {
    seen.params
        .iter()
        .rev()
        .find(|p| p.1 == PARAMS[i].id)
        .map(|p| p.2)
}

/// Run blocks paced like a sound card (the block's due time is slept to, so
/// the timeline settles), recording both channels and the events.
struct Run {
    audio: [Vec<f32>; 2],
    seen: Seen,
    start: std::time::Instant,
    blocks: u64,
}

impl Run {
    fn new() -> Self {
        Run {
            audio: [Vec::new(), Vec::new()],
            seen: Seen::default(),
            start: std::time::Instant::now(),
            blocks: 0,
        }
    }

    fn block(&mut self, p: &mut StartedPluginAudioProcessor<Host>, input: &EventBuffer) {
        let due = Duration::from_secs_f64((self.blocks + 1) as f64 * f64::from(FRAMES) / RATE);
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut output = EventBuffer::with_capacity(256);
        let mut l = vec![-1.0f32; FRAMES as usize];
        let mut r = vec![-1.0f32; FRAMES as usize];
        clap_host::process_block_with(p, FRAMES, input, &mut output, None, &mut [&mut l, &mut r]);
        collect(&mut self.seen, self.blocks * u64::from(FRAMES), &output);
        self.audio[0].extend(l);
        self.audio[1].extend(r);
        self.blocks += 1;
    }
}

#[test]
fn the_phasor_follows_midi_clock_from_the_ring() {
    // The on-the-sample criterion depends on the test host keeping time on
    // a shared machine: up to three runs, one of which must meet it (every
    // other assertion holds in every run).
    let mut seen = Vec::new();
    for _ in 0..3 {
        match follow_once() {
            None => return,
            Some(off) => {
                eprintln!("wraps off their beat ticks: {off:?}; again");
                seen.push(off);
            }
        }
    }
    panic!("wraps off their beat ticks in three runs: {seen:?}");
}

/// 240 BPM: ns between ticks.
const PERIOD_240_NS: f64 = 60e9 / 240.0 / 24.0;

/// One run; `Some(offsets)` when the wraps were not on their ticks' samples.
fn follow_once() -> Option<Vec<u64>> {
    let (_entry, mut plugin) = load();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    let mut run = Run::new();
    holds_without_clock(&mut run, &mut p);

    let first = run.blocks * u64::from(FRAMES);
    let ticks = clock_at_240_bpm(&mut run, &mut p, &mut producer);
    let clocks = every_tick_passed(&run, ticks);
    let (off, precise) = wraps_on_beat_ticks(&run.audio[0], first, &clocks);
    read_only_parameters_followed(&run.seen);
    clock_to_host_off_still_followed(&mut run, &mut p, &mut producer);
    plugin.deactivate(p.stop_processing());

    // The follower's dropout reached the log.
    assert!(clap_host::run_main_thread_callback(&mut plugin));
    let logs = clap_host::logs(&plugin);
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains("dropout(s) of the external MIDI clock")),
        "{logs:?}"
    );
    (!precise).then_some(off)
}

/// External clock, one ramp per beat: with nothing to follow yet, the
/// phasor holds at 0.
fn holds_without_clock(run: &mut Run, p: &mut StartedPluginAudioProcessor<Host>) {
    let mut setup = EventBuffer::new();
    setup.push(&param(index::PHASOR_SOURCE, 2.0));
    setup.push(&param(index::PHASOR_PERIOD, 2.0));
    run.block(p, &setup);
    let none = EventBuffer::new();
    for _ in 0..20 {
        run.block(p, &none);
    }
    // Nothing to follow yet: the phasor holds at 0.
    assert!(run.audio[0].iter().all(|&v| v == 0.0));
}

/// 240 BPM from 100 ms on: Start, then 24 ticks a beat for 3 s, queued up
/// to 100 ms ahead of their time (the ring holds 256 messages), and blocks
/// until 0.6 s after the last tick. Returns the ticks sent.
fn clock_at_240_bpm(
    run: &mut Run,
    p: &mut StartedPluginAudioProcessor<Host>,
    producer: &mut MidiBufferProducer,
) -> u64 {
    let t0 = monotonic_ns() + 100_000_000;
    send(producer, t0, MidiEvent::Start);
    let ticks = 288u64;
    let mut queued = 0;
    let none = EventBuffer::new();
    // Up to 0.6 s after the last tick: past the free run (48 periods).
    for _ in 0..((3.7 * RATE) as u32 / FRAMES) {
        while queued < ticks {
            let t = t0 + 1_000_000 + (queued as f64 * PERIOD_240_NS) as u64;
            if t > monotonic_ns() + 100_000_000 {
                break;
            }
            send(producer, t, MidiEvent::TimingClock);
            queued += 1;
        }
        run.block(p, &none);
    }
    ticks
}

/// Both channels carry the phasor, in range, and every tick and the Start
/// came out as MIDI. Returns the ticks' samples.
fn every_tick_passed(run: &Run, ticks: u64) -> Vec<u64> {
    let [l, r] = &run.audio;
    assert_eq!(l, r, "both channels carry the phasor");
    assert!(l.iter().all(|v| (0.0..1.0).contains(v)), "out of range");
    // Every tick came out as MIDI (clock to the DAW is on by default).
    let clocks: Vec<u64> = run
        .seen
        .midi
        .iter()
        .filter(|m| m.1 == 0xF8)
        .map(|m| m.0)
        .collect();
    assert_eq!(clocks.len() as u64, ticks);
    assert!(run.seen.midi.iter().any(|m| m.1 == 0xFA), "Start passed");
    clocks
}

/// The phasor `l` (from sample `first` on) against the beat ticks among
/// `clocks`: each beat's distance to the nearest wrap, and whether the run
/// was precise (see below).
fn wraps_on_beat_ticks(l: &[f32], first: u64, clocks: &[u64]) -> (Vec<u64>, bool) {
    // The phasor wraps on the sample of each beat's tick (ticks 24, 48, …;
    // tick 0 is song position 0, where following starts), give or take a
    // sample of rounding; the rest of the time it rises. The test host
    // sleeps to pace its calls, and on a loaded machine a late call resets
    // the sample ↔ time map (an xrun to the timeline): the ticks then land
    // elsewhere at once while the phasor slews to them at 0.5 % (60 samples
    // a beat here), or jumps if they moved by more than a tick. So: most
    // beats (and the median) on the sample, every one within a tick.
    let wraps: Vec<u64> = (first as usize + 1..l.len())
        .filter(|&s| l[s] < l[s - 1])
        .map(|s| s as u64)
        .collect();
    let beats: Vec<u64> = clocks.iter().step_by(24).skip(1).copied().collect();
    if std::env::var_os("PHASOR_DEBUG").is_some() {
        eprintln!("first {first} clocks {clocks:?}");
        for s in (first as usize..l.len()).step_by(128) {
            eprint!("{s}:{:.4} ", l[s]);
        }
        eprintln!();
    }
    assert_eq!(beats.len(), 11);
    let off: Vec<u64> = beats
        .iter()
        .map(|&b| {
            wraps
                .iter()
                .map(|&w| w.abs_diff(b))
                .min()
                .unwrap_or(u64::MAX)
        })
        .collect();
    eprintln!("wrap − beat tick, samples: {off:?}");
    let tick_samples = (60.0 / 240.0 / 24.0 * RATE) as u64;
    assert!(
        off.iter().all(|&d| d <= tick_samples + 2),
        "a beat without a wrap within a tick: {off:?}, wraps at {wraps:?}, beats at {beats:?}"
    );
    let on_time = off.iter().filter(|&&d| d <= 2).count();
    let mut sorted = off.clone();
    sorted.sort_unstable();
    let precise = sorted[off.len() / 2] <= 2 && on_time * 10 >= off.len() * 6;
    (off, precise)
}

/// The read-only parameters followed: tempo, running, source, each
/// published when it changed; once the ticks have stopped and the free run
/// is over, neither running nor a tempo.
fn read_only_parameters_followed(seen: &Seen) {
    let shown = |i: usize, v: f64| seen.params.iter().any(|p| p.1 == PARAMS[i].id && p.2 == v);
    assert!(shown(index::EXT_TEMPO, 240.0), "{:?}", seen.params);
    assert!(shown(index::EXT_RUNNING, 1.0), "{:?}", seen.params);
    assert_eq!(last(seen, index::EXT_SOURCE), Some(1.0 + f64::from(SOURCE)));
    assert_eq!(last(seen, index::EXT_RUNNING), Some(0.0));
    assert_eq!(last(seen, index::EXT_TEMPO), Some(0.0));
    // Shown without flicker: the tempo went 0 → 240 → 0, nothing between.
    let tempos: Vec<f64> = seen
        .params
        .iter()
        .filter(|p| p.1 == PARAMS[index::EXT_TEMPO].id)
        .map(|p| p.2)
        .collect();
    assert_eq!(tempos, [240.0, 0.0]);
}

/// Clock messages to the DAW off: ticks still followed, none passed.
fn clock_to_host_off_still_followed(
    run: &mut Run,
    p: &mut StartedPluginAudioProcessor<Host>,
    producer: &mut MidiBufferProducer,
) {
    let mut filter_off = EventBuffer::new();
    filter_off.push(&param(index::CLOCK_TO_HOST, 0.0));
    run.block(p, &filter_off);
    let before = run.seen.midi.len();
    let t1 = monotonic_ns() + 50_000_000;
    send(producer, t1, MidiEvent::Continue);
    for i in 0..48u64 {
        let t = t1 + 1_000_000 + (i as f64 * PERIOD_240_NS) as u64;
        send(producer, t, MidiEvent::TimingClock);
    }
    let mid = run.audio[0].len();
    let none = EventBuffer::new();
    for _ in 0..((0.3 * RATE) as u32 / FRAMES) {
        run.block(p, &none);
    }
    assert_eq!(
        run.seen.midi.len(),
        before,
        "clock messages passed while off"
    );
    let moved = run.audio[0][mid..]
        .windows(2)
        .filter(|w| w[0] != w[1])
        .count();
    assert!(moved > 1000, "the phasor stood still: {moved}");
}

#[test]
fn a_second_clock_source_is_ignored_and_reported() {
    let (_entry, mut plugin) = load();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    let mut run = Run::new();
    run.block(&mut p, &EventBuffer::new());
    let t = monotonic_ns() + 20_000_000;
    for i in 0..10u64 {
        send(&mut producer, t + i * 10_000_000, MidiEvent::TimingClock);
        assert!(producer.try_send(MidiMessage {
            time_ns: t + i * 10_000_000 + 1_000,
            port: (21 << 8) | 1,
            event: MidiEvent::TimingClock,
        }));
    }
    for _ in 0..40 {
        run.block(&mut p, &EventBuffer::new());
    }
    assert_eq!(
        last(&run.seen, index::EXT_SOURCE),
        Some(1.0 + f64::from(SOURCE))
    );
    plugin.deactivate(p.stop_processing());
    assert!(clap_host::run_main_thread_callback(&mut plugin));
    let logs = clap_host::logs(&plugin);
    assert!(
        logs.iter().any(|(_, m)| m.starts_with(
            "10 MIDI clock message(s) from a second source ignored: two sources at once, \
             following 20:0"
        )),
        "{logs:?}"
    );
}

fn transport(beats: f64, tempo: f64) -> TransportEvent {
    clap_host::transport(0, true, beats, tempo)
}

#[test]
fn host_mode_and_any_buffers_the_host_gives() {
    let (_entry, mut plugin) = load();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut setup = EventBuffer::new();
    setup.push(&param(index::PHASOR_SOURCE, 1.0));
    setup.push(&param(index::PHASOR_PERIOD, 2.0));
    let mut out = EventBuffer::new();
    // No audio buffers at all, then one channel, then two.
    clap_host::process_block_with(&mut p, FRAMES, &setup, &mut out, None, &mut []);
    let t = transport(10.25, 120.0);
    let mut mono = vec![-1.0f32; FRAMES as usize];
    clap_host::process_block_with(
        &mut p,
        FRAMES,
        &EventBuffer::new(),
        &mut out,
        Some(&t),
        &mut [&mut mono],
    );
    assert_eq!(mono[0], 0.25);
    // 120 BPM at 48 kHz: 1/24000 beat a sample.
    let want = 0.25 + 255.0 / 24_000.0;
    assert!((f64::from(mono[255]) - want).abs() < 1e-6, "{}", mono[255]);

    // 64-bit buffers, stereo.
    let mut ch = [
        vec![-1.0f64; FRAMES as usize],
        vec![-1.0f64; FRAMES as usize],
    ];
    let t = transport(3.9, 120.0);
    {
        // SAFETY: no input buffers are given, so none can be shorter than the block.
        let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
        let mut ports = AudioPorts::with_capacity(2, 1);
        let mut outs = ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f64_output_only(ch.iter_mut().map(|c| &mut c[..])),
        }]);
        p.process(
            &ins,
            &mut outs,
            &EventBuffer::new().as_input(),
            &mut out.as_output(),
            None,
            Some(&t),
        )
        .expect("process");
    }
    assert_eq!(ch[0], ch[1]);
    assert!((ch[0][0] - 0.9).abs() < 1e-9, "{}", ch[0][0]);
    // Beat 4.0 is 0.1 beat later: 2400 samples, past this block; the ramp
    // rises all through it.
    assert!(ch[0].windows(2).all(|w| w[1] > w[0]));
    plugin.deactivate(p.stop_processing());
}

/// A source that sends only clock (no Start), with 0.5 ms RMS of timestamp
/// jitter: the phasor in Auto follows it, and the read-only parameters show
/// the lock (locked, then free-running when the clock stops, then
/// searching), the input's jitter and the phase error; each change of the
/// lock state is a log line from the main thread.
#[test]
fn clock_without_start_drives_the_phasor_and_shows_the_lock() {
    let (_entry, mut plugin) = load();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    let mut run = Run::new();
    // Auto (the default) and a period of one beat; no host transport.
    let mut setup = EventBuffer::new();
    setup.push(&param(index::PHASOR_PERIOD, 2.0));
    run.block(&mut p, &setup);
    let none = EventBuffer::new();

    // 120 BPM for 2 s (96 ticks, 4 beats), then nothing for 1.5 s: the
    // free run lasts 48 periods (1 s).
    let period_ns = 60e9 / 120.0 / 24.0;
    let ticks = 96u64;
    let t0 = monotonic_ns() + 50_000_000;
    let mut rng = clock_streams::Rng::new(3);
    let (mut queued, mut lines) = (0, 0);
    let first = run.audio[0].len();
    for _ in 0..((3.6 * RATE) as u32 / FRAMES) {
        while queued < ticks {
            let t = t0 as f64 + queued as f64 * period_ns + 0.5e6 * rng.gauss();
            if t > (monotonic_ns() + 100_000_000) as f64 {
                break;
            }
            send(&mut producer, t as u64, MidiEvent::TimingClock);
            queued += 1;
        }
        run.block(&mut p, &none);
        // The main thread reports as it goes, so each change is its own line.
        if clap_host::run_main_thread_callback(&mut plugin) {
            lines += 1;
        }
    }
    plugin.deactivate(p.stop_processing());
    assert_eq!(queued, ticks);

    let values = |i: usize| -> Vec<f64> {
        run.seen
            .params
            .iter()
            .filter(|p| p.1 == PARAMS[i].id)
            .map(|p| p.2)
            .collect()
    };
    assert_eq!(
        values(index::EXT_LOCK),
        [1.0, 2.0, 0.0],
        "{:?}",
        run.seen.params
    );
    assert_eq!(values(index::EXT_RUNNING), [1.0, 0.0]);
    assert_eq!(last(&run.seen, index::EXT_TEMPO), Some(0.0));
    // The jitter shown while locked is the input's, the phase error a
    // fraction of it (about a fifth at 24..96 ticks in the fit); both go
    // to 0 when there is no clock.
    let jitter = values(index::EXT_JITTER);
    let locked = jitter[jitter.len().saturating_sub(2)];
    assert!((0.35..=0.65).contains(&locked), "jitter shown {jitter:?}");
    let phase = values(index::EXT_PHASE_ERROR);
    let some_phase = phase.iter().any(|&x| x > 0.0 && x < locked);
    assert!(some_phase, "phase error shown {phase:?}");
    assert_eq!(jitter.last(), Some(&0.0));
    assert_eq!(phase.last(), Some(&0.0));

    // The phasor followed the clock without Start: it held at 0 before the
    // clock, then wrapped about once a beat (4 beats of clock, 2 more of
    // free run; give or take the first and last).
    let l = &run.audio[0][first..];
    assert!(l.iter().all(|v| (0.0..1.0).contains(v)));
    // (A wrap falls from near 1 to near 0; a late host call that moves the
    // timeline makes the phasor jump, a small step back.)
    let drops: Vec<(usize, f32)> = (1..l.len())
        .filter(|&s| l[s] < l[s - 1])
        .map(|s| (s, l[s - 1] - l[s]))
        .collect();
    let wraps = drops.iter().filter(|d| d.1 > 0.5).count();
    assert!((4..=7).contains(&wraps), "{wraps} wraps: {drops:?}");

    let logs = clap_host::logs(&plugin);
    let lock_lines: Vec<&(LogSeverity, String)> = logs
        .iter()
        .filter(|(_, m)| m.starts_with("external MIDI clock from 20:0: "))
        .collect();
    let states: Vec<&str> = lock_lines
        .iter()
        .map(|(_, m)| {
            m["external MIDI clock from 20:0: ".len()..]
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(states, ["locked", "free-running", "searching"], "{logs:?}");
    assert_eq!(lock_lines[1].0, LogSeverity::Warning);
    assert!(lock_lines[0].1.contains("jitter 0."), "{lock_lines:?}");
    assert!(lines >= 3, "{lines} main-thread reports");
}
