//! The lock-free SPSC ring that carries timestamped
//! [`crate::protocol::MidiMessage`]s between the MIDI thread and the audio
//! thread, one ring each way:
//! - **input**: the MIDI thread produces, `process()` consumes;
//! - **output**: `process()` produces (the host's notes, MIDI clock), the MIDI
//!   thread consumes and schedules each message at its `time_ns`.
//!
//! [`midi_buffer`] returns a [`MidiBufferProducer`] and a [`MidiBufferConsumer`]
//! (the API of `bbx_midi`'s `midi_buffer`, with timestamped messages and SysEx
//! payloads added). [`crate::engine::EngineHandle`] makes one of each direction
//! per activation.
//!
//! # Realtime guarantees
//! - Allocation happens once, in [`midi_buffer`] / [`midi_buffer_with_config`],
//!   and every page of the storage is touched there: neither side takes a page
//!   fault later, whichever thread writes first.
//! - Every operation of either half except [`MidiBufferConsumer::drain_into`] is
//!   wait-free and allocation-free: a bounded number of atomic loads/stores, a
//!   copy, no locks, no syscalls.
//! - The producer never blocks: when the ring is full the message is dropped and a
//!   counter in [`RingCounters`] goes up, so every loss is visible.
//!
//! # SysEx
//! A [`crate::protocol::MidiEvent::SysEx`] message carries only its length. Its
//! payload (0xF0 … 0xF7) travels through a second, preallocated byte ring. The
//! producer writes the payload first and the message second, all or nothing; the
//! consumer pops the message, then copies the payload into its own scratch with
//! [`MidiBufferConsumer::pop_sysex_payload`]. The two rings cannot fall out of step:
//! a payload the consumer does not take is skipped (and counted) when the next
//! message is popped.
//!
//! # Why `ringbuf`, and why not its per-item API
//! Picked by `benches/ring.rs` (push 64 then drain; median thread CPU time per
//! message; one run on a shared 2-core AMD EPYC VM, load average 4–7 from other
//! builds; full table in docs/benchmarks/host-side.md):
//!
//! | queue (payload)                      | ns/msg | vs fastest |
//! |--------------------------------------|-------:|-----------:|
//! | `bbx_midi::midi_buffer` (3 bytes)    |   2.78 |      1.00× |
//! | `rtrb` (`MidiMessage`)               |   3.49 |      1.26× |
//! | **this ring** (`MidiMessage`)        |   3.73 |      1.34× |
//! | `heapless::spsc` (`MidiMessage`)     |   3.94 |      1.42× |
//! | `ringbuf` `HeapRb` (`MidiMessage`)   |  10.81 |      3.89× |
//!
//! `heapless::spsc` was faster per item than `ringbuf`'s API, but it fixes the
//! capacity at compile time, its halves borrow the queue (a `'static` pair for two
//! threads needs an `unsafe` self-referential owner), it cannot tell a half that the
//! other is gone, and its two indices share a cache line. `ringbuf` has none of these
//! problems: run-time capacity, `Arc`-owned halves, indices padded onto their own
//! cache lines, and hold flags that give [`MidiBufferProducer::is_abandoned`] /
//! [`MidiBufferConsumer::is_abandoned`]. Its generic per-item path is what is slow
//! (several `%` and `/` by the run-time capacity per item, through generic wrappers), so the message ring
//! keeps `ringbuf`'s storage, atomic indices and hold flags and moves the indices
//! itself with comparisons instead of division (`slots.rs`, a small `unsafe` layer
//! under `ringbuf`'s documented index invariants). The SysEx byte ring uses
//! `ringbuf`'s slice API unchanged: there the index work is paid once per SysEx.

mod consumer;
mod producer;
mod slots;
mod stats;

pub use consumer::MidiBufferConsumer;
pub use producer::MidiBufferProducer;
pub use stats::{RingCounters, RingStats};

use ringbuf::storage::{Heap, Storage};
use ringbuf::traits::Split;
use ringbuf::SharedRb;

/// Default byte storage for SysEx payloads: four SysEx messages of 64 KiB each.
pub const DEFAULT_SYSEX_BYTES: usize = 4 * 64 * 1024;

/// Sizes of a ring, fixed at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// How many messages (of any kind, SysEx included) the ring holds. At least 1.
    pub capacity: usize,
    /// How many SysEx payload bytes the ring holds in total. A single SysEx larger
    /// than this can never be carried and is rejected. At least 1.
    pub sysex_bytes: usize,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            capacity: 256,
            sysex_bytes: DEFAULT_SYSEX_BYTES,
        }
    }
}

/// Creates a ring holding `capacity` messages, with [`DEFAULT_SYSEX_BYTES`] of SysEx
/// payload storage. A capacity of 0 is raised to 1.
///
/// Allocates; call it outside the audio thread.
///
/// ```
/// use phasorsync::protocol::{MidiEvent, MidiMessage};
/// use phasorsync::ring::midi_buffer;
///
/// let (mut producer, mut consumer) = midi_buffer(64);
/// let note = MidiEvent::NoteOn { channel: 0, key: 60, velocity: 100 };
/// assert!(producer.try_send(MidiMessage { time_ns: 1_000, port: 0, event: note }));
/// assert!(producer.try_send_sysex(2_000, 0, &[0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7]));
///
/// let mut scratch = [0u8; 64];
/// assert_eq!(consumer.try_pop().map(|m| m.event), Some(note));
/// let sysex = consumer.try_pop().unwrap();
/// assert_eq!(sysex.event, MidiEvent::SysEx { len: 6 });
/// assert_eq!(consumer.pop_sysex_payload(&mut scratch), Some(6));
/// assert_eq!(&scratch[..6], &[0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7]);
/// assert!(consumer.is_empty());
/// ```
pub fn midi_buffer(capacity: usize) -> (MidiBufferProducer, MidiBufferConsumer) {
    midi_buffer_with_config(RingConfig {
        capacity,
        ..RingConfig::default()
    })
}

/// Touches every page of `bytes` now, so the thread that first writes them
/// (the audio thread) takes no page fault: the one way the crate pre-faults
/// memory it sets aside for a realtime thread (the rings' storage, the
/// plugin's SysEx arena).
pub(crate) fn prefault_bytes(bytes: &mut [u8]) {
    // SAFETY: `bytes` is one writable allocation; writing zeros to some of
    // its bytes is what a caller handing over a scratch buffer expects.
    unsafe { slots::prefault(bytes.as_mut_ptr(), bytes.len()) };
}

/// Creates a ring with explicit sizes. Sizes of 0 are raised to 1.
///
/// Allocates; call it outside the audio thread.
pub fn midi_buffer_with_config(config: RingConfig) -> (MidiBufferProducer, MidiBufferConsumer) {
    let (msg_prod, msg_cons) = slots::slot_ring(config.capacity);
    let bytes = config.sysex_bytes.max(1);
    let storage = Heap::<u8>::new(bytes);
    // SAFETY: `bytes` uninitialised bytes of this fresh allocation.
    unsafe { slots::prefault(storage.as_mut_ptr().cast(), bytes) };
    // SAFETY: read == write == 0: no byte is claimed to be initialised.
    let (byte_prod, byte_cons) = unsafe { SharedRb::from_raw_parts(storage, 0, 0) }.split();
    let stats = RingCounters::new();
    (
        MidiBufferProducer::new(msg_prod, byte_prod, stats.clone()),
        MidiBufferConsumer::new(msg_cons, byte_cons, stats),
    )
}
