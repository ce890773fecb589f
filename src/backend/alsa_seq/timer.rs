//! Which timer our queue runs on, and asking for the high-resolution one.
//!
//! A sequencer queue dispatches scheduled events on its timer's ticks. On the
//! system timer a tick is a jiffy (4 ms at HZ=250): scheduled output is then
//! spread over ±4 ms. `snd-hrtimer` (ALSA global timer 3) ticks at the
//! queue's chosen frequency instead. Debian-like kernels make it the default
//! when it is loaded, and asking for it explicitly makes the kernel try to
//! load it (`snd-timer-3` is its module alias); when it cannot, the kernel
//! silently falls back to the system timer. So [`request_high_resolution`]
//! asks, and [`in_use`] reads what the kernel actually opened, from
//! `/proc/asound/timers`, where every open timer lists its users
//! (`Client sequencer queue N`): the queue-timer request itself keeps
//! reporting what was asked for, not what runs.

use std::os::fd::RawFd;

use super::raw::{set_queue_timer, TimerId};

/// Queue ticks a second asked for on the high-resolution timer: scheduled
/// events are dispatched on these ticks, so this is the output's granularity
/// (1 ms). It is the kernel's default frequency, the one `aplaymidi` and other
/// sequencer clients get; the kernel allows up to 6250 Hz (160 µs), at the
/// cost of that many timer interrupts a second for as long as the plugin runs.
pub const QUEUE_TIMER_HZ: u32 = 1000;

/// The kernel's bounds and default for a queue's tick frequency
/// (`sound/core/seq/seq_timer.c`).
const KERNEL_MIN_HZ: u32 = 10;
const KERNEL_MAX_HZ: u32 = 6250;
const KERNEL_DEFAULT_HZ: u32 = 1000;

/// Kinds of timer a queue can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// `snd-hrtimer`, ALSA global timer 3.
    HighResolution,
    /// The system tick (global timer 0): jiffies.
    System,
    /// Anything else (a sound card's or PCM timer, another global timer).
    Other,
}

/// The timer a queue runs on, as the kernel lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueTimer {
    /// Which kind.
    pub kind: TimerKind,
    /// The timer's own resolution, ns.
    pub resolution_ns: u64,
    /// The queue's tick period on it, ns: how far apart the moments are at
    /// which scheduled events can go out.
    pub period_ns: u64,
}

/// `snd_timer_id` of the high-resolution timer, as a queue asks for it.
fn hrtimer_id() -> TimerId {
    TimerId {
        dev_class: alsa_sys::SND_TIMER_CLASS_GLOBAL,
        // The kernel sets the sequencer slave class itself.
        dev_sclass: alsa_sys::SND_TIMER_SCLASS_NONE as i32,
        card: -1,
        device: alsa_sys::SND_TIMER_GLOBAL_HRTIMER as i32,
        subdevice: 0,
    }
}

/// Asks for `queue` to run on the high-resolution timer at
/// [`QUEUE_TIMER_HZ`]. `Ok` means the kernel took the request, not that the
/// timer exists: see [`in_use`].
///
/// # Errors
/// The kernel refused the request.
pub fn request_high_resolution(fd: RawFd, queue: i32) -> Result<(), String> {
    set_queue_timer(fd, queue, hrtimer_id(), QUEUE_TIMER_HZ)
        .map_err(|e| format!("asking for the high-resolution queue timer: {e}"))
}

/// The timer `queue` runs on, from `/proc/asound/timers`, given the
/// frequency asked for (`hz`, 0 for the kernel's default). `None` without
/// procfs or when the queue is not listed.
pub fn in_use(queue: i32, hz: u32) -> Option<QueueTimer> {
    let text = std::fs::read_to_string("/proc/asound/timers").ok()?;
    parse_timers(&text, queue, hz)
}

/// The timer in `/proc/asound/timers` text that lists `sequencer queue N`.
fn parse_timers(text: &str, queue: i32, hz: u32) -> Option<QueueTimer> {
    let user = format!("Client sequencer queue {queue} :");
    let mut timer: Option<&str> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            timer = Some(line);
        } else if line.trim_start().starts_with(&user) {
            return timer.map(|t| describe(t, hz));
        }
    }
    None
}

/// A timer's header line, e.g. `G3: HR timer : 0.001us (1000000000 ticks)`.
fn describe(header: &str, hz: u32) -> QueueTimer {
    let (id, rest) = header.split_once(": ").unwrap_or((header, ""));
    let res = rest.split_once(" : ").map_or("", |(_, r)| r);
    let kind = match id {
        "G0" => TimerKind::System,
        "G3" => TimerKind::HighResolution,
        _ => TimerKind::Other,
    };
    let resolution_ns = res
        .split_whitespace()
        .next()
        .and_then(|r| r.strip_suffix("us"))
        .and_then(parse_us_as_ns)
        .unwrap_or(0);
    QueueTimer {
        kind,
        resolution_ns,
        period_ns: tick_period_ns(resolution_ns, hz),
    }
}

/// `4000.000` (µs, three decimals as the kernel prints them) → ns.
fn parse_us_as_ns(us: &str) -> Option<u64> {
    let (whole, frac) = us.split_once('.').unwrap_or((us, "0"));
    let frac: String = frac.chars().chain("000".chars()).take(3).collect();
    Some(whole.parse::<u64>().ok()? * 1000 + frac.parse::<u64>().ok()?)
}

/// The queue's tick on a timer of `resolution_ns`, as the kernel sets it up:
/// a whole number of timer ticks (at least one) near `1 s / hz`.
fn tick_period_ns(resolution_ns: u64, hz: u32) -> u64 {
    if resolution_ns == 0 {
        return 0;
    }
    let hz = if hz == 0 {
        KERNEL_DEFAULT_HZ
    } else {
        hz.clamp(KERNEL_MIN_HZ, KERNEL_MAX_HZ)
    };
    let ticks = (1_000_000_000 / (resolution_ns * u64::from(hz))).max(1);
    resolution_ns * ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMERS: &str = "G0: system timer : 4000.000us (10000000 ticks)\n\
                          \x20 Client sequencer queue 1 : stopped\n\
                          G3: HR timer : 0.001us (1000000000 ticks)\n\
                          \x20 Client sequencer queue 0 : running\n\
                          \x20 Client sequencer queue 2 : running\n\
                          P0-0-0: PCM playback 0-0-0 : SLAVE\n";

    #[test]
    fn finds_the_timer_listing_our_queue() {
        let hr = parse_timers(TIMERS, 2, 1000).unwrap();
        assert_eq!(hr.kind, TimerKind::HighResolution);
        assert_eq!(hr.resolution_ns, 1);
        assert_eq!(hr.period_ns, 1_000_000);
        let sys = parse_timers(TIMERS, 1, 1000).unwrap();
        assert_eq!(sys.kind, TimerKind::System);
        assert_eq!(sys.resolution_ns, 4_000_000);
        assert_eq!(sys.period_ns, 4_000_000, "one jiffy per queue tick");
        assert_eq!(parse_timers(TIMERS, 7, 1000), None);
        assert_eq!(parse_timers("", 0, 1000), None);
    }

    #[test]
    fn tick_periods_follow_the_kernel() {
        assert_eq!(tick_period_ns(1, 0), 1_000_000, "default 1 kHz");
        assert_eq!(tick_period_ns(1, 100_000), 160_000, "at most 6250 Hz");
        assert_eq!(tick_period_ns(1_000_000, 1000), 1_000_000);
        assert_eq!(tick_period_ns(0, 1000), 0, "unknown");
        assert_eq!(parse_us_as_ns("0.001"), Some(1));
        assert_eq!(parse_us_as_ns("10.5"), Some(10_500));
    }
}
