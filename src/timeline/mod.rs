//! The clock map: `CLOCK_MONOTONIC` to the plugin's sample timeline.
//!
//! MIDI arrives with kernel timestamps on `CLOCK_MONOTONIC`; `process()` works
//! in samples. [`Timeline`] turns the one thing the plugin knows about the
//! sound card, the time and frame count of each `process()` call, into a map
//! from time to sample, and [`BlockMap::place`] puts each event on its sample;
//! [`BlockMap::time_of`] goes back from a sample to its time, for output.
//!
//! ```
//! use phasorsync::timeline::{Timeline, Placement};
//!
//! // In activate() (allocates):
//! let mut clock = Timeline::new(48_000.0, 256);
//! // In process(): read CLOCK_MONOTONIC first, then
//! let now_ns = 1_000_000_000;
//! let block = clock.begin_block(now_ns, 256, None);
//! let latency = block.latency_frames(1); // one period + delivery margin
//! // For each message peeked from the ring, oldest first:
//! let event_ns = now_ns - 2_000_000; // arrived 2 ms ago
//! match block.place(event_ns, latency) {
//!     Placement::InBlock(offset) => assert!(offset < 256), // pop, emit at offset
//!     Placement::Late => {}  // pop, emit at 0, count it
//!     Placement::Later => {} // leave it queued for the next block
//! }
//! // The other way, for output: the monotonic time of sample 100 of this
//! // block, with the same latency, which `place` maps back to offset 100.
//! let t = block.time_of(100, latency);
//! assert_eq!(block.place(t, latency), Placement::InBlock(100));
//! ```
//!
//! # The model
//!
//! A host calls `process()` for a block once the sound card has delivered it
//! (capture) or needs it (playback, one period ahead): at the card's time of
//! the block's *end*, plus a wake-up delay that is never negative: interrupt
//! and scheduling latency, and in a DAW the other plugins that run first in
//! the same cycle. So each call is a point `(s, t)` (`s` = sample index just
//! past the block, `t` = call time) on or above a straight line: the card's
//! clock against `CLOCK_MONOTONIC`, whose slope is the true frame period
//! (nominal ±200 ppm of drift, followed).
//!
//! That line is what the filter estimates ([`envelope`]): the lower envelope
//! of the last 2048 to 4096 calls, fitted as the supporting line under their
//! convex hull (the linear-programming estimator of Moon, Skelly and Towsley,
//! 1999).
//! The block's reference time `t0` is the line's time of a full period's call
//! for this block (its first sample plus one period), and an event at time `t`
//! lands at `(t − t0)·rate + latency`, rounded to the nearest sample.
//!
//! # Why a lower envelope, not a DLL
//!
//! JACK's frame timer and PipeWire's `spa/utils/dll.h` filter call times with
//! a second-order delay-locked loop (Fons Adriaensen, "Using a DLL to filter
//! time"; JACK uses a bandwidth of about 1/8 Hz). A DLL is a linear low-pass
//! filter: it converges on the *mean* wake-up time, and what is left of the
//! jitter in its output scales with the square root of its bandwidth times the
//! block period. A server's own thread wakes within tens of µs, where this is
//! fine. A plugin is called somewhere inside the DAW's cycle: its wake-up
//! delay spreads over a large part of the block and has a long tail. With a
//! spread of 30 % of a 1024-frame block (6.4 ms, 307 samples), a DLL needs a
//! bandwidth of about 1e-4 Hz (hours to settle) to hold the output within a
//! sample, and every late outlier still pulls it. The delay has a hard floor,
//! though: no call comes before its block exists. The lowest calls sit on the
//! card's line, and a line under the lowest points is found to about
//! (spread)/(points), with late calls having no influence at all. The window
//! plays the part of the DLL's bandwidth: the fit follows drift (the slope is
//! fitted, clamped to ±1000 ppm of nominal) and forgets a call after 2048 to
//! 4096 blocks (2.7 to 5.5 s at 64 frames, 44 to 87 s at 1024).
//!
//! Measured on simulated call times (`tests/logic/clock_map_vs_dll.rs`, 150 ppm
//! drift, jitter uniform over 30 % of the period plus 1 % of calls up to 60 %
//! later): the spread of the filtered block time, max − min in samples, is
//! 0.20 / 0.25 / 0.76 at 64 / 256 / 1024 frames for the envelope, against
//! 0.79 / 8.0 / 92.6 for a DLL at JACK's 1/8 Hz.
//!
//! Settling is the time the lowest calls take to pin the line
//! (`tests/logic/clock_map_sim.rs`: the last event more than one sample off): with
//! jitter up to 500 µs, 0.1 to 0.2 s at 64 frames, 0.4 to 0.7 s at 256,
//! 1.3 to 2.6 s at 1024; with jitter over 30 % of the period, 0.1 to 0.2 s at
//! 64, 1 to 4 s at 256, and at 1024 (6.4 ms of spread) 16 s in one case while
//! two others still place the odd event 2 samples off after 60 s (p99 within
//! 1.5 samples of the unrounded ideal). Cost per block: amortised constant,
//! no allocation (`benches/timeline.rs`).
//!
//! # Latency
//!
//! `latency_frames` counts from `t0`, the earliest possible call. With one
//! period ([`TimelineStats::period_frames`]) an event that arrived
//! during the previous period lands exactly one period later, inside the
//! current block, and nothing that is in the ring when `process()` begins is
//! ever late; an event arriving between `t0` and the actual call waits for the
//! next block (peek, leave it queued). The sequencer thread needs some µs to
//! put an event in the ring after the kernel stamped it, so the recommended
//! default, [`BlockMap::latency_frames`]`(1)` (also
//! [`TimelineStats::default_latency_frames`]), is one period plus
//! [`DELIVERY_MARGIN_NS`]. The period is measured, not the host's declared
//! maximum block, which can be far larger than the blocks it sends. Less
//! latency means less delay but the events of the first part of each period
//! come out late (offset 0, counted).
//!
//! # Resets and the first blocks
//!
//! The map starts over on [`Timeline::reset`] (activation) and by itself on a
//! discontinuity, each counted by cause in [`TimelineStats`]: a `steady_time`
//! that does not continue from the previous block; a call more than two
//! periods after the line (host stall, xrun; up to four periods late, decided
//! on the next call: one that catches up by over half a period, back to
//! back, is a hiccup the card's buffer covered, and the line stays) or more
//! than one before it (host
//! running ahead, a sample counter that skipped), where a period is the
//! measured one, not the host's declared max block (hosts declare 4096 and
//! send 64 to 256, and a 20 ms xrun would go unseen): only in the first 16
//! blocks after a reset, before a host that splits its device period has
//! shown its largest block, the declared max counts if larger; 24 calls in a row ([`SHIFT_CALLS`]) more than 1/8 period, and more
//! than twice the mean call delay ([`TimelineStats::mean_call_delay_ns`]),
//! after the line (the timeline moved later by less than two periods: the
//! lower envelope would otherwise only move down). The second bar keeps a
//! host whose calls mostly come late in its cycle and seldom at the floor
//! from looking shifted: one call exceeds twice the mean with a chance of at
//! most 1/2, 24 in a row with at most 2^-24. A shift smaller than about twice
//! the mean delay is not detected; it leaves the fit window after 2048 to
//! 4096 calls.
//!
//! A change of block size is counted ([`TimelineStats::period_changes`]) but is
//! not a discontinuity: the line is drawn through block ends, which stay on
//! the card's timeline whatever the block sizes, so the fit stays valid. The
//! period (the largest block since the reset, or a smaller one after 256
//! blocks at most half as large) sets the default latency and the one-period
//! thresholds. A host that splits its period into varying smaller blocks
//! called back to back is fine too: those calls sit on or above the line.
//! A device restarted with another period shows up as a stall.
//!
//! After a reset the first block uses its raw call time and the nominal rate;
//! from the second call on the envelope of the calls so far is used (the
//! nominal rate while the points are too close to give a slope within
//! ±1000 ppm). Accuracy grows with the number of calls; the tests measure
//! how long it takes to stay within one sample.
//!
//! # Hosts that do not pace calls by real time
//!
//! A host rendering ahead or in bursts calls `process()` faster than real time
//! and then pauses; offline rendering calls as fast as it can. Such calls show
//! up as discontinuities (early, then stalled). Two of them within a second
//! switch the map to the raw call time with the nominal rate
//! ([`BlockMap::is_raw`], [`TimelineStats::unpaced_blocks`]): events keep their
//! order and their spacing within the latency window, nothing is held back
//! for a block that may never be timed. One second of audio without a
//! further discontinuity returns to the filtered line.

pub mod auto_latency;
pub mod envelope;
mod map;
mod now;
mod placement;

pub use map::{ResetCause, Timeline, TimelineStats, DELIVERY_MARGIN_NS, SHIFT_CALLS};
pub use now::monotonic_ns;
pub use placement::{BlockMap, Placement};
