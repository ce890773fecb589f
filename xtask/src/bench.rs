//! `cargo xtask bench`: every figure docs/benchmarks.md quotes, in one run.
//!
//! 1. the criterion benchmarks on this machine: the plugin scan, parser
//!    throughput, the ring against `bbx_midi`/`rtrb`/`ringbuf`/`heapless`,
//!    the clock map, and the plugin's `process()` with 0/8/64 messages
//!    pending; and the MIDI clock follower's accuracy against a moving
//!    average and Ardour's DLL (`benches/follower_accuracy.rs`, a table);
//! 2. against a real kernel sequencer (natively when `/dev/snd/seq` works,
//!    in the project's qemu VM otherwise), in one boot: delivery latency
//!    (`benches/alsa_latency.rs`: PhasorSync's thread vs a bare `alsa` client
//!    vs `midir`) and placement accuracy of the bundled plugin
//!    (`tests/kernel/placement.rs`: PhasorSync vs snapping to the block start,
//!    blocks of 64/256/1024, with the sequencer backend and the raw MIDI
//!    backend side by side), the input stamps of both backends and of a bare
//!    client for the same sends (`tests/kernel/raw_midi.rs`), MIDI clock and notes out
//!    (`benches/clock_out.rs`: PhasorSync vs `aplaymidi`'s scheduled floor
//!    vs a naive plugin sending at block start, blocks of 64/256/1024), and
//!    the external MIDI clock → phasor figures (`tests/kernel/clock_in.rs`:
//!    phase error against the sender's grid), and the placement of the same
//!    notes by PipeWire's sequencer bridge and by a2jmidid + JACK
//!    (`benches/peers/`, read by the JACK client `xtask/jack/peer_client.c`
//!    built here with the system's C compiler).
//!
//! Arguments after `--` go to criterion (e.g. `-- --measurement-time 3`).
//! `--kernel-only` skips step 1. In step 2 every figure runs even when an
//! earlier one failed (a wrong stream, a missing peer): the failures are
//! named at the end and the command exits non-zero.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

use crate::{artifacts, sysdeps, vm};

const CRITERION_BENCHES: &[&str] = &["scan", "parse", "ring", "timeline", "process", "phasor"];

/// Run the benchmarks; see the module docs.
///
/// # Errors
/// When a build, a benchmark or the VM fails.
pub fn run(args: &[String]) -> Result<()> {
    let (ours, criterion_args) = crate::split_at_dashes(args);
    let kernel_only = match ours {
        [] => false,
        [flag] if flag == "--kernel-only" => true,
        _ => bail!("usage: cargo xtask bench [--kernel-only] [-- CRITERION-ARGS]"),
    };
    let (cargo, root) = crate::prepare_bundle()?;
    sysdeps::ensure(sysdeps::BENCH)?;
    if !kernel_only {
        host_benches(&cargo, &root, criterion_args)?;
    }
    kernel_benches(&cargo, &root)
}

/// Step 1: the criterion benchmarks and the follower's accuracy table.
fn host_benches(cargo: &str, root: &std::path::Path, criterion_args: &[String]) -> Result<()> {
    let mut bench = Command::new(cargo);
    bench
        .current_dir(root)
        .args(["bench", "--features", "test-mock"]);
    for b in CRITERION_BENCHES {
        bench.args(["--bench", b]);
    }
    if !bench.arg("--").args(criterion_args).status()?.success() {
        bail!("criterion benchmarks failed");
    }
    // An accuracy table, not a timing: no criterion arguments.
    if !Command::new(cargo)
        .current_dir(root)
        .args(["bench", "--bench", "follower_accuracy"])
        .status()?
        .success()
    {
        bail!("the follower accuracy benchmark failed");
    }
    Ok(())
}

/// Step 2: the kernel figures, in one VM boot (or natively).
fn kernel_benches(cargo: &str, root: &std::path::Path) -> Result<()> {
    let latency = build_exe(cargo, &["bench", "--bench", "alsa_latency"], "alsa_latency")?;
    // The kernel tier, once; each figure below is a filter on its tests.
    let kernel = build_exe(cargo, &["test", "--release", "--test", "kernel"], "kernel")?;
    let clock_out = build_exe(cargo, &["bench", "--bench", "clock_out"], "clock_out")?;
    let peers = build_exe(cargo, &["bench", "--bench", "peers"], "peers")?;
    let peer_client = build_peer_client(root)?;
    // Each figure runs even when one before it failed; `step` keeps count.
    let script = format!(
        "#!/bin/sh\ncd {root} || exit 1\nexport PHASORSYNC_BUNDLE={bundle}\nfailed=''\n\
         step() {{ what=$1; shift; echo \"== $what\"; \"$@\" || failed=\"$failed; $what\"; }}\n\
         step 'delivery latency (benches/alsa_latency.rs)' {latency}\n\
         step 'placement (tests/kernel/placement.rs)' {kernel} --ignored --nocapture --test-threads=1 placement::\n\
         step 'input stamps, raw MIDI beside the sequencer (tests/kernel/raw_midi.rs)' {kernel} --ignored --nocapture --test-threads=1 rawmidi_stamps_beside\n\
         step 'clock and notes out (benches/clock_out.rs)' {clock_out}\n\
         step 'MIDI clock in to the phasor (tests/kernel/clock_in.rs)' {kernel} --ignored --nocapture --test-threads=1 clock_in::\n\
         step 'placement by PipeWire and a2jmidid (benches/peers/)' env PHASORSYNC_PEER_CLIENT={peer_client} {peers}\n\
         if [ -n \"$failed\" ]; then echo \"bench: FAILED:${{failed#; }}\"; exit 1; fi\n",
        root = root.display(),
        bundle = root.join("target/bundled/PhasorSync.clap").display(),
        latency = latency.display(),
        kernel = kernel.display(),
        clock_out = clock_out.display(),
        peers = peers.display(),
        peer_client = peer_client.display(),
    );
    let job = vm::JobDir::create()?;
    let path = job.path.join("bench.sh");
    std::fs::write(&path, script)?;
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/snd/seq")
        .is_ok()
    {
        println!("bench: running the kernel figures natively (/dev/snd/seq works here)");
        if !Command::new("sh").arg(&path).status()?.success() {
            bail!("the kernel benchmarks failed");
        }
        return Ok(());
    }
    println!("bench: no usable /dev/snd/seq here: running the kernel figures in the qemu VM");
    sysdeps::ensure(sysdeps::VM)?;
    let kernel = vm::ensure_kernel()?;
    let cpus = vm::vcpus(vm::TIMING_CPUS)?;
    let run = vm::run_script(&kernel, &path, &job, cpus)?;
    println!(
        "bench: VM ({}; {cpus} vCPU; {}); figures from an emulated CPU: compare within the run",
        kernel.package,
        run.timing()
    );
    if run.status != 0 {
        bail!(
            "the kernel benchmarks failed in the VM (status {})",
            run.status
        );
    }
    Ok(())
}

/// Build one bench or test target and return its executable.
fn build_exe(cargo: &str, args: &[&str], name: &str) -> Result<PathBuf> {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::workspace_root()).args(args);
    let built = artifacts::build(cmd).with_context(|| format!("building {name}"))?;
    built
        .iter()
        .find(|msg| msg["target"]["name"] == name)
        .and_then(|msg| msg["executable"].as_str())
        .map(PathBuf::from)
        .with_context(|| format!("cargo built no executable for {name}"))
}

/// Compile the peers' JACK client (`xtask/jack/peer_client.c`) into
/// `target/peers/peer_client`, linked to `libjack.so.0` by name so that
/// `pw-jack` can swap in PipeWire's.
fn build_peer_client(root: &std::path::Path) -> Result<PathBuf> {
    let out = root.join("target/peers");
    std::fs::create_dir_all(&out)?;
    let exe = out.join("peer_client");
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(root.join("xtask/jack/peer_client.c"))
        .arg("-ljack")
        .status()
        .context("running cc (package gcc)")?;
    if !status.success() {
        bail!("compiling xtask/jack/peer_client.c failed (libjack-jackd2-dev installed?)");
    }
    Ok(exe)
}
