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
