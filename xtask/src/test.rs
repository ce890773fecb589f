//! `cargo xtask test`: every test of the project, in one command.
//!
//! 1. checks/installs the system packages,
//! 2. bundles the plugin in release mode (the host tests load the bundled `.clap`),
//! 3. runs `cargo test --workspace`.

use anyhow::bail;
use std::process::Command;

use crate::sysdeps;

/// Run every test. Extra arguments are passed to `cargo test`.
pub fn run(extra: &[String]) -> anyhow::Result<()> {
    sysdeps::ensure(sysdeps::BUILD)?;
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let status = Command::new(&cargo)
        .current_dir(&root)
        .args(["xtask", "bundle", "phasorsync", "--release"])
        .status()?;
    if !status.success() {
        bail!("bundling failed");
    }

    let status = Command::new(&cargo)
        .current_dir(&root)
        .args(["test", "--workspace"])
        .args(extra)
        .status()?;
    if !status.success() {
        bail!("cargo test failed");
    }
    Ok(())
}
