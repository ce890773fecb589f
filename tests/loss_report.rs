//! A loss below the engine seam reaches the user: messages the MIDI thread's
//! sink could not put in the full ring are counted in the news channel, its
//! doorbell makes `process()` ask the host for a main-thread callback, and
//! there the plugin logs how many were lost. Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

mod clap_host;

use clack_extensions::log::LogSeverity;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::sink::Sink;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};

#[test]
fn ring_overflow_is_reported_in_the_host_log() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-loss")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, 256);
    let io = ManualEngine::take_io().expect("engine started");
    let cap = io.input.capacity();
    // This test plays the MIDI thread: bytes go through the sink, as there.
    let mut sink = Sink::new(io.input, 1024, io.news.clone());
    // A quiet block first: nothing to report.
    let input = EventBuffer::new();
    let mut output = EventBuffer::with_capacity(512);
    let mut process = |p: &mut StartedPluginAudioProcessor<clap_host::TestHost>| {
        clap_host::process_block(p, 256, &input, &mut output)
    };
    process(&mut p);
    assert!(!clap_host::run_main_thread_callback(&mut plugin));

    // Far-future messages stay queued, so the ring fills and refuses 5 more.
    for _ in 0..cap + 5 {
        sink.feed(u64::MAX / 2, 0, &[0xF8]);
    }
    assert_eq!(io.news.stats().ring_full, 5);
    process(&mut p);
    assert!(
        clap_host::run_main_thread_callback(&mut plugin),
        "process() did not ask for a report after the ring overflowed"
    );
    let logs = clap_host::logs(&plugin);
    assert!(
        logs.iter().any(|(sev, m)| *sev == LogSeverity::Warning
            && m.starts_with("5 message(s) dropped: the MIDI input ring was full")),
        "{logs:?}"
    );
    plugin.deactivate(p.stop_processing());
}
