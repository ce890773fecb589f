//! Messages to the user, through the host's CLAP log.

use crate::plugin::PhasorSyncShared;
use clack_extensions::log::LogSeverity;
use std::ffi::CString;

impl PhasorSyncShared<'_> {
    /// Log `message` through the host (thread-safe per the CLAP spec); when the
    /// host has no log extension, fall back to stderr so nothing is lost.
    ///
    /// # Realtime Safety
    /// Allocates: never call it from `process()`.
    pub(crate) fn log(&self, severity: LogSeverity, message: &str) {
        // Interior NULs would truncate the C string; replace them instead of failing.
        let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
        match &self.log {
            Some(log) => log.log(&self.host, severity, &text),
            None => eprintln!("PhasorSync [{severity:?}]: {message}"),
        }
    }
}
