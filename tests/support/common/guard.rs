//! The guard every kernel test starts with: a usable kernel sequencer (here
//! or in the VM of `cargo xtask test`) and, for raw MIDI, its virmidi devices.
//! A missing part is a failure with what to do, never a skip.

use alsa::seq::Addr;

use super::aconnect::{aconnect_list, seq_clients};

/// Why the kernel tests are ignored by a plain `cargo test`.
pub const NEEDS_KERNEL: &str = "needs a kernel sequencer: run with cargo xtask test";

/// Panic, with what to do, unless `/dev/snd/seq` can be opened read-write.
///
/// # Panics
/// When there is no usable kernel sequencer.
pub fn require_sequencer() {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/snd/seq")
    {
        panic!(
            "this kernel test needs the kernel ALSA sequencer, but /dev/snd/seq cannot be \
             opened ({e}). Run the kernel tests with `cargo xtask test`: it runs them here \
             when the kernel has snd-seq, and otherwise in a qemu VM that has it."
        );
    }
}

/// One `snd-virmidi` device: a raw MIDI device (`hw:CARD,DEV`) whose other
/// end is a kernel sequencer client. Bytes written to the raw device come
/// out of the sequencer port as events (the kernel's own byte-to-event
/// encoder, as for a USB keyboard); events sent to the port can be read as
/// bytes from the raw device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Virmidi {
    /// ALSA card number.
    pub card: u32,
    /// Raw MIDI device number on the card.
    pub device: u32,
    /// Sequencer client number of the other end.
    pub client: u32,
    /// Sequencer port number of the other end.
    pub port: u32,
}

impl Virmidi {
    /// The raw device name for `amidi -p`, e.g. `hw:0,0`.
    pub fn raw(&self) -> String {
        format!("hw:{},{}", self.card, self.device)
    }

    /// The sequencer address for `aconnect`/`aseqdump -p`, e.g. `16:0`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.client, self.port)
    }

    /// The sequencer address as the `alsa` crate takes it.
    pub fn seq_addr(&self) -> Addr {
        Addr {
            client: self.client as i32,
            port: self.port as i32,
        }
    }
}

/// The virmidi devices the kernel has, found by their client names
/// ("Virtual Raw MIDI C-D"), in client order.
pub fn virmidi_devices() -> Vec<Virmidi> {
    seq_clients()
        .iter()
        .filter_map(|c| {
            let (card, device) = c.name.strip_prefix("Virtual Raw MIDI ")?.split_once('-')?;
            Some(Virmidi {
                card: card.parse().ok()?,
                device: device.parse().ok()?,
                client: c.id,
                port: c.ports.first()?.id,
            })
        })
        .collect()
}

/// At least `n` virmidi devices, or a panic saying how to get them.
///
/// # Panics
/// When the kernel has fewer than `n` virmidi devices.
pub fn require_virmidi(n: usize) -> Vec<Virmidi> {
    require_sequencer();
    let devs = virmidi_devices();
    assert!(
        devs.len() >= n,
        "this kernel test needs {n} snd-virmidi devices, found {} \
         (load them: sudo modprobe snd-virmidi midi_devs=2; `cargo xtask test` does it \
         in its VM). aconnect -l:\n{}",
        devs.len(),
        aconnect_list()
    );
    devs
}

/// The sequencer address of the virmidi device `hw:0,<dev>` ("VirMIDI 0-<dev>").
///
/// # Panics
/// When the kernel has no such device.
pub fn virmidi_addr(dev: u32) -> Addr {
    require_virmidi(dev as usize + 1)
        .into_iter()
        .find(|v| v.card == 0 && v.device == dev)
        .unwrap_or_else(|| {
            panic!(
                "no virmidi device hw:0,{dev}: is snd-virmidi loaded?\n{}",
                aconnect_list()
            )
        })
        .seq_addr()
}

/// JACK keeps its server state in /dev/shm; a minimal VM may not mount it:
/// mount a tmpfs there when nothing is mounted.
///
/// # Panics
/// When it is not mounted and mounting fails.
pub fn ensure_dev_shm() {
    let shm = std::path::Path::new("/dev/shm");
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.split(' ').nth(1) == Some("/dev/shm")))
        .unwrap_or(false);
    if mounted {
        return;
    }
    std::fs::create_dir_all(shm).expect("mkdir /dev/shm (JACK needs it)");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", "/dev/shm"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "/dev/shm is not mounted and mounting a tmpfs there failed: JACK needs it"
    );
}
