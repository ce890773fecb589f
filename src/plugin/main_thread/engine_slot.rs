//! The plugin's MIDI engine: created on first activation, started at every
//! activation and stopped at deactivation, on the main thread. A failure to
//! start is logged once and leaves the plugin passing host events through.

use crate::backend::alsa_seq::ports::{ListPorts, Lister};
use crate::backend::alsa_seq::AlsaConfig;
use crate::backend::chosen::ChosenEngine;
use crate::backend::raw_midi::patterns::ListRaw;
use crate::backend::raw_midi::RawConfig;
use crate::engine::rt::PriorityLink;
use crate::engine::{
    Backend, EngineEnds, EngineError, EngineHandle, EngineOptions, LogLevel, MidiEngine, News,
};
use crate::plugin::params::index;
use crate::plugin::PhasorSyncMainThread;
use crate::ring::RingConfig;
use clack_extensions::log::LogSeverity;
use std::cell::RefCell;
use std::sync::Arc;

/// Makes the engine a plugin instance uses.
pub trait EngineFactory: 'static {
    /// A new, stopped engine.
    ///
    /// # Errors
    /// Whatever prevents creating it; the plugin logs it and runs without.
    fn create() -> Result<Box<dyn MidiEngine>, EngineError>;

    /// What lists the sequencer's ports for the window's device list (it
    /// runs on the window's thread): the kernel's, through a handle of its own.
    fn port_lister() -> ListPorts {
        Lister::boxed()
    }

    /// What lists the raw MIDI devices for the same list: the kernel's,
    /// from `/proc/asound`.
    fn raw_lister() -> ListRaw {
        crate::backend::raw_midi::patterns::kernel_lister()
    }
}

/// The real thing: the backend the *MIDI backend* parameter chooses, a
/// private ALSA sequencer client or a raw MIDI device.
pub struct AlsaEngineFactory;

impl EngineFactory for AlsaEngineFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        Ok(Box::new(ChosenEngine::new(
            AlsaConfig::default(),
            RawConfig::default(),
        )?))
    }
}

/// A [`crate::engine::ManualEngine`]: the caller plays the MIDI thread.
#[cfg(feature = "test-mock")]
pub struct ManualEngineFactory;

#[cfg(feature = "test-mock")]
impl EngineFactory for ManualEngineFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        Ok(Box::new(crate::engine::ManualEngine))
    }

    /// The ports a test gave [`crate::engine::ManualEngine::set_ports`].
    fn port_lister() -> ListPorts {
        Box::new(|| Ok(crate::engine::ManualEngine::ports()))
    }

    /// The raw MIDI devices a test gave
    /// [`crate::engine::ManualEngine::set_raw_devices`].
    fn raw_lister() -> ListRaw {
        Box::new(crate::engine::ManualEngine::raw_devices)
    }
}

type Create = fn() -> Result<Box<dyn MidiEngine>, EngineError>;
type MakeLister = fn() -> ListPorts;
type MakeRawLister = fn() -> ListRaw;

/// The main thread's engine, behind `RefCell` because CLAP's activate and
/// `on_main_thread` only lend the main thread shared access.
pub(in crate::plugin) struct EngineSlot {
    create: Create,
    /// Makes the window's port lister (see [`EngineFactory::port_lister`]).
    pub(in crate::plugin) port_lister: MakeLister,
    /// Makes its raw MIDI device lister (see [`EngineFactory::raw_lister`]).
    pub(in crate::plugin) raw_lister: MakeRawLister,
    handle: RefCell<Option<EngineHandle<Box<dyn MidiEngine>>>>,
    /// The last start error, so the same failure is logged once, not at
    /// every activation.
    last_error: RefCell<Option<EngineError>>,
}

impl EngineSlot {
    pub(in crate::plugin) fn new(
        create: Create,
        (port_lister, raw_lister): (MakeLister, MakeRawLister),
    ) -> Self {
        Self {
            create,
            port_lister,
            raw_lister,
            handle: RefCell::new(None),
            last_error: RefCell::new(None),
        }
    }
}

/// What a started engine gives the audio thread.
pub(in crate::plugin) struct Started {
    /// The audio thread's ends of the rings.
    pub ends: EngineEnds,
    /// News from below the seam (the doorbell).
    pub news: Arc<News>,
    /// Tells the MIDI thread the audio thread's priority.
    pub priority: Option<PriorityLink>,
}

/// Sizes of the rings: input as the ring's default; output the same.
fn ring_config() -> RingConfig {
    RingConfig::default()
}

/// The output ring holds more: the clock is scheduled 150 ms ahead, and a
/// departure from the prediction sends all of it again (120 ticks at the
/// clock's highest tempo), several blocks of it between two of the
/// engine's looks (4 ms) with small blocks.
fn output_ring_config() -> RingConfig {
    RingConfig {
        capacity: 1024,
        ..RingConfig::default()
    }
}

impl PhasorSyncMainThread<'_> {
    fn options(&self) -> EngineOptions {
        EngineOptions {
            backend: Backend::from_param(self.shared.settings.params.get(index::MIDI_BACKEND)),
            connect: self.shared.settings.patterns(),
            remembered: self.shared.settings.remembered(),
        }
    }

    /// Start the engine and return the audio thread's ends of its rings,
    /// its news and its priority link, or `None` (logged) when there is no
    /// engine.
    pub(in crate::plugin) fn start_engine(&self) -> Option<Started> {
        let slot = &self.engine;
        let result = {
            let mut handle = slot.handle.borrow_mut();
            if handle.is_none() {
                match (slot.create)() {
                    Ok(mut engine) => {
                        engine.set_options(&self.options());
                        *handle = Some(EngineHandle::new(
                            engine,
                            ring_config(),
                            output_ring_config(),
                        ));
                    }
                    Err(e) => {
                        drop(handle);
                        self.engine_failed(e);
                        return None;
                    }
                }
            }
            let options = self.options();
            handle.as_mut().map(|h| {
                // The backend chosen now (the parameter may have changed).
                h.engine_mut().set_options(&options);
                h.start().map(|ends| Started {
                    ends,
                    news: Arc::clone(h.news()),
                    priority: h.engine().priority_link(),
                })
            })
        };
        let started = match result? {
            Ok(started) => started,
            Err(e) => {
                self.engine_failed(e);
                return None;
            }
        };
        *slot.last_error.borrow_mut() = None;
        self.forward_engine_log();
        Some(started)
    }

    /// Stop the engine (the thread ends and the client closes), then report.
    /// The patchbay connections it remembered are kept in the settings.
    pub(in crate::plugin) fn stop_engine(&self) {
        if let Some(handle) = self.engine.handle.borrow_mut().as_mut() {
            handle.stop();
            self.shared
                .settings
                .set_remembered(&handle.engine().remembered());
        }
        self.report_now();
    }

    /// The patchbay connections to save: the engine's, if there is one.
    pub(in crate::plugin) fn remembered(&self) -> String {
        match self.engine.handle.borrow().as_ref() {
            Some(handle) => handle.engine().remembered(),
            None => self.shared.settings.remembered(),
        }
    }

    /// Give the engine the options now in the settings (after a state load).
    pub(in crate::plugin) fn apply_patterns(&self) {
        let options = self.options();
        if let Some(handle) = self.engine.handle.borrow_mut().as_mut() {
            handle.engine_mut().set_options(&options);
        }
    }

    fn engine_failed(&self, e: EngineError) {
        let mut last = self.engine.last_error.borrow_mut();
        if last.as_ref() != Some(&e) {
            self.shared.log(
                LogSeverity::Error,
                &format!(
                    "hardware MIDI is off: {e}. PhasorSync keeps passing the host's \
                     events through."
                ),
            );
            *last = Some(e);
        }
    }

    /// The engine's news channel, if there is an engine.
    pub(in crate::plugin) fn news(&self) -> Option<Arc<News>> {
        self.engine
            .handle
            .borrow()
            .as_ref()
            .map(|h| Arc::clone(h.news()))
    }

    /// Move the engine's log lines to the host's log.
    pub(in crate::plugin) fn forward_engine_log(&self) {
        let Some(news) = self.news() else {
            return;
        };
        while let Some(line) = news.pop_log() {
            let severity = match line.level {
                LogLevel::Info => LogSeverity::Info,
                LogLevel::Warning => LogSeverity::Warning,
                LogLevel::Error => LogSeverity::Error,
            };
            self.shared.log(severity, &line.message);
        }
    }
}
