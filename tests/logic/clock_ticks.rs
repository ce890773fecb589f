//! The transport-to-tick scheduler against synthetic host transports.

use crate::strict_slave;
use crate::strict_slave::StrictSlave;
use phasorsync::midi_clock::follower::Follower;
use phasorsync::midi_clock::ticks::{
    ClockEvent, ClockKind, ClockOptions, TickScheduler, Transport,
};
use proptest::prelude::*;

const SR: f64 = 48_000.0;
/// Samples per beat at 120 bpm and 48 kHz; a tick is 1000 samples.
const SPB_120: f64 = 24_000.0;

fn sched(opts: ClockOptions) -> TickScheduler {
    TickScheduler::new(SR, opts).expect("valid rate")
}

fn playing(pos: f64, bpm: f64) -> Transport {
    Transport {
        playing: true,
        song_pos_beats: pos,
        tempo_bpm: bpm,
        tempo_inc: 0.0,
        loop_beats: None,
    }
}

/// Runs blocks, returning the events with positions made absolute.
fn run(s: &mut TickScheduler, blocks: &[(Option<Transport>, u32)]) -> Vec<(f64, ClockKind)> {
    let mut all = Vec::new();
    let mut start = 0.0;
    let mut buf = [ClockEvent::default(); 256];
    for (t, frames) in blocks {
        let r = s.process(t.as_ref(), *frames, &mut buf);
        assert_eq!(r.dropped, 0);
        for e in &buf[..r.written] {
            assert!(e.at.is_finite());
            all.push((start + e.at, e.kind));
        }
        start += f64::from(*frames);
    }
    all
}

/// A host playing at a constant tempo from `pos0`, in blocks of `block`.
fn steady(pos0: f64, bpm: f64, block: u32, n: usize) -> Vec<(Option<Transport>, u32)> {
    (0..n)
        .map(|i| {
            let pos = pos0 + (i as f64 * f64::from(block)) * bpm / (60.0 * SR);
            (Some(playing(pos, bpm)), block)
        })
        .collect()
}

fn clocks(ev: &[(f64, ClockKind)]) -> Vec<f64> {
    ev.iter()
        .filter(|e| e.1 == ClockKind::Clock)
        .map(|e| e.0)
        .collect()
}

fn assert_near(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

#[test]
fn steady_tempo_from_song_start() {
    let mut s = sched(ClockOptions::default());
    let ev = run(&mut s, &steady(0.0, 120.0, 512, 100));
    assert_eq!(ev[0], (0.0, ClockKind::Start));
    assert_eq!(ev[1], (0.0, ClockKind::Clock));
    let c = clocks(&ev);
    // 51200 samples, a tick each 1000: ticks 0..=51.
    assert_eq!(c.len(), 52);
    for (n, t) in c.iter().enumerate() {
        assert_near(*t, n as f64 * 1000.0, 1e-6);
    }
    assert!(ev[2..].iter().all(|e| e.1 == ClockKind::Clock));
    assert!(s.is_running());
}

/// The sample at which a song with tempo `t0 + k·s` reaches `beat`, found by
/// bisection (independent of the closed form under test).
fn bisect_tick(t0: f64, k: f64, beat: f64) -> f64 {
    let b = |s: f64| (t0 * s + 0.5 * k * s * s) / (60.0 * SR);
    // A falling tempo peaks the position at `-t0/k`: search before that.
    let peak = if k < 0.0 { -t0 / k } else { f64::INFINITY };
    if b(peak.min(1e12)) < beat {
        return f64::INFINITY;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64.min(peak));
    while b(hi) < beat {
        hi = (hi * 2.0).min(peak);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if b(mid) < beat {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn tempo_ramp_ticks_land_on_the_beat_grid() {
    // 100 → 200 bpm over 10 s, the host sends transport at each block start.
    let k = 100.0 / (10.0 * SR);
    let block = 480u32;
    let blocks: Vec<_> = (0..1000)
        .map(|i| {
            let s = f64::from(i * block);
            let t = Transport {
                tempo_bpm: 100.0 + k * s,
                tempo_inc: k,
                song_pos_beats: (100.0 * s + 0.5 * k * s * s) / (60.0 * SR),
                ..playing(0.0, 0.0)
            };
            (Some(t), block)
        })
        .collect();
    let mut s = sched(ClockOptions::default());
    let c = clocks(&run(&mut s, &blocks));
    assert!(c.len() > 500);
    for (n, t) in c.iter().enumerate() {
        assert_near(*t, bisect_tick(100.0, k, n as f64 / 24.0), 1e-6);
    }
}

#[test]
fn tempo_change_mid_block_as_sub_blocks() {
    // 120 bpm, then at sample 300 of the second block the tempo jumps to
    // 60 bpm (the glue calls process per sub-block: 300 + 212 samples).
    let mut s = sched(ClockOptions::default());
    let mut blocks = steady(0.0, 120.0, 512, 1);
    let pos = 812.0 / SPB_120;
    blocks.push((Some(playing(512.0 / SPB_120, 120.0)), 300));
    blocks.push((Some(playing(pos, 60.0)), 212));
    for i in 0..20 {
        let p = pos + f64::from(212 + i * 512) / (2.0 * SPB_120);
        blocks.push((Some(playing(p, 60.0)), 512));
    }
    let ev = run(&mut s, &blocks);
    assert!(!ev.iter().any(|e| matches!(e.1, ClockKind::SongPosition(_))));
    let c = clocks(&ev);
    // Tick 0 at 0; tick 1 at beat 1/24: 812 samples at 120 (0.0338 beat),
    // the remaining 0.00833 beat at 60 bpm (2000 samples a tick).
    let rest = (1.0 / 24.0 - pos) * 2.0 * SPB_120;
    assert_near(c[1], 812.0 + rest, 1e-6);
    for w in c[1..].windows(2) {
        assert_near(w[1] - w[0], 2000.0, 1e-6);
    }
}

#[test]
fn start_mid_song_sends_spp_then_continue_on_a_sixteenth() {
    let mut s = sched(ClockOptions::default());
    // Beat 2.1 = tick 50.4: first 16th at least a tick later is tick 54.
    let ev = run(&mut s, &steady(2.1, 120.0, 512, 20));
    assert_eq!(ev[0], (0.0, ClockKind::SongPosition(9)));
    let cont = (2.25 - 2.1) * SPB_120;
    assert_near(ev[1].0, cont, 1e-6);
    assert_eq!(ev[1].1, ClockKind::Continue);
    assert_near(ev[2].0, cont, 1e-6);
    assert_eq!(ev[2].1, ClockKind::Clock);
    assert!(!ev.iter().any(|e| e.1 == ClockKind::Start));
    for (i, t) in clocks(&ev).iter().enumerate() {
        assert_near(*t, cont + i as f64 * 1000.0, 1e-6);
    }
}

#[test]
fn start_on_a_boundary_keeps_one_tick_of_room() {
    let mut s = sched(ClockOptions::default());
    let ev = run(&mut s, &steady(1.0, 120.0, 512, 20));
    // Tick 24 is the jump point itself: Continue goes to tick 30 (5/16).
    assert_eq!(ev[0], (0.0, ClockKind::SongPosition(5)));
    assert_eq!(ev[1].1, ClockKind::Continue);
    assert_near(ev[1].0, 6000.0, 1e-6);
}

#[test]
fn count_in_before_song_start_starts_at_beat_zero() {
    let mut s = sched(ClockOptions::default());
    let ev = run(&mut s, &steady(-1.0, 120.0, 512, 60));
    assert_eq!(ev[0].1, ClockKind::Start);
    assert_near(ev[0].0, SPB_120, 1e-6);
    assert_eq!(ev[1], (ev[0].0, ClockKind::Clock));
}

/// A host looping `[ls, le)` at 120 bpm, reporting each block's start.
fn looping_host(ls: f64, le: f64, block: u32, n: u32) -> Vec<(Option<Transport>, u32)> {
    (0..n)
        .map(|i| {
            let mut pos = f64::from(i * block) / SPB_120;
            while pos >= le {
                pos -= le - ls;
            }
            let t = Transport {
                loop_beats: Some((ls, le)),
                ..playing(pos, 120.0)
            };
            (Some(t), block)
        })
        .collect()
}

#[test]
fn loop_sends_stop_and_spp_ahead_and_continues_on_the_loop_start() {
    for block in [512u32, 1000, 777] {
        let mut s = sched(ClockOptions::default());
        let ev = run(&mut s, &looping_host(0.0, 4.0, block, 250_000 / block));
        let spp = ev
            .iter()
            .position(|e| matches!(e.1, ClockKind::SongPosition(_)))
            .expect("an SPP");
        // Right after the last Clock of the loop (tick 95), at its time:
        // Stop, then the SPP (a slave takes it only while stopped).
        assert_eq!(ev[spp - 2], (95_000.0, ClockKind::Clock), "block {block}");
        assert_eq!(ev[spp - 1], (95_000.0, ClockKind::Stop), "block {block}");
        assert_eq!(ev[spp], (95_000.0, ClockKind::SongPosition(0)));
        assert_eq!(ev[spp + 1].1, ClockKind::Continue);
        assert_near(ev[spp + 1].0, 96_000.0, 1e-6);
        assert_eq!(ev[spp + 2].1, ClockKind::Clock);
        assert_near(ev[spp + 2].0, 96_000.0, 1e-6);
        // The clock never stops: every tick on the 1000-sample grid.
        for (n, t) in clocks(&ev).iter().enumerate() {
            assert_near(*t, n as f64 * 1000.0, 1e-6);
        }
        let spps = ev
            .iter()
            .filter(|e| matches!(e.1, ClockKind::SongPosition(_)))
            .count();
        assert_eq!(spps, 2, "one per wrap, block {block}");
    }
}

#[test]
fn locate_while_playing_stops_relocates_and_keeps_the_clock() {
    let mut s = sched(ClockOptions::default());
    let mut blocks = steady(0.0, 120.0, 512, 10);
    // Block 10 jumps to beat 10.5 (tick 252): Continue at tick 258.
    blocks.extend(steady(10.5, 120.0, 512, 20));
    let ev = run(&mut s, &blocks);
    let at = 5120.0;
    let i = ev.iter().position(|e| e.0 >= at).unwrap();
    assert_eq!(ev[i], (at, ClockKind::Stop));
    assert_eq!(ev[i + 1], (at, ClockKind::SongPosition(43)));
    let cont = ev.iter().position(|e| e.1 == ClockKind::Continue).unwrap();
    assert_near(ev[cont].0, at + 0.25 * SPB_120, 1e-6);
    assert_eq!(ev[cont + 1], (ev[cont].0, ClockKind::Clock));
    assert_eq!(ev.iter().filter(|e| e.1 == ClockKind::Stop).count(), 1);
    // The clock goes on between the SPP and Continue: ticks 252..257 on
    // the new grid, one tick apart.
    let held: Vec<_> = ev[i + 2..cont].iter().map(|e| e.1).collect();
    assert_eq!(held, [ClockKind::Clock; 6]);
    assert!(clocks(&ev).windows(2).all(|w| w[1] - w[0] <= 1000.0 + 1e-6));
}

#[test]
fn stop_at_the_hosts_stop_point() {
    let mut s = sched(ClockOptions::default());
    let mut blocks = steady(0.0, 120.0, 512, 10);
    let stopped = Transport {
        playing: false,
        ..playing(5120.0 / SPB_120, 120.0)
    };
    blocks.extend(std::iter::repeat_n((Some(stopped), 512), 10));
    let ev = run(&mut s, &blocks);
    let last = *ev.last().unwrap();
    assert_eq!(last, (5120.0, ClockKind::Stop));
    assert_eq!(ev.iter().filter(|e| e.1 == ClockKind::Stop).count(), 1);
    assert_eq!(clocks(&ev).len(), 6);
    assert!(!s.is_running());
}

#[test]
fn clock_while_stopped_keeps_the_phase_and_sends_no_start() {
    let opts = ClockOptions {
        clock_while_stopped: true,
        ..ClockOptions::default()
    };
    let mut s = sched(opts);
    let mut blocks = steady(0.0, 120.0, 512, 10);
    let stopped = Transport {
        playing: false,
        ..playing(5120.0 / SPB_120, 120.0)
    };
    blocks.extend(std::iter::repeat_n((Some(stopped), 512), 100));
    blocks.extend(std::iter::repeat_n((None, 512), 100));
    let ev = run(&mut s, &blocks);
    let c = clocks(&ev);
    assert_eq!(c.len(), 210 * 512 / 1000 + 1);
    for (n, t) in c.iter().enumerate() {
        assert_near(*t, n as f64 * 1000.0, 1e-6);
    }
    assert_eq!(ev.iter().filter(|e| e.1 == ClockKind::Start).count(), 1);
    assert_eq!(ev.iter().filter(|e| e.1 == ClockKind::Stop).count(), 1);
}

#[test]
fn no_transport_stops_and_then_resumes() {
    let mut s = sched(ClockOptions::default());
    // Never a transport: nothing, no panic.
    assert!(run(&mut s, &[(None, 512); 10]).is_empty());
    let mut blocks = steady(0.0, 120.0, 512, 10);
    blocks.extend([(None, 512); 5]);
    blocks.extend(steady(20.0, 120.0, 512, 20));
    let ev = run(&mut s, &blocks);
    assert_eq!(ev.iter().filter(|e| e.1 == ClockKind::Stop).count(), 1);
    let i = ev.iter().position(|e| e.1 == ClockKind::Stop).unwrap();
    assert_eq!(ev[i].0, 5120.0);
    // Resumes at beat 20 (tick 480): SPP, Continue at tick 486.
    assert_eq!(ev[i + 1], (15.0 * 512.0, ClockKind::SongPosition(81)));
    assert_eq!(ev[i + 2].1, ClockKind::Continue);
    assert_near(ev[i + 2].0, 15.0 * 512.0 + 6000.0, 1e-6);
}

#[test]
fn bad_tempo_position_and_loop_never_panic_and_clock_resumes() {
    let bad = [
        playing(1.0, 0.0),
        playing(1.0, -120.0),
        playing(1.0, f64::NAN),
        playing(1.0, f64::INFINITY),
        playing(f64::NAN, 120.0),
        playing(1e300, 120.0),
        playing(-1e300, 120.0),
        Transport {
            tempo_inc: f64::NAN,
            ..playing(1.0, 120.0)
        },
        Transport {
            tempo_inc: -1.0,
            ..playing(1.0, 120.0)
        },
        Transport {
            tempo_inc: 1e12,
            ..playing(1.0, 120.0)
        },
        Transport {
            loop_beats: Some((2.0, 2.0)),
            ..playing(1.0, 120.0)
        },
        Transport {
            loop_beats: Some((3.0, 2.0)),
            ..playing(1.0, 120.0)
        },
        Transport {
            loop_beats: Some((f64::NAN, 2.0)),
            ..playing(1.0, 120.0)
        },
        Transport {
            loop_beats: Some((0.0, 1e-9)),
            ..playing(0.0, 2000.0)
        },
    ];
    for b in bad {
        let mut s = sched(ClockOptions::default());
        let mut buf = [ClockEvent::default(); 8];
        let mut blocks = steady(0.0, 120.0, 512, 4);
        blocks.extend([(Some(b), 512), (Some(b), 4096)]);
        for (t, f) in &blocks {
            let r = s.process(t.as_ref(), *f, &mut buf);
            assert!(r.written <= buf.len());
            assert!(buf[..r.written].iter().all(|e| e.at.is_finite()));
        }
        // Back to a valid transport at beat 8: SPP + Continue, the clock
        // going on from the first tick (the slave was stopped and held).
        let ev = run(&mut s, &steady(8.0, 120.0, 512, 20));
        let spp = ev
            .iter()
            .position(|e| matches!(e.1, ClockKind::SongPosition(_)));
        let cont = ev.iter().position(|e| e.1 == ClockKind::Continue);
        assert!(spp.is_some() && cont > spp, "{b:?}: {ev:?}");
        assert_near(ev[cont.unwrap()].0, 6000.0, 1e-6);
        assert_eq!(clocks(&ev).len(), 20 * 512 / 1000 + 1, "{b:?}");
    }
}

#[test]
fn overflow_is_counted() {
    let mut s = sched(ClockOptions::default());
    let mut buf = [ClockEvent::default(); 2];
    let r = s.process(Some(&playing(0.0, 120.0)), 4096, &mut buf);
    // Start + 5 clocks, 2 fit.
    assert_eq!((r.written, r.dropped), (2, 4));
    assert_eq!(s.dropped_total(), 4);
}

#[test]
fn disabled_sends_nothing_and_disabling_stops_the_slave() {
    let off = ClockOptions {
        enabled: false,
        ..ClockOptions::default()
    };
    let mut s = sched(off);
    assert!(run(&mut s, &steady(0.0, 120.0, 512, 10)).is_empty());
    let mut s = sched(ClockOptions::default());
    run(&mut s, &steady(0.0, 120.0, 512, 10));
    s.set_options(off);
    assert_eq!(
        run(&mut s, &steady(5120.0 / SPB_120, 120.0, 512, 3)),
        [(0.0, ClockKind::Stop)]
    );
}

#[test]
fn offset_shifts_every_event() {
    let opts = ClockOptions {
        offset_samples: -12.5,
        ..ClockOptions::default()
    };
    let mut s = sched(opts);
    let ev = run(&mut s, &steady(0.0, 120.0, 512, 4));
    assert_eq!(ev[0], (-12.5, ClockKind::Start));
    assert_eq!(ev[2], (987.5, ClockKind::Clock));
}

#[test]
fn bytes() {
    assert_eq!(ClockKind::Clock.to_bytes(), ([0xF8, 0, 0], 1));
    assert_eq!(
        ClockKind::SongPosition(0x1234).to_bytes(),
        ([0xF2, 0x34, 0x24], 3)
    );
    assert_eq!(
        ClockKind::SongPosition(u16::MAX).to_bytes().0,
        [0xF2, 0x7F, 0x7F]
    );
    assert!(TickScheduler::new(0.0, ClockOptions::default()).is_none());
    assert!(TickScheduler::new(f64::NAN, ClockOptions::default()).is_none());
}

/// A song: tempo segments `(length, start bpm, end bpm)`, linear in samples.
#[derive(Clone, Debug)]
struct Song {
    segs: Vec<(u32, f64, f64)>,
}

impl Song {
    /// `(start, beat, tempo, inc)` per segment.
    fn table(&self) -> Vec<(f64, f64, f64, f64)> {
        let mut v = Vec::new();
        let (mut s, mut b) = (0.0, 0.0);
        for &(len, t0, t1) in &self.segs {
            let len = f64::from(len);
            let k = (t1 - t0) / len;
            v.push((s, b, t0, k));
            b += (t0 * len + 0.5 * k * len * len) / (60.0 * SR);
            s += len;
        }
        v
    }

    fn len(&self) -> u32 {
        self.segs.iter().map(|s| s.0).sum()
    }

    /// The host's transport at absolute sample `at`, with an optional loop
    /// (`None` positions are returned when the host would have wrapped:
    /// the song is then the loop's own repeat, not modelled here).
    fn transport(&self, at: f64, lp: Option<(f64, f64)>) -> Transport {
        let tab = self.table();
        let &(s, b, t0, k) = tab.iter().rev().find(|r| r.0 <= at).unwrap();
        let ds = at - s;
        Transport {
            playing: true,
            song_pos_beats: b + (t0 * ds + 0.5 * k * ds * ds) / (60.0 * SR),
            tempo_bpm: t0 + k * ds,
            tempo_inc: k,
            loop_beats: lp,
        }
    }

    /// Ground truth by bisection within each segment.
    fn tick_times(&self) -> Vec<f64> {
        let tab = self.table();
        let end = f64::from(self.len());
        let mut out = Vec::new();
        for (i, &(s, b, t0, k)) in tab.iter().enumerate() {
            let seg_end = tab.get(i + 1).map_or(end, |r| r.0);
            let mut n = (b * 24.0 - 1e-9).ceil();
            loop {
                let t = s + bisect_tick_from(t0, k, n / 24.0 - b);
                if t >= seg_end {
                    break;
                }
                out.push(t);
                n += 1.0;
            }
        }
        out
    }
}

fn bisect_tick_from(t0: f64, k: f64, db: f64) -> f64 {
    if db <= 0.0 {
        0.0
    } else {
        bisect_tick(t0, k, db)
    }
}

/// Cuts `[0, len)` at every tempo segment boundary (where a host sends a
/// transport event) plus `cuts`.
fn blocks_of(song: &Song, cuts: &[u32], lp: Option<(f64, f64)>) -> Vec<(Option<Transport>, u32)> {
    let mut points: Vec<u32> = song
        .segs
        .iter()
        .scan(0, |acc, s| {
            *acc += s.0;
            Some(*acc)
        })
        .collect();
    points.extend(cuts.iter().map(|c| c % song.len()));
    points.push(0);
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| (Some(song.transport(f64::from(w[0]), lp)), w[1] - w[0]))
        .collect()
}

fn song() -> impl Strategy<Value = Song> {
    prop::collection::vec((1_000u32..40_000, 30.0f64..300.0, 30.0f64..300.0), 1..6)
        .prop_map(|segs| Song { segs })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Tick N's time is the song's beat N/24, however the song is cut.
    #[test]
    fn tick_times_do_not_depend_on_block_cuts(
        song in song(),
        cuts_a in prop::collection::vec(any::<u32>(), 0..60),
        cuts_b in prop::collection::vec(any::<u32>(), 0..300),
    ) {
        let truth = song.tick_times();
        for cuts in [&cuts_a, &cuts_b] {
            let mut s = sched(ClockOptions::default());
            let ev = run(&mut s, &blocks_of(&song, cuts, None));
            prop_assert_eq!(ev[0].1, ClockKind::Start);
            let c = clocks(&ev);
            prop_assert_eq!(c.len(), truth.len());
            for (a, b) in c.iter().zip(&truth) {
                prop_assert!((a - b).abs() <= 1e-6, "{} vs {}", a, b);
            }
        }
    }

    /// Random junk transports: no panic, bounded, finite, ordered output.
    #[test]
    fn junk_transports_are_survived(
        blocks in prop::collection::vec(
            (any::<bool>(), prop::option::of((any::<f64>(), any::<f64>(), any::<f64>())),
             prop::option::of((any::<f64>(), any::<f64>())), 0u32..8192),
            1..50),
        cws in any::<bool>(),
    ) {
        let mut s = sched(ClockOptions { clock_while_stopped: cws, ..ClockOptions::default() });
        let mut buf = [ClockEvent::default(); 32];
        for (playing, t, lp, frames) in blocks {
            let tr = t.map(|(p, bpm, inc)| Transport {
                playing, song_pos_beats: p, tempo_bpm: bpm, tempo_inc: inc, loop_beats: lp,
            });
            let r = s.process(tr.as_ref(), frames, &mut buf);
            let ev = &buf[..r.written];
            prop_assert!(ev.iter().all(|e| e.at.is_finite()
                && e.at >= 0.0 && e.at <= f64::from(frames)));
            prop_assert!(ev.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }
}

#[test]
fn loop_output_does_not_depend_on_block_cuts() {
    let reference = {
        let mut s = sched(ClockOptions::default());
        run(&mut s, &looping_host(1.25, 3.5, 1000, 300))
    };
    for block in [64u32, 333, 512, 4096] {
        let mut s = sched(ClockOptions::default());
        let ev = run(&mut s, &looping_host(1.25, 3.5, block, 300_000 / block));
        let n = ev.iter().filter(|e| e.0 < 290_000.0).count();
        assert!(n > 100);
        for (a, b) in ev[..n].iter().zip(&reference) {
            assert_eq!(a.1, b.1, "block {block}");
            assert_near(a.0, b.0, 1e-6);
        }
    }
}

/// Found by `junk_transports_are_survived`: a huge `tempo_inc` pushed the
/// predicted position past `i64` ticks, and the stopped clock overflowed.
#[test]
fn huge_tempo_inc_then_stop_does_not_overflow() {
    let mut s = sched(ClockOptions {
        clock_while_stopped: true,
        ..ClockOptions::default()
    });
    let t = Transport {
        tempo_inc: 1.189e21,
        ..playing(0.0, 0.0215)
    };
    let mut buf = [ClockEvent::default(); 32];
    s.process(Some(&t), 44, &mut buf);
    s.process(None, 0, &mut buf);
    let r = s.process(None, 48_000, &mut buf);
    assert!(buf[..r.written].iter().all(|e| e.at.is_finite()));
}

/// Samples per tick at 120 bpm.
const TICK_120: f64 = SPB_120 / 24.0;

/// What two slaves make of the clock `ev` (120 bpm): a strict MIDI 1.0
/// slave (drops out after 3 ticks without a Clock) and PhasorSync's own
/// follower. Every Clock either plays must be the host's tick at its sample
/// (`host_tick`; the follower within one tick), no Clock may be two ticks or
/// more after the one before (a loop whose ends are off the tick grid has
/// one longer interval at the wrap, as the host's song has), and both must
/// be playing for most of the song and at its end.
fn assert_slaves_follow(ev: &[(f64, ClockKind)], host_tick: impl Fn(f64) -> i64) {
    let mut strict = StrictSlave::new(3.0 * TICK_120);
    let mut follower = Follower::new();
    let ns = |s: f64| 1_000_000_000 + (s * 1e9 / SR).round() as u64;
    let (mut clocks, mut strict_played, mut follower_played) = (0, 0, 0);
    for &(at, kind) in ev {
        let want = host_tick(at);
        if let Some(got) = strict.event(at, kind) {
            assert_eq!(
                got, want,
                "the strict slave plays tick {got} at sample {at}, the host is at {want}"
            );
            strict_played += 1;
        }
        let k = strict_slave::as_clock_message(kind);
        follower.event(ns(at), 0, k);
        if kind == ClockKind::Clock {
            clocks += 1;
            let st = follower.state(ns(at));
            if st.running {
                let got = st.song_pos_beats * 24.0;
                assert!(
                    (got - want as f64).abs() <= 1.0,
                    "the follower is at tick {got} at sample {at}, the host at {want}"
                );
                follower_played += 1;
            }
        }
    }
    let c = clocks_of(ev);
    for w in c.windows(2) {
        assert!(
            w[1] - w[0] < 2.0 * TICK_120,
            "no Clock from sample {} to {}: a slave drops out",
            w[0],
            w[1]
        );
    }
    assert_eq!(strict.dropouts, 0);
    assert!(strict.running(), "the strict slave stopped");
    assert!(
        follower.state(ns(c[c.len() - 1])).running,
        "the follower stopped"
    );
    assert!(
        strict_played * 10 >= clocks * 9,
        "{strict_played} of {clocks} clocks played"
    );
    assert!(
        follower_played * 10 >= clocks * 9,
        "{follower_played} of {clocks} clocks followed"
    );
}

fn clocks_of(ev: &[(f64, ClockKind)]) -> Vec<f64> {
    clocks(ev)
}

/// The tick of a looping host at sample `s` (its clocks are on exact ticks).
fn looped_tick(ls: f64, le: f64) -> impl Fn(f64) -> i64 {
    move |s| {
        let mut pos = s / SPB_120;
        while pos >= le - 1e-12 {
            pos -= le - ls;
        }
        (pos * 24.0).round() as i64
    }
}

#[test]
fn slaves_follow_a_loop_through_every_wrap() {
    for (ls, le) in [(4.0, 8.0), (1.3, 3.7)] {
        for block in [512u32, 1000, 777] {
            let mut s = sched(ClockOptions::default());
            // Six wraps and a bit.
            let samples = ((le + 6.5 * (le - ls)) * SPB_120) as u32;
            let ev = run(&mut s, &looping_host(ls, le, block, samples / block));
            let wraps = ev
                .iter()
                .filter(|e| matches!(e.1, ClockKind::SongPosition(_)))
                .count();
            assert!(wraps >= 6, "{wraps} relocations for six wraps");
            assert_slaves_follow(&ev, looped_tick(ls, le));
        }
    }
}

#[test]
fn slaves_follow_a_locate_while_playing() {
    for block in [512u32, 1000, 64] {
        let mut s = sched(ClockOptions::default());
        let n = 10 * 512 / block as usize;
        let jump = (n as u32 * block) as f64;
        let mut blocks = steady(0.0, 120.0, block, n);
        // The host jumps to beat 10.5 (tick 252) and plays on.
        blocks.extend(steady(10.5, 120.0, block, 100_000 / block as usize));
        let ev = run(&mut s, &blocks);
        assert!(ev.iter().any(|e| matches!(e.1, ClockKind::SongPosition(_))));
        assert_slaves_follow(&ev, |at| {
            if at < jump {
                (at / TICK_120).round() as i64
            } else {
                252 + ((at - jump) / TICK_120).round() as i64
            }
        });
    }
}
