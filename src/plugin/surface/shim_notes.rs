//! What the entry shim did to each instance's transports, made visible as
//! the rest of the plugin does it (`report.rs`): the audio thread only
//! counts and rings the host's doorbell; the main thread logs. Each kind is
//! logged once per instance: a host that sends a bad transport sends one
//! every block.
//!
//! The shim sits outside clack, so it cannot reach the instance's own
//! counters; it keeps its own, in a fixed table of slots keyed by the
//! instance's `clap_plugin` pointer (claimed in `create_plugin`, freed in
//! `destroy`). An instance beyond [`SLOTS`] gets none: its transports are
//! still repaired or dropped, only not logged.

use super::transport_header::Note;
use clap_sys::ext::log::{clap_host_log, CLAP_EXT_LOG, CLAP_LOG_INFO, CLAP_LOG_WARNING};
use clap_sys::host::clap_host;
use clap_sys::plugin::clap_plugin;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// How many instances at once get their notes logged.
pub const SLOTS: usize = 64;

/// One instance's notes.
struct Slot {
    /// The instance (null: free).
    plugin: AtomicPtr<clap_plugin>,
    /// Its host, for the doorbell and the log.
    host: AtomicPtr<clap_host>,
    /// Blocks seen with each [`Note`].
    seen: [AtomicU64; Note::COUNT],
    /// Whether each note was logged (main thread only).
    logged: [AtomicBool; Note::COUNT],
}

#[allow(clippy::declare_interior_mutable_const)] // only to build the array below
const FREE: Slot = Slot {
    plugin: AtomicPtr::new(std::ptr::null_mut()),
    host: AtomicPtr::new(std::ptr::null_mut()),
    seen: [const { AtomicU64::new(0) }; Note::COUNT],
    logged: [const { AtomicBool::new(false) }; Note::COUNT],
};

static TABLE: [Slot; SLOTS] = [FREE; SLOTS];

/// What the user reads for each [`Note`], and its CLAP log severity.
const LINES: [(i32, &CStr); Note::COUNT] = [
    (
        CLAP_LOG_INFO,
        c"The host's transport has a zeroed event header (space, type and size 0); PhasorSync \
          reads its fields as a core transport event (logged once).",
    ),
    (
        CLAP_LOG_WARNING,
        c"The host's transport says it is a core transport event of size 0: PhasorSync ignores \
          it (no transport: MIDI clock out and the phasor's host mode stop) (logged once).",
    ),
    (
        CLAP_LOG_WARNING,
        c"The host's transport has a malformed event header (not a whole core transport event): \
          PhasorSync ignores it (no transport: MIDI clock out and the phasor's host mode stop) \
          (logged once).",
    ),
    (
        CLAP_LOG_WARNING,
        c"The host's transport has a zeroed event header and fields out of range or \
          inconsistent (tempo, positions, loop, time signature or flags): PhasorSync ignores \
          it (no transport: MIDI clock out and the phasor's host mode stop) (logged once).",
    ),
];

fn slot(plugin: *const clap_plugin) -> Option<&'static Slot> {
    TABLE
        .iter()
        .find(|s| std::ptr::eq(s.plugin.load(Ordering::Acquire), plugin))
}

/// Give `plugin` (just created, for `host`) a slot; false when all are taken.
///
/// Main thread (the factory's `create_plugin`).
pub fn register(plugin: *const clap_plugin, host: *const clap_host) -> bool {
    if plugin.is_null() {
        return false;
    }
    TABLE.iter().any(|s| {
        let free = s
            .plugin
            .compare_exchange(
                std::ptr::null_mut(),
                plugin.cast_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        if free {
            s.host.store(host.cast_mut(), Ordering::Release);
            for (seen, logged) in s.seen.iter().zip(&s.logged) {
                seen.store(0, Ordering::Relaxed);
                logged.store(false, Ordering::Relaxed);
            }
        }
        free
    })
}

/// Free `plugin`'s slot (it is being destroyed).
///
/// Main thread (`destroy`); the host no longer processes this instance.
pub fn release(plugin: *const clap_plugin) {
    if let Some(s) = slot(plugin) {
        s.host.store(std::ptr::null_mut(), Ordering::Release);
        s.plugin.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// Count `note` for `plugin`'s block; the first of its kind asks the host
/// for a main-thread callback, which logs it.
///
/// # Realtime Safety
/// At most [`SLOTS`] atomic loads, one atomic add, and once per kind per
/// instance the host's `request_callback` (thread-safe, as the processor's
/// doorbell uses it).
pub fn count(plugin: *const clap_plugin, note: Note) {
    let Some(s) = slot(plugin) else {
        return;
    };
    if s.seen[note as usize].fetch_add(1, Ordering::Relaxed) == 0 {
        let host = s.host.load(Ordering::Acquire);
        // SAFETY: the host registered with this instance outlives it (CLAP).
        if let Some(host) = unsafe { host.as_ref() } {
            if let Some(request_callback) = host.request_callback {
                // SAFETY: the host's own thread-safe function on its own struct.
                unsafe { request_callback(host) };
            }
        }
    }
}

/// Log, through the host, each note of `plugin` seen and not yet logged.
///
/// Main thread (the plugin's `on_main_thread`).
pub fn report(plugin: *const clap_plugin) {
    let Some(s) = slot(plugin) else {
        return;
    };
    for ((seen, logged), (severity, line)) in s.seen.iter().zip(&s.logged).zip(LINES) {
        if seen.load(Ordering::Relaxed) > 0 && !logged.swap(true, Ordering::Relaxed) {
            log(s.host.load(Ordering::Acquire), severity, line);
        }
    }
}

/// One line through the host's log, or on stderr when it has none.
fn log(host: *const clap_host, severity: i32, line: &CStr) {
    // SAFETY: the host registered with this instance outlives it (CLAP).
    let host_log = unsafe { host.as_ref() }
        .and_then(|h| {
            // SAFETY: the host's own function, on the main thread, with a valid id.
            let ext = unsafe { h.get_extension?(h, CLAP_EXT_LOG.as_ptr()) };
            // SAFETY: for this id the pointer, when not null, is a `clap_host_log`.
            unsafe { ext.cast::<clap_host_log>().as_ref() }
        })
        .and_then(|l| l.log);
    match host_log {
        // SAFETY: the host's log function, with its own host pointer and a
        // NUL-terminated line.
        Some(log) => unsafe { log(host, severity, line.as_ptr()) },
        None => eprintln!("PhasorSync: {}", line.to_string_lossy()),
    }
}
