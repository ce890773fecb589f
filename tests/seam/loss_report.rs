//! A loss below the engine seam reaches the user: messages the MIDI thread's
//! sink could not put in the full ring are counted in the news channel, its
//! doorbell makes `process()` ask the host for a main-thread callback, and
//! there the plugin logs how many were lost, at most once per summary
//! interval however many come. Needs `--features test-mock`.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use clack_extensions::log::LogSeverity;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::sink::Sink;
use phasorsync::engine::ManualEngine;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin, SUMMARY_INTERVAL};
use std::time::{Duration, Instant};

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

/// Lines about parse errors, with the count each reports as new and the total.
fn parse_error_lines(plugin: &PluginInstance<clap_host::TestHost>) -> Vec<(u64, u64)> {
    const WHAT: &str = " malformed MIDI byte(s) or message(s) skipped (";
    clap_host::logs(plugin)
        .into_iter()
        .filter_map(|(_, m)| {
            let (new, rest) = m.split_once(WHAT)?;
            let total = rest.strip_suffix(" in all)")?;
            Some((new.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

#[test]
fn a_flood_of_losses_is_summarised_once_per_interval_and_the_last_change_still_reported() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-loss-flood")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, 256);
    let io = ManualEngine::take_io().expect("engine started");
    let input = EventBuffer::new();
    let mut output = EventBuffer::with_capacity(512);
    // One block and what the host's event loop does after it, every 5 ms.
    let mut block = |plugin: &mut PluginInstance<clap_host::TestHost>| {
        clap_host::process_block(&mut p, 256, &input, &mut output);
        output.clear();
        clap_host::run_main_thread_callback(plugin);
        std::thread::sleep(Duration::from_millis(5));
    };
    let interval = SUMMARY_INTERVAL;

    // A loss every block for two and a half intervals, noting when each
    // summary line is first seen.
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut counted = 0;
    while start.elapsed() < interval * 5 / 2 {
        io.news.count(&io.news.counters.parse_errors, 1);
        counted += 1;
        block(&mut plugin);
        let lines = parse_error_lines(&plugin);
        seen.extend(std::iter::repeat_n(
            Instant::now(),
            lines.len() - seen.len(),
        ));
    }
    let flood = parse_error_lines(&plugin);
    assert!(
        flood.len() >= 2,
        "losses went unreported for {:?} of a flood: {flood:?}",
        start.elapsed()
    );
    // The plugin reads its clock inside the callback, the test after it: a
    // little slack for the callback's own duration.
    let slack = Duration::from_millis(50);
    for pair in seen.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap + slack >= interval,
            "two summaries {gap:?} apart (interval {interval:?}); {} in {:?}",
            flood.len(),
            start.elapsed()
        );
    }

    // The flood stops. What came after the last summary is reported at the
    // next allowed time, by the blocks alone: no new loss asks for it.
    let last = *seen.last().unwrap();
    while start.elapsed() < interval * 5 {
        block(&mut plugin);
        if parse_error_lines(&plugin).last().map(|l| l.1) == Some(counted) {
            break;
        }
    }
    let lines = parse_error_lines(&plugin);
    assert_eq!(
        lines.last().map(|l| l.1),
        Some(counted),
        "the last losses were never reported: last line {:?} of {counted}",
        lines.last()
    );
    let waited = Instant::now() - last;
    assert!(
        waited + slack >= interval,
        "reported {waited:?} after the previous summary"
    );
    assert_eq!(
        lines.iter().map(|l| l.0).sum::<u64>(),
        counted,
        "each loss reported once ({} summaries)",
        lines.len()
    );
    plugin.deactivate(p.stop_processing());
}

#[test]
fn with_host_timers_a_held_back_loss_is_reported_without_any_processing() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-loss-timer")
    .unwrap();
    let mut plugin =
        clap_host::instantiate_with_timer(&entry, c"org.phasorsync.phasorsync").unwrap();
    let p = clap_host::start(&mut plugin, 256);
    let io = ManualEngine::take_io().expect("engine started");
    assert_eq!(
        clap_host::tick_timers(&mut plugin),
        1,
        "the plugin registers one timer for its report"
    );

    // No block is processed in this test: only the timer calls the plugin.
    io.news.count(&io.news.counters.parse_errors, 1);
    clap_host::tick_timers(&mut plugin);
    assert_eq!(
        parse_error_lines(&plugin),
        vec![(1, 1)],
        "the first at once"
    );
    let first = Instant::now();
    io.news.count(&io.news.counters.parse_errors, 1);
    clap_host::tick_timers(&mut plugin);
    assert_eq!(parse_error_lines(&plugin).len(), 1, "the next one waits");

    while parse_error_lines(&plugin).len() < 2 && first.elapsed() < SUMMARY_INTERVAL * 2 {
        std::thread::sleep(Duration::from_millis(20));
        clap_host::tick_timers(&mut plugin);
    }
    assert_eq!(parse_error_lines(&plugin), vec![(1, 1), (1, 2)]);
    assert!(
        first.elapsed() >= SUMMARY_INTERVAL,
        "reported {:?} after the first",
        first.elapsed()
    );
    plugin.deactivate(p.stop_processing());
}

#[test]
fn what_the_parser_skips_or_drops_reaches_the_summary() {
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-loss-parser")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let mut p = clap_host::start(&mut plugin, 256);
    let io = ManualEngine::take_io().expect("engine started");
    let max_sysex = 64;
    let mut sink = Sink::new(io.input, max_sysex, io.news.clone());
    // A stray data byte; a SysEx over the limit; one cut off by a status byte.
    sink.feed(0, 0, &[0x40]);
    let mut big = vec![0xF0];
    big.resize(max_sysex + 1, 0x01);
    big.push(0xF7);
    sink.feed(0, 0, &big);
    sink.feed(0, 0, &[0xF0, 0x01, 0x02, 0x90, 60, 100]);
    let s = io.news.stats();
    assert_eq!((s.parse_errors, s.sysex_oversize, s.sysex_cut), (1, 1, 1));

    let mut output = EventBuffer::with_capacity(64);
    clap_host::process_block(&mut p, 256, &EventBuffer::new(), &mut output);
    assert!(clap_host::run_main_thread_callback(&mut plugin));
    let logs = clap_host::logs(&plugin);
    for line in [
        "1 malformed MIDI byte(s) or message(s) skipped (1 in all)",
        "1 SysEx dropped: larger than the limit (1 in all)",
        "1 SysEx dropped: cut off (unterminated, or interrupted by an overrun) (1 in all)",
    ] {
        assert!(
            logs.iter()
                .any(|(sev, m)| *sev == LogSeverity::Warning && m == line),
            "{line:?} not in {logs:?}"
        );
    }
    plugin.deactivate(p.stop_processing());
}
