//! What the user sets: the parameters (see [`crate::plugin::params`]) and the
//! auto-connect patterns (saved with the project). Shared by the main thread
//! and the audio thread.

use crate::plugin::params::{index, table::LATENCY_AUTO, ParamValues};
use std::sync::Mutex;

/// What the "MIDI input latency" parameter asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// A fixed number of blocks (each with the delivery margin when more than 0).
    Blocks(u32),
    /// Set by the plugin from what it measures (`crate::timeline::auto_latency`).
    Auto,
}

/// The user's settings. The audio thread only reads parameter values (atomics).
#[derive(Debug, Default)]
pub struct Settings {
    /// Every parameter's value.
    pub params: ParamValues,
    /// Auto-connect patterns from the project (see
    /// `crate::backend::alsa_seq::connect`). The main thread's and the
    /// window's (a click in its device list edits them); the mutex is never
    /// touched by the audio thread.
    patterns: Mutex<String>,
    /// Patchbay connections to restore, as the engine wrote them (saved with
    /// the project). Written by the main thread; the window reads them.
    remembered: Mutex<String>,
}

impl Settings {
    /// The MIDI input latency setting.
    ///
    /// # Realtime Safety
    /// One relaxed atomic load.
    #[inline]
    pub fn latency(&self) -> Latency {
        let v = self.params.get(index::LATENCY);
        if v >= LATENCY_AUTO {
            Latency::Auto
        } else {
            Latency::Blocks(v as u32)
        }
    }

    /// The auto-connect patterns.
    pub fn patterns(&self) -> String {
        get(&self.patterns)
    }

    /// Replace the auto-connect patterns.
    pub fn set_patterns(&self, patterns: &str) {
        set(&self.patterns, patterns);
    }

    /// Replace the auto-connect patterns with `edit` of them, under one lock
    /// (the window's thread and the main thread may both edit them).
    pub fn edit_patterns<R>(&self, edit: impl FnOnce(&str) -> (String, R)) -> R {
        let mut text = self
            .patterns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (new, result) = edit(&text);
        *text = new;
        result
    }

    /// The patchbay connections to restore.
    pub fn remembered(&self) -> String {
        get(&self.remembered)
    }

    /// Replace the patchbay connections to restore.
    pub fn set_remembered(&self, text: &str) {
        set(&self.remembered, text);
    }
}

/// A text setting's value (a poisoned lock still holds a valid string).
fn get(m: &Mutex<String>) -> String {
    m.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Replace a text setting.
fn set(m: &Mutex<String>, text: &str) {
    text.clone_into(&mut m.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
}
