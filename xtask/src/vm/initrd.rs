//! The VM's initramfs: a static busybox, `xtask/vm/init` as PID 1, and the
//! kernel modules in load order.

use anyhow::{bail, Context, Result};
use std::fs;

use super::cpio::Cpio;
use super::elf::is_dynamic_elf;
use super::kernel::Kernel;

/// PID 1 of the VM.
const INIT: &str = include_str!("../../vm/init");

/// The initramfs for `kernel`, as bytes.
///
/// # Errors
/// When busybox is missing or not the static one, or the kernel's modules
/// cannot be read.
pub fn build(kernel: &Kernel) -> Result<Vec<u8>> {
    let busybox = fs::read("/bin/busybox").context("reading /bin/busybox (busybox-static)")?;
    if is_dynamic_elf(&busybox) {
        bail!(
            "/bin/busybox is dynamically linked; the VM needs the static one: \
             apt-get install busybox-static"
        );
    }
    let mut cpio = Cpio::new();
    for dir in ["bin", "dev", "proc", "sys", "host", "mnt", "tmp", "mods"] {
        cpio.entry(dir, 0o040755, (0, 0), &[])?;
    }
    // The kernel opens /dev/console for init's stdio before init mounts devtmpfs.
    cpio.entry("dev/console", 0o020600, (5, 1), &[])?;
    cpio.entry("bin/busybox", 0o100755, (0, 0), &busybox)?;
    cpio.entry("init", 0o100755, (0, 0), INIT.as_bytes())?;
    let mods = kernel.mods();
    let order = fs::read_to_string(mods.join("order"))?;
    for line in order.lines() {
        let file = line.split_whitespace().next().unwrap_or_default();
        cpio.entry(
            &format!("mods/{file}"),
            0o100644,
            (0, 0),
            &fs::read(mods.join(file))?,
        )?;
    }
    cpio.entry("mods/order", 0o100644, (0, 0), order.as_bytes())?;
    cpio.finish()
}
