//! The plugin window: an X11 window on a thread of its own
//! ([`x11`]), drawn in software ([`frame`]) from a [`model`] of the plugin's
//! live figures by [`view`], with the sequencer's ports from [`devices`].
//! No toolkit and no OpenGL: it runs wherever an
//! X server does, Xvfb included. The CLAP side is `crate::plugin`'s `gui.rs`.

pub mod devices;
pub mod frame;
pub mod input;
pub mod model;
pub mod view;
pub mod x11;

use crate::backend::alsa_seq::ports::ListPorts;
use crate::backend::alsa_seq::Side;
use crate::backend::raw_midi::patterns::ListRaw;
pub use frame::Frame;
pub use model::{Model, Source};
pub use x11::{OnClose, Options, Painter, Window};

/// Paints the [`view`] of the model read from a [`Source`], repainting only
/// when the model changed.
pub struct Screen {
    source: Source,
    edit: Box<dyn Fn(usize, f64) + Send>,
    devices: devices::Devices,
    connect: Connect,
    /// The first device row shown.
    scroll: usize,
    recent: model::Recent,
    shown: Option<(Model, u32, u32, u32)>,
}

/// What a click on a device's mark calls: the direction and the port's
/// `client name:port name` (a raw MIDI device's `raw:hw:C,D`).
pub type Connect = Box<dyn Fn(Side, &str) + Send>;

impl Screen {
    /// A screen of `source`'s figures, `list`'s ports and `list_raw`'s raw
    /// MIDI devices; a click on a parameter calls `edit` with its row and
    /// new value, one on a device's mark calls `connect`.
    pub fn new(
        source: Source,
        edit: Box<dyn Fn(usize, f64) + Send>,
        (list, list_raw): (ListPorts, ListRaw),
        connect: Connect,
    ) -> Self {
        Screen {
            source,
            edit,
            devices: devices::Devices::new(list, list_raw),
            connect,
            scroll: 0,
            recent: model::Recent::default(),
            shown: None,
        }
    }
}

impl Painter for Screen {
    fn paint(&mut self, frame: &mut Frame, scale: u32, force: bool) -> bool {
        let mut model = self.source.read(&mut self.recent);
        (model.devices, model.device_note) = self
            .devices
            .read(std::time::Instant::now(), &self.source.settings);
        // Ports that went away may leave the list shorter than the scroll.
        self.scroll = self.scroll.min(model.devices.len().saturating_sub(1));
        model.device_scroll = self.scroll;
        let key = (model, frame.width(), frame.height(), scale);
        if !force && self.shown.as_ref() == Some(&key) {
            return false;
        }
        view::draw(&key.0, frame, scale);
        self.shown = Some(key);
        true
    }

    fn press(&mut self, x: i32, y: i32, button: u8, scale: u32) {
        // Clicks act on what was drawn: nothing before the first frame.
        let Some((model, w, h, _)) = &self.shown else {
            return;
        };
        let layout = view::Layout::new(*w, *h, scale);
        if layout.devices.contains(x, y) {
            match button {
                1 => {
                    let first = model.device_scroll;
                    if let Some((i, side)) =
                        devices::toggle_at(&layout, &model.devices, first, x, y)
                    {
                        (self.connect)(side, &model.devices[i].name);
                    }
                }
                // The wheel scrolls a list that does not fit.
                4 => self.scroll = model.device_scroll.saturating_sub(1),
                5 if !devices::shows_last(&layout, &model.devices, model.device_scroll) => {
                    self.scroll = model.device_scroll + 1;
                }
                _ => {}
            }
            return;
        }
        let params = &self.source.settings.params;
        if let Some((index, value)) = input::param_click(&layout, x, y, button, &|i| params.get(i))
        {
            (self.edit)(index, value);
        }
    }
}
