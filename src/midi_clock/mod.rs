//! MIDI clock, both ways, as pure logic (no I/O, no allocation per block):
//! - [`ticks`]: out, from the host transport. Per audio block, the host's
//!   transport in, the clock messages (Timing Clock, Start, Continue, Stop,
//!   Song Position Pointer) out, each on its fractional sample; the CLAP glue
//!   turns the samples into `CLOCK_MONOTONIC` times with the
//!   [`crate::timeline`] and queues the messages on the output ring.
//! - [`follower`]: in, from an external sender. The kernel timestamps of its
//!   Clock, Start, Stop, Continue and Song Position Pointer messages become
//!   tempo, beat position and transport state.
//!
//! - [`transport`]: the host's transport as plain numbers, cut into
//!   stretches of a block; what [`ticks`] and [`phasor`] follow.
//! - [`phasor`]: the audio-rate ramp that follows the host's transport or
//!   the [`follower`].
//!
//! The plugin runs them on the audio thread: its clock out
//! (`plugin/audio_thread/to_hardware/clock_out.rs`) drives [`ticks`], its
//! clock in (`plugin/audio_thread/to_host/clock_in.rs`) feeds [`follower`],
//! and the processor renders the [`phasor`].

pub mod follower;
pub mod phasor;
pub mod ticks;
pub mod transport;
