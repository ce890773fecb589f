//! Fixed-size histograms the audio thread fills for the plugin window:
//! where each hardware message landed against its sample (placement error)
//! and how long after its arrival it plays (delivery delay). One relaxed
//! atomic add per message, no allocation; any thread reads them. Totals over
//! the instance's life, like every counter: the window shows the last
//! minutes as the difference of two reads.

use crate::timeline::BlockMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets per histogram; the last one also counts everything beyond it.
pub const BUCKETS: usize = 32;

/// Counts of values in [`BUCKETS`] equal buckets from 0.
#[derive(Debug)]
pub struct Histogram {
    width: f64,
    counts: [AtomicU64; BUCKETS],
}

impl Histogram {
    /// An empty histogram whose buckets are `width` wide.
    pub const fn new(width: f64) -> Self {
        Histogram {
            width,
            counts: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    /// Count `value` (negative or NaN counts in the first bucket, anything
    /// past the last bucket in the last).
    ///
    /// # Realtime Safety
    /// Arithmetic and one relaxed atomic add.
    #[inline]
    pub fn record(&self, value: f64) {
        // `as usize` saturates: NaN and negatives give 0.
        let i = ((value / self.width) as usize).min(BUCKETS - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The width of one bucket.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Every bucket's count now.
    pub fn read(&self) -> [u64; BUCKETS] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// The timing of hardware messages given to the host.
#[derive(Debug)]
pub struct Timing {
    /// Distance between the sample a message was given at and the sample
    /// its arrival time maps to, in samples (a late message's is large).
    pub placement_error: Histogram,
    /// Time from a message's arrival to the time of the sample it was given
    /// at, in milliseconds: the latency in use, as delivered.
    pub delivery_delay: Histogram,
}

/// Placement error bucket: one sample.
pub const PLACEMENT_BUCKET: f64 = 1.0;
/// Delivery delay bucket: 0.5 ms (32 buckets: 0 to 16 ms).
pub const DELAY_BUCKET_MS: f64 = 0.5;

impl Timing {
    /// A message that arrived at `time_ns` was given to the host at sample
    /// `offset` of `block`, with `latency` frames added: count how far from
    /// its own sample that is and how long after its arrival it plays.
    ///
    /// # Realtime Safety
    /// Arithmetic and two relaxed atomic adds.
    #[inline]
    pub fn placed(&self, block: &BlockMap, time_ns: u64, latency: u32, offset: u32) {
        let error = f64::from(offset) - block.position(time_ns, latency);
        self.placement_error.record(error.abs());
        let plays = block.time_of(offset, 0);
        // Signed: a message placed before its arrival time (none should be)
        // counts as 0 rather than as a huge delay.
        let delay_ns = plays.wrapping_sub(time_ns) as i64;
        self.delivery_delay.record(delay_ns as f64 / 1e6);
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            placement_error: Histogram::new(PLACEMENT_BUCKET),
            delivery_delay: Histogram::new(DELAY_BUCKET_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Timeline;

    #[test]
    fn a_message_on_its_sample_counts_no_error_and_the_latency_as_delay() {
        let mut timeline = Timeline::new(48_000.0, 256);
        let block = timeline.begin_block(1_000_000_000, 256, Some(0));
        let latency = 256;
        let timing = Timing::default();
        // Arrived a block ago: with a block of latency it plays at sample 0.
        let at = block.time_of(10, latency);
        let on_its_sample = block.place(at, latency);
        assert_eq!(on_its_sample, crate::timeline::Placement::InBlock(10));
        timing.placed(&block, at, latency, 10);
        let err = timing.placement_error.read();
        assert_eq!(err[0], 1, "on its sample: error bucket 0");
        let delay = timing.delivery_delay.read();
        // 256 frames at 48 kHz: 5.33 ms, bucket 10 of 0.5 ms.
        let expect = (256.0 / 48.0 / DELAY_BUCKET_MS) as usize;
        assert_eq!(delay[expect], 1, "delay {delay:?}");
        // Placed 7 samples after its own: error bucket 7.
        timing.placed(&block, at, latency, 17);
        assert_eq!(timing.placement_error.read()[7], 1);
    }

    #[test]
    fn values_land_in_their_bucket_and_extremes_at_the_ends() {
        let h = Histogram::new(0.5);
        for v in [0.0, 0.49, 0.5, 1.2, -3.0, f64::NAN, 1e9] {
            h.record(v);
        }
        let c = h.read();
        assert_eq!(c[0], 4, "0, 0.49, a negative and NaN");
        assert_eq!(c[1], 1);
        assert_eq!(c[2], 1);
        assert_eq!(c[BUCKETS - 1], 1);
        assert_eq!(c.iter().sum::<u64>(), 7);
    }
}
