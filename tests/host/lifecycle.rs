//! The bundled plugin, loaded and driven the way a DAW does it.

use crate::clap_host;
use crate::clap_host::{bundle_path, instantiate, load_entry, midi, record, sysex, Note, Recorded};
use clack_extensions::log::LogSeverity;
use clack_extensions::note_ports::{NoteDialects, NotePortInfoBuffer, PluginNotePorts};
use clack_host::events::event_types::{NoteOffEvent, NoteOnEvent, ParamModEvent, ParamValueEvent};
use clack_host::factory::plugin::PluginFactory;
use clack_host::prelude::*;

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const FRAMES: u32 = 256;

#[test]
fn bundle_loads_with_rtld_now_and_exports_clap_entry() {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    let path = bundle_path();
    // SAFETY: our own plugin library; RTLD_NOW makes the loader resolve every
    // symbol now, as validating hosts do, so an unresolved one fails here.
    let lib = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_LOCAL) }
        .unwrap_or_else(|e| panic!("dlopen(RTLD_NOW) of {path:?} failed: {e}"));
    // SAFETY: we only check that the symbol exists; its type is not used.
    let sym = unsafe { lib.get::<*const u8>(b"clap_entry\0") };
    assert!(sym.is_ok(), "clap_entry is not exported");
}

#[test]
fn factory_describes_one_plugin() {
    let entry = load_entry();
    let factory = entry
        .get_factory::<PluginFactory>()
        .expect("plugin factory");
    assert_eq!(factory.plugin_count(), 1);
    let d = factory.plugin_descriptor(0).expect("descriptor 0");
    assert_eq!(d.id().unwrap(), ID);
    assert_eq!(d.name().unwrap(), c"PhasorSync");
    assert_eq!(d.vendor().unwrap(), c"PhasorSync");
    assert_eq!(
        d.version().unwrap().to_str().unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    let description = d.description().unwrap().to_str().unwrap();
    assert!(!description.is_empty());
    // It says what the plugin does, both ways (it once
    // promised MIDI clock out before there was any; now there is, and the
    // phasor that follows clock in).
    for what in ["Hardware MIDI", "MIDI clock out", "phasor"] {
        assert!(description.contains(what), "{what}: {description}");
    }
    let features: Vec<_> = d
        .features()
        .map(|f| f.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(features, ["note-effect", "utility"]);
    assert!(factory.plugin_descriptor(1).is_none());
}

#[test]
fn unknown_id_is_refused() {
    let entry = load_entry();
    assert!(instantiate(&entry, c"org.example.not-this-one").is_err());
}

#[test]
fn note_ports_accept_both_dialects() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let handle = plugin.plugin_handle();
    let ports = handle
        .get_extension::<PluginNotePorts>()
        .expect("note-ports extension");
    for is_input in [true, false] {
        assert_eq!(ports.count(&handle, is_input), 1);
        let mut buf = NotePortInfoBuffer::new();
        let info = ports.get(&handle, 0, is_input, &mut buf).expect("port 0");
        assert!(info
            .supported_dialects
            .contains(NoteDialects::CLAP | NoteDialects::MIDI));
        // The output prefers MIDI: hardware notes go out in it, velocity exact.
        let preferred = if is_input {
            clack_extensions::note_ports::NoteDialect::Clap
        } else {
            clack_extensions::note_ports::NoteDialect::Midi
        };
        assert_eq!(info.preferred_dialect, Some(preferred));
        assert!(ports.get(&handle, 1, is_input, &mut buf).is_none());
    }
}

static SYSEX: [u8; 6] = [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7];

/// Input events of one block, their expected output, and the events that must not come out.
fn block_input() -> (EventBuffer, Vec<Recorded>) {
    let mut input = EventBuffer::with_capacity(16);
    input.push(&NoteOnEvent::new(
        0,
        Pckn::new(0u16, 0u16, 60u16, 7u32),
        0.8,
    ));
    input.push(&ParamValueEvent::new(
        3,
        ClapId::new(0),
        Pckn::match_all(),
        0.5,
    ));
    input.push(&midi(17, [0xB0, 74, 99]));
    input.push(&sysex(100, &SYSEX));
    input.push(&ParamModEvent::new(
        120,
        ClapId::new(0),
        Pckn::match_all(),
        0.1,
    ));
    input.push(&NoteOffEvent::new(
        200,
        Pckn::new(0u16, 0u16, 60u16, 7u32),
        0.25,
    ));
    input.push(&midi(255, [0x90, 64, 1]));
    let expected = vec![
        Recorded::NoteOn(Note {
            time: 0,
            port: 0,
            channel: 0,
            key: 60,
            note_id: 7,
            velocity: 0.8,
        }),
        Recorded::Midi {
            time: 17,
            port: 0,
            data: [0xB0, 74, 99],
        },
        Recorded::SysEx {
            time: 100,
            port: 0,
            data: SYSEX.to_vec(),
        },
        Recorded::NoteOff(Note {
            time: 200,
            port: 0,
            channel: 0,
            key: 60,
            note_id: 7,
            velocity: 0.25,
        }),
        Recorded::Midi {
            time: 255,
            port: 0,
            data: [0x90, 64, 1],
        },
    ];
    (input, expected)
}

/// Run one block through a started processor and return what came out.
fn run_block(
    processor: &mut StartedPluginAudioProcessor<clap_host::TestHost>,
    input: &EventBuffer,
    steady_time: u64,
) -> Vec<Recorded> {
    let mut output = EventBuffer::with_capacity(16);
    // A note effect has no audio ports: the block length travels alone.
    // SAFETY: no buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    // SAFETY: as above.
    let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
    processor
        .process(
            &ins,
            &mut outs,
            &input.as_input(),
            &mut output.as_output(),
            Some(steady_time),
            None,
        )
        .expect("process");
    output.iter().map(record).collect()
}

#[test]
fn two_instances_forward_note_midi_and_sysex_at_their_offsets() {
    let entry = load_entry();
    let mut a = instantiate(&entry, ID).unwrap();
    let mut b = instantiate(&entry, ID).unwrap();
    let (input, expected) = block_input();

    let pa = clap_host::activate(&mut a, FRAMES);
    let pb = clap_host::activate(&mut b, FRAMES);

    // Process on a separate thread, as a DAW's audio thread does.
    let (pa, pb) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut pa = pa.start_processing().unwrap();
            let mut pb = pb.start_processing().unwrap();
            for block in 0..8u64 {
                let st = block * u64::from(FRAMES);
                assert_eq!(
                    run_block(&mut pa, &input, st),
                    expected,
                    "instance A, block {block}"
                );
                assert_eq!(
                    run_block(&mut pb, &input, st),
                    expected,
                    "instance B, block {block}"
                );
            }
            (pa.stop_processing(), pb.stop_processing())
        })
        .join()
        .unwrap()
    });
    a.deactivate(pa);
    b.deactivate(pb);
    for p in [&a, &b] {
        check_engine_logs(&clap_host::logs(p));
    }
    drop(a);
    drop(b);
}

#[test]
fn activate_process_deactivate_cycles() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let (input, expected) = block_input();
    for cycle in 0..50 {
        let mut p = clap_host::start(&mut plugin, FRAMES);
        assert_eq!(run_block(&mut p, &input, 0), expected, "cycle {cycle}");
        let p = p.stop_processing();
        // Restart processing without deactivating, as hosts do on transport stop/start.
        let mut p = p.start_processing().unwrap();
        assert_eq!(
            run_block(&mut p, &input, 256),
            expected,
            "cycle {cycle}, restart"
        );
        plugin.deactivate(p.stop_processing());
    }
    assert!(!plugin.is_active());
    // The same failure is not logged again at every activation.
    check_engine_logs(&clap_host::logs(&plugin));
}

#[test]
fn a_dense_block_comes_out_whole_and_in_order() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut input = EventBuffer::with_capacity(FRAMES as usize);
    for t in 0..FRAMES {
        input.push(&midi(t, [0xB0, (t % 128) as u8, 1]));
    }
    let out = run_block(&mut p, &input, 0);
    assert_eq!(out.len(), FRAMES as usize);
    for (t, e) in out.iter().enumerate() {
        assert_eq!(
            e,
            &Recorded::Midi {
                time: t as u32,
                port: 0,
                data: [0xB0, (t % 128) as u8, 1]
            }
        );
    }
    plugin.deactivate(p.stop_processing());
}

#[test]
fn a_full_output_queue_is_counted_and_logged_not_fatal() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let (input, expected) = block_input();
    // SAFETY: no audio buffers, see run_block.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    // SAFETY: as above.
    let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
    let mut bounded = clap_host::BoundedOutput {
        events: EventBuffer::with_capacity(8),
        capacity: 2,
    };
    p.process(
        &ins,
        &mut outs,
        &input.as_input(),
        &mut OutputEvents::from_buffer(&mut bounded),
        Some(0),
        None,
    )
    .expect("process goes on when the output queue is full");
    let got: Vec<_> = bounded.events.iter().map(record).collect();
    assert_eq!(got, expected[..2]);
    // The next block with room delivers everything again.
    assert_eq!(run_block(&mut p, &input, 256), expected);
    let p = p.stop_processing();

    assert!(
        clap_host::run_main_thread_callback(&mut plugin),
        "plugin did not ask for a main-thread report"
    );
    let logs = clap_host::logs(&plugin);
    let lost = expected.len() - 2;
    assert!(
        logs.iter().any(
            |(sev, m)| *sev == clack_extensions::log::LogSeverity::Warning
                && m.contains(&format!("{lost} event(s) dropped"))
        ),
        "no loss report in {logs:?}"
    );
    // Nothing new lost: no second report.
    assert!(!clap_host::run_main_thread_callback(&mut plugin));
    plugin.deactivate(p);
}

/// Without a kernel sequencer the plugin says so once per instance, as an
/// error naming the sequencer, and goes on passing events through; with one,
/// nothing is an error.
fn check_engine_logs(logs: &[(LogSeverity, String)]) {
    let errors: Vec<_> = logs
        .iter()
        .filter(|(sev, _)| matches!(sev, LogSeverity::Error | LogSeverity::Fatal))
        .collect();
    if std::path::Path::new("/dev/snd/seq").exists() {
        assert!(errors.is_empty(), "unexpected error logs: {logs:?}");
    } else {
        assert_eq!(
            errors.len(),
            1,
            "expected one error about the missing sequencer: {logs:?}"
        );
        assert!(
            errors[0].1.contains("/dev/snd/seq"),
            "unclear error: {}",
            errors[0].1
        );
    }
}
