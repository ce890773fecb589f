//! PhasorSync's ALSA engine under test: started with a test config and a big
//! ring, and the messages read back off that ring.

use std::time::{Duration, Instant};

use alsa::seq::Addr;
use phasorsync::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use phasorsync::engine::MidiEngine;
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{midi_buffer_with_config, MidiBufferConsumer, RingConfig};

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

impl Running {
    /// The engine's input port (others connect to it).
    pub fn in_addr(&self) -> Addr {
        let a = self.engine.client().expect("engine started");
        Addr {
            client: a.client,
            port: a.in_port,
        }
    }

    /// The engine's output port (it sends from it).
    pub fn out_addr(&self) -> Addr {
        let a = self.engine.client().expect("engine started");
        Addr {
            client: a.client,
            port: a.out_port,
        }
    }
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
