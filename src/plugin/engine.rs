//! The plugin's MIDI engine: created on first activation, started at every
//! activation and stopped at deactivation, on the main thread. A failure to
//! start is logged once and leaves the plugin passing host events through.

use super::PhasorSyncMainThread;
use crate::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use crate::engine::{EngineError, EngineHandle, EngineStats, LogLevel, MidiEngine};
use crate::ring::{MidiBufferConsumer, RingConfig};
use clack_extensions::log::LogSeverity;
use std::cell::{Cell, RefCell};

/// Makes the engine a plugin instance uses.
pub trait EngineFactory: 'static {
    /// A new, stopped engine.
    ///
    /// # Errors
    /// Whatever prevents creating it; the plugin logs it and runs without.
    fn create() -> Result<Box<dyn MidiEngine>, EngineError>;
}

/// The real thing: a private ALSA sequencer client.
pub struct AlsaEngineFactory;

impl EngineFactory for AlsaEngineFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        Ok(Box::new(AlsaEngine::new(AlsaConfig::default())?))
    }
}

/// A [`crate::engine::ManualEngine`]: the caller plays the sequencer thread.
#[cfg(feature = "test-mock")]
pub struct ManualEngineFactory;

#[cfg(feature = "test-mock")]
impl EngineFactory for ManualEngineFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        Ok(Box::new(crate::engine::ManualEngine))
    }
}

type Create = fn() -> Result<Box<dyn MidiEngine>, EngineError>;

/// The main thread's engine, behind `RefCell` because CLAP's activate and
/// `on_main_thread` only lend the main thread shared access.
pub(super) struct EngineSlot {
    create: Create,
    handle: RefCell<Option<EngineHandle<Box<dyn MidiEngine>>>>,
    /// The last start error, so the same failure is logged once, not at
    /// every activation.
    last_error: RefCell<Option<EngineError>>,
    running: Cell<bool>,
}

impl EngineSlot {
    pub(super) fn new(create: Create) -> Self {
        Self {
            create,
            handle: RefCell::new(None),
            last_error: RefCell::new(None),
            running: Cell::new(false),
        }
    }
}

impl PhasorSyncMainThread<'_> {
    /// Start the engine and return the audio thread's end of its ring, or
    /// `None` (logged) when there is no engine.
    pub(super) fn start_engine(&self) -> Option<MidiBufferConsumer> {
        let slot = &self.engine;
        let result = {
            let mut handle = slot.handle.borrow_mut();
            if handle.is_none() {
                match (slot.create)() {
                    Ok(mut engine) => {
                        let patterns = self.shared.settings.patterns();
                        if !patterns.is_empty() {
                            engine.set_connect_patterns(&patterns);
                        }
                        *handle = Some(EngineHandle::new(engine, RingConfig::default()));
                    }
                    Err(e) => {
                        drop(handle);
                        self.engine_failed(e);
                        return None;
                    }
                }
            }
            handle.as_mut().map(|h| h.start())
        };
        self.reset_reported();
        let consumer = match result? {
            Ok(consumer) => consumer,
            Err(e) => {
                self.engine_failed(e);
                return None;
            }
        };
        slot.running.set(true);
        *slot.last_error.borrow_mut() = None;
        self.forward_engine_log();
        Some(consumer)
    }

    /// Stop the engine (the thread ends and the client closes), then report.
    pub(super) fn stop_engine(&self) {
        if let Some(handle) = self.engine.handle.borrow_mut().as_mut() {
            handle.stop();
        }
        self.engine.running.set(false);
        self.report();
    }

    /// Give the engine the patterns now in the settings (after a state load).
    pub(super) fn apply_patterns(&self) {
        if let Some(handle) = self.engine.handle.borrow_mut().as_mut() {
            handle
                .engine_mut()
                .set_connect_patterns(&self.shared.settings.patterns());
        }
    }

    fn engine_failed(&self, e: EngineError) {
        let mut last = self.engine.last_error.borrow_mut();
        if last.as_ref() != Some(&e) {
            self.shared.log(
                LogSeverity::Error,
                &format!(
                    "hardware MIDI input is off: {e}. PhasorSync keeps passing the host's \
                     events through."
                ),
            );
            *last = Some(e);
        }
    }

    /// The engine's counters (zero without an engine), with the ring's
    /// losses read from the ring itself whatever the engine reports.
    pub(super) fn engine_stats(&self) -> EngineStats {
        let handle = self.engine.handle.borrow();
        let Some(handle) = handle.as_ref() else {
            return EngineStats::default();
        };
        let mut stats = handle.stats();
        if let Some(ring) = handle.ring_stats() {
            stats.ring_drops = ring.snapshot().total_lost();
        }
        stats
    }

    /// Move the engine's log lines to the host's log.
    pub(super) fn forward_engine_log(&self) {
        let handle = self.engine.handle.borrow();
        let Some(handle) = handle.as_ref() else {
            return;
        };
        while let Some(line) = handle.engine().pop_log() {
            let severity = match line.level {
                LogLevel::Info => LogSeverity::Info,
                LogLevel::Warning => LogSeverity::Warning,
                LogLevel::Error => LogSeverity::Error,
            };
            self.shared.log(severity, &line.message);
        }
    }
}
