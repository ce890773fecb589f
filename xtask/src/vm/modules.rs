//! Which kernel modules the VM loads, and in what order: [`MODULES`] and
//! their dependencies, read from the modules' own `.modinfo`.

use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules the VM loads (each after its dependencies), with their parameters.
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

/// Module name as the kernel compares them (`-` and `_` are the same).
fn norm(name: &str) -> String {
    name.trim_end_matches(".ko").replace('-', "_")
}

/// [`MODULES`] and their dependencies under `moddir` (a
/// `lib/modules/<version>`), dependencies first, with parameters. Modules
/// built into the kernel (`modules.builtin`) are left out.
///
/// # Errors
/// When a module is neither a file nor built in, or is compressed (busybox
/// `insmod` cannot load those).
pub fn resolve(moddir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut walk = Walk {
        files: module_files(moddir)?,
        builtin: fs::read_to_string(moddir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next())
            .map(norm)
            .collect(),
        seen: HashSet::new(),
        out: Vec::new(),
    };
    for (name, params) in MODULES {
        walk.visit(name, params)?;
    }
    Ok(walk.out)
}

/// Every `.ko` below `moddir/kernel`, by normalised name.
fn module_files(moddir: &Path) -> Result<HashMap<String, PathBuf>> {
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
    Ok(files)
}

/// A depth-first walk of the dependencies, each module once.
struct Walk {
    files: HashMap<String, PathBuf>,
    builtin: HashSet<String>,
    seen: HashSet<String>,
    out: Vec<(PathBuf, String)>,
}

impl Walk {
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
    fn names_compare_as_the_kernel_does() {
        assert_eq!(norm("snd-seq-dummy.ko"), "snd_seq_dummy");
        assert_eq!(norm("9pnet_virtio"), "9pnet_virtio");
    }
}
