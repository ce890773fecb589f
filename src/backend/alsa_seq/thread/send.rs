//! Output, from the thread's loop: what the audio thread queued in the
//! output ring goes to the sequencer (see [`crate::backend::alsa_seq::output`]).

use super::Midi;
use crate::backend::alsa_seq::output::Route;

impl Midi {
    /// Sends everything the audio thread queued since the last look.
    pub(super) fn flush_output(&mut self) {
        let route = self.route();
        self.output.drain(&self.seq, route, &self.clock, &self.news);
    }

    /// The last flush, as the engine stops: see
    /// [`crate::backend::alsa_seq::output::Output::drain_at_once`].
    pub(super) fn flush_output_at_once(&mut self) {
        let route = self.route();
        self.output
            .drain_at_once(&self.seq, route, &self.clock, &self.news);
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
