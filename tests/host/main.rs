//! The bundled plugin as a DAW loads it: `target/bundled/PhasorSync.clap`
//! opened through `clack-host` (build it first with
//! `cargo xtask bundle phasorsync --release`; `cargo xtask test` does), with
//! its lifecycle, malformed host structs, settings and state, and its window
//! on a real X server (Xvfb).
//!
//! One binary per tier, so the crate is linked once per tier; one file per
//! behaviour checked. Shared support lives in `tests/support/`.

/// A small CLAP host that loads the plugin.
#[path = "../support/clap_host/mod.rs"]
mod clap_host;
/// A real X server (Xvfb) and the test's own connection to it.
#[path = "../support/x_server/mod.rs"]
mod x_server;

mod lifecycle;
mod malformed;
mod settings;
mod window;
