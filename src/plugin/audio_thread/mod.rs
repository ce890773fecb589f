//! The plugin's audio thread: [`processor`] owns the block's timeline and
//! hands it to one room per destination: `to_host` (hardware MIDI in, the
//! clock follower, the host's own events passed through, the host's event
//! queue) and [`to_hardware`] (the host's MIDI and the MIDI clock, into the
//! output ring). The block's SysEx arena, the audio thread's counters and
//! the reading of the host's transport serve both.

pub(crate) mod arena;
pub(crate) mod arrivals;
pub(crate) mod counters;
pub mod histogram;
pub(crate) mod latency;
pub mod processor;
pub mod to_hardware;
pub(crate) mod to_host;
pub(crate) mod transport_events;
