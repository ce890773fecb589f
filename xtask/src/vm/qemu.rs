//! One run of the VM: boot qemu with the kernel and the initramfs, stream
//! the script's output, read its exit status from the second serial port.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{initrd, JobDir, Kernel};

/// vCPUs for the tests: one, for the reason given at [`TIMING_CPUS`]. With
/// two, the test host's paced audio thread woke up to 20-50 ms late now and
/// then even on an idle machine, and a CI run failed on it (1 Dec 2026).
/// The rings' two-thread behaviour is tested on the host's real cores and
/// under Miri; in the VM the plugin's threads still interleave, preempted
/// by priority as on a one-core machine.
pub const TEST_CPUS: u64 = 1;

/// vCPUs for timing figures: one. With two vCPUs on a 2-core machine,
/// events on *every* sequencer queue now and then leave 2-10 ms late, and
/// the more guest CPU the sending client uses, the more often (seen 1 Dec
/// 2026, three runs each: `aplaymidi` p99 0.90-2.6 ms, max 4.1-8.1 ms with
/// two vCPUs; p99 0.84-0.85 ms, max 0.85-0.87 ms with one). The likely
/// reason: under TCG, qemu fires the guest's timers from its main-loop
/// thread, which with two busy vCPU threads waits for a core. Two vCPUs
/// would measure this machine's core count, not the sender.
pub const TIMING_CPUS: u64 = 1;

/// The vCPU count: `PHASORSYNC_VM_CPUS` when set, else `default`.
///
/// # Errors
/// When the variable is set but not a number.
pub fn vcpus(default: u64) -> Result<u64> {
    env_u64("PHASORSYNC_VM_CPUS", default)
}

/// Printed by the init script once the VM is ready to run the script.
const READY_MARKER: &str = "phasorsync-vm: up after";

/// Printed by the init script once the script has ended.
const DONE_MARKER: &str = "phasorsync-vm: script done";

/// How one VM run went.
pub struct VmRun {
    /// Exit status of the script.
    pub status: i32,
    /// Wall time from starting qemu to the script starting.
    pub boot: Duration,
    /// Wall time from starting qemu to qemu exiting.
    pub total: Duration,
}

impl VmRun {
    /// The run's timing as every command reports it.
    pub fn timing(&self) -> String {
        format!(
            "boot {:.1} s, VM total {:.1} s",
            self.boot.as_secs_f64(),
            self.total.as_secs_f64()
        )
    }
}

fn env_u64(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// Poll until `path` has content; false if `timeout` passed first.
fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Start qemu on `kernel` and `initrd`, the script's status going to
/// `status_file`; its console is the child's stdout.
fn start_qemu(
    kernel: &Kernel,
    initrd: &Path,
    status_file: &Path,
    script: &Path,
    cpus: u64,
) -> Result<Child> {
    let mem = env_u64("PHASORSYNC_VM_MEM", 2048)?;
    let accel =
        std::env::var("PHASORSYNC_VM_ACCEL").unwrap_or_else(|_| "tcg,thread=multi".to_string());
    let cpus = vcpus(cpus)?;
    Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            &accel,
            "-smp",
            &cpus.to_string(),
            "-m",
            &mem.to_string(),
        ])
        .args(["-nodefaults", "-no-reboot", "-display", "none"])
        .args(["-serial", "stdio", "-serial"])
        .arg(format!("file:{}", status_file.display()))
        .arg("-kernel")
        .arg(kernel.image())
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!(
            "console=ttyS0 quiet panic=-1 vmcmd={}",
            script.display()
        ))
        .args([
            "-virtfs",
            "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting qemu-system-x86_64 (package qemu-system-x86)")
}

/// The guest console's lines, read on a thread of their own so that the
/// caller can wait for them with a deadline.
fn console_lines(
    stdout: std::process::ChildStdout,
) -> (mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = Vec::new();
        while matches!(stdout.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line).replace('\r', "");
            if tx.send(text.trim_end_matches('\n').to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    (rx, reader)
}

/// Boot the VM with `cpus` vCPUs (see [`TEST_CPUS`], [`TIMING_CPUS`]), run
/// `script` (an absolute path on this machine) as root in it, stream its
/// output to stdout, and return its exit status.
///
/// # Errors
/// When qemu cannot start, the VM fails to set itself up, times out, or ends
/// without reporting the script's exit status. The boot log is included.
pub fn run_script(kernel: &Kernel, script: &Path, job: &JobDir, cpus: u64) -> Result<VmRun> {
    if !script.is_absolute() || script.to_string_lossy().contains(char::is_whitespace) {
        bail!(
            "the VM script path must be absolute and without spaces: {}",
            script.display()
        );
    }
    let initrd = job.path.join("initrd.cpio");
    fs::write(&initrd, initrd::build(kernel)?)?;
    let status_file = job.path.join("status");
    fs::write(&status_file, "")?;
    let timeout = Duration::from_secs(env_u64("PHASORSYNC_VM_TIMEOUT", 1800)?);

    let started = Instant::now();
    let mut child = start_qemu(kernel, &initrd, &status_file, script, cpus)?;

    let (rx, reader) = console_lines(child.stdout.take().context("qemu stdout")?);

    let mut boot_log = Vec::new();
    let mut boot = None;
    let deadline = started + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if line.starts_with(DONE_MARKER) {
                    // All the script's output is in (one tty, in order); its
                    // status follows on the other port: no need to wait for
                    // the guest to power off.
                    let status_written = wait_for_file(&status_file, Duration::from_secs(10));
                    if status_written {
                        let _ = child.kill();
                    }
                    break;
                } else if boot.is_some() {
                    println!("{line}");
                } else if line.starts_with(READY_MARKER) {
                    boot = Some(started.elapsed());
                    println!("{line}");
                } else {
                    boot_log.push(line);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                if boot.is_some() {
                    bail!(
                        "the script in the VM did not finish within {} s (PHASORSYNC_VM_TIMEOUT)",
                        timeout.as_secs()
                    );
                }
                bail!(
                    "the VM did not boot within {} s (PHASORSYNC_VM_TIMEOUT); boot log:\n{}",
                    timeout.as_secs(),
                    boot_log.join("\n")
                );
            }
        }
    }
    // qemu exits by itself once the guest powers off; never wait past the deadline.
    let exit = loop {
        if let Some(exit) = child.try_wait()? {
            break exit;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    let total = started.elapsed();
    let status = fs::read_to_string(&status_file)?;
    let status = status.trim();
    match (boot, status.parse::<i32>()) {
        (Some(boot), Ok(status)) => Ok(VmRun {
            status,
            boot,
            total,
        }),
        (_, Ok(125)) | (None, _) => bail!(
            "the VM failed to set itself up (qemu {exit}); boot log:\n{}",
            boot_log.join("\n")
        ),
        (Some(_), Err(_)) => bail!(
            "the VM ended without the script's exit status (crash or power-off?); qemu {exit}"
        ),
    }
}
