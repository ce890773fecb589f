//! The per-message fast path over a `ringbuf` ring: the same storage, indices and
//! hold flags, but index arithmetic without division.
//!
//! `ringbuf`'s generic push/pop derive slot positions with `%` and `/` by the
//! run-time capacity (about eight divisions per message round trip); measured in
//! `benches/ring.rs` that made it 4× slower per message than the fastest queue.
//! Here each side keeps its own index and a cached copy of the other side's, and
//! wraps with a comparison. The invariants are `ringbuf`'s own (documented on
//! `ringbuf::traits::Observer`): indices run in `0..2 * capacity`, the items in
//! `read..write` are initialised, the producer alone moves `write` and the consumer
//! alone moves `read`, each with a Release store after touching the slot; the other
//! side loads it with Acquire before touching the slot.

use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Arc;

use ringbuf::storage::{Heap, Storage};
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::wrap::{Cons, Prod};
use ringbuf::SharedRb;

type Rb<T> = SharedRb<Heap<T>>;

/// Number of items between two indices (`ringbuf` keeps indices modulo `2 * cap`).
#[inline(always)]
fn distance(cap: usize, from: usize, to: usize) -> usize {
    if to >= from {
        to - from
    } else {
        to + 2 * cap - from
    }
}

/// Storage slot of an index.
#[inline(always)]
fn slot(cap: usize, index: usize) -> usize {
    if index >= cap {
        index - cap
    } else {
        index
    }
}

/// The index after `index`.
#[inline(always)]
fn next(cap: usize, index: usize) -> usize {
    let n = index + 1;
    if n == 2 * cap {
        0
    } else {
        n
    }
}

/// Touch every page of `len` bytes at `ptr`, so that the thread that first
/// writes the ring (the audio thread, for the output ring) takes no page fault.
/// Volatile byte writes: a plain fill of fresh memory may be turned into a
/// `calloc` that maps no page.
///
/// # Safety
/// `ptr..ptr + len` must be one writable allocation whose content does not
/// matter (uninitialised slots).
pub(super) unsafe fn prefault(ptr: *mut u8, len: usize) {
    const PAGE: usize = 4096;
    // Every PAGE bytes from the start, and the last byte: together they
    // reach every page however the allocation is aligned.
    let last = len.checked_sub(1);
    for i in (0..len).step_by(PAGE).chain(last) {
        // SAFETY: i < len, inside the allocation (caller's contract).
        unsafe { std::ptr::write_volatile(ptr.add(i), 0) };
    }
}

/// Creates a ring of `capacity` (≥ 1) slots of `T`, its pages touched.
pub(super) fn slot_ring<T: Copy>(capacity: usize) -> (SlotWriter<T>, SlotReader<T>) {
    let cap = capacity.max(1);
    let storage = Heap::<T>::new(cap);
    // Raw pointer with the allocation's own provenance, taken before the storage moves
    // into the ring; `ringbuf` itself only touches the slots again when the ring drops.
    let base = storage.as_mut_ptr();
    // SAFETY: `base` points to `cap` slots of this fresh allocation.
    unsafe { prefault(base.cast(), cap * std::mem::size_of::<T>()) };
    // SAFETY: read == write == 0, so no slot is claimed to be initialised.
    let rb = Arc::new(unsafe { SharedRb::from_raw_parts(storage, 0, 0) });
    let slots = NonNull::new(base).unwrap_or(NonNull::dangling());
    (
        SlotWriter {
            prod: Prod::new(Arc::clone(&rb)),
            slots,
            cap,
            write: 0,
            read_seen: 0,
        },
        SlotReader {
            cons: Cons::new(rb),
            slots,
            cap,
            read: 0,
            write_seen: Cell::new(0),
        },
    )
}

/// Producing half. Holds the ring's write end (so the reader can see it abandoned).
pub(super) struct SlotWriter<T: Copy> {
    prod: Prod<Arc<Rb<T>>>,
    slots: NonNull<MaybeUninit<T>>,
    cap: usize,
    /// Equal to the ring's write index: only this half moves it.
    write: usize,
    /// The reader's index as last loaded; the ring has at least this much room.
    read_seen: usize,
}

// SAFETY: the writer is the only party that writes slots in `write..read + cap` and
// the write index; moving it to another thread moves that role with it. `T: Send`
// because values cross to the reader's thread. Not `Sync`: two threads sharing one
// writer would both write the same slot.
unsafe impl<T: Copy + Send> Send for SlotWriter<T> {}

impl<T: Copy> SlotWriter<T> {
    /// Appends `value`, or hands it back if the ring is full. Wait-free.
    #[inline]
    pub(super) fn try_push(&mut self, value: T) -> Result<(), T> {
        let cap = self.cap;
        if distance(cap, self.read_seen, self.write) == cap {
            self.read_seen = self.prod.read_index(); // Acquire: reader is done with its slots.
            if distance(cap, self.read_seen, self.write) == cap {
                return Err(value);
            }
        }
        // SAFETY: `slot(write)` < cap is inside the allocation, and it is vacant: the
        // ring holds fewer than `cap` items, so the reader is not reading it, and no
        // reference to it exists (the reader only forms references to slots in
        // `read..write`).
        unsafe {
            self.slots
                .as_ptr()
                .add(slot(cap, self.write))
                .write(MaybeUninit::new(value));
        }
        self.write = next(cap, self.write);
        // SAFETY: the new index is in 0..2cap and the slot it publishes was just
        // initialised; the store is Release, so the reader sees the value.
        unsafe { self.prod.set_write_index(self.write) };
        Ok(())
    }

    /// `true` if no slot is free right now.
    #[inline]
    pub(super) fn is_full(&self) -> bool {
        distance(self.cap, self.prod.read_index(), self.write) == self.cap
    }

    /// Free slots right now.
    pub(super) fn vacant_len(&self) -> usize {
        self.cap - distance(self.cap, self.prod.read_index(), self.write)
    }

    pub(super) fn capacity(&self) -> usize {
        self.cap
    }

    /// `true` once the reader has been dropped.
    pub(super) fn is_abandoned(&self) -> bool {
        !self.prod.read_is_held()
    }
}

/// Consuming half. Holds the ring's read end.
pub(super) struct SlotReader<T: Copy> {
    cons: Cons<Arc<Rb<T>>>,
    slots: NonNull<MaybeUninit<T>>,
    cap: usize,
    /// Equal to the ring's read index: only this half moves it.
    read: usize,
    /// The writer's index as last loaded; the ring holds at least up to it.
    /// A `Cell` so that `&self` methods can refresh it (the reader is not `Sync`).
    write_seen: Cell<usize>,
}

// SAFETY: the reader is the only party that reads slots in `read..write` and moves the
// read index; moving it moves that role. `T: Send` because values arrive from the
// writer's thread. Not `Sync` (also enforced by the `Cell`).
unsafe impl<T: Copy + Send> Send for SlotReader<T> {}

impl<T: Copy> SlotReader<T> {
    /// Items known to be readable, loading the writer's index only when the cached
    /// one shows none.
    #[inline(always)]
    fn available(&self) -> usize {
        let n = distance(self.cap, self.read, self.write_seen.get());
        if n != 0 {
            return n;
        }
        let w = self.cons.write_index(); // Acquire: the writer's slot writes are visible.
        self.write_seen.set(w);
        distance(self.cap, self.read, w)
    }

    /// Removes and returns the oldest item. Wait-free, no allocation.
    #[inline]
    pub(super) fn try_pop(&mut self) -> Option<T> {
        if self.available() == 0 {
            return None;
        }
        // SAFETY: `slot(read)` < cap is in the allocation and lies in `read..write`, so
        // it is initialised and the writer does not touch it until the read index moves
        // past it. `T: Copy`, so reading it out leaves nothing to drop.
        let value = unsafe {
            self.slots
                .as_ptr()
                .add(slot(self.cap, self.read))
                .read()
                .assume_init()
        };
        self.read = next(self.cap, self.read);
        // SAFETY: the new index is in 0..2cap and only releases the slot just read;
        // the store is Release, ordered after the read above.
        unsafe { self.cons.set_read_index(self.read) };
        Some(value)
    }

    /// Removes and returns the oldest item if `keep` accepts it; otherwise leaves it.
    /// Wait-free (plus whatever `keep` does), no allocation.
    #[inline]
    pub(super) fn pop_if(&mut self, keep: impl FnOnce(&T) -> bool) -> Option<T> {
        let value = *self.peek()?;
        if !keep(&value) {
            return None;
        }
        self.read = next(self.cap, self.read);
        // SAFETY: as in `try_pop`: releases exactly the slot just read, Release store.
        unsafe { self.cons.set_read_index(self.read) };
        Some(value)
    }

    /// The oldest item, left in place. Wait-free, no allocation.
    #[inline]
    pub(super) fn peek(&self) -> Option<&T> {
        if self.available() == 0 {
            return None;
        }
        // SAFETY: as in `try_pop`, the slot is initialised and the writer will not touch
        // it while the read index stays put, which it does for as long as the returned
        // borrow of `self` lives (moving it needs `&mut self`).
        Some(unsafe { (*self.slots.as_ptr().add(slot(self.cap, self.read))).assume_init_ref() })
    }

    /// Items queued right now.
    #[inline]
    pub(super) fn len(&self) -> usize {
        let w = self.cons.write_index();
        self.write_seen.set(w);
        distance(self.cap, self.read, w)
    }

    /// `true` if nothing is queued right now.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.available() == 0
    }

    pub(super) fn capacity(&self) -> usize {
        self.cap
    }

    /// `true` once the writer has been dropped.
    pub(super) fn is_abandoned(&self) -> bool {
        !self.cons.write_is_held()
    }
}

impl<T: Copy> fmt::Debug for SlotWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotWriter")
            .field("capacity", &self.cap)
            .field("vacant", &self.vacant_len())
            .finish()
    }
}

impl<T: Copy> fmt::Debug for SlotReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotReader")
            .field("capacity", &self.cap)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_arithmetic_matches_ringbuf_modulo() {
        for cap in 1..=9usize {
            for from in 0..2 * cap {
                for to in 0..2 * cap {
                    let want = (2 * cap + to - from) % (2 * cap);
                    if want <= cap {
                        assert_eq!(distance(cap, from, to), want, "cap {cap} {from}->{to}");
                    }
                }
                assert_eq!(slot(cap, from), from % cap);
                assert_eq!(next(cap, from), (from + 1) % (2 * cap));
            }
        }
    }

    #[test]
    fn wraps_many_times_at_every_small_capacity() {
        for cap in 1..=7usize {
            let (mut w, mut r) = slot_ring::<u32>(cap);
            let mut expect = 0u32;
            let mut next_val = 0u32;
            for round in 0..50u32 {
                let burst = (round as usize % (cap + 2)) + 1;
                for _ in 0..burst {
                    if w.try_push(next_val).is_ok() {
                        next_val += 1;
                    }
                }
                assert_eq!(r.len(), (next_val - expect) as usize);
                assert_eq!(w.vacant_len(), cap - r.len());
                assert_eq!(w.is_full(), r.len() == cap);
                let take = round as usize % 3 + 1;
                for _ in 0..take {
                    match (r.peek().copied(), r.try_pop()) {
                        (Some(p), Some(v)) => {
                            assert_eq!((p, v), (expect, expect));
                            expect += 1;
                        }
                        (None, None) => break,
                        other => panic!("peek/pop disagree: {other:?}"),
                    }
                }
            }
            while let Some(v) = r.try_pop() {
                assert_eq!(v, expect);
                expect += 1;
            }
            assert_eq!(expect, next_val);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn abandonment_is_seen_both_ways() {
        let (w, r) = slot_ring::<u8>(2);
        assert!(!w.is_abandoned() && !r.is_abandoned());
        drop(r);
        assert!(w.is_abandoned());
        let (w, r) = slot_ring::<u8>(2);
        drop(w);
        assert!(r.is_abandoned());
    }
}
