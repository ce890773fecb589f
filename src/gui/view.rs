//! The window's layout and drawing: a pure function of a [`Model`], the
//! frame's size and the scale, so a test can draw a known state without an
//! X server and find each part where [`Layout`] says it is.

use super::frame::{Frame, Rgb, GLYPH};
use super::model::{Bars, Model};

/// The size the window opens at, in logical pixels (times the host's scale).
pub const DEFAULT_SIZE: (u32, u32) = (640, 440);
/// The smallest size that still shows every part, in logical pixels.
pub const MIN_SIZE: (u32, u32) = (480, 360);

const BACKGROUND: Rgb = 0x1e2126;
const PANEL: Rgb = 0x2a2e35;
pub(super) const TEXT: Rgb = 0xd8dde6;
pub(super) const DIM: Rgb = 0x8a93a3;
const ACCENT: Rgb = 0x5fb3f0;
pub(super) const WARN: Rgb = 0xf0a35f;
pub(super) const ON: Rgb = 0x6fd08c;

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

impl Rect {
    /// Whether (`x`, `y`) is inside.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }
}

/// Where each part of the window is, for a frame size and scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Pixels per logical pixel (a whole number, at least 1).
    pub scale: i32,
    /// The timing histogram.
    pub histogram: Rect,
    /// The figures under the histogram (late, lost, clock).
    pub figures: Rect,
    /// The device list.
    pub devices: Rect,
    /// The parameter list.
    pub params: Rect,
}

impl Layout {
    /// The layout of a `width` x `height` frame at `scale`: timing on the
    /// left, devices and parameters on the right.
    pub fn new(width: u32, height: u32, scale: u32) -> Self {
        let s = scale.max(1) as i32;
        let (w, h) = (width as i32, height as i32);
        let pad = 8 * s;
        let title = 2 * pad + GLYPH * s;
        let col = (w - 3 * pad) / 2;
        let left = Rect {
            x: pad,
            y: title,
            w: col,
            h: h - title - pad,
        };
        let right = Rect {
            x: 2 * pad + col,
            ..left
        };
        let hist_h = left.h * 2 / 5;
        let dev_h = right.h * 2 / 5;
        Layout {
            scale: s,
            histogram: Rect { h: hist_h, ..left },
            figures: Rect {
                y: left.y + hist_h + pad,
                h: left.h - hist_h - pad,
                ..left
            },
            devices: Rect { h: dev_h, ..right },
            params: Rect {
                y: right.y + dev_h + pad,
                h: right.h - dev_h - pad,
                ..right
            },
        }
    }
}

/// Draw `model` into `frame` at `scale`.
pub fn draw(model: &Model, frame: &mut Frame, scale: u32) {
    let l = Layout::new(frame.width(), frame.height(), scale);
    let s = l.scale;
    frame.clear(BACKGROUND);
    frame.text(8 * s, 8 * s, s, ACCENT, "PhasorSync");
    for r in [l.histogram, l.figures, l.devices, l.params] {
        frame.fill(r.x, r.y, r.w, r.h, PANEL);
    }
    histogram(model, frame, l.histogram, s);
    figures(model, frame, l.figures, s);
    super::devices::draw(
        &model.devices,
        model.device_scroll,
        model.device_note.as_deref(),
        frame,
        l.devices,
        s,
    );
    params(model, frame, l.params, s);
}

/// The parameter row (index into the model's `params`) at (`x`, `y`), if any.
pub fn param_row_at(layout: &Layout, x: i32, y: i32) -> Option<usize> {
    let r = layout.params;
    if !r.contains(x, y) {
        return None;
    }
    let n = (y - r.y - 4 * layout.scale) / line(layout.scale);
    // Line 0 is the heading.
    usize::try_from(n - 1).ok()
}

/// Height of one text line.
pub(super) fn line(s: i32) -> i32 {
    (GLYPH + 4) * s
}

/// Draw `text` cut to the width of `r`, on line `n` of `r`; false when the
/// line is below `r`.
pub(super) fn text_line(
    frame: &mut Frame,
    r: Rect,
    s: i32,
    n: i32,
    color: Rgb,
    text: &str,
) -> bool {
    let y = r.y + 4 * s + n * line(s);
    if y + GLYPH * s > r.y + r.h {
        return false;
    }
    let fits = ((r.w - 8 * s) / (GLYPH * s)).max(0) as usize;
    let cut: String = text.chars().take(fits).collect();
    frame.text(r.x + 4 * s, y, s, color, &cut);
    true
}

fn histogram(model: &Model, frame: &mut Frame, r: Rect, s: i32) {
    let half = Rect { h: r.h / 2, ..r };
    bars(frame, half, s, "Placement error", &model.placement);
    let lower = Rect {
        y: r.y + r.h / 2,
        h: r.h - r.h / 2,
        ..r
    };
    bars(frame, lower, s, "Delivery delay", &model.delay);
}

/// One histogram with its title above and its axis below.
fn bars(frame: &mut Frame, r: Rect, s: i32, title: &str, bars: &Bars) {
    let total: u64 = bars.counts.iter().sum();
    text_line(frame, r, s, 0, TEXT, &format!("{title} ({total})"));
    let top = r.y + line(s) + 2 * s;
    let bottom = r.y + r.h - line(s);
    let n = bars.counts.len() as i32;
    let max = bars.counts.iter().copied().max().unwrap_or(0);
    if n == 0 || max == 0 || bottom <= top {
        text_line(frame, r, s, 1, DIM, "no messages in the last minutes");
        return;
    }
    let span = r.w - 8 * s;
    for (i, &count) in bars.counts.iter().enumerate() {
        let x0 = r.x + 4 * s + span * i as i32 / n;
        let x1 = r.x + 4 * s + span * (i as i32 + 1) / n;
        let bar = ((bottom - top) as u64 * count).div_ceil(max) as i32;
        let color = if i as i32 == n - 1 { WARN } else { ACCENT };
        frame.fill(x0, bottom - bar, (x1 - x0 - s).max(s), bar, color);
    }
    let axis = format!("0 .. {}+ {}", bars.width * (n - 1) as f64, bars.unit);
    frame.text(r.x + 4 * s, bottom + 2 * s, s, DIM, &axis);
}

fn figures(model: &Model, frame: &mut Frame, r: Rect, s: i32) {
    let late = format!("late: {}   lost: {}", model.late, model.lost);
    let warn = model.late > 0 || model.lost > 0;
    text_line(frame, r, s, 0, if warn { WARN } else { TEXT }, &late);
    for (i, (text, on)) in model.figures.iter().enumerate() {
        let color = if *on { TEXT } else { DIM };
        if !text_line(frame, r, s, 1 + i as i32, color, text) {
            return;
        }
    }
    if let Some(phase) = model.phase {
        // The moving phasor: a bar that fills over one period.
        let y = r.y + r.h - 2 * line(s);
        let w = r.w - 8 * s;
        frame.outline(r.x + 4 * s, y, w, line(s), s, DIM);
        let filled = (f64::from(w - 4 * s) * phase.clamp(0.0, 1.0)) as i32;
        frame.fill(r.x + 6 * s, y + 2 * s, filled, line(s) - 4 * s, ON);
    }
}

fn params(model: &Model, frame: &mut Frame, r: Rect, s: i32) {
    text_line(frame, r, s, 0, TEXT, "Parameters");
    for (i, p) in model.params.iter().enumerate() {
        let row = format!("{}: {}", p.name, p.value);
        let color = if p.editable { TEXT } else { DIM };
        if !text_line(frame, r, s, 1 + i as i32, color, &row) {
            break;
        }
    }
}
