//! The MIDI clock follower's update path does not allocate: a 5000-tick
//! stream with a tempo change, a second source and the reads the audio
//! thread makes, under the counting allocator.

use crate::alloc_counter::allocations_in;
use crate::clock_streams::{stream, SRC};
use phasorsync::midi_clock::follower::{ClockMessage, Follower};

#[test]
fn the_update_path_does_not_allocate() {
    let s = stream(
        5000,
        31,
        1.0,
        200.0,
        |i| if i < 2500 { 120.0 } else { 132.0 },
    );
    let mut f = Follower::new();
    let mut acc = 0.0;
    let n = allocations_in(|| {
        f.event(s.seen[0] - 1, SRC, ClockMessage::Start);
        for (j, &t) in s.seen.iter().enumerate() {
            f.event(t, SRC, ClockMessage::Clock);
            if j % 7 == 0 {
                f.event(t + 1, 3, ClockMessage::Clock);
            }
            acc += f.beat_at(t + 1000).unwrap_or(0.0) + f.state(t + 1000).song_pos_beats;
        }
        f.event(s.seen[4999] + 10, SRC, ClockMessage::Stop);
    });
    assert!(acc.is_finite());
    assert_eq!(n, 0, "allocator calls in the follower's update path");
}
