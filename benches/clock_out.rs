//! MIDI clock and notes out, as a hardware rig receives them: PhasorSync
//! against the kernel's scheduled floor and against a naive plugin, in one
//! run through a real kernel sequencer.
//!
//! Not a criterion benchmark: what is measured is the timing of a live
//! stream through the kernel. Needs `/dev/snd/seq` (`cargo xtask bench` runs
//! it in the project's VM when this machine has none) and the bundled
//! plugin (`$PHASORSYNC_BUNDLE` or `target/bundled/PhasorSync.clap`).
//!
//! The stream: the host plays at 120 BPM (a clock tick every 1 000 samples
//! at 48 kHz) for `--seconds` (default 20) after `--pre` seconds stopped
//! (default 4.1: the plugin's timeline settles), with host notes (note-on
//! and note-off) 300 to 2 700 samples apart throughout. A timestamping
//! receiver (`tests/support/common/receiver.rs`) records it from:
//! - **floor**: `aplaymidi` playing a file of exactly that stream, one file
//!   tick per sample, on its own queue;
//! - **PhasorSync**: the bundled plugin in a paced test host
//!   (`tests/support/common/paced.rs`), blocks of 64, 256 and 1024 frames, clock out on;
//! - **naive**: every message due in a block sent at once when the block
//!   is called (the same tick scheduler, not scheduled on a queue);
//! - **PhasorSync with hiccups**: blocks of 256 and 1024 frames, one call
//!   every 2 s one, two or three periods late, the host then catching up
//!   back to back (`tests/support/common/paced.rs`, `Hiccups`): the clock is
//!   scheduled 150 ms ahead, so no tick should wait for a late call.
//!
//! Figures: |inter-tick interval − 20 833.3 µs| p50/p99/max and cumulative
//! drift (the trend of lateness over the run, a least-squares line, see
//! `ClockFigures::drift_us`); notes: |arrival − ideal −
//! median delay| p50/p99/max. The headline is PhasorSync's p99 over the
//! floor's p99.
//!
//! usage: clock_out [--seconds S] [--pre S]

#[path = "../tests/support/clap_host/mod.rs"]
mod clap_host;
#[path = "../tests/support/common/mod.rs"]
mod common;

use common::{
    aplaymidi_floor, logged_output_addr, received_stream, stream_on_time, ClockFigures, Cue,
    DirectSender, Hiccups, HostMidi, OnTime, Pacing, Received, Receiver, Song, Timed, RATE,
};
use phasorsync::plugin::params::{index, PARAMS};
use std::time::Duration;

const ID: &std::ffi::CStr = c"org.phasorsync.phasorsync";
const BLOCK_SIZES: [u32; 3] = [64, 256, 1024];
/// Block sizes run with host hiccups, and the hiccups' sizes in periods.
const HICCUP_BLOCK_SIZES: [u32; 2] = [256, 1024];
const HICCUP_PERIODS: [u32; 3] = [1, 2, 3];
/// Every cue falls on a block boundary of every block size.
const GRID: u64 = 1024;

/// One condition's figures.
struct Row {
    source: String,
    block: String,
    clock: Result<ClockFigures, String>,
    notes: Option<OnTime>,
    conditions: String,
}

fn song(pre: u64, play: u64, frames: u32) -> Song {
    let f = u64::from(frames);
    Song {
        tempo: 120.0,
        cues: vec![(pre / f, Cue::Play), ((pre + play) / f, Cue::Stop)],
    }
}

/// Note-ons with note-offs 120 samples later, 300 to 2 700 samples apart,
/// from 1 s in to the end of play.
fn notes(end: u64) -> Vec<HostMidi> {
    let mut out = Vec::new();
    let mut s = 48_000u64;
    let mut x = 0x2545_F491u32;
    let mut i = 0u8;
    loop {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s += 300 + u64::from(x % 2_400);
        if s + 120 >= end {
            return out;
        }
        let key = 36 + i % 60;
        i = i.wrapping_add(1);
        out.push(HostMidi {
            sample: s,
            data: [0x90, key, 100],
        });
        out.push(HostMidi {
            sample: s + 120,
            data: [0x80, key, 0],
        });
    }
}

fn expected(song: &Song, frames: u32, blocks: u64, notes: &[HostMidi]) -> Vec<Timed> {
    let mut all = song.expected_clock(frames, blocks);
    all.extend(notes.iter().map(|n| (n.sample as f64, n.data.to_vec())));
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all
}

/// Clock figures of the Timing Clock arrivals, and the notes' on-time
/// errors, from what `r` received against `want` placed by `ideal`, over
/// the messages `keep` accepts.
fn figures(
    who: &str,
    r: &Received,
    want: &[Timed],
    ideal: impl Fn(f64) -> f64,
    keep: impl Fn(f64) -> bool,
) -> (Result<ClockFigures, String>, Option<OnTime>) {
    let got = received_stream(r);
    let ticks: Vec<u64> = got
        .iter()
        .filter(|(_, b)| b[0] == 0xF8)
        .map(|(t, _)| *t)
        .collect();
    let want_ticks: Vec<f64> = want
        .iter()
        .filter(|(_, b)| b[0] == 0xF8)
        .map(|(s, _)| *s)
        .collect();
    let clock = || {
        let ideal_ns: Vec<f64> = want_ticks.iter().map(|&s| ideal(s)).collect();
        let kept: Vec<bool> = want_ticks.iter().map(|&s| keep(s)).collect();
        if kept.iter().filter(|&&k| k).count() < 2 {
            return Err("fewer than two ticks away from xruns".to_string());
        }
        Ok(ClockFigures::of(&ticks, &ideal_ns, &kept))
    };
    match stream_on_time(who, &got, want, &ideal, &keep) {
        Ok((_, notes)) => (clock(), Some(notes)),
        Err(e) if ticks.len() == want_ticks.len() => {
            // Every tick arrived: the clock's figures stand. Notes that came
            // out of order are timed by content (and the order reported).
            eprintln!("{e}");
            let notes: Vec<Timed> = want.iter().filter(|(_, b)| b[0] < 0xF0).cloned().collect();
            let got_notes: Vec<(u64, Vec<u8>)> =
                got.iter().filter(|(_, b)| b[0] < 0xF0).cloned().collect();
            (
                clock(),
                common::on_time_by_content(&got_notes, &notes, &ideal, &keep),
            )
        }
        Err(e) => (Err(e), None),
    }
}

fn pacing_conditions(p: &Pacing) -> String {
    let mut w = p.wake_us();
    w.sort_by(f64::total_cmp);
    format!(
        "call delay p50 {:.0} us, p99 {:.0} us, max {:.0} us; {} xruns; {} blocks in hiccups",
        w[w.len() / 2],
        w[(w.len() - 1) * 99 / 100],
        w[w.len() - 1],
        p.xruns(),
        p.hiccup_blocks.len()
    )
}

fn run_plugin(
    frames: u32,
    song: &Song,
    blocks: u64,
    notes: &[HostMidi],
    want: &[Timed],
    hiccups: Option<Hiccups>,
) -> Row {
    let entry = clap_host::load_entry();
    let mut plugin = clap_host::instantiate(&entry, ID).expect("instantiate");
    let processor = clap_host::activate(&mut plugin, frames);
    let logs = clap_host::logs(&plugin);
    let out = logged_output_addr(logs.iter().map(|(_, l)| l.as_str()))
        .unwrap_or_else(|| panic!("the plugin did not log its sequencer address: {logs:?}"));
    let rx = Receiver::start_with_schedule("bench-clock-rx", &[out]);
    let params = [(PARAMS[index::CLOCK_OUT].id, 1.0)];
    let (pacing, processor) = common::run_plugin_with(
        processor,
        |p, f, i, o, t| clap_host::process_block_with(p, f, i, o, t, &mut []),
        frames,
        blocks,
        song,
        notes,
        &params,
        hiccups,
    );
    std::thread::sleep(Duration::from_millis(300));
    let r = rx.stop();
    plugin.deactivate(processor);
    clap_host::run_main_thread_callback(&mut plugin);
    let (clock, row_notes) = figures(
        "PhasorSync",
        &r,
        want,
        |s| pacing.ideal_ns(s),
        |s| pacing.judged(s),
    );
    let split = split(&r, want, &pacing);
    let late: Vec<String> = clap_host::logs(&plugin)
        .into_iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains("late") || l.contains("dropped") || l.contains("lost"))
        .collect();
    Row {
        source: "PhasorSync".into(),
        block: match hiccups {
            Some(h) => format!("{frames} h{}", h.periods),
            None => frames.to_string(),
        },
        clock,
        notes: row_notes.clone(),
        conditions: format!(
            "{}; {}; plugin reports: {late:?}\n    {split}",
            pacing_conditions(&pacing),
            left_out(notes_ref(&row_notes))
        ),
    }
}

/// Where PhasorSync's error comes from: the same figures over the times it
/// scheduled (each arrival moved back by the kernel's delivery delay), and
/// the kernel's delivery delay after the scheduled time (p50/p99/max µs,
/// above its least), clock and notes apart; then the ticks whose interval
/// error passed 1 ms, with both parts.
fn split(r: &Received, want: &[Timed], pacing: &common::Pacing) -> String {
    let Some(delays) = r.delivery_delays() else {
        return "no scheduled times received (events sent at once?)".into();
    };
    let sched = r.as_scheduled(&delays);
    let keep = |s: f64| pacing.judged(s);
    let (clock, notes) = figures("scheduled", &sched, want, |s| pacing.ideal_ns(s), keep);
    let pct = |f: &dyn Fn(u8) -> bool| {
        let d: Vec<f64> = delays
            .iter()
            .filter(|(_, b)| f(b[0]))
            .map(|(d, _)| *d as f64 / 1e3)
            .collect();
        let (p50, p99, max) = common::abs_percentiles(&d);
        format!("{p50:.0} / {p99:.0} / {max:.0}")
    };
    let clock = match clock {
        Ok(c) => format!(
            "{:.0} / {:.0} / {:.0}, drift {:+.1}",
            c.p50_us, c.p99_us, c.max_us, c.drift_us
        ),
        Err(e) => e,
    };
    let notes = notes.map_or("-".into(), |n| {
        let (a, b, c) = n.percentiles();
        format!("{a:.0} / {b:.0} / {c:.0}")
    });
    // The ticks with an interval error over 1 ms: arrival − ideal and the
    // kernel's delay, µs, of the tick and the one before.
    let ticks: Vec<(u64, i64)> = r
        .arrivals
        .iter()
        .zip(&delays)
        .filter(|(a, _)| a.bytes[0] == 0xF8)
        .map(|(a, (d, _))| (r.mono_ns(a), *d))
        .collect();
    let ideal: Vec<f64> = want
        .iter()
        .filter(|(_, b)| b[0] == 0xF8)
        .map(|(s, _)| pacing.ideal_ns(*s))
        .collect();
    let mut outliers = Vec::new();
    if ticks.len() == ideal.len() {
        for i in 1..ticks.len() {
            let late = |k: usize| (ticks[k].0 as f64 - ideal[k]) / 1e3;
            if (late(i) - late(i - 1)).abs() > 1000.0 {
                outliers.push(format!(
                    "#{i}: late {:+.0} after {:+.0}, kernel delay {} after {}",
                    late(i),
                    late(i - 1),
                    ticks[i].1 / 1000,
                    ticks[i - 1].1 / 1000
                ));
            }
        }
    }
    // Where the kernel's long delays fall: µs after the last block call
    // began. Spread over the whole period, they are not the host's doing
    // (its audio thread runs at SCHED_FIFO and could hold up the kernel).
    let after_call: Vec<i64> = r
        .arrivals
        .iter()
        .zip(&delays)
        .filter(|(_, (d, _))| *d > 2_000_000)
        .map(|(a, (d, _))| {
            let sched = r.mono_ns(a) as i64 - d;
            let last = pacing
                .calls
                .iter()
                .rev()
                .find(|&&c| (c as i64) <= sched)
                .copied()
                .unwrap_or(0) as i64;
            (sched - last) / 1000
        })
        .collect();
    format!(
        "as scheduled: clock {clock}; notes {notes}. Kernel delivery delay: clock {}, notes {}. \
         Delays over 2 ms, scheduled this long after a block call began (us): {after_call:?}. \
         Interval errors over 1 ms: {outliers:?}",
        pct(&|b| b == 0xF8),
        pct(&|b| b < 0xF0)
    )
}

fn run_naive(frames: u32, song: &Song, blocks: u64, notes: &[HostMidi], want: &[Timed]) -> Row {
    let mut sender = DirectSender::new("bench-naive");
    let rx = Receiver::start("bench-naive-rx", &[sender.addr]);
    let pacing = sender.run(frames, blocks, song, notes, true);
    std::thread::sleep(Duration::from_millis(100));
    let r = rx.stop();
    let (clock, row_notes) = figures(
        "naive",
        &r,
        want,
        |s| pacing.ideal_ns(s),
        |s| pacing.judged(s),
    );
    Row {
        source: "naive (block start)".into(),
        block: frames.to_string(),
        clock,
        notes: row_notes.clone(),
        conditions: format!(
            "{}; {}",
            pacing_conditions(&pacing),
            left_out(notes_ref(&row_notes))
        ),
    }
}

fn notes_ref(n: &Option<OnTime>) -> Option<&OnTime> {
    n.as_ref()
}

/// How many notes were left out of the figures near xruns.
fn left_out(notes: Option<&OnTime>) -> String {
    match notes {
        Some(n) => format!("{} note messages near xruns left out", n.excluded),
        None => String::new(),
    }
}

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| {
            w[1].parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

/// The run's plan, in samples: stopped for `pre`, playing for `play`, `total`
/// in all; the host's notes and the whole stream expected.
struct Plan {
    pre: u64,
    play: u64,
    total: u64,
    notes: Vec<HostMidi>,
    want: Vec<Timed>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; nothing else is ours.
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/snd/seq")
        .is_err()
    {
        eprintln!(
            "clock_out: needs a kernel sequencer (/dev/snd/seq); run `cargo xtask bench`, \
             which uses the project's VM when this machine has none"
        );
        std::process::exit(1);
    }
    let seconds = arg(&args, "--seconds", 20.0);
    let pre_s = arg(&args, "--pre", 4.1);
    let pre = ((pre_s * RATE) as u64).div_ceil(GRID) * GRID;
    let play = ((seconds * RATE) as u64).div_ceil(GRID) * GRID;
    let total = pre + play + 12_288; // a quarter second after the stop
    let notes = notes(pre + play);
    // The stream in samples is the same at every block size.
    let want = expected(&song(pre, play, 1024), 1024, total / 1024, &notes);
    let ticks = want.iter().filter(|(_, b)| b[0] == 0xF8).count();
    println!(
        "clock out at 120 BPM, 48 kHz: {ticks} ticks ({seconds} s of play after {:.1} s stopped) \
         and {} notes per run",
        pre as f64 / RATE,
        notes.len() / 2
    );
    let plan = Plan {
        pre,
        play,
        total,
        notes,
        want,
    };

    let mut rows = vec![floor_row(&plan.want)];
    rows.extend(plugin_and_naive_rows(&plan));
    print_table(&rows);
    if !print_headline(&rows) {
        std::process::exit(1);
    }
}

/// The floor: `aplaymidi` playing the stream from a file.
fn floor_row(want: &[Timed]) -> Row {
    let (r, _) = aplaymidi_floor(want);
    let timer = r.timer.clone().unwrap_or_else(|| "unknown".into());
    // The file's schedule, from the first arrival (aplaymidi's queue starts
    // when it starts).
    let first = common::file_sample(want[0].0);
    let t0 = r.arrivals.first().map_or(0, |a| r.mono_ns(a)) as f64;
    let (clock, floor_notes) = figures(
        "aplaymidi",
        &r,
        want,
        |s| t0 + (common::file_sample(s) - first) * 1e9 / RATE,
        |_| true,
    );
    Row {
        source: "aplaymidi (floor)".into(),
        block: "-".into(),
        clock,
        notes: floor_notes,
        conditions: format!("receiver queue: {timer}"),
    }
}

/// PhasorSync at each block size, then with hiccups, then the naive plugin
/// at each block size.
fn plugin_and_naive_rows(plan: &Plan) -> Vec<Row> {
    let Plan {
        pre,
        play,
        total,
        ref notes,
        ref want,
    } = *plan;
    let mut rows = Vec::new();
    for frames in BLOCK_SIZES {
        let s = song(pre, play, frames);
        rows.push(run_plugin(
            frames,
            &s,
            total / u64::from(frames),
            notes,
            want,
            None,
        ));
    }
    for frames in HICCUP_BLOCK_SIZES {
        for periods in HICCUP_PERIODS {
            let s = song(pre, play, frames);
            let hiccups = Hiccups {
                every_blocks: (2.0 * RATE) as u64 / u64::from(frames),
                periods,
            };
            rows.push(run_plugin(
                frames,
                &s,
                total / u64::from(frames),
                notes,
                want,
                Some(hiccups),
            ));
        }
    }
    for frames in BLOCK_SIZES {
        let s = song(pre, play, frames);
        rows.push(run_naive(
            frames,
            &s,
            total / u64::from(frames),
            notes,
            want,
        ));
    }
    rows
}

/// The figures of every row, then each row's conditions.
fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<20} | {:>7} | {:>37} | {:>40}",
        "source",
        "block",
        "clock |inter-tick error| us: p50 p99 max, drift",
        "notes: delay us, |error| us p50 p99 max"
    );
    for row in rows {
        let clock = match &row.clock {
            Ok(c) => format!(
                "{:>7.0} {:>7.0} {:>7.0} {:>+9.1}",
                c.p50_us, c.p99_us, c.max_us, c.drift_us
            ),
            Err(e) => format!("wrong stream: {e}"),
        };
        let notes = match &row.notes {
            Some(n) => {
                let (p50, p99, max) = n.percentiles();
                format!("{:>9.0}, {p50:>7.0} {p99:>7.0} {max:>7.0}", n.delay_us)
            }
            None => "wrong stream".into(),
        };
        println!(
            "{:<20} | {:>7} | {clock:>37} | {notes:>40}",
            row.source, row.block
        );
    }
    println!();
    for row in rows {
        println!("{} {}: {}", row.source, row.block, row.conditions);
    }
}

/// PhasorSync's p99s over the floor's (the first row); false when a
/// PhasorSync stream was wrong. Exits when the floor's was.
fn print_headline(rows: &[Row]) -> bool {
    let (Ok(floor_clock), Some(floor_notes)) = (&rows[0].clock, &rows[0].notes) else {
        eprintln!("clock_out: the floor run did not receive the whole stream");
        std::process::exit(1);
    };
    println!();
    let mut wrong = false;
    for row in rows.iter().filter(|r| r.source == "PhasorSync") {
        match (&row.clock, &row.notes) {
            (Ok(c), Some(n)) => println!(
                "PhasorSync {:>7} / floor: clock p99 {:.2}x, notes p99 {:.2}x; drift {:+.1} us \
                 over {} ticks (goal: <= 1.2x, zero drift)",
                row.block,
                c.p99_us / floor_clock.p99_us,
                n.percentiles().1 / floor_notes.percentiles().1,
                c.drift_us,
                c.ticks
            ),
            _ => {
                wrong = true;
                println!(
                    "PhasorSync {:>7}: the stream was wrong (see above)",
                    row.block
                );
            }
        }
    }
    !wrong
}
