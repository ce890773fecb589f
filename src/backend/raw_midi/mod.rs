//! The raw MIDI backend: one raw MIDI device (`/dev/snd/midiCcDd`) opened
//! directly, closer to the wire than the sequencer.
//!
//! The sequencer stamps an event when it delivers it; in framing mode
//! (Linux 5.14) the kernel stamps each chunk of raw MIDI bytes on
//! `CLOCK_MONOTONIC` as it arrives ([`device`]). [`RawMidiEngine`] implements
//! [`MidiEngine`] with only what is raw-MIDI-specific: which device
//! ([`patterns`]: `raw:hw:1,0`, `raw:<name>`), opening and reading it, and a
//! thread (`thread`) that writes output at its time (`out`, woken by a
//! `timer::TimerFd`). Everything else is shared: the bytes go through the
//! same [`crate::engine::sink`] (parser, held notes, input ring, counters),
//! output comes from the same ring with the same stream order, SysEx
//! pacing and clock retraction as the sequencer's, and the thread uses the
//! sequencer backend's shared state (stop flag, eventfd, priority).
//!
//! Faults never stop the plugin: a missing device, one another program
//! holds (raw MIDI is exclusive; the log names who holds it), one that goes
//! away mid-stream are logged once each and the thread looks for the
//! device again every `thread::RETRY_NS`, opening it when it is back.

pub mod device;
pub(crate) mod out;
pub mod patterns;
pub(crate) mod thread;
pub(crate) mod timer;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::backend::alsa_seq::connect::patterns_from_environment_text;
use crate::backend::alsa_seq::set_host_priority;
use crate::backend::shared::state::{Shared, ThreadState};
use crate::backend::shared::sync::lock;
use crate::engine::rt::PriorityLink;
use crate::engine::{EngineError, EngineIo, EngineOptions, LogLevel, MidiEngine, News};
use crate::protocol::DEFAULT_MAX_SYSEX;
use patterns::RawPattern;

/// Settings of a [`RawMidiEngine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawConfig {
    /// SCHED_FIFO priority until the host's audio thread is known.
    pub rt_priority: Option<u8>,
    /// Largest SysEx accepted, framing included.
    pub max_sysex: usize,
    /// Pattern text from the plugin state (its `raw:` entries count).
    pub connect_patterns: String,
    /// Also read `PHASORSYNC_CONNECT` and the config file.
    pub patterns_from_environment: bool,
    /// Ask the kernel for framed, timestamped input (else stamp when read).
    pub framing: bool,
    /// Where the kernel lists its sound devices.
    pub asound: PathBuf,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            rt_priority: Some(crate::engine::rt::DEFAULT_RT_PRIORITY),
            max_sysex: DEFAULT_MAX_SYSEX,
            connect_patterns: String::new(),
            patterns_from_environment: true,
            framing: true,
            asound: PathBuf::from("/proc/asound"),
        }
    }
}

/// The sequencer backend's shared state, and the raw patterns to apply.
#[derive(Debug)]
pub(crate) struct RawShared {
    /// Stop flag, wake-up, state, host priority.
    pub base: Shared,
    /// New patterns for the thread.
    pub pending_patterns: Mutex<Option<Vec<RawPattern>>>,
}

/// The raw MIDI backend. See the module docs.
#[derive(Debug)]
pub struct RawMidiEngine {
    config: RawConfig,
    shared: Arc<RawShared>,
    thread: Option<JoinHandle<()>>,
    news: Arc<News>,
}

impl RawMidiEngine {
    /// An engine that has not started.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the wake-up eventfd cannot be created.
    pub fn new(config: RawConfig) -> Result<Self, EngineError> {
        let base =
            Shared::new().map_err(|e| EngineError::Io(format!("creating an eventfd: {e}")))?;
        Ok(Self {
            config,
            shared: Arc::new(RawShared {
                base,
                pending_patterns: Mutex::new(None),
            }),
            thread: None,
            news: Arc::new(News::default()),
        })
    }

    /// The thread's state.
    pub fn state(&self) -> ThreadState {
        self.shared.base.state()
    }

    /// The news channel of the last start.
    pub fn news(&self) -> &Arc<News> {
        &self.news
    }

    /// The `raw:` patterns in effect: the environment's first, then the
    /// plugin state's.
    pub fn patterns(&self) -> Vec<RawPattern> {
        let mut text = String::new();
        if self.config.patterns_from_environment {
            text = patterns_from_environment_text();
            text.push('\n');
        }
        text.push_str(&self.config.connect_patterns);
        patterns::parse(&text)
    }
}

impl MidiEngine for RawMidiEngine {
    fn start(&mut self, io: EngineIo) -> Result<(), EngineError> {
        if self.thread.is_some() {
            if self.state() == ThreadState::Running {
                return Err(EngineError::AlreadyStarted);
            }
            self.stop();
        }
        let base = &self.shared.base;
        base.stop.store(false, Ordering::Release);
        self.news = Arc::clone(&io.news);
        let ctx = thread::ThreadCtx {
            sink: crate::engine::sink::Sink::new(
                io.input,
                self.config.max_sysex,
                Arc::clone(&io.news),
            ),
            output: out::RawOutput::new(io.output),
            news: io.news,
            shared: Arc::clone(&self.shared),
            patterns: self.patterns(),
            rt_priority: self.config.rt_priority,
            framing: self.config.framing,
            asound: self.config.asound.clone(),
        };
        base.set_state(ThreadState::Running);
        let t = std::thread::Builder::new()
            .name("PhasorSync raw MIDI".into())
            .spawn(move || thread::run(ctx))
            .map_err(|e| {
                self.shared.base.set_state(ThreadState::Stopped);
                EngineError::Thread(format!("spawning the raw MIDI thread: {e}"))
            })?;
        self.thread = Some(t);
        Ok(())
    }

    fn stop(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        self.shared.base.stop.store(true, Ordering::Release);
        self.shared.base.wake.wake();
        if t.join().is_err() {
            self.news
                .log(LogLevel::Error, "the raw MIDI thread could not be joined");
        }
        if self.state() == ThreadState::Running {
            self.shared.base.set_state(ThreadState::Stopped);
        }
    }

    fn set_options(&mut self, options: &EngineOptions) {
        if options.connect == self.config.connect_patterns {
            return;
        }
        self.config.connect_patterns = options.connect.clone();
        if self.thread.is_some() {
            *lock(&self.shared.pending_patterns) = Some(self.patterns());
            self.shared.base.wake.wake();
        }
    }

    fn priority_link(&self) -> Option<PriorityLink> {
        let shared = Arc::clone(&self.shared);
        Some(PriorityLink::new(move |p| {
            set_host_priority(&shared.base, p)
        }))
    }
}

impl Drop for RawMidiEngine {
    fn drop(&mut self) {
        self.stop();
    }
}
