//! The host's own events passed through to the host (host → host): notes,
//! note expressions, chokes, MIDI and SysEx. Transport and parameter events
//! are inputs to this plugin, never echoed; MIDI 2.0 events are dropped and
//! counted, because the note output does not declare that dialect.

use super::host_queue::HostOut;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::UnknownEvent;

/// What happens to one host event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Thru {
    /// Passed to the host.
    Forward,
    /// A note event of a dialect the output does not declare: dropped, counted.
    Unsupported,
    /// Ours (parameters, transport): consumed.
    Consume,
}

/// Decide what happens to `event`.
///
/// # Realtime Safety
/// Pure.
pub fn classify(event: &UnknownEvent) -> Thru {
    match event.as_core_event() {
        Some(
            CoreEventSpace::NoteOn(_)
            | CoreEventSpace::NoteOff(_)
            | CoreEventSpace::NoteChoke(_)
            | CoreEventSpace::NoteExpression(_)
            | CoreEventSpace::Midi(_)
            | CoreEventSpace::MidiSysEx(_),
        ) => Thru::Forward,
        Some(CoreEventSpace::Midi2(_)) => Thru::Unsupported,
        _ => Thru::Consume,
    }
}

/// Pass `event` on to the host if it is to be passed: only when `to_daw`
/// (the "Host events to the DAW" parameter; off, the host's own events stay
/// out of the note output, nothing is lost, and hardware input still comes
/// through).
///
/// # Realtime Safety
/// No allocation.
pub fn pass(event: &UnknownEvent, out: &mut HostOut, to_daw: bool) {
    if !to_daw {
        return;
    }
    match classify(event) {
        Thru::Forward => out.forward(event),
        Thru::Unsupported => out.counters().count(&out.counters().unsupported, 1),
        Thru::Consume => {}
    }
}
