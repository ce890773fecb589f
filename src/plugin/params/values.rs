//! The current value of every parameter in [`super::table::PARAMS`], shared by
//! the main thread and the audio thread: one atomic per row, no lock.

use super::table::PARAMS;
use std::sync::atomic::{AtomicU64, Ordering};

/// One value per table row, each an `f64` stored as bits in an atomic.
#[derive(Debug)]
pub struct ParamValues([AtomicU64; PARAMS.len()]);

impl Default for ParamValues {
    fn default() -> Self {
        Self(std::array::from_fn(|i| {
            AtomicU64::new(PARAMS[i].default.to_bits())
        }))
    }
}

impl ParamValues {
    /// The value of row `index`.
    ///
    /// # Realtime Safety
    /// One relaxed atomic load.
    #[inline]
    pub fn get(&self, index: usize) -> f64 {
        f64::from_bits(self.0[index].load(Ordering::Relaxed))
    }

    /// Set row `index` to `value`, made valid by [`super::table::Param::clamp`].
    ///
    /// # Realtime Safety
    /// Arithmetic and one relaxed atomic store.
    #[inline]
    pub fn set(&self, index: usize, value: f64) {
        let v = PARAMS[index].clamp(value);
        self.0[index].store(v.to_bits(), Ordering::Relaxed);
    }
}
