//! Input through the real kernel, driven by external clients: `amidi` writing
//! raw bytes into a `snd-virmidi` device (the kernel encodes them into
//! sequencer events, as for a USB keyboard) and `aplaymidi` playing a Standard
//! MIDI File the test writes. Run with `cargo xtask test`.

use std::time::Duration;

use crate::common::*;
use phasorsync::engine::MidiEngine;
use phasorsync::protocol::MidiEvent;
use phasorsync::timeline::monotonic_ns;

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn every_kind_via_amidi_arrives_intact_in_order_with_timestamps() {
    let mut r = start(config());
    aconnect_addr(virmidi_addr(0), r.in_addr());
    // SysEx, with its payload, has its own test below.
    let kinds: Vec<_> = every_kind()
        .into_iter()
        .filter(|(_, e)| !e.is_sysex())
        .collect();
    let bytes: Vec<u8> = kinds.iter().flat_map(|(b, _)| b.clone()).collect();
    let t0 = monotonic_ns();
    amidi_send_file("hw:0,0", &bytes);
    let t1 = monotonic_ns();
    let got = collect(&mut r.consumer, kinds.len(), Duration::from_secs(3));
    let events: Vec<MidiEvent> = got.iter().map(|g| g.msg.event).collect();
    let want: Vec<MidiEvent> = kinds.iter().map(|(_, e)| *e).collect();
    assert_eq!(events, want);
    let src = virmidi_addr(0);
    for g in &got {
        assert!(
            (t0..=t1).contains(&g.msg.time_ns),
            "timestamp {} outside the amidi run {t0}..{t1}",
            g.msg.time_ns
        );
        assert_eq!(g.msg.port, ((src.client as u16) << 8) | src.port as u16);
    }
    assert!(got.windows(2).all(|w| w[0].msg.time_ns <= w[1].msg.time_ns));
    let s = r.engine.stats();
    assert_eq!(s.received_messages, kinds.len() as u64);
    assert_eq!(s.received_bytes, bytes.len() as u64);
    assert_eq!((s.parse_errors, s.overruns, s.ring_full), (0, 0, 0));
    assert_eq!(r.engine.stats().unstamped, 0, "all stamped by the kernel");
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn aplaymidi_schedule_is_followed_by_the_timestamps() {
    let mut r = start(config());
    let a = r.in_addr();
    let sysex300: Vec<u8> = std::iter::once(0xF0)
        .chain((0..298).map(|i| (i % 128) as u8))
        .chain(std::iter::once(0xF7))
        .collect();
    // (ms, bytes): irregular gaps, several kinds, a 300-byte SysEx as one event.
    // Starts at 100 ms: aplaymidi writes its first events only after
    // starting its queue, so an event at 0 ms can only be late.
    let sched: Vec<(u32, Vec<u8>)> = vec![
        (100, vec![0x90, 60, 100]),
        (137, vec![0x80, 60, 0]),
        (200, vec![0xB0, 1, 64]),
        (201, vec![0xE0, 0, 0x40]),
        (350, sysex300.clone()),
        (500, vec![0xC0, 5]),
        (501, vec![0x91, 62, 1]),
        (750, vec![0xD0, 30]),
        (1000, vec![0x81, 62, 0]),
    ];

    let mut smf = Smf::new();
    let mut last = 0;
    for (ms, bytes) in &sched {
        if bytes[0] == 0xF0 {
            smf.sysex(ms - last, bytes);
        } else {
            smf.event(ms - last, bytes);
        }
        last = *ms;
    }
    let f = smf.write_temp();
    aplaymidi(&format!("{}:{}", a.client, a.port), &f, TOOL_TIMEOUT);
    let got = collect(&mut r.consumer, sched.len(), Duration::from_secs(3));
    assert_eq!(got.len(), sched.len(), "{got:?}");
    assert_eq!(got[4].sysex.as_deref(), Some(&sysex300[..]));
    // The schedule is relative: align on the median offset.
    let mut offs: Vec<i64> = got
        .iter()
        .zip(&sched)
        .map(|(g, (ms, _))| g.msg.time_ns as i64 - i64::from(*ms) * 1_000_000)
        .collect();
    let errs_raw = offs.clone();
    offs.sort_unstable();
    let base = offs[offs.len() / 2];
    let errs: Vec<i64> = errs_raw.iter().map(|o| (o - base) / 1000).collect();
    let worst = errs.iter().map(|e| e.abs() * 1000).max().unwrap_or(0);
    eprintln!("aplaymidi schedule: deviations (us) {errs:?}");
    // Kernel timestamps follow the sender's queue. Under emulation its timer
    // interrupt is now and then milliseconds late (that delivery is late,
    // and stamped so, truthfully), and a late stretch moves every event in
    // it: seen in a CI run on a quiet machine, the first four events 1.3 ms
    // late together, the rest on time; under load two events 3.6 and 2.6 ms
    // late, spoiling three of the eight intervals. So the median interval
    // must be its schedule's within 1 ms, and no event beyond 20 ms.
    let interval_errs: Vec<i64> = errs.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sorted: Vec<i64> = interval_errs.iter().map(|e| e.abs()).collect();
    sorted.sort_unstable();
    let median_interval = sorted[sorted.len() / 2];
    assert!(
        median_interval < 1000 && worst < 20_000_000,
        "deviations from the schedule (us): {errs:?}, of the intervals: {interval_errs:?}"
    );
    eprintln!("aplaymidi schedule: worst deviation {} us", worst / 1000);
    assert_eq!(r.engine.stats().unstamped, 0, "all stamped by the kernel");
    r.engine.stop();
}

fn sysex(len: usize) -> Vec<u8> {
    let mut v = vec![0xF0];
    v.extend((0..len - 2).map(|i| (i * 7 % 128) as u8));
    v.push(0xF7);
    v
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn sysex_small_chunked_max_and_oversize() {
    let mut r = start(config());
    aconnect_addr(virmidi_addr(0), r.in_addr());
    let max = phasorsync::protocol::DEFAULT_MAX_SYSEX;
    for len in [3usize, 300, 4096, max] {
        let sx = sysex(len);
        amidi_send_file("hw:0,0", &sx);
        let got = collect(&mut r.consumer, 1, Duration::from_secs(5));
        assert_eq!(got.len(), 1, "SysEx of {len} bytes did not arrive");
        assert_eq!(got[0].msg.event, MidiEvent::SysEx { len: len as u32 });
        assert_eq!(
            got[0].sysex.as_deref(),
            Some(&sx[..]),
            "SysEx of {len} bytes"
        );
    }
    // One byte too many: dropped, counted, and the stream goes on.
    let before = r.engine.stats();
    let mut bytes = sysex(max + 1);
    bytes.extend_from_slice(&[0x90, 1, 2]);
    amidi_send_file("hw:0,0", &bytes);
    let got = collect(&mut r.consumer, 1, Duration::from_secs(5));
    assert_eq!(
        got.iter().map(|g| g.msg.event).collect::<Vec<_>>(),
        vec![MidiEvent::NoteOn {
            channel: 0,
            key: 1,
            velocity: 2
        }]
    );
    let after = r.engine.stats();
    assert_eq!(after.sysex_oversize, before.sysex_oversize + 1);
    // One loss, one cause, one count: an oversize SysEx is not also "cut" or "ring full".
    assert_eq!(after.sysex_cut, before.sysex_cut, "one loss, one cause");
    assert_eq!(after.ring_full, before.ring_full, "one loss, one cause");
    assert_eq!(r.engine.stats().sysex_oversize, 1);
    assert_eq!(after.overruns, 0);
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn burst_of_10000_all_arrive_or_losses_are_counted() {
    let mut r = start(config());
    aconnect_addr(virmidi_addr(0), r.in_addr());
    const N: usize = 10_000;
    let mut bytes = Vec::with_capacity(3 * N);
    for i in 0..N {
        // Controller = high 7 bits, value = low 7 bits: each event is unique.
        bytes.extend_from_slice(&[0xB0, (i >> 7) as u8, (i & 0x7F) as u8]);
    }
    amidi_send_file("hw:0,0", &bytes);
    let got = collect_until_quiet(&mut r.consumer, Duration::from_millis(500));
    let s = r.engine.stats();
    let a = r.engine.alsa_stats();
    let kernel_lost = a.kernel_lost.expect("/proc/asound/seq/clients readable");
    let pool = a.kernel_pool.expect("procfs");
    // What the kernel offered to PhasorSync's input pool: one cell per CC
    // event. When the pool is full the kernel refuses the event, and
    // snd-virmidi then stops converting (it retries on the next write), so
    // amidi's last bytes can be dropped upstream when it closes the device:
    // those never reached PhasorSync and are reported apart.
    let offered = pool.alloc_success + pool.alloc_failures;
    assert_eq!(s.events, a.cells_read, "one cell per event here");
    eprintln!(
        "burst: {} of {N} arrived; kernel lost {kernel_lost}, overruns {}, ring drops {}; \
         offered to our pool {offered} cells of which {} notices (upstream of PhasorSync: {} never offered)",
        got.len(),
        s.overruns,
        s.ring_full,
        s.other_events,
        (N as u64 + s.other_events).saturating_sub(offered)
    );
    // Whatever did arrive is in order and intact.
    let mut last = None;
    for g in &got {
        let MidiEvent::ControlChange {
            controller, value, ..
        } = g.msg.event
        else {
            panic!("unexpected {:?}", g.msg.event)
        };
        let i = (usize::from(controller) << 7) | usize::from(value);
        assert!(last.is_none_or(|l| i > l), "out of order at {i}");
        last = Some(i);
    }
    // Every event offered to PhasorSync arrived, was a non-MIDI notice
    // (subscription, announcement), or is counted as lost.
    assert_eq!(
        got.len() as u64 + kernel_lost + s.ring_full + s.other_events,
        offered,
        "arrived + kernel losses + ring drops must account for every event offered"
    );
    assert!(offered <= N as u64 + s.other_events && offered > s.other_events);
    assert_eq!(
        kernel_lost > 0,
        s.overruns > 0,
        "kernel losses and overruns must go together"
    );
    if s.overruns == 0 {
        assert_eq!(got.len(), N, "no overrun, so everything must have arrived");
    }
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn burst_from_a_client_at_full_speed() {
    let mut r = start(config());
    let src = TestSource::new("burst-src");
    aconnect_addr(src.addr, r.in_addr());
    const N: u32 = 10_000;
    let refused = src.cc_burst(N);
    let got = collect_until_quiet(&mut r.consumer, Duration::from_millis(500));
    let s = r.engine.stats();
    let kernel_lost = r.engine.alsa_stats().kernel_lost.expect("procfs");
    eprintln!(
        "client burst: {} of {N} arrived; refused to the sender {refused}, kernel lost {kernel_lost}, overruns {}",
        got.len(),
        s.overruns
    );
    assert_eq!(got.len() as u64 + kernel_lost + s.ring_full, u64::from(N));
    assert!(kernel_lost >= refused);
    assert_eq!(kernel_lost > 0, s.overruns > 0);
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn timestamps_are_on_the_monotonic_clock() {
    let mut r = start(config());
    let src = TestSource::new("clock-src");
    aconnect_addr(src.addr, r.in_addr());
    let mut sent = Vec::new();
    for k in 0..200u8 {
        std::thread::sleep(Duration::from_millis(10));
        sent.push(src.note_on(0, k % 128, 1 + k % 100));
    }
    let got = collect(&mut r.consumer, sent.len(), Duration::from_secs(3));
    assert_eq!(got.len(), sent.len());
    // The kernel stamps during the sender's write, just after `sent`: the
    // difference is the write's own duration plus the conversion's error.
    let mut d: Vec<i64> = got
        .iter()
        .zip(&sent)
        .map(|(g, &t)| g.msg.time_ns as i64 - t as i64)
        .collect();
    d.sort_unstable();
    let (p1, p50, p90, p99) = (
        d[2],
        d[d.len() / 2],
        d[d.len() * 9 / 10],
        d[d.len() * 99 / 100],
    );
    eprintln!(
        "timestamp - send time: p1 {} us, p50 {} us, p90 {} us, p99 {} us",
        p1 / 1000,
        p50 / 1000,
        p90 / 1000,
        p99 / 1000
    );
    // Another clock (real time, the queue's own) would be seconds off.
    // Bounds for an emulated VM on a loaded machine, where the sender is
    // preempted between reading the clock and writing now and then (p99
    // 4.2 ms seen under load, so the p99 is printed, not asserted); on
    // hardware the spread is a few microseconds.
    assert!(p50.abs() < 500_000, "median {p50} ns");
    assert!(
        p1 > -2_000_000 && p90 < 3_000_000,
        "p1 {p1} ns, p90 {p90} ns"
    );
    r.engine.stop();
}
