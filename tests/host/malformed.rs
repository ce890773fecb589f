//! The bundled plugin under hosts that hand `process()` a malformed or
//! missing transport.
//!
//! Qtractor (0.9.x, a CLAP host) fills `clap_process.transport` but leaves the
//! transport event's header zeroed (space 0, type 0, size 0). A plugin must
//! survive that, and follow the host: a zeroed header is the host's transport
//! (its fields checked), and only a really malformed one counts as "no
//! transport", logged once.

use crate::clap_host;
use crate::clap_host::{
    instantiate, load_entry, logs, midi, process_block_with, record, run_main_thread_callback,
    start, Note, Recorded, TestHost,
};
use clack_extensions::log::LogSeverity;
use clack_host::events::event_types::{
    NoteOnEvent, ParamValueEvent, TransportEvent, TransportFlags,
};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use phasorsync::plugin::params::{index, PARAMS};
use std::mem::MaybeUninit;

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const FRAMES: u32 = 256;
const BLOCKS: u64 = 4;

/// A note and a MIDI event in, and what must come out of them.
fn block_input() -> (EventBuffer, Vec<Recorded>) {
    let mut input = EventBuffer::with_capacity(4);
    input.push(&NoteOnEvent::new(
        5,
        Pckn::new(0u16, 0u16, 60u16, 7u32),
        0.8,
    ));
    input.push(&midi(99, [0x90, 64, 100]));
    let expected = vec![
        Recorded::NoteOn(Note {
            time: 5,
            port: 0,
            channel: 0,
            key: 60,
            note_id: 7,
            velocity: 0.8,
        }),
        Recorded::Midi {
            time: 99,
            port: 0,
            data: [0x90, 64, 100],
        },
    ];
    (input, expected)
}

/// A transport event exactly as Qtractor passes it: every byte zero,
/// header included.
fn zeroed_transport() -> TransportEvent {
    // SAFETY: `TransportEvent` is a `repr(C)` struct of integers, bit flags
    // and fixed-point times (and a zero-sized marker), for all of which the
    // all-zero bit pattern is a valid value; it is only wrong as CLAP data,
    // which is what this test is about.
    unsafe { MaybeUninit::<TransportEvent>::zeroed().assume_init() }
}

/// A rolling transport at 120 BPM in 4/4, with a proper core-event header.
fn well_formed_transport() -> TransportEvent {
    let mut transport = zeroed_transport();
    transport.header = EventHeader::new_core(0, EventFlags::empty());
    transport.flags = TransportFlags::IS_PLAYING | TransportFlags::HAS_TEMPO;
    transport.tempo = 120.0;
    transport.time_signature_numerator = 4;
    transport.time_signature_denominator = 4;
    transport
}

/// Process `BLOCKS` blocks with `transport`, check each returns OK and passes
/// the events through.
fn blocks_pass_through(transport: Option<&TransportEvent>) {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).expect("instantiate");
    let mut processor = start(&mut plugin, FRAMES);
    let (input, expected) = block_input();
    for block in 0..BLOCKS {
        let mut output = EventBuffer::with_capacity(8);
        // A note effect has no audio ports: the block length travels alone.
        // SAFETY: no buffers are given, so none can be shorter than FRAMES.
        let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
        let status = processor.process(
            &ins,
            &mut outs,
            &input.as_input(),
            &mut output.as_output(),
            Some(block * u64::from(FRAMES)),
            transport,
        );
        assert!(
            status.is_ok(),
            "block {block}: process failed: {status:?} (see the plugin log above)"
        );
        let got: Vec<_> = output.iter().map(record).collect();
        assert_eq!(got, expected, "block {block}");
    }
    plugin.deactivate(processor.stop_processing());
}

#[test]
fn a_block_under_a_wholly_zeroed_transport_passes_events_through() {
    let transport = zeroed_transport();
    blocks_pass_through(Some(&transport));
}

#[test]
fn a_transport_header_too_short_for_a_transport_is_ignored() {
    // Right space and type, but a size smaller than a transport event: the
    // plugin must not read past what the host says it wrote.
    let mut transport = well_formed_transport();
    // SAFETY: only the size field changes; the event stays a valid Rust value.
    unsafe { transport.header.as_raw_mut().size = 8 };
    blocks_pass_through(Some(&transport));
}

#[test]
fn a_null_transport_is_fine() {
    blocks_pass_through(None);
}

#[test]
fn a_well_formed_transport_is_fine() {
    let transport = well_formed_transport();
    blocks_pass_through(Some(&transport));
}

/// A transport as Qtractor fills it: every field of a rolling song at
/// `beats` and `tempo` in 4/4, and the header left zeroed.
fn qtractor_transport(beats: f64, tempo: f64) -> TransportEvent {
    let mut transport = clap_host::transport(0, true, beats, tempo);
    transport.header = zeroed_transport().header;
    transport
}

/// A parameter change at the block start.
fn param(i: usize, value: f64) -> ParamValueEvent {
    ParamValueEvent::new(0, ClapId::new(PARAMS[i].id), Pckn::match_all(), value)
}

/// A started instance whose phasor follows the host's transport, one beat
/// a period (the parameters are set in a first block without transport).
fn phasor_on_host(plugin: &mut PluginInstance<TestHost>) -> StartedPluginAudioProcessor<TestHost> {
    let mut p = start(plugin, FRAMES);
    let mut setup = EventBuffer::new();
    setup.push(&param(index::PHASOR_SOURCE, 1.0));
    setup.push(&param(index::PHASOR_PERIOD, 2.0));
    process_block_with(
        &mut p,
        FRAMES,
        &setup,
        &mut EventBuffer::new(),
        None,
        &mut [],
    );
    p
}

/// The phasor's output over one block with `transport`.
fn phasor_block(
    p: &mut StartedPluginAudioProcessor<TestHost>,
    transport: &TransportEvent,
) -> Vec<f32> {
    let mut mono = vec![-1.0f32; FRAMES as usize];
    process_block_with(
        p,
        FRAMES,
        &EventBuffer::new(),
        &mut EventBuffer::new(),
        Some(transport),
        &mut [&mut mono],
    );
    mono
}

/// Run the plugin's main-thread callbacks until it asks for none, and
/// return its log lines that mention the host's transport.
fn transport_logs(plugin: &mut PluginInstance<TestHost>) -> Vec<(LogSeverity, String)> {
    while run_main_thread_callback(plugin) {}
    logs(plugin)
        .into_iter()
        .filter(|(_, line)| line.contains("transport"))
        .collect()
}

#[test]
fn a_zeroed_transport_header_is_read_as_the_hosts_transport() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).expect("instantiate");
    let mut p = phasor_on_host(&mut plugin);
    // The phasor shows the song's beat fraction: it moves only when the
    // plugin reads the transport's position and tempo.
    let (beats, tempo) = (10.25, 120.0);
    let out = phasor_block(&mut p, &qtractor_transport(beats, tempo));
    let per_sample = tempo / 60.0 / 48_000.0;
    let last = f64::from(FRAMES - 1);
    assert!(
        (f64::from(out[0]) - 0.25).abs() < 1e-6,
        "phasor at the block start: {} (0.25 when the transport is read)",
        out[0]
    );
    assert!(
        (f64::from(out[FRAMES as usize - 1]) - (0.25 + last * per_sample)).abs() < 1e-6,
        "phasor at the block end: {}",
        out[FRAMES as usize - 1]
    );
    plugin.deactivate(p.stop_processing());
    let lines = transport_logs(&mut plugin);
    assert_eq!(
        lines.len(),
        1,
        "one line says the host's transport header was repaired: {lines:?}"
    );
}

/// Feed `blocks` blocks with `transport` to a phasor on the host and check
/// the transport was dropped (the phasor never takes its position) and
/// logged exactly once.
fn dropped_and_logged_once(transport: &TransportEvent, what: &str) {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).expect("instantiate");
    let mut p = phasor_on_host(&mut plugin);
    for block in 0..BLOCKS {
        let out = phasor_block(&mut p, transport);
        assert!(
            out.windows(2).all(|w| w[0] == w[1]),
            "{what}, block {block}: the phasor moved, so the transport was read: {:?}",
            &out[..4]
        );
        // Reports run between blocks, as in a host.
        while run_main_thread_callback(&mut plugin) {}
    }
    plugin.deactivate(p.stop_processing());
    let lines = transport_logs(&mut plugin);
    assert_eq!(
        lines.len(),
        1,
        "{what}: one log line, not one per block: {lines:?}"
    );
    assert_eq!(lines[0].0, LogSeverity::Warning, "{what}: {lines:?}");
}

#[test]
fn a_transport_header_of_size_zero_is_dropped_with_one_log_line() {
    let mut transport = qtractor_transport(10.25, 120.0);
    transport.header = well_formed_transport().header;
    // SAFETY: only the size field changes; the event stays a valid Rust value.
    unsafe { transport.header.as_raw_mut().size = 0 };
    dropped_and_logged_once(&transport, "right space and type, size 0");
}

#[test]
fn a_zeroed_header_over_a_non_finite_tempo_is_dropped_with_one_log_line() {
    dropped_and_logged_once(
        &qtractor_transport(10.25, f64::INFINITY),
        "zeroed header, infinite tempo",
    );
}

#[test]
fn a_zeroed_header_over_an_impossible_time_signature_is_dropped_with_one_log_line() {
    let mut transport = qtractor_transport(10.25, 120.0);
    transport.time_signature_denominator = 0;
    dropped_and_logged_once(&transport, "zeroed header, time signature 4/0");
}

#[test]
fn a_zeroed_header_over_unknown_transport_flags_is_dropped_with_one_log_line() {
    let mut transport = qtractor_transport(10.25, 120.0);
    // Bit 20 means nothing in CLAP 1.x: a host that sets it sends garbage.
    transport.flags = TransportFlags::from_bits_retain(transport.flags.bits() | 1 << 20);
    dropped_and_logged_once(&transport, "zeroed header, an unknown flag");
}

#[test]
fn a_well_formed_transport_logs_nothing() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).expect("instantiate");
    let mut p = phasor_on_host(&mut plugin);
    let mut transport = well_formed_transport();
    transport.flags |= TransportFlags::HAS_BEATS_TIMELINE;
    for _ in 0..BLOCKS {
        phasor_block(&mut p, &transport);
    }
    plugin.deactivate(p.stop_processing());
    let lines = transport_logs(&mut plugin);
    assert!(lines.is_empty(), "{lines:?}");
}
