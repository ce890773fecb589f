//! PhasorSync: a JACK-free CLAP plugin for Linux that brings hardware MIDI
//! into the DAW through its own ALSA sequencer client, sample-accurately,
//! sends the DAW's MIDI and MIDI clock back out, scheduled at exact times,
//! and follows the hardware's MIDI clock with an audio-rate phasor.
//!
//! How one message travels, by module:
//! - **in**: kernel sequencer → [`backend::alsa_seq`] (the MIDI thread:
//!   `thread/`, timestamps via `queue_time.rs`) → [`engine::sink`] →
//!   [`protocol`] (bytes to [`protocol::MidiMessage`]) → [`ring`] (input) →
//!   [`plugin`] `midi_in.rs` in `process()`, placed on its sample by the
//!   [`timeline`] → the host; MIDI clock also feeds `clock_in.rs`
//!   ([`midi_clock::follower`]), which `phasor.rs` reads for the audio output.
//! - **out**: the host → [`plugin`] `midi_out.rs` in `process()`, stamped
//!   with its `CLOCK_MONOTONIC` time by the [`timeline`] (and the host's
//!   transport → `clock_out.rs`, [`midi_clock::ticks`]) → [`ring`] (output)
//!   → [`backend::alsa_seq`] `output.rs` on the MIDI thread → scheduled on
//!   the sequencer queue → the hardware.
//!
//! [`engine`] is the seam between a backend's MIDI thread and the plugin
//! (with the one news channel, [`engine::News`], that carries counters and log
//! lines up to the main thread); [`plugin`] is all the CLAP glue.

pub mod backend;
pub mod engine;
pub mod midi_clock;
pub mod plugin;
pub mod protocol;
pub mod ring;
pub mod timeline;
