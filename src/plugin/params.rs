//! The one parameter: MIDI input latency, traded against placement accuracy.

use super::settings::{DEFAULT_LATENCY_BLOCKS, LATENCY_CHOICES};
use super::{PhasorSyncAudioProcessor, PhasorSyncMainThread, PhasorSyncShared};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams,
};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::*;
use std::ffi::CStr;
use std::fmt::Write as _;

/// Id of the latency parameter. Stable: saved in projects.
pub const LATENCY_PARAM: ClapId = ClapId::new(1);

/// What each latency choice means, as shown to the user.
const LATENCY_TEXT: [&str; LATENCY_CHOICES as usize] = [
    "0 blocks: lowest latency, not sample-accurate (events land at the block start)",
    "1 block + 0.2 ms: sample-accurate (default)",
    "2 blocks + 0.2 ms: sample-accurate on a busy system",
];

impl PhasorSyncShared<'_> {
    /// Apply a parameter event, if it is ours.
    ///
    /// # Realtime Safety
    /// No allocation: an atomic store.
    pub(crate) fn handle_param_event(&self, event: &UnknownEvent) {
        if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
            if e.param_id() == Some(LATENCY_PARAM) {
                self.settings.set_latency_value(e.value());
            }
        }
    }
}

impl PluginMainThreadParams for PhasorSyncMainThread<'_> {
    fn count(&self) -> u32 {
        1
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        if param_index != 0 {
            return;
        }
        info.set(&ParamInfo {
            id: LATENCY_PARAM,
            // Not automatable: changing it while notes play would reorder them.
            flags: ParamInfoFlags::IS_STEPPED | ParamInfoFlags::IS_ENUM,
            cookie: Default::default(),
            name: b"MIDI input latency",
            module: b"",
            min_value: 0.0,
            max_value: f64::from(LATENCY_CHOICES - 1),
            default_value: f64::from(DEFAULT_LATENCY_BLOCKS),
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        (param_id == LATENCY_PARAM).then(|| f64::from(self.shared.settings.latency_blocks()))
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        if param_id != LATENCY_PARAM {
            return Err(std::fmt::Error);
        }
        let i = value.round().clamp(0.0, f64::from(LATENCY_CHOICES - 1)) as usize;
        writer.write_str(LATENCY_TEXT[i])
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        if param_id != LATENCY_PARAM {
            return None;
        }
        let text = text.to_str().ok()?.trim();
        // The full text, or just its leading number.
        let number = text.split_whitespace().next()?;
        let blocks: u32 = number.parse().ok()?;
        (blocks < LATENCY_CHOICES).then_some(f64::from(blocks))
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        for event in input {
            self.shared.handle_param_event(event);
        }
    }
}

impl PluginAudioProcessorParams for PhasorSyncAudioProcessor<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        for event in input {
            self.shared.handle_param_event(event);
        }
    }
}
