//! The device list: the sequencer's ports, re-listed once a [`POLL`] on the
//! window's thread (never the audio thread's), each with a mark per
//! direction that a click toggles. What a mark says is what the patterns
//! make the engine connect (not a query of the kernel's subscriptions):
//! - `[x]`: this project's exact pattern for the port (a click removes it);
//! - `[~]`: another pattern matches it (a name pattern, `PHASORSYNC_CONNECT`,
//!   the config file, or a connection made in a patchbay); a click adds the
//!   exact pattern, but only where it was made can the other be removed;
//! - `[ ]`: nothing connects it (a click adds the exact pattern);
//! - ` - `: the port cannot be connected that way.
//!
//! Raw MIDI devices follow, as `raw hw:C,D` rows (what the raw MIDI
//! backend opens when *MIDI backend* is *Raw MIDI*): one device serves
//! both directions, so both marks say the same, and a click picks that
//! device (`raw:hw:C,D`) or, on the one picked, removes it. A device
//! another program has open is busy for it (raw MIDI is exclusive).
//!
//! The click itself becomes a pattern edit in
//! `crate::plugin`'s `main_thread/connections.rs`.

use super::frame::{Frame, GLYPH};
use super::view::{line, text_line, Layout, Rect, DIM, ON, TEXT, WARN};
use crate::backend::alsa_seq::connect::patterns_from_environment_text;
use crate::backend::alsa_seq::ports::raw_device_holder;
use crate::backend::alsa_seq::ports::{ListPorts, SeqPort};
use crate::backend::alsa_seq::{Patterns, Side};
use crate::backend::raw_midi::patterns::{self as raw, DeviceInfo, ListRaw};
use crate::plugin::Settings;
use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the window lists the ports again (devices come and go).
pub const POLL: Duration = Duration::from_secs(1);

/// What a direction's mark says (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The port cannot be connected this way.
    No,
    /// Nothing connects it.
    Off,
    /// This project's exact pattern connects it.
    Here,
    /// Another pattern connects it.
    Elsewhere,
}

impl Mark {
    fn text(self) -> &'static str {
        match self {
            Mark::No => " - ",
            Mark::Off => "[ ]",
            Mark::Here => "[x]",
            Mark::Elsewhere => "[~]",
        }
    }

    fn on(self) -> bool {
        matches!(self, Mark::Here | Mark::Elsewhere)
    }
}

/// One sequencer port as the device list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// "client:port" address, in numbers.
    pub address: String,
    /// `client name:port name`, what the exact pattern names.
    pub name: String,
    /// Its mark for PhasorSync's input (the port as a source).
    pub input: Mark,
    /// Its mark for PhasorSync's output (the port as a destination).
    pub output: Mark,
    /// Why it cannot be used (held by another program), if so.
    pub busy: Option<String>,
    /// A raw MIDI device's name (`Launchkey Mini MK3 MIDI`), for a raw
    /// MIDI device's row (whose `name` is then `raw:hw:C,D`); `None` for a
    /// sequencer port.
    pub raw: Option<String>,
}

impl DeviceRow {
    /// The mark of `side`.
    pub fn mark(&self, side: Side) -> Mark {
        match side {
            Side::In => self.input,
            Side::Out => self.output,
        }
    }

    /// The name as listed: the port's name alone when it repeats the
    /// client's; a raw device's address and name.
    fn shown_name(&self) -> Cow<'_, str> {
        if let Some(device) = &self.raw {
            return Cow::Owned(format!("raw {} {device}", self.address));
        }
        match self.name.split_once(':') {
            Some((client, port)) if port.starts_with(client) => Cow::Borrowed(port),
            _ => Cow::Borrowed(&self.name),
        }
    }
}

/// The rows of `ports` (not the system client, nor ports that connect
/// neither way), marked for this project's patterns `mine` and every
/// pattern that applies, `all`.
pub fn rows(ports: &[SeqPort], mine: &Patterns, all: &Patterns) -> Vec<DeviceRow> {
    let mark = |p: &SeqPort, side: Side, can: bool| {
        if !can {
            Mark::No
        } else if mine.has_exact(side, &p.full_name()) {
            Mark::Here
        } else if all.matches_side(side, &p.client_name, &p.port_name) {
            Mark::Elsewhere
        } else {
            Mark::Off
        }
    };
    ports
        .iter()
        .filter(|p| !p.is_system() && (p.source || p.dest))
        .map(|p| DeviceRow {
            address: p.address(),
            name: p.full_name(),
            input: mark(p, Side::In, p.source),
            output: mark(p, Side::Out, p.dest),
            busy: p.busy.clone(),
            raw: None,
        })
        .collect()
}

/// The rows of raw MIDI `devices` (`busy`: who else has each open), marked
/// for the raw pattern lines of this project's patterns `mine` and for the
/// device every pattern that applies, `all`, picks (the first present).
pub fn raw_rows(
    devices: &[DeviceInfo],
    busy: &[Option<String>],
    mine: &str,
    all: &str,
) -> Vec<DeviceRow> {
    let picked = raw::resolve(&raw::parse(all), devices);
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let name = format!("raw:{}", d.hw());
            let mark = if raw::has_line(mine, &d.hw()) {
                Mark::Here
            } else if picked == Some(d) {
                Mark::Elsewhere
            } else {
                Mark::Off
            };
            DeviceRow {
                address: d.hw(),
                name,
                input: mark,
                output: mark,
                busy: busy.get(i).cloned().flatten(),
                raw: Some(d.device_name.clone()),
            }
        })
        .collect()
}

/// The window's side of the list: the lister and what it last found.
pub struct Devices {
    list: ListPorts,
    list_raw: ListRaw,
    polled: Option<Instant>,
    ports: Vec<SeqPort>,
    raw: Vec<DeviceInfo>,
    raw_busy: Vec<Option<String>>,
    error: Option<String>,
    environment: Patterns,
    /// The environment's and the config file's pattern text.
    environment_text: String,
}

impl Devices {
    /// A list read by `list` (sequencer ports) and `list_raw` (raw MIDI
    /// devices).
    pub fn new(list: ListPorts, list_raw: ListRaw) -> Self {
        Devices {
            list,
            list_raw,
            polled: None,
            ports: Vec::new(),
            raw: Vec::new(),
            raw_busy: Vec::new(),
            error: None,
            environment: Patterns::default(),
            environment_text: String::new(),
        }
    }

    /// The rows now, and why there are none if the sequencer cannot be read;
    /// the ports (and the environment's patterns) are read again once a
    /// [`POLL`], the marks at every call (a click shows at once).
    pub fn read(&mut self, now: Instant, settings: &Settings) -> (Vec<DeviceRow>, Option<String>) {
        if self.polled.is_none_or(|t| now.duration_since(t) >= POLL) {
            self.polled = Some(now);
            match (self.list)() {
                Ok(ports) => (self.ports, self.error) = (ports, None),
                Err(why) => (self.ports, self.error) = (Vec::new(), Some(why)),
            }
            self.environment_text = patterns_from_environment_text();
            self.environment = Patterns::parse(&self.environment_text);
            self.raw = (self.list_raw)();
            self.raw_busy = self
                .raw
                .iter()
                .map(|d| raw_device_holder(Path::new("/proc"), d.card, d.device))
                .collect();
        }
        let text = settings.patterns();
        let mine = Patterns::parse(&text);
        let all = mine
            .union(&self.environment)
            .union(&Patterns::parse(&settings.remembered()));
        let mut out = rows(&self.ports, &mine, &all);
        // The raw backend reads the same lists, the environment's first
        // (see `crate::backend::raw_midi::RawMidiEngine::patterns`).
        let all_text = format!("{}\n{text}", self.environment_text);
        out.extend(raw_rows(&self.raw, &self.raw_busy, &text, &all_text));
        (out, self.error.clone())
    }
}

/// Characters before the input mark, for the panel `r` at scale `s`.
fn name_width(r: Rect, s: i32) -> usize {
    let fits = ((r.w - 8 * s) / (GLYPH * s)).max(0) as usize;
    fits.saturating_sub(8).clamp(4, 40)
}

/// The line of the panel each row from `first` on starts on (a busy row
/// takes two).
fn row_lines(rows: &[DeviceRow], first: usize) -> impl Iterator<Item = (usize, i32)> + '_ {
    let mut n = 1;
    rows.iter().enumerate().skip(first).map(move |(i, d)| {
        let at = n;
        n += if d.busy.is_some() { 2 } else { 1 };
        (i, at)
    })
}

/// Draw the list from row `first` on (`note`: why it is empty) in its panel
/// `r` at scale `s`; a list that does not fit says which rows it shows (the
/// wheel scrolls it).
pub fn draw(
    rows: &[DeviceRow],
    first: usize,
    note: Option<&str>,
    frame: &mut Frame,
    r: Rect,
    s: i32,
) {
    let w = name_width(r, s);
    if rows.is_empty() {
        let why = note.map_or("no sequencer ports".to_string(), |n| format!("none: {n}"));
        text_line(frame, r, s, 1, DIM, &why);
    }
    let (mut last, mut shown) = (0, first);
    for (i, n) in row_lines(rows, first) {
        let d = &rows[i];
        let row = format!(
            "{:<w$.w$} {} {}",
            d.shown_name(),
            d.input.text(),
            d.output.text()
        );
        let color = match (&d.busy, d.input.on() || d.output.on()) {
            (Some(_), _) => DIM,
            (None, true) => ON,
            (None, false) => TEXT,
        };
        if !text_line(frame, r, s, n, color, &row) {
            break;
        }
        if let Some(why) = &d.busy {
            // A device another program holds: say so, and why.
            text_line(frame, r, s, n + 1, WARN, &format!("  busy: {why}"));
        }
        (last, shown) = (n + i32::from(d.busy.is_some()), i + 1);
    }
    let title = if first > 0 || shown < rows.len() {
        format!("Devices {}-{shown}/{}", first + 1, rows.len())
    } else {
        "Devices".to_string()
    };
    text_line(frame, r, s, 0, TEXT, &format!("{title:<w$.w$} in  out"));
    let elsewhere = |d: &DeviceRow| d.input == Mark::Elsewhere || d.output == Mark::Elsewhere;
    let visible = || rows.iter().take(shown).skip(first);
    let mut legend = last + 1;
    if visible().any(elsewhere) {
        text_line(frame, r, s, legend, DIM, "[~] connected by another pattern");
        legend += 1;
    }
    if visible().any(|d| d.raw.is_some()) {
        // Raw rows matter only with that backend: say so where they show.
        text_line(
            frame,
            r,
            s,
            legend,
            DIM,
            "raw: used when MIDI backend = Raw MIDI",
        );
    }
}

/// The row and direction whose mark is at (`x`, `y`) in the list drawn from
/// row `first` on, if a click there toggles one (a direction the port
/// cannot take is not toggled).
pub fn toggle_at(
    layout: &Layout,
    rows: &[DeviceRow],
    first: usize,
    x: i32,
    y: i32,
) -> Option<(usize, Side)> {
    let (r, s) = (layout.devices, layout.scale);
    if !r.contains(x, y) {
        return None;
    }
    let n = (y - r.y - 4 * s) / line(s);
    // A row cut by the panel's bottom edge is not drawn: not clickable.
    if r.y + 4 * s + n * line(s) + GLYPH * s > r.y + r.h {
        return None;
    }
    let (i, _) = row_lines(rows, first).find(|&(_, at)| at == n)?;
    let col = ((x - r.x - 4 * s) / (GLYPH * s)) as usize;
    let w = name_width(r, s);
    // Each mark with the space before it: " [x]".
    let side = match col.checked_sub(w)? {
        0..=3 => Side::In,
        4..=8 => Side::Out,
        _ => return None,
    };
    (rows[i].mark(side) != Mark::No).then_some((i, side))
}

/// Whether the list drawn from row `first` on shows its last row, so the
/// wheel has nothing below to scroll to.
pub fn shows_last(layout: &Layout, rows: &[DeviceRow], first: usize) -> bool {
    let (r, s) = (layout.devices, layout.scale);
    row_lines(rows, first)
        .last()
        .is_none_or(|(_, n)| r.y + 4 * s + n * line(s) + GLYPH * s <= r.y + r.h)
}

/// The middle of row `i`'s mark for `side` in the list drawn from row
/// `first` on, where a click toggles it.
pub fn mark_point(
    layout: &Layout,
    rows: &[DeviceRow],
    first: usize,
    i: usize,
    side: Side,
) -> Option<(i32, i32)> {
    let (r, s) = (layout.devices, layout.scale);
    let (_, n) = row_lines(rows, first).find(|&(j, _)| j == i)?;
    let col = name_width(r, s) as i32 + if side == Side::In { 2 } else { 6 };
    let x = r.x + 4 * s + col * GLYPH * s + GLYPH * s / 2;
    let y = r.y + 4 * s + n * line(s) + GLYPH * s / 2;
    Some((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Vec<SeqPort> {
        let mut busy = SeqPort::new(28, 0, ("TR-8S", "TR-8S MIDI 1"), true, true);
        busy.busy = Some("held exclusively by amidi".into());
        vec![
            SeqPort::new(0, 1, ("System", "Announce"), true, false),
            SeqPort::new(24, 0, ("KeyStep 37", "KeyStep 37 MIDI 1"), true, false),
            busy,
            SeqPort::new(30, 0, ("Digitone", "Digitone MIDI 1"), true, true),
        ]
    }

    #[test]
    fn marks_say_which_pattern_connects_each_direction() {
        let mine = Patterns::parse("=KeyStep 37:KeyStep 37 MIDI 1\ndigitone");
        let all = mine.union(&Patterns::parse("out:tr-8s"));
        let r = rows(&ports(), &mine, &all);
        let marks: Vec<_> = r.iter().map(|d| (d.input, d.output)).collect();
        assert_eq!(
            marks,
            vec![
                (Mark::Here, Mark::No),
                (Mark::Off, Mark::Elsewhere),
                (Mark::Elsewhere, Mark::Off),
            ],
            "the system client is not listed"
        );
        assert_eq!(r[0].shown_name(), "KeyStep 37 MIDI 1");
        assert_eq!(r[1].busy.as_deref(), Some("held exclusively by amidi"));
    }

    #[test]
    fn a_click_on_a_mark_finds_its_row_and_direction() {
        let l = Layout::new(640, 440, 1);
        let r = rows(&ports(), &Patterns::default(), &Patterns::default());
        assert!(shows_last(&l, &r, 0), "three rows fit");
        for (i, side) in [(0, Side::In), (1, Side::Out), (2, Side::In), (2, Side::Out)] {
            let (x, y) = mark_point(&l, &r, 0, i, side).unwrap();
            assert_eq!(
                toggle_at(&l, &r, 0, x, y),
                Some((i, side)),
                "row {i} {side:?}"
            );
        }
        // The keyboard is no destination; the busy line and the name are
        // not marks.
        let (x, y) = mark_point(&l, &r, 0, 0, Side::Out).unwrap();
        assert_eq!(toggle_at(&l, &r, 0, x, y), None);
        let (x, y) = mark_point(&l, &r, 0, 1, Side::In).unwrap();
        assert_eq!(toggle_at(&l, &r, 0, x, y + 12), None);
        assert_eq!(toggle_at(&l, &r, 0, l.devices.x + 10, y), None);
        // Scrolled by one row, the synth is on the first line.
        let (x, y) = mark_point(&l, &r, 1, 1, Side::In).unwrap();
        assert_eq!(y, mark_point(&l, &r, 0, 0, Side::In).unwrap().1);
        assert_eq!(toggle_at(&l, &r, 1, x, y), Some((1, Side::In)));
        assert_eq!(mark_point(&l, &r, 1, 0, Side::In), None);
    }

    #[test]
    fn ports_are_listed_once_a_poll_and_marks_follow_the_patterns_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let mut d = Devices::new(
            Box::new(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                Ok(ports())
            }),
            Box::new(Vec::new),
        );
        let settings = Settings::default();
        let t0 = Instant::now();
        let (r, note) = d.read(t0, &settings);
        assert_eq!((r.len(), note), (3, None));
        assert_eq!(r[0].input, Mark::Off);
        // A click's edit shows at the next paint, without listing again.
        settings.set_patterns("=KeyStep 37:KeyStep 37 MIDI 1");
        let (r, _) = d.read(t0 + POLL / 2, &settings);
        assert_eq!(r[0].input, Mark::Here);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        d.read(t0 + POLL, &settings);
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // A sequencer that cannot be read empties the list and says why.
        let mut gone = Devices::new(
            Box::new(|| Err("no /dev/snd/seq".into())),
            Box::new(Vec::new),
        );
        let (r, note) = gone.read(t0, &settings);
        assert!(r.is_empty());
        assert_eq!(note.as_deref(), Some("no /dev/snd/seq"));
    }

    fn raw_devices() -> Vec<DeviceInfo> {
        let dev = |card: u32, id: &str, name: &str| DeviceInfo {
            card,
            device: 0,
            card_id: id.into(),
            card_name: id.into(),
            device_name: name.into(),
        };
        vec![
            dev(1, "MK3", "Launchkey Mini MK3 MIDI"),
            dev(2, "UM1", "UM-ONE MIDI 1"),
        ]
    }

    #[test]
    fn raw_devices_show_the_one_picked_in_both_directions() {
        let busy = [
            None,
            Some("amidi (42) has it open: close it there".to_string()),
        ];
        // Picked here: its own line.
        let r = raw_rows(&raw_devices(), &busy, "raw:hw:2,0\nkeystep", "raw:hw:2,0");
        let marks: Vec<_> = r.iter().map(|d| (d.input, d.output)).collect();
        assert_eq!(
            marks,
            vec![(Mark::Off, Mark::Off), (Mark::Here, Mark::Here)]
        );
        assert_eq!(r[1].name, "raw:hw:2,0");
        assert_eq!(r[1].shown_name(), "raw hw:2,0 UM-ONE MIDI 1");
        assert_eq!(r[1].busy, busy[1]);
        // Picked by a name pattern elsewhere (the environment's comes first).
        let r = raw_rows(
            &raw_devices(),
            &[],
            "raw:hw:2,0",
            "raw:launchkey\nraw:hw:2,0",
        );
        assert_eq!(r[0].input, Mark::Elsewhere);
        assert_eq!(r[1].input, Mark::Here);
        // Not picked: both off, and a click finds either mark.
        let r = raw_rows(&raw_devices(), &[], "", "");
        assert!(r
            .iter()
            .all(|d| d.input == Mark::Off && d.output == Mark::Off));
        let l = Layout::new(640, 440, 1);
        let (x, y) = mark_point(&l, &r, 0, 1, Side::Out).unwrap();
        assert_eq!(toggle_at(&l, &r, 0, x, y), Some((1, Side::Out)));
    }

    #[test]
    fn a_long_list_scrolls_and_a_row_below_the_panel_takes_no_click() {
        let l = Layout::new(640, 440, 1);
        let many: Vec<SeqPort> = (0..40)
            .map(|i| SeqPort::new(20 + i, 0, ("Dev", &format!("Port {i}")), true, true))
            .collect();
        let r = rows(&many, &Patterns::default(), &Patterns::default());
        let last = r.len() - 1;
        let (x, y) = mark_point(&l, &r, 0, last, Side::In).unwrap();
        assert!(y > l.devices.y + l.devices.h, "below the panel");
        assert_eq!(toggle_at(&l, &r, 0, x, y), None);
        assert!(!shows_last(&l, &r, 0) && shows_last(&l, &r, last));
        let (x, y) = mark_point(&l, &r, last, last, Side::Out).unwrap();
        assert_eq!(toggle_at(&l, &r, last, x, y), Some((last, Side::Out)));
        // Drawing from any row (even past the end) is safe.
        let mut frame = Frame::new(640, 440);
        draw(&r, 5, None, &mut frame, l.devices, 1);
        draw(&r, 99, None, &mut frame, l.devices, 1);
    }
}
