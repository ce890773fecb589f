//! The MIDI backends beneath the engine seam ([`crate::engine::MidiEngine`]).
//!
//! Each backend owns a thread that talks to the kernel: [`alsa_seq`] is the
//! private ALSA sequencer client; [`raw_midi`] opens one raw MIDI device
//! directly, with the kernel's byte timestamps. `chosen` runs the one the
//! user chose; `shared` holds what both threads use alike.

pub mod alsa_seq;
pub(crate) mod chosen;
pub mod raw_midi;
pub(crate) mod shared;
