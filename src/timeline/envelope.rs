//! The filter: a straight line under the recent `(sample, call time)` points.
//!
//! Each `process()` call gives one point: `s` = the sample index just past the
//! block's last frame, `t` = the `CLOCK_MONOTONIC` time of the call. A call can
//! come late (scheduling, other plugins running first) but never before the
//! device has delivered the block, so every point lies on or above the line
//! `t = a + p·s` that the sound card draws in time, and the lowest points are
//! the ones that tell where it is. [`Envelope`] builds the lower convex hull of
//! the recent points and takes the supporting line that touches the hull below
//! the window's mean sample index: the linear program "minimise the summed gap
//! between line and points, with the line below all of them" (Moon, Skelly and
//! Towsley, "Estimation and removal of clock skew from network delay
//! measurements", 1999). Its slope is clamped to [`MAX_SKEW`] around the
//! nominal rate, which also gives the first few points (too close together to
//! give a slope) the nominal rate.
//!
//! The window slides without deleting from a hull: two append-only hulls
//! (Andrew's monotone chain) are staggered by half a window and the older one
//! is fitted; when it is full the younger takes over. A push is amortised
//! O(1), a fit O(hull vertices) (a handful to a few dozen), cross products
//! are exact in `i128`, and the two hull stacks are allocated once in
//! [`Envelope::new`].

/// Most calls a fit looks at. The fit uses the calls since the older of two
/// staggered windows started, between `WINDOW / 2` and `WINDOW` of them: 2048
/// to 4096 calls, 2.7 to 5.5 s of 64-frame blocks, 44 to 87 s of 1024-frame
/// blocks. The floor is found to about (call jitter) / (points), so a long
/// window is accurate; it still follows drift, which the slope fits, and
/// changes of drift, which are slow (temperature) or small (NTP).
pub const WINDOW: usize = 4096;

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

/// The lower hull of the points pushed since it was cleared: Andrew's
/// monotone chain, append-only (points come sorted by `s`), so a push is
/// amortised O(1) and a point that falls off the hull is never needed again.
#[derive(Clone, Debug)]
struct Chain {
    hull: Box<[Point]>,
    hull_len: usize,
    /// Points pushed.
    count: usize,
    /// Sum of their `s` (for the mean).
    sum_s: i128,
    first: Point,
    last: Point,
}

impl Chain {
    fn new() -> Self {
        Self {
            hull: vec![Point::default(); WINDOW].into_boxed_slice(),
            hull_len: 0,
            count: 0,
            sum_s: 0,
            first: Point::default(),
            last: Point::default(),
        }
    }

    fn clear(&mut self) {
        self.hull_len = 0;
        self.count = 0;
        self.sum_s = 0;
    }

    fn push(&mut self, c: Point) {
        // The envelope swaps chains before either holds WINDOW points, so
        // the stack (at most one vertex per point) cannot overflow; the
        // guard only keeps a broken invariant from panicking.
        if self.count >= self.hull.len() {
            return;
        }
        let h = &mut self.hull;
        let mut n = self.hull_len;
        while n >= 2 && !turns_up(h[n - 2], h[n - 1], c) {
            n -= 1;
        }
        h[n] = c;
        self.hull_len = n + 1;
        if self.count == 0 {
            self.first = c;
        }
        self.last = c;
        self.count += 1;
        self.sum_s += i128::from(c.s);
    }

    fn vertices(&self) -> &[Point] {
        &self.hull[..self.hull_len]
    }
}

/// Sliding-window lower envelope of call times; see the module docs.
///
/// Two staggered chains: `old` holds the last `WINDOW / 2..WINDOW` points and
/// is the one fitted; `young` starts when `old` is half full and replaces it
/// when `old` is full. This slides the window without ever deleting a point
/// from a hull.
#[derive(Clone, Debug)]
pub struct Envelope {
    old: Chain,
    young: Chain,
    nominal_ns_per_frame: f64,
}

impl Envelope {
    /// An empty envelope for a nominal slope in ns per frame. Allocates its
    /// two hull stacks (2 × 64 KiB): build it off the audio thread.
    pub fn new(nominal_ns_per_frame: f64) -> Self {
        Self {
            old: Chain::new(),
            young: Chain::new(),
            nominal_ns_per_frame,
        }
    }

    /// Forgets all points.
    pub fn clear(&mut self) {
        self.old.clear();
        self.young.clear();
    }

    /// Number of points in the fitted window.
    pub fn len(&self) -> usize {
        self.old.count
    }

    /// Whether no point is held.
    pub fn is_empty(&self) -> bool {
        self.old.count == 0
    }

    /// Adds a point; `s` must be larger than the previous point's (the caller
    /// only pushes blocks with frames > 0; an equal or smaller `s` is ignored).
    pub fn push(&mut self, s: i64, t: i64) {
        if self.old.count > 0 && s <= self.old.last.s {
            return;
        }
        let p = Point { s, t };
        self.old.push(p);
        if self.old.count > WINDOW / 2 {
            self.young.push(p);
        }
        if self.old.count >= WINDOW {
            std::mem::swap(&mut self.old, &mut self.young);
            self.young.clear();
        }
    }

    /// The supporting line; `None` when empty.
    pub fn line(&self) -> Option<Line> {
        let c = &self.old;
        let h = c.vertices();
        let first = *h.first()?;
        let nominal = self.nominal_ns_per_frame;
        let (lo, hi) = (nominal * (1.0 - MAX_SKEW), nominal * (1.0 + MAX_SKEW));
        // The edge whose span contains the mean s (n·s̄ compared in integers):
        // the first vertex at or right of it ends that edge.
        let n = c.count as i128;
        let j = h.partition_point(|v| i128::from(v.s) * n < c.sum_s);
        let (mut slope, mut support) = if j == 0 || j >= h.len() {
            (nominal, first)
        } else {
            let (a, b) = (h[j - 1], h[j]);
            ((b.t - a.t) as f64 / (b.s - a.s) as f64, a)
        };
        if !(lo..=hi).contains(&slope) {
            slope = slope.clamp(lo, hi);
            support = support_of(h, slope).unwrap_or(first);
        }
        Some(Line {
            s_ref: support.s,
            t_ref: support.t as f64,
            ns_per_frame: slope,
        })
    }

    /// The span of the fitted window, in frames.
    pub fn span_frames(&self) -> i64 {
        if self.old.count < 2 {
            return 0;
        }
        self.old.last.s - self.old.first.s
    }
}

/// The vertex of a lower hull that the supporting line of `slope` touches:
/// where the edge slopes (increasing along the hull) pass `slope`.
fn support_of(h: &[Point], slope: f64) -> Option<Point> {
    let k = h
        .windows(2)
        .position(|w| (w[1].t - w[0].t) as f64 >= slope * (w[1].s - w[0].s) as f64)
        .unwrap_or(h.len().checked_sub(1)?);
    Some(h[k])
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
            assert!(e.len() >= WINDOW / 2 || e.len() == k as usize);
            assert!(e.len() < WINDOW);
        }
        assert_eq!(e.len(), WINDOW / 2 + 10);
        assert_eq!(e.span_frames(), (WINDOW as i64 / 2 + 9) * 64);
        // Non-increasing s is ignored.
        e.push(64, 0);
        assert_eq!(e.len(), WINDOW / 2 + 10);
    }
}
