//! An external receiving sequencer client, as `aseqdump` is, but timestamping:
//! its own queue (on the high-resolution timer when the kernel has it) stamps
//! every event as the kernel delivers it, and a thread records
//! (time, MIDI bytes). The queue's time is aligned with `CLOCK_MONOTONIC`
//! (queue status read between two clock readings, at start and at stop), so
//! arrivals compare with times a sender computed on `CLOCK_MONOTONIC`.
//!
//! The stamp is the kernel's delivery time, taken when the sender's queue
//! fires (or when a direct event is written), not when this thread wakes:
//! it measures the sender's timing, not ours.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use alsa::poll::Descriptors;
use alsa::seq::{Addr, EventType, MidiEvent as EventCodec, PortCap, PortInfo, PortType, Seq};
use phasorsync::backend::alsa_seq::queue_time::{measure, Sample};

/// One event as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The receiver's queue time of delivery, ns since its queue started.
    pub queue_ns: u64,
    /// Who sent it.
    pub source: Addr,
    /// The MIDI bytes (a SysEx whole, `F0 … F7`; a realtime byte alone).
    pub bytes: Vec<u8>,
}

/// One event as its sender scheduled it: what a port without timestamping
/// receives (the kernel leaves the sender's queue and time on the event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The sender's queue time the event was scheduled at, ns (real time;
    /// `None` for an event sent at once or scheduled in ticks).
    pub queue_ns: Option<u64>,
    /// The MIDI bytes.
    pub bytes: Vec<u8>,
}

/// What a stopped [`Receiver`] recorded.
#[derive(Clone, Debug)]
pub struct Received {
    /// Every event, in arrival order.
    pub arrivals: Vec<Arrival>,
    /// With [`Receiver::start_with_schedule`]: every event again, as its
    /// sender scheduled it, in the same order (the kernel delivers each
    /// event to a sender's subscribers one after the other).
    pub sent: Vec<Sent>,
    /// `CLOCK_MONOTONIC − queue time`, ns, measured at start and at stop
    /// (the tightest of 16 brackets each).
    pub anchors: [Sample; 2],
    /// The timer the queue ran on, as `/proc/asound/seq/timer` names it
    /// (`"HR timer"`, `"system timer"`), if it could be read.
    pub timer: Option<String>,
}

impl Received {
    /// The monotonic offset used: the mean of the two anchors.
    pub fn offset_ns(&self) -> i64 {
        (self.anchors[0].offset() + self.anchors[1].offset()) / 2
    }

    /// How much the offset moved between start and stop, ns (the queue
    /// timer's drift against `CLOCK_MONOTONIC` plus reading noise).
    pub fn offset_drift_ns(&self) -> i64 {
        self.anchors[1].offset() - self.anchors[0].offset()
    }

    /// An arrival's time on `CLOCK_MONOTONIC`, ns.
    pub fn mono_ns(&self, a: &Arrival) -> u64 {
        (a.queue_ns as i64 + self.offset_ns()) as u64
    }

    /// (monotonic ns, bytes) of every arrival whose first byte is `status`.
    pub fn with_status(&self, status: u8) -> Vec<(u64, &[u8])> {
        self.arrivals
            .iter()
            .filter(|a| a.bytes.first() == Some(&status))
            .map(|a| (self.mono_ns(a), a.bytes.as_slice()))
            .collect()
    }

    /// Each arrival's kernel delivery delay after the time its sender
    /// scheduled it, ns, up to a constant (the two queues' offset): arrival
    /// on our queue − scheduled time on the sender's, minus the smallest
    /// such difference. With the bytes. `None` unless recorded with
    /// [`Receiver::start_with_schedule`] and every arrival has its
    /// scheduled twin.
    ///
    /// Tells the sender's choice of times (scheduled) from the kernel's
    /// keeping of them (delivery): a message that arrives late although it
    /// was scheduled on time was held up by the kernel's timer, not by the
    /// sender.
    pub fn delivery_delays(&self) -> Option<Vec<(i64, &[u8])>> {
        if self.sent.len() != self.arrivals.len() {
            return None;
        }
        let raw: Vec<(i64, &[u8])> = self
            .arrivals
            .iter()
            .zip(&self.sent)
            .map(|(a, s)| {
                s.queue_ns
                    .filter(|_| a.bytes == s.bytes)
                    .map(|q| (a.queue_ns as i64 - q as i64, a.bytes.as_slice()))
            })
            .collect::<Option<_>>()?;
        let min = raw.iter().map(|(d, _)| *d).min()?;
        Some(raw.into_iter().map(|(d, b)| (d - min, b)).collect())
    }

    /// What the sender scheduled, as if the kernel had delivered every
    /// event with the least delay it showed: each arrival moved back by its
    /// delay, `delays` being this recording's [`Received::delivery_delays`].
    pub fn as_scheduled(&self, delays: &[(i64, &[u8])]) -> Received {
        let mut r = self.clone();
        for (a, (d, _)) in r.arrivals.iter_mut().zip(delays) {
            a.queue_ns -= *d as u64;
        }
        r
    }

    /// The system messages (`0xF1..`) in order, with their monotonic time:
    /// the clock's Start/Stop/Continue/SPP/Clock sequence.
    pub fn system(&self) -> Vec<(u64, &[u8])> {
        self.arrivals
            .iter()
            .filter(|a| a.bytes.first().is_some_and(|&b| b > 0xF0))
            .map(|a| (self.mono_ns(a), a.bytes.as_slice()))
            .collect()
    }
}

/// The receiving client, running.
pub struct Receiver {
    /// Its port's address (give it to `aplaymidi -p`).
    pub addr: Addr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Arrival>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
    thread: Option<JoinHandle<(Sample, Option<String>)>>,
    start_anchor: Sample,
}

impl Receiver {
    /// Start a client named `name` with one timestamping port, subscribed
    /// from each of `sources` before this returns (so nothing they send
    /// afterwards is missed).
    ///
    /// # Panics
    /// When the sequencer cannot be opened or a subscription fails.
    pub fn start(name: &str, sources: &[Addr]) -> Self {
        Self::start_ports(name, sources, false)
    }

    /// [`Receiver::start`], with a second port, without timestamping,
    /// subscribed from the same `sources`: it records each event's time as
    /// its sender scheduled it ([`Received::sent`],
    /// [`Received::delivery_delays`]).
    pub fn start_with_schedule(name: &str, sources: &[Addr]) -> Self {
        Self::start_ports(name, sources, true)
    }

    fn start_ports(name: &str, sources: &[Addr], schedule: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::with_capacity(65_536)));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let shared = Shared {
            stop: Arc::clone(&stop),
            log: Arc::clone(&log),
            sent: Arc::clone(&sent),
        };
        let (name, sources) = (name.to_string(), sources.to_vec());
        let thread = std::thread::spawn(move || {
            // No realtime priority: the stamps are the kernel's, taken at
            // delivery, whenever this thread reads them; a SCHED_FIFO reader
            // would only take CPU from the sender it measures (the kernel
            // buffers up to the input pool meanwhile).
            let client = Client::open(&name, schedule);
            let (seq, q) = (&client.seq, client.q);
            let anchor = || {
                measure(|| seq.get_queue_status(q).map(|s| s.get_real_time()))
                    .expect("receiver: queue status")
            };
            let first = anchor();
            client.subscribe(&sources);
            let timer = queue_timer(q);
            ready_tx.send((client.me, first)).unwrap();
            client.record(&shared);
            (anchor(), timer)
        });
        let (addr, start_anchor) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the receiver thread did not start");
        Self {
            addr,
            stop,
            log,
            sent,
            thread: Some(thread),
            start_anchor,
        }
    }

    /// `client:port`, for the alsa-utils tools.
    pub fn addr_str(&self) -> String {
        format!("{}:{}", self.addr.client, self.addr.port)
    }

    /// How many events arrived so far.
    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Wait until `n` events arrived or `timeout` passed; the count.
    pub fn wait_count(&self, n: usize, timeout: Duration) -> usize {
        let end = std::time::Instant::now() + timeout;
        loop {
            let c = self.count();
            if c >= n || std::time::Instant::now() >= end {
                return c;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stop the thread; everything recorded.
    pub fn stop(mut self) -> Received {
        self.stop.store(true, Ordering::Release);
        let (end_anchor, timer) = self.thread.take().unwrap().join().expect("receiver thread");
        let arrivals = std::mem::take(&mut *self.log.lock().unwrap());
        let sent = std::mem::take(&mut *self.sent.lock().unwrap());
        Received {
            arrivals,
            sent,
            anchors: [self.start_anchor, end_anchor],
            timer,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the receiver thread shares with its [`Receiver`].
struct Shared {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Arrival>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// The receiving client, opened on the receiver thread: its queue (started)
/// and its ports.
struct Client {
    seq: Seq,
    q: i32,
    /// The timestamping port.
    me: Addr,
    /// The second port, without timestamping, if asked for.
    raw_port: Option<Addr>,
}

impl Client {
    /// A client named `name` with its queue and timestamping port (and,
    /// with `schedule`, a second port without), the queue started.
    fn open(name: &str, schedule: bool) -> Self {
        let seq = Seq::open(None, None, true).expect("receiver: open seq");
        seq.set_client_name(&CString::new(name).unwrap())
            .expect("receiver: name");
        let _ = seq.set_client_pool_input(2000);
        let _ = seq.input().set_input_buffer_size(64 * 1024);
        let q = seq.alloc_queue().expect("receiver: queue");
        let mut info = PortInfo::empty().unwrap();
        info.set_name(c"in");
        info.set_capability(PortCap::WRITE | PortCap::SUBS_WRITE);
        info.set_type(PortType::MIDI_GENERIC | PortType::APPLICATION);
        info.set_timestamping(true);
        info.set_timestamp_real(true);
        info.set_timestamp_queue(q);
        seq.create_port(&info).expect("receiver: port");
        let me = Addr {
            client: seq.client_id().unwrap(),
            port: info.get_port(),
        };
        let raw_port = schedule.then(|| {
            let mut raw = PortInfo::empty().unwrap();
            raw.set_name(c"scheduled");
            raw.set_capability(PortCap::WRITE | PortCap::SUBS_WRITE);
            raw.set_type(PortType::MIDI_GENERIC | PortType::APPLICATION);
            seq.create_port(&raw).expect("receiver: second port");
            Addr {
                client: me.client,
                port: raw.get_port(),
            }
        });
        seq.control_queue(q, EventType::Start, 0, None)
            .expect("receiver: start queue");
        seq.drain_output().expect("receiver: drain");
        Client {
            seq,
            q,
            me,
            raw_port,
        }
    }

    /// Both ports subscribed from each of `sources`.
    fn subscribe(&self, sources: &[Addr]) {
        for &src in sources {
            for dest in std::iter::once(self.me).chain(self.raw_port) {
                let s = alsa::seq::PortSubscribe::empty().unwrap();
                s.set_sender(src);
                s.set_dest(dest);
                self.seq
                    .subscribe_port(&s)
                    .unwrap_or_else(|e| panic!("receiver: subscribing from {src:?}: {e}"));
            }
        }
    }

    /// Every MIDI event delivered, into `shared`'s log (stamped) or its
    /// list of sent events (the second port), until `shared.stop`.
    fn record(&self, shared: &Shared) {
        let (seq, raw_port) = (&self.seq, self.raw_port);
        let codec = EventCodec::new(65_536).unwrap();
        codec.enable_running_status(false);
        let mut buf = vec![0u8; 65_536];
        let mut fds = (seq, Some(alsa::Direction::Capture)).get().unwrap();
        let mut input = seq.input();
        while !shared.stop.load(Ordering::Acquire) {
            // SAFETY: `fds` is a valid pollfd slice for its length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
            while let Ok(mut ev) = input.event_input() {
                let time = ev.get_time();
                let to_raw = Some(ev.get_dest()) == raw_port;
                let source = ev.get_source();
                codec.reset_decode();
                let Ok(n) = codec.decode(&mut buf, &mut ev) else {
                    continue; // not MIDI (port announcements and the like)
                };
                if to_raw {
                    shared.sent.lock().unwrap().push(Sent {
                        queue_ns: time.map(|t| t.as_nanos() as u64),
                        bytes: buf[..n].to_vec(),
                    });
                    continue;
                }
                let Some(t) = time else { continue };
                shared.log.lock().unwrap().push(Arrival {
                    queue_ns: t.as_nanos() as u64,
                    source,
                    bytes: buf[..n].to_vec(),
                });
            }
        }
    }
}

/// The timer queue `q` runs on and its period, from
/// `/proc/asound/seq/timer` (`HR timer, period 0.001000000 s`): scheduled
/// events leave on the queue's timer ticks, so the period is the kernel's
/// own granularity for scheduled output.
pub fn queue_timer(q: i32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/asound/seq/timer").ok()?;
    parse_queue_timer(&text, q)
}

/// The timer name and period of queue `q` in the text of
/// `/proc/asound/seq/timer`:
///
/// ```text
/// Timer for queue 0 : HR timer
///   Period time : 0.001000000
/// ```
pub fn parse_queue_timer(text: &str, q: i32) -> Option<String> {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some((n, name)) = l
            .strip_prefix("Timer for queue ")
            .and_then(|r| r.split_once(':'))
        else {
            continue;
        };
        if n.trim().parse::<i32>().ok() != Some(q) {
            continue;
        }
        let period = lines
            .next()
            .and_then(|p| p.trim().strip_prefix("Period time"))
            .map(|p| p.trim_start_matches([' ', ':']).to_string());
        return Some(match period {
            Some(p) => format!("{}, period {p} s", name.trim()),
            None => name.trim().to_string(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn queue_timer_line() {
        let text = "Timer for queue 2 : system timer\n  Period time : 0.004000000\n\
                    Timer for queue 3 : HR timer\n  Period time : 0.001000000\n";
        assert_eq!(
            super::parse_queue_timer(text, 3).as_deref(),
            Some("HR timer, period 0.001000000 s")
        );
        assert_eq!(super::parse_queue_timer(text, 4), None);
    }
}
