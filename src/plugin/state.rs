//! The plugin's saved state: what the user set, in a small versioned binary
//! format that round-trips byte for byte.
//!
//! Layout (version 1): `b"PHSY"`, version `1u8`, latency in blocks `u8`,
//! pattern length `u32` little-endian, the patterns as UTF-8.

use super::settings::LATENCY_CHOICES;
use super::PhasorSyncMainThread;
use clack_extensions::log::LogSeverity;
use clack_extensions::state::PluginStateImpl;
use clack_plugin::prelude::PluginError;
use clack_plugin::stream::{InputStream, OutputStream};
use std::io::{Read, Write};

const MAGIC: &[u8; 4] = b"PHSY";
const VERSION: u8 = 1;
/// Patterns longer than this are not PhasorSync's: refuse rather than allocate.
const MAX_PATTERNS: usize = 64 * 1024;

/// The saved settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// MIDI input latency in blocks.
    pub latency_blocks: u8,
    /// Auto-connect patterns.
    pub patterns: String,
}

impl State {
    /// The bytes of this state.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.patterns.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.latency_blocks);
        out.extend_from_slice(&(self.patterns.len() as u32).to_le_bytes());
        out.extend_from_slice(self.patterns.as_bytes());
        out
    }

    /// Parse `bytes`; every byte must belong to the state.
    ///
    /// # Errors
    /// A message saying what is wrong with the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or("it does not start with PhasorSync's marker")?;
        let (&version, rest) = rest.split_first().ok_or("it ends before its version")?;
        if version != VERSION {
            return Err(format!(
                "version {version} is not one this PhasorSync knows (1)"
            ));
        }
        let (&latency_blocks, rest) = rest.split_first().ok_or("it ends before the latency")?;
        if u32::from(latency_blocks) >= LATENCY_CHOICES {
            return Err(format!("latency {latency_blocks} is out of range"));
        }
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or("it ends before the patterns")?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() != len {
            return Err(format!(
                "the patterns should be {len} bytes, {} are there",
                rest.len()
            ));
        }
        let patterns = std::str::from_utf8(rest)
            .map_err(|_| "the patterns are not UTF-8".to_string())?
            .to_owned();
        Ok(Self {
            latency_blocks,
            patterns,
        })
    }
}

impl PluginStateImpl for PhasorSyncMainThread<'_> {
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let settings = &self.shared.settings;
        let state = State {
            latency_blocks: settings.latency_blocks() as u8,
            patterns: settings.patterns(),
        };
        output.write_all(&state.encode())?;
        Ok(())
    }

    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut bytes = Vec::new();
        input
            .take(MAX_PATTERNS as u64 + 11)
            .read_to_end(&mut bytes)?;
        match State::decode(&bytes) {
            Ok(state) => {
                let settings = &self.shared.settings;
                settings.set_latency_value(f64::from(state.latency_blocks));
                settings.set_patterns(&state.patterns);
                self.apply_patterns();
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

    #[test]
    fn round_trips_byte_for_byte() {
        let s = State {
            latency_blocks: 2,
            patterns: "KeyStep, Digitakt:0".into(),
        };
        let bytes = s.encode();
        let back = State::decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn refuses_what_is_not_a_state() {
        let good = State {
            latency_blocks: 1,
            patterns: "x".into(),
        }
        .encode();
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
        let mut bad_latency = good.clone();
        bad_latency[5] = 7;
        assert!(State::decode(&bad_latency).is_err());
        let mut bad_utf8 = good;
        let n = bad_utf8.len();
        bad_utf8[n - 1] = 0xFF;
        assert!(State::decode(&bad_utf8).is_err());
    }
}
