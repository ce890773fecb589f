//! An output device unplugged while notes PhasorSync sent it are held, and
//! plugged in again: through a real kernel, the engine's `MIDI out` is
//! connected by pattern to the `snd-virmidi` port `VirMIDI 0-0`, whose raw
//! end (`hw:0,0`, read with `amidi -d`) plays the synth. The device is
//! unplugged the way a USB device is, by unbinding its driver (the virmidi
//! card goes, its sequencer client with it); the module itself cannot be
//! unloaded while a port of ours is subscribed to it (the subscription
//! holds the card's module). Run with `cargo xtask test`: only in its VM,
//! never on a developer's own devices.

use std::time::{Duration, Instant};

use crate::common::*;
use phasorsync::backend::alsa_seq::AlsaConfig;
use phasorsync::timeline::monotonic_ns;

/// The platform device of the `snd-virmidi` card.
const DRIVER: &str = "/sys/bus/platform/drivers/snd_virmidi";
const DEVICE: &str = "snd_virmidi.0";

/// The engine's output pattern for the device.
const PATTERN: &str = "out:virmidi 0-0";

/// How soon, after it is connected again, the device must get its note-off.
const BOUND: Duration = Duration::from_secs(1);

/// `amidi -d` reading the synth's end. The device drops what arrives before
/// the reader's first read (which starts its input), and `RawCapture` only
/// waits for the open: under emulation the read can come much later.
fn read_synth(dev: &Virmidi) -> RawCapture {
    let capture = RawCapture::start(dev);
    std::thread::sleep(Duration::from_millis(300));
    capture
}

/// The virmidi device `hw:0,0`, if the kernel has it now.
fn device() -> Option<Virmidi> {
    virmidi_devices()
        .into_iter()
        .find(|v| v.card == 0 && v.device == 0)
}

/// Is our port `from` ("client:port") sending to `to`, as `aconnect -l` says?
fn sends_to(from: alsa::seq::Addr, to: &Virmidi) -> bool {
    seq_clients()
        .iter()
        .filter(|c| c.id == from.client as u32)
        .flat_map(|c| &c.ports)
        .any(|p| p.id == from.port as u32 && p.connecting_to.contains(&to.addr()))
}

/// The virmidi card unplugged (its driver unbound) for its lifetime; bound
/// again on drop, even when the test fails, for the tests after this one.
struct Unplugged {
    bound: bool,
}

impl Unplugged {
    fn new() -> Self {
        std::fs::write(format!("{DRIVER}/unbind"), DEVICE).expect("unbinding snd_virmidi.0");
        assert!(
            wait_until(DELIVERY_TIMEOUT, || device().is_none()),
            "the virmidi device is still there after its driver was unbound:\n{}",
            aconnect_list()
        );
        Self { bound: false }
    }

    fn plug_in(&mut self) -> Virmidi {
        std::fs::write(format!("{DRIVER}/bind"), DEVICE).expect("binding snd_virmidi.0");
        self.bound = true;
        let mut dev = None;
        assert!(
            wait_until(DELIVERY_TIMEOUT, || {
                dev = device();
                dev.is_some()
            }),
            "the virmidi device did not come back:\n{}",
            aconnect_list()
        );
        dev.expect("found")
    }
}

impl Drop for Unplugged {
    fn drop(&mut self) {
        if !self.bound {
            let _ = std::fs::write(format!("{DRIVER}/bind"), DEVICE);
        }
    }
}

fn soon() -> u64 {
    monotonic_ns() + 20_000_000
}

#[test]
#[ignore = "needs a kernel sequencer: run with cargo xtask test"]
fn a_device_unplugged_with_notes_held_gets_the_note_offs_it_missed_when_it_comes_back() {
    require_sequencer();
    if std::env::var("PHASORSYNC_KERNEL").as_deref() != Ok("vm") {
        // Unplugging the developer's own devices is not a test's business;
        // the VM run covers it (and CI runs in the VM).
        assert!(
            std::env::var_os("CI").is_none(),
            "under CI this test needs the VM (it unplugs a virmidi card)"
        );
        eprintln!("not run natively: `cargo xtask test --vm` runs it");
        return;
    }
    require_virmidi(1);
    let dev = device().expect("virmidi hw:0,0");
    let mut r = start(AlsaConfig {
        connect_patterns: PATTERN.into(),
        ..config()
    });
    let out = r.out_addr();
    assert!(
        wait_until(DELIVERY_TIMEOUT, || sends_to(out, &dev)),
        "the engine did not connect to {}:\n{}",
        dev.addr(),
        aconnect_list()
    );
    // 60 (channel 1) and 62 (channel 2) reach the synth. Two channels: the
    // raw end writes running status, which would hide a second 0x90.
    let synth = read_synth(&dev);
    assert!(r.send(soon(), &[0x90, 60, 100]) && r.send(soon(), &[0x91, 62, 100]));
    let got = synth.wait_bytes(6, DELIVERY_TIMEOUT);
    assert_eq!(
        got,
        [0x90, 60, 100, 0x91, 62, 100],
        "the notes did not arrive: {:?}\n{}",
        r.engine.stats(),
        aconnect_list()
    );
    drop(synth.stop());

    // Unplugged: 60's note-off goes out meanwhile, to nobody; 62 stays held.
    let mut unplugged = Unplugged::new();
    // While it is away, the pattern is off: it is connected again only once
    // the synth's end is read again (virmidi drops what no reader takes).
    r.engine.set_connect_patterns("");
    assert!(r.send(soon(), &[0x80, 60, 0]));
    std::thread::sleep(Duration::from_millis(300));

    let dev = unplugged.plug_in();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !sends_to(out, &dev),
        "connected again before the pattern was:\n{}",
        aconnect_list()
    );
    let synth = read_synth(&dev);
    let t0 = Instant::now();
    r.engine.set_connect_patterns(PATTERN);
    assert!(
        wait_until(DELIVERY_TIMEOUT, || sends_to(out, &dev)),
        "the engine did not connect to the device back at {}:\n{}",
        dev.addr(),
        aconnect_list()
    );
    let connected = t0.elapsed();
    let got = synth.wait_bytes(3, DELIVERY_TIMEOUT);
    let arrived = t0.elapsed();
    println!(
        "connected again {} ms after the pattern, note-off {} ms after it; received {got:02X?}",
        connected.as_millis(),
        arrived.as_millis()
    );
    assert_eq!(
        got,
        [0x80, 60, 0],
        "the device came back holding note 60, whose note-off it missed"
    );
    assert!(
        arrived < connected + BOUND,
        "the missed note-off took {arrived:?}, {connected:?} to reconnect"
    );
    // 62, still held, ends with its own note-off, which reaches it now.
    assert!(r.send(soon(), &[0x81, 62, 0]));
    let got = synth.wait_bytes(6, DELIVERY_TIMEOUT);
    assert_eq!(got, [0x80, 60, 0, 0x81, 62, 0]);
    drop(synth.stop());
    let lines = log_lines(&r.news);
    assert!(
        lines
            .iter()
            .any(|l| l.message.contains("1 note-off(s) sent to")
                && l.message.contains("VirMIDI 0-0")),
        "{lines:?}"
    );
}
