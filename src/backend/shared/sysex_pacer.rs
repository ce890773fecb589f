//! SysEx output paced at the speed of a MIDI DIN wire.
//!
//! A hardware port's kernel buffer holds one page: events the queue hands
//! it faster than 31250 baud drains them (10 bits a byte: 3125 bytes/s)
//! are cut there, after the sender counted them as sent. And the output
//! pool holds about 46 KB of SysEx in all. So the MIDI thread copies every
//! SysEx into a buffer of its own (as large as the output ring's SysEx
//! storage, allocated once) and hands its 256-byte events to the queue one
//! by one over time: event `k` of a SysEx starting at `t0` is scheduled at
//! `t0 + 256 k / 3125 s`, each written [`FEED_AHEAD_NS`] before its time.
//! A SysEx starts when the previous one is off the wire, and any size
//! arrives whole.
//!
//! The host's other messages must not land inside a SysEx (a status byte
//! ends it): every message but a realtime one waits ([`SysexPacer::hold`])
//! until the SysEx before it are off the wire (after their last event's
//! time, so the queue sends it after that event). While a SysEx is being
//! written it waits here, not on the kernel queue: it is handed back
//! ([`Outcome::Release`]) once that SysEx's last event is written, so it
//! takes no pool room meanwhile, and goes out at once if the engine stops
//! first. Realtime messages (the clock) may interleave, as MIDI allows,
//! unless a message of their own stream waits (their stream's order is
//! kept). Nothing
//! is lost silently: a SysEx the buffer has no room for, an event the
//! output pool has no room for [`GIVE_UP_NS`] after its time, a failed
//! write, and what is still waiting when the engine stops are reported as
//! [`Outcome`]s, which the caller counts.
//!
//! The schedule is computed from the start time, not from when events are
//! written: a late look writes what is due at once (the queue sends it at
//! its next tick) and the held-back messages keep their place after the
//! last event. A late look of up to a second leaves at most a second of
//! wire (3125 bytes) waiting in the port's page.

use std::collections::VecDeque;

use crate::engine::stream;
use crate::protocol::MidiMessage;

/// Bytes a second on a MIDI DIN wire (31250 baud, 10 bits a byte).
pub const WIRE_BYTES_PER_SEC: u64 = 3125;

/// Time one byte takes on the wire, ns.
pub const WIRE_NS_PER_BYTE: u64 = 1_000_000_000 / WIRE_BYTES_PER_SEC;

/// SysEx is cut into events of this size, as the kernel's own
/// rawmidi→sequencer encoder does.
pub const CHUNK: usize = 256;

/// How long before its time an event is written to the queue: several
/// looks at the ring (each ≤ 4 ms apart), so a wake-up delay does not make
/// it late; the output pool holds at most two events of a SysEx meanwhile.
pub const FEED_AHEAD_NS: u64 = 100_000_000;

/// How long after its time an event may wait for room in the output pool
/// before the rest of its SysEx is given up: a second of wire fits a
/// port's page (4096 bytes) when it then goes out at once.
pub const GIVE_UP_NS: u64 = 1_000_000_000;

/// Most SysEx waiting at once (two bytes each at the least: a bound the
/// byte buffer alone would not give).
const MAX_PENDING: usize = 4096;

/// Most messages waiting behind SysEx at once (a minute of clock at 300 BPM
/// behind a held Song Position Pointer, or as many notes).
const MAX_HELD: usize = 8192;

/// How long `bytes` take on the wire, ns.
pub const fn wire_ns(bytes: usize) -> u64 {
    bytes as u64 * WIRE_NS_PER_BYTE
}

/// When event `k` of a SysEx starting at `start_ns` is due.
pub const fn chunk_time(start_ns: u64, k: usize) -> u64 {
    start_ns + wire_ns(k * CHUNK)
}

/// When a `len`-byte SysEx starting at `start_ns` is off the wire: after
/// its last event's time.
pub const fn off_the_wire(start_ns: u64, len: usize) -> u64 {
    start_ns + wire_ns(len)
}

/// One SysEx waiting, or going out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    start_ns: u64,
    len: usize,
}

/// What became of a SysEx (or of one of its events).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An event of `len` bytes was written to the queue.
    Wrote {
        /// Its bytes.
        len: usize,
    },
    /// Nothing of a SysEx of `len` bytes went out.
    Dropped {
        /// Its length.
        len: usize,
        /// Why.
        why: String,
    },
    /// Part of a SysEx of `len` bytes went out, not the rest.
    Cut {
        /// Its length.
        len: usize,
        /// Why.
        why: String,
    },
    /// A message that waited behind SysEx may go out now, at its time (not
    /// before the SysEx is off the wire).
    Release(MidiMessage),
}

/// What to do with a message that is not SysEx ([`SysexPacer::hold`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// Send it now, at its (held back) time.
    Now(MidiMessage),
    /// It waits here, to be released.
    Kept,
    /// It would have to wait, and there is no room: drop it.
    Full(MidiMessage),
}

/// Why an event could not be written.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The output pool has no room now: try again at the next look.
    NoRoom,
    /// Anything else: the SysEx is given up.
    Failed(String),
}

/// One event to write: its bytes, its time, and whether it begins its SysEx.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The bytes (`F0` first in the first event, `F7` last in the last).
    pub bytes: &'a [u8],
    /// When it is due, `CLOCK_MONOTONIC` ns.
    pub time_ns: u64,
    /// Whether it is its SysEx's first event.
    pub first: bool,
    /// Its SysEx's length.
    pub sysex_len: usize,
}

/// The SysEx waiting to go out, in order, and the one going out.
pub struct SysexPacer {
    /// Their bytes, the first SysEx's unwritten bytes first.
    bytes: VecDeque<u8>,
    pending: VecDeque<Pending>,
    /// Bytes of the first SysEx already written.
    written: usize,
    /// When the last SysEx accepted is off the wire.
    free_ns: u64,
    /// When the last message (not realtime) handed on is off the wire: a
    /// SysEx accepted later starts no earlier. Not at the same time: the
    /// two may be written to the queue at different looks, each converted
    /// to queue time on its own, and the queue's offset moves between
    /// looks, so a tie could put the message inside the SysEx.
    after_messages_ns: u64,
    /// One event, copied out of `bytes` (which may wrap around).
    chunk: [u8; CHUNK],
    /// Messages waiting, each with the count of SysEx it waits for.
    held: VecDeque<(u64, MidiMessage)>,
    /// Messages waiting, per output stream.
    held_in: [usize; stream::COUNT],
    /// SysEx accepted so far.
    accepted: u64,
    /// SysEx written whole or given up so far.
    finished: u64,
}

impl SysexPacer {
    /// A pacer holding up to `capacity` bytes of SysEx (allocated here,
    /// once: on the MIDI thread, at start).
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::with_capacity(capacity),
            pending: VecDeque::with_capacity(MAX_PENDING.min(capacity / 2 + 1)),
            written: 0,
            free_ns: 0,
            after_messages_ns: 0,
            chunk: [0; CHUNK],
            held: VecDeque::with_capacity(MAX_HELD),
            held_in: [0; stream::COUNT],
            accepted: 0,
            finished: 0,
        }
    }

    /// Whether nothing is waiting (for the tests).
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.held.is_empty()
    }

    /// The time a message (not realtime) due at `time_ns` may go out: not
    /// before the SysEx accepted so far are off the wire.
    pub fn hold_until(&self, time_ns: u64) -> u64 {
        time_ns.max(self.free_ns)
    }

    /// A message that is not SysEx, of output stream `msg.port`: one that is
    /// not realtime goes no earlier than [`Self::hold_until`]; it waits here
    /// while a SysEx is being written, and so does any message of a stream
    /// that has one waiting (its stream's order is kept).
    pub fn hold(&mut self, mut msg: MidiMessage) -> Hold {
        let realtime = msg.event.is_realtime();
        if !realtime {
            msg.time_ns = self.hold_until(msg.time_ns);
            // A channel message is three bytes at the most.
            let end = msg.time_ns.saturating_add(3 * WIRE_NS_PER_BYTE);
            self.after_messages_ns = self.after_messages_ns.max(end);
        }
        let waits_in = self.held_in.get(usize::from(msg.port)).copied();
        let waits = if realtime {
            waits_in.unwrap_or(0) > 0
        } else {
            self.accepted > self.finished || !self.held.is_empty()
        };
        if !waits {
            return Hold::Now(msg);
        }
        if self.held.len() == MAX_HELD {
            return Hold::Full(msg);
        }
        if let Some(n) = self.held_in.get_mut(usize::from(msg.port)) {
            *n += 1;
        }
        self.held.push_back((self.accepted, msg));
        Hold::Kept
    }

    /// Hands back the messages that waited for the SysEx finished so far.
    fn release(&mut self, report: &mut impl FnMut(Outcome)) {
        while let Some(&(waits_for, msg)) = self.held.front() {
            if waits_for > self.finished {
                return;
            }
            self.held.pop_front();
            if let Some(n) = self.held_in.get_mut(usize::from(msg.port)) {
                *n -= 1;
            }
            report(Outcome::Release(msg));
        }
    }

    /// Takes `payload` (`F0 … F7`), due at `time_ns`, read at `now_ns`: it
    /// starts then, or when the SysEx before it are off the wire, or now if
    /// both have passed (a late one is paced from now). Returns its start.
    ///
    /// # Errors
    /// No room for it (too many bytes or SysEx waiting): nothing is kept.
    pub fn accept(&mut self, time_ns: u64, now_ns: u64, payload: &[u8]) -> Result<u64, String> {
        let room = self.bytes.capacity() - self.bytes.len();
        if payload.len() > room || self.pending.len() == self.pending.capacity() {
            return Err(format!(
                "{} bytes of SysEx are waiting to go out at the wire's pace ({} SysEx); \
                 {room} bytes free",
                self.bytes.len(),
                self.pending.len()
            ));
        }
        let start_ns = self
            .hold_until(time_ns)
            .max(self.after_messages_ns)
            .max(now_ns);
        self.bytes.extend(payload);
        self.pending.push_back(Pending {
            start_ns,
            len: payload.len(),
        });
        self.free_ns = off_the_wire(start_ns, payload.len());
        self.accepted += 1;
        Ok(start_ns)
    }

    /// Writes, with `write`, every event due by `now_ns` +
    /// [`FEED_AHEAD_NS`], in order, while it succeeds, and tells `report`
    /// what became of each, and which waiting messages may go (right after
    /// the last event of the SysEx they waited for).
    pub fn feed(
        &mut self,
        now_ns: u64,
        mut write: impl FnMut(Chunk<'_>) -> Result<(), WriteError>,
        mut report: impl FnMut(Outcome),
    ) {
        while let Some(&p) = self.pending.front() {
            let time_ns = chunk_time(p.start_ns, self.written / CHUNK);
            if time_ns > now_ns.saturating_add(FEED_AHEAD_NS) {
                return;
            }
            let n = CHUNK.min(p.len - self.written);
            for (d, s) in self.chunk[..n].iter_mut().zip(self.bytes.iter()) {
                *d = *s;
            }
            let chunk = Chunk {
                bytes: &self.chunk[..n],
                time_ns,
                first: self.written == 0,
                sysex_len: p.len,
            };
            match write(chunk) {
                Ok(()) => {
                    self.bytes.drain(..n);
                    self.written += n;
                    report(Outcome::Wrote { len: n });
                    if self.written == p.len {
                        self.pending.pop_front();
                        self.written = 0;
                        self.finished += 1;
                        self.release(&mut report);
                    }
                }
                Err(WriteError::NoRoom) if now_ns <= time_ns.saturating_add(GIVE_UP_NS) => return,
                Err(WriteError::NoRoom) => {
                    let why =
                        "the sequencer's output pool had no room for it a second after its time";
                    report(self.give_up(why.to_string()));
                    self.release(&mut report);
                }
                Err(WriteError::Failed(e)) => {
                    report(self.give_up(e));
                    self.release(&mut report);
                }
            }
        }
    }

    /// When the wire is free if the SysEx going out is cut where it stands
    /// (after its events already written): its start plus their wire time.
    /// `None` when no SysEx waits.
    pub fn cut_point(&self) -> Option<u64> {
        let first = self.pending.front()?;
        Some(
            first
                .start_ns
                .saturating_add(self.written as u64 * WIRE_NS_PER_BYTE),
        )
    }

    /// As the engine stops: a SysEx of one event that has not started is
    /// written with `write` (at once: it fits a port's buffer); every other
    /// one is given up (it cannot go out at the wire's pace any more). The
    /// messages waiting are released in their place among them.
    pub fn stop(
        &mut self,
        mut write: impl FnMut(&[u8]) -> Result<(), String>,
        mut report: impl FnMut(Outcome),
    ) {
        while let Some(&p) = self.pending.front() {
            if self.written == 0 && p.len <= CHUNK {
                let n = p.len;
                for (d, s) in self.chunk[..n].iter_mut().zip(self.bytes.iter()) {
                    *d = *s;
                }
                match write(&self.chunk[..n]) {
                    Ok(()) => {
                        self.bytes.drain(..n);
                        self.pending.pop_front();
                        self.finished += 1;
                        report(Outcome::Wrote { len: n });
                    }
                    Err(e) => report(self.give_up(e)),
                }
            } else {
                report(self.give_up(
                    "the engine stopped before it could go out at the wire's pace".to_string(),
                ));
            }
            self.release(&mut report);
        }
        self.release(&mut report);
        self.free_ns = 0;
    }

    /// Drops the rest of the first SysEx: cut if part of it went out.
    fn give_up(&mut self, why: String) -> Outcome {
        let Some(p) = self.pending.pop_front() else {
            return Outcome::Dropped { len: 0, why };
        };
        self.bytes.drain(..p.len - self.written);
        let started = self.written > 0;
        self.written = 0;
        self.finished += 1;
        if started {
            Outcome::Cut { len: p.len, why }
        } else {
            Outcome::Dropped { len: p.len, why }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn sysex(len: usize, seed: u8) -> Vec<u8> {
        let mut sx = vec![0xF0];
        sx.extend((0..len - 2).map(|i| (i as u8).wrapping_add(seed) % 0x80));
        sx.push(0xF7);
        sx
    }

    /// Feeds at every `step_ns` from `from_ns` to `to_ns`, writing with
    /// `room`'s say; (look time, event time, bytes, first) of each write, and the
    /// outcomes other than writes.
    #[allow(clippy::type_complexity)]
    fn run(
        p: &mut SysexPacer,
        from_ns: u64,
        to_ns: u64,
        step_ns: u64,
        mut room: impl FnMut(u64) -> bool,
    ) -> (Vec<(u64, u64, Vec<u8>, bool)>, Vec<Outcome>) {
        let (mut wrote, mut other) = (Vec::new(), Vec::new());
        let mut now = from_ns;
        while now <= to_ns {
            p.feed(
                now,
                |c| {
                    if room(now) {
                        wrote.push((now, c.time_ns, c.bytes.to_vec(), c.first));
                        Ok(())
                    } else {
                        Err(WriteError::NoRoom)
                    }
                },
                |o| {
                    if !matches!(o, Outcome::Wrote { .. }) {
                        other.push(o);
                    }
                },
            );
            now += step_ns;
        }
        (wrote, other)
    }

    #[test]
    fn the_wire_takes_320_us_a_byte() {
        assert_eq!(WIRE_NS_PER_BYTE, 320_000);
        assert_eq!(wire_ns(3125), S);
        // 256 bytes: 81.92 ms; a 64 KiB dump: 20.97 s on the wire.
        assert_eq!(chunk_time(5, 1), 5 + 81_920_000);
        assert_eq!(off_the_wire(0, 65_536), 20_971_520_000);
    }

    #[test]
    fn a_dump_goes_out_in_order_each_event_at_its_time_and_written_ahead() {
        let big = sysex(64 * 1024 + 100, 3);
        let mut p = SysexPacer::new(256 * 1024);
        let t0 = 10 * S;
        assert_eq!(p.accept(t0, t0 - S, &big), Ok(t0));
        let (wrote, other) = run(&mut p, t0 - S, t0 + 30 * S, 4_000_000, |_| true);
        assert!(other.is_empty(), "{other:?}");
        assert!(p.is_idle());
        let bytes: Vec<u8> = wrote.iter().flat_map(|w| w.2.clone()).collect();
        assert_eq!(bytes, big, "every byte, in order");
        assert_eq!(wrote.len(), big.len().div_ceil(CHUNK));
        for (k, (look, time, b, first)) in wrote.iter().enumerate() {
            assert_eq!(*time, chunk_time(t0, k), "event {k}'s time");
            assert_eq!(*first, k == 0, "only event 0 is the first");
            assert!(b.len() == CHUNK || k == wrote.len() - 1);
            // Written ahead of its time, but not by more than the feed-ahead.
            assert!(*look <= *time && *time <= look + FEED_AHEAD_NS, "event {k}");
        }
        // Never faster than the wire: each event due once the one before is off it.
        for w in wrote.windows(2) {
            assert!(w[1].1 - w[0].1 >= wire_ns(w[0].2.len()));
        }
    }

    /// A note held behind one SysEx goes at its end; a SysEx after the note
    /// starts once the note is off the wire, not at the same time: the two
    /// are converted to queue time at different looks, and a tie could put
    /// the note inside it (seen in a CI run).
    #[test]
    fn a_sysex_after_a_held_note_starts_after_the_note() {
        use crate::protocol::MidiEvent;
        let (a, b) = (sysex(1000, 1), sysex(300, 2));
        let mut p = SysexPacer::new(4096);
        let t0 = 5 * S;
        assert_eq!(p.accept(t0, 0, &a), Ok(t0));
        let on = MidiEvent::NoteOn {
            channel: 0,
            key: 60,
            velocity: 100,
        };
        assert!(matches!(p.hold(msg(t0 + 1_000_000, 0, on)), Hold::Kept));
        let end = off_the_wire(t0, 1000);
        let start = p.accept(t0 + 2_000_000, 0, &b).unwrap();
        assert_eq!(
            start,
            end + 3 * WIRE_NS_PER_BYTE,
            "after the note's three bytes"
        );
        let (_, other) = run(&mut p, 0, 10 * S, 4_000_000, |_| true);
        let released: Vec<u64> = other
            .iter()
            .filter_map(|o| match o {
                Outcome::Release(m) => Some(m.time_ns),
                _ => None,
            })
            .collect();
        assert_eq!(released, [end], "the note at the first SysEx's end");
    }

    #[test]
    fn the_next_sysex_starts_when_the_one_before_is_off_the_wire() {
        let (a, b) = (sysex(1000, 1), sysex(300, 2));
        let mut p = SysexPacer::new(4096);
        let t0 = 5 * S;
        assert_eq!(p.accept(t0, 0, &a), Ok(t0));
        // Due 1 ms later: it waits for the first.
        assert_eq!(p.accept(t0 + 1_000_000, 0, &b), Ok(off_the_wire(t0, 1000)));
        // A note due meanwhile is held until both are off the wire.
        let end = off_the_wire(off_the_wire(t0, 1000), 300);
        assert_eq!(p.hold_until(t0 + 2_000_000), end);
        assert_eq!(p.hold_until(end + 7), end + 7, "a later one keeps its time");
        let (wrote, _) = run(&mut p, 0, 10 * S, 4_000_000, |_| true);
        let last_event = wrote.last().unwrap().1;
        assert!(
            last_event < end,
            "the held message goes after the last event"
        );
    }

    #[test]
    fn a_late_sysex_is_paced_from_now() {
        let sx = sysex(600, 0);
        let mut p = SysexPacer::new(4096);
        let now = 7 * S;
        assert_eq!(p.accept(now - S, now, &sx), Ok(now));
        let (wrote, _) = run(&mut p, now, now + S, 4_000_000, |_| true);
        let times: Vec<u64> = wrote.iter().map(|w| w.1).collect();
        assert_eq!(times, [now, chunk_time(now, 1), chunk_time(now, 2)]);
    }

    #[test]
    fn a_late_look_keeps_the_schedule() {
        let sx = sysex(2000, 0);
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &sx).unwrap();
        // One look half a second late, then on the beat again.
        let (wrote, _) = run(&mut p, S + S / 2, 3 * S, 4_000_000, |_| true);
        for (k, w) in wrote.iter().enumerate() {
            assert_eq!(w.1, chunk_time(S, k));
        }
        assert_eq!(wrote.len(), 8);
    }

    #[test]
    fn a_full_pool_delays_an_event_then_gives_the_sysex_up() {
        let (sx, next) = (sysex(1000, 0), sysex(100, 9));
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &sx).unwrap();
        p.accept(S, 0, &next).unwrap();
        // Room for the first two events, then none for two seconds.
        let second = chunk_time(S, 1);
        let (wrote, other) = run(&mut p, 0, 4 * S, 4_000_000, |now| {
            now < second - FEED_AHEAD_NS || now > 2 * S + S / 5
        });
        assert_eq!(
            wrote.iter().map(|w| w.2.len()).collect::<Vec<_>>(),
            [256, 100],
            "one event of the first, then the next SysEx whole"
        );
        let [Outcome::Cut { len: 1000, why }] = &other[..] else {
            panic!("{other:?}")
        };
        assert!(why.contains("no room"), "{why}");

        // Given up before anything went out: dropped, not cut.
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &sx).unwrap();
        let (wrote, other) = run(&mut p, 0, 3 * S, 4_000_000, |_| false);
        assert!(wrote.is_empty());
        assert!(matches!(&other[..], [Outcome::Dropped { len: 1000, .. }]));
        assert!(p.is_idle());
    }

    #[test]
    fn a_failed_write_gives_up_the_rest_only() {
        let (sx, next) = (sysex(600, 0), sysex(10, 1));
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &sx).unwrap();
        p.accept(S, 0, &next).unwrap();
        let mut n = 0;
        let mut out = Vec::new();
        let mut wrote = Vec::new();
        for now in (0..5 * S).step_by(4_000_000) {
            p.feed(
                now,
                |c| {
                    n += 1;
                    if n == 2 {
                        return Err(WriteError::Failed("gone".into()));
                    }
                    wrote.push(c.bytes.to_vec());
                    Ok(())
                },
                |o| out.push(o),
            );
        }
        assert_eq!(wrote, [sx[..256].to_vec(), next.clone()]);
        assert!(out.contains(&Outcome::Cut {
            len: 600,
            why: "gone".into()
        }));
    }

    #[test]
    fn what_does_not_fit_is_refused_and_nothing_kept() {
        let mut p = SysexPacer::new(1000);
        p.accept(S, 0, &sysex(800, 0)).unwrap();
        let e = p.accept(S, 0, &sysex(300, 0)).unwrap_err();
        assert!(e.contains("800 bytes"), "{e}");
        // The note after it is held only behind what was accepted.
        assert_eq!(p.hold_until(0), off_the_wire(S, 800));
        p.accept(S, 0, &sysex(200, 0)).unwrap();
    }

    #[test]
    fn stopping_sends_a_short_sysex_and_counts_the_rest() {
        let (long, short) = (sysex(1000, 0), sysex(20, 0));
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &long).unwrap();
        p.accept(S, 0, &short).unwrap();
        let (wrote, _) = run(&mut p, S - FEED_AHEAD_NS, S - FEED_AHEAD_NS, 1, |_| true);
        assert_eq!(wrote.len(), 1, "the long one started");
        let mut sent = Vec::new();
        let mut out = Vec::new();
        p.stop(
            |b| {
                sent.push(b.to_vec());
                Ok(())
            },
            |o| out.push(o),
        );
        assert_eq!(sent, [short]);
        assert!(matches!(out[0], Outcome::Cut { len: 1000, .. }), "{out:?}");
        assert_eq!(out[1], Outcome::Wrote { len: 20 });
        assert!(p.is_idle());
        assert_eq!(p.hold_until(3), 3, "nothing held after the stop");
    }

    fn msg(time_ns: u64, port: u16, event: crate::protocol::MidiEvent) -> MidiMessage {
        MidiMessage {
            time_ns,
            port,
            event,
        }
    }

    /// Every write and release in order: `Err(time)` for an event written,
    /// `Ok(message)` for a message released.
    fn feed_log(p: &mut SysexPacer, from_ns: u64, to_ns: u64) -> Vec<Result<MidiMessage, u64>> {
        let log = std::cell::RefCell::new(Vec::new());
        let mut now = from_ns;
        while now <= to_ns {
            p.feed(
                now,
                |c| {
                    log.borrow_mut().push(Err(c.time_ns));
                    Ok(())
                },
                |o| {
                    if let Outcome::Release(m) = o {
                        log.borrow_mut().push(Ok(m));
                    }
                },
            );
            now += 4_000_000;
        }
        log.into_inner()
    }

    #[test]
    fn messages_wait_behind_a_sysex_being_written_and_follow_its_last_event() {
        use crate::protocol::MidiEvent as E;
        let note = E::NoteOn {
            channel: 0,
            key: 60,
            velocity: 9,
        };
        let (sx, next) = (sysex(600, 0), sysex(300, 1));
        let mut p = SysexPacer::new(4096);
        assert_eq!(p.accept(S, 0, &sx), Ok(S));
        let end = off_the_wire(S, 600);
        // A note of the host's stream waits, at the end of the SysEx.
        assert_eq!(p.hold(msg(S + 1, stream::HOST, note)), Hold::Kept);
        // The clock's realtime bytes do not; a Song Position does, and the
        // clock after it then waits too (its stream's order).
        assert_eq!(
            p.hold(msg(S + 2, stream::CLOCK, E::TimingClock)),
            Hold::Now(msg(S + 2, stream::CLOCK, E::TimingClock))
        );
        assert_eq!(
            p.hold(msg(S + 3, stream::CLOCK, E::SongPosition(8))),
            Hold::Kept
        );
        assert_eq!(
            p.hold(msg(S + 4, stream::CLOCK, E::TimingClock)),
            Hold::Kept
        );
        // Another SysEx, after the note and the Song Position held at the
        // end of the first are off the wire, and a note behind it.
        let second = p.accept(S + 5, 0, &next).unwrap();
        assert_eq!(second, end + 3 * WIRE_NS_PER_BYTE);
        assert_eq!(p.hold(msg(S + 6, stream::HOST, note)), Hold::Kept);
        assert!(!p.is_idle());

        let log = feed_log(&mut p, 0, 3 * S);
        let first = |t| Err(t);
        assert_eq!(
            log,
            [
                first(S),
                first(chunk_time(S, 1)),
                first(chunk_time(S, 2)),
                Ok(msg(end, stream::HOST, note)),
                Ok(msg(end, stream::CLOCK, E::SongPosition(8))),
                Ok(msg(S + 4, stream::CLOCK, E::TimingClock)),
                first(second),
                first(chunk_time(second, 1)),
                Ok(msg(off_the_wire(second, 300), stream::HOST, note)),
            ],
            "each message right after the last event of the SysEx before it"
        );
        assert!(p.is_idle());
        // Nothing being written: a message goes at once, still after the wire.
        let after = off_the_wire(second, 300);
        assert_eq!(
            p.hold(msg(S, stream::HOST, note)),
            Hold::Now(msg(after, stream::HOST, note))
        );
    }

    #[test]
    fn stopping_releases_the_waiting_messages_in_their_place() {
        use crate::protocol::MidiEvent as E;
        let off = E::NoteOff {
            channel: 1,
            key: 40,
            velocity: 0,
        };
        let (long, short) = (sysex(1000, 0), sysex(20, 0));
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &long).unwrap();
        assert_eq!(p.hold(msg(S, stream::HOST, off)), Hold::Kept);
        p.accept(S, 0, &short).unwrap();
        assert_eq!(
            p.hold(msg(S, stream::CLOCK, E::Stop)),
            Hold::Now(msg(S, stream::CLOCK, E::Stop))
        );
        assert_eq!(p.hold(msg(S, stream::HOST, off)), Hold::Kept);
        let log = std::cell::RefCell::new(Vec::new());
        p.stop(
            |b| {
                log.borrow_mut().push(format!("sysex {}", b.len()));
                Ok(())
            },
            |o| match o {
                Outcome::Release(m) => log.borrow_mut().push(format!("{:?}", m.event)),
                Outcome::Dropped { len, .. } => log.borrow_mut().push(format!("dropped {len}")),
                o => log.borrow_mut().push(format!("{o:?}")),
            },
        );
        let off = format!("{off:?}");
        assert_eq!(
            log.into_inner(),
            [
                "dropped 1000".to_string(),
                off.clone(),
                "sysex 20".to_string(),
                "Wrote { len: 20 }".to_string(),
                off
            ]
        );
        assert!(p.is_idle());
    }

    #[test]
    fn too_many_waiting_messages_are_refused() {
        use crate::protocol::MidiEvent as E;
        let mut p = SysexPacer::new(4096);
        p.accept(S, 0, &sysex(1000, 0)).unwrap();
        let cc = msg(
            S,
            stream::HOST,
            E::ControlChange {
                channel: 0,
                controller: 1,
                value: 2,
            },
        );
        for _ in 0..MAX_HELD {
            assert_eq!(p.hold(cc), Hold::Kept);
        }
        assert!(matches!(p.hold(cc), Hold::Full(_)));
    }
}
