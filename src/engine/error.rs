//! Errors of the engine seam. Backend-neutral: a backend turns its own
//! failures (no sequencer device, no permission, …) into
//! [`EngineError::Unavailable`] with a message that says what to do.

use std::fmt;

/// Why a [`super::MidiEngine`] operation failed. Each message says what failed and
/// what the user can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The backend's device or kernel service cannot be used; the text says
    /// what failed and how to fix it.
    Unavailable(String),
    /// The MIDI thread could not be spawned or joined; the detail says why.
    Thread(String),
    /// [`super::MidiEngine::start`] was called while the engine was running.
    AlreadyStarted,
    /// Any other OS error; the detail says what failed.
    Io(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => f.write_str(why),
            Self::Thread(detail) => write!(
                f,
                "the MIDI thread failed: {detail}; check system thread limits and \
                 restart the plugin"
            ),
            Self::AlreadyStarted => {
                f.write_str("the MIDI engine is already running; stop it before starting it again")
            }
            Self::Io(detail) => write!(f, "MIDI engine error: {detail}"),
        }
    }
}

impl std::error::Error for EngineError {}
