//! PhasorSync in a real DAW: Qtractor (Debian's `qtractor`, a CLAP host) on
//! JACK's dummy backend, headless (`QT_QPA_PLATFORM=offscreen`).
//!
//! The test writes a session with one MIDI track whose plugin chain is
//! PhasorSync (the bundled `.clap`) followed by a MIDI aux send to an output
//! bus "Out" (in Qtractor a plugin's MIDI output reaches a bus only through
//! such a send, and only while the transport rolls). `aplaymidi` plays notes
//! into PhasorSync's own sequencer client; `aseqdump`, an independent client
//! on Qtractor's "Out" port, must receive every note once, in order, with its
//! velocity.
//!
//! Needs a kernel sequencer, `qtractor`, `jackd2` and alsa-utils; `cargo
//! xtask test` runs it (in its VM here). Qtractor takes a minute or more to
//! start under the VM's emulation, hence the generous timeouts.

mod clap_host;
mod common;

use common::{aplaymidi, require_sequencer, seq_clients, temp_path, wait_until, SeqDump, Smf};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Notes played through Qtractor.
const NOTES: usize = 120;
/// Qtractor's start-up under TCG emulation took ~85 s in trials.
const START_TIMEOUT: Duration = Duration::from_secs(400);
/// Waiting for the notes to come out of Qtractor.
const DELIVERY: Duration = Duration::from_secs(120);

/// The program `name`, or a panic naming the package that provides it.
fn require_program(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is missing: apt-get install {package} (cargo xtask test installs it)"
    );
}

/// Background processes, killed (in reverse order) when the test ends.
struct Procs {
    children: Vec<(&'static str, Child)>,
    log_dir: PathBuf,
}

impl Procs {
    fn spawn(&mut self, name: &'static str, cmd: &mut Command) {
        let log = fs::File::create(self.log_dir.join(format!("{name}.log"))).expect("log file");
        let err = log.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.children.push((name, child));
    }

    /// The log of `name` so far (for failure messages).
    fn log(&self, name: &str) -> String {
        let text = fs::read_to_string(self.log_dir.join(format!("{name}.log"))).unwrap_or_default();
        // The end is what matters; Qtractor can print a lot.
        let tail: Vec<_> = text.lines().rev().take(60).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    fn assert_running(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(self.log_dir.join(format!("{name}.log")))
                    .unwrap_or_default();
                panic!("{name} exited early ({status}):\n{log}");
            }
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// JACK keeps its server state in /dev/shm; a minimal VM may not mount it.
fn ensure_dev_shm() {
    let shm = Path::new("/dev/shm");
    let mounted = fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.split(' ').nth(1) == Some("/dev/shm")))
        .unwrap_or(false);
    if mounted {
        return;
    }
    fs::create_dir_all(shm).expect("mkdir /dev/shm (JACK needs it)");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", "/dev/shm"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "/dev/shm is not mounted and mounting a tmpfs there failed: JACK needs it"
    );
}

/// The session: PhasorSync then a MIDI aux send to "Out" on one MIDI track;
/// the session's sample rate is the engine's (48 kHz), and Qtractor follows
/// and drives JACK's transport ("duplex").
fn session(plugin: &Path) -> String {
    let plugin = plugin.to_str().expect("utf-8 bundle path");
    format!(
        r#"<!DOCTYPE qtractorSession>
<session version="Qtractor 0.9.31" name="phasorsync-test">
 <properties>
  <sample-rate>48000</sample-rate>
  <tempo>120</tempo>
  <ticks-per-beat>960</ticks-per-beat>
  <beats-per-bar>4</beats-per-bar>
  <beat-divisor>2</beat-divisor>
 </properties>
 <devices>
  <audio-engine>
   <audio-control><transport-mode>duplex</transport-mode></audio-control>
   <audio-bus name="Master" mode="duplex"><channels>2</channels><auto-connect>0</auto-connect></audio-bus>
  </audio-engine>
  <midi-engine>
   <midi-bus name="Master" mode="duplex"/>
   <midi-bus name="Out" mode="output"/>
  </midi-engine>
 </devices>
 <tracks>
  <track name="PhasorSync" type="midi">
   <properties>
    <input-bus>Master</input-bus>
    <output-bus>Master</output-bus>
    <midi-omni>1</midi-omni>
    <midi-channel>0</midi-channel>
   </properties>
   <plugins>
    <plugin type="CLAP">
     <filename>{plugin}</filename>
     <index>0</index>
     <activated>1</activated>
    </plugin>
    <plugin type="AuxSend">
     <index>0</index>
     <activated>1</activated>
     <configs><config key="midiBusName">Out</config></configs>
    </plugin>
   </plugins>
  </track>
 </tracks>
</session>
"#
    )
}

/// `(key, velocity)` of note `i`: keys walk 36..84, velocities cover 1..=127
/// in a scrambled order, so a lost, doubled, reordered or rescaled note shows.
fn note(i: usize) -> (u8, u8) {
    let key = 36 + (i % 48) as u8;
    let velocity = 1 + ((i * 37) % 127) as u8;
    (key, velocity)
}

/// A MIDI file of [`NOTES`] notes, one every 25 ms, each 12.5 ms long.
fn midi_file() -> PathBuf {
    let mut smf = Smf::new();
    for i in 0..NOTES {
        let (key, velocity) = note(i);
        smf.event(if i == 0 { 0 } else { 10 }, &[0x90, key, velocity]);
        smf.event(10, &[0x80, key, 0]);
    }
    let path = temp_path("qtractor-notes.mid");
    fs::write(&path, smf.to_bytes()).expect("write MIDI file");
    path
}

/// The sequencer address `client:port` of the named client's named port.
fn find_port(client: &str, port: Option<&str>) -> Option<String> {
    seq_clients()
        .into_iter()
        .find(|c| c.name == client)
        .and_then(|c| {
            c.ports
                .iter()
                .find(|p| port.is_none_or(|n| p.name == n))
                .map(|p| format!("{}:{}", c.id, p.id))
        })
}

/// Start JACK's transport rolling (`jack_transport`'s `play` command).
fn transport_play(env: &[(&str, &str)]) {
    let mut child = Command::new("jack_transport")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start jack_transport");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"play\nquit\n")
        .expect("write to jack_transport");
    let ok = wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ok {
        let _ = child.kill();
    }
    let _ = child.wait();
}

#[test]
#[ignore = "needs a kernel sequencer, qtractor and jackd2: run with cargo xtask test"]
fn qtractor_passes_every_note_in_order_with_its_velocity() {
    require_sequencer();
    require_program("qtractor", "qtractor");
    require_program("jackd", "jackd2");
    require_program("jack_transport", "jackd2");
    require_program("jack_lsp", "jackd2");
    ensure_dev_shm();
    let bundle = clap_host::bundle_path();

    let dir = temp_path("qtractor");
    let home = dir.join("home");
    let runtime = dir.join("run");
    fs::create_dir_all(&home).expect("mkdir home");
    fs::create_dir_all(&runtime).expect("mkdir runtime dir");
    // XDG_RUNTIME_DIR must be private to its user, or Qt complains.
    fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod runtime dir");
    let session_file = dir.join("phasorsync.qtr");
    fs::write(&session_file, session(&bundle)).expect("write session");

    // A private JACK server name, so nothing else on the machine interferes.
    let server = format!("phasorsync-test-{}", std::process::id());
    let env = [
        ("JACK_DEFAULT_SERVER", server.as_str()),
        ("HOME", home.to_str().unwrap()),
        ("XDG_RUNTIME_DIR", runtime.to_str().unwrap()),
        ("QT_QPA_PLATFORM", "offscreen"),
    ];
    let mut procs = Procs {
        children: Vec::new(),
        log_dir: dir.clone(),
    };
    procs.spawn(
        "jackd",
        Command::new("jackd").envs(env).args([
            "--no-realtime",
            "-d",
            "dummy",
            "-r",
            "48000",
            "-p",
            "256",
        ]),
    );
    let jack_up = wait_until(Duration::from_secs(60), || {
        procs.assert_running();
        Command::new("jack_lsp")
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    assert!(jack_up, "jackd did not come up:\n{}", procs.log("jackd"));

    procs.spawn(
        "qtractor",
        Command::new("qtractor").envs(env).arg(&session_file),
    );
    let mut out = None;
    let mut phasorsync = None;
    let up = wait_until(START_TIMEOUT, || {
        procs.assert_running();
        out = find_port("Qtractor", Some("Out"));
        phasorsync = find_port("PhasorSync", None);
        out.is_some() && phasorsync.is_some()
    });
    assert!(
        up,
        "Qtractor with PhasorSync did not come up within {START_TIMEOUT:?} \
         (Out port: {out:?}, PhasorSync client: {phasorsync:?}):\n{}\nqtractor log:\n{}",
        common::aconnect_list(),
        procs.log("qtractor")
    );
    let (out, phasorsync) = (out.unwrap(), phasorsync.unwrap());

    let dump = SeqDump::start(&out);
    transport_play(&env);
    // Let the transport start and the plugin's first blocks run.
    std::thread::sleep(Duration::from_secs(3));
    aplaymidi(&phasorsync, &midi_file(), Duration::from_secs(120));
    let expected: Vec<(u8, u8)> = (0..NOTES).map(note).collect();
    let note_ons = |events: &[common::DumpEvent]| -> Vec<(u8, u8)> {
        events
            .iter()
            .filter(|e| e.kind == "Note on")
            .filter_map(|e| parse_note(&e.data))
            .collect()
    };
    // Every note-on and note-off, or the time runs out.
    let _ = dump.wait_events(2 * NOTES, DELIVERY);
    // A little longer, so a doubled note would show.
    std::thread::sleep(Duration::from_secs(2));
    procs.assert_running();
    let events = dump.stop();
    let got = note_ons(&events);
    let offs = events.iter().filter(|e| e.kind == "Note off").count();
    let log = procs.log("qtractor");
    assert!(
        !log.contains("panicked"),
        "the plugin panicked in Qtractor:\n{log}"
    );
    assert_eq!(
        got,
        expected,
        "note-ons (key, velocity) at Qtractor's output: {} of {NOTES} arrived, {offs} note-offs; \
         first differences shown by the assertion. qtractor log:\n{log}",
        got.len()
    );
    assert_eq!(offs, NOTES, "note-offs at Qtractor's output");
}

/// `note 60, velocity 100` → `(60, 100)`.
fn parse_note(data: &str) -> Option<(u8, u8)> {
    let mut parts = data.split(',').map(str::trim);
    let key = parts.next()?.strip_prefix("note ")?.parse().ok()?;
    let velocity = parts.next()?.strip_prefix("velocity ")?.parse().ok()?;
    Some((key, velocity))
}
