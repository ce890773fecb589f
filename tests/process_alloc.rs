//! `process()` never allocates: 100 000 blocks with the MIDI ring filled to
//! the brim every few blocks, SysEx in every block, late messages, and the
//! host's own events to merge, under a counting global allocator that counts
//! every allocation made on the audio thread while `process()` runs.
//!
//! The plugin is loaded in-process (clack's entry for `PhasorSyncPlugin`
//! with a mock engine behind the seam), so the allocator of this test binary
//! is the plugin's allocator: the bundled `.clap` has its own, out of reach.
//! Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

mod clap_host;

use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::alsa::clock::monotonic_ns;
use phasorsync::engine::{EngineError, EngineStats, MidiEngine, MockMidiEngine};
use phasorsync::plugin::{EngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::MidiBufferProducer;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counts allocations made by a thread while its `ARMED` flag is set.
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; counting has no effect
// on the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Where the mock engine leaves the producer it is started with.
static PRODUCER: Mutex<Option<MidiBufferProducer>> = Mutex::new(None);

struct MockEngineFactory;

impl EngineFactory for MockEngineFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        let mut engine = MockMidiEngine::new();
        engine.expect_start().returning(|producer| {
            *PRODUCER.lock().unwrap() = Some(producer);
            Ok(())
        });
        engine.expect_stop().return_const(());
        engine.expect_stats().return_const(EngineStats::default());
        engine.expect_pop_log().returning(|| None);
        Ok(Box::new(engine))
    }
}

const FRAMES: u32 = 256;
const BLOCKS: u32 = 100_000;
/// One block of 256 frames at 48 kHz, in ns.
const BLOCK_NS: u64 = 5_333_333;
static SYSEX: [u8; 300] = {
    let mut s = [0x11u8; 300];
    s[0] = 0xF0;
    s[299] = 0xF7;
    s
};

#[test]
fn process_never_allocates() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<MockEngineFactory>>,
    >(c"/phasorsync-in-process")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let mut producer = PRODUCER.lock().unwrap().take().expect("engine was started");

    let mut host_input = EventBuffer::with_capacity(8);
    host_input.push(&clap_host::midi(3, [0x90, 60, 100]));
    host_input.push(&clap_host::sysex(90, &SYSEX));
    host_input.push(&clap_host::midi(200, [0x80, 60, 0]));
    let mut output = EventBuffer::with_capacity(4096);

    let mut processor = processor.start_processing().unwrap();
    // SAFETY: no audio buffers are given, so none can be shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    let (mut sent, mut refused, mut out_events) = (0u64, 0u64, 0u64);
    let mut seq = 0u8;
    for block in 0..BLOCKS {
        let now = monotonic_ns();
        // A full ring every 16th block; otherwise a few messages, some late.
        let burst = if block % 16 == 0 { usize::MAX } else { 6 };
        let mut n = 0;
        while n < burst {
            seq = seq.wrapping_add(1) & 0x7F;
            let time_ns = match n % 3 {
                0 => now.saturating_sub(50_000_000), // 50 ms ago: late
                1 => now.saturating_sub(BLOCK_NS),   // due about now
                _ => now,                            // due in a later block
            };
            let ok = if n % 5 == 4 {
                producer.try_send_sysex(time_ns, 0, &SYSEX)
            } else {
                let event = MidiEvent::ControlChange {
                    channel: 1,
                    controller: 7,
                    value: seq,
                };
                producer.try_send(MidiMessage {
                    time_ns,
                    port: 0,
                    event,
                })
            };
            if !ok {
                refused += 1;
                break;
            }
            sent += 1;
            n += 1;
        }
        output.clear();
        // SAFETY: as above.
        let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
        ARMED.with(|a| a.set(true));
        let status = processor.process(
            &ins,
            &mut outs,
            &host_input.as_input(),
            &mut output.as_output(),
            Some(u64::from(block) * u64::from(FRAMES)),
            None,
        );
        ARMED.with(|a| a.set(false));
        status.expect("process");
        out_events += u64::from(output.len());
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    plugin.deactivate(processor.stop_processing());

    assert!(
        refused >= u64::from(BLOCKS / 16) - 1,
        "the ring was never full ({refused} refusals)"
    );
    assert!(sent > u64::from(BLOCKS) * 3, "too little traffic: {sent}");
    // Three host events a block, and hardware messages beside them.
    let from_ring = out_events.saturating_sub(u64::from(BLOCKS) * 3);
    assert!(
        from_ring > u64::from(BLOCKS),
        "too few hardware messages came out: {from_ring} of {sent} sent"
    );
    assert_eq!(
        allocations, 0,
        "process() allocated {allocations} times over {BLOCKS} blocks"
    );
}
