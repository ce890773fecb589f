//! Diagnostic: how our sequencer queue's real time moves against
//! `CLOCK_MONOTONIC`. Starts a queue the way the engine does, anchors, then
//! re-measures the offset every 100 ms for a few seconds and prints the error
//! (µs) of the first anchor. Needs `/dev/snd/seq`.
//!
//! usage: alsa_clock_drift [seconds]

use std::time::Duration;

use alsa::seq::{EventType, Seq};
use phasorsync::backend::alsa_seq::queue_time::{measure, measure_n, QueueTime, CORRECTION_TRIES};

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seq = match Seq::open(None, None, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("alsa_clock_drift: cannot open the sequencer: {e}");
            std::process::exit(2);
        }
    };
    let q = seq.alloc_queue().expect("queue");
    seq.control_queue(q, EventType::Start, 0, None)
        .expect("start");
    seq.drain_output().expect("drain");
    let read = || seq.get_queue_status(q).map(|s| s.get_real_time());
    let first = measure(read).expect("measure");
    let anchor = QueueTime::anchor(first);
    // The engine's clock: anchored the same way, corrected once a second.
    let mut engine_clock = anchor;
    println!(
        "anchor: queue {} ns at monotonic {} ns (bracket {} ns)",
        first.queue_ns, first.mono_ns, first.window_ns
    );
    for i in 1..=secs * 10 {
        std::thread::sleep(Duration::from_millis(100));
        let s = measure(read).expect("measure");
        let err = s.offset() - anchor.offset_ns();
        let err_engine = s.offset() - engine_clock.offset_ns();
        if i % 10 == 0 {
            engine_clock.correct(measure_n(CORRECTION_TRIES, read).expect("measure"));
        }
        if i % 5 == 0 || i <= 5 {
            println!(
                "t={:>5} ms  reading vs anchor {:>8.1} us, vs corrected clock {:>8.1} us (bracket {:.1} us)",
                i * 100,
                err as f64 / 1000.0,
                err_engine as f64 / 1000.0,
                s.window_ns as f64 / 1000.0
            );
        }
    }
}
