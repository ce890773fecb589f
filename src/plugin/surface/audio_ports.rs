//! One audio port: the main output, stereo, carrying the phasor on both
//! channels. No audio input.
//!
//! Why stereo and not mono: DAW tracks are stereo, and a mono output is
//! upmixed differently by each host (REAPER fills only the left channel;
//! Qtractor, which counts only the main port's channels, runs one instance
//! per channel of a stereo track when a plugin is mono, and every instance
//! would open its own sequencer client). With the same ramp on both
//! channels, every host sees the phasor on whichever channel it reads.
//!
//! On the audio thread, [`MainOut`] is the block's main output as the host
//! gave it: 32- or 64-bit, any channel count, or none at all (a host may
//! pass no buffers, e.g. while it only wants events). The phasor is written
//! into the first channel and copied into the others at the end.

use crate::midi_clock::phasor::{PhasorSink, Ramp};
use crate::plugin::PhasorSyncMainThread;
use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType, PluginAudioPortsImpl,
};
use clack_plugin::prelude::*;
use clack_plugin::process::audio::{OutputChannels, SampleType};
use clack_plugin::process::ConstantMask;

/// Port id of the main output.
pub const MAIN_OUTPUT_ID: u32 = 0;
/// Its channels.
pub const CHANNELS: u32 = 2;

impl PluginAudioPortsImpl for PhasorSyncMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if is_input || index != 0 {
            return;
        }
        writer.set(&AudioPortInfo {
            id: ClapId::new(MAIN_OUTPUT_ID),
            name: b"Phasor",
            channel_count: CHANNELS,
            flags: AudioPortFlags::IS_MAIN | AudioPortFlags::SUPPORTS_64BITS,
            port_type: Some(AudioPortType::STEREO),
            in_place_pair: None,
        });
    }
}

/// The block's main output buffers, as far as the host gave them.
pub enum MainOut<'a> {
    /// 32-bit channels.
    F32(OutputChannels<'a, f32>),
    /// 64-bit channels.
    F64(OutputChannels<'a, f64>),
    /// No usable buffer: nothing is written.
    None,
}

impl<'a> MainOut<'a> {
    /// The first output port of `audio`, if there is one with at least one
    /// usable channel (non-null, since a host's pointers are not checked
    /// by the CLAP wrapper).
    ///
    /// # Realtime Safety
    /// No allocation.
    pub fn new(audio: &'a mut Audio<'_>) -> Self {
        let Some(mut port) = audio.output_port(0) else {
            return MainOut::None;
        };
        port.set_constant_mask(ConstantMask::FULLY_DYNAMIC);
        match port.channels() {
            Ok(SampleType::F32(c) | SampleType::Both(c, _)) if usable(c.raw_data()) => {
                MainOut::F32(c)
            }
            Ok(SampleType::F64(c)) if usable(c.raw_data()) => MainOut::F64(c),
            _ => MainOut::None,
        }
    }

    /// Copy the first channel into the others (the non-null ones).
    ///
    /// # Realtime Safety
    /// Memory copies.
    pub fn finish(self) {
        match self {
            MainOut::F32(c) => copy_first(c),
            MainOut::F64(c) => copy_first(c),
            MainOut::None => {}
        }
    }
}

/// Whether every channel pointer is non-null (and there is one).
fn usable<S>(raw: &[*mut S]) -> bool {
    !raw.is_empty() && raw.iter().all(|p| !p.is_null())
}

fn copy_first<S: Copy>(mut c: OutputChannels<'_, S>) {
    let (first, mut rest) = c.split_at_mut(1);
    let Some(first) = first.channel(0) else {
        return;
    };
    for other in rest.iter_mut() {
        other.copy_from_slice(first);
    }
}

impl PhasorSink for MainOut<'_> {
    fn ramp(&mut self, start: u32, end: u32, ramp: &Ramp) {
        match self {
            MainOut::F32(c) => {
                if let Some(ch) = c.channel_mut(0) {
                    ch.ramp(start, end, ramp);
                }
            }
            MainOut::F64(c) => {
                if let Some(ch) = c.channel_mut(0) {
                    ch.ramp(start, end, ramp);
                }
            }
            MainOut::None => {}
        }
    }
}
