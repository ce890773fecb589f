//! The sequencer's clients and ports as a plain list: names, direction, and
//! whether another program holds a port so that PhasorSync could not use it.
//! Read from the kernel through a sequencer handle of the caller's; it
//! connects nothing. `phasorsync ports` and the window's device list use it.
//!
//! # Busy
//! What can be detected honestly:
//! - a subscription to or from the port made *exclusive* by another client
//!   (the kernel then refuses any other with `EBUSY`);
//! - a hardware port (a card's `snd-seq-midi` client) whose raw MIDI
//!   substream is open outside the sequencer (`/proc/asound/cardC/midiD`
//!   lists an owner while the port has no subscriber), as `amidi` or a
//!   DAW's raw MIDI input does.
//!
//! `snd-seq-midi` maps its port `p` to raw MIDI device `p / 32`, substream
//! `p % 32` (`sound/core/seq/seq_midi.c`). Not detected: a raw MIDI device
//! of a USB MIDI 2.0 (UMP) client, whose ports are numbered otherwise.

use super::connect::{connectable, Side};
use alsa::seq::{
    Addr, ClientIter, PortCap, PortIter, PortSubscribeIter, PortType, QuerySubsType, Seq,
};
use std::path::Path;

/// One exported port of the sequencer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqPort {
    /// Client number.
    pub client: i32,
    /// Port number.
    pub port: i32,
    /// The client's name.
    pub client_name: String,
    /// The port's name.
    pub port_name: String,
    /// A source: can send to PhasorSync's `MIDI in`.
    pub source: bool,
    /// A destination: can receive from PhasorSync's `MIDI out`.
    pub dest: bool,
    /// Why another program holds it, if one does (see the module docs).
    pub busy: Option<String>,
}

impl SeqPort {
    /// A port that is not busy.
    pub fn new(client: i32, port: i32, names: (&str, &str), source: bool, dest: bool) -> Self {
        SeqPort {
            client,
            port,
            client_name: names.0.to_string(),
            port_name: names.1.to_string(),
            source,
            dest,
            busy: None,
        }
    }

    /// `client:port` in numbers.
    pub fn address(&self) -> String {
        format!("{}:{}", self.client, self.port)
    }

    /// `client name:port name`, what an exact pattern names (numbers change
    /// from one session to the next, names do not).
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.client_name, self.port_name)
    }

    /// The system client (timer, announce): never connected.
    pub fn is_system(&self) -> bool {
        self.client == 0
    }
}

/// Every exported port of every client `seq` sees, in client then port order.
pub fn list(seq: &Seq) -> Vec<SeqPort> {
    let mut out = Vec::new();
    for c in ClientIter::new(seq) {
        let cname = c.get_name().unwrap_or("?").to_string();
        // Only a card's client drives a raw MIDI device.
        let card = c.get_card().ok().filter(|&n| n >= 0);
        for p in PortIter::new(seq, c.get_client()) {
            let caps = p.get_capability();
            if caps.contains(PortCap::NO_EXPORT) {
                continue;
            }
            let mut row = SeqPort::new(
                c.get_client(),
                p.get_port(),
                (&cname, p.get_name().unwrap_or("?")),
                connectable(Side::In, caps),
                connectable(Side::Out, caps),
            );
            let addr = p.addr();
            // snd-seq-midi's ports are HARDWARE; a virmidi card's are
            // SOFTWARE, and its raw side open elsewhere is how it is used.
            let raw_card = card.filter(|_| p.get_type().contains(PortType::HARDWARE));
            row.busy = exclusive_holder(seq, addr).or_else(|| {
                let used = (p.get_read_use() > 0, p.get_write_use() > 0);
                raw_card.and_then(|card| raw_holder(Path::new("/proc"), card, addr.port, used))
            });
            out.push(row);
        }
    }
    out
}

/// The client holding an exclusive subscription to or from `addr`, if any.
fn exclusive_holder(seq: &Seq, addr: Addr) -> Option<String> {
    // READ: subscriptions reading from `addr`, whose other end is the dest.
    for (kind, read) in [(QuerySubsType::READ, true), (QuerySubsType::WRITE, false)] {
        for sub in PortSubscribeIter::new(seq, addr, kind) {
            if !sub.get_exclusive() {
                continue;
            }
            let other = if read {
                sub.get_dest()
            } else {
                sub.get_sender()
            };
            let name = seq
                .get_any_client_info(other.client)
                .ok()
                .and_then(|c| c.get_name().ok().map(str::to_string))
                .unwrap_or_else(|| format!("client {}", other.client));
            return Some(format!("held exclusively by {name}"));
        }
    }
    None
}

/// Who has raw MIDI substream `port % 32` of device `port / 32` of `card`
/// open outside the sequencer: `used` is (read, write) subscribers of the
/// port, whose own opening of the substream is not "busy".
fn raw_holder(proc: &Path, card: i32, port: i32, used: (bool, bool)) -> Option<String> {
    let (device, sub) = (port / 32, port % 32);
    let path = proc.join(format!("asound/card{card}/midi{device}"));
    let text = std::fs::read_to_string(path).ok()?;
    // The device's Input substream feeds the port as a source (read side).
    for (stream, in_use) in [("Input", used.0), ("Output", used.1)] {
        if in_use {
            continue;
        }
        if let Some(pid) = owner_pid(&text, stream, sub) {
            let comm = if pid == std::process::id() {
                // This host, most likely PhasorSync's own raw MIDI backend.
                "this program".to_string()
            } else {
                std::fs::read_to_string(proc.join(format!("{pid}/comm")))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "?".into())
            };
            // Short: the window has one line for it.
            let sub = if sub > 0 {
                format!(",{sub}")
            } else {
                String::new()
            };
            return Some(format!("{comm} ({pid}) has hw:{card},{device}{sub} open"));
        }
    }
    None
}

/// Who other than this program has raw MIDI device `device` of `card`
/// open (either direction, substream 0), as the window says it: the raw
/// MIDI backend opens a device alone, so such a device is busy for it.
pub fn raw_device_holder(proc: &Path, card: u32, device: u32) -> Option<String> {
    let path = proc.join(format!("asound/card{card}/midi{device}"));
    let text = std::fs::read_to_string(path).ok()?;
    let pid = ["Input", "Output"]
        .iter()
        .filter_map(|stream| owner_pid(&text, stream, 0))
        .find(|&pid| pid != std::process::id())?;
    let comm = std::fs::read_to_string(proc.join(format!("{pid}/comm")))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    Some(format!("{comm} ({pid}) has it open: close it there"))
}

/// The owner PID of substream `sub` of `stream` ("Input" or "Output") in a
/// `/proc/asound/cardC/midiD` text, if it is open.
fn owner_pid(text: &str, stream: &str, sub: i32) -> Option<u32> {
    let head = format!("{stream} {sub}");
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            inside = line.trim() == head;
            continue;
        }
        if inside {
            if let Some((key, value)) = line.split_once(':') {
                if key.trim() == "Owner PID" {
                    return value.trim().parse().ok();
                }
            }
        }
    }
    None
}

/// What lists the ports for the window's device list, on the window's
/// thread (never the audio thread): a `Lister`, or a test's fake ports.
pub type ListPorts = Box<dyn FnMut() -> Result<Vec<SeqPort>, String> + Send>;

/// Lists the ports through a sequencer handle of its own, opened at the
/// first call and kept (opening one a second would announce a client
/// coming and going to every other client each time).
#[derive(Default)]
pub(crate) struct Lister {
    seq: Option<Seq>,
}

impl Lister {
    /// The ports now, or why the sequencer cannot be read.
    pub fn list(&mut self) -> Result<Vec<SeqPort>, String> {
        if self.seq.is_none() {
            let seq = super::client::open_seq().map_err(|e| e.to_string())?;
            // Named, so a patchbay that lists it says whose it is (it has
            // no ports; a failure to name it changes nothing else).
            let _ = seq.set_client_name(c"PhasorSync device list");
            self.seq = Some(seq);
        }
        Ok(self.seq.as_ref().map(list).unwrap_or_default())
    }

    /// A [`ListPorts`] of a new lister.
    pub fn boxed() -> ListPorts {
        let mut lister = Lister::default();
        Box::new(move || lister.list())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIDI0: &str = "UM-ONE\n\nOutput 0\n  Tx bytes     : 0\n  Owner PID    : 4242\n  \
                         Mode         : native\nInput 0\n  Rx bytes     : 12\n";

    #[test]
    fn owner_pid_is_read_per_stream_and_substream() {
        assert_eq!(owner_pid(MIDI0, "Output", 0), Some(4242));
        assert_eq!(owner_pid(MIDI0, "Input", 0), None);
        assert_eq!(owner_pid(MIDI0, "Output", 1), None);
    }

    #[test]
    fn a_substream_open_outside_the_sequencer_is_busy_with_who() {
        let dir = std::env::temp_dir().join(format!("phasorsync-ports-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("asound/card1")).unwrap();
        std::fs::create_dir_all(dir.join("4242")).unwrap();
        std::fs::write(dir.join("asound/card1/midi0"), MIDI0).unwrap();
        std::fs::write(dir.join("4242/comm"), "amidi\n").unwrap();
        assert_eq!(
            raw_holder(&dir, 1, 0, (false, false)).as_deref(),
            Some("amidi (4242) has hw:1,0 open")
        );
        // With a subscriber writing to it, the sequencer itself opened it.
        assert_eq!(raw_holder(&dir, 1, 0, (false, true)), None);
        // Device 1 (ports 32..) is not listed.
        assert_eq!(raw_holder(&dir, 1, 32, (false, false)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
