//! Reading the sequencer: drain every event the kernel has for us, decode
//! MIDI to bytes, stamp it on the monotonic clock, hand it to the sink;
//! announcements go to the connector and, for our output's subscribers, to
//! the notes held on devices that go away (`away`); overruns break every
//! stream.

use std::sync::atomic::Ordering;

use alsa::seq::{Addr, Connect, Event, EventType, MidiEvent as EventCodec, Seq};

use super::away::reader_changed;
use super::patterns::{follow_patchbay, log_changes};
use super::Midi;
use crate::backend::alsa_seq::away_notes::AwayNotes;
use crate::backend::alsa_seq::client::{cells_for, input_pool};
use crate::backend::alsa_seq::connect::AutoConnector;
use crate::backend::alsa_seq::queue_time::QueueTime;
use crate::backend::shared::state::Shared;
use crate::counting::Since;
use crate::engine::news::EngineCounters;
use crate::engine::news::LogBudget;
use crate::engine::sink::source_id;
use crate::engine::sink::Sink;
use crate::engine::{LogLevel, News};
use crate::timeline::monotonic_ns;

/// Events read between two looks at the stop flag: under sustained input the
/// queue never runs dry, and `stop()` (the plugin's deactivate) waits.
pub const STOP_CHECK_EVENTS: u32 = 64;

/// Failed reads in a row (no event read in between) that end the thread: a
/// descriptor that only fails would otherwise be polled forever.
pub const MAX_FAILED_READS: u32 = 100;

/// Lines logged per kind of input error; the counters keep counting.
const LOGGED_ERRORS: u32 = 10;

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// The kernel has nothing more (or a read failed: poll again).
    Empty,
    /// `stop()` was asked for in the middle.
    Stopping,
}

/// The input side's own state.
pub struct Input {
    decoder: EventCodec,
    buf: [u8; 16],
    /// The last timestamp handed on: see [`Input::stamp`].
    last_stamp: u64,
    read_errors: LogBudget,
    decode_errors: LogBudget,
    overrun_logged: bool,
    failed_reads: u32,
    /// Kernel losses already counted (cells, from procfs).
    lost: Since,
    /// Overruns whose losses are not counted yet (see [`Rx::count_losses`]).
    uncounted_overruns: bool,
}

impl Input {
    /// The input state around a fresh decoder.
    pub fn new(decoder: EventCodec) -> Self {
        decoder.enable_running_status(false);
        Self {
            decoder,
            buf: [0; 16],
            last_stamp: 0,
            read_errors: LogBudget::new(LOGGED_ERRORS, "reading a MIDI event failed"),
            decode_errors: LogBudget::new(LOGGED_ERRORS, "decoding a MIDI event failed"),
            overrun_logged: false,
            failed_reads: 0,
            lost: Since::default(),
            uncounted_overruns: false,
        }
    }

    /// Now on the monotonic clock, never before the last timestamp handed on.
    pub fn now(&mut self) -> u64 {
        self.last_stamp = monotonic_ns().max(self.last_stamp);
        self.last_stamp
    }

    /// Our queue's timestamp converted to monotonic, or now if the event was
    /// not stamped on our queue (should not happen: the input port stamps
    /// everything).
    ///
    /// Never earlier than the previous one: events arrive in queue-time
    /// order, but a correction of the queue-to-monotonic mapping could
    /// otherwise make a timestamp step back, and the messages of one stream
    /// must stay in time order.
    fn stamp(&mut self, ev: &Event<'_>, queue: i32, clock: &QueueTime, c: &EngineCounters) -> u64 {
        let t = match ev.get_time() {
            Some(t) if ev.get_queue() == queue => clock.to_monotonic(t),
            _ => {
                News::tally(&c.unstamped, 1);
                monotonic_ns()
            }
        };
        self.last_stamp = t.max(self.last_stamp);
        self.last_stamp
    }
}

impl Midi {
    /// Reads until the kernel has nothing more, looking at the stop flag
    /// every [`STOP_CHECK_EVENTS`] events; under a flood of input, also
    /// returns (as if empty) when a look at the output ring is due, so output
    /// keeps its beat ([`crate::engine::OUTPUT_POLL_NS`]).
    ///
    /// # Errors
    /// When reads keep failing ([`MAX_FAILED_READS`] in a row).
    pub(super) fn drain_input(&mut self) -> Result<Drained, String> {
        let output_due = self.output.due_ns();
        let Midi {
            seq,
            own_client,
            queue,
            clock,
            sink,
            shared,
            news,
            connector,
            input,
            output,
            out_port,
            ..
        } = self;
        let mut rx = Rx {
            seq,
            own_client: *own_client,
            out: Addr {
                client: *own_client,
                port: *out_port,
            },
            queue: *queue,
            clock,
            sink,
            shared,
            news,
            connector,
            input,
            away: output.away_notes(),
        };
        let mut seq_in = seq.input();
        let mut n = 0u32;
        loop {
            n = n.wrapping_add(1);
            if n % STOP_CHECK_EVENTS == 0 {
                if rx.shared.stop.load(Ordering::Acquire) {
                    rx.count_losses();
                    return Ok(Drained::Stopping);
                }
                if monotonic_ns() >= output_due {
                    // Not drained: losses are counted once the queue is
                    // (procfs read mid-flood overcounts, see count_losses).
                    return Ok(Drained::Empty);
                }
            }
            match seq_in.event_input() {
                Ok(mut ev) => {
                    rx.input.failed_reads = 0;
                    let c = &rx.news.counters;
                    News::tally(&c.events, 1);
                    News::tally(
                        &rx.shared.cells,
                        cells_for(ev.get_ext().map_or(0, <[u8]>::len)),
                    );
                    rx.dispatch(&mut ev);
                }
                Err(e) if e.errno() == libc::EAGAIN => {
                    rx.count_losses();
                    return Ok(Drained::Empty);
                }
                Err(e) if e.errno() == libc::ENOSPC => rx.overrun(),
                Err(e) => {
                    rx.count_losses();
                    return rx.read_failed(e).map(|()| Drained::Empty);
                }
            }
        }
    }
}

/// What reading needs of [`Midi`], borrowed apart from the sequencer handle
/// the events borrow.
struct Rx<'a> {
    seq: &'a Seq,
    own_client: i32,
    /// Our `MIDI out` port.
    out: Addr,
    queue: i32,
    clock: &'a QueueTime,
    sink: &'a mut Sink,
    shared: &'a Shared,
    news: &'a News,
    connector: &'a mut AutoConnector,
    input: &'a mut Input,
    away: &'a mut AwayNotes,
}

impl Rx<'_> {
    /// One event read.
    fn dispatch(&mut self, ev: &mut Event<'_>) {
        let c = &self.news.counters;
        match ev.get_type() {
            EventType::PortStart => {
                News::tally(&c.other_events, 1);
                if let Some(a) = ev.get_data::<Addr>() {
                    let ch = self.connector.port_started(self.seq, a);
                    log_changes(self.news, &ch);
                }
            }
            EventType::PortExit => {
                News::tally(&c.other_events, 1);
                if let Some(a) = ev.get_data::<Addr>() {
                    self.connector.port_exited(a);
                    let at = self.input.stamp(ev, self.queue, self.clock, c);
                    self.away.port_gone(a, at);
                    let now = self.input.now();
                    self.sink.source_gone(source_id(a.client, a.port), now);
                }
            }
            EventType::ClientExit => {
                News::tally(&c.other_events, 1);
                if let Some(a) = ev.get_data::<Addr>() {
                    self.connector.client_exited(a.client);
                    let at = self.input.stamp(ev, self.queue, self.clock, c);
                    self.away.client_gone(a.client, at);
                    let now = self.input.now();
                    self.sink.client_gone(a.client, now);
                }
            }
            t @ (EventType::PortSubscribed | EventType::PortUnsubscribed) => {
                News::tally(&c.other_events, 1);
                if let Some(conn) = ev.get_data::<Connect>() {
                    let subscribed = t == EventType::PortSubscribed;
                    follow_patchbay(
                        self.seq,
                        self.shared,
                        self.news,
                        self.connector,
                        conn,
                        subscribed,
                    );
                    let at = self.input.stamp(ev, self.queue, self.clock, c);
                    reader_changed(
                        self.seq, self.news, self.away, self.out, conn, subscribed, at,
                    );
                }
            }
            EventType::Sysex => {
                let t = self.input.stamp(ev, self.queue, self.clock, c);
                let src = ev.get_source();
                if let Some(bytes) = ev.get_ext() {
                    self.sink.feed(t, source_id(src.client, src.port), bytes);
                }
            }
            t if is_midi(t) => {
                let time = self.input.stamp(ev, self.queue, self.clock, c);
                let src = ev.get_source();
                let input = &mut *self.input;
                match input.decoder.decode(&mut input.buf, ev) {
                    Ok(n) if n > 0 => {
                        self.sink
                            .feed(time, source_id(src.client, src.port), &input.buf[..n])
                    }
                    // A MIDI event that decodes to nothing is lost input too.
                    Ok(_) => {
                        self.news.count(&c.event_errors, 1);
                        input
                            .decode_errors
                            .push(self.news, || format!("a {t:?} event decoded to no bytes"));
                    }
                    Err(e) => {
                        self.news.count(&c.event_errors, 1);
                        input
                            .decode_errors
                            .push(self.news, || format!("decoding a {t:?} event failed: {e}"));
                    }
                }
            }
            _ => News::tally(&c.other_events, 1),
        }
    }

    /// ENOSPC: the kernel's input queue for us filled up, so it refused
    /// events and then cleared the queue. Every stream is broken: held notes
    /// are released and partial SysEx dropped (counted), never spliced to
    /// pieces read later. The events lost are counted when the queue has
    /// been drained ([`Self::count_losses`]): reading procfs at every overrun
    /// of a burst would slow the reader into more overruns.
    fn overrun(&mut self) {
        let c = &self.news.counters;
        News::tally(&c.overruns, 1);
        self.input.uncounted_overruns = true;
        let now = self.input.now();
        self.sink.break_all_streams(now);
        self.news.ring();
        if !self.input.overrun_logged {
            self.input.overrun_logged = true;
            self.news.log(
                LogLevel::Warning,
                "MIDI input overrun: the kernel's input queue for PhasorSync filled up, so it \
                 dropped events and cleared the queue; held notes were released and partial \
                 SysEx dropped (counted in the stats; logged once)",
            );
        }
    }

    /// Counts the events lost in the overruns since the last count: the
    /// kernel's figure (cells offered to our pool and neither read nor
    /// queued, from procfs), at least one.
    fn count_losses(&mut self) {
        if !std::mem::take(&mut self.input.uncounted_overruns) {
            return;
        }
        let c = &self.news.counters;
        let cells_read = self.shared.cells.load(Ordering::Relaxed);
        let lost_total = input_pool(self.own_client).map(|p| p.lost(cells_read));
        let new = match lost_total.map(|total| self.input.lost.take(total)) {
            Some(n) if n > 0 => n,
            _ => 1,
        };
        News::tally(&c.overrun_events, new);
        self.news.ring();
    }

    /// A read failed with something else than EAGAIN/ENOSPC.
    fn read_failed(&mut self, e: alsa::Error) -> Result<(), String> {
        News::tally(&self.news.counters.event_errors, 1);
        self.news.ring();
        self.input.failed_reads += 1;
        if self.input.failed_reads >= MAX_FAILED_READS {
            return Err(format!(
                "reading the sequencer failed {} times in a row (last: {e})",
                self.input.failed_reads
            ));
        }
        self.input
            .read_errors
            .push(self.news, || format!("reading a MIDI event failed: {e}"));
        Ok(())
    }
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
