//! The audio-thread half of the plugin.

use super::{PhasorSyncMainThread, PhasorSyncShared};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::*;

/// Lives on the audio thread between `activate` and `deactivate`.
pub struct PhasorSyncAudioProcessor<'a> {
    shared: &'a PhasorSyncShared<'a>,
}

impl<'a> PluginAudioProcessor<'a, PhasorSyncShared<'a>, PhasorSyncMainThread<'a>>
    for PhasorSyncAudioProcessor<'a>
{
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &PhasorSyncMainThread<'a>,
        shared: &'a PhasorSyncShared<'a>,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { shared })
    }

    fn process(
        &mut self,
        _process: Process,
        _audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        // The host's input is already time-ordered, so forwarding in input
        // order keeps the output ordered.
        for event in events.input {
            if is_forwarded(event) {
                self.push(events.output, event);
            }
        }
        Ok(ProcessStatus::ContinueIfNotQuiet)
    }
}

impl PhasorSyncAudioProcessor<'_> {
    /// Push one event to the host, counting it, or counting the loss.
    fn push(&self, output: &mut OutputEvents, event: &UnknownEvent) {
        let counters = &self.shared.counters;
        match output.try_push(event) {
            Ok(()) => counters.event_out(),
            Err(_) => counters.output_full(self.shared),
        }
    }
}

/// Note, MIDI and SysEx events pass through; transport and parameter events
/// are inputs to this plugin, not things it may echo.
fn is_forwarded(event: &UnknownEvent) -> bool {
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
