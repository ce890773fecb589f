//! A test host that calls `process()` paced by real time, like a sound card
//! at 48 kHz: block `k` is due at `t0 + k·frames/48 kHz` on
//! `CLOCK_MONOTONIC` and the audio thread sleeps until then. So sample `s`
//! *is* the moment `t0 + s/48 kHz` (plus the wake-up delay of its block),
//! and what the plugin sends for sample `s` can be compared with that time.
//!
//! - [`pace`]: the loop alone (the naive sender of the benchmark uses it);
//! - [`Song`]: a host transport driven by a play/stop/locate script, giving
//!   the CLAP transport of each block;
//! - [`run_plugin`]: the bundled plugin on the paced audio thread, with the
//!   song's transport, host notes on chosen samples and parameter values.

use clack_host::events::event_types::{MidiEvent, ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::BeatTime;
use phasorsync::timeline::monotonic_ns;

/// The paced host's sample rate.
pub const RATE: f64 = 48_000.0;

/// Sleep until `deadline_ns` on `CLOCK_MONOTONIC`.
pub fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

/// SCHED_FIFO for this thread, as audio threads have; fine if refused.
pub fn try_realtime() {
    let _ = phasorsync::engine::rt::make_current_thread_realtime(80);
}

/// What the paced loop did.
#[derive(Clone, Debug)]
pub struct Pacing {
    /// Frames per block.
    pub frames: u32,
    /// When each block was due, ns: `frames/RATE` after the previous one,
    /// except after an xrun (see [`pace`]).
    pub due: Vec<u64>,
    /// When each block was actually called, ns.
    pub calls: Vec<u64>,
    /// Blocks called more than a period late: the schedule restarted there.
    pub xrun_blocks: Vec<u64>,
    /// Blocks of a host hiccup (see [`Hiccups`]): called late on purpose,
    /// then back to back, on the schedule; not xruns.
    pub hiccup_blocks: Vec<u64>,
}

impl Pacing {
    /// The ideal `CLOCK_MONOTONIC` time of sample `s` (fractional), ns: its
    /// block's due time plus its place in the block.
    pub fn ideal_ns(&self, s: f64) -> f64 {
        let f = f64::from(self.frames);
        let k = ((s / f).floor().max(0.0) as usize).min(self.due.len().saturating_sub(1));
        self.due[k] as f64 + (s - k as f64 * f) * 1e9 / RATE
    }

    /// How late each call came after its due time, µs (0 for the blocks
    /// that restarted the schedule after an xrun).
    pub fn wake_us(&self) -> Vec<f64> {
        self.calls
            .iter()
            .zip(&self.due)
            .map(|(&c, &d)| (c as f64 - d as f64) / 1e3)
            .collect()
    }

    /// The lowest call delay of the blocks that kept the schedule, µs.
    pub fn lowest_wake_us(&self) -> f64 {
        self.wake_us()
            .iter()
            .enumerate()
            .filter(|(k, _)| !self.xrun_blocks.contains(&(*k as u64)))
            .map(|(_, &w)| w)
            .fold(f64::INFINITY, f64::min)
    }

    /// How far a timeline that reads the sound card from the calls may
    /// rightly sit above the lowest call, µs: the largest, over every run of
    /// `calls` consecutive calls all more than `level_us` late (what
    /// PhasorSync's timeline takes for the card's clock having moved later,
    /// [`phasorsync::timeline::SHIFT_CALLS`] calls over an eighth of a
    /// period), of the run's smallest delay above the lowest call; 0 when
    /// no such run came.
    pub fn shift_allowance_us(&self, calls: usize, level_us: f64) -> f64 {
        let wake = self.wake_us();
        let lowest = self.lowest_wake_us();
        wake.windows(calls.max(1))
            .filter(|w| w.iter().all(|&d| d > level_us))
            .map(|w| w.iter().copied().fold(f64::INFINITY, f64::min) - lowest)
            .fold(0.0, f64::max)
    }

    /// Xruns: calls more than a period late.
    pub fn xruns(&self) -> usize {
        self.xrun_blocks.len()
    }

    /// Whether sample `s` lies within `shadow_ns` after an xrun (where no
    /// timeline is right yet, whatever the plugin).
    pub fn near_xrun(&self, s: f64, shadow_ns: f64) -> bool {
        let t = self.ideal_ns(s);
        self.xrun_blocks.iter().any(|&k| {
            let x = self.due[k as usize] as f64;
            t >= x - 1e9 * f64::from(self.frames) / RATE && t < x + shadow_ns
        })
    }

    /// Whether a message for sample `s` is judged: not within
    /// [`xrun_shadow_ns`] after an xrun.
    pub fn judged(&self, s: f64) -> bool {
        !self.near_xrun(s, xrun_shadow_ns(self.frames))
    }
}

/// How long after an xrun of this paced host a plugin's timing is not
/// judged: 100 ms, plus [`phasorsync::timeline::SHIFT_CALLS`] periods. An
/// xrun here moves the card's sample clock later by up to two periods, and
/// PhasorSync's timeline detects a shift below two periods only after that
/// many calls in a row come late: until then, any plugin's sample times are
/// off by it.
pub fn xrun_shadow_ns(frames: u32) -> f64 {
    100e6 + f64::from(phasorsync::timeline::SHIFT_CALLS) * f64::from(frames) * 1e9 / RATE
}

/// Call `block(k, call_ns)` for `k = 0..blocks`, each at its due time, on
/// this thread: `frames/RATE` apart from 20 ms from now. A call more than a
/// period late is what a sound card calls an xrun: the card drops the
/// periods it missed and carries on from now, so the schedule restarts at
/// that call (the samples go on without a gap: the host's song continues),
/// instead of calling the missed blocks back to back.
pub fn pace(frames: u32, blocks: u64, block: impl FnMut(u64, u64)) -> Pacing {
    pace_with(frames, blocks, None, block)
}

/// A host that stutters: every `every_blocks` blocks, one call comes
/// `periods` periods late, and the host then calls the blocks it owes back
/// to back until it is on schedule again (the card's buffer covers the
/// delay: no sample is lost, the schedule holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hiccups {
    /// Blocks from one hiccup to the next.
    pub every_blocks: u64,
    /// How late the hiccup's call comes, in periods.
    pub periods: u32,
}

/// [`pace`], with the host's `hiccups` if any.
pub fn pace_with(
    frames: u32,
    blocks: u64,
    hiccups: Option<Hiccups>,
    block: impl FnMut(u64, u64),
) -> Pacing {
    let late = |k: u64| {
        hiccups
            .filter(|h| k > 0 && k % h.every_blocks == 0)
            .map_or(0, |h| h.periods)
    };
    pace_hiccups(frames, blocks, late, block)
}

/// [`pace`] on a host whose call for block `k` comes `late(k)` periods
/// late (0: on time), then catches up back to back as with [`Hiccups`]:
/// hiccups of any pattern of lengths.
pub fn pace_hiccups(
    frames: u32,
    blocks: u64,
    late: impl Fn(u64) -> u32,
    mut block: impl FnMut(u64, u64),
) -> Pacing {
    let period_ns = f64::from(frames) * 1e9 / RATE;
    let (mut base, mut k0) = (monotonic_ns() + 20_000_000, 0u64);
    let mut due = Vec::with_capacity(blocks as usize);
    let mut calls = Vec::with_capacity(blocks as usize);
    let mut xrun_blocks = Vec::new();
    let mut hiccup_blocks = Vec::new();
    let mut owed = 0u32;
    for k in 0..blocks {
        let mut d = base + ((k - k0) as f64 * period_ns) as u64;
        let periods = late(k);
        if periods > 0 {
            sleep_until(d + (f64::from(periods) * period_ns) as u64);
            owed = periods + 1;
        }
        sleep_until(d);
        let now = monotonic_ns();
        if owed > 0 {
            owed -= 1;
            hiccup_blocks.push(k);
        } else if (now - d) as f64 > period_ns {
            (base, k0, d) = (now, k, now);
            xrun_blocks.push(k);
        }
        due.push(d);
        calls.push(now);
        block(k, now);
    }
    Pacing {
        frames,
        due,
        calls,
        xrun_blocks,
        hiccup_blocks,
    }
}

/// A change of the host's transport, at the first sample of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cue {
    /// Start playing from where the song is.
    Play,
    /// Stop; the position stays.
    Stop,
    /// Move the song position to this beat (playing or not).
    Locate(f64),
}

/// The host's song: a tempo, and cues at blocks. Positions are computed
/// from the sample count since the last cue, never accumulated per block.
#[derive(Clone, Debug)]
pub struct Song {
    /// Tempo, BPM (constant).
    pub tempo: f64,
    /// `(block, cue)`, in block order.
    pub cues: Vec<(u64, Cue)>,
}

/// The song's state at one block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SongAt {
    /// Playing during this block.
    pub playing: bool,
    /// Song position at the block's first sample, beats.
    pub beats: f64,
}

impl Song {
    /// The state at block `k` of `frames` (cues at `k` applied).
    pub fn at(&self, frames: u32, k: u64) -> SongAt {
        let (mut playing, mut beats, mut since) = (false, 0.0, 0u64);
        for &(block, cue) in self.cues.iter().filter(|(b, _)| *b <= k) {
            if playing {
                beats += self.beats_in((block - since) * u64::from(frames));
            }
            since = block;
            match cue {
                Cue::Play => playing = true,
                Cue::Stop => playing = false,
                Cue::Locate(b) => beats = b,
            }
        }
        if playing {
            beats += self.beats_in((k - since) * u64::from(frames));
        }
        SongAt { playing, beats }
    }

    /// Beats in `samples` at the tempo.
    pub fn beats_in(&self, samples: u64) -> f64 {
        samples as f64 * self.tempo / (60.0 * RATE)
    }

    /// Samples per MIDI clock tick (24 per beat) at the tempo.
    pub fn tick_samples(&self) -> f64 {
        60.0 * RATE / (self.tempo * 24.0)
    }

    /// The CLAP transport of block `k`, as a DAW gives it at the block start.
    pub fn transport(&self, frames: u32, k: u64) -> TransportEvent {
        let at = self.at(frames, k);
        let mut flags = TransportFlags::HAS_TEMPO
            | TransportFlags::HAS_BEATS_TIMELINE
            | TransportFlags::HAS_TIME_SIGNATURE;
        if at.playing {
            flags |= TransportFlags::IS_PLAYING;
        }
        let bar = (at.beats / 4.0).floor();
        TransportEvent {
            header: EventHeader::new_core(0, EventFlags::empty()),
            flags,
            song_pos_beats: BeatTime::from_float(at.beats),
            song_pos_seconds: Default::default(),
            tempo: self.tempo,
            tempo_inc: 0.0,
            loop_start_beats: Default::default(),
            loop_end_beats: Default::default(),
            loop_start_seconds: Default::default(),
            loop_end_seconds: Default::default(),
            bar_start: BeatTime::from_float(bar * 4.0),
            bar_number: bar as i32,
            time_signature_numerator: 4,
            time_signature_denominator: 4,
        }
    }
}

/// One host event for the plugin's note input port, on an absolute sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMidi {
    /// Absolute sample (block `k` holds `k·frames .. (k+1)·frames`).
    pub sample: u64,
    /// A 3-byte MIDI message.
    pub data: [u8; 3],
}

/// How a block is handed to the plugin: `(processor, frames, input,
/// output, transport)`; the tests pass `clap_host::process_block_with`
/// (`tests/clap_host` is not part of this shared tree).
pub trait ProcessBlock<H: HostHandlers>:
    Fn(
        &mut StartedPluginAudioProcessor<H>,
        u32,
        &EventBuffer,
        &mut EventBuffer,
        Option<&TransportEvent>,
    ) + Sync
{
}

impl<H: HostHandlers, F> ProcessBlock<H> for F where
    F: Fn(
            &mut StartedPluginAudioProcessor<H>,
            u32,
            &EventBuffer,
            &mut EventBuffer,
            Option<&TransportEvent>,
        ) + Sync
{
}

/// Run the plugin's `processor` on a paced audio thread (SCHED_FIFO when
/// allowed) for `blocks` blocks of `frames`: block 0 carries `params` as
/// CLAP parameter values `(id, value)`, each block the song's transport and
/// the `midi` events that fall in it (in sample order), through `process`.
/// Returns the pacing and the processor, stopped.
pub fn run_plugin<H: HostHandlers>(
    processor: StoppedPluginAudioProcessor<H>,
    process: impl ProcessBlock<H>,
    frames: u32,
    blocks: u64,
    song: &Song,
    midi: &[HostMidi],
    params: &[(u32, f64)],
) -> (Pacing, StoppedPluginAudioProcessor<H>)
where
    StoppedPluginAudioProcessor<H>: Send,
{
    run_plugin_with(processor, process, frames, blocks, song, midi, params, None)
}

/// [`run_plugin`] on a host with `hiccups`.
#[allow(clippy::too_many_arguments)]
pub fn run_plugin_with<H: HostHandlers>(
    processor: StoppedPluginAudioProcessor<H>,
    process: impl ProcessBlock<H>,
    frames: u32,
    blocks: u64,
    song: &Song,
    midi: &[HostMidi],
    params: &[(u32, f64)],
    hiccups: Option<Hiccups>,
) -> (Pacing, StoppedPluginAudioProcessor<H>)
where
    StoppedPluginAudioProcessor<H>: Send,
{
    assert!(
        midi.windows(2).all(|w| w[0].sample <= w[1].sample),
        "host events in sample order"
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            try_realtime();
            let mut p = processor.start_processing().expect("start_processing");
            let mut input = EventBuffer::with_capacity(256);
            let mut output = EventBuffer::with_capacity(1024);
            let mut next = 0;
            let pacing = pace_with(frames, blocks, hiccups, |k, _| {
                input.clear();
                output.clear();
                if k == 0 {
                    for &(id, value) in params {
                        input.push(&ParamValueEvent::new(
                            0,
                            ClapId::new(id),
                            Pckn::match_all(),
                            value,
                        ));
                    }
                }
                let end = (k + 1) * u64::from(frames);
                while next < midi.len() && midi[next].sample < end {
                    let e = midi[next];
                    let at = e.sample.saturating_sub(k * u64::from(frames)) as u32;
                    input.push(&MidiEvent::new(at, 0, e.data));
                    next += 1;
                }
                let transport = song.transport(frames, k);
                process(&mut p, frames, &input, &mut output, Some(&transport));
            });
            (pacing, p.stop_processing())
        })
        .join()
        .expect("the paced audio thread panicked")
    })
}

/// A real-time or system-common message at a (fractional) sample.
pub type Timed = (f64, Vec<u8>);

impl Song {
    /// What a correct MIDI clock sends for this song up to block `end`, on
    /// its samples, worked out directly from the cues (the reference the
    /// kernel tests hold the plugin to, independent of its tick scheduler):
    /// - Play at beat 0: Start, then tick 0 and every tick after, on the
    ///   sample where the song reaches it;
    /// - Play elsewhere: Song Position Pointer at once, then Continue and
    ///   the clock on the first 16th-note boundary at least one tick ahead,
    ///   with the SPP carrying that boundary;
    /// - Stop: Stop on the first sample of the stopped block;
    /// - Locate while stopped: nothing.
    ///
    /// # Panics
    /// For a locate while playing (not modelled here).
    pub fn expected_clock(&self, frames: u32, end: u64) -> Vec<Timed> {
        let f = u64::from(frames);
        let tick = self.tick_samples();
        let mut out = Vec::new();
        let mut cues = self.cues.clone();
        cues.push((end, Cue::Stop));
        let mut playing_from: Option<(f64, f64)> = None; // (sample, beats)
        for (block, cue) in cues {
            let s = (block.min(end) * f) as f64;
            let at = self.at(frames, block);
            match cue {
                Cue::Play if playing_from.is_none() => {
                    let first_tick = at.beats * 24.0;
                    let (c, status) = if first_tick.abs() < 1e-9 {
                        out.push((s, vec![0xFA]));
                        (0.0, None)
                    } else {
                        let c = ((first_tick + 1.0 - 1e-9) / 6.0).ceil() * 6.0;
                        let spp = (c / 6.0) as u16;
                        out.push((s, vec![0xF2, (spp & 0x7F) as u8, (spp >> 7) as u8]));
                        (c, Some(0xFB))
                    };
                    let c_sample = s + (c - first_tick) * tick;
                    if let Some(st) = status {
                        out.push((c_sample, vec![st]));
                    }
                    playing_from = Some((c_sample, c));
                }
                Cue::Stop => {
                    if let Some((from, _)) = playing_from.take() {
                        let mut n = 0.0;
                        while from + n * tick < s - 1e-6 {
                            out.push((from + n * tick, vec![0xF8]));
                            n += 1.0;
                        }
                        out.push((s, vec![0xFC]));
                    }
                }
                Cue::Locate(_) => assert!(
                    playing_from.is_none(),
                    "expected_clock models a locate while stopped only"
                ),
                Cue::Play => {}
            }
            if block >= end {
                break;
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}
