//! MIDI clock out from the host transport.
//!
//! [`ticks`] is the pure part: per audio block, the host's transport in, the
//! clock messages (Timing Clock, Start, Continue, Stop, Song Position Pointer)
//! out, each on its fractional sample. It does no I/O; the CLAP glue turns
//! the samples into `CLOCK_MONOTONIC` times with the [`crate::timeline`] and
//! queues the messages on the output ring.

pub mod ticks;
