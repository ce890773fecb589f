//! Output: `send()` direct and scheduled on the queue at a monotonic time. A
//! second engine receives what the first sends, so this also checks the
//! queue-time ↔ monotonic conversion across two independent queues. Run with
//! `cargo xtask test`.

use std::time::Duration;

use crate::common::*;
use phasorsync::engine::MidiEngine;
use phasorsync::protocol::MidiEvent;
use phasorsync::timeline::monotonic_ns;

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn send_direct_and_scheduled_arrives_on_time() {
    let mut tx = start(config());
    let mut rx = start(config());
    aconnect_addr(tx.out_addr(), rx.in_addr());

    // Direct.
    let t0 = monotonic_ns();
    assert!(tx.send(0, &[0x92, 70, 80]));
    let got = collect(&mut rx.consumer, 1, Duration::from_secs(2));
    assert_eq!(
        got[0].msg.event,
        MidiEvent::NoteOn {
            channel: 2,
            key: 70,
            velocity: 80
        }
    );
    assert!(got[0].msg.time_ns >= t0);

    // Scheduled at several future times, sent out of order, once both
    // engines' clocks have settled (their first second, see clock.rs).
    std::thread::sleep(Duration::from_millis(1200));
    // The queue-time mapping is published with the engine's other news: our
    // queue started at 0 when the client opened, long after boot.
    assert!(
        tx.engine.stats().queue_offset_ns > 0,
        "no clock statistics: {:?}",
        tx.engine.stats()
    );
    let base = monotonic_ns() + 100_000_000;
    // Out of time order across the two output streams, each in its own
    // order (the engine keeps each stream's): the queue sorts them by time.
    let offsets_ms = [(20u64, 1u16), (120, 1), (0, 0), (75, 0)];
    for (i, (off, stream)) in offsets_ms.iter().enumerate() {
        assert!(tx.send_on(
            *stream,
            base + off * 1_000_000,
            &[0xB0, i as u8, *off as u8]
        ));
    }
    let got = collect(&mut rx.consumer, offsets_ms.len(), Duration::from_secs(2));
    assert_eq!(got.len(), offsets_ms.len());
    let mut worst = 0i64;
    let mut errs = Vec::new();
    let mut order = Vec::new();
    for g in &got {
        let MidiEvent::ControlChange { value, .. } = g.msg.event else {
            panic!("{:?}", g.msg.event)
        };
        order.push(u64::from(value));
        let err = g.msg.time_ns as i64 - (base + u64::from(value) * 1_000_000) as i64;
        worst = worst.max(err.abs());
        errs.push(err / 1000);
    }
    assert_eq!(order, [0, 20, 75, 120], "delivered in time order");
    eprintln!("scheduled output: deviations (us) {errs:?}");
    // The kernel's queue timer delivers; under emulation on a loaded host its
    // interrupts can run milliseconds late, and the VM stalls for tens of
    // ms at times (see the figures in the report). Sent at once instead of
    // scheduled, the last would be 120 ms early.
    assert!(
        worst < 20_000_000,
        "scheduled output off by {worst} ns: {errs:?}"
    );

    // A SysEx longer than one kernel event arrives whole.
    let mut sx = vec![0xF0];
    sx.extend((0..998).map(|i| (i % 100) as u8));
    sx.push(0xF7);
    assert!(tx.send(0, &sx));
    let got = collect(&mut rx.consumer, 1, Duration::from_secs(2));
    assert_eq!(got[0].sysex.as_deref(), Some(&sx[..]));

    // Invalid bytes cannot even be queued: the output ring is typed.
    assert!(!tx.send(0, &[0x40, 1]));
    let s = tx.engine.stats();
    assert_eq!(s.sent_bytes, 3 + 4 * 3 + sx.len() as u64);
    assert_eq!(s.output_dropped, 0);
    // The two sends for "now" (time 0) were due already: sent at once, counted late.
    assert_eq!(s.output_late, 2);
    tx.engine.stop();
    rx.engine.stop();
}

/// What the plugin queues as it stops (a clock Stop and note-offs, stamped a
/// few ms ahead like all output) must still reach the hardware: the engine's
/// queue, and every event waiting on it, ends with its client.
#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn what_is_queued_as_the_engine_stops_still_goes_out() {
    let mut tx = start(config());
    let mut rx = start(config());
    aconnect_addr(tx.out_addr(), rx.in_addr());
    std::thread::sleep(Duration::from_millis(300));

    // Stamped ahead, as the audio thread does in `deactivate` (its output
    // delay plus up to 50 ms of user offset; 200 ms here so that stopping,
    // which can take tens of ms in the VM, does not outlast it), then the
    // engine is stopped at once (the host's deactivate).
    let ahead = monotonic_ns() + 200_000_000;
    assert!(tx.send(ahead, &[0xFC, 0, 0][..1]));
    assert!(tx.send(ahead, &[0x80, 60, 0]));
    tx.engine.stop();

    let got = collect(&mut rx.consumer, 2, Duration::from_secs(2));
    let events: Vec<_> = got.iter().map(|g| g.msg.event).collect();
    assert_eq!(
        events,
        [
            MidiEvent::Stop,
            MidiEvent::NoteOff {
                channel: 0,
                key: 60,
                velocity: 0
            }
        ],
        "the last words before the engine stopped"
    );
    rx.engine.stop();
}

/// What the engine already scheduled on the kernel queue when it is told to
/// stop (the host's last block's note-off, `D` ahead) must still go out:
/// the queue, and every event waiting on it, ends with the client.
#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn what_is_scheduled_on_the_queue_as_the_engine_stops_still_goes_out() {
    let mut tx = start(config());
    let mut rx = start(config());
    aconnect_addr(tx.out_addr(), rx.in_addr());
    std::thread::sleep(Duration::from_millis(300));

    let ahead = monotonic_ns() + 150_000_000;
    assert!(tx.send(ahead, &[0x80, 61, 0]));
    // Long enough for the engine's look at the ring (every few ms): the
    // note-off is on the kernel queue, no longer in the ring.
    std::thread::sleep(Duration::from_millis(30));
    tx.engine.stop();

    let got = collect(&mut rx.consumer, 1, Duration::from_secs(2));
    let events: Vec<_> = got.iter().map(|g| g.msg.event).collect();
    assert_eq!(
        events,
        [MidiEvent::NoteOff {
            channel: 0,
            key: 61,
            velocity: 0
        }],
        "the note-off waiting on the queue as the engine stopped"
    );
    // At its time, not at once.
    assert!(
        got[0].msg.time_ns + 5_000_000 >= ahead,
        "it left {} ms early",
        (ahead - got[0].msg.time_ns) / 1_000_000
    );
    rx.engine.stop();
}

/// What is queued as the engine stops and is not due yet leaves at its own
/// time, not at once: a note stamped 60 ms long is not cut to a blip, and
/// clock ticks 20 ms apart do not go out as a burst before the Stop.
#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn what_is_queued_as_the_engine_stops_leaves_at_its_time() {
    let mut tx = start(config());
    let mut rx = start(config());
    aconnect_addr(tx.out_addr(), rx.in_addr());
    std::thread::sleep(Duration::from_millis(300));

    // 100 ms ahead, so that stopping (tens of ms in the VM) does not
    // outlast it, and all of it within the second a stopping engine waits
    // for (`PLAY_OUT_BOUND_NS`); then the engine is stopped at once. (Were it
    // closed before the note-off is due, the receiver would release the
    // note itself when the sender goes: a note-off, but no Stop.)
    let ahead = monotonic_ns() + 100_000_000;
    assert!(tx.send(ahead, &[0x90, 60, 100]));
    for k in 0..3 {
        assert!(tx.send(ahead + k * 20_000_000, &[0xF8, 0, 0][..1]));
    }
    assert!(tx.send(ahead + 60_000_000, &[0xFC, 0, 0][..1]));
    assert!(tx.send(ahead + 60_000_000, &[0x80, 60, 0]));
    tx.engine.stop();

    let got = collect(&mut rx.consumer, 6, Duration::from_secs(2));
    assert_eq!(got.len(), 6, "{got:?}");
    let at = |e: MidiEvent| {
        got.iter()
            .find(|g| g.msg.event == e)
            .map(|g| g.msg.time_ns)
            .expect("arrived")
    };
    let on = at(MidiEvent::NoteOn {
        channel: 0,
        key: 60,
        velocity: 100,
    });
    let off = at(MidiEvent::NoteOff {
        channel: 0,
        key: 60,
        velocity: 0,
    });
    assert!(
        off - on >= 50_000_000,
        "the note was cut to {} us",
        (off - on) / 1000
    );
    let ticks: Vec<u64> = got
        .iter()
        .filter(|g| g.msg.event == MidiEvent::TimingClock)
        .map(|g| g.msg.time_ns)
        .collect();
    // A burst would put them all together; one pair may come close when
    // the loaded VM stalls the queue's timer over a tick's time.
    let close = ticks
        .windows(2)
        .filter(|w| w[1] - w[0] < 15_000_000)
        .count();
    assert!(close <= 1, "a burst of clocks: {ticks:?}");
    assert!(at(MidiEvent::Stop) >= ticks[2], "the Stop overtook a clock");
    rx.engine.stop();
}
