//! Output devices that go away and come back: the thread tells
//! [`AwayNotes`] who subscribes to our `MIDI out` and who leaves, and sends a
//! device that comes back the note-offs it missed, to it alone, at once.

use alsa::seq::{Addr, Connect, EvNote, Event, EventType, Seq};

use crate::backend::alsa_seq::away_notes::AwayNotes;
use crate::backend::alsa_seq::connect::names;
use crate::engine::{LogLevel, News};
use crate::timeline::monotonic_ns;

/// A subscription to or from our output `out` was made or removed (heard
/// at `at_ns` on the announce port). One removed from a port that no
/// longer exists is a departure (the kernel may announce it as the port
/// goes); one removed from a port still there is the user's choice.
pub(super) fn reader_changed(
    seq: &Seq,
    news: &News,
    away: &mut AwayNotes,
    out: Addr,
    conn: Connect,
    subscribed: bool,
    at_ns: u64,
) {
    if conn.sender != out || conn.dest.client == out.client {
        return;
    }
    let dest = conn.dest;
    match (subscribed, names(seq, dest)) {
        (true, Some((client, port))) => {
            let name = format!("{client}:{port}");
            let label = format!("{}:{} ({name})", dest.client, dest.port);
            let mut failed = None;
            let mut sent = 0u64;
            // Now, not at the announcement: a note-off delivered since the
            // subscription reached the device.
            let missed =
                away.reader_added(dest, name, monotonic_ns(), |channel, key| {
                    match send_off(seq, out.port, dest, channel, key) {
                        Ok(()) => sent += 1,
                        Err(e) => _ = failed.get_or_insert(e),
                    }
                });
            News::tally(&news.counters.sent_messages, sent);
            News::tally(&news.counters.sent_bytes, 3 * sent);
            if sent > 0 {
                news.log(
                    LogLevel::Info,
                    format!("{sent} note-off(s) sent to {label} that came back with notes held"),
                );
            }
            if let Some(e) = failed {
                let lost = missed as u64 - sent;
                news.count(&news.counters.output_dropped, lost);
                news.log(
                    LogLevel::Warning,
                    format!(
                        "{lost} note-off(s) for {label}, which came back with notes held, \
                         could not be sent ({e}): those notes may hang"
                    ),
                );
            }
        }
        // Gone already: its exit follows.
        (true, None) => {}
        (false, Some(_)) => away.reader_removed(dest),
        (false, None) => away.port_gone(dest, at_ns),
    }
}

/// A note-off from our port `port` to `dest` only, at once.
fn send_off(seq: &Seq, port: i32, dest: Addr, channel: u8, key: u8) -> Result<(), alsa::Error> {
    let note = EvNote {
        channel,
        note: key,
        velocity: 0,
        off_velocity: 0,
        duration: 0,
    };
    let mut ev = Event::new(EventType::Noteoff, &note);
    ev.set_source(port);
    ev.set_dest(dest);
    ev.set_direct();
    seq.event_output_direct(&mut ev).map(|_| ())
}
