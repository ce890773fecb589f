//! PhasorSync: a JACK-free CLAP plugin for Linux that brings hardware MIDI
//! into the DAW through its own ALSA sequencer client, sample-accurately.
//!
//! The path of one MIDI message, by module:
//! kernel sequencer → [`alsa`] (the sequencer thread) → [`protocol`] (bytes to
//! [`protocol::MidiMessage`]) → [`ring`] (the lock-free SPSC hand-off) →
//! [`plugin`] (`process()`, which places it on its sample) → the host.
//! [`engine`] is the seam between the ALSA thread and everything above it.

pub mod backend;
pub mod engine;
mod entry;
pub mod plugin;
pub mod protocol;
pub mod ring;
pub mod timeline;
