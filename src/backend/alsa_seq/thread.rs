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
use super::log::LogLevel;
use super::output::OutputReceiver;
use super::queue_time::{measure_n, monotonic_ns, CORRECTION_TRIES};
use super::shared::{Counters, Shared, ThreadState};
use crate::engine::rt;
use crate::engine::sink::{source_id, Sink};

/// How often the queue↔monotonic offset is re-measured.
const CLOCK_CHECK_NS: u64 = 1_000_000_000;

/// The first readings come faster: the anchor taken right at queue start is
/// the least reliable (seen off by ~200 µs in the VM), so the median history
/// fills within a second instead of nine.
const EARLY_CLOCK_CHECK_NS: u64 = 100_000_000;
const EARLY_CLOCK_CHECKS: u32 = 10;

/// Encoder buffer: larger SysEx output is split into events of this size,
/// as the kernel's own rawmidi→sequencer encoder does.
const ENCODE_CHUNK: u32 = 256;

/// Everything the thread owns.
pub struct ThreadCtx {
    /// The client (moved in: the thread owns the handle).
    pub client: SeqClient,
    /// Parser + ring.
    pub sink: Sink,
    /// Shared with the engine.
    pub shared: Arc<Shared>,
    /// Output from `send()`.
    pub output: OutputReceiver,
    /// Initial auto-connect patterns.
    pub patterns: Patterns,
    /// SCHED_FIFO priority to ask for; `None`: stay at normal priority.
    pub rt_priority: Option<u8>,
}

/// Thread entry point: runs the loop, catching every panic.
pub fn run(ctx: ThreadCtx) {
    let shared = Arc::clone(&ctx.shared);
    let result = catch_unwind(AssertUnwindSafe(move || body(ctx)));
    match result {
        Ok(Ok(())) => shared.set_state(ThreadState::Stopped),
        Ok(Err(msg)) => {
            shared.log.push(
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
            shared.log.push(
                LogLevel::Error,
                format!("MIDI input thread failed (panic: {what}); the sequencer client was closed, MIDI input is off until the plugin is restarted"),
            );
            shared.set_state(ThreadState::Failed);
        }
    }
}

fn log_changes(shared: &Shared, ch: &Changes) {
    for c in &ch.connected {
        shared
            .log
            .push(LogLevel::Info, format!("auto-connected {c}"));
    }
    for c in &ch.disconnected {
        shared
            .log
            .push(LogLevel::Info, format!("auto-disconnected {c}"));
    }
    for c in &ch.failed {
        shared
            .log
            .push(LogLevel::Warning, format!("auto-connect failed: {c}"));
    }
}

fn body(ctx: ThreadCtx) -> Result<(), String> {
    let ThreadCtx {
        client,
        mut sink,
        shared,
        mut output,
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
                shared.log.push(LogLevel::Warning, e.to_string());
            }
        }
    }

    // Not Send: made here, on the thread that uses them.
    let decoder = MidiEvent::new(0).map_err(|e| format!("creating the MIDI decoder: {e}"))?;
    decoder.enable_running_status(false);
    let mut encoder =
        MidiEvent::new(ENCODE_CHUNK).map_err(|e| format!("creating the MIDI encoder: {e}"))?;
    encoder.enable_running_status(false);

    let mut connector = AutoConnector::new(
        patterns,
        Addr {
            client: own_client,
            port: in_port,
        },
    );
    let ch = connector.scan(&seq);
    log_changes(&shared, &ch);
    shared
        .counters
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
    let mut out_buf: Vec<u8> = Vec::with_capacity(1024);
    let mut next_clock_check = monotonic_ns() + EARLY_CLOCK_CHECK_NS;
    let mut clock_checks = 0u32;
    let mut overrun_logged = false;
    // The last timestamp handed on: see `stamp`.
    let mut last_stamp = 0u64;
    let mut errors_logged = 0u32;
    let c = &shared.counters;

    loop {
        // Drain everything the kernel has for us.
        loop {
            let mut ev = match input.event_input() {
                Ok(ev) => ev,
                Err(e) if e.errno() == libc::EAGAIN => break,
                Err(e) if e.errno() == libc::ENOSPC => {
                    Counters::add(&c.overruns, 1);
                    shared.log.notify();
                    if !overrun_logged {
                        overrun_logged = true;
                        shared.log.push(
                            LogLevel::Warning,
                            "MIDI input overrun: the kernel's input queue for PhasorSync \
                             filled up, so it dropped events and cleared the queue (counted \
                             in the stats; logged once)",
                        );
                    }
                    continue;
                }
                Err(e) => {
                    Counters::add(&c.event_errors, 1);
                    shared.log.notify();
                    if errors_logged < 10 {
                        errors_logged += 1;
                        shared.log.push(
                            LogLevel::Warning,
                            format!("reading a MIDI event failed: {e}"),
                        );
                    }
                    break;
                }
            };
            Counters::add(&c.events, 1);
            Counters::add(&c.cells, cells_for(ev.get_ext().map_or(0, <[u8]>::len)));
            match ev.get_type() {
                EventType::PortStart => {
                    Counters::add(&c.other_events, 1);
                    if let Some(a) = ev.get_data::<Addr>() {
                        let ch = connector.port_started(&seq, a);
                        log_changes(&shared, &ch);
                    }
                }
                EventType::PortExit => {
                    Counters::add(&c.other_events, 1);
                    if let Some(a) = ev.get_data::<Addr>() {
                        connector.port_exited(a);
                        sink.source_gone(source_id(a.client, a.port));
                    }
                }
                EventType::ClientExit => {
                    Counters::add(&c.other_events, 1);
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
                            Counters::add(&c.event_errors, 1);
                            if errors_logged < 10 {
                                errors_logged += 1;
                                shared.log.push(
                                    LogLevel::Warning,
                                    format!("decoding a {t:?} event failed: {e}"),
                                );
                            }
                        }
                    }
                }
                _ => Counters::add(&c.other_events, 1),
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
        let timeout_ms = next_clock_check.saturating_sub(now).div_ceil(1_000_000);
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
            // Output queued by send().
            while let Some(time_ns) = output.pop(&mut out_buf) {
                let sent = send_bytes(
                    &seq,
                    &mut encoder,
                    &out_buf,
                    time_ns,
                    queue,
                    out_port,
                    &clock,
                );
                match sent {
                    Ok(n) => {
                        Counters::add(&c.sent_messages, n);
                        Counters::add(&c.sent_bytes, out_buf.len() as u64);
                    }
                    Err(e) => {
                        Counters::add(&c.output_drops, 1);
                        shared.log.notify();
                        if errors_logged < 10 {
                            errors_logged += 1;
                            shared
                                .log
                                .push(LogLevel::Warning, format!("MIDI output dropped: {e}"));
                        }
                    }
                }
            }
            let _ = seq.drain_output();
            let new_patterns = match shared.pending_patterns.lock() {
                Ok(mut g) => g.take(),
                Err(p) => p.into_inner().take(),
            };
            if let Some(p) = new_patterns {
                let ch = connector.set_patterns(&seq, p);
                log_changes(&shared, &ch);
                shared
                    .counters
                    .auto_connected
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
    c: &Counters,
    last: &mut u64,
) -> u64 {
    let t = match ev.get_time() {
        Some(t) if ev.get_queue() == queue => clock.to_monotonic(t),
        _ => {
            Counters::add(&c.unstamped, 1);
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

/// Encodes `bytes` into events from our output port to its subscribers, on the
/// queue at `time_ns` (monotonic) or direct. Returns the number of events.
fn send_bytes(
    seq: &alsa::Seq,
    encoder: &mut MidiEvent,
    bytes: &[u8],
    time_ns: u64,
    queue: i32,
    out_port: i32,
    clock: &super::queue_time::QueueTime,
) -> Result<u64, String> {
    encoder.reset_encode();
    let at = if time_ns == 0 || time_ns <= monotonic_ns() {
        None
    } else {
        clock.to_queue(time_ns)
    };
    let mut pos = 0;
    let mut n = 0;
    while pos < bytes.len() {
        let (used, ev) = encoder
            .encode(&bytes[pos..])
            .map_err(|e| format!("encoding: {e}"))?;
        if used == 0 {
            break;
        }
        pos += used;
        if let Some(mut ev) = ev {
            ev.set_source(out_port);
            ev.set_subs();
            match at {
                Some(t) => ev.schedule_real(queue, false, t),
                None => ev.set_direct(),
            }
            seq.event_output(&mut ev).map_err(|e| {
                if e.errno() == libc::EAGAIN {
                    "the sequencer output pool is full".to_string()
                } else {
                    format!("writing: {e}")
                }
            })?;
            n += 1;
        }
    }
    Ok(n)
}
