//! `process()` never allocates: 100 000 blocks with the MIDI ring filled to
//! the brim every few blocks, SysEx in every block, late messages, and the
//! host's own events to merge, under a counting global allocator that counts
//! every allocation made on the audio thread while `process()` runs.
//!
//! The output side too: host notes (both dialects), MIDI and SysEx to the
//! hardware and MIDI clock out from a playing transport with a tempo change
//! inside each block (`hardware_and_clock_out_never_allocate`), and the
//! phasor on a stereo output following MIDI clock in
//! (`process_with_audio_and_clock_in_never_allocates`).
//!
//! The plugin window is open and redrawing (under the test's own Xvfb)
//! during `process_never_allocates`: its thread reads what the audio thread
//! counts, and the audio thread must not notice.
//!
//! The plugin is loaded in-process (clack's entry for `PhasorSyncPlugin`
//! with a mock engine behind the seam), so the allocator of this test binary
//! is the plugin's allocator: the bundled `.clap` has its own, out of reach.
//! Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::alloc_counter::allocations_in;
use crate::clap_host;
use crate::x_server;
use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::{stream, EngineError, ManualEngine, MidiEngine, MockMidiEngine};
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::plugin::{EngineFactory, ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::MidiBufferProducer;
use phasorsync::timeline::monotonic_ns;
use std::sync::Mutex;

/// Held while the plugin window is open in `process_never_allocates`: its
/// thread (this debug build draws a frame in about 20 ms, 20 times a second
/// while the histograms fill) takes half a core of this 2-core machine, and
/// `hardware_and_clock_out_never_allocate` counts clock ticks, which a
/// starved test thread misses (clock out follows real time).
static WINDOW_OPEN: Mutex<()> = Mutex::new(());

/// Where the mock engine leaves the producer it is started with.
static PRODUCER: Mutex<Option<MidiBufferProducer>> = Mutex::new(None);

struct MockEngineFactory;

impl EngineFactory for MockEngineFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        let mut engine = MockMidiEngine::new();
        engine.expect_start().returning(|io| {
            *PRODUCER.lock().unwrap() = Some(io.input);
            Ok(())
        });
        engine.expect_stop().return_const(());
        engine.expect_set_options().return_const(());
        engine.expect_priority_link().returning(|| None);
        engine.expect_remembered().returning(String::new);
        Ok(Box::new(engine))
    }
}

const FRAMES: u32 = 256;
const BLOCKS: u32 = 100_000;
static SYSEX: [u8; 300] = {
    let mut s = [0x11u8; 300];
    s[0] = 0xF0;
    s[299] = 0xF7;
    s
};

#[test]
fn process_never_allocates() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<MockEngineFactory>>,
    >(c"/phasorsync-in-process")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let mut producer = PRODUCER.lock().unwrap().take().expect("engine was started");
    let _window_open = WINDOW_OPEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (x, gui, window) = open_window(&mut plugin);

    let mut host_input = EventBuffer::with_capacity(8);
    host_input.push(&clap_host::midi(3, [0x90, 60, 100]));
    host_input.push(&clap_host::sysex(90, &SYSEX));
    host_input.push(&clap_host::midi(200, [0x80, 60, 0]));
    let mut output = EventBuffer::with_capacity(4096);

    let mut processor = processor.start_processing().unwrap();
    // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    // A warm-up block with one message of each kind and the host's events:
    // the first call after start_processing discards what is older than the
    // latency, and the first run of each code path faults
    // its text pages in once, in any host. The test host's own output buffer
    // is touched here too, as a real host's would be: the faults counted
    // below are the plugin's.
    {
        for _ in 0..4096 {
            output.push(&clap_host::midi(0, [0xF8, 0, 0]));
        }
        output.clear();
        for k in 0..3 {
            if k == 1 {
                let t = monotonic_ns() - 20_000_000_000;
                for (i, event) in [
                    MidiEvent::NoteOn {
                        channel: 1,
                        key: 1,
                        velocity: 1,
                    },
                    MidiEvent::NoteOff {
                        channel: 1,
                        key: 1,
                        velocity: 0,
                    },
                    MidiEvent::ControlChange {
                        channel: 1,
                        controller: 7,
                        value: 1,
                    },
                ]
                .into_iter()
                .enumerate()
                {
                    assert!(producer.try_send(MidiMessage {
                        time_ns: t + i as u64,
                        port: 0,
                        event
                    }));
                }
                assert!(producer.try_send_sysex(t + 9, 0, &SYSEX));
            }
            // SAFETY: as above.
            let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
            processor
                .process(
                    &ins,
                    &mut outs,
                    &host_input.as_input(),
                    &mut output.as_output(),
                    None,
                    None,
                )
                .expect("process");
            output.clear();
        }
    }
    let (mut sent, mut refused, mut out_events) = (0u64, 0u64, 0u64);
    let mut allocations = 0;
    let mut faults = 0;
    let mut seq = 0u8;
    // A real source's timestamps only grow. These start 10 s in the past and
    // grow by 100 ns a message, so every one is already late when it is
    // popped: the test does not pace its calls like a sound card, so the
    // clock map cannot settle, and "late" (offset 0, counted) is the one
    // placement that is certain. The settled path is checked below.
    let mut stamp = monotonic_ns() - 10_000_000_000;
    for block in 0..BLOCKS {
        // A full ring every 16th block; otherwise a few messages.
        let burst = if block % 16 == 0 { usize::MAX } else { 6 };
        let mut n = 0;
        while n < burst {
            seq = seq.wrapping_add(1) & 0x7F;
            stamp += 100;
            let event = match n % 5 {
                0 => MidiEvent::NoteOn {
                    channel: 1,
                    key: seq,
                    velocity: 100,
                },
                1 => MidiEvent::NoteOff {
                    channel: 1,
                    key: seq,
                    velocity: 0,
                },
                2 | 3 => MidiEvent::ControlChange {
                    channel: 1,
                    controller: 7,
                    value: seq,
                },
                _ => MidiEvent::SysEx {
                    len: SYSEX.len() as u32,
                },
            };
            let ok = match event {
                MidiEvent::SysEx { .. } => producer.try_send_sysex(stamp, 0, &SYSEX),
                _ => producer.try_send(MidiMessage {
                    time_ns: stamp,
                    port: 0,
                    event,
                }),
            };
            if !ok {
                refused += 1;
                break;
            }
            sent += 1;
            n += 1;
        }
        output.clear();
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
        let mut status = None;
        let f0 = minor_faults();
        allocations += allocations_in(|| {
            status = Some(processor.process(
                &ins,
                &mut outs,
                &host_input.as_input(),
                &mut output.as_output(),
                Some(u64::from(block) * u64::from(FRAMES)),
                None,
            ));
        });
        faults += minor_faults() - f0;
        status.unwrap().expect("process");
        out_events += u64::from(output.len());
    }
    plugin.deactivate(processor.stop_processing());
    assert!(
        x.wait(|| x.pixels(window).2.iter().any(|&p| p != 0)),
        "the window was painted while process() ran"
    );
    gui.destroy(&plugin.plugin_handle());

    assert!(
        refused >= u64::from(BLOCKS / 16) - 1,
        "the ring was never full ({refused} refusals)"
    );
    // Three host events a block, and every message the ring took.
    let from_ring = out_events - u64::from(BLOCKS) * 3;
    assert_eq!(from_ring, sent, "hardware messages lost or invented");
    assert_eq!(
        allocations, 0,
        "process() allocated {allocations} times over {BLOCKS} blocks"
    );
    // The SysEx arena's pages were once first touched here.
    assert_eq!(
        faults, 0,
        "{faults} page faults on the audio thread in process()"
    );
}

/// Open the plugin window embedded in a window of the test's X server and
/// show it: its thread redraws whenever the figures change.
fn open_window(
    plugin: &mut PluginInstance<clap_host::TestHost>,
) -> (&'static x_server::XServer, PluginGui, u32) {
    let x = x_server::server();
    let parent = x.host_window(700, 500);
    let h = plugin.plugin_handle();
    let gui = h.get_extension::<PluginGui>().expect("gui extension");
    let embedded = GuiConfiguration {
        api_type: GuiApiType::X11,
        is_floating: false,
    };
    gui.create(&h, embedded).expect("create");
    // SAFETY: `parent` lives until the test ends, after `destroy`.
    unsafe { gui.set_parent(&h, Window::from_x11_handle(parent.into())) }.expect("set_parent");
    gui.show(&h).expect("show");
    let window = x.children(parent)[0];
    assert!(x.wait(|| x.viewable(window)), "the window is shown");
    (x, gui, window)
}

/// Minor page faults of the calling thread so far (`getrusage(RUSAGE_THREAD)`).
fn minor_faults() -> i64 {
    // SAFETY: getrusage writes one rusage struct, which we own.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut u);
        u.ru_minflt
    }
}

/// The clock map's settled path (the line fit over a full window), which the
/// unpaced test above never reaches: 100 000 blocks of a card at 48 kHz,
/// +100 ppm, with wake-up jitter, each placing 64 events.
#[test]
fn settled_clock_map_never_allocates() {
    use phasorsync::timeline::{Placement, Timeline};
    let mut map = Timeline::new(48_000.0, FRAMES);
    let period_ns = f64::from(FRAMES) * 1e9 / 48_000.0 * (1.0 - 100e-6);
    let mut x = 0x9E37_79B9u32;
    let mut placed = 0u64;
    let allocations = allocations_in(|| {
        for k in 0..u64::from(BLOCKS) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let jitter = u64::from(x % 1_500_000); // up to 1.5 ms late
            let due = 1_000_000_000 + ((k + 1) as f64 * period_ns) as u64;
            let block = map.begin_block(due + jitter, FRAMES, Some(k * u64::from(FRAMES)));
            let latency = block.latency_frames(1);
            for e in 0..64u64 {
                let t = due - (period_ns as u64) + e * 80_000;
                if matches!(block.place(t, latency), Placement::InBlock(_)) {
                    placed += 1;
                }
            }
        }
    });
    assert_eq!(allocations, 0);
    assert!(
        placed > u64::from(BLOCKS) * 32,
        "the map never settled: {placed} placed"
    );
}

/// Host events and MIDI clock to the hardware: 20 000 blocks of 256 frames
/// with a playing transport that changes tempo mid-block (a transport
/// event), CLAP notes, MIDI events and a SysEx in every block, clock out on,
/// and the output ring drained between blocks as the MIDI thread would.
/// Then `stop_processing` (Stop and note-offs) on the audio thread too.
#[test]
fn hardware_and_clock_out_never_allocate() {
    use clack_host::events::event_types::{NoteOffEvent, NoteOnEvent, ParamValueEvent};
    const OUT_BLOCKS: u32 = 20_000;
    let _no_window = WINDOW_OPEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-out-alloc")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let mut io = ManualEngine::take_io().expect("engine was started");
    let mut processor = processor.start_processing().unwrap();

    let pckn = |key| Pckn::from_raw(0, 0, key, -1);
    // 120 bpm is 1/24 000 beat a sample; the block's second half at 150.
    let half = FRAMES / 2;
    let beat_of = |block: u32| {
        f64::from(block) * (f64::from(half) / 24_000.0 + f64::from(half) * 150.0 / 60.0 / 48_000.0)
    };
    let mut inputs: Vec<EventBuffer> = Vec::new();
    let mut transports = Vec::new();
    let mut scratch = vec![0u8; io.output.sysex_capacity()];
    let (mut allocations, mut faults, mut to_hardware) = (0, 0, 0u64);
    // The clock as the queue would hold it: every block departs from the
    // prediction (the tempo changes back at each block start), so what was
    // scheduled ahead is taken back (from the tail) and sent again.
    let mut clock: Vec<(u64, MidiEvent)> = Vec::new();
    let mut clock_order = 0u64;
    // The first blocks are the warm-up (first run of each path, see above).
    for block in 0..OUT_BLOCKS + 4 {
        let first = clap_host::transport(0, true, beat_of(block), 120.0);
        let mut input = EventBuffer::with_capacity(8);
        if block == 0 {
            input.push(&ParamValueEvent::new(
                0,
                ClapId::new(PARAMS[index::CLOCK_OUT].id),
                Pckn::match_all(),
                1.0,
            ));
        }
        let key = (block % 100) as i16;
        input.push(&NoteOnEvent::new(3, pckn(key), 0.8));
        input.push(&clap_host::midi(50, [0xB0, 7, (block % 128) as u8]));
        input.push(&clap_host::sysex(90, &SYSEX));
        input.push(&clap_host::transport(
            half,
            true,
            beat_of(block) + f64::from(half) / 24_000.0,
            150.0,
        ));
        input.push(&NoteOffEvent::new(200, pckn(key), 0.0));
        inputs.push(input);
        transports.push(first);
    }
    let mut output = EventBuffer::with_capacity(64);
    for (block, (input, transport)) in inputs.iter().zip(&transports).enumerate() {
        output.clear();
        // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
        let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
        let mut status = None;
        let f0 = minor_faults();
        let a = allocations_in(|| {
            status = Some(processor.process(
                &ins,
                &mut outs,
                &input.as_input(),
                &mut output.as_output(),
                Some(block as u64 * u64::from(FRAMES)),
                Some(transport),
            ));
        });
        let f = minor_faults() - f0;
        status.unwrap().expect("process");
        if block >= 4 {
            allocations += a;
            faults += f;
        }
        // The MIDI thread's part.
        while let Some(m) = io.output.try_pop() {
            if m.event.is_sysex() {
                io.output.pop_sysex_payload(&mut scratch).expect("payload");
            }
            // The engine keeps the clock stream in order (so what it takes
            // back is the tail) and restarts the order at a retraction.
            match m.port {
                stream::RETRACT_CLOCK => {
                    while clock.last().is_some_and(|c| c.0 >= m.time_ns) {
                        clock.pop();
                    }
                    clock_order = clock_order.min(m.time_ns);
                }
                stream::CLOCK => {
                    clock_order = clock_order.max(m.time_ns);
                    clock.push((clock_order, m.event));
                }
                _ => to_hardware += 1,
            }
        }
    }
    // Processing stops mid-note, with the slave running.
    let mut input = EventBuffer::with_capacity(1);
    input.push(&NoteOnEvent::new(0, pckn(1), 0.8));
    // SAFETY: as above.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    // SAFETY: as above.
    let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
    processor
        .process(
            &ins,
            &mut outs,
            &input.as_input(),
            &mut output.as_output(),
            None,
            Some(&clap_host::transport(
                0,
                true,
                beat_of(OUT_BLOCKS + 4),
                120.0,
            )),
        )
        .expect("process");
    let mut stopped = None;
    let stop_allocations = allocations_in(|| stopped = Some(processor.stop_processing()));
    let mut tail = Vec::new();
    while let Some(m) = io.output.try_pop() {
        if m.port != stream::RETRACT_CLOCK {
            tail.push(m.event);
        }
    }
    plugin.deactivate(stopped.unwrap());

    assert!(
        tail.ends_with(&[
            MidiEvent::Stop,
            MidiEvent::NoteOff {
                channel: 0,
                key: 1,
                velocity: 0
            }
        ]),
        "{tail:?}"
    );
    // Per block: 2 notes, a CC, a SysEx.
    assert_eq!(to_hardware, 4 * u64::from(OUT_BLOCKS + 4));
    // And the song's 24 ticks a beat (0.288 a block: 128 samples at 120
    // bpm, then 128 at 150), tick 0 included, after Start, each once, and
    // the lookahead beyond the last block (150 ms at its 150 bpm: 9 ticks).
    // However the machine's load spaces the unpaced calls: a stall between
    // them once lost ticks and sent some twice (the clock_out unit test
    // `no_tick_is_lost_or_doubled_when_calls_outrun_real_time_and_stall`
    // gives such calls at set times).
    assert_eq!(clock[0].1, MidiEvent::Start);
    let ticks = clock[1..]
        .iter()
        .filter(|c| c.1 == MidiEvent::TimingClock)
        .count() as f64;
    let song = 24.0 * beat_of(OUT_BLOCKS + 4);
    assert!(
        (song..=song + 1.0 + 9.0).contains(&ticks),
        "{ticks} ticks for {song:.1} in the song"
    );
    assert_eq!(
        allocations, 0,
        "process() allocated {allocations} times over {OUT_BLOCKS} blocks"
    );
    assert_eq!(stop_allocations, 0, "stop_processing allocated");
    assert_eq!(
        faults, 0,
        "{faults} page faults on the audio thread in process()"
    );
}

/// A block with the phasor on a stereo audio output and MIDI
/// clock coming in (Start, ticks, Song Position Pointer, Stop, Continue,
/// from two sources), the host's transport with a transport event inside
/// the block, the phasor's source and period and the clock filter changed
/// as it runs, and the read-only parameters published: still no
/// allocation. Paced like a sound card (the external clock is only
/// followed when its ticks land on their samples), 600 blocks.
#[test]
fn process_with_audio_and_clock_in_never_allocates() {
    use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
    use clack_host::events::EventFlags;
    use clack_host::utils::{BeatTime, SecondsTime};
    use phasorsync::engine::ManualEngine;
    use phasorsync::plugin::params::{index, PARAMS};
    use phasorsync::plugin::ManualEngineFactory;

    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-alloc-clock")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    let mut processor = processor.start_processing().unwrap();

    let transport = |at: u32, beats: f64| TransportEvent {
        header: EventHeader::new_core(at, EventFlags::empty()),
        flags: TransportFlags::HAS_TEMPO
            | TransportFlags::HAS_BEATS_TIMELINE
            | TransportFlags::HAS_TIME_SIGNATURE
            | TransportFlags::IS_PLAYING,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_int(0),
        tempo: 120.0,
        tempo_inc: 1e-4,
        loop_start_beats: BeatTime::from_float(0.0),
        loop_end_beats: BeatTime::from_float(0.0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_float((beats / 4.0).floor() * 4.0),
        bar_number: 0,
        time_signature_numerator: 3,
        time_signature_denominator: 4,
    };
    let param =
        |i: usize, v: f64| ParamValueEvent::new(0, ClapId::new(PARAMS[i].id), Pckn::match_all(), v);
    // One input list per parameter state, built before counting.
    let inputs: Vec<EventBuffer> = (0..6)
        .map(|k| {
            let mut b = EventBuffer::with_capacity(8);
            b.push(&param(index::PHASOR_SOURCE, f64::from(k % 3)));
            b.push(&param(index::PHASOR_PERIOD, f64::from(k)));
            b.push(&param(index::CLOCK_TO_HOST, f64::from(k % 2)));
            b.push(&transport(FRAMES / 2, 100.0 + f64::from(k)));
            b
        })
        .collect();
    let mut output = EventBuffer::with_capacity(4096);
    for _ in 0..4096 {
        output.push(&clap_host::midi(0, [0xF8, 0, 0]));
    }
    output.clear();
    let mut left = vec![0f32; FRAMES as usize];
    let mut right = vec![0f32; FRAMES as usize];
    let mut ports = AudioPorts::with_capacity(2, 1);
    // SAFETY: no input buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };

    // 240 BPM clock queued up to 100 ms ahead of its time (the ring holds
    // 256), with the transport messages around it and a second source now
    // and then.
    let period_ns = 60e9 / 240.0 / 24.0;
    let t0 = monotonic_ns() + 20_000_000;
    let send = |p: &mut MidiBufferProducer, time_ns: u64, port: u16, event: MidiEvent| {
        assert!(p.try_send(MidiMessage {
            time_ns,
            port,
            event
        }));
    };
    let ticks = 300u64;
    send(&mut producer, t0, 0x1400, MidiEvent::Start);
    let mut queued = 0;

    let start = std::time::Instant::now();
    let (mut allocations, mut moved, mut params_out, mut clocks_out) = (0, 0usize, 0, 0);
    let blocks = 600u32;
    for block in 0..blocks {
        let due =
            std::time::Duration::from_secs_f64(f64::from(block + 1) * f64::from(FRAMES) / 48_000.0);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        while queued < ticks {
            let t = t0 + 500_000 + (queued as f64 * period_ns) as u64;
            if t > monotonic_ns() + 100_000_000 {
                break;
            }
            let event = match queued {
                100 => MidiEvent::Stop,
                101 => MidiEvent::SongPosition(64),
                102 => MidiEvent::Continue,
                _ => MidiEvent::TimingClock,
            };
            send(&mut producer, t, 0x1400, event);
            if queued % 50 == 7 {
                send(&mut producer, t + 1, 0x1501, MidiEvent::TimingClock);
            }
            queued += 1;
        }
        let input = &inputs[(block / 50) as usize % inputs.len()];
        let first = transport(0, f64::from(block) * 0.01);
        let mut outs = ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                [&mut left[..], &mut right[..]].into_iter(),
            ),
        }]);
        let mut status = None;
        allocations += allocations_in(|| {
            status = Some(processor.process(
                &ins,
                &mut outs,
                &input.as_input(),
                &mut output.as_output(),
                None,
                Some(&first),
            ));
        });
        status.unwrap().expect("process");
        moved += left.windows(2).filter(|w| w[0] != w[1]).count();
        for e in &output {
            match e.header().type_id() {
                5 => params_out += 1,  // CLAP_EVENT_PARAM_VALUE
                10 => clocks_out += 1, // CLAP_EVENT_MIDI
                _ => {}
            }
        }
        output.clear();
    }
    plugin.deactivate(processor.stop_processing());
    assert_eq!(
        allocations, 0,
        "process() with audio and clock in allocated {allocations} times"
    );
    // The paths ran: the phasor moved, parameters were published, clock
    // messages passed (while the filter let them).
    assert!(moved > 10_000, "the phasor barely moved: {moved}");
    assert!(params_out > 3, "{params_out} parameter events");
    assert!(clocks_out > 50, "{clocks_out} clock messages passed");
}
