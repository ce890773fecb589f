//! Cost of the phasor per 256-frame block, written to one f32 channel as
//! `process()` does (before the copy to the second channel):
//! - `host`: one stretch, playing at 120 BPM with a tempo ramp;
//! - `host, 2 stretches`: a transport event in the middle of the block;
//! - `external`: a follower locked on a 120 BPM clock, the block cut in two
//!   chunks by a clock message (as happens every fourth block at 120 BPM),
//!   each chunk reading the follower's beat once;
//! - `external, stopped`: the follower has nothing to follow: hold.
//!
//! `cargo bench --bench phasor`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use phasorsync::midi_clock::follower::{ClockMessage, Follower};
use phasorsync::midi_clock::phasor::{Period, Phasor, SampleClock, Setup, Source};
use phasorsync::midi_clock::ticks::Transport;
use phasorsync::midi_clock::transport::{HostTransport, Stretch};
use std::hint::black_box;

const FRAMES: u32 = 256;
const RATE: f64 = 48_000.0;

#[derive(Clone, Copy)]
struct Card {
    base_ns: u64,
}

impl SampleClock for Card {
    fn time_of(&self, offset: u32) -> u64 {
        self.base_ns + (f64::from(offset) * 1e9 / RATE) as u64
    }
    fn rate_hz(&self) -> f64 {
        RATE
    }
}

fn host_transport(beats: f64) -> HostTransport {
    HostTransport {
        song: Transport {
            playing: true,
            song_pos_beats: beats,
            tempo_bpm: 120.0,
            tempo_inc: 1e-5,
            loop_beats: None,
        },
        bar_start_beats: (beats / 4.0).floor() * 4.0,
        beats_per_bar: 4.0,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("phasor per 256-frame block");
    g.throughput(Throughput::Elements(u64::from(FRAMES)));
    let mut out = vec![0f32; FRAMES as usize];
    let block_beats = f64::from(FRAMES) / RATE * 2.0;

    for (name, cut) in [("host", FRAMES), ("host, 2 stretches", FRAMES / 2)] {
        let setup = Setup {
            period: Period::Bars(1),
            source: Source::Host,
        };
        let mut phasor = Phasor::new(RATE);
        let mut beats = 0.0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let t = host_transport(beats);
                let stretches = [
                    Stretch {
                        start: 0,
                        end: cut,
                        transport: Some(t),
                    },
                    Stretch {
                        start: cut,
                        end: FRAMES,
                        transport: Some(t),
                    },
                ];
                let n = if cut == FRAMES { 1 } else { 2 };
                let mut run =
                    phasor.block(setup, stretches.into_iter().take(n), Card { base_ns: 0 });
                run.render_to(FRAMES, &(), &mut out[..]);
                beats += block_beats;
                black_box(&out);
            })
        });
    }

    // A follower locked on 120 BPM, its line extended as blocks go by (no
    // new tick is fed: beat_at's cost does not depend on it).
    let mut follower = Follower::new();
    let period = 20_833_333u64;
    follower.event(1_000_000_000, 1, ClockMessage::Start);
    for i in 0..200u64 {
        follower.event(1_000_000_000 + i * period, 1, ClockMessage::Clock);
    }
    let setup = Setup {
        period: Period::Beats(1.0),
        source: Source::External,
    };
    let mut phasor = Phasor::new(RATE);
    let block_ns = (f64::from(FRAMES) * 1e9 / RATE) as u64;
    // Keep the query times within the clock's timeout of its last tick.
    let base = 1_000_000_000 + 199 * period;
    let mut k = 0u64;
    g.bench_function("external", |b| {
        b.iter(|| {
            let card = Card {
                base_ns: base + (k % 8) * block_ns / 4,
            };
            k += 1;
            let s = Stretch {
                start: 0,
                end: FRAMES,
                transport: None,
            };
            let mut run = phasor.block(setup, std::iter::once(s), card);
            run.render_to(FRAMES / 3, &follower, &mut out[..]);
            run.render_to(FRAMES, &follower, &mut out[..]);
            black_box(&out);
        })
    });
    let stopped = Follower::new();
    g.bench_function("external, stopped", |b| {
        b.iter(|| {
            let s = Stretch {
                start: 0,
                end: FRAMES,
                transport: None,
            };
            let mut run = phasor.block(setup, std::iter::once(s), Card { base_ns: base });
            run.render_to(FRAMES, &stopped, &mut out[..]);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
