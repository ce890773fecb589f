//! Errors of the engine seam.

use std::fmt;

/// Why a [`super::MidiEngine`] operation failed. Each message says what failed and
/// what the user can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// No ALSA sequencer device (`/dev/snd/seq` missing).
    NoSequencer,
    /// The sequencer device exists but may not be opened by this user.
    PermissionDenied,
    /// The sequencer client or its ports could not be created; the detail says why.
    ClientCreation(String),
    /// The input thread could not be spawned or joined; the detail says why.
    Thread(String),
    /// [`super::MidiEngine::start`] was called while the engine was running.
    AlreadyStarted,
    /// An operation that needs a running engine was called before `start` (or after `stop`).
    NotStarted,
    /// The sequencer's output pool is full; the bytes were dropped.
    OutputFull,
    /// The bytes given to `send` are not complete MIDI messages; the detail says why.
    InvalidMessage(String),
    /// Any other sequencer or OS error; the detail says what failed.
    Io(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSequencer => f.write_str(
                "no ALSA sequencer: /dev/snd/seq is missing; load the snd-seq kernel module \
                 (`modprobe snd-seq`) or run on a system with ALSA",
            ),
            Self::PermissionDenied => f.write_str(
                "permission denied opening the ALSA sequencer /dev/snd/seq; add the user to \
                 the `audio` group (then log in again)",
            ),
            Self::ClientCreation(detail) => write!(
                f,
                "could not create the ALSA sequencer client or its ports: {detail}; check \
                 that the sequencer is loaded and the client limit is not reached"
            ),
            Self::Thread(detail) => write!(
                f,
                "the MIDI input thread failed: {detail}; check system thread limits and \
                 restart the plugin"
            ),
            Self::AlreadyStarted => {
                f.write_str("the MIDI engine is already running; stop it before starting it again")
            }
            Self::NotStarted => {
                f.write_str("the MIDI engine is not running; start it before sending MIDI")
            }
            Self::OutputFull => f.write_str(
                "the ALSA sequencer output pool is full, MIDI output was dropped; send less \
                 at once or check that the destination port is reading",
            ),
            Self::InvalidMessage(detail) => write!(
                f,
                "refused to send invalid MIDI bytes: {detail}; send complete MIDI 1.0 \
                 messages (a SysEx from 0xF0 to 0xF7)"
            ),
            Self::Io(detail) => write!(f, "ALSA sequencer error: {detail}"),
        }
    }
}

impl std::error::Error for EngineError {}
