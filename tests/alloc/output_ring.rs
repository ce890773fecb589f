//! The output ring, used the way the output path uses it: the audio thread
//! produces (the host's notes, SysEx), the MIDI thread consumes.
//!
//! The byte queue it replaces published a frame's time,
//! length and body separately, so a reader on the other thread could take a
//! header before its body (torn frames; a garbage length reached a resize on
//! the SCHED_FIFO thread). Here every message comes out whole and in order
//! across two threads, and the audio side neither allocates nor page-faults.

use crate::alloc_counter::allocations_in;
use phasorsync::protocol::{MidiEvent, MidiMessage};
use phasorsync::ring::{midi_buffer_with_config, RingConfig};

const N: u64 = 200_000;

/// Message `i`: a SysEx of 1..=300 bytes every third, else a CC.
fn message(i: u64, body: &mut [u8; 302]) -> (MidiMessage, usize) {
    if i % 3 == 0 {
        let len = 2 + (i % 300) as usize;
        body[0] = 0xF0;
        body[1..len - 1].fill((i % 128) as u8);
        body[len - 1] = 0xF7;
        let m = MidiMessage {
            time_ns: i,
            port: 0,
            event: MidiEvent::SysEx { len: len as u32 },
        };
        (m, len)
    } else {
        let m = MidiMessage {
            time_ns: i,
            port: 0,
            event: MidiEvent::ControlChange {
                channel: (i % 16) as u8,
                controller: 7,
                value: (i % 128) as u8,
            },
        };
        (m, 0)
    }
}

#[test]
fn messages_stay_whole_across_threads() {
    let (mut audio, mut midi_thread) = midi_buffer_with_config(RingConfig {
        capacity: 64,
        sysex_bytes: 4096,
    });
    let consumer = std::thread::spawn(move || {
        let mut scratch = vec![0u8; 4096];
        let mut want = [0u8; 302];
        let mut next = 0u64;
        while next < N {
            let Some(got) = midi_thread.try_pop() else {
                std::hint::spin_loop();
                continue;
            };
            let (expect, len) = message(next, &mut want);
            assert_eq!(got, expect, "message {next}");
            if len > 0 {
                let n = midi_thread
                    .pop_sysex_payload(&mut scratch)
                    .expect("payload with its message");
                assert_eq!(&scratch[..n], &want[..len], "payload of {next}");
            }
            next += 1;
        }
        midi_thread.stats().snapshot()
    });
    let mut body = [0u8; 302];
    let mut i = 0u64;
    let mut refused = 0u64;
    let allocations = allocations_in(|| {
        while i < N {
            let (m, len) = message(i, &mut body);
            let sent = if len > 0 {
                audio.try_send_sysex(m.time_ns, 0, &body[..len])
            } else {
                audio.try_send(m)
            };
            if sent {
                i += 1;
            } else {
                refused += 1;
                std::hint::spin_loop();
            }
        }
    });
    let counters = consumer.join().expect("consumer");
    assert_eq!(allocations, 0, "the audio side allocated");
    // Refusals are counted, never lost silently.
    assert_eq!(
        counters.dropped_messages + counters.dropped_sysex,
        refused,
        "{counters:?}"
    );
    assert_eq!(counters.discarded_sysex + counters.rejected, 0);
}

#[test]
fn the_audio_side_takes_no_page_fault() {
    // Big enough that untouched storage would fault on first use.
    let (mut audio, mut midi_thread) = midi_buffer_with_config(RingConfig {
        capacity: 16_384,
        sysex_bytes: 1 << 20,
    });
    let mut body = [0u8; 302];
    // One message of each kind first: the code itself faults in once.
    let (m, len) = message(0, &mut body);
    assert!(audio.try_send_sysex(m.time_ns, 0, &body[..len]));
    assert!(audio.try_send(message(1, &mut body).0));
    let before = minor_faults();
    let mut i = 2;
    while audio.sysex_vacant_bytes() > 400 && !audio.is_full() {
        let (m, len) = message(i, &mut body);
        let sent = if len > 0 {
            audio.try_send_sysex(m.time_ns, 0, &body[..len])
        } else {
            audio.try_send(m)
        };
        assert!(sent);
        i += 1;
    }
    let faults = minor_faults() - before;
    assert!(i > 5_000, "filled only {i}");
    assert_eq!(faults, 0, "{faults} page faults filling the ring");
    assert!(midi_thread.try_pop().is_some());
}

/// Minor page faults of the calling thread so far (`getrusage(RUSAGE_THREAD)`).
fn minor_faults() -> i64 {
    // SAFETY: getrusage writes one rusage struct, which we own.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut u);
        u.ru_minflt
    }
}
