//! The MIDI thread's end of the output path: take what `process()` put in the
//! output ring, encode it into sequencer events (alsa's MIDI encoder) and
//! schedule each on our queue at its `CLOCK_MONOTONIC` time converted to
//! queue time. A message whose time has passed is counted as late and
//! still scheduled, at its own past time: the queue sends it at its next
//! tick, in time order with what waits for that tick (sent direct, it would
//! overtake them: a note-off before its note-on, a clock after Stop).
//!
//! The sequencer handle belongs to the thread (alsa-lib handles are not
//! thread-safe), so the audio thread never touches it: it only pushes to the
//! lock-free ring, whose messages are whole by construction (a message and
//! its SysEx payload are published together). The audio thread makes no
//! system call, so it cannot wake us: the thread looks at the ring on a
//! fixed beat, [`OUTPUT_POLL_NS`] at the most between two looks (the seam's
//! promise, which lets the audio side stamp messages that far ahead).
//!
//! Every event is written straight to the kernel (no alsa-lib output
//! buffer), so each one is either in the kernel or counted: events
//! scheduled on the queue wait in our client's kernel *output pool* until
//! their time, and when it is full the kernel refuses the event (`EAGAIN`);
//! that message is dropped and counted, nothing else is affected. SysEx
//! goes out at the speed of a MIDI wire, event by event, and the other
//! messages (but realtime ones) wait until it is off the wire
//! ([`crate::backend::shared::sysex_pacer`]); one that fails after its first event is
//! counted as cut (one cause, one counter: not also as dropped). An event
//! sent at once is delivered while it is written, so a subscriber that
//! refuses it (its own input pool full) fails the write although the others
//! got it: a message sent at once and refused is counted as dropped. No
//! `F7` is added to a cut SysEx: that would make the truncated message look
//! complete; receivers discard it at the next status byte.

use std::os::fd::RawFd;

use alsa::seq::{Event, EventType, MidiEvent as EventCodec};

use super::away_notes::AwayNotes;
use super::client::cells_for;
use super::queue_time::QueueTime;
use super::raw::output_free;
use super::retract::{remove_clock, tag_for, ClockSchedule};
use crate::backend::shared::sysex_pacer::{Chunk, Hold, Outcome, SysexPacer, WriteError};
use crate::engine::news::LogBudget;
use crate::engine::stream::{self, StreamOrder};
use crate::engine::{LogLevel, News, OUTPUT_POLL_NS};
use crate::protocol::MidiMessage;
use crate::ring::MidiBufferConsumer;
use crate::timeline::monotonic_ns;

/// Encoder buffer: larger SysEx output is split into events of this size,
/// as the kernel's own rawmidi→sequencer encoder does.
const ENCODE_CHUNK: usize = 256;

/// Allowance for waking up late: `poll` returns after its timeout plus the
/// timer slack (50 µs for a normal thread) and the scheduler's delay.
const WAKE_MARGIN_NS: u64 = 250_000;

/// The beat of the looks at the ring: a look at most [`OUTPUT_POLL_NS`]
/// after the previous one began, wake-up delays included (≈ 267 Hz).
pub const LOOK_EVERY_NS: u64 = OUTPUT_POLL_NS - WAKE_MARGIN_NS;

// Not much faster than the design's 250 Hz either.
const _: () = assert!(LOOK_EVERY_NS >= OUTPUT_POLL_NS * 9 / 10);

/// Where output goes: our port, to its subscribers, on our queue.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// Our client number.
    pub client: i32,
    /// Our `MIDI out` port.
    pub port: i32,
    /// Our queue.
    pub queue: i32,
    /// The sequencer's descriptor, to ask for the output pool's room.
    pub fd: RawFd,
}

/// The thread's output state: the ring, the encoder, a SysEx scratch buffer.
pub struct SeqOutput {
    ring: MidiBufferConsumer,
    encoder: EventCodec,
    /// One SysEx payload; as large as the ring's SysEx storage, allocated once.
    scratch: Vec<u8>,
    /// The SysEx going out at the wire's pace, and those waiting for it.
    pacer: SysexPacer,
    /// Receivers of the SysEx going out (subscribers of our port) at its
    /// last event: fewer at the next means one got part of it.
    readers: Option<i32>,
    /// That SysEx was counted as cut for a receiver gone (once).
    reader_gone: bool,
    drops: LogBudget,
    cuts: LogBudget,
    /// `CLOCK_MONOTONIC` of the next look due: a fixed grid
    /// [`LOOK_EVERY_NS`] apart, so a late wake-up is followed by a shorter
    /// sleep instead of pushing every later look back.
    due_ns: u64,
    order: StreamOrder,
    /// Where the clock's events went on the queue, for retractions.
    clock_sent: ClockSchedule,
    retract_errors: LogBudget,
    /// The notes sent, by delivery time, for devices that go away.
    away: AwayNotes,
}

/// Why a message was not sent whole.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Nothing went out.
    Dropped(String),
    /// Part of a SysEx may have gone out, not all of it.
    Cut(String),
}

impl SeqOutput {
    /// The thread's end of `ring`. Made on the MIDI thread (alsa's encoder
    /// is not `Send`), at start; allocates the SysEx scratch there.
    ///
    /// # Errors
    /// alsa's encoder could not be created.
    pub fn new(ring: MidiBufferConsumer) -> Result<Self, String> {
        let encoder = EventCodec::new(ENCODE_CHUNK as u32)
            .map_err(|e| format!("creating the MIDI encoder: {e}"))?;
        encoder.enable_running_status(false);
        let scratch = vec![0; ring.sysex_capacity()];
        let pacer = SysexPacer::new(ring.sysex_capacity());
        Ok(Self {
            ring,
            encoder,
            scratch,
            pacer,
            readers: None,
            reader_gone: false,
            drops: LogBudget::new(10, "MIDI output dropped"),
            cuts: LogBudget::new(10, "MIDI output SysEx cut off"),
            due_ns: monotonic_ns() + LOOK_EVERY_NS,
            order: StreamOrder::default(),
            clock_sent: ClockSchedule::default(),
            retract_errors: LogBudget::new(10, "MIDI clock retraction failed"),
            away: AwayNotes::new(),
        })
    }

    /// The last look, as the engine stops: what the audio thread queued as
    /// it stopped (a clock Stop, note-offs for held notes) is scheduled
    /// like all output (the thread then lets the queue play out before the
    /// client closes), and a SysEx still going out at the wire's pace is
    /// ended: counted as cut or dropped, and what waited behind it is
    /// scheduled after what is already queued ([`SysexPacer::stop`]).
    pub fn drain_last(&mut self, seq: &alsa::Seq, route: Route, clock: &QueueTime, news: &News) {
        self.drain(seq, route, clock, news);
        self.stop_pacing(seq, route, clock, news);
    }

    /// Send everything queued.
    pub fn drain(&mut self, seq: &alsa::Seq, route: Route, clock: &QueueTime, news: &News) {
        self.due_ns = next_due(self.due_ns, monotonic_ns());
        while let Some(mut msg) = self.ring.try_pop() {
            if msg.port == stream::RETRACT_CLOCK {
                self.retract_clock(seq, route, msg.time_ns, news);
                continue;
            }
            msg.time_ns = self.order.keep(msg.port, msg.time_ns);
            if msg.event.is_sysex() {
                self.pace_sysex(msg, news);
                continue;
            }
            if !msg.event.is_realtime() {
                // Not inside a SysEx on the wire (see `sysex_pacer`).
                msg.time_ns = self
                    .order
                    .keep(msg.port, self.pacer.hold_until(msg.time_ns));
            }
            let msg = match self.pacer.hold(msg) {
                Hold::Now(msg) => msg,
                Hold::Kept => continue,
                Hold::Full(msg) => {
                    let why = format!(
                        "{:?} had to wait behind SysEx going out, and too many messages wait",
                        msg.event
                    );
                    news.count(&news.counters.output_dropped, 1);
                    self.drops
                        .push(news, || format!("MIDI output dropped: {why}"));
                    continue;
                }
            };
            let (drops, cuts) = (&mut self.drops, &mut self.cuts);
            let sent = send_one(
                seq,
                &mut self.encoder,
                &msg,
                route,
                clock,
                news,
                drops,
                cuts,
            );
            note_clock(&mut self.clock_sent, sent, &msg, clock);
            note_delivery(&mut self.away, sent, &msg, news);
        }
        self.feed_sysex(seq, route, clock, news);
    }

    /// A SysEx off the ring, to the pacer: it goes out from its time, or
    /// once the SysEx before it are off the wire.
    fn pace_sysex(&mut self, msg: MidiMessage, news: &News) {
        let Some(n) = self.ring.pop_sysex_payload(&mut self.scratch) else {
            // Cannot happen (the scratch holds the ring's whole SysEx
            // storage), but a loss is never silent.
            news.count(&news.counters.output_dropped, 1);
            return;
        };
        let now = monotonic_ns();
        if msg.time_ns <= now {
            news.count(&news.counters.output_late, 1);
        }
        match self.pacer.accept(msg.time_ns, now, &self.scratch[..n]) {
            // Its stream goes on after its start.
            Ok(start) => _ = self.order.keep(msg.port, start),
            Err(e) => tell(
                news,
                &mut self.drops,
                &mut self.cuts,
                Outcome::Dropped { len: n, why: e },
            ),
        }
    }

    /// Writes the SysEx events due soon to the queue, as the output pool
    /// has room (see [`SysexPacer::feed`]).
    fn feed_sysex(&mut self, seq: &alsa::Seq, route: Route, clock: &QueueTime, news: &News) {
        let (drops, cuts, encoder) = (&mut self.drops, &mut self.cuts, &mut self.encoder);
        let (clock_sent, away) = (&mut self.clock_sent, &mut self.away);
        let (readers, reported) = (&mut self.readers, &mut self.reader_gone);
        let mut gone = None;
        self.pacer.feed(
            monotonic_ns(),
            |chunk| {
                let now = read_use(seq, route);
                if chunk.first {
                    *reported = false;
                } else if !*reported && now.zip(*readers).is_some_and(|(n, r)| n < r) {
                    *reported = true;
                    gone = Some(chunk.sysex_len);
                }
                *readers = now;
                write_chunk(seq, route, clock, &chunk)
            },
            |o| match o {
                Outcome::Release(msg) => {
                    let sent = send_one(seq, encoder, &msg, route, clock, news, drops, cuts);
                    note_clock(clock_sent, sent, &msg, clock);
                    note_delivery(away, sent, &msg, news);
                }
                o => tell(news, drops, cuts, o),
            },
        );
        if let Some(len) = gone {
            // It goes on to the others: one cause, one count.
            let why = "a receiver went away part way through it".to_string();
            tell(news, drops, cuts, Outcome::Cut { len, why });
        }
    }

    /// The engine stops: what the pacer holds goes at once or is counted.
    fn stop_pacing(&mut self, seq: &alsa::Seq, route: Route, clock: &QueueTime, news: &News) {
        // What waited behind a SysEx was stamped after its end on the wire;
        // that SysEx is cut now, so it goes once the events already written
        // are out (still after them and whatever its stream queued before),
        // not seconds later, after the queue is gone.
        let free_at = self.pacer.cut_point().unwrap_or(0).max(monotonic_ns());
        let (drops, cuts, encoder) = (&mut self.drops, &mut self.cuts, &mut self.encoder);
        let (clock_sent, away) = (&mut self.clock_sent, &mut self.away);
        self.pacer.stop(
            |bytes| {
                let mut ev = Event::new_ext(EventType::Sysex, bytes);
                address(&mut ev, route, None);
                seq.event_output_direct(&mut ev)
                    .map(|_| ())
                    .map_err(|e| write_error(e, false))
            },
            |o| match o {
                Outcome::Release(mut msg) => {
                    msg.time_ns = msg.time_ns.min(free_at);
                    let sent = send_one(seq, encoder, &msg, route, clock, news, drops, cuts);
                    note_clock(clock_sent, sent, &msg, clock);
                    note_delivery(away, sent, &msg, news);
                }
                o => tell(news, drops, cuts, o),
            },
        );
    }

    /// Takes back the clock's events from `from_ns` on (see
    /// [`crate::backend::alsa_seq::retract`]); a failure is counted as
    /// dropped output (the events it should have replaced may stay) and
    /// logged.
    fn retract_clock(&mut self, seq: &alsa::Seq, route: Route, from_ns: u64, news: &News) {
        self.order.restart(stream::CLOCK, from_ns);
        let Some(at) = self.clock_sent.take_from(from_ns) else {
            return;
        };
        if let Err(e) = remove_clock(seq, route.queue, at) {
            news.count(&news.counters.output_dropped, 1);
            self.retract_errors
                .push(news, || format!("MIDI clock retraction failed: {e}"));
        }
    }

    /// The notes sent so far and the devices that went away with some held
    /// ([`AwayNotes`]): the thread tells it who comes and goes.
    pub fn away_notes(&mut self) -> &mut AwayNotes {
        &mut self.away
    }

    /// When the next look at the ring is due (`CLOCK_MONOTONIC` ns).
    pub fn due_ns(&self) -> u64 {
        self.due_ns
    }

    /// How long the thread may sleep before looking at the ring again, ns.
    pub fn poll_ns(&self) -> u64 {
        self.due_ns.saturating_sub(monotonic_ns())
    }
}

/// Writes one SysEx event to the queue at its time, if the output pool
/// has room for it.
fn write_chunk(
    seq: &alsa::Seq,
    route: Route,
    clock: &QueueTime,
    chunk: &Chunk<'_>,
) -> Result<(), WriteError> {
    let need = cells_for(chunk.bytes.len());
    if output_free(route.fd, route.client).is_ok_and(|free| u64::from(free) < need) {
        return Err(WriteError::NoRoom);
    }
    let Some(at) = clock.to_queue(chunk.time_ns) else {
        return Err(WriteError::Failed(
            "its time is before the sequencer's queue started".to_string(),
        ));
    };
    let mut ev = Event::new_ext(EventType::Sysex, chunk.bytes);
    address(&mut ev, route, Some(at));
    match seq.event_output_direct(&mut ev) {
        Ok(_) => Ok(()),
        Err(e) if e.errno() == libc::EAGAIN => Err(WriteError::NoRoom),
        Err(e) => Err(WriteError::Failed(write_error(e, true))),
    }
}

/// Sends one message that is not SysEx ([`send`]) and counts what became of it.
#[allow(clippy::too_many_arguments)]
fn send_one(
    seq: &alsa::Seq,
    encoder: &mut EventCodec,
    msg: &MidiMessage,
    route: Route,
    clock: &QueueTime,
    news: &News,
    drops: &mut LogBudget,
    cuts: &mut LogBudget,
) -> bool {
    let mut small = [0u8; 3];
    let n = msg.event.write_bytes(&mut small);
    let bytes = &small[..n];
    match send(seq, encoder, bytes, msg, route, clock, news) {
        Ok(n) => {
            News::tally(&news.counters.sent_messages, n);
            News::tally(&news.counters.sent_bytes, bytes.len() as u64);
            return true;
        }
        Err(Failure::Dropped(e)) => {
            news.count(&news.counters.output_dropped, 1);
            drops.push(news, || format!("MIDI output dropped: {e}"));
        }
        Err(Failure::Cut(e)) => {
            news.count(&news.counters.output_sysex_cut, 1);
            cuts.push(news, || {
                format!(
                    "a {} byte SysEx for the hardware was cut off part way: {e}",
                    bytes.len()
                )
            });
        }
    }
    false
}

/// A clock message `sent` on the queue is remembered at its queue time, so
/// a retraction can take it back (the same conversion `send` made: the
/// queue's offset only changes between looks).
fn note_clock(clock_sent: &mut ClockSchedule, sent: bool, msg: &MidiMessage, clock: &QueueTime) {
    if sent && msg.port == stream::CLOCK {
        if let Some(q) = clock.to_queue(msg.time_ns) {
            clock_sent.note(msg.time_ns, q);
        }
    }
}

/// A message `sent` is noted at the time the queue delivers it to our
/// port's subscribers: its own, or, late, the queue's next tick (now).
/// The first time the tracker runs out of room is said once.
fn note_delivery(away: &mut AwayNotes, sent: bool, msg: &MidiMessage, news: &News) {
    if !sent {
        return;
    }
    let early = away.early();
    away.scheduled(msg.time_ns.max(monotonic_ns()), &msg.event);
    if early == 0 && away.early() > 0 {
        news.log(
            LogLevel::Warning,
            format!(
                "more than {} note messages for the hardware within {} s: a device unplugged \
                 now may miss a note-off when it comes back (logged once)",
                super::away_notes::SCHEDULED,
                super::away_notes::HISTORY_NS / 1_000_000_000
            ),
        );
    }
}

/// How many subscribers our output port has; `None` if the kernel does not say.
fn read_use(seq: &alsa::Seq, route: Route) -> Option<i32> {
    let addr = alsa::seq::Addr {
        client: route.client,
        port: route.port,
    };
    seq.get_any_port_info(addr).ok().map(|p| p.get_read_use())
}

/// Counts what became of a paced SysEx, and logs its losses.
fn tell(news: &News, drops: &mut LogBudget, cuts: &mut LogBudget, outcome: Outcome) {
    match outcome {
        Outcome::Wrote { len } => {
            News::tally(&news.counters.sent_messages, 1);
            News::tally(&news.counters.sent_bytes, len as u64);
        }
        Outcome::Dropped { len, why } => {
            news.count(&news.counters.output_dropped, 1);
            drops.push(news, || {
                format!("MIDI output dropped: a {len} byte SysEx: {why}")
            });
        }
        Outcome::Cut { len, why } => {
            news.count(&news.counters.output_sysex_cut, 1);
            cuts.push(news, || {
                format!("a {len} byte SysEx for the hardware was cut off part way: {why}")
            });
        }
        // Sent by the caller.
        Outcome::Release(_) => {}
    }
}

/// The look after one at `now`, when the next was `due`: the next point of
/// the grid; a fresh grid from `now` when the thread fell a whole beat
/// behind (no burst of catch-up looks).
fn next_due(due: u64, now: u64) -> u64 {
    if now < due {
        due
    } else if now < due + LOOK_EVERY_NS {
        due + LOOK_EVERY_NS
    } else {
        now + LOOK_EVERY_NS
    }
}

/// What a failed write means. `EAGAIN`: no room, in our output pool for an
/// event `scheduled` on the queue, in a receiver's input pool for one sent
/// at once (delivered while written).
fn write_error(e: alsa::Error, scheduled: bool) -> String {
    match (e.errno(), scheduled) {
        (libc::EAGAIN, true) => {
            "the sequencer's output pool is full (too many events scheduled ahead)".to_string()
        }
        (libc::EAGAIN, false) => {
            "a receiver refused it (its input queue is full: it does not keep up)".to_string()
        }
        _ => format!("writing: {e}"),
    }
}

/// Encode `bytes` into events from our output port to its subscribers, on
/// the queue at `msg.time_ns` (counted as late when that has passed) or,
/// when the engine stops or the time is before the queue started, direct;
/// each written to the kernel at once. Returns the number of events.
fn send(
    seq: &alsa::Seq,
    encoder: &mut EventCodec,
    bytes: &[u8],
    msg: &MidiMessage,
    route: Route,
    clock: &QueueTime,
    news: &News,
) -> Result<u64, Failure> {
    encoder.reset_encode();
    if msg.time_ns <= monotonic_ns() {
        news.count(&news.counters.output_late, 1);
    }
    // A late message is scheduled too, at its own (past) time: the queue
    // sends it at its next tick, in time order with what is waiting for
    // that tick. Sent direct, it would overtake them (a note-off before
    // its note-on, a clock after Stop).
    let at = clock.to_queue(msg.time_ns);
    // SysEx goes out through the pacer (`write_chunk`), not here: a
    // failure after the first event is the only one that leaves part of a
    // message delivered.
    let failed = |n: u64, e: String| {
        if n > 0 {
            Failure::Cut(e)
        } else {
            Failure::Dropped(e)
        }
    };
    let mut pos = 0;
    let mut n = 0;
    while pos < bytes.len() {
        let (used, ev) = encoder
            .encode(&bytes[pos..])
            .map_err(|e| failed(n, format!("encoding: {e}")))?;
        if used == 0 {
            break;
        }
        pos += used;
        if let Some(mut ev) = ev {
            address(&mut ev, route, at);
            ev.set_tag(tag_for(msg.port));
            if let Err(e) = seq.event_output_direct(&mut ev) {
                return Err(failed(n, write_error(e, at.is_some())));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// From our port to its subscribers, on the queue at `at` or at once.
fn address(ev: &mut Event<'_>, route: Route, at: Option<std::time::Duration>) {
    ev.set_source(route.port);
    ev.set_subs();
    match at {
        Some(t) => ev.schedule_real(route.queue, false, t),
        None => ev.set_direct(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_looked_at_within_the_seams_promise() {
        let (_, ring) = crate::ring::midi_buffer(4);
        let out = SeqOutput::new(ring).unwrap();
        // Idle (nothing sent yet) and busy alike: never longer than the promise.
        assert!(
            out.poll_ns() <= OUTPUT_POLL_NS,
            "polls after {} ns, the seam promises {OUTPUT_POLL_NS} ns",
            out.poll_ns()
        );
    }

    #[test]
    fn a_tracker_out_of_room_is_said_once() {
        let news = News::default();
        let mut away = AwayNotes::new();
        let t = monotonic_ns() + 1_000_000_000;
        for i in 0..(2 * super::super::away_notes::SCHEDULED as u64) {
            let msg = MidiMessage {
                time_ns: t + i,
                port: stream::HOST,
                event: crate::protocol::MidiEvent::NoteOn {
                    channel: 0,
                    key: (i % 128) as u8,
                    velocity: 1,
                },
            };
            note_delivery(&mut away, true, &msg, &news);
        }
        assert!(away.early() > 0);
        let mut lines = Vec::new();
        while let Some(l) = news.pop_log() {
            lines.push(l.message);
        }
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("may miss a note-off"), "{lines:?}");
    }

    #[test]
    fn looks_keep_to_a_grid() {
        let b = LOOK_EVERY_NS;
        assert_eq!(
            next_due(10 * b, 9 * b),
            10 * b,
            "an extra look keeps the grid"
        );
        assert_eq!(next_due(10 * b, 10 * b + 7), 11 * b, "a late one too");
        assert_eq!(next_due(10 * b, 12 * b), 13 * b, "a beat behind: afresh");
        assert!(next_due(10 * b, 10 * b + 7) - (10 * b + 7) <= b);
    }
}
