//! Latency "Auto" in the loaded plugin: messages that reach the audio thread
//! later than the latency in use make it grow, once no note is held, and the
//! new value shows in "Latency in use" (an event to the host and the
//! parameter) and in a log line from the main thread.
//! In-process, with the hand-driven engine. Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use clack_extensions::log::LogSeverity;
use clack_extensions::params::PluginParams;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::MidiBufferProducer;
use phasorsync::timeline::monotonic_ns;

const FRAMES: u32 = 256;
/// "Latency in use" (ms, read-only).
const LATENCY_IN_USE: ClapId = ClapId::new(17);
/// How late the played notes reach the plugin: far more than one block
/// (5.3 ms here), the latency Auto starts from.
const LATE_NS: u64 = 20_000_000;

/// One block; the values of "Latency in use" sent to the host in it.
fn block(p: &mut StartedPluginAudioProcessor<clap_host::TestHost>) -> Vec<f64> {
    let mut output = EventBuffer::with_capacity(1024);
    clap_host::process_block(p, FRAMES, &EventBuffer::new(), &mut output);
    output
        .iter()
        .filter_map(|e| e.as_event::<ParamValueEvent>())
        .filter(|v| v.param_id() == Some(LATENCY_IN_USE))
        .map(|v| v.value())
        .collect()
}

fn send(producer: &mut MidiBufferProducer, time_ns: u64, event: MidiEvent) {
    assert!(producer.try_send(MidiMessage {
        time_ns,
        port: 0,
        event,
    }));
}

fn note(key: u8, velocity: u8) -> MidiEvent {
    MidiEvent::NoteOn {
        channel: 0,
        key,
        velocity,
    }
}

fn in_use(plugin: &mut PluginInstance<clap_host::TestHost>) -> f64 {
    let handle = plugin.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    params.get_value(&handle, LATENCY_IN_USE).unwrap()
}

#[test]
fn late_messages_grow_the_latency_once_the_note_is_released_and_it_is_logged() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-auto-latency")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    for _ in 0..4 {
        assert!(block(&mut p).is_empty(), "changed with nothing measured");
    }
    let start = in_use(&mut plugin);
    assert!(start * 1e6 < LATE_NS as f64, "{start} ms");

    // A note reaches the plugin late: placed late, and held.
    send(&mut producer, monotonic_ns() - LATE_NS, note(60, 100));
    for _ in 0..8 {
        assert!(block(&mut p).is_empty(), "changed while a note is held");
    }
    assert_eq!(in_use(&mut plugin), start);

    // Its release, just as late: once no note is held, the latency grows
    // to cover what was measured.
    send(&mut producer, monotonic_ns() - LATE_NS, note(60, 0));
    let mut shown = Vec::new();
    for _ in 0..4 {
        shown.extend(block(&mut p));
    }
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0] * 1e6 >= LATE_NS as f64, "{shown:?}");
    assert_eq!(in_use(&mut plugin), shown[0]);

    assert!(clap_host::run_main_thread_callback(&mut plugin));
    let logs = clap_host::logs(&plugin);
    let want = format!("MIDI input latency in use: {:.2} ms (set by Auto", shown[0]);
    assert!(
        logs.iter()
            .any(|(sev, m)| *sev == LogSeverity::Info && m.starts_with(&want)),
        "{logs:?}"
    );
    plugin.deactivate(p.stop_processing());
}
