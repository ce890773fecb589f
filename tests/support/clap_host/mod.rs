//! A small CLAP host for tests: it loads the *bundled* `PhasorSync.clap` the
//! way a DAW does (dlopen of the file, `clap_entry`, the factory), collects
//! what the plugin logs, and records the events it outputs.
#![allow(dead_code)] // each test binary uses a different part of it

use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::timer::{HostTimer, HostTimerImpl, PluginTimer, TimerId};
use clack_host::events::event_types::{MidiEvent, MidiSysExEvent, TransportEvent};
use clack_host::events::io::{OutputEventBuffer, TryPushError};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Where the bundle is: `$PHASORSYNC_BUNDLE`, or `target/bundled/PhasorSync.clap`.
///
/// Panics with the command to run when it is missing: these tests test the
/// bundle, and building it is `cargo xtask bundle phasorsync --release`
/// (which `cargo xtask test` does first).
pub fn bundle_path() -> PathBuf {
    let path = std::env::var_os("PHASORSYNC_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bundled/PhasorSync.clap")
        });
    assert!(
        path.is_file(),
        "{} does not exist: build it with `cargo xtask bundle phasorsync --release` \
         (or run every test with `cargo xtask test`)",
        path.display()
    );
    path
}

/// Load the bundle's CLAP entry.
pub fn load_entry() -> PluginEntry {
    let path = bundle_path();
    // SAFETY: the file is our own plugin, built from this repository; loading
    // it runs its `clap_entry.init`, which is what this test is about.
    unsafe { PluginEntry::load(&path) }.unwrap_or_else(|e| panic!("loading {path:?}: {e}"))
}

/// Host info as a DAW would give it.
pub fn host_info() -> HostInfo {
    HostInfo::new("phasorsync-test-host", "PhasorSync tests", "", "0.0.0").unwrap()
}

/// The test host's handler types.
pub struct TestHost;

/// Host state shared with the plugin: the log lines it received.
#[derive(Default)]
pub struct TestHostShared {
    /// Every `(severity, message)` the plugin logged.
    pub logs: Mutex<Vec<(LogSeverity, String)>>,
    /// Set when the plugin asked for `on_main_thread`.
    pub callback_requested: AtomicBool,
    /// Each `gui.closed(was_destroyed)` the plugin called.
    pub gui_closed: Mutex<Vec<bool>>,
    /// Whether this host offers timer support (as Bitwig and REAPER do);
    /// see [`instantiate_with_timer`].
    pub offers_timer: bool,
}

impl SharedHandler<'_> for TestHostShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

/// If the plugin asked for a main-thread callback, run it, as a host's event loop does.
pub fn run_main_thread_callback(plugin: &mut PluginInstance<TestHost>) -> bool {
    let requested =
        plugin.access_shared_handler(|h| h.callback_requested.swap(false, Ordering::SeqCst));
    if requested {
        plugin.call_on_main_thread_callback();
    }
    requested
}

/// The plugin's log lines so far.
pub fn logs(plugin: &PluginInstance<TestHost>) -> Vec<(LogSeverity, String)> {
    plugin.access_shared_handler(|h| h.logs.lock().unwrap().clone())
}

/// An output event queue that refuses everything past `capacity`, as a host's
/// fixed-size queue does.
pub struct BoundedOutput {
    /// What was accepted.
    pub events: EventBuffer,
    /// How many events it accepts.
    pub capacity: u32,
}

impl OutputEventBuffer for BoundedOutput {
    fn try_push(&mut self, event: &UnknownEvent) -> Result<(), TryPushError> {
        if self.events.len() >= self.capacity {
            return Err(TryPushError::new());
        }
        self.events.push(event);
        Ok(())
    }
}

impl HostLogImpl for TestHostShared {
    fn log(&self, severity: LogSeverity, message: &str) {
        eprintln!("plugin log [{severity:?}]: {message}");
        self.logs
            .lock()
            .unwrap()
            .push((severity, message.to_owned()));
    }
}

impl HostGuiImpl for TestHostShared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, was_destroyed: bool) {
        self.gui_closed.lock().unwrap().push(was_destroyed);
    }
}

/// Main-thread half of the test host: the timers the plugin registered.
#[derive(Default)]
pub struct TestHostMainThread {
    timers: RefCell<Vec<TimerId>>,
    next_timer: Cell<u32>,
}
impl MainThreadHandler<'_> for TestHostMainThread {}

impl HostTimerImpl for TestHostMainThread {
    fn register_timer(&self, _period_ms: u32) -> Result<TimerId, HostError> {
        let id = TimerId(self.next_timer.get());
        self.next_timer.set(id.0 + 1);
        self.timers.borrow_mut().push(id);
        Ok(id)
    }

    fn unregister_timer(&self, timer_id: TimerId) -> Result<(), HostError> {
        let mut timers = self.timers.borrow_mut();
        let before = timers.len();
        timers.retain(|&t| t != timer_id);
        if timers.len() < before {
            Ok(())
        } else {
            Err(HostError::Message("no such timer"))
        }
    }
}

/// Tick every timer the plugin registered once, as a host's event loop does
/// when their period has passed. Returns how many ticked.
pub fn tick_timers(plugin: &mut PluginInstance<TestHost>) -> usize {
    let timers = plugin.access_handler(|h| h.timers.borrow().clone());
    let handle = plugin.plugin_handle();
    let Some(ext) = handle.get_extension::<PluginTimer>() else {
        return 0;
    };
    for &id in &timers {
        ext.on_timer(&handle, id);
    }
    timers.len()
}

/// Audio-thread half of the test host.
pub struct TestHostAudioProcessor;
impl AudioProcessorHandler<'_> for TestHostAudioProcessor {}

impl HostHandlers for TestHost {
    type Shared<'a> = TestHostShared;
    type MainThread<'a> = TestHostMainThread;
    type AudioProcessor<'a> = TestHostAudioProcessor;

    fn declare_extensions(builder: &mut HostExtensions<Self>, shared: &Self::Shared<'_>) {
        builder.register::<HostLog>().register::<HostGui>();
        if shared.offers_timer {
            builder.register::<HostTimer>();
        }
    }
}

/// Create one instance of the plugin with `id`.
pub fn instantiate(
    entry: &PluginEntry,
    id: &std::ffi::CStr,
) -> Result<PluginInstance<TestHost>, PluginInstanceError> {
    PluginInstance::<TestHost>::new(
        |_| TestHostShared::default(),
        |_| TestHostMainThread::default(),
        entry,
        id,
        &host_info(),
    )
}

/// [`instantiate`] in a host that offers timer support ([`tick_timers`]).
pub fn instantiate_with_timer(
    entry: &PluginEntry,
    id: &std::ffi::CStr,
) -> Result<PluginInstance<TestHost>, PluginInstanceError> {
    PluginInstance::<TestHost>::new(
        |_| TestHostShared {
            offers_timer: true,
            ..TestHostShared::default()
        },
        |_| TestHostMainThread::default(),
        entry,
        id,
        &host_info(),
    )
}

/// Activate at 48 kHz with blocks of exactly `frames`, as the tests' DAW does.
pub fn activate(
    plugin: &mut PluginInstance<TestHost>,
    frames: u32,
) -> StoppedPluginAudioProcessor<TestHost> {
    let config = PluginAudioConfiguration {
        sample_rate: 48_000.0,
        min_frames_count: frames,
        max_frames_count: frames,
    };
    plugin
        .activate(|_, _| TestHostAudioProcessor, config)
        .expect("activate")
}

/// Activate (see [`activate`]) and start processing.
pub fn start(
    plugin: &mut PluginInstance<TestHost>,
    frames: u32,
) -> StartedPluginAudioProcessor<TestHost> {
    activate(plugin, frames)
        .start_processing()
        .expect("start_processing")
}

/// A recorded CLAP note event (-1 for "any" port, channel, key or id).
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// Sample offset in the block.
    pub time: u32,
    /// Note port index.
    pub port: i32,
    /// MIDI channel.
    pub channel: i32,
    /// Key.
    pub key: i32,
    /// Note id.
    pub note_id: i32,
    /// Velocity, 0..=1.
    pub velocity: f64,
}

/// An event as the tests compare them: time plus content, with SysEx bytes copied out.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// CLAP note-on.
    NoteOn(Note),
    /// CLAP note-off.
    NoteOff(Note),
    /// A 3-byte MIDI event.
    Midi { time: u32, port: u16, data: [u8; 3] },
    /// A SysEx event with its bytes.
    SysEx { time: u32, port: u16, data: Vec<u8> },
    /// Anything else, by its CLAP type id.
    Other { time: u32, type_id: u16 },
}

fn match_i32<T: Into<i64> + Copy>(m: clack_host::events::Match<T>) -> i32 {
    match m {
        clack_host::events::Match::Specific(v) => v.into() as i32,
        clack_host::events::Match::All => -1,
    }
}

/// Record one output event (copying SysEx bytes while they are still valid).
pub fn record(event: &UnknownEvent) -> Recorded {
    let time = event.header().time();
    match event.as_core_event() {
        Some(CoreEventSpace::NoteOn(e)) => Recorded::NoteOn(note(e.pckn(), e.velocity(), time)),
        Some(CoreEventSpace::NoteOff(e)) => Recorded::NoteOff(note(e.pckn(), e.velocity(), time)),
        Some(CoreEventSpace::Midi(e)) => Recorded::Midi {
            time,
            port: e.port_index(),
            data: e.data(),
        },
        Some(CoreEventSpace::MidiSysEx(e)) => Recorded::SysEx {
            time,
            port: e.port_index(),
            // SAFETY: the plugin's output buffer is valid until the host
            // clears it; we copy the bytes out right away.
            data: unsafe { e.data() }.to_vec(),
        },
        _ => Recorded::Other {
            time,
            type_id: event.header().type_id(),
        },
    }
}

/// A note event's fields (note-on and note-off carry the same ones).
fn note(p: Pckn, velocity: f64, time: u32) -> Note {
    Note {
        time,
        port: match_i32(p.port_index),
        channel: match_i32(p.channel),
        key: match_i32(p.key),
        note_id: match_i32(p.note_id),
        velocity,
    }
}

/// Build a CLAP MIDI event.
pub fn midi(time: u32, data: [u8; 3]) -> MidiEvent {
    MidiEvent::new(time, 0, data)
}

/// Build a CLAP SysEx event over `data`, which must outlive its use.
pub fn sysex(time: u32, data: &'static [u8]) -> MidiSysExEvent {
    // SAFETY: `data` is 'static, so it outlives every use of the event.
    unsafe { MidiSysExEvent::new(time, 0, data) }
}

/// A host transport at sample `time`, `playing` or not, at `beats` and
/// `tempo` (bpm) in 4/4, the current bar starting on the last multiple of 4
/// beats: what a DAW gives at a block start or a mid-block change.
pub fn transport(time: u32, playing: bool, beats: f64, tempo: f64) -> TransportEvent {
    use clack_host::events::event_types::TransportFlags;
    use clack_host::events::{EventFlags, EventHeader};
    use clack_host::utils::{BeatTime, SecondsTime};
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    let bar = (beats / 4.0).floor();
    TransportEvent {
        header: EventHeader::new_core(time, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_int(0),
        tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(0.0),
        loop_end_beats: BeatTime::from_float(0.0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_float(bar * 4.0),
        bar_number: bar as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// One block of `frames` without audio buffers and without a transport:
/// the host's `input` events in, the plugin's events appended to `output`.
pub fn process_block(
    p: &mut StartedPluginAudioProcessor<TestHost>,
    frames: u32,
    input: &EventBuffer,
    output: &mut EventBuffer,
) {
    process_block_with(p, frames, input, output, None, &mut []);
}

/// One block of `frames` as a DAW gives it: the host's `input` events and
/// its `transport` (`None`: a null transport) in, the plugin's events
/// appended to `output`, and `audio_out` (one slice per channel of one main
/// output port, each at least `frames` long; empty: no audio port) filled.
pub fn process_block_with(
    p: &mut StartedPluginAudioProcessor<TestHost>,
    frames: u32,
    input: &EventBuffer,
    output: &mut EventBuffer,
    transport: Option<&TransportEvent>,
    audio_out: &mut [&mut [f32]],
) {
    assert!(audio_out.iter().all(|c| c.len() >= frames as usize));
    // SAFETY: no input audio buffers are given, so none can be shorter than the block.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], frames) };
    let mut ports = AudioPorts::with_capacity(audio_out.len(), 1);
    let mut outs = if audio_out.is_empty() {
        // SAFETY: as above, for the outputs.
        unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], frames) }
    } else {
        ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                audio_out.iter_mut().map(|c| &mut c[..frames as usize]),
            ),
        }])
    };
    p.process(
        &ins,
        &mut outs,
        &input.as_input(),
        &mut output.as_output(),
        None,
        transport,
    )
    .expect("process");
}

/// `client:port` of the plugin instance's input, from its own log line
/// `ALSA sequencer client N "NAME": MIDI in N:P, …`.
pub fn plugin_input(plugin: &PluginInstance<TestHost>) -> String {
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
