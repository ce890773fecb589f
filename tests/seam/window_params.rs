//! Parameters edited in the plugin window reach the host as gestures: a
//! click on a parameter row (a button press the X server delivers to the
//! window) comes out of the next `params.flush()` as gesture begin, the new
//! value, gesture end, and the plugin's value changed.
//!
//! The plugin is loaded in-process (no engine is started: the instance is
//! never activated) so the test can use the window's own layout to aim.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use crate::x_server;
use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use clack_extensions::params::PluginParams;
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::gui::view::Layout;
use phasorsync::plugin::params::{index, PARAMS};
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin};

/// Press `button` at (`px`, `py`) of `window`.
fn click(x: &x_server::XServer, window: u32, px: i32, py: i32, button: u8) {
    x.press(window, (px, py), button);
}

/// What one param flush gave the host: (kind, param id, value).
fn flush(plugin: &mut PluginInstance<clap_host::TestHost>) -> Vec<(&'static str, u32, f64)> {
    let params = plugin
        .plugin_handle()
        .get_extension::<PluginParams>()
        .expect("params extension");
    let mut out = EventBuffer::new();
    let input = EventBuffer::new();
    let mut handle = plugin.inactive_plugin_handle().expect("inactive");
    params.flush(&mut handle, &input.as_input(), &mut out.as_output());
    out.iter()
        .filter_map(|e| match e.as_core_event()? {
            CoreEventSpace::ParamGestureBegin(g) => Some(("begin", g.param_id()?.get(), 0.0)),
            CoreEventSpace::ParamValue(v) => Some(("value", v.param_id()?.get(), v.value())),
            CoreEventSpace::ParamGestureEnd(g) => Some(("end", g.param_id()?.get(), 0.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_click_on_a_parameter_reaches_the_host_as_a_gesture() {
    let x = x_server::server();
    let _serial = x_server::serial();
    let entry = PluginEntry::load_from_clack::<
        SinglePluginEntry<PhasorSyncPlugin<ManualEngineFactory>>,
    >(c"/phasorsync-in-process")
    .unwrap();
    let mut plugin = clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").unwrap();
    let gui = plugin
        .plugin_handle()
        .get_extension::<PluginGui>()
        .expect("gui extension");
    let parent = x.host_window(800, 600);
    let h = plugin.plugin_handle();
    let embedded = GuiConfiguration {
        api_type: GuiApiType::X11,
        is_floating: false,
    };
    gui.set_scale(&h, 1.0).unwrap();
    gui.create(&h, embedded).expect("create");
    // SAFETY: `parent` lives until the test ends, after `destroy`.
    unsafe { gui.set_parent(&h, Window::from_x11_handle(parent.into())) }.expect("set_parent");
    gui.show(&h).expect("show");
    let size = gui.get_size(&h).unwrap();
    let window = x.children(parent)[0];
    assert!(
        x.wait(|| x.pixels(window).2.iter().any(|&p| p != 0)),
        "painted"
    );

    // "Host events to hardware" is on by default; a click turns it off.
    let row = index::HARDWARE_OUT;
    let id = PARAMS[row].id;
    let l = Layout::new(size.width, size.height, 1);
    let (px, py) = (l.params.x + 30, l.params.y + 4 + (1 + row as i32) * 12 + 4);
    click(x, window, px, py, 1);
    let mut got = Vec::new();
    assert!(
        x.wait(|| {
            got.extend(flush(&mut plugin));
            got.len() >= 3
        }),
        "no gesture after the click: {got:?}"
    );
    assert_eq!(
        got,
        vec![("begin", id, 0.0), ("value", id, 0.0), ("end", id, 0.0)]
    );
    let params = plugin
        .plugin_handle()
        .get_extension::<PluginParams>()
        .unwrap();
    assert_eq!(
        params.get_value(&plugin.plugin_handle(), ClapId::new(id)),
        Some(0.0)
    );

    // A measurement's row is read-only: a click there gives nothing.
    let tempo = index::EXT_TEMPO;
    click(
        x,
        window,
        px,
        l.params.y + 4 + (1 + tempo as i32) * 12 + 4,
        1,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(flush(&mut plugin), vec![]);
    gui.destroy(&plugin.plugin_handle());
}
