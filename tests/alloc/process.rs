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
use clack_host::events::event_types::{
    NoteOffEvent, NoteOnEvent, ParamValueEvent, TransportEvent, TransportFlags,
};
use clack_host::events::EventFlags;
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::{stream, EngineError, ManualEngine, MidiEngine, MockMidiEngine};
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::plugin::{EngineFactory, ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{MidiBufferConsumer, MidiBufferProducer};
use phasorsync::timeline::monotonic_ns;
use std::ffi::CStr;
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

type Host = clap_host::TestHost;
type Processor = StartedPluginAudioProcessor<Host>;

/// The plugin, in-process with the engine `F` makes, instantiated and
/// activated (which starts the engine). `path` names this test's entry.
fn load_and_activate<F: EngineFactory + 'static>(
    path: &CStr,
) -> (PluginInstance<Host>, StoppedPluginAudioProcessor<Host>) {
    let entry =
        PluginEntry::load_from_clack::<SinglePluginEntry<PhasorSyncPlugin<F>>>(path).unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let processor = clap_host::activate(&mut plugin, FRAMES);
    (plugin, processor)
}

/// The host's output event list, every slot touched once, as a real host's
/// would be: the page faults counted are then the plugin's.
fn touched_output() -> EventBuffer {
    let mut output = EventBuffer::with_capacity(4096);
    for _ in 0..4096 {
        output.push(&clap_host::midi(0, [0xF8, 0, 0]));
    }
    output.clear();
    output
}

/// What one `process()` call is given besides audio.
struct Call<'a> {
    input: &'a EventBuffer,
    steady_time: Option<u64>,
    transport: Option<&'a TransportEvent>,
}

/// What one `process()` call did on the audio thread.
struct Counted {
    allocations: usize,
    /// Minor page faults.
    faults: i64,
}

/// One `process()` call (which must succeed) under the allocation counter
/// and the thread's page-fault count.
fn counted_process(
    processor: &mut Processor,
    ins: &InputAudioBuffers,
    outs: &mut OutputAudioBuffers,
    output: &mut EventBuffer,
    call: &Call,
) -> Counted {
    let mut status = None;
    let f0 = minor_faults();
    let allocations = allocations_in(|| {
        status = Some(processor.process(
            ins,
            outs,
            &call.input.as_input(),
            &mut output.as_output(),
            call.steady_time,
            call.transport,
        ));
    });
    let faults = minor_faults() - f0;
    status.unwrap().expect("process");
    Counted {
        allocations,
        faults,
    }
}

#[test]
fn process_never_allocates() {
    let (mut plugin, processor) = load_and_activate::<MockEngineFactory>(c"/phasorsync-in-process");
    let mut producer = PRODUCER.lock().unwrap().take().expect("engine was started");
    let _window_open = WINDOW_OPEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (x, gui, window) = open_window(&mut plugin);

    let mut host_input = EventBuffer::with_capacity(8);
    host_input.push(&clap_host::midi(3, [0x90, 60, 100]));
    host_input.push(&clap_host::sysex(90, &SYSEX));
    host_input.push(&clap_host::midi(200, [0x80, 60, 0]));
    let mut output = touched_output();

    let mut processor = processor.start_processing().unwrap();
    warm_up(&mut processor, &mut producer, &host_input, &mut output);
    let (feed, run) = full_ring_blocks(&mut processor, &mut producer, &host_input, &mut output);
    plugin.deactivate(processor.stop_processing());
    assert!(
        x.wait(|| x.pixels(window).2.iter().any(|&p| p != 0)),
        "the window was painted while process() ran"
    );
    gui.destroy(&plugin.plugin_handle());

    let (refused, sent) = (feed.refused, feed.sent);
    let (allocations, faults) = (run.allocations, run.faults);
    assert!(
        refused >= u64::from(BLOCKS / 16) - 1,
        "the ring was never full ({refused} refusals)"
    );
    // Three host events a block, and every message the ring took.
    let from_ring = run.out_events - u64::from(BLOCKS) * 3;
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

/// A warm-up: three blocks, the second with one message of each kind
/// (late ones), all with the host's events. The first call after
/// start_processing discards what is older than the latency, and the first
/// run of each code path faults its text pages in once, in any host (the
/// host's output list was touched before, see [`touched_output`]).
fn warm_up(
    processor: &mut Processor,
    producer: &mut MidiBufferProducer,
    host_input: &EventBuffer,
    output: &mut EventBuffer,
) {
    // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
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

/// What the test put into the input ring, and what the ring refused.
struct Feed {
    seq: u8,
    /// The last message's timestamp.
    stamp: u64,
    sent: u64,
    refused: u64,
}

impl Feed {
    /// Up to `burst` messages (note on, note off, two CCs, a SysEx, over
    /// again), until the ring refuses one.
    fn burst(&mut self, producer: &mut MidiBufferProducer, burst: usize) {
        let mut n = 0;
        while n < burst {
            self.seq = self.seq.wrapping_add(1) & 0x7F;
            self.stamp += 100;
            let seq = self.seq;
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
                MidiEvent::SysEx { .. } => producer.try_send_sysex(self.stamp, 0, &SYSEX),
                _ => producer.try_send(MidiMessage {
                    time_ns: self.stamp,
                    port: 0,
                    event,
                }),
            };
            if !ok {
                self.refused += 1;
                break;
            }
            self.sent += 1;
            n += 1;
        }
    }
}

/// The counted blocks' totals.
struct Totals {
    allocations: usize,
    faults: i64,
    /// Events the plugin gave the host.
    out_events: u64,
}

/// `BLOCKS` counted blocks, the ring filled to the brim every 16th and
/// given a few messages before the others.
fn full_ring_blocks(
    processor: &mut Processor,
    producer: &mut MidiBufferProducer,
    host_input: &EventBuffer,
    output: &mut EventBuffer,
) -> (Feed, Totals) {
    // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    // A real source's timestamps only grow. These start 10 s in the past and
    // grow by 100 ns a message, so every one is already late when it is
    // popped: the test does not pace its calls like a sound card, so the
    // clock map cannot settle, and "late" (offset 0, counted) is the one
    // placement that is certain. The settled path is checked below.
    let mut feed = Feed {
        seq: 0,
        stamp: monotonic_ns() - 10_000_000_000,
        sent: 0,
        refused: 0,
    };
    let mut totals = Totals {
        allocations: 0,
        faults: 0,
        out_events: 0,
    };
    for block in 0..BLOCKS {
        // A full ring every 16th block; otherwise a few messages.
        let burst = if block % 16 == 0 { usize::MAX } else { 6 };
        feed.burst(producer, burst);
        output.clear();
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
        let call = Call {
            input: host_input,
            steady_time: Some(u64::from(block) * u64::from(FRAMES)),
            transport: None,
        };
        let counted = counted_process(processor, &ins, &mut outs, output, &call);
        totals.allocations += counted.allocations;
        totals.faults += counted.faults;
        totals.out_events += u64::from(output.len());
    }
    (feed, totals)
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

/// Blocks counted in `hardware_and_clock_out_never_allocate` (after 4 of
/// warm-up).
const OUT_BLOCKS: u32 = 20_000;

/// Note port 0, channel 0, `key`, any note id.
fn pckn(key: i16) -> Pckn {
    Pckn::from_raw(0, 0, key, -1)
}

/// The song position at the start of `block` in
/// `hardware_and_clock_out_never_allocate`: 120 bpm is 1/24 000 beat a
/// sample; the block's second half at 150.
fn beat_of(block: u32) -> f64 {
    let half = FRAMES / 2;
    f64::from(block) * (f64::from(half) / 24_000.0 + f64::from(half) * 150.0 / 60.0 / 48_000.0)
}

/// Host events and MIDI clock to the hardware: 20 000 blocks of 256 frames
/// with a playing transport that changes tempo mid-block (a transport
/// event), CLAP notes, MIDI events and a SysEx in every block, clock out on,
/// and the output ring drained between blocks as the MIDI thread would.
/// Then `stop_processing` (Stop and note-offs) on the audio thread too.
#[test]
fn hardware_and_clock_out_never_allocate() {
    let _no_window = WINDOW_OPEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut plugin, processor) =
        load_and_activate::<ManualEngineFactory>(c"/phasorsync-out-alloc");
    let mut io = ManualEngine::take_io().expect("engine was started");
    let mut processor = processor.start_processing().unwrap();

    let (inputs, transports) = notes_midi_and_tempo_changes();
    let mut output = EventBuffer::with_capacity(64);
    let mut midi_thread = MidiThread::new(&io.output);
    let run = hardware_blocks(
        &mut processor,
        &mut midi_thread,
        &mut io.output,
        (&inputs, &transports),
        &mut output,
    );
    let (tail, stop_allocations) =
        stop_mid_note(&mut plugin, processor, &mut io.output, &mut output);
    let (allocations, faults) = (run.allocations, run.faults);
    let (clock, to_hardware) = (&midi_thread.clock, midi_thread.to_hardware);

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

/// Every block's host events and transport, built before counting: clock
/// out switched on in the first, then in each a note, a CC, a SysEx and a
/// tempo change to 150 bpm at its middle (120 bpm at its start).
fn notes_midi_and_tempo_changes() -> (Vec<EventBuffer>, Vec<TransportEvent>) {
    let half = FRAMES / 2;
    let mut inputs: Vec<EventBuffer> = Vec::new();
    let mut transports = Vec::new();
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
    (inputs, transports)
}

/// The engine's MIDI thread, as far as this test needs it: what went to
/// the hardware, and the clock stream.
struct MidiThread {
    scratch: Vec<u8>,
    to_hardware: u64,
    /// The clock as the queue would hold it: every block departs from the
    /// prediction (the tempo changes back at each block start), so what was
    /// scheduled ahead is taken back (from the tail) and sent again.
    clock: Vec<(u64, MidiEvent)>,
    clock_order: u64,
}

impl MidiThread {
    fn new(output: &MidiBufferConsumer) -> Self {
        MidiThread {
            scratch: vec![0u8; output.sysex_capacity()],
            to_hardware: 0,
            clock: Vec::new(),
            clock_order: 0,
        }
    }

    /// Take everything the audio thread queued.
    fn drain(&mut self, output: &mut MidiBufferConsumer) {
        while let Some(m) = output.try_pop() {
            if m.event.is_sysex() {
                output
                    .pop_sysex_payload(&mut self.scratch)
                    .expect("payload");
            }
            // The engine keeps the clock stream in order (so what it takes
            // back is the tail) and restarts the order at a retraction.
            match m.port {
                stream::RETRACT_CLOCK => {
                    while self.clock.last().is_some_and(|c| c.0 >= m.time_ns) {
                        self.clock.pop();
                    }
                    self.clock_order = self.clock_order.min(m.time_ns);
                }
                stream::CLOCK => {
                    self.clock_order = self.clock_order.max(m.time_ns);
                    self.clock.push((self.clock_order, m.event));
                }
                _ => self.to_hardware += 1,
            }
        }
    }
}

/// Every block of `inputs` with its transport, counted after the first 4,
/// and the MIDI thread's part after each.
fn hardware_blocks(
    processor: &mut Processor,
    midi_thread: &mut MidiThread,
    io_output: &mut MidiBufferConsumer,
    (inputs, transports): (&[EventBuffer], &[TransportEvent]),
    output: &mut EventBuffer,
) -> Counted {
    let mut totals = Counted {
        allocations: 0,
        faults: 0,
    };
    for (block, (input, transport)) in inputs.iter().zip(transports).enumerate() {
        output.clear();
        // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
        let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
        let call = Call {
            input,
            steady_time: Some(block as u64 * u64::from(FRAMES)),
            transport: Some(transport),
        };
        let counted = counted_process(processor, &ins, &mut outs, output, &call);
        if block >= 4 {
            totals.allocations += counted.allocations;
            totals.faults += counted.faults;
        }
        midi_thread.drain(io_output);
    }
    totals
}

/// Processing stops mid-note, with the slave running: one more block with
/// a note on, then `stop_processing` (counted) and deactivation. Returns
/// what the audio thread queued last (retractions left out) and
/// `stop_processing`'s allocations.
fn stop_mid_note(
    plugin: &mut PluginInstance<Host>,
    mut processor: Processor,
    io_output: &mut MidiBufferConsumer,
    output: &mut EventBuffer,
) -> (Vec<MidiEvent>, usize) {
    let mut input = EventBuffer::with_capacity(1);
    input.push(&NoteOnEvent::new(0, pckn(1), 0.8));
    // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
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
    while let Some(m) = io_output.try_pop() {
        if m.port != stream::RETRACT_CLOCK {
            tail.push(m.event);
        }
    }
    plugin.deactivate(stopped.unwrap());
    (tail, stop_allocations)
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
    let (mut plugin, processor) =
        load_and_activate::<ManualEngineFactory>(c"/phasorsync-alloc-clock");
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    let mut processor = processor.start_processing().unwrap();

    let param =
        |i: usize, v: f64| ParamValueEvent::new(0, ClapId::new(PARAMS[i].id), Pckn::match_all(), v);
    // One input list per parameter state, built before counting.
    let inputs: Vec<EventBuffer> = (0..6)
        .map(|k| {
            let mut b = EventBuffer::with_capacity(8);
            b.push(&param(index::PHASOR_SOURCE, f64::from(k % 3)));
            b.push(&param(index::PHASOR_PERIOD, f64::from(k)));
            b.push(&param(index::CLOCK_TO_HOST, f64::from(k % 2)));
            b.push(&transport_in_3_4(FRAMES / 2, 100.0 + f64::from(k)));
            b
        })
        .collect();
    let mut output = touched_output();
    let run = clock_in_blocks(&mut processor, &mut producer, &inputs, &mut output);
    plugin.deactivate(processor.stop_processing());

    let (allocations, moved) = (run.allocations, run.moved);
    let (params_out, clocks_out) = (run.params_out, run.clocks_out);
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

/// A playing transport in 3/4 at 120 bpm (rising), at sample `at` of the
/// block, song position `beats`.
fn transport_in_3_4(at: u32, beats: f64) -> TransportEvent {
    TransportEvent {
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
    }
}

/// Queue one message, which the ring must take.
fn send(p: &mut MidiBufferProducer, time_ns: u64, port: u16, event: MidiEvent) {
    assert!(p.try_send(MidiMessage {
        time_ns,
        port,
        event
    }));
}

/// 240 BPM clock queued up to 100 ms ahead of its time (the ring holds
/// 256), with the transport messages around it and a second source now
/// and then.
struct ClockIn {
    t0: u64,
    queued: u64,
}

impl ClockIn {
    const TICKS: u64 = 300;
    const PERIOD_NS: f64 = 60e9 / 240.0 / 24.0;

    /// Start, 20 ms from now.
    fn start(producer: &mut MidiBufferProducer) -> Self {
        let t0 = monotonic_ns() + 20_000_000;
        send(producer, t0, 0x1400, MidiEvent::Start);
        ClockIn { t0, queued: 0 }
    }

    /// Queue what is due within 100 ms.
    fn queue_ahead(&mut self, producer: &mut MidiBufferProducer) {
        while self.queued < Self::TICKS {
            let t = self.t0 + 500_000 + (self.queued as f64 * Self::PERIOD_NS) as u64;
            if t > monotonic_ns() + 100_000_000 {
                break;
            }
            let event = match self.queued {
                100 => MidiEvent::Stop,
                101 => MidiEvent::SongPosition(64),
                102 => MidiEvent::Continue,
                _ => MidiEvent::TimingClock,
            };
            send(producer, t, 0x1400, event);
            if self.queued % 50 == 7 {
                send(producer, t + 1, 0x1501, MidiEvent::TimingClock);
            }
            self.queued += 1;
        }
    }
}

/// What the clock-in blocks did.
struct ClockInRun {
    allocations: usize,
    /// Samples where the phasor (left channel) changed.
    moved: usize,
    params_out: u32,
    clocks_out: u32,
}

/// 600 blocks paced like a sound card, the clock queued ahead before each,
/// the parameter state changed every 50.
fn clock_in_blocks(
    processor: &mut Processor,
    producer: &mut MidiBufferProducer,
    inputs: &[EventBuffer],
    output: &mut EventBuffer,
) -> ClockInRun {
    let mut left = vec![0f32; FRAMES as usize];
    let mut right = vec![0f32; FRAMES as usize];
    let mut ports = AudioPorts::with_capacity(2, 1);
    // SAFETY: no input buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    let mut clock = ClockIn::start(producer);

    let start = std::time::Instant::now();
    let mut run = ClockInRun {
        allocations: 0,
        moved: 0,
        params_out: 0,
        clocks_out: 0,
    };
    let blocks = 600u32;
    for block in 0..blocks {
        let due =
            std::time::Duration::from_secs_f64(f64::from(block + 1) * f64::from(FRAMES) / 48_000.0);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        clock.queue_ahead(producer);
        let first = transport_in_3_4(0, f64::from(block) * 0.01);
        let call = Call {
            input: &inputs[(block / 50) as usize % inputs.len()],
            steady_time: None,
            transport: Some(&first),
        };
        let mut outs = ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                [&mut left[..], &mut right[..]].into_iter(),
            ),
        }]);
        run.allocations += counted_process(processor, &ins, &mut outs, output, &call).allocations;
        run.moved += left.windows(2).filter(|w| w[0] != w[1]).count();
        for e in &*output {
            match e.header().type_id() {
                5 => run.params_out += 1,  // CLAP_EVENT_PARAM_VALUE
                10 => run.clocks_out += 1, // CLAP_EVENT_MIDI
                _ => {}
            }
        }
        output.clear();
    }
    run
}
