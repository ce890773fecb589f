//! Periodic re-measurement of the queue↔monotonic mapping
//! ([`crate::backend::alsa_seq::queue_time`]).

use std::sync::atomic::Ordering;

use super::Midi;
use crate::backend::alsa_seq::queue_time::{measure_n, CORRECTION_TRIES};
use crate::timeline::monotonic_ns;

/// How often the mapping is re-measured once settled.
const CLOCK_CHECK_NS: u64 = 1_000_000_000;

/// The first readings come faster: the anchor taken right at queue start is
/// the least reliable (seen off by ~200 µs in the VM), so the median history
/// fills within a second instead of nine.
const EARLY_CLOCK_CHECK_NS: u64 = 100_000_000;
const EARLY_CLOCK_CHECKS: u32 = 10;

/// When the next check is due, and how many were made.
pub struct ClockCheck {
    next_ns: u64,
    checks: u32,
}

impl ClockCheck {
    /// The first check comes [`EARLY_CLOCK_CHECK_NS`] from now.
    pub fn new() -> Self {
        Self {
            next_ns: monotonic_ns() + EARLY_CLOCK_CHECK_NS,
            checks: 0,
        }
    }
}

impl Midi {
    /// Re-measures the mapping when due. Returns the nanoseconds until the
    /// next check, the longest the thread may sleep in `poll`.
    pub(super) fn check_clock(&mut self) -> u64 {
        // One clock read per wake-up: it also decides the poll timeout.
        let now = monotonic_ns();
        let cc = &mut self.clock_check;
        if now >= cc.next_ns {
            cc.checks = cc.checks.saturating_add(1);
            cc.next_ns = now
                + if cc.checks < EARLY_CLOCK_CHECKS {
                    EARLY_CLOCK_CHECK_NS
                } else {
                    CLOCK_CHECK_NS
                };
            let seq = &self.seq;
            let queue = self.queue;
            if let Ok(s) = measure_n(CORRECTION_TRIES, || {
                seq.get_queue_status(queue).map(|s| s.get_real_time())
            }) {
                if cc.checks <= EARLY_CLOCK_CHECKS {
                    self.clock.settle(s);
                } else {
                    self.clock.correct(s);
                }
                // Clock statistics for the main thread, with the other news.
                let c = &self.news.counters;
                c.queue_offset_ns
                    .store(self.clock.offset_ns(), Ordering::Relaxed);
                c.queue_rate_ppb
                    .store((self.clock.rate_ppm() * 1000.0) as i64, Ordering::Relaxed);
            }
        }
        cc.next_ns.saturating_sub(now)
    }
}
