//! Makes losses visible: the audio thread only counts and asks the host for a
//! main-thread callback; the main thread turns counter changes into log lines.

use super::{PhasorSyncMainThread, PhasorSyncShared};
use clack_extensions::log::LogSeverity;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Losses and traffic seen by the audio thread, readable from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events handed to the host's output queue.
    pub events_out: AtomicU64,
    /// Events the host's output queue refused (queue full).
    pub output_full: AtomicU64,
    /// Set by the audio thread when a counter of losses moved; cleared by the
    /// main thread when it has reported.
    report_pending: AtomicBool,
}

/// The loss counters as last reported to the user.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reported {
    output_full: u64,
}

impl Counters {
    /// Count one event delivered.
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn event_out(&self) {
        self.events_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one event the host refused, and ask for a report.
    ///
    /// # Realtime Safety
    /// Atomics, plus one `request_callback` to the host on the first loss
    /// since the last report (a thread-safe CLAP host call).
    #[inline]
    pub fn output_full(&self, shared: &PhasorSyncShared) {
        self.output_full.fetch_add(1, Ordering::Relaxed);
        if !self.report_pending.swap(true, Ordering::AcqRel) {
            shared.host.request_callback();
        }
    }
}

impl PhasorSyncMainThread<'_> {
    /// Log what was lost since the last report.
    pub(crate) fn report_losses(&self) {
        let counters = &self.shared.counters;
        counters.report_pending.store(false, Ordering::Release);
        let output_full = counters.output_full.load(Ordering::Relaxed);
        let new = output_full - self.reported.get().output_full;
        if new > 0 {
            self.shared.log(
                LogSeverity::Warning,
                &format!(
                    "the host's output event queue was full: {new} event(s) dropped \
                     ({output_full} since activation)"
                ),
            );
        }
        self.reported.set(Reported { output_full });
    }
}
