//! Bad input never panics the clock map, and what it returns stays usable.

use phasorsync::timeline::{Placement, Timeline};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Call {
    /// Step of the call time (may be huge, zero, or a step back).
    dt: i64,
    frames: u32,
    steady: Option<u64>,
}

fn call() -> impl Strategy<Value = Call> {
    (
        prop_oneof![
            4 => 0i64..50_000_000,
            1 => any::<i64>(),
            1 => -50_000_000i64..0,
        ],
        prop_oneof![4 => 0u32..4096, 1 => any::<u32>()],
        prop_oneof![2 => Just(None), 1 => any::<u64>().prop_map(Some)],
    )
        .prop_map(|(dt, frames, steady)| Call { dt, frames, steady })
}

proptest! {
    #[test]
    fn arbitrary_calls_never_panic(
        rate in prop_oneof![Just(48_000.0f64), Just(0.0), Just(f64::NAN), Just(-1.0), 1.0f64..1e6],
        max_frames in any::<u32>(),
        start in any::<u64>(),
        calls in proptest::collection::vec(call(), 1..200),
        probes in proptest::collection::vec((any::<u64>(), any::<u32>()), 1..8),
    ) {
        let mut map = Timeline::new(rate, max_frames);
        let mut now = start;
        for (k, c) in calls.iter().enumerate() {
            now = now.wrapping_add_signed(c.dt);
            let bm = map.begin_block(now, c.frames, c.steady);
            prop_assert!(bm.rate_hz().is_finite() && bm.rate_hz() > 0.0);
            prop_assert_eq!(bm.frames(), c.frames);
            for &(t, lat) in &probes {
                match bm.place(t, lat) {
                    Placement::InBlock(o) => prop_assert!(o < c.frames),
                    Placement::Late | Placement::Later => {}
                }
            }
            let _ = bm.place(now, bm.latency_frames(1));
            let _ = bm.position(now, u32::MAX);
            let _ = bm.call_time_ns();
            let _ = bm.time_of(u32::MAX, 0);
            let _ = bm.time_of(0, u32::MAX);
            if k % 50 == 49 {
                map.reset();
            }
        }
        let s = map.stats();
        prop_assert_eq!(s.blocks, calls.len() as u64);
        // The slope is clamped to ±1000 ppm in ns per frame: ≤ 1001 ppm in rate.
        prop_assert!(s.skew_ppm.abs() <= 1001.1, "{}", s.skew_ppm);
    }
}

proptest! {
    /// `time_of` is the inverse of `place`: the time of any sample of the
    /// block lands back on that sample, whatever the rate, block sizes,
    /// jitter and latency.
    #[test]
    fn time_of_inverts_place(
        rate in prop_oneof![Just(44_100.0f64), Just(48_000.0), Just(96_000.0), Just(192_000.0), 8_000.0f64..400_000.0],
        drift_ppm in -500.0f64..500.0,
        frames in proptest::collection::vec(1u32..4096, 1..40),
        jitter in proptest::collection::vec(0u64..2_000_000, 40),
        start in 0u64..(1u64 << 62),
        latency in prop_oneof![Just(None), (0u32..10_000).prop_map(Some)],
        probes in proptest::collection::vec(any::<u32>(), 1..32),
    ) {
        let max = frames.iter().copied().max().unwrap_or(1);
        let mut map = Timeline::new(rate, max);
        let ns_per_frame = 1e9 / (rate * (1.0 + drift_ppm * 1e-6));
        let mut end = 0u64;
        for (k, &n) in frames.iter().enumerate() {
            end += u64::from(n);
            let now = start + (end as f64 * ns_per_frame) as u64 + jitter[k];
            let bm = map.begin_block(now, n, None);
            let lat = latency.unwrap_or_else(|| bm.latency_frames(1));
            for &p in &probes {
                let off = p % n;
                let t = bm.time_of(off, lat);
                prop_assert_eq!(
                    bm.place(t, lat),
                    Placement::InBlock(off),
                    "offset {} latency {} t {} position {}",
                    off, lat, t, bm.position(t, lat)
                );
            }
            // Consecutive samples are one frame period apart, to the ns.
            if n > 1 {
                let d = bm.time_of(1, lat).wrapping_sub(bm.time_of(0, lat)) as i64 as f64;
                prop_assert!((d - 1e9 / bm.rate_hz()).abs() <= 1.0, "{}", d);
            }
        }
    }
}
