//! The CLAP params extension, read from the parameter table.

use super::table::{by_id, index, Param, PARAMS};
use crate::plugin::{PhasorSyncAudioProcessor, PhasorSyncMainThread, PhasorSyncShared};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams,
};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::*;
use std::ffi::CStr;

impl PhasorSyncShared<'_> {
    /// Apply a parameter event, if it is ours.
    ///
    /// # Realtime Safety
    /// No allocation: a scan of the table and an atomic store.
    pub(crate) fn handle_param_event(&self, event: &UnknownEvent) {
        if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
            // The host cannot set a read-only parameter (a measurement).
            if let Some((index, p)) = e.param_id().and_then(|id| by_id(id.get())) {
                if p.read_only {
                    return;
                }
                let before = self.settings.params.get(index);
                self.settings.params.set(index, e.value());
                // Another backend means another engine: the host deactivates
                // and activates the plugin, which starts the one chosen.
                if index == index::MIDI_BACKEND && self.settings.params.get(index) != before {
                    self.host.request_restart();
                }
            }
        }
    }
}

fn flags(p: &Param) -> ParamInfoFlags {
    let mut f = ParamInfoFlags::empty();
    if p.is_stepped() {
        f |= ParamInfoFlags::IS_STEPPED;
    }
    if matches!(p.kind, super::table::Kind::Choice(_)) {
        f |= ParamInfoFlags::IS_ENUM;
    }
    if p.automatable {
        f |= ParamInfoFlags::IS_AUTOMATABLE;
    }
    if p.read_only {
        f |= ParamInfoFlags::IS_READONLY;
    }
    f
}

impl PluginMainThreadParams for PhasorSyncMainThread<'_> {
    fn count(&self) -> u32 {
        PARAMS.len() as u32
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let Some(p) = PARAMS.get(param_index as usize) else {
            return;
        };
        info.set(&ParamInfo {
            id: ClapId::new(p.id),
            flags: flags(p),
            cookie: Default::default(),
            name: p.name.as_bytes(),
            module: p.module.as_bytes(),
            min_value: p.min,
            max_value: p.max,
            default_value: p.default,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        let (index, _) = by_id(param_id.get())?;
        Some(self.shared.settings.params.get(index))
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        let (_, p) = by_id(param_id.get()).ok_or(std::fmt::Error)?;
        p.format(value, writer)
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        let (_, p) = by_id(param_id.get())?;
        p.parse(text.to_str().ok()?)
    }

    fn flush(&self, input: &InputEvents, output: &mut OutputEvents) {
        for event in input {
            self.shared.handle_param_event(event);
        }
        self.shared.apply_edits(output);
    }
}

impl PluginAudioProcessorParams for PhasorSyncAudioProcessor<'_> {
    fn flush(&mut self, input: &InputEvents, output: &mut OutputEvents) {
        for event in input {
            self.shared.handle_param_event(event);
        }
        self.shared.apply_edits(output);
    }
}
