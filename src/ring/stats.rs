//! Loss counters of one ring, shared by both halves and readable from any thread.
//!
//! Every counter has exactly one writer (the producer or the consumer), and is
//! only written on a loss path, so the hot paths touch none of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The atomics behind [`RingCounters`].
#[derive(Debug, Default)]
pub(crate) struct LossCells {
    /// Written by the producer.
    dropped_messages: AtomicU64,
    /// Written by the producer.
    dropped_sysex: AtomicU64,
    /// Written by the producer.
    dropped_sysex_bytes: AtomicU64,
    /// Written by the producer.
    rejected: AtomicU64,
    /// Written by the consumer.
    discarded_sysex: AtomicU64,
    /// Written by the consumer.
    discarded_sysex_bytes: AtomicU64,
}

/// Adds `n` to a counter. Relaxed: the counters order nothing, they only count.
fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Bytes as a counter increment (usize always fits in u64 on supported targets).
fn as_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl LossCells {
    pub(crate) fn message_dropped(&self) {
        bump(&self.dropped_messages, 1);
    }

    pub(crate) fn sysex_dropped(&self, bytes: usize) {
        bump(&self.dropped_sysex, 1);
        bump(&self.dropped_sysex_bytes, as_count(bytes));
    }

    pub(crate) fn rejected(&self) {
        bump(&self.rejected, 1);
    }

    pub(crate) fn sysex_discarded(&self, bytes: usize) {
        bump(&self.discarded_sysex, 1);
        bump(&self.discarded_sysex_bytes, as_count(bytes));
    }
}

/// A cloneable, thread-safe handle on the live loss counters of one ring
/// ([`RingStats`] is their snapshot: live `…Counters`, snapshot `…Stats`, as
/// everywhere in the crate).
///
/// Obtained from either half ([`super::MidiBufferProducer::stats`],
/// [`super::MidiBufferConsumer::stats`]); stays valid after both halves are gone.
/// Reading it never disturbs the ring.
#[derive(Clone, Debug)]
pub struct RingCounters {
    counters: Arc<LossCells>,
}

/// A snapshot of a ring's loss counters. All counts are totals since the ring was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Non-SysEx messages dropped because the message ring was full.
    pub dropped_messages: u64,
    /// SysEx messages dropped because the message ring or the byte storage was full.
    pub dropped_sysex: u64,
    /// Payload bytes of the SysEx messages counted in `dropped_sysex`.
    pub dropped_sysex_bytes: u64,
    /// Messages refused because the ring can never carry them: a SysEx without
    /// its payload (through `try_send`), a payload not framed by 0xF0 … 0xF7, or
    /// a payload larger than the whole byte storage.
    pub rejected: u64,
    /// SysEx payloads the consumer threw away after popping their message: the
    /// destination was too small, or the next message was popped first.
    pub discarded_sysex: u64,
    /// Payload bytes of the SysEx payloads counted in `discarded_sysex`.
    pub discarded_sysex_bytes: u64,
}

impl RingStats {
    /// All messages lost for any reason (dropped, rejected, or SysEx discarded by the consumer).
    pub fn total_lost(&self) -> u64 {
        self.dropped_messages
            .saturating_add(self.dropped_sysex)
            .saturating_add(self.rejected)
            .saturating_add(self.discarded_sysex)
    }
}

impl RingCounters {
    pub(crate) fn new() -> Self {
        Self {
            counters: Arc::new(LossCells::default()),
        }
    }

    pub(crate) fn counters(&self) -> &LossCells {
        &self.counters
    }

    /// Reads every counter. Each value is exact; the set is not one atomic snapshot
    /// while the ring is in use (a loss may land between two reads).
    ///
    /// # Realtime Safety
    /// Wait-free, no allocation: relaxed atomic loads only.
    pub fn snapshot(&self) -> RingStats {
        let c = &*self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RingStats {
            dropped_messages: load(&c.dropped_messages),
            dropped_sysex: load(&c.dropped_sysex),
            dropped_sysex_bytes: load(&c.dropped_sysex_bytes),
            rejected: load(&c.rejected),
            discarded_sysex: load(&c.discarded_sysex),
            discarded_sysex_bytes: load(&c.discarded_sysex_bytes),
        }
    }

    /// Non-SysEx messages dropped because the ring was full.
    pub fn dropped_messages(&self) -> u64 {
        self.counters.dropped_messages.load(Ordering::Relaxed)
    }

    /// SysEx messages dropped because the message ring or the byte storage was full.
    pub fn dropped_sysex(&self) -> u64 {
        self.counters.dropped_sysex.load(Ordering::Relaxed)
    }
}
