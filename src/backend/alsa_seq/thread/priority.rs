//! The thread's scheduling: a start-up priority from the configuration, then
//! one step below the host's audio thread once the plugin tells us its
//! priority ([`crate::backend::alsa_seq::AlsaEngine::set_priority_below`]).
//!
//! - Host thread SCHED_FIFO/RR at `p`: ours SCHED_FIFO at `p − 1` (at least
//!   1): MIDI delivery preempts every normal thread, never the audio thread.
//! - Host thread not realtime: ours at normal priority (SCHED_OTHER). Any
//!   realtime priority would put a plugin thread above the host's audio
//!   thread. Timestamps do not suffer (the kernel stamps on arrival); only
//!   how soon input reaches the ring under load does, exactly as for the
//!   host's own audio.
//! - Configuration without realtime (`rt_priority: None`): normal priority
//!   whatever the host says.

use std::sync::atomic::Ordering;

use super::Midi;
use crate::backend::shared::state::{Shared, HOST_PRIORITY_NOT_RT, HOST_PRIORITY_UNKNOWN};
use crate::engine::rt;
use crate::engine::{LogLevel, News};

/// What the thread last asked for.
pub struct Priority {
    allow_rt: bool,
    /// The host request last applied (a `Shared::host_priority` value).
    seen: i32,
}

impl Priority {
    /// Applies the start-up priority: the host's request if one came already
    /// (an engine started again), else the configured one.
    pub fn start(rt_priority: Option<u8>, shared: &Shared, news: &News) -> Self {
        let mut p = Self {
            allow_rt: rt_priority.is_some(),
            seen: HOST_PRIORITY_UNKNOWN,
        };
        let host = shared.host_priority.load(Ordering::Acquire);
        if host != HOST_PRIORITY_UNKNOWN {
            p.apply(host, shared, news);
        } else if let Some(prio) = rt_priority {
            if let Err(e) = rt::make_current_thread_realtime(prio) {
                refused(shared, news, &e);
            }
        }
        p
    }

    /// Follows the host's latest request, if it changed.
    fn apply(&mut self, host: i32, shared: &Shared, news: &News) {
        self.seen = host;
        let want = match host {
            HOST_PRIORITY_UNKNOWN => return,
            HOST_PRIORITY_NOT_RT => None,
            p => Some(rt::priority_below(p)),
        };
        match want.filter(|_| self.allow_rt) {
            Some(p) => match rt::set_current_thread_fifo(p) {
                Ok(got) => news.log(
                    LogLevel::Info,
                    format!(
                        "MIDI thread: SCHED_FIFO priority {got}, below the host's audio thread ({host})"
                    ),
                ),
                Err(e) => refused(shared, news, &e),
            },
            None => {
                if let Err(errno) = rt::make_current_thread_normal() {
                    news.log(
                        LogLevel::Warning,
                        format!(
                            "MIDI thread: returning to normal priority failed ({})",
                            std::io::Error::from_raw_os_error(errno)
                        ),
                    );
                }
            }
        }
    }
}

/// A refusal is logged once per engine: a plugin activated again and again
/// should not repeat it.
fn refused(shared: &Shared, news: &News, e: &rt::RtRefused) {
    if !shared.rt_refusal_logged.swap(true, Ordering::Relaxed) {
        news.log(LogLevel::Warning, e.to_string());
    }
}

impl Priority {
    /// Applies a new priority request from the host, if any.
    pub fn follow(&mut self, shared: &Shared, news: &News) {
        let host = shared.host_priority.load(Ordering::Acquire);
        if host != self.seen {
            self.apply(host, shared, news);
        }
    }
}

impl Midi {
    /// Applies a new priority request from the host, if any.
    pub(super) fn follow_priority(&mut self) {
        self.priority.follow(&self.shared, &self.news);
    }
}
