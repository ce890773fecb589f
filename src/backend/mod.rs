//! The MIDI backends beneath the engine seam ([`crate::engine::MidiEngine`]).
//!
//! Each backend owns a thread that talks to the kernel: [`alsa_seq`] is the
//! private ALSA sequencer client; [`raw_midi`] opens one raw MIDI device
//! directly, with the kernel's byte timestamps.

pub mod alsa_seq;
pub mod raw_midi;
