//! Connections made from a patchbay (aconnect, qjackctl, Helvum…) while the
//! engine runs, to its MIDI in and from its MIDI out, survive a stop/start
//! (the plugin's deactivate/activate), even though the client comes back with
//! another number. Run with `cargo xtask test`.

use std::ffi::CString;
use std::time::Duration;

use crate::common::*;
use alsa::seq::{Addr, PortCap, PortSubscribeIter, PortType, QuerySubsType, Seq};
use phasorsync::engine::MidiEngine;
use phasorsync::ring::midi_buffer;

/// Is `from` subscribed to `to`, as the kernel reports it?
fn connected(from: Addr, to: Addr) -> bool {
    let seq = Seq::open(None, None, false).unwrap();
    PortSubscribeIter::new(&seq, from, QuerySubsType::READ).any(|s| s.get_dest() == to)
}

/// A test client with one writable port (a synth, for our MIDI out).
struct Dest {
    _seq: Seq,
    addr: Addr,
}

impl Dest {
    fn new(name: &str) -> Self {
        let seq = Seq::open(None, None, false).expect("open seq");
        let cname = CString::new(name).unwrap();
        seq.set_client_name(&cname).unwrap();
        let port = seq
            .create_simple_port(
                &cname,
                PortCap::WRITE | PortCap::SUBS_WRITE,
                PortType::MIDI_GENERIC | PortType::APPLICATION,
            )
            .unwrap();
        let client = seq.client_id().unwrap();
        Self {
            _seq: seq,
            addr: Addr { client, port },
        }
    }
}

fn ports(r: &Running) -> (Addr, Addr) {
    let a = r.engine.client().unwrap();
    (
        Addr {
            client: a.client,
            port: a.in_port,
        },
        Addr {
            client: a.client,
            port: a.out_port,
        },
    )
}

/// A started engine, a keyboard patched into its MIDI in and its MIDI out
/// patched into a synth, as a user does from a patchbay (with `aconnect`).
/// Returns the engine, the two clients and the engine's MIDI in.
fn patched(keys: &str, synth: &str) -> (Running, TestSource, Dest, Addr) {
    let r = start(config());
    let keys = TestSource::new(keys);
    let synth = Dest::new(synth);
    let (me_in, me_out) = ports(&r);
    aconnect_addr(keys.addr, me_in);
    aconnect_addr(me_out, synth.addr);
    (r, keys, synth, me_in)
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn patchbay_connections_come_back_after_restart() {
    let (mut r, keys, synth, me_in) = patched("Patch Keys", "Patch Synth");
    // Let the thread hear the kernel's announcements.
    std::thread::sleep(Duration::from_millis(300));

    // Another client takes the old number in between, so the new one differs.
    r.engine.stop();
    let squatter = TestSource::new("squatter");
    r.restart();
    assert_ne!(ports(&r).0.client, me_in.client);
    let (in2, out2) = ports(&r);
    assert!(
        wait_until(Duration::from_secs(3), || connected(keys.addr, in2)
            && connected(out2, synth.addr)),
        "patchbay connections not restored (ours now {in2:?}/{out2:?}):\n{}",
        aconnect_list()
    );
    keys.note_on(0, 60, 1);
    assert_eq!(collect(&mut r.consumer, 1, Duration::from_secs(2)).len(), 1);

    // Disconnected from the patchbay: forgotten, not restored again.
    aconnect_disconnect(
        &format!("{}:{}", keys.addr.client, keys.addr.port),
        &format!("{}:{}", in2.client, in2.port),
    );
    std::thread::sleep(Duration::from_millis(300));
    r.restart();
    let (in3, out3) = ports(&r);
    assert!(wait_until(Duration::from_secs(3), || connected(
        out3, synth.addr
    )));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !connected(keys.addr, in3),
        "a connection removed from the patchbay came back:\n{}",
        aconnect_list()
    );
    drop(squatter);
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn remembered_connections_are_text_for_the_plugin_state() {
    let (mut r, keys, synth, me_in) = patched("Patch Keys 2", "Patch Synth 2");
    let want = "=Patch Keys 2:Patch Keys 2\nout:=Patch Synth 2:Patch Synth 2\n";
    assert!(
        wait_until(Duration::from_secs(3), || r.engine.remembered_connections()
            == want),
        "remembered: {:?}",
        r.engine.remembered_connections()
    );

    // Unplugged and plugged in again while running: connected again.
    drop(keys);
    let keys = TestSource::new("Patch Keys 2");
    assert!(
        wait_until(Duration::from_secs(3), || connected(keys.addr, me_in)),
        "a remembered source that came back was not connected:\n{}",
        aconnect_list()
    );
    assert_eq!(
        r.engine.remembered_connections(),
        want,
        "unplugging forgets nothing"
    );
    let text = r.engine.remembered_connections();
    r.engine.stop();
    drop(r);

    // A new engine (a new plugin instance loading the saved state).
    let mut e = phasorsync::backend::alsa_seq::AlsaEngine::new(config()).unwrap();
    e.set_remembered_connections(&text);
    let (p, _c) = midi_buffer(64);
    e.start(phasorsync::engine::EngineIo::input_only(p))
        .unwrap();
    let a = e.client().cloned().unwrap();
    let (in2, out2) = (
        Addr {
            client: a.client,
            port: a.in_port,
        },
        Addr {
            client: a.client,
            port: a.out_port,
        },
    );
    assert!(
        wait_until(Duration::from_secs(3), || connected(keys.addr, in2)
            && connected(out2, synth.addr)),
        "state connections not made:\n{}",
        aconnect_list()
    );
    // Given back while running: an emptied list disconnects them.
    e.set_remembered_connections("");
    assert!(
        wait_until(Duration::from_secs(3), || !connected(keys.addr, in2)
            && !connected(out2, synth.addr)),
        "{}",
        aconnect_list()
    );
    assert_eq!(e.remembered_connections(), "");
    e.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn output_patterns_connect_our_midi_out() {
    let early = Dest::new("Out Synth A");
    let mut r = start(phasorsync::backend::alsa_seq::AlsaConfig {
        connect_patterns: "out:out synth*".into(),
        ..config()
    });
    let (me_in, me_out) = ports(&r);
    assert!(
        wait_until(Duration::from_secs(3), || connected(me_out, early.addr)),
        "{}",
        aconnect_list()
    );
    // One that appears later, too; never to our own input.
    let late = Dest::new("Out Synth B");
    assert!(wait_until(Duration::from_secs(3), || connected(
        me_out, late.addr
    )));
    assert!(!connected(me_out, me_in));
    // Ours, not the patchbay's: nothing remembered; a pattern change undoes them.
    assert_eq!(r.engine.remembered_connections(), "");
    r.engine.set_connect_patterns("");
    assert!(
        wait_until(Duration::from_secs(3), || !connected(me_out, early.addr)
            && !connected(me_out, late.addr)),
        "{}",
        aconnect_list()
    );
    r.engine.stop();
}
