//! The plugin's main thread: the MIDI engine's slot (created, started and
//! stopped here), what the user set (settings, saved state, the patterns a
//! click in the window edits), and the reports and log lines that make
//! losses visible.

pub(crate) mod connections;
pub(crate) mod engine_slot;
pub(crate) mod log;
pub(crate) mod report;
pub(crate) mod settings;
pub(crate) mod state;
