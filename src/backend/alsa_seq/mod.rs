//! The private ALSA sequencer client and its thread.
//!
//! [`AlsaEngine`] implements [`MidiEngine`]: `start()` opens one sequencer
//! client (named `PhasorSync`, `PhasorSync-2`, … see [`client`]) with a
//! `MIDI in` and a `MIDI out` port any patchbay can connect, starts a queue
//! that timestamps every input event in real time, and spawns a thread that
//! - polls the sequencer's descriptors and an eventfd (wake-up/shutdown),
//! - decodes events to bytes with alsa's MIDI event decoder (SysEx chunks are
//!   passed through and reassembled by the protocol parser),
//! - converts the queue timestamps to `CLOCK_MONOTONIC` ns ([`queue_time`]),
//! - parses with [`crate::protocol::Parser`] into the SPSC ring,
//! - sends what the audio thread queued in the output ring, scheduled on the
//!   queue at its time, looking at the ring at least every
//!   [`crate::engine::OUTPUT_POLL_NS`]; a full kernel output pool or a
//!   receiver that refuses is counted, never silent (`output`); SysEx at
//!   the speed of a MIDI wire, the other messages after it (`crate::backend::shared::sysex_pacer`),
//! - runs the queue on the high-resolution timer (`snd-hrtimer`), asked for
//!   explicitly, and says once, with the fix, when the kernel only has the
//!   system tick ([`timer`]; `raw` makes the two requests the `alsa`
//!   crate does not wrap),
//! - auto-connects ports matching the user's patterns, now and when they
//!   appear later, and remembers the connections a patchbay makes so they
//!   come back on the next start ([`connect`]),
//! - releases the notes held on a source that goes away or across a kernel
//!   overrun ([`crate::engine::sink`]),
//! - runs SCHED_FIFO when allowed, one below the host's audio thread once the
//!   plugin reports it ([`AlsaEngine::set_priority_below`],
//!   [`crate::engine::rt`]), and reports a refusal once.
//!
//! Logging and counting: the thread never calls the host; it counts and logs
//! into the engine's [`News`], which the plugin's main thread reads.
//!
//! Faults never panic: no `/dev/snd/seq`, no permission or a failed client
//! creation return an [`EngineError`] (from a [`SeqError`]) from `start()`; a thread that fails
//! later logs why and shows [`ThreadState::Failed`].

pub(crate) mod away_notes;
pub mod client;
pub mod connect;
pub(crate) mod error;
pub(crate) mod output;
pub mod ports;
pub mod queue_time;
pub(crate) mod raw;
pub(crate) mod retract;
pub(crate) mod thread;
pub mod timer;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::backend::shared::state::ThreadState;
pub use connect::{Pattern, Patterns, Side};
pub use error::SeqError;
pub use timer::{QueueTimer, TimerKind};

use crate::backend::shared::state::{Shared, HOST_PRIORITY_NOT_RT};
use crate::backend::shared::sync::lock;
use crate::engine::rt::PriorityLink;
use crate::engine::{
    EngineError, EngineIo, EngineOptions, EngineStats, LogLevel, MidiEngine, News,
};
use crate::protocol::DEFAULT_MAX_SYSEX;

/// Settings of an [`AlsaEngine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlsaConfig {
    /// Base client name; a number is appended when it is taken.
    pub client_name: String,
    /// SCHED_FIFO priority for the thread until the host's audio thread is
    /// known ([`AlsaEngine::set_priority_below`]); `None` keeps normal
    /// priority always.
    pub rt_priority: Option<u8>,
    /// Largest SysEx accepted, framing included; larger ones are dropped and counted.
    pub max_sysex: usize,
    /// Auto-connect patterns from the plugin state (see [`connect`]).
    pub connect_patterns: String,
    /// Also read `PHASORSYNC_CONNECT` and the XDG config file.
    pub patterns_from_environment: bool,
    /// Queue ticks a second asked for on the high-resolution timer: the
    /// granularity of scheduled output (see [`timer::QUEUE_TIMER_HZ`]; the
    /// kernel takes 10 to 6250).
    pub queue_timer_hz: u32,
}

impl Default for AlsaConfig {
    fn default() -> Self {
        Self {
            client_name: "PhasorSync".into(),
            rt_priority: Some(crate::engine::rt::DEFAULT_RT_PRIORITY),
            max_sysex: DEFAULT_MAX_SYSEX,
            connect_patterns: String::new(),
            patterns_from_environment: true,
            queue_timer_hz: timer::QUEUE_TIMER_HZ,
        }
    }
}

/// Where a running engine's client lives, for patchbays and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    /// Client number.
    pub client: i32,
    /// Client name (`PhasorSync`, `PhasorSync-2`, …).
    pub name: String,
    /// `MIDI in` port.
    pub in_port: i32,
    /// `MIDI out` port.
    pub out_port: i32,
    /// The queue timestamping input.
    pub queue: i32,
}

/// What only the ALSA backend knows, beyond the engine's counters
/// ([`EngineStats`], [`AlsaEngine::stats`]): the kernel's view of the input
/// pool and the queue's timer. For diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlsaStats {
    /// Events the kernel lost before the thread could read them
    /// ([`client::InputPool::lost`]); the engine counts the same figure,
    /// overrun by overrun, in [`EngineStats::overrun_events`]. `None` without
    /// procfs or when stopped.
    pub kernel_lost: Option<u64>,
    /// The kernel's counters of our input pool, as read for `kernel_lost`.
    pub kernel_pool: Option<client::InputPool>,
    /// Kernel pool cells the thread has read since start.
    pub cells_read: u64,
    /// The timer our queue runs on (scheduled output goes out on its
    /// ticks); `None` when stopped or when the kernel does not say.
    pub queue_timer: Option<QueueTimer>,
}

struct Running {
    thread: JoinHandle<()>,
    addr: ClientAddr,
    timer: Option<QueueTimer>,
}

/// Tell the thread the host's audio thread priority (`None`: not realtime).
pub(crate) fn set_host_priority(shared: &Shared, host_priority: Option<i32>) {
    let v = match host_priority {
        Some(p) if p >= 1 => p,
        _ => HOST_PRIORITY_NOT_RT,
    };
    if shared.host_priority.swap(v, Ordering::AcqRel) != v {
        shared.wake.wake();
    }
}

/// The ALSA sequencer backend. See the module docs.
pub struct AlsaEngine {
    config: AlsaConfig,
    shared: Arc<Shared>,
    running: Option<Running>,
    /// The news channel of the last start (a private one before): counters
    /// and log lines.
    news: Arc<News>,
}

impl std::fmt::Debug for AlsaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlsaEngine")
            .field("config", &self.config)
            .field("client", &self.client())
            .field("state", &self.state())
            .finish()
    }
}

impl AlsaEngine {
    /// An engine that has not started; nothing is opened yet.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the wake-up eventfd cannot be created.
    pub fn new(config: AlsaConfig) -> Result<Self, EngineError> {
        let shared =
            Shared::new().map_err(|e| EngineError::Io(format!("creating an eventfd: {e}")))?;
        Ok(Self {
            config,
            shared: Arc::new(shared),
            running: None,
            news: Arc::new(News::default()),
        })
    }

    /// The running client's address, `None` when stopped.
    pub fn client(&self) -> Option<&ClientAddr> {
        self.running.as_ref().map(|r| &r.addr)
    }

    /// The thread's state.
    pub fn state(&self) -> ThreadState {
        self.shared.state()
    }

    /// The news channel given at the last start (a private one before).
    pub fn news(&self) -> &Arc<News> {
        &self.news
    }

    /// The engine's counters (its news channel's), read now.
    pub fn stats(&self) -> EngineStats {
        self.news.stats()
    }

    /// Diagnostics only the backend knows, beyond [`EngineStats`].
    pub fn alsa_stats(&self) -> AlsaStats {
        let cells = self.shared.cells.load(Ordering::Relaxed);
        let pool = self.client().and_then(|a| client::input_pool(a.client));
        AlsaStats {
            kernel_lost: pool.map(|p| p.lost(cells)),
            kernel_pool: pool,
            cells_read: cells,
            queue_timer: self.running.as_ref().and_then(|r| r.timer),
        }
    }

    /// Sets the auto-connect patterns of the plugin state (see [`connect`]).
    /// Applied at once when running: sources connected by an older pattern
    /// that no longer match are disconnected, new matches connected.
    pub fn set_connect_patterns(&mut self, patterns: &str) {
        self.config.connect_patterns = patterns.to_string();
        if self.running.is_some() {
            let p = self.all_patterns();
            *lock(&self.shared.pending_patterns) = Some(p);
            self.shared.wake.wake();
        }
    }

    /// The connections made from a patchbay while running (to our `MIDI in`,
    /// from our `MIDI out`), as a pattern list of exact names
    /// (`=client:port`, `out:=client:port`, one a line; see [`connect`]), for
    /// the plugin to save with its state. Kept across stop/start: they are
    /// made again at every start, whatever number the client gets.
    pub fn remembered_connections(&self) -> String {
        lock(&self.shared.remembered).to_text()
    }

    /// Replaces the remembered patchbay connections, e.g. with a list saved by
    /// [`Self::remembered_connections`]. Applied at once when running (new
    /// ones connected, ours no longer listed disconnected), else at the next
    /// start. Any pattern syntax is accepted.
    pub fn set_remembered_connections(&mut self, text: &str) {
        *lock(&self.shared.remembered) = Patterns::parse(text);
        self.shared
            .remembered_pending
            .store(true, Ordering::Release);
        if self.running.is_some() {
            self.shared.wake.wake();
        }
    }

    /// Tells the MIDI thread the host's audio thread priority
    /// ([`crate::engine::rt::current_thread_sched`]`().realtime_priority()`,
    /// read in `start_processing`): it then runs SCHED_FIFO one below
    /// (at least 1), or at normal priority when the host's thread is not
    /// realtime (`None`, or a priority below 1). Kept across stop/start.
    ///
    /// Realtime-cheap: an atomic swap, and only when the value changed, one
    /// non-blocking `write` to the thread's eventfd. No lock, no allocation.
    pub fn set_priority_below(&self, host_priority: Option<i32>) {
        set_host_priority(&self.shared, host_priority);
    }

    /// A handle for [`Self::set_priority_below`] that another thread (the
    /// audio thread) can own.
    pub fn priority_link(&self) -> PriorityLink {
        let shared = Arc::clone(&self.shared);
        PriorityLink::new(move |p| set_host_priority(&shared, p))
    }

    /// Publishes the queue's timer and, once per engine, says when it is not
    /// the high-resolution one (with the fix).
    fn report_timer(&self, timer: Option<QueueTimer>, request_error: Option<&str>) {
        self.news
            .counters
            .queue_timer_period_ns
            .store(timer.map_or(0, |t| t.period_ns), Ordering::Relaxed);
        let ms = |ns: u64| ns as f64 / 1e6;
        let line = match timer {
            Some(t) if t.kind == TimerKind::HighResolution => return,
            Some(t) if t.kind == TimerKind::System => format!(
                "the sequencer queue runs on the system timer ({:.1} ms ticks), not the \
                 high-resolution timer: MIDI sent to hardware is spread over up to {:.1} ms. \
                 Fix: sudo modprobe snd-hrtimer (to keep it, add snd-hrtimer to /etc/modules), \
                 then restart the plugin",
                ms(t.period_ns),
                ms(t.period_ns)
            ),
            Some(t) => format!(
                "the sequencer queue runs on a timer other than the high-resolution one \
                 ({:.3} ms ticks); for the steadiest MIDI output: sudo modprobe snd-hrtimer, \
                 then restart the plugin",
                ms(t.period_ns)
            ),
            None => "cannot tell which timer the sequencer queue runs on \
                     (/proc/asound/seq/timer does not list it); if MIDI sent to hardware is \
                     uneven: sudo modprobe snd-hrtimer, then restart the plugin"
                .to_string(),
        };
        // Not knowing is no fault by itself (a kernel without procfs).
        let level = if timer.is_some() {
            LogLevel::Warning
        } else {
            LogLevel::Info
        };
        let line = match request_error {
            Some(e) => format!("{line} ({e})"),
            None => line,
        };
        if !self
            .shared
            .timer_warning_logged
            .swap(true, Ordering::Relaxed)
        {
            self.news.log(level, line);
        }
    }

    fn all_patterns(&self) -> Patterns {
        let mut p = if self.config.patterns_from_environment {
            connect::patterns_from_environment()
        } else {
            Patterns::default()
        };
        p.extend_from(&self.config.connect_patterns);
        p
    }
}

impl MidiEngine for AlsaEngine {
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError> {
        if self.running.is_some() {
            if self.state() == ThreadState::Running {
                return Err(EngineError::AlreadyStarted);
            }
            // The thread failed earlier: clean it up and start afresh.
            self.stop();
        }
        self.shared.stop.store(false, Ordering::Release);
        // Cells are compared with the new client's kernel pool: start from zero.
        self.shared.cells.store(0, Ordering::Relaxed);
        self.news = Arc::clone(&io.news);
        let c = client::open(&self.config.client_name, self.config.queue_timer_hz)
            .map_err(EngineError::from)?;
        let addr = ClientAddr {
            client: c.client,
            name: c.name.clone(),
            in_port: c.in_port,
            out_port: c.out_port,
            queue: c.queue,
        };
        let timer = c.timer;
        self.report_timer(timer, c.timer_error.as_deref());
        let ctx = thread::ThreadCtx {
            client: c,
            sink: crate::engine::sink::Sink::new(
                io.input,
                self.config.max_sysex,
                Arc::clone(&io.news),
            ),
            shared: Arc::clone(&self.shared),
            news: io.news,
            output: io.output,
            patterns: self.all_patterns(),
            rt_priority: self.config.rt_priority,
        };
        self.shared.set_state(ThreadState::Running);
        let thread = std::thread::Builder::new()
            .name(format!("{} MIDI", addr.name))
            .spawn(move || thread::run(ctx))
            .map_err(|e| {
                self.shared.set_state(ThreadState::Stopped);
                EngineError::Thread(format!("spawning the MIDI thread: {e}"))
            })?;
        self.news.log(
            LogLevel::Info,
            format!(
                "ALSA sequencer client {} \"{}\": MIDI in {}:{}, MIDI out {}:{}",
                addr.client, addr.name, addr.client, addr.in_port, addr.client, addr.out_port
            ),
        );
        self.running = Some(Running {
            thread,
            addr,
            timer,
        });
        Ok(())
    }

    fn stop(&mut self) {
        let Some(r) = self.running.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.wake();
        let t0 = Instant::now();
        if r.thread.join().is_err() {
            // run() catches panics; this is a panic in the catch itself.
            self.news.log(
                LogLevel::Error,
                "the MIDI thread could not be joined cleanly",
            );
        }
        // Waiting for scheduled output to play out is part of stopping.
        let played_out = Duration::from_nanos(self.shared.played_out_ns.swap(0, Ordering::AcqRel));
        let took = t0.elapsed().saturating_sub(played_out);
        if took > Duration::from_millis(50) {
            self.news.log(
                LogLevel::Warning,
                format!(
                    "stopping the MIDI thread took {} ms (besides {} ms for scheduled output \
                     to play out)",
                    took.as_millis(),
                    played_out.as_millis()
                ),
            );
        }
        if self.shared.state() == ThreadState::Running {
            self.shared.set_state(ThreadState::Stopped);
        }
    }

    fn set_options(&mut self, options: &EngineOptions) {
        if options.connect != self.config.connect_patterns {
            self.set_connect_patterns(&options.connect);
        }
        if options.remembered != self.remembered_connections() {
            self.set_remembered_connections(&options.remembered);
        }
    }

    fn priority_link(&self) -> Option<PriorityLink> {
        Some(AlsaEngine::priority_link(self))
    }

    fn remembered(&self) -> String {
        self.remembered_connections()
    }
}

impl Drop for AlsaEngine {
    fn drop(&mut self) {
        self.stop();
    }
}
