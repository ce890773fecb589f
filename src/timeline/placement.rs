//! Placement: from an event's kernel timestamp to a sample offset in one block.
//!
//! A [`BlockMap`] is the clock map frozen for one `process()` call: the
//! wall-clock time that stands for the block and the estimated sample rate
//! against `CLOCK_MONOTONIC`. [`BlockMap::place`] is pure arithmetic on it.

/// Where an event lands relative to the current block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On this sample offset of the block (`0..frames`).
    InBlock(u32),
    /// Its sample is already past: the caller puts it at offset 0 and counts it.
    Late,
    /// Its sample is in a later block: the caller leaves it queued (peek, do
    /// not pop) and asks again next block.
    Later,
}

/// The clock map for one block, returned by
/// [`Timeline::begin_block`](super::Timeline::begin_block).
///
/// `Copy` and small so `process()` can keep it on the stack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockMap {
    /// `CLOCK_MONOTONIC` ns that `t0_ns` is counted from (keeps the f64 small).
    pub(super) anchor_ns: u64,
    /// The reference call time `t0`, in ns after `anchor_ns` (see
    /// [`BlockMap::call_time_ns`]).
    pub(super) t0_ns: f64,
    /// Estimated frames per ns of `CLOCK_MONOTONIC` (the sound card's rate).
    pub(super) frames_per_ns: f64,
    /// This block's frame count.
    pub(super) frames: u32,
    /// Whether `t0` is the raw call time (after a reset, or an unpaced host)
    /// rather than the filtered line.
    pub(super) raw: bool,
    /// The clock's period in frames (see `TimelineStats::period_frames`).
    pub(super) period: u32,
    /// The delivery margin in frames (see `DELIVERY_MARGIN_NS`).
    pub(super) margin: u32,
}

impl BlockMap {
    /// Where an event with kernel timestamp `time_ns` (`CLOCK_MONOTONIC`)
    /// lands in this block, after a constant added latency of
    /// `latency_frames`.
    ///
    /// The position is `(time_ns - t0) * rate + latency_frames`, rounded to
    /// the nearest sample, where `t0` is [`call_time_ns`](Self::call_time_ns).
    /// With `latency_frames` equal to the clock's period
    /// ([`TimelineStats::period_frames`](super::TimelineStats::period_frames), the
    /// default "one block") no event that was in the ring when `process()`
    /// began is ever late; less latency trades accuracy for delay: events
    /// that arrived early in the previous period come out [`Placement::Late`].
    ///
    /// A block of 0 frames holds no sample: everything is [`Placement::Later`].
    ///
    /// # Realtime Safety
    /// Pure arithmetic: no allocation, no lock, no system call.
    #[inline]
    pub fn place(&self, time_ns: u64, latency_frames: u32) -> Placement {
        if self.frames == 0 {
            return Placement::Later;
        }
        // Nearest sample is floor(y); comparing y itself against the integer
        // bounds gives the same answer without calling floor (a libm call on
        // baseline x86-64), and truncation is floor for y >= 0.
        let y = self.unrounded(time_ns, latency_frames) + 0.5;
        if y >= f64::from(self.frames) {
            Placement::Later
        } else if y.is_nan() || y < 0.0 {
            // A NaN (impossible with finite inputs) is treated as late too.
            Placement::Late
        } else {
            Placement::InBlock(y as u32)
        }
    }

    #[inline]
    fn unrounded(&self, time_ns: u64, latency_frames: u32) -> f64 {
        // Wrapping difference read as signed: exact for events within ±292
        // years of the anchor, never overflows.
        let dt = time_ns.wrapping_sub(self.anchor_ns) as i64 as f64 - self.t0_ns;
        dt * self.frames_per_ns + f64::from(latency_frames)
    }

    /// The rounded position of `time_ns` relative to this block's first
    /// sample, unclamped (negative: late; `>= frames`: a later block). For
    /// diagnostics and tests; [`place`](Self::place) is what `process()` uses.
    #[inline]
    pub fn position(&self, time_ns: u64, latency_frames: u32) -> f64 {
        // Nearest sample as floor(x + 0.5): the same rule on both sides of a
        // block boundary, so an event at n - 0.5 is Later here and lands on
        // offset 0 of the next block (its position there is -0.5 + 0.5).
        (self.unrounded(time_ns, latency_frames) + 0.5).floor()
    }

    /// The `CLOCK_MONOTONIC` time (ns) of the sample at `offset` in this
    /// block, after a constant added latency of `latency_frames`: the inverse
    /// of [`place`](Self::place).
    ///
    /// The time is `t0 + (offset - latency_frames) / rate`, rounded to the
    /// nearest ns, where `t0` is [`call_time_ns`](Self::call_time_ns); for
    /// an offset inside the block, `place(time_of(offset, l), l)` is
    /// `InBlock(offset)`. An offset at or past the block's end extrapolates
    /// along the same line (the time of a sample in a later block, as far as
    /// this block can tell). Output scheduling uses its fractional form,
    /// [`time_at`](Self::time_at), with no latency: a message the host put
    /// at sample `offset` leaves at `time_at(offset, 0)` plus a constant
    /// delay (`src/plugin/audio_thread/to_hardware/output_ring.rs`), so its timing against other
    /// messages matches their samples.
    ///
    /// # Realtime Safety
    /// Pure arithmetic: no allocation, no lock, no system call.
    #[inline]
    pub fn time_of(&self, offset: u32, latency_frames: u32) -> u64 {
        self.time_at(f64::from(offset), latency_frames)
    }

    /// [`time_of`](Self::time_of) for a fractional sample position: the
    /// `CLOCK_MONOTONIC` time (ns) of position `offset` (samples from this
    /// block's first sample; may be negative or past the block's end), after
    /// a constant added latency of `latency_frames`.
    ///
    /// The time is `t0 + (offset - latency_frames) / rate`, rounded to the
    /// nearest ns (so `place(time_at(x, l), l)` is `InBlock` of `x` rounded
    /// to the nearest sample, for `x` inside the block). Nothing is snapped
    /// to a sample: MIDI clock ticks fall between samples, and each is
    /// mapped through the block's line on its own, never by adding an
    /// interval to the previous one.
    ///
    /// # Realtime Safety
    /// Pure arithmetic: no allocation, no lock, no system call.
    #[inline]
    pub fn time_at(&self, offset: f64, latency_frames: u32) -> u64 {
        let frames = offset - f64::from(latency_frames);
        let rel = self.t0_ns + frames / self.frames_per_ns;
        // Saturating cast: a non-finite or out-of-range value (impossible
        // with the rates `Timeline` produces, and finite offsets) cannot panic.
        self.anchor_ns.wrapping_add_signed(rel.round() as i64)
    }

    /// The reference time `t0` of this block in `CLOCK_MONOTONIC` ns: the
    /// earliest time at which the host can have called `process()` for it
    /// (the filtered lower envelope of call times), rounded to a ns.
    pub fn call_time_ns(&self) -> u64 {
        self.anchor_ns
            .wrapping_add_signed(self.t0_ns.round() as i64)
    }

    /// The estimated sample rate of the sound card, in frames per second of
    /// `CLOCK_MONOTONIC`.
    pub fn rate_hz(&self) -> f64 {
        self.frames_per_ns * 1e9
    }

    /// The latency for `blocks` periods: `blocks` × the clock's period, plus
    /// the delivery margin ([`DELIVERY_MARGIN_NS`](super::DELIVERY_MARGIN_NS))
    /// when `blocks > 0`. One block is the default: every event that reached
    /// the ring within the margin after its timestamp lands on its own
    /// sample. Zero puts nearly everything at offset 0 as late.
    ///
    /// The period is measured (the largest block since the reset), not the
    /// host's declared maximum, which can be much larger than the blocks it
    /// actually sends.
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn latency_frames(&self, blocks: u32) -> u32 {
        if blocks == 0 {
            return 0;
        }
        blocks
            .saturating_mul(self.period)
            .saturating_add(self.margin)
    }

    /// This block's frame count.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Whether this block's `t0` is the raw call time (the first block after
    /// a reset, or a host whose calls are not paced by real time) instead of
    /// the filtered one: placement is then only as good as the call jitter.
    pub fn is_raw(&self) -> bool {
        self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(frames: u32) -> BlockMap {
        // 48 kHz exactly; t0 = 1 s after the anchor.
        BlockMap {
            anchor_ns: 5_000_000_000,
            t0_ns: 1e9,
            frames_per_ns: 48_000.0 / 1e9,
            frames,
            raw: false,
            period: frames,
            margin: 10,
        }
    }

    #[test]
    fn one_block_latency_maps_previous_period_into_this_block() {
        let m = map(256);
        let t0 = 6_000_000_000u64;
        let ns_per_frame: f64 = 1e9 / 48_000.0;
        // At the call time itself: offset = latency.
        assert_eq!(m.place(t0, 100), Placement::InBlock(100));
        // One block (256 frames) before the call with one block of latency: 0.
        let block_ns = (256.0 * ns_per_frame) as u64;
        assert_eq!(m.place(t0 - block_ns, 256), Placement::InBlock(0));
        // Exactly 10 frames before the call.
        let ten = (10.0 * ns_per_frame).round() as u64;
        assert_eq!(m.place(t0 - ten, 256), Placement::InBlock(246));
        // After the call with full latency: a later block.
        assert_eq!(m.place(t0 + 1_000, 256), Placement::Later);
        // More than a block before: late.
        assert_eq!(m.place(t0 - block_ns - 2 * ten, 256), Placement::Late);
    }

    #[test]
    fn rounding_is_consistent_across_the_block_boundary() {
        let m = map(256);
        let ns_per_frame: f64 = 1e9 / 48_000.0;
        // An event 0.5 frame before the block end with zero latency...
        let t = 6_000_000_000u64 + (255.5 * ns_per_frame).round() as u64;
        assert_eq!(m.place(t, 0), Placement::Later);
        // ...lands on offset 0 of the next block (t0 advanced by 256 frames).
        let mut next = m;
        next.t0_ns += 256.0 * ns_per_frame;
        assert_eq!(next.place(t, 0), Placement::InBlock(0));
        // Just below the half sample rounds down to the last offset.
        let t = 6_000_000_000u64 + (255.4 * ns_per_frame).round() as u64;
        assert_eq!(m.place(t, 0), Placement::InBlock(255));
    }

    #[test]
    fn place_agrees_with_position() {
        let m = map(256);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Times within ±20 ms of t0, latencies 0..1024.
            let t = 6_000_000_000u64 - 20_000_000 + x % 40_000_000;
            let lat = (x >> 40) as u32 % 1024;
            let pos = m.position(t, lat);
            let want = if pos < 0.0 {
                Placement::Late
            } else if pos >= 256.0 {
                Placement::Later
            } else {
                Placement::InBlock(pos as u32)
            };
            assert_eq!(m.place(t, lat), want, "t={t} lat={lat} pos={pos}");
        }
    }

    #[test]
    fn time_of_inverts_place() {
        let m = map(256);
        let ns_per_frame = 1e9 / 48_000.0;
        // Offset = latency is t0 itself.
        assert_eq!(m.time_of(100, 100), 6_000_000_000);
        assert_eq!(m.time_of(0, 0), 6_000_000_000);
        // One block of latency: offset 0 is one block before t0.
        let block_ns = (256.0 * ns_per_frame) as u64;
        assert_eq!(m.time_of(0, 256), 6_000_000_000 - block_ns);
        for lat in [0, 1, 100, 266, 4096] {
            for k in 0..256 {
                assert_eq!(m.place(m.time_of(k, lat), lat), Placement::InBlock(k));
            }
        }
    }

    #[test]
    fn time_at_is_fractional_and_agrees_with_time_of() {
        let m = map(256);
        let ns_per_frame: f64 = 1e9 / 48_000.0;
        for k in 0..300 {
            assert_eq!(m.time_at(f64::from(k), 7), m.time_of(k, 7));
        }
        // Half a sample is half a sample's ns, not rounded to a sample.
        let half = m.time_at(10.5, 0) - m.time_at(10.0, 0);
        assert_eq!(half, (ns_per_frame / 2.0).round() as u64);
        // Before the block (negative) and far past it extrapolate the line.
        assert_eq!(
            m.time_at(-48_000.0, 0),
            6_000_000_000 - 1_000_000_000,
            "one second before t0"
        );
        assert_eq!(m.time_at(48_000.0, 0), 7_000_000_000);
        // The block's last half sample belongs to the next block.
        assert_eq!(m.place(m.time_at(255.7, 0), 0), Placement::Later);
        assert_eq!(m.place(m.time_at(255.3, 0), 0), Placement::InBlock(255));
    }

    proptest::proptest! {
        /// `time_at` inverts the unrounded placement to within the ns it
        /// rounds to, `place` gives back the nearest sample, and two
        /// positions are their distance apart at the block's rate.
        #[test]
        fn time_at_inverts_place(
            x in 0.0f64..1024.0,
            y in -4096.0f64..8192.0,
            lat in 0u32..4096,
            t0 in 0.0f64..1e13,
            ppm in -1000.0f64..1000.0,
        ) {
            let mut m = map(1024);
            m.t0_ns = t0;
            m.frames_per_ns = 48_000.0 / 1e9 * (1.0 + ppm * 1e-6);
            let t = m.time_at(x, lat);
            let back = m.unrounded(t, lat);
            // Rounding to the ns moves the position by at most 0.5 ns of frames.
            proptest::prop_assert!((back - x).abs() <= 0.5 * m.frames_per_ns + 1e-6);
            let near_half = (x - x.floor() - 0.5).abs() < 1e-3;
            if !near_half {
                let nearest = (x + 0.5).floor() as u32;
                // The last half sample rounds into the next block.
                let want = if nearest < 1024 {
                    Placement::InBlock(nearest)
                } else {
                    Placement::Later
                };
                proptest::prop_assert_eq!(m.place(t, lat), want);
            }
            let dt = m.time_at(y, lat) as f64 - t as f64;
            proptest::prop_assert!((dt - (y - x) / m.frames_per_ns).abs() <= 1.0);
        }
    }

    #[test]
    fn latency_in_blocks() {
        let m = map(256);
        assert_eq!(m.latency_frames(0), 0);
        assert_eq!(m.latency_frames(1), 266);
        assert_eq!(m.latency_frames(2), 522);
        assert_eq!(m.latency_frames(u32::MAX), u32::MAX);
    }

    #[test]
    fn zero_frames_and_extreme_times_do_not_panic() {
        let m = map(0);
        assert_eq!(m.place(6_000_000_000, 0), Placement::Later);
        let m = map(64);
        assert_eq!(m.place(0, 0), Placement::Late);
        assert_eq!(m.place(u64::MAX, 0), Placement::Late); // wraps to "long ago"
        assert_eq!(m.place(u64::MAX, u32::MAX), Placement::Later);
        assert_eq!(m.place(u64::MAX / 2, 0), Placement::Later);
    }
}
