//! Which timer our queue runs on, and asking for the high-resolution one.
//!
//! A sequencer queue dispatches scheduled events on its timer's ticks. On the
//! system timer a tick is a jiffy (4 ms at HZ=250): scheduled output is then
//! spread over ±4 ms. `snd-hrtimer` (ALSA global timer 3) ticks at the
//! queue's chosen frequency instead. Debian-like kernels make it the default
//! when it is loaded, and asking for it explicitly makes the kernel try to
//! load it (`snd-timer-3` is its module alias); when it cannot, the kernel
//! silently falls back to the system timer. So `request_high_resolution`
//! asks, and `in_use` reads what the kernel actually opened, from
//! `/proc/asound/seq/timer` (`Timer for queue N : HR timer`, and the queue's
//! tick period): the queue-timer request itself keeps reporting what was
//! asked for, not what runs.

use std::os::fd::RawFd;

use super::raw::{set_queue_timer, TimerId};

/// Queue ticks a second asked for on the high-resolution timer by default
/// ([`super::AlsaConfig::queue_timer_hz`]): scheduled events are dispatched
/// on these ticks, so this is the output's granularity: 250 µs. The kernel's
/// default, which `aplaymidi` and other sequencer clients get, is 1000 Hz
/// (1 ms: a clock tick lands anywhere in a millisecond, which is what the
/// clock-out benchmark's floor shows); the kernel allows up to 6250 Hz
/// (160 µs). 4000 Hz buys a 4× finer grid for 4000 kernel timer callbacks a
/// second per plugin instance (cheap on hardware; JACK at 64 frames wakes
/// 750 times), while several instances do not add up to an interrupt storm.
pub const QUEUE_TIMER_HZ: u32 = 4000;

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
    /// The queue's tick period on it, ns: how far apart the moments are at
    /// which scheduled events can go out (0 if the kernel does not say).
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

/// Asks for `queue` to run on the high-resolution timer at `hz` ticks a
/// second (0: the kernel's default). `Ok` means the kernel took the request,
/// not that the timer exists: see [`in_use`].
///
/// # Errors
/// The kernel refused the request.
pub(crate) fn request_high_resolution(fd: RawFd, queue: i32, hz: u32) -> Result<(), String> {
    set_queue_timer(fd, queue, hrtimer_id(), hz)
        .map_err(|e| format!("asking for the high-resolution queue timer: {e}"))
}

/// The timer `queue` runs on, from `/proc/asound/seq/timer`. `None` without
/// procfs or when the queue is not listed.
pub(crate) fn in_use(queue: i32) -> Option<QueueTimer> {
    let text = std::fs::read_to_string("/proc/asound/seq/timer").ok()?;
    parse_seq_timer(&text, queue)
}

/// The entry of `queue` in `/proc/asound/seq/timer` text:
/// `Timer for queue 0 : HR timer` then `  Period time : 0.001000000`.
fn parse_seq_timer(text: &str, queue: i32) -> Option<QueueTimer> {
    let head = format!("Timer for queue {queue} : ");
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&head));
    let name = lines.next()?.strip_prefix(&head)?.trim();
    let kind = match name {
        "HR timer" => TimerKind::HighResolution,
        "system timer" => TimerKind::System,
        _ => TimerKind::Other,
    };
    let period_ns = lines
        .take_while(|l| l.starts_with(char::is_whitespace))
        .find_map(|l| l.trim().strip_prefix("Period time :"))
        .and_then(|p| parse_seconds_as_ns(p.trim()))
        .unwrap_or(0);
    Some(QueueTimer { kind, period_ns })
}

/// `0.004000000` (seconds, nine decimals as the kernel prints them) → ns.
fn parse_seconds_as_ns(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac: String = frac.chars().chain("000000000".chars()).take(9).collect();
    Some(whole.parse::<u64>().ok()? * 1_000_000_000 + frac.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ_TIMER: &str = "Timer for queue 0 : HR timer\n\
                             \x20 Period time : 0.001000000\n\
                             \x20 Skew : 65536 / 65536\n\
                             Timer for queue 2 : system timer\n\
                             \x20 Period time : 0.004000000\n\
                             \x20 Skew : 65536 / 65536\n\
                             Timer for queue 3 : PCM playback 0-0-0\n";

    #[test]
    fn finds_our_queues_timer_and_period() {
        let hr = parse_seq_timer(SEQ_TIMER, 0).unwrap();
        assert_eq!(hr.kind, TimerKind::HighResolution);
        assert_eq!(hr.period_ns, 1_000_000);
        let sys = parse_seq_timer(SEQ_TIMER, 2).unwrap();
        assert_eq!(sys.kind, TimerKind::System);
        assert_eq!(sys.period_ns, 4_000_000);
        let other = parse_seq_timer(SEQ_TIMER, 3).unwrap();
        assert_eq!(other.kind, TimerKind::Other);
        assert_eq!(other.period_ns, 0, "no period listed");
        assert_eq!(parse_seq_timer(SEQ_TIMER, 1), None);
        assert_eq!(parse_seq_timer("", 0), None);
        assert_eq!(parse_seconds_as_ns("1.5"), Some(1_500_000_000));
    }
}
