//! The CLAP `gui` extension on X11: embedded (`set_parent`) or floating,
//! resizable, at the host's scale. The window itself is [`crate::gui`]; it
//! runs on its own thread and reads the plugin's figures through atomics
//! only (a [`Source`]), so it never waits on or locks the audio thread.

use crate::gui::view::{DEFAULT_SIZE, MIN_SIZE};
use crate::gui::{Options, Screen, Source, Window};
use crate::plugin::main_thread::connections::toggle_in;
use crate::plugin::params::edits::Edit;
use crate::plugin::PhasorSyncMainThread;
use clack_extensions::gui::HostGui;
use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiResizeHints, GuiSize, PluginGuiImpl, Window as ClapWindow,
};
use clack_extensions::log::LogSeverity;
use clack_extensions::params::HostParams;
use clack_plugin::prelude::{HostSharedHandle, PluginError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The window's state on the main thread.
#[derive(Default)]
pub(crate) struct GuiState {
    /// Some(floating) between `create` and `destroy`.
    created: Option<bool>,
    /// The host's scale (1 until it says otherwise).
    scale: Option<f64>,
    /// The size the host set, in pixels; the default size at the scale until then.
    size: Option<(u32, u32)>,
    /// The window a floating window stays above.
    transient: Option<u32>,
    /// A floating window's title.
    title: Option<String>,
    /// Whether the host asked to show it.
    shown: bool,
    /// The open window (embedded windows open at `set_parent`).
    window: Option<Window>,
    /// Set by the window's thread when the user closed the floating window;
    /// the main thread tells the host (`closed` is a main-thread call).
    closed_by_user: Arc<AtomicBool>,
    /// Set by the window's thread when a click edited the patterns; the
    /// main thread gives them to the engine (a main-thread object).
    patterns_edited: Arc<AtomicBool>,
}

impl GuiState {
    /// Whole pixels per logical pixel.
    fn pixel_scale(&self) -> u32 {
        self.scale.unwrap_or(1.0).round().clamp(1.0, 8.0) as u32
    }

    fn size(&self) -> (u32, u32) {
        let s = self.pixel_scale();
        self.size
            .unwrap_or((DEFAULT_SIZE.0 * s, DEFAULT_SIZE.1 * s))
    }

    fn min_size(&self) -> (u32, u32) {
        let s = self.pixel_scale();
        (MIN_SIZE.0 * s, MIN_SIZE.1 * s)
    }
}

impl PhasorSyncMainThread<'_> {
    /// Open the window, as a child of `parent` or floating.
    fn open_window(&self, parent: Option<u32>) -> Result<(), PluginError> {
        let mut gui = self.gui.borrow_mut();
        gui.window = None;
        let options = Options {
            parent,
            size: gui.size(),
            scale: gui.pixel_scale(),
            title: gui.title.clone().unwrap_or_else(|| "PhasorSync".into()),
        };
        let source = Source {
            counters: self.shared.counters.clone(),
            settings: self.shared.settings.clone(),
        };
        let screen = Box::new(Screen::new(
            source,
            self.edit_sink(),
            ((self.engine.port_lister)(), (self.engine.raw_lister)()),
            self.connect_sink(&gui.patterns_edited),
        ));
        let window = Window::open(&options, screen, self.close_sink(&gui.closed_by_user))
            .map_err(|e| self.gui_failed(e))?;
        if let Some(t) = gui.transient {
            window.set_transient(t).map_err(|e| self.gui_failed(e))?;
        }
        if gui.shown {
            window.show().map_err(|e| self.gui_failed(e))?;
        }
        gui.window = Some(window);
        Ok(())
    }

    /// What the window calls on a click that edits a parameter: queue the
    /// edit and ask the host to flush (it then calls `params.flush()` or
    /// the next `process()`, which applies it with its gesture).
    fn edit_sink(&self) -> Box<dyn Fn(usize, f64) + Send> {
        let edits = self.shared.edits.clone();
        let params = self.shared.host.get_extension::<HostParams>();
        // SAFETY: the handle is used only by the window's thread, which
        // `Window`'s drop joins; the window is dropped in `destroy` or with
        // this main-thread struct at the latest, both before the host
        // handle's lifetime ends (the instance outlives its main thread).
        let host: HostSharedHandle<'static> = unsafe { std::mem::transmute(self.shared.host) };
        Box::new(move |index, value| {
            if edits.push(Edit { index, value }) {
                match &params {
                    Some(p) => p.request_flush(&host),
                    None => host.request_process(),
                }
            }
        })
    }

    /// What the window calls on a click on a device's mark: toggle the
    /// port's exact pattern in the settings (saved with the project from now
    /// on) and ask for a main-thread callback, which gives the engine the
    /// new patterns.
    fn connect_sink(&self, flag: &Arc<AtomicBool>) -> crate::gui::Connect {
        let flag = flag.clone();
        let settings = self.shared.settings.clone();
        // SAFETY: as in `edit_sink`: only the window's thread uses it, and
        // it is joined before the host handle's lifetime ends.
        let host: HostSharedHandle<'static> = unsafe { std::mem::transmute(self.shared.host) };
        Box::new(move |side, name| {
            toggle_in(&settings, side, name);
            flag.store(true, Ordering::Relaxed);
            host.request_callback();
        })
    }

    /// On the main thread: if a click in the window edited the patterns,
    /// give them to the engine.
    pub(crate) fn apply_window_patterns(&self) {
        let edited = self
            .gui
            .borrow()
            .patterns_edited
            .swap(false, Ordering::Relaxed);
        if edited {
            self.patterns_edited_in_window();
        }
    }

    /// What the window calls when the user closed it (floating): note it
    /// and ask for a main-thread callback, which tells the host.
    fn close_sink(&self, flag: &Arc<AtomicBool>) -> crate::gui::OnClose {
        let flag = flag.clone();
        // SAFETY: as in `edit_sink`: only the window's thread uses it, and
        // it is joined before the host handle's lifetime ends.
        let host: HostSharedHandle<'static> = unsafe { std::mem::transmute(self.shared.host) };
        Box::new(move || {
            flag.store(true, Ordering::Relaxed);
            host.request_callback();
        })
    }

    /// On the main thread: if the user closed the floating window, tell the
    /// host (which may then destroy it or show it again).
    pub(crate) fn tell_host_if_closed(&self) {
        let closed = self
            .gui
            .borrow()
            .closed_by_user
            .swap(false, Ordering::Relaxed);
        if closed {
            if let Some(gui) = self.host.get_extension::<HostGui>() {
                gui.closed(&self.shared.host, false);
            }
        }
    }

    /// Log why the window failed and give the host an error.
    fn gui_failed(&self, why: String) -> PluginError {
        self.shared.log(LogSeverity::Error, &why);
        PluginError::Message("the plugin window failed (see the log)")
    }

    /// Run `f` on the open window, if there is one.
    fn with_window(
        &self,
        f: impl FnOnce(&Window) -> Result<(), String>,
    ) -> Result<(), PluginError> {
        let gui = self.gui.borrow();
        match &gui.window {
            Some(w) => f(w).map_err(|e| self.gui_failed(e)),
            None => Ok(()),
        }
    }
}

impl PluginGuiImpl for PhasorSyncMainThread<'_> {
    fn is_api_supported(&self, configuration: GuiConfiguration) -> bool {
        configuration.api_type == GuiApiType::X11
    }

    fn get_preferred_api(&self) -> Option<GuiConfiguration<'_>> {
        Some(GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        })
    }

    fn create(&self, configuration: GuiConfiguration) -> Result<(), PluginError> {
        if configuration.api_type != GuiApiType::X11 {
            return Err(PluginError::Message("only the X11 window API is supported"));
        }
        {
            let mut gui = self.gui.borrow_mut();
            if gui.created.is_some() {
                return Err(PluginError::Message("the window was already created"));
            }
            gui.created = Some(configuration.is_floating);
            gui.shown = false;
        }
        if configuration.is_floating {
            if let Err(e) = self.open_window(None) {
                self.gui.borrow_mut().created = None;
                return Err(e);
            }
        }
        Ok(())
    }

    fn destroy(&self) {
        let mut gui = self.gui.borrow_mut();
        // Dropping the window ends its thread and its X connection.
        gui.window = None;
        gui.created = None;
        gui.shown = false;
    }

    fn set_scale(&self, scale: f64) -> Result<(), PluginError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(PluginError::Message("the scale must be a positive number"));
        }
        let mut gui = self.gui.borrow_mut();
        gui.scale = Some(scale);
        if let Some(w) = &gui.window {
            w.set_scale(gui.pixel_scale());
        }
        Ok(())
    }

    fn get_size(&self) -> Option<GuiSize> {
        let (width, height) = self.gui.borrow().size();
        Some(GuiSize { width, height })
    }

    fn can_resize(&self) -> bool {
        true
    }

    fn get_resize_hints(&self) -> Option<GuiResizeHints> {
        Some(GuiResizeHints {
            can_resize_horizontally: true,
            can_resize_vertically: true,
            strategy: clack_extensions::gui::AspectRatioStrategy::Disregard,
        })
    }

    fn adjust_size(&self, size: GuiSize) -> Option<GuiSize> {
        let (w, h) = self.gui.borrow().min_size();
        Some(GuiSize {
            width: size.width.max(w),
            height: size.height.max(h),
        })
    }

    fn set_size(&self, size: GuiSize) -> Result<(), PluginError> {
        let (min_w, min_h) = self.gui.borrow().min_size();
        let (w, h) = (size.width.max(min_w), size.height.max(min_h));
        self.gui.borrow_mut().size = Some((w, h));
        self.with_window(|win| win.resize(w, h))
    }

    fn set_parent(&self, window: ClapWindow) -> Result<(), PluginError> {
        let Some(parent) = window.as_x11_handle() else {
            return Err(PluginError::Message("the parent is not an X11 window"));
        };
        if self.gui.borrow().created != Some(false) {
            return Err(PluginError::Message(
                "set_parent needs a window created embedded",
            ));
        }
        let parent = u32::try_from(parent)
            .map_err(|_| PluginError::Message("the parent's X id does not fit 32 bits"))?;
        self.open_window(Some(parent))
    }

    fn set_transient(&self, window: ClapWindow) -> Result<(), PluginError> {
        let Some(parent) = window.as_x11_handle().and_then(|p| u32::try_from(p).ok()) else {
            return Err(PluginError::Message("the window is not an X11 window"));
        };
        self.gui.borrow_mut().transient = Some(parent);
        self.with_window(|w| w.set_transient(parent))
    }

    fn suggest_title(&self, title: &str) {
        self.gui.borrow_mut().title = Some(title.to_owned());
        let _ = self.with_window(|w| w.set_title(title));
    }

    fn show(&self) -> Result<(), PluginError> {
        self.gui.borrow_mut().shown = true;
        self.with_window(Window::show)
    }

    fn hide(&self) -> Result<(), PluginError> {
        self.gui.borrow_mut().shown = false;
        self.with_window(Window::hide)
    }
}
