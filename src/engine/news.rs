//! The one news channel from a backend's MIDI thread to the plugin's main
//! thread: counters, log lines and clock statistics in one place, and one
//! doorbell.
//!
//! The MIDI thread (and the engine's main-thread code) count and log into a
//! shared [`News`]; each change rings the doorbell (an atomic counter). The
//! audio thread only compares the doorbell with the value it saw last and,
//! when it moved, asks the host for a main-thread callback, where the plugin
//! reads the counters and takes the log lines. No lock anywhere: counters are
//! relaxed atomics and the log is a bounded lock-free queue (lines that do
//! not fit are counted and the count is reported with the next line).

use crate::counting::counter_set;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines kept before new ones are dropped (and counted).
pub const LOG_CAPACITY: usize = 64;

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

counter_set! {
    /// Totals counted below the seam since the engine was created. Each loss
    /// has exactly one counter (one cause, one count); the reported ones say
    /// what the user reads when they move.
    pub struct EngineCounters => EngineStats {
        /// Backend events read, any type (diagnostics).
        events: u64,
        /// Of which not MIDI: announcements, subscription notices (diagnostics).
        other_events: u64,
        /// MIDI events that carried no timestamp and were stamped when read
        /// (diagnostics; should stay 0).
        unstamped: u64,
        /// Messages parsed from the input and offered to the ring.
        received_messages: u64,
        /// MIDI bytes fed to the parser.
        received_bytes: u64,
        /// Messages the input ring refused (full).
        ring_full: u64 => Warning "message(s) dropped: the MIDI input ring was full",
        /// Stray data bytes, undefined status bytes and other unparsable input skipped.
        parse_errors: u64 => Warning "malformed MIDI byte(s) or message(s) skipped",
        /// SysEx dropped by the parser: larger than the limit.
        sysex_oversize: u64 => Warning "SysEx dropped: larger than the limit",
        /// SysEx dropped by the parser: cut off (unterminated, or an overrun
        /// emptied the kernel queue in the middle of it).
        sysex_cut: u64 => Warning
            "SysEx dropped: cut off (unterminated, or interrupted by an overrun)",
        /// Kernel input overruns (each one lost events before they were read).
        overruns: u64,
        /// Events the kernel dropped in those overruns, where it says how many.
        overrun_events: u64 => Warning
            "event(s) lost in sequencer input overruns (the kernel's input queue for \
             PhasorSync was full)",
        /// Events that could not be read or decoded.
        event_errors: u64 => Warning "MIDI event(s) could not be read or decoded",
        /// Note-offs made up for notes left held by a source that went away or
        /// lost events in an overrun.
        notes_released: u64 => Warning
            "held note(s) released for a device that went away or lost events",
        /// Messages handed to the sequencer for output.
        sent_messages: u64,
        /// Bytes handed to the sequencer for output.
        sent_bytes: u64,
        /// Output messages sent at once because their time had passed.
        output_late: u64 => Warning "output message(s) were late and sent at once",
        /// Output messages dropped whole (kernel output pool full, encode or
        /// write error). A SysEx counts once, however many events it takes.
        output_dropped: u64 => Warning "output message(s) dropped by the sequencer",
        /// Output SysEx cut off: part of it may have reached a receiver (which
        /// then discards the unterminated SysEx at the next status byte) and not
        /// the rest: a write failed or found no room part way, the engine
        /// stopped in the middle of it, or a receiver went away during it.
        /// Not in `output_dropped`.
        output_sysex_cut: u64 => Warning
            "SysEx for the hardware cut off part way (a receiver refused the rest)",
        /// Sources and destinations currently connected automatically.
        auto_connected: u64,
        /// Clock statistics: the backend's last measured offset of its queue
        /// time from `CLOCK_MONOTONIC`, in ns.
        queue_offset_ns: i64,
        /// Clock statistics: the backend's measured queue clock rate error, in
        /// parts per billion.
        queue_rate_ppb: i64,
        /// The granularity of scheduled output, ns: the tick period of the timer
        /// the backend's queue runs on (1 ms on the high-resolution timer, a
        /// jiffy on the system timer); 0 when unknown.
        queue_timer_period_ns: u64,
    }
}

/// See the module docs. Shared (`Arc`) by the engine, its thread and the plugin.
#[derive(Debug)]
pub struct News {
    /// The counters. Count through [`News::count`] so the doorbell rings
    /// for losses; plain statistics may be stored directly.
    pub counters: EngineCounters,
    log: ArrayQueue<LogLine>,
    log_dropped: AtomicU64,
    bell: AtomicU64,
}

impl Default for News {
    fn default() -> Self {
        Self {
            counters: EngineCounters::default(),
            log: ArrayQueue::new(LOG_CAPACITY),
            log_dropped: AtomicU64::new(0),
            bell: AtomicU64::new(0),
        }
    }
}

impl News {
    /// Add `n` to `counter` (one of [`Self::counters`]) and ring the doorbell.
    ///
    /// # Realtime Safety
    /// Two relaxed atomic adds; no allocation, lock or system call.
    #[inline]
    pub fn count(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
            self.ring();
        }
    }

    /// Add `n` to a statistic that is not news by itself (no doorbell).
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn tally(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Leave a line for the host log and ring the doorbell. Allocates (the
    /// message): for the MIDI and main threads, never the audio thread.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        let mut message = message.into();
        let dropped = self.log_dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            message = format!("({dropped} earlier log lines dropped) {message}");
        }
        if self.log.push(LogLine { level, message }).is_err() {
            self.log_dropped.fetch_add(dropped + 1, Ordering::Relaxed);
        }
        self.ring();
    }

    /// Ring the doorbell: there is news for the main thread.
    ///
    /// # Realtime Safety
    /// One relaxed atomic add.
    #[inline]
    pub fn ring(&self) {
        self.bell.fetch_add(1, Ordering::Release);
    }

    /// The doorbell: how many times there was news. Compare with the last
    /// value seen.
    ///
    /// # Realtime Safety
    /// One atomic load.
    #[inline]
    pub fn bell(&self) -> u64 {
        self.bell.load(Ordering::Acquire)
    }

    /// The oldest log line, for the main thread.
    pub fn pop_log(&self) -> Option<LogLine> {
        self.log.pop()
    }

    /// Every counter, read now.
    pub fn stats(&self) -> EngineStats {
        self.counters.snapshot()
    }
}

/// "Log only the first N": one budget per kind of line, for lines that may
/// repeat without end (a per-event error). Lines past the budget are not
/// logged, but the caller still counts every occurrence; the last logged
/// line says so.
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
    pub fn push(&mut self, news: &News, line: impl FnOnce() -> String) -> bool {
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
        news.log(LogLevel::Warning, line);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_logging_ring_the_bell() {
        let news = News::default();
        let b0 = news.bell();
        news.count(&news.counters.overruns, 0);
        assert_eq!(news.bell(), b0, "nothing counted, no news");
        news.count(&news.counters.overruns, 2);
        assert_eq!(news.stats().overruns, 2);
        assert!(news.bell() > b0);
        let b1 = news.bell();
        news.log(LogLevel::Info, "hello");
        assert!(news.bell() > b1);
        assert_eq!(news.pop_log().unwrap().message, "hello");
        assert!(news.pop_log().is_none());
    }

    #[test]
    fn a_budget_logs_the_first_lines_only() {
        let news = News::default();
        let mut b = LogBudget::new(2, "decoding failed");
        let mut formatted = 0;
        for i in 0..5 {
            b.push(&news, || {
                formatted += 1;
                format!("line {i}")
            });
        }
        assert_eq!(formatted, 2, "no formatting past the budget");
        assert_eq!(news.pop_log().unwrap().message, "line 0");
        let last = news.pop_log().unwrap().message;
        assert!(
            last.starts_with("line 1 (further \"decoding failed\""),
            "{last}"
        );
        assert!(news.pop_log().is_none());
    }

    #[test]
    fn log_is_bounded_and_reports_drops() {
        let news = News::default();
        for i in 0..LOG_CAPACITY + 3 {
            news.log(LogLevel::Info, format!("line {i}"));
        }
        for i in 0..LOG_CAPACITY {
            assert_eq!(news.pop_log().unwrap().message, format!("line {i}"));
        }
        assert!(news.pop_log().is_none());
        news.log(LogLevel::Warning, "after");
        let l = news.pop_log().unwrap();
        assert_eq!(l.level, LogLevel::Warning);
        assert_eq!(l.message, "(3 earlier log lines dropped) after");
    }

    #[test]
    fn two_threads_log_without_losing_lines_that_fit() {
        let news = std::sync::Arc::new(News::default());
        let n = news.clone();
        let t = std::thread::spawn(move || {
            for i in 0..1000 {
                while n.log.len() >= LOG_CAPACITY {
                    std::thread::yield_now();
                }
                n.log(LogLevel::Info, format!("{i}"));
            }
        });
        let mut next = 0;
        while next < 1000 {
            if let Some(l) = news.pop_log() {
                assert_eq!(l.message, format!("{next}"));
                next += 1;
            }
        }
        t.join().unwrap();
    }
}
