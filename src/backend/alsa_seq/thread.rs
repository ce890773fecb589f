//! The sequencer thread: poll the sequencer and the wake-up eventfd, read and
//! decode events, feed the parser, send queued output, follow announcements.
//!
//! Errors on single events (a failed read, an undecodable event, an input
//! overrun) are counted and logged, and the loop goes on. Whatever happens
//! inside, no panic leaves the thread: [`run`] catches it, logs it, marks the
//! engine [`ThreadState::Failed`], and the client closes as its handle drops.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use alsa::poll::Descriptors;
use alsa::seq::{Addr, Event, EventType, MidiEvent};
use alsa::Direction;

use super::client::{cells_for, SeqClient};
use super::connect::{AutoConnector, Changes, Patterns};
use super::output::{Output, Route};
use super::queue_time::{measure_n, CORRECTION_TRIES};
use super::shared::{Shared, ThreadState};
use crate::engine::rt;
use crate::engine::sink::{source_id, Sink};
use crate::engine::{LogLevel, News};
use crate::ring::MidiBufferConsumer;
use crate::timeline::monotonic_ns;

/// How often the queue↔monotonic offset is re-measured.
const CLOCK_CHECK_NS: u64 = 1_000_000_000;

/// The first readings come faster: the anchor taken right at queue start is
/// the least reliable (seen off by ~200 µs in the VM), so the median history
/// fills within a second instead of nine.
const EARLY_CLOCK_CHECK_NS: u64 = 100_000_000;
const EARLY_CLOCK_CHECKS: u32 = 10;

/// While the audio side may queue output, the thread looks at the output
/// ring at least this often (the audio thread makes no system call, so it
/// cannot wake us).
const OUTPUT_POLL_NS: u64 = 1_000_000;

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
    /// SCHED_FIFO priority to ask for; `None`: stay at normal priority.
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
                format!("MIDI input thread stopped: {msg}; MIDI input is off until the plugin is restarted"),
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
                format!("MIDI input thread failed (panic: {what}); the sequencer client was closed, MIDI input is off until the plugin is restarted"),
            );
            shared.set_state(ThreadState::Failed);
        }
    }
}

fn log_changes(news: &News, ch: &Changes) {
    for c in &ch.connected {
        news.log(LogLevel::Info, format!("auto-connected {c}"));
    }
    for c in &ch.disconnected {
        news.log(LogLevel::Info, format!("auto-disconnected {c}"));
    }
    for c in &ch.failed {
        news.log(LogLevel::Warning, format!("auto-connect failed: {c}"));
    }
}

fn body(ctx: ThreadCtx) -> Result<(), String> {
    let ThreadCtx {
        client,
        mut sink,
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
        mut clock,
        ..
    } = client;

    if let Some(p) = rt_priority {
        if let Err(e) = rt::make_current_thread_realtime(p) {
            // Once per engine: a plugin that is activated again and again
            // should not repeat it.
            if !shared.rt_refusal_logged.swap(true, Ordering::Relaxed) {
                news.log(LogLevel::Warning, e.to_string());
            }
        }
    }

    // Not Send: made here, on the thread that uses them.
    let decoder = MidiEvent::new(0).map_err(|e| format!("creating the MIDI decoder: {e}"))?;
    decoder.enable_running_status(false);
    let mut output = Output::new(output)?;

    let mut connector = AutoConnector::new(
        patterns,
        Addr {
            client: own_client,
            port: in_port,
        },
    );
    let ch = connector.scan(&seq);
    log_changes(&news, &ch);
    news.counters
        .auto_connected
        .store(connector.connected().len() as u64, Ordering::Relaxed);

    let seq_fds = (&seq, Some(Direction::Capture));
    let mut fds = vec![
        libc::pollfd {
            fd: shared.wake.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        1 + seq_fds.count()
    ];
    seq_fds
        .fill(&mut fds[1..])
        .map_err(|e| format!("getting the sequencer poll descriptors: {e}"))?;

    let mut input = seq.input();
    let mut dec_buf = [0u8; 16];
    let route = Route {
        port: out_port,
        queue,
    };
    let mut next_clock_check = monotonic_ns() + EARLY_CLOCK_CHECK_NS;
    let mut clock_checks = 0u32;
    let mut overrun_logged = false;
    // The last timestamp handed on: see `stamp`.
    let mut last_stamp = 0u64;
    let c = &news.counters;

    loop {
        // Drain everything the kernel has for us.
        loop {
            let mut ev = match input.event_input() {
                Ok(ev) => ev,
                Err(e) if e.errno() == libc::EAGAIN => break,
                Err(e) if e.errno() == libc::ENOSPC => {
                    news.count(&c.overruns, 1);
                    if !overrun_logged {
                        overrun_logged = true;
                        news.log(
                            LogLevel::Warning,
                            "MIDI input overrun: the kernel's input queue for PhasorSync \
                             filled up, so it dropped events and cleared the queue (counted \
                             in the stats; logged once)",
                        );
                    }
                    continue;
                }
                Err(e) => {
                    news.count(&c.event_errors, 1);
                    news.log_limited(
                        LogLevel::Warning,
                        &format!("reading a MIDI event failed: {e}"),
                    );
                    break;
                }
            };
            News::tally(&c.events, 1);
            News::tally(
                &shared.cells,
                cells_for(ev.get_ext().map_or(0, <[u8]>::len)),
            );
            match ev.get_type() {
                EventType::PortStart => {
                    News::tally(&c.other_events, 1);
                    if let Some(a) = ev.get_data::<Addr>() {
                        let ch = connector.port_started(&seq, a);
                        log_changes(&news, &ch);
                    }
                }
                EventType::PortExit => {
                    News::tally(&c.other_events, 1);
                    if let Some(a) = ev.get_data::<Addr>() {
                        connector.port_exited(a);
                        sink.source_gone(source_id(a.client, a.port));
                    }
                }
                EventType::ClientExit => {
                    News::tally(&c.other_events, 1);
                    if let Some(a) = ev.get_data::<Addr>() {
                        connector.client_exited(a.client);
                        sink.client_gone(a.client);
                    }
                }
                EventType::Sysex => {
                    let t = stamp(&ev, queue, &clock, c, &mut last_stamp);
                    let src = ev.get_source();
                    if let Some(bytes) = ev.get_ext() {
                        sink.feed(t, source_id(src.client, src.port), bytes);
                    }
                }
                t if is_midi(t) => {
                    let time = stamp(&ev, queue, &clock, c, &mut last_stamp);
                    let src = ev.get_source();
                    match decoder.decode(&mut dec_buf, &mut ev) {
                        Ok(n) if n > 0 => {
                            sink.feed(time, source_id(src.client, src.port), &dec_buf[..n])
                        }
                        Ok(_) => {}
                        Err(e) => {
                            news.count(&c.event_errors, 1);
                            news.log_limited(
                                LogLevel::Warning,
                                &format!("decoding a {t:?} event failed: {e}"),
                            );
                        }
                    }
                }
                _ => News::tally(&c.other_events, 1),
            }
        }
        // Cheap; once per wake-up rather than per event.
        c.auto_connected
            .store(connector.connected().len() as u64, Ordering::Relaxed);

        if shared.stop.load(Ordering::Acquire) {
            break;
        }

        // One clock read per wake-up: it also decides the clock correction.
        let now = monotonic_ns();
        if now >= next_clock_check {
            clock_checks = clock_checks.saturating_add(1);
            next_clock_check = now
                + if clock_checks < EARLY_CLOCK_CHECKS {
                    EARLY_CLOCK_CHECK_NS
                } else {
                    CLOCK_CHECK_NS
                };
            if let Ok(s) = measure_n(CORRECTION_TRIES, || {
                seq.get_queue_status(queue).map(|s| s.get_real_time())
            }) {
                if clock_checks <= EARLY_CLOCK_CHECKS {
                    clock.settle(s);
                } else {
                    clock.correct(s);
                }
            }
        }
        // Output the audio thread queued since the last wake-up.
        output.drain(&seq, route, &clock, &news);
        let timeout_ms = next_clock_check
            .saturating_sub(now)
            .min(OUTPUT_POLL_NS)
            .div_ceil(1_000_000);
        for f in fds.iter_mut() {
            f.revents = 0;
        }
        // SAFETY: `fds` is a valid, initialised slice of pollfd for its whole length.
        let rc = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout_ms.min(i32::MAX as u64) as i32,
            )
        };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(format!("poll failed: {err}"));
            }
        }

        if fds[0].revents & libc::POLLIN != 0 {
            shared.wake.clear();
            if shared.stop.load(Ordering::Acquire) {
                break;
            }
            if let Some(p) = shared.pending_patterns.pop() {
                let ch = connector.set_patterns(&seq, p);
                log_changes(&news, &ch);
                c.auto_connected
                    .store(connector.connected().len() as u64, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Our queue's timestamp converted to monotonic, or now if the event was not
/// stamped on our queue (should not happen: the input port stamps everything).
///
/// Never earlier than the previous one (`last`): events arrive in queue-time
/// order, but a correction of the queue-to-monotonic offset (large during the
/// first second, see [`super::queue_time`]) could otherwise make a timestamp step
/// back, and the messages of one stream must stay in time order.
fn stamp(
    ev: &Event<'_>,
    queue: i32,
    clock: &super::queue_time::QueueTime,
    c: &crate::engine::news::EngineCounters,
    last: &mut u64,
) -> u64 {
    let t = match ev.get_time() {
        Some(t) if ev.get_queue() == queue => clock.to_monotonic(t),
        _ => {
            News::tally(&c.unstamped, 1);
            monotonic_ns()
        }
    };
    *last = t.max(*last);
    *last
}

fn is_midi(t: EventType) -> bool {
    use EventType as E;
    matches!(
        t,
        E::Noteon
            | E::Noteoff
            | E::Keypress
            | E::Controller
            | E::Control14
            | E::Nonregparam
            | E::Regparam
            | E::Pgmchange
            | E::Chanpress
            | E::Pitchbend
            | E::Qframe
            | E::Songpos
            | E::Songsel
            | E::TuneRequest
            | E::Clock
            | E::Tick
            | E::Start
            | E::Continue
            | E::Stop
            | E::Sensing
            | E::Reset
    )
}
