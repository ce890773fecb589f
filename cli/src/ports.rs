//! `phasorsync ports`: every exported port of the sequencer, its direction,
//! and whether PhasorSync's patterns would connect it (the library's own
//! listing, [`phasorsync::backend::alsa_seq::ports`], and matching,
//! [`phasorsync::backend::alsa_seq::connect`]).

use phasorsync::backend::alsa_seq::client::open_seq;
use phasorsync::backend::alsa_seq::ports::{list, SeqPort};
use phasorsync::backend::alsa_seq::{Patterns, Side};

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

/// Prints the table for `patterns`.
pub fn run(patterns: &Patterns) -> Result<(), String> {
    let seq = open_seq().map_err(|e| e.to_string())?;
    let rows: Vec<PortRow> = list(&seq).into_iter().map(|p| row(p, patterns)).collect();
    print!("{}", table(&rows));
    println!(
        "\nsource: can send to PhasorSync's MIDI in; dest: can receive from its MIDI out.\n\
         CONNECTS: in = PhasorSync connects it to MIDI in, out = connects MIDI out to it \
         ({} pattern{}: PHASORSYNC_CONNECT, ~/.config/phasorsync/connect, arguments).",
        patterns.len(),
        if patterns.len() == 1 { "" } else { "s" }
    );
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
