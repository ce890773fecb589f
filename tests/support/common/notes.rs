//! The placement note file: 120 irregular notes that `tests/kernel/placement.rs`
//! plays into PhasorSync and `benches/peers/` into PipeWire's sequencer
//! bridge and a2jmidid, so every placement figure comes from the same notes.

use std::path::PathBuf;

use super::smf::Smf;

/// How many notes the file holds.
pub const PLACEMENT_NOTES: usize = 120;

/// The sender's schedule: note-on times in ms, irregular on purpose (a
/// deterministic walk through 7..=61 ms gaps, none a multiple of a block).
pub fn placement_schedule() -> Vec<u32> {
    let mut t = 0u32;
    let mut x = 0x2545_F491u32;
    (0..PLACEMENT_NOTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            t += 7 + x % 55;
            t
        })
        .collect()
}

/// Key of the i-th note: distinct within any 60 consecutive notes, so notes
/// can be paired between a receiver's output and the probe by key.
pub fn placement_key(i: usize) -> u8 {
    36 + (i % 60) as u8
}

/// The schedule as a Standard MIDI File (in the temp directory): each note
/// on at its time, its note off 3 ms later (before the next note).
pub fn placement_file(times: &[u32]) -> PathBuf {
    let mut smf = Smf::new();
    let mut now = 0;
    for (i, &t) in times.iter().enumerate() {
        smf.event(t - now, &[0x90, placement_key(i), 100]);
        smf.event(3, &[0x80, placement_key(i), 0]);
        now = t + 3;
    }
    smf.write_temp()
}
