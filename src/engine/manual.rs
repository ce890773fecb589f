//! An engine driven by hand, for tests and benchmarks above the seam: it
//! hands the ring's producer to whoever calls [`ManualEngine::take_producer`],
//! who then plays the sequencer thread. Only with the `test-mock` feature.

use super::{EngineError, EngineStats, LogLine, MidiEngine};
use crate::ring::MidiBufferProducer;
use std::sync::Mutex;

/// The producer of the most recently started [`ManualEngine`].
static PRODUCER: Mutex<Option<MidiBufferProducer>> = Mutex::new(None);

/// See the module docs.
#[derive(Debug, Default)]
pub struct ManualEngine;

impl ManualEngine {
    /// The producer handed to the last `start()`, once.
    pub fn take_producer() -> Option<MidiBufferProducer> {
        PRODUCER.lock().map_or(None, |mut p| p.take())
    }
}

impl MidiEngine for ManualEngine {
    fn start(&mut self, input: MidiBufferProducer) -> Result<(), EngineError> {
        if let Ok(mut p) = PRODUCER.lock() {
            *p = Some(input);
        }
        Ok(())
    }
    fn send(&mut self, _time_ns: u64, _bytes: &[u8]) -> Result<(), EngineError> {
        Ok(())
    }
    fn stop(&mut self) {}
    fn stats(&self) -> EngineStats {
        EngineStats::default()
    }
    fn pop_log(&self) -> Option<LogLine> {
        None
    }
    fn set_connect_patterns(&mut self, _patterns: &str) {}
}
