//! The engine the plugin holds: the backend the user chose
//! ([`EngineOptions::backend`]), the ALSA sequencer's or raw MIDI's, behind
//! one [`MidiEngine`]. The choice applies at the next start (the plugin asks
//! the host to restart it when the parameter changes); both backends keep
//! the options meanwhile, so switching back finds them as they were.

use crate::backend::alsa_seq::{AlsaConfig, AlsaEngine};
use crate::backend::raw_midi::{RawConfig, RawMidiEngine};
use crate::engine::rt::PriorityLink;
use crate::engine::{Backend, EngineError, EngineIo, EngineOptions, MidiEngine};

/// See the module docs.
pub struct ChosenEngine {
    seq: AlsaEngine,
    /// Made at its first start.
    raw: Option<RawMidiEngine>,
    raw_config: RawConfig,
    options: EngineOptions,
    running: Option<Backend>,
}

impl ChosenEngine {
    /// Both backends stopped, the sequencer chosen.
    ///
    /// # Errors
    /// The sequencer engine could not be made (no eventfd).
    pub fn new(seq: AlsaConfig, raw: RawConfig) -> Result<Self, EngineError> {
        Ok(Self {
            seq: AlsaEngine::new(seq)?,
            raw: None,
            raw_config: raw,
            options: EngineOptions::default(),
            running: None,
        })
    }

    /// The backend running, if one is (for the tests).
    #[cfg(test)]
    pub fn running(&self) -> Option<Backend> {
        self.running
    }

    fn raw(&mut self) -> Result<&mut RawMidiEngine, EngineError> {
        if self.raw.is_none() {
            let mut raw = RawMidiEngine::new(self.raw_config.clone())?;
            raw.set_options(&self.options);
            self.raw = Some(raw);
        }
        Ok(self.raw.as_mut().expect("made above"))
    }
}

impl MidiEngine for ChosenEngine {
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError> {
        if self.running.is_some() {
            self.stop();
        }
        let backend = self.options.backend;
        match backend {
            Backend::Sequencer => self.seq.start(io)?,
            Backend::RawMidi => self.raw()?.start(io)?,
        }
        self.running = Some(backend);
        Ok(())
    }

    fn stop(&mut self) {
        self.seq.stop();
        if let Some(raw) = self.raw.as_mut() {
            raw.stop();
        }
        self.running = None;
    }

    fn set_options(&mut self, options: &EngineOptions) {
        self.options = options.clone();
        self.seq.set_options(options);
        if let Some(raw) = self.raw.as_mut() {
            raw.set_options(options);
        }
    }

    fn priority_link(&self) -> Option<PriorityLink> {
        match (self.running, &self.raw) {
            (Some(Backend::RawMidi), Some(raw)) => raw.priority_link(),
            _ => MidiEngine::priority_link(&self.seq),
        }
    }

    fn remembered(&self) -> String {
        self.seq.remembered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::alsa_seq::ThreadState;

    #[test]
    fn the_raw_backend_runs_when_chosen_and_without_a_device_keeps_running() {
        let dir = std::env::temp_dir().join(format!("phasorsync-chosen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut e = ChosenEngine::new(
            AlsaConfig::default(),
            RawConfig {
                patterns_from_environment: false,
                rt_priority: None,
                // No kernel devices: an empty listing.
                asound: dir.clone(),
                ..RawConfig::default()
            },
        )
        .unwrap();
        e.set_options(&EngineOptions {
            backend: Backend::RawMidi,
            connect: "raw:hw:7,0".into(),
            ..EngineOptions::default()
        });
        let (input, _c) = crate::ring::midi_buffer(16);
        let io = EngineIo::input_only(input);
        let news = std::sync::Arc::clone(&io.news);
        e.start(io).unwrap();
        assert_eq!(e.running(), Some(Backend::RawMidi));
        let raw = e.raw.as_ref().unwrap();
        let t0 = std::time::Instant::now();
        let mut lines = Vec::new();
        while lines.is_empty() && t0.elapsed() < std::time::Duration::from_secs(3) {
            std::thread::sleep(std::time::Duration::from_millis(10));
            lines.extend(std::iter::from_fn(|| news.pop_log()));
        }
        assert!(
            lines[0]
                .message
                .contains("no raw MIDI device matches raw:hw:7,0"),
            "{lines:?}"
        );
        assert_eq!(raw.state(), ThreadState::Running);
        e.stop();
        assert_eq!(e.running(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
