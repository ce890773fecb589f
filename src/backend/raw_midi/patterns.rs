//! `raw:` patterns: which raw MIDI device the raw backend opens.
//!
//! They share the pattern lists of the sequencer backend (the plugin state,
//! `PHASORSYNC_CONNECT`, the config file; see
//! [`crate::backend::alsa_seq::connect`]). An entry starting with `raw:`
//! (any case) is the raw backend's and takes the rest of its line, commas
//! included (`raw:hw:1,0` has one); the sequencer backend skips it.
//! - `raw:hw:1,0`: card 1 (a number or the card's id, as in `hw:VirMIDI,0`),
//!   device 0;
//! - `raw:<name>`: matched against the card's id and names and the device's
//!   name (and `"card:device"`), as sequencer patterns match client and port
//!   names: a substring, a `*`/`?` glob, or `=` for an exact name.
//!
//! The first pattern that names a device present wins.

use std::path::Path;

use crate::backend::alsa_seq::connect::Patterns;

/// One `raw:` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawPattern {
    /// `hw:CARD,DEV`: CARD a number or a card id.
    Hw {
        /// The card: its number or its id.
        card: String,
        /// The device number on the card.
        device: u32,
    },
    /// A name pattern (sequencer pattern syntax).
    Name(String),
}

/// The part of `line` before its first `raw:` entry, and that entry's text
/// (after `raw:`, trimmed) if it has one.
pub(crate) fn split_raw(line: &str) -> (&str, Option<&str>) {
    let mut start = 0;
    loop {
        let entry = &line[start..];
        let trimmed = entry.trim_start();
        let at = start + (entry.len() - trimmed.len());
        if trimmed
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("raw:"))
        {
            return (&line[..start], Some(line[at + 4..].trim()));
        }
        match entry.find(',') {
            Some(comma) => start += comma + 1,
            None => return (line, None),
        }
    }
}

/// The `raw:` patterns of a pattern list, in order.
pub fn parse(text: &str) -> Vec<RawPattern> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| split_raw(l).1)
        .filter(|t| !t.is_empty())
        .map(parse_one)
        .collect()
}

fn parse_one(text: &str) -> RawPattern {
    let hw = text
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("hw:"))
        .and_then(|_| text[3..].split_once(','))
        .and_then(|(c, d)| {
            Some(RawPattern::Hw {
                card: c.trim().to_string(),
                device: d.trim().parse().ok()?,
            })
        });
    hw.unwrap_or_else(|| RawPattern::Name(text.to_string()))
}

/// A raw MIDI device the kernel has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Card number.
    pub card: u32,
    /// Device number on the card.
    pub device: u32,
    /// The card's id (`VirMIDI`, `MK3`).
    pub card_id: String,
    /// The card's name.
    pub card_name: String,
    /// The device's name (`Launchkey Mini MK3 MIDI`).
    pub device_name: String,
}

impl DeviceInfo {
    /// `hw:C,D`.
    pub fn hw(&self) -> String {
        format!("hw:{},{}", self.card, self.device)
    }

    /// Its node, `/dev/snd/midiCcDd`.
    pub fn node(&self) -> String {
        node(self.card, self.device)
    }

    /// `hw:C,D (card: device)`, for the log.
    pub fn describe(&self) -> String {
        format!("{} ({}: {})", self.hw(), self.card_name, self.device_name)
    }

    fn matches(&self, p: &RawPattern) -> bool {
        match p {
            RawPattern::Hw { card, device } => {
                *device == self.device
                    && (card.parse::<u32>().ok() == Some(self.card)
                        || card.eq_ignore_ascii_case(&self.card_id))
            }
            RawPattern::Name(text) => {
                let pats = Patterns::parse(text);
                pats.matches(&self.card_name, &self.device_name)
                    || pats.matches(&self.card_id, &self.device_name)
            }
        }
    }
}

/// Whether `text` has a line that is just `raw:<hw>` (`hw` as `hw:C,D`;
/// any case): the device picked in the window.
pub fn has_line(text: &str, hw: &str) -> bool {
    let want = format!("raw:{hw}");
    text.lines().any(|l| l.trim().eq_ignore_ascii_case(&want))
}

/// What lists the raw MIDI devices for the window's device list, on the
/// window's thread (never the audio thread): [`list_devices`] of
/// `/proc/asound`, or a test's fake devices.
pub type ListRaw = Box<dyn FnMut() -> Vec<DeviceInfo> + Send>;

/// A [`ListRaw`] of the kernel's devices.
pub fn kernel_lister() -> ListRaw {
    Box::new(|| list_devices(Path::new("/proc/asound")))
}

/// The device node of `hw:card,device`.
pub fn node(card: u32, device: u32) -> String {
    format!("/dev/snd/midiC{card}D{device}")
}

/// The raw MIDI devices listed under `asound` (`/proc/asound`): each
/// `cardN/midiM` whose first line is the device's name, with the card's id
/// and name from `cards`.
pub fn list_devices(asound: &Path) -> Vec<DeviceInfo> {
    let cards = std::fs::read_to_string(asound.join("cards")).unwrap_or_default();
    let mut out = Vec::new();
    for line in cards.lines() {
        // " 0 [VirMIDI        ]: VirMIDI - Virtual MIDI Card 1"
        let Some((num, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(card) = num.parse::<u32>() else {
            continue;
        };
        let Some((id, rest)) = rest
            .trim_start()
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
        else {
            continue;
        };
        let name = rest
            .split_once(" - ")
            .map_or(rest, |(_, n)| n)
            .trim_start_matches(':')
            .trim();
        let Ok(dir) = std::fs::read_dir(asound.join(format!("card{card}"))) else {
            continue;
        };
        let mut devices: Vec<(u32, String)> = dir
            .flatten()
            .filter_map(|e| {
                let device = e.file_name().to_str()?.strip_prefix("midi")?.parse().ok()?;
                let text = std::fs::read_to_string(e.path()).ok()?;
                Some((device, text.lines().next()?.trim().to_string()))
            })
            .collect();
        devices.sort();
        for (device, device_name) in devices {
            out.push(DeviceInfo {
                card,
                device,
                card_id: id.trim().to_string(),
                card_name: name.to_string(),
                device_name,
            });
        }
    }
    out
}

/// The device the first pattern that names a present device names.
pub fn resolve<'a>(patterns: &[RawPattern], devices: &'a [DeviceInfo]) -> Option<&'a DeviceInfo> {
    patterns
        .iter()
        .find_map(|p| devices.iter().find(|d| d.matches(p)))
}

/// A pattern's text, as the user wrote it after `raw:`.
pub(crate) fn to_text(p: &RawPattern) -> String {
    match p {
        RawPattern::Hw { card, device } => format!("hw:{card},{device}"),
        RawPattern::Name(n) => n.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_entry_takes_the_rest_of_its_line() {
        assert_eq!(split_raw("raw:hw:1,0"), ("", Some("hw:1,0")));
        assert_eq!(
            split_raw("launchkey, RAW: hw:1,0"),
            ("launchkey,", Some("hw:1,0"))
        );
        assert_eq!(split_raw("a, b"), ("a, b", None));
        assert_eq!(split_raw("drawing:x"), ("drawing:x", None));
        let p = parse("a, raw:hw:VirMIDI,1\n# raw:hw:9,9\nraw:=Launchkey*\n raw:");
        assert_eq!(
            p,
            [
                RawPattern::Hw {
                    card: "VirMIDI".into(),
                    device: 1
                },
                RawPattern::Name("=Launchkey*".into())
            ]
        );
        assert_eq!(parse("raw:hw:1,x"), [RawPattern::Name("hw:1,x".into())]);
    }

    fn proc_tree() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("phasorsync-raw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (card, midis) in [(0, &[0, 1][..]), (2, &[0][..])] {
            let c = dir.join(format!("card{card}"));
            std::fs::create_dir_all(&c).unwrap();
            for m in midis {
                let name = if card == 0 {
                    "Virtual Raw MIDI"
                } else {
                    "Launchkey Mini MK3 MIDI"
                };
                std::fs::write(c.join(format!("midi{m}")), format!("{name}\n\nOutput 0\n"))
                    .unwrap();
            }
        }
        std::fs::write(
            dir.join("cards"),
            " 0 [VirMIDI        ]: VirMIDI - Virtual MIDI Card 1\n                      \
             Virtual MIDI Card 1\n 2 [MK3            ]: USB-Audio - Launchkey Mini MK3\n                      \
             Novation Launchkey Mini MK3 at usb-0000:00:14.0-2, full speed\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn patterns_name_devices_by_number_id_or_name() {
        let dir = proc_tree();
        let devs = list_devices(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let hws: Vec<_> = devs.iter().map(DeviceInfo::hw).collect();
        assert_eq!(hws, ["hw:0,0", "hw:0,1", "hw:2,0"]);
        assert_eq!(devs[2].card_name, "Launchkey Mini MK3");
        assert_eq!(devs[2].card_id, "MK3");
        assert_eq!(devs[2].device_name, "Launchkey Mini MK3 MIDI");
        let pick = |text: &str| resolve(&parse(text), &devs).map(DeviceInfo::hw);
        assert_eq!(pick("raw:hw:0,1").as_deref(), Some("hw:0,1"));
        assert_eq!(pick("raw:hw:virmidi,1").as_deref(), Some("hw:0,1"));
        assert_eq!(pick("raw:launchkey").as_deref(), Some("hw:2,0"));
        assert_eq!(pick("raw:MK3").as_deref(), Some("hw:2,0"));
        assert_eq!(pick("raw:=virtual raw midi").as_deref(), Some("hw:0,0"));
        // The first pattern naming a present device wins.
        assert_eq!(pick("raw:hw:5,0\nraw:launch*").as_deref(), Some("hw:2,0"));
        assert_eq!(pick("raw:hw:0,7"), None);
        assert_eq!(pick("launchkey"), None, "not a raw: pattern");
    }
}
