//! Parse throughput of the streaming MIDI parser, in messages per second.
//!
//! Two streams, both generated deterministically:
//! - "realistic": a performance on 4 channels: notes with running status
//!   (note-off as note-on velocity 0), CC sweeps, pitch bend, channel and poly
//!   aftertouch, program changes, and timing clock every ~20 messages, a third
//!   of the clocks landing inside another message.
//! - "sysex-heavy": the same with a SysEx (16..=512 bytes) every 4 messages,
//!   roughly 90 % of the bytes in SysEx.
//!
//! Fed in the chunk sizes the sequencer thread sees: 3 bytes (one short
//! message per read, the USB-MIDI/ALSA event case), 64 and 1024 bytes (bursts
//! read at once). Each iteration parses the whole stream (about 20 000
//! messages) with one parser.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use phasorsync::protocol::{MidiEvent, Parser, ParserConfig};
use std::hint::black_box;

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn data(&mut self) -> u8 {
        self.below(128) as u8
    }
}

/// Builds a stream of `n` messages (SysEx every `sysex_every` if non-zero).
fn stream(n: usize, sysex_every: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::new();
    let mut running: Option<u8> = None;
    let push = |out: &mut Vec<u8>, running: &mut Option<u8>, msg: &[u8]| {
        if *running == Some(msg[0]) {
            out.extend_from_slice(&msg[1..]);
        } else {
            out.extend_from_slice(msg);
        }
        *running = (msg[0] < 0xF0).then_some(msg[0]);
    };
    let mut i = 0;
    while i < n {
        i += 1;
        if sysex_every > 0 && i % sysex_every == 0 {
            let len = 16 + r.below(497) as usize;
            out.push(0xF0);
            out.extend((0..len - 2).map(|_| r.data()));
            out.push(0xF7);
            running = None;
            continue;
        }
        let ch = r.below(4) as u8;
        let roll = r.below(100);
        if roll < 5 {
            // Timing clock; sometimes inside the next message.
            if r.below(3) == 0 && i < n {
                i += 1;
                let msg = [0x90 | ch, r.data(), 1 + r.below(127) as u8];
                push(&mut out, &mut running, &msg);
                // Between the two data bytes.
                out.insert(out.len() - 1, 0xF8);
            } else {
                out.push(0xF8);
            }
            continue;
        }
        let msg: Vec<u8> = match roll {
            5..=44 => vec![0x90 | ch, r.data(), 1 + r.below(127) as u8],
            45..=69 => vec![0x90 | ch, r.data(), 0], // note-off by running status
            70..=84 => vec![0xB0 | ch, r.below(8) as u8, r.data()],
            85..=91 => vec![0xE0 | ch, r.data(), r.data()],
            92..=95 => vec![0xD0 | ch, r.data()],
            96..=98 => vec![0xA0 | ch, r.data(), r.data()],
            _ => vec![0xC0 | ch, r.data()],
        };
        push(&mut out, &mut running, &msg);
    }
    out
}

/// Parses `bytes` in `chunk`-byte pieces; returns (messages, a checksum).
fn parse(p: &mut Parser, bytes: &[u8], chunk: usize) -> (u64, u64) {
    let mut n = 0u64;
    let mut sum = 0u64;
    for (i, c) in bytes.chunks(chunk).enumerate() {
        p.feed(c, i as u64, 0, |m, payload| {
            n += 1;
            sum = sum.wrapping_add(m.time_ns ^ u64::from(m.event.status()) ^ payload.len() as u64);
        });
    }
    (n, sum)
}

fn bench(c: &mut Criterion) {
    const N: usize = 20_000;
    let mixes = [
        ("realistic", stream(N, 0, 0x9E37_79B9_7F4A_7C15)),
        ("sysex-heavy", stream(N, 4, 0xD1B5_4A32_D192_ED03)),
    ];
    let mut g = c.benchmark_group("parse");
    for (name, bytes) in &mixes {
        // Count what one parse yields, and check the stream is clean: every
        // message counted was emitted, nothing dropped.
        let mut p = Parser::new(ParserConfig::default());
        let (messages, _) = parse(&mut p, bytes, 64);
        assert_eq!(
            p.stats().dropped(),
            0,
            "{name}: generator made a bad stream"
        );
        assert!(messages as usize >= N, "{name}: {messages} < {N}");
        let sysex = p.stats().sysex_messages;
        let mut q = Parser::new(ParserConfig::default());
        let mut sysex_bytes = 0usize;
        q.feed(bytes, 0, 0, |m, _| {
            if let MidiEvent::SysEx { len } = m.event {
                sysex_bytes += len as usize;
            }
        });
        eprintln!(
            "parse/{name}: {} bytes, {messages} messages ({sysex} SysEx, {:.0} % of bytes)",
            bytes.len(),
            100.0 * sysex_bytes as f64 / bytes.len() as f64
        );
        g.throughput(Throughput::Elements(messages));
        for chunk in [3usize, 64, 1024] {
            g.bench_with_input(BenchmarkId::new(*name, chunk), &chunk, |b, &chunk| {
                let mut p = Parser::new(ParserConfig::default());
                b.iter(|| black_box(parse(&mut p, black_box(bytes), chunk)));
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
