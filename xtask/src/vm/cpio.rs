//! A minimal writer of the `newc` cpio format the kernel unpacks as initramfs.

use anyhow::{Context, Result};

/// An archive being written, in memory.
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            ino: 1,
        }
    }

    /// Append one entry: `mode` holds the file type bits, `rdev` the
    /// (major, minor) of a device node.
    ///
    /// # Errors
    /// When `data` or `name` is too long for the format.
    pub fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> Result<()> {
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

    /// The archive's bytes, with its trailer.
    ///
    /// # Errors
    /// Never in practice (the trailer is small); kept for [`Cpio::entry`]'s.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
