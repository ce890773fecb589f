//! Smaller rules of `process()`, each once a defect, checked
//! in-process with the hand-driven engine:
//! - a forwarded host SysEx must not point into the host's input buffer,
//!   which is only valid during the call;
//! - with "0 blocks" of latency, landing at the block start is the design,
//!   not lateness;
//! - MIDI 2.0 events are not forwarded (the note output does not declare
//!   that dialect) and their loss is counted.
//!
//! Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use crate::clap_host::{record, Recorded, TestHost};
use clack_extensions::params::PluginParams;
use clack_host::events::event_types::{Midi2Event, MidiSysExEvent, ParamValueEvent};
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin, LATENCY_PARAM};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::timeline::monotonic_ns;

const FRAMES: u32 = 256;

fn entry() -> PluginEntry {
    PluginEntry::load_from_clack::<SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>>(
        c"/phasorsync-rules",
    )
    .unwrap()
}

fn process(
    p: &mut StartedPluginAudioProcessor<TestHost>,
    input: &EventBuffer,
    output: &mut EventBuffer,
) {
    clap_host::process_block(p, FRAMES, input, output);
}

fn report(plugin: &mut PluginInstance<TestHost>) -> Vec<String> {
    clap_host::run_main_thread_callback(plugin);
    clap_host::logs(plugin)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn a_forwarded_host_sysex_survives_its_input_buffer() {
    let entry = entry();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let _io = ManualEngine::take_io().expect("engine started");
    let mut bytes = vec![0xF0, 0x43, 0x10, 0x4C, 0x00, 0xF7];
    let mut output = EventBuffer::with_capacity(8);
    {
        let mut input = EventBuffer::with_capacity(2);
        // SAFETY: `bytes` outlives `input`, which is dropped at the end of
        // this scope, before `bytes` is changed.
        input.push(&unsafe { MidiSysExEvent::new(7, 0, &bytes) });
        process(&mut p, &input, &mut output);
    }
    // The host reuses its input buffer for the next block; what the plugin
    // gave it must not change.
    bytes.fill(0x55);
    let out: Vec<Recorded> = output.iter().map(record).collect();
    assert_eq!(
        out,
        vec![Recorded::SysEx {
            time: 7,
            port: 0,
            data: vec![0xF0, 0x43, 0x10, 0x4C, 0x00, 0xF7]
        }],
        "the forwarded SysEx points into the host's input buffer"
    );
    plugin.deactivate(p.stop_processing());
}

#[test]
fn zero_latency_puts_events_at_the_block_start_without_calling_them_late() {
    let entry = entry();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    {
        let mut handle = plugin.inactive_plugin_handle().expect("inactive");
        let params = handle.get_extension::<PluginParams>().unwrap();
        let mut input = EventBuffer::with_capacity(1);
        input.push(&ParamValueEvent::new(
            0,
            LATENCY_PARAM,
            Pckn::match_all(),
            0.0,
        ));
        params.flush(
            &mut handle,
            &input.as_input(),
            &mut EventBuffer::new().as_output(),
        );
    }
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut io = ManualEngine::take_io().expect("engine started");
    let quiet = EventBuffer::new();
    let mut output = EventBuffer::with_capacity(64);
    process(&mut p, &quiet, &mut output);
    for k in 0..10u8 {
        output.clear();
        assert!(io.input.try_send(MidiMessage {
            time_ns: monotonic_ns() - 1_000_000,
            port: 0,
            event: MidiEvent::ControlChange {
                channel: 0,
                controller: 1,
                value: k
            },
        }));
        process(&mut p, &quiet, &mut output);
        let out: Vec<Recorded> = output.iter().map(record).collect();
        assert_eq!(
            out,
            vec![Recorded::Midi {
                time: 0,
                port: 0,
                data: [0xB0, 1, k]
            }]
        );
    }
    // Deactivation reports whatever was counted.
    plugin.deactivate(p.stop_processing());
    let logs = report(&mut plugin);
    assert!(
        !logs.iter().any(|m| m.contains("too late")),
        "0 blocks of latency reported as late: {logs:?}"
    );
}

#[test]
fn midi2_events_are_dropped_and_counted() {
    let entry = entry();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let _io = ManualEngine::take_io().expect("engine started");
    let mut input = EventBuffer::with_capacity(2);
    input.push(&Midi2Event::new(3, 0, [0x4090_3C00, 0x8000_0000, 0, 0]));
    input.push(&clap_host::midi(4, [0x90, 60, 100]));
    let mut output = EventBuffer::with_capacity(8);
    process(&mut p, &input, &mut output);
    let out: Vec<Recorded> = output.iter().map(record).collect();
    assert_eq!(
        out,
        vec![Recorded::Midi {
            time: 4,
            port: 0,
            data: [0x90, 60, 100]
        }]
    );
    let logs = report(&mut plugin);
    assert!(
        logs.iter()
            .any(|m| m.starts_with("1 MIDI 2.0 event(s) from the host dropped")),
        "{logs:?}"
    );
    plugin.deactivate(p.stop_processing());
}
