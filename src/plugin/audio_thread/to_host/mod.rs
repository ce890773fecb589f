//! To the host, on the audio thread: hardware MIDI from the input ring
//! ([`hardware_midi`]), the hardware's MIDI clock into the follower
//! ([`clock_in`]), the host's own events passed through ([`thru`]), all
//! into the host's event queue ([`host_queue`]) as CLAP events
//! ([`midi_to_clap`]).

pub(crate) mod clock_in;
pub(crate) mod hardware_midi;
pub(crate) mod host_queue;
pub(crate) mod midi_to_clap;
pub(crate) mod thru;
