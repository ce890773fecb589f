//! Placement by the tools a Linux musician would pick instead of PhasorSync,
//! measured as `tests/kernel/placement.rs` measures PhasorSync, in the same run
//! of `cargo xtask bench` and with the same note file
//! (`tests/support/common/notes.rs`):
//! - **PipeWire**: `pipewire` on the packaged `minimal.conf` with its
//!   `api.alsa.seq.bridge` object enabled, its ALSA PCM nodes removed (the
//!   VM's card has none), no `vm.overrides`, and the Dummy-Driver at a forced
//!   quantum (`default.clock.quantum` = min = max); no session manager. Read
//!   through `pw-jack`.
//! - **a2jmidid**: `a2jmidid -e` under `jackd -d dummy -r 48000 -p N`.
//!
//! Both are read by the same small JACK client (`xtask/jack/peer_client.c`,
//! built by `cargo xtask bench`, named by `$PHASORSYNC_PEER_CLIENT`). It
//! records each process callback's wake-up on `CLOCK_MONOTONIC` with the
//! cycle's frame time, and each MIDI event's absolute frame.
//!
//! The measure: `aplaymidi` plays the file into the kernel's "Midi Through"
//! port; a timestamping receiver (`tests/support/common/receiver.rs`) subscribed to
//! it gives each note's kernel delivery time. A peer's frame is mapped to
//! `CLOCK_MONOTONIC` by its driver's schedule, read from its own wake-ups
//! within ±0.5 s of the note: their rate (a least-squares line; JACK's dummy
//! driver runs below its nominal rate when a cycle takes time, as it sleeps
//! a whole period after each) and the earliest `wake − frame/rate` among
//! them (wake-ups are only ever late, so the earliest is the schedule). The
//! error is mapped time minus kernel time, in samples at 48 kHz; its median
//! (the constant latency) is removed and |error − median| p50/p99/max is
//! given, as for PhasorSync; as for PhasorSync, notes placed within 50 ms
//! (at least 8 blocks) after one of the peer's xruns (a cycle woken more
//! than a period after its schedule) are left out and counted, and the
//! figures with them are printed too. Notes are paired with the probe's by key
//! (keys repeat only every 60 notes, 1.875 s or more apart), so a lost note
//! does not shift the rest; lost notes (and extra ones) are counted.
//!
//! The floor: the same receiver's kernel times against the file's schedule,
//! median removed: how evenly the kernel itself delivered the notes in this
//! run. A caution is printed when it is noisy.
//!
//! Limits: a driver that re-anchors its schedule after a late wake-up (JACK's
//! dummy driver does) moves the schedule within the ±0.5 s window; the
//! earlier anchor is then used for the notes after it, which shows as error.
//! The peers' clocks are their drivers', not the kernel's; the mapping is
//! only as good as their wake-ups. Figures come from an emulated CPU.
//!
//! Needs `/dev/snd/seq`, `pipewire-bin`, `libspa-0.2-modules`,
//! `pipewire-jack`, `a2jmidid`, `jackd2` and alsa-utils; run with `cargo
//! xtask bench` (method, limits and figures: `docs/benchmarks/peers.md`).

#[path = "../../tests/support/common/mod.rs"]
mod common;
mod figures;
mod pipewire_conf;
mod session;

use alsa::seq::Addr;
use common::{
    ensure_dev_shm, placement_file, placement_schedule, require_sequencer, PLACEMENT_NOTES,
};
use session::measure;
use std::path::PathBuf;
use std::time::Duration;

const RATE: f64 = 48_000.0;
const BLOCK_SIZES: [u32; 3] = [64, 256, 1024];
/// snd-seq-dummy's "Midi Through" port, which `aplaymidi` plays into.
const THROUGH: Addr = Addr {
    client: 14,
    port: 0,
};
/// The peers' JACK port for it (PipeWire: `Midi-Bridge:… Midi Through …
/// (capture)`; a2jmidid: `a2j:Midi Through [14] (capture): …`).
const THROUGH_PORT: &str = "Midi Through.*capture";
/// How long a peer runs before the first note (its DLL settles).
const PRE_ROLL: Duration = Duration::from_secs(2);
/// The floor is called noisy above this p99, in samples (1 ms).
const NOISY_FLOOR: f64 = 48.0;

/// The two peers.
#[derive(Clone, Copy, Debug)]
enum Peer {
    PipeWire,
    A2j,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::PipeWire => "PipeWire",
            Peer::A2j => "a2jmidid",
        }
    }
}

/// One row of the table.
struct Row {
    peer: &'static str,
    block: u32,
    /// Constant latency (median error), ms.
    delay_ms: f64,
    /// |error − median| p50/p99/max, samples; `None` when no paired note
    /// was away from the peer's xruns.
    jitter: Option<(f64, f64, f64)>,
    lost: usize,
    extra: usize,
    /// The kernel floor in the same run: |error − median| p50/p99/max, samples.
    floor: (f64, f64, f64),
    /// Wake-up after the mapped schedule, µs, p50/p99/max; cycles a period late.
    wake: (f64, f64, f64),
    late_cycles: usize,
    /// Counts, the fitted rate, and the first lost notes: what to read the row with.
    detail: String,
}

fn main() {
    require_sequencer();
    ensure_dev_shm();
    let client = std::env::var("PHASORSYNC_PEER_CLIENT")
        .map(PathBuf::from)
        .expect("PHASORSYNC_PEER_CLIENT must name the JACK client (cargo xtask bench builds it)");
    assert!(client.exists(), "no JACK client at {}", client.display());
    let times = placement_schedule();
    let file = placement_file(&times);
    println!(
        "peers' placement at 48 kHz, {PLACEMENT_NOTES} notes from aplaymidi (the file of \
         tests/kernel/placement.rs); error in samples against the kernel timestamp, constant \
         latency removed: |error - median| p50 / p99 / max"
    );
    let mut rows = Vec::new();
    for frames in BLOCK_SIZES {
        for peer in [Peer::PipeWire, Peer::A2j] {
            match measure(peer, frames, &client, &file, &times) {
                Ok(row) => rows.push(row),
                Err(e) => println!("{:>9} {frames:>5}: not measured: {e}", peer.name()),
            }
        }
    }
    let _ = std::fs::remove_file(&file);
    println!(
        "{:>9} | {:>5} | {:>8} | {:>23} | {:>4} | {:>5} | {:>20} | peer wake-up after schedule",
        "peer", "block", "delay ms", "|error| p50 p99 max", "lost", "extra", "floor p50 p99 max"
    );
    for r in &rows {
        let (f50, f99, fmax) = r.floor;
        let (w50, w99, wmax) = r.wake;
        let (delay, jitter) = match r.jitter {
            Some((j50, j99, jmax)) => (
                format!("{:.2}", r.delay_ms),
                format!("{j50:>7.2} {j99:>7.2} {jmax:>7.2}"),
            ),
            None => ("-".into(), "not measurable".into()),
        };
        println!(
            "{:>9} | {:>5} | {delay:>8} | {jitter:>23} | {:>4} | {:>5} | \
             {f50:>6.2} {f99:>6.2} {fmax:>6.2} | p50 {w50:.0} us, p99 {w99:.0} us, max \
             {wmax:.0} us, {} cycles a period late",
            r.peer, r.block, r.lost, r.extra, r.late_cycles
        );
        println!("          {}", r.detail);
        if f99 > NOISY_FLOOR {
            println!(
                "          caution: the kernel floor was noisy in this run (p99 {f99:.1} samples > \
                 {NOISY_FLOOR}): differences below it are not the peer's"
            );
        }
    }
    assert!(
        rows.len() == BLOCK_SIZES.len() * 2,
        "not every peer could be measured (see above)"
    );
}
