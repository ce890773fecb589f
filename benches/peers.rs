//! Placement by the tools a Linux musician would pick instead of PhasorSync,
//! measured as `tests/alsa_placement.rs` measures PhasorSync, in the same run
//! of `cargo xtask bench` and with the same note file
//! (`tests/common/notes.rs`):
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
//! port; a timestamping receiver (`tests/common/receiver.rs`) subscribed to
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

#[path = "../tests/common/mod.rs"]
mod common;

use alsa::seq::Addr;
use common::{
    abs_percentiles, aplaymidi, ensure_dev_shm, median, placement_file, placement_key,
    placement_schedule, require_sequencer, run_tool, temp_path, wait_until, LineChild, Receiver,
    PLACEMENT_NOTES,
};
use std::path::{Path, PathBuf};
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
/// Half the window of cycles an anchor is taken from, s.
const ANCHOR_WINDOW_S: f64 = 0.5;
/// A note is paired with one of the same key placed from this long before
/// its kernel time to [`PAIR_AFTER_S`] after: 1.8 s in all, less than the
/// 1.875 s between the closest two notes of the same key in the file.
const PAIR_BEFORE_S: f64 = 0.5;
/// See [`PAIR_BEFORE_S`].
const PAIR_AFTER_S: f64 = 1.3;
/// Notes placed this long after a peer's xrun are left out of its figures
/// (and counted), as `tests/alsa_placement.rs` leaves out PhasorSync's.
const XRUN_SHADOW_MS: f64 = 50.0;
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

/// What the JACK client recorded: cycles `(frame, wake ns)` and note-ons
/// `(frame, key)`, frames counted from the first cycle's.
struct PeerLog {
    /// Frames per second of CLOCK_MONOTONIC over the whole run (a
    /// least-squares line through the wake-ups), for the record.
    rate: f64,
    /// The rate the client was told.
    nominal_rate: f64,
    cycles: Vec<(i64, u64)>,
    notes: Vec<(i64, u8)>,
    /// Cycles and events the client had no room for.
    overflow: u64,
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
         tests/alsa_placement.rs); error in samples against the kernel timestamp, constant \
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

/// The child processes of one peer, killed on drop, each with its stderr
/// in a file (a pipe nobody reads would stall jackd's xrun messages).
struct Procs {
    children: Vec<LineChild>,
    logs: Vec<PathBuf>,
    dir: PathBuf,
}

impl Procs {
    /// Start `program args` with `env` (`NAME=value` each) added.
    fn spawn(&mut self, env: &[String], program: &str, args: &[&str]) {
        let log = self.dir.join(format!("{}.stderr", self.logs.len()));
        let redirect = format!("exec \"$0\" \"$@\" 2>>{}", log.display());
        let mut all: Vec<&str> = env.iter().map(String::as_str).collect();
        all.extend_from_slice(&["sh", "-c", &redirect, program]);
        all.extend_from_slice(args);
        self.children.push(LineChild::spawn("env", &all));
        self.logs.push(log);
    }

    /// The last one started.
    fn last(&self) -> &LineChild {
        self.children.last().expect("a child")
    }

    /// What they all wrote on stderr (the last 40 lines each), for an error.
    fn stderr(&self) -> String {
        self.logs
            .iter()
            .map(|l| {
                let text = std::fs::read_to_string(l).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n--\n")
    }
}

/// Start `peer` at `frames`, read it with the JACK client while `aplaymidi`
/// plays `file`, and work out its row.
fn measure(
    peer: Peer,
    frames: u32,
    client: &Path,
    file: &Path,
    times: &[u32],
) -> Result<Row, String> {
    let dir = temp_path(&format!("peer-{}-{frames}", peer.name()));
    let runtime = dir.join("run");
    std::fs::create_dir_all(&runtime).map_err(|e| e.to_string())?;
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(|e| e.to_string())?;
    let server = format!("peers-{}", std::process::id());
    let env = vec![
        format!("XDG_RUNTIME_DIR={}", runtime.display()),
        format!("HOME={}", dir.display()),
        format!("JACK_DEFAULT_SERVER={server}"),
    ];
    let mut procs = Procs {
        children: Vec::new(),
        logs: Vec::new(),
        dir: dir.clone(),
    };
    let log = dir.join("client.log");
    let log_arg = log.to_str().expect("utf-8 temp path").to_string();
    let client = client.to_str().expect("utf-8 path");
    match peer {
        Peer::PipeWire => {
            let packaged = std::fs::read_to_string("/usr/share/pipewire/minimal.conf")
                .map_err(|e| format!("reading the packaged minimal.conf (pipewire-bin): {e}"))?;
            let conf = dir.join("pipewire.conf");
            std::fs::write(&conf, pipewire_conf(&packaged, frames)?).map_err(|e| e.to_string())?;
            procs.spawn(
                &env,
                "pipewire",
                &["-c", conf.to_str().expect("utf-8 temp path")],
            );
            let socket = runtime.join("pipewire-0");
            if !wait_until(Duration::from_secs(30), || socket.exists()) {
                return Err(format!("pipewire did not come up: {}", procs.stderr()));
            }
            procs.spawn(&env, "pw-jack", &[client, &log_arg, THROUGH_PORT]);
        }
        Peer::A2j => {
            let period = frames.to_string();
            procs.spawn(
                &env,
                "jackd",
                &["-d", "dummy", "-r", "48000", "-p", &period],
            );
            let jack_env: Vec<&str> = env.iter().map(String::as_str).collect();
            let up = wait_until(Duration::from_secs(30), || {
                let mut args = jack_env.clone();
                args.push("jack_lsp");
                run_tool("env", &args, Duration::from_secs(10))
                    .status
                    .success()
            });
            if !up {
                return Err(format!("jackd did not come up: {}", procs.stderr()));
            }
            // a2jmidid names its server itself (`-j`, default "default").
            procs.spawn(&env, "a2jmidid", &["-e", "-j", &server]);
            procs.spawn(&env, client, &[&log_arg, THROUGH_PORT]);
        }
    }
    let reader = procs.last();
    let (connected, printed) = reader.wait(Duration::from_secs(60), |p| {
        p.lines.iter().any(|l| l.starts_with("connected"))
    });
    if !connected {
        return Err(format!(
            "the JACK client did not connect ({:?}): {}",
            printed.lines,
            procs.stderr()
        ));
    }
    std::thread::sleep(PRE_ROLL);
    let probe = Receiver::start("peers-probe", &[THROUGH]);
    aplaymidi(
        &format!("{}:{}", THROUGH.client, THROUGH.port),
        file,
        Duration::from_secs(60),
    );
    std::thread::sleep(
        Duration::from_millis(500) + Duration::from_secs_f64(3.0 * f64::from(frames) / RATE),
    );
    let received = probe.stop();
    run_tool(
        "kill",
        &["-TERM", &reader.id().to_string()],
        Duration::from_secs(5),
    );
    let (done, _) = reader.wait(Duration::from_secs(30), |p| {
        p.lines.iter().any(|l| l == "done")
    });
    if !done {
        return Err(format!(
            "the JACK client did not write its record: {}",
            procs.stderr()
        ));
    }
    drop(procs);
    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    let peer_log = parse_log(&text)?;
    if peer_log.overflow > 0 {
        return Err(format!(
            "the client ran out of room for {} records",
            peer_log.overflow
        ));
    }
    let probe_notes: Vec<(u64, u8)> = received
        .with_status(0x90)
        .into_iter()
        .filter(|(_, b)| b.len() == 3 && b[2] > 0)
        .map(|(t, b)| (t, b[1]))
        .collect();
    Ok(row(peer, frames, times, &probe_notes, &peer_log))
}

/// The packaged `minimal.conf` made into the peer the issue describes:
/// the sequencer bridge object uncommented, the ALSA PCM adapters and the
/// `vm.overrides` block (min-quantum 1024 in a VM) removed, and the clock
/// forced to 48 kHz at `quantum` (default = min = max).
fn pipewire_conf(packaged: &str, quantum: u32) -> Result<String, String> {
    let mut out = String::new();
    let mut skip_depth = 0i32;
    let mut bridge = false;
    let lines: Vec<&str> = packaged.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if skip_depth > 0 {
            skip_depth += brace_balance(line);
            i += 1;
            continue;
        }
        let starts_block = trimmed.starts_with("vm.overrides")
            || (trimmed.starts_with("{ factory = adapter")
                && block_mentions(&lines[i..], "api.alsa.pcm."));
        if starts_block {
            skip_depth = brace_balance(line);
            i += 1;
            continue;
        }
        if trimmed.starts_with('#') && trimmed.contains("api.alsa.seq.bridge") {
            out.push_str(trimmed.trim_start_matches('#'));
            out.push('\n');
            bridge = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if trimmed.starts_with("context.properties = {") {
            out.push_str(&format!(
                "    default.clock.rate = 48000\n    default.clock.allowed-rates = [ 48000 ]\n    \
                 default.clock.quantum = {quantum}\n    default.clock.min-quantum = {quantum}\n    \
                 default.clock.max-quantum = {quantum}\n"
            ));
        }
        i += 1;
    }
    if !bridge {
        return Err("the packaged minimal.conf has no api.alsa.seq.bridge object".into());
    }
    Ok(out)
}

/// `{` minus `}` on a line, comments left out.
fn brace_balance(line: &str) -> i32 {
    let code = line.split('#').next().unwrap_or_default();
    code.matches('{').count() as i32 - code.matches('}').count() as i32
}

/// True when the block starting at `lines[0]` contains `needle`.
fn block_mentions(lines: &[&str], needle: &str) -> bool {
    let mut depth = 0;
    for line in lines {
        depth += brace_balance(line);
        if line.contains(needle) {
            return true;
        }
        if depth <= 0 {
            return false;
        }
    }
    false
}

/// Read the JACK client's record (see `xtask/jack/peer_client.c`).
fn parse_log(text: &str) -> Result<PeerLog, String> {
    let mut log = PeerLog {
        rate: 0.0,
        nominal_rate: 0.0,
        cycles: Vec::new(),
        notes: Vec::new(),
        overflow: 0,
    };
    let mut first: Option<u32> = None;
    // Frame times are 32-bit and wrap: count them from the first cycle's.
    let mut rel = |f: u32| i64::from(f.wrapping_sub(*first.get_or_insert(f)) as i32);
    for line in text.lines() {
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().map_err(|_| format!("bad record line {line:?}")))
            .collect::<Result<_, _>>()?;
        match (line.split_whitespace().next(), fields.as_slice()) {
            (Some("r"), [rate]) => log.nominal_rate = *rate as f64,
            (Some("c"), [frame, _, wake]) => log.cycles.push((rel(*frame as u32), *wake)),
            (Some("e"), [frame, status, key, vel]) => {
                if status & 0xF0 == 0x90 && *vel > 0 {
                    log.notes.push((rel(*frame as u32), *key as u8));
                }
            }
            (Some("lost"), [c, e]) => log.overflow = c + e,
            _ => return Err(format!("bad record line {line:?}")),
        }
    }
    if log.nominal_rate <= 0.0 || log.cycles.len() < 2 {
        return Err("the client recorded no cycles".into());
    }
    log.rate = fitted_rate(&log.cycles);
    Ok(log)
}

/// Frames per second of a least-squares line through `(frame, wake ns)`.
fn fitted_rate(cycles: &[(i64, u64)]) -> f64 {
    let n = cycles.len() as f64;
    let (f0, w0) = (cycles[0].0 as f64, cycles[0].1 as f64);
    let pts = cycles.iter().map(|&(f, w)| (f as f64 - f0, w as f64 - w0));
    let (mf, mw) = pts
        .clone()
        .fold((0.0, 0.0), |(a, b), (f, w)| (a + f / n, b + w / n));
    let (sfw, sff) = pts.fold((0.0, 0.0), |(a, b), (f, w)| {
        (a + (f - mf) * (w - mw), b + (f - mf) * (f - mf))
    });
    // ns per frame → frames per second.
    1e9 * sff / sfw
}

/// The driver's schedule near `frame`, as `(anchor ns, frames per second)`:
/// the cycles within [`ANCHOR_WINDOW_S`] of it give the rate (a
/// least-squares line through their wake-ups: a dummy driver need not keep
/// its nominal rate, JACK's sleeps a period *after* processing), and the
/// earliest `wake − frame/rate` among them the anchor (wake-ups are only
/// ever late).
fn schedule_near(log: &PeerLog, frame: i64) -> (f64, f64) {
    let half = (ANCHOR_WINDOW_S * log.nominal_rate) as i64;
    let from = log.cycles.partition_point(|c| c.0 < frame - half);
    let to = log.cycles.partition_point(|c| c.0 <= frame + half);
    let window = if to >= from + 2 {
        &log.cycles[from..to]
    } else {
        &log.cycles[..]
    };
    let rate = fitted_rate(window);
    let anchor = window
        .iter()
        .map(|&(f, wake)| wake as f64 - f as f64 * 1e9 / rate)
        .fold(f64::INFINITY, f64::min);
    (anchor, rate)
}

/// A frame on `CLOCK_MONOTONIC`, ns.
fn mapped_ns(log: &PeerLog, frame: i64) -> f64 {
    let (anchor, rate) = schedule_near(log, frame);
    anchor + frame as f64 * 1e9 / rate
}

/// What [`pair`] found.
struct Pairing {
    /// (index of the peer's note, its error in ns) per paired note.
    errors: Vec<(usize, f64)>,
    /// Probe notes without a partner.
    lost: usize,
    /// The first few of them, (index, key).
    first_lost: Vec<(usize, u8)>,
}

/// Pair each probe note with the peer's first unused note of the same key
/// from [`PAIR_BEFORE_S`] before to [`PAIR_AFTER_S`] after it.
fn pair(probe: &[(u64, u8)], peer: &[(f64, u8)]) -> Pairing {
    let mut used = vec![false; peer.len()];
    let mut errors = Vec::new();
    let mut lost = 0;
    let mut lost_keys = Vec::new();
    for (i, &(t, key)) in probe.iter().enumerate() {
        let t = t as f64;
        let found = peer.iter().enumerate().position(|(j, &(m, k))| {
            !used[j] && k == key && m >= t - PAIR_BEFORE_S * 1e9 && m <= t + PAIR_AFTER_S * 1e9
        });
        match found {
            Some(j) => {
                used[j] = true;
                errors.push((j, peer[j].0 - t));
            }
            None => {
                lost += 1;
                if lost_keys.len() < 5 {
                    lost_keys.push((i, key));
                }
            }
        }
    }
    Pairing {
        errors,
        lost,
        first_lost: lost_keys,
    }
}

/// Median removed, |x − median| p50/p99/max of `xs` (ns) in samples; the median.
fn jitter_samples(xs: &[f64]) -> ((f64, f64, f64), f64) {
    let m = median(xs);
    let centred: Vec<f64> = xs.iter().map(|x| (x - m) * RATE / 1e9).collect();
    (abs_percentiles(&centred), m)
}

fn row(peer: Peer, frames: u32, times: &[u32], probe: &[(u64, u8)], log: &PeerLog) -> Row {
    // The floor: kernel times against the file, paired by key in order.
    let file: Vec<(u64, u8)> = times
        .iter()
        .enumerate()
        .map(|(i, &ms)| (u64::from(ms - times[0]) * 1_000_000, placement_key(i)))
        .collect();
    let offset = probe.first().map_or(0.0, |p| p.0 as f64);
    let shifted: Vec<(f64, u8)> = probe.iter().map(|&(t, k)| (t as f64 - offset, k)).collect();
    let floor_err: Vec<f64> = pair(&file, &shifted)
        .errors
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let (floor, _) = jitter_samples(&floor_err);

    // The peer's xruns: cycles woken more than a period after its schedule.
    let period_ns = f64::from(frames) * 1e9 / log.nominal_rate;
    let wake_ns: Vec<f64> = log
        .cycles
        .iter()
        .map(|&(f, w)| w as f64 - mapped_ns(log, f))
        .collect();
    let xruns: Vec<i64> = log
        .cycles
        .iter()
        .zip(&wake_ns)
        .filter(|(_, &w)| w > period_ns)
        .map(|(c, _)| c.0)
        .collect();
    // As tests/alsa_placement.rs does for PhasorSync's host: notes placed
    // within XRUN_SHADOW_MS (at least 8 blocks) after one are left out.
    let shadow = ((XRUN_SHADOW_MS * 1e-3 * log.nominal_rate) as i64).max(8 * i64::from(frames));
    let near_xrun = |f: i64| xruns.iter().any(|&x| x <= f && f - x <= shadow);

    let mapped: Vec<(f64, u8)> = log
        .notes
        .iter()
        .map(|&(f, k)| (mapped_ns(log, f), k))
        .collect();
    let Pairing {
        errors: paired,
        lost,
        first_lost: lost_keys,
    } = pair(probe, &mapped);
    let all: Vec<f64> = paired.iter().map(|&(_, e)| e).collect();
    let kept: Vec<f64> = paired
        .iter()
        .filter(|&&(j, _)| !near_xrun(log.notes[j].0))
        .map(|&(_, e)| e)
        .collect();
    let (jitter, delay) = jitter_samples(&kept);
    let jitter = (!kept.is_empty()).then_some(jitter);
    let (all_jitter, _) = jitter_samples(&all);
    let lost = lost + PLACEMENT_NOTES.saturating_sub(probe.len());
    let (w50, w99, wmax) = abs_percentiles(&wake_ns);
    Row {
        peer: peer.name(),
        block: frames,
        delay_ms: delay / 1e6,
        jitter,
        lost,
        extra: mapped.len().saturating_sub(paired.len()),
        floor,
        wake: (w50 / 1e3, w99 / 1e3, wmax / 1e3),
        late_cycles: xruns.len(),
        detail: format!(
            "{} of {} paired notes left out (within {XRUN_SHADOW_MS} ms after a cycle a period \
             late; with them: p50 {:.2}, p99 {:.2}, max {:.2}); kernel saw {} notes, the peer \
             gave {}; {} cycles at {:.1} frames/s of CLOCK_MONOTONIC (nominal {}); first lost \
             (index, key): {lost_keys:?}",
            all.len() - kept.len(),
            all.len(),
            all_jitter.0,
            all_jitter.1,
            all_jitter.2,
            probe.len(),
            mapped.len(),
            log.cycles.len(),
            log.rate,
            log.nominal_rate
        ),
    }
}
