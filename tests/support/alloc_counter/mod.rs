//! A counting global allocator for the allocation tests: it counts the
//! allocator calls (alloc, dealloc, realloc) a thread makes while it has opted
//! in. Counts are per thread, so tests running in parallel, and the harness's
//! own threads, cannot disturb each other. Set `ALLOC_TRACE=1` to print a
//! backtrace for each counted call.
#![allow(dead_code)] // each test binary uses part of it

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    if TRACKED.try_with(Cell::get).unwrap_or(false) {
        let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        if std::env::var_os("ALLOC_TRACE").is_some() {
            TRACKED.with(|t| t.set(false));
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
            TRACKED.with(|t| t.set(true));
        }
    }
}

// SAFETY: forwards every call unchanged to `System`; the counting has no effect
// on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocator calls made by this thread while running `f`.
pub fn allocations_in(f: impl FnOnce()) -> usize {
    let before = CALLS.with(Cell::get);
    TRACKED.with(|t| t.set(true));
    f();
    TRACKED.with(|t| t.set(false));
    CALLS.with(Cell::get) - before
}
