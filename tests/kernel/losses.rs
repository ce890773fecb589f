//! Losses are counted as what was lost: an overrun in which the kernel threw
//! away thousands of events counts thousands, not one. Run with
//! `cargo xtask test`.

use std::time::Duration;

use crate::common::*;
use phasorsync::backend::alsa_seq::AlsaConfig;
use phasorsync::engine::MidiEngine;

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn an_overrun_counts_the_events_the_kernel_lost() {
    // Normal priority, so a sender at full speed overruns the input queue.
    let mut r = start(AlsaConfig {
        rt_priority: None,
        ..config()
    });
    let src = TestSource::new("loss-src");
    aconnect_addr(src.addr, r.in_addr());
    let refused = src.cc_burst(20_000);
    let got = collect_until_quiet(&mut r.consumer, Duration::from_millis(500));
    // An overflow is noticed at the next read: the thread's periodic clock
    // check (at least once a second) makes one.
    std::thread::sleep(Duration::from_millis(1500));
    let s = r.engine.stats();
    let al = r.engine.alsa_stats();
    let lost = al.kernel_lost.expect("/proc/asound/seq/clients");
    eprintln!(
        "overrun accounting: {} arrived, sender refused {refused}, kernel lost {lost}, \
         {} overruns (ENOSPC), EngineStats::overrun_events {}",
        got.len(),
        s.overruns,
        s.overrun_events
    );
    assert!(
        lost > 0 && s.overruns > 0,
        "no overrun happened: {al:?} {s:?}"
    );
    // Each overrun counts the kernel's losses since the last one, at least 1.
    assert!(
        s.overrun_events >= lost && s.overrun_events <= lost + s.overruns,
        "EngineStats::overrun_events {} for {lost} events lost in {} overruns",
        s.overrun_events,
        s.overruns
    );
    assert_eq!(s.overruns, s.overruns, "each ENOSPC counted once");
    r.engine.stop();
}
