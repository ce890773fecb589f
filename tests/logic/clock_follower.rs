//! The MIDI clock follower on synthetic tick streams: a sender's true grid
//! (tempo profile, ±200 ppm clock drift) seen through gaussian timestamp
//! jitter, with tempo steps, ramps, missing ticks and garbage. Each test
//! asserts a target of the issue and prints what it measured
//! (`cargo test --test logic -- clock_follower:: --nocapture`). The streams
//! and figures are in `tests/support/clock_streams/`, shared with the benchmark.

use crate::clock_streams;
use crate::clock_streams::{
    follow, lock_ticks, locked, mean, percentile, rms, std_dev, stream, Rng, DRIFTS, SRC, T0,
};
use phasorsync::midi_clock::follower::{ClockMessage, Follower, Lock, FREE_RUN_TICKS};
use proptest::prelude::*;

#[test]
fn first_estimate_after_two_ticks() {
    for seed in 0..50 {
        let s = stream(3, seed, 1.0, 200.0, |_| 120.0);
        let mut f = Follower::new();
        f.event(s.seen[0] - 1_000_000, SRC, ClockMessage::Start);
        f.event(s.seen[0], SRC, ClockMessage::Clock);
        assert_eq!(f.tempo_bpm(), None, "one tick gives no tempo");
        f.event(s.seen[1], SRC, ClockMessage::Clock);
        let bpm = f.tempo_bpm().expect("a tempo after 2 ticks");
        // One interval with √2 ms of jitter on 20.8 ms: within 35 % (5σ).
        assert!((bpm - 120.0).abs() < 0.35 * 120.0, "seed {seed}: {bpm}");
        assert!(f.beat_at(s.seen[1]).is_some(), "a phase after 2 ticks");
    }
}

#[test]
fn locked_within_24_ticks_of_start() {
    let mut ticks = vec![];
    for seed in 0..100 {
        for d in DRIFTS {
            let s = stream(200, seed * 2 + (d > 0.0) as u64, 1.0, d, |_| 120.0);
            let (_, tr) = follow(&s, &[]);
            ticks.push(lock_ticks(&tr, 0));
        }
    }
    let late = ticks.iter().filter(|&&t| t > 24).count();
    let (p50, max) = (percentile(&mut ticks, 0.5), *ticks.iter().max().unwrap());
    println!(
        "lock after Start (0.5 %, 2 ms, held 96 ticks): median {p50} ticks, max {max}, {late}/{} trials later than 24",
        ticks.len()
    );
    // The target, read statistically: 24 ticks is 3.5σ of a 24-point
    // slope at 1 ms jitter, so we ask 99 % of trials, not all.
    assert!(
        late * 100 <= ticks.len(),
        "{late} of {} trials not locked by tick 24",
        ticks.len()
    );
}

#[test]
fn steady_state_tempo_and_phase() {
    let mut all_tempo = vec![];
    let mut all_phase = vec![];
    for (seed, d) in [(1, -200.0), (2, 200.0), (3, 0.0), (4, 200.0)] {
        let s = stream(12_000, seed, 1.0, d, |_| 120.0);
        let (f, tr) = follow(&s, &[]);
        let te = &tr.tempo_err[256..];
        let ph = &tr.phase_ms[256..];
        println!(
            "drift {d:+} ppm: tempo error mean {:+.4} σ {:.4} rms {:.4} BPM, phase rms {:.3} ms (max {:.3}), stats {:?}",
            mean(te),
            std_dev(te),
            rms(te),
            rms(ph),
            ph.iter().fold(0.0f64, |m, x| m.max(x.abs())),
            f.stats()
        );
        all_tempo.extend_from_slice(te);
        all_phase.extend_from_slice(ph);
    }
    let (t, p) = (rms(&all_tempo), rms(&all_phase));
    println!("all: tempo error rms {t:.4} BPM (target ≤ 0.02), phase rms {p:.3} ms (target ≤ 0.5)");
    assert!(t <= 0.02, "steady-state tempo error {t} BPM");
    assert!(p <= 0.5, "steady-state phase error {p} ms RMS");
}

#[test]
fn relocks_within_a_beat_after_a_tempo_step() {
    for step in [1.1, 0.9] {
        let mut ticks = vec![];
        for seed in 0..100 {
            let d = DRIFTS[seed as usize % 2];
            let s = stream(700, seed, 1.0, d, |i| {
                if i < 300 {
                    120.0
                } else {
                    120.0 * step
                }
            });
            let (f, tr) = follow(&s, &[]);
            assert!(
                f.stats().tempo_steps >= 1,
                "step not detected: {:?}",
                f.stats()
            );
            // Tick 301 is the first at the new tempo.
            ticks.push(lock_ticks(&tr, 301));
        }
        let late = ticks.iter().filter(|&&t| t > 24).count();
        let (p50, max) = (percentile(&mut ticks, 0.5), *ticks.iter().max().unwrap());
        println!(
            "step ×{step}: re-locked after median {p50} ticks, max {max}, {late}/{} later than 24",
            ticks.len()
        );
        assert!(
            late * 100 <= ticks.len(),
            "×{step}: {late} trials not re-locked within a beat"
        );
    }
}

#[test]
fn a_missing_tick_does_not_move_the_phase() {
    let mut worst: f64 = 0.0;
    for seed in 0..20 {
        let s = stream(700, seed, 1.0, 200.0, |_| 120.0);
        let (_, full) = follow(&s, &[]);
        let (f, gap) = follow(&s, &[500]);
        assert_eq!(f.stats().missing_ticks, 1);
        for j in 500..699 {
            worst = worst.max((gap.phase_ms[j] - full.phase_ms[j]).abs());
            assert!(
                gap.phase_ms[j].abs() < 2.0,
                "seed {seed} tick {j}: {} ms",
                gap.phase_ms[j]
            );
        }
    }
    println!("one tick dropped: phase moved by at most {worst:.4} ms against the full stream");
    assert!(worst < 0.25, "a missing tick moved the phase by {worst} ms");

    // 2 % of ticks lost at random: still on the grid.
    let s = stream(6000, 99, 1.0, -200.0, |_| 120.0);
    let mut rng = Rng::new(5);
    let drop: Vec<usize> = (1..5999).filter(|_| rng.uniform() < 0.02).collect();
    let (f, tr) = follow(&s, &drop);
    let p = rms(&tr.phase_ms[256..]);
    println!(
        "{} of 6000 ticks dropped: phase rms {p:.3} ms, stats {:?}",
        drop.len(),
        f.stats()
    );
    assert!(p <= 0.5);
    assert_eq!(f.stats().missing_ticks as usize, drop.len());
}

#[test]
fn free_runs_through_a_dropout_then_stops_or_on_stop() {
    let s = stream(100, 3, 1.0, 0.0, |_| 120.0);
    let mut f = Follower::new();
    f.event(s.seen[0] - 1000, SRC, ClockMessage::Start);
    for &t in &s.seen {
        f.event(t, SRC, ClockMessage::Clock);
    }
    let last = *s.seen.last().unwrap();
    let p = 60e9 / (24.0 * 120.0);
    let at = |x: f64| last + (x * p) as u64;
    let truth = |x: f64| s.truth[99] + x * p;
    let st = f.state(at(3.0));
    assert!(st.running && st.lock == Lock::Locked, "{st:?}");
    // Three ticks missed: free-running on the line, the sender's grid.
    for x in [3.6, 10.0, FREE_RUN_TICKS - 0.5] {
        let st = f.state(at(x));
        assert!(st.running && st.lock == Lock::FreeRunning, "{x}: {st:?}");
        let beat = f
            .beat_at(truth(x) as u64)
            .expect("a beat while free-running");
        let err_ms = (beat - (99.0 + x) / 24.0) * 500.0;
        assert!(err_ms.abs() < 2.0, "{x} periods: {err_ms} ms");
        // The error it owns up to grows with the distance from the ticks.
        assert!(st.phase_error_ms.unwrap() > f.state(at(0.0)).phase_error_ms.unwrap());
    }
    // Past the free-run: stopped where it ended, searching.
    let st = f.state(at(FREE_RUN_TICKS + 0.5));
    assert!(!st.running && st.lock == Lock::Searching, "{st:?}");
    assert!(
        (st.song_pos_beats - (99.0 + FREE_RUN_TICKS) / 24.0).abs() < 0.1 / 24.0,
        "{st:?}"
    );
    assert_eq!(f.beat_at(at(FREE_RUN_TICKS + 0.5)), None);
    // The next event counts the dropout, once.
    f.event(at(60.0), SRC, ClockMessage::SongPosition(0));
    f.event(at(61.0), SRC, ClockMessage::SongPosition(0));
    assert_eq!(f.stats().timeouts, 1);

    // A clock that stops after Stop has not dropped out: no free run.
    let mut f = Follower::new();
    f.event(s.seen[0] - 1000, SRC, ClockMessage::Start);
    for &t in &s.seen {
        f.event(t, SRC, ClockMessage::Clock);
    }
    f.event(at(0.5), SRC, ClockMessage::Stop);
    let st = f.state(at(5.0));
    assert!(!st.running && st.lock == Lock::Searching, "{st:?}");
    f.event(at(6.0), SRC, ClockMessage::SongPosition(0));
    assert_eq!(f.stats().timeouts, 0);

    // Stop message: at once.
    let mut f = Follower::new();
    f.event(s.seen[0] - 1000, SRC, ClockMessage::Start);
    for &t in &s.seen[..48] {
        f.event(t, SRC, ClockMessage::Clock);
    }
    assert!(f.state(s.seen[47] + 1000).running);
    f.event(s.seen[47] + 1000, SRC, ClockMessage::Stop);
    let st = f.state(s.seen[47] + 2000);
    assert!(!st.running);
    assert_eq!(st.song_pos_beats, 2.0);
    // Clock keeps coming while stopped: tempo stays known, position frozen.
    for &t in &s.seen[48..] {
        f.event(t, SRC, ClockMessage::Clock);
    }
    let st = f.state(s.seen[99]);
    assert!(!st.running && st.song_pos_beats == 2.0);
    assert!((st.tempo_bpm.unwrap() - 120.0).abs() < 0.6);
}

#[test]
fn continue_resumes_at_the_song_position() {
    let s = stream(300, 4, 1.0, 200.0, |_| 120.0);
    let mut f = Follower::new();
    f.event(s.seen[0] - 1000, SRC, ClockMessage::Start);
    for &t in &s.seen[..100] {
        f.event(t, SRC, ClockMessage::Clock);
    }
    f.event(s.seen[99] + 1000, SRC, ClockMessage::Stop);
    // SPP: bar 5 = 16 beats = 64 sixteenths.
    f.event(s.seen[100] + 1000, SRC, ClockMessage::SongPosition(64));
    assert_eq!(f.state(s.seen[100] + 2000).song_pos_beats, 16.0);
    f.event(s.seen[110] + 1000, SRC, ClockMessage::Continue);
    assert!(f.state(s.seen[110] + 2000).armed);
    for (j, &t) in s.seen.iter().enumerate().skip(111) {
        f.event(t, SRC, ClockMessage::Clock);
        let want = 16.0 + (j + 1 - 111) as f64 / 24.0;
        let got = f.beat_at(s.truth[j + 1] as u64).unwrap();
        // The clock paused while stopped: the grid restarts at tick 111
        // (with the old period), so it is locked 24 ticks later; before,
        // the position is still on the right tick.
        let tol_ms = if j >= 111 + 24 { 2.0 } else { 5.0 };
        assert!(
            ((got - want) * 500.0).abs() < tol_ms,
            "tick {j}: beat {got}, want {want}"
        );
        if j == 200 {
            break;
        }
    }
    // Continue without SPP resumes where Stop left it.
    f.event(s.seen[201] - 1000, SRC, ClockMessage::Stop);
    let pos = f.state(s.seen[201]).song_pos_beats;
    assert_eq!(pos, 16.0 + 90.0 / 24.0);
    f.event(s.seen[202] - 1000, SRC, ClockMessage::Continue);
    f.event(s.seen[202], SRC, ClockMessage::Clock);
    let got = f.beat_at(s.seen[202]).unwrap();
    assert!((got - pos).abs() < 0.1 / 24.0, "{got} vs {pos}");
}

#[test]
fn garbage_is_survived() {
    let p = 60e9 / (24.0 * 120.0);
    let s = stream(400, 8, 1.0, -200.0, |_| 120.0);
    let mut f = Follower::new();
    // Stop without Start, Continue-less SPP: nothing runs.
    f.event(1, SRC, ClockMessage::Stop);
    assert!(!f.state(2).running);
    // Ticks before Start: tempo known, not running.
    for &t in &s.seen[..100] {
        f.event(t, SRC, ClockMessage::Clock);
    }
    let st = f.state(s.seen[99]);
    assert!(!st.running && (st.tempo_bpm.unwrap() - 120.0).abs() < 0.6);
    // Duplicate Starts; the grid is kept, so the first tick is locked.
    f.event(s.seen[99] + 2_000_000, SRC, ClockMessage::Start);
    f.event(s.seen[99] + 2_100_000, SRC, ClockMessage::Start);
    f.event(s.seen[100], SRC, ClockMessage::Clock);
    let beat = f.beat_at(s.truth[101] as u64).unwrap();
    assert!(
        (beat - 1.0 / 24.0).abs() * 500.0 < 2.0,
        "first tick after Start: {beat}"
    );
    // A duplicate tick and an out-of-order one change nothing.
    f.event(s.seen[100], SRC, ClockMessage::Clock);
    f.event(s.seen[100] - 5_000_000, SRC, ClockMessage::Clock);
    assert_eq!(f.stats().extra_ticks, 1);
    assert_eq!(f.stats().out_of_order, 1);
    // SPP while running: ignored, counted.
    f.event(s.seen[100] + 1000, SRC, ClockMessage::SongPosition(100));
    assert_eq!(f.stats().spp_while_running, 1);
    // A second source sending at 90 BPM meanwhile: ignored, counted.
    let other = stream(300, 9, 1.0, 0.0, |_| 90.0);
    let mut o = other.seen.iter().peekable();
    for (j, &t) in s.seen.iter().enumerate().take(399).skip(101) {
        while let Some(&&ot) = o.peek() {
            if ot > t {
                break;
            }
            f.event(ot, 99, ClockMessage::Clock);
            o.next();
        }
        f.event(t, SRC, ClockMessage::Clock);
        let beat = f.beat_at(s.truth[j + 1] as u64).unwrap();
        assert!(
            ((beat - (j + 1 - 100) as f64 / 24.0) * 500.0).abs() < 2.0,
            "tick {j}: {beat}"
        );
    }
    let st = f.state(s.seen[398]);
    assert_eq!(st.source, Some(SRC));
    assert!(f.stats().foreign > 100, "{:?}", f.stats());
    assert!((st.tempo_bpm.unwrap() - 120.0 * (1.0 - 200e-6)).abs() < 0.1);
    // A tick after an hour: a new grid that starts from the old period,
    // not a tempo of 0.0007 BPM; the sender never stopped, so it runs on
    // from where its grid puts the tick.
    let hour = s.seen[398] + 3_600_000_000_000;
    f.event(hour, SRC, ClockMessage::Clock);
    let st = f.state(hour);
    assert!(st.running, "{st:?}");
    assert!((st.tempo_bpm.unwrap() - 120.0).abs() < 0.1, "{st:?}");
    let hour_beats = 3600.0 * 120.0 / 60.0;
    assert!(
        (st.song_pos_beats - 299.0 / 24.0 - hour_beats).abs() < 0.001 * hour_beats,
        "{st:?}"
    );
    f.event(hour + p as u64, SRC, ClockMessage::Clock);
    assert!((f.tempo_bpm().unwrap() - 120.0).abs() < 1e-4);
    // After the first source has been silent a second, the other may lead.
    f.event(hour + 2_000_000_000, 99, ClockMessage::Start);
    assert_eq!(f.state(hour + 2_000_000_000).source, Some(99));
    assert_eq!(f.stats().source_changes, 1);
    // Continue while running changes nothing.
    f.event(hour + 2_010_000_000, 99, ClockMessage::Clock);
    f.event(hour + 2_020_000_000, 99, ClockMessage::Continue);
    assert!(f.state(hour + 2_020_000_001).running);
}

#[test]
fn clock_restarted_at_start_rephases() {
    // Clock runs before Start, then the sender restarts it 0.4 period off.
    let p = 60e9 / (24.0 * 120.0);
    let before = stream(100, 11, 1.0, 0.0, |_| 120.0);
    let off = *before.truth.last().unwrap() + 1.4 * p;
    let mut after = stream(100, 12, 1.0, 0.0, |_| 120.0);
    for (t, x) in after.truth.iter_mut().zip(after.seen.iter_mut()) {
        *t += off - T0;
        *x += (off - T0) as u64;
    }
    let mut f = Follower::new();
    for &t in &before.seen {
        f.event(t, SRC, ClockMessage::Clock);
    }
    f.event(after.seen[0] - 1_000_000, SRC, ClockMessage::Start);
    let mut worst: f64 = 0.0;
    for j in 0..99 {
        f.event(after.seen[j], SRC, ClockMessage::Clock);
        let beat = f.beat_at(after.truth[j + 1] as u64).unwrap();
        worst = worst.max(((beat - (j + 1) as f64 / 24.0) * 500.0).abs());
    }
    println!(
        "clock restarted at Start: worst phase error {worst:.3} ms, stats {:?}",
        f.stats()
    );
    assert!(worst < 5.0, "worst phase error {worst} ms");
    assert_eq!(f.stats().grid_restarts, 1);
}

#[test]
fn tempo_ramp_is_tracked() {
    // 120 → 140 BPM over 16 beats, then steady. The issue sets no target for
    // ramps; this asserts only that the follower stays on the grid (phase
    // within 6 ms, tempo within 5 %) and prints how often the lock criterion
    // (0.5 %, 2 ms) is missed: a known weakness, see the module docs.
    let (mut worst_phase, mut worst_tempo): (f64, f64) = (0.0, 0.0);
    let (mut misses, mut n, mut phases) = (0, 0, vec![]);
    for seed in 0..20 {
        let s = stream(1200, seed, 1.0, DRIFTS[seed as usize % 2], |i| {
            120.0 + 20.0 * ((i as f64 - 300.0) / 384.0).clamp(0.0, 1.0)
        });
        let (_, tr) = follow(&s, &[]);
        for j in 300..1199 {
            n += 1;
            if !locked(&tr, j) {
                misses += 1;
            }
            worst_phase = worst_phase.max(tr.phase_ms[j].abs());
            worst_tempo = worst_tempo.max((tr.tempo_err[j] / tr.true_bpm[j]).abs());
            phases.push(tr.phase_ms[j]);
        }
    }
    println!(
        "ramp 120→140 over 16 beats: {misses}/{n} ticks outside (0.5 %, 2 ms), phase rms {:.3} ms, worst phase {worst_phase:.3} ms, worst tempo {:.2} %",
        rms(&phases),
        100.0 * worst_tempo
    );
    assert!(worst_phase < 6.0 && worst_tempo < 0.05);
}

#[test]
fn halved_tempo_is_not_lost_ticks() {
    let s = stream(600, 21, 0.5, 0.0, |i| if i < 300 { 120.0 } else { 60.0 });
    let (f, tr) = follow(&s, &[]);
    println!("120 → 60 BPM: stats {:?}", f.stats());
    let j = 400;
    assert!(
        locked(&tr, j),
        "tempo err {} phase {} ms",
        tr.tempo_err[j],
        tr.phase_ms[j]
    );
    assert!(tr.phase_ms[599 - 1].abs() < 2.0);
}

fn kind() -> impl Strategy<Value = ClockMessage> {
    prop_oneof![
        6 => Just(ClockMessage::Clock),
        1 => Just(ClockMessage::Start),
        1 => Just(ClockMessage::Continue),
        1 => Just(ClockMessage::Stop),
        1 => any::<u16>().prop_map(ClockMessage::SongPosition),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any sequence of anything: no panic, and what comes out is sane.
    #[test]
    fn garbage_never_breaks_it(
        events in prop::collection::vec(
            (prop_oneof![0u64..30_000_000, Just(0u64), 0u64..u64::MAX / 1024], 0u16..3, kind()),
            0..300,
        )
    ) {
        let mut f = Follower::new();
        let mut t = 0u64;
        for (dt, src, k) in events {
            t = t.saturating_add(dt);
            f.event(t, src, k);
            let st = f.state(t);
            if let Some(b) = st.tempo_bpm {
                prop_assert!(b.is_finite() && b > 0.0, "{st:?}");
            }
            // Finite, not necessarily ≥ 0: the line through jittered ticks may put
            // the first tick after Start a little before beat 0.
            prop_assert!(st.song_pos_beats.is_finite());
            if let Some(b) = f.beat_at(t) {
                prop_assert!(b.is_finite());
            }
        }
    }

    /// Any tempo, jitter and drift in range: locked after four beats.
    #[test]
    fn locks_at_any_tempo(
        bpm in 40.0f64..240.0,
        jitter in 0.0f64..1.0,
        drift in -200.0f64..200.0,
        seed in any::<u64>(),
    ) {
        let s = stream(200, seed, jitter, drift, |_| bpm);
        let (_, tr) = follow(&s, &[]);
        for j in 96..199 {
            prop_assert!(locked(&tr, j), "tick {j}: tempo err {} phase {} ms", tr.tempo_err[j], tr.phase_ms[j]);
        }
    }
}

/// The stream proptest found (saved in midi_clock_follower.proptest-regressions):
/// at 205.7 BPM (12.15 ms a tick) the first two ticks' jitter (+1.36, −1.62 ms)
/// makes the first interval 9.2 ms, so the third tick, 14.7 ms later, rounded
/// to two periods: a "missing tick" that was not, and the grid drifted to
/// 40 ticks off.
#[test]
fn an_early_long_interval_is_not_a_missing_tick() {
    let bpm = 205.703540978098;
    let s = stream(200, 6368657450186083847, 0.9807738543776333, 0.0, |_| bpm);
    let (f, tr) = follow(&s, &[]);
    println!("205.7 BPM, 0.98 ms jitter: stats {:?}", f.stats());
    assert_eq!(f.stats().missing_ticks, 0, "no tick was dropped");
    for j in 24..199 {
        assert!(
            locked(&tr, j),
            "tick {j}: tempo err {} phase {} ms",
            tr.tempo_err[j],
            tr.phase_ms[j]
        );
    }
}

/// A second stream proptest found: locked at 234.9 BPM (10.6 ms a tick),
/// tick 147 came 3.4 ms late after an early one, 1.5 intervals after it.
/// Rounded from the previous tick that was a gap, off the line both ways,
/// so held out a period early, and the ticks after it too: a "tempo step"
/// to a wrong grid.
#[test]
fn a_late_tick_after_an_early_one_is_not_a_gap() {
    let bpm = 234.8795520610987;
    let s = stream(200, 2081854450142131261, 0.8806649908167458, 0.0, |_| bpm);
    let (f, tr) = follow(&s, &[]);
    println!("234.9 BPM, 0.88 ms jitter: stats {:?}", f.stats());
    assert_eq!(f.stats().missing_ticks, 0, "no tick was dropped");
    assert_eq!(f.stats().tempo_steps, 0, "the tempo is constant");
    for j in 24..199 {
        assert!(
            locked(&tr, j),
            "tick {j}: tempo err {} phase {} ms",
            tr.tempo_err[j],
            tr.phase_ms[j]
        );
    }
}

/// The mirror of the first: at 227.7 BPM (11 ms a tick) the first interval
/// came 4.5 ms long, so the next, 7.5 ms, was under half of it: taken for a
/// duplicate and dropped, the grid one tick behind the song from then on.
#[test]
fn an_early_short_interval_is_not_a_duplicate() {
    let bpm = 227.72659785411685;
    let s = stream(200, 4931473526538685576, 0.9650646969032547, 0.0, |_| bpm);
    let (f, tr) = follow(&s, &[]);
    println!("227.7 BPM, 0.97 ms jitter: stats {:?}", f.stats());
    assert_eq!(f.stats().extra_ticks, 0, "no tick was doubled");
    for j in 24..199 {
        assert!(
            locked(&tr, j),
            "tick {j}: tempo err {} phase {} ms",
            tr.tempo_err[j],
            tr.phase_ms[j]
        );
    }
}

/// At 215.3 BPM tick 6 came 1.5 periods after tick 5 and fitted no count:
/// held out at the gap's index, the next three too, a "tempo step" restarted
/// the window at tick 5. The re-read then found the phantom gap but kept the
/// newest tick's index, so the whole grid, anchor and all, moved one tick.
#[test]
fn a_repaired_gap_keeps_the_song_position() {
    let bpm = 215.3026214854011;
    let s = stream(200, 161599414696569895, 0.9428233455005268, 0.0, |_| bpm);
    let (f, tr) = follow(&s, &[]);
    println!("215.3 BPM, 0.94 ms jitter: stats {:?}", f.stats());
    assert_eq!(f.stats().missing_ticks, 0, "no tick was dropped");
    for j in 24..199 {
        assert!(
            locked(&tr, j),
            "tick {j}: tempo err {} phase {} ms",
            tr.tempo_err[j],
            tr.phase_ms[j]
        );
    }
}

/// At 1000 BPM (2.5 ms a tick, the fastest tempo accepted) about half the
/// first intervals come in under 2.5 ms through jitter: each is a tick, not
/// a duplicate, or the second tick is dropped and the grid locks at 500 BPM.
#[test]
fn the_fastest_tempo_is_not_halved_by_jitter() {
    let mut short = 0;
    for seed in 0..40u64 {
        let s = stream(200, seed, 0.1, DRIFTS[seed as usize % 2], |_| 1000.0);
        short += usize::from(s.seen[1] - s.seen[0] < 2_500_000);
        let (f, tr) = follow(&s, &[]);
        assert_eq!(f.stats().extra_ticks, 0, "seed {seed}: {:?}", f.stats());
        for j in 96..199 {
            assert!(
                locked(&tr, j),
                "seed {seed} tick {j}: tempo err {} phase {} ms",
                tr.tempo_err[j],
                tr.phase_ms[j]
            );
        }
    }
    assert!(short > 5, "only {short} first intervals under 2.5 ms");
}

/// A follower fed no Start: a source that sends only clock.
struct ClockOnly(Follower);

impl clock_streams::ClockFollower for ClockOnly {
    fn start(&mut self, _: u64) {}
    fn tick(&mut self, t: u64) {
        self.0.event(t, SRC, ClockMessage::Clock);
    }
    fn tempo_bpm(&self) -> Option<f64> {
        self.0.tempo_bpm()
    }
    fn beat_at(&self, t: u64) -> Option<f64> {
        self.0.beat_at(t)
    }
}

/// A source that sends only clock (many drum machines) is followed for
/// tempo and phase from its ticks: its first tick is beat 0.
#[test]
fn clock_without_start_is_followed() {
    let mut ticks = vec![];
    for seed in 0..40u64 {
        let s = stream(300, seed, 1.0, DRIFTS[seed as usize % 2], |_| 120.0);
        let (f, tr) = clock_streams::follow_with(ClockOnly(Follower::new()), &s, &[]);
        assert!(f.0.state(s.seen[298]).running, "seed {seed}");
        ticks.push(lock_ticks(&tr, 0));
    }
    let (p50, max) = (percentile(&mut ticks, 0.5), *ticks.iter().max().unwrap());
    println!("clock without Start: locked after median {p50} ticks, max {max}");
    assert!(max <= 24, "not locked within a beat: {ticks:?}");
}

/// Clock that drops out for more than 3.5 periods while the transport runs
/// and comes back without Continue is followed again, on the sender's grid:
/// a short dropout (10 ticks) and one longer than any free-running (8
/// beats). The sender kept playing, so its song position moved on.
#[test]
fn clock_coming_back_after_a_dropout_is_followed() {
    for (gap, relock) in [(10usize, 0usize), (200, 24)] {
        for seed in 0..20u64 {
            let s = stream(800, seed, 1.0, DRIFTS[seed as usize % 2], |_| 120.0);
            let drop: Vec<usize> = (300..300 + gap).collect();
            let (f, tr) = follow(&s, &drop);
            let back = 300 + gap;
            assert!(f.state(s.seen[798]).running, "gap {gap} seed {seed}");
            for j in back + relock..799 {
                assert!(
                    locked(&tr, j),
                    "gap {gap} seed {seed} tick {j}: tempo err {} phase {} ms",
                    tr.tempo_err[j],
                    tr.phase_ms[j]
                );
            }
        }
    }
}

/// What a sender does at a loop wrap or a locate while playing: Stop, Song
/// Position Pointer, Continue, its clock running on all through. The
/// follower stops on Stop, takes the position while stopped, keeps the tempo
/// from the clocks without moving the song position, and resumes at that
/// position on the first clock after Continue.
#[test]
fn stop_position_continue_with_clock_running_through() {
    let p = 60e9 / (24.0 * 120.0);
    for seed in 0..20u64 {
        let s = stream(400, seed, 1.0, DRIFTS[seed as usize % 2], |_| 120.0);
        let mut f = Follower::new();
        f.event(s.seen[0] - 1_000_000, SRC, ClockMessage::Start);
        for &t in &s.seen[..200] {
            f.event(t, SRC, ClockMessage::Clock);
        }
        let stop = s.seen[199] + (p / 3.0) as u64;
        f.event(stop, SRC, ClockMessage::Stop);
        assert!(!f.state(stop).running);
        // Back to bar 3 (8 beats, 32 sixteenths), clocks between.
        f.event(stop + 100_000, SRC, ClockMessage::SongPosition(32));
        for &t in &s.seen[200..203] {
            f.event(t, SRC, ClockMessage::Clock);
            let st = f.state(t);
            assert!(!st.running && st.song_pos_beats == 8.0, "{st:?}");
            assert!((st.tempo_bpm.unwrap() - 120.0).abs() < 0.1, "{st:?}");
        }
        f.event(s.seen[202] + (p / 2.0) as u64, SRC, ClockMessage::Continue);
        for (j, &t) in s.seen.iter().enumerate().take(399).skip(203) {
            f.event(t, SRC, ClockMessage::Clock);
            // Tick 203 is song position 8 beats; the next tick's true time
            // is one tick on.
            let want = 8.0 + (j + 1 - 203) as f64 / 24.0;
            let got = f.beat_at(s.truth[j + 1] as u64).expect("running");
            assert!(
                (got - want).abs() < 1.0 / 24.0,
                "seed {seed} tick {j}: {got} want {want}"
            );
            assert!(((got - want) * 500.0).abs() < 2.0, "seed {seed} tick {j}");
        }
        assert_eq!(f.state(s.seen[398]).lock, Lock::Locked);
        assert_eq!(f.stats().grid_restarts, 0, "seed {seed}: {:?}", f.stats());
    }
}

/// The lock state through a dropout: locked, free-running, and locked again
/// within a beat of the clock's return, whether it comes back on its old
/// grid (a short dropout) or later than any free-run; clock only, no Start.
#[test]
fn relocks_within_a_beat_when_clock_comes_back() {
    for gap in [10usize, 30, 200] {
        for seed in 0..20u64 {
            let s = stream(600, seed, 1.0, DRIFTS[seed as usize % 2], |_| 120.0);
            let mut f = Follower::new();
            let mut states = vec![];
            for (j, &t) in s.seen.iter().enumerate() {
                if (300..300 + gap).contains(&j) {
                    continue;
                }
                if j == 300 + gap {
                    // Just before the clock comes back.
                    states.push(f.state(t - 1000).lock);
                }
                f.event(t, SRC, ClockMessage::Clock);
                if j == 299 {
                    states.push(f.state(t).lock);
                    states.push(f.state(t + 5 * s.seen[1].abs_diff(s.seen[0])).lock);
                }
            }
            let want_gap = if gap as f64 > FREE_RUN_TICKS {
                Lock::Searching
            } else {
                Lock::FreeRunning
            };
            assert_eq!(
                states,
                [Lock::Locked, Lock::FreeRunning, want_gap],
                "gap {gap} seed {seed}"
            );
            let back = 300 + gap;
            let mut f2 = Follower::new();
            let mut relock = None;
            for (j, &t) in s.seen.iter().enumerate() {
                if (300..back).contains(&j) {
                    continue;
                }
                f2.event(t, SRC, ClockMessage::Clock);
                if j >= back && relock.is_none() && f2.state(t).lock == Lock::Locked {
                    relock = Some(j + 1 - back);
                }
            }
            let ticks = relock.expect("locked again");
            assert!(
                ticks <= 24,
                "gap {gap} seed {seed}: relocked after {ticks} ticks"
            );
        }
    }
}

/// The jitter the follower reports is the input's, and the phase error it
/// owns up to is the one it has (against the sender's true grid).
#[test]
fn reports_its_jitter_and_phase_error() {
    for jitter in [0.25, 1.0, 2.0] {
        let (mut reported, mut phase, mut owned) = (vec![], vec![], vec![]);
        for seed in 0..10u64 {
            let s = stream(2000, seed, jitter, DRIFTS[seed as usize % 2], |_| 120.0);
            let (f, tr) = follow(&s, &[]);
            let st = f.state(s.truth[1999] as u64);
            reported.push(st.jitter_ms.unwrap());
            owned.push(st.phase_error_ms.unwrap());
            phase.extend_from_slice(&tr.phase_ms[256..]);
        }
        let (rep, own, had) = (mean(&reported), mean(&owned), rms(&phase));
        println!(
            "jitter {jitter} ms RMS: reported {rep:.3} ms; phase error owned up to {own:.3} ms, measured {had:.3} ms RMS"
        );
        assert!(
            (rep / jitter - 1.0).abs() < 0.15,
            "jitter {jitter}: reported {rep}"
        );
        assert!(
            (own / had - 1.0).abs() < 0.3,
            "phase error {own} owned, {had} had"
        );
    }
}

/// Clock back within the free run but a quarter period off the old grid (a
/// sender that restarted its clock): the grid restarts at the returning tick
/// and is locked again, on the new grid, within a beat. (The returning tick
/// takes the nearest index on the old grid: half a period off would be a
/// coin toss between two.)
#[test]
fn a_clock_back_off_its_old_grid_relocks_on_the_new_one() {
    let p = 60e9 / (24.0 * 120.0);
    for seed in 0..20u64 {
        let s = stream(500, seed, 1.0, 0.0, |_| 120.0);
        let shift = 0.25 * p;
        let back = 320;
        let mut f = Follower::new();
        f.event(s.seen[0] - 1_000_000, SRC, ClockMessage::Start);
        let mut relock = None;
        for (j, &t) in s.seen.iter().enumerate().take(499) {
            if (300..back).contains(&j) {
                continue;
            }
            let t = if j >= back { t + shift as u64 } else { t };
            f.event(t, SRC, ClockMessage::Clock);
            if j >= back && relock.is_none() && f.state(t).lock == Lock::Locked {
                relock = Some(j + 1 - back);
            }
            if j >= back + 24 {
                let beat = f.beat_at((s.truth[j + 1] + shift) as u64).unwrap();
                let err_ms = (beat - (j + 1) as f64 / 24.0) * 500.0;
                assert!(err_ms.abs() < 2.0, "seed {seed} tick {j}: {err_ms} ms");
            }
        }
        let ticks = relock.expect("locked again");
        assert!(ticks <= 24, "seed {seed}: relocked after {ticks} ticks");
        // Restarted at the returning tick, or (when jitter put that one
        // on the old line) at it after the next ticks made a "tempo step".
        let st = f.stats();
        assert_eq!(st.grid_restarts + st.tempo_steps, 1, "seed {seed}: {st:?}");
    }
}

/// A sender whose Start and first clock were held back and left together
/// with the second clock (a stalled machine sends what is late at once):
/// the first interval is a fraction of a period. The follower's song
/// position may be off while it searches, but once locked it counts the
/// sender's ticks, as a strict slave does. (Two clocks closer than
/// `DUPLICATE_NS`, 1.25 ms, are one clock sent twice to the follower: a
/// hold of a whole period is not tried.)
#[test]
fn first_clocks_sent_together_are_counted_right_by_lock() {
    let period = 20_833_333u64;
    let start = T0 as u64;
    for held in [5_000_000u64, 12_000_000, 16_000_000, 19_000_000] {
        let mut f = Follower::new();
        let t0 = start + held;
        f.event(t0, SRC, ClockMessage::Start);
        f.event(t0, SRC, ClockMessage::Clock);
        let mut tick = 0;
        let mut wrong_after_lock = Vec::new();
        for k in 1..200u64 {
            let t = (start + k * period).max(t0 + 200_000);
            f.event(t, SRC, ClockMessage::Clock);
            tick += 1;
            let st = f.state(t);
            if st.lock != Lock::Searching && (st.song_pos_beats * 24.0 - tick as f64).abs() > 0.5 {
                wrong_after_lock.push((tick, st.song_pos_beats * 24.0));
            }
        }
        assert!(
            wrong_after_lock.is_empty(),
            "held {} ms: off once locked at {wrong_after_lock:?}",
            held / 1_000_000
        );
        let st = f.state(start + 199 * period);
        assert_eq!(st.lock, Lock::Locked, "held {} ms", held / 1_000_000);
    }
}

/// A sender locked at a fast tempo, stopped, then started at a quarter of
/// it: every interval of the new clock is over the old timeout. The
/// follower must take the new tempo, not count each tick as four.
#[test]
fn a_much_slower_clock_after_a_stop_is_followed() {
    let start = T0 as u64;
    let fast = 10_416_667u64; // 240 BPM
    let slow = 4 * fast; // 60 BPM
    let mut f = Follower::new();
    f.event(start, SRC, ClockMessage::Start);
    for k in 0..96 {
        f.event(start + k * fast, SRC, ClockMessage::Clock);
    }
    let stopped = start + 96 * fast;
    f.event(stopped, SRC, ClockMessage::Stop);
    let again = stopped + 2_000_000_000;
    f.event(again, SRC, ClockMessage::Start);
    let mut off = Vec::new();
    for k in 0..96u64 {
        let t = again + 1_000_000 + k * slow;
        f.event(t, SRC, ClockMessage::Clock);
        let st = f.state(t);
        if st.lock != Lock::Searching && (st.song_pos_beats * 24.0 - k as f64).abs() > 0.5 {
            off.push((k, st.song_pos_beats * 24.0));
        }
    }
    let end = again + 1_000_000 + 95 * slow;
    let st = f.state(end);
    assert_eq!(st.lock, Lock::Locked, "{st:?}");
    assert!(off.is_empty(), "off once locked: {off:?}");
    let bpm = f.tempo_bpm().expect("a tempo");
    assert!((bpm - 60.0).abs() < 0.5, "{bpm}");
}
