//! The MIDI input latency in use, on the audio thread: from the setting
//! (a fixed number of blocks, or "Auto", see [`crate::timeline::auto_latency`]),
//! the output delay `D` that follows it (`midi_out.rs`), and the read-only
//! parameter "Latency in use" that shows it.
//!
//! # When `D` follows Auto
//!
//! `D` is added to every message for the hardware; changing it moves the
//! messages after the change against those before. While a note the host
//! sent to the hardware is held, or MIDI clock out is sending, that would
//! shorten or stretch a note or jump a slave's tempo, so under Auto `D`
//! takes the latency in use only when neither is the case (between notes,
//! with the clock stopped) and keeps its last value meanwhile. It never goes
//! below one block plus the delivery margin, which output needs to have every
//! message in the ring before it is due (that floor follows the period at
//! once, as with the fixed choices).

use super::to_host::host_queue::HostOut;
use crate::plugin::main_thread::settings::Latency;
use crate::plugin::params::{index, ParamValues, PARAMS};
use crate::timeline::BlockMap;
use clack_plugin::events::event_types::ParamValueEvent;
use clack_plugin::events::Pckn;
use clack_plugin::prelude::ClapId;

/// See the module docs. Built at activation, used on the audio thread.
#[derive(Debug)]
pub struct LatencyInUse {
    /// The host's sample rate: frames from ns and back, the same each block
    /// (the timeline's estimate wanders by parts per million).
    sample_rate: f64,
    /// "Latency in use" as last published, ms (`None`: not yet in this
    /// activation).
    shown: Option<f64>,
    /// Under Auto, the latency `D` uses, frames (`None`: not set yet).
    out_frames: Option<u32>,
}

impl LatencyInUse {
    /// For a host running at `sample_rate`.
    pub fn new(sample_rate: f64) -> Self {
        Self {
            sample_rate,
            shown: None,
            out_frames: None,
        }
    }

    /// `ns` as whole frames, rounded up (a latency short of a frame would
    /// leave the message late).
    fn frames(&self, ns: u64) -> u32 {
        let f = (ns as f64 * self.sample_rate / 1e9).ceil();
        if f.is_finite() && f > 0.0 {
            f.min(f64::from(u32::MAX)) as u32
        } else {
            0
        }
    }

    /// The input latency for this block, frames: the setting's, or under
    /// Auto the value `auto_ns` in use, never less than one block plus the
    /// delivery margin (a message that arrives just after a call waits a
    /// block for the next: no latency below that is ever enough).
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn input_frames(&self, setting: Latency, block: &BlockMap, auto_ns: u64) -> u32 {
        match setting {
            Latency::Blocks(b) => block.latency_frames(b),
            Latency::Auto => self.frames(auto_ns).max(block.latency_frames(1)),
        }
    }

    /// The latency the output delay `D` uses for this block, frames: the
    /// fixed choice's (0 counts as 1: output always needs the room), or
    /// under Auto the input latency `input`, taken only when `quiet` (no
    /// note held on the hardware, no clock being sent; see the module docs).
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn output_frames(
        &mut self,
        setting: Latency,
        block: &BlockMap,
        input: u32,
        quiet: bool,
    ) -> u32 {
        let floor = block.latency_frames(1);
        match setting {
            Latency::Blocks(b) => {
                self.out_frames = None;
                block.latency_frames(b.max(1))
            }
            Latency::Auto => {
                let frames = match self.out_frames {
                    Some(f) if !quiet => f,
                    _ => input,
                };
                self.out_frames = Some(frames);
                frames.max(floor)
            }
        }
    }

    /// Store "Latency in use" as the first block (`first`) will use it,
    /// before that block: at activation, so that the value the host reads
    /// does not move at the first block, with no input (a host, and the
    /// CLAP validator, would take that for a change).
    pub fn prime(&mut self, setting: Latency, first: &BlockMap, params: &ParamValues) {
        let frames = self.input_frames(setting, first, 0);
        let ms = PARAMS[index::LATENCY_IN_USE].clamp(f64::from(frames) * 1e3 / self.sample_rate);
        self.shown = Some(ms);
        params.set(index::LATENCY_IN_USE, ms);
    }

    /// "Latency in use" while inactive: 0 (nothing in use), as before the
    /// first activation.
    pub fn clear(params: &ParamValues) {
        params.set(index::LATENCY_IN_USE, 0.0);
    }

    /// Publish "Latency in use" for `frames`. The first value of an
    /// activation is only stored (the host reads it like any value; it is
    /// where the latency starts, not a change); each change after it is
    /// stored, sent to the host as an event at sample `time`, and counted
    /// for the main thread's log line.
    ///
    /// # Realtime Safety
    /// Arithmetic, atomic stores and adds, one event pushed to the host's queue.
    pub fn publish(&mut self, frames: u32, time: u32, params: &ParamValues, out: &mut HostOut) {
        let i = index::LATENCY_IN_USE;
        let ms = PARAMS[i].clamp(f64::from(frames) * 1e3 / self.sample_rate);
        let first = self.shown.is_none();
        if self.shown.is_some_and(|s| s.to_bits() == ms.to_bits()) {
            return;
        }
        self.shown = Some(ms);
        params.set(i, ms);
        if first {
            return;
        }
        let counters = out.counters();
        counters.count(&counters.latency_changes, 1);
        let event = ParamValueEvent::new(time, ClapId::new(PARAMS[i].id), Pckn::match_all(), ms);
        out.forward(event.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Timeline;

    fn block() -> BlockMap {
        Timeline::new(48_000.0, 256).begin_block(1_000_000_000, 256, None)
    }

    #[test]
    fn auto_uses_its_value_but_never_less_than_one_block() {
        let l = LatencyInUse::new(48_000.0);
        let b = block();
        let one = b.latency_frames(1);
        assert_eq!(l.input_frames(Latency::Auto, &b, 0), one);
        // 10 ms at 48 kHz is 480 frames; a ns more is a frame more.
        assert_eq!(l.input_frames(Latency::Auto, &b, 10_000_000), 480);
        assert_eq!(l.input_frames(Latency::Auto, &b, 10_000_001), 481);
        assert_eq!(
            l.input_frames(Latency::Blocks(2), &b, 10_000_000),
            b.latency_frames(2)
        );
        assert_eq!(l.input_frames(Latency::Blocks(0), &b, 10_000_000), 0);
    }

    #[test]
    fn the_output_delay_follows_auto_only_when_quiet() {
        let mut l = LatencyInUse::new(48_000.0);
        let b = block();
        let one = b.latency_frames(1);
        assert_eq!(l.output_frames(Latency::Auto, &b, 480, false), 480);
        // A note held or clock sent: the new value waits.
        assert_eq!(l.output_frames(Latency::Auto, &b, 700, false), 480);
        assert_eq!(l.output_frames(Latency::Auto, &b, 300, false), 480);
        assert_eq!(l.output_frames(Latency::Auto, &b, 700, true), 700);
        // Never below one block, whatever was kept.
        assert_eq!(l.output_frames(Latency::Auto, &b, 1, true), one);
        // A fixed choice applies at once; 0 blocks still leaves one for output.
        assert_eq!(l.output_frames(Latency::Blocks(0), &b, 0, false), one);
        assert_eq!(
            l.output_frames(Latency::Blocks(2), &b, 0, false),
            b.latency_frames(2)
        );
    }
}
