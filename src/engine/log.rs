//! Log lines from below the seam, for the host's log.

/// Severity of a [`LogLine`], mapping onto the CLAP log severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Normal operation worth knowing (client name, connections made).
    Info,
    /// Something degraded but working (no realtime priority, an overrun).
    Warning,
    /// Something failed (the thread died, the client could not be created).
    Error,
}

/// One message for the host log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// How serious it is.
    pub level: LogLevel,
    /// What happened, and what to do about it when there is something to do.
    pub message: String,
}
