//! The `phasorsync` command against a real kernel sequencer (`cargo xtask
//! test` runs these natively or in its qemu VM, with `snd-seq-dummy` and
//! `snd-virmidi` loaded): `ports` lists the virmidi devices and what the
//! patterns connect, `monitor --json` prints a played file's messages one for
//! one, and Ctrl-C ends the monitor within a second.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::aplaymidi::aplaymidi;
use common::smf::Smf;

/// `snd-seq-dummy`'s port, which forwards what it receives to its subscribers.
const THROUGH: &str = "Midi Through:Midi Through Port-0";
/// How long the monitor may take to start and connect (a loaded VM).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The promise: Ctrl-C ends the monitor within a second.
const INTERRUPT_LIMIT: Duration = Duration::from_secs(1);

fn phasorsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phasorsync"))
        .args(args)
        .env_remove("PHASORSYNC_CONNECT")
        .output()
        .expect("running phasorsync")
}

/// A running monitor, its stderr lines arriving on a channel.
struct Monitor {
    child: Child,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Monitor {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phasorsync"))
            .arg("monitor")
            .args(args)
            .env_remove("PHASORSYNC_CONNECT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning phasorsync monitor");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("monitor: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.seen.iter().any(|l| l.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("monitor never said {text:?}; it said {:?}", self.seen),
            }
        }
    }

    /// SIGINT, as Ctrl-C sends; returns how long it took to exit, and its stdout.
    fn interrupt(mut self) -> (Duration, String) {
        let mut out = self.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s)
                .expect("reading the monitor's stdout");
            s
        });
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        let t0 = Instant::now();
        // SAFETY: kill(2) on the pid of our own child, which has not been
        // waited for, so the pid is still its.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill -INT");
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > 10 * INTERRUPT_LIMIT {
                let _ = self.child.kill();
                panic!("the monitor ignored SIGINT for {:?}", t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let took = t0.elapsed();
        assert!(status.success(), "after SIGINT the monitor exited {status}");
        (took, reader.join().unwrap())
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn ports_lists_the_virmidi_devices_and_what_a_pattern_would_connect() {
    let plain = phasorsync(&["ports", "--no-env"]);
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.status.success(), "{plain:?}");
    println!("{text}");
    // The sequencer's ports (the raw MIDI devices, `hw:C,D`, come after).
    let virmidi: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Virtual Raw MIDI") && !l.starts_with("hw:"))
        .collect();
    assert!(!virmidi.is_empty(), "no virmidi port listed:\n{text}");
    // A virmidi port is both: it sends what its raw device is written and
    // plays what it is sent.
    for l in &virmidi {
        assert!(l.contains("source+dest"), "{l}");
        assert!(
            !l.contains(" in ") && !l.contains(" out "),
            "no patterns: {l}"
        );
    }
    let with = phasorsync(&[
        "ports",
        "--no-env",
        "virtual raw midi",
        "out:virtual raw midi",
    ]);
    let text = String::from_utf8_lossy(&with.stdout);
    assert!(with.status.success(), "{with:?}");
    let matched: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Virtual Raw MIDI") && !l.starts_with("hw:"))
        .collect();
    assert_eq!(matched.len(), virmidi.len(), "{text}");
    for l in &matched {
        assert!(l.contains(" in+out "), "both patterns match: {l}");
    }
    let through = text.lines().find(|l| l.contains(THROUGH)).unwrap_or("");
    assert!(
        through.contains(" - "),
        "a port no pattern names is not connected: {through:?}\n{text}"
    );
    // The raw MIDI devices follow: the virmidi card's, the one a raw:
    // pattern names picked.
    let raw = phasorsync(&["ports", "--no-env", "raw:hw:0,1"]);
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(raw.status.success(), "{raw:?}");
    let picked: Vec<&str> = text.lines().filter(|l| l.starts_with("hw:0,")).collect();
    assert!(
        picked.len() >= 2,
        "the virmidi raw devices are listed:\n{text}"
    );
    for l in &picked {
        assert_eq!(l.starts_with("hw:0,1 "), l.contains(" yes "), "{l}");
    }
}

/// One message played and what the monitor must say of it.
struct Played {
    bytes: &'static [u8],
    kind: &'static str,
    channel: Option<u64>,
    key: Option<u64>,
    value: Option<u64>,
}

const fn played(
    bytes: &'static [u8],
    kind: &'static str,
    channel: Option<u64>,
    key: Option<u64>,
    value: Option<u64>,
) -> Played {
    Played {
        bytes,
        kind,
        channel,
        key,
        value,
    }
}

/// The file's messages: every channel-message kind, a SysEx and clock.
const FILE: &[Played] = &[
    played(&[0x90, 60, 100], "note_on", Some(0), Some(60), Some(100)),
    played(&[0xB3, 7, 90], "control_change", Some(3), Some(7), Some(90)),
    played(&[0xE1, 0x00, 0x40], "pitch_bend", Some(1), None, Some(8192)),
    played(&[0xC5, 12], "program_change", Some(5), None, Some(12)),
    played(&[0xD2, 33], "channel_pressure", Some(2), None, Some(33)),
    played(
        &[0xA4, 61, 44],
        "poly_pressure",
        Some(4),
        Some(61),
        Some(44),
    ),
    played(
        &[0xF0, 0x7D, 0x01, 0x02, 0xF7],
        "sysex",
        None,
        None,
        Some(5),
    ),
    played(&[0xF8], "clock", None, None, None),
    played(&[0xF8], "clock", None, None, None),
    played(&[0x80, 60, 0], "note_off", Some(0), Some(60), Some(0)),
    played(&[0x9F, 127, 1], "note_on", Some(15), Some(127), Some(1)),
    // A note-on of velocity 0 is a note-off to the parser.
    played(&[0x9F, 127, 0], "note_off", Some(15), Some(127), Some(0)),
];

fn file() -> Smf {
    let mut smf = Smf::new();
    for p in FILE {
        match p.bytes[0] {
            0xF0 => smf.sysex(10, p.bytes),
            0xF1.. => smf.escaped(10, p.bytes),
            _ => smf.event(10, p.bytes),
        };
    }
    smf
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn monitor_json_prints_a_played_file_message_for_message_in_order() {
    let pattern = format!("={THROUGH}");
    let mut mon = Monitor::start(&["--json", "--no-env", &pattern]);
    mon.wait_for("auto-connected");
    let path = file().write_temp();
    aplaymidi("Midi Through:0", &path, Duration::from_secs(60));
    // Delivery is immediate on an idle kernel; allow for a loaded VM.
    std::thread::sleep(Duration::from_millis(500));
    let (took, out) = mon.interrupt();
    let _ = std::fs::remove_file(&path);
    let got: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(got.len(), FILE.len(), "one object per message:\n{out}");
    let num = |v: &serde_json::Value| v.as_u64();
    let mut last = 0;
    for (i, (g, p)) in got.iter().zip(FILE).enumerate() {
        assert_eq!(g["kind"], p.kind, "message {i}: {g}");
        assert_eq!(num(&g["channel"]), p.channel, "message {i}: {g}");
        assert_eq!(num(&g["key"]), p.key, "message {i}: {g}");
        assert_eq!(num(&g["value"]), p.value, "message {i}: {g}");
        let t = g["time_ns"].as_u64().expect("time_ns");
        assert!(t >= last, "message {i} earlier than the one before: {g}");
        last = t;
        assert!(
            g["source_name"]
                .as_str()
                .is_some_and(|n| n.contains("Midi Through")),
            "message {i} from the through port: {g}"
        );
    }
    assert_eq!(got[6]["data"], "F0 7D 01 02 F7");
    assert!(took < INTERRUPT_LIMIT, "SIGINT took {took:?} to end it");
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn ctrl_c_ends_an_idle_monitor_within_a_second() {
    let mut mon = Monitor::start(&["--no-env"]);
    mon.wait_for("listening as client");
    let (took, out) = mon.interrupt();
    println!("SIGINT to exit: {took:?}");
    assert!(out.is_empty(), "nothing was played, nothing printed: {out}");
    assert!(took < INTERRUPT_LIMIT, "SIGINT took {took:?} to end it");
}
