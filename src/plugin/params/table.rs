//! Every parameter, as data: one row each. The CLAP params extension, the
//! saved state and the audio thread all read this table, so adding a
//! parameter is adding a row (and an index constant for the code that uses it).
//!
//! Ids are saved in projects: never reuse or renumber one.

use std::fmt::{self, Write};

/// How a parameter's value reads as text, and which values it takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// One of a few named choices, values `0..names.len()`.
    Choice(&'static [&'static str]),
    /// Off (0) or on (1).
    Toggle,
    /// A sequencer source: 0 is "none", `1 + (client << 8 | port)` is
    /// shown as `client:port`.
    Source,
    /// A number shown with `decimals` decimals and a unit.
    Number {
        /// Shown after the number, e.g. `"ms"`.
        unit: &'static str,
        /// Decimals shown.
        decimals: usize,
    },
}

/// One parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// The CLAP parameter id, saved in projects.
    pub id: u32,
    /// Shown by the host.
    pub name: &'static str,
    /// The host's grouping path (`""`: top level).
    pub module: &'static str,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The value of a fresh instance.
    pub default: f64,
    /// Whether the host may automate it.
    pub automatable: bool,
    /// A measurement the plugin shows (CLAP read-only): the host cannot set
    /// it and it is not saved with the project.
    pub read_only: bool,
    /// Text and stepping.
    pub kind: Kind,
}

/// Index of each parameter in [`PARAMS`], for the code that reads its value.
pub mod index {
    /// MIDI input latency.
    pub const LATENCY: usize = 0;
    /// Host events out to the hardware, on or off.
    pub const HARDWARE_OUT: usize = 1;
    /// "Host events to the DAW": the host's own events passed on to its
    /// note output, on or off ([`OutputOptions::to_daw`](crate::plugin::audio_thread::to_hardware::output_ring::OutputOptions::to_daw)).
    pub const TO_DAW: usize = 2;
    /// Output offset (ms) for the host's events to the hardware.
    pub const OUTPUT_OFFSET: usize = 3;
    /// MIDI clock out, on or off.
    pub const CLOCK_OUT: usize = 4;
    /// MIDI clock out while the host is stopped.
    pub const CLOCK_WHILE_STOPPED: usize = 5;
    /// Clock out offset (ms).
    pub const CLOCK_OFFSET: usize = 6;
    /// Incoming MIDI clock passed to the host's note output, on or off.
    pub const CLOCK_TO_HOST: usize = 7;
    /// The phasor's period (a choice of note lengths).
    pub const PHASOR_PERIOD: usize = 8;
    /// What the phasor follows (auto, host, external).
    pub const PHASOR_SOURCE: usize = 9;
    /// Read-only: the followed external clock's tempo (bpm, 0 = none).
    pub const EXT_TEMPO: usize = 10;
    /// Read-only: whether the external clock is running.
    pub const EXT_RUNNING: usize = 11;
    /// Read-only: which source is followed.
    pub const EXT_SOURCE: usize = 12;
    /// Read-only: the follower's lock state (searching, locked, free-running).
    pub const EXT_LOCK: usize = 13;
    /// Read-only: the external clock's timing jitter (ms RMS, 0 = none).
    pub const EXT_JITTER: usize = 14;
    /// Read-only: the follower's estimated phase error (ms, 0 = none).
    pub const EXT_PHASE_ERROR: usize = 15;
    /// Read-only: the MIDI input latency in use (ms), whatever its setting.
    pub const LATENCY_IN_USE: usize = 16;
    /// Which MIDI backend (ALSA sequencer, raw MIDI).
    pub const MIDI_BACKEND: usize = 17;
}

/// The "MIDI input latency" choice that sets itself (see
/// [`crate::timeline::auto_latency`]); the choices before it are fixed
/// numbers of blocks.
pub const LATENCY_AUTO: f64 = 3.0;

/// What each latency choice means, as shown to the user.
const LATENCY_TEXT: &[&str] = &[
    "0 blocks: lowest latency, not sample-accurate (events land at the block start)",
    "1 block + 0.2 ms: sample-accurate on an idle system",
    "2 blocks + 0.2 ms: sample-accurate on a busy system",
    // Appended: saved projects keep the meaning of 0..=2.
    "Auto: the least that keeps notes on their sample (default)",
];

/// The phasor's periods, shortest first.
const PERIOD_TEXT: &[&str] = &[
    "1/16",
    "1/8",
    "1/4 (beat)",
    "1/2",
    "1 bar",
    "2 bars",
    "4 bars",
];

/// What the phasor follows.
const PHASOR_SOURCE_TEXT: &[&str] = &[
    "Auto (external clock while it runs, else the host)",
    "Host transport",
    "External MIDI clock",
];

/// The MIDI backends, in the order of [`crate::engine::Backend`].
const BACKEND_TEXT: &[&str] = &["ALSA sequencer", "Raw MIDI"];

/// The follower's lock states, in the order of
/// [`crate::midi_clock::follower::Lock`].
pub const LOCK_TEXT: &[&str] = &["searching", "locked", "free-running"];

/// A read-only measurement in ms, 0 (none) to 100.
const fn measured_ms(id: u32, name: &'static str) -> Param {
    Param {
        id,
        name,
        module: "Clock in",
        min: 0.0,
        max: 100.0,
        default: 0.0,
        automatable: false,
        read_only: true,
        kind: Kind::Number {
            unit: "ms",
            decimals: 2,
        },
    }
}

/// A toggle row (not read-only).
const fn toggle(id: u32, name: &'static str, module: &'static str, default: f64) -> Param {
    Param {
        id,
        name,
        module,
        min: 0.0,
        max: 1.0,
        default,
        automatable: true,
        read_only: false,
        kind: Kind::Toggle,
    }
}

/// An offset of −50…+50 ms, 0 by default.
const fn offset_ms(id: u32, name: &'static str, module: &'static str) -> Param {
    Param {
        id,
        name,
        module,
        min: -50.0,
        max: 50.0,
        default: 0.0,
        // Moving it while notes play would reorder them.
        automatable: false,
        read_only: false,
        kind: Kind::Number {
            unit: "ms",
            decimals: 2,
        },
    }
}

/// The table. Order is the host's display order; ids are what is saved
/// (rows are indexed by [`index`]).
pub const PARAMS: &[Param] = &[
    Param {
        id: 1,
        name: "MIDI input latency",
        module: "",
        min: 0.0,
        max: LATENCY_AUTO,
        default: LATENCY_AUTO,
        // Changing it while notes play would reorder them.
        automatable: false,
        read_only: false,
        kind: Kind::Choice(LATENCY_TEXT),
    },
    toggle(2, "Host events to hardware", "Output", 1.0),
    toggle(3, "Host events to the DAW", "Output", 1.0),
    offset_ms(4, "Output offset", "Output"),
    // Off by default, as in DAWs: clock starts a slave's sequencer.
    toggle(5, "MIDI clock out", "Clock out", 0.0),
    toggle(6, "Clock while stopped", "Clock out", 0.0),
    offset_ms(7, "Clock offset", "Clock out"),
    toggle(8, "Clock messages to the DAW", "Clock in", 1.0),
    Param {
        id: 9,
        name: "Phasor period",
        module: "Phasor",
        min: 0.0,
        max: 6.0,
        default: 2.0,
        automatable: true,
        read_only: false,
        kind: Kind::Choice(PERIOD_TEXT),
    },
    Param {
        id: 10,
        name: "Phasor source",
        module: "Phasor",
        min: 0.0,
        max: 2.0,
        default: 0.0,
        automatable: true,
        read_only: false,
        kind: Kind::Choice(PHASOR_SOURCE_TEXT),
    },
    Param {
        id: 11,
        name: "External tempo",
        module: "Clock in",
        min: 0.0,
        max: 1000.0,
        default: 0.0,
        automatable: false,
        read_only: true,
        kind: Kind::Number {
            unit: "bpm",
            decimals: 1,
        },
    },
    Param {
        id: 12,
        name: "External clock running",
        module: "Clock in",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        automatable: false,
        read_only: true,
        kind: Kind::Toggle,
    },
    Param {
        id: 13,
        name: "External clock source",
        module: "Clock in",
        min: 0.0,
        max: 65536.0,
        default: 0.0,
        automatable: false,
        read_only: true,
        kind: Kind::Source,
    },
    Param {
        id: 14,
        name: "External clock lock",
        module: "Clock in",
        min: 0.0,
        max: 2.0,
        default: 0.0,
        automatable: false,
        read_only: true,
        kind: Kind::Choice(LOCK_TEXT),
    },
    measured_ms(15, "External clock jitter (RMS)"),
    measured_ms(16, "External clock phase error"),
    Param {
        id: 17,
        name: "Latency in use",
        module: "",
        min: 0.0,
        max: 1000.0,
        default: 0.0,
        automatable: false,
        read_only: true,
        kind: Kind::Number {
            unit: "ms",
            decimals: 2,
        },
    },
    Param {
        id: 18,
        name: "MIDI backend",
        module: "",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        automatable: false,
        read_only: false,
        kind: Kind::Choice(BACKEND_TEXT),
    },
];

/// The row with CLAP id `id`, and its index.
pub fn by_id(id: u32) -> Option<(usize, &'static Param)> {
    PARAMS.iter().enumerate().find(|(_, p)| p.id == id)
}

impl Param {
    /// Whether values are whole numbers.
    pub fn is_stepped(&self) -> bool {
        !matches!(self.kind, Kind::Number { .. })
    }

    /// `value` made valid: finite, within range, whole when stepped. A
    /// non-finite value gives the default.
    ///
    /// # Realtime Safety
    /// Arithmetic only.
    pub fn clamp(&self, value: f64) -> f64 {
        if !value.is_finite() {
            return self.default;
        }
        let v = value.clamp(self.min, self.max);
        if self.is_stepped() {
            v.round()
        } else {
            v
        }
    }

    /// Write `value` as the user reads it.
    ///
    /// # Errors
    /// Whatever `out` returns.
    pub fn format(&self, value: f64, out: &mut impl Write) -> fmt::Result {
        let v = self.clamp(value);
        match self.kind {
            Kind::Choice(names) => out.write_str(names[v as usize]),
            Kind::Toggle => out.write_str(if v >= 0.5 { "On" } else { "Off" }),
            Kind::Source if v < 1.0 => out.write_str("none"),
            Kind::Source => {
                let id = v as u32 - 1;
                write!(out, "{}:{}", id >> 8, id & 0xFF)
            }
            Kind::Number { unit, decimals } => write!(out, "{v:.decimals$} {unit}"),
        }
    }

    /// Read a value the user typed: the full text [`Self::format`] writes,
    /// or its leading number.
    pub fn parse(&self, text: &str) -> Option<f64> {
        let text = text.trim();
        let value = match self.kind {
            Kind::Choice(names) => match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
                Some(i) => i as f64,
                None => text.split_whitespace().next()?.parse::<u32>().ok()? as f64,
            },
            Kind::Toggle => match text.to_ascii_lowercase().as_str() {
                "on" | "1" | "true" | "yes" => 1.0,
                "off" | "0" | "false" | "no" => 0.0,
                _ => return None,
            },
            Kind::Source => match text.split_once(':') {
                _ if text.eq_ignore_ascii_case("none") => 0.0,
                Some((c, p)) => {
                    let (c, p) = (c.trim().parse::<u8>().ok()?, p.trim().parse::<u8>().ok()?);
                    1.0 + f64::from(u32::from(c) << 8 | u32::from(p))
                }
                None => return None,
            },
            Kind::Number { unit, .. } => text.trim_end_matches(unit).trim().parse::<f64>().ok()?,
        };
        (value.is_finite() && (self.min..=self.max).contains(&value)).then(|| self.clamp(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_defaults_valid() {
        for (i, p) in PARAMS.iter().enumerate() {
            assert_eq!(by_id(p.id).map(|(j, _)| j), Some(i), "{}", p.name);
            assert_eq!(p.clamp(p.default), p.default, "{}", p.name);
            assert!(p.min <= p.max, "{}", p.name);
            if let Kind::Choice(names) = p.kind {
                assert_eq!(names.len() as f64, p.max - p.min + 1.0, "{}", p.name);
            }
        }
    }

    #[test]
    fn text_round_trips_for_every_row() {
        for p in PARAMS {
            let steps = if p.is_stepped() {
                (p.max - p.min) as usize
            } else {
                10
            };
            for k in 0..=steps {
                let v = p.clamp(p.min + (p.max - p.min) * k as f64 / steps as f64);
                let mut s = String::new();
                p.format(v, &mut s).unwrap();
                let back = p.parse(&s).unwrap_or_else(|| panic!("{}: {s:?}", p.name));
                assert!((back - v).abs() < 1e-9, "{}: {s:?} -> {back}", p.name);
            }
        }
    }

    #[test]
    fn bad_values_are_made_valid() {
        let p = &PARAMS[index::LATENCY];
        assert_eq!(p.clamp(f64::NAN), p.default);
        assert_eq!(p.clamp(9.0), LATENCY_AUTO);
        assert_eq!(p.clamp(0.4), 0.0);
        assert_eq!(p.parse("7 blocks"), None);
        assert_eq!(p.parse("2 blocks"), Some(2.0));
    }
}
