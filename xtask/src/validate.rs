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
//!
//! Where this machine has no kernel sequencer (CI runners, containers), the
//! plugin meets only its "no sequencer" path here, so the validator runs a
//! second time in the kernel-test VM (`vm/`, its own boot: the validator is
//! one command, and CI runs it after `cargo xtask test`), where every
//! instance opens a live client and queue. That run checks it is so: it
//! watches `/proc/asound/seq` while the validator runs and fails unless a
//! PhasorSync client and a queue it owns showed up.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{sysdeps, vm};

/// The validator's executable name.
const VALIDATOR: &str = "clap-validator";
/// Environment variable naming the validator's path.
const VALIDATOR_ENV: &str = "PHASORSYNC_CLAP_VALIDATOR";
/// Where the project's shared tools keep it, relative to the project root.
const SHARED_VALIDATOR: &str = "../shared/tools/clap-validator";
/// How a user gets it.
const INSTALL: &str = "cargo install --git https://github.com/free-audio/clap-validator";

/// The hidden first argument of the run inside the VM:
/// `validate --in-vm VALIDATOR BUNDLE [-- ARGS]`.
const IN_VM: &str = "--in-vm";

/// The sequencer client name the plugin opens (see `src/backend/alsa_seq`).
const CLIENT_NAME: &str = "PhasorSync";

/// Run the validator; see the module docs.
///
/// # Errors
/// When the validator is missing or cannot run, or any test failed, crashed
/// or warned (here or in the VM).
pub fn run(args: &[String]) -> Result<()> {
    let (ours, extra) = crate::split_at_dashes(args);
    if let [flag, validator, bundle] = ours {
        if flag == IN_VM {
            return validate(Path::new(validator), Path::new(bundle), extra, true);
        }
    }
    if !ours.is_empty() {
        bail!("usage: cargo xtask validate [-- CLAP-VALIDATOR-ARGS]");
    }
    let started = Instant::now();
    let root = crate::workspace_root();
    // Before the (long) build: a missing validator is known at once.
    let validator = find_validator(&root)?;
    crate::prepare_bundle()?;
    let bundle = root.join("target/bundled/PhasorSync.clap");
    let here = crate::test::native_sequencer();
    let mut stages = vec![(
        match &here {
            Ok(()) => "validator on this machine (live sequencer)".to_string(),
            Err(why) => format!("validator on this machine (no sequencer: {why})"),
        },
        validate(&validator, &bundle, extra, here.is_ok()),
    )];
    if here.is_err() {
        println!("\n     Running the validator again in a qemu VM (a live sequencer)");
        stages.push((
            "validator in the qemu VM (live sequencer)".to_string(),
            in_vm(&validator, &bundle, extra),
        ));
    }
    println!();
    let mut failed = Vec::new();
    for (name, result) in &stages {
        match result {
            Ok(()) => println!("validate result: ok. {name}"),
            Err(e) => {
                println!("validate result: FAILED. {name}: {e:#}");
                failed.push(name.as_str());
            }
        }
    }
    crate::verdict("validate", started, &failed)
}

/// One validator run on `bundle`, its tally printed. With `live`, also
/// watch the kernel sequencer meanwhile and fail unless a PhasorSync client
/// and a queue it owns appeared.
fn validate(validator: &Path, bundle: &Path, extra: &[String], live: bool) -> Result<()> {
    let version = Command::new(validator)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "validator: {} ({version}) on {}",
        validator.display(),
        bundle.display()
    );
    let mut cmd = Command::new(validator);
    if std::env::var_os("CLAP_VALIDATOR_VERBOSITY").is_none() {
        // Its own progress lines (one per test) would bury the summary; the
        // plugin's log messages are warnings or errors and still show.
        cmd.args(["--verbosity", "warn"]);
    }
    let mut child = cmd
        .args(["validate", "--json"])
        .args(extra)
        .arg(bundle)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("running {}", validator.display()))?;
    let mut stdout = child.stdout.take().context("the validator's stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let mut seen = Seen::default();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if live {
            seen.look();
        }
        std::thread::sleep(Duration::from_millis(if live { 20 } else { 100 }));
    };
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the validator's reader panicked"))?
        .context("reading the validator's output")?;
    // It exits non-zero when a test fails; the JSON says which.
    let report: serde_json::Value = serde_json::from_slice(&out).with_context(|| {
        format!(
            "{} printed no JSON report ({status}); its output:\n{}",
            validator.display(),
            String::from_utf8_lossy(&out)
        )
    })?;
    let tally = Tally::of(&report)?;
    for line in &tally.lines {
        println!("{line}");
    }
    println!("{}", tally.summary());
    if live {
        println!("validator: {}", seen.summary());
    }
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
    if live && !seen.live() {
        bail!(
            "the validator passed, but no {CLIENT_NAME} sequencer client with a queue of its \
             own was seen while it ran ({}): the live path went untested",
            seen.summary()
        );
    }
    Ok(())
}

/// The validator in one boot of the kernel-test VM: this very program runs
/// there with [`IN_VM`], on the bundle and validator of this machine.
fn in_vm(validator: &Path, bundle: &Path, extra: &[String]) -> Result<()> {
    sysdeps::ensure(sysdeps::VM)?;
    let kernel = vm::ensure_kernel()?;
    let job = vm::JobDir::create()?;
    let me = std::env::current_exe().context("the path of cargo xtask's own binary")?;
    let mut args = vec![
        me.to_string_lossy().into_owned(),
        "validate".into(),
        IN_VM.into(),
        validator.to_string_lossy().into_owned(),
        bundle.to_string_lossy().into_owned(),
        "--".into(),
    ];
    args.extend(extra.iter().cloned());
    let mut script = String::from("# generated by cargo xtask validate\n");
    for name in ["CI", "NO_COLOR", "CLAP_VALIDATOR_VERBOSITY"] {
        if let Ok(value) = std::env::var(name) {
            writeln!(script, "export {name}={}", crate::test::shell_quote(&value))?;
        }
    }
    let quoted: Vec<String> = args.iter().map(|a| crate::test::shell_quote(a)).collect();
    writeln!(script, "exec {}", quoted.join(" "))?;
    let script_path = job.path.join("job.sh");
    fs::write(&script_path, script)?;
    let run = vm::run_script(&kernel, &script_path, &job, vm::TEST_CPUS)?;
    println!(
        "validator: in the VM ({}; {})",
        kernel.package,
        run.timing()
    );
    if run.status != 0 {
        bail!("exit status {} in the VM; see the output above", run.status);
    }
    Ok(())
}

/// What the kernel sequencer showed of the plugin while the validator ran.
#[derive(Debug, Default)]
struct Seen {
    /// Distinct PhasorSync client ids seen.
    clients: Vec<u32>,
    /// Distinct (queue, owner) pairs owned by a PhasorSync client.
    queues: Vec<(u32, u32)>,
    /// Times `/proc/asound/seq` was read.
    looks: u64,
}

impl Seen {
    /// Read the sequencer's client and queue lists once.
    fn look(&mut self) {
        let read = |f: &str| fs::read_to_string(Path::new("/proc/asound/seq").join(f));
        if let (Ok(clients), Ok(queues)) = (read("clients"), read("queues")) {
            self.note(&clients, &queues);
        }
    }

    /// Add what one reading of `clients` and `queues` shows.
    fn note(&mut self, clients: &str, queues: &str) {
        self.looks += 1;
        let ours = plugin_clients(clients);
        for &c in &ours {
            if !self.clients.contains(&c) {
                self.clients.push(c);
            }
        }
        for q in queue_owners(queues) {
            if ours.contains(&q.1) && !self.queues.contains(&q) {
                self.queues.push(q);
            }
        }
    }

    /// Whether the plugin's live path ran: a client, and a queue it owned.
    fn live(&self) -> bool {
        !self.clients.is_empty() && !self.queues.is_empty()
    }

    fn summary(&self) -> String {
        format!(
            "{} {CLIENT_NAME} sequencer client(s) and {} queue(s) they owned seen in {} looks",
            self.clients.len(),
            self.queues.len(),
            self.looks
        )
    }
}

/// Ids of the PhasorSync clients in `/proc/asound/seq/clients`
/// (`Client 128 : "PhasorSync" [User Legacy]`).
fn plugin_clients(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| {
            let (id, name) = l.strip_prefix("Client")?.split_once(':')?;
            let name = name.trim().strip_prefix('"')?.split('"').next()?;
            (name == CLIENT_NAME).then(|| id.trim().parse().ok())?
        })
        .collect()
}

/// `(queue, owner client)` of each queue in `/proc/asound/seq/queues`
/// (`queue 0: [...]` then `owned by client    : 128`).
fn queue_owners(text: &str) -> Vec<(u32, u32)> {
    let mut queue = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("queue ") {
            queue = rest.split(':').next().and_then(|q| q.trim().parse().ok());
        } else if let Some(rest) = line.strip_prefix("owned by client") {
            let owner = rest.trim_start().strip_prefix(':').map(str::trim);
            if let (Some(q), Some(Ok(owner))) = (queue, owner.map(str::parse)) {
                out.push((q, owner));
            }
        }
    }
    out
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
    fn the_plugins_clients_and_their_queues_are_told_apart() {
        let clients = "Client info\n  cur  clients : 3\n\nClient   0 : \"System\" [Kernel]\n\
                       Client 128 : \"PhasorSync\" [User Legacy]\n  Port   0 : \"in\"\n\
                       Client 129 : \"PhasorSync-other\" [User Legacy]\n";
        assert_eq!(plugin_clients(clients), [128]);
        let queues =
            "queue 0: [Queue-0]\nowned by client    : 129\nlock status        : Locked\n\n\
                      queue 1: [PhasorSync]\nowned by client    : 128\n";
        assert_eq!(queue_owners(queues), [(0, 129), (1, 128)]);
        let mut seen = Seen::default();
        seen.note(clients, "");
        assert!(
            !seen.live(),
            "a client without a queue is not the live path"
        );
        seen.note(clients, queues);
        seen.note(clients, queues);
        assert!(seen.live());
        assert_eq!(
            (seen.clients.len(), seen.queues.len(), seen.looks),
            (1, 1, 3)
        );
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
