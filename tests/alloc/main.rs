//! The realtime rules' allocation and page-fault checks, on their own
//! because this binary installs a counting global allocator (it counts per
//! thread, only while a test opts in; `ALLOC_TRACE=1` prints where each
//! counted call came from).
//!
//! One binary per tier, so the crate is linked once per tier; one file per
//! behaviour checked. Shared support lives in `tests/support/`.

/// The counting global allocator.
#[path = "../support/alloc_counter/mod.rs"]
mod alloc_counter;
/// A small CLAP host that loads the plugin.
#[path = "../support/clap_host/mod.rs"]
mod clap_host;
/// Synthetic MIDI clock streams and their statistics.
#[path = "../support/clock_streams/mod.rs"]
mod clock_streams;
/// The kernel rig: sequencer guard, external tools, receiver, paced host, figures.
#[path = "../support/common/mod.rs"]
mod common;
/// A real X server (Xvfb) and the test's own connection to it.
#[path = "../support/x_server/mod.rs"]
mod x_server;

mod clock_follower;
mod output_ring;
mod parser;
mod process;
mod ring;
