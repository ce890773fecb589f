//! Output: what `send()` queued, encoded into events from our `MIDI out`,
//! scheduled on our queue or sent direct.

use alsa::seq::MidiEvent;

use super::Midi;
use crate::backend::alsa_seq::log::LogBudget;
use crate::backend::alsa_seq::output::OutputReceiver;
use crate::backend::alsa_seq::queue_time::{monotonic_ns, QueueTime};
use crate::backend::alsa_seq::shared::Counters;

/// Encoder buffer: larger SysEx output is split into events of this size,
/// as the kernel's own rawmidi→sequencer encoder does.
const ENCODE_CHUNK: u32 = 256;

/// The output side's own state.
pub struct Output {
    queue: OutputReceiver,
    encoder: MidiEvent,
    buf: Vec<u8>,
    drops: LogBudget,
}

impl Output {
    /// Output from `queue`, with a fresh encoder (made on the thread: not Send).
    ///
    /// # Errors
    /// When alsa-lib cannot create the encoder.
    pub fn new(queue: OutputReceiver) -> Result<Self, String> {
        let encoder =
            MidiEvent::new(ENCODE_CHUNK).map_err(|e| format!("creating the MIDI encoder: {e}"))?;
        encoder.enable_running_status(false);
        Ok(Self {
            queue,
            encoder,
            buf: Vec::with_capacity(1024),
            drops: LogBudget::new(10, "MIDI output dropped"),
        })
    }
}

impl Midi {
    /// Sends everything `send()` queued.
    pub(super) fn flush_output(&mut self) {
        let c = &self.shared.counters;
        let out = &mut self.output;
        while let Some(time_ns) = out.queue.pop(&mut out.buf) {
            let sent = send_bytes(
                &self.seq,
                &mut out.encoder,
                &out.buf,
                time_ns,
                self.queue,
                self.out_port,
                &self.clock,
            );
            match sent {
                Ok(n) => {
                    Counters::add(&c.sent_messages, n);
                    Counters::add(&c.sent_bytes, out.buf.len() as u64);
                }
                Err(e) => {
                    Counters::add(&c.output_drops, 1);
                    self.shared.log.notify();
                    out.drops
                        .push(&self.shared.log, || format!("MIDI output dropped: {e}"));
                }
            }
        }
        let _ = self.seq.drain_output();
    }
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
    clock: &QueueTime,
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
