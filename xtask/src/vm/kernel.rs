//! The VM's kernel: the stock Debian one (`linux-image-amd64`'s current
//! package), fetched once with `apt-get download`, unpacked with the modules
//! the VM needs, and cached.

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{elf, modules};
use crate::sysdeps;

/// A Debian kernel unpacked in the cache: `vmlinuz` (and `vmlinux`, its
/// unpacked ELF, when that could be made), `mods/*.ko` and `mods/order`
/// (one `file.ko params` line per module, in load order).
pub struct Kernel {
    /// The Debian package it came from, e.g. `linux-image-6.1.0-56-amd64`.
    pub package: String,
    dir: PathBuf,
}

impl Kernel {
    /// What qemu boots: the unpacked ELF when there is one, else the bzImage.
    pub fn image(&self) -> PathBuf {
        let elf = self.dir.join("vmlinux");
        if elf.exists() {
            elf
        } else {
            self.dir.join("vmlinuz")
        }
    }

    /// The directory of the modules and their `order` file.
    pub fn mods(&self) -> PathBuf {
        self.dir.join("mods")
    }
}

/// Where unpacked kernels are kept between runs.
fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PHASORSYNC_VM_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache"),
    };
    Ok(base.join("phasorsync").join("vm"))
}

/// The cached kernel, downloading and unpacking it on first use.
///
/// A cached kernel is used as is (no network); delete the cache directory to
/// move to a newer Debian kernel.
///
/// # Errors
/// When no kernel is cached and it cannot be downloaded or unpacked.
pub fn ensure_kernel() -> Result<Kernel> {
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "the kernel-test VM boots an amd64 Debian kernel; this machine is {}",
            std::env::consts::ARCH
        );
    }
    let root = cache_root()?;
    if let Some(kernel) = cached_kernel(&root)? {
        extract_vmlinux(&kernel.dir);
        return Ok(kernel);
    }
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let package = kernel_package()?;
    eprintln!(
        "vm: fetching {package} (once; cached in {})",
        root.display()
    );
    let scratch = root.join(format!(".download-{}", std::process::id()));
    let result = unpack_kernel(&root, &scratch, &package);
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// The most recently unpacked complete kernel in the cache, if any.
fn cached_kernel(root: &Path) -> Result<Option<Kernel>> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(None);
    };
    let mut best: Option<(std::time::SystemTime, Kernel)> = None;
    for entry in entries {
        let entry = entry?;
        let dir = entry.path();
        let Ok(meta) = fs::metadata(dir.join("ready")) else {
            continue;
        };
        let mtime = meta.modified()?;
        let package = entry.file_name().to_string_lossy().into_owned();
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, Kernel { package, dir }));
        }
    }
    Ok(best.map(|(_, k)| k))
}

/// The versioned package `linux-image-amd64` currently depends on.
fn kernel_package() -> Result<String> {
    let query = || -> Option<String> {
        let out = Command::new("apt-cache")
            .args(["depends", "linux-image-amd64"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.trim()
                .strip_prefix("Depends: ")
                .filter(|p| p.starts_with("linux-image-"))
                .map(str::to_string)
        })
    };
    if let Some(p) = query() {
        return Ok(p);
    }
    if !sysdeps::is_root() {
        bail!(
            "cannot find the Debian kernel package for the VM: `apt-cache depends \
             linux-image-amd64` names none; run `sudo apt-get update` (or run as root), \
             then try again"
        );
    }
    sysdeps::apt_update().context("the VM needs it to find the Debian kernel package")?;
    query().context("`apt-cache depends linux-image-amd64` names no linux-image package")
}

/// The first entry of `dir` whose path satisfies `want`.
fn find_in(dir: &Path, want: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| want(p))
}

/// Download `package` into `scratch` and unpack it there; returns the tree.
fn download(scratch: &Path, package: &str) -> Result<PathBuf> {
    fs::create_dir_all(scratch)?;
    let out = Command::new("apt-get")
        .args(["download", package])
        .current_dir(scratch)
        .output()
        .context("running apt-get download")?;
    if !out.status.success() {
        bail!(
            "apt-get download {package} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let deb = find_in(scratch, |p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download produced no .deb")?;
    let tree = scratch.join("tree");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&tree)
        .status()
        .context("running dpkg-deb (package dpkg)")?;
    if !status.success() {
        bail!("dpkg-deb -x {} failed", deb.display());
    }
    Ok(tree)
}

/// Download `package`, keep the kernel and the modules the VM needs in
/// `root/package`, written under another name and renamed when complete.
fn unpack_kernel(root: &Path, scratch: &Path, package: &str) -> Result<Kernel> {
    let tree = download(scratch, package)?;
    let vmlinuz = find_in(&tree.join("boot"), |p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
    })
    .context("the kernel package has no boot/vmlinuz-*")?;
    // Debian moved /lib to /usr/lib (usrmerge) after bookworm.
    let moddir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .find_map(|d| find_in(&tree.join(d), |p| p.join("kernel").is_dir()))
        .context("the kernel package has no lib/modules/<version>/kernel")?;

    let modules = modules::resolve(&moddir)?;
    let staging = root.join(format!(".{package}.new-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(staging.join("mods"))?;
    fs::copy(&vmlinuz, staging.join("vmlinuz"))?;
    let mut order = String::new();
    for (path, params) in &modules {
        let file = path.file_name().context("module without a file name")?;
        fs::copy(path, staging.join("mods").join(file))?;
        order.push_str(&format!("{} {params}\n", file.to_string_lossy()));
    }
    fs::write(staging.join("mods/order"), order)?;
    extract_vmlinux(&staging);
    fs::write(staging.join("ready"), format!("{package}\n"))?;
    let dir = root.join(package);
    if fs::rename(&staging, &dir).is_err() {
        // Another run unpacked the same kernel meanwhile: use theirs.
        let _ = fs::remove_dir_all(&staging);
        if !dir.join("ready").exists() {
            bail!("could not move the unpacked kernel to {}", dir.display());
        }
    }
    Ok(Kernel {
        package: package.to_string(),
        dir,
    })
}

/// Unpack `dir/vmlinuz` (an xz-compressed bzImage, as Debian builds it) to
/// `dir/vmlinux` if that is an ELF with a PVH entry note: qemu then boots it
/// directly, skipping firmware and the in-guest decompression that take
/// half the boot under emulation (~3 s here). Any failure just leaves the
/// slower bzImage boot; `dir/vmlinux.none` remembers that so it is tried once.
fn extract_vmlinux(dir: &Path) {
    let (elf, none) = (dir.join("vmlinux"), dir.join("vmlinux.none"));
    if elf.exists() || none.exists() {
        return;
    }
    if let Err(e) = unxz_vmlinux(dir, &elf) {
        eprintln!("vm: booting the compressed kernel (slower): {e:#}");
        let _ = fs::write(&none, format!("{e:#}\n"));
    }
}

/// The work of [`extract_vmlinux`]: `dir/vmlinuz`'s xz stream to `elf`.
fn unxz_vmlinux(dir: &Path, elf: &Path) -> Result<()> {
    let bz = fs::read(dir.join("vmlinuz"))?;
    let magic = b"\xfd7zXZ\0";
    let at = bz
        .windows(magic.len())
        .position(|w| w == magic)
        .context("vmlinuz holds no xz stream")?;
    let tmp = dir.join("vmlinux.part");
    let out = fs::File::create(&tmp)?;
    let mut xz = Command::new("xz")
        .args(["-dc", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .context("running xz (package xz-utils)")?;
    let mut stdin = xz.stdin.take().context("xz stdin")?;
    // xz stops reading after the stream; a write error then is expected.
    let _ = std::io::Write::write_all(&mut stdin, &bz[at..]);
    drop(stdin);
    if !xz.wait()?.success() {
        bail!("xz could not unpack vmlinuz");
    }
    if !elf::has_pvh_note(&fs::read(&tmp)?) {
        let _ = fs::remove_file(&tmp);
        bail!("the unpacked kernel has no PVH entry point");
    }
    fs::rename(&tmp, elf)?;
    Ok(())
}
