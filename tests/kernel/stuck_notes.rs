//! No stuck notes, through a real kernel sequencer: the **bundled** plugin,
//! played by a paced test host (`tests/support/common/paced.rs`), sends the host's
//! notes to a receiving client (`tests/support/common/receiver.rs`, what a synth's
//! port would get); every note-on that reaches it is followed by its
//! note-off, whatever the host does next:
//!
//! - it stops processing and deactivates just after a block that ends a
//!   note: that note-off was already scheduled on the kernel queue, the
//!   plugin's output delay `D` ahead, when the client closes;
//! - it stops with a note still held: the plugin's own release;
//! - it resets (`reset()` means silence) while a note is held.
//!
//! Blocks of 4096 frames (85 ms): `D` is as long, so the last block's
//! note-off is sure to wait on the queue while the plugin deactivates,
//! however fast the machine.

use crate::clap_host;
use crate::common::{logged_output_addr, pace, require_sequencer, Received, Receiver};
use clack_host::prelude::*;
use std::time::{Duration, Instant};

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const FRAMES: u32 = 4096;
/// 2 s of blocks: the plugin's timeline settles before the notes.
const BLOCKS: u64 = 24;

fn on(key: u8) -> Vec<u8> {
    vec![0x90, key, 100]
}

fn off(key: u8) -> Vec<u8> {
    vec![0x80, key, 0]
}

/// The plugin's `MIDI out` address, from its log.
fn plugin_output(plugin: &PluginInstance<clap_host::TestHost>) -> alsa::seq::Addr {
    let logs = clap_host::logs(plugin);
    logged_output_addr(logs.iter().map(|(_, l)| l.as_str()))
        .unwrap_or_else(|| panic!("the plugin did not log its sequencer address: {logs:?}"))
}

/// The note messages a receiver got, in arrival order.
fn notes(r: &Received) -> Vec<Vec<u8>> {
    r.arrivals
        .iter()
        .filter(|a| matches!(a.bytes[0] & 0xF0, 0x80 | 0x90))
        .map(|a| a.bytes.clone())
        .collect()
}

/// The plugin, activated, and a receiver on its output.
fn plugin_and_receiver(
    name: &str,
) -> (
    PluginEntry,
    PluginInstance<clap_host::TestHost>,
    StoppedPluginAudioProcessor<clap_host::TestHost>,
    Receiver,
) {
    require_sequencer();
    let entry = clap_host::load_entry();
    let mut plugin = clap_host::instantiate(&entry, ID).expect("instantiate");
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let rx = Receiver::start(name, &[plugin_output(&plugin)]);
    (entry, plugin, processor, rx)
}

/// `blocks` paced blocks; `events(k, input)` fills block `k`'s host events
/// and `before(k, p)` runs on the audio thread before block `k`.
fn play(
    p: &mut StartedPluginAudioProcessor<clap_host::TestHost>,
    blocks: u64,
    events: impl Fn(u64, &mut EventBuffer),
    before: impl Fn(u64, &mut StartedPluginAudioProcessor<clap_host::TestHost>),
) {
    let mut input = EventBuffer::with_capacity(16);
    let mut output = EventBuffer::with_capacity(1024);
    pace(FRAMES, blocks, |k, _| {
        input.clear();
        output.clear();
        events(k, &mut input);
        before(k, p);
        clap_host::process_block(p, FRAMES, &input, &mut output);
    });
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn notes_ended_in_the_last_block_or_held_get_their_note_offs_when_the_host_deactivates() {
    let (_entry, mut plugin, processor, rx) = plugin_and_receiver("stuck-notes-deactivate");
    let mut p = processor.start_processing().expect("start_processing");
    let last = BLOCKS - 1;
    play(
        &mut p,
        BLOCKS,
        |k, input| {
            // 60: on three blocks before the stop, off in the last block;
            // 62: on in the block before, still held when the host stops.
            if k == last - 3 {
                input.push(&clap_host::midi(100, [0x90, 60, 100]));
            }
            if k == last - 1 {
                input.push(&clap_host::midi(200, [0x90, 62, 100]));
            }
            if k == last {
                input.push(&clap_host::midi(FRAMES - 100, [0x80, 60, 0]));
            }
        },
        |_, _| {},
    );
    let stopped = p.stop_processing();
    // A host deactivates a few ms after its last block: by then the engine
    // has scheduled that block's note-off on the kernel queue, D ahead.
    std::thread::sleep(Duration::from_millis(10));
    let t0 = Instant::now();
    plugin.deactivate(stopped);
    let took = t0.elapsed();
    rx.wait_count(4, Duration::from_secs(2));
    let got = notes(&rx.stop());
    println!(
        "received: {got:02X?}; deactivate took {} ms",
        took.as_millis()
    );
    // The engine waits for its queue with a bound (1 s), not forever.
    assert!(took < Duration::from_secs(2), "deactivate took {took:?}");
    assert_eq!(
        got.iter().filter(|b| b[0] == 0x90).count(),
        2,
        "the note-ons did not arrive: {got:02X?}"
    );
    for key in [60, 62] {
        let on_at = got.iter().position(|b| *b == on(key));
        let off_at = got.iter().position(|b| *b == off(key));
        assert!(
            matches!((on_at, off_at), (Some(a), Some(b)) if a < b),
            "note {key} hangs: it was played but not ended; received {got:02X?}"
        );
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn reset_ends_the_notes_on_the_hardware() {
    let (_entry, mut plugin, processor, rx) = plugin_and_receiver("stuck-notes-reset");
    let mut p = processor.start_processing().expect("start_processing");
    // 64 held; 65 played and ended in the block before the reset.
    let reset_at = BLOCKS - 8;
    play(
        &mut p,
        BLOCKS,
        |k, input| {
            if k == reset_at - 3 {
                input.push(&clap_host::midi(100, [0x90, 64, 100]));
            }
            if k == reset_at - 1 {
                input.push(&clap_host::midi(100, [0x90, 65, 100]));
                input.push(&clap_host::midi(FRAMES - 100, [0x80, 65, 0]));
            }
        },
        |k, p| {
            if k == reset_at {
                p.reset();
            }
        },
    );
    // Seven blocks (600 ms) after the reset, still processing: the reset
    // itself must have ended the held note, not a later stop.
    let arrived = rx.wait_count(4, Duration::from_millis(500));
    let stopped = p.stop_processing();
    plugin.deactivate(stopped);
    let got = notes(&rx.stop());
    println!("received: {got:02X?} ({arrived} events before the host stopped)");
    assert!(
        arrived >= 4,
        "only {arrived} events arrived before the host stopped: reset() left a note held; \
         all received: {got:02X?}"
    );
    for key in [64, 65] {
        let on_at = got.iter().position(|b| *b == on(key));
        let off_at = got.iter().position(|b| *b == off(key));
        assert!(
            matches!((on_at, off_at), (Some(a), Some(b)) if a < b),
            "note {key} hangs after reset(); received {got:02X?}"
        );
    }
    // Released once: the stop after the reset sends no second note-off.
    assert_eq!(got.len(), 4, "{got:02X?}");
}
