//! The MIDI thread's realtime priority: below the host's audio thread, never
//! above it. Run with `cargo xtask test` (the VM runs tests as root, so
//! SCHED_FIFO is granted).

mod alsa_support;

use std::time::Duration;

use alsa_support::*;
use phasorsync::backend::alsa_seq::AlsaEngine;

/// jackd's default realtime priority (`-P`), the lowest of the common audio
/// servers' audio threads (PipeWire's, under RTKit, is capped around 20).
const JACKD_DEFAULT_PRIORITY: i32 = 10;

/// (policy, priority) of the engine's MIDI thread, found by its name (which
/// the thread sets itself, a moment after `start()` returns).
fn midi_thread_sched(engine: &AlsaEngine) -> (i32, i32) {
    let mut found = None;
    wait_until(Duration::from_secs(3), || {
        found = find_midi_thread_sched(engine);
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no MIDI thread found"))
}

fn find_midi_thread_sched(engine: &AlsaEngine) -> Option<(i32, i32)> {
    let name = format!("{} MIDI", engine.client().unwrap().name);
    let comm: String = name.chars().take(15).collect();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap();
        let c = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if c.trim_end() == comm {
            let tid: i32 = task.file_name().to_string_lossy().parse().unwrap();
            let mut param = libc::sched_param { sched_priority: 0 };
            // SAFETY: plain queries of a thread id, with a valid out-pointer.
            let (policy, rc) = unsafe {
                (
                    libc::sched_getscheduler(tid),
                    libc::sched_getparam(tid, &mut param),
                )
            };
            assert!(policy >= 0 && rc == 0, "sched_get* of {tid}");
            return Some((policy, param.sched_priority));
        }
    }
    None
}

/// Wait until the MIDI thread runs with (policy, priority) `want`.
fn wait_sched(engine: &AlsaEngine, want: (i32, i32)) -> (i32, i32) {
    let mut seen = midi_thread_sched(engine);
    wait_until(Duration::from_secs(3), || {
        seen = midi_thread_sched(engine);
        seen == want
    });
    seen
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn default_priority_is_below_common_audio_threads() {
    let mut r = start(phasorsync::backend::alsa_seq::AlsaConfig::default());
    std::thread::sleep(Duration::from_millis(100));
    let (policy, prio) = midi_thread_sched(&r.engine);
    eprintln!("default MIDI thread scheduling: policy {policy}, priority {prio}");
    assert_eq!(
        policy,
        libc::SCHED_FIFO,
        "root in the VM may use SCHED_FIFO"
    );
    assert!(
        prio < JACKD_DEFAULT_PRIORITY,
        "SCHED_FIFO {prio} is not below jackd's default audio priority {JACKD_DEFAULT_PRIORITY}"
    );
    use phasorsync::engine::MidiEngine;
    r.engine.stop();
}
