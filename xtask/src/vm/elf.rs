//! The two questions the VM asks of ELF files (64-bit little-endian only):
//! does this kernel have a PVH entry point, does this busybox need a loader.

/// Little-endian reads at offsets of an ELF image; `None` past its end.
struct Elf<'a>(&'a [u8]);

impl Elf<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.0.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<usize> {
        self.bytes(at).map(u16::from_le_bytes).map(usize::from)
    }

    fn u32(&self, at: usize) -> Option<u32> {
        self.bytes(at).map(u32::from_le_bytes)
    }

    fn u64(&self, at: usize) -> Option<usize> {
        self.bytes(at)
            .map(u64::from_le_bytes)
            .and_then(|v| usize::try_from(v).ok())
    }

    /// Offsets of the program headers whose type is `kind`; `None` when the
    /// header table cannot be read.
    fn program_headers(&self, kind: u32) -> Option<Vec<usize>> {
        let (phoff, phentsize, phnum) = (self.u64(0x20)?, self.u16(0x36)?, self.u16(0x38)?);
        Some(
            (0..phnum)
                .map(|i| phoff + i * phentsize)
                .filter(|&ph| self.u32(ph) == Some(kind))
                .collect(),
        )
    }
}

/// `PT_INTERP`: the program asks for a dynamic loader.
const PT_INTERP: u32 = 3;
/// `PT_NOTE`: a segment of notes.
const PT_NOTE: u32 = 4;
/// `XEN_ELFNOTE_PHYS32_ENTRY`: the PVH entry point qemu boots a vmlinux by.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// True when `elf` (ELF64 little-endian) has a `Xen` note of type 18
/// (XEN_ELFNOTE_PHYS32_ENTRY), the entry point qemu uses to boot a vmlinux.
pub fn has_pvh_note(elf: &[u8]) -> bool {
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let elf = Elf(elf);
    let Some(notes) = elf.program_headers(PT_NOTE) else {
        return false;
    };
    notes.into_iter().any(|ph| {
        let (Some(off), Some(size)) = (elf.u64(ph + 8), elf.u64(ph + 32)) else {
            return false;
        };
        let mut at = off;
        while at + 12 <= off + size {
            let (Some(namesz), Some(descsz), Some(kind)) =
                (elf.u32(at), elf.u32(at + 4), elf.u32(at + 8))
            else {
                return false;
            };
            let (namesz, descsz) = (namesz as usize, descsz as usize);
            if kind == XEN_ELFNOTE_PHYS32_ENTRY && elf.0.get(at + 12..at + 16) == Some(b"Xen\0") {
                return true;
            }
            at += 12 + namesz.div_ceil(4) * 4 + descsz.div_ceil(4) * 4;
        }
        false
    })
}

/// True when the ELF file at `bytes` asks for a dynamic loader (PT_INTERP),
/// or cannot be read as an ELF at all.
pub fn is_dynamic_elf(bytes: &[u8]) -> bool {
    Elf(bytes)
        .program_headers(PT_INTERP)
        .is_none_or(|interp| !interp.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_xtask_binary_is_a_dynamic_elf() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(is_dynamic_elf(&exe));
        assert!(is_dynamic_elf(b"not an elf"));
        assert!(!has_pvh_note(&exe));
    }
}
