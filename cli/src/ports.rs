//! `phasorsync ports`: every exported port of the sequencer, its direction,
//! and whether PhasorSync's patterns would connect it (the library's own
//! listing, [`phasorsync::backend::alsa_seq::ports`], and matching,
//! [`phasorsync::backend::alsa_seq::connect`]).

use phasorsync::backend::alsa_seq::client::open_seq;
use phasorsync::backend::alsa_seq::ports::raw_device_holder;
use phasorsync::backend::alsa_seq::ports::{list, SeqPort};
use phasorsync::backend::alsa_seq::{Patterns, Side};
use phasorsync::backend::raw_midi::patterns::{self as raw, list_devices};
use std::path::Path;

/// One raw MIDI device as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    /// `hw:C,D`, what a `raw:` pattern names it by.
    pub hw: String,
    /// `card name: device name`.
    pub name: String,
    /// The device the `raw:` patterns pick (the first present one named).
    pub picked: bool,
    /// Who else has it open, if anyone (raw MIDI is exclusive).
    pub busy: Option<String>,
}

/// The raw MIDI devices table, one device a line, with a header.
pub fn raw_table(rows: &[RawRow]) -> String {
    let mut s = format!("{:<10} {:<7} {}\n", "RAW MIDI", "PICKED", "CARD: DEVICE");
    for r in rows {
        let picked = if r.picked { "yes" } else { "-" };
        s.push_str(&format!("{:<10} {picked:<7} {}", r.hw, r.name));
        if let Some(why) = &r.busy {
            s.push_str(&format!("  (busy: {why})"));
        }
        s.push('\n');
    }
    s
}

/// The kernel's raw MIDI devices, marked for the `raw:` patterns of `text`.
fn raw_rows(text: &str) -> Vec<RawRow> {
    let devices = list_devices(Path::new("/proc/asound"));
    let picked = raw::resolve(&raw::parse(text), &devices).cloned();
    devices
        .iter()
        .map(|d| RawRow {
            hw: d.hw(),
            name: format!("{}: {}", d.card_name, d.device_name),
            picked: picked.as_ref() == Some(d),
            busy: raw_device_holder(Path::new("/proc"), d.card, d.device),
        })
        .collect()
}

/// One port as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRow {
    /// `client:port` numbers.
    pub addr: String,
    /// Client name.
    pub client: String,
    /// Port name.
    pub port: String,
    /// A source: can send to PhasorSync's `MIDI in`.
    pub source: bool,
    /// A destination: can receive from PhasorSync's `MIDI out`.
    pub dest: bool,
    /// The patterns would connect it to `MIDI in`.
    pub connect_in: bool,
    /// The patterns would connect `MIDI out` to it.
    pub connect_out: bool,
    /// The system client: never connected.
    pub own: bool,
    /// Why another program holds it, if one does.
    pub busy: Option<String>,
}

/// The row of one port of the library's listing.
fn row(p: SeqPort, patterns: &Patterns) -> PortRow {
    // The system client is never auto-connected (a plugin's own client
    // neither, but this listing's handle is not one).
    let own = p.is_system();
    let wants = |side| !own && patterns.matches_side(side, &p.client_name, &p.port_name);
    PortRow {
        addr: p.address(),
        source: p.source,
        dest: p.dest,
        connect_in: p.source && wants(Side::In),
        connect_out: p.dest && wants(Side::Out),
        own,
        busy: p.busy,
        client: p.client_name,
        port: p.port_name,
    }
}

/// The table, one port a line, with a header.
pub fn table(rows: &[PortRow]) -> String {
    let yes = |b: bool, s: &'static str| if b { s } else { "" };
    let mut s = format!(
        "{:<8} {:<11} {:<13} {}\n",
        "PORT", "DIRECTION", "CONNECTS", "CLIENT:PORT"
    );
    for r in rows {
        let dir = match (r.source, r.dest) {
            (true, true) => "source+dest",
            (true, false) => "source",
            (false, true) => "dest",
            (false, false) => "-",
        };
        let connects = if r.own {
            "(never)".to_string()
        } else {
            let c = [yes(r.connect_in, "in"), yes(r.connect_out, "out")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("+");
            if c.is_empty() {
                "-".to_string()
            } else {
                c
            }
        };
        s.push_str(&format!(
            "{:<8} {:<11} {:<13} {}:{}",
            r.addr, dir, connects, r.client, r.port
        ));
        if let Some(why) = &r.busy {
            s.push_str(&format!("  (busy: {why})"));
        }
        s.push('\n');
    }
    s
}

/// Prints the table for `patterns`, then the raw MIDI devices for the
/// `raw:` patterns of `raw_text`.
pub fn run(patterns: &Patterns, raw_text: &str) -> Result<(), String> {
    let seq = open_seq().map_err(|e| e.to_string())?;
    let rows: Vec<PortRow> = list(&seq).into_iter().map(|p| row(p, patterns)).collect();
    print!("{}", table(&rows));
    let raw_rows = raw_rows(raw_text);
    if !raw_rows.is_empty() {
        print!("\n{}", raw_table(&raw_rows));
    }
    println!(
        "\nsource: can send to PhasorSync's MIDI in; dest: can receive from its MIDI out.\n\
         CONNECTS: in = PhasorSync connects it to MIDI in, out = connects MIDI out to it \
         ({} pattern{}: PHASORSYNC_CONNECT, ~/.config/phasorsync/connect, arguments).",
        patterns.len(),
        if patterns.len() == 1 { "" } else { "s" }
    );
    if !raw_rows.is_empty() {
        println!(
            "RAW MIDI: what *MIDI backend* = *Raw MIDI* opens instead, both ways; PICKED: the \
             first device a raw: pattern names (raw:hw:1,0, raw:launchkey)."
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: bool, dest: bool, cin: bool, cout: bool) -> PortRow {
        PortRow {
            addr: "20:0".into(),
            client: "Virtual Raw MIDI 1-0".into(),
            port: "VirMIDI 1-0".into(),
            source,
            dest,
            connect_in: cin,
            connect_out: cout,
            own: false,
            busy: None,
        }
    }

    #[test]
    fn raw_devices_show_the_picked_one_and_who_holds_one() {
        let rows = [
            RawRow {
                hw: "hw:0,0".into(),
                name: "Virtual MIDI Card 1: Virtual Raw MIDI (16 subdevices)".into(),
                picked: true,
                busy: None,
            },
            RawRow {
                hw: "hw:1,0".into(),
                name: "UM-ONE: UM-ONE MIDI 1".into(),
                picked: false,
                busy: Some("amidi (42) has it open: close it there".into()),
            },
        ];
        let t = raw_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(
            lines[1].starts_with("hw:0,0     yes     Virtual MIDI Card 1"),
            "{t}"
        );
        assert!(lines[2].starts_with("hw:1,0     -       UM-ONE"), "{t}");
        assert!(lines[2].ends_with("(busy: amidi (42) has it open: close it there)"));
    }

    #[test]
    fn table_shows_direction_and_what_would_connect() {
        let t = table(&[row(true, true, true, false), row(false, true, false, true)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[1].contains("source+dest") && lines[1].contains(" in "));
        assert!(lines[2].contains("dest") && lines[2].contains(" out "));
        assert!(lines[1].ends_with("Virtual Raw MIDI 1-0:VirMIDI 1-0"));
        let mut held = row(true, true, false, false);
        held.busy = Some("amidi (4242) has hw:1,0 open".into());
        assert!(table(&[held]).ends_with("VirMIDI 1-0  (busy: amidi (4242) has hw:1,0 open)\n"));
    }
}
