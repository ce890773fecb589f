//! A `timerfd` on `CLOCK_MONOTONIC` armed at absolute times: the raw MIDI
//! thread's wake-up for output due (raw MIDI has no queue to schedule on).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// See the module docs.
#[derive(Debug)]
pub struct TimerFd(OwnedFd);

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

impl TimerFd {
    /// A disarmed timer.
    ///
    /// # Errors
    /// The kernel refused one.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: plain call with constant flags.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The descriptor, for `poll` (readable once the time has come).
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Fires at `mono_ns` (`CLOCK_MONOTONIC`; at once if it has passed).
    ///
    /// # Errors
    /// The kernel refused.
    pub fn arm_at(&self, mono_ns: u64) -> std::io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: timespec(0),
            // 0 would disarm it: 1 ns is long past.
            it_value: timespec(mono_ns.max(1)),
        };
        // SAFETY: `spec` is a valid itimerspec; a null old value is allowed.
        let rc = unsafe {
            libc::timerfd_settime(
                self.raw(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads its expiry count so it is no longer readable.
    pub fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads 8 bytes into `n`; a non-blocking fd with nothing to
        // read fails harmlessly.
        unsafe { libc::read(self.raw(), (&mut n as *mut u64).cast(), 8) };
    }
}

/// `clock_nanosleep` on `CLOCK_MONOTONIC` until `mono_ns`.
pub fn sleep_until(mono_ns: u64) {
    let t = timespec(mono_ns);
    // SAFETY: `t` is a valid timespec; a null remainder is allowed with
    // TIMER_ABSTIME.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &t,
            std::ptr::null_mut(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::monotonic_ns;

    #[test]
    fn it_fires_at_its_time_not_before() {
        let t = TimerFd::new().unwrap();
        let at = monotonic_ns() + 20_000_000;
        t.arm_at(at).unwrap();
        let mut fds = [libc::pollfd {
            fd: t.raw(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd; 1 s timeout.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, 1000) };
        assert_eq!(rc, 1);
        assert!(monotonic_ns() >= at);
        t.clear();
    }
}
