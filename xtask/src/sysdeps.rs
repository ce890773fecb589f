//! System packages the build and the tests need, checked before anything runs.
//!
//! On Debian/Ubuntu as root, missing packages are installed with apt-get;
//! otherwise the command stops and prints the exact command to run.

use anyhow::{bail, Context};
use std::process::Command;

/// A Debian package and a file whose presence shows it is installed.
pub struct Dep {
    /// Debian package name.
    pub package: &'static str,
    /// A path that exists once the package is installed.
    pub probe: &'static str,
}

/// What `cargo build` of the plugin needs: the `alsa-sys` crate links libasound
/// through pkg-config.
pub const BUILD: &[Dep] = &[
    Dep {
        package: "pkg-config",
        probe: "/usr/bin/pkg-config",
    },
    Dep {
        package: "libasound2-dev",
        probe: "/usr/include/alsa/asoundlib.h",
    },
];

/// What the kernel tests need wherever they run (natively or in the VM): the
/// external ALSA clients they drive (`aconnect`, `amidi`, `aplaymidi`,
/// `aseqdump`), and the DAW of `tests/kernel/qtractor.rs` (Qtractor, on
/// JACK's dummy backend); and the X server the plugin window's tests start
/// (`tests/support/x_server/`: Xvfb).
pub const TEST: &[Dep] = &[
    Dep {
        package: "alsa-utils",
        probe: "/usr/bin/aseqdump",
    },
    Dep {
        package: "qtractor",
        probe: "/usr/bin/qtractor",
    },
    Dep {
        package: "jackd2",
        probe: "/usr/bin/jackd",
    },
    Dep {
        package: "xvfb",
        probe: "/usr/bin/Xvfb",
    },
];

/// What `cargo xtask bench`'s peers figures need (`benches/peers/`), on
/// top of [`TEST`]: PipeWire 0.3 (`pipewire-bin`: the daemon and the
/// packaged `minimal.conf`), its ALSA sequencer bridge (`libspa-0.2-modules`)
/// and its JACK library (`pw-jack`), a2jmidid, and the JACK headers and a C compiler for the small
/// JACK client that reads both (`xtask/jack/peer_client.c`).
pub const BENCH: &[Dep] = &[
    Dep {
        package: "pipewire-bin",
        probe: "/usr/bin/pipewire",
    },
    Dep {
        package: "libspa-0.2-modules",
        probe: "/usr/lib/x86_64-linux-gnu/spa-0.2/alsa/libspa-alsa.so",
    },
    Dep {
        package: "pipewire-jack",
        probe: "/usr/bin/pw-jack",
    },
    Dep {
        package: "a2jmidid",
        probe: "/usr/bin/a2jmidid",
    },
    Dep {
        package: "libjack-jackd2-dev",
        probe: "/usr/include/jack/jack.h",
    },
    Dep {
        package: "gcc",
        probe: "/usr/bin/gcc",
    },
];

/// What the kernel-test VM needs (only where there is no `/dev/snd/seq`):
/// qemu, and a static busybox for its initramfs. The kernel itself comes
/// from `apt-get download` (see `vm/kernel.rs`).
pub const VM: &[Dep] = &[
    Dep {
        package: "qemu-system-x86",
        probe: "/usr/bin/qemu-system-x86_64",
    },
    Dep {
        package: "busybox-static",
        probe: "/bin/busybox",
    },
];

/// True when running as root (`id -u` is 0).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Make sure every dep is installed, installing the missing ones when we can.
pub fn ensure(deps: &[Dep]) -> anyhow::Result<()> {
    let missing: Vec<&str> = deps
        .iter()
        .filter(|d| !std::path::Path::new(d.probe).exists())
        .map(|d| d.package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    let is_root = is_root();
    let has_apt = std::path::Path::new("/usr/bin/apt-get").exists();
    if !(is_root && has_apt) {
        bail!(
            "missing system packages: {list}\n\
             install them with:\n    sudo apt-get install -y {list}\n\
             (or your distribution's equivalents), then run this command again"
        );
    }
    eprintln!("xtask: installing missing system packages: {list}");
    apt_update().with_context(|| format!("install by hand: apt-get install -y {list}"))?;
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get install")?;
    if !status.success() {
        bail!("apt-get install {list} failed; install them by hand and run again");
    }
    Ok(())
}

/// `apt-get update` (root only), so that apt knows the current packages.
///
/// # Errors
/// When apt-get cannot run or fails.
pub fn apt_update() -> anyhow::Result<()> {
    let update = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .context("running apt-get update")?;
    if !update.success() {
        bail!("apt-get update failed ({update})");
    }
    Ok(())
}
