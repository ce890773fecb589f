//! The host's transport as CLAP gives it, read into the transport model
//! ([`crate::midi_clock::transport`]) and cut into [`Stretch`]es.
//!
//! CLAP gives the transport at a block's first sample (`clap_process.transport`)
//! and, in hosts that change tempo or position inside a block, as transport
//! events at later samples.

use crate::midi_clock::ticks::Transport;
use crate::midi_clock::transport::{HostTransport, Stretch};
use clack_plugin::events::event_types::{TransportEvent, TransportFlags};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::InputEvents;

/// Reads `ev`; `None` when the host gives no song position in beats (there
/// is then no song to follow).
///
/// # Realtime Safety
/// Arithmetic only.
pub fn read(ev: &TransportEvent) -> Option<HostTransport> {
    let flags = ev.flags;
    if !flags.contains(TransportFlags::HAS_BEATS_TIMELINE) {
        return None;
    }
    let tempo_bpm = if flags.contains(TransportFlags::HAS_TEMPO) {
        ev.tempo
    } else {
        f64::NAN
    };
    let loop_beats = flags
        .contains(TransportFlags::IS_LOOP_ACTIVE)
        .then(|| (ev.loop_start_beats.to_float(), ev.loop_end_beats.to_float()));
    let (num, den) = (ev.time_signature_numerator, ev.time_signature_denominator);
    let beats_per_bar = if flags.contains(TransportFlags::HAS_TIME_SIGNATURE)
        && num > 0
        && den > 0
        && den.is_power_of_two()
    {
        f64::from(num) * 4.0 / f64::from(den)
    } else {
        4.0
    };
    Some(HostTransport {
        song: Transport {
            playing: flags.contains(TransportFlags::IS_PLAYING),
            song_pos_beats: ev.song_pos_beats.to_float(),
            tempo_bpm,
            tempo_inc: ev.tempo_inc,
            loop_beats,
        },
        bar_start_beats: ev.bar_start.to_float(),
        beats_per_bar,
    })
}

/// Cuts a block of `frames` samples at the host's transport events.
///
/// The first stretch starts at sample 0 with `first` (the block's
/// transport); each transport event in `events` at a sample inside the block
/// starts a new one (several at one sample: the last wins; events out of
/// order or past the block are ignored, as a host must not send them).
/// Stretches are never empty, and cover `0..frames` exactly (none for a
/// block of 0 frames).
///
/// # Realtime Safety
/// No allocation: an iterator over the host's event list.
pub fn stretches<'a>(
    first: Option<&TransportEvent>,
    events: &'a InputEvents<'a>,
    frames: u32,
) -> impl Iterator<Item = Stretch> + 'a {
    let mut cuts = events
        .iter()
        .filter_map(|e| match e.as_core_event() {
            Some(CoreEventSpace::Transport(t)) => Some((t.header.time(), read(t))),
            _ => None,
        })
        .peekable();
    let mut start = 0u32;
    let mut current = first.and_then(read);
    std::iter::from_fn(move || {
        if start >= frames {
            return None;
        }
        // Events at or before `start` replace the transport in force there.
        while let Some((_, t)) = cuts.next_if(|(at, _)| *at <= start) {
            current = t;
        }
        let end = cuts
            .peek()
            .map_or(frames, |(at, _)| (*at).min(frames))
            .max(start + 1);
        let stretch = Stretch {
            start,
            end,
            transport: current,
        };
        start = end;
        Some(stretch)
    })
}

/// One block's [`Stretch`]es, cut once per block and read by everything that
/// follows the song (the phasor, then MIDI clock out).
#[derive(Debug)]
pub struct BlockStretches {
    list: Vec<Stretch>,
}

impl BlockStretches {
    /// Room for the stretches of a block of up to `max_frames` samples (one
    /// per sample at most: stretches are never empty), allocated and touched
    /// now (on the main thread), so cutting a block takes no page fault.
    pub fn new(max_frames: u32) -> Self {
        let none = Stretch {
            start: 0,
            end: 0,
            transport: None,
        };
        let mut list = vec![none; max_frames.max(1) as usize];
        list.clear();
        Self { list }
    }

    /// Cuts this block (see [`stretches`]) and returns its stretches.
    ///
    /// A block longer than the `max_frames` promised at activation (a host
    /// breaking CLAP's promise) may have more stretches than there is room
    /// for: its later transport events are then ignored, the last stretch
    /// running to the block's end, as for the events [`stretches`] ignores.
    ///
    /// # Realtime Safety
    /// No allocation: within the room made by [`Self::new`].
    pub fn cut(
        &mut self,
        first: Option<&TransportEvent>,
        events: &InputEvents,
        frames: u32,
    ) -> &[Stretch] {
        self.list.clear();
        for stretch in stretches(first, events, frames) {
            if self.list.len() < self.list.capacity() {
                self.list.push(stretch);
            } else if let Some(last) = self.list.last_mut() {
                last.end = stretch.end;
            }
        }
        &self.list
    }

    /// The stretches of the block last cut.
    pub fn get(&self) -> &[Stretch] {
        &self.list
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clack_plugin::events::io::EventBuffer;
    use clack_plugin::events::{EventFlags, EventHeader};
    use clack_plugin::utils::{BeatTime, SecondsTime};

    /// A transport event at sample `time` with `flags` (loop 4..8, bar at
    /// beat 3, 3/4: what the flags do not claim is ignored by `read`).
    pub(crate) fn transport(
        time: u32,
        beats: f64,
        tempo: f64,
        flags: TransportFlags,
    ) -> TransportEvent {
        TransportEvent {
            header: EventHeader::new_core(time, EventFlags::empty()),
            flags,
            song_pos_beats: BeatTime::from_float(beats),
            song_pos_seconds: SecondsTime::from_int(0),
            tempo,
            tempo_inc: 0.0,
            loop_start_beats: BeatTime::from_float(4.0),
            loop_end_beats: BeatTime::from_float(8.0),
            loop_start_seconds: SecondsTime::from_int(0),
            loop_end_seconds: SecondsTime::from_int(0),
            bar_start: BeatTime::from_float(3.0),
            bar_number: 1,
            time_signature_numerator: 3,
            time_signature_denominator: 4,
        }
    }

    const FULL: TransportFlags = TransportFlags::HAS_TEMPO
        .union(TransportFlags::HAS_BEATS_TIMELINE)
        .union(TransportFlags::HAS_TIME_SIGNATURE)
        .union(TransportFlags::IS_PLAYING);

    #[test]
    fn reads_what_the_flags_say_is_there() {
        let t = read(&transport(0, 5.5, 120.0, FULL)).unwrap();
        assert!(t.song.playing);
        assert_eq!((t.song.song_pos_beats, t.song.tempo_bpm), (5.5, 120.0));
        assert_eq!((t.bar_start_beats, t.beats_per_bar), (3.0, 3.0));
        assert_eq!(t.song.loop_beats, None);

        let looped = read(&transport(
            0,
            0.0,
            90.0,
            FULL | TransportFlags::IS_LOOP_ACTIVE,
        ));
        assert_eq!(looped.unwrap().song.loop_beats, Some((4.0, 8.0)));

        let bare = read(&transport(
            0,
            1.0,
            120.0,
            TransportFlags::HAS_BEATS_TIMELINE,
        ))
        .unwrap();
        assert!(!bare.song.playing && bare.song.tempo_bpm.is_nan());
        assert_eq!(bare.beats_per_bar, 4.0);

        assert_eq!(
            read(&transport(0, 1.0, 120.0, TransportFlags::HAS_TEMPO)),
            None
        );
    }

    #[test]
    fn a_bad_time_signature_is_four_four() {
        let mut ev = transport(0, 0.0, 120.0, FULL);
        for (num, den) in [(0, 4), (4, 0), (7, 3)] {
            ev.time_signature_numerator = num;
            ev.time_signature_denominator = den;
            assert_eq!(read(&ev).unwrap().beats_per_bar, 4.0, "{num}/{den}");
        }
        ev.time_signature_numerator = 6;
        ev.time_signature_denominator = 8;
        assert_eq!(read(&ev).unwrap().beats_per_bar, 3.0);
    }

    #[test]
    fn cuts_at_transport_events_and_covers_the_block() {
        let first = transport(0, 0.0, 120.0, FULL);
        let mut buffer = EventBuffer::new();
        buffer.push(&transport(0, 0.5, 121.0, FULL));
        buffer.push(&transport(100, 1.0, 122.0, FULL));
        buffer.push(&transport(100, 1.5, 123.0, FULL));
        buffer.push(&transport(300, 2.0, 124.0, FULL));
        let events = InputEvents::from_buffer(&buffer);
        let got: Vec<_> = stretches(Some(&first), &events, 256)
            .map(|s| (s.start, s.end, s.transport.map(|t| t.song.tempo_bpm)))
            .collect();
        // The event at 0 replaces the block's transport; the last at 100 wins;
        // the one past the block is ignored.
        assert_eq!(got, [(0, 100, Some(121.0)), (100, 256, Some(123.0))]);

        let none: Vec<_> = stretches(None, &InputEvents::empty(), 64).collect();
        assert_eq!(
            none,
            [Stretch {
                start: 0,
                end: 64,
                transport: None
            }]
        );
        assert_eq!(stretches(Some(&first), &events, 0).count(), 0);
    }

    #[test]
    fn block_stretches_are_the_cut_and_cover_a_block_past_their_room() {
        let first = transport(0, 0.0, 120.0, FULL);
        let mut buffer = EventBuffer::new();
        for (at, tempo) in [(10, 121.0), (20, 122.0), (30, 123.0)] {
            buffer.push(&transport(at, 1.0, tempo, FULL));
        }
        let events = InputEvents::from_buffer(&buffer);
        let cut: Vec<_> = stretches(Some(&first), &events, 64).collect();
        let mut block = BlockStretches::new(64);
        assert_eq!(block.cut(Some(&first), &events, 64), cut.as_slice());
        assert_eq!(block.get(), cut.as_slice());

        // Room for two stretches, a block of four: the later cuts are
        // ignored and the block is still covered.
        let mut small = BlockStretches::new(2);
        let room = small.list.capacity();
        assert!(room < cut.len(), "the block fits: the test shows nothing");
        let got = small.cut(Some(&first), &events, 64);
        assert_eq!(got.len(), room);
        assert_eq!(&got[..room - 1], &cut[..room - 1]);
        assert_eq!(
            (got[room - 1].start, got[room - 1].end),
            (cut[room - 1].start, 64)
        );
    }
}
