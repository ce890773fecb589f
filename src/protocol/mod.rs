//! The MIDI protocol layer: message type and byte-stream parser. Pure: no I/O.

pub mod held_notes;
pub mod message;
pub mod parser;

pub use held_notes::HeldNotes;
pub use message::{status, DecodeError, MidiEvent, MidiMessage};
pub use parser::{Parser, ParserConfig, ParserStats, DEFAULT_MAX_SYSEX};
