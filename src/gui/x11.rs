//! The window on X11: its own connection to the X server and its own thread.
//! The thread waits on the connection's socket (20 Hz while shown, to pick
//! up new figures; 2 Hz while hidden), handles the server's events and puts
//! the frame when the painter says it changed. The main thread maps, moves
//! and resizes through the same connection (x11rb's connection is
//! thread-safe) and, on close, destroys the window, which wakes and ends the
//! thread; closing the connection frees whatever the server still held for it.

use super::frame::Frame;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    AtomEnum, ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask,
    ImageFormat, ImageOrder, PropMode, WindowClass,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// Draws the window's content; owned by the window's thread.
pub trait Painter: Send + 'static {
    /// Repaint `frame` at `scale` when what it shows changed, or always when
    /// `force`; true when the frame changed and must be put.
    fn paint(&mut self, frame: &mut Frame, scale: u32, force: bool) -> bool;

    /// The user pressed button `button` at (`x`, `y`) (pixels in the window).
    fn press(&mut self, _x: i32, _y: i32, _button: u8, _scale: u32) {}
}

/// How to open a window.
#[derive(Clone, Debug)]
pub struct Options {
    /// The host's window to embed into, or None for a top-level (floating) window.
    pub parent: Option<u32>,
    /// Size in pixels.
    pub size: (u32, u32),
    /// Pixels per logical pixel.
    pub scale: u32,
    /// The title of a floating window.
    pub title: String,
}

/// Called on the window's thread when the user closed a floating window
/// (it is hidden, not destroyed: the host decides).
pub type OnClose = Box<dyn Fn() + Send>;

/// An open window and its thread; dropping it closes both.
pub struct Window {
    conn: Arc<RustConnection>,
    id: u32,
    floating: bool,
    scale: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
}

/// What fails here: a sentence for the host's log.
pub type Error = String;

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| format!("plugin window: {what}: {e}")
}

impl Window {
    /// Connect to the X server named by `DISPLAY`, create the window (as a
    /// child of `options.parent` when given) and start its thread. The
    /// window is not shown until [`Window::show`].
    ///
    /// # Errors
    /// No X server, a parent window that does not exist, or a visual that
    /// is not 24-bit true colour.
    pub fn open(
        options: &Options,
        painter: Box<dyn Painter>,
        on_close: OnClose,
    ) -> Result<Window, Error> {
        let (conn, screen) = RustConnection::connect(None)
            .map_err(|e| err("cannot connect to the X server (is DISPLAY set?)")(&e))?;
        let conn = Arc::new(conn);
        let root = conn.setup().roots[screen].root;
        let id = conn.generate_id().map_err(|e| err("no window id")(&e))?;
        let (w, h) = (options.size.0.max(1), options.size.1.max(1));
        let aux = CreateWindowAux::new().background_pixel(0).event_mask(
            EventMask::EXPOSURE | EventMask::STRUCTURE_NOTIFY | EventMask::BUTTON_PRESS,
        );
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            id,
            options.parent.unwrap_or(root),
            0,
            0,
            w as u16,
            h as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            x11rb::COPY_FROM_PARENT,
            &aux,
        )
        .map_err(|e| err("create")(&e))?
        .check()
        .map_err(|e| err("the host's window does not exist")(&e))?;
        let depth = conn
            .get_geometry(id)
            .map_err(|e| err("geometry")(&e))?
            .reply()
            .map_err(|e| err("geometry")(&e))?
            .depth;
        let setup = conn.setup();
        let bpp32 = setup
            .pixmap_formats
            .iter()
            .any(|f| f.depth == depth && f.bits_per_pixel == 32);
        if !(depth == 24 || depth == 32) || !bpp32 {
            let _ = conn.destroy_window(id);
            let _ = conn.flush();
            return Err(format!(
                "plugin window: depth {depth} is not supported (24-bit true colour only)"
            ));
        }
        let msb = setup.image_byte_order == ImageOrder::MSB_FIRST;
        let gc = conn.generate_id().map_err(|e| err("no gc id")(&e))?;
        conn.create_gc(gc, id, &CreateGCAux::new())
            .map_err(|e| err("gc")(&e))?;
        let floating = options.parent.is_none();
        let delete = if floating {
            Some(decorate(&conn, id, &options.title).map_err(|e| err("title")(&e))?)
        } else {
            None
        };
        conn.flush().map_err(|e| err("flush")(&e))?;

        let scale = Arc::new(AtomicU32::new(options.scale.max(1)));
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Wake::new().map_err(|e| err("no eventfd")(&e))?);
        let run = Run {
            conn: conn.clone(),
            id,
            gc,
            depth,
            msb,
            delete,
            scale: scale.clone(),
            stop: stop.clone(),
            wake: wake.clone(),
            frame: Frame::new(w, h),
            painter,
            on_close,
        };
        let thread = std::thread::Builder::new()
            .name("phasorsync-gui".into())
            .spawn(move || run.run())
            .map_err(|e| err("cannot start the window's thread")(&e))?;
        Ok(Window {
            conn,
            id,
            floating,
            scale,
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// The window's X id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Map the window.
    ///
    /// # Errors
    /// The connection to the X server failed.
    pub fn show(&self) -> Result<(), Error> {
        self.conn.map_window(self.id).map_err(|e| err("show")(&e))?;
        self.sent("show")
    }

    /// Unmap the window (it keeps its resources).
    ///
    /// # Errors
    /// The connection to the X server failed.
    pub fn hide(&self) -> Result<(), Error> {
        self.conn
            .unmap_window(self.id)
            .map_err(|e| err("hide")(&e))?;
        self.sent("hide")
    }

    /// Resize to `width` x `height` pixels.
    ///
    /// # Errors
    /// The connection to the X server failed.
    pub fn resize(&self, width: u32, height: u32) -> Result<(), Error> {
        let aux = ConfigureWindowAux::new()
            .width(width.max(1))
            .height(height.max(1));
        self.conn
            .configure_window(self.id, &aux)
            .map_err(|e| err("resize")(&e))?;
        self.sent("resize")
    }

    /// Draw at `scale` pixels per logical pixel from the next frame on.
    pub fn set_scale(&self, scale: u32) {
        self.scale.store(scale.max(1), Ordering::Relaxed);
    }

    /// Keep a floating window above the host's window `parent`.
    ///
    /// # Errors
    /// The connection to the X server failed.
    pub fn set_transient(&self, parent: u32) -> Result<(), Error> {
        self.conn
            .change_property32(
                PropMode::REPLACE,
                self.id,
                AtomEnum::WM_TRANSIENT_FOR,
                AtomEnum::WINDOW,
                &[parent],
            )
            .map_err(|e| err("transient")(&e))?;
        self.sent("transient")
    }

    /// Set a floating window's title (nothing for an embedded one).
    ///
    /// # Errors
    /// The connection to the X server failed.
    pub fn set_title(&self, title: &str) -> Result<(), Error> {
        if !self.floating {
            return Ok(());
        }
        set_name(&self.conn, self.id, title).map_err(|e| err("title")(&e))?;
        self.sent("title")
    }
}

impl Window {
    /// Send what was asked and wake the thread: flushing may have read the
    /// server's answer (a MapNotify, a ConfigureNotify) into the
    /// connection's buffer, where the thread's poll of the socket cannot see it.
    fn sent(&self, what: &str) -> Result<(), Error> {
        self.conn.flush().map_err(|e| err(what)(&e))?;
        self.wake.ring();
        Ok(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The DestroyNotify wakes the thread; if the connection is gone the
        // thread has ended (or sees `stop` within its poll timeout).
        let _ = self.conn.destroy_window(self.id);
        let _ = self.conn.flush();
        self.wake.ring();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Give a top-level window its title and ask the window manager to send a
/// message instead of killing the connection when the user closes it;
/// returns the WM_DELETE_WINDOW atom.
fn decorate(
    conn: &RustConnection,
    id: u32,
    title: &str,
) -> Result<u32, Box<dyn std::error::Error>> {
    let protocols = conn.intern_atom(false, b"WM_PROTOCOLS")?.reply()?.atom;
    let delete = conn.intern_atom(false, b"WM_DELETE_WINDOW")?.reply()?.atom;
    conn.change_property32(PropMode::REPLACE, id, protocols, AtomEnum::ATOM, &[delete])?;
    set_name(conn, id, title)?;
    Ok(delete)
}

fn set_name(conn: &RustConnection, id: u32, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    conn.change_property8(
        PropMode::REPLACE,
        id,
        AtomEnum::WM_NAME,
        AtomEnum::STRING,
        title.as_bytes(),
    )?;
    Ok(())
}

/// The window thread's state.
struct Run {
    conn: Arc<RustConnection>,
    id: u32,
    gc: u32,
    depth: u8,
    msb: bool,
    delete: Option<u32>,
    scale: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    wake: Arc<Wake>,
    frame: Frame,
    painter: Box<dyn Painter>,
    on_close: OnClose,
}

impl Run {
    fn run(mut self) {
        let mut mapped = false;
        let mut force = true;
        let mut scale = self.scale.load(Ordering::Relaxed);
        while !self.stop.load(Ordering::Relaxed) {
            loop {
                let event = match self.conn.poll_for_event() {
                    Ok(Some(event)) => event,
                    Ok(None) => break,
                    Err(_) => return, // the connection is gone
                };
                match event {
                    Event::Expose(e) if e.count == 0 => force = true,
                    Event::ConfigureNotify(e) if e.window == self.id => {
                        let (w, h) = (u32::from(e.width), u32::from(e.height));
                        if (w, h) != (self.frame.width(), self.frame.height()) {
                            self.frame.resize(w, h);
                            force = true;
                        }
                    }
                    Event::MapNotify(e) if e.window == self.id => {
                        mapped = true;
                        force = true;
                    }
                    Event::UnmapNotify(e) if e.window == self.id => mapped = false,
                    Event::DestroyNotify(e) if e.window == self.id => return,
                    Event::ButtonPress(e) => {
                        self.painter.press(
                            i32::from(e.event_x),
                            i32::from(e.event_y),
                            e.detail,
                            scale,
                        );
                        force = true;
                    }
                    Event::ClientMessage(e) if Some(e.data.as_data32()[0]) == self.delete => {
                        // The user closed the floating window: hide it; the
                        // host destroys it when it wants.
                        let _ = self.conn.unmap_window(self.id);
                        let _ = self.conn.flush();
                        (self.on_close)();
                    }
                    _ => {}
                }
            }
            let now = self.scale.load(Ordering::Relaxed);
            if now != scale {
                scale = now;
                force = true;
            }
            if mapped && self.painter.paint(&mut self.frame, scale, force) {
                if self.put().is_err() {
                    return;
                }
                force = false;
            }
            self.wait(if mapped { 50 } else { 500 });
        }
    }

    /// Send the frame, in strips that fit the server's request size.
    fn put(&self) -> Result<(), Box<dyn std::error::Error>> {
        let (w, h) = (self.frame.width() as usize, self.frame.height() as usize);
        let stride = w * 4;
        let rows = ((self.conn.maximum_request_bytes() - 64) / stride).max(1);
        let swapped;
        let bytes = if self.msb {
            // The server wants 0x00RRGGBB most significant byte first.
            swapped = self
                .frame
                .bytes()
                .chunks_exact(4)
                .flat_map(|p| [p[3], p[2], p[1], p[0]])
                .collect::<Vec<u8>>();
            &swapped[..]
        } else {
            self.frame.bytes()
        };
        for y in (0..h).step_by(rows) {
            let n = rows.min(h - y);
            self.conn.put_image(
                ImageFormat::Z_PIXMAP,
                self.id,
                self.gc,
                w as u16,
                n as u16,
                0,
                y as i16,
                0,
                self.depth,
                &bytes[y * stride..(y + n) * stride],
            )?;
        }
        self.conn.flush()?;
        Ok(())
    }

    /// Sleep until the server has something for us, the main thread sent
    /// something, or `ms` passed.
    fn wait(&self, ms: i32) {
        let mut fds = [
            libc::pollfd {
                fd: self.conn.stream().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is an array of valid pollfds that lives across the
        // call, and the count is its length.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if fds[1].revents & libc::POLLIN != 0 {
            self.wake.clear();
        }
    }
}

/// An eventfd the main thread rings after each request it sends.
struct Wake(OwnedFd);

impl Wake {
    fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a negative result is an error.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        Ok(Wake(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, which lives across the call,
        // to our own eventfd (a full counter only makes it fail, harmlessly).
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into `count`, which lives across the call.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}
