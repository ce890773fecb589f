//! What the host sees before it creates an instance.

use clack_plugin::plugin::features::{NOTE_EFFECT, UTILITY};
use clack_plugin::prelude::PluginDescriptor;

/// The plugin's stable CLAP id. Hosts key saved projects on it: never change it.
pub const PLUGIN_ID: &str = "org.phasorsync.phasorsync";

/// The CLAP descriptor of the one plugin this library exports.
pub fn descriptor() -> PluginDescriptor {
    PluginDescriptor::new(PLUGIN_ID, "PhasorSync")
        .with_vendor("PhasorSync")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_description(
            "Hardware MIDI straight from the ALSA sequencer, placed on the sample it was played; \
             the DAW's notes and MIDI clock out to hardware at exact times; a phasor that \
             follows the hardware's MIDI clock. No JACK needed.",
        )
        .with_features([NOTE_EFFECT, UTILITY])
}
