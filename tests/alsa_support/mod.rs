//! Helpers for the kernel tests of the ALSA engine (tests/alsa_*.rs): starting
//! an engine, collecting its ring, and a test-made sequencer client. The
//! generic alsa-utils helpers (aconnect, amidi, aplaymidi, SMF, temp paths,
//! waiting) are in `tests/common`, re-exported from here. These tests need
//! `/dev/snd/seq`, `snd-virmidi` (hw:0,0) and alsa-utils; `cargo xtask test`
//! provides them (natively or in a VM).
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;
pub use common::*;

use std::ffi::CString;
use std::time::{Duration, Instant};

use alsa::seq::{Addr, EvCtrl, EvNote, Event, EventType, PortCap, PortType, Seq};
use phasorsync::backend::alsa_seq::{queue_time::monotonic_ns, AlsaConfig, AlsaEngine};
use phasorsync::engine::{EngineIo, MidiEngine, News};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{
    midi_buffer_with_config, MidiBufferConsumer, MidiBufferProducer, RingConfig,
};
use std::sync::Arc;

/// Why these tests are ignored by a plain `cargo test`.
pub const NEEDS_KERNEL: &str = "needs a kernel sequencer: run with cargo xtask test";

/// Engine config for tests: no environment patterns, no realtime.
pub fn config() -> AlsaConfig {
    AlsaConfig {
        patterns_from_environment: false,
        ..AlsaConfig::default()
    }
}

/// A started engine and the audio thread's ends of its rings.
pub struct Running {
    /// The engine.
    pub engine: AlsaEngine,
    /// The audio thread's side of the input ring.
    pub consumer: MidiBufferConsumer,
    /// The audio thread's side of the output ring.
    pub output: MidiBufferProducer,
    /// The engine's news channel.
    pub news: Arc<News>,
}

impl Running {
    /// Queue `bytes` (one complete MIDI message) for output at `time_ns`
    /// (0: at once), as `process()` would; `false` if the bytes are not one
    /// message or the output ring is full.
    pub fn send(&mut self, time_ns: u64, bytes: &[u8]) -> bool {
        if bytes.first() == Some(&0xF0) {
            return self.output.try_send_sysex(time_ns, 0, bytes);
        }
        match MidiEvent::from_bytes(bytes) {
            Ok(event) => self.output.try_send(MidiMessage {
                time_ns,
                port: 0,
                event,
            }),
            Err(_) => false,
        }
    }
}

/// Starts an engine with big rings.
pub fn start(cfg: AlsaConfig) -> Running {
    let big = RingConfig {
        capacity: 16_384,
        sysex_bytes: 512 * 1024,
    };
    let (input, consumer) = midi_buffer_with_config(big);
    let (output, out_consumer) = midi_buffer_with_config(big);
    let news = Arc::new(News::default());
    let mut engine = AlsaEngine::new(cfg).expect("engine");
    engine
        .start(EngineIo {
            input,
            output: out_consumer,
            news: Arc::clone(&news),
        })
        .expect("engine start");
    Running {
        engine,
        consumer,
        output,
        news,
    }
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

/// `aconnect SENDER DEST` for two sequencer addresses.
pub fn aconnect_addr(from: Addr, to: Addr) {
    aconnect(
        &format!("{}:{}", from.client, from.port),
        &format!("{}:{}", to.client, to.port),
    );
}

/// The sequencer address of the virmidi device `hw:0,<dev>` ("VirMIDI 0-<dev>").
pub fn virmidi_addr(dev: u32) -> Addr {
    let v = require_virmidi(dev as usize + 1)
        .into_iter()
        .find(|v| v.card == 0 && v.device == dev)
        .unwrap_or_else(|| {
            panic!(
                "no virmidi device hw:0,{dev}: is snd-virmidi loaded?\n{}",
                aconnect_list()
            )
        });
    Addr {
        client: v.client as i32,
        port: v.port as i32,
    }
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
        self.output(&mut cc_event(channel, param, value))
    }

    /// Sends a control change; `false` if the kernel refused it (a
    /// subscriber's queue was full).
    pub fn try_cc(&self, channel: u8, param: u32, value: i32) -> bool {
        let mut ev = cc_event(channel, param, value);
        self.address(&mut ev);
        self.seq.event_output_direct(&mut ev).is_ok()
    }

    /// From this port to its subscribers, now.
    fn address(&self, ev: &mut Event) {
        ev.set_source(self.addr.port);
        ev.set_subs();
        ev.set_direct();
    }

    fn output(&self, ev: &mut Event) -> u64 {
        self.address(ev);
        let t = monotonic_ns();
        self.seq
            .event_output_direct(ev)
            .expect("event_output_direct");
        t
    }
}

/// A control-change event.
fn cc_event(channel: u8, param: u32, value: i32) -> Event<'static> {
    Event::new(
        EventType::Controller,
        &EvCtrl {
            channel,
            param,
            value,
        },
    )
}
