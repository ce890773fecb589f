//! Shared support for the kernel tests (`tests/kernel_*.rs`, `tests/alsa_*.rs`):
//! the external ALSA clients they drive, nothing written by this project.
//!
//! Use it from a test file with `mod common;`. Everything here talks to the
//! kernel only through alsa-utils (`aconnect`, `amidi`, `aplaymidi`,
//! `aseqdump`), so it works wherever the kernel tests run: natively on a
//! machine with `/dev/snd/seq`, or in the VM of `cargo xtask test`.
//!
//! Kernel tests are marked
//! `#[ignore = "needs a kernel sequencer: run with cargo xtask test"]`
//! (a plain `cargo test` lists them as ignored) and start with
//! [`require_sequencer`] and, when they use raw MIDI devices,
//! [`require_virmidi`]: both fail loudly, never skip.
//!
//! Every external command runs under a timeout ([`TOOL_TIMEOUT`] unless
//! given), so a hung tool fails the test instead of hanging the VM.
//!
//! Stable API (other test files rely on it; extend, do not change):
//! [`require_sequencer`], [`require_virmidi`], [`Virmidi`], [`run_tool`],
//! [`run_ok`], [`seq_clients`], [`SeqClient`], [`SeqPort`], [`aconnect`],
//! [`aconnect_disconnect`], [`amidi_send`], [`amidi_send_file`],
//! [`RawCapture`], [`SeqDump`], [`DumpEvent`], [`Smf`], [`aplaymidi`],
//! [`hex`], [`temp_path`], [`wait_until`], [`aconnect_list`],
//! [`client_listed`].
#![allow(dead_code)] // each test crate uses its own subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default limit for one external command.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// Default limit for waiting on something the kernel delivers. Generous:
/// under the VM's software emulation a busy host slows everything down.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Panic, with what to do, unless `/dev/snd/seq` can be opened read-write.
///
/// # Panics
/// When there is no usable kernel sequencer.
pub fn require_sequencer() {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/snd/seq")
    {
        panic!(
            "this kernel test needs the kernel ALSA sequencer, but /dev/snd/seq cannot be \
             opened ({e}). Run the kernel tests with `cargo xtask test`: it runs them here \
             when the kernel has snd-seq, and otherwise in a qemu VM that has it."
        );
    }
}

/// One `snd-virmidi` device: a raw MIDI device (`hw:CARD,DEV`) whose other
/// end is a kernel sequencer client. Bytes written to the raw device come
/// out of the sequencer port as events (the kernel's own byte-to-event
/// encoder, as for a USB keyboard); events sent to the port can be read as
/// bytes from the raw device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Virmidi {
    /// ALSA card number.
    pub card: u32,
    /// Raw MIDI device number on the card.
    pub device: u32,
    /// Sequencer client number of the other end.
    pub client: u32,
    /// Sequencer port number of the other end.
    pub port: u32,
}

impl Virmidi {
    /// The raw device name for `amidi -p`, e.g. `hw:0,0`.
    pub fn raw(&self) -> String {
        format!("hw:{},{}", self.card, self.device)
    }

    /// The sequencer address for `aconnect`/`aseqdump -p`, e.g. `16:0`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.client, self.port)
    }
}

/// The virmidi devices the kernel has, found by their client names
/// ("Virtual Raw MIDI C-D"), in client order.
pub fn virmidi_devices() -> Vec<Virmidi> {
    seq_clients()
        .iter()
        .filter_map(|c| {
            let (card, device) = c.name.strip_prefix("Virtual Raw MIDI ")?.split_once('-')?;
            Some(Virmidi {
                card: card.parse().ok()?,
                device: device.parse().ok()?,
                client: c.id,
                port: c.ports.first()?.id,
            })
        })
        .collect()
}

/// At least `n` virmidi devices, or a panic saying how to get them.
///
/// # Panics
/// When the kernel has fewer than `n` virmidi devices.
pub fn require_virmidi(n: usize) -> Vec<Virmidi> {
    require_sequencer();
    let devs = virmidi_devices();
    assert!(
        devs.len() >= n,
        "this kernel test needs {n} snd-virmidi devices, found {} \
         (load them: sudo modprobe snd-virmidi midi_devs=2; `cargo xtask test` does it \
         in its VM). aconnect -l:\n{}",
        devs.len(),
        aconnect_list()
    );
    devs
}

/// Output of a finished command.
#[derive(Debug)]
pub struct ToolOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Spawn `program`, panicking with a useful message when it does not exist.
fn spawn(cmd: &mut Command, program: &str) -> Child {
    cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e} (the kernel tests need alsa-utils and coreutils)")
    })
}

/// Read a pipe to the end on a thread.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Run a command to completion within `timeout` (killed and a panic after).
///
/// # Panics
/// When the program cannot be started or runs past `timeout`.
pub fn run_tool(program: &str, args: &[&str], timeout: Duration) -> ToolOutput {
    let mut child = spawn(
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        program,
    );
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let end = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    ToolOutput {
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    }
}

/// Run a command within [`TOOL_TIMEOUT`]; its stdout, or a panic with both
/// outputs when it fails.
///
/// # Panics
/// When the program cannot be started, times out or exits non-zero.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run_tool(program, args, TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// One port in `aconnect -l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqPort {
    /// Port number.
    pub id: u32,
    /// Port name, trailing padding removed.
    pub name: String,
    /// Addresses this port sends to ("Connecting To").
    pub connecting_to: Vec<String>,
    /// Addresses this port receives from ("Connected From").
    pub connected_from: Vec<String>,
}

/// One client in `aconnect -l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqClient {
    /// Client number.
    pub id: u32,
    /// Client name.
    pub name: String,
    /// The bracketed attributes, e.g. `type=kernel,card=0` or `type=user,pid=42`.
    pub attrs: String,
    /// Its ports.
    pub ports: Vec<SeqPort>,
}

impl SeqClient {
    /// True for kernel clients (`type=kernel`).
    pub fn is_kernel(&self) -> bool {
        self.attrs.split(',').any(|a| a == "type=kernel")
    }
}

/// The text of `aconnect -l`.
pub fn aconnect_list() -> String {
    run_ok("aconnect", &["-l"])
}

/// Does `aconnect -l` show a client with this number and name?
pub fn client_listed(client: i32, name: &str) -> bool {
    aconnect_list()
        .lines()
        .any(|l| l.starts_with(&format!("client {client}: '{name}'")))
}

/// Every sequencer client and port, from `aconnect -l`.
pub fn seq_clients() -> Vec<SeqClient> {
    parse_aconnect_list(&aconnect_list())
}

/// Parse the text of `aconnect -l`.
pub fn parse_aconnect_list(text: &str) -> Vec<SeqClient> {
    let addrs = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|a| a.trim().split('[').next().unwrap_or("").to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };
    let mut clients: Vec<SeqClient> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("client ") {
            let Some((id, rest)) = rest.split_once(": '") else {
                continue;
            };
            let Some((name, rest)) = rest.rsplit_once('\'') else {
                continue;
            };
            let attrs = rest.trim().trim_start_matches('[').trim_end_matches(']');
            if let Ok(id) = id.parse() {
                clients.push(SeqClient {
                    id,
                    name: name.to_string(),
                    attrs: attrs.to_string(),
                    ports: Vec::new(),
                });
            }
            continue;
        }
        let Some(client) = clients.last_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(a) = t.strip_prefix("Connecting To:") {
            if let Some(p) = client.ports.last_mut() {
                p.connecting_to.extend(addrs(a));
            }
        } else if let Some(a) = t.strip_prefix("Connected From:") {
            if let Some(p) = client.ports.last_mut() {
                p.connected_from.extend(addrs(a));
            }
        } else if let Some((id, name)) = t.split_once(" '") {
            if let Ok(id) = id.parse() {
                client.ports.push(SeqPort {
                    id,
                    name: name.trim_end_matches('\'').trim_end().to_string(),
                    connecting_to: Vec::new(),
                    connected_from: Vec::new(),
                });
            }
        }
    }
    clients
}

/// `aconnect SENDER DEST` (addresses like `16:0`).
pub fn aconnect(sender: &str, dest: &str) {
    run_ok("aconnect", &[sender, dest]);
}

/// `aconnect -d SENDER DEST`.
pub fn aconnect_disconnect(sender: &str, dest: &str) {
    run_ok("aconnect", &["-d", sender, dest]);
}

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

/// A unique path in the temp directory (the file is not created).
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("phasorsync-test-{}-{n}-{name}", std::process::id()))
}

/// Poll `f` every 2 ms until it holds; false if `timeout` passed first.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What a running child printed so far: complete lines, and the start of
/// the next one (amidi ends a message's line only when the next one starts).
#[derive(Clone, Debug, Default)]
struct Printed {
    lines: Vec<String>,
    tail: String,
}

/// [`Printed`], shared with the reader thread.
type Lines = Arc<(Mutex<Printed>, Condvar)>;

/// A long-running tool whose stdout is collected line by line.
struct LineChild {
    child: Child,
    lines: Lines,
    reader: Option<JoinHandle<()>>,
    what: String,
}

impl LineChild {
    /// Spawn `program args` with line-buffered stdout (`stdbuf -oL`: these
    /// C tools block-buffer a pipe, and a test cannot wait on a buffer).
    fn spawn(program: &str, args: &[&str]) -> Self {
        let mut child = spawn(
            Command::new("stdbuf")
                .arg("-oL")
                .arg(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            program,
        );
        let lines: Lines = Arc::new((Mutex::new(Printed::default()), Condvar::new()));
        let shared = Arc::clone(&lines);
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                let (lock, cvar) = &*shared;
                let mut printed = lock.lock().expect("lines lock");
                printed.tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                while let Some(at) = printed.tail.find('\n') {
                    let line = printed.tail[..at].to_string();
                    printed.tail.drain(..=at);
                    printed.lines.push(line);
                }
                cvar.notify_all();
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
            what: format!("{program} {}", args.join(" ")),
        }
    }

    /// Wait until `done(printed)` holds or `timeout` passes; what was
    /// printed either way.
    fn wait(&self, timeout: Duration, done: impl Fn(&Printed) -> bool) -> (bool, Printed) {
        let (lock, cvar) = &*self.lines;
        let end = Instant::now() + timeout;
        let mut printed = lock.lock().expect("lines lock");
        loop {
            if done(&printed) {
                return (true, printed.clone());
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (false, printed.clone());
            }
            printed = cvar.wait_timeout(printed, left).expect("lines lock").0;
        }
    }

    /// Stop the tool; everything it printed, and its stderr.
    fn stop(mut self) -> (Printed, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let printed = self.lines.0.lock().expect("lines lock").clone();
        (printed, stderr)
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        // stdbuf execs amidi, so the pid is amidi's.
        let pid = tool.child.id().to_string();
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

/// A format-0 Standard MIDI File for `aplaymidi`, built in memory.
///
/// `Smf::new()` uses 500 ticks per quarter at 500 000 µs per quarter, so
/// **one tick is one millisecond** and deltas are in ms.
#[derive(Clone, Debug)]
pub struct Smf {
    ppq: u16,
    track: Vec<u8>,
}

impl Default for Smf {
    fn default() -> Self {
        Self::new()
    }
}

impl Smf {
    /// An empty file with 1 tick = 1 ms (tempo event at tick 0 included).
    pub fn new() -> Self {
        let mut smf = Self {
            ppq: 500,
            track: Vec::new(),
        };
        smf.meta(0, 0x51, &500_000u32.to_be_bytes()[1..]);
        smf
    }

    /// Append a channel or system-common/realtime message `delta` ticks
    /// after the previous event (full status bytes, no running status).
    pub fn event(&mut self, delta: u32, bytes: &[u8]) -> &mut Self {
        assert!(
            bytes
                .first()
                .is_some_and(|&b| b >= 0x80 && b != 0xF0 && b != 0xFF),
            "Smf::event takes a message starting with a status byte (use sysex/meta)"
        );
        push_varlen(&mut self.track, delta);
        self.track.extend_from_slice(bytes);
        self
    }

    /// Append a complete SysEx, `F0 ... F7` as it goes on the wire.
    pub fn sysex(&mut self, delta: u32, message: &[u8]) -> &mut Self {
        assert!(
            message.len() >= 2 && message[0] == 0xF0 && message[message.len() - 1] == 0xF7,
            "Smf::sysex takes a whole message F0 ... F7"
        );
        let body = &message[1..];
        push_varlen(&mut self.track, delta);
        self.track.push(0xF0);
        push_varlen(
            &mut self.track,
            u32::try_from(body.len()).expect("SysEx < 4 GiB"),
        );
        self.track.extend_from_slice(body);
        self
    }

    /// Append a meta event (`FF type len data`).
    pub fn meta(&mut self, delta: u32, kind: u8, data: &[u8]) -> &mut Self {
        push_varlen(&mut self.track, delta);
        self.track.extend_from_slice(&[0xFF, kind]);
        push_varlen(
            &mut self.track,
            u32::try_from(data.len()).expect("meta < 4 GiB"),
        );
        self.track.extend_from_slice(data);
        self
    }

    /// The file's bytes (header, the track, end-of-track).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut track = self.track.clone();
        track.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
        let mut out = Vec::with_capacity(track.len() + 22);
        out.extend_from_slice(b"MThd");
        out.extend_from_slice(&6u32.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes()); // format 0
        out.extend_from_slice(&1u16.to_be_bytes()); // one track
        out.extend_from_slice(&self.ppq.to_be_bytes());
        out.extend_from_slice(b"MTrk");
        let len = u32::try_from(track.len()).expect("track < 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&track);
        out
    }

    /// Write the file to a fresh temp path and return it.
    pub fn write_temp(&self) -> PathBuf {
        let path = temp_path("test.mid");
        std::fs::write(&path, self.to_bytes()).expect("writing the .mid file");
        path
    }
}

/// Append `v` as a MIDI variable-length quantity (7 bits a byte, high bit
/// set on all but the last).
pub fn push_varlen(out: &mut Vec<u8>, v: u32) {
    assert!(v < 1 << 28, "MIDI variable-length values stop at 2^28");
    let mut shift = 21;
    while shift > 0 && v >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        out.push(0x80 | ((v >> shift) & 0x7F) as u8);
        shift -= 7;
    }
    out.push((v & 0x7F) as u8);
}

/// `aplaymidi -p PORT FILE` to completion (within `timeout`); panics on failure.
pub fn aplaymidi(port: &str, file: &Path, timeout: Duration) {
    let file = file.to_str().expect("utf-8 path");
    let out = run_tool("aplaymidi", &["-p", port, file], timeout);
    assert!(
        out.status.success(),
        "aplaymidi -p {port} {file} failed ({}): {}{}",
        out.status,
        out.stdout,
        out.stderr
    );
}
