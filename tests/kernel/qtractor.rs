//! PhasorSync in a real DAW: Qtractor (Debian's `qtractor`, a CLAP host) on
//! JACK's dummy backend, headless (`QT_QPA_PLATFORM=offscreen`).
//!
//! Clock out: a session whose PhasorSync state has MIDI clock out on, at a
//! tempo of its own; with the transport rolling, PhasorSync's `MIDI out`
//! port must send Start, then clock at the session's tempo (within 1 %),
//! then Stop when the transport stops. Qtractor leaves the transport's event
//! header zeroed, so this also tests that the plugin reads it.
//!
//! Notes: the test writes a session with one MIDI track whose plugin chain is
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

use crate::clap_host;
use crate::common;
use crate::common::{
    aplaymidi, require_sequencer, seq_clients, temp_path, trend, wait_until, Receiver, SeqDump, Smf,
};
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::plugin::State;
use phasorsync::timeline::monotonic_ns;
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

/// The session: PhasorSync then a MIDI aux send to "Out" on one MIDI track;
/// the session's sample rate is the engine's (48 kHz), and Qtractor follows
/// and drives JACK's transport ("duplex").
fn session(plugin: &Path) -> String {
    session_with(
        plugin,
        120.0,
        "",
        r#"<plugin type="AuxSend">
     <index>0</index>
     <activated>1</activated>
     <configs><config key="midiBusName">Out</config></configs>
    </plugin>"#,
    )
}

/// A session at `tempo` with PhasorSync on one MIDI track, `configs` inside
/// its `<plugin>` element (its saved state), `more` plugins after it.
fn session_with(plugin: &Path, tempo: f64, configs: &str, more: &str) -> String {
    let plugin = plugin.to_str().expect("utf-8 bundle path");
    format!(
        r#"<!DOCTYPE qtractorSession>
<session version="Qtractor 0.9.31" name="phasorsync-test">
 <properties>
  <sample-rate>48000</sample-rate>
  <tempo>{tempo}</tempo>
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
     {configs}
    </plugin>
    {more}
   </plugins>
  </track>
 </tracks>
</session>
"#
    )
}

/// Qtractor's `<configs>` element carrying a CLAP plugin's saved state: the
/// state `qCompress`ed (its length, big-endian, then a zlib stream), then
/// base64, under the key "state" (as Qtractor's `freezeConfigs` writes it).
fn qtractor_state_configs(state: &[u8]) -> String {
    let mut blob = (state.len() as u32).to_be_bytes().to_vec();
    blob.extend(zlib_stored(state));
    format!(
        r#"<configs><config key="state">{}</config></configs>"#,
        base64(&blob)
    )
}

/// A zlib stream of `data` in stored (uncompressed) deflate blocks: what
/// any zlib inflates, with no compressor needed here.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    // CMF 0x78 (deflate, 32K window), FLG 0x01: no dictionary, fastest,
    // and 0x7801 is a multiple of 31 as the header check requires.
    let mut out = vec![0x78, 0x01];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(chunk);
    }
    out.extend(adler32(data).to_be_bytes());
    out
}

/// zlib's checksum.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
    jack_transport(env, "play");
}

/// Run one `jack_transport` command (`play`, `stop`).
fn jack_transport(env: &[(&str, &str)], command: &str) {
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
        .write_all(format!("{command}\nquit\n").as_bytes())
        .expect("write to jack_transport");
    let ok = wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ok {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// JACK (dummy backend) and Qtractor on a session, running.
struct Daw {
    procs: Procs,
    /// The environment both run with (and `jack_transport` must).
    env: Vec<(&'static str, String)>,
}

impl Daw {
    /// Start JACK (blocks of `period` frames), then Qtractor on `session`
    /// (the file's text), and wait
    /// until every port in `wanted` (client, port name or any) exists;
    /// their addresses, in order.
    fn start(
        name: &str,
        session: &str,
        period: u32,
        wanted: &[(&str, Option<&str>)],
    ) -> (Self, Vec<String>) {
        require_sequencer();
        require_program("qtractor", "qtractor");
        require_program("jackd", "jackd2");
        require_program("jack_transport", "jackd2");
        require_program("jack_lsp", "jackd2");
        common::ensure_dev_shm();

        let dir = temp_path(name);
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
        fs::write(&session_file, session).expect("write session");

        // A private JACK server name, so nothing else on the machine interferes.
        let server = format!("phasorsync-test-{}-{name}", std::process::id());
        let path = |p: &Path| p.to_str().expect("utf-8 temp path").to_string();
        let mut procs = Procs {
            children: Vec::new(),
            log_dir: dir.clone(),
        };
        let owned_env = vec![
            ("JACK_DEFAULT_SERVER", server),
            ("HOME", path(&home)),
            ("XDG_RUNTIME_DIR", path(&runtime)),
            ("QT_QPA_PLATFORM", "offscreen".to_string()),
        ];
        let env: Vec<(&str, &str)> = owned_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let period = period.to_string();
        procs.spawn(
            "jackd",
            Command::new("jackd").envs(env.iter().copied()).args([
                "--no-realtime",
                "-d",
                "dummy",
                "-r",
                "48000",
                "-p",
                &period,
            ]),
        );
        let jack_up = wait_until(Duration::from_secs(60), || {
            procs.assert_running();
            Command::new("jack_lsp")
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
        assert!(jack_up, "jackd did not come up:\n{}", procs.log("jackd"));

        procs.spawn(
            "qtractor",
            Command::new("qtractor")
                .envs(env.iter().copied())
                .arg(&session_file),
        );
        let mut found = Vec::new();
        let up = wait_until(START_TIMEOUT, || {
            procs.assert_running();
            found = wanted.iter().map(|(c, p)| find_port(c, *p)).collect();
            found.iter().all(Option::is_some)
        });
        assert!(
            up,
            "Qtractor with PhasorSync did not come up within {START_TIMEOUT:?} \
             (wanted {wanted:?}, found {found:?}):\n{}\nqtractor log:\n{}",
            common::aconnect_list(),
            procs.log("qtractor")
        );
        let daw = Self {
            procs,
            env: owned_env,
        };
        (daw, found.into_iter().flatten().collect())
    }

    /// The environment, borrowed.
    fn env(&self) -> Vec<(&'static str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// JACK's transport position and the time of the cycle it is from
    /// (`jack_showtime`'s first line: `frame = P frame_time = … usecs = U`,
    /// `U` being the cycle's start in µs): `(P, U)`, a pair no stall of
    /// this process can skew.
    fn jack_time(&self) -> (u64, u64) {
        let mut child = Command::new("jack_showtime")
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jack_showtime");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = child.kill();
        let _ = child.wait();
        parse_showtime(&line).unwrap_or_else(|| panic!("jack_showtime printed {line:?}"))
    }
}

/// `(frame, usecs)` of one `jack_showtime` line.
fn parse_showtime(line: &str) -> Option<(u64, u64)> {
    let value = |rest: &str| -> Option<u64> {
        let rest = rest.trim_start().strip_prefix('=')?;
        rest.split_whitespace().next()?.parse().ok()
    };
    let frame = value(line.trim_start().strip_prefix("frame")?)?;
    let usecs = value(line.split("usecs").nth(1)?)?;
    Some((frame, usecs))
}

#[test]
#[ignore = "needs a kernel sequencer, qtractor and jackd2: run with cargo xtask test"]
fn qtractor_passes_every_note_in_order_with_its_velocity() {
    let bundle = clap_host::bundle_path();
    let (mut daw, ports) = Daw::start(
        "qtractor",
        &session(&bundle),
        256,
        &[("Qtractor", Some("Out")), ("PhasorSync", None)],
    );
    let (out, phasorsync) = (ports[0].clone(), ports[1].clone());

    let dump = SeqDump::start(&out);
    transport_play(&daw.env());
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
    daw.procs.assert_running();
    let events = dump.stop();
    let got = note_ons(&events);
    let offs = events.iter().filter(|e| e.kind == "Note off").count();
    let log = daw.procs.log("qtractor");
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

/// The clock session's tempo: not 120, so a plugin that fell back to a
/// default tempo would show.
const CLOCK_TEMPO: f64 = 132.0;
/// Waiting for the first message after `play` in the clock test.
const ROLL_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the transport rolls in the clock test.
const ROLL: Duration = Duration::from_secs(20);
/// MIDI clock ticks per quarter note.
const PPQN: f64 = 24.0;
const START: u8 = 0xFA;
const CONTINUE: u8 = 0xFB;
const STOP: u8 = 0xFC;
const TICK: u8 = 0xF8;
const SPP: u8 = 0xF2;

/// `"client:port"` as an address.
fn parse_addr(addr: &str) -> alsa::seq::Addr {
    let (client, port) = addr.split_once(':').expect("client:port");
    alsa::seq::Addr {
        client: client.parse().expect("client number"),
        port: port.parse().expect("port number"),
    }
}

/// What arrived, briefly: each message other than a tick as `ms:status`
/// (hex, with its data bytes), runs of ticks as `N ticks ms..ms`.
fn timeline(r: &common::Received, from_ns: u64) -> String {
    let ms = |t: u64| (t as i64 - from_ns as i64) as f64 / 1e6;
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(usize, f64, f64)> = None;
    for a in &r.arrivals {
        let t = ms(r.mono_ns(a));
        if a.bytes.first() == Some(&TICK) {
            run = Some(match run {
                Some((n, first, _)) => (n + 1, first, t),
                None => (1, t, t),
            });
            continue;
        }
        if let Some((n, first, last)) = run.take() {
            parts.push(format!("{n} ticks {first:.0}..{last:.0}"));
        }
        let hex: Vec<String> = a.bytes.iter().map(|b| format!("{b:02X}")).collect();
        parts.push(format!("{t:.0}:{}", hex.join(" ")));
    }
    if let Some((n, first, last)) = run {
        parts.push(format!("{n} ticks {first:.0}..{last:.0}"));
    }
    parts.join(", ")
}

/// PhasorSync's saved state with MIDI clock out on, everything else default.
fn clock_out_state() -> Vec<u8> {
    let mut state = State::default();
    let clock_out = PARAMS[index::CLOCK_OUT].id;
    let value = state
        .params
        .iter_mut()
        .find(|(id, _)| *id == clock_out)
        .map(|(_, v)| v)
        .expect("the state saves MIDI clock out");
    *value = 1.0;
    state.encode()
}

#[test]
#[ignore = "needs a kernel sequencer, qtractor and jackd2: run with cargo xtask test"]
fn qtractor_rolling_gives_start_clock_at_the_session_tempo_and_stop() {
    let roll = roll_the_clock_session();
    let clock = ClockSeen::of(&roll);
    let summary = &clock.summary;
    let early = [START, CONTINUE, TICK].map(|s| clock.count(0, roll.play_ns, s));
    assert_eq!(
        early, [0; 3],
        "Start, Continue or clock before the transport rolled: {summary}"
    );
    let rate = ClockRate::of(&roll, &clock);
    rate.print(&roll, &clock);
    judge_start(&roll, &clock);
    judge_stop(&roll, &clock);

    // The clock over the roll at the session's tempo, in song time: the
    // ticks sent against the beats JACK's frames advanced meanwhile. Within
    // 1 %: on a quiet machine it is within 0.2 %, but with JACK's dummy
    // driver falling behind on a loaded one (46 159 frames/s seen) the tick
    // counts at its two readings, read off lines fitted to ticks that arrive
    // tens of ms off, were 0.7 % off (131.0 BPM of 132).
    let bpm = rate.bpm;
    assert!(
        (bpm / CLOCK_TEMPO - 1.0).abs() < 0.01,
        "clock at {bpm:.3} BPM of song time, the session's tempo is {CLOCK_TEMPO} \
         (1 % allowed): {summary}"
    );
}

/// One roll of the clock session: what arrived at the receiver, Qtractor's
/// log, and the times (CLOCK_MONOTONIC, ns) it is read against.
struct Roll {
    r: common::Received,
    log: String,
    /// When `play` and `stop` were sent.
    play_ns: u64,
    stop_ns: u64,
    /// Just before JACK's first reading and just after its second.
    before_a: u64,
    after_b: u64,
    /// The roll between the two readings.
    from_ns: u64,
    to_ns: u64,
    /// JACK's transport frame and its cycle's start (µs) at each reading.
    frames_a: u64,
    us_a: u64,
    frames_b: u64,
    us_b: u64,
}

/// Start Qtractor on the clock session, let it stand, roll for [`ROLL`]
/// with JACK read at both ends, stop, and collect what arrived.
fn roll_the_clock_session() -> Roll {
    let bundle = clap_host::bundle_path();
    let configs = qtractor_state_configs(&clock_out_state());
    let (mut daw, ports) = Daw::start(
        "qtractor-clock",
        &session_with(&bundle, CLOCK_TEMPO, &configs, ""),
        1024,
        &[("PhasorSync", Some("MIDI out"))],
    );
    let rx = Receiver::start("qtractor-clock-rx", &[parse_addr(&ports[0])]);
    // Stopped first: the plugin processes, and with "clock while stopped"
    // off (its default) sends no clock yet.
    std::thread::sleep(Duration::from_secs(2));
    let before_play = rx.count();
    let play_ns = monotonic_ns();
    jack_transport(&daw.env(), "play");
    // Qtractor took up to 6 s to start rolling under emulation; a plugin
    // that sends nothing fails below, after this wait.
    rx.wait_count(before_play + 1, ROLL_START_TIMEOUT);
    std::thread::sleep(Duration::from_secs(1));
    // JACK's own pace over the roll: its dummy backend sleeps through each
    // period and the wake-up latency adds up (under emulation it ran at
    // 96 % of 48 kHz), and the song, so the clock, runs at JACK's pace.
    let before_a = monotonic_ns();
    let (frames_a, us_a) = daw.jack_time();
    let from_ns = monotonic_ns();
    std::thread::sleep(ROLL);
    let to_ns = monotonic_ns();
    let (frames_b, us_b) = daw.jack_time();
    let after_b = monotonic_ns();
    let stop_ns = monotonic_ns();
    jack_transport(&daw.env(), "stop");
    // The Stop is scheduled a block or so after the transport stops.
    std::thread::sleep(Duration::from_secs(3));
    daw.procs.assert_running();
    let r = rx.stop();
    let log = daw.procs.log("qtractor");
    assert!(
        !log.contains("panicked"),
        "the plugin panicked in Qtractor:\n{log}"
    );
    Roll {
        r,
        log,
        play_ns,
        stop_ns,
        before_a,
        after_b,
        from_ns,
        to_ns,
        frames_a,
        us_a,
        frames_b,
        us_b,
    }
}

/// The roll's arrivals on CLOCK_MONOTONIC, and what a failure shows.
struct ClockSeen {
    /// (monotonic ns, status byte) of each arrival.
    got: Vec<(u64, u8)>,
    /// The receiver's queue time scale against CLOCK_MONOTONIC (printed).
    scale: f64,
    /// What arrived and Qtractor's log, for failure messages.
    summary: String,
}

impl ClockSeen {
    /// The arrivals mapped, and what arrived printed.
    fn of(roll: &Roll) -> Self {
        let r = &roll.r;
        // Arrivals on CLOCK_MONOTONIC through both anchors, not their mean
        // offset: the receiver's queue timer may run at its own rate in the VM.
        let [a0, a1] = r.anchors;
        let scale = (a1.mono_ns - a0.mono_ns) as f64 / (a1.queue_ns - a0.queue_ns) as f64;
        let mono = |q: u64| (a0.mono_ns as f64 + (q as f64 - a0.queue_ns as f64) * scale) as u64;
        let got: Vec<(u64, u8)> = r
            .arrivals
            .iter()
            .filter_map(|a| Some((mono(a.queue_ns), *a.bytes.first()?)))
            .collect();
        let arrived = timeline(r, roll.play_ns);
        println!(
            "qtractor clock out, what arrived (ms from play; stop at {:.0}): {arrived}",
            (roll.stop_ns - roll.play_ns) as f64 / 1e6,
        );
        let log = &roll.log;
        let summary = format!("in time (ms from play): {arrived}; qtractor log:\n{log}");
        ClockSeen {
            got,
            scale,
            summary,
        }
    }

    /// How many messages with `status` arrived in `from..to`.
    fn count(&self, from: u64, to: u64, status: u8) -> usize {
        self.got
            .iter()
            .filter(|&&(t, s)| s == status && (from..to).contains(&t))
            .count()
    }
}

/// The clock's rate over the roll: the tempo in song time (judged), and the
/// figures printed beside it.
struct ClockRate {
    /// Ticks between JACK's two readings (monotonic ns).
    ticks: Vec<u64>,
    span: f64,
    tick_rate: f64,
    jack_rate: f64,
    want: f64,
    slope_bpm: f64,
    bpm: f64,
    worst: f64,
}

impl ClockRate {
    fn of(roll: &Roll, clock: &ClockSeen) -> Self {
        let (got, summary) = (&clock.got, &clock.summary);
        let (before_a, from_ns, to_ns, after_b) =
            (roll.before_a, roll.from_ns, roll.to_ns, roll.after_b);
        let (frames_a, us_a, frames_b, us_b) = (roll.frames_a, roll.us_a, roll.frames_b, roll.us_b);
        // JACK's clock is CLOCK_MONOTONIC in µs: its two cycle starts bound the
        // ticks counted, so both rates cover the same seconds.
        let (jack_a, jack_b) = (us_a * 1000, us_b * 1000);
        let slack = 1_000_000_000;
        assert!(
            (before_a.saturating_sub(slack)..from_ns).contains(&jack_a)
                && (to_ns.saturating_sub(slack)..after_b).contains(&jack_b),
            "JACK's cycle starts ({jack_a}, {jack_b} ns) are not on this clock \
             ({before_a}..{from_ns}, {to_ns}..{after_b} ns)"
        );
        let ticks: Vec<u64> = got
            .iter()
            .filter(|&&(t, s)| s == TICK && (jack_a..jack_b).contains(&t))
            .map(|&(t, _)| t)
            .collect();
        assert!(ticks.len() > 2, "no clock while rolling: {summary}");
        let span = (ticks[ticks.len() - 1] as f64 - ticks[0] as f64) / 1e9;
        // The least-squares slope, not the end points: under emulation single
        // ticks arrive tens of ms off (the stalls of the VM), the trend does not.
        let points: Vec<(f64, f64)> = ticks
            .iter()
            .enumerate()
            .map(|(i, &t)| (i as f64, t as f64))
            .collect();
        let tick_rate = 1e9 / trend(&points);
        let jack_rate = (frames_b - frames_a) as f64 / ((us_b - us_a) as f64 / 1e6);
        let want = CLOCK_TEMPO / 60.0 * PPQN * jack_rate / 48_000.0;
        let slope_bpm = tick_rate * 60.0 / PPQN * 48_000.0 / jack_rate;
        // The tempo in song time: the ticks sent between JACK's two readings
        // against the beats its frames advanced. The tick count at each reading
        // is read off a line fitted to the ticks within a second of it (single
        // ticks arrive tens of ms off under emulation; a stall in the middle of
        // the roll, which moves every later tick's time but no count, does not
        // tilt it as it tilts one line over the whole roll).
        let all_ticks: Vec<u64> = got
            .iter()
            .filter(|&&(_, s)| s == TICK)
            .map(|&(t, _)| t)
            .collect();
        let ticks_sent = tick_index_at(&all_ticks, jack_b) - tick_index_at(&all_ticks, jack_a);
        let song_beats = (frames_b - frames_a) as f64 / 48_000.0 * CLOCK_TEMPO / 60.0;
        let bpm = CLOCK_TEMPO * ticks_sent / PPQN / song_beats;
        let period = 1e9 / tick_rate;
        let worst = ticks
            .windows(2)
            .map(|w| ((w[1] as f64 - w[0] as f64) - period).abs())
            .fold(0.0, f64::max);
        ClockRate {
            ticks,
            span,
            tick_rate,
            jack_rate,
            want,
            slope_bpm,
            bpm,
            worst,
        }
    }

    fn print(&self, roll: &Roll, clock: &ClockSeen) {
        let ClockRate {
            ticks,
            span,
            tick_rate,
            jack_rate,
            want,
            slope_bpm,
            bpm,
            worst,
        } = self;
        let (got, scale, r, stop_ns) = (&clock.got, clock.scale, &roll.r, roll.stop_ns);
        let (us_a, us_b) = (roll.us_a, roll.us_b);
        let (before_a, from_ns, to_ns, after_b) =
            (roll.before_a, roll.from_ns, roll.to_ns, roll.after_b);
        println!(
            "qtractor clock out: {} ticks over {span:.2} s, {tick_rate:.3}/s against {want:.3}/s \
             (JACK at {jack_rate:.0} frames/s): {bpm:.3} BPM of song time (session {CLOCK_TEMPO}; \
             {slope_bpm:.3} from one line over the roll), \
             worst interval error {:.2} ms, the last Stop {:?} ms after the stop command; JACK's clock \
             {:.3} s between its readings, ours {:.3}..{:.3} s; receiver queue/monotonic {scale:.6} \
             ({:?})",
            ticks.len(),
            worst / 1e6,
            got.iter()
                .rev()
                .find(|&&(_, s)| s == STOP)
                .map(|&(t, _)| (t as i64 - stop_ns as i64) / 1_000_000),
            (us_b - us_a) as f64 / 1e6,
            (to_ns - from_ns) as f64 / 1e9,
            (after_b - before_a) as f64 / 1e9,
            r.timer,
        );
    }
}

/// Playback starts once: Start, or (when Qtractor's first rolling block
/// is already past the song start, which its JACK sync makes a race)
/// Song Position Pointer + Continue within the first beat (the clock
/// may run between the two while the slave waits for the 16th). A
/// relocation (Stop, SPP, Continue) may follow when Qtractor's position
/// jumps as it syncs to JACK, as seen in trials; never a second Start.
fn judge_start(roll: &Roll, clock: &ClockSeen) {
    let (r, summary) = (&roll.r, &clock.summary);
    let first = r
        .arrivals
        .iter()
        .position(|a| matches!(a.bytes.first(), Some(&START) | Some(&CONTINUE)));
    let started = match first {
        Some(i) if r.arrivals[i].bytes[0] == START => true,
        Some(i) => {
            let spp = r.arrivals[..i]
                .iter()
                .rev()
                .find(|a| a.bytes.first() == Some(&SPP))
                .map(|a| a.bytes.as_slice());
            matches!(spp, Some(&[SPP, lsb, 0]) if lsb <= 4)
        }
        None => false,
    };
    assert!(
        started,
        "playback starts with Start, or SPP (within the first beat) + Continue: {summary}"
    );
    assert!(
        clock.count(0, u64::MAX, START) <= 1,
        "one Start at most: {summary}"
    );
}

/// Stop, once, after the transport was stopped, and no clock after it.
/// A Stop before that is a relocation while playing (Qtractor's position
/// jumping as it syncs to JACK): Stop, then at once Song Position
/// Pointer, then Continue, so that a slave takes the SPP.
fn judge_stop(roll: &Roll, clock: &ClockSeen) {
    let (stop_ns, summary) = (roll.stop_ns, &clock.summary);
    let count = |from: u64, to: u64, status: u8| clock.count(from, to, status);
    let (relocations, stops): (Vec<u64>, Vec<u64>) = clock
        .got
        .iter()
        .filter(|&&(_, s)| s == STOP)
        .map(|&(t, _)| t)
        .partition(|&t| t < stop_ns);
    for &t in &relocations {
        assert!(
            count(t, t + 50_000_000, SPP) == 1 && count(t, u64::MAX, CONTINUE) >= 1,
            "a Stop while rolling that is not a relocation (Stop, SPP, Continue): {summary}"
        );
    }
    assert_eq!(stops.len(), 1, "one Stop: {summary}");
    let stop = stops[0];
    assert!(
        stop >= stop_ns,
        "Stop arrived {:.1} ms before the transport was stopped: {summary}",
        (stop_ns - stop) as f64 / 1e6
    );
    assert_eq!(
        count(stop, u64::MAX, TICK),
        0,
        "clock after the Stop: {summary}"
    );
}

/// The fractional index, among `ticks` (arrival times, in order), of a
/// tick at `t`: a line fitted to the ticks within a second of `t`.
fn tick_index_at(ticks: &[u64], t: u64) -> f64 {
    let near: Vec<(f64, f64)> = ticks
        .iter()
        .enumerate()
        .filter(|&(_, &x)| x.abs_diff(t) <= 1_000_000_000)
        .map(|(i, &x)| (x as f64 - t as f64, i as f64))
        .collect();
    assert!(
        near.len() > 8,
        "too few ticks near {t} ns to read the count"
    );
    let n = near.len() as f64;
    let (mx, my) = near
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0 / n, b + p.1 / n));
    // Relative to `t`, so the value at `t` is the intercept.
    my - trend(&near) * mx
}

#[test]
fn a_qtractor_state_blob_is_zlib_in_base64() {
    // RFC 4648's test vectors.
    for (plain, coded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
    }
    // zlib's own example value.
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    let z = zlib_stored(b"abc");
    assert_eq!(z[..2], [0x78, 0x01]);
    assert_eq!((u16::from(z[0]) << 8 | u16::from(z[1])) % 31, 0);
    assert_eq!(z[2..7], [1, 3, 0, !3, 0xff]);
    assert_eq!(&z[7..10], b"abc");
    assert_eq!(z[10..], adler32(b"abc").to_be_bytes());
    let configs = qtractor_state_configs(b"abc");
    let blob = [&3u32.to_be_bytes()[..], &z].concat();
    assert!(configs.contains(&base64(&blob)), "{configs}");
}

#[test]
fn jack_showtime_lines_parse() {
    let line = "frame = 4096  frame_time = 137489 usecs = 1793539489\tstate: Rolling";
    assert_eq!(parse_showtime(line), Some((4096, 1_793_539_489)));
    assert_eq!(parse_showtime("Cannot connect to server"), None);
}
