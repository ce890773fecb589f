//! The bundle's `clap_entry`: clack's entry behind a thin C-ABI shim that
//! sanitises what a host passes to `process()`.
//!
//! Why: some hosts fill `clap_process.transport` with an event whose header is
//! not a transport header. Qtractor 0.9.31 leaves it zeroed (space 0, type 0,
//! size 0), and clack-plugin 0.2 panics on that in `Process::from_raw`, before
//! any plugin code runs, so every block failed. CLAP says the transport
//! pointer may be null ("no transport"); a transport whose header does not say
//! "core transport event, at least this big" is taken as exactly that.
//!
//! How: our `clap_entry` hands out our own plugin factory, which forwards to
//! clack's and, on each plugin it creates, swaps the `process` pointer for
//! [`process`]. Everything else (init, extensions, the descriptor) is clack's.

use super::PhasorSync;
use clack_plugin::entry::SinglePluginEntry;
use clap_sys::entry::clap_plugin_entry;
use clap_sys::events::{clap_event_transport, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_TRANSPORT};
use clap_sys::factory::plugin_factory::{clap_plugin_factory, CLAP_PLUGIN_FACTORY_ID};
use clap_sys::host::clap_host;
use clap_sys::plugin::{clap_plugin, clap_plugin_descriptor};
use clap_sys::process::{clap_process, clap_process_status, CLAP_PROCESS_ERROR};
use std::ffi::{c_char, c_void, CStr};
use std::sync::OnceLock;

/// clack's entry for the plugin. Not exported: the host sees [`clap_entry`].
static CLACK_ENTRY: clap_plugin_entry = clack_plugin::clack_entry!(SinglePluginEntry<PhasorSync>);

/// The entry point the host looks up in the bundle.
#[allow(non_upper_case_globals)]
#[unsafe(no_mangle)]
pub static clap_entry: clap_plugin_entry = clap_plugin_entry {
    clap_version: CLACK_ENTRY.clap_version,
    init: CLACK_ENTRY.init,
    deinit: CLACK_ENTRY.deinit,
    get_factory: Some(get_factory),
};

/// Our plugin factory: clack's, except for the plugins' `process`.
static FACTORY: clap_plugin_factory = clap_plugin_factory {
    get_plugin_count: Some(plugin_count),
    get_plugin_descriptor: Some(plugin_descriptor),
    create_plugin: Some(create_plugin),
};

/// The signature of a plugin's `process`.
type ProcessFn =
    unsafe extern "C" fn(*const clap_plugin, *const clap_process) -> clap_process_status;

/// clack's `process`, saved from the first plugin created. Every plugin comes
/// from the same `SinglePluginEntry<PhasorSync>`, so it is the same function
/// for all of them.
static CLACK_PROCESS: OnceLock<ProcessFn> = OnceLock::new();

/// clack's plugin factory, or `None` when its entry has none (failed init).
fn clack_factory() -> Option<&'static clap_plugin_factory> {
    let get_factory = CLACK_ENTRY.get_factory?;
    // SAFETY: a valid NUL-terminated id; clack's `get_factory` accepts any
    // id and returns null or a pointer to a factory owned by its entry, which
    // lives as long as the host keeps the entry initialised: the host may
    // only use factories (and so we only use this) between init and deinit.
    let raw = unsafe { get_factory(CLAP_PLUGIN_FACTORY_ID.as_ptr()) };
    // SAFETY: for this id the pointer, when not null, is a `clap_plugin_factory`.
    unsafe { raw.cast::<clap_plugin_factory>().as_ref() }
}

/// `clap_plugin_entry.get_factory`: our plugin factory, other ids to clack.
unsafe extern "C" fn get_factory(factory_id: *const c_char) -> *const c_void {
    if factory_id.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the host passes a NUL-terminated string (checked non-null).
    let id = unsafe { CStr::from_ptr(factory_id) };
    if id == CLAP_PLUGIN_FACTORY_ID {
        return match clack_factory() {
            Some(_) => std::ptr::from_ref(&FACTORY).cast(),
            None => std::ptr::null(),
        };
    }
    match CLACK_ENTRY.get_factory {
        // SAFETY: forwarded unchanged, under the host's own guarantees.
        Some(get) => unsafe { get(factory_id) },
        None => std::ptr::null(),
    }
}

/// `clap_plugin_factory.get_plugin_count`, forwarded to clack.
unsafe extern "C" fn plugin_count(_factory: *const clap_plugin_factory) -> u32 {
    match clack_factory() {
        Some(
            f @ clap_plugin_factory {
                get_plugin_count: Some(count),
                ..
            },
        ) => {
            // SAFETY: clack's own function on clack's own factory.
            unsafe { count(f) }
        }
        _ => 0,
    }
}

/// `clap_plugin_factory.get_plugin_descriptor`, forwarded to clack.
unsafe extern "C" fn plugin_descriptor(
    _factory: *const clap_plugin_factory,
    index: u32,
) -> *const clap_plugin_descriptor {
    match clack_factory() {
        Some(
            f @ clap_plugin_factory {
                get_plugin_descriptor: Some(descriptor),
                ..
            },
        ) => {
            // SAFETY: clack's own function on clack's own factory; it
            // checks the index.
            unsafe { descriptor(f, index) }
        }
        _ => std::ptr::null(),
    }
}

/// `clap_plugin_factory.create_plugin`: clack creates the plugin, we put
/// [`process`] in front of its `process`.
unsafe extern "C" fn create_plugin(
    _factory: *const clap_plugin_factory,
    host: *const clap_host,
    plugin_id: *const c_char,
) -> *const clap_plugin {
    let Some(
        f @ clap_plugin_factory {
            create_plugin: Some(create),
            ..
        },
    ) = clack_factory()
    else {
        return std::ptr::null();
    };
    // SAFETY: clack's own function on clack's own factory, with the host's
    // arguments unchanged (clack checks them).
    let plugin = unsafe { create(f, host, plugin_id) }.cast_mut();
    // SAFETY: clack returns null or a `clap_plugin` it boxed for this
    // instance (a pointer from `Box::as_mut`, so writable); the host has not
    // seen it yet, so nothing reads it while we change it.
    if let Some(plugin) = unsafe { plugin.as_mut() } {
        if let Some(clack_process) = plugin.process {
            CLACK_PROCESS.get_or_init(|| clack_process);
            plugin.process = Some(process);
        }
    }
    plugin
}

/// Whether `transport` may be given to clack: null (no transport), or an
/// event whose header says it is a whole core transport event.
///
/// # Safety
/// `transport` is null or points to at least a readable `clap_event_header`,
/// as CLAP requires of a host.
unsafe fn transport_is_usable(transport: *const clap_event_transport) -> bool {
    // SAFETY: null or a readable header (the caller's contract); only the
    // header is read here.
    let Some(header) = (unsafe {
        transport
            .cast::<clap_sys::events::clap_event_header>()
            .as_ref()
    }) else {
        return true;
    };
    header.space_id == CLAP_CORE_EVENT_SPACE_ID
        && header.type_ == CLAP_EVENT_TRANSPORT
        && header.size as usize >= size_of::<clap_event_transport>()
}

/// `clap_plugin.process`: clack's, on a copy of the host's `clap_process`
/// whose transport is null when the host's is malformed.
///
/// Realtime-safe: one stack copy, no allocation, no lock (the saved pointer
/// is read with one atomic load).
unsafe extern "C" fn process(
    plugin: *const clap_plugin,
    process: *const clap_process,
) -> clap_process_status {
    let Some(clack_process) = CLACK_PROCESS.get().copied() else {
        return CLAP_PROCESS_ERROR;
    };
    // SAFETY: the host passes null or a valid `clap_process` for this call.
    let Some(host_process) = (unsafe { process.as_ref() }) else {
        return CLAP_PROCESS_ERROR;
    };
    let mut sane = *host_process;
    // SAFETY: the host's transport pointer is null or points to an event.
    if !unsafe { transport_is_usable(sane.transport) } {
        sane.transport = std::ptr::null();
    }
    // SAFETY: clack's process for this plugin; `sane` is the host's struct,
    // with the same buffers and queues, valid for this call, and a transport
    // that is null or well-formed.
    unsafe { clack_process(plugin, &sane) }
}
