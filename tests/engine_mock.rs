//! `EngineHandle` driven through the `mockall` mock of the engine seam: call order,
//! the ring handed to the engine really feeds the consumer handed back, failed
//! starts clean up, and sends never reach a stopped engine.
//!
//! Needs `--features test-mock` (Cargo.toml `required-features`).
#![cfg(feature = "test-mock")]

mod common;

use std::sync::{Arc, Mutex};

use common::clock;
use mockall::predicate::eq;
use mockall::Sequence;
use phasorsync::engine::{EngineError, EngineHandle, EngineStats, MockMidiEngine};
use phasorsync::ring::{MidiBufferProducer, RingConfig};

#[test]
fn start_send_stop_in_order_and_input_reaches_consumer() {
    let mut engine = MockMidiEngine::new();
    let mut seq = Sequence::new();
    // Keep the producer the engine receives, as a real engine thread would.
    let kept: Arc<Mutex<Option<MidiBufferProducer>>> = Arc::default();
    let kept_in = Arc::clone(&kept);
    engine
        .expect_start()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |mut producer| {
            assert_eq!(producer.capacity(), 32);
            assert!(producer.try_send(clock(42)));
            *kept_in.lock().unwrap() = Some(producer);
            Ok(())
        });
    engine
        .expect_send()
        .with(eq(1_000u64), eq(&[0x90u8, 60, 100][..]))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    engine
        .expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(EngineError::OutputFull));
    engine
        .expect_stop()
        .times(1)
        .in_sequence(&mut seq)
        .return_const(());

    let mut handle = EngineHandle::new(
        engine,
        RingConfig {
            capacity: 32,
            sysex_bytes: 1024,
        },
    );
    let mut consumer = handle.start().expect("mock start succeeds");
    assert!(handle.is_running());
    assert_eq!(consumer.try_pop(), Some(clock(42)));

    // The engine thread keeps producing into the same ring later on.
    let mut producer = kept.lock().unwrap().take().unwrap();
    assert!(producer.try_send(clock(43)));
    assert_eq!(consumer.try_pop(), Some(clock(43)));

    assert_eq!(handle.send(1_000, &[0x90, 60, 100]), Ok(()));
    assert_eq!(handle.send(0, &[0xF8]), Err(EngineError::OutputFull));
    handle.stop();
    assert!(!handle.is_running());
    // Stopped: neither send nor a second stop reaches the engine (times(1) above).
    assert_eq!(handle.send(0, &[0xF8]), Err(EngineError::NotStarted));
    handle.stop();
    drop(handle);
    // The ring's consumer side is still ours; dropping the producer abandons it.
    drop(producer);
    assert!(consumer.is_abandoned());
}

#[test]
fn failed_start_stops_the_engine_and_leaves_handle_stopped() {
    let mut engine = MockMidiEngine::new();
    let mut seq = Sequence::new();
    engine
        .expect_start()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(EngineError::PermissionDenied));
    engine
        .expect_stop()
        .times(1)
        .in_sequence(&mut seq)
        .return_const(());
    engine.expect_send().never();

    let mut handle = EngineHandle::new(engine, RingConfig::default());
    assert_eq!(handle.start().err(), Some(EngineError::PermissionDenied));
    assert!(!handle.is_running());
    assert!(handle.ring_stats().is_none());
    assert_eq!(handle.send(0, &[0xFA]), Err(EngineError::NotStarted));
    // Drop must not stop again: the failed start already released the engine.
}

#[test]
fn second_start_is_refused_without_touching_engine_and_drop_stops() {
    let mut engine = MockMidiEngine::new();
    engine.expect_start().times(1).returning(|_| Ok(()));
    engine.expect_stop().times(1).return_const(());
    engine.expect_stats().returning(|| EngineStats {
        received_messages: 7,
        ..EngineStats::default()
    });

    let mut handle = EngineHandle::new(engine, RingConfig::default());
    let consumer = handle.start().unwrap();
    // The engine dropped its producer at once (mock): the consumer can see that.
    assert!(consumer.is_abandoned());
    assert_eq!(handle.start().err(), Some(EngineError::AlreadyStarted));
    assert!(handle.is_running());
    assert_eq!(handle.stats().received_messages, 7);
    assert!(handle.ring_stats().is_some());
    // Drop stops exactly once (checked by times(1) when the mock is dropped).
}

#[test]
fn error_messages_say_what_to_do() {
    for e in [
        EngineError::NoSequencer,
        EngineError::PermissionDenied,
        EngineError::ClientCreation("ENOMEM".into()),
        EngineError::Thread("spawn".into()),
        EngineError::AlreadyStarted,
        EngineError::NotStarted,
        EngineError::OutputFull,
        EngineError::InvalidMessage("stray data byte".into()),
        EngineError::Io("EIO".into()),
    ] {
        let text = e.to_string();
        assert!(text.len() > 20, "{e:?}: {text}");
        let _: &dyn std::error::Error = &e;
    }
    assert!(EngineError::PermissionDenied.to_string().contains("audio"));
    assert!(EngineError::ClientCreation("ENOMEM".into())
        .to_string()
        .contains("ENOMEM"));
}
