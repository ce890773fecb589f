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
//!   cluttering the MIDI input's connection list.

use std::ffi::CString;
use std::path::Path;

use alsa::seq::{Addr, ClientIter, EventType, PortCap, PortInfo, PortSubscribe, PortType, Seq};

use super::clock::{measure, QueueClock};
use crate::engine::EngineError;

/// The sequencer device node.
pub const SEQ_DEVICE: &str = "/dev/snd/seq";

/// Kernel-side event pool sizes asked for (the kernel's per-client maximum);
/// a large input pool lets a burst or a chunked 64 KiB SysEx wait in the
/// kernel while the thread catches up instead of overrunning.
const POOL_EVENTS: u32 = 2000;

/// User-space read buffer: big enough for one SysEx event of 64 KiB plus headers.
const INPUT_BUFFER_BYTES: u32 = 128 * 1024;

/// An open client with its ports and running queue.
#[derive(Debug)]
pub struct SeqClient {
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
    /// Private announce-listening port number.
    pub announce_port: i32,
    /// Our queue (input timestamps, scheduled output).
    pub queue: i32,
    /// Queue time ↔ monotonic, anchored when the queue started.
    pub clock: QueueClock,
}

fn seq_err(what: &str, e: alsa::Error) -> EngineError {
    EngineError::ClientCreation(format!("{what}: {e}"))
}

/// Opens the sequencer, names the client (`base`, `base-2`, …), creates the
/// ports, starts the queue and anchors the clock.
///
/// # Errors
/// [`EngineError::NoSequencer`] if `/dev/snd/seq` is missing,
/// [`EngineError::PermissionDenied`] if it may not be opened,
/// [`EngineError::ClientCreation`] for anything else, with the step that failed.
pub fn open(base: &str) -> Result<SeqClient, EngineError> {
    if !Path::new(SEQ_DEVICE).exists() {
        return Err(EngineError::NoSequencer);
    }
    let seq = Seq::open(None, None, true).map_err(|e| match e.errno() {
        libc::EACCES | libc::EPERM => EngineError::PermissionDenied,
        libc::ENOENT | libc::ENODEV | libc::ENXIO => EngineError::NoSequencer,
        _ => seq_err("opening the sequencer (snd_seq_open)", e),
    })?;
    let client = seq
        .client_id()
        .map_err(|e| seq_err("reading our client id", e))?;

    let name = free_name(&seq, client, base);
    let cname = CString::new(name.clone())
        .map_err(|_| EngineError::ClientCreation("client name contains a NUL byte".into()))?;
    seq.set_client_name(&cname)
        .map_err(|e| seq_err("naming the client", e))?;
    // Larger pools are an optimisation: a kernel that refuses keeps its defaults.
    let _ = seq.set_client_pool_input(POOL_EVENTS);
    let _ = seq.set_client_pool_output(POOL_EVENTS);
    let _ = seq.input().set_input_buffer_size(INPUT_BUFFER_BYTES);

    let queue = seq
        .alloc_named_queue(&cname)
        .map_err(|e| seq_err("allocating a queue", e))?;

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
        None,
    )?;
    let sub = PortSubscribe::empty().map_err(|e| seq_err("allocating a subscription", e))?;
    sub.set_sender(Addr::system_announce());
    sub.set_dest(Addr {
        client,
        port: announce_port,
    });
    seq.subscribe_port(&sub)
        .map_err(|e| seq_err("subscribing to the system announce port", e))?;

    seq.control_queue(queue, EventType::Start, 0, None)
        .map_err(|e| seq_err("starting the queue", e))?;
    seq.drain_output()
        .map_err(|e| seq_err("starting the queue (drain)", e))?;
    let sample = measure(|| {
        seq.get_queue_status(queue)
            .map(|s| s.get_real_time())
            .map_err(|e| seq_err("reading the queue time", e))
    })?;
    Ok(SeqClient {
        seq,
        client,
        name,
        in_port,
        out_port,
        announce_port,
        queue,
        clock: QueueClock::anchor(sample),
    })
}

fn create_port(
    seq: &Seq,
    name: &std::ffi::CStr,
    caps: PortCap,
    kind: PortType,
    timestamp_queue: Option<i32>,
) -> Result<i32, EngineError> {
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
    use super::pick_name;

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
