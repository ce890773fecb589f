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
        Self::with_timing(500, 500_000)
    }

    /// An empty file with `ppq` ticks per quarter note at `tempo_us` µs per
    /// quarter (tempo event at tick 0 included): `with_timing(24, 500_000)`
    /// has one file tick per MIDI clock at 120 BPM.
    pub fn with_timing(ppq: u16, tempo_us: u32) -> Self {
        assert!(
            ppq > 0 && ppq < 0x8000,
            "ppq is 1..=32767 (bit 15 is SMPTE)"
        );
        assert!(tempo_us < 1 << 24, "the tempo meta event has 3 bytes");
        let mut smf = Self {
            ppq,
            track: Vec::new(),
        };
        smf.meta(0, 0x51, &tempo_us.to_be_bytes()[1..]);
        smf
    }

    /// Append bytes sent as they are: an "escape" event (`F7 len bytes`),
    /// the only way an SMF carries real-time messages (`F8` Clock, `FA`
    /// Start, `FC` Stop…), which have no status of their own in a file.
    /// `aplaymidi` reads it as a SysEx event holding exactly these bytes, and
    /// a receiver decodes it back to them.
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

    /// Append a channel message `delta` ticks after the previous event
    /// (full status byte, no running status).
    pub fn event(&mut self, delta: u32, bytes: &[u8]) -> &mut Self {
        assert!(
            bytes.first().is_some_and(|&b| (0x80..0xF0).contains(&b)),
            // A system status in a file is invalid (aplaymidi refuses it):
            // SMF sends those through the F7 escape.
            "Smf::event takes a channel message (use sysex, escaped or meta)"
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

/// Samples per file tick of [`smf_at_48k`].
pub const SAMPLES_PER_FILE_TICK: f64 = 10.0;

/// A file of `events` (`(sample, bytes)`, in order), one file tick per 10
/// samples at 48 kHz (`ppq` 2 400 at 500 000 µs per quarter), shifted so the
/// first event is 50 ms in: what `aplaymidi` plays as the kernel's
/// scheduled floor for the same stream. Event times are rounded to the
/// file tick ([`file_sample`] gives the sample a time became). Channel
/// messages are written as such, everything else (real-time, SPP) through
/// the F7 escape.
///
/// Why 10 samples: the kernel keeps a tick queue's tick length in whole ns
/// (`tempo·1000/ppq`); a tick of one sample (20 833.33 ns) would make the
/// file's clock run 16 ppm fast, one of 10 samples (208 333.33 ns) 1.6 ppm.
///
/// # Panics
/// When the events are not in order.
pub fn smf_at_48k(events: &[(f64, Vec<u8>)]) -> Smf {
    let mut smf = Smf::with_timing(2_400, 500_000);
    let Some(first) = events.first() else {
        return smf;
    };
    let tick = |s: f64| (s / SAMPLES_PER_FILE_TICK).round() as i64;
    let shift = tick(first.0) - 240;
    let mut now = 0i64;
    for (at, bytes) in events {
        let t = tick(*at) - shift;
        assert!(t >= now, "smf_at_48k takes events in order");
        let delta = u32::try_from(t - now).expect("delta fits");
        if (0x80..0xF0).contains(&bytes[0]) {
            smf.event(delta, bytes);
        } else {
            smf.escaped(delta, bytes);
        }
        now = t;
    }
    smf
}

/// The sample an event at `sample` is played at by [`smf_at_48k`]'s file
/// (before the shift): rounded to the file tick.
pub fn file_sample(sample: f64) -> f64 {
    (sample / SAMPLES_PER_FILE_TICK).round() * SAMPLES_PER_FILE_TICK
}
