//! `amidi`: writing bytes to a raw MIDI device ([`amidi_send`],
//! [`amidi_send_file`]) and capturing what one receives ([`RawCapture`]).

use std::time::Duration;

use super::guard::Virmidi;
use super::temp::temp_path;
use super::tool::{run_ok, LineChild, Printed};
use super::wait::{wait_until, DELIVERY_TIMEOUT};

/// Bytes as spaced upper-case hex, the way `amidi -S` takes them: `90 3C 64`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Write `bytes` to a raw MIDI device (`hw:0,0`) with `amidi -S`.
/// For long messages use [`amidi_send_file`] (command-line length).
pub fn amidi_send(raw: &str, bytes: &[u8]) {
    run_ok("amidi", &["-p", raw, "-S", &hex(bytes)]);
}

/// Write `bytes` to a raw MIDI device with `amidi -s FILE` (any length).
pub fn amidi_send_file(raw: &str, bytes: &[u8]) {
    let path = temp_path("amidi.syx");
    std::fs::write(&path, bytes).expect("writing the amidi file");
    let path_str = path.to_str().expect("utf-8 temp path");
    run_ok("amidi", &["-p", raw, "-s", path_str]);
    let _ = std::fs::remove_file(&path);
}

/// `amidi -p RAW -d` running in the background: the bytes a raw MIDI input
/// device receives.
pub struct RawCapture {
    tool: LineChild,
}

impl RawCapture {
    /// Start dumping raw device `raw` (e.g. `hw:0,1`), and wait until the
    /// kernel shows the device open for input (`Owner PID` in
    /// `/proc/asound/cardC/midiD`), so nothing sent afterwards is missed.
    ///
    /// # Panics
    /// When amidi fails to open the device within [`DELIVERY_TIMEOUT`].
    pub fn start(dev: &Virmidi) -> Self {
        let tool = LineChild::spawn("amidi", &["-p", &dev.raw(), "-d"]);
        let proc_file = format!("/proc/asound/card{}/midi{}", dev.card, dev.device);
        let pid = tool.id().to_string();
        let open = wait_until(DELIVERY_TIMEOUT, || {
            let text = std::fs::read_to_string(&proc_file).unwrap_or_default();
            // Input sections follow the outputs; an open one names its owner.
            text.split("Input").skip(1).any(|section| {
                section.lines().any(|l| {
                    l.trim_start().starts_with("Owner PID")
                        && l.rsplit(':').next().map(str::trim) == Some(pid.as_str())
                })
            })
        });
        if !open {
            let (printed, stderr) = tool.stop();
            panic!(
                "amidi -d on {} did not open its input: {printed:?} {stderr}\n{}",
                dev.raw(),
                std::fs::read_to_string(&proc_file).unwrap_or_default()
            );
        }
        Self { tool }
    }

    /// Wait until at least `n` bytes arrived or `timeout` passed; the bytes.
    pub fn wait_bytes(&self, n: usize, timeout: Duration) -> Vec<u8> {
        let (_, printed) = self.tool.wait(timeout, |p| dump_bytes(p).len() >= n);
        dump_bytes(&printed)
    }

    /// Stop amidi; every byte it received.
    pub fn stop(self) -> Vec<u8> {
        dump_bytes(&self.tool.stop().0)
    }
}

/// The bytes in everything `amidi -d` printed so far.
fn dump_bytes(p: &Printed) -> Vec<u8> {
    let mut text = p.lines.join("\n");
    text.push('\n');
    text.push_str(&p.tail);
    parse_amidi_dump(&text)
}

/// Bytes from `amidi -d` output: pairs of hex digits, spaced or not, a new
/// line before each status byte.
pub fn parse_amidi_dump(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks_exact(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}
