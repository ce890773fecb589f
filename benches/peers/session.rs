//! Starting a peer (PipeWire or jackd + a2jmidid) with the JACK client, and
//! recording it while `aplaymidi` plays the notes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::common::{aplaymidi, run_tool, temp_path, wait_until, LineChild, Received, Receiver};
use super::figures::{parse_log, row};
use super::pipewire_conf::pipewire_conf;
use super::{Peer, Row, PRE_ROLL, RATE, THROUGH, THROUGH_PORT};

/// The child processes of one peer, killed on drop, each with its stderr
/// in a file (a pipe nobody reads would stall jackd's xrun messages).
struct Procs {
    children: Vec<LineChild>,
    logs: Vec<PathBuf>,
    dir: PathBuf,
}

impl Procs {
    /// Start `program args` with `env` (`NAME=value` each) added.
    fn spawn(&mut self, env: &[String], program: &str, args: &[&str]) {
        let log = self.dir.join(format!("{}.stderr", self.logs.len()));
        let redirect = format!("exec \"$0\" \"$@\" 2>>{}", log.display());
        let mut all: Vec<&str> = env.iter().map(String::as_str).collect();
        all.extend_from_slice(&["sh", "-c", &redirect, program]);
        all.extend_from_slice(args);
        self.children.push(LineChild::spawn("env", &all));
        self.logs.push(log);
    }

    /// The last one started.
    fn last(&self) -> &LineChild {
        self.children.last().expect("a child")
    }

    /// What they all wrote on stderr (the last 40 lines each), for an error.
    fn stderr(&self) -> String {
        self.logs
            .iter()
            .map(|l| {
                let text = std::fs::read_to_string(l).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n--\n")
    }
}

/// Where one peer runs: its temporary directory (the runtime directory and
/// home of its processes), its JACK server name, the environment its
/// processes share, and the JACK client's record.
struct Session {
    dir: PathBuf,
    runtime: PathBuf,
    server: String,
    env: Vec<String>,
    log: PathBuf,
    log_arg: String,
}

impl Session {
    fn new(peer: Peer, frames: u32) -> Result<Self, String> {
        let dir = temp_path(&format!("peer-{}-{frames}", peer.name()));
        let runtime = dir.join("run");
        std::fs::create_dir_all(&runtime).map_err(|e| e.to_string())?;
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(|e| e.to_string())?;
        let server = format!("peers-{}", std::process::id());
        let env = vec![
            format!("XDG_RUNTIME_DIR={}", runtime.display()),
            format!("HOME={}", dir.display()),
            format!("JACK_DEFAULT_SERVER={server}"),
        ];
        let log = dir.join("client.log");
        let log_arg = log.to_str().expect("utf-8 temp path").to_string();
        Ok(Session {
            dir,
            runtime,
            server,
            env,
            log,
            log_arg,
        })
    }
}

/// Start `peer` at `frames`, read it with the JACK client while `aplaymidi`
/// plays `file`, and work out its row.
pub(super) fn measure(
    peer: Peer,
    frames: u32,
    client: &Path,
    file: &Path,
    times: &[u32],
) -> Result<Row, String> {
    let session = Session::new(peer, frames)?;
    let mut procs = Procs {
        children: Vec::new(),
        logs: Vec::new(),
        dir: session.dir.clone(),
    };
    let client = client.to_str().expect("utf-8 path");
    start_peer(&session, &mut procs, peer, frames, client)?;
    let received = record(&procs, file, frames)?;
    drop(procs);
    let text = std::fs::read_to_string(&session.log).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&session.dir);
    let peer_log = parse_log(&text)?;
    if peer_log.overflow > 0 {
        return Err(format!(
            "the client ran out of room for {} records",
            peer_log.overflow
        ));
    }
    let probe_notes: Vec<(u64, u8)> = received
        .with_status(0x90)
        .into_iter()
        .filter(|(_, b)| b.len() == 3 && b[2] > 0)
        .map(|(t, b)| (t, b[1]))
        .collect();
    Ok(row(peer, frames, times, &probe_notes, &peer_log))
}

/// Start the peer's server (and bridge), then the JACK `client` (the last
/// of `procs`).
fn start_peer(
    session: &Session,
    procs: &mut Procs,
    peer: Peer,
    frames: u32,
    client: &str,
) -> Result<(), String> {
    let Session {
        dir,
        runtime,
        server,
        env,
        log_arg,
        ..
    } = session;
    match peer {
        Peer::PipeWire => {
            let packaged = std::fs::read_to_string("/usr/share/pipewire/minimal.conf")
                .map_err(|e| format!("reading the packaged minimal.conf (pipewire-bin): {e}"))?;
            let conf = dir.join("pipewire.conf");
            std::fs::write(&conf, pipewire_conf(&packaged, frames)?).map_err(|e| e.to_string())?;
            procs.spawn(
                env,
                "pipewire",
                &["-c", conf.to_str().expect("utf-8 temp path")],
            );
            let socket = runtime.join("pipewire-0");
            if !wait_until(Duration::from_secs(30), || socket.exists()) {
                return Err(format!("pipewire did not come up: {}", procs.stderr()));
            }
            procs.spawn(env, "pw-jack", &[client, log_arg, THROUGH_PORT]);
        }
        Peer::A2j => {
            let period = frames.to_string();
            procs.spawn(env, "jackd", &["-d", "dummy", "-r", "48000", "-p", &period]);
            let jack_env: Vec<&str> = env.iter().map(String::as_str).collect();
            let up = wait_until(Duration::from_secs(30), || {
                let mut args = jack_env.clone();
                args.push("jack_lsp");
                run_tool("env", &args, Duration::from_secs(10))
                    .status
                    .success()
            });
            if !up {
                return Err(format!("jackd did not come up: {}", procs.stderr()));
            }
            // a2jmidid names its server itself (`-j`, default "default").
            procs.spawn(env, "a2jmidid", &["-e", "-j", server]);
            procs.spawn(env, client, &[log_arg, THROUGH_PORT]);
        }
    }
    Ok(())
}

/// Once the JACK client (the last of `procs`) has connected: `aplaymidi`
/// plays `file` through it, the probe records what comes out, and the
/// client is stopped, which writes its record.
fn record(procs: &Procs, file: &Path, frames: u32) -> Result<Received, String> {
    let reader = procs.last();
    let (connected, printed) = reader.wait(Duration::from_secs(60), |p| {
        p.lines.iter().any(|l| l.starts_with("connected"))
    });
    if !connected {
        return Err(format!(
            "the JACK client did not connect ({:?}): {}",
            printed.lines,
            procs.stderr()
        ));
    }
    std::thread::sleep(PRE_ROLL);
    let probe = Receiver::start("peers-probe", &[THROUGH]);
    aplaymidi(
        &format!("{}:{}", THROUGH.client, THROUGH.port),
        file,
        Duration::from_secs(60),
    );
    std::thread::sleep(
        Duration::from_millis(500) + Duration::from_secs_f64(3.0 * f64::from(frames) / RATE),
    );
    let received = probe.stop();
    run_tool(
        "kill",
        &["-TERM", &reader.id().to_string()],
        Duration::from_secs(5),
    );
    let (done, _) = reader.wait(Duration::from_secs(30), |p| {
        p.lines.iter().any(|l| l == "done")
    });
    if !done {
        return Err(format!(
            "the JACK client did not write its record: {}",
            procs.stderr()
        ));
    }
    Ok(received)
}
