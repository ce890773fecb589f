//! The MIDI thread's end of the output path: take what `process()` put in the
//! output ring, encode it into sequencer events (alsa's MIDI encoder) and
//! schedule each on our queue at its `CLOCK_MONOTONIC` time converted to
//! queue time; a message whose time has passed is sent at once and counted
//! as late.
//!
//! The sequencer handle belongs to the thread (alsa-lib handles are not
//! thread-safe), so the audio thread never touches it: it only pushes to the
//! lock-free ring, whose messages are whole by construction (a message and
//! its SysEx payload are published together).

use alsa::seq::MidiEvent as EventCodec;

use super::queue_time::QueueTime;
use crate::engine::news::LogBudget;
use crate::engine::News;
use crate::protocol::MidiMessage;
use crate::ring::MidiBufferConsumer;
use crate::timeline::monotonic_ns;

/// Encoder buffer: larger SysEx output is split into events of this size,
/// as the kernel's own rawmidi→sequencer encoder does.
const ENCODE_CHUNK: u32 = 256;

/// While output flows (something was sent in the last [`BUSY_NS`]), the ring
/// is looked at every millisecond; otherwise every [`IDLE_POLL_MS`]: a 1 kHz
/// wake-up costs CPU (it starved the emulated test VM's audio thread), and
/// the first message after a pause waits at most that long.
const BUSY_POLL_MS: u64 = 1;
/// See [`BUSY_POLL_MS`].
const IDLE_POLL_MS: u64 = 20;
/// See [`BUSY_POLL_MS`].
const BUSY_NS: u64 = 1_000_000_000;

/// Where output goes: our port, to its subscribers, on our queue.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// Our `MIDI out` port.
    pub port: i32,
    /// Our queue.
    pub queue: i32,
}

/// The thread's output state: the ring, the encoder, a SysEx scratch buffer.
pub struct Output {
    ring: MidiBufferConsumer,
    encoder: EventCodec,
    /// One SysEx payload; as large as the ring's SysEx storage, allocated once.
    scratch: Vec<u8>,
    drops: LogBudget,
    /// `CLOCK_MONOTONIC` of the last drain that sent something.
    last_busy_ns: u64,
}

impl Output {
    /// The thread's end of `ring`. Made on the MIDI thread (alsa's encoder
    /// is not `Send`), at start; allocates the SysEx scratch there.
    ///
    /// # Errors
    /// alsa's encoder could not be created.
    pub fn new(ring: MidiBufferConsumer) -> Result<Self, String> {
        let encoder =
            EventCodec::new(ENCODE_CHUNK).map_err(|e| format!("creating the MIDI encoder: {e}"))?;
        encoder.enable_running_status(false);
        let scratch = vec![0; ring.sysex_capacity()];
        Ok(Self {
            ring,
            encoder,
            scratch,
            drops: LogBudget::new(10, "MIDI output dropped"),
            last_busy_ns: 0,
        })
    }

    /// Send everything queued, then flush it to the kernel.
    pub fn drain(&mut self, seq: &alsa::Seq, route: Route, clock: &QueueTime, news: &News) {
        let mut any = false;
        while let Some(msg) = self.ring.try_pop() {
            any = true;
            let mut small = [0u8; 3];
            let bytes: &[u8] = if msg.event.is_sysex() {
                match self.ring.pop_sysex_payload(&mut self.scratch) {
                    Some(n) => &self.scratch[..n],
                    None => continue,
                }
            } else {
                let n = msg.event.write_bytes(&mut small);
                &small[..n]
            };
            match send(seq, &mut self.encoder, bytes, &msg, route, clock, news) {
                Ok(n) => {
                    News::tally(&news.counters.sent_messages, n);
                    News::tally(&news.counters.sent_bytes, bytes.len() as u64);
                }
                Err(e) => {
                    news.count(&news.counters.output_dropped, 1);
                    self.drops
                        .push(news, || format!("MIDI output dropped: {e}"));
                }
            }
        }
        if any {
            let _ = seq.drain_output();
            self.last_busy_ns = monotonic_ns();
        }
    }

    /// How long the thread may sleep before looking at the ring again, in ms.
    pub fn poll_ms(&self) -> u64 {
        if monotonic_ns().saturating_sub(self.last_busy_ns) < BUSY_NS {
            BUSY_POLL_MS
        } else {
            IDLE_POLL_MS
        }
    }
}

/// Encode `bytes` into events from our output port to its subscribers, on
/// the queue at `msg.time_ns` or direct when that has passed (counted as
/// late). Returns the number of events.
fn send(
    seq: &alsa::Seq,
    encoder: &mut EventCodec,
    bytes: &[u8],
    msg: &MidiMessage,
    route: Route,
    clock: &QueueTime,
    news: &News,
) -> Result<u64, String> {
    encoder.reset_encode();
    let at = if msg.time_ns <= monotonic_ns() {
        news.count(&news.counters.output_late, 1);
        None
    } else {
        clock.to_queue(msg.time_ns)
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
            ev.set_source(route.port);
            ev.set_subs();
            match at {
                Some(t) => ev.schedule_real(route.queue, false, t),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_looked_at_within_the_seams_promise() {
        let (_, ring) = crate::ring::midi_buffer(4);
        let out = Output::new(ring).unwrap();
        // Idle (nothing sent yet) and busy alike: never longer than the promise.
        assert!(
            out.poll_ms() * 1_000_000 <= crate::engine::OUTPUT_POLL_NS,
            "polls every {} ms, the seam promises {} ns",
            out.poll_ms(),
            crate::engine::OUTPUT_POLL_NS
        );
    }
}
