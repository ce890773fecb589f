//! The MIDI backends beneath the engine seam ([`crate::engine::MidiEngine`]).
//!
//! Each backend owns a thread that talks to the kernel: [`alsa_seq`] is the
//! private ALSA sequencer client; a raw MIDI backend would sit beside it.

pub mod alsa_seq;
