//! Which notes a stream holds: set by every note-on, cleared by every
//! note-off, All Notes Off / All Sound Off and System Reset. When messages
//! are lost or a stream breaks, the notes left hanging can be released. A
//! fixed bitmap (16 channels × 128 keys): no allocation per note.

use super::MidiEvent;

/// See the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldNotes([u128; 16]);

impl HeldNotes {
    /// Follow one message of the stream.
    ///
    /// # Realtime Safety
    /// Bit operations only.
    #[inline]
    pub fn track(&mut self, event: &MidiEvent) {
        match *event {
            MidiEvent::NoteOn {
                channel,
                key,
                velocity,
            } if velocity > 0 => self.0[usize::from(channel & 15)] |= 1 << (key & 127),
            MidiEvent::NoteOn { channel, key, .. } | MidiEvent::NoteOff { channel, key, .. } => {
                self.0[usize::from(channel & 15)] &= !(1 << (key & 127))
            }
            // All Sound Off, All Notes Off: the receiver silences the channel.
            MidiEvent::ControlChange {
                channel,
                controller: 120 | 123,
                ..
            } => self.0[usize::from(channel & 15)] = 0,
            MidiEvent::SystemReset => self.0 = [0; 16],
            _ => {}
        }
    }

    /// Whether `event` is a note-off (or a note-on of velocity 0) for a note
    /// that is held.
    #[inline]
    pub fn releases_held(&self, event: &MidiEvent) -> bool {
        match *event {
            MidiEvent::NoteOff { channel, key, .. }
            | MidiEvent::NoteOn {
                channel,
                key,
                velocity: 0,
            } => self.0[usize::from(channel & 15)] & (1 << (key & 127)) != 0,
            _ => false,
        }
    }

    /// Call `f(channel, key)` for every held note, lowest first, and forget
    /// them all.
    ///
    /// # Realtime Safety
    /// Bit operations and `f`.
    pub fn release(&mut self, mut f: impl FnMut(u8, u8)) {
        for (channel, bits) in self.0.iter_mut().enumerate() {
            let mut b = std::mem::take(bits);
            while b != 0 {
                let key = b.trailing_zeros() as u8;
                b &= b - 1;
                f(channel as u8, key);
            }
        }
    }

    /// Whether no note is held.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(channel: u8, key: u8, velocity: u8) -> MidiEvent {
        MidiEvent::NoteOn {
            channel,
            key,
            velocity,
        }
    }

    #[test]
    fn follows_notes_and_releases_what_is_held() {
        let mut h = HeldNotes::default();
        h.track(&on(0, 60, 100));
        h.track(&on(15, 127, 1));
        h.track(&on(3, 0, 64));
        h.track(&on(3, 0, 0)); // velocity 0 is a note-off
        h.track(&on(4, 9, 9));
        h.track(&MidiEvent::ControlChange {
            channel: 4,
            controller: 123,
            value: 0,
        });
        assert!(h.releases_held(&MidiEvent::NoteOff {
            channel: 0,
            key: 60,
            velocity: 9
        }));
        assert!(!h.releases_held(&on(3, 0, 0)));
        let mut released = Vec::new();
        h.release(|c, k| released.push((c, k)));
        assert_eq!(released, vec![(0, 60), (15, 127)]);
        assert!(h.is_empty());
        h.track(&on(1, 1, 1));
        h.track(&MidiEvent::SystemReset);
        assert!(h.is_empty());
    }
}
