//! `Parser::feed` and `reset` never allocate after construction: measured
//! with a counting global allocator over a stream that exercises every path
//! (running status, realtime mid-message, SysEx across chunks, oversize,
//! unterminated, stray and undefined bytes, truncated messages).
//!
//! Only allocations on the test's own thread, while it feeds, are counted
//! (set `ALLOC_TRACE=1` to print where each one came from).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use phasorsync::protocol::{Parser, ParserConfig};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Count only on the thread under test (the harness allocates on others).
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        if std::env::var_os("ALLOC_TRACE").is_some() {
            COUNTING.with(|c| c.set(false));
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
            COUNTING.with(|c| c.set(true));
        }
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for chunk in [1usize, 2, 3, 7, 64, 4096] {
        for (i, c) in stream.chunks(chunk).enumerate() {
            p.feed(c, i as u64, 0, |m, payload| {
                sum += u64::from(m.event.status()) + payload.len() as u64;
            });
        }
        p.reset();
    }
    COUNTING.with(|c| c.set(false));
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "feed/reset allocated");

    // The stream did exercise the paths above.
    let st = p.stats();
    assert!(sum > 0);
    assert_eq!(st.sysex_messages, 6 * 201);
    assert_eq!(st.sysex_oversize, 6 * 200);
    assert_eq!(st.sysex_unterminated, 6 * 200);
    assert_eq!(st.truncated_messages, 6 * 200);
    assert!(st.stray_data_bytes > 0 && st.undefined_status_bytes > 0);
}
