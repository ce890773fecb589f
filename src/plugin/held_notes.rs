//! Which hardware notes the host is holding: set by every note-on given to
//! it, cleared by every note-off. When messages are lost or discarded, the
//! notes they leave hanging can then be released. A fixed bitmap, no
//! allocation.

use crate::protocol::MidiEvent;

/// 16 channels × 128 keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldNotes([u128; 16]);

impl HeldNotes {
    /// Follow one message given to the host.
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
            _ => {}
        }
    }

    /// Whether `event` is a note-off (or note-on with velocity 0) for a note
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

    /// Take every held note, as note-offs (velocity 0), and forget them.
    pub fn drain(&mut self) -> impl Iterator<Item = MidiEvent> + '_ {
        (0..16u8).flat_map(move |channel| {
            let bits = std::mem::take(&mut self.0[usize::from(channel)]);
            (0..128u8)
                .filter(move |key| bits & (1 << key) != 0)
                .map(move |key| MidiEvent::NoteOff {
                    channel,
                    key,
                    velocity: 0,
                })
        })
    }

    /// Whether no note is held.
    #[cfg(test)]
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
    fn follows_notes_and_drains_what_is_held() {
        let mut h = HeldNotes::default();
        h.track(&on(0, 60, 100));
        h.track(&on(15, 127, 1));
        h.track(&on(3, 0, 64));
        h.track(&on(3, 0, 0)); // velocity 0 is a note-off
        assert!(h.releases_held(&MidiEvent::NoteOff {
            channel: 0,
            key: 60,
            velocity: 9
        }));
        assert!(!h.releases_held(&on(3, 0, 0)));
        let offs: Vec<_> = h.drain().collect();
        assert_eq!(
            offs,
            vec![
                MidiEvent::NoteOff {
                    channel: 0,
                    key: 60,
                    velocity: 0
                },
                MidiEvent::NoteOff {
                    channel: 15,
                    key: 127,
                    velocity: 0
                }
            ]
        );
        assert!(h.is_empty());
    }
}
