//! Output to a raw MIDI device: raw MIDI has no queue, so the MIDI thread
//! keeps the schedule itself and writes each message's bytes when it is due
//! (woken by a `timerfd` on `CLOCK_MONOTONIC`, see the thread).
//!
//! The rules are the sequencer backend's: each stream keeps its order
//! ([`StreamOrder`]); SysEx goes out at the wire's pace with the host's other
//! messages after it ([`SysexPacer`], shared with the sequencer backend);
//! the clock is taken back from a time on ([`stream::RETRACT_CLOCK`]): here
//! simply by removing its entries not yet written. A device's kernel buffer
//! drains at the wire's speed, so a SysEx written whole would hold the
//! clock bytes written after it for as long as it takes on the wire: each
//! pacer event is written in pieces of [`PIECE`] bytes at their own wire
//! times, and the clock's bytes go out between them (MIDI allows realtime
//! bytes inside a SysEx). Every loss is counted: output due while no device
//! is open, a write error, a device that takes nothing for [`STALL_NS`].

use crate::backend::shared::sysex_pacer::{wire_ns, Hold, Outcome, SysexPacer, WriteError, CHUNK};
use crate::engine::news::LogBudget;
use crate::engine::stream::StreamOrder;
use crate::engine::{stream, News};
use crate::protocol::MidiMessage;
use crate::ring::MidiBufferConsumer;

/// SysEx is written in pieces of this many bytes (2.56 ms of wire).
pub const PIECE: usize = 8;

/// How long the device may take nothing before what waits is dropped.
pub const STALL_NS: u64 = 1_000_000_000;

/// Bytes due at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timed {
    time_ns: u64,
    /// Order of scheduling, for ties.
    seq: u64,
    stream: u16,
    len: u8,
    bytes: [u8; PIECE],
    /// A piece of a SysEx (a failure cuts it rather than drops a message).
    sysex: bool,
}

/// Where written bytes go.
pub trait Wire {
    /// Writes as much of `bytes` as fits now; how many.
    ///
    /// # Errors
    /// The device failed (gone, I/O error).
    fn write(&mut self, bytes: &[u8]) -> Result<usize, String>;
}

/// The schedule and its input. See the module docs.
pub struct RawOutput {
    ring: MidiBufferConsumer,
    scratch: Vec<u8>,
    pacer: SysexPacer,
    order: StreamOrder,
    /// Sorted by (time, seq).
    timed: Vec<Timed>,
    next_seq: u64,
    /// Bytes of the first entry the device has not taken yet.
    written: usize,
    /// Since when the device takes nothing.
    stalled_since: Option<u64>,
    drops: LogBudget,
    /// Scratch for one look's pacer output (kept: no allocation per look).
    pieces: Vec<(u64, [u8; PIECE], usize)>,
    outcomes: Vec<Outcome>,
}

impl RawOutput {
    /// The thread's end of `ring`; allocates its SysEx storage here, once.
    pub fn new(ring: MidiBufferConsumer) -> Self {
        let cap = ring.sysex_capacity();
        Self {
            scratch: vec![0; cap],
            pacer: SysexPacer::new(cap),
            ring,
            order: StreamOrder::default(),
            timed: Vec::with_capacity(4096),
            next_seq: 0,
            written: 0,
            stalled_since: None,
            drops: LogBudget::new(10, "raw MIDI output dropped"),
            pieces: Vec::with_capacity(4 * CHUNK / PIECE),
            outcomes: Vec::with_capacity(64),
        }
    }

    /// When the first entry is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.timed.first().map(|t| t.time_ns)
    }

    /// Entries waiting (for the tests).
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.timed.len()
    }

    fn schedule(&mut self, time_ns: u64, stream: u16, bytes: &[u8], sysex: bool) {
        let mut t = Timed {
            time_ns,
            seq: self.next_seq,
            stream,
            len: bytes.len() as u8,
            bytes: [0; PIECE],
            sysex,
        };
        t.bytes[..bytes.len()].copy_from_slice(bytes);
        self.next_seq += 1;
        let at = self
            .timed
            .partition_point(|e| (e.time_ns, e.seq) <= (t.time_ns, t.seq));
        self.timed.insert(at, t);
    }

    fn schedule_msg(&mut self, msg: &MidiMessage) {
        let mut b = [0u8; 3];
        let n = msg.event.write_bytes(&mut b);
        if n > 0 {
            self.schedule(msg.time_ns, msg.port, &b[..n], false);
        }
    }

    /// Takes what the audio thread queued and schedules it; hands the
    /// pacer's SysEx events due soon to the schedule.
    pub fn drain(&mut self, now_ns: u64, news: &News) {
        while let Some(mut msg) = self.ring.try_pop() {
            if msg.port == stream::RETRACT_CLOCK {
                self.order.restart(stream::CLOCK, msg.time_ns);
                self.timed
                    .retain(|t| !(t.stream == stream::CLOCK && t.time_ns >= msg.time_ns));
                continue;
            }
            if msg.time_ns <= now_ns {
                news.count(&news.counters.output_late, 1);
            }
            msg.time_ns = self.order.keep(msg.port, msg.time_ns);
            if msg.event.is_sysex() {
                let Some(n) = self.ring.pop_sysex_payload(&mut self.scratch) else {
                    news.count(&news.counters.output_dropped, 1);
                    continue;
                };
                match self.pacer.accept(msg.time_ns, now_ns, &self.scratch[..n]) {
                    Ok(start) => _ = self.order.keep(msg.port, start),
                    Err(why) => self.tell(news, Outcome::Dropped { len: n, why }),
                }
                continue;
            }
            if !msg.event.is_realtime() {
                msg.time_ns = self
                    .order
                    .keep(msg.port, self.pacer.hold_until(msg.time_ns));
            }
            match self.pacer.hold(msg) {
                Hold::Now(m) => self.schedule_msg(&m),
                Hold::Kept => {}
                Hold::Full(m) => {
                    let why = format!("{:?} waited behind SysEx and too many wait", m.event);
                    self.tell(news, Outcome::Dropped { len: 0, why });
                }
            }
        }
        let mut pieces = std::mem::take(&mut self.pieces);
        let mut outcomes = std::mem::take(&mut self.outcomes);
        self.pacer.feed(
            now_ns,
            |chunk| {
                for (i, p) in chunk.bytes.chunks(PIECE).enumerate() {
                    let mut b = [0u8; PIECE];
                    b[..p.len()].copy_from_slice(p);
                    pieces.push((chunk.time_ns + wire_ns(i * PIECE), b, p.len()));
                }
                Ok::<(), WriteError>(())
            },
            |o| outcomes.push(o),
        );
        for (t, b, n) in pieces.drain(..) {
            self.schedule(t, stream::HOST, &b[..n], true);
        }
        for o in outcomes.drain(..) {
            match o {
                Outcome::Release(m) => self.schedule_msg(&m),
                o => self.tell(news, o),
            }
        }
        self.pieces = pieces;
        self.outcomes = outcomes;
    }

    /// As the engine stops: what the pacer holds is scheduled now or given
    /// up (counted), see [`SysexPacer::stop`].
    pub fn drain_last(&mut self, now_ns: u64, news: &News) {
        self.drain(now_ns, news);
        let mut keep: Vec<Vec<u8>> = Vec::new();
        let mut outcomes = Vec::new();
        self.pacer.stop(
            |bytes| {
                keep.push(bytes.to_vec());
                Ok(())
            },
            |o| outcomes.push(o),
        );
        for sx in keep {
            for p in sx.chunks(PIECE) {
                self.schedule(now_ns, stream::HOST, p, true);
            }
        }
        for o in outcomes {
            match o {
                Outcome::Release(mut m) => {
                    m.time_ns = m.time_ns.min(now_ns);
                    self.schedule_msg(&m);
                }
                o => self.tell(news, o),
            }
        }
    }

    /// Counts (and logs, within budget) what the pacer reports.
    fn tell(&mut self, news: &News, o: Outcome) {
        let c = &news.counters;
        match o {
            Outcome::Wrote { .. } | Outcome::Release(_) => {}
            Outcome::Dropped { len, why } => {
                news.count(&c.output_dropped, 1);
                self.drops.push(news, || {
                    format!("raw MIDI output dropped ({len} bytes): {why}")
                });
            }
            Outcome::Cut { len, why } => {
                news.count(&c.output_sysex_cut, 1);
                self.drops.push(news, || {
                    format!("raw MIDI output SysEx of {len} bytes cut: {why}")
                });
            }
        }
    }

    /// Writes every entry due by `now_ns`, in order, as the device takes
    /// them; `None` for no device (what is due is dropped and counted).
    pub fn write_due(&mut self, now_ns: u64, mut wire: Option<&mut dyn Wire>, news: &News) {
        while let Some(first) = self.timed.first().copied() {
            if first.time_ns > now_ns {
                break;
            }
            let bytes = &first.bytes[self.written..usize::from(first.len)];
            let result = match wire.as_deref_mut() {
                Some(w) => w.write(bytes),
                None => Err("no raw MIDI device is open".to_string()),
            };
            match result {
                Ok(n) if n == bytes.len() => {
                    self.done(news, bytes.len());
                }
                Ok(n) => {
                    self.written += n;
                    let since = *self.stalled_since.get_or_insert(now_ns);
                    if n == 0 && now_ns.saturating_sub(since) < STALL_NS {
                        return;
                    }
                    if n > 0 {
                        self.stalled_since = Some(now_ns);
                        continue;
                    }
                    self.fail(news, "the device took nothing for a second".to_string());
                }
                Err(e) => self.fail(news, e),
            }
        }
    }

    /// The engine stops with entries still waiting, not written: each
    /// message is counted as dropped, a SysEx as dropped or, if part of it
    /// went out, cut.
    pub fn abandon(&mut self, news: &News) {
        let c = &news.counters;
        let mut sysex_open = self.written > 0;
        for t in self.timed.drain(..) {
            if !t.sysex {
                news.count(&c.output_dropped, 1);
            } else if t.bytes[0] == 0xF0 {
                news.count(&c.output_dropped, 1);
                sysex_open = false;
            } else if !sysex_open {
                // The first piece left of a SysEx that had started.
                news.count(&c.output_sysex_cut, 1);
                sysex_open = true;
            }
            if t.sysex && t.bytes[usize::from(t.len) - 1] == 0xF7 {
                sysex_open = false;
            }
        }
        self.written = 0;
    }

    fn done(&mut self, news: &News, bytes: usize) {
        let t = self.timed.remove(0);
        self.written = 0;
        self.stalled_since = None;
        News::tally(&news.counters.sent_bytes, bytes as u64);
        if !t.sysex || t.bytes[usize::from(t.len) - 1] == 0xF7 {
            News::tally(&news.counters.sent_messages, 1);
        }
    }

    /// The first entry is lost: a message is dropped, a SysEx cut (its
    /// remaining pieces with it).
    fn fail(&mut self, news: &News, why: String) {
        let t = self.timed.remove(0);
        self.written = 0;
        self.stalled_since = None;
        if !t.sysex {
            self.tell(
                news,
                Outcome::Dropped {
                    len: usize::from(t.len),
                    why,
                },
            );
            return;
        }
        // The rest of this SysEx: its pieces up to the one ending it.
        let mut len = usize::from(t.len);
        let mut ended = t.bytes[usize::from(t.len) - 1] == 0xF7;
        while !ended {
            let Some(i) = self.timed.iter().position(|e| e.sysex) else {
                break;
            };
            let e = self.timed.remove(i);
            len += usize::from(e.len);
            ended = e.bytes[usize::from(e.len) - 1] == 0xF7;
        }
        let started = t.bytes[0] != 0xF0;
        if started {
            self.tell(news, Outcome::Cut { len, why });
        } else {
            self.tell(news, Outcome::Dropped { len, why });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MidiEvent;
    use crate::ring::{midi_buffer, MidiBufferProducer};

    struct Rec(Vec<(u64, Vec<u8>)>, u64);
    impl Wire for Rec {
        fn write(&mut self, bytes: &[u8]) -> Result<usize, String> {
            self.0.push((self.1, bytes.to_vec()));
            Ok(bytes.len())
        }
    }

    fn rig() -> (MidiBufferProducer, RawOutput, News) {
        let (p, c) = midi_buffer(256);
        (p, RawOutput::new(c), News::default())
    }

    fn clock(t: u64) -> MidiMessage {
        MidiMessage {
            time_ns: t,
            port: stream::CLOCK,
            event: MidiEvent::TimingClock,
        }
    }

    fn run(o: &mut RawOutput, news: &News, to: u64, step: u64) -> Vec<(u64, Vec<u8>)> {
        let mut w = Rec(Vec::new(), 0);
        let mut now = 0;
        while now <= to {
            w.1 = now;
            o.drain(now, news);
            o.write_due(now, Some(&mut w), news);
            now += step;
        }
        w.0
    }

    #[test]
    fn messages_go_out_at_their_time_and_retracted_clock_does_not() {
        let (mut p, mut o, news) = rig();
        let ms = 1_000_000;
        for k in 1..=5 {
            assert!(p.try_send(clock(k * 10 * ms)));
        }
        assert!(p.try_send(MidiMessage {
            time_ns: 25 * ms,
            port: stream::HOST,
            event: MidiEvent::NoteOn {
                channel: 0,
                key: 60,
                velocity: 1
            },
        }));
        // Take the clock back from 30 ms and send one at 35 ms instead.
        assert!(p.try_send(MidiMessage {
            time_ns: 30 * ms,
            port: stream::RETRACT_CLOCK,
            event: MidiEvent::TimingClock,
        }));
        assert!(p.try_send(clock(35 * ms)));
        let got = run(&mut o, &news, 60 * ms, ms);
        let want: Vec<(u64, Vec<u8>)> = vec![
            (10 * ms, vec![0xF8]),
            (20 * ms, vec![0xF8]),
            (25 * ms, vec![0x90, 60, 1]),
            (35 * ms, vec![0xF8]),
        ];
        assert_eq!(got, want);
        assert_eq!(news.stats().sent_messages, 4);
        assert_eq!(news.stats().output_dropped, 0);
    }

    #[test]
    fn sysex_goes_out_at_the_wire_pace_with_the_clock_between_its_pieces() {
        let (mut p, mut o, news) = rig();
        let ms = 1_000_000;
        let mut sx = vec![0xF0];
        sx.extend((0..62).map(|i| i as u8));
        sx.push(0xF7);
        assert!(p.try_send_sysex(ms, stream::HOST, &sx));
        assert!(p.try_send(clock(5 * ms)));
        assert!(p.try_send(MidiMessage {
            time_ns: 2 * ms,
            port: stream::HOST,
            event: MidiEvent::NoteOff {
                channel: 0,
                key: 1,
                velocity: 0
            },
        }));
        let got = run(&mut o, &news, 100 * ms, 100_000);
        let bytes: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
        // The clock byte inside the SysEx, the note after it.
        let at_clock = bytes.iter().position(|&b| b == 0xF8).unwrap();
        assert!(at_clock > 0 && at_clock < sx.len(), "{bytes:?}");
        let mut without: Vec<u8> = bytes.clone();
        without.remove(at_clock);
        assert_eq!(&without[..sx.len()], &sx[..]);
        assert_eq!(&without[sx.len()..], &[0x80, 1, 0]);
        // 64 bytes take 20.48 ms on the wire: the last piece is not sent
        // before the wire could have taken the ones before it.
        let last_sx = got.iter().rev().find(|(_, b)| b.contains(&0xF7)).unwrap().0;
        assert!(last_sx >= ms + wire_ns(sx.len() - PIECE), "{last_sx}");
        assert!(got.last().unwrap().0 >= ms + wire_ns(sx.len()));
        assert_eq!(news.stats().sent_messages, 3);
    }

    #[test]
    fn what_is_left_at_stop_is_counted_once_per_message() {
        let (mut p, mut o, news) = rig();
        let mut sx = vec![0xF0];
        sx.extend([1u8; 30]);
        sx.push(0xF7);
        assert!(p.try_send_sysex(0, stream::HOST, &sx));
        assert!(p.try_send(clock(1)));
        // Part of the SysEx goes out, then the engine stops.
        let mut w = Rec(Vec::new(), 0);
        o.drain(0, &news);
        o.write_due(wire_ns(PIECE), Some(&mut w), &news);
        assert!(!w.0.is_empty() && o.waiting() > 0);
        o.abandon(&news);
        assert_eq!(o.waiting(), 0);
        let s = news.stats();
        assert_eq!((s.output_sysex_cut, s.output_dropped), (1, 0), "{s:?}");
        // One not started (still in the pacer until the last look):
        // dropped, once.
        assert!(p.try_send_sysex(10 * wire_ns(64), stream::HOST, &sx));
        o.drain_last(wire_ns(64), &news);
        o.abandon(&news);
        assert_eq!(news.stats().output_dropped, 1);
    }

    #[test]
    fn output_without_a_device_is_counted() {
        let (mut p, mut o, news) = rig();
        assert!(p.try_send(clock(1)));
        o.drain(0, &news);
        o.write_due(10, None, &news);
        assert_eq!(o.waiting(), 0);
        assert_eq!(news.stats().output_dropped, 1);
        assert!(news
            .pop_log()
            .unwrap()
            .message
            .contains("no raw MIDI device"));
    }
}
