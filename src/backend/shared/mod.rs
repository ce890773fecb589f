//! What both backends' MIDI threads use alike: the state an engine shares
//! with its thread ([`state`]), the lock that never poisons the plugin
//! ([`sync`]), and the pacing of SysEx at the wire's speed ([`sysex_pacer`]).

pub mod state;
pub mod sync;
pub mod sysex_pacer;
