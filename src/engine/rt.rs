//! Realtime scheduling for the sequencer thread.
//!
//! The kernel timestamps input on arrival, so priority does not change *when*
//! an event is stamped, only how soon it reaches the ring: SCHED_FIFO keeps a
//! busy desktop from delaying delivery past the next audio block. The default
//! priority ([`DEFAULT_RT_PRIORITY`]) sits below the usual audio threads
//! (JACK ~70-80, PipeWire 88) so the MIDI thread never preempts audio
//! processing, and above every normal thread.

/// SCHED_FIFO priority asked for when the configuration does not say.
pub const DEFAULT_RT_PRIORITY: u8 = 60;

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

/// Puts the calling thread in SCHED_FIFO at `priority`, clamped to the
/// system's range. Returns the priority obtained.
///
/// # Errors
/// [`RtRefused`] when the system refuses (typically EPERM: no rtprio limit).
pub fn make_current_thread_realtime(priority: u8) -> Result<i32, RtRefused> {
    // SAFETY: plain libc queries with a valid policy constant.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(libc::SCHED_FIFO),
            libc::sched_get_priority_max(libc::SCHED_FIFO),
        )
    };
    let priority = i32::from(priority).clamp(min.max(1), max.max(1));
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

/// The calling thread's scheduling policy and priority.
pub fn current_thread_policy() -> (i32, i32) {
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: valid out-pointers for the calling thread.
    unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    (policy, param.sched_priority)
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
}
