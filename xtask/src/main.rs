//! `cargo xtask`: bundling, installing and testing PhasorSync.
//!
//! `bundle` and `known-packages` are `nice-plug-xtask`'s (the published fork of
//! `nih_plug_xtask`, same `bundler.toml` and command line); `install`, `test`,
//! `validate`, `miri`, `bench` and `vm` are ours. Every command that builds
//! first checks the system packages the build needs, so a fresh Debian/Ubuntu
//! machine needs no third set-up step.

mod artifacts;
mod bench;
mod miri;
mod sysdeps;
mod test;
mod validate;
mod vm;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bundle") => sysdeps::ensure(sysdeps::BUILD)
            .and_then(|()| nice_plug_xtask::main_with_args("cargo xtask", args)),
        Some("install") => install(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("test") => test::run(&args[1..]),
        Some("validate") => validate::run(&args[1..]),
        Some("miri") => miri::run(&args[1..]),
        Some("vm") => vm::cli(&args[1..]),
        _ => nice_plug_xtask::main_with_args("cargo xtask", args).map_err(|e| {
            e.context(
                "PhasorSync adds:\n  cargo xtask install [--release]   bundle, then copy PhasorSync.clap to ~/.clap and the phasorsync command to ~/.local/bin\n  cargo xtask test                  run every test (host tests and real-kernel ALSA tests)\n  cargo xtask validate              bundle, then run free-audio's clap-validator on it\n  cargo xtask miri                  the ring's tests under Miri (nightly toolchain)\n  cargo xtask bench                 every benchmark figure (criterion here; kernel latency and placement in the VM)\n  cargo xtask vm /abs/script.sh     run a script as root in the kernel-test VM (real ALSA sequencer)",
            )
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Workspace root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// True when running under CI (`CI` set, not empty, not `false`): there a
/// missing component is a failure, never a skip.
pub fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// `args` split at the first `--`: this command's own, then those it hands on
/// (to test binaries, criterion, the validator).
pub fn split_at_dashes<T: AsRef<str>>(args: &[T]) -> (&[T], &[T]) {
    match args.iter().position(|a| a.as_ref() == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[]),
    }
}

/// The closing line of a command that runs several stages, then its result:
/// an error naming the stages in `failed`.
///
/// # Errors
/// When `failed` is not empty.
pub fn verdict(command: &str, started: std::time::Instant, failed: &[&str]) -> anyhow::Result<()> {
    println!(
        "cargo xtask {command}: {} in {:.1} s",
        if failed.is_empty() {
            "all passed"
        } else {
            "FAILED"
        },
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        anyhow::bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// What `test`, `bench` and `validate` start with: the system packages of the build and
/// the tests, then a release bundle (the tests load the bundled `.clap`).
/// Returns the cargo to call and the workspace root.
pub fn prepare_bundle() -> anyhow::Result<(String, PathBuf)> {
    sysdeps::ensure(sysdeps::BUILD)?;
    sysdeps::ensure(sysdeps::TEST)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(&cargo)
        .current_dir(&root)
        .args(["xtask", "bundle", "phasorsync", "--release"])
        .status()?;
    if !status.success() {
        anyhow::bail!("bundling failed");
    }
    Ok((cargo, root))
}

/// `cargo xtask install [--release]`: bundle, then copy the `.clap` into
/// `~/.clap`, where Bitwig and REAPER look for CLAP plugins on Linux; and
/// build the `phasorsync` command in the same profile and copy it into
/// `~/.local/bin`.
fn install(extra: &[String]) -> anyhow::Result<()> {
    sysdeps::ensure(sysdeps::BUILD)?;
    let mut args = vec!["bundle".to_string(), "phasorsync".to_string()];
    args.extend(extra.iter().cloned());
    nice_plug_xtask::main_with_args("cargo xtask", args)?;
    let home =
        PathBuf::from(std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("HOME is not set"))?);
    let dest_dir = home.join(".clap");
    std::fs::create_dir_all(&dest_dir)?;
    let src = workspace_root().join("target/bundled/PhasorSync.clap");
    let dest = dest_dir.join("PhasorSync.clap");
    std::fs::copy(&src, &dest)?;
    println!("installed {} -> {}", src.display(), dest.display());
    install_command(&home, extra)
}

/// Builds the `phasorsync` command (same profile as the bundle: `--release`
/// when given) and copies it to `~/.local/bin/phasorsync`.
fn install_command(home: &std::path::Path, extra: &[String]) -> anyhow::Result<()> {
    let release = extra.iter().any(|a| a == "--release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(&cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "-p",
        "phasorsync-cli",
        "--bin",
        "phasorsync",
    ]);
    if release {
        cmd.arg("--release");
    }
    if !cmd.status()?.success() {
        anyhow::bail!("building the phasorsync command failed");
    }
    let profile = if release { "release" } else { "debug" };
    let src = workspace_root()
        .join("target")
        .join(profile)
        .join("phasorsync");
    let dest_dir = home.join(".local/bin");
    std::fs::create_dir_all(&dest_dir)?;
    let dest = dest_dir.join("phasorsync");
    // Copied beside, then renamed: a running `phasorsync` keeps its file.
    let tmp = dest_dir.join(".phasorsync.new");
    std::fs::copy(&src, &tmp)?;
    std::fs::rename(&tmp, &dest)?;
    println!(
        "installed {} -> {} (the `phasorsync` command: `phasorsync ports`, `phasorsync monitor`)",
        src.display(),
        dest.display()
    );
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == dest_dir));
    if !on_path {
        println!(
            "note: {} is not on PATH; add it (e.g. in ~/.profile) to run `phasorsync`",
            dest_dir.display()
        );
    }
    Ok(())
}
