//! Auto-connection by name pattern: sources present at start, a port that
//! appears later (heard on the announce port), one that disappears
//! mid-stream, pattern changes, and the environment/config-file sources of
//! patterns. Run with `cargo xtask test`.

use std::time::Duration;

use crate::common::*;
use alsa::seq::{Addr, PortSubscribeIter, QuerySubsType, Seq};
use phasorsync::backend::alsa_seq::{AlsaConfig, ThreadState};
use phasorsync::engine::MidiEngine;
use phasorsync::protocol::MidiEvent;

/// Is `from` subscribed to `to`, as the kernel reports it?
fn connected(from: Addr, to: Addr) -> bool {
    let seq = Seq::open(None, None, false).unwrap();
    PortSubscribeIter::new(&seq, from, QuerySubsType::READ).any(|s| s.get_dest() == to)
}

fn ccs(got: &[Got]) -> Vec<(u8, u8)> {
    got.iter()
        .filter_map(|g| match g.msg.event {
            MidiEvent::ControlChange {
                controller, value, ..
            } => Some((controller, value)),
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn connects_by_pattern_follows_new_ports_and_survives_unplug() {
    let early = TestSource::new("Early Keys");
    let mut r = start(AlsaConfig {
        connect_patterns: "early keys, late*".into(),
        ..config()
    });
    let me = r.in_addr();
    hears_a_port_present_at_start(&mut r, me, &early);
    let late = connects_a_port_plugged_in_later(&mut r, me, &early);
    only_the_connection_goes_when_unplugged(&mut r, &early, late);
    let late2 = connects_a_port_plugged_in_again(&mut r, me);

    // A connection the user made by hand is not ours to undo.
    let manual = TestSource::new("Manual Pad");
    aconnect_addr(manual.addr, me);
    let ports = Ports {
        early: &early,
        late: &late2,
        manual: &manual,
    };
    new_patterns_undo_only_ours(&mut r, me, &ports);
    logs_what_was_connected(&mut r);
    r.engine.stop();
}

/// A port present at start that matches is connected, and heard.
fn hears_a_port_present_at_start(r: &mut Running, me: Addr, early: &TestSource) {
    assert!(wait_until(Duration::from_secs(2), || r
        .engine
        .stats()
        .auto_connected
        == 1));
    assert!(connected(early.addr, me), "{}", aconnect_list());
    early.cc(0, 1, 1);
    assert_eq!(
        ccs(&collect(&mut r.consumer, 1, Duration::from_secs(2))),
        [(1, 1)]
    );
}

/// A device plugged in after start: connected, and heard beside the first.
fn connects_a_port_plugged_in_later(r: &mut Running, me: Addr, early: &TestSource) -> TestSource {
    let late = TestSource::new("LateKeys");
    assert!(
        wait_until(Duration::from_secs(2), || connected(late.addr, me)),
        "late port not connected:\n{}",
        aconnect_list()
    );
    // The counter is published after the thread's batch: wait for it too.
    assert!(wait_until(Duration::from_secs(2), || r
        .engine
        .stats()
        .auto_connected
        == 2));
    for v in 0..50 {
        late.cc(0, 2, v);
        early.cc(0, 1, v);
    }
    let got = collect(&mut r.consumer, 100, Duration::from_secs(2));
    assert_eq!(got.len(), 100);
    late
}

/// Unplugged mid-stream: only the connection goes.
fn only_the_connection_goes_when_unplugged(r: &mut Running, early: &TestSource, late: TestSource) {
    let late_addr = late.addr;
    late.cc(0, 2, 100);
    drop(late);
    early.cc(0, 1, 101);
    let got = collect(&mut r.consumer, 2, Duration::from_secs(2));
    assert_eq!(ccs(&got), [(2, 100), (1, 101)]);
    assert!(wait_until(Duration::from_secs(2), || r
        .engine
        .stats()
        .auto_connected
        == 1));
    assert_eq!(r.engine.state(), ThreadState::Running);
    assert!(!aconnect_list().contains("LateKeys"));
    let _ = late_addr;
}

/// Plugged in again: connected again.
fn connects_a_port_plugged_in_again(r: &mut Running, me: Addr) -> TestSource {
    let late2 = TestSource::new("LateKeys");
    assert!(wait_until(Duration::from_secs(2), || connected(
        late2.addr, me
    )));
    late2.cc(0, 3, 3);
    assert_eq!(
        ccs(&collect(&mut r.consumer, 1, Duration::from_secs(2))),
        [(3, 3)]
    );
    late2
}

/// The ports connected when the patterns change.
struct Ports<'a> {
    early: &'a TestSource,
    late: &'a TestSource,
    /// Connected by hand.
    manual: &'a TestSource,
}

/// New patterns: ours that no longer match are disconnected, the one made
/// by hand stays.
fn new_patterns_undo_only_ours(r: &mut Running, me: Addr, ports: &Ports) {
    // The names the checks were written with (their messages quote them).
    let (early, late2, manual) = (ports.early, ports.late, ports.manual);
    r.engine.set_connect_patterns("early*");
    assert!(wait_until(Duration::from_secs(2), || !connected(
        late2.addr, me
    )));
    assert!(connected(early.addr, me));
    assert!(connected(manual.addr, me));
    r.engine.set_connect_patterns("");
    assert!(wait_until(Duration::from_secs(2), || !connected(
        early.addr, me
    )));
    assert!(connected(manual.addr, me));
    assert!(wait_until(Duration::from_secs(2), || r
        .engine
        .stats()
        .auto_connected
        == 0));
}

/// The log says what was connected.
fn logs_what_was_connected(r: &mut Running) {
    let mut lines = Vec::new();
    while let Some(l) = r.news.pop_log() {
        lines.push(l.message);
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("auto-connected") && l.contains("LateKeys")),
        "{lines:?}"
    );
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn patterns_from_environment_and_config_file() {
    let dir = temp_path("xdg");
    std::fs::create_dir_all(dir.join("phasorsync")).unwrap();
    std::fs::write(
        dir.join("phasorsync").join("connect"),
        "# PhasorSync auto-connect patterns\nVirMIDI 0-1\n",
    )
    .unwrap();
    // One test thread (the harness runs kernel tests with --test-threads=1),
    // and no other test in this binary reads these variables.
    std::env::set_var("XDG_CONFIG_HOME", &dir);
    std::env::set_var("PHASORSYNC_CONNECT", "virmidi 0-0");
    let mut r = start(AlsaConfig {
        patterns_from_environment: true,
        ..config()
    });
    std::env::remove_var("PHASORSYNC_CONNECT");
    std::env::remove_var("XDG_CONFIG_HOME");
    let me = r.in_addr();
    assert!(wait_until(Duration::from_secs(2), || r
        .engine
        .stats()
        .auto_connected
        == 2));
    assert!(connected(virmidi_addr(0), me), "{}", aconnect_list());
    assert!(connected(virmidi_addr(1), me), "{}", aconnect_list());
    amidi_send_file("hw:0,1", &[0xB5, 10, 20]);
    amidi_send_file("hw:0,0", &[0xB5, 11, 21]);
    assert_eq!(
        ccs(&collect(&mut r.consumer, 2, Duration::from_secs(2))),
        [(10, 20), (11, 21)]
    );
    r.engine.stop();
}
