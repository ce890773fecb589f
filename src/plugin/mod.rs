//! The CLAP glue: entry point, factory, descriptor, ports, parameters, state
//! and `process()`.
//!
//! Everything CLAP-specific lives under this module; the rest of the crate
//! knows nothing of CLAP. Its rooms, by thread and destination:
//! - `surface`: what the host calls through the C ABI and the CLAP
//!   extensions (entry, descriptor, audio and note ports);
//! - [`params`]: the parameter table and values, read by every thread;
//! - `main_thread`: the MIDI engine's slot, settings, saved state, reports
//!   and log;
//! - [`audio_thread`]: `process()`, with one room per destination: to the
//!   host (hardware MIDI in, clock in, thru, the host's event queue) and to
//!   the hardware (the host's MIDI and the clock, into the output ring).
//!
//! The pure maths the audio thread runs (the phasor, the transport model,
//! the MIDI clock) lives in [`crate::midi_clock`].

pub mod audio_thread;
mod main_thread;
pub mod params;
mod surface;

use clack_extensions::audio_ports::PluginAudioPorts;
use clack_extensions::gui::PluginGui;
use clack_extensions::log::HostLog;
use clack_extensions::note_ports::PluginNotePorts;
use clack_extensions::params::PluginParams;
use clack_extensions::state::PluginState;
use clack_extensions::timer::{HostTimer, PluginTimer, PluginTimerImpl, TimerId};
use clack_plugin::prelude::*;
use std::marker::PhantomData;
use std::sync::Arc;

pub use audio_thread::counters::{
    AudioCounters, AudioStats, ClockInCounters, ClockInStats, Diagnostics,
};
pub use audio_thread::processor::PhasorSyncAudioProcessor;
#[cfg(feature = "test-mock")]
pub use main_thread::engine_slot::ManualEngineFactory;
pub use main_thread::engine_slot::{AlsaEngineFactory, EngineFactory};
pub use main_thread::report::{SUMMARY_INTERVAL, SUMMARY_INTERVAL_NS};
pub use main_thread::settings::Settings;
pub use main_thread::state::State;
pub use surface::descriptor::{descriptor, PLUGIN_ID};

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
            .register::<PluginGui>()
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
            counters: Arc::default(),
            settings: Arc::default(),
            edits: Arc::default(),
            summary_due: main_thread::report::SummaryDue::default(),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a Self::Shared<'a>,
    ) -> Result<Self::MainThread<'a>, PluginError> {
        // The report's own clock, when the host has one (see `report.rs`).
        let timer = host.get_extension::<HostTimer>().and_then(|t| {
            let id = t
                .register_timer(&host, main_thread::report::TIMER_PERIOD_MS)
                .ok()?;
            Some((t, id))
        });
        Ok(PhasorSyncMainThread {
            shared,
            host,
            reported: Default::default(),
            timer,
            engine: main_thread::engine_slot::EngineSlot::new(
                F::create,
                (F::port_lister, F::raw_lister),
            ),
            gui: Default::default(),
        })
    }
}

/// Data shared between the main thread and the audio thread.
pub struct PhasorSyncShared<'a> {
    host: HostSharedHandle<'a>,
    log: Option<HostLog>,
    /// What the audio thread counts: traffic and its own losses (shared
    /// with the plugin window's thread, which only reads it).
    pub counters: Arc<AudioCounters>,
    /// What the user set (shared with the plugin window's thread).
    pub settings: Arc<Settings>,
    /// Parameter edits made in the plugin window, for the host.
    pub edits: Arc<params::edits::Edits>,
    /// When a waiting loss summary may be made (see `main_thread/report.rs`).
    summary_due: main_thread::report::SummaryDue,
}

impl<'a> PluginShared<'a> for PhasorSyncShared<'a> {}

/// The plugin's main-thread half: owns the MIDI engine and reports to the user.
pub struct PhasorSyncMainThread<'a> {
    shared: &'a PhasorSyncShared<'a>,
    host: HostMainThreadHandle<'a>,
    reported: std::cell::Cell<main_thread::report::Reported>,
    engine: main_thread::engine_slot::EngineSlot,
    gui: std::cell::RefCell<surface::gui::GuiState>,
    /// The host timer that calls the report, if the host has timer support.
    timer: Option<(HostTimer, TimerId)>,
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
        self.tell_host_if_closed();
        self.apply_window_patterns();
    }
}
