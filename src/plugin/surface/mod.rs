//! The CLAP surface: what the host calls, on whichever thread CLAP says.
//! The C entry point and its shim ([`entry`], [`shim_notes`],
//! [`transport_header`]), the descriptor, and the audio and note port
//! extensions.

pub(crate) mod audio_ports;
pub(crate) mod descriptor;
pub(crate) mod entry;
pub(crate) mod gui;
pub(crate) mod note_ports;
pub(crate) mod shim_notes;
pub(crate) mod transport_header;
