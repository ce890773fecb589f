//! The CLAP glue: entry point, factory, descriptor, ports, parameters, state
//! and `process()`.
//!
//! Everything CLAP-specific lives under this module; the rest of the crate
//! knows nothing of CLAP. The audio thread's work is split by direction:
//! [`processor`] owns the block's timeline and hands it to `midi_in.rs`
//! (hardware → host), `thru.rs` (host → host) and `midi_out.rs`
//! (host → output ring → hardware); `clock_in.rs` follows the hardware's
//! MIDI clock and [`phasor`] writes the main audio output (`audio_ports.rs`).

mod arena;
mod audio_ports;
mod clock_in;
mod clock_out;
mod clock_sent;
mod counters;
mod descriptor;
mod emit;
mod engine;
mod entry;
mod host_midi;
mod host_out;
mod log;
mod midi_in;
pub mod midi_out;
mod note_ports;
pub mod params;
pub mod phasor;
pub mod processor;
mod report;
pub(crate) mod settings;
mod shim_notes;
mod state;
mod thru;
pub mod transport;
mod transport_header;

use clack_extensions::audio_ports::PluginAudioPorts;
use clack_extensions::log::HostLog;
use clack_extensions::note_ports::PluginNotePorts;
use clack_extensions::params::PluginParams;
use clack_extensions::state::PluginState;
use clack_extensions::timer::{HostTimer, PluginTimer, PluginTimerImpl, TimerId};
use clack_plugin::prelude::*;
use std::marker::PhantomData;

pub use counters::{AudioCounters, AudioStats, ClockInCounters, ClockInStats, Diagnostics};
pub use descriptor::{descriptor, PLUGIN_ID};
#[cfg(feature = "test-mock")]
pub use engine::ManualEngineFactory;
pub use engine::{AlsaEngineFactory, EngineFactory};
pub use processor::PhasorSyncAudioProcessor;
pub use report::{SUMMARY_INTERVAL, SUMMARY_INTERVAL_NS};
pub use settings::Settings;
pub use state::State;

/// CLAP id of the MIDI input latency parameter (see [`params::PARAMS`]).
pub const LATENCY_PARAM: ClapId = ClapId::new(params::PARAMS[params::index::LATENCY].id);

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
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>()
            .register::<PluginTimer>();
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
            counters: AudioCounters::default(),
            settings: Settings::default(),
            summary_due: report::SummaryDue::default(),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a Self::Shared<'a>,
    ) -> Result<Self::MainThread<'a>, PluginError> {
        // The report's own clock, when the host has one (see `report.rs`).
        let timer = host.get_extension::<HostTimer>().and_then(|t| {
            let id = t.register_timer(&host, report::TIMER_PERIOD_MS).ok()?;
            Some((t, id))
        });
        Ok(PhasorSyncMainThread {
            shared,
            host,
            reported: Default::default(),
            timer,
            engine: engine::EngineSlot::new(F::create),
        })
    }
}

/// Data shared between the main thread and the audio thread.
pub struct PhasorSyncShared<'a> {
    host: HostSharedHandle<'a>,
    log: Option<HostLog>,
    /// What the audio thread counts: traffic and its own losses.
    pub counters: AudioCounters,
    /// What the user set.
    pub settings: Settings,
    /// When a waiting loss summary may be made (see `report.rs`).
    summary_due: report::SummaryDue,
}

impl<'a> PluginShared<'a> for PhasorSyncShared<'a> {}

/// The plugin's main-thread half: owns the MIDI engine and reports to the user.
pub struct PhasorSyncMainThread<'a> {
    shared: &'a PhasorSyncShared<'a>,
    host: HostMainThreadHandle<'a>,
    reported: std::cell::Cell<report::Reported>,
    /// The host timer that calls the report, if the host has timer support.
    timer: Option<(HostTimer, TimerId)>,
    engine: engine::EngineSlot,
}

impl PluginTimerImpl for PhasorSyncMainThread<'_> {
    fn on_timer(&self, _timer_id: TimerId) {
        self.report();
    }
}

impl Drop for PhasorSyncMainThread<'_> {
    fn drop(&mut self) {
        if let Some((timer, id)) = self.timer.take() {
            // Nothing to do if the host refuses: it is forgetting us anyway.
            let _ = timer.unregister_timer(&self.host, id);
        }
    }
}

impl<'a> PluginMainThread<'a, PhasorSyncShared<'a>> for PhasorSyncMainThread<'a> {
    fn on_main_thread(&self) {
        self.report();
    }
}
