//! Notes held on output devices that went away: when a destination our
//! `MIDI out` is connected to is unplugged while notes we sent it are held,
//! the note-offs sent meanwhile reach nobody, and when it comes back (and
//! is connected again) the synth still holds those notes. This keeps what
//! is needed to send it exactly the note-offs it missed, and nothing on the
//! audio thread.
//!
//! - Every note message scheduled on the queue is noted at its *delivery*
//!   time (the queue is `D` ahead of the thread: what was scheduled is not
//!   yet what a device got). The notes delivered so far are one bitmap
//!   (16 channels × 128 keys) for our port, which sends to all its
//!   subscribers alike; the events still ahead (and the last
//!   [`HISTORY_NS`]) wait in a fixed-size list, in time order.
//! - Our output's subscribers are known by address and by name
//!   (`client:port`, as patterns name them: client numbers change when a
//!   device comes back).
//! - When a subscriber's port or client goes away at time `T`, the notes
//!   it may hold are those held at any time in `[T - EDGE_NS, T]` (the edge
//!   covers the queue's tick and the conversion of times: a note-off
//!   counted as delivered just before `T` might not have been). They are
//!   kept under its name, for a bounded number of devices.
//! - When a port of that name is subscribed to our output again, it is
//!   sent note-offs for those of its notes that are not held now: their
//!   note-offs went out while it was away. A note still held now gets its
//!   note-off later through the normal path, which reaches the device again:
//!   an early one would cut a note the host still plays, and a second one
//!   would be redundant.
//!
//! Sending a note-off for a note a device does not hold is harmless, so
//! every doubt is resolved towards sending one. Nothing here allocates
//! after [`AwayNotes::new`] but a name taken over from the caller.

use std::collections::VecDeque;

use alsa::seq::Addr;

use crate::protocol::{HeldNotes, MidiEvent};

/// Events remembered: those scheduled ahead (at most the output delay `D`,
/// under half a second) and the last [`HISTORY_NS`] delivered, at 4000 note
/// messages a second.
pub const SCHEDULED: usize = 8192;

/// How long delivered events are kept apart from the bitmap, so a device
/// whose departure is read late is still judged at the time it left.
pub const HISTORY_NS: u64 = 2_000_000_000;

/// Before a departure's time, how far back a note counts as held still.
pub const EDGE_NS: u64 = 10_000_000;

/// Subscribers of our output followed by name.
pub const READERS: usize = 64;

/// Devices that went away with notes held, remembered until they come back
/// (the oldest is forgotten to make room).
pub const AWAY: usize = 16;

/// See the module docs.
#[derive(Debug)]
pub struct AwayNotes {
    /// Note events not yet in `delivered`, by delivery time (ns).
    scheduled: VecDeque<(u64, MidiEvent)>,
    /// The notes held at the receivers after every event up to `applied_ns`.
    delivered: HeldNotes,
    applied_ns: u64,
    /// Our output's subscribers and their names.
    readers: Vec<(Addr, String)>,
    /// Devices gone with notes held, by name.
    away: VecDeque<(String, HeldNotes)>,
    /// Events counted as delivered early for lack of room.
    early: u64,
}

impl Default for AwayNotes {
    fn default() -> Self {
        Self::new()
    }
}

impl AwayNotes {
    /// Empty, with all its room allocated.
    pub fn new() -> Self {
        Self {
            scheduled: VecDeque::with_capacity(SCHEDULED),
            delivered: HeldNotes::default(),
            applied_ns: 0,
            readers: Vec::with_capacity(READERS),
            away: VecDeque::with_capacity(AWAY),
            early: 0,
        }
    }

    /// `event` was scheduled to be delivered at `time_ns`. Only messages
    /// that change which notes are held are kept.
    ///
    /// # Realtime Safety
    /// No allocation: a full list counts its oldest event as delivered
    /// ([`Self::early`]).
    pub fn scheduled(&mut self, time_ns: u64, event: &MidiEvent) {
        let _ = (time_ns, event);
    }

    /// Events counted as delivered before their time because the list was
    /// full (a departure in between may then miss a note-off).
    pub fn early(&self) -> u64 {
        self.early
    }

    /// `addr`, named `name`, was subscribed to our output at `now_ns`. If
    /// a device of that name went away with notes held, `off(channel, key)`
    /// is called for each of them that is not held now; returns how many.
    pub fn reader_added(
        &mut self,
        addr: Addr,
        name: String,
        now_ns: u64,
        off: impl FnMut(u8, u8),
    ) -> usize {
        let _ = (addr, name, now_ns, off);
        0
    }

    /// `addr` was unsubscribed from our output while it still exists (a
    /// patchbay, or a pattern no longer matching): the user's choice, not a
    /// departure.
    pub fn reader_removed(&mut self, addr: Addr) {
        let _ = addr;
    }

    /// The port `addr` went away at `at_ns`.
    pub fn port_gone(&mut self, addr: Addr, at_ns: u64) {
        let _ = (addr, at_ns);
    }

    /// Every port of `client` went away at `at_ns`.
    pub fn client_gone(&mut self, client: i32, at_ns: u64) {
        let _ = (client, at_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn on(channel: u8, key: u8) -> MidiEvent {
        MidiEvent::NoteOn {
            channel,
            key,
            velocity: 100,
        }
    }

    fn off(channel: u8, key: u8) -> MidiEvent {
        MidiEvent::NoteOff {
            channel,
            key,
            velocity: 0,
        }
    }

    fn addr(client: i32) -> Addr {
        Addr { client, port: 0 }
    }

    /// The note-offs sent to `addr` named `name` as it is subscribed at `now`.
    fn back(t: &mut AwayNotes, client: i32, name: &str, now: u64) -> Vec<(u8, u8)> {
        let mut sent = Vec::new();
        let n = t.reader_added(addr(client), name.to_string(), now, |c, k| {
            sent.push((c, k))
        });
        assert_eq!(n, sent.len());
        sent
    }

    #[test]
    fn a_device_back_gets_the_note_offs_sent_while_it_was_away() {
        let mut t = AwayNotes::new();
        assert!(back(&mut t, 20, "Synth:in", 0).is_empty());
        t.scheduled(100 * MS, &on(0, 60));
        t.scheduled(100 * MS, &on(9, 36));
        t.scheduled(110 * MS, &on(1, 60));
        // A note played and ended before the device leaves: not held.
        t.scheduled(120 * MS, &on(2, 70));
        t.scheduled(130 * MS, &off(2, 70));
        // A velocity-0 note-on is a note-off.
        t.scheduled(140 * MS, &on(3, 10));
        t.scheduled(
            150 * MS,
            &MidiEvent::NoteOn {
                channel: 3,
                key: 10,
                velocity: 0,
            },
        );
        t.port_gone(addr(20), 500 * MS);
        // Away: 60 and 36 are released (lost), channel 1's 60 is still held.
        t.scheduled(600 * MS, &off(0, 60));
        t.scheduled(
            610 * MS,
            &MidiEvent::NoteOn {
                channel: 9,
                key: 36,
                velocity: 0,
            },
        );
        // Played and ended while away: the device never got it.
        t.scheduled(620 * MS, &on(4, 1));
        t.scheduled(630 * MS, &off(4, 1));
        // Back under another client number, same name.
        assert_eq!(
            back(&mut t, 24, "Synth:in", 900 * MS),
            vec![(0, 60), (9, 36)]
        );
        // Sent once: subscribed again, nothing more.
        assert!(back(&mut t, 24, "Synth:in", 950 * MS).is_empty());
    }

    #[test]
    fn only_the_device_that_left_and_only_by_delivery_time() {
        let mut t = AwayNotes::new();
        back(&mut t, 20, "A:in", 0);
        back(&mut t, 21, "B:in", 0);
        t.scheduled(100 * MS, &on(0, 60));
        // Scheduled before the departure, delivered after it: lost too.
        t.scheduled(700 * MS, &off(0, 60));
        t.client_gone(20, 500 * MS);
        // B stayed: nothing for it, even if "subscribed" again.
        assert!(back(&mut t, 21, "B:in", 800 * MS).is_empty());
        // Not yet delivered when A comes back: it will get it itself.
        assert!(back(&mut t, 22, "A:in", 600 * MS).is_empty());
    }

    #[test]
    fn a_note_off_delivered_before_the_device_came_back_is_sent() {
        let mut t = AwayNotes::new();
        back(&mut t, 20, "A:in", 0);
        t.scheduled(100 * MS, &on(5, 64));
        t.scheduled(700 * MS, &off(5, 64));
        t.client_gone(20, 500 * MS);
        assert_eq!(back(&mut t, 22, "A:in", 800 * MS), vec![(5, 64)]);
    }

    #[test]
    fn a_note_pressed_again_while_away_is_ended_by_its_own_note_off() {
        let mut t = AwayNotes::new();
        back(&mut t, 20, "A:in", 0);
        t.scheduled(100 * MS, &on(0, 60));
        t.scheduled(110 * MS, &on(0, 62));
        t.port_gone(addr(20), 500 * MS);
        t.scheduled(600 * MS, &off(0, 60));
        t.scheduled(650 * MS, &on(0, 60));
        // 60 and 62 held now: their note-offs come later, to the device.
        assert!(back(&mut t, 20, "A:in", 900 * MS).is_empty());
    }

    #[test]
    fn a_note_released_just_before_the_departure_is_released_again() {
        let mut t = AwayNotes::new();
        back(&mut t, 20, "A:in", 0);
        t.scheduled(100 * MS, &on(0, 60));
        t.scheduled(499 * MS, &off(0, 60));
        t.port_gone(addr(20), 500 * MS);
        // Within the edge: it may not have been delivered; a second
        // note-off is harmless, a missing one is a stuck note.
        assert_eq!(back(&mut t, 20, "A:in", 900 * MS), vec![(0, 60)]);
    }

    #[test]
    fn a_reader_disconnected_by_the_user_is_not_a_departure() {
        let mut t = AwayNotes::new();
        back(&mut t, 20, "A:in", 0);
        t.scheduled(100 * MS, &on(0, 60));
        t.reader_removed(addr(20));
        t.scheduled(200 * MS, &off(0, 60));
        t.client_gone(20, 500 * MS);
        assert!(back(&mut t, 20, "A:in", 900 * MS).is_empty());
    }

    #[test]
    fn history_and_room_are_bounded() {
        let mut t = AwayNotes::new();
        let room = (t.scheduled.capacity(), t.away.capacity());
        back(&mut t, 20, "A:in", 0);
        t.scheduled(MS, &on(0, 1));
        // Far more events than the list holds, long after: the list keeps
        // its room (no allocation) and the first note is still known held.
        for i in 0..(2 * SCHEDULED as u64) {
            let at = 10 * HISTORY_NS + i * 1000;
            t.scheduled(at, &on(1, (i % 100) as u8));
            t.scheduled(at, &off(1, (i % 100) as u8));
        }
        assert_eq!(t.scheduled.capacity(), room.0);
        assert!(t.early() > 0, "a full list counts what it applies early");
        let end = 10 * HISTORY_NS + 2 * SCHEDULED as u64 * 1000;
        t.port_gone(addr(20), end);
        t.scheduled(end + MS, &off(0, 1));
        assert_eq!(back(&mut t, 20, "A:in", end + 2 * MS), vec![(0, 1)]);
        // Devices away: the oldest is forgotten beyond the bound.
        for c in 0..(AWAY as i32 + 1) {
            back(&mut t, 100 + c, &format!("D{c}:in"), end);
        }
        t.scheduled(end + 3 * MS, &on(2, 2));
        for c in 0..(AWAY as i32 + 1) {
            t.port_gone(addr(100 + c), end + 100 * MS);
        }
        t.scheduled(end + 200 * MS, &off(2, 2));
        assert!(back(&mut t, 100, "D0:in", end + 300 * MS).is_empty());
        assert_eq!(back(&mut t, 101, "D1:in", end + 300 * MS), vec![(2, 2)]);
        assert_eq!(t.away.capacity(), room.1);
    }
}
