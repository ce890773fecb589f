//! A parsed message as the monitor prints it: one JSON object for scripts,
//! or one line for people.

use phasorsync::protocol::{MidiEvent, MidiMessage};
use serde::Serialize;

/// One message for `--json`. `channel` is the wire's 0..=15; `key` is the
/// note or controller number; `value` the velocity, pressure, controller
/// value, program, 14-bit bend or song position, or the data byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Arrival time, ns on `CLOCK_MONOTONIC` (the kernel's timestamp).
    pub time_ns: u64,
    /// Since the previous message of any source, ns (absent for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_ns: Option<u64>,
    /// The sending port, `client:port`.
    pub source: String,
    /// Its name, `client name:port name`, when the sequencer still knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// What it is: `note_on`, `control_change`, `clock`, `sysex`, …
    pub kind: &'static str,
    /// Channel 0..=15 for channel messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<u8>,
    /// Note or controller number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<u8>,
    /// The message's value (see the type's docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<u16>,
    /// A SysEx message's bytes, F0 … F7, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// `client:port` of a message's source (packed by the engine's sink as
/// `client << 8 | port`).
pub fn source_addr(port: u16) -> (i32, i32) {
    (i32::from(port >> 8), i32::from(port & 0xFF))
}

/// Kind, channel, key and value of an event.
fn fields(e: &MidiEvent) -> (&'static str, Option<u8>, Option<u8>, Option<u16>) {
    use MidiEvent as E;
    let v = |x: u8| Some(u16::from(x));
    match *e {
        E::NoteOff {
            channel,
            key,
            velocity,
        } => ("note_off", Some(channel), Some(key), v(velocity)),
        E::NoteOn {
            channel,
            key,
            velocity,
        } => ("note_on", Some(channel), Some(key), v(velocity)),
        E::PolyPressure {
            channel,
            key,
            pressure,
        } => ("poly_pressure", Some(channel), Some(key), v(pressure)),
        E::ControlChange {
            channel,
            controller,
            value,
        } => ("control_change", Some(channel), Some(controller), v(value)),
        E::ProgramChange { channel, program } => {
            ("program_change", Some(channel), None, v(program))
        }
        E::ChannelPressure { channel, pressure } => {
            ("channel_pressure", Some(channel), None, v(pressure))
        }
        E::PitchBend { channel, value } => ("pitch_bend", Some(channel), None, Some(value)),
        E::MtcQuarterFrame(d) => ("mtc_quarter_frame", None, None, v(d)),
        E::SongPosition(p) => ("song_position", None, None, Some(p)),
        E::SongSelect(s) => ("song_select", None, None, v(s)),
        E::TuneRequest => ("tune_request", None, None, None),
        E::TimingClock => ("clock", None, None, None),
        E::Start => ("start", None, None, None),
        E::Continue => ("continue", None, None, None),
        E::Stop => ("stop", None, None, None),
        E::ActiveSensing => ("active_sensing", None, None, None),
        E::SystemReset => ("system_reset", None, None, None),
        E::SysEx { len } => ("sysex", None, None, u16::try_from(len).ok()),
    }
}

impl Record {
    /// The record of `msg`; `payload` is a SysEx message's bytes.
    pub fn new(
        msg: &MidiMessage,
        delta_ns: Option<u64>,
        source_name: Option<String>,
        payload: Option<&[u8]>,
    ) -> Self {
        let (kind, channel, key, value) = fields(&msg.event);
        let (c, p) = source_addr(msg.port);
        Self {
            time_ns: msg.time_ns,
            delta_ns,
            source: format!("{c}:{p}"),
            source_name,
            kind,
            channel,
            key,
            value,
            data: payload.map(hex),
        }
    }

    /// One line for people: time since `start_ns` (s), inter-arrival (ms),
    /// source, message; channels shown 1..=16 as instruments number them.
    pub fn line(&self, start_ns: u64) -> String {
        let t = self.time_ns.saturating_sub(start_ns) as f64 / 1e9;
        let d = self
            .delta_ns
            .map_or_else(|| "-".to_string(), |d| format!("+{:.3}", d as f64 / 1e6));
        let src = match &self.source_name {
            Some(n) => format!("{} {}", self.source, n),
            None => self.source.clone(),
        };
        let mut msg = self.kind.replace('_', " ");
        if let Some(c) = self.channel {
            msg.push_str(&format!(" ch {}", u16::from(c) + 1));
        }
        if let Some(k) = self.key {
            msg.push_str(&format!(" {k}"));
        }
        if let Some(v) = self.value {
            msg.push_str(&format!(" {v}"));
        }
        if let Some(d) = &self.data {
            msg.push_str(&format!(" {d}"));
        }
        format!("{t:>10.6} s {d:>10} ms  {src:<32}  {msg}")
    }
}

/// Bytes as space-separated hex.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(event: MidiEvent) -> MidiMessage {
        MidiMessage {
            time_ns: 1_500_000_000,
            port: 20 << 8 | 1,
            event,
        }
    }

    #[test]
    fn a_note_on_has_its_channel_key_and_velocity_in_json() {
        let r = Record::new(
            &msg(MidiEvent::NoteOn {
                channel: 2,
                key: 60,
                velocity: 100,
            }),
            Some(1000),
            None,
            None,
        );
        let j: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(j["time_ns"], 1_500_000_000u64);
        assert_eq!(j["source"], "20:1");
        assert_eq!(j["kind"], "note_on");
        assert_eq!(j["channel"], 2);
        assert_eq!(j["key"], 60);
        assert_eq!(j["value"], 100);
        assert_eq!(j["delta_ns"], 1000);
    }

    #[test]
    fn a_clock_has_no_channel_and_a_sysex_its_bytes() {
        let clock =
            serde_json::to_value(Record::new(&msg(MidiEvent::TimingClock), None, None, None))
                .unwrap();
        assert_eq!(clock["kind"], "clock");
        assert!(clock.get("channel").is_none() && clock.get("delta_ns").is_none());
        let sx = Record::new(
            &msg(MidiEvent::SysEx { len: 3 }),
            None,
            None,
            Some(&[0xF0, 0x7E, 0xF7]),
        );
        assert_eq!(sx.data.as_deref(), Some("F0 7E F7"));
    }

    #[test]
    fn the_line_numbers_channels_from_one() {
        let r = Record::new(
            &msg(MidiEvent::ControlChange {
                channel: 0,
                controller: 7,
                value: 90,
            }),
            None,
            Some("Keys:Port 1".into()),
            None,
        );
        let l = r.line(500_000_000);
        assert!(l.contains("1.000000 s"), "{l}");
        assert!(l.ends_with("control change ch 1 7 90"), "{l}");
        assert!(l.contains("20:1 Keys:Port 1"), "{l}");
    }
}
