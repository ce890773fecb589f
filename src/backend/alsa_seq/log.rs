//! A small bounded queue of log lines from the sequencer thread.
//!
//! The thread must not call into the CLAP host (host log calls belong to the
//! plugin's threads), so it leaves lines here and the plugin's main thread
//! fetches them with [`crate::engine::MidiEngine::pop_log`] and forwards them to
//! the host's log. The queue is bounded: when it is full, lines are dropped and
//! counted, and the count is reported with the next line that fits. A mutex is
//! fine here: neither side is the audio thread, and lines are rare.

use crate::ring::RingStats;
use std::collections::VecDeque;
use std::sync::Mutex;

use super::sync::lock;

/// Lines kept before new ones are dropped.
pub const LOG_CAPACITY: usize = 64;

pub use crate::engine::{LogLevel, LogLine};

/// The bounded queue shared between the thread and the engine.
#[derive(Debug, Default)]
pub struct LogQueue {
    inner: Mutex<Inner>,
    /// The running ring's counters: every line and every loss bumps its
    /// notices, so the audio thread knows to ask for a main-thread report.
    notices: Mutex<Option<RingStats>>,
}

#[derive(Debug, Default)]
struct Inner {
    lines: VecDeque<LogLine>,
    dropped: u64,
}

impl LogQueue {
    /// Appends a line, or counts it as dropped if the queue is full.
    pub fn push(&self, level: LogLevel, message: impl Into<String>) {
        let mut inner = lock(&self.inner);
        if inner.lines.len() >= LOG_CAPACITY {
            inner.dropped += 1;
            return;
        }
        let mut message = message.into();
        if inner.dropped > 0 {
            message = format!("({} earlier log lines dropped) {message}", inner.dropped);
            inner.dropped = 0;
        }
        inner.lines.push_back(LogLine { level, message });
        drop(inner);
        self.notify();
    }

    /// Tell the plugin there is news (a line, or a loss in the counters).
    pub fn notify(&self) {
        if let Some(ring) = lock(&self.notices).as_ref() {
            ring.notify();
        }
    }

    /// Where [`Self::notify`] goes: the ring of the current run, or nowhere.
    pub fn set_notices(&self, ring: Option<RingStats>) {
        *lock(&self.notices) = ring;
    }

    /// Takes the oldest line.
    pub fn pop(&self) -> Option<LogLine> {
        lock(&self.inner).lines.pop_front()
    }
}

/// "Log only the first N": one budget per kind of line. The lines past the
/// budget are not logged, but the caller counts every occurrence in the
/// stats; the last logged line says so.
#[derive(Debug)]
pub struct LogBudget {
    left: u32,
    what: &'static str,
}

impl LogBudget {
    /// A budget of `lines` lines about `what` (named in the closing remark).
    pub const fn new(lines: u32, what: &'static str) -> Self {
        Self { left: lines, what }
    }

    /// Logs `line()` as a warning while the budget lasts (the closure runs
    /// only then: no formatting past the budget). True if logged.
    pub fn push(&mut self, log: &LogQueue, line: impl FnOnce() -> String) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        let mut line = line();
        if self.left == 0 {
            line.push_str(&format!(
                " (further \"{}\" lines are not logged; the stats count them all)",
                self.what
            ));
        }
        log.push(LogLevel::Warning, line);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_reports_drops() {
        let q = LogQueue::default();
        for i in 0..LOG_CAPACITY + 3 {
            q.push(LogLevel::Info, format!("line {i}"));
        }
        for i in 0..LOG_CAPACITY {
            assert_eq!(q.pop().unwrap().message, format!("line {i}"));
        }
        assert!(q.pop().is_none());
        q.push(LogLevel::Warning, "after");
        let l = q.pop().unwrap();
        assert_eq!(l.level, LogLevel::Warning);
        assert_eq!(l.message, "(3 earlier log lines dropped) after");
    }

    #[test]
    fn a_budget_logs_the_first_lines_only() {
        let q = LogQueue::default();
        let mut b = LogBudget::new(2, "decoding failed");
        let mut formatted = 0;
        for i in 0..5 {
            b.push(&q, || {
                formatted += 1;
                format!("line {i}")
            });
        }
        assert_eq!(formatted, 2, "no formatting past the budget");
        assert_eq!(q.pop().unwrap().message, "line 0");
        let last = q.pop().unwrap().message;
        assert!(
            last.starts_with("line 1 (further \"decoding failed\""),
            "{last}"
        );
        assert!(q.pop().is_none());
    }
}
