//! The lock-free SPSC ring that carries [`crate::protocol::MidiMessage`]s from
//! the sequencer thread to the audio thread.
