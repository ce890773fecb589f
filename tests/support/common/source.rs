//! The one sequencer client a test or bench makes to send from: a readable
//! port whose events go straight (no queue) to its subscribers.

use std::ffi::CString;

use alsa::seq::{Addr, EvCtrl, EvNote, Event, EventType, PortCap, PortSubscribe, PortType, Seq};
use phasorsync::timeline::monotonic_ns;

/// A sequencer client made by the test: one readable port, sends direct events.
pub struct TestSource {
    /// The handle.
    pub seq: Seq,
    /// Its port's address.
    pub addr: Addr,
}

impl TestSource {
    /// A client named `name` with one READ|SUBS_READ port named `name`.
    pub fn new(name: &str) -> Self {
        Self::named(name, name)
    }

    /// A client named `client` with one READ|SUBS_READ port named `port`
    /// (the latency bench's receivers find it as `latency-sender:out`).
    pub fn named(client: &str, port: &str) -> Self {
        let seq = Seq::open(None, Some(alsa::Direction::Playback), false).expect("open seq");
        seq.set_client_name(&CString::new(client).unwrap()).unwrap();
        let port = seq
            .create_simple_port(
                &CString::new(port).unwrap(),
                PortCap::READ | PortCap::SUBS_READ,
                PortType::MIDI_GENERIC | PortType::APPLICATION,
            )
            .unwrap();
        let client = seq.client_id().unwrap();
        Self {
            seq,
            addr: Addr { client, port },
        }
    }

    /// Subscribe `dest` to this port through our own handle (no `aconnect`
    /// process, for the bench's tight loop).
    pub fn connect(&self, dest: Addr) {
        let s = PortSubscribe::empty().unwrap();
        s.set_sender(self.addr);
        s.set_dest(dest);
        self.seq.subscribe_port(&s).expect("subscribe");
    }

    /// Undo [`TestSource::connect`]; nothing if it is already gone.
    pub fn disconnect(&self, dest: Addr) {
        let _ = self.seq.unsubscribe_port(self.addr, dest);
    }

    /// Sends a note-on to the subscribers now. Returns the monotonic time just before.
    pub fn note_on(&self, channel: u8, key: u8, velocity: u8) -> u64 {
        let mut ev = Event::new(
            EventType::Noteon,
            &EvNote {
                channel,
                note: key,
                velocity,
                off_velocity: 0,
                duration: 0,
            },
        );
        self.output(&mut ev).expect("event_output_direct")
    }

    /// Sends a control change to the subscribers now. Returns the monotonic
    /// time just before.
    pub fn cc(&self, channel: u8, param: u32, value: i32) -> u64 {
        self.try_cc(channel, param, value)
            .expect("event_output_direct")
    }

    /// Sends a control change: the monotonic time just before, or the
    /// kernel's refusal (a subscriber's queue was full), for burst senders
    /// that count refusals instead of failing.
    pub fn try_cc(&self, channel: u8, param: u32, value: i32) -> alsa::Result<u64> {
        self.output(&mut Event::new(
            EventType::Controller,
            &EvCtrl {
                channel,
                param,
                value,
            },
        ))
    }

    /// `n` control changes as fast as the kernel takes them (channels,
    /// controllers and values cycling); how many it refused.
    pub fn cc_burst(&self, n: u32) -> u64 {
        (0..n)
            .filter(|i| {
                self.try_cc((i % 16) as u8, i / 128 % 128, (i % 128) as i32)
                    .is_err()
            })
            .count() as u64
    }

    /// Sends `bytes` as they are, in one variable-length (SysEx) event, to
    /// the subscribers now; returns the monotonic time just before. A
    /// virmidi device's raw input receives such an event's bytes unchanged,
    /// whatever they are: a test feeds it wire bytes (running status,
    /// realtime bytes inside a SysEx, a SysEx in pieces) this way.
    pub fn raw_bytes(&self, bytes: &[u8]) -> u64 {
        self.output(&mut Event::new_ext(EventType::Sysex, bytes))
            .expect("event_output_direct")
    }

    /// From this port to its subscribers, now; the time just before the write.
    fn output(&self, ev: &mut Event) -> alsa::Result<u64> {
        ev.set_source(self.addr.port);
        ev.set_subs();
        ev.set_direct();
        let t = monotonic_ns();
        self.seq.event_output_direct(ev).map(|_| t)
    }
}
