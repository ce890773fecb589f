//! The bundled plugin's parameter and saved state, as a DAW uses them.

use crate::clap_host;
use crate::clap_host::{instantiate, load_entry, logs};
use clack_extensions::log::LogSeverity;
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const LATENCY: u32 = 1;
/// The read-only "Latency in use" (ms).
const LATENCY_IN_USE: u32 = 17;
/// The "Auto" choice of the latency.
const AUTO: f64 = phasorsync::plugin::params::table::LATENCY_AUTO;

fn text(params: &PluginParams, handle: &PluginMainThreadHandle, value: f64) -> String {
    let mut buf = [0u8; 256];
    let t = params
        .value_to_text(handle, ClapId::new(LATENCY), value, &mut buf)
        .expect("value_to_text");
    String::from_utf8(t.to_vec()).unwrap()
}

fn set_latency(plugin: &mut PluginInstance<clap_host::TestHost>, blocks: f64) {
    let mut handle = plugin.inactive_plugin_handle().expect("inactive");
    let params = handle.get_extension::<PluginParams>().unwrap();
    let mut input = EventBuffer::with_capacity(1);
    input.push(&ParamValueEvent::new(
        0,
        ClapId::new(LATENCY),
        Pckn::match_all(),
        blocks,
    ));
    params.flush(
        &mut handle,
        &input.as_input(),
        &mut EventBuffer::new().as_output(),
    );
}

fn save(plugin: &mut PluginInstance<clap_host::TestHost>) -> Vec<u8> {
    let handle = plugin.plugin_handle();
    let state = handle
        .get_extension::<PluginState>()
        .expect("state extension");
    let mut bytes = Vec::new();
    state.save(&handle, &mut bytes).expect("save");
    bytes
}

fn load(plugin: &mut PluginInstance<clap_host::TestHost>, bytes: &[u8]) -> bool {
    let handle = plugin.plugin_handle();
    let state = handle.get_extension::<PluginState>().unwrap();
    state.load(&handle, &mut &bytes[..]).is_ok()
}

#[test]
fn latency_parameter_says_what_each_choice_costs() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let handle = plugin.plugin_handle();
    let params = handle
        .get_extension::<PluginParams>()
        .expect("params extension");
    let rows = phasorsync::plugin::params::PARAMS;
    assert_eq!(params.count(&handle), rows.len() as u32);
    let mut buf = ParamInfoBuffer::new();
    // Every row reaches the host with its id, and the measurements as read-only.
    for (i, row) in rows.iter().enumerate() {
        let info = params.get_info(&handle, i as u32, &mut buf).expect("info");
        assert_eq!(info.id, ClapId::new(row.id), "{}", row.name);
        assert_eq!(
            info.flags.contains(ParamInfoFlags::IS_READONLY),
            row.read_only,
            "{}",
            row.name
        );
    }
    let info = params.get_info(&handle, 0, &mut buf).expect("param 0");
    assert_eq!(info.id, ClapId::new(LATENCY));
    assert_eq!(info.name, b"MIDI input latency");
    // Auto is appended (stored choices keep their meaning) and the default.
    assert_eq!(
        (info.min_value, info.max_value, info.default_value),
        (0.0, 3.0, AUTO)
    );
    assert!(params
        .get_info(&handle, rows.len() as u32, &mut buf)
        .is_none());
    assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(AUTO));

    let t0 = text(&params, &handle, 0.0);
    let t1 = text(&params, &handle, 1.0);
    let auto = text(&params, &handle, AUTO);
    assert!(t0.contains("not sample-accurate"), "{t0}");
    assert!(
        t1.starts_with("1 block") && t1.contains("sample-accurate"),
        "{t1}"
    );
    assert!(
        auto.starts_with("Auto") && auto.contains("default"),
        "{auto}"
    );
    for v in [0.0, 1.0, 2.0, AUTO] {
        let t = std::ffi::CString::new(text(&params, &handle, v)).unwrap();
        assert_eq!(
            params.text_to_value(&handle, ClapId::new(LATENCY), &t),
            Some(v)
        );
    }
    assert_eq!(
        params.text_to_value(&handle, ClapId::new(LATENCY), c"7 blocks"),
        None
    );
    assert_eq!(params.get_value(&handle, ClapId::new(99)), None);

    set_latency(&mut plugin, 0.0);
    let handle = plugin.plugin_handle();
    assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(0.0));
}

#[test]
fn state_round_trips_byte_for_byte_between_instances() {
    let entry = load_entry();
    let mut a = instantiate(&entry, ID).unwrap();
    set_latency(&mut a, 2.0);
    let saved = save(&mut a);
    assert!(saved.starts_with(b"PHSY"));

    let mut b = instantiate(&entry, ID).unwrap();
    assert_ne!(
        save(&mut b),
        saved,
        "a fresh instance has the default latency"
    );
    assert!(load(&mut b, &saved));
    assert_eq!(save(&mut b), saved);
    let handle = b.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(2.0));
}

#[test]
fn corrupt_state_is_refused_with_a_log_line_and_changes_nothing() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    set_latency(&mut plugin, 0.0);
    let before = save(&mut plugin);
    let mut truncated = before.clone();
    truncated.pop();
    let mut wrong_version = before.clone();
    wrong_version[4] = 200;
    for bad in [&b"garbage"[..], &truncated, &wrong_version, &[]] {
        assert!(!load(&mut plugin, bad), "loading {bad:?} should fail");
        assert_eq!(save(&mut plugin), before, "a failed load changed the state");
    }
    let errors: Vec<_> = logs(&plugin)
        .into_iter()
        .filter(|(sev, m)| {
            *sev == LogSeverity::Error && m.contains("could not load the saved PhasorSync state")
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[2].1.contains("version 200"), "{errors:?}");
}

/// A version-2 state of `(id, value)` pairs and no texts.
fn state_with(params: &[(u32, f64)]) -> Vec<u8> {
    let mut bytes = b"PHSY\x02".to_vec();
    bytes.extend_from_slice(&(params.len() as u16).to_le_bytes());
    for &(id, value) in params {
        bytes.extend_from_slice(&id.to_le_bytes());
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes
}

#[test]
fn a_state_naming_read_only_parameters_or_out_of_range_values_loads() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let handle = plugin.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    let read_only: Vec<u32> = (0..params.count(&handle))
        .filter_map(|i| {
            let mut buf = ParamInfoBuffer::new();
            let info = params.get_info(&handle, i, &mut buf)?;
            info.flags
                .contains(ParamInfoFlags::IS_READONLY)
                .then_some(info.id.get())
        })
        .collect();
    assert!(!read_only.is_empty(), "no read-only parameter to name");
    let mut named: Vec<(u32, f64)> = read_only.iter().map(|&id| (id, 1.0)).collect();
    // Latency 7: beyond its range (0..=3), clamped.
    named.push((LATENCY, 7.0));
    assert!(
        load(&mut plugin, &state_with(&named)),
        "{:?}",
        logs(&plugin)
    );
    let handle = plugin.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(AUTO));

    // Over the size limit: refused, and the log says why.
    let mut huge = b"PHSY\x02".to_vec();
    huge.resize(1024 * 1024, 0);
    assert!(!load(&mut plugin, &huge));
    assert!(
        logs(&plugin)
            .iter()
            .any(|(sev, m)| *sev == LogSeverity::Error && m.contains("too large")),
        "{:?}",
        logs(&plugin)
    );
}

/// What PhasorSync wrote before latency Auto existed, for a project set to
/// "1 block + 0.2 ms" and otherwise left at the defaults: version 2, the ten
/// settable parameters by id in table order, and the two texts (patterns,
/// remembered connections), empty.
fn state_before_auto() -> Vec<u8> {
    let mut bytes = state_with(&[
        (1, 1.0),
        (2, 1.0),
        (3, 1.0),
        (4, 0.0),
        (5, 0.0),
        (6, 0.0),
        (7, 0.0),
        (8, 1.0),
        (9, 2.0),
        (10, 0.0),
    ]);
    // state_with's text count (none), replaced by the two empty texts.
    bytes.truncate(bytes.len() - 2);
    bytes.extend_from_slice(&2u16.to_le_bytes());
    for key in [1u16, 2] {
        bytes.extend_from_slice(&key.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
    }
    bytes
}

#[test]
fn a_state_saved_with_a_fixed_latency_loads_that_latency_byte_for_byte() {
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let old = state_before_auto();
    assert!(load(&mut plugin, &old), "{:?}", logs(&plugin));
    let handle = plugin.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(1.0));
    // Saved again, it holds the same values (and the parameters added since,
    // at their defaults), and from then on round-trips byte for byte.
    let upgraded = save(&mut plugin);
    let mut again = instantiate(&entry, ID).unwrap();
    assert!(load(&mut again, &upgraded));
    let handle = again.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(1.0));
    assert_eq!(save(&mut again), upgraded, "the state did not round-trip");
    // Every fixed choice stays itself through a save and a load.
    for fixed in [0.0, 1.0, 2.0] {
        let mut a = instantiate(&entry, ID).unwrap();
        set_latency(&mut a, fixed);
        let saved = save(&mut a);
        let mut b = instantiate(&entry, ID).unwrap();
        assert!(load(&mut b, &saved));
        let handle = b.plugin_handle();
        let params = handle.get_extension::<PluginParams>().unwrap();
        assert_eq!(params.get_value(&handle, ClapId::new(LATENCY)), Some(fixed));
        assert_eq!(save(&mut b), saved);
    }
}

#[test]
fn latency_in_use_is_shown_read_only_and_follows_the_setting() {
    const FRAMES: u32 = 256;
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let handle = plugin.plugin_handle();
    let params = handle.get_extension::<PluginParams>().unwrap();
    let rows = phasorsync::plugin::params::PARAMS;
    // Appended after the parameters that existed before it, so every older
    // id keeps its place.
    let row = phasorsync::plugin::params::index::LATENCY_IN_USE;
    assert!(rows[..row].iter().all(|p| p.id < rows[row].id));
    let mut buf = ParamInfoBuffer::new();
    let info = params
        .get_info(&handle, row as u32, &mut buf)
        .expect("info");
    assert_eq!(info.id, ClapId::new(LATENCY_IN_USE));
    assert_eq!(info.name, b"Latency in use");
    assert!(info.flags.contains(ParamInfoFlags::IS_READONLY));
    assert!(!info.flags.contains(ParamInfoFlags::IS_AUTOMATABLE));
    let in_use = |plugin: &mut PluginInstance<clap_host::TestHost>| {
        let handle = plugin.plugin_handle();
        params
            .get_value(&handle, ClapId::new(LATENCY_IN_USE))
            .unwrap()
    };
    // One block of processing under each setting: nothing measured yet, Auto
    // starts from one block plus the delivery margin, like the fixed choice
    // of one block; two blocks show more; the ms figure is whole samples.
    let mut shown = Vec::new();
    for setting in [AUTO, 1.0, 2.0] {
        set_latency(&mut plugin, setting);
        let mut p = clap_host::start(&mut plugin, FRAMES);
        let input = EventBuffer::new();
        let mut output = EventBuffer::with_capacity(64);
        for _ in 0..4 {
            clap_host::process_block(&mut p, FRAMES, &input, &mut output);
        }
        let ms = in_use(&mut plugin);
        let frames = ms * 48.0;
        assert!((frames - frames.round()).abs() < 1e-6, "{ms} ms");
        assert!(frames.round() > f64::from(FRAMES), "{ms} ms");
        shown.push(frames.round());
        plugin.deactivate(p.stop_processing());
    }
    assert_eq!(shown[0], shown[1], "{shown:?}");
    assert_eq!(shown[2], shown[1] + f64::from(FRAMES), "{shown:?}");
    // The host cannot set it.
    let before = in_use(&mut plugin);
    let mut handle = plugin.inactive_plugin_handle().expect("inactive");
    let mut input = EventBuffer::with_capacity(1);
    input.push(&ParamValueEvent::new(
        0,
        ClapId::new(LATENCY_IN_USE),
        Pckn::match_all(),
        before + 10.0,
    ));
    params.flush(
        &mut handle,
        &input.as_input(),
        &mut EventBuffer::new().as_output(),
    );
    assert_eq!(in_use(&mut plugin), before);
    // And it is not saved: a fresh instance's state is the same bytes.
    let saved = save(&mut plugin);
    let mut fresh = instantiate(&entry, ID).unwrap();
    set_latency(&mut fresh, 2.0);
    assert_eq!(save(&mut fresh), saved);
}

/// What the CLAP validator's `param-set-wrong-namespace` checks: blocks
/// whose only event is a parameter change in another event space change no
/// parameter's value, while active, nor from before activation to after
/// deactivation. Read-only measurements count too: the validator
/// cannot tell them apart, and a value that moves with no input is news
/// the host would record as automation.
#[test]
fn blocks_with_an_event_of_another_space_change_no_value() {
    use clack_host::events::UnknownEvent;
    let entry = load_entry();
    let mut plugin = instantiate(&entry, ID).unwrap();
    let values = |plugin: &mut PluginInstance<clap_host::TestHost>| {
        let handle = plugin.plugin_handle();
        let params = handle.get_extension::<PluginParams>().unwrap();
        (0..params.count(&handle))
            .map(|i| {
                let mut info = ParamInfoBuffer::new();
                let id = params.get_info(&handle, i, &mut info).unwrap().id;
                (id.get(), params.get_value(&handle, id).unwrap())
            })
            .collect::<Vec<_>>()
    };
    let inactive = values(&mut plugin);
    let mut p = clap_host::start(&mut plugin, 512);
    let before = values(&mut plugin);
    // A parameter value event, but in space 0xb33f: not ours to read.
    let mut raw = clack_host::events::event_types::ParamValueEvent::new(
        0,
        ClapId::new(LATENCY),
        Pckn::match_all(),
        0.0,
    );
    let mut input = EventBuffer::with_capacity(1);
    {
        // SAFETY: the event is a whole `clap_event_param_value`; only its
        // header's space id changes, to one nobody defined.
        let header =
            unsafe { &mut *(&mut raw as *mut _ as *mut clap_sys::events::clap_event_header) };
        header.space_id = 0xb33f;
        // SAFETY: as above: a valid event with a valid header.
        let unknown = unsafe { UnknownEvent::from_raw(header) };
        input.push(unknown);
    }
    for _ in 0..4 {
        clap_host::process_block(&mut p, 512, &input, &mut EventBuffer::new());
    }
    let after = values(&mut plugin);
    let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert!(
        changed.is_empty(),
        "(id, value) before and after: {changed:?}"
    );
    plugin.deactivate(p.stop_processing());
    // The validator compares the values before activation with those after
    // deactivation.
    assert_eq!(values(&mut plugin), inactive, "inactive before and after");
}
