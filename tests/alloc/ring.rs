//! Proves with a counting global allocator that the consumer operations the audio
//! thread uses never allocate (nor free), whatever state the ring is in.

use crate::alloc_counter::allocations_in;
use crate::common::clock;
use phasorsync::ring::{midi_buffer_with_config, RingConfig};

#[test]
fn the_counter_sees_allocations() {
    // Without this, a broken counter would make the real test pass vacuously.
    let n = allocations_in(|| {
        let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(10));
        drop(v);
    });
    assert_eq!(n, 2);
}

#[test]
fn consumer_operations_never_allocate() {
    let (mut p, mut c) = midi_buffer_with_config(RingConfig {
        capacity: 64,
        sysex_bytes: 1024,
    });
    let mut scratch = [0u8; 256];
    let small = [0xF0, 1, 2, 3, 0xF7];
    let big: Vec<u8> = std::iter::once(0xF0)
        .chain(std::iter::repeat_n(0x11, 400))
        .chain(std::iter::once(0xF7))
        .collect();
    let stats = c.stats();

    for round in 0..50u64 {
        // Producer side fills (outside the measured region, but also checked below).
        assert!(p.try_send(clock(round)));
        assert!(p.try_send_sysex(round, 0, &small));
        assert!(p.try_send_sysex(round, 0, &big));
        assert!(p.try_send_sysex(round, 0, &small));
        assert!(p.try_send(clock(round)));

        let n = allocations_in(|| {
            let mut seen = 0;
            assert!(!c.is_empty());
            assert!(c.len() == 5);
            assert!(c.peek().is_some());
            assert!(c.try_pop_if(|m| m.time_ns == u64::MAX).is_none()); // refused
            assert!(c.try_pop_if(|_| true).is_some()); // clock
            assert_eq!(c.pop_sysex_payload(&mut scratch), None); // not a SysEx
            assert!(c.try_pop().is_some()); // small
            assert_eq!(c.pending_sysex_len(), 5);
            assert_eq!(c.pop_sysex_payload(&mut scratch), Some(5));
            assert!(c.try_pop().is_some()); // big: scratch too small -> discarded
            assert_eq!(c.pop_sysex_payload(&mut scratch), None);
            assert!(c.try_pop().is_some()); // small, payload left unread...
            assert!(c.try_pop().is_some()); // ...and skipped here
            while let Some(m) = c.try_pop() {
                seen += m.time_ns;
            }
            assert!(c.is_empty());
            assert!(c.peek().is_none());
            assert!(!c.is_abandoned());
            std::hint::black_box(stats.snapshot());
            std::hint::black_box(seen);
        });
        assert_eq!(n, 0, "consumer allocated in round {round}");
    }
    let s = stats.snapshot();
    assert_eq!(
        (s.discarded_sysex, s.discarded_sysex_bytes),
        (100, 50 * 407)
    );
}

#[test]
fn producer_operations_never_allocate_either() {
    let (mut p, mut c) = midi_buffer_with_config(RingConfig {
        capacity: 4,
        sysex_bytes: 16,
    });
    let n = allocations_in(|| {
        for t in 0..10 {
            p.try_send(clock(t)); // overflows after 4: counted, no allocation
            p.try_send_sysex(t, 0, &[0xF0, 0x01, 0xF7]);
            std::hint::black_box(p.is_full());
            std::hint::black_box(p.is_abandoned());
        }
    });
    assert_eq!(n, 0);
    assert_eq!(c.len(), 4);
    c.try_pop();
}
