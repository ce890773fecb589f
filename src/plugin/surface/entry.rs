//! The bundle's `clap_entry`: clack's entry behind a thin C-ABI shim that
//! sanitises what a host passes to `process()`.
//!
//! Why: some hosts fill `clap_process.transport` with an event whose header is
//! not a transport header. Qtractor 0.9.31 fills every field but leaves the
//! header zeroed (space 0, type 0, size 0), and clack-plugin 0.2 panics on
//! that in `Process::from_raw`, before any plugin code runs. Such a transport
//! is still the host's: the shim hands clack a copy with a core transport
//! header, when its fields are sane; anything else that is not a whole core
//! transport is dropped (CLAP's null, "no transport"). See
//! `transport_header.rs` for the verdicts and `shim_notes.rs` for how each
//! kind is logged once.
//!
//! How: our `clap_entry` hands out our own plugin factory, which forwards to
//! clack's and, on each plugin it creates, swaps `process` for [`process`]
//! (and `on_main_thread` and `destroy`, to report and to forget the
//! instance). Everything else (init, extensions, the descriptor) is clack's.

use super::shim_notes;
use super::transport_header::{judge, Note, Verdict};
use crate::plugin::PhasorSync;
use clack_plugin::entry::SinglePluginEntry;
use clap_sys::entry::clap_plugin_entry;
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

/// The signature of a plugin's `destroy` and `on_main_thread`.
type PluginFn = unsafe extern "C" fn(*const clap_plugin);

/// clack's `process`, saved from the first plugin created. Every plugin comes
/// from the same `SinglePluginEntry<PhasorSync>`, so it is the same function
/// for all of them (and so for the two below).
static CLACK_PROCESS: OnceLock<ProcessFn> = OnceLock::new();
/// clack's `destroy`.
static CLACK_DESTROY: OnceLock<PluginFn> = OnceLock::new();
/// clack's `on_main_thread`.
static CLACK_ON_MAIN_THREAD: OnceLock<PluginFn> = OnceLock::new();

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
/// [`process`], [`on_main_thread`] and [`destroy`] in front of its own.
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
        if let (Some(clack_process), Some(clack_destroy), Some(clack_on_main_thread)) =
            (plugin.process, plugin.destroy, plugin.on_main_thread)
        {
            CLACK_PROCESS.get_or_init(|| clack_process);
            CLACK_DESTROY.get_or_init(|| clack_destroy);
            CLACK_ON_MAIN_THREAD.get_or_init(|| clack_on_main_thread);
            plugin.process = Some(process);
            plugin.destroy = Some(destroy);
            plugin.on_main_thread = Some(on_main_thread);
            shim_notes::register(plugin, host);
        }
    }
    plugin
}

/// `clap_plugin.destroy`: forget the instance's notes, then clack's.
unsafe extern "C" fn destroy(plugin: *const clap_plugin) {
    shim_notes::release(plugin);
    if let Some(clack_destroy) = CLACK_DESTROY.get() {
        // SAFETY: clack's destroy for this plugin, called as the host called ours.
        unsafe { clack_destroy(plugin) };
    }
}

/// `clap_plugin.on_main_thread`: clack's (the plugin's reports), then the
/// shim's own notes.
unsafe extern "C" fn on_main_thread(plugin: *const clap_plugin) {
    if let Some(clack_on_main_thread) = CLACK_ON_MAIN_THREAD.get() {
        // SAFETY: clack's function for this plugin, on the main thread as ours.
        unsafe { clack_on_main_thread(plugin) };
    }
    shim_notes::report(plugin);
}

/// `clap_plugin.process`: clack's, on a copy of the host's `clap_process`
/// whose transport is repaired or null when the host's is malformed (see
/// [`judge`]).
///
/// Realtime-safe: stack copies, no allocation, no lock (the saved pointer is
/// read with one atomic load); a note to report costs a few atomic loads and
/// once per kind the host's `request_callback` (see [`shim_notes::count`]).
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
    // SAFETY: the host's transport pointer is null or points to an event
    // (and, under a zeroed header, to the whole transport it filled).
    let verdict = unsafe { judge(sane.transport) };
    let repaired;
    match verdict {
        Verdict::AsIs => {}
        Verdict::Repaired(transport) => {
            repaired = transport;
            sane.transport = &repaired;
            shim_notes::count(plugin, Note::Repaired);
        }
        Verdict::Dropped(note) => {
            sane.transport = std::ptr::null();
            shim_notes::count(plugin, note);
        }
    }
    // SAFETY: clack's process for this plugin; `sane` is the host's struct,
    // with the same buffers and queues, valid for this call, and a transport
    // that is null or well-formed (`repaired` lives until the call returns).
    unsafe { clack_process(plugin, &sane) }
}
