//! Delivery latency through a real kernel sequencer: PhasorSync's thread vs a
//! bare `alsa` crate client vs `midir`, receiving the same stream in one run.
//!
//! Not a criterion benchmark: what is measured is a distribution of delays of
//! a live event stream through the kernel, not the speed of a function.
//! Needs `/dev/snd/seq` (run it in the project's VM: see docs/testing.md); it exits
//! with an error otherwise.
//!
//! A sender client (in this process) sends `N` control changes, ~1.5 ms apart
//! with jitter, each carrying its sequence number, and notes the
//! `CLOCK_MONOTONIC` time just before each write. The kernel stamps each event
//! on arrival (on the receiver's queue) during that write. Each receiver
//! hands messages to a consumer thread through a lock-free ring; the consumer
//! spins on the ring and stamps each message when it sees it. Reported:
//! - `send→ring`: consumer time − sender time (all receivers);
//! - `kernel→ring`: consumer time − the kernel timestamp converted to
//!   monotonic (PhasorSync and the bare client; midir's timestamps are
//!   relative to a private queue start it does not expose).
//!
//! Receivers run one after another on the same stream pattern, in rounds
//! (A B C D E, A B C D E, …) so slow drifts of the machine hit all alike.
//!
//! usage: alsa_latency [--events N] [--rounds R] [--burst]
//!
//! `--burst`: instead, 10 000 events back to back to each receiver in turn,
//! counting how many arrive (the kernel drops what a full queue cannot take).

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alsa::poll::Descriptors;
use alsa::seq::{Addr, EvCtrl, EventType, PortCap, PortInfo, PortType, Seq};
use phasorsync::backend::alsa_seq::queue_time::{measure, QueueTime};
use phasorsync::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use phasorsync::engine::MidiEngine;
use phasorsync::protocol::MidiEvent;
use phasorsync::ring::midi_buffer;
use phasorsync::timeline::monotonic_ns;

// The sender is the tests' own client (benches cannot `mod` a file outside
// benches/ without a path).
#[path = "../tests/support/common/mod.rs"]
mod common;
use common::TestSource;

/// `--burst`: send back to back, count what arrives instead of timing it.
static BURST: AtomicBool = AtomicBool::new(false);
/// Events the kernel refused to the sender in burst mode (a receiver's queue was full).
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// One delivered message: sequence number, kernel time (mono ns, 0 = unknown), seen at.
type Seen = (u32, u64, u64);

/// Sends `n` control changes from `sender`, each carrying its sequence
/// number, ~1.5 ms apart with jitter (back to back in burst mode, counting
/// what the kernel refuses); returns the send times.
fn stream(sender: &TestSource, n: u32) -> Vec<u64> {
    let burst = BURST.load(Ordering::Relaxed);
    let mut times = Vec::with_capacity(n as usize);
    let mut rng = 0x2545_F491u32;
    for i in 0..n {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        if !burst {
            std::thread::sleep(Duration::from_micros(1000 + u64::from(rng % 1000)));
        }
        let (param, value) = (i >> 7, (i & 0x7F) as i32);
        let sent = if burst {
            // A refused event is counted; its time keeps the index in step.
            sender.try_cc(0, param, value).unwrap_or_else(|_| {
                REFUSED.fetch_add(1, Ordering::Relaxed);
                monotonic_ns()
            })
        } else {
            sender.cc(0, param, value)
        };
        times.push(sent);
    }
    times
}

fn seq_no(controller: u32, value: i32) -> u32 {
    (controller << 7) | value as u32
}

/// Spins on `pop` until `n` messages or `stop`.
fn spin_consumer(
    n: usize,
    mut pop: impl FnMut() -> Option<(u32, u64)> + Send + 'static,
) -> std::thread::JoinHandle<Vec<Seen>> {
    std::thread::spawn(move || {
        let mut seen = Vec::with_capacity(n);
        let burst = BURST.load(Ordering::Relaxed);
        let mut deadline = monotonic_ns() + 60_000_000_000;
        while seen.len() < n && monotonic_ns() < deadline {
            match pop() {
                Some((s, k)) => {
                    let now = monotonic_ns();
                    seen.push((s, k, now));
                    if burst {
                        // A burst ends with a second of silence.
                        deadline = now + 1_000_000_000;
                    }
                }
                None => std::hint::spin_loop(),
            }
        }
        seen
    })
}

fn run_phasorsync(sender: &TestSource, n: u32, rt: Option<u8>) -> (Vec<Seen>, Vec<u64>) {
    let (p, mut c) = midi_buffer(4096);
    let mut engine = AlsaEngine::new(AlsaConfig {
        rt_priority: rt,
        patterns_from_environment: false,
        ..AlsaConfig::default()
    })
    .unwrap();
    engine
        .start(phasorsync::engine::EngineIo::input_only(p))
        .expect("start PhasorSync engine");
    let a = engine.client().cloned().unwrap();
    let dest = Addr {
        client: a.client,
        port: a.in_port,
    };
    sender.connect(dest);
    let consumer = spin_consumer(n as usize, move || {
        c.try_pop().and_then(|m| match m.event {
            MidiEvent::ControlChange {
                controller, value, ..
            } => Some((seq_no(controller.into(), value.into()), m.time_ns)),
            _ => None,
        })
    });
    let times = stream(sender, n);
    let seen = consumer.join().unwrap();
    sender.disconnect(dest);
    engine.stop();
    (seen, times)
}

/// The least a Rust program can do with the alsa crate: one timestamping
/// port, poll, read, push (sequence, kernel time) into an rtrb ring.
fn run_bare(sender: &TestSource, n: u32, rt: Option<u8>) -> (Vec<Seen>, Vec<u64>) {
    let (mut p, mut c) = rtrb::RingBuffer::<(u32, u64)>::new(4096);
    let stop = Arc::new(AtomicBool::new(false));
    let dest = Arc::new(AtomicU64::new(u64::MAX));
    let (stop2, dest2) = (Arc::clone(&stop), Arc::clone(&dest));
    let thread = std::thread::spawn(move || {
        if let Some(prio) = rt {
            let _ = phasorsync::engine::rt::make_current_thread_realtime(prio);
        }
        let seq = Seq::open(None, None, true).unwrap();
        seq.set_client_name(&CString::new("bare-alsa").unwrap())
            .unwrap();
        let q = seq.alloc_queue().unwrap();
        let mut info = PortInfo::empty().unwrap();
        info.set_name(c"in");
        info.set_capability(PortCap::WRITE | PortCap::SUBS_WRITE);
        info.set_type(PortType::MIDI_GENERIC | PortType::APPLICATION);
        info.set_timestamping(true);
        info.set_timestamp_real(true);
        info.set_timestamp_queue(q);
        seq.create_port(&info).unwrap();
        seq.control_queue(q, EventType::Start, 0, None).unwrap();
        seq.drain_output().unwrap();
        let clock = QueueTime::anchor(
            measure(|| seq.get_queue_status(q).map(|s| s.get_real_time())).unwrap(),
        );
        let me = seq.client_id().unwrap();
        dest2.store(
            ((me as u64) << 8) | info.get_port() as u64,
            Ordering::Release,
        );
        let mut fds = (&seq, Some(alsa::Direction::Capture)).get().unwrap();
        let mut input = seq.input();
        while !stop2.load(Ordering::Acquire) {
            // SAFETY: `fds` is a valid pollfd slice for its length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
            while let Ok(ev) = input.event_input() {
                if let Some(cc) = ev.get_data::<EvCtrl>() {
                    let k = ev.get_time().map_or(0, |t| clock.to_monotonic(t));
                    let _ = p.push((seq_no(cc.param, cc.value), k));
                }
            }
        }
    });
    while dest.load(Ordering::Acquire) == u64::MAX {
        std::thread::sleep(Duration::from_millis(1));
    }
    let d = dest.load(Ordering::Acquire);
    let dest = Addr {
        client: (d >> 8) as i32,
        port: (d & 0xFF) as i32,
    };
    sender.connect(dest);
    let consumer = spin_consumer(n as usize, move || c.pop().ok());
    let times = stream(sender, n);
    let seen = consumer.join().unwrap();
    sender.disconnect(dest);
    stop.store(true, Ordering::Release);
    thread.join().unwrap();
    (seen, times)
}

fn run_midir(sender: &TestSource, n: u32) -> (Vec<Seen>, Vec<u64>) {
    let (mut p, mut c) = rtrb::RingBuffer::<(u32, u64)>::new(4096);
    let input = midir::MidiInput::new("midir-in").expect("midir");
    let ports = input.ports();
    let port = ports
        .iter()
        .find(|pt| {
            input
                .port_name(pt)
                .map(|nm| nm.starts_with("latency-sender:"))
                .unwrap_or(false)
        })
        .expect("sender port visible to midir")
        .clone();
    let conn = input
        .connect(
            &port,
            "in",
            move |_ts, bytes, _| {
                if bytes.len() == 3 && bytes[0] & 0xF0 == 0xB0 {
                    let _ = p.push((seq_no(bytes[1].into(), bytes[2].into()), 0));
                }
            },
            (),
        )
        .expect("midir connect");
    let consumer = spin_consumer(n as usize, move || c.pop().ok());
    let times = stream(sender, n);
    let seen = consumer.join().unwrap();
    conn.close();
    (seen, times)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[derive(Default)]
struct Acc {
    send: Vec<u64>,
    kernel: Vec<u64>,
    lost: usize,
    /// Per round: (send→ring p50, p99).
    rounds: Vec<(u64, u64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// `a / b`, NaN when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// The receivers timed, in the order of their passes in a round.
const NAMES: [&str; 5] = [
    "PhasorSync (SCHED_FIFO 60)",
    "bare alsa (SCHED_FIFO 60)",
    "PhasorSync (normal prio)",
    "bare alsa (normal prio)",
    "midir (normal prio)",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u32| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // cargo bench passes --bench; nothing else to parse.
    let n = arg("--events", 2000).min(16_383);
    let rounds = arg("--rounds", 2);
    if !std::path::Path::new("/dev/snd/seq").exists() {
        eprintln!("alsa_latency: no /dev/snd/seq: run it where a kernel sequencer exists (the project VM)");
        std::process::exit(2);
    }
    let sender = TestSource::named("latency-sender", "out");
    if args.iter().any(|a| a == "--burst") {
        burst(&sender, rounds);
        return;
    }
    let mut acc = timed_rounds(&sender, n, rounds);
    println!(
        "alsa_latency: {n} events x {rounds} rounds per receiver, 1-2 ms apart; \
         latencies in us (p50 / p99 / max)"
    );
    let rows = print_latencies(&mut acc);
    print_ratios(&acc, &rows);
}

/// `--burst`: 10 000 events back to back to each receiver in turn, counting
/// what arrives and what the kernel refused to the sender.
fn burst(sender: &TestSource, rounds: u32) {
    BURST.store(true, Ordering::Relaxed);
    let n = 10_000;
    println!("alsa_latency --burst: {n} events back to back from a client, per receiver (arrived / refused to the sender)");
    for round in 0..rounds {
        for (name, k) in [
            ("PhasorSync (SCHED_FIFO 60)", 0),
            ("bare alsa (SCHED_FIFO 60)", 1),
            ("midir (normal prio)", 4),
        ] {
            REFUSED.store(0, Ordering::Relaxed);
            let (seen, _) = match k {
                0 => run_phasorsync(sender, n, Some(60)),
                1 => run_bare(sender, n, Some(60)),
                _ => run_midir(sender, n),
            };
            println!(
                "round {round}: {name:<28} arrived {:>5} / {n}, refused {}",
                seen.len(),
                REFUSED.load(Ordering::Relaxed)
            );
        }
    }
}

/// `rounds` rounds of `n` events to each of [`NAMES`] in turn: the delays
/// per receiver.
fn timed_rounds(sender: &TestSource, n: u32, rounds: u32) -> Vec<Acc> {
    let mut acc: Vec<Acc> = NAMES.iter().map(|_| Acc::default()).collect();
    for _ in 0..rounds {
        for (k, acc) in acc.iter_mut().enumerate() {
            // Each pass gets the same stream pattern; send times per pass.
            let (seen, send_times) = match k {
                0 => run_phasorsync(sender, n, Some(60)),
                1 => run_bare(sender, n, Some(60)),
                2 => run_phasorsync(sender, n, None),
                3 => run_bare(sender, n, None),
                _ => run_midir(sender, n),
            };
            acc.lost += n as usize - seen.len();
            let mut this: Vec<u64> = seen
                .iter()
                .filter_map(|(s, _, at)| send_times.get(*s as usize).map(|t| at.saturating_sub(*t)))
                .collect();
            this.sort_unstable();
            acc.rounds.push((pct(&this, 0.5), pct(&this, 0.99)));
            for (s, kts, at) in seen {
                if let Some(&t) = send_times.get(s as usize) {
                    acc.send.push(at.saturating_sub(t));
                }
                if kts != 0 {
                    acc.kernel.push(at.saturating_sub(kts));
                }
            }
        }
    }
    acc
}

/// One line per receiver (delays sorted in place); returns each one's
/// (send→ring p50, p99, kernel→ring p50, p99).
fn print_latencies(acc: &mut [Acc]) -> Vec<(u64, u64, u64, u64)> {
    let mut rows = Vec::new();
    for (name, a) in NAMES.iter().zip(acc.iter_mut()) {
        a.send.sort_unstable();
        a.kernel.sort_unstable();
        let us = |v: u64| v as f64 / 1000.0;
        let kernel = if a.kernel.is_empty() {
            "n/a".to_string()
        } else {
            format!(
                "{:.1} / {:.1} / {:.1}",
                us(pct(&a.kernel, 0.5)),
                us(pct(&a.kernel, 0.99)),
                us(*a.kernel.last().unwrap())
            )
        };
        println!(
            "{name:<28} send→ring {:.1} / {:.1} / {:.1}   kernel→ring {kernel}   lost {}",
            us(pct(&a.send, 0.5)),
            us(pct(&a.send, 0.99)),
            us(*a.send.last().unwrap_or(&0)),
            a.lost
        );
        rows.push((
            pct(&a.send, 0.5),
            pct(&a.send, 0.99),
            pct(&a.kernel, 0.5),
            pct(&a.kernel, 0.99),
        ));
    }
    rows
}

/// The median over rounds of the per-round ratio of receivers `x` and `y`
/// (send→ring p50, or p99).
fn per_round(acc: &[Acc], x: usize, y: usize, p99: bool) -> f64 {
    median(
        acc[x]
            .rounds
            .iter()
            .zip(&acc[y].rounds)
            .map(|(a, b)| {
                if p99 {
                    ratio(a.1, b.1)
                } else {
                    ratio(a.0, b.0)
                }
            })
            .collect(),
    )
}

/// PhasorSync against the others: per round, then over the whole run.
fn print_ratios(acc: &[Acc], rows: &[(u64, u64, u64, u64)]) {
    // Host load drifts between passes: the per-round ratio of two receivers
    // measured back to back, then the median over rounds, is the robust figure.
    println!(
        "median over rounds of per-round send→ring ratios: PhasorSync/bare FIFO p50 {:.2} p99 {:.2}; \
         PhasorSync/bare normal p50 {:.2} p99 {:.2}; PhasorSync/midir normal p50 {:.2} p99 {:.2}",
        per_round(acc, 0, 1, false),
        per_round(acc, 0, 1, true),
        per_round(acc, 2, 3, false),
        per_round(acc, 2, 3, true),
        per_round(acc, 2, 4, false),
        per_round(acc, 2, 4, true)
    );
    for (label, x, y) in [
        ("PhasorSync/bare (SCHED_FIFO):", 0, 1),
        ("PhasorSync/bare (normal):", 2, 3),
        ("PhasorSync/midir (normal):", 2, 4),
    ] {
        let (a, b) = (rows[x], rows[y]);
        // midir has no kernel times to compare.
        let kernel = if acc[y].kernel.is_empty() {
            String::new()
        } else {
            format!(
                "; kernel→ring p50 {:.2} p99 {:.2}",
                ratio(a.2, b.2),
                ratio(a.3, b.3)
            )
        };
        println!(
            "ratios {label:<29} send→ring p50 {:.2} p99 {:.2}{kernel}",
            ratio(a.0, b.0),
            ratio(a.1, b.1)
        );
    }
}
