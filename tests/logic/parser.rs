//! Targeted tests of the streaming parser: running status, realtime bytes
//! interleaved anywhere, SysEx across chunks, oversize and unterminated SysEx,
//! undefined status bytes, stray data, timestamps.

use phasorsync::protocol::{MidiEvent, MidiMessage, Parser, ParserConfig, ParserStats};

/// What the parser emitted: each message with its SysEx payload (empty otherwise).
type Out = Vec<(MidiMessage, Vec<u8>)>;

fn feed_all(p: &mut Parser, chunks: &[&[u8]]) -> Out {
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        p.feed(c, 1000 + i as u64, 3, |m, payload| {
            out.push((m, payload.to_vec()))
        });
    }
    out
}

fn events(out: &Out) -> Vec<MidiEvent> {
    out.iter().map(|(m, _)| m.event).collect()
}

fn parse(bytes: &[u8]) -> (Vec<MidiEvent>, ParserStats) {
    let mut p = Parser::default();
    let out = feed_all(&mut p, &[bytes]);
    (events(&out), p.stats())
}

const fn on(channel: u8, key: u8, velocity: u8) -> MidiEvent {
    MidiEvent::NoteOn {
        channel,
        key,
        velocity,
    }
}

const fn off(channel: u8, key: u8, velocity: u8) -> MidiEvent {
    MidiEvent::NoteOff {
        channel,
        key,
        velocity,
    }
}

#[test]
fn single_messages_and_stamping() {
    let mut p = Parser::default();
    let out = feed_all(&mut p, &[&[0x91, 60, 100], &[0xF8]]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, MidiMessage::new(1000, 3, on(1, 60, 100)));
    assert!(out[0].1.is_empty());
    assert_eq!(out[1].0, MidiMessage::new(1001, 3, MidiEvent::TimingClock));
    assert_eq!(p.stats().messages, 2);
    assert_eq!(p.stats().bytes, 4);
    assert_eq!(p.stats().dropped(), 0);
}

#[test]
fn running_status_repeats_the_last_channel_status() {
    // Note-on, then two more under running status (the second one velocity 0).
    let (ev, st) = parse(&[0x90, 60, 100, 62, 90, 60, 0]);
    assert_eq!(ev, vec![on(0, 60, 100), on(0, 62, 90), off(0, 60, 0)]);
    assert_eq!(st.messages, 3);
    assert_eq!(st.dropped(), 0);

    // One data byte messages too.
    let (ev, _) = parse(&[0xC2, 1, 2, 3]);
    let pc = |program| MidiEvent::ProgramChange {
        channel: 2,
        program,
    };
    assert_eq!(ev, vec![pc(1), pc(2), pc(3)]);

    // A new channel status replaces it.
    let (ev, _) = parse(&[0x90, 60, 100, 0xB1, 7, 100, 10, 64]);
    let cc = |controller, value| MidiEvent::ControlChange {
        channel: 1,
        controller,
        value,
    };
    assert_eq!(ev, vec![on(0, 60, 100), cc(7, 100), cc(10, 64)]);
}

#[test]
fn running_status_survives_chunk_boundaries_at_every_point() {
    let stream = [0x90, 60, 100, 62, 90, 0xF8, 64, 0xFE, 80, 0xE0, 0, 64, 1, 0];
    let (want, _) = parse(&stream);
    assert_eq!(want.len(), 7);
    for cut in 0..=stream.len() {
        for cut2 in cut..=stream.len() {
            let mut p = Parser::default();
            let out = feed_all(
                &mut p,
                &[&stream[..cut], &stream[cut..cut2], &stream[cut2..]],
            );
            assert_eq!(events(&out), want, "cuts at {cut}, {cut2}");
            assert_eq!(p.stats().dropped(), 0);
        }
    }
}

#[test]
fn system_common_cancels_running_status() {
    // After F3 (song select) the data bytes have no status: stray.
    let (ev, st) = parse(&[0x90, 60, 100, 0xF3, 5, 61, 100]);
    assert_eq!(ev, vec![on(0, 60, 100), MidiEvent::SongSelect(5)]);
    assert_eq!(st.stray_data_bytes, 2);

    // Tune request, a whole SysEx, a lone F7 and undefined F4/F5 all cancel it too.
    for cancel in [&[0xF6][..], &[0xF0, 1, 0xF7], &[0xF7], &[0xF4], &[0xF5]] {
        let mut stream = vec![0x90, 60, 100];
        stream.extend_from_slice(cancel);
        stream.extend_from_slice(&[61, 100]);
        let (ev, st) = parse(&stream);
        assert_eq!(ev[0], on(0, 60, 100));
        assert!(!ev.contains(&on(0, 61, 100)), "after {cancel:02X?}: {ev:?}");
        assert_eq!(st.stray_data_bytes, 2, "after {cancel:02X?}");
    }
}

#[test]
fn realtime_bytes_pass_through_anything_without_disturbing_it() {
    // A clock between the status and each data byte, under running status,
    // and inside a SysEx.
    let stream = [
        0x90, 0xF8, 60, 0xFA, 100, 61, 0xFC, 101, 0xF0, 1, 0xFE, 2, 0xFF, 0xF7, 0xE0, 0xF8, 0,
        0xF8, 64,
    ];
    let mut p = Parser::default();
    let out = feed_all(&mut p, &[&stream]);
    use MidiEvent::*;
    assert_eq!(
        events(&out),
        vec![
            TimingClock,
            Start,
            on(0, 60, 100),
            Stop,
            on(0, 61, 101),
            ActiveSensing,
            SystemReset,
            SysEx { len: 4 },
            TimingClock,
            TimingClock,
            PitchBend {
                channel: 0,
                value: 8192
            },
        ]
    );
    assert_eq!(out[7].1, vec![0xF0, 1, 2, 0xF7]);
    assert_eq!(p.stats().dropped(), 0);
}

#[test]
fn undefined_status_bytes_are_skipped_and_counted() {
    // Realtime-range undefined bytes (F9, FD) disturb nothing.
    let (ev, st) = parse(&[0x90, 0xF9, 60, 0xFD, 100, 61, 101]);
    assert_eq!(ev, vec![on(0, 60, 100), on(0, 61, 101)]);
    assert_eq!(st.undefined_status_bytes, 2);
    assert_eq!(st.truncated_messages, 0);

    // System-common-range ones (F4, F5) are status bytes: they cut a message
    // short and cancel running status.
    let (ev, st) = parse(&[0x90, 60, 0xF4, 100, 0xF5, 0x80, 1, 2]);
    assert_eq!(ev, vec![off(0, 1, 2)]);
    assert_eq!(st.undefined_status_bytes, 2);
    assert_eq!(st.truncated_messages, 1);
    assert_eq!(st.stray_data_bytes, 1);
}

#[test]
fn stray_data_and_truncated_messages_are_counted() {
    let (ev, st) = parse(&[1, 2, 3, 0x90, 60, 0x80, 60, 0, 0xF7]);
    assert_eq!(ev, vec![off(0, 60, 0)]);
    assert_eq!(st.stray_data_bytes, 3);
    assert_eq!(st.truncated_messages, 1);
    assert_eq!(st.stray_sysex_end, 1);
    assert_eq!(st.messages, 1);
    assert_eq!(st.dropped(), 5);
}

#[test]
fn sysex_is_reassembled_across_chunks_and_stamped_when_complete() {
    let payload: Vec<u8> = std::iter::once(0xF0)
        .chain((0..300u32).map(|i| (i % 128) as u8))
        .chain(std::iter::once(0xF7))
        .collect();
    let mut p = Parser::default();
    let chunks: Vec<&[u8]> = payload.chunks(7).collect();
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        p.feed(c, 10 * i as u64, 2, |m, b| out.push((m, b.to_vec())));
        if i + 1 < chunks.len() {
            assert!(out.is_empty(), "emitted before the F7");
        }
    }
    assert_eq!(out.len(), 1);
    let (m, bytes) = &out[0];
    assert_eq!(m.event, MidiEvent::SysEx { len: 302 });
    assert_eq!(
        m.time_ns,
        10 * (chunks.len() as u64 - 1),
        "time of the completing chunk"
    );
    assert_eq!(m.port, 2);
    assert_eq!(bytes, &payload);
    assert_eq!(p.stats().sysex_messages, 1);
}

#[test]
fn oversize_sysex_is_dropped_counted_and_parsing_resumes() {
    let max = 16;
    for len in [15usize, 16, 17, 40] {
        let mut stream = vec![0xF0];
        stream.extend((0..len - 2).map(|i| i as u8));
        stream.push(0xF7);
        stream.extend_from_slice(&[0x90, 60, 100]);
        for chunk in [1, 3, 64] {
            let mut p = Parser::new(ParserConfig { max_sysex: max });
            let chunks: Vec<&[u8]> = stream.chunks(chunk).collect();
            let out = feed_all(&mut p, &chunks);
            let st = p.stats();
            if len <= max {
                assert_eq!(events(&out)[0], MidiEvent::SysEx { len: len as u32 });
                assert_eq!(out[0].1.len(), len);
                assert_eq!(st.sysex_oversize, 0);
            } else {
                assert_eq!(st.sysex_oversize, 1, "len {len} chunk {chunk}");
                assert_eq!(out.len(), 1);
            }
            assert_eq!(out.last().unwrap().0.event, on(0, 60, 100));
            assert_eq!(st.sysex_unterminated, 0);
        }
    }
    // The default bound is 64 KiB, framing included.
    let mut p = Parser::default();
    assert_eq!(p.max_sysex(), 64 * 1024);
    let mut big = vec![0xF0];
    big.resize(64 * 1024 - 1, 0x11);
    big.push(0xF7);
    let out = feed_all(&mut p, &[&big]);
    assert_eq!(out[0].0.event, MidiEvent::SysEx { len: 65536 });
    big.insert(1, 0x11);
    let out = feed_all(&mut p, &[&big]);
    assert!(out.is_empty());
    assert_eq!(p.stats().sysex_oversize, 1);
}

#[test]
fn unterminated_sysex_is_dropped_and_its_terminator_starts_a_message() {
    // A note-on status ends the SysEx: the SysEx is lost, the note is not.
    let (ev, st) = parse(&[0xF0, 1, 2, 0x91, 60, 100, 61, 100]);
    assert_eq!(ev, vec![on(1, 60, 100), on(1, 61, 100)]);
    assert_eq!(st.sysex_unterminated, 1);

    // A new F0 ends it too and starts a SysEx of its own.
    let mut p = Parser::default();
    let out = feed_all(&mut p, &[&[0xF0, 1, 2], &[0xF0, 3], &[0xF7]]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, vec![0xF0, 3, 0xF7]);
    assert_eq!(p.stats().sysex_unterminated, 1);

    // So does a system common message, and an undefined F4.
    let (ev, st) = parse(&[0xF0, 1, 0xF2, 0, 1, 0xF0, 0xF4]);
    assert_eq!(ev, vec![MidiEvent::SongPosition(128)]);
    assert_eq!(st.sysex_unterminated, 2);
    assert_eq!(st.undefined_status_bytes, 1);

    // An oversize SysEx that is also unterminated counts once, as oversize.
    let mut p = Parser::new(ParserConfig { max_sysex: 4 });
    feed_all(&mut p, &[&[0xF0, 1, 2, 3, 4, 5, 0x90, 1, 1]]);
    assert_eq!(p.stats().sysex_oversize, 1);
    assert_eq!(p.stats().sysex_unterminated, 0);
    assert_eq!(p.stats().messages, 1);
}

#[test]
fn reset_forgets_stream_state_but_keeps_counters() {
    let mut p = Parser::default();
    feed_all(&mut p, &[&[5, 0x90, 60, 100, 0xF0, 1]]);
    p.reset();
    // No running status, no SysEx in progress after reset.
    let out = feed_all(&mut p, &[&[61, 100, 0xF7, 0x80, 1, 1]]);
    assert_eq!(events(&out), vec![off(0, 1, 1)]);
    let st = p.stats();
    assert_eq!(st.stray_data_bytes, 3);
    assert_eq!(st.stray_sysex_end, 1);
    assert_eq!(st.sysex_unterminated, 0);
    p.reset_stats();
    assert_eq!(p.stats(), ParserStats::default());
}

#[test]
fn tiny_or_huge_sysex_bounds_are_clamped() {
    let mut p = Parser::new(ParserConfig { max_sysex: 0 });
    assert_eq!(p.max_sysex(), 2);
    let out = feed_all(&mut p, &[&[0xF0, 0xF7, 0xF0, 1, 0xF7]]);
    assert_eq!(events(&out), vec![MidiEvent::SysEx { len: 2 }]);
    assert_eq!(p.stats().sysex_oversize, 1);
}

#[test]
fn every_byte_pair_and_triple_is_survived() {
    // Exhaustive over short streams: no panic, and every byte is accounted for.
    let mut p = Parser::new(ParserConfig { max_sysex: 8 });
    for a in 0u8..=255 {
        for b in 0u8..=255 {
            for c in [0u8, 0x40, 0x7F, 0x80, 0x90, 0xF0, 0xF7, 0xF8, 0xFF] {
                p.reset();
                feed_all(&mut p, &[&[a], &[b, c]]);
            }
        }
    }
    assert_eq!(p.stats().bytes, 256 * 256 * 9 * 3);
}
