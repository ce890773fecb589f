//! The engine seam: what a MIDI backend (beneath it, in [`crate::backend`])
//! offers to the plugin above it.
//!
//! A backend implements [`MidiEngine`]: [`MidiEngine::start`] receives the
//! [`EngineIo`] (the input ring's producer, the output ring's consumer and
//! the [`News`] channel) and runs a MIDI thread that fills the one and
//! drains the other. With the `test-mock` feature, `mockall` generates
//! `MockMidiEngine` so everything above the seam can be tested without a
//! kernel. [`EngineHandle`] is the small lifecycle wrapper the plugin uses on
//! top of any engine: it makes the rings and keeps the news.
//!
//! Backend-neutral parts of every MIDI thread live here too: [`sink`] (bytes →
//! parser → input ring, with note tracking) and [`rt`] (realtime priority).

mod error;
mod handle;
#[cfg(feature = "test-mock")]
mod manual;
pub mod news;
pub mod rt;
pub mod sink;

pub use error::EngineError;
pub use handle::{EngineEnds, EngineHandle};
#[cfg(feature = "test-mock")]
pub use manual::ManualEngine;
pub use news::{EngineStats, LogLevel, LogLine, News};

use crate::ring::{MidiBufferConsumer, MidiBufferProducer};
use std::sync::Arc;

/// Output streams: the `port` of a message in the output ring names the
/// stream it belongs to, and an engine keeps each stream in order: a message
/// never leaves before the previous one of its stream. The audio side stamps
/// each message through the block's timeline, which can put a block's times
/// before the previous block's (late calls, then punctual ones); the
/// sequencer queue sorts by time, so without this a note-off could leave
/// before its note-on. Streams are separate because they have their own
/// offsets (the clock's and the notes' can differ by up to 100 ms).
pub mod stream {
    /// The host's notes, MIDI and SysEx (and the releases of held notes).
    pub const HOST: u16 = 0;
    /// MIDI clock.
    pub const CLOCK: u16 = 1;
    /// How many streams there are.
    pub const COUNT: usize = 2;
    /// Not a stream: a control message. The engine takes back every message
    /// of the [`CLOCK`] stream it scheduled at or after the message's
    /// `time_ns` and has not delivered yet, and the clock stream's order
    /// starts again from that time (so what is sent next in its place is
    /// not held back behind what was taken back). The message's event is
    /// ignored. The clock is scheduled ahead of the host, on a prediction;
    /// this is how it is corrected when the host departs from it.
    pub const RETRACT_CLOCK: u16 = 0xFFFF;

    /// Keeps each output stream in order, the promise above: a message's
    /// time, held back to its stream's previous one if earlier. An engine
    /// applies it to what it takes from the output ring.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct StreamOrder {
        last: [u64; COUNT],
    }

    impl StreamOrder {
        /// `time_ns` for a message of `stream`, not before that stream's
        /// previous message (unknown streams are left as they are).
        pub fn keep(&mut self, stream: u16, time_ns: u64) -> u64 {
            match self.last.get_mut(usize::from(stream)) {
                Some(last) => {
                    *last = (*last).max(time_ns);
                    *last
                }
                None => time_ns,
            }
        }

        /// `stream`'s order starts again from `time_ns` (its messages from
        /// there on were taken back): later ones are held back to it at most.
        pub fn restart(&mut self, stream: u16, time_ns: u64) {
            if let Some(last) = self.last.get_mut(usize::from(stream)) {
                *last = (*last).min(time_ns);
            }
        }
    }
}

/// The seam's promise for output: while it runs, an engine takes what is in
/// the output ring at least this often (ns). The audio side therefore stamps
/// every message at least this far past the end of the block it was pushed
/// in, so none is late by the time the engine schedules it. 4 ms: a 250 Hz
/// wake-up is cheap even on the emulated test VM (1 kHz starved its audio
/// thread), and it adds 4 ms of constant delay, not jitter, since each
/// message is scheduled on the sequencer queue at its own time.
pub const OUTPUT_POLL_NS: u64 = 4_000_000;

/// What a backend's thread works with while running.
#[derive(Debug)]
pub struct EngineIo {
    /// Parsed input goes here, towards the audio thread.
    pub input: MidiBufferProducer,
    /// Output from the audio thread comes from here, each message to be sent
    /// at its `time_ns` (`CLOCK_MONOTONIC`).
    pub output: MidiBufferConsumer,
    /// Counters, log lines and the doorbell, towards the main thread.
    pub news: Arc<News>,
}

impl EngineIo {
    /// Input only: an output ring nobody writes and a fresh news channel,
    /// for tools and tests that only receive.
    pub fn input_only(input: MidiBufferProducer) -> Self {
        let (_, output) = crate::ring::midi_buffer(1);
        Self {
            input,
            output,
            news: Arc::default(),
        }
    }
}

/// Which backend the user chose (the *MIDI backend* parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The private ALSA sequencer client (the default).
    #[default]
    Sequencer,
    /// One raw MIDI device, opened directly, named by a `raw:` pattern.
    RawMidi,
}

impl Backend {
    /// The parameter's value (its choice index) as a backend.
    pub fn from_param(value: f64) -> Self {
        if value >= 0.5 {
            Self::RawMidi
        } else {
            Self::Sequencer
        }
    }
}

/// What the user chose that a backend applies, backend-neutral.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Which backend to run (applied at the next start).
    pub backend: Backend,
    /// Which devices to connect, as name patterns (see the backend for the
    /// syntax it matches against its own port names).
    pub connect: String,
    /// Connections the user made from a patchbay, as the backend wrote them
    /// ([`MidiEngine::remembered`]), to restore (saved with the project).
    pub remembered: String,
}

/// A MIDI I/O backend with its own thread.
///
/// None of these methods is called from the audio thread: they may block, allocate
/// and make syscalls.
#[cfg_attr(feature = "test-mock", mockall::automock)]
pub trait MidiEngine: Send {
    /// Start the MIDI thread on `io`.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] if the backend's device cannot be used;
    /// [`EngineError::Thread`] if the thread cannot be spawned;
    /// [`EngineError::AlreadyStarted`] if it is running.
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError>;

    /// Stop the thread and release the device. Idempotent.
    fn stop(&mut self);

    /// Apply the user's options, now if running and at every later start.
    fn set_options(&mut self, options: &EngineOptions);

    /// A handle the audio thread uses to tell the MIDI thread its priority
    /// (so it runs just below it), if the backend runs at realtime priority.
    fn priority_link(&self) -> Option<rt::PriorityLink> {
        None
    }

    /// The connections the user made from a patchbay, as text to save with
    /// the project and give back through [`EngineOptions::remembered`].
    fn remembered(&self) -> String {
        String::new()
    }
}

/// A boxed engine is an engine, so the plugin can hold any backend.
impl<E: MidiEngine + ?Sized> MidiEngine for Box<E> {
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError> {
        (**self).start(io)
    }
    fn stop(&mut self) {
        (**self).stop()
    }
    fn set_options(&mut self, options: &EngineOptions) {
        (**self).set_options(options)
    }
    fn priority_link(&self) -> Option<rt::PriorityLink> {
        (**self).priority_link()
    }
    fn remembered(&self) -> String {
        (**self).remembered()
    }
}
