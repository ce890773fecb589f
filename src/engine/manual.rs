//! An engine driven by hand, for tests and benchmarks above the seam: it
//! hands its [`EngineIo`] to whoever calls [`ManualEngine::take_io`] on the
//! thread that started it (the test's), who then plays the MIDI thread.
//! Per thread, so tests running in parallel keep their engines apart.
//! Its fake sequencer ports ([`ManualEngine::set_ports`]) are what the
//! window's device list shows. Only with the `test-mock` feature.

use super::{EngineError, EngineIo, EngineOptions, MidiEngine};
use crate::backend::alsa_seq::ports::SeqPort;
use crate::backend::raw_midi::patterns::DeviceInfo;
use std::cell::RefCell;
use std::sync::Mutex;

/// The sequencer ports the window lists with this engine: process-wide,
/// because the window lists them from its own thread.
static PORTS: Mutex<Vec<SeqPort>> = Mutex::new(Vec::new());

/// The raw MIDI devices the window lists with this engine: process-wide too.
static RAW: Mutex<Vec<DeviceInfo>> = Mutex::new(Vec::new());

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

    /// Make the window's device list show `ports` (in every instance of
    /// this process, from its next poll on).
    pub fn set_ports(ports: Vec<SeqPort>) {
        *PORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ports;
    }

    /// The ports [`Self::set_ports`] gave.
    pub fn ports() -> Vec<SeqPort> {
        PORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Give the window these raw MIDI devices to list.
    pub fn set_raw_devices(devices: Vec<DeviceInfo>) {
        *RAW.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = devices;
    }

    /// The devices [`Self::set_raw_devices`] gave.
    pub fn raw_devices() -> Vec<DeviceInfo> {
        RAW.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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
