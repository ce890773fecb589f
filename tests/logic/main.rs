//! Pure logic: the ring, the MIDI protocol, the clock map, the MIDI clock
//! follower and tick scheduler, the phasor and the window's drawing, with no
//! plugin instance, no engine and no kernel. Fast; `cargo test --test logic`.
//!
//! One binary per tier, so the crate is linked once per tier; one file per
//! behaviour checked. Shared support lives in `tests/support/`.

/// Synthetic MIDI clock streams and their statistics.
#[path = "../support/clock_streams/mod.rs"]
mod clock_streams;
/// The kernel rig: sequencer guard, external tools, receiver, paced host, figures.
#[path = "../support/common/mod.rs"]
mod common;
/// A drum machine that follows the MIDI spec to the letter.
#[path = "../support/strict_slave/mod.rs"]
mod strict_slave;

mod clock_figures;
mod clock_follower;
mod clock_map_props;
mod clock_map_sim;
mod clock_map_vs_dll;
mod clock_ticks;
mod midi_message;
mod parser;
mod parser_props;
mod phasor;
mod ring_api;
mod ring_model;
mod ring_threads;
mod window_screenshot;
