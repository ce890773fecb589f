//! Host events to the hardware, above the engine seam:
//! the host's notes, MIDI and SysEx come out of the output ring whole, in
//! order, each stamped with its sample's time on the block's timeline plus
//! the output delay `D` and the user's offset; the parameters gate the two
//! destinations; what has no MIDI 1.0 form or cannot fit is counted.
//! Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use crate::clap_host::Recorded;
use crate::out_rig::{clock_on, param, transport, Rig, Sent, RATE};
use clack_host::events::event_types::{
    Midi2Event, MidiSysExEvent, NoteChokeEvent, NoteOffEvent, NoteOnEvent,
};
use clack_host::prelude::*;
use phasorsync::engine::OUTPUT_POLL_NS;
use phasorsync::plugin::audio_thread::to_hardware::output_ring::RESERVED_SHARE;
use phasorsync::plugin::params::index;
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::timeline::{monotonic_ns, DELIVERY_MARGIN_NS};

const FRAMES: u32 = 256;

/// `D` for one block of latency at 48 kHz with blocks of `FRAMES`: the
/// period plus the delivery margin (rounded up to a sample, as the
/// timeline does), then the engine's polling interval.
fn delay_ns() -> f64 {
    let margin = (DELIVERY_MARGIN_NS as f64 * RATE / 1e9).ceil();
    (f64::from(FRAMES) + margin) * 1e9 / RATE + OUTPUT_POLL_NS as f64
}

fn pckn(channel: i16, key: i16) -> Pckn {
    Pckn::from_raw(0, channel, key, -1)
}

/// A block of the host's notes in both dialects, at chosen offsets.
fn notes() -> EventBuffer {
    let mut input = EventBuffer::with_capacity(8);
    input.push(&NoteOnEvent::new(0, pckn(0, 60), 1.0));
    input.push(&clap_host::midi(17, [0xB1, 7, 99]));
    input.push(&NoteOffEvent::new(100, pckn(0, 60), 0.5));
    input.push(&clap_host::midi(128, [0x92, 64, 90]));
    input.push(&clap_host::midi(200, [0x82, 64, 0]));
    input.push(&NoteOnEvent::new(255, pckn(3, 70), 0.0));
    input.push(&NoteChokeEvent::new(255, pckn(3, 70)));
    input
}

const NOTE_OFFSETS: [u32; 7] = [0, 17, 100, 128, 200, 255, 255];

fn note_events() -> [MidiEvent; 7] {
    [
        MidiEvent::NoteOn {
            channel: 0,
            key: 60,
            velocity: 127,
        },
        MidiEvent::ControlChange {
            channel: 1,
            controller: 7,
            value: 99,
        },
        MidiEvent::NoteOff {
            channel: 0,
            key: 60,
            velocity: 64,
        },
        MidiEvent::NoteOn {
            channel: 2,
            key: 64,
            velocity: 90,
        },
        MidiEvent::NoteOff {
            channel: 2,
            key: 64,
            velocity: 0,
        },
        MidiEvent::NoteOn {
            channel: 3,
            key: 70,
            velocity: 1,
        },
        MidiEvent::NoteOff {
            channel: 3,
            key: 70,
            velocity: 0,
        },
    ]
}

/// Checks one block's notes: content and order; stamps spaced as their
/// samples on one linear map within 1 µs, at a rate within the timeline's
/// ±1000 ppm of 48 kHz; the first at its block's reference time plus `D`
/// plus `offset_ns`, the reference time being no later than the call.
fn check_block(ring: &[Sent], before_ns: u64, after_ns: u64, offset_ns: f64) {
    let got: Vec<_> = ring.iter().map(|s| s.event).collect();
    assert_eq!(got, note_events());
    let t: Vec<f64> = ring.iter().map(|s| s.time_ns as f64).collect();
    // The block's rate, from its first and last note.
    let ns_per_frame = (t[5] - t[0]) / 255.0;
    let ppm = (ns_per_frame * RATE / 1e9 - 1.0) * 1e6;
    assert!(ppm.abs() <= 1000.0, "rate off by {ppm} ppm");
    for (k, &offset) in NOTE_OFFSETS.iter().enumerate() {
        let want = t[0] + f64::from(offset) * ns_per_frame;
        assert!(
            (t[k] - want).abs() <= 1_000.0,
            "note {k} at {offset}: {} ns off the block's line",
            t[k] - want
        );
    }
    // The sample-0 time the plugin used, by the expected D and offset.
    let t0 = t[0] - delay_ns() - offset_ns;
    assert!(
        t0 <= after_ns as f64 + 1.0,
        "the block's time is {} ns after the call",
        t0 - after_ns as f64
    );
    // A loose floor: the timeline never puts a block more than a few
    // periods before its call.
    assert!(
        t0 >= before_ns as f64 - 20e6,
        "the block's time is {} ms before the call",
        (before_ns as f64 - t0) / 1e6
    );
}

#[test]
fn host_notes_leave_at_their_samples_plus_the_delay() {
    let mut rig = Rig::new(FRAMES);
    rig.block(&EventBuffer::new(), None);
    for _ in 0..50 {
        let b = rig.block(&notes(), None);
        check_block(&b.ring, b.before_ns, b.after_ns, 0.0);
        // The DAW still gets the host's events (the default).
        assert_eq!(b.host.len(), 7, "{:?}", b.host);
    }
    // Every stamp is in the future when the block ends.
    let b = rig.block(&notes(), None);
    assert!(b.ring.iter().all(|s| s.time_ns > b.after_ns));
    assert!(rig.logs().is_empty(), "{:?}", rig.logs());
}

#[test]
fn the_output_offset_moves_every_stamp() {
    for ms in [-50.0, -3.25, 12.5, 50.0] {
        let mut rig = Rig::new(FRAMES);
        let mut set = EventBuffer::new();
        set.push(&param(index::OUTPUT_OFFSET, ms));
        rig.block(&set, None);
        for _ in 0..10 {
            let b = rig.block(&notes(), None);
            check_block(&b.ring, b.before_ns, b.after_ns, ms * 1e6);
        }
    }
}

#[test]
fn the_parameters_gate_hardware_and_daw() {
    let mut rig = Rig::new(FRAMES);
    // Hardware off: nothing queued; the DAW still gets everything.
    let mut input = notes();
    input.push(&param(index::HARDWARE_OUT, 0.0));
    let b = rig.block(&input, None);
    assert!(b.ring.is_empty(), "{:?}", b.ring);
    assert_eq!(b.host.len(), 7);

    // Hardware on, DAW off: the hardware gets them, the DAW does not...
    let mut input = notes();
    input.push(&param(index::HARDWARE_OUT, 1.0));
    input.push(&param(index::TO_DAW, 0.0));
    let b = rig.block(&input, None);
    assert_eq!(
        b.ring.iter().map(|s| s.event).collect::<Vec<_>>(),
        note_events()
    );
    assert!(b.host.is_empty(), "{:?}", b.host);
    // ...but hardware input still reaches the DAW.
    assert!(rig.io.input.try_send(MidiMessage {
        time_ns: monotonic_ns() - 1_000_000,
        port: 0,
        event: MidiEvent::ControlChange {
            channel: 0,
            controller: 1,
            value: 5,
        },
    }));
    let mut from_hardware = Vec::new();
    for _ in 0..3 {
        from_hardware.extend(rig.block(&notes(), None).host);
    }
    assert!(
        matches!(
            from_hardware[..],
            [Recorded::Midi {
                data: [0xB0, 1, 5],
                ..
            }]
        ),
        "{from_hardware:?}"
    );
    assert!(rig.logs().is_empty());
}

#[test]
fn switching_hardware_off_releases_the_notes_it_left_held() {
    let mut rig = Rig::new(FRAMES);
    let mut input = EventBuffer::new();
    input.push(&NoteOnEvent::new(10, pckn(0, 60), 1.0));
    input.push(&clap_host::midi(20, [0x95, 40, 100]));
    input.push(&clap_host::midi(30, [0x95, 41, 100]));
    input.push(&clap_host::midi(40, [0x85, 41, 0]));
    assert_eq!(rig.block(&input, None).ring.len(), 4);
    let mut off = EventBuffer::new();
    off.push(&param(index::HARDWARE_OUT, 0.0));
    // The host releases 60 meanwhile, but the hardware no longer listens.
    off.push(&NoteOffEvent::new(5, pckn(0, 60), 0.0));
    let b = rig.block(&off, None);
    let got: Vec<_> = b.ring.iter().map(|s| s.event).collect();
    let off = |channel, key| MidiEvent::NoteOff {
        channel,
        key,
        velocity: 0,
    };
    assert_eq!(got, [off(0, 60), off(5, 40)]);
    // At the block's start.
    assert_eq!(b.ring[0].time_ns, b.ring[1].time_ns);
    assert!(rig.block(&EventBuffer::new(), None).ring.is_empty());
}

#[test]
fn stopping_releases_held_notes_after_the_last_block() {
    let mut rig = Rig::new(FRAMES);
    let mut input = EventBuffer::new();
    input.push(&clap_host::midi(250, [0x90, 50, 100]));
    let b = rig.block(&input, None);
    let last = b.ring[0].time_ns;
    let sent = rig.stop_and_restart();
    assert_eq!(
        sent.iter().map(|s| s.event).collect::<Vec<_>>(),
        [MidiEvent::NoteOff {
            channel: 0,
            key: 50,
            velocity: 0
        }]
    );
    // Never before the note it ends, however soon the host stops.
    assert!(sent[0].time_ns >= last, "{sent:?} vs {last}");
    // Released once: deactivating sends nothing more.
    assert!(rig.finish().is_empty());
}

#[test]
fn reset_releases_held_notes_and_stops_the_clock() {
    let mut rig = Rig::new(FRAMES);
    let mut input = EventBuffer::new();
    input.push(&clock_on());
    input.push(&clap_host::midi(100, [0x93, 50, 100]));
    let b = rig.block(&input, Some(&transport(0, true, 0.0, 120.0)));
    assert!(b.ring.iter().any(|s| s.event == MidiEvent::Start));
    // The latest stamp of each stream: what reset() sends of a stream ends
    // what that stream sent (the Stop the clock, the note-off the note).
    let last = |port: u16| {
        b.ring
            .iter()
            .filter(|s| s.port == port)
            .map(|s| s.time_ns)
            .max()
            .unwrap()
    };
    // reset() means silence: the slave stops, the note ends.
    let sent = rig.reset();
    let mut got: Vec<_> = sent.iter().map(|s| s.event).collect();
    got.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        got,
        [
            MidiEvent::NoteOff {
                channel: 3,
                key: 50,
                velocity: 0
            },
            MidiEvent::Stop
        ]
    );
    for s in &sent {
        assert!(
            s.time_ns >= last(s.port),
            "{s:?} overtakes what its stream sent ({})",
            last(s.port)
        );
    }
    // Released once: stopping and deactivating send nothing more.
    assert!(rig.finish().is_empty());
}

static SYSEX: [u8; 300] = {
    let mut s = [0x11u8; 300];
    s[0] = 0xF0;
    s[299] = 0xF7;
    s
};

#[test]
fn sysex_goes_out_whole_and_oversize_is_counted() {
    let mut rig = Rig::new(FRAMES);
    let mut input = EventBuffer::new();
    input.push(&clap_host::sysex(40, &SYSEX));
    input.push(&clap_host::midi(41, [0x90, 1, 1]));
    let b = rig.block(&input, None);
    assert_eq!(b.ring.len(), 2);
    assert_eq!(
        b.ring[0].event,
        MidiEvent::SysEx {
            len: SYSEX.len() as u32
        }
    );
    assert_eq!(b.ring[0].sysex, SYSEX);
    let per_frame = (b.ring[1].time_ns - b.ring[0].time_ns) as f64;
    assert!((per_frame - 1e9 / RATE).abs() < 1.0, "{per_frame}");

    // Larger than the ring's whole SysEx storage: never fits, counted.
    let mut big = vec![0x22u8; rig.io.output.sysex_capacity() + 1];
    big[0] = 0xF0;
    *big.last_mut().unwrap() = 0xF7;
    let big: &'static [u8] = Box::leak(big.into_boxed_slice());
    let mut input = EventBuffer::new();
    input.push(&clap_host::sysex(0, big));
    input.push(&clap_host::midi(1, [0x90, 1, 1]));
    let b = rig.block(&input, None);
    assert_eq!(b.ring.len(), 1, "{:?}", b.ring.len());
    let logs = rig.logs();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("1 SysEx for the hardware dropped: larger than")),
        "{logs:?}"
    );
}

#[test]
fn events_without_a_midi_form_are_counted_not_sent() {
    static BAD: [u8; 3] = [0xF0, 0x01, 0x02];
    let mut rig = Rig::new(FRAMES);
    let mut input = EventBuffer::new();
    input.push(&NoteOnEvent::new(0, pckn(-1, 60), 1.0));
    input.push(&NoteChokeEvent::new(1, pckn(0, -1)));
    input.push(&Midi2Event::new(2, 0, [0x4090_3C00, 0xFFFF_0000, 0, 0]));
    // SAFETY: `BAD` is 'static.
    input.push(&unsafe { MidiSysExEvent::new(3, 0, &BAD) });
    input.push(&clap_host::midi(4, [0x90, 2, 2]));
    let b = rig.block(&input, None);
    assert_eq!(
        b.ring.iter().map(|s| s.event).collect::<Vec<_>>(),
        [MidiEvent::NoteOn {
            channel: 0,
            key: 2,
            velocity: 2
        }]
    );
    let logs = rig.logs();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("4 host event(s) not sent to the hardware")),
        "{logs:?}"
    );
}

#[test]
fn a_full_output_ring_is_counted() {
    let mut rig = Rig::new(FRAMES);
    let capacity = rig.io.output.capacity();
    // The engine does not drain: the ring fills over a few blocks.
    let mut input = EventBuffer::new();
    for k in 0..100 {
        input.push(&clap_host::midi(k, [0xB0, 7, k as u8]));
    }
    let mut output = EventBuffer::with_capacity(1024);
    // More blocks of 100 than the ring holds, and 5 more.
    let blocks = capacity / 100 + 5;
    for _ in 0..blocks {
        output.clear();
        // Drive the block without draining the ring.
        rig.block_no_drain(&input, &mut output);
    }
    // Host events leave the room kept for transport and releases.
    let open = capacity - capacity / RESERVED_SHARE;
    let queued = rig.drain().len();
    assert_eq!(queued, open);
    let logs = rig.logs();
    let want = format!(
        "{} message(s) for the hardware dropped: the output ring was full",
        blocks * 100 - open
    );
    assert!(logs.iter().any(|l| l.starts_with(&want)), "{logs:?}");
}
