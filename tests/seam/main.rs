//! Above the engine seam: the plugin in-process through clack's C ABI
//! wrappers, driven by a test host, with the hand-driven `ManualEngine` or
//! `mockall`'s mock in place of the ALSA thread (feature `test-mock`).
//! `cargo test --features test-mock --test seam`.
//!
//! One binary per tier, so the crate is linked once per tier; one file per
//! behaviour checked. Shared support lives in `tests/support/`.

/// A small CLAP host that loads the plugin.
#[path = "../support/clap_host/mod.rs"]
mod clap_host;
/// Synthetic MIDI clock streams and their statistics.
#[path = "../support/clock_streams/mod.rs"]
mod clock_streams;
/// The kernel rig: sequencer guard, external tools, receiver, paced host, figures.
#[path = "../support/common/mod.rs"]
mod common;
/// The plugin in-process with the hand-driven engine, for the output tests.
#[path = "../support/out_rig/mod.rs"]
mod out_rig;
/// A real X server (Xvfb) and the test's own connection to it.
#[path = "../support/x_server/mod.rs"]
mod x_server;

mod auto_latency;
mod clock_in_phasor;
mod clock_out;
mod engine_calls;
mod hardware_out;
mod loss_report;
mod panic_boundary;
mod process_rules;
mod report_once;
mod stale_on_resume;
mod window_devices;
mod window_params;
