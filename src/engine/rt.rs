//! Realtime scheduling for the sequencer thread.
//!
//! The kernel timestamps input on arrival, so priority does not change *when*
//! an event is stamped, only how soon it reaches the ring: SCHED_FIFO keeps a
//! busy desktop from delaying delivery past the next audio block. It must
//! stay *below* the host's audio thread, which it would otherwise preempt.
//! Audio threads run anywhere from 1 up: jackd's default is 10, PipeWire's
//! under RTKit around 20, so a fixed priority cannot be right everywhere.
//! The plugin therefore reads its audio thread's scheduling
//! ([`current_thread_sched`], from `start_processing`) and the MIDI thread
//! follows at one below ([`priority_below`]). Until then it runs at
//! [`DEFAULT_RT_PRIORITY`], the lowest SCHED_FIFO priority: above every
//! normal thread, and not above any realtime audio thread.

/// SCHED_FIFO priority used until the host's audio thread is known: the
/// lowest there is (see the module docs).
pub const DEFAULT_RT_PRIORITY: u8 = 1;

/// Why realtime scheduling was not obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtRefused {
    /// errno from `pthread_setschedparam`.
    pub errno: i32,
    /// The priority asked for (after clamping to the system's range).
    pub priority: i32,
}

impl std::fmt::Display for RtRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = if self.errno == libc::EPERM {
            "not permitted: the user has no realtime limit (RLIMIT_RTPRIO); add the user to \
             the `audio` group with `@audio - rtprio 95` in /etc/security/limits.d/ (most \
             audio distributions do this), then log in again"
                .to_string()
        } else {
            format!("{}", std::io::Error::from_raw_os_error(self.errno))
        };
        write!(
            f,
            "MIDI thread runs at normal priority: SCHED_FIFO priority {} refused ({why}); \
             timestamps stay exact, delivery may be late under load",
            self.priority
        )
    }
}

/// A thread's scheduling policy and priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadSched {
    /// `SCHED_OTHER`, `SCHED_FIFO`, `SCHED_RR`, …
    pub policy: i32,
    /// The static priority (0 for the normal policies).
    pub priority: i32,
}

impl ThreadSched {
    /// The realtime priority, for SCHED_FIFO and SCHED_RR; `None` otherwise.
    pub fn realtime_priority(&self) -> Option<i32> {
        matches!(self.policy, libc::SCHED_FIFO | libc::SCHED_RR).then_some(self.priority)
    }
}

/// The calling thread's scheduling (`pthread_getschedparam` on
/// `pthread_self`). For the plugin's `start_processing`, on the host's audio
/// thread: no allocation, no lock; glibc answers from the thread's
/// descriptor or with one `sched_getscheduler`/`sched_getparam` each.
pub fn current_thread_sched() -> ThreadSched {
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: valid out-pointers for the calling thread.
    let rc = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    if rc != 0 {
        return ThreadSched {
            policy: libc::SCHED_OTHER,
            priority: 0,
        };
    }
    ThreadSched {
        policy,
        priority: param.sched_priority,
    }
}

/// The calling thread's scheduling policy and priority, as a pair.
pub fn current_thread_policy() -> (i32, i32) {
    let s = current_thread_sched();
    (s.policy, s.priority)
}

/// The MIDI thread's priority for a host audio thread at `host`: one below,
/// at least 1 (level with an audio thread at 1, never above it).
pub fn priority_below(host: i32) -> i32 {
    host.saturating_sub(1).max(1)
}

/// Puts the calling thread in SCHED_FIFO at `priority`, clamped to the
/// system's range. Returns the priority obtained.
///
/// # Errors
/// [`RtRefused`] when the system refuses (typically EPERM: no rtprio limit).
pub fn make_current_thread_realtime(priority: u8) -> Result<i32, RtRefused> {
    set_current_thread_fifo(i32::from(priority))
}

/// [`make_current_thread_realtime`] with any priority.
///
/// # Errors
/// [`RtRefused`] when the system refuses.
pub fn set_current_thread_fifo(priority: i32) -> Result<i32, RtRefused> {
    // SAFETY: plain libc queries with a valid policy constant.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(libc::SCHED_FIFO),
            libc::sched_get_priority_max(libc::SCHED_FIFO),
        )
    };
    let priority = priority.clamp(min.max(1), max.max(1));
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pthread_self() is the calling thread; `param` is a valid sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(priority)
    } else {
        Err(RtRefused {
            errno: rc,
            priority,
        })
    }
}

/// Puts the calling thread back at normal priority (SCHED_OTHER).
///
/// # Errors
/// The errno of `pthread_setschedparam`.
pub fn make_current_thread_normal() -> Result<(), i32> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pthread_self() is the calling thread; `param` is a valid sched_param.
    let rc =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}

/// Lets the plugin's audio thread tell a backend's MIDI thread the audio
/// thread's priority, so the MIDI thread runs just below it
/// ([`priority_below`]). Backend-neutral: each backend says what to do with
/// the number. Cloneable and `Send`.
#[derive(Clone)]
pub struct PriorityLink(std::sync::Arc<dyn Fn(Option<i32>) + Send + Sync>);

impl std::fmt::Debug for PriorityLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PriorityLink")
    }
}

impl PriorityLink {
    /// A link that calls `apply` with the host's realtime priority (`None`:
    /// the host's audio thread is not realtime).
    pub fn new(apply: impl Fn(Option<i32>) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(apply))
    }

    /// The host's audio thread runs at `host_priority` (SCHED_FIFO/RR), or
    /// not realtime (`None`). The backend's apply is realtime-cheap (an
    /// atomic store, a wake-up write only when the value changes).
    pub fn set_priority_below(&self, host_priority: Option<i32>) {
        (self.0)(host_priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_fifo_or_a_clear_refusal() {
        let r = std::thread::spawn(|| {
            let r = make_current_thread_realtime(DEFAULT_RT_PRIORITY);
            (r, current_thread_policy())
        })
        .join()
        .unwrap();
        match r {
            (Ok(p), (policy, prio)) => {
                assert_eq!(policy, libc::SCHED_FIFO);
                assert_eq!(prio, p);
            }
            (Err(e), (policy, _)) => {
                assert_ne!(policy, libc::SCHED_FIFO);
                assert!(e.to_string().contains("normal priority"), "{e}");
            }
        }
    }

    #[test]
    fn one_below_the_host_never_above() {
        assert_eq!(priority_below(20), 19);
        assert_eq!(priority_below(10), 9);
        assert_eq!(priority_below(2), 1);
        assert_eq!(priority_below(1), 1);
        assert_eq!(priority_below(i32::MIN), 1);
        assert!(i32::from(DEFAULT_RT_PRIORITY) <= priority_below(2));
    }

    #[test]
    fn a_normal_thread_reads_as_not_realtime() {
        let s = std::thread::spawn(current_thread_sched).join().unwrap();
        assert_eq!(s.realtime_priority(), None, "{s:?}");
        let fifo = ThreadSched {
            policy: libc::SCHED_FIFO,
            priority: 20,
        };
        assert_eq!(fifo.realtime_priority(), Some(20));
    }
}
