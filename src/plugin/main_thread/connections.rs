//! A click in the window's device list, as an edit of the instance's
//! auto-connect patterns: it adds or removes one exact pattern naming the
//! port (`=client:port` for the input, `out:=client:port` for the output;
//! see `crate::backend::alsa_seq::connect`). The patterns are saved with the
//! project (state key 1) and the engine connects what matches, now and
//! whenever the device comes back, so the window needs no connection
//! mechanism of its own.
//!
//! The edit is made on the window's thread (under the settings' lock, never
//! the audio thread's); the engine hears of it on the main thread.

use crate::backend::alsa_seq::{Patterns, Side};
use crate::backend::raw_midi::patterns::split_raw;
use crate::plugin::{PhasorSyncMainThread, Settings};

/// `text` with the exact pattern for `side` naming `name` removed if it is
/// there, added (on a line of its own) if not; and whether it is there now.
/// Every other line (comments, name patterns, `raw:` entries) is kept as
/// written.
pub fn toggle(text: &str, side: Side, name: &str) -> (String, bool) {
    if !Patterns::parse(text).has_exact(side, name) {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let prefix = match side {
            Side::In => "",
            Side::Out => "out:",
        };
        out.push_str(&format!("{prefix}={name}\n"));
        return (out, true);
    }
    let is_it = |entry: &str| {
        let p = Patterns::parse(entry);
        p.len() == 1 && p.has_exact(side, name)
    };
    let mut out = String::new();
    for line in text.lines() {
        // A `raw:` tail belongs to the raw MIDI backend: kept as it is.
        let seq_part = split_raw(line).0;
        let raw_tail = &line[seq_part.len()..];
        let kept = if is_it(seq_part) {
            String::new()
        } else if Patterns::parse(seq_part).len() > 1 {
            let entries: Vec<&str> = seq_part.split(',').filter(|e| !is_it(e)).collect();
            entries.join(",")
        } else {
            seq_part.to_string()
        };
        let line = format!("{kept}{raw_tail}");
        // A line emptied by the removal goes; one that was blank stays.
        if !line.trim().is_empty() || seq_part.trim().is_empty() && raw_tail.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    // An entry written where this cannot take it apart is still there: say so.
    let on = Patterns::parse(&out).has_exact(side, name);
    (out, on)
}

/// `text` with raw MIDI device `hw` (`hw:C,D`) picked: its `raw:hw:C,D`
/// line added and every other line that is just a `raw:hw:…` removed (the
/// raw backend opens one device, the first present: a click picks this
/// one); or, when it was picked, its line removed. Whether it is picked now.
/// Name patterns (`raw:launchkey`) and every other line are kept.
pub fn toggle_raw(text: &str, hw: &str) -> (String, bool) {
    let picked = crate::backend::raw_midi::patterns::has_line(text, hw);
    let is_hw_line = |l: &str| {
        let t = l.trim();
        t.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("raw:hw:"))
            && !t.contains(' ')
    };
    let mut out = String::new();
    for line in text.lines().filter(|l| !is_hw_line(l)) {
        out.push_str(line);
        out.push('\n');
    }
    if !picked {
        out.push_str(&format!("raw:{hw}\n"));
    }
    (out, !picked)
}

/// Toggle the pattern for `side` naming `name` in `settings` (a raw MIDI
/// device's `raw:hw:C,D`: [`toggle_raw`], either side); whether it is
/// there now.
pub fn toggle_in(settings: &Settings, side: Side, name: &str) -> bool {
    match name.strip_prefix("raw:") {
        Some(hw) => settings.edit_patterns(|text| toggle_raw(text, hw)),
        None => settings.edit_patterns(|text| toggle(text, side, name)),
    }
}

impl PhasorSyncMainThread<'_> {
    /// The window changed the patterns: give them to the engine. The
    /// engine's remembered patchbay connections are newer than the copy in
    /// the settings, so that copy is brought up to date first (the engine
    /// would otherwise take the older one back).
    pub(in crate::plugin) fn patterns_edited_in_window(&self) {
        self.shared.settings.set_remembered(&self.remembered());
        self.apply_patterns();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_device_click_picks_it_alone_and_a_second_click_removes_it() {
        let text = "# mine\nkeystep\nraw:hw:1,0\nraw:launchkey\n";
        let (picked, on) = toggle_raw(text, "hw:2,0");
        assert!(on);
        assert_eq!(picked, "# mine\nkeystep\nraw:launchkey\nraw:hw:2,0\n");
        let (again, on) = toggle_raw(&picked, "hw:2,0");
        assert!(!on);
        assert_eq!(again, "# mine\nkeystep\nraw:launchkey\n");
        let settings = Settings::default();
        assert!(toggle_in(&settings, Side::Out, "raw:hw:3,0"));
        assert_eq!(settings.patterns(), "raw:hw:3,0\n");
    }

    const KEY: &str = "KeyStep 37:KeyStep 37 MIDI 1";

    #[test]
    fn a_click_adds_the_exact_pattern_and_a_second_removes_it() {
        let (text, on) = toggle("", Side::In, KEY);
        assert_eq!(
            (text.as_str(), on),
            ("=KeyStep 37:KeyStep 37 MIDI 1\n", true)
        );
        assert!(Patterns::parse(&text).matches("KeyStep 37", "KeyStep 37 MIDI 1"));
        let (text, on) = toggle(&text, Side::In, KEY);
        assert_eq!((text.as_str(), on), ("", false));
    }

    #[test]
    fn input_and_output_are_separate() {
        let (text, _) = toggle("", Side::Out, KEY);
        assert_eq!(text, "out:=KeyStep 37:KeyStep 37 MIDI 1\n");
        let p = Patterns::parse(&text);
        assert!(p.has_exact(Side::Out, KEY) && !p.has_exact(Side::In, KEY));
        // Turning the input on leaves the output's pattern alone.
        let (text, on) = toggle(&text, Side::In, KEY);
        assert!(on);
        let (text, on) = toggle(&text, Side::Out, KEY);
        assert!(!on);
        assert_eq!(text, "=KeyStep 37:KeyStep 37 MIDI 1\n");
    }

    #[test]
    fn other_patterns_comments_and_raw_entries_are_kept() {
        let text = "# mine\nlaunchkey, =keystep 37:keystep 37 midi 1\nraw:UM-ONE\nout:digitone";
        let (after, on) = toggle(text, Side::In, KEY);
        assert!(!on, "removed whatever its case: {after}");
        assert_eq!(after, "# mine\nlaunchkey\nraw:UM-ONE\nout:digitone\n");
        // Adding to a text without a final newline starts a line of its own.
        let (after, on) = toggle("launchkey", Side::Out, "Digitone:Digitone MIDI 1");
        assert!(on);
        assert_eq!(after, "launchkey\nout:=Digitone:Digitone MIDI 1\n");
        // A name pattern matching the port is not the click's to remove:
        // the exact one is added beside it.
        let (after, on) = toggle("keystep", Side::In, KEY);
        assert!(on);
        assert!(after.starts_with("keystep\n"));
    }
}
