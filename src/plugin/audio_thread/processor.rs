//! The audio-thread half of the plugin. It owns the block's timeline: one
//! [`crate::timeline::BlockMap`] per `process()` call, handed to every part that needs to turn
//! a time into a sample or back: hardware input and the clock follower
//! (`to_host/hardware_midi.rs`, `to_host/clock_in.rs`), the phasor
//! ([`crate::midi_clock::phasor`]), and the host's events and MIDI clock to
//! the hardware (`to_hardware/output_ring.rs`, `to_hardware/clock_out.rs`).

use super::arena::Arena;
use super::latency::LatencyInUse;
use super::to_hardware::clock_out::ClockOut;
use super::to_hardware::output_ring::{MidiOut, OutTimes, OutputOptions};
use super::to_host::clock_in::ClockIn;
use super::to_host::hardware_midi::MidiIn;
use super::to_host::host_queue::HostOut;
use super::to_host::thru;
use super::transport_events::BlockStretches;
use crate::engine::rt::{self, PriorityLink};
use crate::engine::News;
use crate::midi_clock::phasor::{Phasor, Setup};
use crate::plugin::main_thread::settings::Latency;
use crate::plugin::params::{index, ParamValues};
use crate::plugin::surface::audio_ports::MainOut;
use crate::plugin::{PhasorSyncMainThread, PhasorSyncShared};
use crate::timeline::{monotonic_ns, Timeline};
use clack_plugin::prelude::*;
use std::sync::Arc;

/// Lives on the audio thread between `activate` and `deactivate`.
pub struct PhasorSyncAudioProcessor<'a> {
    pub(in crate::plugin) shared: &'a PhasorSyncShared<'a>,
    timeline: Timeline,
    midi_in: MidiIn,
    /// Host → hardware.
    midi_out: MidiOut,
    /// Host transport → MIDI clock → hardware.
    clock_out: ClockOut,
    arena: Arena,
    /// Hardware MIDI clock in, and the phasor that may follow it.
    clock_in: ClockIn,
    phasor: Phasor,
    /// The block cut at the host's transport events, for the phasor and the
    /// clock out.
    stretches: BlockStretches,
    /// The input latency and output delay in use, and their display.
    latency: LatencyInUse,
    /// News from below the seam; `None` without an engine.
    news: Option<Arc<News>>,
    /// Tells the MIDI thread this thread's priority; `None` without an engine.
    priority: Option<PriorityLink>,
    /// The doorbell and the loss count as last seen.
    seen: (u64, u64),
}

impl<'a> PluginAudioProcessor<'a, PhasorSyncShared<'a>, PhasorSyncMainThread<'a>>
    for PhasorSyncAudioProcessor<'a>
{
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        main_thread: &PhasorSyncMainThread<'a>,
        shared: &'a PhasorSyncShared<'a>,
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        // A missing sequencer is logged by start_engine and is not an error:
        // the plugin still passes the host's events through.
        let started = main_thread.start_engine();
        let (input, output, news, priority) = match started {
            Some(s) => (
                Some(s.ends.input),
                Some(s.ends.output),
                Some(s.news),
                s.priority,
            ),
            None => (None, None, None, None),
        };
        // Room for every SysEx the input ring can hold, plus the host's own.
        let arena_len = input.as_ref().map_or(0, |c| c.sysex_capacity()) + HOST_SYSEX_BYTES;
        let (rate, max_frames) = (audio_config.sample_rate, audio_config.max_frames_count);
        let mut latency = LatencyInUse::new(rate);
        let first = Timeline::new(rate, max_frames).begin_block(monotonic_ns(), max_frames, None);
        latency.prime(shared.settings.latency(), &first, &shared.settings.params);
        Ok(Self {
            shared,
            timeline: Timeline::new(audio_config.sample_rate, audio_config.max_frames_count),
            midi_in: MidiIn::new(input),
            midi_out: MidiOut::new(output),
            clock_out: ClockOut::new(audio_config.sample_rate),
            arena: Arena::new(arena_len),
            clock_in: ClockIn::new(&shared.settings.params),
            phasor: Phasor::new(audio_config.sample_rate),
            stretches: BlockStretches::new(audio_config.max_frames_count),
            latency,
            news,
            priority,
            seen: (0, shared.counters.bell()),
        })
    }

    fn process(
        &mut self,
        process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        // Reading CLOCK_MONOTONIC is the one system call process() makes (a vDSO read).
        let now = monotonic_ns();
        let shared = self.shared;
        // Parameter changes take effect from this block on.
        for event in events.input {
            shared.handle_param_event(event);
        }
        // Edits made in the plugin window, with their gestures.
        shared.apply_edits(events.output);
        let frames = audio.frames_count();
        let block = self.timeline.begin_block(now, frames, process.steady_time);
        let setting = shared.settings.latency();
        let auto_ns = self.midi_in.auto_latency_ns(now);
        let latency = self.latency.input_frames(setting, &block, auto_ns);
        let out_opts = OutputOptions::read(&shared.settings.params);
        let mut out = HostOut::new(events.output, &shared.counters, &mut self.arena);
        let params = &shared.settings.params;
        self.clock_in.begin_block(params);
        self.midi_in
            .begin_block(&block, latency, &mut out, &mut self.clock_in);
        let mut main_out = MainOut::new(&mut audio);
        let stretches = self.stretches.cut(process.transport, events.input, frames);
        let mut phasor = self.phasor.block(
            phasor_setup(params),
            stretches.iter().copied(),
            (block, latency),
        );

        // Hardware and host events, merged in time order.
        let mut host = events.input.iter().peekable();
        while let Some(offset) =
            self.midi_in
                .next_offset(&block, latency, setting != Latency::Blocks(0), &out)
        {
            while let Some(event) = host.next_if(|e| e.header().time() <= offset) {
                thru::pass(event, &mut out, out_opts.to_daw);
            }
            phasor.render_to(offset, self.clock_in.follower(), &mut main_out);
            self.midi_in.emit_next(offset, &mut out, &mut self.clock_in);
        }
        for event in host {
            thru::pass(event, &mut out, out_opts.to_daw);
        }
        phasor.render_to(frames, self.clock_in.follower(), &mut main_out);
        main_out.finish();
        if frames > 0 {
            let end = block.time_of(frames - 1, latency);
            self.clock_in.publish(end, frames - 1, params, &mut out);
            self.latency.publish(latency, frames - 1, params, &mut out);
        }

        // To the hardware: the host's events, then the clock, each at its
        // sample's time plus the output delay (see to_hardware/output_ring.rs).
        let quiet = !self.midi_out.holds_notes() && !self.clock_out.is_sending();
        let out_latency = self.latency.output_frames(setting, &block, latency, quiet);
        let times = OutTimes::with_latency(&block, out_latency);
        let counters = &shared.counters;
        self.midi_out
            .host_block(events.input, &times, &out_opts, counters);
        self.clock_out.block(
            now,
            self.stretches.get(),
            frames,
            &times,
            params,
            &mut self.midi_out,
            counters,
        );
        // For the plugin window's moving phasor.
        let phase = self.phasor.value().to_bits();
        counters
            .phase
            .store(phase, std::sync::atomic::Ordering::Relaxed);
        self.ring_doorbell(now);
        Ok(ProcessStatus::Continue)
    }

    fn start_processing(&mut self) -> Result<(), PluginError> {
        // The host may have paused for any time: the timeline must relearn,
        // and what queued up meanwhile is looked at before it is played.
        self.timeline.reset();
        self.midi_in.resume();
        self.phasor.reset();
        // The MIDI thread runs just below this (the host's audio) thread.
        // Not in process(): reading the scheduling and the wake-up write are
        // system calls, made once per start here.
        if let Some(link) = &self.priority {
            link.set_priority_below(rt::current_thread_sched().realtime_priority());
        }
        Ok(())
    }

    fn stop_processing(&mut self) {
        self.silence_hardware();
    }

    fn reset(&mut self) {
        // CLAP's reset means silence: nothing may play on on the hardware.
        self.silence_hardware();
        self.timeline.reset();
        self.midi_in.resume();
        self.phasor.reset();
    }

    fn deactivate(mut self, main_thread: &PhasorSyncMainThread<'a>) {
        // A host that deactivates without stopping first.
        self.silence_hardware();
        // Drop our ends of the rings before the engine stops, so the MIDI
        // thread sees the audio side gone whichever way it looks.
        drop(self.midi_in);
        drop(self.midi_out);
        main_thread.stop_engine();
        // Inactive, no latency is in use: the value reads as it did before
        // activation (a host, and the CLAP validator, compare the values
        // around an activation that had no input).
        LatencyInUse::clear(&self.shared.settings.params);
    }
}

/// The phasor's parameters, read once per block.
///
/// # Realtime Safety
/// Two atomic loads.
fn phasor_setup(params: &ParamValues) -> Setup {
    Setup::from_params(
        params.get(index::PHASOR_PERIOD),
        params.get(index::PHASOR_SOURCE),
    )
}

/// Arena room for the host's own SysEx in one block (copied, see `to_host/host_queue.rs`).
const HOST_SYSEX_BYTES: usize = 64 * 1024;

impl PhasorSyncAudioProcessor<'_> {
    /// Processing stops or the host resets: Stop to a running clock slave
    /// and note-offs for the notes the host left held on the hardware, so
    /// nothing plays on.
    ///
    /// # Realtime Safety
    /// One clock read and copies into the output ring.
    fn silence_hardware(&mut self) {
        let now = monotonic_ns();
        let shared = self.shared;
        let counters = &shared.counters;
        self.clock_out
            .stop_now(now, &shared.settings.params, &mut self.midi_out, counters);
        self.midi_out.release_held_now(now, counters);
    }

    /// Ask the host for a main-thread callback when there is news from below
    /// the seam (its one doorbell), the audio thread counted a loss, or a loss
    /// summary the main thread held back is due by `now_ns`.
    ///
    /// # Realtime Safety
    /// Three atomic loads (a compare-exchange when a summary is due);
    /// `request_callback` is a thread-safe host call.
    fn ring_doorbell(&mut self, now_ns: u64) {
        let bell = self.news.as_ref().map_or(0, |n| n.bell());
        let losses = self.shared.counters.bell();
        let due = self.shared.summary_due.take(now_ns);
        if (bell, losses) != self.seen || due {
            self.seen = (bell, losses);
            self.shared.host.request_callback();
        }
    }
}
