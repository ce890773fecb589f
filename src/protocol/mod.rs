//! The MIDI protocol layer: message type and byte-stream parser. Pure: no I/O.

pub mod message;

pub use message::{MidiEvent, MidiMessage};
