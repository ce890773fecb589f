//! State shared between an [`crate::backend::alsa_seq::AlsaEngine`] and its
//! thread: the wake-up descriptor, the stop flag, the thread's state, pending
//! pattern and priority changes. Counters and log lines go through the
//! engine's [`crate::engine::News`] instead.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::backend::alsa_seq::connect::Patterns;

/// An eventfd: written by the engine to wake the thread's `poll`.
#[derive(Debug)]
pub struct WakeFd(OwnedFd);

impl WakeFd {
    /// A non-blocking, close-on-exec eventfd.
    ///
    /// # Errors
    /// The OS error if the eventfd cannot be created.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd with valid flags; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own exclusively.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The descriptor, for `poll`.
    pub fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }

    /// Wakes the poller. One non-blocking `write`; never blocks (a saturated
    /// counter is already a pending wake-up).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our own eventfd.
        unsafe { libc::write(self.raw(), (&one as *const u64).cast(), 8) };
    }

    /// Clears pending wake-ups.
    pub fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking eventfd.
        unsafe { libc::read(self.raw(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// Thread life cycle, as stored in `Shared::state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// No thread (never started, or stopped cleanly).
    Stopped = 0,
    /// Running and reading the sequencer.
    Running = 1,
    /// Ended on an error or a panic; the log says why. The client is closed.
    Failed = 2,
}

/// Everything the engine and its thread share.
#[derive(Debug)]
pub struct Shared {
    /// Set by `stop()`; the thread exits at its next wake-up.
    pub stop: AtomicBool,
    /// Wakes the thread: stop, output queued, patterns changed.
    pub wake: WakeFd,
    /// Kernel pool cells the thread has read since start (see
    /// `client::cells_for`), to compare with the kernel's own count.
    pub cells: AtomicU64,
    /// A [`ThreadState`] as u8.
    pub state: AtomicU8,
    /// New auto-connect patterns for the thread to apply.
    pub pending_patterns: Mutex<Option<Patterns>>,
    /// The realtime refusal was logged already (once per engine, not per start).
    pub rt_refusal_logged: AtomicBool,
    /// The host's audio thread priority, for the thread to stay below:
    /// [`HOST_PRIORITY_UNKNOWN`], [`HOST_PRIORITY_NOT_RT`] or a priority ≥ 1.
    pub host_priority: AtomicI32,
    /// Patchbay connections remembered (exact patterns), kept across starts.
    /// The thread updates it; the engine reads it and may replace it.
    pub remembered: Mutex<Patterns>,
    /// The engine replaced [`Self::remembered`]: the thread must apply it.
    pub remembered_pending: AtomicBool,
    /// A failed announce subscription was logged already (once per engine).
    pub hotplug_failure_logged: AtomicBool,
    /// A queue not on the high-resolution timer was logged already (once
    /// per engine).
    pub timer_warning_logged: AtomicBool,
    /// How long the thread's last stop waited for its scheduled output to
    /// play out, ns (part of stopping, not a slow stop).
    pub played_out_ns: AtomicU64,
}

/// [`Shared::host_priority`]: no word from the host yet.
pub const HOST_PRIORITY_UNKNOWN: i32 = 0;

/// [`Shared::host_priority`]: the host's audio thread is not realtime.
pub const HOST_PRIORITY_NOT_RT: i32 = -1;

impl Shared {
    /// Fresh shared state with a new eventfd.
    ///
    /// # Errors
    /// The OS error if the eventfd cannot be created.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            stop: AtomicBool::new(false),
            wake: WakeFd::new()?,
            cells: AtomicU64::new(0),
            state: AtomicU8::new(ThreadState::Stopped as u8),
            pending_patterns: Mutex::new(None),
            rt_refusal_logged: AtomicBool::new(false),
            host_priority: AtomicI32::new(HOST_PRIORITY_UNKNOWN),
            remembered: Mutex::new(Patterns::default()),
            remembered_pending: AtomicBool::new(false),
            hotplug_failure_logged: AtomicBool::new(false),
            timer_warning_logged: AtomicBool::new(false),
            played_out_ns: AtomicU64::new(0),
        })
    }

    /// The thread's state.
    pub fn state(&self) -> ThreadState {
        match self.state.load(Ordering::Acquire) {
            1 => ThreadState::Running,
            2 => ThreadState::Failed,
            _ => ThreadState::Stopped,
        }
    }

    /// Sets the thread's state.
    pub fn set_state(&self, s: ThreadState) {
        self.state.store(s as u8, Ordering::Release);
    }
}
