//! SysEx output of any size, paced at the speed of a MIDI DIN wire (31250
//! baud, 10 bits a byte: 3125 bytes/s). A hardware port's kernel buffer
//! holds one page: a dump handed to it faster than the wire drains it is
//! cut there, while the sender counts it as sent. A timestamping receiver
//! (what a hardware port would be handed, with the kernel's delivery
//! times) checks that every byte arrives, in order, never faster than the
//! wire takes them, and that the host's other messages do not land inside
//! a SysEx. Run with `cargo xtask test`.

use std::time::Duration;

use crate::common::*;
use phasorsync::engine::{stream, MidiEngine};
use phasorsync::timeline::monotonic_ns;

const MS: u64 = 1_000_000;

/// Bytes a second on a MIDI DIN wire.
const WIRE_BYTES_PER_SEC: f64 = 3125.0;

/// A hardware port's kernel buffer: one page.
const PORT_BUFFER: f64 = 4096.0;

/// What arrived, as a receiver on a wire would read it.
#[derive(Debug, Default)]
struct Wire {
    /// Each SysEx whole, with the arrival times of its first and last events.
    sysex: Vec<(Vec<u8>, u64, u64)>,
    /// Other messages (not realtime) and their arrival times.
    messages: Vec<(Vec<u8>, u64)>,
    /// Realtime messages and their arrival times.
    realtime: Vec<(u8, u64)>,
    /// Messages (not realtime) that arrived while a SysEx was open.
    inside: Vec<Vec<u8>>,
    /// The most bytes a wire draining at its speed would have had waiting:
    /// what a hardware port's buffer must hold.
    most_waiting: f64,
}

/// Replays the arrivals as a byte stream on a wire.
fn on_the_wire(r: &Received) -> Wire {
    let mut w = Wire::default();
    let mut open: Option<(Vec<u8>, u64)> = None;
    let (mut waiting, mut last_t) = (0.0f64, None::<u64>);
    for a in &r.arrivals {
        let t = r.mono_ns(a);
        let drained = last_t.map_or(0.0, |l| {
            t.saturating_sub(l) as f64 / 1e9 * WIRE_BYTES_PER_SEC
        });
        waiting = (waiting - drained).max(0.0) + a.bytes.len() as f64;
        w.most_waiting = w.most_waiting.max(waiting);
        last_t = Some(t);
        let first = a.bytes[0];
        if first >= 0xF8 {
            w.realtime.push((first, t));
        } else if first == 0xF0 || (first < 0x80 && open.is_some()) {
            let (bytes, _) = open.get_or_insert_with(|| (Vec::new(), t));
            bytes.extend_from_slice(&a.bytes);
            if a.bytes.last() == Some(&0xF7) {
                let (bytes, start) = open.take().unwrap();
                w.sysex.push((bytes, start, t));
            }
        } else {
            if open.is_some() {
                w.inside.push(a.bytes.clone());
            }
            w.messages.push((a.bytes.clone(), t));
        }
    }
    w
}

/// The fewest seconds a SysEx of `len` bytes, cut into events of 256,
/// can take from its first event to its last at the wire's speed.
fn wire_span_s(len: usize) -> f64 {
    ((len - 1) / 256 * 256) as f64 / WIRE_BYTES_PER_SEC
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn a_dump_of_any_size_arrives_whole_at_the_wires_pace_with_notes_after_it() {
    require_sequencer();
    let mut tx = start(config());
    let rx = Receiver::start("sysex-wire", &[tx.out_addr()]);
    // Larger than the kernel output pool (2000 cells of 28 bytes: 11 cells
    // a 256-byte event, so at most 46 KB scheduled at once), and one that
    // fits it but not a hardware port's buffer.
    let dump = sysex(64 * 1024, 1);
    let patch = sysex(10 * 1024, 2);
    let note_on = [0x90, 60, 100];
    let note_off = [0x80, 60, 0];
    let t0 = monotonic_ns() + 100 * MS;
    assert!(tx.send(t0, &dump));
    // The host's next messages, due while the dump is still on the wire.
    assert!(tx.send(t0 + MS, &note_on));
    assert!(tx.send(t0 + 2 * MS, &patch));
    assert!(tx.send(t0 + 3 * MS, &note_off));
    // The clock runs on during a dump: realtime bytes may interleave.
    let clock_at = t0 + 2_000 * MS;
    assert!(tx.send_on(stream::CLOCK, clock_at, &[0xF8]));

    let total = dump.len() + patch.len();
    let events = dump.len().div_ceil(256) + patch.len().div_ceil(256) + 3;
    let wire_s = total as f64 / WIRE_BYTES_PER_SEC;
    let took = std::time::Instant::now();
    let n = rx.wait_count(events, Duration::from_secs_f64(wire_s * 1.5 + 10.0));
    // Anything more (a duplicate, a stray) would show in the checks below.
    std::thread::sleep(Duration::from_millis(300));
    let received = rx.stop();
    eprintln!(
        "{n} of {events} events in {:.1} s (the wire takes {wire_s:.1} s for {total} bytes)",
        took.elapsed().as_secs_f64()
    );
    let s = tx.engine.stats();
    eprintln!("sender: {s:?}");

    let w = on_the_wire(&received);
    let whole: Vec<&[u8]> = w.sysex.iter().map(|(b, _, _)| b.as_slice()).collect();
    assert!(
        whole.len() == 2 && whole[0] == &dump[..] && whole[1] == &patch[..],
        "the two SysEx did not arrive whole and in order: {} SysEx of {:?} bytes, {} events",
        whole.len(),
        whole.iter().map(|b| b.len()).collect::<Vec<_>>(),
        received.arrivals.len()
    );
    assert!(
        w.inside.is_empty(),
        "messages inside a SysEx: {:?}",
        w.inside
    );
    let order: Vec<&[u8]> = w.messages.iter().map(|(b, _)| b.as_slice()).collect();
    assert_eq!(order, [&note_on[..], &note_off[..]], "the host's notes");
    let (dump_end, patch_start) = (w.sysex[0].2, w.sysex[1].1);
    let (on_t, off_t) = (w.messages[0].1, w.messages[1].1);
    assert!(
        dump_end <= on_t && on_t <= patch_start && w.sysex[1].2 <= off_t,
        "the note-on must follow the dump's F7 and come before the patch, the \
         note-off after the patch"
    );
    // The clock was not held back behind the dump.
    assert_eq!(w.realtime.len(), 1, "{:?}", w.realtime);
    let clock_late_ms = (w.realtime[0].1 as f64 - clock_at as f64) / 1e6;
    assert!(
        w.realtime[0].1 < dump_end,
        "the clock waited for the dump: {clock_late_ms:.1} ms late"
    );

    for (sx, (bytes, first, last)) in ["64 KB dump", "10 KB patch"].iter().zip(&w.sysex) {
        let span = (last - first) as f64 / 1e9;
        let fewest = wire_span_s(bytes.len());
        eprintln!(
            "{sx}: {} bytes, first to last event {span:.2} s (the wire: {fewest:.2} s), {:.0} bytes/s",
            bytes.len(),
            (bytes.len() - (bytes.len() - 1) % 256 - 1) as f64 / span.max(1e-9)
        );
        // Timer ticks may deliver an event a little late, never early:
        // a 2 % allowance covers a late first event.
        assert!(
            span >= fewest * 0.98,
            "{sx} went out faster than the wire takes it: {span:.3} s < {fewest:.3} s"
        );
    }
    eprintln!(
        "most bytes waiting for the wire: {:.0} (a port's buffer: {PORT_BUFFER})",
        w.most_waiting
    );
    assert!(
        w.most_waiting <= PORT_BUFFER,
        "a hardware port's buffer would overflow: {:.0} bytes waiting",
        w.most_waiting
    );
    assert_eq!(
        (s.output_dropped, s.output_sysex_cut),
        (0, 0),
        "nothing dropped or cut: {s:?}"
    );
    tx.engine.stop();
}

/// A receiver that goes away in the middle of a dump got part of it: that
/// is counted as cut, and the receivers that stay get it whole.
#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn a_receiver_gone_in_the_middle_of_a_dump_is_counted_and_the_others_get_it_whole() {
    require_sequencer();
    let mut tx = start(config());
    let stays = Receiver::start("sysex-stays", &[tx.out_addr()]);
    let leaves = Receiver::start("sysex-leaves", &[tx.out_addr()]);
    // 1.3 s on the wire.
    let patch = sysex(4 * 1024, 3);
    let events = patch.len().div_ceil(256);
    assert!(tx.send(monotonic_ns() + 50 * MS, &patch));
    // A few events in, the second receiver's client closes.
    assert!(leaves.wait_count(3, DELIVERY_TIMEOUT) >= 3);
    let part = leaves.stop();
    assert_eq!(stays.wait_count(events, Duration::from_secs(10)), events);
    let got = on_the_wire(&stays.stop());
    assert_eq!(got.sysex.len(), 1, "the receiver that stayed: {got:?}");
    assert!(
        got.sysex[0].0 == patch,
        "the receiver that stayed got it whole"
    );
    assert!(
        part.arrivals.len() < events,
        "the dump was over before the receiver left: the test shows nothing"
    );
    let s = tx.engine.stats();
    assert_eq!(
        (s.output_sysex_cut, s.output_dropped),
        (1, 0),
        "one SysEx cut for a receiver: {s:?}"
    );
    assert_warned(&log_lines(&tx.news), "went away");
    tx.engine.stop();
}

/// A note-off that waits behind a dump still goes out when the engine stops
/// in the middle of the dump (no note left hanging), after the cut SysEx.
#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn a_note_off_waiting_behind_a_dump_goes_out_when_the_engine_stops() {
    require_sequencer();
    let mut tx = start(config());
    let rx = Receiver::start("sysex-stop", &[tx.out_addr()]);
    let patch = sysex(8 * 1024, 4);
    let (note_on, note_off) = ([0x90, 62, 100], [0x80, 62, 0]);
    let t0 = monotonic_ns() + 50 * MS;
    assert!(tx.send(t0, &note_on));
    assert!(tx.send(t0 + MS, &patch));
    assert!(tx.send(t0 + 2 * MS, &note_off));
    // A few events of the SysEx in, the engine stops.
    assert!(rx.wait_count(4, DELIVERY_TIMEOUT) >= 4);
    tx.engine.stop();
    std::thread::sleep(Duration::from_millis(300));
    let w = on_the_wire(&rx.stop());
    let notes: Vec<&[u8]> = w.messages.iter().map(|(b, _)| b.as_slice()).collect();
    assert_eq!(notes, [&note_on[..], &note_off[..]], "the notes: {w:?}");
    assert!(w.sysex.is_empty(), "the SysEx was cut: {w:?}");
    let s = tx.engine.stats();
    assert_eq!((s.output_sysex_cut, s.output_dropped), (1, 0), "{s:?}");
}

/// A raw MIDI device (virmidi here, as a USB or DIN port) takes events
/// into one page of kernel buffer: a SysEx larger than that arrives whole
/// only when it is handed over no faster than it is read.
#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn a_sysex_larger_than_a_ports_buffer_reaches_a_raw_midi_device_whole() {
    let dev = require_virmidi(1).remove(0);
    let mut tx = start(config());
    let capture = RawCapture::start(&dev);
    aconnect_addr(tx.out_addr(), dev.seq_addr());
    let patch = sysex(10 * 1024, 5);
    let note = [0x90, 64, 90];
    let t0 = monotonic_ns() + 50 * MS;
    assert!(tx.send(t0, &patch));
    assert!(tx.send(t0 + MS, &note));
    let want: Vec<u8> = patch.iter().chain(&note).copied().collect();
    let wire_s = want.len() as f64 / WIRE_BYTES_PER_SEC;
    capture.wait_bytes(want.len(), Duration::from_secs_f64(wire_s + 10.0));
    std::thread::sleep(Duration::from_millis(300));
    let got = capture.stop();
    let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
    assert!(
        got == want,
        "{} of {} bytes arrived, the first difference at {first_difference:?}",
        got.len(),
        want.len()
    );
    let s = tx.engine.stats();
    assert_eq!((s.output_dropped, s.output_sysex_cut), (0, 0), "{s:?}");
    tx.engine.stop();
}
