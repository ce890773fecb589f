//! To the hardware, on the audio thread: the host's events as MIDI
//! (`clap_to_midi`) and the MIDI clock worked out from the host's
//! transport (`clock_out`, with what it has sent ahead in `clock_sent`),
//! stamped with their departure times and pushed into the output ring
//! ([`output_ring`]), which the MIDI thread schedules on the hardware.

pub(crate) mod clap_to_midi;
pub(crate) mod clock_out;
pub(crate) mod clock_sent;
pub mod output_ring;
