//! The window's device list: with two fake sequencer ports (the
//! `ManualEngine`'s), a click on a port's input mark (a button press the X
//! server delivers to the window) puts the port's exact pattern in the
//! instance's saved state and a second click takes it out; the same for the
//! output mark, which gets an `out:` pattern. Each click asks the host for
//! a main-thread callback, in which the plugin hands the patterns to its
//! engine. A fake raw MIDI device's row, clicked, picks it (`raw:hw:C,D`)
//! and, clicked again, drops it. The wheel scrolls the list.
//!
//! The plugin is loaded in-process, never activated, so the test can aim
//! with the window's own layout.
#![cfg(feature = "test-mock")]

use crate::clap_host;
use crate::x_server;
use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use clack_extensions::state::PluginState;
use clack_host::prelude::*;
use clack_plugin::entry::SinglePluginEntry;
use phasorsync::backend::alsa_seq::ports::SeqPort;
use phasorsync::backend::alsa_seq::{Patterns, Side};
use phasorsync::backend::raw_midi::patterns::DeviceInfo;
use phasorsync::engine::ManualEngine;
use phasorsync::gui::devices::{mark_point, raw_rows, rows, DeviceRow};
use phasorsync::gui::view::Layout;
use phasorsync::plugin::{ManualEngineFactory, PhasorSyncPlugin, State};

/// Press button 1 at `at` of `window`.
fn click(x: &x_server::XServer, window: u32, at: (i32, i32)) {
    x.press(window, at, 1);
}

/// Whether the device list's line `y` is drawn (has ink left of the marks).
fn drawn(x: &x_server::XServer, window: u32, layout: &Layout, y: i32) -> bool {
    let d = layout.devices;
    x.has_ink(window, y, (d.x, d.x + 100), d.x + d.w - 2)
}

/// The patterns in the instance's saved state.
fn saved_patterns(plugin: &mut PluginInstance<clap_host::TestHost>) -> String {
    let handle = plugin.plugin_handle();
    let state = handle.get_extension::<PluginState>().expect("state");
    let mut bytes = Vec::new();
    state.save(&handle, &mut bytes).expect("save");
    State::decode(&bytes).expect("decode").patterns
}

/// Two devices: a keyboard (a source only) and a synth that is a source
/// and a destination.
fn fake_ports() -> Vec<SeqPort> {
    vec![
        SeqPort::new(24, 0, ("KeyStep 37", "KeyStep 37 MIDI 1"), true, false),
        SeqPort::new(28, 0, ("Digitone", "Digitone MIDI 1"), true, true),
    ]
}

#[test]
fn a_click_on_a_device_mark_adds_then_removes_its_pattern() {
    let x = x_server::server();
    let _serial = x_server::serial();
    ManualEngine::set_ports(fake_ports());
    let mut w = DeviceWindow::open(x);
    // The list as the window draws it (marks change nothing of where rows are).
    let listed = rows(&fake_ports(), &Patterns::default(), &Patterns::default());
    assert_eq!(listed.len(), 2);
    // The rows are drawn once the window has listed the ports: the synth's
    // line (line 2 of the panel) has ink.
    let synth_line = mark_point(&w.layout, &listed, 0, 1, Side::In).unwrap().1;
    assert!(w.drawn(synth_line), "the device list is drawn");
    assert_eq!(saved_patterns(&mut w.plugin), "");

    port_marks_toggle_their_patterns(&mut w, &listed);
    raw_device_row_toggles_it(&mut w, &listed);

    // The keyboard cannot take MIDI: its output mark does nothing.
    w.click(mark_point(&w.layout, &listed, 0, 0, Side::Out).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(saved_patterns(&mut w.plugin), "");

    the_wheel_scrolls_a_long_list(&mut w);
    w.gui.destroy(&w.plugin.plugin_handle());
}

/// The plugin (never activated) with its window open in a window of the
/// test's X server, and the window's layout to aim with.
struct DeviceWindow {
    x: &'static x_server::XServer,
    plugin: PluginInstance<clap_host::TestHost>,
    gui: PluginGui,
    window: u32,
    layout: Layout,
    // Kept until the test ends, as the plugin was created from it.
    _entry: PluginEntry,
}

impl DeviceWindow {
    fn open(x: &'static x_server::XServer) -> Self {
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
        gui.set_scale(&h, 1.0).unwrap();
        let embedded = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        gui.create(&h, embedded).expect("create");
        // SAFETY: `parent` lives until the test ends, after `destroy`.
        unsafe { gui.set_parent(&h, Window::from_x11_handle(parent.into())) }.expect("set_parent");
        gui.show(&h).expect("show");
        let size = gui.get_size(&h).unwrap();
        let window = x.children(parent)[0];
        let layout = Layout::new(size.width, size.height, 1);
        DeviceWindow {
            x,
            plugin,
            gui,
            window,
            layout,
            _entry: entry,
        }
    }

    /// Press button 1 at `at` of the plugin window.
    fn click(&self, at: (i32, i32)) {
        click(self.x, self.window, at);
    }

    /// Whether the device list's line `y` gets drawn (waits for it).
    fn drawn(&self, y: i32) -> bool {
        self.x.wait(|| drawn(self.x, self.window, &self.layout, y))
    }
}

/// A click on a port's input mark, or the synth's output mark, saves its
/// exact pattern (only that direction); a second click removes it. The
/// engine hears of each on the main thread.
fn port_marks_toggle_their_patterns(w: &mut DeviceWindow, listed: &[DeviceRow]) {
    let cases = [
        (0, Side::In, "=KeyStep 37:KeyStep 37 MIDI 1"),
        (1, Side::Out, "out:=Digitone:Digitone MIDI 1"),
    ];
    let x = w.x;
    for (row, side, pattern) in cases {
        let at = mark_point(&w.layout, listed, 0, row, side).unwrap();
        w.click(at);
        assert!(
            x.wait(|| saved_patterns(&mut w.plugin).lines().any(|l| l == pattern)),
            "{pattern} saved after the first click: {:?}",
            saved_patterns(&mut w.plugin)
        );
        // The engine hears of it on the main thread.
        assert!(clap_host::run_main_thread_callback(&mut w.plugin));
        let p = Patterns::parse(&saved_patterns(&mut w.plugin));
        let other = if side == Side::In {
            Side::Out
        } else {
            Side::In
        };
        assert!(!p.has(other), "only the clicked direction: {p:?}");

        w.click(at);
        assert!(
            x.wait(|| saved_patterns(&mut w.plugin).is_empty()),
            "{pattern} removed after the second click: {:?}",
            saved_patterns(&mut w.plugin)
        );
        assert!(clap_host::run_main_thread_callback(&mut w.plugin));
    }
}

/// A raw MIDI device, listed after the ports: a click on either mark picks
/// it, a second one drops it.
fn raw_device_row_toggles_it(w: &mut DeviceWindow, listed: &[DeviceRow]) {
    ManualEngine::set_raw_devices(vec![DeviceInfo {
        card: 1,
        device: 0,
        card_id: "MK3".into(),
        card_name: "Launchkey Mini MK3".into(),
        device_name: "Launchkey Mini MK3 MIDI".into(),
    }]);
    let mut with_raw = listed.to_vec();
    with_raw.extend(raw_rows(&ManualEngine::raw_devices(), &[], "", ""));
    let raw_line = mark_point(&w.layout, &with_raw, 0, 2, Side::In).unwrap().1;
    assert!(w.drawn(raw_line), "the raw device's row is drawn");
    let x = w.x;
    for (side, want) in [(Side::Out, "raw:hw:1,0\n"), (Side::In, "")] {
        w.click(mark_point(&w.layout, &with_raw, 0, 2, side).unwrap());
        assert!(
            x.wait(|| saved_patterns(&mut w.plugin) == want),
            "after a click on the raw device's {side:?} mark: {:?}",
            saved_patterns(&mut w.plugin)
        );
        assert!(clap_host::run_main_thread_callback(&mut w.plugin));
    }
    ManualEngine::set_raw_devices(Vec::new());
}

/// The wheel scrolls a list longer than its panel: one step down puts the
/// second port on the first row, where a click now toggles it.
fn the_wheel_scrolls_a_long_list(w: &mut DeviceWindow) {
    let many: Vec<SeqPort> = (0..30)
        .map(|i| SeqPort::new(20 + i, 0, ("Dev", &format!("Dev {i}")), true, true))
        .collect();
    ManualEngine::set_ports(many.clone());
    let listed = rows(&many, &Patterns::default(), &Patterns::default());
    // The window lists the ports again within a poll (1 s); the sixth
    // row (none before) has ink once it has (a loaded machine may take
    // longer).
    let third_line = mark_point(&w.layout, &listed, 0, 5, Side::In).unwrap().1;
    assert!(w.drawn(third_line), "the longer list is drawn");
    let first_row = mark_point(&w.layout, &listed, 0, 0, Side::In).unwrap();
    w.x.press(w.window, first_row, 5);
    std::thread::sleep(std::time::Duration::from_millis(300));
    w.click(first_row);
    let x = w.x;
    assert!(
        x.wait(|| saved_patterns(&mut w.plugin) == "=Dev:Dev 1\n"),
        "scrolled: {:?}",
        saved_patterns(&mut w.plugin)
    );
}
