//! Output, from the thread's loop: what the audio thread queued in the
//! output ring goes to the sequencer (see [`crate::backend::alsa_seq::output`]);
//! as the engine stops, what is scheduled plays out before the client closes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Midi;
use crate::backend::alsa_seq::output::Route;
use crate::engine::LogLevel;
use crate::timeline::monotonic_ns;

/// The longest the engine waits, as it stops, for its scheduled output to
/// play out: beyond the largest output delay `D` (two blocks of 8192
/// frames at 44.1 kHz, 0.37 s, plus the user's offset of up to 50 ms).
pub const PLAY_OUT_BOUND_NS: u64 = 1_000_000_000;

/// How often the queue is looked at meanwhile.
const PLAY_OUT_POLL: Duration = Duration::from_millis(1);

impl Midi {
    /// Sends everything the audio thread queued since the last look.
    pub(super) fn flush_output(&mut self) {
        let route = self.route();
        self.output.drain(&self.seq, route, &self.clock, &self.news);
    }

    /// The last flush, as the engine stops: see
    /// [`crate::backend::alsa_seq::output::SeqOutput::drain_last`].
    pub(super) fn flush_output_last(&mut self) {
        let route = self.route();
        self.output
            .drain_last(&self.seq, route, &self.clock, &self.news);
    }

    /// As the engine stops, after the last flush: wait until every event
    /// scheduled on our queue has gone out, at most [`PLAY_OUT_BOUND_NS`].
    /// The queue, and every event still waiting on it, ends with the
    /// client: a note-off the host's last block scheduled `D` ahead would
    /// never reach the synth, and its note would hang. Events still waiting
    /// at the bound are counted as dropped and said once. The time spent is
    /// left in [`crate::backend::shared::state::Shared::played_out_ns`]
    /// (stopping is expected to take that long).
    pub(super) fn play_out_queue(&mut self) {
        let t0 = monotonic_ns();
        let waiting = |m: &Self| {
            m.seq
                .get_queue_status(m.queue)
                .map(|s| u64::try_from(s.get_events()).unwrap_or(0))
        };
        loop {
            match waiting(self) {
                Ok(0) => break,
                Ok(n) if monotonic_ns() - t0 >= PLAY_OUT_BOUND_NS => {
                    self.news.count(&self.news.counters.output_dropped, n);
                    self.news.log(
                        LogLevel::Warning,
                        format!(
                            "{n} message(s) for the hardware were still scheduled {} ms after \
                             the engine was told to stop, and were dropped with its queue",
                            PLAY_OUT_BOUND_NS / 1_000_000
                        ),
                    );
                    break;
                }
                Ok(_) => std::thread::sleep(PLAY_OUT_POLL),
                Err(e) => {
                    self.news.log(
                        LogLevel::Warning,
                        format!(
                            "could not read the queue's status as the engine stopped ({e}): \
                             messages still scheduled may not go out"
                        ),
                    );
                    break;
                }
            }
        }
        self.shared
            .played_out_ns
            .store(monotonic_ns() - t0, Ordering::Release);
    }

    fn route(&self) -> Route {
        Route {
            client: self.own_client,
            port: self.out_port,
            queue: self.queue,
            fd: self.fd,
        }
    }
}
