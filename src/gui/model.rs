//! What the window shows, as plain data: read from the plugin's atomics
//! ([`Source::read`]) or made by a test, then drawn by [`super::view`].
//! The window compares each new model with the last one drawn and repaints
//! only when they differ, so an idle window costs nothing.

pub use super::devices::{DeviceRow, Mark};
use crate::plugin::audio_thread::histogram::{Histogram, BUCKETS};
use crate::plugin::params::{index, PARAMS};
use crate::plugin::{AudioCounters, Settings};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One parameter as the window lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamRow {
    /// The parameter's name.
    pub name: &'static str,
    /// Its value as the user reads it.
    pub value: String,
    /// Whether the user can change it (false for measurements).
    pub editable: bool,
}

/// A histogram as drawn: counts per bucket from 0, the last bucket also
/// counting everything beyond.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bars {
    /// Count per bucket.
    pub counts: Vec<u64>,
    /// Width of one bucket, in `unit`.
    pub width: f64,
    /// The unit of the horizontal axis.
    pub unit: &'static str,
}

/// Everything the window draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    /// Every parameter the host lists, in table order.
    pub params: Vec<ParamRow>,
    /// Messages placed late (at the block start).
    pub late: u64,
    /// Messages lost, every cause together.
    pub lost: u64,
    /// Placement error of the last minutes (samples).
    pub placement: Bars,
    /// Delivery delay of the last minutes (ms).
    pub delay: Bars,
    /// Lines under the histograms (latency, clock in, clock out), each
    /// with whether it is live (drawn bright) or idle (dim).
    pub figures: Vec<(String, bool)>,
    /// The phasor's phase (0..1) while it runs.
    pub phase: Option<f64>,
    /// The sequencer's ports (filled by the window from its own poll, see
    /// [`super::devices`]).
    pub devices: Vec<DeviceRow>,
    /// The first device row shown (the wheel scrolls a long list).
    pub device_scroll: usize,
    /// Why the device list is empty when the sequencer cannot be read.
    pub device_note: Option<String>,
}

/// Where the plugin's live figures are: shared with the audio thread, read
/// with relaxed atomic loads only (the window never locks or waits on the
/// audio thread).
#[derive(Clone, Debug)]
pub struct Source {
    /// What the audio thread counts.
    pub counters: Arc<AudioCounters>,
    /// The parameters' values.
    pub settings: Arc<Settings>,
}

impl Source {
    /// A model of the figures as they are now; the histograms count what
    /// came since `recent`'s oldest read.
    pub fn read(&self, recent: &mut Recent) -> Model {
        let params = PARAMS
            .iter()
            .enumerate()
            .map(|(i, p)| ParamRow {
                name: p.name,
                value: self.param_text(i),
                editable: !p.read_only,
            })
            .collect();
        let late = AudioCounters::get(&self.counters.late);
        let timing = &self.counters.timing;
        let (placement, delay) = recent.since(
            Instant::now(),
            [timing.placement_error.read(), timing.delivery_delay.read()],
        );
        Model {
            params,
            late,
            // The bell also rings for latency changes, which are not losses.
            lost: self
                .counters
                .bell()
                .saturating_sub(late + AudioCounters::get(&self.counters.latency_changes)),
            placement: bars(&timing.placement_error, placement, "samples"),
            delay: bars(&timing.delivery_delay, delay, "ms"),
            figures: self.figures(),
            phase: Some(f64::from_bits(AudioCounters::get(&self.counters.phase))),
            ..Model::default()
        }
    }

    /// Parameter `i`'s value as the user reads it.
    pub fn param_text(&self, i: usize) -> String {
        let mut value = String::new();
        // Writing to a String cannot fail.
        let _ = PARAMS[i].format(self.settings.params.get(i), &mut value);
        value
    }

    fn on(&self, i: usize) -> bool {
        self.settings.params.get(i) >= 0.5
    }

    /// The latency in use, what the clock in follows, what the clock out sends.
    fn figures(&self) -> Vec<(String, bool)> {
        let t = |i| self.param_text(i);
        let clock_in = self.on(index::EXT_RUNNING);
        let clock_out = self.on(index::CLOCK_OUT);
        vec![
            (format!("latency: {}", t(index::LATENCY)), true),
            (
                format!(
                    "clock in: {} {}, {}",
                    t(index::EXT_TEMPO),
                    if clock_in { "running" } else { "stopped" },
                    t(index::EXT_LOCK)
                ),
                clock_in,
            ),
            (
                format!(
                    "  jitter {}, phase error {}",
                    t(index::EXT_JITTER),
                    t(index::EXT_PHASE_ERROR)
                ),
                clock_in,
            ),
            (
                format!(
                    "clock out: {}, offset {}",
                    t(index::CLOCK_OUT),
                    t(index::CLOCK_OFFSET)
                ),
                clock_out,
            ),
            (format!("output offset: {}", t(index::OUTPUT_OFFSET)), true),
        ]
    }
}

fn bars(h: &Histogram, counts: [u64; BUCKETS], unit: &'static str) -> Bars {
    Bars {
        counts: counts.to_vec(),
        width: h.width(),
        unit,
    }
}

/// Past reads of the histograms, one every [`Recent::STEP`], kept for
/// [`Recent::SPAN`]: the window shows the last minutes, not the whole life.
#[derive(Debug, Default)]
pub struct Recent {
    reads: VecDeque<(Instant, [[u64; BUCKETS]; 2])>,
}

impl Recent {
    /// How far back the histograms go.
    pub const SPAN: Duration = Duration::from_secs(120);
    /// How often a read is kept.
    pub const STEP: Duration = Duration::from_secs(10);

    /// Keep `now_counts` if the last kept read is [`Self::STEP`] old, drop
    /// reads older than [`Self::SPAN`], and return what was counted since
    /// the oldest kept read.
    pub fn since(
        &mut self,
        now: Instant,
        now_counts: [[u64; BUCKETS]; 2],
    ) -> ([u64; BUCKETS], [u64; BUCKETS]) {
        if self
            .reads
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= Self::STEP)
        {
            self.reads.push_back((now, now_counts));
        }
        while self
            .reads
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Self::SPAN)
        {
            self.reads.pop_front();
        }
        let base = self.reads.front().map_or([[0; BUCKETS]; 2], |r| r.1);
        let diff = |k: usize| -> [u64; BUCKETS] {
            std::array::from_fn(|i| now_counts[k][i].saturating_sub(base[k][i]))
        };
        (diff(0), diff(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_show_only_the_last_minutes() {
        let mut r = Recent::default();
        let t0 = Instant::now();
        let at = |n: u64| {
            let mut c = [[0; BUCKETS]; 2];
            c[0][3] = n;
            c[1][5] = n;
            c
        };
        // Before any second read, nothing has come since the first.
        assert_eq!(r.since(t0, at(100)).0[3], 0);
        let later = t0 + Recent::STEP;
        assert_eq!(r.since(later, at(150)).0[3], 50);
        // Past the span the first read is dropped: what came in the first
        // 10 s no longer shows.
        let much_later = t0 + Recent::SPAN + Recent::STEP / 2;
        let (p, d) = r.since(much_later, at(180));
        assert_eq!((p[3], d[5]), (30, 30));
    }
}
