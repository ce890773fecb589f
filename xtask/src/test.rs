//! `cargo xtask test`: every test of the project, in one command.
//!
//! 1. checks/installs the system packages (build, and the ALSA tools the
//!    kernel tests drive),
//! 2. bundles the plugin in release mode (the host tests load the bundled `.clap`),
//! 3. runs `cargo test --workspace`; kernel tests are `#[ignore]`d there, so
//!    they show up as ignored rather than vanish,
//! 4. runs the kernel tests: the ignored tests of every integration-test
//!    target whose name starts with `kernel` (the tier `tests/kernel/`, and
//!    the command's `cli/tests/kernel_cli.rs`), each in its own process with
//!    `--ignored --exact NAME --test-threads=1`, natively when this machine
//!    has a usable `/dev/snd/seq` with the virmidi and Midi Through clients,
//!    otherwise in one boot of the qemu VM of `vm/`.
//!
//! Usage: `cargo xtask test [--kernel-only] [--vm] [CARGO-ARGS] [-- TEST-ARGS]`.
//! CARGO-ARGS go to both cargo invocations (e.g. `--release`), TEST-ARGS to
//! every test binary (a name filter, `--nocapture`). `--kernel-only` skips
//! step 3; `--vm` (or `PHASORSYNC_KERNEL_TESTS=vm`) uses the VM even where
//! the kernel tests could run natively; `PHASORSYNC_KERNEL_TESTS=native`
//! refuses the VM. Every stage runs even after one fails; the command exits
//! non-zero if any failed. With `CI` set, no kernel sequencer and no working
//! VM is a failure like any other (it always is: nothing is skipped).

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{artifacts, sysdeps, vm};

/// Prefix of the integration-test targets that need a kernel sequencer.
const KERNEL_TEST_PREFIX: &str = "kernel";

/// The in-VM/native runner of the kernel test binaries.
const RUNNER: &str = "xtask/vm/run-kernel-tests.sh";

/// Environment passed into the VM, by exact name or by prefix; the VM's own
/// knobs (`PHASORSYNC_VM_*`) stay outside.
const FORWARD_ENV: &[&str] = &["CI", "NO_COLOR"];
const FORWARD_ENV_PREFIXES: &[&str] = &["RUST_", "PHASORSYNC_"];

/// One kernel test binary built by cargo.
struct KernelTest {
    /// Source file, relative to the workspace root when possible.
    src: String,
    /// Directory of the package's Cargo.toml (cargo runs tests there).
    package_dir: PathBuf,
    /// The test executable.
    exe: PathBuf,
}

/// Libtest options that take a value as the next argument.
const VALUE_OPTIONS: &[&str] = &[
    "--skip",
    "--color",
    "--format",
    "--logfile",
    "--test-threads",
    "-Z",
];

/// TEST-ARGS split into name filters and options (with their values): the
/// runner applies the filters by listing, then passes the options to each
/// test's own run.
fn split_test_args(args: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut filters, mut options) = (Vec::new(), Vec::new());
    let mut value_next = false;
    for a in args {
        if value_next {
            options.push(a.clone());
            value_next = false;
        } else if a.starts_with('-') {
            value_next = VALUE_OPTIONS.contains(&a.as_str());
            options.push(a.clone());
        } else {
            filters.push(a.clone());
        }
    }
    (filters, options)
}

/// The ignored tests of one binary that the TEST-ARGS select, by name
/// (`--list --format terse`: one `NAME: test` line each).
fn list_tests(test: &KernelTest, test_args: &[String]) -> Result<Vec<String>> {
    let (filters, options) = split_test_args(test_args);
    // Only the options that select tests; the rest (e.g. --nocapture) are
    // for running them.
    let mut select = Vec::new();
    let mut it = options.iter();
    while let Some(o) = it.next() {
        if o == "--skip" {
            select.push(o.clone());
            select.extend(it.next().cloned());
        } else if o == "--exact" || o.starts_with("--skip=") {
            select.push(o.clone());
        }
    }
    let out = Command::new(&test.exe)
        .current_dir(&test.package_dir)
        .args(["--ignored", "--list", "--format", "terse"])
        .args(&select)
        .args(&filters)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("listing the tests of {}", test.exe.display()))?;
    if !out.status.success() {
        bail!("{} --list: {}", test.exe.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// Parsed command line.
struct Options {
    kernel_only: bool,
    force_vm: bool,
    cargo_args: Vec<String>,
    test_args: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Self {
        let (ours, test_args) = crate::split_at_dashes(args);
        let mut opts = Self {
            kernel_only: false,
            force_vm: false,
            cargo_args: Vec::new(),
            test_args: test_args.to_vec(),
        };
        for a in ours {
            match a.as_str() {
                "--kernel-only" => opts.kernel_only = true,
                "--vm" => opts.force_vm = true,
                _ => opts.cargo_args.push(a.clone()),
            }
        }
        opts
    }
}

/// Outcome of one stage, for the closing summary.
struct Stage {
    name: String,
    result: Result<String>,
}

/// Run every test; see the module docs.
///
/// # Errors
/// When any stage fails (the message names them).
pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let opts = Options::parse(args);
    let (cargo, root) = crate::prepare_bundle()?;

    let mut stages = Vec::new();
    if !opts.kernel_only {
        let status = Command::new(&cargo)
            .current_dir(&root)
            // All features: the tests above the engine seam use the mock.
            .args(["test", "--workspace", "--all-features", "--no-fail-fast"])
            .args(&opts.cargo_args)
            .arg("--")
            .args(&opts.test_args)
            .status()?;
        stages.push(Stage {
            name: "host tests (cargo test --workspace)".into(),
            result: if status.success() {
                Ok(String::new())
            } else {
                Err(anyhow::anyhow!("cargo test {status}"))
            },
        });
    }
    stages.push(Stage {
        name: "kernel tests".into(),
        result: kernel_tests(&cargo, &root, &opts),
    });

    println!();
    let mut failed = Vec::new();
    for stage in &stages {
        match &stage.result {
            Ok(detail) => println!("test result: ok. {}{detail}", stage.name),
            Err(e) => {
                println!("test result: FAILED. {}: {e:#}", stage.name);
                failed.push(stage.name.as_str());
            }
        }
    }
    crate::verdict("test", started, &failed)
}

/// Step 4: build the kernel test binaries, then run them natively or in the VM.
fn kernel_tests(cargo: &str, root: &Path, opts: &Options) -> Result<String> {
    let tests = build_kernel_tests(cargo, root, &opts.cargo_args)?;
    if tests.is_empty() {
        bail!("no kernel test targets found (tests/kernel/, cli/tests/kernel_*.rs)");
    }
    let job = vm::JobDir::create()?;
    let plan = job.path.join("plan");
    let mut text = String::new();
    let mut n = 0;
    for t in &tests {
        for name in list_tests(t, &opts.test_args)? {
            n += 1;
            writeln!(
                text,
                "{}\t{}\t{}\t{name}",
                t.src,
                t.package_dir.display(),
                t.exe.display()
            )?;
        }
    }
    if n == 0 {
        let (filters, _) = split_test_args(&opts.test_args);
        if filters.is_empty() {
            bail!("the kernel test binaries list no test");
        }
        return Ok(format!(", no kernel test matches {}", filters.join(" ")));
    }
    fs::write(&plan, text)?;
    let runner = root.join(RUNNER);
    let bundle = root.join("target/bundled/PhasorSync.clap");
    let (_, mut test_options) = split_test_args(&opts.test_args);
    // The runner gives each test --exact itself.
    test_options.retain(|o| o != "--exact");

    let mode = std::env::var("PHASORSYNC_KERNEL_TESTS").unwrap_or_else(|_| "auto".into());
    let native = match (mode.as_str(), opts.force_vm) {
        (_, true) | ("vm", _) => Err("the VM was asked for".to_string()),
        ("auto" | "native", _) => native_sequencer(),
        (other, _) => bail!("PHASORSYNC_KERNEL_TESTS={other}: use auto, native or vm"),
    };
    match native {
        Ok(()) => {
            println!("\n     Running {n} kernel tests natively (/dev/snd/seq is usable)");
            let status = Command::new("sh")
                .arg(&runner)
                .arg(&plan)
                .args(&test_options)
                .env("PHASORSYNC_KERNEL", "native")
                .env("PHASORSYNC_BUNDLE", &bundle)
                .status()
                .context("running the kernel test runner")?;
            if !status.success() {
                bail!("{status}; see the test output above");
            }
            Ok(format!(", {n} tests, native"))
        }
        Err(why) if mode == "native" => {
            bail!("PHASORSYNC_KERNEL_TESTS=native, but: {why}")
        }
        Err(why) => {
            println!("\n     Running {n} kernel tests in a qemu VM ({why})");
            let run = in_vm(&job, &runner, &plan, &bundle, &test_options).map_err(|e| {
                if crate::ci() {
                    e.context("CI: the kernel tests need a kernel sequencer; this machine has none and the VM failed")
                } else {
                    e.context(format!(
                        "the kernel tests need a kernel sequencer: {why}, and the qemu VM failed. \
                         Either load the modules (sudo modprobe snd-seq-dummy snd-virmidi midi_devs=2 snd-hrtimer) \
                         on a kernel that has them, or fix the VM error above"
                    ))
                }
            })?;
            let timing = format!("{}; {}", run.kernel, run.timing);
            if run.status != 0 {
                bail!(
                    "exit status {} in the VM ({timing}); see the test output above",
                    run.status
                );
            }
            Ok(format!(", {n} tests, in a qemu VM ({timing})"))
        }
    }
}

/// `Ok` when the kernel tests can run on this machine's own kernel: a
/// read-write `/dev/snd/seq` with the Midi Through and virmidi clients
/// (loaded here when running as root); otherwise why not.
pub(crate) fn native_sequencer() -> std::result::Result<(), String> {
    let open = || {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/snd/seq")
    };
    let clients = || fs::read_to_string("/proc/asound/seq/clients").unwrap_or_default();
    let complete = |c: &str| c.contains("\"Midi Through\"") && c.contains("\"Virtual Raw MIDI");
    if let Err(e) = open() {
        if !sysdeps::is_root() || !modprobe() || open().is_err() {
            return Err(format!("no usable /dev/snd/seq here ({e})"));
        }
    }
    let has_clients =
        complete(&clients()) || (sysdeps::is_root() && modprobe() && complete(&clients()));
    if !has_clients {
        return Err(
            "this kernel has /dev/snd/seq but no snd-seq-dummy/snd-virmidi clients \
                    (sudo modprobe snd-seq-dummy snd-virmidi midi_devs=2 snd-hrtimer)"
                .into(),
        );
    }
    Ok(())
}

/// Load the modules the kernel tests use (root only); true if all loaded.
fn modprobe() -> bool {
    [
        &["snd-hrtimer"][..],
        &["snd-seq-dummy"],
        &["snd-virmidi", "midi_devs=2"],
    ]
    .iter()
    .all(|args| {
        Command::new("modprobe")
            .args(*args)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A finished VM run of the kernel tests.
struct VmTests {
    /// The Debian kernel package booted.
    kernel: String,
    /// The runner's exit status.
    status: i32,
    /// Boot and total time, as `vm::VmRun::timing` puts them.
    timing: String,
}

/// Run the plan in one VM boot. `Err` only when the VM itself failed.
fn in_vm(
    job: &vm::JobDir,
    runner: &Path,
    plan: &Path,
    bundle: &Path,
    test_options: &[String],
) -> Result<VmTests> {
    sysdeps::ensure(sysdeps::VM)?;
    let kernel = vm::ensure_kernel()?;
    let mut script = String::from("# generated by cargo xtask test\n");
    for (name, value) in std::env::vars() {
        let forward = FORWARD_ENV.contains(&name.as_str())
            || (FORWARD_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
                && !name.starts_with("PHASORSYNC_VM_")
                && name != "RUST_RECURSION_COUNT");
        if forward && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            writeln!(script, "export {name}={}", shell_quote(&value))?;
        }
    }
    writeln!(script, "export PHASORSYNC_KERNEL=vm")?;
    writeln!(
        script,
        "export PHASORSYNC_BUNDLE={}",
        shell_quote(&bundle.to_string_lossy())
    )?;
    // The VM's console is a terminal; colour only if ours is one too.
    let color = if std::io::stdout().is_terminal() {
        "always"
    } else {
        "never"
    };
    let mut args = vec![
        runner.to_string_lossy().into_owned(),
        plan.to_string_lossy().into_owned(),
        format!("--color={color}"),
    ];
    args.extend(test_options.iter().cloned());
    let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    writeln!(script, "exec /bin/sh {}", quoted.join(" "))?;
    let script_path = job.path.join("job.sh");
    fs::write(&script_path, script)?;

    let run = vm::run_script(&kernel, &script_path, job, vm::TEST_CPUS)?;
    Ok(VmTests {
        kernel: kernel.package,
        status: run.status,
        timing: run.timing(),
    })
}

/// Single-quote for sh.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Names of the workspace's kernel-test targets (`cargo metadata`).
fn kernel_test_names(cargo: &str, root: &Path) -> Result<Vec<String>> {
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed ({})", out.status);
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let mut names: Vec<String> = meta["packages"]
        .as_array()
        .context("cargo metadata without packages")?
        .iter()
        .filter_map(|p| p["targets"].as_array())
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"))
        })
        .filter_map(|t| t["name"].as_str())
        .filter(|n| n.starts_with(KERNEL_TEST_PREFIX))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Build only the kernel-test targets (`cargo test --no-run --test NAME...`,
/// so a broken unrelated target does not block them) and return their
/// executables, from cargo's JSON messages.
fn build_kernel_tests(cargo: &str, root: &Path, cargo_args: &[String]) -> Result<Vec<KernelTest>> {
    let names = kernel_test_names(cargo, root)?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["test", "--workspace", "--all-features"]);
    for name in &names {
        cmd.args(["--test", name]);
    }
    cmd.args(cargo_args);
    let mut tests: Vec<KernelTest> = artifacts::build(cmd)
        .context("building the kernel test binaries")?
        .iter()
        .filter_map(|msg| kernel_test_artifact(msg, root))
        .collect();
    if tests.len() != names.len() {
        bail!(
            "cargo built {} kernel test binaries for {} targets ({})",
            tests.len(),
            names.len(),
            names.join(", ")
        );
    }
    tests.sort_by(|a, b| a.src.cmp(&b.src));
    Ok(tests)
}

/// The kernel test in one cargo JSON message, if it is one.
fn kernel_test_artifact(msg: &serde_json::Value, root: &Path) -> Option<KernelTest> {
    if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
        return None;
    }
    let target = &msg["target"];
    let name = target["name"].as_str()?;
    let is_test = target["kind"].as_array()?.iter().any(|k| k == "test");
    if !is_test || !name.starts_with(KERNEL_TEST_PREFIX) {
        return None;
    }
    let exe = PathBuf::from(msg["executable"].as_str()?);
    let src = PathBuf::from(target["src_path"].as_str()?);
    let package_dir = Path::new(msg["manifest_path"].as_str()?)
        .parent()?
        .to_path_buf();
    Some(KernelTest {
        src: src.strip_prefix(root).unwrap_or(&src).display().to_string(),
        package_dir,
        exe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_ours_cargo_and_test_args() {
        let args: Vec<String> = ["--vm", "--release", "--", "smoke", "--nocapture"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = Options::parse(&args);
        assert!(o.force_vm && !o.kernel_only);
        assert_eq!(o.cargo_args, ["--release"]);
        assert_eq!(o.test_args, ["smoke", "--nocapture"]);
    }

    #[test]
    fn only_kernel_test_targets_are_picked() {
        let msg = |name: &str, kind: &str| {
            serde_json::json!({
                "reason": "compiler-artifact",
                "profile": {"test": true},
                "target": {"name": name, "kind": [kind], "src_path": format!("/w/tests/{name}.rs")},
                "manifest_path": "/w/Cargo.toml",
                "executable": format!("/w/target/debug/deps/{name}-0123"),
            })
        };
        let root = Path::new("/w");
        let t = kernel_test_artifact(&msg("kernel", "test"), root).unwrap();
        assert_eq!(t.src, "tests/kernel.rs");
        assert_eq!(t.package_dir, Path::new("/w"));
        assert!(kernel_test_artifact(&msg("kernel_cli", "test"), root).is_some());
        assert!(kernel_test_artifact(&msg("host", "test"), root).is_none());
        assert!(kernel_test_artifact(&msg("seam", "test"), root).is_none());
        assert!(kernel_test_artifact(&msg("alsa_bench", "bench"), root).is_none());
    }

    #[test]
    fn filters_are_split_from_options_and_their_values() {
        let args: Vec<String> = [
            "placement",
            "--nocapture",
            "--skip",
            "raw",
            "--color=never",
            "clock_in::",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (filters, options) = split_test_args(&args);
        assert_eq!(filters, ["placement", "clock_in::"]);
        assert_eq!(options, ["--nocapture", "--skip", "raw", "--color=never"]);
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
