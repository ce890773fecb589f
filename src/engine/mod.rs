//! The engine seam: what the ALSA sequencer backend offers to the layers above it.
//!
//! [`MidiEngine`] is implemented by the private ALSA client in `crate::backend::alsa_seq`; with
//! the `test-mock` feature, `mockall` generates `MockMidiEngine` so everything above
//! the sequencer thread can be tested without one. [`EngineHandle`] is the small
//! lifecycle wrapper the plugin uses on top of any engine.

mod error;
mod handle;
mod log;
#[cfg(feature = "test-mock")]
mod manual;
pub mod rt;
pub mod sink;

pub use error::EngineError;
pub use handle::EngineHandle;
pub use log::{LogLevel, LogLine};
#[cfg(feature = "test-mock")]
pub use manual::ManualEngine;

use crate::ring::MidiBufferProducer;

/// A MIDI I/O backend with its own thread: parsed input goes into a ring, raw
/// bytes go out.
///
/// None of these methods is called from the audio thread: they may block, allocate
/// and make syscalls.
#[cfg_attr(feature = "test-mock", mockall::automock)]
pub trait MidiEngine: Send {
    /// Start receiving: the engine's thread pushes parsed input into `input`.
    ///
    /// # Errors
    /// [`EngineError::NoSequencer`], [`EngineError::PermissionDenied`],
    /// [`EngineError::ClientCreation`] if the sequencer cannot be opened;
    /// [`EngineError::Thread`] if the input thread cannot be spawned;
    /// [`EngineError::AlreadyStarted`] if it is running.
    fn start(&mut self, input: MidiBufferProducer) -> Result<(), EngineError>;

    /// Send raw MIDI bytes (one or more complete messages, or a SysEx) to the output port,
    /// to be delivered at `time_ns` on CLOCK_MONOTONIC (0 = as soon as possible).
    ///
    /// # Errors
    /// [`EngineError::NotStarted`] before [`Self::start`]; [`EngineError::InvalidMessage`]
    /// if `bytes` are not complete MIDI messages; [`EngineError::OutputFull`] if the
    /// sequencer's output pool is full (the bytes are dropped and counted);
    /// [`EngineError::Io`] for any other sequencer error.
    fn send(&mut self, time_ns: u64, bytes: &[u8]) -> Result<(), EngineError>;

    /// Stop the thread and release the sequencer client. Idempotent.
    fn stop(&mut self);

    /// Counters: received, parse errors, overruns, output drops, etc.
    fn stats(&self) -> EngineStats;

    /// The next line for the host's log, oldest first; `None` when there is
    /// none. Called from the plugin's main thread.
    fn pop_log(&self) -> Option<LogLine>;

    /// Replace the auto-connect patterns the user saved with the project:
    /// sources whose client or port name matches are connected to the input,
    /// now and when they appear.
    fn set_connect_patterns(&mut self, patterns: &str);
}

/// A boxed engine is an engine, so the plugin can hold any backend.
impl<E: MidiEngine + ?Sized> MidiEngine for Box<E> {
    fn start(&mut self, input: MidiBufferProducer) -> Result<(), EngineError> {
        (**self).start(input)
    }
    fn send(&mut self, time_ns: u64, bytes: &[u8]) -> Result<(), EngineError> {
        (**self).send(time_ns, bytes)
    }
    fn stop(&mut self) {
        (**self).stop()
    }
    fn stats(&self) -> EngineStats {
        (**self).stats()
    }
    fn pop_log(&self) -> Option<LogLine> {
        (**self).pop_log()
    }
    fn set_connect_patterns(&mut self, patterns: &str) {
        (**self).set_connect_patterns(patterns)
    }
}

/// Totals since the engine was created. Plain counters, copied out by
/// [`MidiEngine::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Messages parsed from the input and offered to the ring.
    pub received_messages: u64,
    /// Raw bytes read from the sequencer.
    pub received_bytes: u64,
    /// Stray data bytes, undefined status bytes and other unparsable input skipped.
    pub parse_errors: u64,
    /// SysEx messages dropped by the parser (oversize or unterminated).
    pub sysex_dropped: u64,
    /// Messages dropped because the ring to the audio thread was full.
    pub ring_drops: u64,
    /// Input overruns reported by the kernel (events lost before we read them).
    pub overruns: u64,
    /// Messages handed to the sequencer for output.
    pub sent_messages: u64,
    /// Bytes handed to the sequencer for output.
    pub sent_bytes: u64,
    /// Output messages dropped (output full or a send error).
    pub output_drops: u64,
}
