//! PhasorSync's ALSA engine under test: started with a test config and a big
//! ring, and the messages read back off that ring.

use std::time::{Duration, Instant};

use alsa::seq::Addr;
use phasorsync::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use phasorsync::engine::{EngineIo, LogLevel, LogLine, MidiEngine, News};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{
    midi_buffer_with_config, MidiBufferConsumer, MidiBufferProducer, RingConfig,
};
use std::sync::Arc;

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
    /// It goes on the host-events stream ([`phasorsync::engine::stream`]),
    /// which the engine keeps in order.
    pub fn send(&mut self, time_ns: u64, bytes: &[u8]) -> bool {
        self.send_on(phasorsync::engine::stream::HOST, time_ns, bytes)
    }

    /// [`Self::send`] on output stream `stream`.
    pub fn send_on(&mut self, stream: u16, time_ns: u64, bytes: &[u8]) -> bool {
        if bytes.first() == Some(&0xF0) {
            return self.output.try_send_sysex(time_ns, stream, bytes);
        }
        match MidiEvent::from_bytes(bytes) {
            Ok(event) => self.output.try_send(MidiMessage {
                time_ns,
                port: stream,
                event,
            }),
            Err(_) => false,
        }
    }

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

/// Big rings, so tests are not limited by them.
const BIG: RingConfig = RingConfig {
    capacity: 16_384,
    sysex_bytes: 512 * 1024,
};

/// Fresh rings for `engine`'s next start, on `news`; the audio ends.
fn start_on(engine: &mut AlsaEngine, news: &Arc<News>) -> (MidiBufferConsumer, MidiBufferProducer) {
    let (input, consumer) = midi_buffer_with_config(BIG);
    let (output, out_consumer) = midi_buffer_with_config(BIG);
    engine
        .start(EngineIo {
            input,
            output: out_consumer,
            news: Arc::clone(news),
        })
        .expect("engine start");
    (consumer, output)
}

/// Starts an engine with big rings.
pub fn start(cfg: AlsaConfig) -> Running {
    let news = Arc::new(News::default());
    let mut engine = AlsaEngine::new(cfg).expect("engine");
    let (consumer, output) = start_on(&mut engine, &news);
    Running {
        engine,
        consumer,
        output,
        news,
    }
}

impl Running {
    /// Stop, then start again with fresh rings (as a plugin's deactivate and
    /// activate do), on the same news channel.
    pub fn restart(&mut self) {
        self.engine.stop();
        (self.consumer, self.output) = start_on(&mut self.engine, &self.news);
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

/// Every log line queued on `news` since the last call (taken off it).
pub fn log_lines(news: &News) -> Vec<LogLine> {
    std::iter::from_fn(|| news.pop_log()).collect()
}

/// Panics unless one of `lines` is a warning that contains `text`.
pub fn assert_warned(lines: &[LogLine], text: &str) {
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Warning && l.message.contains(text)),
        "no warning containing {text:?}: {lines:?}"
    );
}
