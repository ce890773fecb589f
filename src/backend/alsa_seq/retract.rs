//! Taking back the clock's scheduled events ([`stream::RETRACT_CLOCK`]).
//!
//! The audio side schedules MIDI clock ahead of the host, on a prediction,
//! and corrects it when the host departs from it: a retraction from time `T`
//! removes every clock event of ours still waiting on the queue at or after
//! `T` (`snd_seq_remove_events`: our output, time after, tag match). Clock
//! events carry their own tag, [`CLOCK_TAG`], so host notes on the same
//! queue are never touched.
//!
//! The queue time to remove from is the one the first clock event at or
//! after `T` was scheduled at, remembered when it was sent: converted again,
//! `T` could land a few µs off (the queue's offset is corrected while it
//! runs) and take back one event too many or leave one behind.

use std::collections::VecDeque;
use std::time::Duration;

use alsa::seq::{Remove, RemoveEvents, Seq};

use crate::engine::stream;

/// The event tag of the clock stream's events; every other event has 0.
pub const CLOCK_TAG: u8 = 1;

/// How many clock events' queue times are remembered: far more than the
/// audio side schedules ahead (its lookahead at the highest tempo).
const REMEMBERED: usize = 4096;

/// The tag for an event of output stream `stream`.
pub fn tag_for(stream: u16) -> u8 {
    if stream == stream::CLOCK {
        CLOCK_TAG
    } else {
        0
    }
}

/// The queue times the clock's events were scheduled at, in time order
/// (the clock stream is kept in order).
#[derive(Debug)]
pub struct ClockSchedule {
    /// `(CLOCK_MONOTONIC` stamp, queue time`)`.
    sent: VecDeque<(u64, Duration)>,
}

impl Default for ClockSchedule {
    fn default() -> Self {
        Self {
            sent: VecDeque::with_capacity(REMEMBERED),
        }
    }
}

impl ClockSchedule {
    /// A clock event stamped `mono_ns` went on the queue at `queue`.
    pub fn note(&mut self, mono_ns: u64, queue: Duration) {
        if self.sent.len() == REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back((mono_ns, queue));
    }

    /// The queue time of the first clock event stamped at or after
    /// `from_ns`, forgetting it and every later one (they are taken back);
    /// `None` if there is none.
    pub fn take_from(&mut self, from_ns: u64) -> Option<Duration> {
        let i = self.sent.partition_point(|&(t, _)| t < from_ns);
        let at = self.sent.get(i).map(|&(_, q)| q);
        self.sent.truncate(i);
        at
    }
}

/// Removes every clock event of ours waiting on `queue` at or after
/// queue time `from`.
///
/// # Errors
/// The kernel refused the removal.
pub fn remove_clock(seq: &Seq, queue: i32, from: Duration) -> alsa::Result<()> {
    let what = RemoveEvents::new()?;
    what.set_condition(Remove::OUTPUT | Remove::TIME_AFTER | Remove::TAG_MATCH);
    what.set_queue(queue);
    what.set_time(from);
    what.set_tag(CLOCK_TAG);
    seq.remove_events(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retraction_starts_at_the_first_event_at_or_after_its_time() {
        let mut s = ClockSchedule::default();
        for (t, q) in [(10, 110), (20, 121), (20, 121), (30, 129)] {
            s.note(t, Duration::from_nanos(q));
        }
        // Converted again, 20 could be 119 or 123: the event's own time is used.
        assert_eq!(s.take_from(15), Some(Duration::from_nanos(121)));
        assert_eq!(s.take_from(15), None, "taken back already");
        assert_eq!(s.take_from(5), Some(Duration::from_nanos(110)));
        assert_eq!(tag_for(stream::CLOCK), CLOCK_TAG);
        assert_eq!(tag_for(stream::HOST), 0);
    }
}
