//! The time base every timestamp in PhasorSync is on: `CLOCK_MONOTONIC`.

/// `CLOCK_MONOTONIC` now, in ns.
///
/// # Realtime Safety
/// A vDSO read on Linux: no allocation, lock or blocking system call. It is
/// the one clock read `process()` makes.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}
