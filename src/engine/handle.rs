//! Lifecycle of one engine: fresh rings per start, one news channel for its
//! whole life, stop on drop.

use super::{EngineError, EngineIo, MidiEngine, News};
use crate::ring::{midi_buffer_with_config, MidiBufferConsumer, MidiBufferProducer, RingConfig};
use std::sync::Arc;

/// The audio thread's ends of a started engine's rings.
#[derive(Debug)]
pub struct EngineEnds {
    /// Hardware input, towards `process()`.
    pub input: MidiBufferConsumer,
    /// Output, from `process()` towards the hardware.
    pub output: MidiBufferProducer,
}

/// Owns a [`MidiEngine`], the sizes of its rings and its [`News`].
///
/// [`Self::start`] creates both rings, hands the MIDI thread's ends to the
/// engine and returns the audio thread's; [`Self::stop`] (also run on drop)
/// stops the engine once. The news channel lives as long as the handle, so
/// its counters are totals over every activation.
/// Not for the audio thread: every method may block or allocate.
#[derive(Debug)]
pub struct EngineHandle<E: MidiEngine> {
    engine: E,
    input: RingConfig,
    output: RingConfig,
    running: bool,
    news: Arc<News>,
}

impl<E: MidiEngine> EngineHandle<E> {
    /// Wraps a stopped engine; each [`Self::start`] creates an input ring
    /// sized `input` and an output ring sized `output`.
    pub fn new(engine: E, input: RingConfig, output: RingConfig) -> Self {
        Self {
            engine,
            input,
            output,
            running: false,
            news: Arc::new(News::default()),
        }
    }

    /// Creates the rings, starts the engine, and returns the audio thread's ends.
    ///
    /// # Errors
    /// [`EngineError::AlreadyStarted`] if running (the engine is not touched).
    /// Any error of [`MidiEngine::start`]; the engine is then stopped, so whatever it
    /// opened before failing is released, and the handle stays stopped.
    pub fn start(&mut self) -> Result<EngineEnds, EngineError> {
        if self.running {
            return Err(EngineError::AlreadyStarted);
        }
        let (in_producer, in_consumer) = midi_buffer_with_config(self.input);
        let (out_producer, out_consumer) = midi_buffer_with_config(self.output);
        let io = EngineIo {
            input: in_producer,
            output: out_consumer,
            news: Arc::clone(&self.news),
        };
        match self.engine.start(io) {
            Ok(()) => {
                self.running = true;
                Ok(EngineEnds {
                    input: in_consumer,
                    output: out_producer,
                })
            }
            Err(e) => {
                self.engine.stop();
                Err(e)
            }
        }
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

    /// The news channel: counters, log lines, doorbell.
    pub fn news(&self) -> &Arc<News> {
        &self.news
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
