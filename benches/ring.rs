//! SPSC ring comparison, all in one criterion run so the figures share conditions.
//!
//! Two patterns, per message:
//! - `block`: one thread pushes 64 messages, then drains the ring (what one audio
//!   block sees: the MIDI thread filled it, `process()` empties it). Measured in
//!   thread CPU time, so load from other processes does not skew the comparison.
//! - `stream`: a producer thread pushes `STREAM_MSGS` messages (spinning while the
//!   ring is full), a consumer thread pops them all. `stream_wall`: wall time from
//!   first push to last pop; on a shared machine this depends on scheduling as much
//!   as on the queue. `stream_cpu`: the two threads' CPU time added up (waiting
//!   included, time spent descheduled not).
//!
//! Contenders: our `phasorsync::ring` (timestamped 24-byte messages, loss counters,
//! SysEx-aware), `bbx_midi::midi_buffer` (3-byte messages, no timestamp), and the
//! raw queues `rtrb`, `ringbuf` (`HeapRb`, caching halves) and `heapless::spsc`
//! carrying our `MidiMessage`. Capacity 256 everywhere (heapless: N = 256, 255 slots).
//!
//! Run: `cargo bench --bench ring -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

use std::hint::{black_box, spin_loop};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use phasorsync::protocol::{MidiEvent, MidiMessage};
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};

const CAPACITY: usize = 256;
const BLOCK: usize = 64;
const STREAM_MSGS: u64 = 100_000;

fn msg(i: u64) -> MidiMessage {
    MidiMessage {
        time_ns: i,
        port: 0,
        event: MidiEvent::NoteOn {
            channel: (i & 15) as u8,
            key: (i & 127) as u8,
            velocity: 100,
        },
    }
}

fn bbx(i: u64) -> bbx_midi::MidiMessage {
    bbx_midi::MidiMessage::new([0x90 | (i & 15) as u8, (i & 127) as u8, 100])
}

/// What the consumer does with each message: enough to keep it from being optimised out.
#[inline(always)]
fn touch(m: &MidiMessage) -> u64 {
    m.time_ns
}

// One push/pop implementation per contender, used by both patterns.
macro_rules! contenders {
    ($m:ident) => {
        $m!(
            "phasorsync",
            || phasorsync::ring::midi_buffer(CAPACITY),
            msg,
            |p: &mut phasorsync::ring::MidiBufferProducer, m| p.try_send(m),
            |c: &mut phasorsync::ring::MidiBufferConsumer| c.try_pop().map(|m| touch(&m))
        );
        $m!(
            "phasorsync_peek_pop",
            || phasorsync::ring::midi_buffer(CAPACITY),
            msg,
            |p: &mut phasorsync::ring::MidiBufferProducer, m| p.try_send(m),
            // What process() does: look at the time, then take it.
            |c: &mut phasorsync::ring::MidiBufferConsumer| {
                let t = c.peek().map(touch)?;
                c.try_pop().map(|m| touch(&m) ^ t)
            }
        );
        $m!(
            "phasorsync_pop_if",
            || phasorsync::ring::midi_buffer(CAPACITY),
            msg,
            |p: &mut phasorsync::ring::MidiBufferProducer, m| p.try_send(m),
            |c: &mut phasorsync::ring::MidiBufferConsumer| {
                c.try_pop_if(|m| m.time_ns != u64::MAX).map(|m| touch(&m))
            }
        );
        $m!(
            "bbx_midi",
            || bbx_midi::midi_buffer(CAPACITY),
            bbx,
            |p: &mut bbx_midi::MidiBufferProducer, m| p.try_send(m),
            |c: &mut bbx_midi::MidiBufferConsumer| c.try_pop().map(|m| u64::from(m.get_channel()))
        );
        $m!(
            "rtrb",
            || rtrb::RingBuffer::<MidiMessage>::new(CAPACITY),
            msg,
            |p: &mut rtrb::Producer<MidiMessage>, m| p.push(m).is_ok(),
            |c: &mut rtrb::Consumer<MidiMessage>| c.pop().ok().map(|m| touch(&m))
        );
        $m!(
            "ringbuf",
            || ringbuf::HeapRb::<MidiMessage>::new(CAPACITY).split(),
            msg,
            |p: &mut ringbuf::HeapProd<MidiMessage>, m| p.try_push(m).is_ok(),
            |c: &mut ringbuf::HeapCons<MidiMessage>| c.try_pop().map(|m| touch(&m))
        );
    };
}

/// CPU time of the calling thread. The block pattern runs on one thread, so this
/// leaves out the time other processes on this shared machine hold the core, which
/// wall time would charge to whichever contender happened to be running.
struct ThreadCpuTime {
    wall: WallTime,
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Same unit (ns) as wall time, so the same formatting.
        self.wall.formatter()
    }
}

fn block(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(BLOCK as u64));
    macro_rules! bench_block {
        ($name:expr, $new:expr, $mk:expr, $push:expr, $pop:expr) => {{
            let (mut p, mut cons) = $new();
            let mut i = 0u64;
            g.bench_function(BenchmarkId::from_parameter($name), |b| {
                b.iter(|| {
                    for _ in 0..BLOCK {
                        i = i.wrapping_add(1);
                        let ok = ($push)(&mut p, $mk(black_box(i)));
                        debug_assert!(ok);
                    }
                    let mut sum = 0u64;
                    while let Some(v) = ($pop)(&mut cons) {
                        sum = sum.wrapping_add(v);
                    }
                    black_box(sum)
                })
            });
        }};
    }
    contenders!(bench_block);
    // heapless: halves borrow the queue, so it is set up inline.
    let mut q = Box::new(heapless::spsc::Queue::<MidiMessage, CAPACITY>::new());
    let (mut p, mut cons) = q.split();
    let mut i = 0u64;
    g.bench_function(BenchmarkId::from_parameter("heapless"), |b| {
        b.iter(|| {
            for _ in 0..BLOCK {
                i = i.wrapping_add(1);
                let ok = p.enqueue(msg(black_box(i))).is_ok();
                debug_assert!(ok);
            }
            let mut sum = 0u64;
            while let Some(m) = cons.dequeue() {
                sum = sum.wrapping_add(touch(&m));
            }
            black_box(sum)
        })
    });
    g.finish();
}

/// Waiting for the other thread: spin briefly, then give the core away. On a shared
/// 2-core machine pure spinning measures the scheduler, not the queue.
#[inline]
fn backoff(idle: &mut u32) {
    *idle = idle.wrapping_add(1);
    if *idle % 128 == 0 {
        thread::yield_now();
    } else {
        spin_loop();
    }
}

/// Times of one streaming sample.
struct StreamTimes {
    /// First push to last pop.
    wall: Duration,
    /// CPU time of the producer thread plus that of the consumer thread: what moving
    /// the messages cost, waiting (spin, then yield) included, descheduled time not.
    cpu: Duration,
}

/// Runs one streaming sample of `n` messages.
fn stream_once<P: Send, C: Send>(
    n: u64,
    (mut p, mut c): (P, C),
    push: impl Fn(&mut P, u64) -> bool + Send,
    pop: impl Fn(&mut C) -> Option<u64> + Send,
) -> StreamTimes {
    thread::scope(|s| {
        let consumer = s.spawn(move || {
            let cpu0 = thread_cpu_ns();
            let mut got = 0u64;
            let mut sum = 0u64;
            let mut idle = 0u32;
            while got < n {
                match pop(&mut c) {
                    Some(v) => {
                        got += 1;
                        sum = sum.wrapping_add(v);
                    }
                    None => backoff(&mut idle),
                }
            }
            black_box(sum);
            (Instant::now(), thread_cpu_ns() - cpu0)
        });
        let start = Instant::now();
        let cpu0 = thread_cpu_ns();
        let mut idle = 0u32;
        for i in 0..n {
            while !push(&mut p, i) {
                backoff(&mut idle);
            }
        }
        let producer_cpu = thread_cpu_ns() - cpu0;
        let (end, consumer_cpu) = consumer.join().expect("consumer thread");
        StreamTimes {
            wall: end - start,
            cpu: Duration::from_nanos(producer_cpu + consumer_cpu),
        }
    })
}

/// One streaming group; `pick` chooses which time criterion sees.
fn stream_group(c: &mut Criterion, name: &str, pick: fn(&StreamTimes) -> Duration) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(STREAM_MSGS));
    macro_rules! bench_stream {
        ($name:expr, $new:expr, $mk:expr, $push:expr, $pop:expr) => {{
            g.bench_function(BenchmarkId::from_parameter($name), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            pick(&stream_once(
                                STREAM_MSGS,
                                $new(),
                                |p, i| ($push)(p, $mk(i)),
                                $pop,
                            ))
                        })
                        .sum()
                })
            });
        }};
    }
    contenders!(bench_stream);
    g.bench_function(BenchmarkId::from_parameter("heapless"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let mut q = Box::new(heapless::spsc::Queue::<MidiMessage, CAPACITY>::new());
                    pick(&stream_once(
                        STREAM_MSGS,
                        q.split(),
                        |p, i| p.enqueue(msg(i)).is_ok(),
                        |c| c.dequeue().map(|m| touch(&m)),
                    ))
                })
                .sum()
        })
    });
    g.finish();
}

fn stream(c: &mut Criterion) {
    stream_group(c, "stream_wall", |t| t.wall);
    stream_group(c, "stream_cpu", |t| t.cpu);
}

criterion_group!(
    name = ring_block;
    config = Criterion::default().with_measurement(ThreadCpuTime { wall: WallTime });
    targets = block
);
criterion_group!(ring_stream, stream);
criterion_main!(ring_block, ring_stream);
