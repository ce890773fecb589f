//! The CLAP glue: entry point, factory, descriptor, ports and `process()`.
//!
//! Everything CLAP-specific lives under this module; the rest of the crate
//! knows nothing of CLAP.

mod descriptor;
mod emit;
mod engine;
mod log;
mod midi_in;
mod note_ports;
mod params;
mod process;
mod report;
pub(crate) mod settings;
mod state;

use clack_extensions::log::HostLog;
use clack_extensions::note_ports::PluginNotePorts;
use clack_extensions::params::PluginParams;
use clack_extensions::state::PluginState;
use clack_plugin::prelude::*;
use std::marker::PhantomData;

pub use descriptor::{descriptor, PLUGIN_ID};
#[cfg(feature = "test-mock")]
pub use engine::ManualEngineFactory;
pub use engine::{AlsaEngineFactory, EngineFactory};
pub use params::LATENCY_PARAM;
pub use process::PhasorSyncAudioProcessor;
pub use report::Counters;
pub use settings::Settings;
pub use state::State;

/// The plugin exported by the bundle: hardware MIDI through the private ALSA
/// sequencer client.
pub type PhasorSync = PhasorSyncPlugin<AlsaEngineFactory>;

/// The plugin, generic over where its MIDI engine comes from, so that tests
/// above the engine seam can load it in-process with a mock engine.
pub struct PhasorSyncPlugin<F: EngineFactory>(PhantomData<F>);

impl<F: EngineFactory> Plugin for PhasorSyncPlugin<F> {
    type AudioProcessor<'a> = PhasorSyncAudioProcessor<'a>;
    type Shared<'a> = PhasorSyncShared<'a>;
    type MainThread<'a> = PhasorSyncMainThread<'a>;

    fn declare_extensions(
        builder: &mut PluginExtensions<Self>,
        _shared: Option<&PhasorSyncShared>,
    ) {
        builder
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>();
    }
}

impl<F: EngineFactory> DefaultPluginFactory for PhasorSyncPlugin<F> {
    fn get_descriptor() -> PluginDescriptor {
        descriptor()
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<Self::Shared<'_>, PluginError> {
        let log = host.get_extension::<HostLog>();
        Ok(PhasorSyncShared {
            host,
            log,
            counters: Counters::default(),
            settings: Settings::default(),
        })
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        shared: &'a Self::Shared<'a>,
    ) -> Result<Self::MainThread<'a>, PluginError> {
        Ok(PhasorSyncMainThread {
            shared,
            reported: Default::default(),
            engine: engine::EngineSlot::new(F::create),
        })
    }
}

/// Data shared between the main thread and the audio thread.
pub struct PhasorSyncShared<'a> {
    host: HostSharedHandle<'a>,
    log: Option<HostLog>,
    /// Traffic and loss counters.
    pub counters: Counters,
    /// What the user set.
    pub settings: Settings,
}

impl<'a> PluginShared<'a> for PhasorSyncShared<'a> {}

/// The plugin's main-thread half: owns the MIDI engine and reports to the user.
pub struct PhasorSyncMainThread<'a> {
    shared: &'a PhasorSyncShared<'a>,
    reported: std::cell::Cell<report::Snapshot>,
    engine: engine::EngineSlot,
}

impl<'a> PluginMainThread<'a, PhasorSyncShared<'a>> for PhasorSyncMainThread<'a> {
    fn on_main_thread(&self) {
        self.report();
    }
}
