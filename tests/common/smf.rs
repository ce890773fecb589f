//! A format-0 Standard MIDI File writer, for `aplaymidi` to play.

use std::path::PathBuf;

use super::temp::temp_path;

/// A format-0 Standard MIDI File for `aplaymidi`, built in memory.
///
/// `Smf::new()` uses 500 ticks per quarter at 500 000 µs per quarter, so
/// **one tick is one millisecond** and deltas are in ms.
#[derive(Clone, Debug)]
pub struct Smf {
    ppq: u16,
    track: Vec<u8>,
}

impl Default for Smf {
    fn default() -> Self {
        Self::new()
    }
}

impl Smf {
    /// An empty file with 1 tick = 1 ms (tempo event at tick 0 included).
    pub fn new() -> Self {
        let mut smf = Self {
            ppq: 500,
            track: Vec::new(),
        };
        smf.meta(0, 0x51, &500_000u32.to_be_bytes()[1..]);
        smf
    }

    /// Append a channel or system-common/realtime message `delta` ticks
    /// after the previous event (full status bytes, no running status).
    pub fn event(&mut self, delta: u32, bytes: &[u8]) -> &mut Self {
        assert!(
            bytes
                .first()
                .is_some_and(|&b| b >= 0x80 && b != 0xF0 && b != 0xFF),
            "Smf::event takes a message starting with a status byte (use sysex/meta)"
        );
        push_varlen(&mut self.track, delta);
        self.track.extend_from_slice(bytes);
        self
    }

    /// Append a complete SysEx, `F0 ... F7` as it goes on the wire.
    pub fn sysex(&mut self, delta: u32, message: &[u8]) -> &mut Self {
        assert!(
            message.len() >= 2 && message[0] == 0xF0 && message[message.len() - 1] == 0xF7,
            "Smf::sysex takes a whole message F0 ... F7"
        );
        let body = &message[1..];
        push_varlen(&mut self.track, delta);
        self.track.push(0xF0);
        push_varlen(
            &mut self.track,
            u32::try_from(body.len()).expect("SysEx < 4 GiB"),
        );
        self.track.extend_from_slice(body);
        self
    }

    /// Append bytes sent as they are: an "escape" event (`F7 len bytes`),
    /// the only way an SMF carries real-time and system common messages
    /// (`F8` Clock, `FA` Start, `F2` Song Position…). `aplaymidi` sends it as
    /// a SysEx event holding exactly these bytes.
    pub fn escaped(&mut self, delta: u32, bytes: &[u8]) -> &mut Self {
        assert!(!bytes.is_empty(), "Smf::escaped takes at least one byte");
        push_varlen(&mut self.track, delta);
        self.track.push(0xF7);
        push_varlen(
            &mut self.track,
            u32::try_from(bytes.len()).expect("escape < 4 GiB"),
        );
        self.track.extend_from_slice(bytes);
        self
    }

    /// Append a meta event (`FF type len data`).
    pub fn meta(&mut self, delta: u32, kind: u8, data: &[u8]) -> &mut Self {
        push_varlen(&mut self.track, delta);
        self.track.extend_from_slice(&[0xFF, kind]);
        push_varlen(
            &mut self.track,
            u32::try_from(data.len()).expect("meta < 4 GiB"),
        );
        self.track.extend_from_slice(data);
        self
    }

    /// The file's bytes (header, the track, end-of-track).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut track = self.track.clone();
        track.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
        let mut out = Vec::with_capacity(track.len() + 22);
        out.extend_from_slice(b"MThd");
        out.extend_from_slice(&6u32.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes()); // format 0
        out.extend_from_slice(&1u16.to_be_bytes()); // one track
        out.extend_from_slice(&self.ppq.to_be_bytes());
        out.extend_from_slice(b"MTrk");
        let len = u32::try_from(track.len()).expect("track < 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&track);
        out
    }

    /// Write the file to a fresh temp path and return it.
    pub fn write_temp(&self) -> PathBuf {
        let path = temp_path("test.mid");
        std::fs::write(&path, self.to_bytes()).expect("writing the .mid file");
        path
    }
}

/// Append `v` as a MIDI variable-length quantity (7 bits a byte, high bit
/// set on all but the last).
pub fn push_varlen(out: &mut Vec<u8>, v: u32) {
    assert!(v < 1 << 28, "MIDI variable-length values stop at 2^28");
    let mut shift = 21;
    while shift > 0 && v >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        out.push(0x80 | ((v >> shift) & 0x7F) as u8);
        shift -= 7;
    }
    out.push((v & 0x7F) as u8);
}
