//! The bundled plugin under hosts that hand `process()` a malformed or
//! missing transport.
//!
//! Qtractor (0.9.x, a CLAP host) fills `clap_process.transport` but leaves the
//! transport event's header zeroed (space 0, type 0, size 0). A plugin must
//! survive that: such a transport counts as "no transport", and the block is
//! processed as any other.

mod clap_host;

use clack_host::events::event_types::{NoteOnEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clap_host::{instantiate, load_entry, midi, record, start, Note, Recorded};
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
fn a_zeroed_transport_header_is_taken_as_no_transport() {
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
