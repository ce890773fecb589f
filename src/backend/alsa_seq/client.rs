//! Opening the sequencer client: name, ports, queue, pools.
//!
//! One client per engine. Its name is `PhasorSync` when no other client has
//! that name, else `PhasorSync-2`, `PhasorSync-3`, … (the lowest free number,
//! checked against the clients present when the engine starts; two engines
//! started at the very same instant in different processes could pick the same
//! name, which is harmless: clients are told apart by number). Ports:
//! - `MIDI in` (WRITE|SUBS_WRITE, MIDI_GENERIC|APPLICATION): any patchbay can
//!   connect a source to it; it stamps every event with our queue's real time;
//! - `MIDI out` (READ|SUBS_READ, MIDI_GENERIC|APPLICATION): what `send` emits;
//! - `announce` (WRITE|NO_EXPORT, APPLICATION): private, subscribed to the
//!   system announce port so the thread hears ports come and go without
//!   cluttering the MIDI input's connection list; stamped like `MIDI in`.

use std::ffi::CString;
use std::path::Path;

use alsa::seq::{Addr, ClientIter, EventType, PortCap, PortInfo, PortSubscribe, PortType, Seq};

use super::error::SeqError;
use super::queue_time::{measure, QueueTime};
use super::raw::seq_fd;
use super::timer::{self, QueueTimer};

/// The sequencer device node.
pub(crate) const SEQ_DEVICE: &str = "/dev/snd/seq";

/// Kernel-side event pool sizes asked for (the kernel's per-client maximum);
/// a large input pool lets a burst or a chunked 64 KiB SysEx wait in the
/// kernel while the thread catches up instead of overrunning.
const POOL_EVENTS: u32 = 2000;

/// User-space read buffer: big enough for one SysEx event of 64 KiB plus headers.
const INPUT_BUFFER_BYTES: u32 = 128 * 1024;

/// An open client with its ports and running queue.
#[derive(Debug)]
pub(crate) struct SeqClient {
    /// The handle.
    pub seq: Seq,
    /// Our client number.
    pub client: i32,
    /// The name we took.
    pub name: String,
    /// `MIDI in` port number.
    pub in_port: i32,
    /// `MIDI out` port number.
    pub out_port: i32,
    /// Our queue (input timestamps, scheduled output).
    pub queue: i32,
    /// Queue time ↔ monotonic, anchored when the queue started.
    pub clock: QueueTime,
    /// Why the announce subscription failed, if it did: the client works,
    /// without hot-plug (see [`open`]).
    pub hotplug_error: Option<String>,
    /// The sequencer's descriptor (owned by `seq`), for the requests the
    /// `alsa` crate does not wrap ([`super::raw`]).
    pub fd: std::os::fd::RawFd,
    /// The timer the queue runs on, `None` when the kernel does not say.
    pub timer: Option<QueueTimer>,
    /// Why asking for the high-resolution timer failed, if it did.
    pub timer_error: Option<String>,
}

fn seq_err(what: &str, e: alsa::Error) -> SeqError {
    SeqError::ClientCreation(format!("{what}: {e}"))
}

/// A bare non-blocking sequencer handle (no name, ports or queue), for
/// tools that only look, such as listing the ports.
///
/// # Errors
/// [`SeqError::NoSequencer`] if `/dev/snd/seq` is missing,
/// [`SeqError::PermissionDenied`] if it may not be opened,
/// [`SeqError::ClientCreation`] for anything else.
pub fn open_seq() -> Result<Seq, SeqError> {
    if !Path::new(SEQ_DEVICE).exists() {
        return Err(SeqError::NoSequencer);
    }
    Seq::open(None, None, true).map_err(|e| match e.errno() {
        libc::EACCES | libc::EPERM => SeqError::PermissionDenied,
        libc::ENOENT | libc::ENODEV | libc::ENXIO => SeqError::NoSequencer,
        _ => seq_err("opening the sequencer (snd_seq_open)", e),
    })
}

/// Opens the sequencer, names the client (`base`, `base-2`, …), creates the
/// ports, asks for the queue to run on the high-resolution timer at
/// `timer_hz` ticks a second, starts the queue and anchors the clock. A failed subscription to
/// the system announce port is not an error: the client works without
/// hot-plug, and [`SeqClient::hotplug_error`] says why.
///
/// # Errors
/// [`SeqError::NoSequencer`] if `/dev/snd/seq` is missing,
/// [`SeqError::PermissionDenied`] if it may not be opened,
/// [`SeqError::ClientCreation`] for anything else, with the step that failed.
pub(crate) fn open(base: &str, timer_hz: u32) -> Result<SeqClient, SeqError> {
    let seq = open_seq()?;
    let client = seq
        .client_id()
        .map_err(|e| seq_err("reading our client id", e))?;

    let name = free_name(&seq, client, base);
    let cname = CString::new(name.clone())
        .map_err(|_| SeqError::ClientCreation("client name contains a NUL byte".into()))?;
    seq.set_client_name(&cname)
        .map_err(|e| seq_err("naming the client", e))?;
    // Larger pools are an optimisation: a kernel that refuses keeps its defaults.
    let _ = seq.set_client_pool_input(POOL_EVENTS);
    let _ = seq.set_client_pool_output(POOL_EVENTS);
    let _ = seq.input().set_input_buffer_size(INPUT_BUFFER_BYTES);

    let queue = seq
        .alloc_named_queue(&cname)
        .map_err(|e| seq_err("allocating a queue", e))?;
    let fd = seq_fd(&seq).map_err(SeqError::ClientCreation)?;
    // Before the queue starts: the kernel reopens the queue's timer.
    let timer_error = timer::request_high_resolution(fd, queue, timer_hz).err();

    let in_port = create_port(
        &seq,
        c"MIDI in",
        PortCap::WRITE | PortCap::SUBS_WRITE,
        PortType::MIDI_GENERIC | PortType::APPLICATION,
        Some(queue),
    )?;
    let out_port = create_port(
        &seq,
        c"MIDI out",
        PortCap::READ | PortCap::SUBS_READ,
        PortType::MIDI_GENERIC | PortType::APPLICATION,
        None,
    )?;
    let announce_port = create_port(
        &seq,
        c"announce",
        PortCap::WRITE | PortCap::NO_EXPORT,
        PortType::APPLICATION,
        // Stamped: a device that goes away is judged at the time it went
        // (see `away_notes`), not when the thread read the news.
        Some(queue),
    )?;
    // Without announcements the engine still does its main job (MIDI in and
    // out, patterns applied at start): degrade rather than fail.
    let hotplug_error = subscribe_announce(&seq, client, announce_port).err();

    seq.control_queue(queue, EventType::Start, 0, None)
        .map_err(|e| seq_err("starting the queue", e))?;
    seq.drain_output()
        .map_err(|e| seq_err("starting the queue (drain)", e))?;
    let sample = measure(|| {
        seq.get_queue_status(queue)
            .map(|s| s.get_real_time())
            .map_err(|e| seq_err("reading the queue time", e))
    })?;
    let timer = timer::in_use(queue);
    // A queue on the kernel's clock runs at its rate exactly: measure none.
    // Another timer (a sound card's) or one the kernel does not name may
    // run at its own.
    let clock = match timer.map(|t| t.kind) {
        Some(timer::TimerKind::HighResolution | timer::TimerKind::System) => {
            QueueTime::on_kernel_clock(sample)
        }
        _ => QueueTime::anchor(sample),
    };
    Ok(SeqClient {
        seq,
        client,
        name,
        in_port,
        out_port,
        queue,
        clock,
        hotplug_error,
        fd,
        timer,
        timer_error,
    })
}

/// Subscribes our private port to the system announce port.
fn subscribe_announce(seq: &Seq, client: i32, port: i32) -> Result<(), String> {
    let sub = PortSubscribe::empty().map_err(|e| format!("allocating a subscription: {e}"))?;
    sub.set_sender(Addr::system_announce());
    sub.set_dest(Addr { client, port });
    seq.subscribe_port(&sub).map_err(|e| e.to_string())
}

/// The kernel's counters of a client's input pool (its FIFO of events not
/// yet read), from `/proc/asound/seq/clients`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputPool {
    /// Cells in the pool.
    pub size: u64,
    /// Cells holding unread events now.
    pub in_use: u64,
    /// Cells allocated since the client opened (events offered and queued).
    pub alloc_success: u64,
    /// Cells that could not be allocated (events dropped, pool full).
    pub alloc_failures: u64,
}

impl InputPool {
    /// Cells the kernel lost before the client read them, given the
    /// `cells_read` since the client opened: cells offered to the pool
    /// (allocated or refused) minus those read and those still queued. On an
    /// overrun the kernel drops the events that did not fit *and* clears the
    /// queue, and tells the client neither count: this is the only figure.
    /// Exact for fixed-size events when input is quiet; a SysEx refused half
    /// way counts its cells, not one event.
    pub fn lost(&self, cells_read: u64) -> u64 {
        (self.alloc_success + self.alloc_failures).saturating_sub(cells_read + self.in_use)
    }
}

/// Size of a kernel event cell (`struct snd_seq_event`).
pub(crate) const CELL_BYTES: u64 = 28;

/// Cells an event of `ext_len` variable bytes takes in the kernel's pool:
/// one for the event, plus its variable data spread over further cells.
pub(crate) fn cells_for(ext_len: usize) -> u64 {
    1 + (ext_len as u64).div_ceil(CELL_BYTES)
}

/// Reads `client`'s input pool counters; `None` without procfs or the client.
pub(crate) fn input_pool(client: i32) -> Option<InputPool> {
    let text = std::fs::read_to_string("/proc/asound/seq/clients").ok()?;
    parse_input_pool(&text, client)
}

/// Reads `client`'s *output* pool counters (same fields: cells for events
/// scheduled on a queue, waiting for their time); `None` without procfs or
/// the client.
pub fn output_pool(client: i32) -> Option<InputPool> {
    let text = std::fs::read_to_string("/proc/asound/seq/clients").ok()?;
    parse_pool(&text, client, "Output pool :")
}

fn parse_input_pool(text: &str, client: i32) -> Option<InputPool> {
    parse_pool(text, client, "Input pool :")
}

fn parse_pool(text: &str, client: i32, section: &str) -> Option<InputPool> {
    let head = format!("Client {client:3} ");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with(&head))
        .skip(1)
        .take_while(|l| !l.starts_with("Client "))
        .skip_while(|l| l.trim() != section);
    lines.next()?;
    let mut pool = InputPool::default();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            break;
        };
        let Ok(v) = v.trim().parse::<u64>() else {
            break;
        };
        match k.trim() {
            "Pool size" => pool.size = v,
            "Cells in use" => pool.in_use = v,
            "Alloc success" => pool.alloc_success = v,
            "Alloc failures" => pool.alloc_failures = v,
            _ => {}
        }
    }
    Some(pool)
}

fn create_port(
    seq: &Seq,
    name: &std::ffi::CStr,
    caps: PortCap,
    kind: PortType,
    timestamp_queue: Option<i32>,
) -> Result<i32, SeqError> {
    let mut info = PortInfo::empty().map_err(|e| seq_err("allocating port info", e))?;
    info.set_name(name);
    info.set_capability(caps);
    info.set_type(kind);
    info.set_midi_channels(16);
    if let Some(q) = timestamp_queue {
        // Every event delivered to this port gets our queue's real time.
        info.set_timestamping(true);
        info.set_timestamp_real(true);
        info.set_timestamp_queue(q);
    }
    seq.create_port(&info)
        .map_err(|e| seq_err(&format!("creating port {name:?}"), e))?;
    Ok(info.get_port())
}

/// `base` if no other client has it, else `base-N` with the lowest free N ≥ 2.
fn free_name(seq: &Seq, own: i32, base: &str) -> String {
    let taken: Vec<String> = ClientIter::new(seq)
        .filter(|c| c.get_client() != own)
        .filter_map(|c| c.get_name().ok().map(str::to_string))
        .collect();
    pick_name(base, &taken)
}

fn pick_name(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::{cells_for, parse_input_pool, pick_name, InputPool};

    #[test]
    fn an_event_takes_one_cell_plus_its_datas() {
        // A 256-byte SysEx event: 1 + 10 cells; 232 bytes: 1 + 9; 3: 1 + 1.
        assert_eq!(cells_for(256), 11);
        assert_eq!(cells_for(232), 10);
        assert_eq!(cells_for(3), 2);
    }

    #[test]
    fn input_pool_from_procfs_text() {
        let text = "Client   0 : \"System\" [Kernel Legacy]\n  Port   0 : \"Timer\" (Rwe-)\n\
                    Client 128 : \"aseqdump\" [User Legacy]\n  Port   0 : \"aseqdump\" (-We-)\n\
                    \x20   Connected From: 14:0\n  Input pool :\n    Pool size          : 200\n\
                    \x20   Cells in use       : 3\n    Peak cells in use  : 9\n\
                    \x20   Alloc success      : 1234\n    Alloc failures     : 5\n\
                    Client 129 : \"x\" [User Legacy]\n";
        assert_eq!(
            parse_input_pool(text, 128),
            Some(InputPool {
                size: 200,
                in_use: 3,
                alloc_success: 1234,
                alloc_failures: 5
            })
        );
        assert_eq!(parse_input_pool(text, 0), None);
        assert_eq!(parse_input_pool(text, 7), None);
    }

    #[test]
    fn cells_offered_and_neither_read_nor_queued_are_lost() {
        let pool = InputPool {
            size: 200,
            in_use: 3,
            alloc_success: 1234,
            alloc_failures: 5,
        };
        assert_eq!(pool.lost(1200), 1234 + 5 - 1200 - 3);
        assert_eq!(pool.lost(1231), 5, "only the refused ones");
        assert_eq!(pool.lost(5000), 0, "never below zero");
    }

    #[test]
    fn names_are_numbered_from_two() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(pick_name("PhasorSync", &t(&["Midi Through"])), "PhasorSync");
        assert_eq!(pick_name("PhasorSync", &t(&["PhasorSync"])), "PhasorSync-2");
        assert_eq!(
            pick_name("PhasorSync", &t(&["PhasorSync", "PhasorSync-2"])),
            "PhasorSync-3"
        );
        assert_eq!(pick_name("PhasorSync", &t(&["PhasorSync-2"])), "PhasorSync");
    }
}
