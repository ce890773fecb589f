//! Why the clock map fits a lower envelope instead of running a DLL: both on
//! the same simulated call times, side by side.
//!
//! The baseline is the second-order DLL of Fons Adriaensen's "Using a DLL to
//! filter time" (as in JACK and PipeWire): `e = t − t1; t0 = t1;
//! t1 += b·e + e2; e2 += c·e` with `ω = 2π·B·period`, `b = √2·ω`, `c = ω²`,
//! at JACK's bandwidth B = 1/8 Hz and at PipeWire's minimum 0.016 Hz. What
//! matters for placement is how much the filtered block time moves around the
//! card's true timeline (a constant offset is only latency), so the figure is
//! the spread (max − min, and p99 − p1) of `filtered time − card time of the
//! block end`, in samples, after both have settled.
//!
//! `cargo test --release --test logic -- clock_map_vs_dll:: --nocapture` prints it.

use phasorsync::timeline::Timeline;

const RATE: f64 = 48_000.0;

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Dll {
    t0: f64,
    t1: f64,
    e2: f64,
    b: f64,
    c: f64,
    started: bool,
}

impl Dll {
    fn new(bandwidth_hz: f64, period: u32) -> Self {
        let omega = 2.0 * std::f64::consts::PI * bandwidth_hz * f64::from(period) / RATE;
        Dll {
            t0: 0.0,
            t1: 0.0,
            e2: 0.0,
            b: std::f64::consts::SQRT_2 * omega,
            c: omega * omega,
            started: false,
        }
    }
    /// Filtered time of this call.
    fn update(&mut self, now: f64, period_ns: f64) -> f64 {
        if !self.started {
            self.started = true;
            self.t0 = now;
            self.e2 = period_ns;
            self.t1 = now + period_ns;
        } else {
            let e = now - self.t1;
            self.t0 = self.t1;
            self.t1 += self.b * e + self.e2;
            self.e2 += self.c * e;
        }
        self.t0
    }
}

/// Spread of an error series in samples: (max − min, p99 − p1).
fn spread(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
    (q(1.0) - q(0.0), q(0.99) - q(0.01))
}

/// Runs `seconds` of calls; returns the spreads (envelope, DLL 1/8 Hz, DLL
/// 0.016 Hz) over the second half.
fn compare(period: u32, jitter_frac: f64, drift_ppm: f64, seconds: f64) -> [(f64, f64); 3] {
    let card_rate = RATE * (1.0 + drift_ppm * 1e-6);
    let period_ns = f64::from(period) * 1e9 / RATE;
    let mut rng = Rng(0x1234_5678_9ABC_DEF1 ^ u64::from(period));
    let mut map = Timeline::new(RATE, period);
    let mut dlls = [Dll::new(0.125, period), Dll::new(0.016, period)];
    let mut errs: [Vec<f64>; 3] = Default::default();
    let blocks = (seconds * card_rate / f64::from(period)) as u64;
    for k in 0..blocks {
        let end = (k + 1) * u64::from(period);
        let card_ns = 1e12 + end as f64 * 1e9 / card_rate;
        let mut call = card_ns + 40_000.0 + rng.unit() * jitter_frac * period_ns;
        if rng.unit() < 0.01 {
            call += rng.unit() * 0.6 * period_ns;
        }
        let call = call.round();
        // The envelope's reference time is the call time of a full period
        // starting at the block's first frame: the card time of its end.
        let bm = map.begin_block(call as u64, period, None);
        let fil = [
            bm.call_time_ns() as f64,
            dlls[0].update(call, period_ns),
            dlls[1].update(call, period_ns),
        ];
        if k >= blocks / 2 {
            for (e, f) in errs.iter_mut().zip(fil) {
                e.push((f - card_ns) * card_rate / 1e9);
            }
        }
    }
    assert_eq!(map.stats().discontinuities(), 0);
    errs.map(spread)
}

#[test]
fn envelope_rejects_call_jitter_better_than_a_dll() {
    println!(
        "spread of the filtered block time (samples): max-min / p99-p1, second half of the run"
    );
    println!("period jitter   seconds   envelope        DLL 1/8 Hz      DLL 0.016 Hz");
    for (period, jitter, seconds) in [
        (64u32, 0.3, 20.0),
        (256, 0.3, 60.0),
        (1024, 0.3, 150.0),
        (256, 0.05, 60.0),
    ] {
        let [env, jack, pw] = compare(period, jitter, 150.0, seconds);
        println!(
            "{period:6} {:5.0} % {seconds:6.0}   {:6.2} / {:5.2}   {:6.2} / {:5.2}   {:6.2} / {:5.2}",
            jitter * 100.0,
            env.0,
            env.1,
            jack.0,
            jack.1,
            pw.0,
            pw.1
        );
        // The claim the design rests on: the envelope moves less than either
        // DLL, by a wide margin.
        assert!(
            env.0 * 2.0 < jack.0,
            "{period}: envelope {env:?} vs DLL {jack:?}"
        );
        assert!(env.0 < pw.0, "{period}: envelope {env:?} vs DLL {pw:?}");
    }
}
