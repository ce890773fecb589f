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
    /// The notes held at the receivers after the events already taken
    /// off `scheduled`.
    delivered: HeldNotes,
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
        if !changes_held(event) {
            return;
        }
        self.apply_until(time_ns.saturating_sub(HISTORY_NS));
        if self.scheduled.len() == SCHEDULED {
            if let Some((_, e)) = self.scheduled.pop_front() {
                self.delivered.track(&e);
                self.early += 1;
            }
        }
        // In time order (the host's stream is; this keeps it so anyway).
        let at = self.scheduled.partition_point(|&(t, _)| t <= time_ns);
        self.scheduled.insert(at, (time_ns, *event));
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
        mut off: impl FnMut(u8, u8),
    ) -> usize {
        let mut sent = 0;
        if let Some(i) = self.away.iter().position(|(n, _)| *n == name) {
            if let Some((_, mut missed)) = self.away.remove(i) {
                let now = self.held_at(now_ns);
                missed.release(|channel, key| {
                    let still = now.releases_held(&MidiEvent::NoteOff {
                        channel,
                        key,
                        velocity: 0,
                    });
                    if !still {
                        sent += 1;
                        off(channel, key);
                    }
                });
            }
        }
        if let Some(r) = self.readers.iter_mut().find(|(a, _)| *a == addr) {
            r.1 = name;
        } else if self.readers.len() < READERS {
            // Beyond the bound a reader is not followed (no allocation).
            self.readers.push((addr, name));
        }
        sent
    }

    /// `addr` was unsubscribed from our output while it still exists (a
    /// patchbay, or a pattern no longer matching): the user's choice, not a
    /// departure.
    pub fn reader_removed(&mut self, addr: Addr) {
        self.readers.retain(|(a, _)| *a != addr);
    }

    /// The port `addr` went away at `at_ns`.
    pub fn port_gone(&mut self, addr: Addr, at_ns: u64) {
        self.gone(|a| a == addr, at_ns);
    }

    /// Every port of `client` went away at `at_ns`.
    pub fn client_gone(&mut self, client: i32, at_ns: u64) {
        self.gone(|a| a.client == client, at_ns);
    }

    /// The readers `which` left at `at_ns`: each keeps, by name, the notes
    /// held at any time in the edge before it.
    fn gone(&mut self, which: impl Fn(Addr) -> bool, at_ns: u64) {
        if !self.readers.iter().any(|(a, _)| which(*a)) {
            return;
        }
        self.apply_until(at_ns.saturating_sub(EDGE_NS));
        // Held at the edge's start, or pressed within it.
        let mut ever = self.delivered;
        for (_, e) in self.scheduled.iter().take_while(|(t, _)| *t <= at_ns) {
            if matches!(e, MidiEvent::NoteOn { velocity: 1.., .. }) {
                ever.track(e);
            }
        }
        let mut i = 0;
        while i < self.readers.len() {
            if !which(self.readers[i].0) {
                i += 1;
                continue;
            }
            let (_, name) = self.readers.swap_remove(i);
            if ever.is_empty() {
                continue;
            }
            match self.away.iter_mut().find(|(n, _)| *n == name) {
                Some((_, notes)) => {
                    let mut more = ever;
                    more.release(|channel, key| {
                        notes.track(&MidiEvent::NoteOn {
                            channel,
                            key,
                            velocity: 127,
                        })
                    });
                }
                None => {
                    if self.away.len() == AWAY {
                        self.away.pop_front();
                    }
                    self.away.push_back((name, ever));
                }
            }
        }
    }

    /// The notes held after every event up to `t`, without forgetting
    /// the events.
    fn held_at(&self, t: u64) -> HeldNotes {
        let mut held = self.delivered;
        for (_, e) in self.scheduled.iter().take_while(|(at, _)| *at <= t) {
            held.track(e);
        }
        held
    }

    /// Moves the events up to `t` into the bitmap.
    fn apply_until(&mut self, t: u64) {
        while let Some(&(at, e)) = self.scheduled.front() {
            if at > t {
                break;
            }
            self.scheduled.pop_front();
            self.delivered.track(&e);
        }
    }
}

/// Whether `event` can change which notes a receiver holds.
fn changes_held(event: &MidiEvent) -> bool {
    matches!(
        event,
        MidiEvent::NoteOn { .. }
            | MidiEvent::NoteOff { .. }
            | MidiEvent::ControlChange {
                controller: 120 | 123,
                ..
            }
            | MidiEvent::SystemReset
    )
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
    fn every_port_of_a_client_that_left_and_twice_away_are_kept() {
        let mut t = AwayNotes::new();
        let port = |p| Addr {
            client: 20,
            port: p,
        };
        t.reader_added(port(0), "A:1".into(), 0, |_, _| {});
        t.reader_added(port(1), "A:2".into(), 0, |_, _| {});
        t.scheduled(100 * MS, &on(0, 60));
        t.client_gone(20, 500 * MS);
        // Back, but not connected to us, and gone again with another note.
        t.scheduled(600 * MS, &on(0, 61));
        t.reader_added(port(0), "A:1".into(), 650 * MS, |_, _| {});
        t.port_gone(port(0), 700 * MS);
        t.scheduled(800 * MS, &off(0, 60));
        t.scheduled(800 * MS, &off(0, 61));
        assert_eq!(back(&mut t, 30, "A:2", 900 * MS), vec![(0, 60)]);
        assert_eq!(back(&mut t, 31, "A:1", 900 * MS), vec![(0, 60), (0, 61)]);
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
        // Gone after the flood, beyond the edge.
        let end = 10 * HISTORY_NS + 2 * SCHEDULED as u64 * 1000 + 100 * MS;
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
