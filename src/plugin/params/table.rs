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
    /// Text and stepping.
    pub kind: Kind,
}

/// Index of each parameter in [`PARAMS`], for the code that reads its value.
pub mod index {
    /// MIDI input latency.
    pub const LATENCY: usize = 0;
}

/// What each latency choice means, as shown to the user.
const LATENCY_TEXT: &[&str] = &[
    "0 blocks: lowest latency, not sample-accurate (events land at the block start)",
    "1 block + 0.2 ms: sample-accurate (default)",
    "2 blocks + 0.2 ms: sample-accurate on a busy system",
];

/// The table. Order is the host's display order; ids are what is saved.
pub const PARAMS: &[Param] = &[Param {
    id: 1,
    name: "MIDI input latency",
    module: "",
    min: 0.0,
    max: 2.0,
    default: 1.0,
    // Changing it while notes play would reorder them.
    automatable: false,
    kind: Kind::Choice(LATENCY_TEXT),
}];

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
        assert_eq!(p.clamp(9.0), 2.0);
        assert_eq!(p.clamp(0.4), 0.0);
        assert_eq!(p.parse("7 blocks"), None);
        assert_eq!(p.parse("2 blocks"), Some(2.0));
    }
}
