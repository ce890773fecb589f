//! What can go wrong opening the sequencer, with what the user can do about
//! it. Becomes [`EngineError::Unavailable`] at the seam.

use crate::engine::EngineError;
use std::fmt;

/// Why the sequencer client could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeqError {
    /// No ALSA sequencer device (`/dev/snd/seq` missing).
    NoSequencer,
    /// The sequencer device exists but may not be opened by this user.
    PermissionDenied,
    /// The sequencer client or its ports could not be created; the detail says why.
    ClientCreation(String),
}

impl fmt::Display for SeqError {
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
        }
    }
}

impl From<SeqError> for EngineError {
    fn from(e: SeqError) -> Self {
        EngineError::Unavailable(e.to_string())
    }
}
