//! The plugin's saved state: what the user set, in a small versioned binary
//! format that round-trips byte for byte.
//!
//! Version 2 (written): `b"PHSY"`, version `2u8`, then
//! - the parameter count `u16` LE and, per parameter in table order, its id
//!   `u32` LE and value `f64` LE: values are stored by id, so a parameter
//!   added later needs no new version (a state without it loads its default,
//!   and ids this version does not know are skipped);
//! - the text count `u16` LE and, per text, a key `u16` LE, a length `u32` LE
//!   and UTF-8 bytes (key 1: auto-connect patterns; key 2: the patchbay
//!   connections the engine remembered; unknown keys are skipped).
//!
//! Version 1 (still read): `b"PHSY"`, `1u8`, latency in blocks `u8`, pattern
//! length `u32` LE, the patterns as UTF-8.

use crate::plugin::params::{self, PARAMS};
use crate::plugin::PhasorSyncMainThread;
use clack_extensions::log::LogSeverity;
use clack_extensions::params::{HostParams, ParamRescanFlags};
use clack_extensions::state::PluginStateImpl;
use clack_plugin::prelude::PluginError;
use clack_plugin::stream::{InputStream, OutputStream};
use std::io::{Read, Write};

const MAGIC: &[u8; 4] = b"PHSY";
const VERSION: u8 = 2;
/// Text key of the auto-connect patterns.
const KEY_PATTERNS: u16 = 1;
/// Text key of the remembered patchbay connections.
const KEY_REMEMBERED: u16 = 2;
/// A state longer than this is not PhasorSync's: refuse rather than allocate.
const MAX_STATE: usize = 256 * 1024;

/// The saved settings.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// `(parameter id, value)`, one per row of the parameter table that is
    /// not read-only (measurements are not settings), in table order.
    pub params: Vec<(u32, f64)>,
    /// Auto-connect patterns.
    pub patterns: String,
    /// Patchbay connections to restore, as the engine wrote them.
    pub remembered: String,
}

impl Default for State {
    fn default() -> Self {
        Self {
            params: PARAMS
                .iter()
                .filter(|p| !p.read_only)
                .map(|p| (p.id, p.default))
                .collect(),
            patterns: String::new(),
            remembered: String::new(),
        }
    }
}

/// Reads a state's fields in order, with a message for what is missing.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| format!("it ends before {what}"))?;
        self.0 = rest;
        Ok(*head)
    }
    fn bytes(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < len {
            return Err(format!(
                "{what} should be {len} bytes, {} are there",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        self.take(what).map(u16::from_le_bytes)
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.take(what).map(u32::from_le_bytes)
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| format!("{what} are not UTF-8"))
}

impl State {
    /// The value saved for parameter `id`, if any.
    pub fn param(&self, id: u32) -> Option<f64> {
        self.params.iter().find(|(i, _)| *i == id).map(|&(_, v)| v)
    }

    /// The bytes of this state (version 2).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 12 * self.params.len() + self.patterns.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.params.len() as u16).to_le_bytes());
        for &(id, value) in &self.params {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        let texts = [
            (KEY_PATTERNS, &self.patterns),
            (KEY_REMEMBERED, &self.remembered),
        ];
        out.extend_from_slice(&(texts.len() as u16).to_le_bytes());
        for (key, text) in texts {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    /// Parse `bytes` (version 1 or 2, at most 256 KiB); every byte must
    /// belong to the state. Parameters the table has but the bytes lack get
    /// their default; unknown and read-only ids are skipped; a value out of
    /// its parameter's range is clamped (not a number: the default).
    ///
    /// # Errors
    /// A message saying what is wrong with the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_STATE {
            return Err(format!(
                "it is too large ({} bytes; a PhasorSync state is at most {MAX_STATE})",
                bytes.len()
            ));
        }
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or("it does not start with PhasorSync's marker")?;
        let mut r = Reader(rest);
        let [version] = r.take("its version")?;
        let mut state = Self::default();
        match version {
            1 => {
                let [latency] = r.take("the latency")?;
                state.set_param(PARAMS[params::index::LATENCY].id, f64::from(latency));
                let len = r.u32("the patterns' length")? as usize;
                state.patterns = utf8(r.bytes(len, "the patterns")?, "the patterns")?;
            }
            2 => {
                for _ in 0..r.u16("the parameter count")? {
                    let id = r.u32("a parameter id")?;
                    let value = f64::from_le_bytes(r.take("a parameter value")?);
                    state.set_param(id, value);
                }
                for _ in 0..r.u16("the text count")? {
                    let key = r.u16("a text key")?;
                    let len = r.u32("a text length")? as usize;
                    let text = utf8(r.bytes(len, "a text")?, "the texts")?;
                    match key {
                        KEY_PATTERNS => state.patterns = text,
                        KEY_REMEMBERED => state.remembered = text,
                        _ => {}
                    }
                }
            }
            v => {
                return Err(format!(
                    "version {v} is not one this PhasorSync knows (1 or {VERSION})"
                ))
            }
        }
        if !r.0.is_empty() {
            return Err(format!("{} bytes follow its end", r.0.len()));
        }
        Ok(state)
    }

    /// Set the saved value of `id`, made valid for its parameter (clamped;
    /// not a number gives the default). An id this state does not hold is
    /// skipped: a newer state's unknown parameter, or a read-only one
    /// (a measurement, not a setting).
    fn set_param(&mut self, id: u32, value: f64) {
        let Some((_, p)) = params::table::by_id(id) else {
            return;
        };
        if let Some(saved) = self.params.iter_mut().find(|(i, _)| *i == id) {
            saved.1 = p.clamp(value);
        }
    }
}

impl PhasorSyncMainThread<'_> {
    fn current_state(&self) -> State {
        let settings = &self.shared.settings;
        State {
            params: PARAMS
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.read_only)
                .map(|(i, p)| (p.id, settings.params.get(i)))
                .collect(),
            patterns: settings.patterns(),
            remembered: self.remembered(),
        }
    }
}

impl PluginStateImpl for PhasorSyncMainThread<'_> {
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        output.write_all(&self.current_state().encode())?;
        Ok(())
    }

    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut bytes = Vec::new();
        input.take(MAX_STATE as u64 + 1).read_to_end(&mut bytes)?;
        match State::decode(&bytes) {
            Ok(state) => {
                let settings = &self.shared.settings;
                let changed = state.params != self.current_state().params;
                for (i, p) in PARAMS.iter().enumerate().filter(|(_, p)| !p.read_only) {
                    settings
                        .params
                        .set(i, state.param(p.id).unwrap_or(p.default));
                }
                settings.set_patterns(&state.patterns);
                settings.set_remembered(&state.remembered);
                self.apply_patterns();
                // The host shows parameter values: tell it they changed.
                if changed {
                    if let Some(params) = self.host.get_extension::<HostParams>() {
                        params.rescan(&self.host, ParamRescanFlags::VALUES);
                    }
                }
                Ok(())
            }
            Err(why) => {
                self.shared.log(
                    LogSeverity::Error,
                    &format!("could not load the saved PhasorSync state: {why}; keeping the current settings"),
                );
                Err(PluginError::Message("corrupt PhasorSync state"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut s = State::default();
        s.params[params::index::LATENCY].1 = 2.0;
        s.patterns = "KeyStep, Digitakt:0".into();
        s.remembered = "=KeyStep 37:KeyStep 37 MIDI 1\nout:=Digitone:Digitone MIDI 1".into();
        s
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let s = sample();
        let bytes = s.encode();
        let back = State::decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn a_version_1_state_loads() {
        // What PhasorSync 0.1.0 wrote: latency 2 blocks, patterns "KeyStep".
        let mut v1 = b"PHSY\x01\x02".to_vec();
        v1.extend_from_slice(&7u32.to_le_bytes());
        v1.extend_from_slice(b"KeyStep");
        let s = State::decode(&v1).unwrap();
        assert_eq!(s.param(PARAMS[params::index::LATENCY].id), Some(2.0));
        assert_eq!(s.patterns, "KeyStep");
        // Saved again, it is a version-2 state with the same content.
        assert_eq!(State::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn unknown_ids_and_keys_are_skipped_missing_ones_default() {
        let mut bytes = b"PHSY\x02".to_vec();
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&9999u32.to_le_bytes());
        bytes.extend_from_slice(&5.0f64.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&77u16.to_le_bytes());
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(b"hi");
        assert_eq!(State::decode(&bytes).unwrap(), State::default());
    }

    /// A version-2 state of `(id, value)` pairs (written as any state is,
    /// whatever the ids), with empty texts.
    fn with_params(params: &[(u32, f64)]) -> Vec<u8> {
        State {
            params: params.to_vec(),
            ..State::default()
        }
        .encode()
    }

    #[test]
    fn read_only_ids_are_skipped() {
        // Measurements are not settings: a state naming them (a hand-made
        // one, or one from a build that saved them) loads without them.
        let read_only: Vec<_> = PARAMS
            .iter()
            .filter(|p| p.read_only)
            .map(|p| (p.id, p.max))
            .collect();
        assert!(!read_only.is_empty(), "the table has no read-only row");
        let latency = PARAMS[params::index::LATENCY].id;
        let mut named = read_only.clone();
        named.push((latency, 2.0));
        let s = State::decode(&with_params(&named)).unwrap();
        assert_eq!(s.param(latency), Some(2.0));
        for (id, _) in read_only {
            assert_eq!(s.param(id), None, "read-only id {id} was kept");
        }
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let latency = &PARAMS[params::index::LATENCY];
        let offset = &PARAMS[params::index::OUTPUT_OFFSET];
        let s = State::decode(&with_params(&[
            (latency.id, latency.max + 5.0),
            (offset.id, offset.min - 1000.0),
        ]))
        .unwrap();
        assert_eq!(s.param(latency.id), Some(latency.max));
        assert_eq!(s.param(offset.id), Some(offset.min));
        // Not a number: the default.
        let s = State::decode(&with_params(&[(latency.id, f64::NAN)])).unwrap();
        assert_eq!(s.param(latency.id), Some(latency.default));
    }

    #[test]
    fn a_state_over_the_limit_is_too_large() {
        let big = State {
            patterns: "x".repeat(MAX_STATE),
            ..State::default()
        };
        let why = State::decode(&big.encode()).unwrap_err();
        assert!(why.contains("too large"), "{why}");
    }

    #[test]
    fn refuses_what_is_not_a_state() {
        let good = sample().encode();
        assert!(State::decode(b"").is_err());
        assert!(State::decode(b"JUNKJUNKJUNK").is_err());
        assert!(State::decode(&good[..good.len() - 1]).is_err(), "truncated");
        let mut longer = good.clone();
        longer.push(0);
        assert!(State::decode(&longer).is_err(), "trailing byte");
        let mut bad_version = good.clone();
        bad_version[4] = 9;
        assert!(State::decode(&bad_version)
            .unwrap_err()
            .contains("version 9"));
        let mut bad_utf8 = good;
        let n = bad_utf8.len();
        bad_utf8[n - 1] = 0xFF;
        assert!(State::decode(&bad_utf8).is_err());
    }
}
