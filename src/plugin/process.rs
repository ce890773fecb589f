//! The audio-thread half of the plugin.

use super::midi_in::{MidiIn, Out};
use super::{PhasorSyncMainThread, PhasorSyncShared};
use crate::backend::alsa_seq::queue_time::monotonic_ns;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::*;

/// Lives on the audio thread between `activate` and `deactivate`.
pub struct PhasorSyncAudioProcessor<'a> {
    pub(super) shared: &'a PhasorSyncShared<'a>,
    midi_in: MidiIn,
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
        let consumer = main_thread.start_engine();
        Ok(Self {
            shared,
            midi_in: MidiIn::new(
                consumer,
                audio_config.sample_rate,
                audio_config.max_frames_count,
            ),
        })
    }

    fn process(
        &mut self,
        process: Process,
        audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        // Reading CLOCK_MONOTONIC is the one system call process() makes (a vDSO read).
        let now = monotonic_ns();
        let shared = self.shared;
        let request_report = || shared.host.request_callback();
        // Parameter changes take effect from this block on.
        for event in events.input {
            shared.handle_param_event(event);
        }
        self.midi_in
            .set_latency_blocks(shared.settings.latency_blocks());
        let mut out = Out {
            events: events.output,
            counters: &shared.counters,
            request_report: &request_report,
        };
        self.midi_in.process(
            now,
            audio.frames_count(),
            process.steady_time,
            events.input,
            &mut out,
        );
        if self.midi_in.needs_report() {
            shared.counters.ask(&request_report);
        }
        Ok(ProcessStatus::Continue)
    }

    fn start_processing(&mut self) -> Result<(), PluginError> {
        // The host may have paused for any time: the clock map must relearn.
        self.midi_in.reset();
        Ok(())
    }

    fn reset(&mut self) {
        self.midi_in.reset();
    }

    fn deactivate(self, main_thread: &PhasorSyncMainThread<'a>) {
        // Drop our end of the ring before the engine stops, so the MIDI
        // thread sees the audio side gone whichever way it looks.
        drop(self.midi_in);
        main_thread.stop_engine();
    }
}

/// Note, MIDI and SysEx events pass through; transport and parameter events
/// are inputs to this plugin, not things it may echo.
pub(super) fn is_forwarded(event: &UnknownEvent) -> bool {
    matches!(
        event.as_core_event(),
        Some(
            CoreEventSpace::NoteOn(_)
                | CoreEventSpace::NoteOff(_)
                | CoreEventSpace::NoteChoke(_)
                | CoreEventSpace::NoteExpression(_)
                | CoreEventSpace::Midi(_)
                | CoreEventSpace::MidiSysEx(_)
                | CoreEventSpace::Midi2(_)
        )
    )
}
