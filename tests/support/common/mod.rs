//! Shared support for the integration tests and the ALSA latency bench, one
//! file per job:
//!
//! - [`guard`]: the kernel-sequencer guard (native or in the VM) and the
//!   virmidi devices;
//! - [`tool`]: running an external command under a timeout;
//! - [`aconnect`], [`amidi`], [`aplaymidi`], [`aseqdump`]: the alsa-utils
//!   clients the kernel tests drive;
//! - [`smf`]: a Standard MIDI File writer for `aplaymidi`; [`notes`]: the
//!   placement note file (120 irregular notes);
//! - [`source`]: the one sequencer client a test or bench makes to send from;
//! - [`engine`]: starting PhasorSync's ALSA engine and reading its ring;
//! - [`receiver`]: a timestamping receiving client (what `aseqdump` would
//!   see, with kernel delivery times on `CLOCK_MONOTONIC`);
//! - [`paced`]: a test host calling `process()` paced by real time, with a
//!   scripted transport; [`naive`]: the same clock and notes sent at each
//!   block's call, unscheduled (what a naive plugin does); [`figures`]:
//!   inter-tick error, drift and on-time error of what was received;
//!   [`floor`]: the same stream played by `aplaymidi`, the kernel's floor;
//! - [`wait`] and [`temp`]: waiting for a condition, temp file names;
//! - [`fixtures`]: example messages of every kind.
//!
//! Use it from a test file with `mod common;` (everything is re-exported
//! here); `benches/alsa_latency.rs` includes it with `#[path]`, the only way
//! a bench reaches a file outside `benches/` short of a separate crate.
//!
//! Kernel tests are marked `#[ignore = "needs a kernel sequencer: run with
//! cargo xtask test"]` (a plain `cargo test` lists them as ignored) and start
//! with [`require_sequencer`] and, when they use raw MIDI devices,
//! [`require_virmidi`]: both fail loudly, never skip. Every external command
//! runs under a timeout, so a hung tool fails the test instead of hanging
//! the VM.
// Every test binary compiles this whole tree and uses its own subset of
// the items and of the re-exports below.
#![allow(dead_code, unused_imports)]

pub mod aconnect;
pub mod amidi;
pub mod aplaymidi;
pub mod aseqdump;
pub mod engine;
pub mod figures;
pub mod fixtures;
pub mod floor;
pub mod guard;
pub mod naive;
pub mod notes;
pub mod paced;
pub mod receiver;
pub mod smf;
pub mod source;
pub mod temp;
pub mod tool;
pub mod wait;

pub use aconnect::*;
pub use amidi::*;
pub use aplaymidi::*;
pub use aseqdump::*;
pub use engine::*;
pub use figures::*;
pub use fixtures::*;
pub use floor::*;
pub use guard::*;
pub use naive::*;
pub use notes::*;
pub use paced::*;
pub use receiver::*;
pub use smf::*;
pub use source::*;
pub use temp::*;
pub use tool::*;
pub use wait::*;
