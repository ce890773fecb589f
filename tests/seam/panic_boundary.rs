//! No panic crosses the C ABI: a panic inside the plugin (here, from an
//! engine factory that panics when the plugin is activated) becomes an error
//! return and a line in the host's log, and the instance stays usable.
//!
//! In-process through clack's entry, the same C ABI wrappers the bundle uses.

use crate::clap_host;
use clack_extensions::log::LogSeverity;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::engine::{EngineError, MidiEngine};
use phasorsync::plugin::{EngineFactory, PhasorSyncPlugin};

struct PanickingFactory;

impl EngineFactory for PanickingFactory {
    fn create() -> Result<Box<dyn MidiEngine>, EngineError> {
        panic!("engine factory exploded");
    }
}

#[test]
fn a_panic_in_activate_is_an_error_and_a_log_line() {
    let entry =
        PluginEntry::load_from_clack::<SinglePluginEntry<PhasorSyncPlugin<PanickingFactory>>>(
            c"/phasorsync-panic",
        )
        .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let config = PluginAudioConfiguration {
        sample_rate: 48_000.0,
        min_frames_count: 256,
        max_frames_count: 256,
    };
    // Quiet the default panic message: the panic is expected.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = plugin.activate(|_, _| clap_host::TestHostAudioProcessor, config);
    std::panic::set_hook(hook);
    assert!(
        result.is_err(),
        "activate should fail, not unwind or succeed"
    );
    assert!(!plugin.is_active());
    let logs = clap_host::logs(&plugin);
    assert!(
        logs.iter().any(|(sev, m)| matches!(
            sev,
            LogSeverity::Error | LogSeverity::Fatal | LogSeverity::PluginMisbehaving
        ) && m.to_lowercase().contains("panic")),
        "no log line about the panic: {logs:?}"
    );
    // The instance is still there and answers the main thread.
    let handle = plugin.plugin_handle();
    let ports = handle
        .get_extension::<clack_extensions::note_ports::PluginNotePorts>()
        .unwrap();
    assert_eq!(ports.count(&handle, true), 1);
}
