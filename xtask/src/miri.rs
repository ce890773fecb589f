//! `cargo xtask miri`: the ring's unsafe code under Miri, the interpreter
//! that catches undefined behaviour (data races, out-of-bounds and
//! uninitialised reads, aliasing violations) as it happens.
//!
//! Runs, on the nightly toolchain: the ring's unit tests (`src/ring/`), its
//! single-threaded API tests (`tests/logic/ring_api.rs`), and the two-thread
//! SysEx stream of `tests/logic/ring_threads.rs` (which sends a few thousand
//! messages under `cfg(miri)` instead of ten million). A few minutes in all.
//!
//! Needs the `nightly` toolchain with the `miri` and `rust-src` components;
//! when they are missing they are installed with rustup. Arguments after
//! `--` go to every test binary (e.g. `-- --nocapture`).

use anyhow::{bail, Context, Result};
use std::process::Command;
use std::time::Instant;

/// The Miri runs: `cargo miri test` arguments, and what they check.
const RUNS: &[(&[&str], &str)] = &[
    (
        // "ring::" also names the plugin's `output_ring::` tests, which go
        // through clack's event types (and a Stacked Borrows report inside
        // clack-common's `UnknownEvent::from_raw`): not the ring's code.
        &["--lib", "--", "ring::", "--skip", "plugin::"],
        "the ring's unit tests (src/ring/)",
    ),
    (
        &["--test", "logic", "--", "ring_api::"],
        "the ring's API (tests/logic/ring_api.rs)",
    ),
    (
        &[
            "--test",
            "logic",
            "--",
            "ring_threads::interleaved_sysex_stream_keeps_payloads_in_step",
        ],
        "two threads, notes and SysEx (tests/logic/ring_threads.rs)",
    ),
];

/// The toolchain Miri runs on.
const TOOLCHAIN: &str = "nightly";

/// Run the ring's tests under Miri; see the module docs.
///
/// # Errors
/// When Miri cannot be installed or any run fails.
pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let (ours, extra) = crate::split_at_dashes(args);
    if !ours.is_empty() {
        bail!("usage: cargo xtask miri [-- TEST-ARGS]");
    }
    crate::sysdeps::ensure(crate::sysdeps::BUILD)?;
    ensure_miri()?;
    let root = crate::workspace_root();
    let mut failed = Vec::new();
    for (run_args, what) in RUNS {
        println!("miri: {what}");
        let (ours, test_args) = crate::split_at_dashes(run_args);
        let status = rustup_cargo()
            .current_dir(&root)
            .args(["miri", "test"])
            .args(ours)
            .arg("--")
            .args(test_args)
            .args(extra)
            .status()
            .context("running cargo miri test")?;
        if !status.success() {
            failed.push(*what);
        }
    }
    crate::verdict("miri", started, &failed)
}

/// `cargo` of the nightly toolchain, through rustup: `cargo xtask` runs with
/// the stable toolchain's variables set, which must not leak into it.
fn rustup_cargo() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", TOOLCHAIN, "cargo"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC");
    cmd
}

/// True when `cargo miri` runs on the nightly toolchain.
fn miri_works() -> bool {
    rustup_cargo()
        .args(["miri", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Make sure the nightly toolchain has Miri (and the standard library's
/// source, which Miri builds its own sysroot from); install what is missing.
fn ensure_miri() -> Result<()> {
    let has_src = || {
        Command::new("rustup")
            .args(["+nightly", "component", "list", "--installed"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("rust-src"))
    };
    if miri_works() && has_src() {
        return Ok(());
    }
    let has_nightly = Command::new("rustup")
        .args(["run", TOOLCHAIN, "rustc", "--version"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .is_ok_and(|o| o.status.success());
    // Add to an installed nightly rather than update it to today's.
    let install: &[&str] = if has_nightly {
        &[
            "component",
            "add",
            "--toolchain",
            TOOLCHAIN,
            "miri",
            "rust-src",
        ]
    } else {
        &[
            "toolchain",
            "install",
            TOOLCHAIN,
            "--profile",
            "minimal",
            "--component",
            "miri,rust-src",
        ]
    };
    let how = format!("rustup {}", install.join(" "));
    eprintln!("xtask: installing Miri: {how}");
    let status = Command::new("rustup")
        .args(install)
        .env_remove("RUSTUP_TOOLCHAIN")
        .status();
    match status {
        Ok(s) if s.success() && miri_works() => Ok(()),
        Ok(_) => bail!("could not install Miri; run `{how}` by hand, then this command again"),
        Err(e) => bail!(
            "rustup is not on PATH ({e}); Miri comes with rustup's nightly toolchain: \
             install rustup (https://rustup.rs), then run `{how}`"
        ),
    }
}
