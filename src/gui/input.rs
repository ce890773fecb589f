//! What a click in the window does: which parameter row is under the
//! pointer, and the value a click gives it (button 1 or wheel up: next,
//! button 3 or wheel down: previous).

use super::view::{param_row_at, Layout};
use crate::plugin::params::{Kind, PARAMS};

/// The parameter at (`x`, `y`) and its value after `button`, if the click
/// edits one (measurements are read-only).
pub fn param_click(
    layout: &Layout,
    x: i32,
    y: i32,
    button: u8,
    current: &dyn Fn(usize) -> f64,
) -> Option<(usize, f64)> {
    let index = param_row_at(layout, x, y)?;
    let p = PARAMS.get(index).filter(|p| !p.read_only)?;
    let up = match button {
        1 | 4 => true,
        3 | 5 => false,
        _ => return None,
    };
    let v = current(index);
    let value = match p.kind {
        Kind::Toggle => 1.0 - p.clamp(v),
        Kind::Choice(names) => {
            let n = names.len() as f64;
            let step = if up { 1.0 } else { n - 1.0 };
            (p.clamp(v) - p.min + step) % n + p.min
        }
        // A hundredth of the range a click: 1 ms for the ±50 ms offsets.
        Kind::Number { .. } | Kind::Source => {
            let step = (p.max - p.min) / 100.0;
            p.clamp(if up { v + step } else { v - step })
        }
    };
    Some((index, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::params::index;

    #[test]
    fn a_click_toggles_cycles_or_steps_the_row_under_the_pointer() {
        let l = Layout::new(640, 440, 1);
        let row_y = |i: usize| l.params.y + 4 + (1 + i as i32) * 12 + 4;
        let x = l.params.x + 20;
        let defaults = |i: usize| PARAMS[i].default;
        let toggle = param_click(&l, x, row_y(index::HARDWARE_OUT), 1, &defaults);
        assert_eq!(toggle, Some((index::HARDWARE_OUT, 0.0)));
        // The latency choice (default Auto, the last of 0..=3) wraps up to 0,
        // steps up from 1 to 2, and down from 0 back to Auto.
        assert_eq!(
            param_click(&l, x, row_y(index::LATENCY), 1, &defaults),
            Some((index::LATENCY, 0.0))
        );
        assert_eq!(
            param_click(&l, x, row_y(index::LATENCY), 1, &|_| 1.0),
            Some((index::LATENCY, 2.0))
        );
        assert_eq!(
            param_click(&l, x, row_y(index::LATENCY), 3, &|_| 0.0),
            Some((index::LATENCY, 3.0))
        );
        let offset = param_click(&l, x, row_y(index::OUTPUT_OFFSET), 5, &defaults);
        assert_eq!(offset, Some((index::OUTPUT_OFFSET, -1.0)));
        // A measurement is not edited, nor is the heading or another panel.
        assert_eq!(
            param_click(&l, x, row_y(index::EXT_TEMPO), 1, &defaults),
            None
        );
        assert_eq!(param_click(&l, x, l.params.y + 6, 1, &defaults), None);
        assert_eq!(
            param_click(&l, l.histogram.x + 5, row_y(0), 1, &defaults),
            None
        );
    }
}
