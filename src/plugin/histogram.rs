//! Fixed-size histograms the audio thread fills for the plugin window:
//! where each hardware message landed against its sample (placement error)
//! and how long after its arrival it plays (delivery delay). One relaxed
//! atomic add per message, no allocation; any thread reads them. Totals over
//! the instance's life, like every counter: the window shows the last
//! minutes as the difference of two reads.

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
