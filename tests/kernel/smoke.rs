//! Smoke tests of the kernel the ALSA tests run on, and of the shared test
//! support in `tests/support/common/`.
//!
//! The ignored tests need a kernel sequencer with `snd-seq-dummy`,
//! `snd-virmidi` and `snd-hrtimer`: `cargo xtask test` runs them natively or
//! in its qemu VM. They check the facts the other kernel tests build on:
//! the clients exist, raw bytes become sequencer events through the kernel's
//! own encoder and back, a Standard MIDI File written by `common::Smf` plays,
//! and queues run on the high-resolution timer. The other tests here are
//! plain unit tests of the parsers and the SMF writer; they run everywhere.

use crate::common;
use crate::common::{
    aplaymidi, parse_aconnect_list, parse_amidi_dump, push_varlen, require_sequencer,
    require_virmidi, seq_clients, wait_until, DumpEvent, RawCapture, SeqDump, Smf,
    DELIVERY_TIMEOUT,
};
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn aconnect_lists_midi_through_and_the_virmidi_clients() {
    require_sequencer();
    let clients = seq_clients();
    let through = clients
        .iter()
        .find(|c| c.id == 14)
        .unwrap_or_else(|| panic!("no client 14 (snd-seq-dummy): {clients:#?}"));
    assert_eq!(through.name, "Midi Through");
    assert!(through.is_kernel(), "{through:?}");
    assert_eq!(through.ports[0].name, "Midi Through Port-0");

    let devs = require_virmidi(2);
    for (i, dev) in devs.iter().take(2).enumerate() {
        let client = clients.iter().find(|c| c.id == dev.client).expect("listed");
        assert!(client.is_kernel(), "{client:?}");
        assert!(
            client.attrs.contains(&format!("card={}", dev.card)),
            "{client:?}"
        );
        assert_eq!(dev.device, u32::try_from(i).expect("small"));
        assert_eq!(
            client.ports[0].name,
            format!("VirMIDI {}-{}", dev.card, dev.device)
        );
    }
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn amidi_bytes_come_out_of_the_virmidi_port_as_events() {
    let dev = require_virmidi(1).remove(0);
    let dump = SeqDump::start(&dev.addr());
    // Note on ch 1 key 60 vel 100, a second one in running status, note off,
    // CC 7, program change, channel and poly aftertouch, pitch bend centre,
    // a SysEx, then realtime and system-common messages.
    let sent = [
        0x90, 0x3C, 0x64, 0x3E, 0x50, 0x80, 0x3C, 0x40, 0xB0, 0x07, 0x7F, 0xC5, 0x05, 0xD0, 0x40,
        0xA0, 0x3C, 0x20, 0xE0, 0x00, 0x40, 0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7, 0xF8, 0xFA, 0xFC,
        0xF2, 0x10, 0x20, 0xF3, 0x05,
    ];
    common::amidi_send(&dev.raw(), &sent);
    let want: [(&str, Option<u8>, &str); 14] = [
        ("Note on", Some(0), "note 60, velocity 100"),
        ("Note on", Some(0), "note 62, velocity 80"),
        ("Note off", Some(0), "note 60, velocity 64"),
        ("Control change", Some(0), "controller 7, value 127"),
        ("Program change", Some(5), "program 5"),
        ("Channel aftertouch", Some(0), "value 64"),
        ("Polyphonic aftertouch", Some(0), "note 60, value 32"),
        ("Pitch bend", Some(0), "value 0"),
        ("System exclusive", None, "F0 7E 7F 06 01 F7"),
        ("Clock", None, ""),
        ("Start", None, ""),
        ("Stop", None, ""),
        ("Song position pointer", None, "value 4112"),
        ("Song select", None, "value 5"),
    ];
    let got = dump.wait_events(want.len(), DELIVERY_TIMEOUT);
    let got: Vec<(&str, Option<u8>, &str)> = got
        .iter()
        .map(|e| {
            assert_eq!(e.source, dev.addr(), "{e:?}");
            (e.kind.as_str(), e.channel, e.data.as_str())
        })
        .collect();
    assert_eq!(got, want, "aseqdump -p {} after amidi -S", dev.addr());
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn an_smf_played_to_a_virmidi_port_comes_out_of_its_raw_device() {
    let dev = require_virmidi(2).remove(1);
    let capture = RawCapture::start(&dev);
    let mut smf = Smf::new();
    smf.event(0, &[0x90, 0x3C, 0x64])
        .event(20, &[0xB3, 0x40, 0x7F])
        .sysex(10, &[0xF0, 0x43, 0x10, 0x4C, 0x00, 0xF7])
        .event(10, &[0xE0, 0x7F, 0x7F])
        .event(30, &[0x80, 0x3C, 0x00]);
    let file = smf.write_temp();
    let started = Instant::now();
    aplaymidi(&dev.addr(), &file, Duration::from_secs(30));
    let played_for = started.elapsed();
    let want = [
        0x90, 0x3C, 0x64, 0xB3, 0x40, 0x7F, 0xF0, 0x43, 0x10, 0x4C, 0x00, 0xF7, 0xE0, 0x7F, 0x7F,
        0x80, 0x3C, 0x00,
    ];
    let got = capture.wait_bytes(want.len(), DELIVERY_TIMEOUT);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        got,
        want,
        "amidi -d on {} while aplaymidi played",
        dev.raw()
    );
    // The file lasts 70 ms: aplaymidi waits for its queue to play it out.
    assert!(
        played_for >= Duration::from_millis(70),
        "aplaymidi returned after {played_for:?}"
    );
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn sequencer_queues_run_on_the_high_resolution_timer() {
    require_sequencer();
    // A file that plays for 3 s into Midi Through keeps aplaymidi's queue
    // alive long enough to read the queue's timer.
    let mut smf = Smf::new();
    smf.event(0, &[0x90, 0x3C, 0x64])
        .event(3000, &[0x80, 0x3C, 0x40]);
    let file = smf.write_temp();
    let path = file.to_str().expect("utf-8").to_string();
    let mut player = std::process::Command::new("aplaymidi")
        .args(["-p", "14:0", &path])
        .spawn()
        .expect("aplaymidi");
    let mut timers = String::new();
    let seen = wait_until(DELIVERY_TIMEOUT, || {
        timers = std::fs::read_to_string("/proc/asound/seq/timer").unwrap_or_default();
        timers.contains("Timer for queue")
    });
    let _ = player.kill();
    let _ = player.wait();
    let _ = std::fs::remove_file(&file);
    assert!(
        seen,
        "aplaymidi's queue never showed up in /proc/asound/seq/timer"
    );
    assert!(
        timers.contains(": HR timer"),
        "the queue runs on the system tick, not the high-resolution timer \
         (load snd-hrtimer before snd-seq); /proc/asound/seq/timer:\n{timers}"
    );
}

#[test]
fn aconnect_listing_is_parsed() {
    let text = "client 0: 'System' [type=kernel]\n    0 'Timer           '\n\tConnecting To: 15:0\n    1 'Announce        '\n\tConnecting To: 128:0[real:0], 129:1\nclient 16: 'Virtual Raw MIDI 0-0' [type=kernel,card=0]\n    0 'VirMIDI 0-0     '\n\tConnected From: 128:0\nclient 128: 'aseqdump' [type=user,pid=125]\n    0 'aseqdump        '\n";
    let clients = parse_aconnect_list(text);
    assert_eq!(clients.len(), 3);
    assert_eq!(clients[0].ports[1].name, "Announce");
    assert_eq!(clients[0].ports[1].connecting_to, ["128:0", "129:1"]);
    assert_eq!(clients[1].id, 16);
    assert_eq!(clients[1].name, "Virtual Raw MIDI 0-0");
    assert_eq!(clients[1].attrs, "type=kernel,card=0");
    assert!(clients[1].is_kernel() && !clients[2].is_kernel());
    assert_eq!(clients[1].ports[0].connected_from, ["128:0"]);
}

#[test]
fn aseqdump_lines_are_parsed() {
    let e = DumpEvent::parse(" 16:0   Note on                 0, note 60, velocity 100").unwrap();
    assert_eq!(
        (
            e.source.as_str(),
            e.kind.as_str(),
            e.channel,
            e.data.as_str()
        ),
        ("16:0", "Note on", Some(0), "note 60, velocity 100")
    );
    let e = DumpEvent::parse(" 16:0   System exclusive           F0 7E 7F 06 01 F7").unwrap();
    assert_eq!((e.kind.as_str(), e.channel), ("System exclusive", None));
    assert_eq!(e.data, "F0 7E 7F 06 01 F7");
    let e = DumpEvent::parse("128:0   Clock").unwrap();
    assert_eq!((e.kind.as_str(), e.data.as_str()), ("Clock", ""));
    assert!(DumpEvent::parse("Source  Event                  Ch  Data").is_none());
    assert!(DumpEvent::parse("Waiting for data. Press Ctrl+C to end.").is_none());
}

#[test]
fn amidi_dump_is_parsed() {
    assert_eq!(
        parse_amidi_dump("\n90 3C 64\nF0 43 10\n4C 00 F7"),
        [0x90, 0x3C, 0x64, 0xF0, 0x43, 0x10, 0x4C, 0x00, 0xF7]
    );
    assert_eq!(
        parse_amidi_dump("\n903C64\n803C40"),
        [0x90, 0x3C, 0x64, 0x80, 0x3C, 0x40]
    );
}

#[test]
fn smf_writer_output_is_a_valid_format_0_file() {
    let mut smf = Smf::new();
    smf.event(0, &[0x90, 0x3C, 0x64])
        .sysex(200, &[0xF0, 0x01, 0xF7])
        .event(0x0FFF_FFFF, &[0x80, 0x3C, 0x00]);
    let b = smf.to_bytes();
    assert_eq!(&b[..14], b"MThd\0\0\0\x06\0\0\0\x01\x01\xF4");
    assert_eq!(&b[14..18], b"MTrk");
    let len = u32::from_be_bytes(b[18..22].try_into().unwrap()) as usize;
    assert_eq!(len, b.len() - 22);
    let track = &b[22..];
    // Tempo 500 000 µs per quarter at tick 0.
    assert_eq!(&track[..7], &[0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20]);
    assert_eq!(&track[7..11], &[0x00, 0x90, 0x3C, 0x64]);
    // 200 = 0x81 0x48; SysEx stored as F0 <len> <body after F0>.
    assert_eq!(&track[11..17], &[0x81, 0x48, 0xF0, 0x02, 0x01, 0xF7]);
    assert_eq!(&track[17..24], &[0xFF, 0xFF, 0xFF, 0x7F, 0x80, 0x3C, 0x00]);
    assert_eq!(&track[24..], &[0x00, 0xFF, 0x2F, 0x00]);
}

#[test]
fn varlen_matches_the_smf_spec_examples() {
    for (v, want) in [
        (0u32, &[0x00u8][..]),
        (0x40, &[0x40]),
        (0x7F, &[0x7F]),
        (0x80, &[0x81, 0x00]),
        (0x2000, &[0xC0, 0x00]),
        (0x3FFF, &[0xFF, 0x7F]),
        (0x4000, &[0x81, 0x80, 0x00]),
        (0x0FFF_FFFF, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ] {
        let mut out = Vec::new();
        push_varlen(&mut out, v);
        assert_eq!(out, want, "{v:#x}");
    }
}
