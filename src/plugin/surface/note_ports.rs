//! One note input and one note output, each accepting both the CLAP and the
//! MIDI dialect (REAPER only sends SysEx to plugins that accept MIDI).

use crate::plugin::PhasorSyncMainThread;
use clack_extensions::note_ports::{
    NoteDialect, NoteDialects, NotePortInfo, NotePortInfoWriter, PluginNotePortsImpl,
};
use clack_plugin::prelude::ClapId;

/// Port id of the note input.
pub const INPUT_PORT_ID: u32 = 0;
/// Port id of the note output.
pub const OUTPUT_PORT_ID: u32 = 1;

impl PluginNotePortsImpl for PhasorSyncMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if index != 0 {
            return;
        }
        let (id, name): (u32, &[u8]) = if is_input {
            (INPUT_PORT_ID, b"Notes in")
        } else {
            (OUTPUT_PORT_ID, b"Notes out")
        };
        writer.set(&NotePortInfo {
            id: ClapId::new(id),
            name,
            preferred_dialect: Some(if is_input {
                NoteDialect::Clap
            } else {
                // Hardware notes go out as MIDI (see audio_thread/to_host/midi_to_clap.rs).
                NoteDialect::Midi
            }),
            supported_dialects: NoteDialects::CLAP | NoteDialects::MIDI,
        });
    }
}
