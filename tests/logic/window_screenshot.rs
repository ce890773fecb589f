//! A screenshot of the plugin window in a known state (two fake devices, a
//! histogram of known data), drawn by the window's own view code, saved as
//! `target/gui-screenshot.png` (docs/manual.md shows a copy,
//! docs/gui-window.png) and checked:
//! not blank, and the device list and the histogram drawn where the layout
//! puts them.

use phasorsync::backend::alsa_seq::ports::SeqPort;
use phasorsync::backend::alsa_seq::Patterns;
use phasorsync::gui::devices::rows;
use phasorsync::gui::model::{Bars, DeviceRow, ParamRow};
use phasorsync::gui::view::{draw, Layout, Rect, DEFAULT_SIZE};
use phasorsync::gui::{Frame, Model};
use phasorsync::plugin::params::PARAMS;
use std::path::PathBuf;

/// Two fake devices as the window lists them: a synth this project connects
/// both ways (its exact patterns), a drum machine another program holds.
fn devices() -> Vec<DeviceRow> {
    let mut held = SeqPort::new(28, 0, ("TR-8S", "TR-8S MIDI 1"), true, true);
    held.busy = Some("amidi (4242) has hw:2,0 open".into());
    let ports = [
        SeqPort::new(24, 0, ("Keystation 49", "Keystation 49 MIDI 1"), true, true),
        held,
    ];
    let mine = Patterns::parse(
        "=Keystation 49:Keystation 49 MIDI 1\nout:=Keystation 49:Keystation 49 MIDI 1",
    );
    rows(&ports, &mine, &mine)
}

/// The known state: two devices (one connected both ways, one busy), a
/// bell-shaped histogram, a late message.
fn known_model() -> Model {
    let histogram: Vec<u64> = (0..24u64)
        .map(|i| {
            let d = i.abs_diff(6);
            1000 / (1 + d * d)
        })
        .collect();
    Model {
        // Every parameter at its default, as a fresh instance shows them.
        params: PARAMS
            .iter()
            .map(|p| {
                let mut value = String::new();
                p.format(p.default, &mut value).unwrap();
                ParamRow {
                    name: p.name,
                    value,
                    editable: !p.read_only,
                }
            })
            .collect(),
        late: 1,
        lost: 0,
        placement: Bars {
            counts: histogram.clone(),
            width: 1.0,
            unit: "samples",
        },
        delay: Bars {
            counts: histogram.iter().rev().copied().collect(),
            width: 0.5,
            unit: "ms",
        },
        figures: vec![
            ("latency: 1 block + 0.2 ms".into(), true),
            ("clock in: 120.0 bpm running, locked".into(), true),
            ("clock out: Off, offset 0.00 ms".into(), false),
        ],
        phase: Some(0.25),
        devices: devices(),
        device_scroll: 0,
        device_note: None,
    }
}

/// How many pixels of `r` differ from the panel's colour (the colour at its
/// bottom-right corner, which nothing is drawn on).
fn drawn_in(frame: &Frame, r: Rect) -> usize {
    let panel = frame.pixel((r.x + r.w - 1) as u32, (r.y + r.h - 1) as u32);
    (r.y..r.y + r.h)
        .flat_map(|y| (r.x..r.x + r.w).map(move |x| (x, y)))
        .filter(|&(x, y)| frame.pixel(x as u32, y as u32) != panel)
        .count()
}

/// Write `frame` as an RGB PNG.
fn save_png(frame: &Frame, path: &PathBuf) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(file, frame.width(), frame.height());
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let rgb: Vec<u8> = frame
        .bytes()
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    enc.write_header().unwrap().write_image_data(&rgb).unwrap();
}

#[test]
fn screenshot_in_a_known_state_shows_the_device_list_and_the_histogram() {
    let (w, h) = DEFAULT_SIZE;
    let mut frame = Frame::new(w, h);
    let model = known_model();
    draw(&model, &mut frame, 1);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/gui-screenshot.png");
    save_png(&frame, &path);
    eprintln!("screenshot: {}", path.display());

    let l = Layout::new(w, h, 1);
    // Not blank: many colours in use.
    let mut colours: Vec<u32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| frame.pixel(x, y))
        .collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() >= 5, "only {} colours", colours.len());

    // The histogram: its tallest bar (bucket 6 of 24) reaches near the
    // panel's top third, and an empty model draws no bars there.
    let hist = drawn_in(&frame, l.histogram);
    let mut empty = Frame::new(w, h);
    draw(
        &Model {
            placement: Bars::default(),
            delay: Bars::default(),
            ..model.clone()
        },
        &mut empty,
        1,
    );
    assert!(
        hist > drawn_in(&empty, l.histogram) + (l.histogram.w * l.histogram.h) as usize / 20,
        "the histogram's bars are drawn in its place"
    );
    // The tallest bars: placement error's bucket 6 of 24 in the upper half,
    // delivery delay's bucket 17 (the same data reversed) in the lower half.
    let panel = frame.pixel(
        (l.histogram.x + 1) as u32,
        (l.histogram.y + l.histogram.h - 1) as u32,
    );
    let bucket_x = |i: i32| l.histogram.x + 4 + (l.histogram.w - 8) * i / 24 + 1;
    let (upper, lower) = (
        l.histogram.y + l.histogram.h / 4 + 4,
        l.histogram.y + l.histogram.h * 3 / 4 + 4,
    );
    assert_ne!(frame.pixel(bucket_x(6) as u32, upper as u32), panel);
    assert_eq!(frame.pixel(bucket_x(17) as u32, upper as u32), panel);
    assert_ne!(frame.pixel(bucket_x(17) as u32, lower as u32), panel);
    assert_eq!(frame.pixel(bucket_x(6) as u32, lower as u32), panel);

    // The device list: one text line per device under its heading.
    let no_devices = Model {
        devices: vec![],
        ..model.clone()
    };
    let mut without = Frame::new(w, h);
    draw(&no_devices, &mut without, 1);
    let line = |n: i32| Rect {
        y: l.devices.y + 4 + n * 12,
        h: 8,
        ..l.devices
    };
    assert!(drawn_in(&frame, line(1)) > 20, "first device on line 1");
    assert!(drawn_in(&frame, line(2)) > 20, "second device on line 2");
    assert!(drawn_in(&frame, line(3)) > 20, "why it is busy on line 3");
    assert_eq!(
        drawn_in(&without, line(2)),
        0,
        "no device, nothing on line 2"
    );
    assert!(
        drawn_in(&frame, l.params) > 100,
        "the parameters are listed"
    );
}
