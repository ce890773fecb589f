//! The CLAP glue: entry point, factory, descriptor, ports and `process()`.
//!
//! Everything CLAP-specific lives under this module; the rest of the crate
//! knows nothing of CLAP.

mod descriptor;
mod log;
mod note_ports;
mod process;
mod report;

use clack_extensions::log::HostLog;
use clack_extensions::note_ports::PluginNotePorts;
use clack_plugin::prelude::*;

pub use descriptor::{descriptor, PLUGIN_ID};
pub use process::PhasorSyncAudioProcessor;
pub use report::Counters;

/// The plugin type registered with the CLAP entry point.
pub struct PhasorSync;

impl Plugin for PhasorSync {
    type AudioProcessor<'a> = PhasorSyncAudioProcessor<'a>;
    type Shared<'a> = PhasorSyncShared<'a>;
    type MainThread<'a> = PhasorSyncMainThread<'a>;

    fn declare_extensions(
        builder: &mut PluginExtensions<Self>,
        _shared: Option<&PhasorSyncShared>,
    ) {
        builder.register::<PluginNotePorts>();
    }
}

impl DefaultPluginFactory for PhasorSync {
    fn get_descriptor() -> PluginDescriptor {
        descriptor()
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<Self::Shared<'_>, PluginError> {
        let log = host.get_extension::<HostLog>();
        Ok(PhasorSyncShared {
            host,
            log,
            counters: Counters::default(),
        })
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        shared: &'a Self::Shared<'a>,
    ) -> Result<Self::MainThread<'a>, PluginError> {
        Ok(PhasorSyncMainThread {
            shared,
            reported: Default::default(),
        })
    }
}

/// Data shared between the main thread and the audio thread.
pub struct PhasorSyncShared<'a> {
    host: HostSharedHandle<'a>,
    log: Option<HostLog>,
    /// Traffic and loss counters.
    pub counters: Counters,
}

impl<'a> PluginShared<'a> for PhasorSyncShared<'a> {}

/// The plugin's main-thread half.
pub struct PhasorSyncMainThread<'a> {
    shared: &'a PhasorSyncShared<'a>,
    reported: std::cell::Cell<report::Reported>,
}

impl<'a> PluginMainThread<'a, PhasorSyncShared<'a>> for PhasorSyncMainThread<'a> {
    fn on_main_thread(&self) {
        self.report_losses();
    }
}
