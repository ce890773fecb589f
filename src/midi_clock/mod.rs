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
//! The plugin runs both on the audio thread: `plugin/clock_out.rs` drives
//! [`ticks`], `plugin/clock_in.rs` feeds [`follower`] (and `plugin/phasor.rs`
//! reads it).

pub mod follower;
pub mod ticks;
