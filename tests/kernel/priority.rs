//! The MIDI thread's realtime priority: below the host's audio thread, never
//! above it. Run with `cargo xtask test` (the VM runs tests as root, so
//! SCHED_FIFO is granted).

use std::time::Duration;

use crate::common::*;
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

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn the_midi_thread_follows_the_host_audio_thread_priority() {
    use phasorsync::engine::rt;
    use phasorsync::engine::MidiEngine;
    let mut r = start(phasorsync::backend::alsa_seq::AlsaConfig::default());
    let fifo = |p| (libc::SCHED_FIFO, p);
    for (host, want) in [
        (Some(30), fifo(29)),
        (Some(5), fifo(4)),
        (Some(1), fifo(1)),
        (None, (libc::SCHED_OTHER, 0)),
        (Some(0), (libc::SCHED_OTHER, 0)),
        (Some(20), fifo(19)),
    ] {
        r.engine.set_priority_below(host);
        assert_eq!(wait_sched(&r.engine, want), want, "host {host:?}");
    }
    // Kept across stop/start.
    r.restart();
    assert_eq!(wait_sched(&r.engine, fifo(19)), fifo(19), "after a restart");

    // As the plugin will do it: read on a realtime thread, through a link.
    let link = r.engine.priority_link();
    let host = std::thread::spawn(move || {
        rt::set_current_thread_fifo(12).expect("root may use SCHED_FIFO");
        let sched = rt::current_thread_sched();
        link.set_priority_below(sched.realtime_priority());
        sched
    })
    .join()
    .unwrap();
    assert_eq!(host.realtime_priority(), Some(12));
    assert_eq!(wait_sched(&r.engine, fifo(11)), fifo(11));
    r.engine.stop();

    // A configuration without realtime stays at normal priority.
    let mut n = start(phasorsync::backend::alsa_seq::AlsaConfig {
        rt_priority: None,
        ..config()
    });
    n.engine.set_priority_below(Some(40));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(midi_thread_sched(&n.engine), (libc::SCHED_OTHER, 0));
    n.engine.stop();
}
