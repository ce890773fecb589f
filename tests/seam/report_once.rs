//! Losses below the seam were once reported again after every
//! re-activation (the engine's counters cover its whole life, the "last
//! reported" snapshot was zeroed at each start). Each loss is reported once.
//! In-process, with the hand-driven engine. Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};

fn one_block(plugin: &mut PluginInstance<clap_host::TestHost>) {
    let mut p = clap_host::start(plugin, 64);
    let mut output = EventBuffer::with_capacity(16);
    clap_host::process_block(&mut p, 64, &EventBuffer::new(), &mut output);
    clap_host::run_main_thread_callback(plugin);
    plugin.deactivate(p.stop_processing());
}

fn overrun_lines(plugin: &PluginInstance<clap_host::TestHost>) -> Vec<String> {
    clap_host::logs(plugin)
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.contains("overrun"))
        .collect()
}

#[test]
fn a_loss_is_reported_once_across_reactivations() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-report-once")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();

    // First activation: the MIDI thread counts 2 overruns.
    let stopped = clap_host::activate(&mut plugin, 64);
    let io = ManualEngine::take_io().expect("engine started");
    io.news.count(&io.news.counters.overrun_events, 2);
    plugin.deactivate(stopped);
    assert_eq!(
        overrun_lines(&plugin),
        vec!["2 event(s) lost in sequencer input overruns (the kernel's input queue for PhasorSync was full) (2 in all)"]
    );

    // Three more activations without new losses: nothing more is reported.
    for _ in 0..3 {
        one_block(&mut plugin);
    }
    assert_eq!(
        overrun_lines(&plugin).len(),
        1,
        "{:?}",
        overrun_lines(&plugin)
    );

    // A new loss is reported with its own count, and the total.
    let stopped = clap_host::activate(&mut plugin, 64);
    let io = ManualEngine::take_io().expect("engine started");
    io.news.count(&io.news.counters.overrun_events, 1);
    plugin.deactivate(stopped);
    assert_eq!(
        overrun_lines(&plugin).last().map(String::as_str),
        Some("1 event(s) lost in sequencer input overruns (the kernel's input queue for PhasorSync was full) (3 in all)")
    );
}
