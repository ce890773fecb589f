//! What a `cargo test`/`cargo bench --no-run` built, from cargo's JSON
//! messages: how `test` and `bench` find the executables they run.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Run `cargo` (a `cargo test` or `cargo bench` command line) with
/// `--no-run`, compiler errors rendered on stderr as usual, and return the
/// `compiler-artifact` messages that name an executable.
///
/// # Errors
/// When cargo cannot run or the build fails.
pub fn build(mut cargo: Command) -> Result<Vec<serde_json::Value>> {
    let mut child = cargo
        .args(["--no-run", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo --no-run")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let mut artifacts = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line?) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["executable"].is_string() {
            artifacts.push(msg);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the build failed ({status})");
    }
    Ok(artifacts)
}
