//! Running external commands under a timeout: to completion ([`run_tool`],
//! [`run_ok`]) or in the background with their output collected line by line
//! ([`LineChild`], for `aseqdump` and `amidi -d`).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default limit for one external command.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

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

/// Run a command within `timeout`; its stdout, or a panic with both outputs
/// when it fails.
///
/// # Panics
/// When the program cannot be started, times out or exits non-zero.
pub fn run_ok_within(program: &str, args: &[&str], timeout: Duration) -> String {
    let out = run_tool(program, args, timeout);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// [`run_ok_within`] [`TOOL_TIMEOUT`].
///
/// # Panics
/// When the program cannot be started, times out or exits non-zero.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    run_ok_within(program, args, TOOL_TIMEOUT)
}

/// What a running child printed so far: complete lines, and the start of
/// the next one (amidi ends a message's line only when the next one starts).
#[derive(Clone, Debug, Default)]
pub struct Printed {
    /// Complete lines, without their newline.
    pub lines: Vec<String>,
    /// The unfinished last line.
    pub tail: String,
}

/// [`Printed`], shared with the reader thread.
type Lines = Arc<(Mutex<Printed>, Condvar)>;

/// A long-running tool whose stdout is collected line by line; killed when
/// dropped.
pub struct LineChild {
    child: Child,
    lines: Lines,
    reader: Option<JoinHandle<()>>,
}

impl LineChild {
    /// Spawn `program args` with line-buffered stdout (`stdbuf -oL`: these
    /// C tools block-buffer a pipe, and a test cannot wait on a buffer).
    pub fn spawn(program: &str, args: &[&str]) -> Self {
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
        }
    }

    /// The child's process id (`stdbuf` execs the tool, so it is the tool's).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `done(printed)` holds or `timeout` passes; what was
    /// printed either way.
    pub fn wait(&self, timeout: Duration, done: impl Fn(&Printed) -> bool) -> (bool, Printed) {
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
    pub fn stop(mut self) -> (Printed, String) {
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
