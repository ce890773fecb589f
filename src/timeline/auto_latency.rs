//! Latency "Auto": the smallest constant latency that would have placed
//! nearly every recent message on its sample, learnt from the messages
//! themselves.
//!
//! For each message drained from the input ring the caller gives what it
//! *needed*: the reference time of the first block in which it was in the
//! ring, minus its kernel timestamp (see `src/plugin/midi_in.rs`). A latency
//! of at least that places the message on its sample; less makes it late.
//! The figure holds both causes of lateness at once: how long the message
//! took to reach the ring (delivery delay) and where the host's call fell
//! against the block's reference time (the process-call jitter).
//!
//! [`AutoLatency`] keeps those needs in fixed histograms over the last
//! [`WINDOW_NS`], and the latency in use is the smallest that covers all but
//! [`MISS_PER_MILLE`] per mille of them, plus a margin. It grows at once when
//! more than that share of the window needs more than the value in use, and
//! shrinks only after the smaller figure has held for [`SHRINK_AFTER_NS`];
//! neither happens while the caller says notes are held (moving the latency
//! then could put a note-off before its note-on, or cut a note short).
//!
//! Pure: no I/O, no clock (the caller passes the time), no allocation after
//! [`AutoLatency::new`].

/// Histogram bins of [`FINE_NS`] below [`FINE_BINS`] × [`FINE_NS`] (20 ms):
/// 10 µs, under half a sample at 48 kHz, where block periods and delivery
/// delays usually are.
pub const FINE_NS: u64 = 10_000;
/// Number of fine bins.
pub const FINE_BINS: usize = 2000;
/// Bins of [`COARSE_NS`] above the fine ones, up to [`MAX_NEED_NS`]: a latency
/// that large is rare, a quarter ms more of it does not matter.
pub const COARSE_NS: u64 = 250_000;
/// Number of coarse bins.
pub const COARSE_BINS: usize = 1920;
/// The largest need told apart (500 ms); larger counts as this.
pub const MAX_NEED_NS: u64 = FINE_NS * FINE_BINS as u64 + COARSE_NS * COARSE_BINS as u64;
const BINS: usize = FINE_BINS + COARSE_BINS;

/// The window is [`SLOTS`] slots of this long; the oldest is dropped
/// whole when a new one starts.
pub const SLOT_NS: u64 = 30_000_000_000;
/// Slots in the window.
pub const SLOTS: usize = 4;
/// "The last minutes": two minutes, long enough to hold the rare slow
/// deliveries of a busy system (a burst every minute or so), short enough to
/// forget a load that has gone.
pub const WINDOW_NS: u64 = SLOT_NS * SLOTS as u64;

/// Share of the window's messages that may need more than the value in
/// use, per mille: the 99.9 % rule.
pub const MISS_PER_MILLE: u64 = 1;

/// Added to the figure: a fixed 0.2 ms (the scheduling slack the fixed
/// choices add too) plus an eighth of the figure, because the past
/// minutes' worst is not the next minute's worst.
pub const MARGIN_NS: u64 = 200_000;
/// The figure's share added as margin: `figure / MARGIN_DIVISOR`.
pub const MARGIN_DIVISOR: u64 = 8;

/// A smaller figure is taken only when it is at least this share (per
/// cent) below the value in use: small wanderings of the figure do not
/// move the latency back and forth.
pub const SHRINK_BELOW_PERCENT: u64 = 90;
/// ... and only after it has stayed that low for this long (10 s): a
/// quiet spell between two bursts does not lower it.
pub const SHRINK_AFTER_NS: u64 = 10_000_000_000;

/// The bin of a need of `ns`.
fn bin(ns: u64) -> usize {
    let fine_end = FINE_NS * FINE_BINS as u64;
    if ns < fine_end {
        (ns / FINE_NS) as usize
    } else {
        (FINE_BINS + ((ns - fine_end) / COARSE_NS) as usize).min(BINS - 1)
    }
}

/// The largest need in bin `b` (its upper edge).
fn upper_edge(b: usize) -> u64 {
    if b < FINE_BINS {
        (b as u64 + 1) * FINE_NS
    } else {
        FINE_NS * FINE_BINS as u64 + (b - FINE_BINS + 1) as u64 * COARSE_NS
    }
}

/// One slot's needs.
type Histogram = [u32; BINS];

/// How often the figure is looked at for shrinking (1 s): a pass over the
/// bins, too much to do in every block of 64 frames, and the figure moves
/// slowly.
pub const CHECK_NS: u64 = 1_000_000_000;

/// See the module docs.
#[derive(Debug)]
pub struct AutoLatency {
    /// One histogram per slot, and their sum.
    slots: Box<[Histogram; SLOTS]>,
    total: Box<Histogram>,
    /// Messages in each slot, and in all.
    slot_count: [u64; SLOTS],
    count: u64,
    /// The slot being filled, and when it began (`None`: no time yet).
    current: usize,
    slot_start: Option<u64>,
    /// The latency in use, ns.
    in_use: u64,
    /// Messages in the window that needed more than `in_use`.
    over: u64,
    /// When the figure was last looked at for shrinking.
    checked: Option<u64>,
    /// Since when the figure has been low enough to shrink to.
    low_since: Option<u64>,
    /// The figure to shrink to, once it has held (waits for held notes).
    ready: Option<u64>,
}

impl AutoLatency {
    /// Nothing measured yet; `initial_ns` is used until the messages say
    /// otherwise.
    pub fn new(initial_ns: u64) -> Self {
        Self {
            slots: Box::new([[0; BINS]; SLOTS]),
            total: Box::new([0; BINS]),
            slot_count: [0; SLOTS],
            count: 0,
            current: 0,
            slot_start: None,
            in_use: initial_ns.min(MAX_NEED_NS),
            over: 0,
            checked: None,
            low_since: None,
            ready: None,
        }
    }

    /// The latency in use, ns.
    pub fn in_use_ns(&self) -> u64 {
        self.in_use
    }

    /// Messages in the window.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// One message needed a latency of `need_ns` (negative: it was in the
    /// ring before its own time, it needs none).
    ///
    /// # Realtime Safety
    /// Arithmetic and a few stores.
    pub fn observe(&mut self, need_ns: i64) {
        let b = bin(need_ns.max(0) as u64);
        self.slots[self.current][b] += 1;
        self.total[b] += 1;
        self.slot_count[self.current] += 1;
        self.count += 1;
        if upper_edge(b) > self.in_use {
            self.over += 1;
        }
    }

    /// The figure: the smallest latency that covers all but
    /// [`MISS_PER_MILLE`] per mille of the window's messages, plus the
    /// margin; `None` with no message in the window.
    ///
    /// # Realtime Safety
    /// One pass over the bins, no allocation.
    pub fn figure(&self) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let allowed = self.allowed();
        // From the top down: the highest bin whose messages, with those
        // above it, are more than may be missed.
        let mut above = 0u64;
        let mut b = BINS;
        while b > 0 {
            let n = u64::from(self.total[b - 1]);
            if above + n > allowed {
                break;
            }
            above += n;
            b -= 1;
        }
        let need = if b == 0 { 0 } else { upper_edge(b - 1) };
        Some(with_margin(need))
    }

    /// How many of the window's messages may need more than the latency.
    fn allowed(&self) -> u64 {
        self.count * MISS_PER_MILLE / 1000
    }

    /// Once per block, at `now_ns`: move the window on, and change the
    /// latency in use if it must and may (`notes_held`: the caller has
    /// notes sounding that a change would disturb). Returns the new value
    /// when it changed.
    ///
    /// # Realtime Safety
    /// Arithmetic; at most one pass over the bins.
    pub fn update(&mut self, now_ns: u64, notes_held: bool) -> Option<u64> {
        self.advance(now_ns);
        let next = if self.over > self.allowed() {
            // Grow at once: more than the allowed share needs more.
            self.low_since = None;
            self.ready = None;
            self.figure()?.max(self.in_use)
        } else {
            self.shrink_to(now_ns)?
        };
        if notes_held || next == self.in_use {
            return None;
        }
        self.low_since = None;
        self.ready = None;
        self.set(next);
        Some(next)
    }

    /// What to shrink to, once the figure has stayed well below the value
    /// in use for [`SHRINK_AFTER_NS`] (looked at every [`CHECK_NS`]).
    fn shrink_to(&mut self, now_ns: u64) -> Option<u64> {
        if self
            .checked
            .is_some_and(|t| now_ns.saturating_sub(t) < CHECK_NS)
        {
            return self.ready;
        }
        self.checked = Some(now_ns);
        let figure = self.figure();
        let low = figure.filter(|&f| {
            u128::from(f) * 100 <= u128::from(self.in_use) * u128::from(SHRINK_BELOW_PERCENT)
        });
        self.ready = match low {
            None => {
                self.low_since = None;
                None
            }
            Some(f) => {
                let since = *self.low_since.get_or_insert(now_ns);
                (now_ns.saturating_sub(since) >= SHRINK_AFTER_NS).then_some(f)
            }
        };
        self.ready
    }

    /// Use `ns` from now on, recounting which messages need more.
    fn set(&mut self, ns: u64) {
        self.in_use = ns;
        self.over = self
            .total
            .iter()
            .enumerate()
            .filter(|&(b, _)| upper_edge(b) > ns)
            .map(|(_, &n)| u64::from(n))
            .sum();
    }

    /// Start new slots for the time passed, dropping the oldest.
    fn advance(&mut self, now_ns: u64) {
        let Some(start) = self.slot_start else {
            self.slot_start = Some(now_ns);
            return;
        };
        let passed = now_ns.saturating_sub(start) / SLOT_NS;
        if passed == 0 {
            return;
        }
        for _ in 0..passed.min(SLOTS as u64) {
            self.current = (self.current + 1) % SLOTS;
            let old = &mut self.slots[self.current];
            for (t, o) in self.total.iter_mut().zip(old.iter_mut()) {
                *t -= *o;
                *o = 0;
            }
            self.count -= self.slot_count[self.current];
            self.slot_count[self.current] = 0;
        }
        self.slot_start = Some(start + passed * SLOT_NS);
        let in_use = self.in_use;
        self.set(in_use);
    }
}

/// `need` plus the margin, within [`MAX_NEED_NS`].
fn with_margin(need: u64) -> u64 {
    (need + MARGIN_NS + need / MARGIN_DIVISOR).min(MAX_NEED_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    /// A block of 256 frames at 48 kHz, ns.
    const BLOCK_NS: u64 = 5_333_333;

    /// Deterministic noise in 0..1.
    struct Noise(u32);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            f64::from(self.0) / f64::from(u32::MAX)
        }
    }

    /// Run blocks from `from_ns` for `for_ns`, one message of `need(t)` per
    /// block; returns the time reached and the values the latency took.
    fn play(
        auto: &mut AutoLatency,
        from_ns: u64,
        for_ns: u64,
        mut need: impl FnMut(u64) -> u64,
    ) -> (u64, Vec<(u64, u64)>) {
        let mut changes = Vec::new();
        let mut t = from_ns;
        while t < from_ns + for_ns {
            auto.observe(need(t) as i64);
            if let Some(v) = auto.update(t, false) {
                changes.push((t, v));
            }
            t += BLOCK_NS;
        }
        (t, changes)
    }

    #[test]
    fn the_latency_covers_all_but_one_message_in_a_thousand() {
        let mut auto = AutoLatency::new(0);
        for _ in 0..10_000 {
            auto.observe(MS as i64);
        }
        // Ten in 10 010 is under one per mille: they may be missed.
        for _ in 0..10 {
            auto.observe(5 * MS as i64);
        }
        let low = auto.figure().unwrap();
        assert_eq!(low, with_margin(MS + FINE_NS));
        // One more is over: the figure covers them.
        for _ in 0..2 {
            auto.observe(5 * MS as i64);
        }
        let high = auto.figure().unwrap();
        assert!(high >= 5 * MS + MARGIN_NS, "{high}");
        assert!(high <= with_margin(5 * MS + FINE_NS), "{high}");
    }

    #[test]
    fn the_figure_is_the_exact_quantile_of_a_skewed_distribution_plus_the_margin() {
        // Delays as a busy system gives them: a floor of one block, most
        // messages a little later, a long tail of slow wake-ups.
        let mut noise = Noise(0x9E37_79B9);
        let mut needs: Vec<u64> = (0..50_000)
            .map(|_| {
                let u = noise.next().max(1e-12);
                BLOCK_NS + (-u.ln() * 0.4 * MS as f64) as u64
            })
            .collect();
        let mut auto = AutoLatency::new(0);
        for &n in &needs {
            auto.observe(n as i64);
        }
        needs.sort_unstable();
        // The smallest need that leaves at most 50 (one per mille) above it.
        let allowed = needs.len() / 1000;
        let exact = needs[needs.len() - 1 - allowed];
        let figure = auto.figure().unwrap();
        assert!(figure >= with_margin(exact), "{figure} < {exact} + margin");
        assert!(
            figure <= with_margin(exact + FINE_NS),
            "{figure}: more than one bin above {exact} + margin"
        );
        let missed = needs.iter().filter(|&&n| n > figure).count();
        assert!(missed <= allowed, "{missed} messages would be late");
    }

    #[test]
    fn a_spike_grows_the_latency_in_the_same_block() {
        let mut auto = AutoLatency::new(2 * MS);
        let (t, changes) = play(&mut auto, 0, 5_000 * MS, |_| MS);
        assert!(changes.is_empty(), "{changes:?}");
        // 940 messages so far: allowed none above. Three late ones at once.
        for _ in 0..3 {
            auto.observe(9 * MS as i64);
        }
        let grown = auto.update(t, false).expect("grew at once");
        assert!(grown >= 9 * MS + MARGIN_NS, "{grown}");
        assert_eq!(auto.in_use_ns(), grown);
    }

    #[test]
    fn nothing_changes_while_notes_are_held() {
        let mut auto = AutoLatency::new(2 * MS);
        for _ in 0..5 {
            auto.observe(9 * MS as i64);
        }
        for k in 0..100 {
            assert_eq!(auto.update(k * BLOCK_NS, true), None);
            assert_eq!(auto.in_use_ns(), 2 * MS);
        }
        // Released: the growth waiting is made at once.
        let grown = auto.update(100 * BLOCK_NS, false).expect("grew");
        assert!(grown >= 9 * MS);
        // And a shrink waits for the notes too.
        let mut auto = AutoLatency::new(20 * MS);
        let mut t = 0;
        while t < 3 * SHRINK_AFTER_NS {
            auto.observe(MS as i64);
            assert_eq!(auto.update(t, true), None);
            t += BLOCK_NS;
        }
        assert_eq!(auto.in_use_ns(), 20 * MS);
        assert!(auto.update(t, false).is_some_and(|v| v < 20 * MS));
    }

    #[test]
    fn a_lower_figure_is_taken_only_after_it_has_held() {
        let mut auto = AutoLatency::new(20 * MS);
        let (_, changes) = play(&mut auto, 0, 3 * SHRINK_AFTER_NS, |_| MS);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (at, value) = changes[0];
        assert!(at >= SHRINK_AFTER_NS, "shrank after {at} ns");
        assert!(at <= SHRINK_AFTER_NS + CHECK_NS + BLOCK_NS, "{at}");
        assert_eq!(value, with_margin(MS + FINE_NS));
    }

    #[test]
    fn a_spike_is_remembered_for_the_window_then_forgotten_slowly() {
        let mut auto = AutoLatency::new(MS);
        // A burst of slow deliveries, then a long quiet drift back down
        // from 3 ms to 1 ms.
        for _ in 0..20 {
            auto.observe(12 * MS as i64);
        }
        let spike = auto.update(0, false).expect("grew");
        let drift = |t: u64| 3 * MS - (2 * MS * t.min(WINDOW_NS) / WINDOW_NS);
        let (t, changes) = play(&mut auto, BLOCK_NS, WINDOW_NS - SLOT_NS, drift);
        assert!(
            changes.is_empty(),
            "shrank while the spike was in the window: {changes:?}"
        );
        assert_eq!(auto.in_use_ns(), spike);
        // Once it has left the window (a slot at most after the window's
        // length), the latency comes down, and never below what the drift
        // needed in the window.
        let (_, changes) = play(&mut auto, t, 2 * WINDOW_NS, drift);
        let &(at, first) = changes.first().expect("shrank in the end");
        assert!(at >= WINDOW_NS + SHRINK_AFTER_NS - SLOT_NS, "{at}");
        assert!(first < spike);
        for w in changes.windows(2) {
            assert!(w[1].1 < w[0].1, "{changes:?}");
            assert!(w[1].0 - w[0].0 >= SHRINK_AFTER_NS, "{changes:?}");
        }
        for &(at, v) in &changes {
            let needed = drift(at.saturating_sub(WINDOW_NS));
            assert!(v >= needed, "{v} at {at} below the need {needed}");
        }
    }

    #[test]
    fn an_idle_window_keeps_the_value_in_use() {
        let mut auto = AutoLatency::new(4 * MS);
        auto.observe(MS as i64);
        let mut t = 0;
        while t < 5 * WINDOW_NS {
            auto.update(t, false);
            t += 100 * MS;
        }
        // The one message said 1 ms for a while (the value shrank), then
        // left the window: with nothing measured, nothing changes.
        assert_eq!(auto.count(), 0);
        assert_eq!(auto.in_use_ns(), with_margin(MS + FINE_NS));
        assert_eq!(auto.figure(), None);
    }

    #[test]
    fn needs_beyond_the_bins_count_as_the_largest() {
        let mut auto = AutoLatency::new(0);
        auto.observe(i64::MAX);
        auto.observe(-5);
        assert_eq!(auto.figure(), Some(MAX_NEED_NS));
        assert_eq!(bin(0), 0);
        assert_eq!(upper_edge(bin(MAX_NEED_NS - 1)), MAX_NEED_NS);
    }
}
