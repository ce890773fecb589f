//! `Parser::feed` and `reset` never allocate after construction: measured
//! with a counting global allocator over a stream that exercises every path
//! (running status, realtime mid-message, SysEx across chunks, oversize,
//! unterminated, stray and undefined bytes, truncated messages).
//!
//! Only allocations on the test's own thread, while it feeds, are counted
//! (set `ALLOC_TRACE=1` to print where each one came from).

use crate::alloc_counter::allocations_in;
use phasorsync::protocol::{Parser, ParserConfig};

#[test]
fn feed_and_reset_do_not_allocate() {
    let mut stream: Vec<u8> = Vec::new();
    for i in 0..200u32 {
        let b = (i % 128) as u8;
        stream.extend_from_slice(&[0x90, b, 0xF8, 100, b, 0, 0xB3, 7, b]);
        stream.extend_from_slice(&[0xF0, 1, 2, 0xFE, 3, 0xF7]); // SysEx with realtime inside
        stream.push(0xF0);
        stream.extend(std::iter::repeat_n(0x55, 100)); // oversize for max 64
        stream.push(0xF7);
        stream.extend_from_slice(&[0xF0, 9, 9, 0x80, 1, 2]); // unterminated
        stream.extend_from_slice(&[0xF6, 5, 0xF4, 0xF9, 0xF7, 0x90, 1, 0xF2, 0, 0]);
    }
    // The largest SysEx that fits, to fill the storage completely.
    stream.push(0xF0);
    stream.extend(std::iter::repeat_n(0x11, 62));
    stream.push(0xF7);

    let mut p = Parser::new(ParserConfig { max_sysex: 64 });
    let mut sum = 0u64;
    let n = allocations_in(|| {
        for chunk in [1usize, 2, 3, 7, 64, 4096] {
            for (i, c) in stream.chunks(chunk).enumerate() {
                p.feed(c, i as u64, 0, |m, payload| {
                    sum += u64::from(m.event.status()) + payload.len() as u64;
                });
            }
            p.reset();
        }
    });
    assert_eq!(n, 0, "feed/reset allocated");

    // The stream did exercise the paths above.
    let st = p.stats();
    assert!(sum > 0);
    assert_eq!(st.sysex_messages, 6 * 201);
    assert_eq!(st.sysex_oversize, 6 * 200);
    assert_eq!(st.sysex_unterminated, 6 * 200);
    assert_eq!(st.truncated_messages, 6 * 200);
    assert!(st.stray_data_bytes > 0 && st.undefined_status_bytes > 0);
}
