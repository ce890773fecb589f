//! Lifecycle of one engine: a fresh ring per start, sends only while running,
//! stop on drop.

use super::{EngineError, EngineStats, MidiEngine};
use crate::ring::{midi_buffer_with_config, MidiBufferConsumer, RingConfig, RingStats};

/// Owns a [`MidiEngine`] and the ring its input goes into.
///
/// [`Self::start`] creates the ring, hands its producer to the engine and returns
/// the consumer for the audio thread; [`Self::stop`] (also run on drop) stops the
/// engine once. Sends are refused without reaching the engine unless it is running.
/// Not for the audio thread: every method may block or allocate.
#[derive(Debug)]
pub struct EngineHandle<E: MidiEngine> {
    engine: E,
    ring: RingConfig,
    running: bool,
    ring_stats: Option<RingStats>,
}

impl<E: MidiEngine> EngineHandle<E> {
    /// Wraps a stopped engine; each [`Self::start`] creates a ring of size `ring`.
    pub fn new(engine: E, ring: RingConfig) -> Self {
        Self {
            engine,
            ring,
            running: false,
            ring_stats: None,
        }
    }

    /// Creates a ring, starts the engine on its producer, and returns the consumer.
    ///
    /// # Errors
    /// [`EngineError::AlreadyStarted`] if running (the engine is not touched).
    /// Any error of [`MidiEngine::start`]; the engine is then stopped, so whatever it
    /// opened before failing is released, and the handle stays stopped.
    pub fn start(&mut self) -> Result<MidiBufferConsumer, EngineError> {
        if self.running {
            return Err(EngineError::AlreadyStarted);
        }
        let (producer, consumer) = midi_buffer_with_config(self.ring);
        let stats = consumer.stats();
        match self.engine.start(producer) {
            Ok(()) => {
                self.running = true;
                self.ring_stats = Some(stats);
                Ok(consumer)
            }
            Err(e) => {
                self.engine.stop();
                Err(e)
            }
        }
    }

    /// Forwards `bytes` to [`MidiEngine::send`] while running.
    ///
    /// # Errors
    /// [`EngineError::NotStarted`] when stopped (the engine is not called); otherwise
    /// the engine's error.
    pub fn send(&mut self, time_ns: u64, bytes: &[u8]) -> Result<(), EngineError> {
        if !self.running {
            return Err(EngineError::NotStarted);
        }
        self.engine.send(time_ns, bytes)
    }

    /// Stops the engine if it is running; does nothing otherwise.
    pub fn stop(&mut self) {
        if self.running {
            self.running = false;
            self.engine.stop();
        }
    }

    /// `true` between a successful [`Self::start`] and [`Self::stop`].
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// Loss counters of the ring of the last successful start, if any.
    pub fn ring_stats(&self) -> Option<RingStats> {
        self.ring_stats.clone()
    }

    /// The wrapped engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// The engine, to change its settings.
    pub fn engine_mut(&mut self) -> &mut E {
        &mut self.engine
    }
}

impl<E: MidiEngine> Drop for EngineHandle<E> {
    fn drop(&mut self) {
        self.stop();
    }
}
