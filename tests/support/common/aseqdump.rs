//! `aseqdump`: a sequencer client outside this process that prints what it
//! receives, and the parser of its event lines.

use std::time::Duration;

use super::tool::{LineChild, Printed};
use super::wait::DELIVERY_TIMEOUT;

/// One event line of `aseqdump`, e.g.
/// ` 16:0   Note on                 0, note 60, velocity 100`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpEvent {
    /// Source address, `16:0`.
    pub source: String,
    /// Event name as aseqdump prints it: `Note on`, `Control change`,
    /// `Pitch bend`, `System exclusive`, `Clock`, ...
    pub kind: String,
    /// MIDI channel, 0-based as aseqdump prints it (channel "1" is 0).
    pub channel: Option<u8>,
    /// The rest: `note 60, velocity 100`, `F0 7E 7F 06 01 F7`, or empty.
    pub data: String,
}

impl DumpEvent {
    /// Parse one aseqdump event line; `None` for headers and other text.
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim_start();
        let (source, rest) = line.split_once(char::is_whitespace)?;
        let (client, port) = source.split_once(':')?;
        if client.parse::<u32>().is_err() || port.parse::<u32>().is_err() {
            return None;
        }
        let rest = rest.trim();
        // The event name is padded to a column: two spaces end it.
        let (kind, data) = match rest.split_once("  ") {
            Some((k, d)) => (k.trim(), d.trim()),
            None => (rest, ""),
        };
        let (channel, data) = match data.split_once(',') {
            Some((ch, more)) if !ch.is_empty() && ch.bytes().all(|b| b.is_ascii_digit()) => {
                (ch.parse().ok(), more.trim())
            }
            _ => (None, data),
        };
        Some(Self {
            source: source.to_string(),
            kind: kind.to_string(),
            channel,
            data: data.to_string(),
        })
    }
}

/// `aseqdump -p ADDR` running in the background: the events it printed.
pub struct SeqDump {
    tool: LineChild,
}

impl SeqDump {
    /// Start `aseqdump -p addr` and wait until it is subscribed (it prints
    /// "Waiting for data" only after connecting), so nothing sent after
    /// this returns can be missed.
    ///
    /// # Panics
    /// When aseqdump fails to start or subscribe within [`DELIVERY_TIMEOUT`].
    pub fn start(addr: &str) -> Self {
        let tool = LineChild::spawn("aseqdump", &["-p", addr]);
        let (ready, printed) = tool.wait(DELIVERY_TIMEOUT, |p| {
            p.lines.iter().any(|l| l.starts_with("Waiting for data"))
        });
        if !ready {
            let (_, stderr) = tool.stop();
            panic!("aseqdump -p {addr} did not start: {printed:?} {stderr}");
        }
        Self { tool }
    }

    /// Wait until at least `n` events were printed or `timeout` passed;
    /// the events so far either way.
    pub fn wait_events(&self, n: usize, timeout: Duration) -> Vec<DumpEvent> {
        let events = |p: &Printed| -> Vec<DumpEvent> {
            p.lines.iter().filter_map(|l| DumpEvent::parse(l)).collect()
        };
        let (_, printed) = self.tool.wait(timeout, |p| events(p).len() >= n);
        events(&printed)
    }

    /// Stop aseqdump; every event it printed (complete lines only).
    pub fn stop(self) -> Vec<DumpEvent> {
        let (printed, _) = self.tool.stop();
        printed
            .lines
            .iter()
            .filter_map(|l| DumpEvent::parse(l))
            .collect()
    }
}
