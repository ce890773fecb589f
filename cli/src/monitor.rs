//! `phasorsync monitor`: the plugin's input path without the plugin.
//!
//! It starts the library's own [`AlsaEngine`] (same client setup, same
//! auto-connection, same parser, same ring) and reads the ring where the
//! plugin's audio thread would, so what it prints is what the plugin gets.
//! MIDI clock also feeds the plugin's [`Follower`]: its tempo, lock state
//! and jitter are on the status line.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alsa::seq::{Addr, Seq};
use phasorsync::backend::alsa_seq::client::open_seq;
use phasorsync::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use phasorsync::engine::{EngineIo, EngineStats, LogLevel, MidiEngine, News};
use phasorsync::midi_clock::follower::{ClockMessage, Follower, FollowerState, Lock};
use phasorsync::protocol::MidiEvent;
use phasorsync::ring::{midi_buffer, MidiBufferConsumer};
use phasorsync::timeline::monotonic_ns;

use crate::describe::{source_addr, Record};

/// Messages the ring holds between two reads (a read every few ms).
const RING_CAPACITY: usize = 8192;
/// How long the loop sleeps when the ring is empty.
const IDLE: Duration = Duration::from_millis(5);
/// How often the live status line is redrawn.
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// `phasorsync monitor` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Connect patterns (as in PHASORSYNC_CONNECT), added to those of the
    /// environment and ~/.config/phasorsync/connect.
    pub patterns: Vec<String>,
    /// One JSON object per message on stdout (time_ns, delta_ns, source,
    /// source_name, kind, channel 0-15, key, value, data), no status line.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub duration: Option<f64>,
    /// Ignore PHASORSYNC_CONNECT and the config file.
    #[arg(long)]
    pub no_env: bool,
}

/// A finite, non-negative number of seconds.
fn positive_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}`: give a number of seconds, 0 or more"))
    }
}

/// Names of source ports, looked up once each on a plain sequencer handle.
struct Names {
    seq: Option<Seq>,
    known: HashMap<u16, Option<String>>,
}

impl Names {
    fn name(&mut self, port: u16) -> Option<String> {
        let seq = self.seq.as_ref()?;
        self.known
            .entry(port)
            .or_insert_with(|| {
                let (client, port) = source_addr(port);
                let c = seq.get_any_client_info(client).ok()?;
                let p = seq.get_any_port_info(Addr { client, port }).ok()?;
                Some(format!("{}:{}", c.get_name().ok()?, p.get_name().ok()?))
            })
            .clone()
    }
}

/// The live status line: the engine's counters, and the clock when one comes in.
fn status(s: &EngineStats, clock: Option<&FollowerState>) -> String {
    let mut line = format!(
        "{} msgs | lost: ring full {}, kernel overrun {} ({} events), parse errors {}, \
         SysEx too big {}, read errors {}",
        s.received_messages,
        s.ring_full,
        s.overruns,
        s.overrun_events,
        s.parse_errors,
        s.sysex_oversize,
        s.event_errors
    );
    if let Some(c) = clock {
        let lock = match c.lock {
            Lock::Searching => "searching",
            Lock::Locked => "locked",
            Lock::FreeRunning => "free-running",
        };
        let tempo = c
            .tempo_bpm
            .map_or_else(|| "-".to_string(), |t| format!("{t:.2}"));
        let jitter = c
            .jitter_ms
            .map_or_else(|| "-".to_string(), |j| format!("{j:.3}"));
        line.push_str(&format!(
            " | clock {tempo} BPM {lock}, jitter {jitter} ms{}",
            if c.running { ", running" } else { "" }
        ));
    }
    line
}

/// Reads the ring and prints until stopped.
struct Monitor {
    json: bool,
    live: bool,
    consumer: MidiBufferConsumer,
    news: Arc<News>,
    names: Names,
    follower: Follower,
    clock_seen: bool,
    last_ns: Option<u64>,
    start_ns: u64,
    sysex: Vec<u8>,
    status_shown: bool,
}

impl Monitor {
    /// Prints what is in the ring; `Err` when stdout is gone (a closed pipe).
    fn drain(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let mut any = false;
        while let Some(msg) = self.consumer.try_pop() {
            let payload = match msg.event {
                MidiEvent::SysEx { len } => {
                    self.sysex.resize(len as usize, 0);
                    self.consumer
                        .pop_sysex_payload(&mut self.sysex)
                        .map(|n| &self.sysex[..n])
                }
                _ => None,
            };
            if let Some(kind) = ClockMessage::from_event(&msg.event) {
                self.follower.event(msg.time_ns, msg.port, kind);
                self.clock_seen = true;
            }
            let delta = self.last_ns.map(|l| msg.time_ns.saturating_sub(l));
            self.last_ns = Some(msg.time_ns);
            let rec = Record::new(&msg, delta, self.names.name(msg.port), payload);
            if !any {
                self.clear_status();
                any = true;
            }
            if self.json {
                serde_json::to_writer(&mut *out, &rec)?;
                out.write_all(b"\n")?;
            } else {
                writeln!(out, "{}", rec.line(self.start_ns))?;
            }
        }
        if any {
            out.flush()?;
        }
        Ok(())
    }

    /// Engine log lines (connections made, warnings) go to stderr.
    fn logs(&mut self) {
        while let Some(l) = self.news.pop_log() {
            self.clear_status();
            let level = match l.level {
                LogLevel::Info => "info",
                LogLevel::Warning => "warning",
                LogLevel::Error => "error",
            };
            eprintln!("[{level}] {}", l.message);
        }
    }

    fn status_line(&self) -> String {
        let clock = self.clock_seen.then(|| self.follower.state(monotonic_ns()));
        status(&self.news.stats(), clock.as_ref())
    }

    fn draw_status(&mut self) {
        if self.live {
            eprint!("\r\x1b[K{}", self.status_line());
            self.status_shown = true;
        }
    }

    fn clear_status(&mut self) {
        if self.status_shown {
            eprint!("\r\x1b[K");
            self.status_shown = false;
        }
    }
}

/// Runs the monitor until Ctrl-C, `--duration` or a closed stdout.
pub fn run(args: &Args) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .map_err(|e| format!("installing the Ctrl-C handler: {e}"))?;
    }
    let mut engine = AlsaEngine::new(AlsaConfig {
        client_name: "PhasorSync monitor".into(),
        rt_priority: None,
        connect_patterns: args.patterns.join("\n"),
        patterns_from_environment: !args.no_env,
        ..AlsaConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let (input, consumer) = midi_buffer(RING_CAPACITY);
    let news = Arc::new(News::default());
    let mut io = EngineIo::input_only(input);
    io.news = Arc::clone(&news);
    engine.start(io).map_err(|e| e.to_string())?;
    let start_ns = monotonic_ns();
    let mut m = Monitor {
        json: args.json,
        live: !args.json && std::io::stderr().is_terminal(),
        consumer,
        news,
        names: Names {
            seq: open_seq().ok(),
            known: HashMap::new(),
        },
        follower: Follower::new(),
        clock_seen: false,
        last_ns: None,
        start_ns,
        sysex: Vec::new(),
        status_shown: false,
    };
    if let Some(a) = engine.client() {
        eprintln!(
            "listening as client {} \"{}\", MIDI in {}:{} (connect sources by pattern or \
             with aconnect); Ctrl-C to stop",
            a.client, a.name, a.client, a.in_port
        );
    }
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut last_status = Instant::now() - STATUS_EVERY;
    let mut closed = false;
    while !stop.load(Ordering::Acquire) && deadline.is_none_or(|d| Instant::now() < d) {
        m.logs();
        if m.drain(&mut out).is_err() {
            closed = true;
            break;
        }
        if last_status.elapsed() >= STATUS_EVERY {
            m.draw_status();
            last_status = Instant::now();
        }
        if m.consumer.is_empty() {
            std::thread::sleep(IDLE);
        }
    }
    engine.stop();
    if !closed {
        // What arrived before the stop is still printed.
        let _ = m.drain(&mut out);
    }
    m.logs();
    m.clear_status();
    if !args.json {
        eprintln!("{}", m.status_line());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_must_be_a_finite_non_negative_number() {
        assert_eq!(positive_seconds("1.5"), Ok(1.5));
        assert!(positive_seconds("-1").is_err());
        assert!(positive_seconds("abc").is_err());
        assert!(positive_seconds("inf").is_err());
    }

    #[test]
    fn the_status_line_shows_the_clock_only_when_there_is_one() {
        let s = EngineStats {
            ring_full: 3,
            ..EngineStats::default()
        };
        let plain = status(&s, None);
        assert!(
            plain.contains("ring full 3") && !plain.contains("BPM"),
            "{plain}"
        );
        let mut f = Follower::new();
        for k in 0..48u64 {
            f.event(1_000_000_000 + k * 20_833_333, 1, ClockMessage::Clock);
        }
        let st = f.state(1_000_000_000 + 48 * 20_833_333);
        let with = status(&s, Some(&st));
        assert!(with.contains("BPM locked"), "{with}");
        assert!(with.contains("120.0"), "{with}");
    }
}
