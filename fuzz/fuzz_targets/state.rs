//! Fuzzes state loading: arbitrary bytes, as a host hands them to
//! `state.load`. Checks that decoding never panics (an error or a state),
//! that a loaded state holds only valid values of settable parameters, and
//! that it saves and loads again to itself, byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phasorsync::plugin::params::{table, PARAMS};
use phasorsync::plugin::State;

fuzz_target!(|data: &[u8]| {
    // Most inputs would fail at the marker: half of them get it for free.
    let mut bytes = Vec::new();
    if data.first().is_some_and(|b| b & 1 == 1) {
        bytes.extend_from_slice(b"PHSY");
    }
    bytes.extend_from_slice(data.get(1..).unwrap_or_default());
    let Ok(state) = State::decode(&bytes) else {
        return;
    };
    let settable = PARAMS.iter().filter(|p| !p.read_only).count();
    assert_eq!(state.params.len(), settable);
    for &(id, value) in &state.params {
        let (_, p) = table::by_id(id).expect("a loaded id is in the table");
        assert!(!p.read_only, "read-only id {id} loaded");
        assert_eq!(p.clamp(value), value, "{} = {value} is not valid", p.name);
    }
    let saved = state.encode();
    let again = State::decode(&saved).expect("a saved state loads");
    assert_eq!(again, state);
    assert_eq!(again.encode(), saved);
});
