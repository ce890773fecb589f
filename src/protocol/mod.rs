//! The MIDI protocol layer: message type and byte-stream parser. Pure: no I/O.

pub mod message;
pub mod parser;

pub use message::{status, DecodeError, MidiEvent, MidiMessage};
pub use parser::{Parser, ParserConfig, ParserStats, DEFAULT_MAX_SYSEX};
