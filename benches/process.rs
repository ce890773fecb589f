//! Cost of one `process()` call of the plugin, per block of 256 frames at
//! 48 kHz, with 0, 8 and 64 hardware messages pending in the ring (placed,
//! emitted as CLAP events), plus the same with 64 pending that all belong to a
//! later block (peeked, not popped: the ring stays full of them). The plugin
//! runs in-process through clack-host, with a `ManualEngine` behind the seam;
//! only `process()` is timed, not the filling of the ring. Calls come back to
//! back, faster than real time (as in an offline render), so the clock map
//! runs on raw call times: the cost includes whatever it does about that.
//!
//! `cargo bench --features test-mock --bench process`

#[path = "../tests/support/clap_host/mod.rs"]
mod clap_host;

use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use criterion::{criterion_group, criterion_main, Criterion};
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::timeline::monotonic_ns;
use std::time::{Duration, Instant};

const FRAMES: u32 = 256;

fn bench(c: &mut Criterion) {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-bench")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let processor = clap_host::activate(&mut plugin, FRAMES);
    let mut producer = ManualEngine::take_io().unwrap().input;
    let mut p = processor.start_processing().unwrap();
    let input = EventBuffer::with_capacity(0);
    let mut output = EventBuffer::with_capacity(1024);
    // SAFETY: no audio buffers, so none is shorter than FRAMES.
    let ins = unsafe { InputAudioBuffers::from_raw_buffers(&[], FRAMES) };
    let block_ns = u64::from(FRAMES) * 1_000_000_000 / 48_000;
    let mut group = c.benchmark_group("process_256_frames");
    // (name, pending messages, how far in the future they are stamped)
    for (name, pending, ahead_ns) in [
        ("0_pending", 0usize, 0u64),
        ("8_pending", 8, 0),
        ("64_pending", 64, 0),
        ("64_pending_later_block", 64, 50 * block_ns),
    ] {
        let mut k = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = monotonic_ns();
                    for i in 0..pending {
                        let event = MidiEvent::NoteOn {
                            channel: 0,
                            key: (i % 128) as u8,
                            velocity: 100,
                        };
                        // Stamped one block ago: they land inside this block.
                        let time_ns = (now + ahead_ns).saturating_sub(block_ns);
                        producer.try_send(MidiMessage {
                            time_ns,
                            port: 0,
                            event,
                        });
                    }
                    output.clear();
                    // SAFETY: as above.
                    let mut outs = unsafe { OutputAudioBuffers::from_raw_buffers(&mut [], FRAMES) };
                    let t = Instant::now();
                    p.process(
                        &ins,
                        &mut outs,
                        &input.as_input(),
                        &mut output.as_output(),
                        Some(k * u64::from(FRAMES)),
                        None,
                    )
                    .unwrap();
                    total += t.elapsed();
                    k += 1;
                }
                total
            })
        });
    }
    group.finish();
    plugin.deactivate(p.stop_processing());
}

criterion_group!(benches, bench);
criterion_main!(benches);
