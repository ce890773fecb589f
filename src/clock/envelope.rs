//! The filter: a straight line under the recent `(sample, call time)` points.
//!
//! Each `process()` call gives one point: `s` = the sample index just past the
//! block's last frame, `t` = the `CLOCK_MONOTONIC` time of the call. A call can
//! come late (scheduling, other plugins running first) but never before the
//! device has delivered the block, so every point lies on or above the line
//! `t = a + p·s` that the sound card draws in time, and the lowest points are
//! the ones that tell where it is. [`Envelope`] keeps the last [`WINDOW`]
//! points, builds their lower convex hull and takes the supporting line that
//! touches the hull below the window's mean sample index: the linear program
//! "minimise the summed gap between line and points, with the line below all
//! of them" (Moon, Skelly and Towsley, "Estimation and removal of clock skew
//! from network delay measurements", 1999). Its slope is clamped to
//! [`MAX_SKEW`] around the nominal rate, which also makes the first few
//! points (too close together to give a slope) use the nominal rate.
//!
//! Fixed-size arrays, integer cross products (exact), O([`WINDOW`]) per block.

/// Points kept: 512 calls (0.7 s of 64-frame blocks, 11 s of 1024-frame
/// blocks). The floor is found to about (call jitter) / (points), so more is
/// more accurate and costs linear time per block.
pub const WINDOW: usize = 512;

/// Largest accepted deviation of the fitted rate from the nominal one:
/// 1000 ppm covers crystal tolerance (±100 ppm typical) plus `CLOCK_MONOTONIC`
/// slewing by NTP (up to 500 ppm).
pub const MAX_SKEW: f64 = 1e-3;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Point {
    /// Sample index (end of a block) since the last reset.
    s: i64,
    /// Call time in ns since the anchor.
    t: i64,
}

/// A fitted line `t(s) = t_ref + ns_per_frame · (s − s_ref)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Sample index of the reference point.
    pub s_ref: i64,
    /// Time (ns since the anchor) of the reference point.
    pub t_ref: f64,
    /// Slope: ns of `CLOCK_MONOTONIC` per frame.
    pub ns_per_frame: f64,
}

impl Line {
    /// The line's time at sample index `s`.
    #[inline]
    pub fn at(&self, s: i64) -> f64 {
        self.t_ref + self.ns_per_frame * (s - self.s_ref) as f64
    }
}

/// Sliding-window lower envelope of call times; see the module docs.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Ring of points, oldest at `head`.
    points: [Point; WINDOW],
    head: usize,
    len: usize,
    /// Sum of `s` over the window (for the mean).
    sum_s: i128,
    /// Scratch: indices of lower-hull vertices, rebuilt on every push.
    hull: [Point; WINDOW],
    hull_len: usize,
    nominal_ns_per_frame: f64,
}

impl Envelope {
    /// An empty envelope for a nominal slope in ns per frame.
    pub fn new(nominal_ns_per_frame: f64) -> Self {
        Self {
            points: [Point::default(); WINDOW],
            head: 0,
            len: 0,
            sum_s: 0,
            hull: [Point::default(); WINDOW],
            hull_len: 0,
            nominal_ns_per_frame,
        }
    }

    /// Forgets all points.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.sum_s = 0;
        self.hull_len = 0;
    }

    /// Number of points held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no point is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a point; `s` must be larger than the previous point's (the caller
    /// only pushes blocks with frames > 0; an equal or smaller `s` is ignored).
    pub fn push(&mut self, s: i64, t: i64) {
        if self.len > 0 {
            let last = self.points[(self.head + self.len - 1) % WINDOW];
            if s <= last.s {
                return;
            }
        }
        if self.len == WINDOW {
            self.sum_s -= i128::from(self.points[self.head].s);
            self.head = (self.head + 1) % WINDOW;
            self.len -= 1;
        }
        self.points[(self.head + self.len) % WINDOW] = Point { s, t };
        self.len += 1;
        self.sum_s += i128::from(s);
        self.rebuild_hull();
    }

    /// Monotone chain over the points (already sorted by `s`): keep a vertex
    /// only while the slopes keep increasing.
    fn rebuild_hull(&mut self) {
        let mut n = 0;
        for i in 0..self.len {
            let c = self.points[(self.head + i) % WINDOW];
            while n >= 2 && !turns_up(self.hull[n - 2], self.hull[n - 1], c) {
                n -= 1;
            }
            self.hull[n] = c;
            n += 1;
        }
        self.hull_len = n;
    }

    /// The supporting line; `None` when empty.
    pub fn line(&self) -> Option<Line> {
        let h = &self.hull[..self.hull_len];
        let first = *h.first()?;
        let nominal = self.nominal_ns_per_frame;
        let (lo, hi) = (nominal * (1.0 - MAX_SKEW), nominal * (1.0 + MAX_SKEW));
        // The edge whose span contains the mean s (n·s̄ compared in integers).
        let n = self.len as i128;
        let mut slope = nominal;
        let mut support = first;
        for w in h.windows(2) {
            if i128::from(w[1].s) * n >= self.sum_s {
                slope = (w[1].t - w[0].t) as f64 / (w[1].s - w[0].s) as f64;
                support = w[0];
                break;
            }
        }
        if !(lo..=hi).contains(&slope) {
            // Clamped: the supporting line of that slope touches the vertex
            // with the smallest t - slope·s.
            slope = slope.clamp(lo, hi);
            let s0 = first.s;
            let key = |p: &Point| p.t as f64 - slope * (p.s - s0) as f64;
            support = h
                .iter()
                .copied()
                .min_by(|a, b| key(a).total_cmp(&key(b)))
                .unwrap_or(first);
        }
        Some(Line {
            s_ref: support.s,
            t_ref: support.t as f64,
            ns_per_frame: slope,
        })
    }

    /// The time span covered by the points, in frames.
    pub fn span_frames(&self) -> i64 {
        if self.len < 2 {
            return 0;
        }
        let first = self.points[self.head];
        let last = self.points[(self.head + self.len - 1) % WINDOW];
        last.s - first.s
    }
}

/// Whether `a → b → c` bends upwards (slope(a,b) < slope(b,c)), exactly.
#[inline]
fn turns_up(a: Point, b: Point, c: Point) -> bool {
    let l = i128::from(b.t - a.t) * i128::from(c.s - b.s);
    let r = i128::from(c.t - b.t) * i128::from(b.s - a.s);
    l < r
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: f64 = 1e9 / 48_000.0;

    #[test]
    fn single_point_uses_nominal_slope() {
        let mut e = Envelope::new(P);
        assert!(e.line().is_none());
        e.push(256, 1_000);
        let l = e.line().unwrap();
        assert_eq!(l.ns_per_frame, P);
        assert_eq!(l.at(256), 1_000.0);
    }

    #[test]
    fn finds_the_floor_under_late_points() {
        let mut e = Envelope::new(P);
        let slope = P * (1.0 + 150e-6);
        // Floor points every 7th block, others late by up to 3000 ns.
        for k in 1..=400i64 {
            let s = k * 256;
            let late = if k % 7 == 0 {
                0
            } else {
                300 + (k * 7919) % 3000
            };
            e.push(s, (slope * s as f64) as i64 + late);
        }
        let l = e.line().unwrap();
        assert!(
            (l.ns_per_frame / slope - 1.0).abs() < 1e-6,
            "{}",
            l.ns_per_frame
        );
        let s = 400 * 256;
        assert!((l.at(s) - slope * s as f64).abs() < 2.0);
    }

    #[test]
    fn slope_is_clamped() {
        let mut e = Envelope::new(P);
        e.push(100, 0);
        e.push(200, (200.0 * P * 1.5) as i64);
        let l = e.line().unwrap();
        assert!((l.ns_per_frame / P - 1.0 - MAX_SKEW).abs() < 1e-12);
        // The line stays under both points.
        assert!(l.at(100) <= 0.0 + 1e-6);
        assert!(l.at(200) <= 200.0 * P * 1.5);
    }

    #[test]
    fn window_slides() {
        let mut e = Envelope::new(P);
        for k in 1..=(WINDOW as i64 + 10) {
            e.push(k * 64, (k as f64 * 64.0 * P) as i64);
        }
        assert_eq!(e.len(), WINDOW);
        assert_eq!(e.span_frames(), (WINDOW as i64 - 1) * 64);
        // Non-increasing s is ignored.
        e.push(64, 0);
        assert_eq!(e.len(), WINDOW);
    }
}
