//! The figures the clock-out bench and kernel tests quote
//! (`tests/support/common/figures.rs`): what the drift figure measures.

use crate::common::ClockFigures;

const PERIOD_NS: f64 = 20_833_333.3;

fn ideal(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * PERIOD_NS).collect()
}

fn figures(late_us: impl Fn(usize) -> f64, n: usize) -> ClockFigures {
    let ideal = ideal(n);
    let times: Vec<u64> = ideal
        .iter()
        .enumerate()
        .map(|(i, t)| (t + 1e6 + late_us(i) * 1e3).round() as u64)
        .collect();
    ClockFigures::of(&times, &ideal, &vec![true; n])
}

#[test]
fn a_clock_that_runs_slow_drifts_by_what_it_accumulates() {
    // 1 µs more per tick than the period: 999 µs over 1000 ticks.
    let f = figures(|i| i as f64, 1000);
    assert!((f.drift_us - 999.0).abs() < 1.0, "{f:?}");
    assert!((f.p50_us - 1.0).abs() < 0.01, "{f:?}");
}

#[test]
fn one_late_tick_at_the_end_is_jitter_not_drift() {
    // A steady clock whose last tick is 3 ms late: last − first would call
    // that 3 ms of drift; the trend moves by a few µs only.
    let f = figures(|i| if i == 999 { 3000.0 } else { 0.0 }, 1000);
    assert!(f.drift_us.abs() < 20.0, "{f:?}");
    assert!((f.max_us - 3000.0).abs() < 0.01, "{f:?}");
}

#[test]
fn ticks_left_out_do_not_count() {
    let n = 100;
    let ideal = ideal(n);
    // Ticks 40..60 are 10 ms late (an xrun) and left out; the rest are exact.
    let times: Vec<u64> = ideal
        .iter()
        .enumerate()
        .map(|(i, t)| (t + if (40..60).contains(&i) { 1e7 } else { 0.0 }) as u64)
        .collect();
    let keep: Vec<bool> = (0..n).map(|i| !(40..60).contains(&i)).collect();
    let f = ClockFigures::of(&times, &ideal, &keep);
    assert_eq!(f.ticks, 80);
    assert!(f.drift_us.abs() < 0.01 && f.max_us < 0.01, "{f:?}");
}
