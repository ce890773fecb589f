//! `phasorsync ports`: every exported port of the sequencer, its direction,
//! and whether PhasorSync's patterns would connect it (the library's own
//! matching, [`phasorsync::backend::alsa_seq::connect`]).

use alsa::seq::{ClientIter, PortCap, PortIter, Seq};
use phasorsync::backend::alsa_seq::client::open_seq;
use phasorsync::backend::alsa_seq::connect::connectable;
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
}

/// The rows for every exported port of every client on `seq`.
fn rows(seq: &Seq, patterns: &Patterns) -> Vec<PortRow> {
    let mut out = Vec::new();
    for c in ClientIter::new(seq) {
        let cname = c.get_name().unwrap_or("?").to_string();
        // The system client is never auto-connected (a plugin's own client
        // neither, but this listing's handle is not one).
        let own = c.get_client() == 0;
        for p in PortIter::new(seq, c.get_client()) {
            let caps = p.get_capability();
            if caps.contains(PortCap::NO_EXPORT) {
                continue;
            }
            let pname = p.get_name().unwrap_or("?").to_string();
            let source = connectable(Side::In, caps);
            let dest = connectable(Side::Out, caps);
            let wants = |side| !own && patterns.matches_side(side, &cname, &pname);
            out.push(PortRow {
                addr: format!("{}:{}", c.get_client(), p.get_port()),
                source,
                dest,
                connect_in: source && wants(Side::In),
                connect_out: dest && wants(Side::Out),
                own,
                client: cname.clone(),
                port: pname,
            });
        }
    }
    out
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
            "{:<8} {:<11} {:<13} {}:{}\n",
            r.addr, dir, connects, r.client, r.port
        ));
    }
    s
}

/// Prints the table for `patterns`.
pub fn run(patterns: &Patterns) -> Result<(), String> {
    let seq = open_seq().map_err(|e| e.to_string())?;
    print!("{}", table(&rows(&seq, patterns)));
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
    }
}
