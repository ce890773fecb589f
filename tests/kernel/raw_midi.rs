//! The raw MIDI backend through the real kernel, against `snd-virmidi`: its
//! `hw:C,D` devices are kernel raw MIDI devices whose other end is a
//! sequencer port. A test client sends wire bytes into that port (one
//! variable-length event carries any bytes unchanged); what the raw device
//! writes comes out of the port as events. Run with `cargo xtask test`.

use crate::clap_host;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use phasorsync::backend::alsa_seq::ThreadState;
use phasorsync::backend::raw_midi::device::{Device, Stamping};
use phasorsync::backend::raw_midi::patterns::node;
use phasorsync::backend::raw_midi::{RawConfig, RawMidiEngine};
use phasorsync::engine::sink::source_id;
use phasorsync::engine::{EngineIo, LogLevel, LogLine, MidiEngine, News};
use phasorsync::protocol::{MidiEvent, MidiMessage, Parser, ParserConfig};
use phasorsync::ring::{
    midi_buffer_with_config, MidiBufferConsumer, MidiBufferProducer, RingConfig,
};
use phasorsync::timeline::monotonic_ns;

const MS: u64 = 1_000_000;

/// A raw engine on `dev`, and the audio thread's ends of its rings.
struct Raw {
    engine: RawMidiEngine,
    input: MidiBufferConsumer,
    output: MidiBufferProducer,
    news: Arc<News>,
    /// Every log line seen so far.
    lines: Vec<LogLine>,
}

impl Raw {
    fn start(pattern: &str) -> Self {
        let mut engine = RawMidiEngine::new(RawConfig {
            connect_patterns: pattern.to_string(),
            patterns_from_environment: false,
            rt_priority: None,
            ..RawConfig::default()
        })
        .expect("engine");
        let big = RingConfig {
            capacity: 4096,
            sysex_bytes: 64 * 1024,
        };
        let (input, consumer) = midi_buffer_with_config(big);
        let (output, out_consumer) = midi_buffer_with_config(big);
        let news = Arc::new(News::default());
        engine
            .start(EngineIo {
                input,
                output: out_consumer,
                news: Arc::clone(&news),
            })
            .expect("start");
        Self {
            engine,
            input: consumer,
            output,
            news,
            lines: Vec::new(),
        }
    }

    /// Waits until `n` log lines contain `text`; all lines so far.
    fn wait_line(&mut self, text: &str, n: usize, timeout: Duration) -> &[LogLine] {
        let count = |l: &[LogLine]| l.iter().filter(|l| l.message.contains(text)).count();
        let ok = wait_until(timeout, || {
            self.lines.extend(log_lines(&self.news));
            count(&self.lines) >= n
        });
        assert!(ok, "no {n} log lines with {text:?}: {:#?}", self.lines);
        &self.lines
    }
}

/// The first virmidi device's seq port and its raw `raw:hw:C,D` pattern.
fn device() -> (Virmidi, String) {
    let v = require_virmidi(1).remove(0);
    let p = format!("raw:hw:{},{}", v.card, v.device);
    (v, p)
}

/// A test client subscribed to `v`'s sequencer port: what it sends, the
/// raw device reads.
fn sender(v: &Virmidi) -> TestSource {
    let s = TestSource::new("raw-test-sender");
    s.connect(v.seq_addr());
    s
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_framed_input_carries_the_arrival_time_not_the_read_time() {
    let (v, _) = device();
    let path = node(v.card, v.device);
    // Two substreams of the same device: virmidi gives both every byte.
    let mut framed = Device::open(&path, true).expect("open framed");
    let mut plain = Device::open(&path, false).expect("open plain");
    assert_eq!(
        framed.stamping,
        Stamping::Framed,
        "this kernel refused framing: {:?}",
        framed.framing_error
    );
    assert_eq!(plain.stamping, Stamping::ReadTime);
    let mut buf = vec![0u8; 4096];
    // The first read triggers input (nothing is there yet): only from then
    // on does the device receive.
    for d in [&mut framed, &mut plain] {
        assert_eq!(
            d.read(&mut buf, 0, |_, _| panic!("no input yet")).unwrap(),
            0
        );
    }
    let s = sender(&v);
    let t0 = s.raw_bytes(&[0x90, 60, 100]);
    let t1 = monotonic_ns();
    std::thread::sleep(Duration::from_millis(50));
    let read_at = monotonic_ns();
    let mut got = Vec::new();
    framed
        .read(&mut buf, read_at, |t, b| got.push((t, b.to_vec())))
        .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, [0x90, 60, 100]);
    assert!(
        (t0..=t1).contains(&got[0].0),
        "framed stamp {} outside the send {t0}..{t1}",
        got[0].0
    );
    let mut late = Vec::new();
    plain
        .read(&mut buf, read_at, |t, b| late.push((t, b.to_vec())))
        .unwrap();
    assert_eq!(late, [(read_at, vec![0x90, 60, 100])]);
    assert!(read_at >= t1 + 50 * MS);
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_wire_bytes_arrive_intact_stamped_on_the_senders_schedule() {
    let (v, pattern) = device();
    let mut r = Raw::start(&pattern);
    let lines = r.wait_line("opened", 1, Duration::from_secs(3));
    assert!(
        lines
            .iter()
            .any(|l| l.message.contains("stamped by the kernel")),
        "{lines:?}"
    );
    let s = sender(&v);
    let groups: Vec<Vec<u8>> = vec![
        // Running status, a note-on with velocity 0.
        vec![0x90, 60, 64, 62, 65, 60, 0],
        // A clock byte inside a SysEx.
        vec![0xF0, 0x7D, 0x01, 0xF8, 0x02, 0x03, 0xF7],
        // A SysEx in two pieces, 30 ms apart.
        vec![0xF0, 0x7D, 0x10, 0x11],
        vec![0x12, 0x13, 0xF7],
        // Running status across a realtime byte.
        vec![0xB0, 7, 100, 0xF8, 10, 20],
    ];
    let mut brackets = Vec::new();
    for g in &groups {
        let t0 = s.raw_bytes(g);
        brackets.push((t0, monotonic_ns()));
        std::thread::sleep(Duration::from_millis(30));
    }
    // What the same parser makes of the same bytes, stamped with the
    // index of their group.
    let mut parser = Parser::new(ParserConfig::default());
    let mut want: Vec<(MidiMessage, Vec<u8>)> = Vec::new();
    let src = source_id(v.card as i32, v.device as i32);
    for (i, g) in groups.iter().enumerate() {
        parser.feed(g, i as u64, src, |m, p| want.push((m, p.to_vec())));
    }
    let got = collect(&mut r.input, want.len(), Duration::from_secs(3));
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, (w, payload)) in got.iter().zip(&want) {
        assert_eq!(g.msg.event, w.event);
        assert_eq!(g.msg.port, src);
        assert_eq!(g.sysex.as_deref().unwrap_or(&[]), &payload[..]);
        let (t0, t1) = brackets[w.time_ns as usize];
        assert!(
            (t0..=t1).contains(&g.msg.time_ns),
            "{:?} stamped {} outside its group's send {t0}..{t1}",
            g.msg.event,
            g.msg.time_ns
        );
    }
    assert!(want.iter().any(|(m, _)| m.event == MidiEvent::TimingClock));
    let st = r.news.stats();
    assert_eq!((st.parse_errors, st.sysex_cut, st.ring_full), (0, 0, 0));
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_output_arrives_at_the_paired_port_at_its_time() {
    let (v, pattern) = device();
    let mut r = Raw::start(&pattern);
    r.wait_line("opened", 1, Duration::from_secs(3));
    let rec = Receiver::start("raw-test-receiver", &[v.seq_addr()]);
    let t0 = monotonic_ns() + 100 * MS;
    let mut sent: Vec<(u64, Vec<u8>)> = Vec::new();
    for k in 0..20u64 {
        let t = t0 + k * 20 * MS;
        let (bytes, stream) = if k % 2 == 0 {
            (
                vec![0x90, 60 + k as u8, 100],
                phasorsync::engine::stream::HOST,
            )
        } else {
            (vec![0xF8], phasorsync::engine::stream::CLOCK)
        };
        let event = MidiEvent::from_bytes(&bytes).unwrap();
        assert!(r.output.try_send(MidiMessage {
            time_ns: t,
            port: stream,
            event,
        }));
        sent.push((t, bytes));
    }
    // The floor, on the same path: a bare writer on another substream of
    // the device sleeping until each time and writing then (virmidi hands
    // written bytes to a kernel worker, whose delay both share).
    let t1 = t0 + 20 * 20 * MS + 100 * MS;
    let bare = Device::open(&node(v.card, v.device), false).expect("open a second substream");
    for k in 0..20u64 {
        let t = t1 + k * 20 * MS;
        sleep_until(t);
        let bytes = vec![0x90, 100 + k as u8, 1];
        assert_eq!(bare.write(&bytes).unwrap(), 3);
        sent.push((t, bytes));
    }
    rec.wait_count(sent.len(), Duration::from_secs(3));
    let got = rec.stop();
    let arrivals: Vec<(u64, Vec<u8>)> = got
        .arrivals
        .iter()
        .map(|a| (got.mono_ns(a), a.bytes.clone()))
        .collect();
    assert_eq!(arrivals.len(), sent.len(), "{arrivals:?}");
    let mut late: Vec<i64> = Vec::new();
    for ((at, b), (t, want)) in arrivals.iter().zip(&sent) {
        assert_eq!(b, want);
        let l = *at as i64 - *t as i64;
        // Never early (the receiver's clock alignment is within tens of µs).
        assert!(l > -(MS as i64), "{want:?} arrived {l} ns early");
        late.push(l);
    }
    let mut floor = late.split_off(20);
    late.sort_unstable();
    floor.sort_unstable();
    let (median, worst) = (late[late.len() / 2], late[late.len() - 1]);
    let (floor_median, floor_worst) = (floor[floor.len() / 2], floor[floor.len() - 1]);
    let ms = |ns: i64| ns as f64 / 1e6;
    eprintln!(
        "raw output lateness: median {:.3} ms, worst {:.3} ms over {} messages; a bare \
         writer sleeping until each time: median {:.3} ms, worst {:.3} ms",
        ms(median),
        ms(worst),
        late.len(),
        ms(floor_median),
        ms(floor_worst)
    );
    // Written at its time: late by a wake-up, not by a poll period or more.
    assert!(
        median < floor_median + 2 * MS as i64,
        "median lateness {median} ns"
    );
    assert!(
        worst < floor_worst.max(5 * MS as i64) + 20 * MS as i64,
        "worst lateness {worst} ns"
    );
    let st = r.news.stats();
    assert_eq!((st.sent_messages, st.output_dropped), (20, 0));
    r.engine.stop();
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_a_busy_device_names_who_holds_it_and_is_taken_when_freed() {
    let (v, pattern) = device();
    let path = node(v.card, v.device);
    // Hold every substream the device has.
    let mut held: Vec<File> = Vec::new();
    // Non-blocking: a blocking open of a busy device waits for it.
    let open = || {
        File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
    };
    while let Ok(f) = open() {
        held.push(f);
        assert!(held.len() < 64, "{path} never reports busy");
    }
    assert!(!held.is_empty(), "could not open {path} at all");
    let mut r = Raw::start(&pattern);
    let lines = r.wait_line("busy", 1, Duration::from_secs(3)).to_vec();
    let busy = lines.iter().find(|l| l.message.contains("busy")).unwrap();
    assert_eq!(busy.level, LogLevel::Warning);
    assert!(busy.message.contains("this process"), "{}", busy.message);
    assert!(busy.message.contains("close it"), "{}", busy.message);
    assert_eq!(r.engine.state(), ThreadState::Running);
    // Once, not at every retry.
    std::thread::sleep(Duration::from_millis(1200));
    r.lines.extend(log_lines(&r.news));
    assert_eq!(
        r.lines
            .iter()
            .filter(|l| l.message.contains("busy"))
            .count(),
        1
    );
    drop(held);
    r.wait_line("opened", 1, Duration::from_secs(3));
    r.engine.stop();
}

/// The platform device of the first virmidi card, to unbind and bind.
fn virmidi_platform() -> (PathBuf, String) {
    let drv = PathBuf::from("/sys/bus/platform/drivers/snd_virmidi");
    let name = std::fs::read_dir(&drv)
        .unwrap_or_else(|e| panic!("{}: {e}", drv.display()))
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.starts_with("snd_virmidi."))
        .expect("a bound snd_virmidi device");
    (drv, name)
}

/// Writes `what` to the driver's `file` (as root), under a timeout: unbinding
/// waits until every open file of the card is closed.
fn sysfs_write(drv: &std::path::Path, file: &str, what: &str) {
    let target = drv.join(file);
    let cmd = format!("echo {what} > {}", target.display());
    run_ok_within("sh", &["-c", &cmd], Duration::from_secs(10));
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_an_unplugged_device_releases_its_notes_and_is_reopened_when_back() {
    let (v, pattern) = device();
    let mut r = Raw::start(&pattern);
    r.wait_line("opened", 1, Duration::from_secs(3));
    let s = sender(&v);
    s.raw_bytes(&[0x90, 64, 100]);
    let on = collect(&mut r.input, 1, Duration::from_secs(2));
    assert_eq!(on.len(), 1);
    let src = on[0].msg.port;
    let (drv, dev) = virmidi_platform();
    sysfs_write(&drv, "unbind", &dev);
    r.wait_line("closed", 1, Duration::from_secs(5));
    let off = collect(&mut r.input, 1, Duration::from_secs(2));
    assert_eq!(
        off.first().map(|g| (g.msg.event, g.msg.port)),
        Some((
            MidiEvent::NoteOff {
                channel: 0,
                key: 64,
                velocity: 0
            },
            src
        ))
    );
    assert_eq!(r.engine.state(), ThreadState::Running);
    r.wait_line("no raw MIDI device matches", 1, Duration::from_secs(3));
    sysfs_write(&drv, "bind", &dev);
    r.wait_line("opened", 2, Duration::from_secs(5));
    // The card is back with new sequencer clients: input flows again.
    let v2 = require_virmidi(1)
        .into_iter()
        .find(|d| (d.card, d.device) == (v.card, v.device))
        .expect("the same virmidi device back");
    let s2 = sender(&v2);
    s2.raw_bytes(&[0x80, 64, 0]);
    let again = collect(&mut r.input, 1, Duration::from_secs(2));
    assert_eq!(again.len(), 1, "nothing read after the device came back");
    assert!(r.news.stats().notes_released >= 1);
    r.engine.stop();
}

/// Sets the *MIDI backend* parameter, as a user would before activating.
fn choose_backend(plugin: &mut clack_host::prelude::PluginInstance<clap_host::TestHost>, v: f64) {
    use clack_extensions::params::PluginParams;
    use clack_host::events::event_types::ParamValueEvent;
    use clack_host::prelude::*;
    use phasorsync::plugin::params::{index, PARAMS};
    let mut handle = plugin.inactive_plugin_handle().expect("inactive");
    let params = handle.get_extension::<PluginParams>().expect("params");
    let mut input = EventBuffer::with_capacity(1);
    input.push(&ParamValueEvent::new(
        0,
        ClapId::new(PARAMS[index::MIDI_BACKEND].id),
        Pckn::match_all(),
        v,
    ));
    params.flush(
        &mut handle,
        &input.as_input(),
        &mut EventBuffer::new().as_output(),
    );
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_the_plugin_runs_the_raw_backend_when_chosen() {
    use clack_host::prelude::*;
    let (v, pattern) = device();
    // The device from the environment, as a user's session would set it.
    std::env::set_var("PHASORSYNC_CONNECT", &pattern);
    let entry = clap_host::load_entry();
    let mut plugin =
        clap_host::instantiate(&entry, c"org.phasorsync.phasorsync").expect("instantiate");
    choose_backend(&mut plugin, 1.0);
    let mut p = clap_host::start(&mut plugin, 256);
    let s = sender(&v);
    let (input, mut output) = (EventBuffer::new(), EventBuffer::new());
    let mut sent = false;
    let mut got = Vec::new();
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(3) && got.is_empty() {
        clap_host::process_block(&mut p, 256, &input, &mut output);
        clap_host::run_main_thread_callback(&mut plugin);
        let opened = clap_host::logs(&plugin)
            .iter()
            .any(|(_, l)| l.contains("raw MIDI device") && l.contains("opened"));
        if opened && !sent {
            s.raw_bytes(&[0x90, 61, 99]);
            sent = true;
        }
        got.extend(output.iter().map(clap_host::record).filter(|r| {
            matches!(r, clap_host::Recorded::NoteOn(n) if n.key == 61)
                || matches!(r, clap_host::Recorded::Midi { data, .. } if data[..2] == [0x90, 61])
        }));
        output.clear();
        std::thread::sleep(Duration::from_micros(5_333));
    }
    std::env::remove_var("PHASORSYNC_CONNECT");
    plugin.deactivate(p.stop_processing());
    let logs = clap_host::logs(&plugin);
    assert!(sent, "the raw backend never opened {pattern}: {logs:#?}");
    assert!(!got.is_empty(), "the note sent never came out: {logs:#?}");
    assert!(
        !logs
            .iter()
            .any(|(_, l)| l.contains("ALSA sequencer client")),
        "the sequencer backend ran too: {logs:#?}"
    );
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn rawmidi_stamps_beside_the_sequencer_backends_and_a_bare_clients() {
    let (v, pattern) = device();
    let mut raw = Raw::start(&pattern);
    raw.wait_line("opened", 1, Duration::from_secs(3));
    let mut seq = start(config());
    let s = sender(&v);
    s.connect(seq.in_addr());
    let bare = Receiver::start("raw-test-bare", &[s.addr]);
    // Irregular gaps of 3 to 13 ms.
    let n = 200;
    let mut brackets = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = s.raw_bytes(&[0x90, (i % 128) as u8, 1 + (i % 127) as u8]);
        brackets.push((t0, monotonic_ns()));
        std::thread::sleep(Duration::from_micros(3_000 + (i as u64 * 7919) % 10_000));
    }
    let got_raw = collect(&mut raw.input, n, Duration::from_secs(3));
    let got_seq = collect(&mut seq.consumer, n, Duration::from_secs(3));
    bare.wait_count(n, Duration::from_secs(3));
    let got_bare = bare.stop();
    assert_eq!((got_raw.len(), got_seq.len()), (n, n));
    assert_eq!(got_bare.arrivals.len(), n);
    // Each stamp against the send call: after its start, in µs.
    let after = |t: u64, (t0, _): (u64, u64)| (t as f64 - t0 as f64) / 1e3;
    let raw_us: Vec<f64> = got_raw
        .iter()
        .zip(&brackets)
        .map(|(g, b)| after(g.msg.time_ns, *b))
        .collect();
    let seq_us: Vec<f64> = got_seq
        .iter()
        .zip(&brackets)
        .map(|(g, b)| after(g.msg.time_ns, *b))
        .collect();
    let bare_us: Vec<f64> = got_bare
        .arrivals
        .iter()
        .zip(&brackets)
        .map(|(a, b)| after(got_bare.mono_ns(a), *b))
        .collect();
    let width_us: Vec<f64> = brackets.iter().map(|(a, b)| (b - a) as f64 / 1e3).collect();
    for (name, xs) in [
        ("raw MIDI (framing)", &raw_us),
        ("ALSA sequencer backend", &seq_us),
        ("bare sequencer client", &bare_us),
        ("send call (width)", &width_us),
    ] {
        let (p50, p99, max) = abs_percentiles(xs);
        eprintln!(
            "stamp - send, {name}: |p50| {p50:.1} us, |p99| {p99:.1} us, |max| {max:.1} us ({n} notes)"
        );
    }
    // Framing stamps the bytes while the send call delivers them.
    for (us, w) in raw_us.iter().zip(&width_us) {
        assert!(
            *us >= 0.0 && us <= w,
            "raw stamp {us} us outside the send call of {w} us"
        );
    }
    raw.engine.stop();
    seq.engine.stop();
}
