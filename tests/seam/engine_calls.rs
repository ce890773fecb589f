//! `EngineHandle` driven through the `mockall` mock of the engine seam: call
//! order, both rings really connect the engine's ends to the audio thread's,
//! the news channel is the same across starts, failed starts clean up.
//!
//! Needs `--features test-mock` (Cargo.toml `required-features`).
#![cfg(feature = "test-mock")]

use std::sync::{Arc, Mutex};

use crate::common::clock;
use mockall::Sequence;
use phasorsync::backend::alsa_seq::SeqError;
use phasorsync::engine::{
    EngineError, EngineHandle, EngineIo, EngineOptions, MidiEngine, MockMidiEngine,
};
use phasorsync::protocol::MidiEvent;
use phasorsync::ring::RingConfig;

fn small(capacity: usize) -> RingConfig {
    RingConfig {
        capacity,
        sysex_bytes: 1024,
    }
}

#[test]
fn start_stop_in_order_and_both_rings_connect() {
    let mut engine = MockMidiEngine::new();
    let mut seq = Sequence::new();
    // Keep the io the engine receives, as a real engine thread would.
    let kept: Arc<Mutex<Option<EngineIo>>> = Arc::default();
    let kept_in = Arc::clone(&kept);
    engine
        .expect_start()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |mut io| {
            assert_eq!(io.input.capacity(), 32);
            assert_eq!(io.output.capacity(), 16);
            assert!(io.input.try_send(clock(42)));
            *kept_in.lock().unwrap() = Some(io);
            Ok(())
        });
    engine
        .expect_stop()
        .times(1)
        .in_sequence(&mut seq)
        .return_const(());

    let mut handle = EngineHandle::new(engine, small(32), small(16));
    let mut ends = handle.start().expect("mock start succeeds");
    assert!(handle.is_running());
    assert_eq!(ends.input.try_pop(), Some(clock(42)));

    let mut io = kept.lock().unwrap().take().unwrap();
    // Input: the engine thread keeps producing into the same ring.
    assert!(io.input.try_send(clock(43)));
    assert_eq!(ends.input.try_pop(), Some(clock(43)));
    // Output: what the audio thread queues reaches the engine, SysEx whole.
    assert!(ends.output.try_send(clock(44)));
    assert!(ends.output.try_send_sysex(45, 0, &[0xF0, 1, 2, 0xF7]));
    assert_eq!(io.output.try_pop(), Some(clock(44)));
    assert_eq!(
        io.output.try_pop().map(|m| m.event),
        Some(MidiEvent::SysEx { len: 4 })
    );
    let mut buf = [0u8; 8];
    assert_eq!(io.output.pop_sysex_payload(&mut buf), Some(4));
    assert_eq!(&buf[..4], &[0xF0, 1, 2, 0xF7]);
    // News: what the engine counts, the handle's owner reads.
    assert!(Arc::ptr_eq(&io.news, handle.news()));
    let bell = handle.news().bell();
    io.news.count(&io.news.counters.overruns, 3);
    assert_eq!(handle.news().stats().overruns, 3);
    assert!(handle.news().bell() > bell);

    handle.stop();
    assert!(!handle.is_running());
    // A second stop does not reach the engine (times(1) above).
    handle.stop();
    drop(handle);
    // The rings' audio ends are still ours; dropping the engine's ends abandons them.
    drop(io);
    assert!(ends.input.is_abandoned());
    assert!(ends.output.is_abandoned());
}

#[test]
fn news_outlives_restarts_so_counters_are_totals() {
    let mut engine = MockMidiEngine::new();
    engine.expect_start().times(2).returning(|io| {
        io.news.count(&io.news.counters.parse_errors, 1);
        Ok(())
    });
    engine.expect_stop().times(2).return_const(());
    let mut handle = EngineHandle::new(engine, small(4), small(4));
    let first = Arc::clone(handle.news());
    handle.start().unwrap();
    handle.stop();
    handle.start().unwrap();
    handle.stop();
    assert!(Arc::ptr_eq(&first, handle.news()));
    assert_eq!(handle.news().stats().parse_errors, 2);
}

#[test]
fn failed_start_stops_the_engine_and_leaves_handle_stopped() {
    let mut engine = MockMidiEngine::new();
    let mut seq = Sequence::new();
    engine
        .expect_start()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(SeqError::PermissionDenied.into()));
    engine
        .expect_stop()
        .times(1)
        .in_sequence(&mut seq)
        .return_const(());

    let mut handle = EngineHandle::new(engine, RingConfig::default(), RingConfig::default());
    let err = handle.start().expect_err("start fails");
    assert!(err.to_string().contains("audio"), "{err}");
    assert!(!handle.is_running());
    // Drop must not stop again: the failed start already released the engine.
}

#[test]
fn second_start_is_refused_without_touching_engine_and_drop_stops() {
    let mut engine = MockMidiEngine::new();
    engine.expect_start().times(1).returning(|_| Ok(()));
    engine.expect_stop().times(1).return_const(());
    engine
        .expect_set_options()
        .withf(|o: &EngineOptions| o.connect == "keystep")
        .times(1)
        .return_const(());

    let mut handle = EngineHandle::new(engine, RingConfig::default(), RingConfig::default());
    let ends = handle.start().unwrap();
    // The engine dropped its ends at once (mock): the audio side can see that.
    assert!(ends.input.is_abandoned());
    assert!(ends.output.is_abandoned());
    assert_eq!(handle.start().err(), Some(EngineError::AlreadyStarted));
    assert!(handle.is_running());
    handle.engine_mut().set_options(&EngineOptions {
        connect: "keystep".into(),
        ..EngineOptions::default()
    });
    // Drop stops exactly once (checked by times(1) when the mock is dropped).
}

#[test]
fn error_messages_say_what_to_do() {
    let errors: [EngineError; 6] = [
        SeqError::NoSequencer.into(),
        SeqError::PermissionDenied.into(),
        SeqError::ClientCreation("ENOMEM".into()).into(),
        EngineError::Thread("spawn".into()),
        EngineError::AlreadyStarted,
        EngineError::Io("EIO".into()),
    ];
    for e in errors {
        let text = e.to_string();
        assert!(text.len() > 20, "{e:?}: {text}");
        let _: &dyn std::error::Error = &e;
    }
    assert!(EngineError::from(SeqError::NoSequencer)
        .to_string()
        .contains("modprobe snd-seq"));
    assert!(EngineError::from(SeqError::ClientCreation("ENOMEM".into()))
        .to_string()
        .contains("ENOMEM"));
}
