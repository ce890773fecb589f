//! MIDI clock: following an external sender's Clock, Start, Stop, Continue
//! and Song Position Pointer messages. [`follower`] turns their kernel
//! timestamps into tempo, beat position and transport state; it is pure (no
//! I/O, no allocation after construction).

pub mod follower;
