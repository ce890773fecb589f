//! The raw MIDI thread: poll the wake-up eventfd, a `timerfd` (output due)
//! and the device; read framed input into the sink, write output at its
//! time, and keep the device open: find it by the patterns, retry every
//! [`RETRY_NS`] while it is missing or busy, release held notes and wait
//! for it to come back when it goes. Each fault is logged when it starts,
//! not at every retry. No panic leaves the thread ([`run`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::device::{holders, Device, OpenError, Stamping};
use super::out::{RawOutput, Wire};
use super::patterns::{self, DeviceInfo, RawPattern};
use super::timer::TimerFd;
use super::RawShared;
use crate::backend::alsa_seq::thread::ppoll_ns;
use crate::backend::alsa_seq::thread::priority::Priority;
use crate::backend::shared::state::ThreadState;
use crate::backend::shared::sync::lock;
use crate::engine::sink::{source_id, Sink};
use crate::engine::{LogLevel, News, OUTPUT_POLL_NS};
use crate::timeline::monotonic_ns;

/// How often a missing or busy device is looked for again.
pub const RETRY_NS: u64 = 500_000_000;

/// Everything the thread owns.
pub struct ThreadCtx {
    /// Parser + ring.
    pub sink: Sink,
    /// Output from the audio thread.
    pub output: RawOutput,
    /// Counters and log lines.
    pub news: Arc<News>,
    /// Shared with the engine.
    pub shared: Arc<RawShared>,
    /// Which device to open.
    pub patterns: Vec<RawPattern>,
    /// SCHED_FIFO priority to start with.
    pub rt_priority: Option<u8>,
    /// Ask the kernel for framing (tests turn it off to see the fallback).
    pub framing: bool,
    /// Where the kernel lists its devices (`/proc/asound`).
    pub asound: PathBuf,
}

/// Thread entry point: runs the loop, catching every panic.
pub fn run(ctx: ThreadCtx) {
    let shared = Arc::clone(&ctx.shared);
    let news = Arc::clone(&ctx.news);
    match catch_unwind(AssertUnwindSafe(move || body(ctx))) {
        Ok(Ok(())) => shared.base.set_state(ThreadState::Stopped),
        Ok(Err(msg)) => {
            news.log(
                LogLevel::Error,
                format!(
                    "raw MIDI thread stopped: {msg}; MIDI is off until the plugin is restarted"
                ),
            );
            shared.base.set_state(ThreadState::Failed);
        }
        Err(_) => {
            news.log(
                LogLevel::Error,
                "raw MIDI thread failed (panic); MIDI is off until the plugin is restarted",
            );
            shared.base.set_state(ThreadState::Failed);
        }
    }
}

/// What the last look for the device found, so each fault is logged once.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Found {
    Nothing,
    NoPattern,
    NoMatch,
    Busy(String),
    Failed(String),
    Open,
}

struct Open {
    dev: Device,
    info: DeviceInfo,
    source: u16,
}

/// The device as output goes: remembers a failed write (the device went).
struct DevWire<'a> {
    dev: &'a Device,
    failed: Option<String>,
}

impl Wire for DevWire<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, String> {
        self.dev.write(bytes).map_err(|e| {
            let e = e.to_string();
            self.failed = Some(e.clone());
            e
        })
    }
}

/// A device without an output: what is due for it is dropped, counted.
struct InputOnly;

impl Wire for InputOnly {
    fn write(&mut self, _: &[u8]) -> Result<usize, String> {
        Err("the raw MIDI device has no output".to_string())
    }
}

struct Raw {
    ctx: ThreadCtx,
    open: Option<Open>,
    found: Found,
    next_try: u64,
    fallback_logged: bool,
    buf: Vec<u8>,
}

fn body(ctx: ThreadCtx) -> Result<(), String> {
    let mut priority = Priority::start(ctx.rt_priority, &ctx.shared.base, &ctx.news);
    let timer = TimerFd::new().map_err(|e| format!("creating a timerfd: {e}"))?;
    let mut r = Raw {
        ctx,
        open: None,
        found: Found::Nothing,
        next_try: 0,
        fallback_logged: false,
        buf: vec![0; 64 * super::device::FRAME],
    };
    let stopping = |r: &Raw| r.ctx.shared.base.stop.load(Ordering::Acquire);
    while !stopping(&r) {
        let now = monotonic_ns();
        if r.open.is_none() && now >= r.next_try {
            r.next_try = now + RETRY_NS;
            r.try_open();
        }
        r.ctx.output.drain(now, &r.ctx.news);
        r.write_due();
        if let Some(t) = r.ctx.output.next_due() {
            timer
                .arm_at(t)
                .map_err(|e| format!("arming the timerfd: {e}"))?;
        }
        let mut timeout = OUTPUT_POLL_NS;
        if r.open.is_none() {
            timeout = timeout.min(r.next_try.saturating_sub(now));
        }
        let mut fds = [
            pollfd(r.ctx.shared.base.wake.raw()),
            pollfd(timer.raw()),
            pollfd(r.open.as_ref().map_or(-1, |o| o.dev.raw_fd())),
        ];
        ppoll_ns(&mut fds, timeout)?;
        if fds[0].revents & libc::POLLIN != 0 {
            r.ctx.shared.base.wake.clear();
            priority.follow(&r.ctx.shared.base, &r.ctx.news);
            let pending = lock(&r.ctx.shared.pending_patterns).take();
            if let Some(p) = pending {
                r.ctx.patterns = p;
                r.close("the patterns changed", false);
                r.found = Found::Nothing;
                r.next_try = 0;
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            timer.clear();
        }
        let dev = fds[2].revents;
        if dev & libc::POLLIN != 0 {
            r.read_input();
        }
        if dev & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 && r.open.is_some() {
            r.close("it went away (unplugged?)", true);
        }
    }
    // Stopping: the plugin's last words go out before the device closes.
    let now = monotonic_ns();
    r.ctx.output.drain_last(now, &r.ctx.news);
    let end = now + 100_000_000;
    while r.ctx.output.next_due().is_some_and(|t| t <= end) && r.open.is_some() {
        let t = r.ctx.output.next_due().unwrap_or(end);
        crate::backend::raw_midi::timer::sleep_until(t);
        r.write_due();
    }
    r.ctx.output.abandon(&r.ctx.news);
    Ok(())
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

impl Raw {
    /// Logs `line` when what was found changed.
    fn found(&mut self, found: Found, level: LogLevel, line: impl FnOnce() -> String) {
        if self.found != found {
            self.ctx.news.log(level, line());
            self.found = found;
        }
    }

    fn try_open(&mut self) {
        let devices = patterns::list_devices(&self.ctx.asound);
        let listed = || {
            if devices.is_empty() {
                "none".to_string()
            } else {
                devices
                    .iter()
                    .map(DeviceInfo::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        if self.ctx.patterns.is_empty() {
            let l = listed();
            return self.found(Found::NoPattern, LogLevel::Warning, || {
                format!(
                    "the MIDI backend is Raw MIDI but no raw: pattern names a device: add one \
                     (e.g. raw:hw:1,0 or raw:<name>) to PHASORSYNC_CONNECT or the connect file; \
                     raw MIDI devices now: {l}"
                )
            });
        }
        let Some(info) = patterns::resolve(&self.ctx.patterns, &devices).cloned() else {
            let l = listed();
            let want: Vec<String> = self
                .ctx
                .patterns
                .iter()
                .map(|p| format!("raw:{}", patterns::to_text(p)))
                .collect();
            return self.found(Found::NoMatch, LogLevel::Warning, || {
                format!(
                    "no raw MIDI device matches {}; raw MIDI devices now: {l}. PhasorSync keeps \
                     running and opens it when it appears",
                    want.join(", ")
                )
            });
        };
        match Device::open(&info.node(), self.ctx.framing) {
            Ok(dev) => self.opened(dev, info),
            Err(OpenError::Missing) => {
                self.found(Found::NoMatch, LogLevel::Warning, || {
                    format!(
                        "raw MIDI device {} is listed but cannot be opened (no {}); \
                         retrying",
                        info.describe(),
                        info.node()
                    )
                });
            }
            Err(OpenError::Busy) => {
                let who = holders(&info.node());
                let who = if who.is_empty() {
                    "a program this user cannot see, or the ALSA sequencer itself because \
                     something is connected to the device's sequencer port (see aconnect -l)"
                        .to_string()
                } else {
                    format!("process {}", who.join(", "))
                };
                let d = info.describe();
                self.found(Found::Busy(d.clone()), LogLevel::Warning, || {
                    format!(
                        "raw MIDI device {d} is busy: it is held by {who}. Raw MIDI is exclusive: \
                         close it there (for example in the DAW's own MIDI settings, or a2jmidid, \
                         or disconnect its sequencer port) and PhasorSync opens it within a second"
                    )
                });
            }
            Err(OpenError::Other(e)) => {
                let d = info.describe();
                self.found(Found::Failed(e.clone()), LogLevel::Error, || {
                    format!("opening raw MIDI device {d} failed: {e}; retrying")
                });
            }
        }
    }

    fn opened(&mut self, dev: Device, info: DeviceInfo) {
        let how = match dev.stamping {
            Stamping::Framed => "input stamped by the kernel as its bytes arrive",
            Stamping::ReadTime => "input stamped when read",
        };
        let out = if dev.writable { "" } else { " (input only)" };
        self.ctx.news.log(
            LogLevel::Info,
            format!("raw MIDI device {} opened{out}: {how}", info.describe()),
        );
        if let (Some(e), false) = (&dev.framing_error, self.fallback_logged) {
            self.fallback_logged = true;
            self.ctx.news.log(
                LogLevel::Warning,
                format!(
                    "the kernel has no raw MIDI framing mode ({e}; it needs Linux 5.14): input is \
                     stamped when the MIDI thread reads it, up to a wake-up later than it arrived"
                ),
            );
        }
        self.found = Found::Open;
        self.ctx
            .news
            .counters
            .auto_connected
            .store(1, Ordering::Relaxed);
        let source = source_id(info.card as i32, info.device as i32);
        self.open = Some(Open { dev, info, source });
        // A device receives only once its input is triggered, which the
        // first read (or poll) does: a USB interface starts listening then,
        // virmidi starts passing its port's events. At once, not at the
        // first poll, or what arrives meanwhile is lost.
        self.read_input();
    }

    /// Closes the device; when it `failed`, held notes are released and a
    /// line says why.
    fn close(&mut self, why: &str, failed: bool) {
        let Some(o) = self.open.take() else {
            return;
        };
        let now = monotonic_ns();
        self.ctx
            .news
            .counters
            .auto_connected
            .store(0, Ordering::Relaxed);
        self.ctx.sink.source_gone(o.source, now);
        self.next_try = now + RETRY_NS;
        if failed {
            self.found = Found::Nothing;
            self.ctx.news.log(
                LogLevel::Warning,
                format!(
                    "raw MIDI device {} closed: {why}; held notes were released. PhasorSync \
                     keeps running and opens it again when it comes back",
                    o.info.describe()
                ),
            );
        }
    }

    fn read_input(&mut self) {
        let Some(o) = self.open.as_mut() else {
            return;
        };
        let (sink, source) = (&mut self.ctx.sink, o.source);
        loop {
            let now = monotonic_ns();
            match o
                .dev
                .read(&mut self.buf, now, |t, b| sink.feed(t, source, b))
            {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    let why = format!("reading it failed ({e})");
                    return self.close(&why, true);
                }
            }
        }
    }

    fn write_due(&mut self) {
        let now = monotonic_ns();
        let news = &self.ctx.news;
        let failed = match self.open.as_ref() {
            Some(o) if !o.dev.writable => {
                self.ctx.output.write_due(now, Some(&mut InputOnly), news);
                None
            }
            Some(o) => {
                let mut w = DevWire {
                    dev: &o.dev,
                    failed: None,
                };
                self.ctx.output.write_due(now, Some(&mut w), news);
                w.failed
            }
            None => {
                self.ctx.output.write_due(now, None, news);
                None
            }
        };
        if let Some(e) = failed {
            self.close(&format!("writing to it failed ({e})"), true);
        }
    }
}
