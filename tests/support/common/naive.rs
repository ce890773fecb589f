//! What a naive plugin does with MIDI clock and notes out: in each paced
//! block (see [`super::paced`]) it sends at once, unscheduled, everything
//! due in that block: the clock ticks of the same tick scheduler PhasorSync
//! uses (`phasorsync::midi_clock::ticks`), and the host's notes. So each
//! message leaves at its block's call time instead of its sample's time:
//! the benchmark's baseline.

use std::ffi::CString;

use alsa::seq::{Addr, MidiEvent as EventCodec, PortCap, PortType, Seq};
use phasorsync::midi_clock::ticks::{ClockEvent, ClockOptions, TickScheduler, Transport};

use super::paced::{pace, try_realtime, HostMidi, Pacing, Song, RATE};

/// A client with one readable port that sends raw MIDI bytes direct (no
/// queue) to its subscribers.
pub struct DirectSender {
    seq: Seq,
    /// Its port's address.
    pub addr: Addr,
}

impl DirectSender {
    /// A client and port named `name`.
    ///
    /// # Panics
    /// When the sequencer cannot be opened.
    pub fn new(name: &str) -> Self {
        let seq = Seq::open(None, Some(alsa::Direction::Playback), false).expect("open seq");
        let cname = CString::new(name).unwrap();
        seq.set_client_name(&cname).unwrap();
        let port = seq
            .create_simple_port(
                &cname,
                PortCap::READ | PortCap::SUBS_READ,
                PortType::MIDI_GENERIC | PortType::APPLICATION,
            )
            .unwrap();
        Self {
            addr: Addr {
                client: seq.client_id().unwrap(),
                port,
            },
            seq,
        }
    }

    /// Send one message (whole) to the subscribers now.
    ///
    /// # Panics
    /// When the bytes do not encode to one event or the kernel refuses it.
    pub fn send(&self, bytes: &[u8]) {
        self.send_with(&mut codec(), bytes);
    }

    /// [`DirectSender::send`] with an encoder made beforehand (alsa's
    /// encoder is not `Send`: each thread makes its own).
    fn send_with(&self, codec: &mut EventCodec, bytes: &[u8]) {
        codec.reset_encode();
        let (_, ev) = codec.encode(bytes).expect("encoding MIDI bytes");
        let mut ev = ev.expect("a whole message encodes to one event");
        ev.set_source(self.addr.port);
        ev.set_subs();
        ev.set_direct();
        self.seq
            .event_output_direct(&mut ev)
            .expect("event_output_direct");
    }

    /// Play `song` for `blocks` paced blocks of `frames` (on a SCHED_FIFO
    /// thread when allowed): at each block's call, send the clock messages
    /// due in it (when `clock`) and the `midi` events that fall in it.
    pub fn run(
        &mut self,
        frames: u32,
        blocks: u64,
        song: &Song,
        midi: &[HostMidi],
        clock: bool,
    ) -> Pacing {
        let mut ticks = TickScheduler::new(RATE, ClockOptions::default()).expect("tick scheduler");
        let mut out = [ClockEvent::default(); 256];
        // The thread borrows `self` mutably: a `Seq` may move between
        // threads but not be shared.
        let this: &mut Self = self;
        std::thread::scope(|s| {
            s.spawn(move || {
                try_realtime();
                let mut codec = codec();
                let mut next = 0;
                pace(frames, blocks, |k, _| {
                    if clock {
                        let at = song.at(frames, k);
                        let t = Transport {
                            playing: at.playing,
                            song_pos_beats: at.beats,
                            tempo_bpm: song.tempo,
                            tempo_inc: 0.0,
                            loop_beats: None,
                        };
                        let r = ticks.process(Some(&t), frames, &mut out);
                        for e in &out[..r.written] {
                            let (bytes, n) = e.kind.to_bytes();
                            this.send_with(&mut codec, &bytes[..n]);
                        }
                    }
                    let end = (k + 1) * u64::from(frames);
                    while next < midi.len() && midi[next].sample < end {
                        this.send_with(&mut codec, &midi[next].data);
                        next += 1;
                    }
                })
            })
            .join()
            .expect("the naive sender's thread panicked")
        })
    }
}

/// A MIDI-bytes-to-event encoder without running status.
fn codec() -> EventCodec {
    let codec = EventCodec::new(256).expect("alsa MIDI encoder");
    codec.enable_running_status(false);
    codec
}
