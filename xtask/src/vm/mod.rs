//! A throw-away qemu VM with a real kernel ALSA sequencer, for machines whose
//! kernel has none (CI runners, containers).
//!
//! The VM boots the stock Debian kernel (`linux-image-amd64`'s current
//! package, fetched once with `apt-get download` and cached, [`kernel`]) with a tiny
//! initramfs built here: a static busybox, `modules::MODULES` with their
//! dependencies, and `xtask/vm/init`. The init script mounts this machine's
//! whole filesystem read-only over 9p with a tmpfs overlay on top, chroots
//! into it and runs one shell script as root, so test binaries under
//! `target/`, `aconnect`, `amidi`, `aplaymidi` and `aseqdump` run inside
//! unchanged (they must be built before the VM starts; writes inside vanish).
//! The script's output streams to this terminal; its exit status comes back
//! on a second serial port, so test output can neither fake nor hide it.
//!
//! KVM is used when `PHASORSYNC_VM_ACCEL` asks for it; the default is qemu's
//! software emulation (TCG), which works everywhere and boots in seconds.
//! Environment: `PHASORSYNC_VM_CACHE` (kernel cache directory, default
//! `$XDG_CACHE_HOME/phasorsync/vm` or `~/.cache/phasorsync/vm`),
//! `PHASORSYNC_VM_TIMEOUT` (seconds, default 1800), `PHASORSYNC_VM_MEM`
//! (MiB, default 2048), `PHASORSYNC_VM_ACCEL` (qemu `-accel`, default
//! `tcg,thread=multi`), `PHASORSYNC_VM_CPUS` (vCPUs; default 1 for the
//! tests, `cargo xtask vm` and `cargo xtask bench`'s timing figures, see
//! [`TEST_CPUS`] and [`TIMING_CPUS`]), `PHASORSYNC_VM_KEEP=1` (keep the
//! job directory).
//!
//! One file per job: [`kernel`] fetches and caches the kernel, [`modules`]
//! resolves module dependencies, [`elf`] reads the ELF headers involved,
//! [`cpio`] and [`initrd`] build the initramfs, [`qemu`] boots and runs,
//! [`job`] holds the scratch directory; this file is the `cargo xtask vm`
//! command.

mod cpio;
mod elf;
mod initrd;
mod job;
mod kernel;
mod modules;
mod qemu;

use anyhow::{bail, Context, Result};

use crate::sysdeps;
pub use job::JobDir;
pub use kernel::{ensure_kernel, Kernel};
pub use qemu::{run_script, vcpus, TEST_CPUS, TIMING_CPUS};

/// `cargo xtask vm SCRIPT`: run one shell script (absolute path) as root in
/// the VM. Handy to poke at the kernel sequencer by hand (`aconnect -l`).
///
/// # Errors
/// When the VM cannot be prepared or started, or the script exits non-zero.
pub fn cli(args: &[String]) -> Result<()> {
    let [script] = args else {
        bail!("usage: cargo xtask vm /abs/path/to/script.sh");
    };
    let script = std::fs::canonicalize(script).with_context(|| format!("no script {script}"))?;
    sysdeps::ensure(sysdeps::TEST)?;
    sysdeps::ensure(sysdeps::VM)?;
    let kernel = ensure_kernel()?;
    let job = JobDir::create()?;
    let run = run_script(&kernel, &script, &job, TEST_CPUS)?;
    eprintln!("vm: {}", run.timing());
    if run.status != 0 {
        bail!("the script exited with status {}", run.status);
    }
    Ok(())
}
