//! A model of a MIDI 1.0 clock slave that follows the spec to the letter,
//! to check what a clock sender's relocations do to a real device:
//!
//! - Song Position Pointer is taken only while stopped (ignored, and
//!   counted, while running);
//! - Start sets the position to 0 and Continue keeps it; either way the
//!   slave plays from that position on the next Clock;
//! - each Clock while running plays the next tick (advances 1/24 beat);
//! - Stop freezes the position at the next tick;
//! - no Clock for longer than the dropout window while running: the slave
//!   stops where it is (a dropout, counted), as hardware does.
//!
//! Times are in any unit, as long as the dropout window is in the same.
#![allow(dead_code)]

use phasorsync::midi_clock::follower::ClockMessage;
use phasorsync::midi_clock::ticks::ClockKind;

/// A clock message as PhasorSync's own follower takes it, so the same
/// stream can drive both slaves.
pub fn as_clock_message(kind: ClockKind) -> ClockMessage {
    match kind {
        ClockKind::Clock => ClockMessage::Clock,
        ClockKind::Start => ClockMessage::Start,
        ClockKind::Continue => ClockMessage::Continue,
        ClockKind::Stop => ClockMessage::Stop,
        ClockKind::SongPosition(p) => ClockMessage::SongPosition(p),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Stopped,
    /// Start or Continue received: the next Clock plays `pos`.
    Armed,
    Running,
}

/// The slave. See the module docs.
#[derive(Clone, Debug)]
pub struct StrictSlave {
    state: State,
    /// The tick the next Clock plays (while running or armed), or the one a
    /// Continue resumes at (while stopped).
    pos: i64,
    last_clock: Option<f64>,
    dropout: f64,
    /// Dropouts seen.
    pub dropouts: u32,
    /// SPPs ignored because they came while running.
    pub spp_ignored: u32,
}

impl StrictSlave {
    /// A stopped slave at position 0 that drops out after `dropout` (time
    /// units) without a Clock while running.
    pub fn new(dropout: f64) -> Self {
        Self {
            state: State::Stopped,
            pos: 0,
            last_clock: None,
            dropout,
            dropouts: 0,
            spp_ignored: 0,
        }
    }

    /// Whether it plays.
    pub fn running(&self) -> bool {
        self.state == State::Running
    }

    /// Takes one message at time `t`; for a Clock it plays, the tick it
    /// played.
    pub fn event(&mut self, t: f64, kind: ClockKind) -> Option<i64> {
        if self.state == State::Running && self.last_clock.is_some_and(|l| t - l > self.dropout) {
            self.state = State::Stopped;
            self.dropouts += 1;
        }
        match kind {
            ClockKind::Start => {
                self.pos = 0;
                self.state = State::Armed;
            }
            ClockKind::Continue => {
                if self.state == State::Stopped {
                    self.state = State::Armed;
                }
            }
            ClockKind::Stop => self.state = State::Stopped,
            ClockKind::SongPosition(p) => {
                if self.state == State::Running {
                    self.spp_ignored += 1;
                } else {
                    self.pos = i64::from(p) * 6;
                }
            }
            ClockKind::Clock => {
                self.last_clock = Some(t);
                if self.state != State::Stopped {
                    self.state = State::Running;
                    let played = self.pos;
                    self.pos += 1;
                    return Some(played);
                }
            }
        }
        None
    }
}
