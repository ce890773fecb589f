//! While the host is not processing, the MIDI thread keeps
//! filling the ring; on resume what queued up must not burst out at offset 0.
//! Messages older than the latency are discarded and counted, a discarded
//! note-off still releases the note the host holds, and when the ring
//! dropped messages meanwhile every held note is released.
//! In-process, with the hand-driven engine. Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use crate::clap_host::{record, Recorded};
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::MidiBufferProducer;
use phasorsync::timeline::monotonic_ns;

const FRAMES: u32 = 256;

fn block(p: &mut StartedPluginAudioProcessor<clap_host::TestHost>) -> Vec<Recorded> {
    let mut output = EventBuffer::with_capacity(1024);
    clap_host::process_block(p, FRAMES, &EventBuffer::new(), &mut output);
    // MIDI only: the stale clock messages below still reach the clock
    // follower, whose read-only parameters (source followed) come out as
    // parameter value events.
    output
        .iter()
        .map(record)
        .filter(|r| !matches!(r, Recorded::Other { type_id: 5, .. }))
        .collect()
}

fn send(producer: &mut MidiBufferProducer, time_ns: u64, event: MidiEvent) -> bool {
    producer.try_send(MidiMessage {
        time_ns,
        port: 0,
        event,
    })
}

fn on(key: u8) -> MidiEvent {
    MidiEvent::NoteOn {
        channel: 0,
        key,
        velocity: 100,
    }
}

fn off(key: u8) -> MidiEvent {
    MidiEvent::NoteOff {
        channel: 0,
        key,
        velocity: 0,
    }
}

/// The MIDI bytes that came out, in order (times are checked apart).
fn datas(out: &[Recorded]) -> Vec<[u8; 3]> {
    out.iter()
        .map(|r| match r {
            Recorded::Midi { data, .. } => *data,
            other => panic!("not a MIDI event: {other:?}"),
        })
        .collect()
}

/// A release at the block start, as the first block after resuming gives it.
fn release_at_0(key: u8) -> Vec<Recorded> {
    vec![Recorded::Midi {
        time: 0,
        port: 0,
        data: [0x80, key, 0],
    }]
}

#[test]
fn messages_that_queued_while_stopped_are_discarded_and_held_notes_released() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-stale")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().expect("engine started").input;
    block(&mut p);

    // Notes 60 and 64 are played and reach the host (already due: offset 0).
    let now = monotonic_ns();
    assert!(send(&mut producer, now - 1_000_000, on(60)));
    assert!(send(&mut producer, now - 1_000_000, on(64)));
    let mut out = block(&mut p);
    out.extend(block(&mut p));
    assert_eq!(datas(&out), vec![[0x90, 60, 100], [0x90, 64, 100]]);

    // The host stops processing; meanwhile the player releases 60, plays
    // and releases 62 and moves a fader. Then the host resumes a second later.
    let stopped = p.stop_processing();
    let t = monotonic_ns();
    assert!(send(&mut producer, t, off(60)));
    assert!(send(&mut producer, t + 1, on(62)));
    assert!(send(&mut producer, t + 2, off(62)));
    assert!(send(
        &mut producer,
        t + 3,
        MidiEvent::ControlChange {
            channel: 0,
            controller: 7,
            value: 99
        }
    ));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut p = stopped.start_processing().expect("start_processing");
    let out = block(&mut p);
    // Only the release of the note the host holds comes out; 62 and the
    // fader move are stale, not played in a burst.
    assert_eq!(out, release_at_0(60), "stale messages were played");
    assert!(clap_host::run_main_thread_callback(&mut plugin));
    let logs = clap_host::logs(&plugin);
    assert!(
        logs.iter()
            .any(|(_, m)| m
                .starts_with("4 message(s) that queued up while the host was not processing")),
        "{logs:?}"
    );

    // Stopped again: this time the ring overflows, so note-offs may be lost:
    // 64, still held, is released on resume.
    let stopped = p.stop_processing();
    let t = monotonic_ns();
    let cap = producer.capacity();
    let refused = (0..cap + 3)
        .filter(|&i| !send(&mut producer, t + i as u64, MidiEvent::TimingClock))
        .count();
    assert_eq!(refused, 3);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut p = stopped.start_processing().expect("start_processing");
    let out = block(&mut p);
    assert_eq!(out, release_at_0(64), "held note not released");
    // Reported with the next summary at the latest, which deactivating makes.
    plugin.deactivate(p.stop_processing());
    let logs = clap_host::logs(&plugin);
    assert!(
        logs.iter().any(|(_, m)| m.starts_with(
            "1 held note(s) released after messages were discarded or lost (1 in all)"
        )),
        "{logs:?}"
    );
}
