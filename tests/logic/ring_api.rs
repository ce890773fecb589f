//! Single-thread behaviour of the ring: order, overflow accounting, SysEx transport
//! and its failure modes, abandonment, and the Send/!Sync contract.

use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{
    midi_buffer, midi_buffer_with_config, MidiBufferConsumer, MidiBufferProducer, RingConfig,
    RingCounters, RingStats,
};

fn note(time_ns: u64, key: u8) -> MidiMessage {
    MidiMessage {
        time_ns,
        port: 1,
        event: MidiEvent::NoteOn {
            channel: 2,
            key,
            velocity: 100,
        },
    }
}

fn sysex(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0xF0];
    v.extend((0..len - 2).map(|i| (i as u8).wrapping_add(seed) & 0x7F));
    v.push(0xF7);
    v
}

// Compile-time contract: both halves Send, neither Sync; the stats handle is both.
// `assert_not_sync::<T>()` is ambiguous (does not compile) if T: Sync.
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}
fn assert_send<T: Send>() {}
fn assert_send_sync<T: Send + Sync + Clone>() {}
const _: fn() = || {
    assert_send::<MidiBufferProducer>();
    assert_send::<MidiBufferConsumer>();
    <MidiBufferProducer as AmbiguousIfSync<_>>::check();
    <MidiBufferConsumer as AmbiguousIfSync<_>>::check();
    assert_send_sync::<RingCounters>();
};

#[test]
fn fifo_order_and_exact_capacity() {
    let (mut p, mut c) = midi_buffer(4);
    assert_eq!(p.capacity(), 4);
    assert!(c.is_empty());
    for t in 0..4 {
        assert!(p.try_send(note(t, t as u8)));
    }
    assert!(p.is_full());
    assert!(!p.try_send(note(99, 99)), "a full ring must refuse");
    assert_eq!(c.len(), 4);
    for t in 0..4 {
        assert_eq!(c.try_pop(), Some(note(t, t as u8)));
    }
    assert_eq!(c.try_pop(), None);
    assert!(c.is_empty());
    assert!(!p.is_full());
    assert_eq!(
        c.stats().snapshot(),
        RingStats {
            dropped_messages: 1,
            ..RingStats::default()
        }
    );
}

#[test]
fn overflow_is_counted_per_message_and_ring_recovers() {
    let (mut p, mut c) = midi_buffer(8);
    let stats = p.stats();
    let mut refused = 0;
    for t in 0..100 {
        if !p.try_send(note(t, 0)) {
            refused += 1;
        }
    }
    assert_eq!(refused, 92);
    assert_eq!(stats.dropped_messages(), 92);
    // The first eight survive, in order.
    let got: Vec<u64> = std::iter::from_fn(|| c.try_pop())
        .map(|m| m.time_ns)
        .collect();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    assert!(p.try_send(note(1000, 0)));
    assert_eq!(c.try_pop().map(|m| m.time_ns), Some(1000));
}

#[test]
fn zero_capacity_is_raised_to_one() {
    let (mut p, mut c) = midi_buffer_with_config(RingConfig {
        capacity: 0,
        sysex_bytes: 0,
    });
    assert_eq!(p.capacity(), 1);
    assert!(p.try_send(note(1, 1)));
    assert!(!p.try_send(note(2, 2)));
    assert!(
        !p.try_send_sysex(3, 0, &[0xF0, 0xF7]),
        "2 bytes cannot fit in 1"
    );
    assert_eq!(c.try_pop().map(|m| m.time_ns), Some(1));
    let s = c.stats().snapshot();
    assert_eq!((s.dropped_messages, s.rejected), (1, 1));
}

#[test]
fn peek_leaves_the_message_queued() {
    let (mut p, mut c) = midi_buffer(4);
    assert_eq!(c.peek(), None);
    p.try_send(note(10, 1));
    p.try_send(note(20, 2));
    assert_eq!(c.peek().map(|m| m.time_ns), Some(10));
    assert_eq!(c.peek().map(|m| m.time_ns), Some(10));
    assert_eq!(c.len(), 2);
    assert_eq!(c.try_pop().map(|m| m.time_ns), Some(10));
    assert_eq!(c.peek().map(|m| m.time_ns), Some(20));
}

#[test]
fn sysex_payload_travels_with_its_message() {
    let (mut p, mut c) = midi_buffer(16);
    let a = sysex(5, 1);
    let b = sysex(300, 7);
    assert!(p.try_send(note(1, 1)));
    assert!(p.try_send_sysex(2, 3, &a));
    assert!(p.try_send(note(3, 3)));
    assert!(p.try_send_sysex(4, 3, &b));
    let mut scratch = [0u8; 1024];

    assert_eq!(c.try_pop(), Some(note(1, 1)));
    assert_eq!(c.pop_sysex_payload(&mut scratch), None, "not after a note");
    let m = c.try_pop().unwrap();
    assert_eq!((m.time_ns, m.port), (2, 3));
    assert_eq!(m.event, MidiEvent::SysEx { len: 5 });
    assert_eq!(c.pending_sysex_len(), 5);
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(5));
    assert_eq!(&scratch[..5], &a[..]);
    assert_eq!(c.pop_sysex_payload(&mut scratch), None, "taken once only");
    assert_eq!(c.try_pop(), Some(note(3, 3)));
    assert_eq!(
        c.try_pop().map(|m| m.event),
        Some(MidiEvent::SysEx { len: 300 })
    );
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(300));
    assert_eq!(&scratch[..300], &b[..]);
    assert_eq!(c.stats().snapshot(), RingStats::default());
}

#[test]
fn too_small_destination_discards_payload_and_keeps_rings_in_step() {
    let (mut p, mut c) = midi_buffer(16);
    let big = sysex(100, 0);
    let next = sysex(10, 50);
    assert!(p.try_send_sysex(1, 0, &big));
    assert!(p.try_send_sysex(2, 0, &next));
    let mut small = [0u8; 99];
    assert_eq!(c.try_pop().map(|m| m.time_ns), Some(1));
    assert_eq!(c.pop_sysex_payload(&mut small), None);
    let s = c.stats().snapshot();
    assert_eq!((s.discarded_sysex, s.discarded_sysex_bytes), (1, 100));
    // The next payload is intact: the discarded bytes were skipped exactly.
    let mut scratch = [0u8; 64];
    assert_eq!(c.try_pop().map(|m| m.time_ns), Some(2));
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(10));
    assert_eq!(&scratch[..10], &next[..]);
}

#[test]
fn unread_payload_is_skipped_by_next_pop_and_drain() {
    let (mut p, mut c) = midi_buffer(16);
    let a = sysex(20, 1);
    let b = sysex(30, 2);
    let d = sysex(7, 3);
    assert!(p.try_send_sysex(1, 0, &a));
    assert!(p.try_send(note(2, 2)));
    assert!(p.try_send_sysex(3, 0, &b));
    assert!(p.try_send_sysex(4, 0, &d));
    assert_eq!(c.try_pop().map(|m| m.time_ns), Some(1));
    // Payload of `a` not taken: popping on skips it.
    assert_eq!(c.try_pop(), Some(note(2, 2)));
    let mut v = Vec::new();
    assert_eq!(c.drain_into(&mut v), 2);
    assert_eq!(
        v.iter().map(|m| m.event).collect::<Vec<_>>(),
        vec![MidiEvent::SysEx { len: 30 }, MidiEvent::SysEx { len: 7 }]
    );
    let s = c.stats().snapshot();
    assert_eq!((s.discarded_sysex, s.discarded_sysex_bytes), (3, 57));
    assert_eq!(c.pending_sysex_len(), 0);
    // All byte storage is free again: a payload as large as the storage fits.
    let whole = sysex(c.sysex_capacity(), 9);
    assert!(p.try_send_sysex(5, 0, &whole));
    let mut scratch = vec![0u8; whole.len()];
    c.try_pop();
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(whole.len()));
    assert_eq!(scratch, whole);
}

#[test]
fn sysex_is_all_or_nothing_when_either_ring_is_full() {
    // Byte storage full: message ring has room.
    let (mut p, mut c) = midi_buffer_with_config(RingConfig {
        capacity: 8,
        sysex_bytes: 64,
    });
    assert!(p.try_send_sysex(1, 0, &sysex(40, 0)));
    assert_eq!(p.sysex_vacant_bytes(), 24);
    assert!(!p.try_send_sysex(2, 0, &sysex(25, 0)));
    assert!(p.try_send_sysex(3, 0, &sysex(24, 0)));
    // Message ring full: byte storage would have room after popping.
    let mut scratch = [0u8; 64];
    c.try_pop();
    c.pop_sysex_payload(&mut scratch).unwrap();
    for t in 0..7 {
        assert!(p.try_send(note(10 + t, 0)));
    }
    assert!(p.is_full());
    assert!(!p.try_send_sysex(4, 0, &sysex(4, 0)));
    assert_eq!(
        p.sysex_vacant_bytes(),
        40,
        "refused payload left no bytes behind"
    );
    let s = p.stats().snapshot();
    assert_eq!((s.dropped_sysex, s.dropped_sysex_bytes), (2, 29));
    assert_eq!(s.dropped_messages, 0);
    // What is queued is intact.
    assert_eq!(
        c.try_pop().map(|m| m.event),
        Some(MidiEvent::SysEx { len: 24 })
    );
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(24));
    assert_eq!(&scratch[..24], &sysex(24, 0)[..]);
    assert_eq!(c.len(), 7);
}

#[test]
fn malformed_or_unfittable_sysex_is_rejected_and_counted() {
    let (mut p, c) = midi_buffer_with_config(RingConfig {
        capacity: 8,
        sysex_bytes: 32,
    });
    assert!(!p.try_send_sysex(0, 0, &[]));
    assert!(!p.try_send_sysex(0, 0, &[0xF0]));
    assert!(!p.try_send_sysex(0, 0, &[0x90, 0x40, 0xF7]));
    assert!(!p.try_send_sysex(0, 0, &[0xF0, 0x01, 0x02]));
    assert!(
        !p.try_send_sysex(0, 0, &sysex(33, 0)),
        "larger than storage"
    );
    // A SysEx message without payload must not enter the ring.
    assert!(!p.try_send(MidiMessage {
        time_ns: 0,
        port: 0,
        event: MidiEvent::SysEx { len: 4 },
    }));
    assert!(c.is_empty());
    let s = c.stats().snapshot();
    assert_eq!(s.rejected, 6);
    assert_eq!(s.total_lost(), 6);
    assert!(
        p.try_send_sysex(0, 0, &sysex(32, 0)),
        "exactly the storage fits"
    );
}

#[test]
fn each_half_sees_the_other_abandoned() {
    let (p, c) = midi_buffer(4);
    assert!(!p.is_abandoned());
    assert!(!c.is_abandoned());
    drop(c);
    assert!(p.is_abandoned());

    let (mut p, mut c) = midi_buffer(4);
    p.try_send(note(1, 1));
    let stats = p.stats();
    drop(p);
    assert!(c.is_abandoned());
    assert_eq!(
        c.try_pop().map(|m| m.time_ns),
        Some(1),
        "queued data survives"
    );
    drop(c);
    assert_eq!(
        stats.snapshot(),
        RingStats::default(),
        "stats outlive both halves"
    );
}

#[test]
fn stats_are_readable_from_another_thread() {
    let (mut p, _c) = midi_buffer(1);
    let stats = p.stats();
    p.try_send(note(0, 0));
    p.try_send(note(1, 0));
    let seen = std::thread::spawn(move || stats.dropped_messages())
        .join()
        .unwrap();
    assert_eq!(seen, 1);
}

#[test]
fn pop_if_takes_only_what_belongs_to_this_block() {
    let (mut p, mut c) = midi_buffer(8);
    for t in [100, 200, 300] {
        p.try_send(note(t, 0));
    }
    let block_end = 250;
    let mut got = Vec::new();
    while let Some(m) = c.try_pop_if(|m| m.time_ns < block_end) {
        got.push(m.time_ns);
    }
    assert_eq!(got, vec![100, 200]);
    assert_eq!(c.len(), 1, "the later message stays queued");
    assert_eq!(c.try_pop_if(|_| true).map(|m| m.time_ns), Some(300));
    assert_eq!(c.try_pop_if(|_| true), None);
}

#[test]
fn pop_if_keeps_sysex_payloads_in_step() {
    let (mut p, mut c) = midi_buffer(8);
    let a = sysex(6, 1);
    let b = sysex(9, 2);
    assert!(p.try_send_sysex(10, 0, &a));
    assert!(p.try_send_sysex(20, 0, &b));
    let mut scratch = [0u8; 16];
    assert!(c.try_pop_if(|m| m.time_ns < 15).is_some());
    // Refused: nothing popped, so the pending payload of `a` is still there.
    assert!(c.try_pop_if(|m| m.time_ns < 15).is_none());
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(6));
    assert_eq!(&scratch[..6], &a[..]);
    assert!(c.try_pop_if(|_| true).is_some());
    assert_eq!(c.pop_sysex_payload(&mut scratch), Some(9));
    assert_eq!(&scratch[..9], &b[..]);
    assert_eq!(c.stats().snapshot(), RingStats::default());
}
