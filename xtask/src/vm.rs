//! A throw-away qemu VM with a real kernel ALSA sequencer, for machines whose
//! kernel has none (CI runners, containers).
//!
//! The VM boots the stock Debian kernel (`linux-image-amd64`'s current
//! package, fetched once with `apt-get download` and cached) with a tiny
//! initramfs built here: a static busybox, [`MODULES`] with their
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
//! `tcg,thread=multi`), `PHASORSYNC_VM_KEEP=1` (keep the job directory).

use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::sysdeps;

/// PID 1 of the VM.
const INIT: &str = include_str!("../vm/init");

/// Modules the VM loads (each after its dependencies, which are resolved
/// from the modules' own `.modinfo`), with their parameters.
///
/// `snd-hrtimer` comes before the sequencer: Debian builds with
/// `CONFIG_SND_SEQ_HRTIMER_DEFAULT`, so queues then run on the
/// high-resolution timer instead of the 4 ms system tick, as on a desktop.
/// `snd-seq-dummy` is client 14 "Midi Through"; `snd-virmidi` gives card 0
/// raw MIDI devices `hw:0,0`/`hw:0,1` whose other ends are sequencer clients:
/// the nearest thing to a USB keyboard a VM has.
const MODULES: &[(&str, &str)] = &[
    ("virtio_pci", ""),
    ("9pnet_virtio", ""),
    ("9p", ""),
    ("overlay", ""),
    ("snd-hrtimer", ""),
    ("snd-seq-dummy", ""),
    ("snd-virmidi", "midi_devs=2"),
];

/// Printed by the init script once the VM is ready to run the script.
const READY_MARKER: &str = "phasorsync-vm: up after";

/// Printed by the init script once the script has ended.
const DONE_MARKER: &str = "phasorsync-vm: script done";

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
    fn image(&self) -> PathBuf {
        let elf = self.dir.join("vmlinux");
        if elf.exists() {
            elf
        } else {
            self.dir.join("vmlinuz")
        }
    }
}

/// How one VM run went.
pub struct VmRun {
    /// Exit status of the script.
    pub status: i32,
    /// Wall time from starting qemu to the script starting.
    pub boot: Duration,
    /// Wall time from starting qemu to qemu exiting.
    pub total: Duration,
}

/// `cargo xtask vm SCRIPT`: run one shell script (absolute path) as root in
/// the VM. Handy to poke at the kernel sequencer by hand (`aconnect -l`).
///
/// # Errors
/// When the VM cannot be prepared or started, or the script exits non-zero.
pub fn cli(args: &[String]) -> Result<()> {
    let [script] = args else {
        bail!("usage: cargo xtask vm /abs/path/to/script.sh");
    };
    let script = fs::canonicalize(script).with_context(|| format!("no script {script}"))?;
    sysdeps::ensure(sysdeps::TEST)?;
    sysdeps::ensure(sysdeps::VM)?;
    let kernel = ensure_kernel()?;
    let job = JobDir::create()?;
    let run = run_script(&kernel, &script, &job)?;
    eprintln!(
        "vm: booted in {:.1} s, total {:.1} s",
        run.boot.as_secs_f64(),
        run.total.as_secs_f64()
    );
    if run.status != 0 {
        bail!("the script exited with status {}", run.status);
    }
    Ok(())
}

/// A scratch directory under `target/vm/` for one VM run (initramfs,
/// status file, scripts), removed on drop unless `PHASORSYNC_VM_KEEP` is set.
/// It lives on this machine's disk so the VM sees it through 9p.
pub struct JobDir {
    /// Absolute path of the directory.
    pub path: PathBuf,
}

impl JobDir {
    /// Create `target/vm/job-<pid>` (per process: several runs may overlap).
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn create() -> Result<Self> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::workspace_root().join("target"));
        let path = target
            .join("vm")
            .join(format!("job-{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        let path = fs::canonicalize(&path)?;
        Ok(Self { path })
    }
}

impl Drop for JobDir {
    fn drop(&mut self) {
        if std::env::var_os("PHASORSYNC_VM_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
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
    let status = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .context("running apt-get update")?;
    if !status.success() {
        bail!("apt-get update failed; the VM needs it to find the Debian kernel package");
    }
    query().context("`apt-cache depends linux-image-amd64` names no linux-image package")
}

/// Download `package`, keep the kernel and the modules the VM needs in
/// `root/package`, written under another name and renamed when complete.
fn unpack_kernel(root: &Path, scratch: &Path, package: &str) -> Result<Kernel> {
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
    let deb = fs::read_dir(scratch)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
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
    let vmlinuz = fs::read_dir(tree.join("boot"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .context("the kernel package has no boot/vmlinuz-*")?;
    // Debian moved /lib to /usr/lib (usrmerge) after bookworm.
    let moddir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .filter_map(|d| fs::read_dir(tree.join(d)).ok())
        .flat_map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())))
        .find(|p| p.join("kernel").is_dir())
        .context("the kernel package has no lib/modules/<version>/kernel")?;

    let modules = resolve_modules(&moddir)?;
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
    let result = (|| -> Result<()> {
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
        if !has_pvh_note(&fs::read(&tmp)?) {
            let _ = fs::remove_file(&tmp);
            bail!("the unpacked kernel has no PVH entry point");
        }
        fs::rename(&tmp, &elf)?;
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("vm: booting the compressed kernel (slower): {e:#}");
        let _ = fs::write(&none, format!("{e:#}\n"));
    }
}

/// True when `elf` (ELF64 little-endian) has a `Xen` note of type 18
/// (XEN_ELFNOTE_PHYS32_ENTRY), the entry point qemu uses to boot a vmlinux.
fn has_pvh_note(elf: &[u8]) -> bool {
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .and_then(|v| usize::try_from(v).ok())
    };
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).any(|i| {
        let ph = phoff + i * phentsize;
        if u32_at(ph) != Some(4) {
            return false; // not PT_NOTE
        }
        let (Some(off), Some(size)) = (u64_at(ph + 8), u64_at(ph + 32)) else {
            return false;
        };
        let mut at = off;
        while at + 12 <= off + size {
            let (Some(namesz), Some(descsz), Some(kind)) =
                (u32_at(at), u32_at(at + 4), u32_at(at + 8))
            else {
                return false;
            };
            let (namesz, descsz) = (namesz as usize, descsz as usize);
            if kind == 18 && elf.get(at + 12..at + 16) == Some(b"Xen\0") {
                return true;
            }
            at += 12 + namesz.div_ceil(4) * 4 + descsz.div_ceil(4) * 4;
        }
        false
    })
}

/// Module name as the kernel compares them (`-` and `_` are the same).
fn norm(name: &str) -> String {
    name.trim_end_matches(".ko").replace('-', "_")
}

/// [`MODULES`] and their dependencies, dependencies first, with parameters.
/// Modules built into the kernel (`modules.builtin`) are left out.
fn resolve_modules(moddir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut files = HashMap::new();
    let mut stack = vec![moddir.join("kernel")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if let Some(stem) = name.strip_suffix(".ko") {
                    files.insert(norm(stem), path.clone());
                } else if name.contains(".ko.") {
                    bail!("compressed kernel module {name}: busybox insmod cannot load it");
                }
            }
        }
    }
    let builtin: HashSet<String> = fs::read_to_string(moddir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .map(norm)
        .collect();

    struct Walk<'a> {
        files: &'a HashMap<String, PathBuf>,
        builtin: &'a HashSet<String>,
        seen: HashSet<String>,
        out: Vec<(PathBuf, String)>,
    }
    impl Walk<'_> {
        fn visit(&mut self, name: &str, params: &str) -> Result<()> {
            let name = norm(name);
            if !self.seen.insert(name.clone()) || self.builtin.contains(&name) {
                return Ok(());
            }
            let path = self
                .files
                .get(&name)
                .with_context(|| format!("kernel module {name} is neither a file nor built in"))?
                .clone();
            let bytes = fs::read(&path)?;
            for dep in modinfo(&bytes, "depends")
                .split(',')
                .filter(|d| !d.is_empty())
            {
                self.visit(dep, "")?;
            }
            self.out.push((path, params.to_string()));
            Ok(())
        }
    }
    let mut walk = Walk {
        files: &files,
        builtin: &builtin,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    for (name, params) in MODULES {
        walk.visit(name, params)?;
    }
    Ok(walk.out)
}

/// A `key=value` string from a module's `.modinfo` section (NUL-separated
/// strings); empty when absent.
fn modinfo(ko: &[u8], key: &str) -> String {
    let needle = format!("\0{key}=");
    ko.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .map(|at| {
            let rest = &ko[at + needle.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        })
        .unwrap_or_default()
}

/// Minimal writer of the `newc` cpio format the kernel unpacks as initramfs.
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            ino: 1,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> Result<()> {
        let size = u32::try_from(data.len()).context("file too large for cpio")?;
        let namesize = u32::try_from(name.len() + 1).context("name too long")?;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [
            self.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, namesize, 0,
        ];
        self.ino += 1;
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
        Ok(())
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.buf)
    }
}

/// True when the ELF file at `bytes` asks for a dynamic loader (PT_INTERP).
fn is_dynamic_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return true;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return true;
    };
    (0..usize::from(phnum)).any(|i| {
        let o = phoff + i * usize::from(phentsize);
        bytes.get(o..o + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

/// The initramfs: busybox, the init script, the modules.
fn build_initrd(kernel: &Kernel) -> Result<Vec<u8>> {
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
    let mods = kernel.dir.join("mods");
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

/// Boot the VM, run `script` (an absolute path on this machine) as root in
/// it, stream its output to stdout, and return its exit status.
///
/// # Errors
/// When qemu cannot start, the VM fails to set itself up, times out, or ends
/// without reporting the script's exit status. The boot log is included.
pub fn run_script(kernel: &Kernel, script: &Path, job: &JobDir) -> Result<VmRun> {
    if !script.is_absolute() || script.to_string_lossy().contains(char::is_whitespace) {
        bail!(
            "the VM script path must be absolute and without spaces: {}",
            script.display()
        );
    }
    let initrd = job.path.join("initrd.cpio");
    fs::write(&initrd, build_initrd(kernel)?)?;
    let status_file = job.path.join("status");
    fs::write(&status_file, "")?;
    let timeout = Duration::from_secs(env_u64("PHASORSYNC_VM_TIMEOUT", 1800)?);
    let mem = env_u64("PHASORSYNC_VM_MEM", 2048)?;
    let accel =
        std::env::var("PHASORSYNC_VM_ACCEL").unwrap_or_else(|_| "tcg,thread=multi".to_string());

    let started = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", &accel, "-smp", "2", "-m", &mem.to_string()])
        .args(["-nodefaults", "-no-reboot", "-display", "none"])
        .args(["-serial", "stdio", "-serial"])
        .arg(format!("file:{}", status_file.display()))
        .arg("-kernel")
        .arg(kernel.image())
        .arg("-initrd")
        .arg(&initrd)
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
        .context("starting qemu-system-x86_64 (package qemu-system-x86)")?;

    let stdout = child.stdout.take().context("qemu stdout")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_reads_a_field_between_nuls() {
        let ko = b"\x7fELF junk\0license=GPL\0depends=snd,snd-timer\0vermagic=6.1\0";
        assert_eq!(modinfo(ko, "depends"), "snd,snd-timer");
        assert_eq!(modinfo(ko, "license"), "GPL");
        assert_eq!(modinfo(ko, "alias"), "");
    }

    #[test]
    fn cpio_entries_are_aligned_and_terminated() {
        let mut c = Cpio::new();
        c.entry("init", 0o100755, (0, 0), b"#!/bin/sh\n").unwrap();
        let buf = c.finish().unwrap();
        assert!(buf.starts_with(b"070701"));
        assert_eq!(buf.len() % 4, 0);
        let trailer = buf.windows(10).position(|w| w == b"TRAILER!!!");
        assert!(trailer.is_some());
        // Header (110) + "init\0" padded to 116, then 10 bytes of data padded to 12.
        assert_eq!(&buf[116..126], b"#!/bin/sh\n");
    }

    #[test]
    fn this_xtask_binary_is_a_dynamic_elf() {
        let exe = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(is_dynamic_elf(&exe));
        assert!(is_dynamic_elf(b"not an elf"));
    }
}
