//! The phasor (src/midi_clock/phasor.rs), as a pure part: host mode against an
//! independent model of the host's song position over random block sizes,
//! sample rates, tempo steps and ramps (value at each block start, every
//! sample, and the sample of every wrap); external mode's slew limit and
//! jumps; range and finiteness under garbage.

use phasorsync::midi_clock::follower::{ClockMessage, Follower};
use phasorsync::midi_clock::phasor::{
    BeatSource, Period, Phasor, SampleClock, Setup, Source, MAX_SLEW, PERIODS, TICK_BEATS,
};
use phasorsync::midi_clock::ticks::Transport;
use phasorsync::midi_clock::transport::{HostTransport, Stretch};
use proptest::prelude::*;

/// A sound card at exactly `rate` Hz whose block starts at `base_ns`.
#[derive(Clone, Copy)]
struct Card {
    base_ns: u64,
    rate: f64,
}

impl SampleClock for Card {
    fn time_of(&self, offset: u32) -> u64 {
        self.base_ns + (f64::from(offset) * 1e9 / self.rate).round() as u64
    }
    fn rate_hz(&self) -> f64 {
        self.rate
    }
}

/// The phasor's period in beats for a bar length.
fn period_beats(period: Period, beats_per_bar: f64) -> f64 {
    match period {
        Period::Beats(b) => b,
        Period::Bars(n) => f64::from(n) * beats_per_bar,
    }
}

/// Distance between two phases on the circle.
fn circ(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(1.0);
    d.min(1.0 - d)
}

/// One transport segment of the host's song: from `len` samples on, the
/// tempo ramps by `inc` BPM per sample (a step of `step` BPM first).
#[derive(Clone, Debug)]
struct Segment {
    len: u32,
    step: f64,
    inc: f64,
}

fn segments() -> impl Strategy<Value = Vec<Segment>> {
    prop::collection::vec(
        (
            1u32..3000,
            prop_oneof![Just(0.0), -30.0..30.0f64],
            prop_oneof![Just(0.0), -2e-3..2e-3f64],
        )
            .prop_map(|(len, step, inc)| Segment { len, step, inc }),
        1..12,
    )
}

/// The host's song, sample by sample: beat(s) within a segment is
/// `b0 + (T0·j + inc·j²/2) / (60·R)`, the CLAP meaning of tempo and
/// tempo_inc. Returns every sample's beat and the transport at each segment
/// start (its sample and what the host says there).
fn song(
    b0: f64,
    t0: f64,
    rate: f64,
    bar: f64,
    segs: &[Segment],
) -> (Vec<f64>, Vec<(u32, HostTransport)>) {
    let mut beats = Vec::new();
    let mut at = Vec::new();
    let (mut b, mut t) = (b0, t0);
    for seg in segs {
        t = (t + seg.step).clamp(20.0, 400.0);
        // Keep the tempo in range over the segment.
        let end_t = t + seg.inc * f64::from(seg.len);
        let inc = if (20.0..=400.0).contains(&end_t) {
            seg.inc
        } else {
            0.0
        };
        at.push((
            beats.len() as u32,
            HostTransport {
                song: Transport {
                    playing: true,
                    song_pos_beats: b,
                    tempo_bpm: t,
                    tempo_inc: inc,
                    loop_beats: None,
                },
                bar_start_beats: (b / bar).floor() * bar,
                beats_per_bar: bar,
            },
        ));
        for j in 0..seg.len {
            let j = f64::from(j);
            beats.push(b + (t * j + inc * j * j / 2.0) / (60.0 * rate));
        }
        let n = f64::from(seg.len);
        b += (t * n + inc * n * n / 2.0) / (60.0 * rate);
        t += inc * n;
    }
    (beats, at)
}

/// Render `total` samples in blocks of `sizes` (cycled), each block's
/// stretches cut from the host's transport changes `at`; returns the values
/// and each block's start.
fn render_host(
    phasor: &mut Phasor,
    setup: Setup,
    at: &[(u32, HostTransport)],
    total: usize,
    sizes: &[u32],
    rate: f64,
) -> (Vec<f64>, Vec<usize>) {
    let mut out = vec![f64::NAN; total];
    let mut starts = Vec::new();
    let mut pos = 0usize;
    let mut k = 0;
    while pos < total {
        let frames = (sizes[k % sizes.len()] as usize).min(total - pos) as u32;
        k += 1;
        starts.push(pos);
        // The transport in force at the block start, then each change inside.
        let first = at
            .iter()
            .rev()
            .find(|(s, _)| *s as usize <= pos)
            .map(|(_, t)| *t);
        let mut cuts = vec![(0u32, first)];
        for (s, t) in at {
            let s = *s as usize;
            if s > pos && s < pos + frames as usize {
                cuts.push(((s - pos) as u32, Some(*t)));
            }
        }
        // As the block's transport, the host gives the song at the block
        // start: the segment's transport moved on to `pos`.
        if let Some(Some(t)) = cuts.first().map(|c| c.1) {
            let seg_start = at.iter().rev().find(|(s, _)| *s as usize <= pos).unwrap().0;
            let j = (pos - seg_start as usize) as f64;
            let mut moved = t;
            let r = 60.0 * rate;
            moved.song.song_pos_beats +=
                (t.song.tempo_bpm * j + t.song.tempo_inc * j * j / 2.0) / r;
            moved.song.tempo_bpm += t.song.tempo_inc * j;
            moved.bar_start_beats =
                (moved.song.song_pos_beats / t.beats_per_bar).floor() * t.beats_per_bar;
            cuts[0].1 = Some(moved);
        }
        let stretches: Vec<Stretch> = cuts
            .iter()
            .enumerate()
            .map(|(i, (s, t))| Stretch {
                start: *s,
                end: cuts.get(i + 1).map_or(frames, |c| c.0),
                transport: *t,
            })
            .collect();
        let card = Card {
            base_ns: 0,
            rate: 48_000.0,
        };
        let mut run = phasor.block(setup, stretches.into_iter(), card);
        run.render_to(frames, &(), &mut out[pos..pos + frames as usize]);
        pos += frames as usize;
    }
    (out, starts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Host mode: every sample is the song position's phase; at every block
    /// start within 1e-6 beat; each wrap on the sample where the beat
    /// crosses a period boundary.
    #[test]
    fn host_mode_follows_the_song_to_the_sample(
        rate in prop_oneof![Just(44_100.0), Just(48_000.0), Just(96_000.0), 8_000.0..192_000.0f64],
        period in 0usize..PERIODS.len(),
        bar in prop_oneof![Just(4.0), Just(3.0), Just(2.0), Just(3.5), Just(6.0)],
        b0 in -8.0..2000.0f64,
        t0 in 20.0..300.0f64,
        segs in segments(),
        sizes in prop::collection::vec(1u32..2049, 1..8),
    ) {
        let (beats, at) = song(b0, t0, rate, bar, &segs);
        let setup = Setup { period: PERIODS[period], source: Source::Host };
        let mut phasor = Phasor::new(rate);
        let (out, starts) = render_host(&mut phasor, setup, &at, beats.len(), &sizes, rate);
        let p = period_beats(PERIODS[period], bar);
        let want = |s: usize| (beats[s] / p).rem_euclid(1.0);
        for &s in &starts {
            prop_assert!(circ(out[s], want(s)) * p < 1e-6,
                "block start {s}: {} vs {} ({} beats)", out[s], want(s), beats[s]);
        }
        for s in 0..beats.len() {
            prop_assert!((0.0..1.0).contains(&out[s]), "{s}: {}", out[s]);
            prop_assert!(circ(out[s], want(s)) < 1e-9, "{s}: {} vs {}", out[s], want(s));
            if s == 0 {
                continue;
            }
            let (x0, x1) = (beats[s - 1] / p, beats[s] / p);
            // Ambiguous within rounding of a boundary: not judged.
            let near = |x: f64| (x - x.round()).abs() < 1e-9;
            if near(x0) || near(x1) {
                continue;
            }
            let crossed = x1.floor() != x0.floor();
            let wrapped = out[s] < out[s - 1];
            prop_assert_eq!(crossed, wrapped, "sample {}: {} -> {} ({} -> {})",
                s, out[s - 1], out[s], x0, x1);
        }
    }

    /// External mode, clock offset by less than a tick now and then: no
    /// jump, and the output's rate never departs from the tempo by more
    /// than 0.5 %; the error shrinks.
    #[test]
    fn external_mode_slews_at_most_half_a_percent(
        rate in prop_oneof![Just(44_100.0), Just(48_000.0), 8_000.0..48_000.0f64],
        tempo in 60.0..240.0f64,
        offsets in prop::collection::vec(-0.45..0.45f64, 1..4),
        sizes in prop::collection::vec(16u32..1024, 1..6),
    ) {
        let setup = Setup { period: Period::Bars(4), source: Source::External };
        let mut line = Line { origin_ns: 1_000_000_000, beat0: 3.0, tempo, offset: 0.0 };
        let mut phasor = Phasor::new(rate);
        let mut base = 1_000_000_000u64;
        let mut prev: Option<f64> = None;
        let nominal = tempo / 60.0 / rate / 16.0; // periods per sample
        // Offsets every 1.5 s, then time to correct the last one at the
        // 0.5 % limit (a tick takes 500/tempo s), plus 8 time constants.
        let settle = 500.0 / tempo + 8.0 * 0.25;
        let total = (rate * (1.5 * (offsets.len() + 1) as f64 + settle)) as usize;
        let mut pos = 0usize;
        let mut k = 0;
        let mut err = 0.0;
        while pos < total {
            let frames = sizes[k % sizes.len()].min((total - pos) as u32);
            // Every 1.5 s the clock's phase moves by part of a tick.
            let sec = pos as f64 / rate;
            let i = ((sec / 1.5) as usize).min(offsets.len());
            line.offset = if i == 0 { 0.0 } else { offsets[i - 1] * TICK_BEATS };
            k += 1;
            let card = Card { base_ns: base, rate };
            let mut out = vec![0.0f64; frames as usize];
            let mut run = phasor.block(setup, std::iter::once(Stretch { start: 0, end: frames, transport: None }), card);
            run.render_to(frames, &line, &mut out[..]);
            for (j, &v) in out.iter().enumerate() {
                prop_assert!((0.0..1.0).contains(&v));
                if let Some(p) = prev {
                    let step = (v - p).rem_euclid(1.0);
                    prop_assert!((step / nominal - 1.0).abs() <= MAX_SLEW + 1e-6,
                        "rate {} at sample {}", step / nominal, pos + j);
                }
                prev = Some(v);
            }
            let last = card.time_of(frames - 1);
            err = circ(out[frames as usize - 1], line.beat_at(last).unwrap() / 16.0) * 16.0;
            base = card.time_of(frames);
            pos += frames as usize;
        }
        prop_assert_eq!(phasor.jumps(), 1, "jumped on a sub-tick offset");
        // After the settling time, nearly gone.
        prop_assert!(err < 0.01 * TICK_BEATS, "error {} beats left", err);
    }
}

/// An external clock running on a straight line.
struct Line {
    origin_ns: u64,
    beat0: f64,
    tempo: f64,
    offset: f64,
}

impl BeatSource for Line {
    fn beat_at(&self, t: u64) -> Option<f64> {
        let dt = (t as f64 - self.origin_ns as f64) / 1e9;
        Some(self.beat0 + self.offset + dt * self.tempo / 60.0)
    }
    fn tempo_bpm(&self) -> Option<f64> {
        Some(self.tempo)
    }
}

/// A clock that runs only from `start_ns` (beat `beat0` there).
struct Started {
    line: Line,
    start_ns: u64,
}

impl BeatSource for Started {
    fn beat_at(&self, t: u64) -> Option<f64> {
        (t >= self.start_ns).then(|| self.line.beat_at(t)).flatten()
    }
    fn tempo_bpm(&self) -> Option<f64> {
        Some(self.line.tempo)
    }
}

fn one_block<B: BeatSource>(
    phasor: &mut Phasor,
    setup: Setup,
    card: Card,
    frames: u32,
    beats: &B,
) -> Vec<f64> {
    let mut out = vec![0.0; frames as usize];
    let s = Stretch {
        start: 0,
        end: frames,
        transport: None,
    };
    phasor
        .block(setup, std::iter::once(s), card)
        .render_to(frames, beats, &mut out[..]);
    out
}

#[test]
fn external_mode_jumps_over_a_tick_and_on_start() {
    let rate = 48_000.0;
    let setup = Setup {
        period: Period::Beats(1.0),
        source: Source::External,
    };
    let mut phasor = Phasor::new(rate);
    // Not running: holds 0.
    let clock = Started {
        line: Line {
            origin_ns: 0,
            beat0: 0.0,
            tempo: 120.0,
            offset: 0.0,
        },
        start_ns: 10_000_000,
    };
    let card = Card { base_ns: 0, rate };
    let out = one_block(&mut phasor, setup, card, 256, &clock);
    assert!(out.iter().all(|&v| v == 0.0));
    assert_eq!(phasor.jumps(), 0);
    // Running from 10 ms: the first chunk that starts after it snaps to the
    // clock (exactly its beat), then runs at its tempo.
    let mut t = 256.0 * 1e9 / rate;
    let mut v = Vec::new();
    for _ in 0..4 {
        let card = Card {
            base_ns: t as u64,
            rate,
        };
        v.extend(one_block(&mut phasor, setup, card, 256, &clock));
        t += 256.0 * 1e9 / rate;
    }
    assert_eq!(phasor.jumps(), 1);
    // Block 1 starts at 5.3 ms (before the start: held), block 2 at 10.7 ms.
    assert!(v[..256].iter().all(|&x| x == 0.0));
    let want = clock.beat_at((512.0 * 1e9 / rate) as u64).unwrap();
    assert!(want > 0.0);
    assert!((v[256] - want).abs() < 1e-6, "{} vs {want}", v[256]);

    // The clock moves 1.5 ticks: a jump straight to it.
    let moved = Line {
        offset: 1.5 * TICK_BEATS,
        ..clock.line
    };
    let card = Card {
        base_ns: t as u64,
        rate,
    };
    let out = one_block(&mut phasor, setup, card, 256, &moved);
    assert_eq!(phasor.jumps(), 2);
    let want = moved.beat_at(card.time_of(0)).unwrap().rem_euclid(1.0);
    assert!(circ(out[0], want) < 1e-9, "{} vs {want}", out[0]);
}

#[test]
fn auto_follows_the_external_clock_while_it_runs_else_the_host() {
    let rate = 48_000.0;
    let setup = Setup {
        period: Period::Beats(1.0),
        source: Source::Auto,
    };
    let host = HostTransport {
        song: Transport {
            playing: true,
            song_pos_beats: 0.25,
            tempo_bpm: 120.0,
            tempo_inc: 0.0,
            loop_beats: None,
        },
        bar_start_beats: 0.0,
        beats_per_bar: 4.0,
    };
    let s = Stretch {
        start: 0,
        end: 64,
        transport: Some(host),
    };
    let card = Card { base_ns: 0, rate };
    let mut out = [0.0f64; 64];
    let mut phasor = Phasor::new(rate);
    phasor
        .block(setup, std::iter::once(s), card)
        .render_to(64, &(), &mut out[..]);
    assert_eq!(out[0], 0.25, "no external clock: the host");
    let clock = Line {
        origin_ns: 0,
        beat0: 0.5,
        tempo: 100.0,
        offset: 0.0,
    };
    phasor
        .block(setup, std::iter::once(s), card)
        .render_to(64, &clock, &mut out[..]);
    assert_eq!(out[0], 0.5, "external clock running: followed");
}

/// A real follower fed garbage, and garbage transports: every value is
/// finite and in [0, 1), in f32 and f64 buffers, in every mode.
#[test]
fn garbage_in_gives_values_in_range() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pick = |r: u64| -> f64 {
        const G: [f64; 10] = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            -120.0,
            1e300,
            -1e300,
            1e-300,
            5e18,
        ];
        if r % 3 == 0 {
            G[(r / 3 % 10) as usize]
        } else {
            (r % 100_000) as f64 / 7.0 - 100.0
        }
    };
    let mut follower = Follower::new();
    let mut t = 1_000_000_000u64;
    for round in 0..2000u64 {
        for _ in 0..(next() % 5) {
            t += next() % 40_000_000;
            let kind = match next() % 6 {
                0 => ClockMessage::Start,
                1 => ClockMessage::Stop,
                2 => ClockMessage::Continue,
                3 => ClockMessage::SongPosition(next() as u16),
                _ => ClockMessage::Clock,
            };
            follower.event(t, (next() % 2) as u16, kind);
        }
        let host = HostTransport {
            song: Transport {
                playing: next() % 4 != 0,
                song_pos_beats: pick(next()),
                tempo_bpm: pick(next()),
                tempo_inc: pick(next()) * 1e-3,
                loop_beats: None,
            },
            bar_start_beats: pick(next()),
            beats_per_bar: pick(next()),
        };
        let frames = (next() % 300) as u32 + 1;
        let cut = (next() % u64::from(frames)) as u32;
        let stretches = [
            Stretch {
                start: 0,
                end: cut.max(1).min(frames),
                transport: (next() % 5 != 0).then_some(host),
            },
            Stretch {
                start: cut.max(1).min(frames),
                end: frames,
                transport: Some(host),
            },
        ];
        let setup = Setup::from_params(pick(next()), (round % 3) as f64);
        let card = Card {
            base_ns: t.saturating_sub(next() % 50_000_000),
            rate: 48_000.0,
        };
        let mut phasor = Phasor::new(pick(next()));
        let mut f32s = vec![0f32; frames as usize];
        let mut f64s = vec![0f64; frames as usize];
        let mut run = phasor.block(
            setup,
            stretches.into_iter().filter(|s| s.start < s.end),
            card,
        );
        run.render_to(frames / 2, &follower, &mut f32s[..]);
        run.render_to(frames, &follower, &mut f32s[..]);
        let mut run = phasor.block(
            setup,
            stretches.into_iter().filter(|s| s.start < s.end),
            card,
        );
        run.render_to(frames, &follower, &mut f64s[..]);
        for v in f32s {
            assert!(v.is_finite() && (0.0..1.0).contains(&v), "{v}");
        }
        for v in f64s {
            assert!(v.is_finite() && (0.0..1.0).contains(&v), "{v}");
        }
    }
}
