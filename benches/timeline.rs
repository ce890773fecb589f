//! Cost of the clock map on the audio thread: `Timeline::begin_block` once per
//! `process()`, `BlockMap::place` once per pending event.
//!
//! Call times come from a simulated 48 kHz card with +100 ppm drift and
//! wake-up jitter of up to 30 % of the period, generated on the fly by a
//! xorshift (the `generator only` line measures that part alone, so it can be
//! subtracted). Each map is warmed up over 5000 blocks first, so the filter
//! window is full and slides (hull pushes, window swaps) as in steady state.
//!
//! `cargo bench --bench timeline`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use phasorsync::timeline::{BlockMap, Timeline};
use std::hint::black_box;

const RATE: f64 = 48_000.0;

/// Generates the call times of a paced host.
struct Host {
    rng: u64,
    /// Card sample of the next block's end.
    end: u64,
    period: u32,
}

impl Host {
    fn new(period: u32) -> Self {
        Host {
            rng: 0x2545_F491_4F6C_DD1D,
            end: 0,
            period,
        }
    }

    /// The next call: (time ns, frames).
    #[inline]
    fn next(&mut self) -> (u64, u32) {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.end += u64::from(self.period);
        let card_ns = self.end as f64 * 1e9 / (RATE * (1.0 + 100e-6));
        let jitter = (self.rng >> 11) as f64 / (1u64 << 53) as f64 * 0.3;
        let t = 1e12 + card_ns + jitter * f64::from(self.period) * 1e9 / RATE;
        (t as u64, self.period)
    }
}

fn warmed(period: u32) -> (Timeline, Host, BlockMap) {
    let mut map = Timeline::new(RATE, period);
    let mut host = Host::new(period);
    let mut bm = None;
    for _ in 0..5000 {
        let (t, n) = host.next();
        bm = Some(map.begin_block(t, n, None));
    }
    (map, host, bm.expect("warmed"))
}

fn begin_block(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock/begin_block");
    g.throughput(Throughput::Elements(1));
    for period in [64u32, 256, 1024] {
        g.bench_with_input(
            BenchmarkId::new("generator only", period),
            &period,
            |b, &p| {
                let mut host = Host::new(p);
                b.iter(|| black_box(host.next()))
            },
        );
        g.bench_with_input(BenchmarkId::new("begin_block", period), &period, |b, &p| {
            let (mut map, mut host, _) = warmed(p);
            b.iter(|| {
                let (t, n) = host.next();
                black_box(map.begin_block(t, n, None))
            });
            // The measured calls were steady state, not resets.
            assert_eq!(map.stats().discontinuities(), 0);
        });
    }
    g.finish();
}

fn place(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock/block");
    for pending in [0usize, 8, 64] {
        g.throughput(Throughput::Elements(pending.max(1) as u64));
        g.bench_with_input(
            BenchmarkId::new("begin_block+place, 256 frames", pending),
            &pending,
            |b, &k| {
                let (mut map, mut host, _) = warmed(256);
                b.iter(|| {
                    let (t, n) = host.next();
                    let bm = map.begin_block(t, n, None);
                    let lat = bm.latency_frames(1);
                    let step = 5_333_333 / (k as u64 + 1);
                    let mut acc = 0u32;
                    for i in 0..k as u64 {
                        // Events spread over the previous period.
                        if let phasorsync::timeline::Placement::InBlock(o) =
                            bm.place(black_box(t - 5_333_333 + i * step), lat)
                        {
                            acc = acc.wrapping_add(o);
                        }
                    }
                    black_box(acc)
                });
            },
        );
    }
    g.throughput(Throughput::Elements(64));
    g.bench_function("place x64 only", |b| {
        let (_, _, bm) = warmed(256);
        let t0 = bm.call_time_ns();
        let lat = bm.latency_frames(1);
        b.iter(|| {
            let mut acc = 0u32;
            for i in 0..64u64 {
                if let phasorsync::timeline::Placement::InBlock(o) =
                    bm.place(black_box(t0 - 5_000_000 + i * 80_000), lat)
                {
                    acc = acc.wrapping_add(o);
                }
            }
            black_box(acc)
        });
    });
    g.finish();
}

criterion_group!(benches, begin_block, place);
criterion_main!(benches);
