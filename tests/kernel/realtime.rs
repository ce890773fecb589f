//! Realtime scheduling refused: the engine keeps working at normal priority
//! and says so exactly once in its log. Run with `cargo xtask test` (the VM
//! runs tests as root, so the test first takes away what would let it
//! through: CAP_SYS_NICE on this thread, and the RLIMIT_RTPRIO soft limit).

use std::time::Duration;

use crate::common::*;
use phasorsync::backend::alsa_seq::AlsaConfig;
use phasorsync::engine::LogLevel;
use phasorsync::engine::MidiEngine;

const CAP_SYS_NICE: u32 = 23;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops CAP_SYS_NICE from this thread (threads it spawns inherit that) and
/// sets the realtime priority limit to 0.
fn forbid_realtime() {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header and room for two data structs.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget");
    data[0].effective &= !(1 << CAP_SYS_NICE);
    data[0].permitted &= !(1 << CAP_SYS_NICE);
    // SAFETY: capset on the calling thread (pid 0) with the data just read, minus one bit.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    assert_eq!(rc, 0, "capset");
    let lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lowering a limit with a valid rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_RTPRIO, &lim) };
    assert_eq!(rc, 0, "setrlimit");
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn refused_realtime_is_reported_once_and_input_still_works() {
    // The engine thread is spawned from this thread, so it inherits the caps.
    forbid_realtime();
    let mut r = start(AlsaConfig {
        rt_priority: Some(70),
        ..config()
    });
    let src = TestSource::new("rt-src");
    aconnect_addr(src.addr, r.in_addr());
    for k in 0..5 {
        src.note_on(0, 60 + k, 100);
    }
    assert_eq!(collect(&mut r.consumer, 5, Duration::from_secs(2)).len(), 5);
    let mut lines = Vec::new();
    while let Some(l) = r.news.pop_log() {
        lines.push(l);
    }
    let rt: Vec<_> = lines
        .iter()
        .filter(|l| l.message.contains("normal priority"))
        .collect();
    assert_eq!(rt.len(), 1, "{lines:?}");
    assert_eq!(rt[0].level, LogLevel::Warning);
    assert!(
        rt[0].message.contains("SCHED_FIFO priority 70"),
        "{}",
        rt[0].message
    );
    assert!(rt[0].message.contains("rtprio"), "{}", rt[0].message);

    // Deactivate/activate again: not repeated.
    r.engine.stop();
    let (p, _c) = phasorsync::ring::midi_buffer(16);
    r.engine
        .start(phasorsync::engine::EngineIo::input_only(p))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut again = Vec::new();
    while let Some(l) = r.news.pop_log() {
        again.push(l);
    }
    assert!(
        !again.iter().any(|l| l.message.contains("normal priority")),
        "{again:?}"
    );
    r.engine.stop();
}
