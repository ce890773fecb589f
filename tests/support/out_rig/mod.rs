//! The plugin in-process with the hand-driven engine, for the output tests
//! (`hardware_out.rs`, `clock_out.rs`): the test plays the host (blocks,
//! transports, parameters) and the MIDI thread (it drains the output ring).
#![allow(dead_code)] // each test binary uses a different part of it

use crate::clap_host::{self, record, Recorded, TestHost};
use clack_host::events::event_types::{MidiEvent as ClapMidi, ParamValueEvent, TransportEvent};
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::{EngineIo, ManualEngine};
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};
use phasorsync::protocol::MidiEvent;
use phasorsync::timeline::monotonic_ns;

/// 48 kHz, as `clap_host::activate` gives it.
pub const RATE: f64 = 48_000.0;

/// One message the plugin put in the output ring.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// When it is to leave (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
    /// What.
    pub event: MidiEvent,
    /// Its output stream (`phasorsync::engine::stream`), or a retraction of
    /// the clock (`stream::RETRACT_CLOCK`, whose event means nothing).
    pub port: u16,
    /// A SysEx's bytes (empty otherwise).
    pub sysex: Vec<u8>,
}

/// What one block gave.
#[derive(Debug, Default)]
pub struct Block {
    /// Events the plugin gave the host.
    pub host: Vec<Recorded>,
    /// What it queued for the hardware, in ring order.
    pub ring: Vec<Sent>,
    /// `CLOCK_MONOTONIC` just before and just after the `process()` call.
    pub before_ns: u64,
    /// See `before_ns`.
    pub after_ns: u64,
}

/// The plugin, started, and the engine's io.
pub struct Rig {
    p: Option<StartedPluginAudioProcessor<TestHost>>,
    /// The instance (for main-thread calls: reports).
    pub plugin: PluginInstance<TestHost>,
    _entry: PluginEntry,
    /// What the engine got: the test is its MIDI thread.
    pub io: EngineIo,
    /// Block size.
    pub frames: u32,
}

impl Rig {
    /// A started plugin with blocks of `frames`.
    pub fn new(frames: u32) -> Self {
        let entry = PluginEntry::load_from_clack::<
            SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
        >(c"/phasorsync-out")
        .unwrap();
        let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
        let p = clap_host::start(&mut plugin, frames);
        let io = ManualEngine::take_io().expect("engine started");
        Self {
            p: Some(p),
            plugin,
            _entry: entry,
            io,
            frames,
        }
    }

    /// One block: the host's `input` events and `transport` in; what the
    /// plugin gave the host and queued for the hardware out.
    pub fn block(&mut self, input: &EventBuffer, transport: Option<&TransportEvent>) -> Block {
        let mut output = EventBuffer::with_capacity(1024);
        let p = self.p.as_mut().expect("processing");
        let before_ns = monotonic_ns();
        clap_host::process_block_with(p, self.frames, input, &mut output, transport, &mut []);
        let after_ns = monotonic_ns();
        Block {
            host: output.iter().map(record).collect(),
            ring: self.drain(),
            before_ns,
            after_ns,
        }
    }

    /// One block whose output ring is left as it is (the engine is slow).
    pub fn block_no_drain(&mut self, input: &EventBuffer, output: &mut EventBuffer) {
        let p = self.p.as_mut().expect("processing");
        clap_host::process_block(p, self.frames, input, output);
    }

    /// Everything in the output ring, in order.
    pub fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; self.io.output.sysex_capacity()];
        while let Some(m) = self.io.output.try_pop() {
            let sysex = if m.event.is_sysex() {
                let n = self.io.output.pop_sysex_payload(&mut buf).expect("payload");
                buf[..n].to_vec()
            } else {
                Vec::new()
            };
            out.push(Sent {
                time_ns: m.time_ns,
                event: m.event,
                port: m.port,
                sysex,
            });
        }
        out
    }

    /// `stop_processing` then `start_processing`; returns what stopping queued.
    pub fn stop_and_restart(&mut self) -> Vec<Sent> {
        let stopped = self.p.take().expect("processing").stop_processing();
        let sent = self.drain();
        self.p = Some(stopped.start_processing().expect("start_processing"));
        sent
    }

    /// The host's `reset()` while processing; returns what that queued.
    pub fn reset(&mut self) -> Vec<Sent> {
        self.p.as_mut().expect("processing").reset();
        self.drain()
    }

    /// Stop processing and deactivate; returns what that queued.
    pub fn finish(mut self) -> Vec<Sent> {
        let p = self.p.take().expect("processing");
        self.plugin.deactivate(p.stop_processing());
        self.drain()
    }

    /// Run the main-thread callback (the loss report) and return every log
    /// line so far.
    pub fn logs(&mut self) -> Vec<String> {
        clap_host::run_main_thread_callback(&mut self.plugin);
        clap_host::logs(&self.plugin)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }
}

/// A parameter change at the block start.
pub fn param(row: usize, value: f64) -> ParamValueEvent {
    ParamValueEvent::new(0, ClapId::new(PARAMS[row].id), Pckn::match_all(), value)
}

/// Clock out on (it is off by default).
pub fn clock_on() -> ParamValueEvent {
    param(index::CLOCK_OUT, 1.0)
}

/// A host transport at sample `time`: `playing` at `beats` and `tempo`.
pub fn transport(time: u32, playing: bool, beats: f64, tempo: f64) -> TransportEvent {
    clap_host::transport(time, playing, beats, tempo)
}

/// The two markers a block carries to show its own timeline: CCs on
/// channel 16 at its first and last sample.
pub fn push_markers(input: &mut EventBuffer, frames: u32) {
    input.push(&ClapMidi::new(0, 0, [0xBF, 0, 0]));
    input.push(&ClapMidi::new(frames - 1, 0, [0xBF, 1, 0]));
}

/// Whether `e` is one of the markers.
pub fn is_marker(e: &MidiEvent) -> bool {
    matches!(
        e,
        MidiEvent::ControlChange {
            channel: 15,
            controller: 0 | 1,
            ..
        }
    )
}

/// The block's timeline as the plugin used it, from its markers: the
/// fractional sample of a stamp (same offset parameters as the markers).
pub fn positions(ring: &[Sent], frames: u32) -> impl Fn(u64) -> f64 {
    let stamp = |controller: u8| {
        ring.iter()
            .find(|s| {
                matches!(s.event, MidiEvent::ControlChange { channel: 15, controller: c, .. } if c == controller)
            })
            .expect("marker")
            .time_ns
    };
    let (t0, t1) = (stamp(0), stamp(1));
    let per_ns = f64::from(frames - 1) / (t1 - t0) as f64;
    move |t| (t as f64 - t0 as f64) * per_ns
}
