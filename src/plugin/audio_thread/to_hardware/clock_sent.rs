//! What MIDI clock out has scheduled ahead of the host and not yet
//! confirmed, to tell whether the host still does what was predicted.
//!
//! Each block, the clock is worked out for the block itself (from the host's
//! transport) and for a lookahead beyond it (from the transport the
//! scheduler predicts). Both lists of events, each on its song sample and
//! with its stamp, are laid against this record: over the stretch already
//! scheduled, the same messages with stamps within [`STAMP_TOLERANCE_NS`]
//! mean the prediction held, and only what lies beyond it is new. Anything
//! else (a tempo change, a stop, a locate or loop the prediction did not
//! have, a new offset or latency, a timeline that moved) is a departure:
//! everything not yet confirmed is taken back and scheduled afresh.
//!
//! An event is confirmed once the block it falls in has worked it out from
//! the host's own transport (counted, not placed by its sample: a tick
//! worked out from two transports can land either side of a block boundary
//! by a rounding error), or delivered once its stamp is before a block's
//! call time (it may have left; it is never sent twice).
//!
//! A delivered event is told apart from the next ones by its place in the
//! stream, not by its sample: it left on the sample the prediction gave it,
//! and when the host then departs from the prediction (a late call, and a
//! tempo the prediction did not have), the block that has it puts the same
//! tick on another sample. So the events delivered ahead of their block are
//! kept, in order, until the blocks that have them come: a block's first
//! events of the same kinds are those, and are not sent again.

use std::collections::VecDeque;

use crate::midi_clock::ticks::ClockKind;

/// How far a stamp may move and still be the event already scheduled:
/// 0.1 ms, a tenth of the kernel's own p99 jitter, and far above the drift
/// of the timeline's rate estimate over the lookahead.
pub const STAMP_TOLERANCE_NS: u64 = 100_000;

/// How far a block's stamps may have moved from the last block's move for
/// the two to be one move of the timeline (see `ClockOut`).
pub const SHIFT_AGREEMENT_NS: u64 = STAMP_TOLERANCE_NS;

/// Positions closer than this (samples) are the same position: far below
/// any spacing of two clock messages, far above the float error of a tick
/// worked out from two different transports (~1e-5 samples seen).
const SAMPLE_EPS: f64 = 0.01;

/// Events one block can have in play (its own and the lookahead's): at the
/// scheduler's highest tempo (2000 bpm, 800 ticks a second) over seconds.
pub const CAPACITY: usize = 4096;

/// A clock message on its song sample, with its stamp.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Planned {
    /// Samples since the clock began (fractional).
    pub at: f64,
    /// `CLOCK_MONOTONIC` time it leaves at.
    pub stamp: u64,
    /// The message.
    pub kind: ClockKind,
}

/// How a block's events relate to what was scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The prediction held: send the events from this index on.
    Extend(usize),
    /// A departure: take back everything after the confirmed stamp, then
    /// send the events from this index on.
    Depart {
        /// The latest stamp that stays (confirmed or delivered).
        kept_ns: u64,
        /// The first event to send.
        from: usize,
    },
    /// The same messages, but stamps moved beyond the tolerance: the
    /// timeline moved. A departure if it lasts (see `ClockOut`).
    Moved {
        /// As for [`Verdict::Depart`].
        kept_ns: u64,
        /// As for [`Verdict::Depart`].
        from: usize,
        /// How far the first stamp beyond the tolerance moved, ns.
        shift_ns: i64,
    },
}

/// The record. See the module docs.
#[derive(Debug)]
pub struct SentClock {
    /// Scheduled and not yet confirmed, in order.
    open: VecDeque<Planned>,
    /// Delivered (by time) and not yet confirmed by the block that has
    /// them, in order: they come before everything open.
    left: VecDeque<Planned>,
    /// Events at or before this sample are confirmed or delivered.
    settled_at: f64,
    /// The latest stamp among them.
    settled_ns: u64,
    /// Everything before this sample has been scheduled.
    until: f64,
}

/// An empty deque of [`CAPACITY`] whose pages are touched now (at
/// activation): its ends move through all of it as blocks come, and the
/// audio thread must take no page fault there.
fn touched() -> VecDeque<Planned> {
    let mut q = VecDeque::with_capacity(CAPACITY);
    let blank = Planned {
        at: 0.0,
        stamp: 0,
        kind: ClockKind::Clock,
    };
    q.extend(std::iter::repeat_n(blank, q.capacity()));
    q.clear();
    q
}

impl Default for SentClock {
    fn default() -> Self {
        Self {
            open: touched(),
            left: touched(),
            settled_at: f64::NEG_INFINITY,
            settled_ns: 0,
            until: f64::NEG_INFINITY,
        }
    }
}

impl SentClock {
    /// A block is called at `call_ns`: what is stamped before it may have
    /// been delivered.
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn settle(&mut self, call_ns: u64) {
        while let Some(e) = self.open.front().copied().filter(|e| e.stamp < call_ns) {
            self.confirm(1);
            if self.left.len() == self.left.capacity() {
                // Unreachable (it holds no more than `open` did); the
                // oldest is the one a block would have confirmed first.
                self.left.pop_front();
            }
            self.left.push_back(e);
        }
    }

    /// The first `n` open events are confirmed (the block's own).
    pub fn confirm(&mut self, n: usize) {
        for _ in 0..n {
            let Some(e) = self.open.pop_front() else {
                return;
            };
            self.settled_at = self.settled_at.max(e.at);
            self.settled_ns = self.settled_ns.max(e.stamp);
        }
    }

    /// A block whose events (its own first, `own` of them, then its
    /// lookahead's) are `events` is done: its own events are confirmed,
    /// those delivered ahead of it and the others. Delivered events the
    /// block does not have (another kind in their place: a stop, a
    /// locate) went out for good and are forgotten.
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn confirm_block(&mut self, events: &[Planned], own: usize) {
        let delivered = self.delivered(events);
        // Another kind among the block's own events where one was
        // delivered (a lookahead that differs is left to its own block).
        let other = delivered < own.min(self.left.len());
        let mine = delivered.min(own);
        self.left.drain(..mine);
        if other {
            self.left.clear();
        }
        self.confirm(own - mine);
    }

    /// How many of `events` (in order, from the block's first) were
    /// delivered already: as many as lead both them and the events
    /// delivered ahead of their blocks with the same kinds.
    pub fn delivered(&self, events: &[Planned]) -> usize {
        events
            .iter()
            .zip(&self.left)
            .take_while(|(a, b)| a.kind == b.kind)
            .count()
    }

    /// Lays `events` (this block's and its lookahead's, in order, none
    /// before the block, none from sample `horizon` on) against what was
    /// scheduled before `horizon` (what lies beyond, `events` does not
    /// speak of).
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn verdict(&self, events: &[Planned], horizon: f64) -> Verdict {
        // Events already delivered are not looked at again. A tick worked
        // out from two transports can land either side of a boundary by a
        // rounding error: within `SAMPLE_EPS` it is the same tick.
        let first = self.delivered(events);
        let overlap = events[first..].partition_point(|e| e.at < self.until + SAMPLE_EPS);
        let fresh = &events[first..first + overlap];
        let same = |a: &Planned, b: &Planned| {
            a.kind == b.kind && a.stamp.abs_diff(b.stamp) <= STAMP_TOLERANCE_NS
        };
        let agreed = fresh
            .iter()
            .zip(&self.open)
            .take_while(|(a, b)| same(a, b))
            .count();
        // A transport message not scheduled before (a Stop, a locate) ends
        // everything open after it, wherever the horizon lies: a raw block's
        // horizon is its own end, short of the clocks scheduled ahead.
        let judged = if fresh[agreed..].iter().any(|e| e.kind != ClockKind::Clock) {
            self.open.len()
        } else {
            self.open
                .iter()
                .take_while(|e| e.at < horizon - SAMPLE_EPS)
                .count()
        };
        let matched = agreed.min(judged);
        if matched == judged {
            // All that was scheduled holds; anything the block adds to the
            // scheduled stretch (a prediction that had less) follows it.
            Verdict::Extend(first + matched)
        } else if fresh.len() >= judged
            && fresh
                .iter()
                .zip(&self.open)
                .take(judged)
                .all(|(a, b)| a.kind == b.kind)
        {
            let shift_ns = fresh[matched].stamp as i64 - self.open[matched].stamp as i64;
            Verdict::Moved {
                kept_ns: self.settled_ns,
                from: first,
                shift_ns,
            }
        } else {
            Verdict::Depart {
                kept_ns: self.settled_ns,
                from: first,
            }
        }
    }

    /// How many of `events` (in order) lie before what was scheduled ends.
    pub fn scheduled(&self, events: &[Planned]) -> usize {
        events.partition_point(|e| e.at < self.until + SAMPLE_EPS)
    }

    /// After a departure: nothing scheduled is open any more.
    pub fn taken_back(&mut self) {
        self.open.clear();
        self.until = f64::NEG_INFINITY;
    }

    /// `e` was scheduled; `false` (not recorded) when the record is full.
    ///
    /// # Realtime Safety
    /// No allocation: the record never grows past its capacity.
    pub fn push(&mut self, e: Planned) -> bool {
        if self.open.len() == self.open.capacity() {
            return false;
        }
        self.open.push_back(e);
        true
    }

    /// Everything before sample `at` has been scheduled (what was
    /// scheduled further ahead stays so).
    pub fn scheduled_until(&mut self, at: f64) {
        self.until = self.until.max(at);
    }

    /// The latest sample of what is confirmed or delivered (−∞ before any).
    pub fn settled_at(&self) -> f64 {
        self.settled_at
    }

    /// The latest stamp of what is confirmed or delivered.
    pub fn settled_ns(&self) -> u64 {
        self.settled_ns
    }

    /// Whether anything scheduled is still open.
    pub fn is_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Forgets the open events (they were taken back), the delivered ones
    /// and the lookahead.
    pub fn clear(&mut self, at: f64) {
        self.open.clear();
        self.left.clear();
        self.until = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(at: f64, stamp: u64) -> Planned {
        Planned {
            at,
            stamp,
            kind: ClockKind::Clock,
        }
    }

    /// What was sent after a block that scheduled `clocks` up to `until`.
    fn scheduled(clocks: [Planned; 3], until: f64) -> SentClock {
        let mut s = SentClock::default();
        for e in clocks {
            assert!(s.push(e));
        }
        s.scheduled_until(until);
        s
    }

    #[test]
    fn a_held_prediction_extends_and_a_departure_takes_back() {
        let mut s = scheduled(
            [clock(0.0, 1000), clock(10.0, 2000), clock(20.0, 3000)],
            25.0,
        );
        // The block's own event (at 0) is confirmed.
        s.confirm(1);
        assert_eq!(s.settled_ns(), 1000);
        let same = [
            clock(10.0, 2000 + 50_000),
            clock(20.0, 3000),
            clock(30.0, 4000),
        ];
        assert_eq!(s.verdict(&same, 1e9), Verdict::Extend(2));
        // A stamp moved by more than the tolerance: everything open goes.
        let moved = [clock(10.0, 2000 + 200_000), clock(20.0, 3000)];
        assert_eq!(
            s.verdict(&moved, 1e9),
            Verdict::Moved {
                kept_ns: 1000,
                from: 0,
                shift_ns: 200_000
            }
        );
        // Fewer messages than scheduled: a departure.
        assert!(matches!(
            s.verdict(&moved[..1], 1e9),
            Verdict::Depart { .. }
        ));
        // A Stop where a Clock was predicted.
        let stop = [Planned {
            kind: ClockKind::Stop,
            ..clock(5.0, 1500)
        }];
        assert!(matches!(s.verdict(&stop, 1e9), Verdict::Depart { .. }));
        // Called after the event at 10 was due: it is never sent again.
        s.settle(2500);
        assert_eq!(s.verdict(&same, 1e9), Verdict::Extend(2));
        assert_eq!(
            s.verdict(&moved, 1e9),
            Verdict::Extend(2),
            "only a delivered one moved"
        );
        let later = [clock(10.0, 2000), clock(20.0, 3000 + 200_000)];
        assert_eq!(
            s.verdict(&later, 1e9),
            Verdict::Moved {
                kept_ns: 2000,
                from: 1,
                shift_ns: 200_000
            }
        );
    }

    /// Clocks were scheduled 150 ms ahead; then a late call reset the
    /// timeline, so the block is raw: the plan covers the block alone and
    /// its horizon is the block's end, before every open clock. The host
    /// stops in that block. The clocks scheduled beyond must be taken back,
    /// or the slave gets them after the Stop (seen at 64 frames with xruns
    /// in the VM: all seven of the lookahead after the Stop).
    #[test]
    fn a_stop_in_a_block_that_predicts_nothing_takes_back_the_lookahead() {
        let s = scheduled(
            [clock(100.0, 1000), clock(200.0, 2000), clock(300.0, 3000)],
            350.0,
        );
        let stop = [Planned {
            kind: ClockKind::Stop,
            ..clock(50.0, 500)
        }];
        assert_eq!(
            s.verdict(&stop, 64.0),
            Verdict::Depart {
                kept_ns: s.settled_ns(),
                from: 0
            }
        );
        // A block with clocks only, and none of them due yet, still
        // leaves what lies beyond its horizon alone.
        assert_eq!(s.verdict(&[], 64.0), Verdict::Extend(0));
    }

    /// A tick delivered (by time) on the sample the prediction gave it is
    /// the block's first tick even where the block has it on another
    /// sample (the host departed from the prediction): it is not sent
    /// again, and the block's next event is confirmed from what is open. A
    /// delivered tick whose place a Stop takes went out for good.
    #[test]
    fn a_tick_delivered_ahead_is_known_by_its_place_not_its_sample() {
        let mut s = scheduled(
            [clock(100.0, 1000), clock(200.0, 2000), clock(300.0, 3000)],
            350.0,
        );
        // A late call: the first has left.
        s.settle(1500);
        // The host was slower than predicted: its ticks come later.
        let block = [clock(130.0, 1300), clock(260.0, 2600)];
        assert_eq!(s.delivered(&block), 1);
        s.confirm_block(&block, 2);
        assert_eq!(s.open.len(), 1, "the third is still open");
        assert_eq!(s.delivered(&[clock(390.0, 3900)]), 0);
        // The third leaves; the host stops where it was.
        s.settle(10_000);
        let stop = [Planned {
            kind: ClockKind::Stop,
            ..clock(390.0, 3900)
        }];
        assert_eq!(s.delivered(&stop), 0);
        s.confirm_block(&stop, 1);
        assert_eq!(s.delivered(&[clock(500.0, 5000)]), 0, "forgotten");
    }
}
