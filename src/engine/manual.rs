//! An engine driven by hand, for tests and benchmarks above the seam: it
//! hands its [`EngineIo`] to whoever calls [`ManualEngine::take_io`], who then
//! plays the MIDI thread. Only with the `test-mock` feature.

use super::{EngineError, EngineIo, EngineOptions, MidiEngine};
use std::sync::Mutex;

/// The io of the most recently started [`ManualEngine`].
static IO: Mutex<Option<EngineIo>> = Mutex::new(None);

/// See the module docs.
#[derive(Debug, Default)]
pub struct ManualEngine;

impl ManualEngine {
    /// The io handed to the last `start()`, once.
    pub fn take_io() -> Option<EngineIo> {
        IO.lock().map_or(None, |mut p| p.take())
    }
}

impl MidiEngine for ManualEngine {
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError> {
        if let Ok(mut p) = IO.lock() {
            *p = Some(io);
        }
        Ok(())
    }
    fn stop(&mut self) {}
    fn set_options(&mut self, _options: &EngineOptions) {}
}
