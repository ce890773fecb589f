//! A real X server for the window tests: Xvfb (Debian's `xvfb`, installed by
//! `.ci/run` and checked by `cargo xtask test`), started by the test itself
//! on a display it picks (`-displayfd`), and the test's own X connection to
//! make a host's window and count what the server holds for its clients.
//!
//! One server per test binary, shared through [`server`]; `DISPLAY` is set
//! for the process so the plugin connects to it. Tests that count the
//! server's resources hold [`serial`] so that their counts are their own.
#![allow(dead_code)] // each test binary uses a different part of it

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::res::ConnectionExt as _;
use x11rb::protocol::xproto::{
    ButtonPressEvent, ConnectionExt as _, CreateWindowAux, EventMask, ImageFormat, MapState,
    Window, WindowClass, BUTTON_PRESS_EVENT,
};
use x11rb::rust_connection::RustConnection;

/// The running Xvfb and the test's connection to it.
pub struct XServer {
    /// The display, e.g. `:5`.
    pub display: String,
    /// The test's own connection.
    pub conn: RustConnection,
    /// The root window.
    pub root: Window,
    child: Mutex<Child>,
}

static SERVER: OnceLock<XServer> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Hold while counting the server's resources.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The test binary's X server, started on first use.
///
/// # Panics
/// When `Xvfb` is missing or does not start: the window tests need it, so
/// this is a failure with what to install, never a skip.
pub fn server() -> &'static XServer {
    SERVER.get_or_init(start)
}

fn start() -> XServer {
    // -displayfd: Xvfb picks a free display and writes its number once it
    // accepts connections. -terminate: it exits when its last client (this
    // process) goes, so a test that dies leaves no server behind.
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1280x1024x24"])
        .args(["-nolisten", "tcp", "-terminate"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the window tests need Xvfb (Debian package xvfb; .ci/run installs it): {e}")
        });
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("reading Xvfb's display number");
    let number: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not print a display number: {line:?}"));
    let display = format!(":{number}");
    // The plugin connects to the display DISPLAY names, as in a DAW.
    std::env::set_var("DISPLAY", &display);
    let (conn, screen) =
        RustConnection::connect(Some(&display)).expect("connecting to the test's Xvfb");
    let root = conn.setup().roots[screen].root;
    XServer {
        display,
        conn,
        root,
        child: Mutex::new(child),
    }
}

impl XServer {
    /// A mapped top-level window of `width` x `height`, as a DAW's plugin frame.
    pub fn host_window(&self, width: u16, height: u16) -> Window {
        let id = self.conn.generate_id().unwrap();
        let aux = CreateWindowAux::new()
            .background_pixel(0x404040)
            .event_mask(EventMask::STRUCTURE_NOTIFY);
        self.conn
            .create_window(
                x11rb::COPY_DEPTH_FROM_PARENT,
                id,
                self.root,
                0,
                0,
                width,
                height,
                0,
                WindowClass::INPUT_OUTPUT,
                x11rb::COPY_FROM_PARENT,
                &aux,
            )
            .unwrap()
            .check()
            .expect("creating the host's window");
        self.conn.map_window(id).unwrap();
        self.conn.flush().unwrap();
        id
    }

    /// The children of `window`.
    pub fn children(&self, window: Window) -> Vec<Window> {
        self.conn
            .query_tree(window)
            .unwrap()
            .reply()
            .unwrap()
            .children
    }

    /// Whether `window` is mapped and its parents too.
    pub fn viewable(&self, window: Window) -> bool {
        self.conn
            .get_window_attributes(window)
            .unwrap()
            .reply()
            .is_ok_and(|a| a.map_state == MapState::VIEWABLE)
    }

    /// The size of `window`.
    pub fn size(&self, window: Window) -> (u16, u16) {
        let g = self.conn.get_geometry(window).unwrap().reply().unwrap();
        (g.width, g.height)
    }

    /// `window`'s pixels as 0xRRGGBB, row after row (a 24-bit server on
    /// this machine: little-endian, 32 bits a pixel).
    pub fn pixels(&self, window: Window) -> (u16, u16, Vec<u32>) {
        let (w, h) = self.size(window);
        let image = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, w, h, !0)
            .unwrap()
            .reply()
            .expect("GetImage of a viewable window");
        let px = image
            .data
            .chunks_exact(4)
            .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
            .collect();
        (w, h, px)
    }

    /// The colour (0xRRGGBB) of one pixel of `window`.
    pub fn pixel(&self, window: Window, x: i16, y: i16) -> u32 {
        let image = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, window, x, y, 1, 1, !0)
            .unwrap()
            .reply()
            .expect("GetImage of a viewable window");
        let p = &image.data;
        u32::from_le_bytes([p[0], p[1], p[2], 0])
    }

    /// How many clients the server has, and how many resources (windows,
    /// GCs, pixmaps, ...) it holds for all of them (X-Resource extension).
    pub fn resources(&self) -> (usize, u64) {
        let clients = self
            .conn
            .res_query_clients()
            .unwrap()
            .reply()
            .unwrap()
            .clients;
        let mut total = 0;
        for c in &clients {
            let r = self
                .conn
                .res_query_client_resources(c.resource_base)
                .unwrap()
                .reply();
            // A client that went away between the two requests holds nothing.
            if let Ok(r) = r {
                total += r.types.iter().map(|t| u64::from(t.count)).sum::<u64>();
            }
        }
        (clients.len(), total)
    }

    /// CPU time the X server used so far.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.child.lock().unwrap().id();
        proc_cpu(&format!("/proc/{pid}/stat"))
    }

    /// Press `button` (1: left, 4 and 5: the wheel) at (`x`, `y`) of
    /// `window`, as the server would deliver it.
    pub fn press(&self, window: Window, (x, y): (i32, i32), button: u8) {
        let event = ButtonPressEvent {
            response_type: BUTTON_PRESS_EVENT,
            detail: button,
            sequence: 0,
            time: 0,
            root: self.root,
            event: window,
            child: 0,
            root_x: 0,
            root_y: 0,
            event_x: x as i16,
            event_y: y as i16,
            state: 0u16.into(),
            same_screen: true,
        };
        self.conn
            .send_event(false, window, EventMask::BUTTON_PRESS, event)
            .unwrap();
        self.conn.flush().unwrap();
    }

    /// Whether line `y` of `window` has ink between `x0` and `x1` (a pixel
    /// other than the one at `bg_x`, the background there).
    pub fn has_ink(&self, window: Window, y: i32, (x0, x1): (i32, i32), bg_x: i32) -> bool {
        let (w, _, px) = self.pixels(window);
        let row = &px[y as usize * w as usize..][..w as usize];
        let bg = row[bg_x as usize];
        row[x0 as usize..x1 as usize].iter().any(|&p| p != bg)
    }

    /// Poll `f` until it holds or 5 s passed.
    pub fn wait(&self, mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        f()
    }
}

/// How many threads this process has.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// CPU time this process used so far (every thread).
pub fn own_cpu_time() -> Duration {
    proc_cpu("/proc/self/stat")
}

/// utime + stime from a `/proc/.../stat` file.
fn proc_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap();
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}
