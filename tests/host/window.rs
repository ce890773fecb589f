//! The bundled plugin's window under a real X server (Xvfb, started here):
//! embedded in a window the test made, shown, resized, hidden and destroyed
//! 50 times without leaking a thread or an X resource; floating; at the
//! host's scale; and cheap while idle.

use crate::clap_host;
use crate::clap_host::{instantiate, load_entry, TestHost};
use crate::x_server::{own_cpu_time, serial, server, thread_count, XServer};
use clack_extensions::gui::{GuiApiType, GuiConfiguration, GuiSize, PluginGui, Window};
use clack_host::prelude::*;
use std::time::{Duration, Instant};

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";

const EMBEDDED: GuiConfiguration<'static> = GuiConfiguration {
    api_type: GuiApiType::X11,
    is_floating: false,
};

/// A plugin instance and its gui extension.
fn plugin_with_gui(entry: &PluginEntry) -> (PluginInstance<TestHost>, PluginGui) {
    let mut plugin = instantiate(entry, ID).expect("instantiate");
    let gui = plugin
        .plugin_handle()
        .get_extension::<PluginGui>()
        .expect("the plugin offers the gui extension");
    (plugin, gui)
}

/// Create the window embedded in `parent` and show it; returns its X id.
fn open_embedded(
    x: &XServer,
    gui: &PluginGui,
    plugin: &mut PluginInstance<TestHost>,
    parent: u32,
) -> u32 {
    let h = plugin.plugin_handle();
    gui.set_scale(&h, 1.0).expect("set_scale");
    gui.create(&h, EMBEDDED).expect("create");
    // SAFETY: `parent` is the test's own window, alive until the test ends,
    // after `destroy`.
    unsafe { gui.set_parent(&h, Window::from_x11_handle(parent.into())) }.expect("set_parent");
    let children = x.children(parent);
    assert_eq!(children.len(), 1, "set_parent made one child window");
    gui.show(&h).expect("show");
    let child = children[0];
    assert!(x.wait(|| x.viewable(child)), "the window is shown");
    child
}

/// One whole life of the window, as a DAW gives it: create, set_parent,
/// show, resize, hide, destroy, each checked on the server.
fn cycle(x: &XServer, gui: &PluginGui, plugin: &mut PluginInstance<TestHost>, parent: u32) {
    let child = open_embedded(x, gui, plugin, parent);
    let h = plugin.plugin_handle();
    let size = gui.get_size(&h).expect("get_size");
    assert_eq!(x.size(child), (size.width as u16, size.height as u16));
    let bigger = GuiSize {
        width: size.width + 40,
        height: size.height + 30,
    };
    gui.set_size(&h, bigger).expect("set_size");
    assert!(
        x.wait(|| x.size(child) == (bigger.width as u16, bigger.height as u16)),
        "the window took the host's size"
    );
    gui.hide(&h).expect("hide");
    assert!(x.wait(|| !x.viewable(child)), "the window is hidden");
    gui.destroy(&h);
    assert!(
        x.wait(|| x.children(parent).is_empty()),
        "destroy removed the window"
    );
}

#[test]
fn opening_and_closing_the_window_50_times_leaks_no_thread_and_no_x_resource() {
    let x = server();
    let _serial = serial();
    let entry = load_entry();
    let (mut plugin, gui) = plugin_with_gui(&entry);
    assert!(gui.is_api_supported(&plugin.plugin_handle(), EMBEDDED));
    let parent = x.host_window(900, 700);
    // One life first, so that what is made once per process is not counted.
    cycle(x, &gui, &mut plugin, parent);
    let threads = thread_count();
    let resources = x.resources();
    for _ in 0..50 {
        cycle(x, &gui, &mut plugin, parent);
    }
    assert!(
        x.wait(|| thread_count() == threads),
        "threads: {threads} before, {} after 50 windows",
        thread_count()
    );
    assert!(
        x.wait(|| x.resources() == resources),
        "X clients and resources: {resources:?} before, {:?} after 50 windows",
        x.resources()
    );
}

#[test]
fn the_shown_window_is_painted_with_its_parts() {
    let x = server();
    let _serial = serial();
    let entry = load_entry();
    let (mut plugin, gui) = plugin_with_gui(&entry);
    let parent = x.host_window(900, 700);
    let start = Instant::now();
    let child = open_embedded(x, &gui, &mut plugin, parent);
    // The server's black until the first frame is put; a panel's colour is
    // at (20, 40) once it is.
    assert!(x.wait(|| x.pixel(child, 20, 40) != 0), "no frame was put");
    eprintln!(
        "time to first frame (create to a painted window read back): {:?}",
        start.elapsed()
    );
    let (_, _, px) = x.pixels(child);
    let mut colours = px.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() >= 4 && px.iter().filter(|&&p| p == 0).count() < px.len() / 10,
        "the window shows a painted frame, not a blank one ({} colours)",
        colours.len()
    );
    gui.destroy(&plugin.plugin_handle());
}

#[test]
fn the_window_follows_the_hosts_scale() {
    let x = server();
    let _serial = serial();
    let entry = load_entry();
    let (mut plugin, gui) = plugin_with_gui(&entry);
    let h = plugin.plugin_handle();
    gui.set_scale(&h, 1.0).unwrap();
    let one = gui.get_size(&h).unwrap();
    gui.set_scale(&h, 2.0).unwrap();
    let two = gui.get_size(&h).unwrap();
    assert_eq!((two.width, two.height), (one.width * 2, one.height * 2));
    assert!(
        gui.set_scale(&h, f64::NAN).is_err(),
        "a NaN scale is refused"
    );
    // A size below the smallest layout is made bigger, never smaller.
    let tiny = gui
        .adjust_size(
            &h,
            GuiSize {
                width: 10,
                height: 10,
            },
        )
        .unwrap();
    assert!(tiny.width > 10 && tiny.height > 10);
    assert!(gui.can_resize(&h));
    let _ = x;
}

#[test]
fn a_floating_window_is_a_titled_top_level_window() {
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};
    let x = server();
    let _serial = serial();
    let entry = load_entry();
    let (mut plugin, gui) = plugin_with_gui(&entry);
    let h = plugin.plugin_handle();
    let floating = GuiConfiguration {
        api_type: GuiApiType::X11,
        is_floating: true,
    };
    assert!(gui.is_api_supported(&h, floating));
    let before = x.children(x.root);
    gui.create(&h, floating).expect("create floating");
    gui.suggest_title(&h, c"PhasorSync on track 3");
    gui.show(&h).expect("show");
    let title = |w: u32| {
        x.conn
            .get_property(false, w, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 64)
            .unwrap()
            .reply()
            .map(|r| String::from_utf8_lossy(&r.value).into_owned())
            .unwrap_or_default()
    };
    let found = x.wait(|| {
        x.children(x.root)
            .into_iter()
            .filter(|w| !before.contains(w))
            .any(|w| x.viewable(w) && title(w) == "PhasorSync on track 3")
    });
    assert!(found, "a viewable top-level window with the host's title");

    // The user closes it (the window manager's WM_DELETE_WINDOW): it hides
    // and the host hears `closed(false)` on its main thread.
    let window = x
        .children(x.root)
        .into_iter()
        .find(|&w| title(w) == "PhasorSync on track 3")
        .unwrap();
    wm_delete(x, window);
    assert!(x.wait(|| !x.viewable(window)), "closing hides the window");
    assert!(
        x.wait(|| clap_host::run_main_thread_callback(&mut plugin)),
        "the plugin asked for the main thread"
    );
    let closed = plugin.access_shared_handler(|s| s.gui_closed.lock().unwrap().clone());
    assert_eq!(closed, vec![false], "the host was told the window closed");
    let h = plugin.plugin_handle();
    gui.destroy(&h);
    assert!(
        x.wait(|| x.children(x.root) == before),
        "destroy removed it"
    );
}

/// Send `window` the window manager's "close" message, as a click on its
/// title bar's close button does.
fn wm_delete(x: &XServer, window: u32) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt as _, EventMask};
    let atom = |name: &[u8]| {
        x.conn
            .intern_atom(false, name)
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (protocols, delete) = (atom(b"WM_PROTOCOLS"), atom(b"WM_DELETE_WINDOW"));
    let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
    x.conn
        .send_event(false, window, EventMask::NO_EVENT, event)
        .unwrap();
    x.conn.flush().unwrap();
}

/// CPU used by this process and by the X server over `span`.
fn cpu_over(x: &XServer, span: Duration) -> (Duration, Duration) {
    let (own, server) = (own_cpu_time(), x.cpu_time());
    let start = Instant::now();
    std::thread::sleep(span);
    let wall = start.elapsed();
    assert!(wall >= span);
    (own_cpu_time() - own, x.cpu_time() - server)
}

#[test]
fn an_idle_shown_window_costs_next_to_no_cpu() {
    let x = server();
    let _serial = serial();
    let entry = load_entry();
    let (mut plugin, gui) = plugin_with_gui(&entry);
    let parent = x.host_window(900, 700);
    let span = Duration::from_secs(3);
    // The floor: this process and the server with no window, same span.
    let (own_floor, server_floor) = cpu_over(x, span);
    let child = open_embedded(x, &gui, &mut plugin, parent);
    assert!(x.wait(|| x.pixels(child).2.iter().any(|&p| p != 0)));
    let (own, server_cpu) = cpu_over(x, span);
    gui.destroy(&plugin.plugin_handle());
    eprintln!(
        "idle window over {span:?}: plugin process {own:?} (floor {own_floor:?}), \
         X server {server_cpu:?} (floor {server_floor:?})"
    );
    // Nothing changes, so nothing is repainted or sent: the window's thread
    // only wakes to compare figures. 3% of one core is far above that and
    // far below a window that repaints at its 20 Hz.
    let bound = span * 3 / 100;
    assert!(
        own.saturating_sub(own_floor) < bound,
        "the idle window used {own:?} of CPU in {span:?} (floor {own_floor:?})"
    );
    assert!(
        server_cpu.saturating_sub(server_floor) < bound,
        "the X server used {server_cpu:?} in {span:?} for an idle window (floor {server_floor:?})"
    );
}
