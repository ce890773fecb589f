//! An engine driven by hand, for tests and benchmarks above the seam: it
//! hands its [`EngineIo`] to whoever calls [`ManualEngine::take_io`] on the
//! thread that started it (the test's), who then plays the MIDI thread.
//! Per thread, so tests running in parallel keep their engines apart.
//! Only with the `test-mock` feature.

use super::{EngineError, EngineIo, EngineOptions, MidiEngine};
use std::cell::RefCell;

thread_local! {
    /// The io of the most recently started [`ManualEngine`] on this thread.
    static IO: RefCell<Option<EngineIo>> = const { RefCell::new(None) };
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ManualEngine;

impl ManualEngine {
    /// The io handed to the last `start()` on this thread, once.
    pub fn take_io() -> Option<EngineIo> {
        IO.with(|io| io.borrow_mut().take())
    }
}

impl MidiEngine for ManualEngine {
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError> {
        IO.with(|slot| *slot.borrow_mut() = Some(io));
        Ok(())
    }
    fn stop(&mut self) {}
    fn set_options(&mut self, _options: &EngineOptions) {}
}
