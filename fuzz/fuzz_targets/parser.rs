//! Fuzzes the streaming MIDI parser: arbitrary bytes, cut into arbitrary
//! chunks, with an arbitrary SysEx bound. Checks that it never panics, that
//! cutting does not change what it emits, and that its counters add up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phasorsync::protocol::{MidiEvent, Parser, ParserConfig};

fuzz_target!(|data: &[u8]| {
    // First two bytes: SysEx bound and a chunk-size seed; the rest is the stream.
    let (max_sysex, seed, stream) = match data {
        [a, b, rest @ ..] => (usize::from(*a) * 4, usize::from(*b), rest),
        _ => return,
    };
    let config = ParserConfig { max_sysex };

    let mut whole = Vec::new();
    let mut p = Parser::new(config);
    p.feed(stream, 1, 0, |m, payload| {
        whole.push((m.event, payload.to_vec()))
    });
    let whole_stats = p.stats();

    // The same stream in chunks of varying size (1..=seed+1 bytes).
    let mut chunked = Vec::new();
    let mut q = Parser::new(config);
    let mut rest = stream;
    let mut i = 0usize;
    while !rest.is_empty() {
        let n = 1 + (i * 7 + seed) % (seed + 1);
        let (c, r) = rest.split_at(n.min(rest.len()));
        q.feed(c, 2, 0, |m, payload| {
            chunked.push((m.event, payload.to_vec()))
        });
        rest = r;
        i += 1;
    }
    assert_eq!(whole, chunked);
    assert_eq!(whole_stats, q.stats());

    // Every emitted SysEx carries its whole payload; nothing else carries one.
    for (ev, payload) in &whole {
        match ev {
            MidiEvent::SysEx { len } => {
                assert_eq!(*len as usize, payload.len());
                assert_eq!(payload.first(), Some(&0xF0));
                assert_eq!(payload.last(), Some(&0xF7));
                assert!(payload.len() <= p.max_sysex());
                assert_eq!(MidiEvent::from_bytes(payload), Ok(*ev));
            }
            other => {
                assert!(payload.is_empty());
                // Non-SysEx events re-encode to bytes that decode to themselves.
                let mut raw = [0; 3];
                let n = other.write_bytes(&mut raw);
                assert_eq!(MidiEvent::from_bytes(&raw[..n]), Ok(*other));
            }
        }
    }
    assert_eq!(whole_stats.messages as usize, whole.len());
    assert_eq!(whole_stats.bytes as usize, stream.len());
});
