//! Against the Linux kernel's sequencer: every test here needs
//! `/dev/snd/seq` (with the virmidi and Midi Through clients) and is
//! `#[ignore]`d, so a plain `cargo test` lists it without running it.
//! `cargo xtask test` runs them, each test in its own process, natively
//! or in the project's qemu VM; `cargo xtask test --kernel-only -- NAME`
//! runs those whose name contains NAME. External clients nobody here wrote
//! (`aplaymidi`, `amidi`, `aconnect`, `aseqdump`, Qtractor) drive them.
//!
//! One binary per tier, so the crate is linked once per tier; one file per
//! behaviour checked. Shared support lives in `tests/support/`.

/// A small CLAP host that loads the plugin.
#[path = "../support/clap_host/mod.rs"]
mod clap_host;
/// The kernel rig: sequencer guard, external tools, receiver, paced host, figures.
#[path = "../support/common/mod.rs"]
mod common;
/// A drum machine that follows the MIDI spec to the letter.
#[path = "../support/strict_slave/mod.rs"]
mod strict_slave;

mod client;
mod clock_in;
mod clock_loop;
mod clock_out;
mod connect;
mod input;
mod losses;
mod output;
mod output_faults;
mod patchbay;
mod placement;
mod priority;
mod qtractor;
mod raw_midi;
mod realtime;
mod recovery;
mod smoke;
mod stuck_notes;
mod sysex_pacing;
mod timer;
mod unplug;
