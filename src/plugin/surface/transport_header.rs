//! What the entry shim makes of the transport a host passes to `process()`:
//! used as it is, repaired, or dropped, and why.
//!
//! Qtractor (0.9.x) fills every field of `clap_process.transport` but never
//! writes the event header (space, type and size stay 0). That is still the
//! host's transport: the shim copies it and writes a core transport header,
//! once the fields pass [`fields_are_sane`] (the header vouches for nothing,
//! so the fields must). Any other header that is not "core transport event,
//! at least this big" is malformed and dropped (a null transport).

use crate::midi_clock::ticks::{MAX_ABS_BEATS, MAX_TEMPO_BPM};
use clap_sys::events::{
    clap_event_header, clap_event_transport, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_TRANSPORT,
    CLAP_TRANSPORT_HAS_BEATS_TIMELINE, CLAP_TRANSPORT_HAS_SECONDS_TIMELINE,
    CLAP_TRANSPORT_HAS_TEMPO, CLAP_TRANSPORT_HAS_TIME_SIGNATURE, CLAP_TRANSPORT_IS_LOOP_ACTIVE,
    CLAP_TRANSPORT_IS_PLAYING, CLAP_TRANSPORT_IS_RECORDING, CLAP_TRANSPORT_IS_WITHIN_PRE_ROLL,
};
use clap_sys::fixedpoint::CLAP_BEATTIME_FACTOR;

/// Every transport flag CLAP 1.x defines; any other bit is garbage.
const KNOWN_FLAGS: u32 = CLAP_TRANSPORT_HAS_TEMPO
    | CLAP_TRANSPORT_HAS_BEATS_TIMELINE
    | CLAP_TRANSPORT_HAS_SECONDS_TIMELINE
    | CLAP_TRANSPORT_HAS_TIME_SIGNATURE
    | CLAP_TRANSPORT_IS_PLAYING
    | CLAP_TRANSPORT_IS_RECORDING
    | CLAP_TRANSPORT_IS_LOOP_ACTIVE
    | CLAP_TRANSPORT_IS_WITHIN_PRE_ROLL;

/// What the shim noticed about a host's transport; each is logged once per
/// instance (see `shim_notes.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// A zeroed header over sane fields: repaired and used.
    Repaired = 0,
    /// Core space, transport type, size 0: dropped.
    SizeZero = 1,
    /// Another header that is not a whole core transport: dropped.
    BadHeader = 2,
    /// A zeroed header over fields out of range or inconsistent: dropped.
    BadFields = 3,
}

impl Note {
    /// How many kinds there are.
    pub const COUNT: usize = 4;
}

/// What to hand clack instead of the host's transport pointer.
#[derive(Clone, Copy, Debug)]
pub enum Verdict {
    /// Null, or a well-formed core transport: pass the pointer unchanged.
    AsIs,
    /// The host's fields under a core transport header.
    Repaired(clap_event_transport),
    /// Malformed: pass null (no transport).
    Dropped(Note),
}

/// Judge the transport a host passed.
///
/// # Safety
/// `transport` is null or points to at least a readable `clap_event_header`,
/// as CLAP requires of a host; when that header is all zero, to a whole
/// `clap_event_transport` (which is what such hosts write).
///
/// # Realtime Safety
/// Reads and one stack copy.
pub unsafe fn judge(transport: *const clap_event_transport) -> Verdict {
    // SAFETY: null or a readable header (the caller's contract).
    let Some(header) = (unsafe { transport.cast::<clap_event_header>().as_ref() }) else {
        return Verdict::AsIs;
    };
    let core_transport =
        header.space_id == CLAP_CORE_EVENT_SPACE_ID && header.type_ == CLAP_EVENT_TRANSPORT;
    if core_transport && header.size as usize >= size_of::<clap_event_transport>() {
        return Verdict::AsIs;
    }
    if core_transport && header.size == 0 {
        return Verdict::Dropped(Note::SizeZero);
    }
    if !is_zeroed(header) {
        return Verdict::Dropped(Note::BadHeader);
    }
    // SAFETY: a zeroed header; the caller's contract says the host wrote a
    // whole transport behind it.
    let mut fields = unsafe { *transport };
    if !fields_are_sane(&fields) {
        return Verdict::Dropped(Note::BadFields);
    }
    fields.header = clap_event_header {
        size: size_of::<clap_event_transport>() as u32,
        time: 0,
        space_id: CLAP_CORE_EVENT_SPACE_ID,
        type_: CLAP_EVENT_TRANSPORT,
        flags: 0,
    };
    Verdict::Repaired(fields)
}

/// Whether every field of `header` is 0 (Qtractor's header).
fn is_zeroed(header: &clap_event_header) -> bool {
    header.size == 0
        && header.time == 0
        && header.space_id == 0
        && header.type_ == 0
        && header.flags == 0
}

/// Whether the fields of a transport whose header vouches for nothing make
/// sense: only known flags, and what each flag says is there is valid (a
/// finite positive tempo up to [`MAX_TEMPO_BPM`] and a finite ramp,
/// positions within ±[`MAX_ABS_BEATS`], a loop that does not end before it
/// starts, a time signature of positive numbers).
///
/// # Realtime Safety
/// Arithmetic only.
pub fn fields_are_sane(t: &clap_event_transport) -> bool {
    let has = |flag: u32| t.flags & flag != 0;
    let beats = |b: i64| (b as f64 / CLAP_BEATTIME_FACTOR as f64).abs() <= MAX_ABS_BEATS;
    let flags = t.flags & !KNOWN_FLAGS == 0;
    let tempo = !has(CLAP_TRANSPORT_HAS_TEMPO)
        || (t.tempo.is_finite()
            && t.tempo > 0.0
            && t.tempo <= MAX_TEMPO_BPM
            && t.tempo_inc.is_finite());
    let positions = !has(CLAP_TRANSPORT_HAS_BEATS_TIMELINE)
        || (beats(t.song_pos_beats)
            && beats(t.bar_start)
            && (!has(CLAP_TRANSPORT_IS_LOOP_ACTIVE)
                || (beats(t.loop_start_beats)
                    && beats(t.loop_end_beats)
                    && t.loop_start_beats <= t.loop_end_beats)));
    let seconds = !has(CLAP_TRANSPORT_HAS_SECONDS_TIMELINE)
        || !has(CLAP_TRANSPORT_IS_LOOP_ACTIVE)
        || t.loop_start_seconds <= t.loop_end_seconds;
    let signature = !has(CLAP_TRANSPORT_HAS_TIME_SIGNATURE) || (t.tsig_num > 0 && t.tsig_denom > 0);
    flags && tempo && positions && seconds && signature
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rolling 4/4 song at 120 BPM, beat 10.25, header zeroed: Qtractor's.
    fn qtractor() -> clap_event_transport {
        let beat = |b: f64| (b * CLAP_BEATTIME_FACTOR as f64) as i64;
        clap_event_transport {
            header: clap_event_header {
                size: 0,
                time: 0,
                space_id: 0,
                type_: 0,
                flags: 0,
            },
            flags: CLAP_TRANSPORT_HAS_TEMPO
                | CLAP_TRANSPORT_HAS_BEATS_TIMELINE
                | CLAP_TRANSPORT_HAS_TIME_SIGNATURE
                | CLAP_TRANSPORT_IS_PLAYING,
            song_pos_beats: beat(10.25),
            song_pos_seconds: 0,
            tempo: 120.0,
            tempo_inc: 0.0,
            loop_start_beats: 0,
            loop_end_beats: 0,
            loop_start_seconds: 0,
            loop_end_seconds: 0,
            bar_start: beat(8.0),
            bar_number: 2,
            tsig_num: 4,
            tsig_denom: 4,
        }
    }

    fn judged(t: &clap_event_transport) -> Verdict {
        // SAFETY: a whole transport on the stack.
        unsafe { judge(t) }
    }

    #[test]
    fn null_and_well_formed_transports_pass_unchanged() {
        // SAFETY: null is "no transport".
        assert!(matches!(unsafe { judge(std::ptr::null()) }, Verdict::AsIs));
        let mut t = qtractor();
        t.header.type_ = CLAP_EVENT_TRANSPORT;
        t.header.size = size_of::<clap_event_transport>() as u32;
        assert!(matches!(judged(&t), Verdict::AsIs));
    }

    #[test]
    fn a_zeroed_header_gets_a_core_transport_header_and_keeps_its_fields() {
        let t = qtractor();
        let Verdict::Repaired(r) = judged(&t) else {
            panic!("{:?}", judged(&t));
        };
        assert_eq!(r.header.space_id, CLAP_CORE_EVENT_SPACE_ID);
        assert_eq!(r.header.type_, CLAP_EVENT_TRANSPORT);
        assert_eq!(r.header.size as usize, size_of::<clap_event_transport>());
        assert_eq!(
            (r.flags, r.song_pos_beats, r.bar_start),
            (t.flags, t.song_pos_beats, t.bar_start)
        );
        assert_eq!(r.tempo, t.tempo);
    }

    #[test]
    fn malformed_headers_are_dropped_by_kind() {
        let mut t = qtractor();
        t.header.type_ = CLAP_EVENT_TRANSPORT;
        assert!(matches!(judged(&t), Verdict::Dropped(Note::SizeZero)));
        t.header.size = 8;
        assert!(matches!(judged(&t), Verdict::Dropped(Note::BadHeader)));
        let mut t = qtractor();
        t.header.time = 3;
        assert!(matches!(judged(&t), Verdict::Dropped(Note::BadHeader)));
    }

    #[test]
    fn fields_out_of_range_or_inconsistent_are_not_sane() {
        assert!(fields_are_sane(&qtractor()));
        let bad: [fn(&mut clap_event_transport); 9] = [
            |t| t.tempo = f64::NAN,
            |t| t.tempo = 0.0,
            |t| t.tempo = MAX_TEMPO_BPM * 2.0,
            |t| t.tempo_inc = f64::INFINITY,
            |t| t.song_pos_beats = i64::MAX,
            |t| t.tsig_denom = 0,
            |t| t.flags |= 1 << 12,
            |t| {
                t.flags |= CLAP_TRANSPORT_IS_LOOP_ACTIVE;
                t.loop_start_beats = t.loop_end_beats + 1;
            },
            |t| {
                t.flags |= CLAP_TRANSPORT_IS_LOOP_ACTIVE | CLAP_TRANSPORT_HAS_SECONDS_TIMELINE;
                t.loop_start_seconds = 1;
            },
        ];
        for (i, spoil) in bad.iter().enumerate() {
            let mut t = qtractor();
            spoil(&mut t);
            assert!(!fields_are_sane(&t), "case {i}");
            assert!(
                matches!(judged(&t), Verdict::Dropped(Note::BadFields)),
                "case {i}"
            );
        }
    }

    #[test]
    fn fields_a_flag_does_not_claim_are_not_checked() {
        let mut t = qtractor();
        t.flags &= !(CLAP_TRANSPORT_HAS_TEMPO | CLAP_TRANSPORT_HAS_TIME_SIGNATURE);
        t.tempo = f64::NAN;
        t.tsig_denom = 0;
        assert!(fields_are_sane(&t));
    }
}
