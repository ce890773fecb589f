//! Helpers for the kernel tests of the ALSA engine (tests/alsa_*.rs): external
//! tools, a test-made sequencer client, a Standard MIDI File writer, and a
//! ring collector. These tests need `/dev/snd/seq`, `snd-virmidi` (hw:0,0)
//! and alsa-utils; `cargo xtask test` provides them (natively or in a VM).
#![allow(dead_code)]

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alsa::seq::{
    Addr, ClientIter, EvCtrl, EvNote, Event, EventType, PortCap, PortIter, PortType, Seq,
};
use phasorsync::alsa::{clock::monotonic_ns, AlsaConfig, AlsaEngine};
use phasorsync::engine::MidiEngine;
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{midi_buffer_with_config, MidiBufferConsumer, RingConfig};

/// Why these tests are ignored by a plain `cargo test`.
pub const NEEDS_KERNEL: &str = "needs a kernel sequencer: run with cargo xtask test";

/// Engine config for tests: no environment patterns, no realtime.
pub fn config() -> AlsaConfig {
    AlsaConfig {
        patterns_from_environment: false,
        ..AlsaConfig::default()
    }
}

/// A started engine and the consumer end of its ring.
pub struct Running {
    /// The engine.
    pub engine: AlsaEngine,
    /// The audio thread's side of the ring.
    pub consumer: MidiBufferConsumer,
}

/// Starts an engine with a big ring.
pub fn start(cfg: AlsaConfig) -> Running {
    let (p, consumer) = midi_buffer_with_config(RingConfig {
        capacity: 16_384,
        sysex_bytes: 512 * 1024,
    });
    let mut engine = AlsaEngine::new(cfg).expect("engine");
    engine.start(p).expect("engine start");
    Running { engine, consumer }
}

/// One message off the ring, with its SysEx payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    /// The message.
    pub msg: MidiMessage,
    /// The payload of a SysEx.
    pub sysex: Option<Vec<u8>>,
}

/// Pops until `n` messages arrived or `timeout` passed (then returns what came).
pub fn collect(c: &mut MidiBufferConsumer, n: usize, timeout: Duration) -> Vec<Got> {
    let mut out = Vec::new();
    let mut scratch = vec![0u8; 512 * 1024];
    let end = Instant::now() + timeout;
    while out.len() < n && Instant::now() < end {
        match c.try_pop() {
            Some(msg) => {
                let sysex = match msg.event {
                    MidiEvent::SysEx { .. } => c
                        .pop_sysex_payload(&mut scratch)
                        .map(|len| scratch[..len].to_vec()),
                    _ => None,
                };
                out.push(Got { msg, sysex });
            }
            None => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    out
}

/// Pops whatever arrives within `quiet` of silence.
pub fn collect_until_quiet(c: &mut MidiBufferConsumer, quiet: Duration) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let more = collect(c, usize::MAX, quiet);
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e} (is alsa-utils installed?)"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `aconnect -l`.
pub fn aconnect_list() -> String {
    run("aconnect", &["-l"])
}

/// Does `aconnect -l` show a client with this number and name?
pub fn client_listed(client: i32, name: &str) -> bool {
    aconnect_list()
        .lines()
        .any(|l| l.starts_with(&format!("client {client}: '{name}'")))
}

/// Sends raw bytes into the virmidi raw device `hw:0,<dev>` with amidi.
pub fn amidi_send(dev: u32, bytes: &[u8]) {
    let f = temp_file(&format!("amidi-{dev}.syx"));
    std::fs::write(&f, bytes).unwrap();
    run(
        "amidi",
        &["-p", &format!("hw:0,{dev}"), "-s", f.to_str().unwrap()],
    );
}

/// A fresh path in the temp directory.
pub fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("phasorsync-alsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The sequencer address of the virmidi device `hw:0,<dev>` ("VirMIDI 0-<dev>").
pub fn virmidi_addr(dev: u32) -> Addr {
    let seq = Seq::open(None, None, false).expect("open seq");
    let want = format!("VirMIDI 0-{dev}");
    for c in ClientIter::new(&seq) {
        for p in PortIter::new(&seq, c.get_client()) {
            if p.get_name().map(|n| n == want).unwrap_or(false) {
                return p.addr();
            }
        }
    }
    panic!(
        "no sequencer port named {want}: is snd-virmidi loaded?\n{}",
        aconnect_list()
    );
}

/// `aconnect SENDER DEST`.
pub fn aconnect(from: Addr, to: Addr) {
    run(
        "aconnect",
        &[
            &format!("{}:{}", from.client, from.port),
            &format!("{}:{}", to.client, to.port),
        ],
    );
}

/// Waits until `f` holds, up to `timeout`.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}

/// A sequencer client made by the test: one readable port, sends direct events.
pub struct TestSource {
    /// The handle.
    pub seq: Seq,
    /// Its port's address.
    pub addr: Addr,
}

impl TestSource {
    /// A client named `name` with one READ|SUBS_READ port named `name`.
    pub fn new(name: &str) -> Self {
        let seq = Seq::open(None, Some(alsa::Direction::Playback), false).expect("open seq");
        let cname = CString::new(name).unwrap();
        seq.set_client_name(&cname).unwrap();
        let port = seq
            .create_simple_port(
                &cname,
                PortCap::READ | PortCap::SUBS_READ,
                PortType::MIDI_GENERIC | PortType::APPLICATION,
            )
            .unwrap();
        let client = seq.client_id().unwrap();
        Self {
            seq,
            addr: Addr { client, port },
        }
    }

    /// Sends a note-on to the subscribers now. Returns the monotonic time just before.
    pub fn note_on(&self, channel: u8, key: u8, velocity: u8) -> u64 {
        let mut ev = Event::new(
            EventType::Noteon,
            &EvNote {
                channel,
                note: key,
                velocity,
                off_velocity: 0,
                duration: 0,
            },
        );
        self.output(&mut ev)
    }

    /// Sends a control change to the subscribers now.
    pub fn cc(&self, channel: u8, param: u32, value: i32) -> u64 {
        let mut ev = Event::new(
            EventType::Controller,
            &EvCtrl {
                channel,
                param,
                value,
            },
        );
        self.output(&mut ev)
    }

    /// Sends a control change; `false` if the kernel refused it (a
    /// subscriber's queue was full).
    pub fn try_cc(&self, channel: u8, param: u32, value: i32) -> bool {
        let mut ev = Event::new(
            EventType::Controller,
            &EvCtrl {
                channel,
                param,
                value,
            },
        );
        ev.set_source(self.addr.port);
        ev.set_subs();
        ev.set_direct();
        self.seq.event_output_direct(&mut ev).is_ok()
    }

    fn output(&self, ev: &mut Event) -> u64 {
        ev.set_source(self.addr.port);
        ev.set_subs();
        ev.set_direct();
        let t = monotonic_ns();
        self.seq
            .event_output_direct(ev)
            .expect("event_output_direct");
        t
    }
}

/// Writes a format-0 Standard MIDI File, 1 tick = 1 ms (PPQ 500, tempo
/// 500 000 µs per quarter). `events` are (absolute ms, raw message bytes);
/// a SysEx is given as its complete bytes F0 … F7.
pub fn write_smf(path: &Path, events: &[(u32, Vec<u8>)]) {
    let mut trk = Vec::new();
    // Tempo meta event at tick 0: 500 000 µs per quarter.
    trk.extend_from_slice(&[0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20]);
    let mut last = 0;
    for (t, bytes) in events {
        vlq(&mut trk, t - last);
        last = *t;
        if bytes[0] == 0xF0 {
            trk.push(0xF0);
            vlq(&mut trk, (bytes.len() - 1) as u32);
            trk.extend_from_slice(&bytes[1..]);
        } else {
            trk.extend_from_slice(bytes);
        }
    }
    trk.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
    let mut f = Vec::new();
    f.extend_from_slice(b"MThd");
    f.extend_from_slice(&6u32.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0x01, 0xF4]); // format 0, 1 track, 500 PPQ
    f.extend_from_slice(b"MTrk");
    f.extend_from_slice(&(trk.len() as u32).to_be_bytes());
    f.extend_from_slice(&trk);
    std::fs::write(path, f).unwrap();
}

fn vlq(out: &mut Vec<u8>, mut v: u32) {
    let mut stack = vec![(v & 0x7F) as u8];
    v >>= 7;
    while v > 0 {
        stack.push(((v & 0x7F) as u8) | 0x80);
        v >>= 7;
    }
    out.extend(stack.iter().rev());
}
