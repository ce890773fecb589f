//! The sequencer thread: poll the sequencer and the wake-up eventfd, read and
//! decode events (`input`), send queued output (`send`), keep the
//! queue↔monotonic mapping (`clock_check`), follow announcements and
//! patterns (`patterns`), follow the host's priority (`priority`).
//!
//! Errors on single events (a failed read, an undecodable event, an input
//! overrun) are counted, the first few of each kind logged, and the loop goes
//! on. It ends, with a log line, on a poll error on its descriptors
//! (POLLERR/POLLNVAL/POLLHUP: the sequencer is gone) or when reads keep
//! failing (`input::MAX_FAILED_READS` in a row): a dead descriptor would
//! otherwise make `poll` return at once forever, spinning at SCHED_FIFO.
//! Whatever happens inside, no panic leaves the thread: [`run`] catches it,
//! logs it, marks the engine [`ThreadState::Failed`], and the client closes
//! as its handle drops. Held notes are released on every failed end. On a
//! clean stop the thread waits (bounded) for what is scheduled on its queue
//! to play before the client closes (`send`).

mod away;
mod clock_check;
mod input;
mod patterns;
pub(crate) mod priority;
mod send;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use alsa::poll::Descriptors;
use alsa::seq::{Addr, MidiEvent as EventCodec, Seq};
use alsa::Direction;

use super::client::SeqClient;
use super::connect::{AutoConnector, Patterns};
use super::output::SeqOutput;
use super::queue_time::QueueTime;
use crate::backend::shared::state::{Shared, ThreadState};
use crate::backend::shared::sync::lock;
use crate::engine::sink::Sink;
use crate::engine::{LogLevel, News};
use crate::ring::MidiBufferConsumer;

/// Everything the thread owns.
pub struct ThreadCtx {
    /// The client (moved in: the thread owns the handle).
    pub client: SeqClient,
    /// Parser + ring.
    pub sink: Sink,
    /// Shared with the engine.
    pub shared: Arc<Shared>,
    /// Counters and log lines for the main thread.
    pub news: Arc<News>,
    /// Output from the audio thread.
    pub output: MidiBufferConsumer,
    /// Initial auto-connect patterns.
    pub patterns: Patterns,
    /// SCHED_FIFO priority to start with; `None`: normal priority, always.
    pub rt_priority: Option<u8>,
}

/// Thread entry point: runs the loop, catching every panic.
pub fn run(ctx: ThreadCtx) {
    let shared = Arc::clone(&ctx.shared);
    let news = Arc::clone(&ctx.news);
    let result = catch_unwind(AssertUnwindSafe(move || body(ctx)));
    match result {
        Ok(Ok(())) => shared.set_state(ThreadState::Stopped),
        Ok(Err(msg)) => {
            news.log(
                LogLevel::Error,
                format!("MIDI thread stopped: {msg}; MIDI in and out are off until the plugin is restarted"),
            );
            shared.set_state(ThreadState::Failed);
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            news.log(
                LogLevel::Error,
                format!("MIDI thread failed (panic: {what}); the sequencer client was closed, MIDI in and out are off until the plugin is restarted"),
            );
            shared.set_state(ThreadState::Failed);
        }
    }
}

/// The thread's state, shared by the parts in the submodules.
struct Midi {
    seq: Seq,
    own_client: i32,
    out_port: i32,
    /// The sequencer's descriptor (owned by `seq`).
    fd: std::os::fd::RawFd,
    queue: i32,
    clock: QueueTime,
    sink: Sink,
    shared: Arc<Shared>,
    news: Arc<News>,
    connector: AutoConnector,
    input: input::Input,
    output: SeqOutput,
    clock_check: clock_check::ClockCheck,
    priority: priority::Priority,
}

impl Midi {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }
}

fn body(ctx: ThreadCtx) -> Result<(), String> {
    let ThreadCtx {
        client,
        sink,
        shared,
        news,
        output,
        patterns,
        rt_priority,
    } = ctx;
    let SeqClient {
        seq,
        client: own_client,
        in_port,
        out_port,
        queue,
        clock,
        hotplug_error,
        fd,
        ..
    } = client;
    let priority = priority::Priority::start(rt_priority, &shared, &news);
    // Not Send: made here, on the thread that uses them.
    let decoder = EventCodec::new(0).map_err(|e| format!("creating the MIDI decoder: {e}"))?;
    let remembered = lock(&shared.remembered).clone();
    shared.remembered_pending.store(false, Ordering::Release);
    let connector = AutoConnector::new(
        patterns,
        remembered,
        Addr {
            client: own_client,
            port: in_port,
        },
        Addr {
            client: own_client,
            port: out_port,
        },
    );
    let mut m = Midi {
        input: input::Input::new(decoder),
        output: SeqOutput::new(output)?,
        clock_check: clock_check::ClockCheck::new(),
        seq,
        own_client,
        out_port,
        fd,
        queue,
        clock,
        sink,
        shared,
        news,
        connector,
        priority,
    };
    if let Some(e) = hotplug_error {
        m.hotplug_off(&e);
    }
    m.initial_scan();
    let result = m.run_loop();
    if result.is_err() {
        let now = m.input.now();
        m.sink.break_all_streams(now);
    } else {
        // Stopping: the plugin's last words (a clock Stop, note-offs) are
        // scheduled like all output, then what waits on the queue plays
        // out before the client, and its queue, close.
        m.flush_output_last();
        m.play_out_queue();
    }
    result
}

impl Midi {
    fn run_loop(&mut self) -> Result<(), String> {
        let seq_fds = (&self.seq, Some(Direction::Capture));
        let mut fds = vec![
            libc::pollfd {
                fd: self.shared.wake.raw(),
                events: libc::POLLIN,
                revents: 0,
            };
            1 + seq_fds.count()
        ];
        seq_fds
            .fill(&mut fds[1..])
            .map_err(|e| format!("getting the sequencer poll descriptors: {e}"))?;
        loop {
            if self.drain_input()? == input::Drained::Stopping {
                break;
            }
            // Cheap; once per wake-up rather than per event.
            self.publish_connected();
            if self.stopping() {
                break;
            }
            // The audio thread makes no system call, so it cannot wake us:
            // its output ring is looked at on a fixed beat, at most
            // `OUTPUT_POLL_NS` apart (see `output::SeqOutput::poll_ns`).
            self.flush_output();
            let timeout_ns = self.check_clock().min(self.output.poll_ns());
            poll(&mut fds, timeout_ns)?;
            if fds[0].revents & libc::POLLIN != 0 {
                self.shared.wake.clear();
                if self.stopping() {
                    break;
                }
                self.follow_priority();
                self.apply_pending_patterns();
            }
        }
        Ok(())
    }
}

/// One `ppoll` of `fds` for at most `timeout_ns` (ns, not rounded up to
/// milliseconds as `poll` would). A descriptor in error (POLLERR, POLLNVAL,
/// POLLHUP) ends the thread: it would make every later `poll` return at once.
fn poll(fds: &mut [libc::pollfd], timeout_ns: u64) -> Result<(), String> {
    ppoll_ns(fds, timeout_ns)?;
    poll_faults(fds)
}

/// One `ppoll` of `fds` for at most `timeout_ns`; `revents` as the kernel
/// left them (an interrupted call leaves them all 0).
///
/// # Errors
/// `ppoll` failed other than by a signal.
pub(crate) fn ppoll_ns(fds: &mut [libc::pollfd], timeout_ns: u64) -> Result<(), String> {
    for f in fds.iter_mut() {
        f.revents = 0;
    }
    let timeout = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000).min(i32::MAX as u64) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `fds` is a valid, initialised slice of pollfd for its whole
    // length; `timeout` is a valid timespec; a null sigmask keeps ours.
    let rc = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &timeout,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("poll failed: {err}"));
        }
    }
    Ok(())
}

/// `Err` naming the first descriptor `poll` flagged as broken.
fn poll_faults(fds: &[libc::pollfd]) -> Result<(), String> {
    for (i, f) in fds.iter().enumerate() {
        let bad = f.revents & (libc::POLLERR | libc::POLLNVAL | libc::POLLHUP);
        if bad != 0 {
            let what = if bad & libc::POLLNVAL != 0 {
                "POLLNVAL (descriptor closed)"
            } else if bad & libc::POLLERR != 0 {
                "POLLERR"
            } else {
                "POLLHUP"
            };
            let which = if i == 0 {
                "the wake-up eventfd"
            } else {
                "the sequencer"
            };
            return Err(format!("poll reported {what} on {which}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::poll_faults;

    fn fd(revents: i16) -> libc::pollfd {
        libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents,
        }
    }

    #[test]
    fn broken_descriptors_end_the_loop() {
        assert!(poll_faults(&[fd(libc::POLLIN), fd(0)]).is_ok());
        let e = poll_faults(&[fd(0), fd(libc::POLLNVAL)]).unwrap_err();
        assert!(e.contains("POLLNVAL") && e.contains("sequencer"), "{e}");
        let e = poll_faults(&[fd(libc::POLLERR | libc::POLLIN), fd(0)]).unwrap_err();
        assert!(e.contains("POLLERR") && e.contains("eventfd"), "{e}");
        assert!(poll_faults(&[fd(0), fd(libc::POLLHUP)]).is_err());
    }
}
