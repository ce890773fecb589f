//! The queue's timer against a real kernel: with `snd-hrtimer` the queue runs
//! on it and nothing is logged; without it (in the test VM the module is
//! unloaded for the test and loaded again after) the queue falls back to the
//! system tick and the host log says so once, with the fix. Run with
//! `cargo xtask test`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;
use phasorsync::backend::alsa_seq::timer::QUEUE_TIMER_HZ;
use phasorsync::backend::alsa_seq::{AlsaConfig, TimerKind};
use phasorsync::engine::{LogLevel, LogLine, MidiEngine};

/// `/proc/asound/timers`.
fn timers() -> String {
    std::fs::read_to_string("/proc/asound/timers").expect("/proc/asound/timers")
}

/// Whether the kernel has the high-resolution timer (global timer 3) now.
fn hrtimer_loaded() -> bool {
    timers().lines().any(|l| l.starts_with("G3:"))
}

/// The name of the timer `queue` runs on, as the kernel's
/// `/proc/asound/seq/timer` says (`Timer for queue N : HR timer`).
fn timer_of_queue(queue: i32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/asound/seq/timer").expect("/proc/asound/seq/timer");
    let head = format!("Timer for queue {queue} : ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .map(|n| n.trim().to_string())
}

/// The log lines about the queue's timer.
fn timer_lines(lines: &[LogLine]) -> Vec<&LogLine> {
    lines
        .iter()
        .filter(|l| l.message.contains("snd-hrtimer"))
        .collect()
}

/// What a machine without the high-resolution timer must show: the queue on
/// the system tick, published, and one warning line with the fix, once.
fn assert_on_system_timer(mut eng: Running) {
    let queue = eng.engine.client().unwrap().queue;
    let name = timer_of_queue(queue).expect("our queue in /proc/asound/seq/timer");
    assert_eq!(name, "system timer");
    let t = eng.engine.alsa_stats().queue_timer.expect("timer known");
    assert_eq!(t.kind, TimerKind::System);
    assert!(t.period_ns >= 1_000_000, "a jiffy is at least 1 ms: {t:?}");
    assert_eq!(eng.engine.stats().queue_timer_period_ns, t.period_ns);
    let lines = log_lines(&eng.news);
    let warned = timer_lines(&lines);
    assert_eq!(warned.len(), 1, "{lines:?}");
    assert_eq!(warned[0].level, LogLevel::Warning);
    let m = &warned[0].message;
    assert!(
        m.contains("system timer") && m.contains("sudo modprobe snd-hrtimer"),
        "{m}"
    );
    eprintln!("logged: {m}");
    // Once: not again at the next start.
    eng.restart();
    let again = log_lines(&eng.news);
    assert!(timer_lines(&again).is_empty(), "{again:?}");
    eng.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn the_queue_runs_on_the_high_resolution_timer_when_there_is_one() {
    require_sequencer();
    let present = hrtimer_loaded();
    let in_vm = std::env::var("PHASORSYNC_KERNEL").as_deref() == Ok("vm");
    eprintln!("snd-hrtimer loaded before the engine started: {present}");
    assert!(
        present || !in_vm,
        "the test VM loads snd-hrtimer (xtask/src/vm/modules.rs), but the kernel has no \
         global timer 3:\n{}",
        timers()
    );
    let eng = start(config());
    // Asking for it may load it (the kernel's module alias snd-timer-3).
    if !hrtimer_loaded() {
        return assert_on_system_timer(eng);
    }
    let queue = eng.engine.client().unwrap().queue;
    let name = timer_of_queue(queue).expect("our queue in /proc/asound/seq/timer");
    assert_eq!(name, "HR timer");
    let t = eng.engine.alsa_stats().queue_timer.expect("timer known");
    assert_eq!(t.kind, TimerKind::HighResolution);
    assert_eq!(t.period_ns, 1_000_000_000 / u64::from(QUEUE_TIMER_HZ));
    assert_eq!(eng.engine.stats().queue_timer_period_ns, t.period_ns);
    let lines = log_lines(&eng.news);
    assert!(timer_lines(&lines).is_empty(), "{lines:?}");
    drop(eng);
    // A finer tick when asked for (the kernel's maximum, 6250 Hz: 160 µs).
    let fine = start(AlsaConfig {
        queue_timer_hz: 6250,
        ..config()
    });
    let t = fine.engine.alsa_stats().queue_timer.expect("timer known");
    assert_eq!(t.kind, TimerKind::HighResolution);
    assert_eq!(t.period_ns, 160_000);
    assert_eq!(fine.engine.stats().queue_timer_period_ns, 160_000);
}

/// `snd-hrtimer.ko` for the running kernel where `cargo xtask` caches the
/// VM's kernel (visible inside the VM: it mounts the host's filesystem).
fn cached_hrtimer_module() -> Option<PathBuf> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        roots.push(PathBuf::from(x).join("phasorsync/vm"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(h).join(".cache/phasorsync/vm"));
    }
    roots.push(PathBuf::from("/root/.cache/phasorsync/vm"));
    // The VM runs as root with HOME=/root; the cache may be a user's.
    if let Ok(homes) = std::fs::read_dir("/home") {
        roots.extend(
            homes
                .flatten()
                .map(|h| h.path().join(".cache/phasorsync/vm")),
        );
    }
    roots
        .into_iter()
        .map(|r| {
            r.join(format!(
                "linux-image-{}/mods/snd-hrtimer.ko",
                release.trim()
            ))
        })
        .find(|p| p.exists())
}

/// Unloads `snd-hrtimer` for its lifetime; loads it again on drop, even when
/// the test fails, so the test binaries after this one keep it.
struct HrtimerUnloaded(PathBuf);

impl HrtimerUnloaded {
    fn new() -> Self {
        let ko = cached_hrtimer_module().unwrap_or_else(|| {
            panic!(
                "snd-hrtimer.ko for this kernel not found in the VM kernel cache: not unloading it"
            )
        });
        let out = Command::new("rmmod")
            .arg("snd_hrtimer")
            .output()
            .expect("rmmod");
        assert!(
            out.status.success(),
            "rmmod snd_hrtimer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(ko)
    }
}

impl Drop for HrtimerUnloaded {
    fn drop(&mut self) {
        let ok = Command::new("insmod")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !hrtimer_loaded() {
            eprintln!("could not load {} again", self.0.display());
            if !std::thread::panicking() {
                panic!("could not load {} again", self.0.display());
            }
        }
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn without_the_high_resolution_timer_the_log_says_so_once() {
    require_sequencer();
    let in_vm = std::env::var("PHASORSYNC_KERNEL").as_deref() == Ok("vm");
    if !in_vm && hrtimer_loaded() {
        // Unloading a module from the developer's own kernel is not a
        // test's business; the VM run covers it (and CI runs in the VM).
        assert!(
            std::env::var_os("CI").is_none(),
            "under CI this test needs the VM (it unloads snd-hrtimer)"
        );
        eprintln!("not run natively with snd-hrtimer loaded: `cargo xtask test --vm` runs it");
        return;
    }
    let unloaded = in_vm.then(HrtimerUnloaded::new);
    assert!(!hrtimer_loaded(), "{}", timers());
    assert_on_system_timer(start(config()));
    drop(unloaded);
}

/// snd-seq's default timer for new queues (global timer device number).
const DEFAULT_TIMER_PARAM: &str = "/sys/module/snd_seq/parameters/seq_default_timer_device";

/// Makes the system timer snd-seq's default for new queues, for its
/// lifetime; the old default comes back on drop.
struct SystemTimerDefault(String);

impl SystemTimerDefault {
    fn new() -> Self {
        let old = std::fs::read_to_string(DEFAULT_TIMER_PARAM)
            .unwrap_or_else(|e| panic!("{DEFAULT_TIMER_PARAM}: {e}"));
        std::fs::write(DEFAULT_TIMER_PARAM, "0")
            .unwrap_or_else(|e| panic!("writing {DEFAULT_TIMER_PARAM}: {e}"));
        Self(old.trim().to_string())
    }
}

impl Drop for SystemTimerDefault {
    fn drop(&mut self) {
        let _ = std::fs::write(DEFAULT_TIMER_PARAM, &self.0);
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn the_high_resolution_timer_is_asked_for_not_left_to_the_default() {
    require_sequencer();
    let in_vm = std::env::var("PHASORSYNC_KERNEL").as_deref() == Ok("vm");
    if !in_vm {
        // Changing the kernel's defaults is not a test's business on the
        // developer's own machine; the VM run covers it (and CI runs there).
        assert!(
            std::env::var_os("CI").is_none(),
            "under CI this test needs the VM (it changes snd-seq's default timer)"
        );
        eprintln!("not run natively: `cargo xtask test --vm` runs it");
        return;
    }
    assert!(hrtimer_loaded(), "{}", timers());
    let _default = SystemTimerDefault::new();
    // A queue that does not ask now gets the system timer...
    let plain = alsa::seq::Seq::open(None, None, false).expect("open seq");
    let q = plain.alloc_queue().expect("queue");
    assert_eq!(timer_of_queue(q).as_deref(), Some("system timer"));
    drop(plain);
    // ...ours asks for the high-resolution one and gets it.
    let eng = start(config());
    let queue = eng.engine.client().unwrap().queue;
    assert_eq!(timer_of_queue(queue).as_deref(), Some("HR timer"));
    let t = eng.engine.alsa_stats().queue_timer.expect("timer known");
    assert_eq!(t.kind, TimerKind::HighResolution);
    let lines = log_lines(&eng.news);
    assert!(timer_lines(&lines).is_empty(), "{lines:?}");
}
