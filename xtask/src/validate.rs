//! `cargo xtask validate`: the bundled plugin against free-audio's CLAP
//! validator (`clap-validator` 0.4.1), every test it has.
//!
//! The validator is looked for on `PATH`, then at `PHASORSYNC_CLAP_VALIDATOR`,
//! then at `../shared/tools/clap-validator` next to the project. It is not on
//! crates.io; `cargo install --git https://github.com/free-audio/clap-validator`
//! builds it. Arguments after `--` go to `clap-validator validate` (e.g.
//! `-- -t state` for the state tests only).
//!
//! Prints one line per test that did not pass and a closing tally; fails on
//! any failed, crashed or warning test, and when the validator is missing.

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The validator's executable name.
const VALIDATOR: &str = "clap-validator";
/// Environment variable naming the validator's path.
const VALIDATOR_ENV: &str = "PHASORSYNC_CLAP_VALIDATOR";
/// Where the project's shared tools keep it, relative to the project root.
const SHARED_VALIDATOR: &str = "../shared/tools/clap-validator";
/// How a user gets it.
const INSTALL: &str = "cargo install --git https://github.com/free-audio/clap-validator";

/// Run the validator; see the module docs.
///
/// # Errors
/// When the validator is missing or cannot run, or any test failed, crashed
/// or warned.
pub fn run(args: &[String]) -> Result<()> {
    let (ours, extra) = crate::split_at_dashes(args);
    if !ours.is_empty() {
        bail!("usage: cargo xtask validate [-- CLAP-VALIDATOR-ARGS]");
    }
    let root = crate::workspace_root();
    // Before the (long) build: a missing validator is known at once.
    let validator = find_validator(&root)?;
    crate::prepare_bundle()?;
    let bundle = root.join("target/bundled/PhasorSync.clap");
    let version = Command::new(&validator)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "validator: {} ({version}) on {}",
        validator.display(),
        bundle.display()
    );
    let mut cmd = Command::new(&validator);
    if std::env::var_os("CLAP_VALIDATOR_VERBOSITY").is_none() {
        // Its own progress lines (one per test) would bury the summary; the
        // plugin's log messages are warnings or errors and still show.
        cmd.args(["--verbosity", "warn"]);
    }
    let out = cmd
        .args(["validate", "--json"])
        .args(extra)
        .arg(&bundle)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", validator.display()))?;
    // It exits non-zero when a test fails; the JSON says which.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no JSON report ({}); its output:\n{}",
            validator.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let tally = Tally::of(&report)?;
    for line in &tally.lines {
        println!("{line}");
    }
    println!("{}", tally.summary());
    if tally.bad() > 0 {
        bail!(
            "the CLAP validator reports {} failed, {} crashed and {} warning tests",
            tally.failed,
            tally.crashed,
            tally.warning
        );
    }
    if tally.passed == 0 {
        bail!("the CLAP validator ran no test that passed; see its output above");
    }
    Ok(())
}

/// The validator's path, or an error saying how to get it.
fn find_validator(root: &Path) -> Result<PathBuf> {
    let shared = root.join(SHARED_VALIDATOR);
    locate(
        on_path(VALIDATOR),
        std::env::var_os(VALIDATOR_ENV).map(PathBuf::from),
        fs::canonicalize(&shared).unwrap_or(shared),
        crate::ci(),
    )
}

/// The first of: the validator found on `PATH`, the one the environment
/// names (which must then exist), the shared one; else why there is none.
fn locate(
    on_path: Option<PathBuf>,
    from_env: Option<PathBuf>,
    shared: PathBuf,
    ci: bool,
) -> Result<PathBuf> {
    if let Some(path) = on_path {
        return Ok(path);
    }
    if let Some(path) = from_env {
        if is_executable(&path) {
            return Ok(path);
        }
        bail!(
            "{VALIDATOR_ENV}={} is not an executable file",
            path.display()
        );
    }
    if is_executable(&shared) {
        return Ok(shared);
    }
    let looked = format!(
        "no {VALIDATOR} on PATH, {VALIDATOR_ENV} is not set, and there is none at {}",
        shared.display()
    );
    if ci {
        bail!("CI: the CLAP validator is part of CI and is missing: {looked}");
    }
    bail!(
        "{looked}.\nThe CLAP validator (free-audio's clap-validator) is not on crates.io; \
         with internet access, install it with\n    {INSTALL}\n\
         or point {VALIDATOR_ENV} at its executable, then run this command again"
    )
}

/// `name` in a directory of `PATH`, if there is one.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// True for a file with an execute bit.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The validator's results, counted.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    crashed: usize,
    warning: usize,
    skipped: usize,
    /// One line per test that did not pass.
    lines: Vec<String>,
}

impl Tally {
    /// Count `report` (the validator's `--json` output: `results[]`, each
    /// with a `test` and a `status.code`).
    fn of(report: &serde_json::Value) -> Result<Self> {
        let results = report["results"]
            .as_array()
            .context("the validator's JSON has no results list")?;
        let mut t = Self::default();
        for result in results {
            let code = result["status"]["code"]
                .as_str()
                .context("a validator result without status.code")?;
            let count = match code {
                "success" => {
                    t.passed += 1;
                    continue;
                }
                "failed" => &mut t.failed,
                "crashed" => &mut t.crashed,
                "warning" => &mut t.warning,
                "skipped" => &mut t.skipped,
                other => bail!("unknown validator status {other:?}"),
            };
            *count += 1;
            let details = result["status"]["details"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            t.lines.push(format!(
                "  {code:<8}{}: {details}",
                test_name(&result["test"])
            ));
        }
        Ok(t)
    }

    /// Tests that make the command fail.
    fn bad(&self) -> usize {
        self.failed + self.crashed + self.warning
    }

    /// The closing line.
    fn summary(&self) -> String {
        format!(
            "validator: {} passed, {} failed, {} crashed, {} warnings, {} skipped",
            self.passed, self.failed, self.crashed, self.warning, self.skipped
        )
    }
}

/// A test's name from the validator's `test` object, which is tagged by
/// kind (`{"plugin-instance": {"test": "...", ...}}`).
fn test_name(test: &serde_json::Value) -> String {
    test.as_object()
        .and_then(|kinds| kinds.values().find_map(|v| v["test"].as_str()))
        .or_else(|| test["test"].as_str())
        .unwrap_or("?")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_every_status_and_lists_the_others() {
        let result = |name: &str, code: &str| {
            serde_json::json!({
                "test": {"plugin-instance": {"test": name, "path": "/x.clap", "plugin-id": "p"}},
                "status": {"code": code, "details": "why\n  it  went so"},
                "duration": {"secs": 0, "nanos": 1},
            })
        };
        let report = serde_json::json!({"results": [
            result("a", "success"),
            result("b", "failed"),
            result("c", "crashed"),
            result("d", "warning"),
            result("e", "skipped"),
            result("f", "success"),
        ]});
        let t = Tally::of(&report).unwrap();
        assert_eq!(
            (t.passed, t.failed, t.crashed, t.warning, t.skipped),
            (2, 1, 1, 1, 1)
        );
        assert_eq!(t.bad(), 3);
        assert_eq!(t.lines.len(), 4);
        assert_eq!(t.lines[0], "  failed  b: why it went so");
        assert_eq!(
            t.summary(),
            "validator: 2 passed, 1 failed, 1 crashed, 1 warnings, 1 skipped"
        );
    }

    #[test]
    fn tally_refuses_a_report_it_cannot_read() {
        assert!(Tally::of(&serde_json::json!({})).is_err());
        let odd = serde_json::json!({"results": [{"test": {}, "status": {"code": "odd"}}]});
        assert!(Tally::of(&odd).is_err());
    }

    #[test]
    fn locate_prefers_path_then_env_then_shared_and_says_how_to_get_it() {
        let exe = std::env::current_exe().unwrap();
        let none = PathBuf::from("/nonexistent/clap-validator");
        let found = |p: Option<&Path>, e: Option<&Path>, s: &Path| {
            locate(p.map(Into::into), e.map(Into::into), s.into(), false)
        };
        assert_eq!(found(Some(&none), Some(&exe), &exe).unwrap(), none);
        assert_eq!(found(None, Some(&exe), &none).unwrap(), exe);
        assert_eq!(found(None, None, &exe).unwrap(), exe);
        let bad_env = found(None, Some(&none), &exe).unwrap_err().to_string();
        assert!(bad_env.contains(VALIDATOR_ENV), "{bad_env}");
        let missing = found(None, None, &none).unwrap_err().to_string();
        assert!(missing.contains(INSTALL), "{missing}");
        let in_ci = locate(None, None, none, true).unwrap_err().to_string();
        assert!(in_ci.starts_with("CI:"), "{in_ci}");
    }
}
