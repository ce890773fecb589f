//! The host's transport, as plain numbers, stretch by stretch.
//!
//! Everything that follows the song (MIDI clock out, the phasor) walks the
//! block in [`Stretch`]es: the samples from one transport to the next, each
//! with the transport in force at its first sample. Within a stretch the
//! tempo ramps linearly by `tempo_inc`. The plugin reads them from the
//! host's CLAP transport once per block.

use super::ticks::Transport;

/// What the host says about the song at one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostTransport {
    /// Play state, position, tempo, ramp and loop, as the clock needs them.
    /// A host without a tempo gives `tempo_bpm = NaN`, which every user
    /// treats as "no valid tempo".
    pub song: Transport,
    /// Where the current bar started, in beats.
    pub bar_start_beats: f64,
    /// Beats (quarter notes) per bar: 4 when the host gives no valid time
    /// signature.
    pub beats_per_bar: f64,
}

/// Samples `start..end` of a block, all under one transport.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stretch {
    /// First sample (block-relative).
    pub start: u32,
    /// One past the last sample.
    pub end: u32,
    /// The transport at `start`; `None` when the host gave none (or none
    /// with a song position).
    pub transport: Option<HostTransport>,
}

impl Stretch {
    /// Its length in samples.
    pub fn frames(&self) -> u32 {
        self.end - self.start
    }
}
