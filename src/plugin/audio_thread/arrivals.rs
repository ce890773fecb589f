//! In which block each message of the input ring was first there, so the
//! audio thread can tell what latency it needed: the reference time of that
//! block minus the message's kernel timestamp (the input of
//! [`crate::timeline::auto_latency`]). A message held back for a later
//! block must not count the wait it was held for.
//!
//! The ring is first in, first out: at the start of each block the messages
//! beyond those already known are new, and they leave in that order. So a
//! queue of groups (how many messages, which block) says it for every one,
//! in fixed room.

/// Blocks with new messages still queued that are told apart. More (a
/// latency of hundreds of blocks) fold the newest group into the one before,
/// which then says less than the newer messages needed: an underestimate,
/// never a latency that feeds its own growth.
pub const GROUPS: usize = 256;

/// A run of messages first seen in the same block.
#[derive(Clone, Copy, Debug, Default)]
struct Group {
    /// Messages of the run still queued.
    count: usize,
    /// The block's reference time, ns (`CLOCK_MONOTONIC`).
    t0_ns: u64,
    /// Whether their need means anything (not the block after a pause,
    /// when what queued meanwhile is first seen).
    measured: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct Arrivals {
    groups: [Group; GROUPS],
    /// Index of the oldest group, and how many there are.
    head: usize,
    len: usize,
    /// Messages the groups account for.
    known: usize,
}

impl Default for Arrivals {
    fn default() -> Self {
        Self {
            groups: [Group::default(); GROUPS],
            head: 0,
            len: 0,
            known: 0,
        }
    }
}

impl Arrivals {
    /// A block starts with `queued` messages in the ring, at reference time
    /// `t0_ns`; `measured`: whether the new ones' needs mean anything.
    ///
    /// # Realtime Safety
    /// Arithmetic and a copy.
    pub fn block(&mut self, queued: usize, t0_ns: u64, measured: bool) {
        let new = queued.saturating_sub(self.known);
        if new == 0 {
            return;
        }
        self.known += new;
        let group = Group {
            count: new,
            t0_ns,
            measured,
        };
        if self.len == GROUPS {
            let last = &mut self.groups[(self.head + GROUPS - 1) % GROUPS];
            last.count += new;
            last.measured &= measured;
        } else {
            self.groups[(self.head + self.len) % GROUPS] = group;
            self.len += 1;
        }
    }

    /// The oldest message left the ring: the reference time of the block it
    /// was first seen in, or `None` when that is not known or not measured.
    ///
    /// # Realtime Safety
    /// Arithmetic.
    pub fn pop(&mut self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let g = &mut self.groups[self.head];
        let seen = g.measured.then_some(g.t0_ns);
        g.count -= 1;
        self.known -= 1;
        if g.count == 0 {
            self.head = (self.head + 1) % GROUPS;
            self.len -= 1;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_gets_the_block_it_was_first_seen_in() {
        let mut a = Arrivals::default();
        a.block(2, 100, true);
        assert_eq!(a.pop(), Some(100));
        // One left from block 100, two new in block 200.
        a.block(3, 200, true);
        a.block(2, 300, true);
        assert_eq!(a.pop(), Some(100));
        assert_eq!(a.pop(), Some(200));
        a.block(2, 400, true);
        assert_eq!(a.pop(), Some(200));
        assert_eq!(a.pop(), Some(400));
        assert_eq!(a.pop(), None);
    }

    #[test]
    fn messages_first_seen_after_a_pause_are_not_measured() {
        let mut a = Arrivals::default();
        a.block(1, 100, false);
        a.block(2, 200, true);
        assert_eq!(a.pop(), None);
        assert_eq!(a.pop(), Some(200));
    }

    #[test]
    fn too_many_blocks_fold_into_the_newest_group_never_a_later_time() {
        let mut a = Arrivals::default();
        for k in 0..GROUPS + 10 {
            a.block(k + 1, k as u64, true);
        }
        for k in 0..GROUPS - 1 {
            assert_eq!(a.pop(), Some(k as u64));
        }
        for _ in 0..11 {
            assert_eq!(a.pop(), Some(GROUPS as u64 - 1));
        }
        assert_eq!(a.pop(), None);
    }
}
