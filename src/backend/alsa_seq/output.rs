//! The output path: `send()` → a preallocated byte queue → the sequencer thread,
//! which encodes the bytes into events (alsa's MIDI encoder) and either
//! schedules them on our queue at the requested monotonic time (converted to
//! queue time) or sends them directly when no time is given or it has passed.
//!
//! The sequencer handle belongs to the thread (alsa-lib handles are not
//! thread-safe), so `send()` only copies the bytes into the queue and wakes
//! the thread. Framing: `time_ns: u64 LE, len: u32 LE, bytes`.

use ringbuf::traits::{Consumer as _, Observer as _, Producer as _, Split as _};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::engine::EngineError;

const HEADER: usize = 12;

/// Default byte capacity of the output queue.
pub const DEFAULT_OUTPUT_BYTES: usize = 256 * 1024;

/// The engine's end.
pub struct OutputSender(HeapProd<u8>);

/// The thread's end.
pub struct OutputReceiver(HeapCons<u8>);

impl std::fmt::Debug for OutputSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputSender")
    }
}

impl std::fmt::Debug for OutputReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputReceiver")
    }
}

/// A queue holding `bytes` bytes of framed output.
pub fn output_queue(bytes: usize) -> (OutputSender, OutputReceiver) {
    let (p, c) = HeapRb::<u8>::new(bytes.max(HEADER + 1)).split();
    (OutputSender(p), OutputReceiver(c))
}

/// Checks that `bytes` look like complete MIDI messages: a status byte first,
/// and a SysEx closed by 0xF7.
///
/// # Errors
/// [`EngineError::InvalidMessage`] saying what is wrong.
pub fn validate(bytes: &[u8]) -> Result<(), EngineError> {
    let Some(&first) = bytes.first() else {
        return Err(EngineError::InvalidMessage("no bytes".into()));
    };
    if first < 0x80 {
        return Err(EngineError::InvalidMessage(format!(
            "starts with data byte {first:#04x} instead of a status byte"
        )));
    }
    if first == 0xF0 && bytes.last() != Some(&0xF7) {
        return Err(EngineError::InvalidMessage(
            "SysEx does not end with 0xF7".into(),
        ));
    }
    if bytes.len() > u32::MAX as usize {
        return Err(EngineError::InvalidMessage("too long".into()));
    }
    Ok(())
}

impl OutputSender {
    /// Queues one framed send.
    ///
    /// # Errors
    /// [`EngineError::OutputFull`] if the queue lacks room (nothing is queued).
    pub fn push(&mut self, time_ns: u64, bytes: &[u8]) -> Result<(), EngineError> {
        if self.0.vacant_len() < HEADER + bytes.len() {
            return Err(EngineError::OutputFull);
        }
        self.0.push_slice(&time_ns.to_le_bytes());
        self.0.push_slice(&(bytes.len() as u32).to_le_bytes());
        self.0.push_slice(bytes);
        Ok(())
    }
}

impl OutputReceiver {
    /// Takes the next framed send into `buf` (cleared first); its time.
    pub fn pop(&mut self, buf: &mut Vec<u8>) -> Option<u64> {
        if self.0.occupied_len() < HEADER {
            return None;
        }
        let mut head = [0u8; HEADER];
        self.0.pop_slice(&mut head);
        let mut t = [0u8; 8];
        t.copy_from_slice(&head[..8]);
        let mut l = [0u8; 4];
        l.copy_from_slice(&head[8..]);
        let len = u32::from_le_bytes(l) as usize;
        buf.clear();
        buf.resize(len, 0);
        // The producer pushes a frame whole before the thread is woken, so
        // the body is there.
        let got = self.0.pop_slice(buf);
        buf.truncate(got);
        Some(u64::from_le_bytes(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_full_is_refused() {
        let (mut tx, mut rx) = output_queue(40);
        tx.push(7, &[0x90, 60, 100]).unwrap();
        tx.push(0, &[0xF0, 1, 2, 3, 0xF7]).unwrap();
        assert_eq!(tx.push(0, &[0xF8; 20]), Err(EngineError::OutputFull));
        let mut b = Vec::new();
        assert_eq!(rx.pop(&mut b), Some(7));
        assert_eq!(b, [0x90, 60, 100]);
        assert_eq!(rx.pop(&mut b), Some(0));
        assert_eq!(b, [0xF0, 1, 2, 3, 0xF7]);
        assert_eq!(rx.pop(&mut b), None);
    }

    #[test]
    fn validation() {
        assert!(validate(&[0x90, 1, 2]).is_ok());
        assert!(validate(&[]).is_err());
        assert!(validate(&[0x10]).is_err());
        assert!(validate(&[0xF0, 1]).is_err());
    }
}
