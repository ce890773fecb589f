//! The block's SysEx storage. The host may read a SysEx event's bytes until
//! `process()` returns, so every SysEx the plugin outputs (from the hardware,
//! or the host's own, forwarded) is copied here; the space is reused only in
//! the next block. Its length is fixed at activation, and its pages are
//! touched there, so `process()` takes no page fault on it.

/// See the module docs.
#[derive(Debug)]
pub struct Arena {
    bytes: Box<[u8]>,
    used: usize,
}

impl Arena {
    /// `len` bytes, allocated and touched now (on the main thread).
    pub fn new(len: usize) -> Self {
        let mut bytes = vec![0u8; len].into_boxed_slice();
        // A zeroed allocation may be mapped lazily (calloc).
        crate::ring::prefault_bytes(&mut bytes);
        Self { bytes, used: 0 }
    }

    /// A new block: all space is free again.
    ///
    /// # Realtime Safety
    /// One store.
    #[inline]
    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// The free space, to be filled and then claimed with [`Self::claim`].
    #[inline]
    pub fn free(&mut self) -> &mut [u8] {
        &mut self.bytes[self.used..]
    }

    /// Claim the first `len` free bytes (just written through
    /// [`Self::free`]); they stay unchanged until [`Self::clear`].
    #[inline]
    pub fn claim(&mut self, len: usize) -> &[u8] {
        let start = self.used;
        self.used = (start + len).min(self.bytes.len());
        &self.bytes[start..self.used]
    }

    /// Copy `payload` in, or `None` when it does not fit.
    #[inline]
    pub fn copy(&mut self, payload: &[u8]) -> Option<&[u8]> {
        let free = self.free();
        let dst = free.get_mut(..payload.len())?;
        dst.copy_from_slice(payload);
        Some(self.claim(payload.len()))
    }
}
