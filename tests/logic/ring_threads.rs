//! Two threads, ten million messages each run, through a 256-slot ring: order is
//! preserved and every message is either received or counted as lost, exactly.
//!
//! Fast in release (`cargo test --release --test logic -- ring_threads::`); the debug build
//! runs the same counts.

use std::hint::spin_loop;
use std::thread;

use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{
    midi_buffer, midi_buffer_with_config, MidiBufferConsumer, RingConfig, RingStats,
};

/// Messages per run: ten million, or `PHASORSYNC_RING_MESSAGES` (for slow
/// instrumented runs such as ThreadSanitizer); a few thousand under Miri
/// (`cargo xtask miri`), which interprets every step and sees no environment.
fn messages() -> u64 {
    if cfg!(miri) {
        return 2_000;
    }
    std::env::var("PHASORSYNC_RING_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}
const CAPACITY: usize = 256;

fn msg(seq: u64) -> MidiMessage {
    MidiMessage {
        time_ns: seq,
        port: (seq % 3) as u16,
        event: MidiEvent::ControlChange {
            channel: (seq % 16) as u8,
            controller: 7,
            value: (seq % 128) as u8,
        },
    }
}

/// The SysEx payload for sequence number `seq`: length and bytes depend on it.
fn payload(seq: u64, buf: &mut Vec<u8>) {
    let len = 2 + (seq % 200) as usize;
    buf.clear();
    buf.push(0xF0);
    buf.extend((0..len - 2).map(|i| ((seq as usize + i) % 128) as u8));
    buf.push(0xF7);
}

/// What the consumer saw.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    sum: u64,
    sysex: u64,
    sysex_bytes: u64,
}

/// Pops (with `try_pop`, `peek` + `try_pop`, `try_pop_if` in turn) until the producer
/// is gone and the ring is empty, checking that sequence numbers strictly increase
/// and every SysEx payload is the one sent with it.
fn consume(mut c: MidiBufferConsumer) -> Tally {
    let mut t = Tally::default();
    let mut last: Option<u64> = None;
    let mut scratch = vec![0u8; 512];
    let mut expected = Vec::with_capacity(512);
    let mut idle = 0u32;
    let mut turn = 0u32;
    loop {
        // Rotate through the three ways process() can take a message.
        turn = turn.wrapping_add(1);
        let popped = match turn % 3 {
            0 => c.try_pop(),
            1 => {
                let peeked = c.peek().copied();
                let popped = c.try_pop();
                if peeked.is_some() {
                    assert_eq!(peeked, popped, "peek then pop disagree");
                }
                popped
            }
            _ => c.try_pop_if(|m| m.time_ns != u64::MAX),
        };
        let Some(m) = popped else {
            // Check abandonment before the final look: whatever was pushed before the
            // producer dropped is then visible.
            if c.is_abandoned() && c.is_empty() {
                break;
            }
            idle += 1;
            if idle % 64 == 0 {
                thread::yield_now();
            } else {
                spin_loop();
            }
            continue;
        };
        let seq = m.time_ns;
        if let Some(prev) = last {
            assert!(seq > prev, "order broken: {seq} after {prev}");
        }
        last = Some(seq);
        t.count += 1;
        t.sum = t.sum.wrapping_add(seq);
        match m.event {
            MidiEvent::SysEx { len } => {
                let n = c.pop_sysex_payload(&mut scratch).expect("payload present");
                assert_eq!(n, len as usize);
                payload(seq, &mut expected);
                assert_eq!(&scratch[..n], &expected[..], "payload of {seq}");
                t.sysex += 1;
                t.sysex_bytes += n as u64;
            }
            other => assert_eq!(other, msg(seq).event, "content of {seq}"),
        }
    }
    t
}

#[test]
fn lossy_stream_preserves_order_and_accounts_for_every_drop() {
    let messages = messages();
    let (mut p, c) = midi_buffer(CAPACITY);
    let stats = p.stats();
    let consumer = thread::spawn(move || consume(c));
    let mut accepted = Tally::default();
    for seq in 0..messages {
        // A real MIDI thread never waits: a full ring loses the message.
        if p.try_send(msg(seq)) {
            accepted.count += 1;
            accepted.sum = accepted.sum.wrapping_add(seq);
        }
        // Let the consumer catch up now and then, so both full and non-full
        // phases occur however the two threads are scheduled.
        if seq % 256 == 0 {
            thread::yield_now();
        }
    }
    drop(p);
    let received = consumer.join().expect("consumer panicked");
    let s = stats.snapshot();
    assert_eq!(received, accepted);
    assert_eq!(received.count + s.dropped_messages, messages);
    assert_eq!(
        s,
        RingStats {
            dropped_messages: messages - received.count,
            ..RingStats::default()
        }
    );
    assert!(received.count >= CAPACITY as u64);
    eprintln!(
        "lossy: received {} dropped {}",
        received.count, s.dropped_messages
    );
}

#[test]
fn retrying_producer_loses_nothing_and_counts_each_refusal() {
    let messages = messages();
    let (mut p, c) = midi_buffer(CAPACITY);
    let stats = p.stats();
    let consumer = thread::spawn(move || consume(c));
    let mut refusals = 0u64;
    for seq in 0..messages {
        while !p.try_send(msg(seq)) {
            refusals += 1;
            thread::yield_now();
        }
    }
    drop(p);
    let received = consumer.join().expect("consumer panicked");
    assert_eq!(received.count, messages);
    assert_eq!(received.sum, messages * (messages - 1) / 2);
    assert_eq!(stats.dropped_messages(), refusals);
    eprintln!("retrying: {refusals} refusals counted");
}

#[test]
fn interleaved_sysex_stream_keeps_payloads_in_step() {
    let messages = messages();
    // Small byte storage, so SysEx is also lost for lack of bytes, not only slots.
    let (mut p, c) = midi_buffer_with_config(RingConfig {
        capacity: CAPACITY,
        sysex_bytes: 4096,
    });
    let stats = p.stats();
    let consumer = thread::spawn(move || consume(c));
    let mut accepted = Tally::default();
    let (mut lost_notes, mut lost_sysex, mut lost_sysex_bytes) = (0u64, 0u64, 0u64);
    let mut buf = Vec::with_capacity(256);
    for seq in 0..messages {
        let ok = if seq % 7 == 3 {
            payload(seq, &mut buf);
            let ok = p.try_send_sysex(seq, (seq % 3) as u16, &buf);
            if ok {
                accepted.sysex += 1;
                accepted.sysex_bytes += buf.len() as u64;
            } else {
                lost_sysex += 1;
                lost_sysex_bytes += buf.len() as u64;
            }
            ok
        } else {
            let ok = p.try_send(msg(seq));
            lost_notes += u64::from(!ok);
            ok
        };
        if ok {
            accepted.count += 1;
            accepted.sum = accepted.sum.wrapping_add(seq);
        }
        if seq % 256 == 0 {
            thread::yield_now();
        }
    }
    drop(p);
    let received = consumer.join().expect("consumer panicked");
    assert_eq!(received, accepted);
    assert_eq!(received.count + lost_notes + lost_sysex, messages);
    assert_eq!(
        stats.snapshot(),
        RingStats {
            dropped_messages: lost_notes,
            dropped_sysex: lost_sysex,
            dropped_sysex_bytes: lost_sysex_bytes,
            ..RingStats::default()
        }
    );
    assert!(received.sysex > 0);
    eprintln!(
        "sysex: received {} ({} sysex, {} bytes), lost {} notes {} sysex",
        received.count, received.sysex, received.sysex_bytes, lost_notes, lost_sysex
    );
}
