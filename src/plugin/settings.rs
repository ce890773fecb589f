//! What the user sets: the MIDI input latency (a parameter) and the
//! auto-connect patterns (saved with the project). Shared by the main thread
//! and the audio thread.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Latencies the user can choose, in blocks (the host's maximum block size).
pub const LATENCY_CHOICES: u32 = 3;
/// One block: every event that reached the ring lands on its own sample.
pub const DEFAULT_LATENCY_BLOCKS: u32 = 1;

/// The user's settings. The audio thread only reads the latency (an atomic).
#[derive(Debug)]
pub struct Settings {
    latency_blocks: AtomicU32,
    /// Auto-connect patterns from the project (see `crate::backend::alsa_seq::connect`).
    /// Main thread only; the mutex is never touched by the audio thread.
    patterns: Mutex<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            latency_blocks: AtomicU32::new(DEFAULT_LATENCY_BLOCKS),
            patterns: Mutex::new(String::new()),
        }
    }
}

impl Settings {
    /// The MIDI input latency in blocks, `0..LATENCY_CHOICES`.
    ///
    /// # Realtime Safety
    /// One relaxed atomic load.
    #[inline]
    pub fn latency_blocks(&self) -> u32 {
        self.latency_blocks.load(Ordering::Relaxed)
    }

    /// Set the latency from a parameter value (rounded, clamped).
    ///
    /// # Realtime Safety
    /// One relaxed atomic store.
    pub fn set_latency_value(&self, value: f64) {
        let blocks = value.round().clamp(0.0, f64::from(LATENCY_CHOICES - 1)) as u32;
        self.latency_blocks.store(blocks, Ordering::Relaxed);
    }

    /// The auto-connect patterns.
    pub fn patterns(&self) -> String {
        self.patterns.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Replace the auto-connect patterns.
    pub fn set_patterns(&self, patterns: &str) {
        if let Ok(mut p) = self.patterns.lock() {
            patterns.clone_into(&mut p);
        }
    }
}
