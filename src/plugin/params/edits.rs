//! Parameter edits made in the plugin window, on their way to the host: the
//! window's thread queues them (lock-free, bounded) and asks the host to
//! flush; the next `process()` or `params.flush()` applies each one and
//! tells the host with a gesture (begin, value, end), so hosts record
//! automation as for any control.

use super::PARAMS;
use crate::plugin::AudioCounters;
use crate::plugin::PhasorSyncShared;
use clack_plugin::events::event_types::{
    ParamGestureBeginEvent, ParamGestureEndEvent, ParamValueEvent,
};
use clack_plugin::prelude::*;
use crossbeam_queue::ArrayQueue;

/// How many edits may wait for the host (a click makes one).
const CAPACITY: usize = 64;

/// One edit: table row `index` set to `value`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edit {
    /// Row of [`PARAMS`].
    pub index: usize,
    /// The new value (made valid when applied).
    pub value: f64,
}

/// The queue of edits from the window.
#[derive(Debug)]
pub struct Edits(ArrayQueue<Edit>);

impl Default for Edits {
    fn default() -> Self {
        Edits(ArrayQueue::new(CAPACITY))
    }
}

impl Edits {
    /// Queue an edit; false when the queue is full (the host is not
    /// flushing: the click is dropped and the user clicks again).
    pub fn push(&self, edit: Edit) -> bool {
        self.0.push(edit).is_ok()
    }
}

impl PhasorSyncShared<'_> {
    /// Apply the window's edits and give each to the host as a gesture.
    ///
    /// # Realtime Safety
    /// Lock-free pops, atomic stores and pushes to the host's queue: no
    /// allocation, lock or system call.
    pub(crate) fn apply_edits(&self, output: &mut OutputEvents) {
        while let Some(edit) = self.edits.0.pop() {
            let Some(p) = PARAMS.get(edit.index).filter(|p| !p.read_only) else {
                continue;
            };
            self.settings.params.set(edit.index, edit.value);
            let id = ClapId::new(p.id);
            let value = self.settings.params.get(edit.index);
            let pushed = [
                output.try_push(ParamGestureBeginEvent::new(0, id)),
                output.try_push(ParamValueEvent::new(0, id, Pckn::match_all(), value)),
                output.try_push(ParamGestureEndEvent::new(0, id)),
            ];
            for p in pushed {
                match p {
                    Ok(()) => AudioCounters::tally(&self.counters.events_out, 1),
                    Err(_) => self.counters.count(&self.counters.output_full, 1),
                }
            }
        }
    }
}
